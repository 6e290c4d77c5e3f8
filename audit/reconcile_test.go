package audit

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

type reconcileFixture struct {
	server, r1, r2 string
	sk, rk1, rk2   testKey
}

func manifest(name string) [32]byte { return sha256.Sum256([]byte(name)) }

// newReconcileFixture makes a server log that exported batches m1 (3
// envelopes) and m2 (2), and two researcher logs that imported one each.
func newReconcileFixture(t *testing.T) reconcileFixture {
	f := reconcileFixture{server: t.TempDir(), r1: t.TempDir(), r2: t.TempDir(),
		sk: newTestKey(t, testOrigin), rk1: newTestKey(t, "testimony/researcher/a"), rk2: newTestKey(t, "testimony/researcher/b")}
	s := openTestLog(t, f.server, f.sk)
	for i := range 5 {
		mustAppend(t, s, submission(i))
	}
	mustAppend(t, s, BatchExported(manifest("m1"), 3, testDay))
	s.Checkpoint(testDay, true)
	mustAppend(t, s, BatchExported(manifest("m2"), 2, testDay))
	s.Checkpoint(testDay, true)
	mustAppend(t, s, EnvelopesPurged(5, testDay))
	s.Close()
	for _, r := range []struct {
		dir, m string
		n      int
		k      testKey
	}{{f.r1, "m1", 3, f.rk1}, {f.r2, "m2", 2, f.rk2}} {
		l, err := Open(r.dir, r.k.signer.Name(), r.k.signer)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, BatchImported(manifest(r.m), r.n, "fingerprint-"+r.m, testDay.Add(48*time.Hour)))
		mustAppend(t, l, TestimoniesQuarantined(0, testDay.Add(48*time.Hour)))
		l.Checkpoint(testDay, true)
		l.Close()
	}
	return f
}

func (f reconcileFixture) reconcile(t *testing.T, dirs ...string) (*Reconciliation, error) {
	t.Helper()
	rec, err := Reconcile(f.server, f.sk.vkey, dirs, []string{f.rk1.vkey, f.rk2.vkey})
	if rec == nil {
		t.Fatalf("Reconcile: %v", err)
	}
	return rec, err
}

func wantProblem(t *testing.T, rec *Reconciliation, err error, kind ProblemKind) {
	t.Helper()
	if !errors.Is(err, ErrDamaged) || rec.OK() {
		t.Fatalf("Reconcile error = %v, want ErrDamaged", err)
	}
	for _, p := range rec.Problems {
		if p.Kind == kind {
			return
		}
	}
	t.Fatalf("problems = %v, want %s", rec.Problems, kind)
}

func TestReconcile(t *testing.T) {
	f := newReconcileFixture(t)
	rec, err := f.reconcile(t, f.r1, f.r2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Batches) != 2 || len(rec.Batches[0].Imports) != 1 || rec.Batches[0].Imports[0].Log != f.r1 ||
		rec.Batches[1].Imports[0].ResearcherKey != "fingerprint-m2" || rec.Batches[1].Count != 2 {
		t.Fatalf("batches = %+v", rec.Batches)
	}

	t.Run("batch not imported", func(t *testing.T) {
		rec, err := f.reconcile(t, f.r1)
		wantProblem(t, rec, err, NotImported)
	})
	t.Run("batch not exported", func(t *testing.T) {
		l, _ := Open(f.r2, f.rk2.signer.Name(), f.rk2.signer)
		mustAppend(t, l, BatchImported(manifest("m3"), 1, "fingerprint-m2", testDay))
		l.Checkpoint(testDay, true)
		l.Close()
		rec, err := f.reconcile(t, f.r1, f.r2)
		wantProblem(t, rec, err, NotExported)
	})
	t.Run("count differs", func(t *testing.T) {
		g := newReconcileFixture(t)
		l, _ := Open(g.r1, g.rk1.signer.Name(), g.rk1.signer)
		mustAppend(t, l, BatchImported(manifest("m2"), 1, "fingerprint-m2", testDay))
		l.Checkpoint(testDay, true)
		l.Close()
		rec, err := g.reconcile(t, g.r1, g.r2)
		wantProblem(t, rec, err, CountMismatch)
	})
	t.Run("import not signed", func(t *testing.T) {
		g := newReconcileFixture(t)
		l, _ := Open(g.r1, g.rk1.signer.Name(), g.rk1.signer)
		mustAppend(t, l, BatchImported(manifest("m1"), 3, "fingerprint-m1", testDay))
		l.Close()
		rec, err := g.reconcile(t, g.r1, g.r2)
		wantProblem(t, rec, err, Unproven)
	})
	t.Run("researcher log signed by an unknown key", func(t *testing.T) {
		g := newReconcileFixture(t)
		rec, err := Reconcile(g.server, g.sk.vkey, []string{g.r1, g.r2}, []string{g.rk1.vkey})
		wantProblem(t, rec, err, LogDamaged)
	})
	t.Run("server log key swapped", func(t *testing.T) {
		g := newReconcileFixture(t)
		rec, err := Reconcile(g.server, g.rk1.vkey, []string{g.r1, g.r2}, []string{g.rk1.vkey, g.rk2.vkey})
		wantProblem(t, rec, err, LogDamaged)
	})
}

