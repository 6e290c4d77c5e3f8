// Command researcher runs on the researcher's offline machine: it makes the
// researcher's key, checks and decrypts batches exported by the intake
// server, and manages pseudonyms. It has no network code.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/keyfile"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/internal/buildinfo"
	"github.com/testimony-project/testimony/internal/passphrase"
	"github.com/testimony-project/testimony/internal/secretfile"
	"github.com/testimony-project/testimony/replycopy"
	"github.com/testimony-project/testimony/researcher"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/term"
)

// Exit statuses (DESIGN.md §9).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitQuarantined = 3
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs the command line args and returns the exit status.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	code := exitStatus(err)
	if code != exitOK && code != exitQuarantined {
		fmt.Fprintln(stderr, "researcher:", err)
	}
	return code
}

// exitStatus maps the error a command returned to an exit status: errors
// cobra returns before a command runs (unknown commands, bad flags,
// missing arguments) and usageErrors are usage errors.
func exitStatus(err error) int {
	var f ranError
	switch {
	case err == nil:
		return exitOK
	case !errors.As(err, &f):
		return exitUsage
	case errors.Is(err, errQuarantined):
		return exitQuarantined
	case errors.As(err, new(usageError)):
		return exitUsage
	default:
		return exitFailure
	}
}

// ranError marks an error returned by a command that ran.
type ranError struct{ err error }

func (e ranError) Error() string { return e.err.Error() }
func (e ranError) Unwrap() error { return e.err }

// usageError is a command line naming input that is missing, unreadable or
// malformed: the study file, a key, a batch.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// errQuarantined says decrypt finished, but the workspace holds quarantined
// envelopes (the summary printed lists them).
var errQuarantined = errors.New("some envelopes are quarantined")

const exitCodesHelp = `Exit status: 0 done; 1 failed (one line on stderr says why); 2 bad usage, flags,
or input that cannot be read; 3 (decrypt) done, but the workspace holds quarantined
envelopes, listed by reason.`

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "researcher",
		Short:         "Decrypt testimonies on an offline machine",
		Long:          "researcher runs on the researcher's offline machine. It makes the researcher's key, checks and decrypts batches exported by the intake server, and assigns pseudonyms. It never uses the network.\n\n" + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = buildinfo.Read().String()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(keygenCmd(), pubkeyCmd(), decryptCmd(), exportCmd(), reportCmd(), pseudonymCmd(), receiptCmd(), teamCmd(), handoverCmd(),
		replyCmd(), replyBatchCmd(), auditKeyCmd(), passphraseCmd(), xlsformCmd(), backupCmd())
	markRan(root)
	return root
}

// markRan wraps every command's RunE so that its errors are told apart from
// cobra's usage errors.
func markRan(c *cobra.Command) {
	if f := c.RunE; f != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := f(cmd, args); err != nil {
				return ranError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markRan(sub)
	}
}

func keygenCmd() *cobra.Command {
	var out, passFile string
	var fast bool
	c := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Make a researcher key, encrypted under a passphrase",
		Long: `keygen makes a new researcher key pair. The private key is written to FILE (mode 0600),
encrypted under a passphrase with argon2id (256 MiB); the public key is printed, with a
fingerprint to read aloud when you give the key to the server's operator.`,
		Example: "  researcher keygen --out ~/testimony.key\n  researcher keygen --out key --passphrase-file pass.txt",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Lstat(out); err == nil {
				return fmt.Errorf("%s already exists: choose another --out, a key must never be overwritten", out)
			}
			pass, err := passphrase.Read(passFile, "New passphrase for the key", true, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			id, err := envelope.GenerateIdentity()
			if err != nil {
				return err
			}
			params := keyfile.DefaultParams
			if fast {
				params = keyfile.Params{Time: 1, MemoryKiB: keyfile.MinMemoryKiB, Threads: 1}
			}
			data, err := keyfile.Encrypt(id, pass, params)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteBytes(out, 0o600, data); err != nil {
				return err
			}
			r := id.Recipient()
			fmt.Fprintf(cmd.OutOrStdout(), "public key:  %s\nfingerprint: %s\n", r, r.Fingerprint())
			fmt.Fprintf(cmd.ErrOrStderr(), "Private key written to %s. Keep it and its passphrase on this offline machine.\nGive the public key to the operator; check the fingerprint with them by voice.\n", out)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "file to write the encrypted private key to (required)")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "read the passphrase from this file instead of the terminal")
	c.Flags().BoolVar(&fast, "weak-kdf-for-tests", false, "use the minimum argon2id cost (64 MiB, 1 pass); for tests and demos only")
	c.Flags().MarkHidden("weak-kdf-for-tests")
	c.MarkFlagRequired("out")
	return c
}

