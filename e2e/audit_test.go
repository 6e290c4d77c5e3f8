package e2e

import (
	"archive/tar"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/researcher"
	"golang.org/x/mod/sumdb/note"
)

// TestAuditEndToEnd: submissions → export → decrypt, then the server's and
// the researcher's audit logs verify and reconcile; a batch missing an
// envelope, or a log missing a record, makes them fail with a clear
// message.
func TestAuditEndToEnd(t *testing.T) {
	h := newHarness(t)
	submit := func(n int) {
		for i := range n {
			ans := map[string][]string{"left_year": {"2019"}, "phone": {"no"}, "consent": {"yes"}, "story": {strings.Repeat("증언 ", i+1)}}
			if code, body := h.postForm(form("ko", ans)); code != http.StatusOK {
				t.Fatalf("status %d\n%s", code, body)
			}
		}
	}
	submit(4)
	first := filepath.Join(h.dir, "batch-1.tar")
	if _, err := h.data.Export(first, time.Now()); err != nil {
		t.Fatal(err)
	}
	verifier, _ := note.NewVerifier(h.data.ServerKey())
	ws := filepath.Join(h.dir, "ws")
	importBatch(t, ws, h.study, h.ids[0], verifier, first, 4)

	serverLog := filepath.Join(h.dir, "data", "audit")
	serverKey, err := h.data.AuditKey()
	if err != nil {
		t.Fatal(err)
	}
	researcherKey := readKey(t, filepath.Join(ws, "audit.pub"))
	for _, c := range []struct{ dir, key string }{{serverLog, serverKey}, {filepath.Join(ws, "audit"), researcherKey}} {
		r, err := audit.Verify(c.dir, c.key, nil)
		if err != nil || len(r.Damage) != 0 || r.Signed == 0 {
			t.Fatalf("verify %s: %v, damage %v, signed %d", c.dir, err, r.Damage, r.Signed)
		}
	}
	r, err := audit.Verify(serverLog, serverKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, d := range r.Days {
		stored += d.Events[audit.EventSubmissionStored]
	}
	if stored != 4 {
		t.Fatalf("server log counts %d submissions stored, want 4", stored)
	}
	rec, err := audit.Reconcile(serverLog, serverKey, []string{filepath.Join(ws, "audit")}, []string{researcherKey})
	if err != nil || !rec.OK() {
		t.Fatalf("reconcile: %v %v", err, rec.Problems)
	}
	logs, _ := os.ReadFile(filepath.Join(serverLog, "records"))
	if strings.Contains(string(logs), "127.0.0.1") || strings.Contains(string(logs), "증언") {
		t.Fatal("the audit log holds an address or an answer")
	}

	// A second batch loses an envelope on its way: the researcher's tool
	// refuses it, and reconcile reports the batch as never imported.
	submit(2)
	second := filepath.Join(h.dir, "batch-2.tar")
	if _, err := h.data.Export(second, time.Now()); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(h.dir, "batch-2-damaged.tar")
	dropOneEnvelope(t, second, damaged)
	w, err := researcher.Open(ws, h.study, h.ids[0], "ko")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(damaged)
	_, err = w.Import(f, []note.Verifier{verifier}, nil)
	f.Close()
	if err == nil || !strings.Contains(err.Error(), "envelopes/") {
		t.Fatalf("import of a batch missing an envelope: %v, want an error naming the envelope", err)
	}
	w.Close()
	rec, err = audit.Reconcile(serverLog, serverKey, []string{filepath.Join(ws, "audit")}, []string{researcherKey})
	if err == nil || rec.OK() || !hasProblem(rec, audit.NotImported) {
		t.Fatalf("reconcile after a lost batch: %v, problems %v; want not-imported", err, rec.Problems)
	}

	// A record removed from the server's log is found and named.
	recs, _ := os.ReadFile(filepath.Join(serverLog, "records"))
	lines := strings.SplitAfter(string(recs), "\n")
	cut := strings.Join(append(lines[:2:2], lines[3:]...), "")
	if err := os.WriteFile(filepath.Join(serverLog, "records"), []byte(cut), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err = audit.Verify(serverLog, serverKey, nil)
	if err == nil || len(r.Damage) == 0 {
		t.Fatalf("verify after removing a record: %v, damage %v", err, r.Damage)
	}
	if r.Damage[0].Record != 2 || r.Damage[0].Kind != audit.Removed {
		t.Fatalf("damage %v, want record 2 removed", r.Damage)
	}
}

func hasProblem(r *audit.Reconciliation, k audit.ProblemKind) bool {
	if r == nil {
		return false
	}
	for _, p := range r.Problems {
		if p.Kind == k {
			return true
		}
	}
	return false
}

func readKey(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// dropOneEnvelope copies a batch without its first envelope.
func dropOneEnvelope(t *testing.T, in, out string) {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dropped := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if strings.HasPrefix(hdr.Name, "envelopes/") && !dropped {
			dropped = true
			continue
		}
		tw.WriteHeader(hdr)
		tw.Write(body)
	}
	tw.Close()
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
