// Command auditor verifies testimony audit logs offline.
//
//	auditor verify --log DIR --key VERIFIER [--trusted CHECKPOINT] [--save-checkpoint FILE] [--store DIR] [--json]
//	auditor reconcile --server-log DIR --server-key VERIFIER [--server-log DIR --server-key VERIFIER...] [--researcher-log DIR... --researcher-key VERIFIER...] [--exports PATH...] [--json]
//
// reconcile matches batches both ways: the batches the server exported with
// those the researchers imported, and the reply batches the researchers
// wrote with those the server imported.
//
// It exits 0 if everything verifies, 1 if it found damage or the logs do
// not reconcile, and 2 if it could not run (bad flags, unreadable files).
package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/testimony-project/testimony/internal/atomicfile"

	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/internal/buildinfo"
	"github.com/testimony-project/testimony/store"
)

// Exit statuses.
const (
	exitOK      = 0
	exitDamaged = 1
	exitError   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errFound is returned by a command that ran and found damage; it has
// already printed why.
var errFound = errors.New("damage found")

func run(args []string, stdout, stderr io.Writer) int {
	// Logs, checkpoints and batch files are untrusted: nothing read from them
	// may act on the auditor's terminal.
	stdout, stderr = terminalSafe{stdout}, terminalSafe{stderr}
	root := &cobra.Command{
		Use:   "auditor",
		Short: "Verify testimony audit logs offline",
		Long: `auditor checks the tamper-evident audit logs kept by a testimony intake server
and by the researchers, on a machine of the auditor's choosing, without network
access. It learns nothing about who testified or what they said: the logs hold
only event types, UTC days, hashes and counts.`,
		Example: `  auditor verify --log ./server-audit --key "$(cat server-audit.vkey)"
  auditor reconcile --server-log ./server-audit --server-key "$(cat server-audit.vkey)" \
    --researcher-log ./alice-audit --researcher-key "$(cat alice-audit.vkey)"`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = buildinfo.Read().String()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(verifyCommand(stdout), reconcileCommand(stdout))
	err := root.Execute()
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errFound):
		return exitDamaged
	default:
		fmt.Fprintf(stderr, "auditor: %v\n", err)
		return exitError
	}
}

