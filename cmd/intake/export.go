package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/oplog"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/term"
)

func exportCmd() *cobra.Command {
	var dataDir, out string
	maxEnvelopes := intake.DefaultMaxEnvelopes
	maxBytes := sizeFlag(intake.DefaultMaxBytes)
	c := &cobra.Command{
		Use:   "export --data DIR --out FOLDER|FILE [--max-envelopes N] [--max-bytes SIZE]",
		Short: "Write every envelope not yet exported to signed batch files",
		Long: `export writes every envelope not yet exported into batch files, each with a
manifest of its envelopes' ids and SHA-256 hashes and every version of the study
file the server has served, signed by the server's key.

An export is split into parts of at most --max-envelopes envelopes and
--max-bytes bytes. Given a folder, export writes each part there as
<study>-<day>-<export id>-partNNN.tar; given a new file name, it writes one
part there, and refuses an export that needs more.

An export is all or nothing: if it fails, or the machine stops half-way, no
batch file is left and every envelope is pending again (the next export or
purge finishes undoing it, says so, and records it in the audit log). It works
on a full data disk: it writes the batches elsewhere.

It deletes nothing: once the researchers have imported the batches, run
"intake purge" with their receipts.`,
		Example: `  intake export --data /var/lib/testimony --out /media/usb/
  intake export --data /var/lib/testimony --out /media/usb/ --max-envelopes 5000 --max-bytes 500M
  intake export --data /var/lib/testimony --out /media/usb/batch-2026-11-27.tar`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := intake.OpenData(dataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			progress, done := progressReporter(cmd.ErrOrStderr(), "exporting")
			res, err := d.ExportParts(intake.ExportOptions{Out: out, MaxEnvelopes: maxEnvelopes, MaxBytes: int64(maxBytes), Progress: progress}, time.Now())
			done()
			if res != nil {
				notices(cmd.ErrOrStderr(), res.Recovered)
			}
			if err != nil {
				return err
			}
			oplog.New(cmd.ErrOrStderr()).Count(oplog.BatchExported, res.Envelopes)
			w := cmd.OutOrStdout()
			if len(res.Parts) == 1 {
				p := res.Parts[0]
				fmt.Fprintf(w, "exported %s to %s (batch %s, %s)\n", plural(p.Envelopes, "envelope"), p.Path, p.BatchID, formatSize(p.Bytes))
				return nil
			}
			fmt.Fprintf(w, "exported %d envelopes in %d parts (export %s):\n", res.Envelopes, len(res.Parts), res.ExportID)
			for _, p := range res.Parts {
				fmt.Fprintf(w, "  %s  %s, %s\n", p.Path, plural(p.Envelopes, "envelope"), formatSize(p.Bytes))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (required)")
	f.StringVar(&out, "out", "", "existing folder for the parts, or a new file for an export of one part (required)")
	f.IntVar(&maxEnvelopes, "max-envelopes", maxEnvelopes, "most envelopes in one part")
	f.Var(&maxBytes, "max-bytes", "largest part file, such as 500M or 2G")
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("out")
	return c
}

// researcherVerifiers returns the keys that sign the study's import
// receipts: its researchers' signing keys.
func researcherVerifiers(study *config.Study) ([]note.Verifier, error) {
	keys, err := study.RecipientKeys()
	if err != nil {
		return nil, err
	}
	vs := make([]note.Verifier, len(keys))
	for i, k := range keys {
		vs[i] = k.Verifier()
	}
	return vs, nil
}

func purgeCmd() *cobra.Command {
	var dataDir, studyPath string
	var receipts []string
	var exported, without bool
	c := &cobra.Command{
		Use:   "purge --data DIR --config STUDY --receipt FILE...",
		Short: "Delete exported envelopes that researchers have receipted",
		Long: `purge deletes from the server the envelopes of exported batches that the
researchers have imported, as shown by their signed import receipts ("researcher
receipt" makes one). Each receipt must be signed by a researcher of the study
(--config is the study file the server serves). purge keeps every batch's
signed manifest, and says what it kept and why.

--without-receipt deletes every exported envelope whether a receipt covers it
or not. If a batch was lost on its way to the researchers, the testimonies in it
are then gone for good; the audit log records how many
(envelopes-purged-without-receipt).

purge works on a full disk: it is how to free one.`,
		Example: `  intake purge --data /var/lib/testimony --config study.yaml --receipt alice.receipt
  intake purge --data /var/lib/testimony --config study.yaml --receipt alice.receipt --receipt bob.receipt
  intake purge --data /var/lib/testimony --without-receipt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			if len(receipts) == 0 && !without {
				if exported {
					return errors.New("purge --exported no longer deletes on your word alone: pass --receipt FILE for each researcher's import receipt (`researcher receipt` makes one), or --without-receipt to delete exported envelopes anyway; nothing was deleted")
				}
				return errors.New("say what proves the researchers have the envelopes: --receipt FILE (with --config STUDY), or --without-receipt; nothing was deleted")
			}
			o := intake.PurgeOptions{WithoutReceipt: without}
			if len(receipts) > 0 {
				if studyPath == "" {
					return errors.New("--receipt needs --config STUDY: the study file names the researchers whose receipts count")
				}
				study, err := config.Load(studyPath)
				if err != nil {
					return err
				}
				if o.Verifiers, err = researcherVerifiers(study); err != nil {
					return err
				}
				for _, path := range receipts {
					data, err := readReceipt(path)
					if err != nil {
						return err
					}
					o.Receipts = append(o.Receipts, intake.ReceiptFile{Name: path, Data: data})
				}
			}
			d, err := intake.OpenData(dataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			res, err := d.Purge(o, time.Now())
			if res != nil {
				notices(stderr, res.Recovered)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			refused := 0
			for _, c := range res.Receipts {
				switch {
				case c.Err != nil:
					refused++
					fmt.Fprintf(w, "receipt %s: refused: %v\n", c.Name, c.Err)
				case c.Unknown > 0:
					fmt.Fprintf(w, "receipt %s: researcher %s, %s still held here (%d it lists are not, or no longer, on this server)\n", c.Name, c.Receipt.Researcher, plural(c.Batches, "batch"), c.Unknown)
				default:
					fmt.Fprintf(w, "receipt %s: researcher %s, %s still held here\n", c.Name, c.Receipt.Researcher, plural(c.Batches, "batch"))
				}
			}
			if res.PurgedWithoutReceipt > 0 {
				fmt.Fprintf(stderr, "intake: WARNING: deleted %d exported envelopes that no researcher's receipt covers; if a batch did not reach the researchers, those testimonies are lost. The audit log records it (envelopes-purged-without-receipt).\n", res.PurgedWithoutReceipt)
			}
			oplog.New(stderr).Count(oplog.EnvelopesPurged, res.Purged+res.PurgedWithoutReceipt)
			fmt.Fprintf(w, "deleted %s of %s", plural(res.Purged+res.PurgedWithoutReceipt, "envelope"), plural(res.Batches, "batch"))
			if res.PurgedWithoutReceipt > 0 {
				fmt.Fprintf(w, " (%d without a receipt)", res.PurgedWithoutReceipt)
			}
			fmt.Fprintln(w)
			for _, k := range res.Kept {
				if k.Batches > 0 {
					fmt.Fprintf(w, "kept %s of %s: %s\n", plural(k.Envelopes, "envelope"), plural(k.Batches, "batch"), k.Reason)
				} else {
					fmt.Fprintf(w, "kept %s: %s\n", plural(k.Envelopes, "envelope"), k.Reason)
				}
			}
			if refused > 0 {
				return fmt.Errorf("%d of %d receipts refused (see above): ask the researcher for a receipt signed with their key, for this study", refused, len(res.Receipts))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (required)")
	f.StringVar(&studyPath, "config", "", "the study file the server serves: its researchers sign receipts")
	f.StringArrayVar(&receipts, "receipt", nil, "a researcher's signed import receipt (repeat for several)")
	f.BoolVar(&without, "without-receipt", false, "delete every exported envelope, receipted or not (recorded in the audit log)")
	f.BoolVar(&exported, "exported", false, "no longer enough on its own: use --receipt or --without-receipt")
	c.MarkFlagRequired("data")
	return c
}

// plural says "1 batch", "2 batches", "0 envelopes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "ch") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// readReceipt reads a receipt file, refusing anything larger than a
// receipt can be.
func readReceipt(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read receipt: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 8<<20+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read receipt %s: %w", path, err)
	}
	if len(b) > 8<<20 {
		return nil, fmt.Errorf("%s is too large to be a receipt", path)
	}
	return b, nil
}

// notices prints what a command repaired of an earlier one, a line each.
func notices(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintf(w, "intake: %s\n", l)
	}
}

// progressReporter returns a progress callback: a progress bar on a
// terminal, else a plain line at every tenth of the work; and a function
// that finishes it.
func progressReporter(w io.Writer, what string) (progress func(done, total int64), finish func()) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var bar *progressbar.ProgressBar
		return func(done, total int64) {
				if bar == nil {
					bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(what),
						progressbar.OptionShowBytes(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
				}
				bar.Set64(done)
			}, func() {
				if bar != nil {
					bar.Finish()
				}
			}
	}
	last := int64(-1)
	return func(done, total int64) {
		if total <= 0 {
			return
		}
		if tenth := done * 10 / total; tenth > last {
			last = tenth
			fmt.Fprintf(w, "intake: %s: %d%% (%s of %s)\n", what, tenth*10, formatSize(done), formatSize(total))
		}
	}, func() {}
}

// sizeFlag is a number of bytes given as 1234, 500K, 500M, 2G or 1T
// (powers of 1024; "KiB", "MB" and the like are read the same).
type sizeFlag int64

func (s *sizeFlag) String() string {
	if *s == 0 {
		return "0"
	}
	return formatSize(int64(*s))
}
func (s *sizeFlag) Type() string { return "SIZE" }
func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func parseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	upper := strings.ToUpper(t)
	upper = strings.TrimSuffix(strings.TrimSuffix(upper, "B"), "I")
	mult := int64(1)
	if upper != "" {
		switch upper[len(upper)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			upper = upper[:len(upper)-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(upper), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("malformed size %q: want a number of bytes such as 1048576, 500M or 2G", v)
	}
	return n * mult, nil
}

func formatSize(n int64) string {
	switch {
	case n >= 10<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// storeOptions is how serve passes --min-free to the store.
func storeOptions(minFree sizeFlag) store.Options {
	return store.Options{MinFree: int64(minFree)}
}
