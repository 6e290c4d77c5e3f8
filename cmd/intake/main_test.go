package main

import (
	"context"
	"github.com/testimony-project/testimony/internal/clitest"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return clitest.Run(t, newRoot, args...)
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	clitest.CheckExamples(t, newRoot(nil, nil))
}

func TestServeRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", "[::]:80", "192.168.1.1:80", "localhost:80", "example.com:80", "8080"} {
		_, _, err := run(t, "serve", "--config", "x.yaml", "--data", t.TempDir(), "--listen", addr)
		if err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("--listen %s: err = %v, want a refusal naming 127.0.0.1", addr, err)
		}
	}
}

func TestServerKeyIsStable(t *testing.T) {
	dir := t.TempDir()
	a, _, err := run(t, "server-key", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := run(t, "server-key", "--data", dir)
	if a != b || !strings.HasPrefix(a, "testimony-server+") {
		t.Fatalf("server key %q then %q", a, b)
	}
}

func TestExportNeedsAStudyAndPurgeNeedsIntent(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := run(t, "export", "--data", dir, "--out", filepath.Join(dir, "b.tar")); err == nil || !strings.Contains(err.Error(), "intake serve") {
		t.Fatalf("export of a fresh data directory: %v", err)
	}
	if _, _, err := run(t, "purge", "--data", dir); err == nil || !strings.Contains(err.Error(), "--receipt") || !strings.Contains(err.Error(), "nothing was deleted") {
		t.Fatalf("purge without a receipt: %v", err)
	}
	if _, _, err := run(t, "purge", "--data", dir, "--exported"); err == nil || !strings.Contains(err.Error(), "--receipt") || !strings.Contains(err.Error(), "nothing was deleted") {
		t.Fatalf("purge --exported without a receipt: %v", err)
	}
}

// TestServerNeverLinksKeyFileCode checks that the packages that serve,
// store and export never import the code that reads a researcher's private
// key file or decrypts testimonies.
func TestServerNeverLinksKeyFileCode(t *testing.T) {
	for _, pkg := range []string{"intake", "store", "batch", "oplog", "config", "response"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/testimony-project/testimony/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, forbidden := range []string{"/crypto/keyfile", "/researcher", "/pseudonym"} {
			if strings.Contains(string(out), "testimony"+forbidden+"\n") {
				t.Errorf("package %s depends on testimony%s", pkg, forbidden)
			}
		}
	}
}

// TestServeRunsBesideExport starts a real server on loopback, then exports
// and purges from other "processes" (separate Data values) while it runs,
// and refuses a second server on the same directory.
func TestServeRunsBesideExport(t *testing.T) {
	dir := t.TempDir()
	study, _ := filepath.Abs("../../examples/nk-internet-access.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out clitest.Buffer
	go func() {
		done <- runServe(ctx, serveOptions{study: study, data: dir, listen: "127.0.0.1:0"}, &out, io.Discard)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "serving on") {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	base := strings.Fields(out.String())[2]
	form := url.Values{"lang": {"ko"}, "q.consent": {"yes"}, "q.testimony": {"증언"}}
	resp, err := http.PostForm(base+"/submit", form)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("submission: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := runServe(context.Background(), serveOptions{study: study, data: dir, listen: "127.0.0.1:0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("second server: %v", err)
	}
	if stdout, _, err := run(t, "export", "--data", dir, "--out", filepath.Join(dir, "b.tar")); err != nil || !strings.Contains(stdout, "exported 1 envelope ") {
		t.Fatalf("export beside the server: %q %v", stdout, err)
	}
	if stdout, _, err := run(t, "purge", "--data", dir, "--without-receipt"); err != nil || !strings.Contains(stdout, "deleted 1 envelope of 1 batch") {
		t.Fatalf("purge beside the server: %q %v", stdout, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	key, _, _ := run(t, "audit-key", "--data", dir)
	rep, err := audit.Verify(filepath.Join(dir, "audit"), strings.TrimSpace(key), nil)
	if err != nil || len(rep.Damage) != 0 {
		t.Fatalf("audit log after serve, export and purge: %v %v", err, rep.Damage)
	}
	events := map[audit.Event]int{}
	for _, d := range rep.Days {
		for e, n := range d.Events {
			events[e] += n
		}
	}
	for _, e := range []audit.Event{audit.EventServiceStarted, audit.EventSubmissionStored, audit.EventBatchExported, audit.EventEnvelopesPurgedWithoutReceipt, audit.EventServiceStopped} {
		if events[e] != 1 {
			t.Errorf("audit log has %d %s records, want 1 (all: %v)", events[e], e, events)
		}
	}
}
