package intake

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/oplog"
)

// TestStartServing checks the start-up `intake serve` and the demo share:
// what it refuses leaves the data directory as it was (no version kept,
// nothing in the audit log, the lock free), and what it starts it records,
// with the stop.
func TestStartServing(t *testing.T) {
	ids := identities(t, 1)
	v1, y1 := versionStudy(t, false, ids...)
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "study.yaml")
	if err := os.WriteFile(path, y1, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := OpenData(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := Config{Log: oplog.New(io.Discard)}
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

	// The example's placeholder keys, and a study of another id once the
	// directory serves v1: refused before anything is kept or recorded.
	ex := exampleStudy(t)
	if _, err := d.StartServing(ex, path, DefaultGrace, c, now); err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("StartServing(example study) = %v, want a refusal of its placeholder keys", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "versions")); len(entries) != 0 {
		t.Errorf("a refused study left %d versions kept", len(entries))
	}

	s, err := d.StartServing(v1, path, DefaultGrace, c, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Server == nil || s.Versions == nil || len(s.Versions.Earlier) != 0 {
		t.Fatalf("StartServing = %+v", s)
	}
	if n, _ := count(auditEvents(t, d), audit.EventServiceStarted); n != 1 {
		t.Errorf("%d service-started records, want 1", n)
	}
	// One server per data directory.
	d2, err := OpenData(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if _, err := d2.StartServing(v1, path, DefaultGrace, c, now); err == nil {
		t.Error("a second StartServing on the same data directory succeeded while the first serves")
	}
	s.Stop(now)
	rs := auditEvents(t, d)
	if n, _ := count(rs, audit.EventServiceStarted); n != 1 {
		t.Errorf("%d service-started records after a refused second start, want 1", n)
	}
	if n, _ := count(rs, audit.EventServiceStopped); n != 1 {
		t.Errorf("%d service-stopped records, want 1", n)
	}

	other := strings.Replace(string(y1), "id: ", "id: other-", 1)
	otherPath := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(otherPath, []byte(other), 0o600)
	st, err := config.Parse(otherPath, []byte(other))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d3, err := OpenData(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	if _, err := d3.StartServing(st, otherPath, DefaultGrace, c, now); err == nil || !strings.Contains(err.Error(), v1.ID) {
		t.Fatalf("StartServing(a study of another id) = %v, want a refusal naming %q", err, v1.ID)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "versions")); len(entries) != 1 {
		t.Errorf("after a refused study of another id, %d versions kept, want 1", len(entries))
	}
	if n, _ := count(auditEvents(t, d3), audit.EventServiceStarted); n != 1 {
		t.Errorf("a refused study of another id was recorded as started")
	}
}
