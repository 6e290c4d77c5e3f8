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
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/internal/buildinfo"
	"github.com/testimony-project/testimony/onion"
	"github.com/testimony-project/testimony/oplog"
)

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		var code interface{ ExitCode() int }
		if errors.As(err, &code) { // intake status: the monitoring plugin convention
			os.Exit(code.ExitCode())
		}
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
	root.Version = buildinfo.Read().String()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(), exportCmd(), purgeCmd(), serverKeyCmd(), auditKeyCmd(), addressCmd(), demoCmd())
	root.AddCommand(backupCmd(), restoreCmd(), statusCmd(), repliesCmd())
	root.AddCommand(onionbalanceConfigCmd(), torrcCmd())
	return root
}

func serveCmd() *cobra.Command {
	var o serveOptions
	c := &cobra.Command{
		Use:   "serve --config STUDY --data DIR",
		Short: "Serve the questionnaire as a Tor onion service",
		Long: `serve shows the study's questionnaire as a Tor v3 onion service and stores every
submission as an envelope sealed to the study's researchers. It starts the system tor,
publishes the service with a key kept in DIR/onion (so the address never changes), and
prints the address. There is no TCP listener: tor forwards to a Unix socket in DIR.

--onionbalance-frontend ADDRESS makes it one of several servers behind one address (see
intake onionbalance-config); --external-tor SOCKET starts no tor and serves on SOCKET
for a tor of the operator's (see intake torrc). --listen serves on a loopback address
instead, for development only.

It refuses a study whose recipients include the example study's placeholder
keys, and a revision of the study that changes its id or the meaning of a
question (checked against every version served from DIR, kept in
DIR/versions). It accepts answers to the current version, and to earlier
versions for --accept-earlier-versions after the day they were last served,
except those listing a researcher the current version no longer lists:
those are retired at once. Answers to a version no longer accepted are
carried to the current one: nobody is asked to start again.

On SIGTERM or SIGINT it stops taking connections, gives requests in progress
--stop-grace to finish, closes the connections left, and exits 0.`,
		Example: `  intake serve --config study.yaml --data /var/lib/testimony
  intake serve --config study.yaml --data /var/lib/testimony --tor-control 127.0.0.1:9051
  intake serve --config study.yaml --data ./dev-data --listen 127.0.0.1:8080   # development`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := c.Flags()
	f.StringVar(&o.study, "config", "", "study file (required)")
	f.StringVar(&o.data, "data", "", "data directory (required)")
	f.StringVar(&o.listen, "listen", "", "serve on this loopback address instead of an onion service (development only)")
	f.StringVar(&o.torControl, "tor-control", "", "use an already-running tor through its control port 127.0.0.1:PORT instead of starting one")
	f.StringVar(&o.torCookie, "tor-cookie", "", "control cookie file of the tor at --tor-control (default: the file tor names)")
	addOnionFlags(f, &o)
	f.StringVar(&o.externalTor, "external-tor", "", "start no tor: serve on this Unix socket for a tor of the operator's that publishes the service (see intake torrc)")
	addTorServiceFlags(f, &o)
	f.IntVar(&o.limits.MaxConns, "max-connections", 0, fmt.Sprintf("connections open at once; beyond, the one waiting the longest for a request is closed (default %d)", intake.DefaultMaxConns))
	f.IntVar(&o.limits.MaxIdleConns, "max-idle-connections", 0, fmt.Sprintf("connections waiting for a request at once; beyond, the oldest is closed (default %d)", intake.DefaultMaxIdleConns))
	f.IntVar(&o.limits.KDFs, "return-derivations", 0, fmt.Sprintf("return passphrase derivations (64 MiB, about 0.3 s each) run at once for browsers without JavaScript; more wait up to 10 s, then get a \"busy\" page (default: half the cores, 1 to 4: %d here)", intake.DefaultKDFs()))
	f.IntVar(&o.uploadMiB, "upload-memory", 0, fmt.Sprintf("MiB that request bodies may hold in all, beyond 16 KiB each; a request that needs more waits up to 10 s, then gets a \"busy\" page (default %d)", intake.DefaultUploadMemory>>20))
	f.DurationVar(&o.stopGrace, "stop-grace", 10*time.Second, "on SIGTERM, how long requests in progress may take to finish before their connections are closed")
	o.grace = daysFlag(intake.DefaultGrace)
	f.Var(&o.grace, "accept-earlier-versions", "how long after an earlier version of the study was last served its answers are still accepted, in whole days (0: only the current version's)")
	f.StringVar(&o.testNetwork, "private-tor-network", "", "file of torrc lines joining a private Tor network, for tests and the demo; never for a real study")
	f.Var(&o.minFree, "min-free", "refuse submissions when the data disk would have less free space, such as 2G (default: 256M or 1% of the disk, whichever is more)")
	c.MarkFlagRequired("config")
	c.MarkFlagRequired("data")
	return c
}

// serve serves hs (made by srv) on ln until ctx is done, then stops: no
// new connections, grace for requests in progress, then every connection
// closed. The day's counts are written as each day ends and when it
// stops.
func serve(ctx context.Context, srv *intake.Server, hs *http.Server, ln net.Listener, grace time.Duration, log oplog.Logger) error {
	log.Event(oplog.ServerStarted)
	daily, stopDaily := context.WithCancel(context.Background())
	defer stopDaily()
	go log.RunDaily(daily)
	go srv.RunDaily(daily)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
		// Serving failed: stop what remains all the same.
		srv.Shutdown(hs, 0)
	case <-ctx.Done():
		log.Event(oplog.ServerStopping)
		srv.Shutdown(hs, grace)
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			err = e
		}
	}
	stopDaily()
	log.Flush()
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

// printCmd is a command that prints one line about the data directory
// named by --data.
func printCmd(use, short, long, example string, line func(dataDir string) (string, error)) *cobra.Command {
	var dataDir string
	c := &cobra.Command{
		Use: use, Short: short, Long: long, Example: example,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := line(dataDir)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), l)
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "", "data directory (required)")
	c.MarkFlagRequired("data")
	return c
}

// withData opens the data directory for f.
func withData(f func(d *intake.Data) (string, error)) func(string) (string, error) {
	return func(dir string) (string, error) {
		d, err := intake.OpenData(dir)
		if err != nil {
			return "", err
		}
		defer d.Close()
		return f(d)
	}
}

func serverKeyCmd() *cobra.Command {
	return printCmd("server-key --data DIR",
		"Print the verifier key of the batch signing key, for researchers to pin", "",
		"  intake server-key --data /var/lib/testimony > server.pub",
		withData(func(d *intake.Data) (string, error) { return d.ServerKey(), nil }))
}

func auditKeyCmd() *cobra.Command {
	return printCmd("audit-key --data DIR",
		"Print the verifier key of the audit log, for auditors to pin",
		`audit-key prints the key auditors use with "auditor verify" to check the server's
audit log. Give it to them over a channel they trust, and have them check it by voice.`,
		"  intake audit-key --data /var/lib/testimony > audit.pub",
		withData((*intake.Data).AuditKey))
}

func addressCmd() *cobra.Command {
	return printCmd("address --data DIR", "Print the onion address, without starting anything", "",
		"  intake address --data /var/lib/testimony",
		func(dir string) (string, error) { return onion.Address(filepath.Join(dir, "onion")) })
}