func verifyCommand(stdout io.Writer) *cobra.Command {
	var dir, key, trustedFile, saveFile, storeDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --log DIR --key VERIFIER",
		Short: "Verify one audit log",
		Long: `verify replays every record of the audit log in DIR, recomputes its Merkle
tree, checks the signature of every checkpoint against the verifier key you
pinned, and, with --trusted, proves that the log extends a checkpoint you
saved on an earlier visit. It prints the events by type per day.

Any damage (a record edited, removed, reordered, inserted or truncated, a
checkpoint signed by another key, or a log forked from your trusted
checkpoint) is named with its record and makes verify exit with status 1.

Keep the checkpoint of each visit (--save-checkpoint) and pass it with
--trusted next time: that is what stops an operator holding the signing key
from rewriting the log unnoticed.

With --store (the server's DATA/store, or a copy), verify also hashes every
envelope the server holds and checks the log has a submission-stored record
for each: an envelope without one is reported as unrecorded-envelope. Run it
on a copy, or with the server stopped: an envelope stored in the last
instant has its record a moment later, and a server that crashed records
what it missed when it starts again.`,
		Example: `  # First visit: verify, and keep the latest checkpoint.
  auditor verify --log ./server-audit --key "$(cat server-audit.vkey)" --save-checkpoint visit-1.checkpoint

  # Later visits: prove the log still extends what you saw.
  auditor verify --log ./server-audit --key "$(cat server-audit.vkey)" \
    --trusted visit-1.checkpoint --save-checkpoint visit-2.checkpoint

  # Also check every envelope the server holds is in the log.
  auditor verify --log /var/lib/testimony/audit --key "$(cat server-audit.vkey)" --store /var/lib/testimony/store

  # For scripts.
  auditor verify --log ./server-audit --key "$(cat server-audit.vkey)" --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var trusted []byte
			if trustedFile != "" {
				var err error
				if trusted, err = os.ReadFile(trustedFile); err != nil {
					return fmt.Errorf("failed to read trusted checkpoint: %w", err)
				}
			}
			rep, err := audit.Verify(dir, key, trusted)
			if rep == nil {
				return err
			}
			if err != nil && !errors.Is(err, audit.ErrDamaged) {
				return err
			}
			if storeDir != "" {
				var walkErr error
				rep.CheckEnvelopes(storeEnvelopes(storeDir, &walkErr))
				if walkErr != nil {
					return walkErr
				}
			}
			if asJSON {
				if err := writeJSON(stdout, rep); err != nil {
					return err
				}
			} else {
				printReport(stdout, rep)
			}
			if !rep.OK() {
				return errFound
			}
			if saveFile != "" && rep.Latest != "" {
				if err := atomicfile.WriteBytes(saveFile, 0o600, []byte(rep.Latest)); err != nil {
					return fmt.Errorf("failed to save checkpoint: %w", err)
				}
				if !asJSON {
					fmt.Fprintf(stdout, "saved the latest checkpoint (%d records) to %s: pass it with --trusted next time\n", rep.Signed, saveFile)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "log", "", "audit log directory (required)")
	f.StringVar(&key, "key", "", "pinned verifier key of the log, <name>+<hash>+<keydata> (required)")
	f.StringVar(&trustedFile, "trusted", "", "checkpoint file saved on an earlier visit; the log must extend it")
	f.StringVar(&saveFile, "save-checkpoint", "", "if the log verifies, write its latest checkpoint to this file")
	f.StringVar(&storeDir, "store", "", "the server's envelope store (DATA/store): check every envelope in it has a submission-stored record")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.MarkFlagRequired("log")
	cmd.MarkFlagRequired("key")
	return cmd
}

// storeEnvelopes yields every envelope of the store in dir, with where it
// is and its hash. It stops at the first error, which it leaves in *errp.
func storeEnvelopes(dir string, errp *error) iter.Seq2[string, [32]byte] {
	return func(yield func(string, [32]byte) bool) {
		stop := errors.New("stop")
		err := store.Walk(dir, func(w store.Where, e store.Entry, path string) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("failed to read envelope %s: %w", path, err)
			}
			if !yield(fmt.Sprintf("store %s: %s/%s", w, e.Day, e.ID), [32]byte(h.Sum(nil))) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			*errp = fmt.Errorf("failed to read the store: %w", err)
		}
	}
}

func reconcileCommand(stdout io.Writer) *cobra.Command {
	var serverDirs, serverKeys []string
	var researcherDirs, researcherKeys, exports []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reconcile --server-log DIR --server-key VERIFIER... --researcher-log DIR... --researcher-key VERIFIER...",
		Short: "Check that every exported batch was imported, every reply batch written was imported, and nothing else",
		Long: `reconcile verifies the server's audit log and each researcher's audit log,
then checks that every batch the server exported (manifest hash and count)
was imported by a researcher with the same manifest hash and count, and that
no researcher imported a batch the server did not export; and the other way,
that every reply batch a researcher wrote (reply-batch-written) was imported
by the server (reply-batch-imported) with the same manifest hash and count,
and that the server imported no reply batch that no researcher wrote. Each
record it relies on is proven, by an inclusion proof, to be in the tree of
its log's latest signed checkpoint. Give every researcher's log: a batch
imported by a researcher whose log is missing, or a reply batch they wrote,
is reported as unaccounted for.

A study served by several servers behind one address (Onionbalance) has a log
and a key per server: give each server's --server-log followed by its
--server-key, in pairs. Every batch of every server must then be imported,
and nothing else; a batch recorded as exported by two servers is a finding.
Every reply batch must be imported by every server: a person coming back may
reach any of them.
Each researcher log must be signed by one of the --researcher-key keys.

With --exports (batch files, the servers' export records in
DATA/store/exports, or folders holding either), reconcile also checks each
batch manifest: a server log must record it as exported, with its count,
and must hold a submission-stored record for every envelope it lists, proven
to be in the signed log. With --exports alone, it checks only that.

Any mismatch is named and makes reconcile exit with status 1.`,
		Example: `  auditor reconcile \
    --server-log ./server-audit --server-key "$(cat server-audit.vkey)" \
    --researcher-log ./alice-audit --researcher-key "$(cat alice-audit.vkey)" \
    --researcher-log ./bob-audit --researcher-key "$(cat bob-audit.vkey)"

  # Every exported envelope is in the server log.
  auditor reconcile --server-log ./server-audit --server-key "$(cat server-audit.vkey)" \
    --exports /media/usb/ --exports ./server-data/store/exports

  # Two servers behind Onionbalance, one researcher.
  auditor reconcile \
    --server-log ./backend1-audit --server-key "$(cat backend1-audit.vkey)" \
    --server-log ./backend2-audit --server-key "$(cat backend2-audit.vkey)" \
    --researcher-log ./alice-audit --researcher-key "$(cat alice-audit.vkey)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			servers, err := serverLogs(serverDirs, serverKeys)
			if err != nil {
				return err
			}
			var rec *audit.Reconciliation
			switch {
			case len(researcherDirs) > 0 || len(researcherKeys) > 0:
				rec, err = audit.ReconcileServers(servers, researcherDirs, researcherKeys)
			case len(exports) > 0:
				rec, err = audit.ReconcileServerLogs(servers)
			default:
				return errors.New("give the researchers' logs (--researcher-log and --researcher-key), the exported batches (--exports), or both")
			}
			if rec == nil {
				return err
			}
			for _, path := range exports {
				if err := checkManifests(rec, path); err != nil {
					return err
				}
			}
			if asJSON {
				if err := writeJSON(stdout, rec); err != nil {
					return err
				}
			} else {
				printReconciliation(stdout, rec)
			}
			if !rec.OK() {
				return errFound
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&serverDirs, "server-log", nil, "a server's audit log directory (required; repeat for each server, each followed by its --server-key)")
	f.StringArrayVar(&serverKeys, "server-key", nil, "pinned verifier key of the --server-log before it (required)")
	f.StringArrayVar(&researcherDirs, "researcher-log", nil, "a researcher's audit log directory (required; repeat for each)")
	f.StringArrayVar(&researcherKeys, "researcher-key", nil, "pinned verifier key of a researcher log (repeat for each)")
	f.StringArrayVar(&exports, "exports", nil, "a batch file, a server export record (part-NNNNNN.manifest) or a folder of them (repeat for several)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	for _, name := range []string{"server-log", "server-key"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

// serverLogs pairs the --server-log and --server-key flags in the order
// they were given: the first log with the first key, and so on. A log
// paired with another server's key fails verification, by name.
func serverLogs(dirs, keys []string) ([]audit.ServerLog, error) {
	if len(dirs) != len(keys) {
		return nil, fmt.Errorf("%d --server-log but %d --server-key: give each server's log followed by its key", len(dirs), len(keys))
	}
	var servers []audit.ServerLog
	for i := range dirs {
		servers = append(servers, audit.ServerLog{Dir: dirs[i], Key: keys[i]})
	}
	return servers, nil
}

// checkManifests checks every manifest found at path: a batch file, a
// signed manifest file, or a folder holding them (at any depth).
func checkManifests(rec *audit.Reconciliation, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("failed to read --exports: %w", err)
	}
	if !fi.IsDir() {
		return checkManifest(rec, path)
	}
	found := 0
	err = filepath.WalkDir(path, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := de.Name()
		if de.Type().IsRegular() && (strings.HasSuffix(name, ".tar") || strings.HasPrefix(name, "part-") && strings.HasSuffix(name, ".manifest")) {
			found++
			return checkManifest(rec, p)
		}
		return nil
	})
	if err == nil && found == 0 {
		err = fmt.Errorf("no batch file (*.tar) or export record (part-*.manifest) in %s", path)
	}
	return err
}

