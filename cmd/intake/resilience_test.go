package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/internal/clitest"
	"github.com/testimony-project/testimony/internal/smallfs"
	"github.com/testimony-project/testimony/store"
)

// testStudy writes a small study, sealed to a fresh key, and returns its
// path and recipients.
func testStudy(t testing.TB) (string, string, []*envelope.Recipient, *envelope.Identity) {
	t.Helper()
	id, err := envelope.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`id: resilience-test
title: {ko: 조사, en: Survey, zh: 调查}
introduction: {ko: 소개, en: Introduction, zh: 介绍}
recipients:
  - name: Researcher
    public_key: %s
questions:
  - id: consent
    type: consent
    label: {ko: 동의합니다, en: I agree, zh: 我同意}
`, id.Recipient())
	path := filepath.Join(t.TempDir(), "study.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, "resilience-test", []*envelope.Recipient{id.Recipient()}, id
}

// sealed makes an envelope of about size bytes, as a browser would, and
// returns it with its hash.
func sealed(t testing.TB, studyID string, rs []*envelope.Recipient, size int) ([]byte, [32]byte) {
	t.Helper()
	pt := make([]byte, size)
	rand.Read(pt)
	env, err := envelope.Seal(studyID, pt, rs)
	if err != nil {
		t.Fatal(err)
	}
	return env, sha256.Sum256(env)
}

func postSealed(client *http.Client, base string, env []byte) (int, error) {
	resp, err := client.PostForm(base+"/sealed", url.Values{"envelope": {base64.StdEncoding.EncodeToString(env)}, "lang": {"en"}})
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// The SIGKILL test runs `intake serve` in a child: this test binary, told
// by the environment to run the command line it is given.
const serveChildEnv = "INTAKE_TEST_SERVE_CHILD"

func TestServeChild(t *testing.T) {
	args := os.Getenv(serveChildEnv)
	if args == "" {
		t.Skip("run by TestServeSIGKILL")
	}
	root := newRoot(os.Stdout, os.Stderr)
	root.SetArgs(strings.Split(args, "\x1f"))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "intake:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startServeChild starts `intake serve --listen` in a child process and
// returns it and its base URL once it serves.
func startServeChild(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$")
	cmd.Env = append(os.Environ(), serveChildEnv+"="+strings.Join(append([]string{"serve"}, args...), "\x1f"))
	var stderr clitest.Buffer
	line := startServing(t, cmd, &stderr, "serve", 20*time.Second)
	return cmd, strings.Fields(line)[2]
}

// startServing starts cmd, a command that serves, with stderr as its
// standard error, and returns the first line it prints that starts with
// "serving on ". If cmd stops printing before, or d passes, it kills cmd
// and fails the test with what cmd wrote to stderr; otherwise the caller
// stops cmd.
func startServing(t *testing.T, cmd *exec.Cmd, stderr *clitest.Buffer, what string, d time.Duration) string {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "serving on ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if ok {
			return l
		}
		cmd.Process.Kill()
		t.Fatalf("%s did not start:\n%s", what, stderr.String())
	case <-time.After(d):
		cmd.Process.Kill()
		t.Fatalf("%s did not start in %v:\n%s", what, d, stderr.String())
	}
	return ""
}

