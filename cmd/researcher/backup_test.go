package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/backup"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/intake"
)

// TestBackupReseal reseals a backup the server sealed to the researcher's
// key to a passphrase, as the operator needs it to restore.
func TestBackupReseal(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("the key's passphrase\n"), 0o600)
	opPass := filepath.Join(dir, "op-pass")
	os.WriteFile(opPass, []byte("the operator's passphrase\n"), 0o600)
	key := filepath.Join(dir, "k")
	out, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	r, err := envelope.ParseRecipient(strings.Fields(strings.SplitN(out, "\n", 2)[0])[2])
	if err != nil {
		t.Fatal(err)
	}

	// A server's data directory, backed up to the researcher.
	d, err := intake.OpenData(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.BindStudy("reseal-test"); err != nil {
		t.Fatal(err)
	}
	rs, err := backup.Researchers([]*envelope.Recipient{r})
	if err != nil {
		t.Fatal(err)
	}
	sealed := filepath.Join(dir, "backup.age")
	res, err := d.BackupFile(sealed, rs, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	resealed := filepath.Join(dir, "backup-pass.age")
	args := []string{"backup", "reseal", "--key", key, "--passphrase-file", pass, "--in", sealed, "--out", resealed, "--backup-passphrase-file", opPass, "--weak-kdf-for-tests"}
	// A server key other than the one pinned: refused, nothing written.
	otherData, _ := intake.OpenData(filepath.Join(dir, "other"))
	defer otherData.Close()
	if _, _, err := run(t, append(args, "--server-key", otherData.ServerKey())...); err == nil || !strings.Contains(err.Error(), "not signed by") {
		t.Fatalf("reseal with another server's key: %v", err)
	}
	if _, err := os.Lstat(resealed); err == nil {
		t.Fatal("a refused reseal left its output")
	}
	stdout, _, err := run(t, append(args, "--server-key", d.ServerKey())...)
	if err != nil || !strings.Contains(stdout, "resealed the backup of study reseal-test") {
		t.Fatalf("reseal: %v\n%s", err, stdout)
	}
	if _, _, err := run(t, append(args, "--server-key", d.ServerKey())...); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("reseal over an existing file: %v", err)
	}
	f, err := os.Open(resealed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, _ := backup.PassphraseIdentity([]byte("the operator's passphrase"))
	br, err := backup.NewReader(f, id)
	if err != nil {
		t.Fatal(err)
	}
	if br.Manifest().Hash != res.Manifest.Hash {
		t.Fatal("the resealed backup holds another manifest")
	}
	for {
		_, _, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
