package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/pseudonym"
	"github.com/testimony-project/testimony/researcher"
)

// wsFlags are the flags of commands that open a workspace made by decrypt.
type wsFlags struct {
	key, passFile, study, workspace string
}

func (f *wsFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.key, "key", "", "your key file, made by keygen (required)")
	c.Flags().StringVar(&f.passFile, "passphrase-file", "", "read the passphrase from this file instead of the terminal")
	c.Flags().StringVar(&f.study, "study", "", "the study file (default: the one the workspace's exports were last made with)")
	c.Flags().StringVar(&f.workspace, "workspace", "", "workspace folder made by decrypt (required)")
	c.MarkFlagRequired("key")
	c.MarkFlagRequired("workspace")
}

// open unlocks the key and opens the workspace, with lang as Open takes
// it.
func (f *wsFlags) open(cmd *cobra.Command, lang string) (*researcher.Workspace, *envelope.Identity, error) {
	var study *config.Study
	var data []byte
	if f.study != "" {
		var err error
		if study, data, err = loadStudy(f.study); err != nil {
			return nil, nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(f.workspace, "registry.sealed")); err != nil {
		return nil, nil, usageError{fmt.Errorf("%s is not a workspace made by researcher decrypt", f.workspace)}
	}
	if study == nil {
		if _, err := researcher.StudyOf(f.workspace); err != nil {
			return nil, nil, usageError{err}
		}
	}
	id, err := openKey(f.key, f.passFile, cmd.ErrOrStderr())
	if err != nil {
		return nil, nil, inputError(err)
	}
	w, err := researcher.Open(f.workspace, study, id, lang)
	if err != nil {
		return nil, nil, err
	}
	if data != nil {
		if err := w.SetStudyFile(data); err != nil {
			w.Abort()
			return nil, nil, err
		}
	}
	return w, id, nil
}

// writeNew writes data to path, a new file: an earlier receipt, renames
// file or handover is never overwritten.
func writeNew(path string, perm os.FileMode, write func(io.Writer) error) error {
	if _, err := os.Lstat(path); err == nil {
		return usageError{fmt.Errorf("%s already exists: choose another --out", path)}
	}
	return atomicfile.Write(path, perm, write)
}

// closeWritten closes w, which records in its audit log that the file at
// out was written; if that fails before the run is saved, it removes out,
// so that no receipt, handover, renames file or study file is given out
// that the audit log does not show. A run saved before Close failed
// counts: its records reach the audit log, and out stays.
func closeWritten(w *researcher.Workspace, out string) error {
	if err := w.Close(); err != nil {
		if w.RunSaved() {
			return fmt.Errorf("%w (the run was saved: %s stays, and the audit log shows it once the workspace is opened again)", err, out)
		}
		if rerr := os.Remove(out); rerr != nil {
			return fmt.Errorf("%w (and %s, written before, could not be removed: delete it, the audit log does not show it: %v)", err, out, rerr)
		}
		return fmt.Errorf("%w (%s was removed: the audit log does not show it)", err, out)
	}
	return nil
}

// writeNewBytes is [writeNew] of data already in memory.
func writeNewBytes(path string, perm os.FileMode, data []byte) error {
	return writeNew(path, perm, func(w io.Writer) error { _, err := w.Write(data); return err })
}

func exportCmd() *cobra.Command {
	var f wsFlags
	var lang, labels string
	c := &cobra.Command{
		Use:   "export --key FILE --workspace WORKSPACE [--labels LANG] [--lang LANG]",
		Short: "Write every export of a workspace again, without a batch",
		Long: `export writes every export of the workspace again from what it holds: testimonies.csv,
testimonies.xlsx, testimonies.jsonl, codebook.csv, testimonies/*.md and, with --labels
LANG, testimonies-labels-LANG.csv (choice labels in LANG instead of values; --labels none
removes it). --lang sets the language of question labels in the Markdown files and of
the XLSX sheet of labels. The choices are kept: later decrypt runs keep the files up to
date in the same languages. Edit copies of the exports, not them: they are made again.

` + exitCodesHelp,
		Example: `  researcher export --key ~/testimony.key --workspace ~/study-workspace --labels en
  researcher export --key ~/testimony.key --workspace ~/study-workspace --lang ko --labels none`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, _, err := f.open(cmd, lang)
			if err != nil {
				return err
			}
			defer w.Abort()
			if labels != "" {
				if err := w.SetLabels(labels); err != nil {
					return usageError{err}
				}
			}
			w.RewriteExports()
			w.SetExportProgress(newProgress(cmd.ErrOrStderr(), "writing exports", "testimonies"))
			if err := w.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d testimonies exported in %s\n", w.Len(), f.workspace)
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&lang, "lang", "", "language of question labels in Markdown files and the XLSX sheet of labels (default: as before)")
	c.Flags().StringVar(&labels, "labels", "", "also write testimonies-labels-`LANG`.csv and keep it up to date (none: stop)")
	return c
}

func receiptCmd() *cobra.Command {
	var f wsFlags
	var out string
	c := &cobra.Command{
		Use:   "receipt --key FILE --workspace WORKSPACE --out FILE",
		Short: "Sign an import receipt, for the operator to delete what you imported from the server",
		Long: `receipt writes an import receipt signed with your key: the SHA-256 of the signed
manifest of every batch this workspace imported completely (each of its envelopes imported,
or quarantined with its ciphertext kept in WORKSPACE/batches). Give it to the operator: "intake
purge --receipt FILE" deletes from the server only the envelopes of the batches a valid
receipt from a researcher of the study lists, and keeps everything else. The receipt
says which batches you imported, not what they hold. Keep WORKSPACE/batches: once the
server has purged them, the batches you keep are the only copy of quarantined envelopes.

` + exitCodesHelp,
		Example: `  researcher receipt --key ~/testimony.key --workspace ~/study-workspace --out alice.receipt
  # on the server
  intake purge --data /var/lib/testimony --config study.yaml --receipt alice.receipt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			msg, r, err := w.Receipt()
			if err != nil {
				return err
			}
			if err := writeNewBytes(out, 0o644, msg); err != nil {
				return err
			}
			if err := closeWritten(w, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "receipt for %d batches written to %s (signed by %s, sha256 %x)\n", len(r.Batches), out, r.Researcher, r.Hash)
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&out, "out", "", "file to write the signed receipt to (required; must not exist)")
	c.MarkFlagRequired("out")
	return c
}

func pseudonymCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "pseudonym",
		Short: "List, rename, and exchange renames of pseudonyms",
		Long: `Every researcher who decrypts the same batches gets the same pseudonyms. A rename is made
in your workspace (rename), signed and sent to the team (export-renames), and applied by
each teammate (import-renames): the names come out the same everywhere, whatever order
the files arrive in. When two renames conflict, the later one wins (a rename made after
seeing another comes after it; between two made without seeing each other, the one by
the researcher whose key fingerprint sorts last); a rename to a name another testimony
has, or had, is void for everyone.`,
	}
	var f wsFlags
	rename := &cobra.Command{
		Use:   "rename OLD NEW",
		Short: "Give a testimony another pseudonym",
		Long: `rename changes a pseudonym everywhere in the workspace. Names are written in Hangul
(romanized for you), as "Hangul/Roman", or as "Hangul (Roman)". The rename is recorded by
the testimony's reference (derived from its content key, which only the researchers
know); send it to the team with export-renames.`,
		Example: `  researcher pseudonym rename --key k --workspace ws 김석한 "김영철/Kim Young-chul"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			if err := w.Rename(args[0], args[1]); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			n, _ := pseudonym.Parse(args[1])
			fmt.Fprintf(cmd.OutOrStdout(), "renamed %s to %s; send it to the team with researcher pseudonym export-renames\n", args[0], n)
			return nil
		},
	}
	f.register(rename)
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the pseudonyms in a workspace",
		Example: "  researcher pseudonym list --key k --workspace ws",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			for t, err := range w.All() {
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", t.Pseudonym, t.PseudonymRoman)
			}
			return w.Close()
		},
	}
	f.register(list)
	var out string
	exportRenames := &cobra.Command{
		Use:   "export-renames --key FILE --workspace WORKSPACE --out FILE",
		Short: "Sign your renames for the rest of the team",
		Long: `export-renames writes every rename you made in this workspace to a file signed with your
key, for your teammates to apply with import-renames. It names testimonies by their
reference, which only the team can compute, never by anything the server knows.`,
		Example: `  researcher pseudonym export-renames --key ~/testimony.key --workspace ~/study-workspace --out alice.renames`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			msg, n, err := w.ExportRenames()
			if err != nil {
				return err
			}
			if err := writeNewBytes(out, 0o600, msg); err != nil {
				return err
			}
			if err := closeWritten(w, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d renames signed to %s\n", n, out)
			return nil
		},
	}
	f.register(exportRenames)
	exportRenames.Flags().StringVar(&out, "out", "", "file to write the signed renames to (required; must not exist)")
	exportRenames.MarkFlagRequired("out")
	importRenames := &cobra.Command{
		Use:   "import-renames --key FILE --workspace WORKSPACE FILE...",
		Short: "Apply renames signed by teammates",
		Long: `import-renames checks each file's signature against the study's researchers and applies
its renames. The result is the same whatever order files are imported in, and
importing a file again changes nothing. A rename of a testimony not in this workspace
waits for it.`,
		Example: `  researcher pseudonym import-renames --key ~/testimony.key --workspace ~/study-workspace bob.renames carol.renames`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			msgs := make([][]byte, len(args))
			for i, path := range args {
				data, err := readLimited(path, 64<<20)
				if err != nil {
					return usageError{err}
				}
				msgs[i] = data
			}
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			for i, path := range args {
				res, err := w.ImportRenames(msgs[i])
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				var parts []string
				for _, o := range []string{"applied", "superseded", "taken", "unknown testimony"} {
					if n := res.Outcomes[o]; n > 0 {
						parts = append(parts, fmt.Sprintf("%d %s", n, o))
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d renames by %s, %d new (%s)\n", path, res.Renames, res.From, res.New, strings.Join(parts, ", "))
			}
			if err := w.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d testimonies in %s\n", w.Len(), f.workspace)
			return nil
		},
	}
	f.register(importRenames)
	c.AddCommand(rename, list, exportRenames, importRenames)
	return c
}

