package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/intake"
	"golang.org/x/mod/sumdb/note"
)

var day = time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)

type testLog struct {
	dir, vkey string
	signer    note.Signer
	origin    string
}

func newLog(t *testing.T, origin string, records ...audit.Record) testLog {
	t.Helper()
	skey, vkey, err := audit.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	l := testLog{filepath.Join(t.TempDir(), "audit"), vkey, signer, origin}
	l.append(t, records...)
	return l
}

func (tl testLog) append(t *testing.T, records ...audit.Record) {
	t.Helper()
	l, err := audit.Open(tl.dir, tl.origin, tl.signer)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, r := range records {
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(day, true); err != nil {
		t.Fatal(err)
	}
}

func h(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func runAuditor(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func serverRecords() []audit.Record {
	return []audit.Record{
		audit.ServiceStarted(h("study"), day),
		audit.OnionPublished(day),
		audit.SubmissionStored(h("e1"), day),
		audit.SubmissionStored(h("e2"), day),
		audit.BatchExported(h("manifest"), 2, day),
		audit.EnvelopesPurged(2, day),
	}
}

func TestVerifyCommand(t *testing.T) {
	srv := newLog(t, "testimony/server/study-1", serverRecords()...)
	saved := filepath.Join(t.TempDir(), "visit.checkpoint")
	code, out, errOut := runAuditor(t, "verify", "--log", srv.dir, "--key", srv.vkey, "--save-checkpoint", saved)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"records:     6", "2026-03-04  service-started 1, onion-published 1, submission-stored 2, batch-exported 1, envelopes-purged 1", "result:      OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(saved); err != nil {
		t.Fatal(err)
	}

	srv.append(t, audit.SubmissionStored(h("e3"), day))
	code, out, _ = runAuditor(t, "verify", "--log", srv.dir, "--key", srv.vkey, "--trusted", saved, "--json")
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK {
		t.Fatalf("exit %d, JSON %v:\n%s", code, err, out)
	}
	if rep.Trusted != 6 || rep.Records != 7 || len(rep.Damage) != 0 {
		t.Fatalf("report %+v", rep)
	}

	// Remove a record from the middle.
	path := filepath.Join(srv.dir, "records")
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(path, []byte(strings.Join(append(lines[:3:3], lines[4:]...), "")), 0o600)
	code, out, _ = runAuditor(t, "verify", "--log", srv.dir, "--key", srv.vkey, "--trusted", saved)
	if code != exitDamaged || !strings.Contains(out, "record 3 (line 4): removed") || !strings.Contains(out, "DAMAGED") {
		t.Fatalf("exit %d:\n%s", code, out)
	}

	// Someone else's key.
	other := newLog(t, "testimony/server/study-1", serverRecords()...)
	code, out, _ = runAuditor(t, "verify", "--log", other.dir, "--key", srv.vkey)
	if code != exitDamaged || !strings.Contains(out, "signed-by-another-key") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestVerifyCommandUsageErrors(t *testing.T) {
	srv := newLog(t, "testimony/server/study-1", serverRecords()...)
	for _, args := range [][]string{
		{"verify", "--log", srv.dir},
		{"verify", "--key", srv.vkey},
		{"verify", "--log", srv.dir, "--key", "garbage"},
		{"verify", "--log", t.TempDir(), "--key", srv.vkey},
		{"verify", "--log", srv.dir, "--key", srv.vkey, "--trusted", "/nonexistent"},
		{"verify", "--log", srv.dir, "--key", srv.vkey, "extra"},
		{"reconcile", "--server-log", srv.dir, "--server-key", srv.vkey},
		{"frobnicate"},
	} {
		code, out, errOut := runAuditor(t, args...)
		if code != exitError || !strings.HasPrefix(errOut, "auditor: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and an error", args, code, out, errOut)
		}
	}
}

func TestReconcileCommand(t *testing.T) {
	srv := newLog(t, "testimony/server/study-1", serverRecords()...)
	res := newLog(t, "testimony/researcher/alice", audit.BatchImported(h("manifest"), 2, "alice-key-fp", day))
	args := []string{"reconcile", "--server-log", srv.dir, "--server-key", srv.vkey, "--researcher-log", res.dir, "--researcher-key", res.vkey}
	code, out, errOut := runAuditor(t, args...)
	if code != exitOK || !strings.Contains(out, "result: OK") || !strings.Contains(out, "alice-key-fp") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = runAuditor(t, append(args, "--json")...)
	var rec audit.Reconciliation
	if err := json.Unmarshal([]byte(out), &rec); err != nil || code != exitOK || len(rec.Batches) != 1 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}

	srv.append(t, audit.BatchExported(h("manifest-2"), 5, day))
	code, out, _ = runAuditor(t, args...)
	if code != exitDamaged || !strings.Contains(out, "not-imported") || !strings.Contains(out, "NOT IMPORTED") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestReconcileReplyBatches: reconcile proves every reply batch a
// researcher wrote was imported by the server, and names one imported that
// no researcher wrote.
func TestReconcileReplyBatches(t *testing.T) {
	srv := newLog(t, "testimony/server/study-1", serverRecords()...)
	res := newLog(t, "testimony/researcher/alice", audit.BatchImported(h("manifest"), 2, "alice-key-fp", day), audit.ReplyBatchWritten(h("replies-1"), 3, day))
	args := []string{"reconcile", "--server-log", srv.dir, "--server-key", srv.vkey, "--researcher-log", res.dir, "--researcher-key", res.vkey}
	code, out, _ := runAuditor(t, args...)
	if code != exitDamaged || !strings.Contains(out, "reply-batch-not-imported") || !strings.Contains(out, "3 reply records") || !strings.Contains(out, "NOT IMPORTED") {
		t.Fatalf("a reply batch the server never imported: exit %d:\n%s", code, out)
	}
	srv.append(t, audit.ReplyBatchImported(h("replies-1"), 3, day))
	code, out, errOut := runAuditor(t, args...)
	if code != exitOK || !strings.Contains(out, "reply batches written by the researchers: 1") || !strings.Contains(out, "every reply batch written was imported") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	srv.append(t, audit.ReplyBatchImported(h("replies-forged"), 1, day))
	code, out, _ = runAuditor(t, append(args, "--json")...)
	var rec audit.Reconciliation
	if err := json.Unmarshal([]byte(out), &rec); err != nil || code != exitDamaged || len(rec.ReplyBatches) != 1 || len(rec.Problems) != 1 || rec.Problems[0].Kind != audit.ReplyBatchNotWritten {
		t.Fatalf("a reply batch no researcher wrote: exit %d, %v:\n%s", code, err, out)
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"", "verify", "reconcile"} {
		args := []string{"--help"}
		if cmd != "" {
			args = []string{cmd, "--help"}
		}
		code, out, _ := runAuditor(t, args...)
		if code != exitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "auditor ") {
			t.Errorf("auditor %s --help: exit %d, no example:\n%s", cmd, code, out)
		}
	}
}

// TestUntrustedTextNeverReachesTheTerminal: names and origins come from the
// log's files, which whoever holds the server may write. Bidi overrides and
// C1 controls in them must reach neither the text nor the JSON output.
func TestUntrustedTextNeverReachesTheTerminal(t *testing.T) {
	const evil = "evil\u202eyek\u009b31m\u0090\u200f"
	// A log whose checkpoints are signed by a key with that name...
	forged := newLog(t, "testimony/server/study-1", serverRecords()...)
	skey, evilVkey, err := note.GenerateKey(nil, evil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	fl := testLog{filepath.Join(t.TempDir(), "audit"), forged.vkey, signer, "testimony/server/" + evil}
	fl.append(t, serverRecords()...)
	bad := func(out string) bool {
		return strings.ContainsAny(out, "\u202e\u009b\u0090\u200f")
	}
	for _, args := range [][]string{
		// ...checked against another pinned key,
		{"verify", "--log", fl.dir, "--key", forged.vkey},
		{"verify", "--log", fl.dir, "--key", forged.vkey, "--json"},
		// ...or against its own key (a hostile operator signs what it likes).
		{"verify", "--log", fl.dir, "--key", evilVkey},
		{"verify", "--log", fl.dir, "--key", evilVkey, "--json"},
		{"verify", "--log", forged.dir, "--key", forged.vkey, "--trusted", checkpointFile(t, fl.dir)},
		{"reconcile", "--server-log", fl.dir, "--server-key", forged.vkey, "--researcher-log", fl.dir, "--researcher-key", evilVkey},
	} {
		code, out, errOut := runAuditor(t, args...)
		if bad(out) || bad(errOut) {
			t.Errorf("%q (exit %d) printed terminal controls:\n%q\n%q", args, code, out, errOut)
		}
		if !strings.Contains(out+errOut, `\u202e`) {
			t.Errorf("%q (exit %d) does not show the override as an escape:\n%s%s", args, code, out, errOut)
		}
		if strings.HasSuffix(args[len(args)-1], "json") {
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Errorf("%q: JSON output no longer parses: %v", args, err)
			}
		}
	}
}

func checkpointFile(t *testing.T, logDir string) string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(logDir, "checkpoints"))
	if err != nil || len(es) == 0 {
		t.Fatal("no checkpoint", err)
	}
	return filepath.Join(logDir, "checkpoints", es[len(es)-1].Name())
}

