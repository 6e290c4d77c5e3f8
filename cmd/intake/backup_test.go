package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/backup"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/clitest"
	"github.com/testimony-project/testimony/internal/tornet"
	"github.com/testimony-project/testimony/researcher"
	"golang.org/x/mod/sumdb/note"
)

// storyStudyYAML is a study file with a consent and a free-text question,
// with the id and the one researcher's public key given.
func storyStudyYAML(id, publicKey string) string {
	return fmt.Sprintf(`id: %s
title: {ko: 조사, en: Survey, zh: 调查}
introduction: {ko: 소개, en: Introduction, zh: 介绍}
recipients:
  - name: Researcher
    public_key: %s
questions:
  - id: story
    type: long_text
    label: {ko: 이야기, en: Story, zh: 故事}
  - id: consent
    type: consent
    label: {ko: 동의합니다, en: I agree, zh: 我同意}
`, id, publicKey)
}

// storyStudy writes a study with a consent and a free-text question, sealed
// to a fresh researcher key, and returns its path, the loaded study and the
// key.
func storyStudy(t testing.TB) (string, *config.Study, *envelope.Identity) {
	t.Helper()
	id, err := envelope.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	y := storyStudyYAML("restore-test", id.Recipient().String())
	path := filepath.Join(t.TempDir(), "study.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, s, id
}

// exitCode returns the exit code main gives err.
func exitCode(err error) int {
	var c interface{ ExitCode() int }
	switch {
	case err == nil:
		return 0
	case errors.As(err, &c):
		return c.ExitCode()
	}
	return 1
}

func writeSecret(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// resealForOperator does what a researcher's `researcher backup reseal`
// does, for tests in this package.
func resealForOperator(t testing.TB, in string, id *envelope.Identity, serverKey, pass string) string {
	t.Helper()
	src, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ai, err := backup.X25519Identity(id)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(serverKey)
	if err != nil {
		t.Fatal(err)
	}
	rcpt, _ := backup.Passphrase([]byte(pass))
	if raceEnabled {
		rcpt.(*age.ScryptRecipient).SetWorkFactor(10) // scrypt is 20 times slower under the race detector
	}
	out := filepath.Join(t.TempDir(), "backup-pass.age")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := backup.Reseal(f, src, ai, v, rcpt); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBackupRestoreStatusCommands runs backup, restore and status from the
// command line beside a server on loopback.
func TestBackupRestoreStatusCommands(t *testing.T) {
	studyPath, _, id := storyStudy(t)
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out clitest.Buffer
	go func() {
		done <- runServe(ctx, serveOptions{study: studyPath, data: dir, listen: "127.0.0.1:0"}, &out, io.Discard)
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "serving on"); {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	base := strings.Fields(out.String())[2]
	resp, err := http.PostForm(base+"/submit", url.Values{"lang": {"en"}, "q.consent": {"yes"}, "q.story": {"story"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("submission: %v %v", resp, err)
	}
	resp.Body.Close()

	// Serving on loopback: no onion service, no backup yet.
	stdout, _, err := run(t, "status", "--data", dir)
	if exitCode(err) != 1 || !strings.HasPrefix(stdout, "TESTIMONY WARNING - ") || !strings.Contains(stdout, "no backup was ever made") {
		t.Fatalf("status: exit %d\n%s", exitCode(err), stdout)
	}

	sealed := filepath.Join(t.TempDir(), "backup.age")
	stdout, stderr, err := run(t, "backup", "--data", dir, "--out", sealed)
	if err != nil || !strings.Contains(stdout, "sealed to the 1 researchers of study restore-test") || !strings.Contains(stdout, id.Recipient().Fingerprint()) {
		t.Fatalf("backup: %v\n%s%s", err, stdout, stderr)
	}
	if !strings.Contains(stderr, "1 envelope is not exported yet") {
		t.Errorf("backup did not warn of the pending envelope: %q", stderr)
	}
	if _, _, err := run(t, "backup", "--data", dir, "--out", sealed); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	passFile := writeSecret(t, "a passphrase for the operator")
	passSealed := filepath.Join(t.TempDir(), "backup-pass.age")
	if _, _, err := run(t, "backup", "--data", dir, "--out", passSealed, "--passphrase-file", passFile, "--weak-kdf-for-tests"); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = run(t, "status", "--data", dir, "--json")
	var st struct {
		State      string
		Serving    bool
		LastBackup string `json:"last_backup"`
	}
	if json.Unmarshal([]byte(stdout), &st); st.LastBackup == "" || !st.Serving || exitCode(err) != 1 {
		t.Fatalf("status --json after the backups: exit %d\n%s", exitCode(err), stdout)
	}

	// Restore needs a passphrase-sealed backup and an empty directory.
	newDir := filepath.Join(t.TempDir(), "new")
	if _, _, err := run(t, "restore", "--data", newDir, "--in", sealed, "--passphrase-file", passFile); err == nil || !strings.Contains(err.Error(), "researcher backup reseal") {
		t.Fatalf("restore of a researcher-sealed backup: %v", err)
	}
	if _, _, err := run(t, "restore", "--data", dir, "--in", passSealed, "--passphrase-file", passFile); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore over the served directory: %v", err)
	}
	serverKey, _, _ := run(t, "server-key", "--data", dir)
	resealed := resealForOperator(t, sealed, id, strings.TrimSpace(serverKey), "another passphrase")
	for _, in := range []struct{ path, pass string }{{passSealed, passFile}, {resealed, writeSecret(t, "another passphrase")}} {
		target := filepath.Join(t.TempDir(), "restored")
		stdout, _, err := run(t, "restore", "--data", target, "--in", in.path, "--passphrase-file", in.pass, "--server-key", serverKey)
		if err != nil || !strings.Contains(stdout, "restored study restore-test") || !strings.Contains(stdout, strings.TrimSpace(serverKey)) {
			t.Fatalf("restore: %v\n%s", err, stdout)
		}
		// Not serving: critical.
		stdout, _, err = run(t, "status", "--data", target)
		if exitCode(err) != 2 || !strings.Contains(stdout, "not serving") {
			t.Fatalf("status of a restored directory: exit %d\n%s", exitCode(err), stdout)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// startServeOnion starts `intake serve` on the private Tor network in a
// child process and returns it and its onion address once it serves.
func startServeOnion(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$")
	cmd.Env = append(os.Environ(), serveChildEnv+"="+strings.Join(append([]string{"serve"}, args...), "\x1f"))
	t.Cleanup(func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	var stderr clitest.Buffer
	line := startServing(t, cmd, &stderr, "serve", 4*time.Minute)
	return cmd, strings.TrimPrefix(strings.Fields(line)[2], "http://")
}

// firstAnswer waits until the onion service answers through Tor.
func firstAnswer(t *testing.T, c *http.Client, addr string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer through Tor: %v", addr, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func submitOverTor(t *testing.T, c *http.Client, addr, story string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		resp, err := c.PostForm("http://"+addr+"/submit", url.Values{"lang": {"en"}, "q.consent": {"yes"}, "q.story": {story}})
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("submission %q: %d\n%s", story, resp.StatusCode, body)
			}
			return
		}
		// A circuit can fail on a private network; the person would retry.
		if attempt == 5 {
			t.Fatalf("submission %q: %v", story, err)
		}
		time.Sleep(time.Second)
	}
}

// TestRestoreOverTor is the operator's disaster, end to end over a private
// Tor network: a server takes testimonies through its onion service, is
// exported and backed up, then lost with its data directory; a researcher
// reseals the backup to a passphrase, the operator restores it into a new
// directory and serves again. The onion address is the same, the auditor
// verifies one log across the restore from a checkpoint saved before it,
// and the researcher decrypts every testimony exactly once.
func TestRestoreOverTor(t *testing.T) {
	if os.Getenv(serveChildEnv) != "" {
		t.Skip("this is the child")
	}
	if testing.Short() {
		t.Skip("starts a private Tor network")
	}
	if _, err := exec.LookPath("tor"); err != nil {
		t.Fatal("tor is not installed: run scripts/deps (apt-get install tor), or use go test -short")
	}
	netw, err := tornet.Start(context.Background(), tornet.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("private Tor network: %v", err)
	}
	t.Cleanup(func() { netw.Close() })
	torrc := filepath.Join(t.TempDir(), "network.torrc")
	os.WriteFile(torrc, []byte(strings.Join(netw.TorrcLines(), "\n")+"\n"), 0o600)
	client := netw.HTTPClient(2 * time.Minute)
	studyPath, study, id := storyStudy(t)

	// The first server takes three testimonies, then they are exported.
	data := filepath.Join(t.TempDir(), "data")
	serve, addr := startServeOnion(t, "--config", studyPath, "--data", data, "--private-tor-network", torrc)
	firstAnswer(t, client, addr)
	stories := map[string]int{}
	for i := range 3 {
		s := fmt.Sprintf("before the seizure %d", i)
		submitOverTor(t, client, addr, s)
		stories[s] = 0
	}
	batches := t.TempDir()
	if _, _, err := run(t, "export", "--data", data, "--out", batches); err != nil {
		t.Fatal(err)
	}
	serverKey, _, _ := run(t, "server-key", "--data", data)
	serverKey = strings.TrimSpace(serverKey)
	auditKey, _, _ := run(t, "audit-key", "--data", data)
	auditKey = strings.TrimSpace(auditKey)
	// The auditor's visit before the backup.
	visit, err := audit.Verify(filepath.Join(data, "audit"), auditKey, nil)
	if err != nil || !visit.OK() || visit.Latest == "" {
		t.Fatalf("audit log before the backup: %v %v", err, visit)
	}

	// The backup, sealed to the researcher, then the seizure.
	begin := time.Now()
	sealed := filepath.Join(t.TempDir(), "backup.age")
	if stdout, _, err := run(t, "backup", "--data", data, "--out", sealed); err != nil {
		t.Fatalf("backup: %v\n%s", err, stdout)
	}
	backupTime := time.Since(begin)
	serve.Process.Signal(syscall.SIGKILL)
	serve.Wait()
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}

	// The researcher reseals it; the operator restores it elsewhere and
	// serves again.
	resealed := resealForOperator(t, sealed, id, serverKey, "the operator's passphrase")
	begin = time.Now()
	newData := filepath.Join(t.TempDir(), "new-data")
	if stdout, _, err := run(t, "restore", "--data", newData, "--in", resealed, "--passphrase-file", writeSecret(t, "the operator's passphrase"), "--server-key", serverKey); err != nil || !strings.Contains(stdout, addr) {
		t.Fatalf("restore: %v\n%s", err, stdout)
	}
	restoreTime := time.Since(begin)
	serve, addr2 := startServeOnion(t, "--config", studyPath, "--data", newData, "--private-tor-network", torrc)
	if addr2 != addr {
		t.Fatalf("restored server serves at %s, want %s", addr2, addr)
	}
	firstAnswer(t, client, addr2)
	answerTime := time.Since(begin) - restoreTime
	t.Logf("backup %.2f s; restore %.2f s; serve on the restored directory, answering through Tor %.1f s later; %.1f s in all (the researcher's reseal not counted)",
		backupTime.Seconds(), restoreTime.Seconds(), answerTime.Seconds(), (backupTime + restoreTime + answerTime).Seconds())

	for i := range 2 {
		s := fmt.Sprintf("after the restore %d", i)
		submitOverTor(t, client, addr2, s)
		stories[s] = 0
	}
	// The monitor sees a healthy server: serving, tor up, published.
	stdout, _, err := run(t, "status", "--data", newData)
	if exitCode(err) != 0 || !strings.Contains(stdout, "tor:                   running") {
		t.Fatalf("status of the restored server: exit %d\n%s", exitCode(err), stdout)
	}
	if _, _, err := run(t, "export", "--data", newData, "--out", batches); err != nil {
		t.Fatal(err)
	}
	serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Fatalf("restored server: %v", err)
	}

	// The auditor: one log, extending the checkpoint saved before.
	rep, err := audit.Verify(filepath.Join(newData, "audit"), auditKey, []byte(visit.Latest))
	if err != nil || !rep.OK() || rep.Trusted != visit.Signed {
		t.Fatalf("auditor verify across the restore: %v %v", err, rep)
	}
	events := map[audit.Event]int{}
	for _, d := range rep.Days {
		for e, n := range d.Events {
			events[e] += n
		}
	}
	if events[audit.EventServiceRestored] != 1 || events[audit.EventBackupMade] != 1 || events[audit.EventSubmissionStored] != 5 || events[audit.EventBatchExported] != 2 || events[audit.EventServiceStarted] != 2 {
		t.Errorf("audit events across the restore: %v", events)
	}

	// The researcher decrypts both exports: every testimony exactly once.
	v, _ := note.NewVerifier(serverKey)
	ws, err := researcher.Open(filepath.Join(t.TempDir(), "workspace"), study, id, "en")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(batches, "*.tar"))
	if len(files) != 2 {
		t.Fatalf("%d batch files, want 2", len(files))
	}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := ws.Import(f, []note.Verifier{v}, nil)
		f.Close()
		if err != nil || sum.Quarantined != 0 {
			t.Fatalf("%s: %v %+v", path, err, sum)
		}
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	for tm, err := range ws.All() {
		if err != nil {
			t.Fatal(err)
		}
		var s string
		json.Unmarshal(tm.Answers["story"], &s)
		if _, ok := stories[s]; !ok {
			t.Errorf("unexpected testimony %q", s)
		}
		stories[s]++
	}
	for s, n := range stories {
		if n != 1 {
			t.Errorf("testimony %q decrypted %d times, want once", s, n)
		}
	}
}