// readLimited reads a file named on the command line, refusing one larger
// than max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a file researcher writes", path, max)
	}
	return data, nil
}

func handoverCmd() *cobra.Command {
	var f wsFlags
	var to, out string
	var names []string
	c := &cobra.Command{
		Use:   "handover --key FILE --workspace WORKSPACE --to PUBLIC-KEY --out FILE [--pseudonym NAME...]",
		Short: "Hand earlier testimonies to a researcher who joined the team later",
		Long: `A researcher added to the study (researcher team add) reads the envelopes sealed after
the operator serves the revised study; earlier envelopes were not sealed to their key.
handover writes a file, signed with your key, holding each testimony of your workspace
they cannot open (or only those named with --pseudonym): its original envelope, from
the batches your workspace keeps, and its content key, sealed to their public key alone.
They import it with "researcher decrypt ... --handover FILE", which checks your
signature against the study's researchers and opens every envelope in full with the key:
they read exactly what you read, with the same pseudonyms.

Carry the file to them offline. Only their key opens the content keys, but the file
shows the envelopes' hashes and sizes: treat it like a batch.

` + exitCodesHelp,
		Example: `  researcher handover --key ~/testimony.key --workspace ~/study-workspace \
    --to testimony-pub-… --out for-dana.handover`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := envelope.ParseRecipient(strings.TrimSpace(to))
			if err != nil {
				return usageError{fmt.Errorf("malformed --to: give the public key the new researcher's `researcher pubkey` printed: %w", err)}
			}
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			var sum *researcher.HandoverSummary
			if err := writeNew(out, 0o600, func(wr io.Writer) error {
				sum, err = w.WriteHandover(wr, r, names)
				return err
			}); err != nil {
				return err
			}
			if err := closeWritten(w, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d testimonies handed over to %s in %s", sum.Envelopes-sum.Messages, sum.To, out)
			if sum.Messages > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", with %d messages on their threads", sum.Messages)
			}
			if sum.OpenedByThem > 0 || sum.Missing > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), " (left out: %d they can open themselves, %d whose envelopes this workspace no longer keeps)", sum.OpenedByThem, sum.Missing)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&to, "to", "", "the new researcher's public key, as `researcher pubkey` prints it (required)")
	c.Flags().StringVar(&out, "out", "", "file to write the handover to (required; must not exist)")
	c.Flags().StringArrayVar(&names, "pseudonym", nil, "hand over only this testimony (repeat for several)")
	c.MarkFlagRequired("to")
	c.MarkFlagRequired("out")
	return c
}

func teamCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "team",
		Short: "Add or remove a researcher: write the revised study file",
	}
	add := teamChangeCmd(true)
	remove := teamChangeCmd(false)
	c.AddCommand(add, remove)
	return c
}

func teamChangeCmd(add bool) *cobra.Command {
	var f wsFlags
	var studyPath, name, key, fp, out string
	c := &cobra.Command{Args: cobra.NoArgs}
	if add {
		c.Use = "add --study STUDY --name NAME --public-key KEY --out STUDY2 [--workspace WORKSPACE --key FILE]"
		c.Short = "Write the study file with a new researcher"
		c.Long = `add writes STUDY2: the study file with the new researcher among its recipients, every other
byte as it was. The operator serves it as a new version: from then on every envelope is
sealed to them too. Envelopes sealed before cannot be opened with their key: when they
decrypt a batch holding some, they are counted, not refused ("sealed before you joined
the team"), and a current researcher hands them over with researcher handover.

Check the new key's fingerprint with its owner by voice before you add it. With
--workspace (and --key), the change is recorded in that workspace's audit log
(researcher-added).`
		c.Example = `  researcher team add --study study.yaml --name "Dana (survey team)" \
    --public-key testimony-pub-… --out study-v2.yaml --workspace ~/study-workspace --key ~/testimony.key`
	} else {
		c.Use = "remove --study STUDY --fingerprint FP --out STUDY2 [--workspace WORKSPACE --key FILE]"
		c.Short = "Write the study file without a researcher whose key was lost or compromised"
		c.Long = `remove writes STUDY2: the study file without the recipient whose key has fingerprint FP,
every other byte as it was. The operator serves it as a new version. The server then
retires at once every version sealed to that key: no envelope is sealed to it from then
on, and a person mid-form on such a version is carried to the new one with their answers
(nothing already sealed to the key can be unsealed from it: if the key is compromised,
whoever holds it can read what was sealed to it before). The key can no longer sign
receipts, renames or handovers the team accepts.

With --workspace (and --key), the change is recorded in that workspace's audit log
(researcher-removed).`
		c.Example = `  researcher team remove --study study.yaml --fingerprint 0123-4567-89AB-CDEF-0123 \
    --out study-v3.yaml --workspace ~/study-workspace --key ~/testimony.key`
	}
	c.Long += "\n\n" + exitCodesHelp
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		data, err := os.ReadFile(studyPath)
		if err != nil {
			return usageError{err}
		}
		var edited []byte
		var study *config.Study
		var who string
		if add {
			r, err := envelope.ParseRecipient(strings.TrimSpace(key))
			if err != nil {
				return usageError{fmt.Errorf("malformed --public-key: give the key the researcher's `researcher pubkey` printed: %w", err)}
			}
			who = r.Fingerprint()
			edited, study, err = researcher.AddRecipient(studyPath, data, name, r)
			if err != nil {
				return err
			}
		} else {
			who = strings.ToUpper(strings.TrimSpace(fp))
			if edited, study, err = researcher.RemoveRecipient(studyPath, data, who); err != nil {
				return err
			}
		}
		if f.workspace != "" {
			if f.key == "" {
				return usageError{errors.New("--workspace needs --key: the workspace's audit log is kept with your key")}
			}
			f.study = studyPath
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			rec := researcherAdded(who)
			if !add {
				rec = researcherRemoved(who)
			}
			if err := w.Record(rec); err != nil {
				return err
			}
			if err := writeNewBytes(out, 0o644, edited); err != nil {
				return err
			}
			if err := closeWritten(w, out); err != nil {
				return err
			}
		} else if err := writeNewBytes(out, 0o644, edited); err != nil {
			return err
		}
		verb := "with"
		if !add {
			verb = "without"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (version %s) %s researcher %s: %d researchers; the operator serves it with intake serve --config %s\n",
			out, study.ShortVersion(), verb, who, len(study.Recipients), out)
		return nil
	}
	c.Flags().StringVar(&studyPath, "study", "", "the study file served now (required)")
	c.Flags().StringVar(&out, "out", "", "file to write the revised study to (required; must not exist)")
	c.Flags().StringVar(&f.workspace, "workspace", "", "record the change in this workspace's audit log")
	c.Flags().StringVar(&f.key, "key", "", "your key file, to open --workspace")
	c.Flags().StringVar(&f.passFile, "passphrase-file", "", "read the passphrase from this file instead of the terminal")
	if add {
		c.Flags().StringVar(&name, "name", "", "the researcher's name, as submitters see it (required)")
		c.Flags().StringVar(&key, "public-key", "", "the researcher's public key, as `researcher pubkey` prints it (required)")
		c.MarkFlagRequired("name")
		c.MarkFlagRequired("public-key")
	} else {
		c.Flags().StringVar(&fp, "fingerprint", "", "fingerprint of the key to remove, as `researcher pubkey` prints it (required)")
		c.MarkFlagRequired("fingerprint")
	}
	c.MarkFlagRequired("study")
	c.MarkFlagRequired("out")
	return c
}

