package main

import (
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/receipt"
)

// storeEnvelopes makes a data directory serving the test study with n
// envelopes stored and recorded, as the server leaves it.
func storeEnvelopes(t *testing.T, study string, n int) string {
	t.Helper()
	dir := t.TempDir()
	d, err := intake.OpenData(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, err := config.Load(study)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.BindStudy(s.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveVersionFile(study, s.SHA256); err != nil {
		t.Fatal(err)
	}
	for range n {
		env := make([]byte, 500)
		rand.Read(env)
		if _, err := d.Store.Put(env, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := d.Record(audit.SubmissionStored(sha256.Sum256(env), time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestExportAndPurgeCommands(t *testing.T) {
	study, studyID, _, researcherID := testStudy(t)
	data := storeEnvelopes(t, study, 25)
	out := t.TempDir()
	stdout, stderr, err := run(t, "export", "--data", data, "--out", out, "--max-envelopes", "10", "--max-bytes", "1M")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "exported 25 envelopes in 3 parts") || strings.Count(stdout, "part00") != 3 {
		t.Errorf("export output:\n%s", stdout)
	}
	// Not a terminal: plain progress lines, the last at 100%.
	if !strings.Contains(stderr, "intake: exporting: 100%") || strings.Contains(stderr, "\r") {
		t.Errorf("progress on a non-terminal:\n%q", stderr)
	}
	files, _ := filepath.Glob(filepath.Join(out, studyID+"-*-part00?.tar"))
	if len(files) != 3 {
		t.Fatalf("parts written: %v", files)
	}
	var ms []*batch.Manifest
	for _, f := range files {
		fh, _ := os.Open(f)
		m, err := batch.ReadUnverifiedManifest(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *batch.Manifest) int { return a.Part - b.Part })

	// Receipts, signed by the study's researcher.
	alice := researcherID.Recipient().Fingerprint()
	signer := researcherID.Signer()
	r := &receipt.Receipt{StudyID: studyID, Researcher: alice, Batches: [][32]byte{ms[0].Hash, ms[1].Hash}}
	msg, err := receipt.Sign(r, signer)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "alice.receipt")
	os.WriteFile(good, msg, 0o600)
	forged := filepath.Join(t.TempDir(), "forged.receipt")
	os.WriteFile(forged, append([]byte("x"), msg...), 0o600)

	if _, _, err := run(t, "purge", "--data", data, "--receipt", good); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("purge --receipt without --config: %v", err)
	}
	stdout, _, err = run(t, "purge", "--data", data, "--config", study, "--receipt", good, "--receipt", forged)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 receipts refused") {
		t.Errorf("purge with a forged receipt: %v", err)
	}
	for _, want := range []string{
		"receipt " + good + ": researcher " + alice + ", 2 batches still held here",
		"receipt " + forged + ": refused:",
		"deleted 20 envelopes of 2 batches\n",
		"kept 5 envelopes of 1 batch: exported, but no valid receipt covers their batch\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("purge output lacks %q:\n%s", want, stdout)
		}
	}
	stdout, stderr, err = run(t, "purge", "--data", data, "--without-receipt")
	if err != nil || !strings.Contains(stdout, "deleted 5 envelopes of 1 batch (5 without a receipt)") || !strings.Contains(stderr, "WARNING: deleted 5 exported envelopes that no researcher's receipt covers") {
		t.Errorf("purge --without-receipt: %v\n%s%s", err, stdout, stderr)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1234": 1234, "500K": 500 << 10, "500k": 500 << 10, "2M": 2 << 20, "2MiB": 2 << 20, "2MB": 2 << 20, "1G": 1 << 30, "1T": 1 << 40, "0": 0} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1.5G", "1X", "99999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}