// serverData makes a data directory that served a study, with envelopes
// stored and recorded as the server does, exported in parts.
func serverData(t *testing.T) (d *intake.Data, batches string) {
	t.Helper()
	d, err := intake.OpenData(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	d.BindStudy("auditor-test")
	d.SaveVersion([]byte("id: auditor-test\n"))
	putEnvelopes(t, d, 12, true)
	batches = t.TempDir()
	if _, err := d.ExportParts(intake.ExportOptions{Out: batches, MaxEnvelopes: 5}, time.Now()); err != nil {
		t.Fatal(err)
	}
	putEnvelopes(t, d, 3, true)
	return d, batches
}

func putEnvelopes(t *testing.T, d *intake.Data, n int, record bool) {
	t.Helper()
	for range n {
		env := make([]byte, 300)
		rand.Read(env)
		if _, err := d.Store.Put(env, time.Now()); err != nil {
			t.Fatal(err)
		}
		if record {
			if err := d.Record(audit.SubmissionStored(sha256.Sum256(env), time.Now())); err != nil {
				t.Fatal(err)
			}
		}
	}
	l, _ := d.Audit()
	if _, err := l.Checkpoint(time.Now(), true); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyStore: verify --store finds an envelope the log does not
// record.
func TestVerifyStore(t *testing.T) {
	d, _ := serverData(t)
	key, _ := d.AuditKey()
	logDir, storeDir := filepath.Join(d.Dir, "audit"), filepath.Join(d.Dir, "store")
	code, out, errOut := runAuditor(t, "verify", "--log", logDir, "--key", key, "--store", storeDir)
	if code != exitOK || !strings.Contains(out, "envelopes:   15 in the store") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	// The server stores an envelope and dies before recording it (or
	// leaves it out).
	server, err := intake.OpenData(d.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	putEnvelopes(t, server, 1, false)
	code, out, _ = runAuditor(t, "verify", "--log", logDir, "--key", key, "--store", storeDir)
	if code != exitDamaged || !strings.Contains(out, "unrecorded-envelope") || !strings.Contains(out, "store inbox: ") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out, _ = runAuditor(t, "verify", "--log", logDir, "--key", key, "--store", t.TempDir())
	if code != exitError {
		t.Fatalf("verify --store on a folder that is no store: exit %d\n%s", code, out)
	}
}

// TestReconcileExports: reconcile --exports checks every exported envelope
// has a submission-stored record, from the batch files or from the
// server's export records.
func TestReconcileExports(t *testing.T) {
	d, batches := serverData(t)
	key, _ := d.AuditKey()
	logDir, records := filepath.Join(d.Dir, "audit"), filepath.Join(d.Dir, "store", "exports")
	args := []string{"reconcile", "--server-log", logDir, "--server-key", key}
	for _, exports := range []string{batches, records} {
		code, out, errOut := runAuditor(t, append(args, "--exports", exports)...)
		if code != exitOK || !strings.Contains(out, "exported manifests checked: 3, with 12 envelopes") || !strings.Contains(out, "result: OK") {
			t.Fatalf("--exports %s: exit %d:\n%s%s", exports, code, out, errOut)
		}
	}
	code, out, _ := runAuditor(t, append(args, "--exports", batches, "--json")...)
	var rec audit.Reconciliation
	if err := json.Unmarshal([]byte(out), &rec); err != nil || code != exitOK || rec.Manifests != 3 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}

	// While a server runs, an envelope stored without its record is
	// exported.
	server, err := intake.OpenData(d.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.LockServe(); err != nil {
		t.Fatal(err)
	}
	putEnvelopes(t, server, 1, false)
	more := t.TempDir()
	if _, err := d.ExportParts(intake.ExportOptions{Out: more}, time.Now()); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runAuditor(t, append(args, "--exports", more)...)
	if code != exitDamaged || strings.Count(out, "envelope-not-recorded") != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// A batch this server's log never exported.
	other, otherBatches := serverData(t)
	_ = other
	code, out, _ = runAuditor(t, append(args, "--exports", otherBatches)...)
	if code != exitDamaged || strings.Count(out, "manifest-not-recorded") != 3 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestReconcileSeveralServers: two Onionbalance backends, each with its
// own log and key, given as --server-log/--server-key pairs.
func TestReconcileSeveralServers(t *testing.T) {
	a := newLog(t, "testimony/server/study-1", audit.SubmissionStored(h("ea"), day), audit.BatchExported(h("batch-a"), 1, day))
	b := newLog(t, "testimony/server/study-1", audit.SubmissionStored(h("eb"), day), audit.BatchExported(h("batch-b"), 1, day))
	res := newLog(t, "testimony/researcher/alice", audit.BatchImported(h("batch-a"), 1, "alice-key-fp", day), audit.BatchImported(h("batch-b"), 1, "alice-key-fp", day))
	args := []string{"reconcile", "--server-log", a.dir, "--server-key", a.vkey, "--server-log", b.dir, "--server-key", b.vkey,
		"--researcher-log", res.dir, "--researcher-key", res.vkey}
	code, out, errOut := runAuditor(t, args...)
	if code != exitOK || !strings.Contains(out, "batches exported by the 2 servers: 2") || !strings.Contains(out, b.dir+" server record") || !strings.Contains(out, "result: OK") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = runAuditor(t, append(args, "--json")...)
	var rec audit.Reconciliation
	if err := json.Unmarshal([]byte(out), &rec); err != nil || code != exitOK || len(rec.Servers) != 2 || rec.Batches[1].Server != b.dir {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}

	// The second server's batch, left out of the researcher's import.
	code, out, _ = runAuditor(t, "reconcile", "--server-log", a.dir, "--server-key", a.vkey, "--server-log", b.dir, "--server-key", b.vkey,
		"--researcher-log", newLog(t, "testimony/researcher/bob", audit.BatchImported(h("batch-a"), 1, "bob-key-fp", day)).dir,
		"--researcher-key", res.vkey)
	if code != exitDamaged {
		t.Fatalf("a researcher log signed by another key, and a batch not imported: exit %d:\n%s", code, out)
	}

	for _, bad := range [][]string{
		{"reconcile", "--server-log", a.dir, "--server-log", b.dir, "--server-key", a.vkey, "--researcher-log", res.dir, "--researcher-key", res.vkey},
		{"reconcile", "--server-log", a.dir, "--server-key", a.vkey, "--server-log", a.dir, "--server-key", b.vkey, "--researcher-log", res.dir, "--researcher-key", res.vkey},
	} {
		if code, _, errOut := runAuditor(t, bad...); code != exitError || !strings.Contains(errOut, "--server") && !strings.Contains(errOut, "twice") {
			t.Errorf("%q: exit %d, %s", bad, code, errOut)
		}
	}
}