func pubkeyCmd() *cobra.Command {
	var keyPath string
	c := &cobra.Command{
		Use:     "pubkey --key FILE",
		Short:   "Print the public key and fingerprint of a key file (no passphrase needed)",
		Example: "  researcher pubkey --key ~/testimony.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(keyPath)
			if err != nil {
				return err
			}
			r, err := keyfile.PublicKey(data)
			if err != nil {
				return fmt.Errorf("%s: %w", keyPath, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "public key:  %s\nfingerprint: %s\n", r, r.Fingerprint())
			return nil
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "key file made by keygen (required)")
	c.MarkFlagRequired("key")
	return c
}

func openKey(path, passFile string, stderr io.Writer) (*envelope.Identity, error) {
	data, err := secretfile.Read(path, keyfile.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("failed to read key: %w", err)
	}
	if _, err := keyfile.PublicKey(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pass, err := passphrase.Read(passFile, "Passphrase for "+path, false, stderr)
	if err != nil {
		return nil, err
	}
	id, err := keyfile.Decrypt(data, pass)
	if errors.Is(err, keyfile.ErrWrongPassphrase) {
		return nil, fmt.Errorf("wrong passphrase for %s: try again", path)
	}
	return id, err
}

func decryptCmd() *cobra.Command {
	var keyPath, passFile, studyPath, out, lang, labels string
	var serverKeys, handovers, teamCopies []string
	c := &cobra.Command{
		Use:   "decrypt --key FILE --study STUDY --server-key KEY... --out WORKSPACE [BATCH...]",
		Short: "Check, decrypt and pseudonymize batches into a workspace",
		Long: `decrypt checks each batch's signature against the server key you pinned and every
envelope's hash (a tampered, truncated or unsigned batch is refused whole), decrypts the
envelopes with your key, checks every testimony against the version of the questionnaire
it answers (batches carry every version; the workspace keeps them), gives each testimony
a team pseudonym (every researcher who decrypts the same batches in the same order —
give them in the order they were exported, as their file names sort — gets the same
names),
and writes the exports into WORKSPACE: testimonies.csv (values), testimonies.xlsx
(values, labels, codebook), testimonies.jsonl, codebook.csv and one Markdown file per
testimony, with the questions of every version; with --labels LANG, also
testimonies-labels-LANG.csv. Running it again on the same or overlapping batches adds
only what is new and never changes a pseudonym.

The study file must be a valid revision of every version the workspace holds (same id,
no question id reused with another type, no choice value given another meaning).

A study served by several servers behind one address (Onionbalance) has a batch key per
server: give each with its own --server-key, and each batch must be signed by one of them.

A key that opens none of a batch's envelopes is refused before anything is written,
with the fingerprints of the study's recipients and of your key. A run is all or
nothing: if any batch is refused, nothing of the run is saved.

Envelopes sealed before your key was added to the study are not refused: they are
counted ("sealed before you joined the team"), kept, and brought in when a teammate
gives you a handover (researcher handover; import it here with --handover, with or
without batches, no server key needed without batches).

People who testified with a return passphrase may come back: answer a researcher's
reply (a follow-up), add to their testimony, or withdraw it. Each message is signed with
the key their passphrase gives; decrypt attaches it to the testimony whose return
address it names, under the same pseudonym: follow-ups and additions in thread.jsonl,
followups.csv (one row per answer) and the testimony's Markdown file; a withdrawal takes
the testimony and everything on its thread out of every export, on this run and every
later one. A follow-up answering a teammate's reply is checked against it once you
import their team copy (--replies FILE, written by their researcher reply-batch).

Envelopes that do not open or break the questionnaire's rules are quarantined: the
summary counts them by reason and quarantine.jsonl shows each. So are messages not
signed by their thread's key (thread-unverified), and, until what they wait for
arrives, messages to a testimony not in the workspace yet (thread-unknown) and
follow-ups answering a reply it does not know (reply-unknown). The workspace keeps every
batch it imported (WORKSPACE/batches), so when you correct the study file, running
decrypt again (with or without new batches) examines the quarantined envelopes again
and brings in those that now pass. It also finishes a run that was interrupted.

` + exitCodesHelp,
		Example: `  researcher decrypt --key ~/testimony.key --study nk-internet-access.yaml \
    --server-key "$(cat server.pub)" --out ~/study-workspace batch-2026-11-27.tar
  # after correcting the study file: examine the quarantine again
  researcher decrypt --key ~/testimony.key --study nk-internet-access.yaml \
    --server-key "$(cat server.pub)" --out ~/study-workspace
  # two servers behind Onionbalance: the batches of both into one workspace
  researcher decrypt --key ~/testimony.key --study nk-internet-access.yaml \
    --server-key "$(cat backend1.pub)" --server-key "$(cat backend2.pub)" \
    --out ~/study-workspace backend1-batch.tar backend2-batch.tar
  # a new researcher: the testimonies sealed before they joined, from a teammate
  researcher decrypt --key ~/testimony.key --study nk-internet-access.yaml \
    --out ~/study-workspace --handover from-alice.handover
  # a teammate's replies, so that follow-ups answering them are attached
  researcher decrypt --key ~/testimony.key --study nk-internet-access.yaml \
    --out ~/study-workspace --replies alice-replies-1.team`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, batches []string) error {
			study, studyData, err := loadStudy(studyPath)
			if err != nil {
				return err
			}
			var servers []note.Verifier
			switch {
			case len(serverKeys) > 0:
				for _, serverKey := range serverKeys {
					v, err := note.NewVerifier(strings.TrimSpace(serverKey))
					if err != nil {
						return usageError{fmt.Errorf("malformed --server-key %q: give the line `intake server-key` printed: %v", serverKey, err)}
					}
					servers = append(servers, v)
				}
			case len(batches) > 0:
				return usageError{errors.New("--server-key is required to check batches: give the line `intake server-key` printed")}
			}
			for _, l := range [][2]string{{"--lang", lang}, {"--labels", labels}} {
				if l[1] != "" && !(l[0] == "--labels" && l[1] == "none") && !study.HasLanguage(l[1]) {
					return usageError{fmt.Errorf("%s %q is not a language of the study: use one of %s", l[0], l[1], strings.Join(study.Langs(), ", "))}
				}
			}
			id, err := openKey(keyPath, passFile, cmd.ErrOrStderr())
			if err != nil {
				return inputError(err)
			}
			files := make([]*os.File, len(batches))
			for i, path := range batches {
				if files[i], err = os.Open(path); err != nil {
					return usageError{err}
				}
				defer files[i].Close()
			}
			copies := make([][]byte, len(teamCopies))
			for i, path := range teamCopies {
				if copies[i], err = readLimited(path, replycopy.MaxSize); err != nil {
					return usageError{err}
				}
			}
			hfiles := make([]*os.File, len(handovers))
			for i, path := range handovers {
				if hfiles[i], err = os.Open(path); err != nil {
					return usageError{err}
				}
				defer hfiles[i].Close()
			}
			// Unlocking the key used 256 MiB (argon2id) that the garbage
			// collector would otherwise count as live heap to grow from:
			// give it back before decrypting, and keep the heap below what
			// the unlock needed (a soft limit: a workspace whose registry
			// alone outgrows it still works, with more collections).
			debug.FreeOSMemory()
			debug.SetMemoryLimit(256 << 20)
			ws, err := researcher.Open(out, study, id, lang)
			if err != nil {
				return err
			}
			defer ws.Abort() // unless closed
			if len(batches) == 0 && len(handovers) == 0 && len(teamCopies) == 0 && !ws.Saved() {
				return usageError{fmt.Errorf("%s is a new workspace: give the batches to decrypt", out)}
			}
			if err := ws.SetStudyFile(studyData); err != nil {
				return err
			}
			if labels != "" {
				if err := ws.SetLabels(labels); err != nil {
					return usageError{err}
				}
			}
			if err := decrypt(cmd, ws, servers, batches, files); err != nil {
				return err
			}
			for i, path := range handovers {
				sum, err := ws.ImportHandover(hfiles[i], newProgress(cmd.ErrOrStderr(), path, "envelopes"))
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				msgs := ""
				if sum.Messages > 0 {
					msgs = fmt.Sprintf(" with %d messages on their threads", sum.Messages)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: handover from %s, %d envelopes, %d testimonies brought in%s, %d already here, %d quarantined\n",
					path, sum.From, sum.Envelopes, sum.Imported, msgs, sum.Skipped, sum.Quarantined)
			}
			for i, path := range teamCopies {
				res, err := ws.ImportTeamCopy(copies[i])
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: team copy of %d replies by %s, %d new\n", path, res.Replies, res.From, res.New)
			}
			ws.SetExportProgress(newProgress(cmd.ErrOrStderr(), "writing exports", "testimonies"))
			if err := ws.Close(); err != nil {
				return err
			}
			return summarize(cmd.OutOrStdout(), ws, out)
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "your key file, made by keygen (required)")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "read the passphrase from this file instead of the terminal")
	c.Flags().StringVar(&studyPath, "study", "", "the study file the server serves (required)")
	c.Flags().StringArrayVar(&serverKeys, "server-key", nil, "the server's verifier key, as `intake server-key` printed it (required with batches; repeat for each server of a study served by several)")
	c.Flags().StringVar(&out, "out", "", "workspace folder (required; created if missing)")
	c.Flags().StringVar(&lang, "lang", "", "language of question labels in Markdown files and of the XLSX sheet of labels, one of the study's (default: as before, or the study's first)")
	c.Flags().StringVar(&labels, "labels", "", "also write testimonies-labels-`LANG`.csv, choice labels in LANG instead of values, and keep it up to date (none: stop)")
	c.Flags().StringArrayVar(&handovers, "handover", nil, "a handover `FILE` from a teammate (repeat for several)")
	c.Flags().StringArrayVar(&teamCopies, "replies", nil, "a team copy `FILE` of a teammate's replies, written by their reply-batch (repeat for several)")
	for _, f := range []string{"key", "study", "out"} {
		c.MarkFlagRequired(f)
	}
	return c
}

// summarize prints what the workspace holds after a decrypt run, and
// returns errQuarantined if it holds quarantined envelopes.
func summarize(stdout io.Writer, ws *researcher.Workspace, dir string) error {
	fmt.Fprintf(stdout, "%d testimonies in %s\n", ws.Len(), dir)
	if n := ws.Withdrawn(); n > 0 {
		fmt.Fprintf(stdout, "%d withdrawn by the people who gave them: in no export\n", n)
	}
	if tc := ws.Threads(); tc.Followups+tc.Additions > 0 || tc.Waiting > 0 || tc.SharedAddress > 0 {
		if tc.Followups+tc.Additions > 0 {
			fmt.Fprintf(stdout, "%d follow-ups and %d additions on the threads of %d testimonies (thread.jsonl, followups.csv)\n", tc.Followups, tc.Additions, tc.Threads)
		}
		if tc.Waiting > 0 {
			fmt.Fprintf(stdout, "%d withdrawals of testimonies not in this workspace yet: they are withdrawn when they arrive\n", tc.Waiting)
		}
		if tc.SharedAddress > 0 {
			fmt.Fprintf(stdout, "%d testimonies carry a return address another one carries too (a client that misbehaved, or a copied address): messages on it are shown under each\n", tc.SharedAddress)
		}
	}
	if r := ws.Replies(); r.Queued > 0 || r.Dropped > 0 {
		if r.Dropped > 0 {
			fmt.Fprintf(stdout, "%d queued replies dropped: the testimonies they answer were withdrawn\n", r.Dropped)
		}
		if r.Queued > 0 {
			fmt.Fprintf(stdout, "%d replies queued: researcher reply-batch seals them for the operator\n", r.Queued)
		}
	}
	if n := ws.SealedBefore(); n > 0 {
		fmt.Fprintf(stdout, "%d sealed before you joined the team: ask a teammate for a handover (researcher handover --to <your public key>)\n", n)
	}
	quar := ws.Quarantined()
	if len(quar) == 0 {
		return nil
	}
	total := 0
	for _, q := range quar {
		total += q.Count
	}
	fmt.Fprintf(stdout, "%d envelopes quarantined in %s (see quarantine.jsonl):\n", total, dir)
	for _, q := range quar {
		fmt.Fprintf(stdout, "  %6d  %s: %s\n", q.Count, q.Reason, q.Explanation)
	}
	return errQuarantined
}

// loadStudy reads and checks a study file named on the command line.
func loadStudy(path string) (*config.Study, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, usageError{err}
	}
	s, err := config.Parse(path, data)
	if err != nil {
		return nil, nil, usageError{err}
	}
	return s, data, nil
}

