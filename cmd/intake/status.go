package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/intake"
)

// statusExit carries the exit code of intake status (0 OK, 1 warning, 2
// critical, 3 unknown) to main, which exits with it.
type statusExit int

func (e statusExit) Error() string { return fmt.Sprintf("status %d", int(e)) }
func (e statusExit) ExitCode() int { return int(e) }

func statusCmd() *cobra.Command {
	var dataDir, textfile string
	var asJSON bool
	var minFree sizeFlag
	o := intake.StatusOptions{WarnPending: intake.DefaultWarnPending, WarnDays: intake.DefaultWarnDays, WarnBackupDays: intake.DefaultWarnBackupDays}
	c := &cobra.Command{
		Use:   "status --data DIR [--json] [--textfile FILE]",
		Short: "Tell whether the server is healthy, for a person or a monitor",
		Long: `status tells whether an intake serve holds the data directory, whether the tor it
started runs and the onion service was published since it started (with serve
--external-tor: that the operator's tor publishes it, which intake cannot see), how
many envelopes wait for export and how large they are, the exported ones not yet
purged, the free space on the data disk against the low-disk watermark (the one intake
serve recorded), the day of the last export and backup, the size of the audit log, and
any export or purge that was interrupted.

It shows nothing finer than the UTC day: it counts only envelopes and audit records
from before today, rounds the free space down to a hundredth of the disk, and gives
days, not times, so a monitor that polls it every minute learns no more than the
audit log tells. It only reads, so it works while the server runs and on a full disk.

Its exit code follows the monitoring plugin convention (Nagios, Icinga): 0 OK,
1 WARNING (the onion service not published since the server started, disk near the
watermark, many or old envelopes waiting, a purge or a server that was cut short, no
recent backup), 2 CRITICAL (not serving, tor down, disk below
the watermark, an interrupted export), 3 UNKNOWN (the directory cannot be read).
--textfile also writes the figures as gauges for node_exporter's textfile collector
(atomically; no timestamps).`,
		Example: `  intake status --data /var/lib/testimony
  intake status --data /var/lib/testimony --json
  intake status --data /var/lib/testimony --textfile /var/lib/prometheus/node-exporter/testimony.prom`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.MinFree = int64(minFree)
			now := time.Now()
			s := intake.ReadStatus(dataDir, o, now)
			if textfile != "" {
				if err := s.WriteTextfile(textfile, now); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "intake:", err)
					return statusExit(intake.Unknown)
				}
			}
			var err error
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				err = enc.Encode(s)
			} else {
				err = s.WriteText(cmd.OutOrStdout(), o)
			}
			if err != nil {
				return statusExit(intake.Unknown)
			}
			if s.Level != intake.OK {
				return statusExit(s.Level)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (required)")
	f.BoolVar(&asJSON, "json", false, "print the status as JSON")
	f.StringVar(&textfile, "textfile", "", "also write the status for node_exporter's textfile collector to this file (*.prom)")
	f.Var(&minFree, "min-free", "judge the disk by this low-disk watermark instead of the one intake serve recorded in DATA/serve.lock")
	f.IntVar(&o.WarnPending, "warn-pending", o.WarnPending, "warn when this many envelopes wait for export (0: never)")
	f.IntVar(&o.WarnDays, "warn-days", o.WarnDays, "warn when an envelope has waited for export more than this many days (0: never)")
	f.IntVar(&o.WarnBackupDays, "warn-backup-days", o.WarnBackupDays, "warn when the last backup is older than this many days (0: never)")
	c.MarkFlagRequired("data")
	return c
}
