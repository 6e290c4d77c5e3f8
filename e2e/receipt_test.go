package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/response"
	"github.com/testimony-project/testimony/store"
)

// buildCommands builds intake and researcher from this module into a
// temporary folder and returns it.
func buildCommands(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/intake", "./cmd/researcher")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// command runs one of the built commands and returns its output and exit
// status.
func command(t *testing.T, bin, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// exportedNotPurged returns the number of envelopes the server holds that
// were exported and not purged.
func exportedNotPurged(t *testing.T, _, data string) int {
	t.Helper()
	n := 0
	if err := store.Walk(filepath.Join(data, "store"), func(w store.Where, _ store.Entry, _ string) error {
		if w.Export != "" && w.Committed {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReceiptPurge runs the real commands: the server exports two batches,
// the researcher decrypts one; purge without a receipt deletes nothing,
// purge with the researcher's receipt deletes exactly that batch's
// envelopes, and the second receipt the rest.
func TestReceiptPurge(t *testing.T) {
	bin := buildCommands(t)
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("a passphrase for the receipt test"), 0o600)
	key := filepath.Join(dir, "researcher.key")
	out, code := command(t, bin, "researcher", "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests")
	if code != 0 {
		t.Fatalf("keygen: %s", out)
	}
	pub := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "public key:"))
	r, err := envelope.ParseRecipient(pub)
	if err != nil {
		t.Fatalf("keygen printed %q: %v", pub, err)
	}
	studyPath := filepath.Join(dir, "study.yaml")
	os.WriteFile(studyPath, []byte(fmt.Sprintf(`id: receipt-study
title: {ko: 시험, en: Test, zh: 测试}
introduction: {ko: 시험, en: Test, zh: 测试}
recipients:
  - {name: R, public_key: %s}
questions:
  - {id: story, type: long_text, label: {ko: 이야기, en: Story, zh: 故事}}
`, pub)), 0o600)
	study, err := config.Load(studyPath)
	if err != nil {
		t.Fatal(err)
	}

	// The server's data: six envelopes stored, as intake serve leaves them.
	data := filepath.Join(dir, "data")
	d, err := intake.OpenData(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.BindStudy(study.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveVersionFile(studyPath, study.SHA256); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		pt, err := response.Marshal(study, &response.Response{Study: study.ID, Language: "ko", Answers: map[string][]string{"story": {fmt.Sprint("이야기 ", i)}}})
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Seal(study.ID, pt, []*envelope.Recipient{r})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Store.Put(env, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := d.Record(audit.SubmissionStored(sha256.Sum256(env), time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()

	batches := filepath.Join(dir, "batches")
	os.Mkdir(batches, 0o700)
	if out, code := command(t, bin, "intake", "export", "--data", data, "--out", batches, "--max-envelopes", "3"); code != 0 {
		t.Fatalf("intake export: %s", out)
	}
	parts, _ := filepath.Glob(filepath.Join(batches, "*.tar"))
	if len(parts) != 2 {
		t.Fatalf("export wrote %v, want two parts", parts)
	}
	serverKey, code := command(t, bin, "intake", "server-key", "--data", data)
	if code != 0 {
		t.Fatal(serverKey)
	}
	ws := filepath.Join(dir, "workspace")
	decrypt := func(part string) {
		t.Helper()
		if out, code := command(t, bin, "researcher", "decrypt", "--key", key, "--passphrase-file", pass, "--study", studyPath,
			"--server-key", strings.TrimSpace(serverKey), "--out", ws, part); code != 0 {
			t.Fatalf("researcher decrypt: exit %d\n%s", code, out)
		}
	}
	receipt := func(name string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if out, code := command(t, bin, "researcher", "receipt", "--key", key, "--passphrase-file", pass, "--workspace", ws, "--out", path); code != 0 {
			t.Fatalf("researcher receipt: exit %d\n%s", code, out)
		}
		return path
	}
	decrypt(parts[0])
	if n := exportedNotPurged(t, bin, data); n != 6 {
		t.Fatalf("%d envelopes exported and not purged, want 6", n)
	}

	// Without a receipt, nothing.
	if out, code := command(t, bin, "intake", "purge", "--data", data, "--config", studyPath); code == 0 || !strings.Contains(out, "nothing was deleted") {
		t.Fatalf("purge without a receipt: exit %d\n%s", code, out)
	}
	if n := exportedNotPurged(t, bin, data); n != 6 {
		t.Fatalf("purge without a receipt deleted %d envelopes", 6-n)
	}

	// With the receipt of the first batch: exactly its envelopes.
	r1 := receipt("first.receipt")
	out, code = command(t, bin, "intake", "purge", "--data", data, "--config", studyPath, "--receipt", r1)
	if code != 0 || !strings.Contains(out, "deleted 3 envelopes of 1 batch") {
		t.Fatalf("purge with the first receipt: exit %d\n%s", code, out)
	}
	if n := exportedNotPurged(t, bin, data); n != 3 {
		t.Fatalf("after the first receipt, %d envelopes exported and not purged, want 3", n)
	}
	// The same receipt again deletes nothing more.
	if out, code := command(t, bin, "intake", "purge", "--data", data, "--config", studyPath, "--receipt", r1); code != 0 || exportedNotPurged(t, bin, data) != 3 {
		t.Fatalf("purge with the first receipt again: exit %d\n%s", code, out)
	}
	decrypt(parts[1])
	r2 := receipt("second.receipt")
	if out, code := command(t, bin, "intake", "purge", "--data", data, "--config", studyPath, "--receipt", r2); code != 0 || exportedNotPurged(t, bin, data) != 0 {
		t.Fatalf("purge with the second receipt: exit %d\n%s", code, out)
	}
	// The researcher's log records both receipts.
	records, _ := os.ReadFile(filepath.Join(ws, "audit", "records"))
	if strings.Count(string(records), "receipt-issued") != 2 {
		t.Errorf("researcher's audit log:\n%s", records)
	}
	// A receipt is never overwritten.
	if out, code := command(t, bin, "researcher", "receipt", "--key", key, "--passphrase-file", pass, "--workspace", ws, "--out", r2); code != 2 || !strings.Contains(out, "already exists") {
		t.Errorf("receipt over an existing file: exit %d\n%s", code, out)
	}
}