func researcherAdded(fp string) audit.Record   { return audit.ResearcherAdded(fp, time.Now()) }
func researcherRemoved(fp string) audit.Record { return audit.ResearcherRemoved(fp, time.Now()) }

func reportCmd() *cobra.Command {
	var f wsFlags
	var out, lang string
	var text bool
	c := &cobra.Command{
		Use:   "report --key FILE --workspace WORKSPACE --out report.html [--lang LANG] [--include-text]",
		Short: "Write one offline HTML report of the workspace: counts and charts",
		Long: `report writes one HTML file to open in a browser or print: the number of testimonies by
language and by questionnaire version, a bar chart of every choice question, histograms of
numbers and years, and the pseudonyms linked to their Markdown files. It loads nothing
and runs nothing. Free-text answers are left out (only counted) unless --include-text is
given: the report then holds testimony, and must be kept as safely as the workspace.

` + exitCodesHelp,
		Example: `  researcher report --key ~/testimony.key --workspace ~/study-workspace --out ~/study-workspace/report.html
  researcher report --key ~/testimony.key --workspace ~/study-workspace --out report-en.html --lang en`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			if lang != "" && !w.Study().HasLanguage(lang) {
				return usageError{fmt.Errorf("--lang %q is not a language of the study: use one of %s", lang, strings.Join(w.Study().Langs(), ", "))}
			}
			if err := w.WriteReport(out, researcher.ReportOptions{Language: lang, FreeText: text}); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "report of %d testimonies written to %s\n", w.Len(), out)
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&out, "out", "", "HTML file to write (required)")
	c.Flags().StringVar(&lang, "lang", "", "language of labels and of the report's words (default: that of the exports)")
	c.Flags().BoolVar(&text, "include-text", false, "include every free-text answer, with its pseudonym")
	c.MarkFlagRequired("out")
	return c
}
