package intake

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	bed25519 "github.com/cretz/bine/torutil/ed25519"
	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/backup"
	"github.com/testimony-project/testimony/internal/smallfs"
	"github.com/testimony-project/testimony/onion"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/mod/sumdb/note"
)

// writeOnionKey gives the data directory an onion key, as intake serve
// makes it, and returns its address.
func writeOnionKey(t testing.TB, dir string) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	key := bed25519.FromCryptoPrivateKey(priv).PrivateKey()
	os.MkdirAll(filepath.Join(dir, "onion", "tor"), 0o700)
	data := append([]byte("== ed25519v1-secret: type0 ==\x00\x00\x00"), key...)
	if err := os.WriteFile(filepath.Join(dir, "onion", "hs_ed25519_secret_key"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	// What tor leaves, which a backup must not hold.
	os.WriteFile(filepath.Join(dir, "onion", "tor", "state"), []byte("tor state\n"), 0o600)
	addr, err := onion.Address(filepath.Join(dir, "onion"))
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// makeBackup backs d up to a new file sealed to a fresh age key, and
// returns the file's bytes and the key.
func makeBackup(t testing.TB, d *Data) ([]byte, *BackupResult, age.Identity) {
	t.Helper()
	id, _ := age.GenerateX25519Identity()
	path := filepath.Join(t.TempDir(), "backup.age")
	res, err := d.BackupFile(path, []age.Recipient{id.Recipient()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if !fi.ModTime().Equal(midnightOf(time.Now())) {
		t.Errorf("backup file time %v, want midnight UTC", fi.ModTime())
	}
	return b, res, id
}

// TestBackupAndRestore backs up a data directory with exported, purged and
// pending envelopes, restores it into a new one, and checks that the new
// one is the old one without any envelope: same keys and address, one
// audit log, the purge bookkeeping intact.
func TestBackupAndRestore(t *testing.T) {
	dir := t.TempDir()
	d := newData(t, dir)
	addr := writeOnionKey(t, dir)
	sums := submit(t, d, 6, 900)
	out := t.TempDir()
	if _, err := d.ExportParts(ExportOptions{Out: out, MaxEnvelopes: 3, MaxBytes: 1 << 30}, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, ms := batches(t, d, out)
	if len(ms) != 2 {
		t.Fatalf("%d parts", len(ms))
	}
	// A receipt for the first part purges it before the backup; the second
	// is purged after the restore.
	signer, verifier := researcherKey(t, "0123-4567-89AB-CDEF-0123")
	if _, err := d.Purge(PurgeOptions{Receipts: []ReceiptFile{{Name: "r1", Data: signReceipt(t, signer, "0123-4567-89AB-CDEF-0123", dataStudy, ms[0])}}, Verifiers: []note.Verifier{verifier}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	pending := submit(t, d, 2, 700)
	key, _ := d.AuditKey()
	before, err := audit.Verify(filepath.Join(dir, "audit"), key, nil)
	if err != nil || !before.OK() {
		t.Fatal(err, before.Damage)
	}

	sealed, res, id := makeBackup(t, d)
	if res.Pending != 2 || res.Exported != 3 {
		t.Errorf("backup counted %d pending and %d exported envelopes, want 2 and 3", res.Pending, res.Exported)
	}
	m := res.Manifest
	if m.Onion != addr || m.AuditRecords != before.Records+1 || m.StudyID != dataStudy {
		t.Errorf("manifest %+v: want onion %s, %d records", m, addr, before.Records+1)
	}
	// Nothing but what must survive.
	for _, f := range m.Files {
		if strings.Contains(f.Path, "inbox") || strings.Contains(f.Path, "envelopes") || strings.Contains(f.Path, "tor/") || strings.Contains(f.Path, "lock") || strings.Contains(f.Path, "reserve") {
			t.Errorf("backup holds %s", f.Path)
		}
	}
	br, err := backup.NewReader(bytes.NewReader(sealed), id)
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	plain.Write(br.SignedManifest())
	for {
		_, r, err := br.Next()
		if err != nil {
			break
		}
		plain.ReadFrom(r)
	}
	// No envelope, pending or exported, is anywhere in the plaintext.
	found := 0
	filepath.WalkDir(filepath.Join(dir, "store"), func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() && (strings.Contains(p, "/envelopes/") || strings.Contains(p, "/inbox/")) {
			found++
			env, _ := os.ReadFile(p)
			if bytes.Contains(plain.Bytes(), env[:64]) {
				t.Errorf("backup holds the envelope %s", p)
			}
		}
		return nil
	})
	if found != len(sums)-3+len(pending) {
		t.Fatalf("checked %d envelopes, want %d", found, len(sums)-3+len(pending))
	}

	// Restore refuses a directory that is not empty, and a backup made by
	// another server than the one pinned.
	if _, err := Restore(dir, bytes.NewReader(sealed), id, "", time.Now()); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into the old directory: %v", err)
	}
	newDir := filepath.Join(t.TempDir(), "new")
	_, otherVkey, _ := note.GenerateKey(rand.Reader, ServerKeyName)
	if _, err := Restore(newDir, bytes.NewReader(sealed), id, otherVkey, time.Now()); err == nil || !strings.Contains(err.Error(), "not this study's backup") {
		t.Fatalf("restore pinned to another server key: %v", err)
	}
	if des, _ := os.ReadDir(newDir); len(des) != 0 {
		t.Fatalf("a refused restore left %d entries", len(des))
	}
	got, err := Restore(newDir, bytes.NewReader(sealed), id, d.ServerKey(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Address != addr || got.ServerKey != d.ServerKey() || got.AuditKey != key || got.AuditRecords != m.AuditRecords+1 {
		t.Fatalf("restored %+v", got)
	}
	if _, err := os.Lstat(filepath.Join(newDir, "onion", "tor")); err == nil {
		t.Error("tor's data directory was restored")
	}
	// One log: the restored log extends every checkpoint of the old one.
	rep, err := audit.Verify(filepath.Join(newDir, "audit"), key, []byte(before.Latest))
	if err != nil || !rep.OK() || rep.Trusted != before.Signed {
		t.Fatalf("restored log against the old checkpoint: %v %v", err, rep.Damage)
	}
	d2, err := OpenData(newDir)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	rs := auditEvents(t, d2)
	last := rs[len(rs)-1]
	if last.Event != audit.EventServiceRestored || last.SHA256 != m.Hash || rs[len(rs)-2].Event != audit.EventBackupMade {
		t.Fatalf("restored log ends %v, %v", rs[len(rs)-2], last)
	}
	if p, _ := d2.Store.Pending(); len(p) != 0 {
		t.Fatalf("restored store holds %d envelopes", len(p))
	}
	// The purge bookkeeping survived: the second part's receipt is
	// accepted, and the first's is already purged.
	pr, err := d2.Purge(PurgeOptions{Receipts: []ReceiptFile{{Name: "r2", Data: signReceipt(t, signer, "0123-4567-89AB-CDEF-0123", dataStudy, ms[1])}}, Verifiers: []note.Verifier{verifier}}, time.Now())
	if err != nil || pr.Batches != 1 {
		t.Fatalf("purge after restore: %+v %v", pr, err)
	}
	// And the restored server takes and exports new envelopes.
	submit(t, d2, 2, 500)
	if _, err := d2.ExportParts(ExportOptions{Out: t.TempDir(), MaxEnvelopes: 100, MaxBytes: 1 << 30}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestBackupWhileServing backs up while another process appends records
// and stores envelopes as fast as it can: the backup restores to a log
// that verifies.
func TestBackupWhileServing(t *testing.T) {
	dir := t.TempDir()
	d := newData(t, dir)
	submit(t, d, 3, 100)
	other, err := OpenData(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			submit(t, other, 1, 200)
		}
	}()
	var backups [][]byte
	var ids []age.Identity
	for range 3 {
		b, _, id := makeBackup(t, d)
		backups, ids = append(backups, b), append(ids, id)
	}
	close(stop)
	wg.Wait()
	for i, b := range backups {
		if _, err := Restore(filepath.Join(t.TempDir(), "new"), bytes.NewReader(b), ids[i], "", time.Now()); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
	}
}

func TestRestoreRefusesWhatIsNotADataDirectory(t *testing.T) {
	for _, p := range []string{"store/inbox/2026-01-01/abcdefghijklmnopqrstuvwxyz", "store/exports/abcdefghijklmnopqrstuvwxyz/envelopes", "onion/tor/state", "serve.lock", "keys/other.key", "versions/ab.yaml", "audit/lock"} {
		if restorablePath(p) {
			t.Errorf("restorablePath(%q) = true", p)
		}
	}
	for _, p := range []string{"study", "keys/server.key", "audit/records", "audit/checkpoints/0000000000000000012", "store/exports/abcdefghijklmnopqrstuvwxyz/part-000001.manifest", "versions/" + strings.Repeat("0a", 32) + ".yaml"} {
		if !restorablePath(p) {
			t.Errorf("restorablePath(%q) = false", p)
		}
	}
}

// TestBackupAndStatusOnAFullDisk backs up, and reads the status of, a data
// directory whose disk something filled to the last byte.
func TestBackupAndStatusOnAFullDisk(t *testing.T) {
	for _, kind := range smallfs.Kinds {
		t.Run(kind, func(t *testing.T) {
			mnt := smallfs.Mount(t, kind, 8<<20)
			dir := filepath.Join(mnt, "data")
			d, err := OpenDataWith(dir, store.Options{MinFree: 1 << 20, Reserve: 512 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			d.BindStudy(dataStudy)
			d.SaveVersion(studyVersions[0])
			if ok, err := d.Store.EnsureReserve(); !ok || err != nil {
				t.Fatal("no reserve", err)
			}
			submit(t, d, 20, 10<<10)
			smallfs.Fill(t, mnt)

			s := ReadStatus(dir, StatusOptions{MinFree: 1 << 20}, time.Now())
			if s.Level != Critical || !hasProblem(s, Critical, "below the low-disk watermark") {
				t.Fatalf("status on a full disk: %s %v", s.State, s.Problems)
			}
			sealed, _, id := makeBackup(t, d)
			if _, err := Restore(filepath.Join(t.TempDir(), "new"), bytes.NewReader(sealed), id, "", time.Now()); err != nil {
				t.Fatalf("restore of a backup made on a full disk: %v", err)
			}
		})
	}
}