func checkManifest(rec *audit.Reconciliation, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", path, err)
	}
	defer f.Close()
	var m *batch.Manifest
	if strings.HasSuffix(path, ".tar") {
		m, err = batch.ReadUnverifiedManifest(f)
	} else {
		var b []byte
		if b, err = io.ReadAll(io.LimitReader(f, 128<<20)); err == nil {
			m, err = batch.ParseUnverifiedManifest(b)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	am := audit.Manifest{Source: path, SHA256: m.Hash}
	for _, e := range m.Entries {
		am.Envelopes = append(am.Envelopes, audit.ManifestEnvelope{ID: e.ID, SHA256: e.SHA256})
	}
	rec.CheckManifest(am)
	return nil
}

// terminalSafe writes what is written to it with every character a
// terminal could act on, or that could disguise text, replaced by a visible
// escape: C0 and C1 controls other than newline and tab, bidi controls and
// other format characters (such as U+202E RIGHT-TO-LEFT OVERRIDE), and bytes
// that are not UTF-8. The escapes are JSON and Go string escapes, so JSON
// output stays valid. Each Write must hold whole characters, as fmt's do.
type terminalSafe struct{ w io.Writer }

func (t terminalSafe) Write(p []byte) (int, error) {
	var b []byte
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == '\n' || r == '\t' || r >= 0x20 && r < 0x7f:
			b = append(b, p[i])
		case r == utf8.RuneError && size == 1:
			b = fmt.Appendf(b, `\ufffd`)
		case r < 0x80 || !unicode.IsPrint(r) && r != '\u3000':
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				b = fmt.Appendf(b, `\u%04x\u%04x`, r1, r2)
			} else {
				b = fmt.Appendf(b, `\u%04x`, r)
			}
		default:
			b = append(b, p[i:i+size]...)
		}
		i += size
	}
	if _, err := t.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printReport(w io.Writer, rep *audit.Report) {
	fmt.Fprintf(w, "audit log:   %s\n", rep.Dir)
	if rep.Origin != "" {
		fmt.Fprintf(w, "origin:      %s\n", rep.Origin)
		fmt.Fprintf(w, "signed by:   %s\n", rep.Key)
	}
	fmt.Fprintf(w, "records:     %d\n", rep.Records)
	if rep.Signed > 0 {
		fmt.Fprintf(w, "signed:      %d records, by the latest checkpoint (signed %s); %d checkpoints verified\n", rep.Signed, rep.LatestDay, rep.Checkpoints)
	} else {
		fmt.Fprintf(w, "signed:      none\n")
	}
	if rep.Trusted > 0 {
		fmt.Fprintf(w, "trusted:     consistent with your checkpoint of %d records\n", rep.Trusted)
	}
	if len(rep.Days) > 0 {
		fmt.Fprintf(w, "events by day:\n")
		for _, d := range rep.Days {
			fmt.Fprintf(w, "  %s  %s\n", d.Day, formatEvents(d.Events))
		}
	}
	if rep.Envelopes > 0 {
		fmt.Fprintf(w, "envelopes:   %d in the store, checked against the log's submission-stored records\n", rep.Envelopes)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if rep.OK() {
		fmt.Fprintf(w, "result:      OK\n")
		return
	}
	fmt.Fprintf(w, "result:      DAMAGED (%d findings)\n", len(rep.Damage))
	for _, d := range rep.Damage {
		fmt.Fprintf(w, "  %s\n", d)
	}
}

func formatEvents(ev map[audit.Event]int) string {
	var parts []string
	for _, e := range audit.Events {
		if c := ev[e]; c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", e, c))
		}
	}
	// Only known events parse, so nothing else can be in ev.
	return strings.Join(parts, ", ")
}