// TestReconcileReplies: every reply batch a researcher wrote must be
// imported by the server, with its count, and the server must import none
// that no researcher wrote.
func TestReconcileReplies(t *testing.T) {
	appendTo := func(t *testing.T, dir string, k testKey, recs ...Record) {
		t.Helper()
		l, err := Open(dir, k.signer.Name(), k.signer)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			mustAppend(t, l, r)
		}
		if _, err := l.Checkpoint(testDay.Add(72*time.Hour), true); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	later := testDay.Add(72 * time.Hour)
	f := newReconcileFixture(t)
	appendTo(t, f.r1, f.rk1, ReplyBatchWritten(manifest("r1"), 4, later))
	appendTo(t, f.r2, f.rk2, ReplyBatchWritten(manifest("r2"), 1, later))
	rec, err := f.reconcile(t, f.r1, f.r2)
	wantProblem(t, rec, err, ReplyBatchNotImported)
	if len(rec.ReplyBatches) != 2 || rec.ReplyBatches[0].Log != f.r1 || rec.ReplyBatches[0].Count != 4 || rec.ReplyBatches[1].Log != f.r2 {
		t.Fatalf("reply batches = %+v", rec.ReplyBatches)
	}
	for _, p := range rec.Problems {
		if p.Kind != ReplyBatchNotImported {
			t.Errorf("unexpected problem %s", p)
		}
	}
	if len(rec.Problems) != 2 {
		t.Fatalf("problems = %v, want both batches not imported", rec.Problems)
	}

	// The server imports both (one twice, as an operator may): they reconcile.
	appendTo(t, f.server, f.sk, ReplyBatchImported(manifest("r1"), 4, later), ReplyBatchImported(manifest("r2"), 1, later), ReplyBatchImported(manifest("r1"), 4, later))
	rec, err = f.reconcile(t, f.r1, f.r2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.ReplyBatches[0].Imports) != 2 || len(rec.ReplyBatches[1].Imports) != 1 {
		t.Fatalf("reply batches = %+v", rec.ReplyBatches)
	}

	t.Run("imported but not written", func(t *testing.T) {
		rec, err := f.reconcile(t, f.r1)
		wantProblem(t, rec, err, ReplyBatchNotWritten)
	})
	t.Run("count differs", func(t *testing.T) {
		g := newReconcileFixture(t)
		appendTo(t, g.r1, g.rk1, ReplyBatchWritten(manifest("r1"), 4, later))
		appendTo(t, g.server, g.sk, ReplyBatchImported(manifest("r1"), 3, later))
		rec, err := g.reconcile(t, g.r1, g.r2)
		wantProblem(t, rec, err, ReplyCountMismatch)
	})
	t.Run("written record not signed", func(t *testing.T) {
		g := newReconcileFixture(t)
		appendTo(t, g.server, g.sk, ReplyBatchImported(manifest("r1"), 4, later))
		l, err := Open(g.r1, g.rk1.signer.Name(), g.rk1.signer)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, ReplyBatchWritten(manifest("r1"), 4, later))
		l.Close()
		rec, err := g.reconcile(t, g.r1, g.r2)
		wantProblem(t, rec, err, Unproven)
	})
}

// serverFixture writes a server log, signed by a key of its own, that
// stored the envelopes named and exported them in one batch named m.
func serverFixture(t *testing.T, m string, envelopes ...string) ServerLog {
	t.Helper()
	return serverFixtureWith(t, m, nil, envelopes...)
}

// serverFixtureWith is serverFixture with more records after the export.
func serverFixtureWith(t *testing.T, m string, more []Record, envelopes ...string) ServerLog {
	t.Helper()
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	l := openTestLog(t, dir, k)
	for _, e := range envelopes {
		mustAppend(t, l, SubmissionStored(sha256.Sum256([]byte(e)), testDay))
	}
	mustAppend(t, l, BatchExported(manifest(m), len(envelopes), testDay))
	for _, r := range more {
		mustAppend(t, l, r)
	}
	if _, err := l.Checkpoint(testDay, true); err != nil {
		t.Fatal(err)
	}
	return ServerLog{dir, k.vkey}
}

// researcherFixture writes a researcher log that imported the batches.
func researcherFixture(t *testing.T, k testKey, batches map[string]int) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, k.signer.Name(), k.signer)
	if err != nil {
		t.Fatal(err)
	}
	for m, n := range batches {
		mustAppend(t, l, BatchImported(manifest(m), n, "fingerprint", testDay.Add(48*time.Hour)))
	}
	l.Checkpoint(testDay, true)
	l.Close()
	return dir
}

