package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/intake"
)

func repliesCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "replies",
		Short: "Import researchers' reply batches, and purge old replies",
		Long: `replies holds the researchers' replies to people who come back with their return
passphrase: "intake replies import" stores the records of signed reply batches the
researchers carried from their offline machine, "intake replies purge" deletes those
past their retention. The server serves every stored record, padded, to whoever
comes back; each person's browser (or, without JavaScript, the server in memory)
finds their own.`,
	}
	c.AddCommand(repliesImportCmd(), repliesPurgeCmd())
	return c
}

func repliesImportCmd() *cobra.Command {
	var dataDir, studyPath string
	c := &cobra.Command{
		Use:   "import --data DIR --config STUDY FILE...",
		Short: "Store the replies of signed reply batches",
		Long: `import checks each reply batch FILE against the study's researchers (--config is
the study file the server serves: a batch must be for that study and signed by one
of its researchers) and stores its records in DIR/replies. A running server serves
them within a second.

It is all or nothing: if any batch is bad (unsigned, signed by someone else,
for another study, altered, truncated, or holding a record whose tag a stored
record already has with other bytes, which would link two replies to one
person), nothing is stored and the error names the file and the entry.

A batch imported before is "already imported"; one imported in part before a
crash is completed. Each batch gets one reply-batch-imported record in the audit
log (its manifest's SHA-256 and its number of records). The server holds at most
16,384 records (everyone who comes back downloads all of them): purge old ones
first if an import would pass that.

Reply records are not in backups: after a restore, import the batches again.`,
		Example: `  intake replies import --data /var/lib/testimony --config study.yaml /media/usb/replies-*.tar`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			study, err := config.Load(studyPath)
			if err != nil {
				return err
			}
			d, err := intake.OpenData(dataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			res, err := d.ImportReplies(study, files, time.Now())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			added := 0
			for _, b := range res {
				added += b.Added
				switch {
				case b.Added == 0 && !b.Recorded:
					fmt.Fprintf(w, "%s: already imported (%s, researcher %s)\n", b.Path, plural(len(b.Manifest.Records), "reply record"), b.Manifest.Researcher)
				case b.Added < len(b.Manifest.Records):
					fmt.Fprintf(w, "%s: imported %s of %d, the others were already here (researcher %s)\n", b.Path, plural(b.Added, "reply record"), len(b.Manifest.Records), b.Manifest.Researcher)
				default:
					fmt.Fprintf(w, "%s: imported %s (researcher %s)\n", b.Path, plural(b.Added, "reply record"), b.Manifest.Researcher)
				}
			}
			n, err := d.StoredReplies()
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "the server holds %s\n", plural(n, "reply record"))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (required)")
	f.StringVar(&studyPath, "config", "", "the study file the server serves: its researchers sign reply batches (required)")
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("config")
	return c
}

func repliesPurgeCmd() *cobra.Command {
	var dataDir string
	olderThan := -1
	c := &cobra.Command{
		Use:   "purge --data DIR --older-than DAYS",
		Short: "Delete replies imported DAYS or more days ago",
		Long: `purge deletes the reply records imported DAYS or more UTC days ago (0: every one),
whole days at a time, and records how many in the audit log (replies-purged). A
person who comes back after that finds no reply. A purge cut short is finished
by the next import or purge.`,
		Example: `  intake replies purge --data /var/lib/testimony --older-than 180`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < 0 {
				return fmt.Errorf("--older-than %d: say how many days old replies must be to go, 0 or more", olderThan)
			}
			d, err := intake.OpenData(dataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			n, err := d.PurgeReplies(olderThan, time.Now())
			if err != nil {
				return err
			}
			left, err := d.StoredReplies()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s; the server holds %s\n", plural(n, "reply record"), plural(left, "reply record"))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (required)")
	f.IntVar(&olderThan, "older-than", -1, "delete replies imported this many UTC days ago or earlier (required; 0: all)")
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("older-than")
	return c
}
