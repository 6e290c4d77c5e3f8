package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/internal/demo"
)

func demoCmd() *cobra.Command {
	var keep string
	var loopback bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a study's whole life on this machine, with throwaway keys",
		Long: `demo plays every role on this machine: two researchers make keys, a study is written,
the server starts as an onion service on a private Tor network on 127.0.0.1 (no
internet needed), people testify through Tor with and without JavaScript, the operator exports a
signed batch, and a researcher decrypts it offline and gets a pseudonymized table. Then the
way back: the researcher replies with a follow-up question, one person comes back and answers
it, another withdraws, and the next decrypt shows both; the researcher signs an import receipt,
the operator purges exactly what it covers, and an auditor verifies and reconciles the logs.
Everything happens in a temporary folder that is removed at the end (also on Ctrl-C).`,
		Example: "  go run ./cmd/intake demo\n  intake demo --keep /tmp/demo   # keep the files to look at them",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			_, err := demo.Run(ctx, demo.Options{Out: cmd.OutOrStdout(), Dir: keep, Loopback: loopback})
			if err != nil && ctx.Err() != nil {
				if keep != "" {
					return fmt.Errorf("interrupted: everything the demo started was stopped; its files are in %s", keep)
				}
				return errors.New("interrupted: everything the demo started was stopped and its files removed")
			}
			return err
		},
	}
	c.Flags().BoolVar(&loopback, "loopback", false, "serve on 127.0.0.1 instead of an onion service on a private Tor network (faster, no tor needed)")
	c.Flags().StringVar(&keep, "keep", "", "keep the demo's files in this folder instead of a temporary one")
	return c
}