// TestServeSIGKILL kills a real `intake serve` with SIGKILL, many times,
// while clients post envelopes. No acknowledged envelope may be lost, and
// once the server has started again every envelope on disk has its
// submission-stored record, though the server stores the envelope before
// it records it. (TESTIMONY_SOAK_KILLS sets the number of kills; 12 by
// default, about 10 s.)
func TestServeSIGKILL(t *testing.T) {
	if os.Getenv(serveChildEnv) != "" {
		t.Skip("this is the child")
	}
	kills := 12
	if n, err := fmt.Sscan(os.Getenv("TESTIMONY_SOAK_KILLS"), &kills); n != 1 || err != nil {
		kills = 12
	}
	if testing.Short() {
		kills = 3
	}
	study, studyID, rs, _ := testStudy(t)
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--config", study, "--data", data, "--listen", "127.0.0.1:0"}
	var mu sync.Mutex
	acked := map[[32]byte]bool{}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for k := range kills {
		cmd, base := startServeChild(t, args...)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					pt := make([]byte, 100)
					rand.Read(pt)
					env, err := envelope.Seal(studyID, pt, rs)
					if err != nil {
						t.Error(err)
						return
					}
					code, err := postSealed(client, base, env)
					if err == nil && code == http.StatusOK {
						mu.Lock()
						acked[sha256.Sum256(env)] = true
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(time.Duration(150+k*37%300) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		close(stop)
		wg.Wait()
	}
	// A last start recovers; a clean stop confirms.
	cmd, _ := startServeChild(t, args...)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after the kills: %v", err)
	}

	d, err := intake.OpenData(data)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Store.Unconfirmed() {
		t.Error("the store is unconfirmed after a clean stop")
	}
	key, _ := d.AuditKey()
	if _, err := audit.Verify(filepath.Join(data, "audit"), key, nil); err != nil {
		t.Fatalf("audit log after %d kills: %v", kills, err)
	}
	records := map[[32]byte]int{}
	recovered := 0
	l, _ := d.Audit()
	l.Scan(func(_ int64, r audit.Record) error {
		switch r.Event {
		case audit.EventSubmissionStored:
			records[r.SHA256]++
		case audit.EventSubmissionsRecovered:
			recovered += r.Count
		}
		return nil
	})
	onDisk := map[[32]byte]int{}
	if err := store.Walk(d.Store.Dir(), func(_ store.Where, _ store.Entry, path string) error {
		b, err := os.ReadFile(path)
		onDisk[sha256.Sum256(b)]++
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for h := range acked {
		if onDisk[h] == 0 {
			t.Errorf("an acknowledged envelope is not on disk")
		}
	}
	unrecorded := 0
	total := 0
	for h, n := range onDisk {
		total += n
		if records[h] < n {
			unrecorded += n - records[h]
		}
	}
	if unrecorded > 0 {
		t.Errorf("%d of %d envelopes on disk have no submission-stored record", unrecorded, total)
	}
	t.Logf("%d kills: %d envelopes acknowledged, %d on disk, %d recovered after crashes", kills, len(acked), total, recovered)
	if len(acked) == 0 {
		t.Fatal("no submission was acknowledged: the load did not reach the server")
	}
}

// TestFullDisk fills the data disk of a real server: first with
// submissions, which stop at the low-disk watermark with the 503 page,
// then with another program's file to the last byte. Every command that
// frees space or only reads still works, and serve starts again and
// refuses submissions with the 503 page.
func TestFullDisk(t *testing.T) {
	mnt := smallfs.Mount(t, "tmpfs", 16<<20)
	study, studyID, rs, _ := testStudy(t)
	data := filepath.Join(mnt, "data")
	serve := func() (string, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		var out clitest.Buffer
		done := make(chan error, 1)
		go func() {
			done <- runServe(ctx, serveOptions{study: study, data: data, listen: "127.0.0.1:0", minFree: 2 << 20}, &out, io.Discard)
		}()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "serving on") {
			select {
			case err := <-done:
				t.Fatalf("serve on a full disk exited: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("serve did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
		return strings.Fields(out.String())[2], func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	base, stop := serve()
	accepted := 0
	for {
		env, _ := sealed(t, studyID, rs, 40<<10)
		code, err := postSealed(http.DefaultClient, base, env)
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusServiceUnavailable {
			break
		}
		if code != http.StatusOK || accepted > 1000 {
			t.Fatalf("status %d after %d submissions", code, accepted)
		}
		accepted++
	}
	stop()
	smallfs.Fill(t, mnt)

	base, stop = serve()
	env, _ := sealed(t, studyID, rs, 100)
	resp, err := http.PostForm(base+"/sealed", url.Values{"envelope": {base64.StdEncoding.EncodeToString(env)}, "lang": {"en"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "could not be saved right now") {
		t.Fatalf("submission on a full disk: status %d:\n%s", resp.StatusCode, body)
	}
	stop()

	for _, args := range [][]string{{"server-key", "--data", data}, {"audit-key", "--data", data}} {
		if _, _, err := run(t, args...); err != nil {
			t.Errorf("%s on a full disk: %v", args[0], err)
		}
	}
	if _, _, err := run(t, "address", "--data", data); err != nil && (errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "writable")) {
		t.Errorf("address on a full disk: %v", err)
	}
	out := t.TempDir()
	stdout, _, err := run(t, "export", "--data", data, "--out", out)
	if err != nil || !strings.Contains(stdout, fmt.Sprintf("exported %d envelopes", accepted)) {
		t.Fatalf("export from a full disk: %q, %v", stdout, err)
	}
	stdout, stderr, err := run(t, "purge", "--data", data, "--without-receipt")
	if err != nil || !strings.Contains(stdout, fmt.Sprintf("deleted %d envelopes", accepted)) || !strings.Contains(stderr, "WARNING") {
		t.Fatalf("purge on a full disk: %q %q, %v", stdout, stderr, err)
	}
	key, _, _ := run(t, "audit-key", "--data", data)
	rep, err := audit.Verify(filepath.Join(data, "audit"), strings.TrimSpace(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	events := map[audit.Event]int{}
	for _, d := range rep.Days {
		for e, n := range d.Events {
			events[e] += n
		}
	}
	if events[audit.EventServiceStarted] != 2 || events[audit.EventSubmissionStored] != accepted || events[audit.EventBatchExported] != 1 || events[audit.EventEnvelopesPurgedWithoutReceipt] != 1 {
		t.Errorf("audit log after the full disk: %v", events)
	}
}