// TestReconcileServers: a study served by two backends, each with its own
// log and key, and one researcher who imported both batches.
func TestReconcileServers(t *testing.T) {
	a := serverFixture(t, "a1", "ea1", "ea2")
	b := serverFixture(t, "b1", "eb1")
	rk := newTestKey(t, "testimony/researcher/a")
	both := researcherFixture(t, rk, map[string]int{"a1": 2, "b1": 1})
	rec, err := ReconcileServers([]ServerLog{a, b}, []string{both}, []string{rk.vkey})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Servers) != 2 || len(rec.Batches) != 2 || rec.Batches[0].Server != a.Dir || rec.Batches[1].Server != b.Dir ||
		len(rec.Batches[1].Imports) != 1 || rec.Batches[1].Imports[0].Log != both {
		t.Fatalf("batches = %+v", rec.Batches)
	}

	// Every envelope of each batch is in the log of the server that
	// exported it, and only there.
	env := func(s string) ManifestEnvelope { return ManifestEnvelope{s, sha256.Sum256([]byte(s))} }
	rec.CheckManifest(Manifest{"a1.tar", manifest("a1"), []ManifestEnvelope{env("ea1"), env("ea2")}})
	rec.CheckManifest(Manifest{"b1.tar", manifest("b1"), []ManifestEnvelope{env("eb1")}})
	if !rec.OK() || rec.Manifests != 2 || rec.EnvelopesChecked != 3 {
		t.Fatalf("manifests of both servers: %v", rec.Problems)
	}
	rec.CheckManifest(Manifest{"b1-forged.tar", manifest("b1"), []ManifestEnvelope{env("ea1")}})
	if len(rec.Problems) != 1 || rec.Problems[0].Kind != EnvelopeNotRecorded || rec.Problems[0].Log != b.Dir {
		t.Fatalf("an envelope of server a in a batch of server b: %v", rec.Problems)
	}

	t.Run("one server's batch not imported", func(t *testing.T) {
		onlyA := researcherFixture(t, rk, map[string]int{"a1": 2})
		rec, err := ReconcileServers([]ServerLog{a, b}, []string{onlyA}, []string{rk.vkey})
		wantProblem(t, rec, err, NotImported)
		if len(rec.Problems) != 1 || rec.Problems[0].Log != b.Dir {
			t.Errorf("problems = %v, want server b's batch not imported", rec.Problems)
		}
	})
	t.Run("a server left out", func(t *testing.T) {
		rec, err := ReconcileServers([]ServerLog{a}, []string{both}, []string{rk.vkey})
		wantProblem(t, rec, err, NotExported)
	})
	t.Run("one batch in two server logs", func(t *testing.T) {
		c := serverFixture(t, "a1", "ea1", "ea2")
		rec, err := ReconcileServers([]ServerLog{a, b, c}, []string{both}, []string{rk.vkey})
		wantProblem(t, rec, err, ExportedTwice)
		for _, p := range rec.Problems {
			if p.Kind == NotImported {
				t.Errorf("the second export of a batch reported as not imported too: %v", p)
			}
		}
	})
	t.Run("keys swapped between servers", func(t *testing.T) {
		rec, err := ReconcileServers([]ServerLog{{a.Dir, b.Key}, {b.Dir, a.Key}}, []string{both}, []string{rk.vkey})
		wantProblem(t, rec, err, LogDamaged)
	})
	t.Run("a server given twice", func(t *testing.T) {
		if _, err := ReconcileServers([]ServerLog{a, a}, []string{both}, []string{rk.vkey}); err == nil || !strings.Contains(err.Error(), "given twice") {
			t.Errorf("the same server twice: err = %v", err)
		}
		if _, err := ReconcileServerLogs([]ServerLog{a, {b.Dir, a.Key}}); err == nil || !strings.Contains(err.Error(), "key of its own") {
			t.Errorf("one key for two servers: err = %v", err)
		}
		if _, err := ReconcileServerLogs(nil); err == nil {
			t.Error("no server at all: no error")
		}
	})
	t.Run("a reply batch imported by one server of two", func(t *testing.T) {
		later := testDay.Add(72 * time.Hour)
		r := researcherFixture(t, rk, map[string]int{"a1": 2, "b1": 1})
		l, err := Open(r, rk.signer.Name(), rk.signer)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, ReplyBatchWritten(manifest("reply"), 3, later))
		if _, err := l.Checkpoint(later, true); err != nil {
			t.Fatal(err)
		}
		l.Close()
		imported := ReplyBatchImported(manifest("reply"), 3, later)
		a2 := serverFixtureWith(t, "a1", []Record{imported}, "ea1", "ea2")
		b2 := serverFixture(t, "b1", "eb1")
		rec, err := ReconcileServers([]ServerLog{a2, b2}, []string{r}, []string{rk.vkey})
		wantProblem(t, rec, err, ReplyBatchNotImported)
		if len(rec.Problems) != 1 || !strings.Contains(rec.Problems[0].Detail, b2.Dir) {
			t.Fatalf("problems = %v, want the reply batch missing on server b only", rec.Problems)
		}
		if im := rec.ReplyBatches[0].Imports; len(im) != 1 || im[0].Server != a2.Dir {
			t.Fatalf("imports = %+v, want server a's", im)
		}
	})
}