func printReconciliation(w io.Writer, rec *audit.Reconciliation) {
	logs := append(append([]*audit.Report{}, rec.Servers...), rec.Researchers...)
	for _, r := range logs {
		status := "OK"
		if !r.OK() {
			status = "DAMAGED"
		}
		fmt.Fprintf(w, "log %s: %d records, %d signed, %s\n", r.Dir, r.Records, r.Signed, status)
	}
	if len(rec.Servers) > 1 {
		fmt.Fprintf(w, "batches exported by the %d servers: %d\n", len(rec.Servers), len(rec.Batches))
	} else {
		fmt.Fprintf(w, "batches exported by the server: %d\n", len(rec.Batches))
	}
	seen := map[string]bool{}
	for _, b := range rec.Batches {
		var where []string
		for _, im := range b.Imports {
			where = append(where, fmt.Sprintf("%s record %d (%s, key %s)", im.Log, im.Record, im.Day, im.ResearcherKey))
		}
		switch {
		case seen[b.Manifest]:
			// Its imports are listed under its first export.
			where = []string{"EXPORTED AGAIN: imports under its first export above"}
		case len(where) == 0:
			where = []string{"NOT IMPORTED"}
		}
		seen[b.Manifest] = true
		server := ""
		if len(rec.Servers) > 1 {
			server = b.Server + " "
		}
		fmt.Fprintf(w, "  %s  %d envelopes, manifest %s, %sserver record %d -> %s\n", b.Day, b.Count, b.Manifest, server, b.Record, strings.Join(where, "; "))
	}
	if len(rec.Researchers) > 0 {
		fmt.Fprintf(w, "reply batches written by the researchers: %d\n", len(rec.ReplyBatches))
	}
	for _, b := range rec.ReplyBatches {
		var where []string
		for _, im := range b.Imports {
			server := ""
			if len(rec.Servers) > 1 {
				server = im.Server + " "
			}
			where = append(where, fmt.Sprintf("%sserver record %d (%s)", server, im.Record, im.Day))
		}
		if len(where) == 0 {
			where = []string{"NOT IMPORTED"}
		}
		fmt.Fprintf(w, "  %s  %d reply records, manifest %s, %s record %d -> %s\n", b.Day, b.Count, b.Manifest, b.Log, b.Record, strings.Join(where, "; "))
	}
	if rec.Manifests > 0 {
		fmt.Fprintf(w, "exported manifests checked: %d, with %d envelopes\n", rec.Manifests, rec.EnvelopesChecked)
	}
	if rec.OK() {
		serverLogsRecord := "the server log records"
		if len(rec.Servers) > 1 {
			serverLogsRecord = "the server logs record"
		}
		switch {
		case len(rec.Researchers) == 0:
			fmt.Fprintf(w, "result: OK: %s every exported batch and every envelope in them\n", serverLogsRecord)
		case rec.Manifests > 0:
			fmt.Fprintf(w, "result: OK: every exported batch was imported, and nothing else; every reply batch written was imported by every server, and nothing else; %s every envelope in them\n", serverLogsRecord)
		default:
			fmt.Fprintf(w, "result: OK: every exported batch was imported, and nothing else; every reply batch written was imported by every server, and nothing else\n")
		}
		return
	}
	fmt.Fprintf(w, "result: DO NOT RECONCILE (%d findings)\n", len(rec.Problems))
	for _, p := range rec.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}