// decrypt runs the steps of a decrypt run, printing what each did: batches
// an interrupted run kept, the quarantine examined again, then the batches
// given.
func decrypt(cmd *cobra.Command, ws *researcher.Workspace, servers []note.Verifier, batches []string, files []*os.File) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	resumed, err := ws.Resume(servers, newProgress(stderr, "resuming", "envelopes"))
	if err != nil {
		return err
	}
	for _, sum := range resumed {
		fmt.Fprintf(stdout, "batch %s, kept by an interrupted run: %s\n", sum.BatchID, describe(sum))
	}
	re, err := ws.Reexamine(newProgress(stderr, "examining the quarantine again", "envelopes"))
	if err != nil {
		return err
	}
	if re.Examined > 0 {
		fmt.Fprintf(stdout, "quarantine examined again against this study: %d envelopes, %d brought in\n", re.Examined, re.Recovered)
	}
	if re.Missing > 0 {
		fmt.Fprintf(stdout, "%d quarantined envelopes could not be examined again: their batches are no longer in the workspace; decrypt those batches again\n", re.Missing)
	}
	for i, path := range batches {
		sum, err := ws.Import(files[i], servers, newProgress(stderr, path, "envelopes"))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(stdout, "%s: %s\n", path, describe(sum))
	}
	return nil
}

