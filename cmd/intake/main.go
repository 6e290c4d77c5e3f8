// Command intake runs on the server: it serves the questionnaire, stores
// sealed answers, and exports signed batches for the researchers. It never
// reads or holds a researcher's private key.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/oplog"
)

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "intake:", err)
		os.Exit(1)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "intake",
		Short:         "Serve a testimony questionnaire and export sealed answers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(), exportCmd(), purgeCmd(), serverKeyCmd(), demoCmd())
	return root
}

func serveCmd() *cobra.Command {
	var studyPath, dataDir, listen string
	c := &cobra.Command{
		Use:   "serve --config STUDY --data DIR --listen 127.0.0.1:PORT",
		Short: "Serve the questionnaire",
		Long: `serve shows the study's questionnaire and stores every submission as an envelope
sealed to the study's researchers. Only loopback addresses are accepted.`,
		Example: "  intake serve --config examples/nk-internet-access.yaml --data /var/lib/testimony --listen 127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLoopback(listen); err != nil {
				return err
			}
			study, err := config.Load(studyPath)
			if err != nil {
				return err
			}
			d, err := intake.OpenData(dataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			if err := d.BindStudy(study.ID); err != nil {
				return err
			}
			log := oplog.New(cmd.ErrOrStderr())
			srv, err := intake.New(intake.Config{Study: study, Store: d.Store, Log: log})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("cannot listen on %s: %w", listen, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, srv.HTTPServer(), ln, log, cmd.OutOrStdout())
		},
	}
	c.Flags().StringVar(&studyPath, "config", "", "study file (required)")
	c.Flags().StringVar(&dataDir, "data", "", "data directory (required)")
	c.Flags().StringVar(&listen, "listen", "", "loopback address to listen on, e.g. 127.0.0.1:8080 (required)")
	for _, f := range []string{"config", "data", "listen"} {
		c.MarkFlagRequired(f)
	}
	return c
}

// serve serves hs on ln until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, hs *http.Server, ln net.Listener, log oplog.Logger, stdout io.Writer) error {
	log.Addr(oplog.ServerStarted, ln.Addr().String())
	fmt.Fprintf(stdout, "serving on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Event(oplog.ServerStopping)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	log.Event(oplog.ServerStopped)
	return err
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("malformed --listen %q: want 127.0.0.1:PORT", addr)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing --listen %q: only a loopback address such as 127.0.0.1:8080 is allowed; people must reach the server through its onion service", addr)
	}
	return nil
}

func exportCmd() *cobra.Command {
	var dataDir, out string
	c := &cobra.Command{
		Use:   "export --data DIR --out FILE",
		Short: "Write every envelope not yet exported to a signed batch",
		Long: `export writes a batch file holding every envelope not yet exported, with a manifest of
their ids and SHA-256 hashes signed by the server's key. It deletes nothing: run
"intake purge --exported" once the researchers have the batch.`,
		Example: "  intake export --data /var/lib/testimony --out /media/usb/batch-2026-11-27.tar",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := intake.OpenData(dataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			m, err := d.Export(out)
			if err != nil {
				return err
			}
			oplog.New(cmd.ErrOrStderr()).Count(oplog.BatchExported, len(m.Entries))
			fmt.Fprintf(cmd.OutOrStdout(), "exported %d envelopes to %s (batch %s)\n", len(m.Entries), out, m.BatchID)
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "", "data directory (required)")
	c.Flags().StringVar(&out, "out", "", "batch file to write; must not exist (required)")
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("out")
	return c
}

func purgeCmd() *cobra.Command {
	var dataDir string
	var exported bool
	c := &cobra.Command{
		Use:     "purge --data DIR --exported",
		Short:   "Remove envelopes that were already exported",
		Example: "  intake purge --data /var/lib/testimony --exported",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !exported {
				return errors.New("say what to purge: --exported removes envelopes already exported in a batch")
			}
			d, err := intake.OpenData(dataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			n, err := d.Store.PurgeExported()
			if err != nil {
				return err
			}
			oplog.New(cmd.ErrOrStderr()).Count(oplog.EnvelopesPurged, n)
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d exported envelopes\n", n)
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "", "data directory (required)")
	c.Flags().BoolVar(&exported, "exported", false, "remove envelopes already exported")
	c.MarkFlagRequired("data")
	return c
}

func serverKeyCmd() *cobra.Command {
	var dataDir string
	c := &cobra.Command{
		Use:     "server-key --data DIR",
		Short:   "Print the verifier key of the batch signing key, for researchers to pin",
		Example: "  intake server-key --data /var/lib/testimony > server.pub",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := intake.OpenData(dataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			fmt.Fprintln(cmd.OutOrStdout(), d.ServerKey())
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "", "data directory (required)")
	c.MarkFlagRequired("data")
	return c
}
