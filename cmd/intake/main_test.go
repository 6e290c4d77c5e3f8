package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/internal/clitest"
)

// TestMain runs the command itself when the test binary is started with
// INTAKE_TEST_MAIN=1, so that tests can run it as a child process.
func TestMain(m *testing.M) {
	if os.Getenv("INTAKE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSIGTERMWithAStalledClient runs `intake serve` as a process, with an
// upload that has stalled and a connection that sent nothing, and stops it
// with SIGTERM: it exits 0 soon after the grace period, having closed
// them, and its log holds the lines of starting and stopping and the
// day's counts (a submission stored, the upload cut), nothing else.
func TestSIGTERMWithAStalledClient(t *testing.T) {
	study, _ := servableExample(t)
	const grace = time.Second
	cmd := exec.Command(os.Args[0], "serve", "--config", study, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--stop-grace", grace.String())
	cmd.Env = append(os.Environ(), "INTAKE_TEST_MAIN=1")
	var stderr clitest.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed %q (%v); stderr:\n%s", line, err, stderr.String())
	}
	base := strings.Fields(line)[2]
	addr := strings.TrimPrefix(base, "http://")
	resp, err := http.PostForm(base+"/submit", url.Values{"lang": {"ko"}, "q.consent": {"yes"}, "q.testimony": {"증언"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("submission: %v %v", resp, err)
	}
	resp.Body.Close()
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fmt.Fprintf(stalled, "POST /sealed HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nlang=ko&envelope=%s", strings.Repeat("A", 5000))
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(200 * time.Millisecond)

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Fatalf("serve exited with %v after SIGTERM; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve still running 20 s after SIGTERM, with a grace of %s", grace)
	}
	if d := time.Since(start); d > grace+5*time.Second {
		t.Errorf("serve took %s to stop, with a grace of %s", d, grace)
	}
	stalled.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := stalled.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the stalled upload's connection was not closed: %v", err)
	}
	var events []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		for k := range m {
			switch k {
			case "level", "event", "day", "addr", "path", "reason", "count":
			default:
				t.Errorf("log field %q outside the vocabulary: %s", k, l)
			}
		}
		e := fmt.Sprint(m["event"])
		for _, k := range []string{"path", "reason", "count"} {
			if v, ok := m[k]; ok {
				e += fmt.Sprintf(" %s=%v", k, v)
			}
		}
		events = append(events, e)
	}
	want := []string{
		"listening_on_loopback",
		"server_started",
		"server_stopping",
		"connections_closed reason=shutdown count=2",
		"submissions_rejected path=sealed reason=shutdown count=1",
		"submissions_stored path=form count=1",
		"server_stopped",
	}
	if strings.Join(events, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
}

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
	study, _ := servableExample(t)
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