// describe says what importing a batch did.
func describe(sum *researcher.Summary) string {
	switch {
	case sum.Earlier:
		return fmt.Sprintf("%d envelopes, all imported by an earlier run", sum.Envelopes)
	case sum.Again:
		return fmt.Sprintf("%d envelopes, the same batch as one before it", sum.Envelopes)
	}
	s := fmt.Sprintf("%d envelopes, %d new testimonies, %d already imported, %d quarantined", sum.Envelopes, sum.Imported, sum.Skipped, sum.Quarantined)
	if sum.Messages > 0 {
		s += fmt.Sprintf(", %d messages on threads", sum.Messages)
	}
	if sum.SealedBefore > 0 {
		s += fmt.Sprintf(", %d sealed before you joined", sum.SealedBefore)
	}
	var reasons []string
	for _, q := range sum.Reasons {
		reasons = append(reasons, fmt.Sprintf("%d %s", q.Count, q.Reason))
	}
	if len(reasons) > 0 {
		s += " (" + strings.Join(reasons, ", ") + ")"
	}
	return s
}

// inputError makes an error reading a file named on the command line a
// usage error.
func inputError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return usageError{err}
	}
	return err
}

// newProgress returns a progress callback counting unit: a progress bar
// on a terminal, otherwise a plain line at every tenth of the way. A call
// with another total, or going back, starts a new count (the next batch).
func newProgress(w io.Writer, label, unit string) func(done, total int) {
	var bar *progressbar.ProgressBar
	lastDone, lastTotal, tenths := 0, -1, 0
	terminal := false
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		terminal = true
	}
	return func(done, total int) {
		if total != lastTotal || done < lastDone {
			if bar != nil {
				bar.Finish()
			}
			bar, tenths = nil, 0
			if terminal {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(label),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
			}
		}
		lastDone, lastTotal = done, total
		if bar != nil {
			bar.Set(done)
			if done == total {
				bar.Finish()
			}
			return
		}
		if total == 0 {
			return
		}
		if t := done * 10 / total; t > tenths {
			tenths = t
			fmt.Fprintf(w, "%s: %d of %d %s (%d%%)\n", label, done, total, unit, t*10)
		}
	}
}

func auditKeyCmd() *cobra.Command {
	var ws string
	c := &cobra.Command{
		Use:   "audit-key --workspace WORKSPACE",
		Short: "Print the verifier key of the workspace's audit log, for auditors to pin",
		Long: `audit-key prints the key auditors use with "auditor verify" and "auditor reconcile" to
check this workspace's audit log (batches imported, testimonies quarantined, pseudonyms
renamed; never a name or an answer). The log and its key are made by the first decrypt.`,
		Example: "  researcher audit-key --workspace ~/study-workspace > researcher-audit.pub",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(filepath.Join(ws, "audit.pub"))
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s has no audit log yet: run researcher decrypt first", ws)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(b)))
			return nil
		},
	}
	c.Flags().StringVar(&ws, "workspace", "", "workspace folder made by decrypt (required)")
	c.MarkFlagRequired("workspace")
	return c
}
