package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/backup"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/onion"
	"golang.org/x/mod/sumdb/note"
)

// restoreStaging is the folder, inside the new data directory, that a
// restore writes into before it moves what it checked into place.
const restoreStaging = ".restore"

// RestoreResult says what [Restore] brought back.
type RestoreResult struct {
	// Manifest is the backup's manifest.
	Manifest *backup.Manifest
	// Address is the onion address the restored server serves at, or "" if
	// the backup held no onion key (a new one is made on the first serve).
	Address string
	// ServerKey and AuditKey are the verifier keys researchers and auditors
	// pinned: the restored server signs with the same keys.
	ServerKey, AuditKey string
	// AuditRecords is the number of records of the restored audit log,
	// service-restored included.
	AuditRecords int64
}

// Restore brings a server back into dir, a new or empty data directory,
// from the backup in r (opened with identity: a passphrase's, see
// backup.PassphraseIdentity). If serverKey is not empty, the backup must
// have been made by the server whose batch verifier key it is.
//
// It writes the backup into a staging folder inside dir, checks everything
// there — the manifest's signature by the backup's own server key, every
// file against the manifest, each key against its verifier key, the onion
// key against the address the manifest names, each study version against
// its name, each kept export manifest against the server key, and the
// audit log against its key (the log must verify whole) — and only then
// moves it into place. It then continues the audit log with a
// service-restored record carrying the SHA-256 of the backup's manifest,
// and signs a checkpoint: auditors see one log across the restore. On
// error dir holds nothing it wrote.
func Restore(dir string, r io.Reader, identity age.Identity, serverKey string, now time.Time) (*RestoreResult, error) {
	if err := prepareRestoreDir(dir); err != nil {
		return nil, err
	}
	stage := filepath.Join(dir, restoreStaging)
	if err := os.Mkdir(stage, 0o700); err != nil {
		return nil, fmt.Errorf("failed to restore: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(stage)
		}
	}()
	br, err := backup.NewReader(r, identity)
	if err != nil {
		return nil, err
	}
	m := br.Manifest()
	if err := checkRestorable(m); err != nil {
		return nil, err
	}
	for {
		f, content, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := writeRestored(stage, f.Path, content); err != nil {
			return nil, err
		}
	}
	res := &RestoreResult{Manifest: m}
	verifier, err := checkRestored(stage, m, res)
	if err != nil {
		return nil, err
	}
	if err := br.Verify(verifier); err != nil {
		return nil, fmt.Errorf("the backup is not signed by the key it holds: %w", err)
	}
	if serverKey != "" && strings.TrimSpace(serverKey) != res.ServerKey {
		return nil, fmt.Errorf("the backup was made by the server with key %s, not by %s: it is not this study's backup", res.ServerKey, strings.TrimSpace(serverKey))
	}

	// Into place: the audit log first and the study binding last, so that
	// a crash half-way never leaves keys without their log.
	for _, name := range []string{"audit", "keys", "versions", "store", "onion", "study"} {
		err := os.Rename(filepath.Join(stage, name), filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("failed to restore: %w", err)
		}
	}
	if err := os.Remove(stage); err != nil {
		return nil, fmt.Errorf("failed to restore: %w", err)
	}
	ok = true
	if err := atomicfile.SyncDir(dir); err != nil {
		return nil, err
	}

	d, err := OpenData(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if err := d.Record(audit.ServiceRestored(m.Hash, now)); err != nil {
		return nil, err
	}
	if err := d.checkpoint(now); err != nil {
		return nil, err
	}
	rep, err := audit.Verify(filepath.Join(dir, "audit"), res.AuditKey, nil)
	if err != nil {
		return nil, err
	}
	if !rep.OK() || rep.Records != m.AuditRecords+1 {
		return nil, fmt.Errorf("the restored audit log does not verify (%d records, %d damaged): run auditor verify on %s", rep.Records, len(rep.Damage), filepath.Join(dir, "audit"))
	}
	res.AuditRecords = rep.Records
	coarsenTree(dir, now)
	return res, nil
}

// prepareRestoreDir makes dir, or checks that it is empty (but for the
// staging folder a restore cut short left, which it removes).
func prepareRestoreDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("failed to read data directory: %w", err)
	}
	for _, de := range des {
		if de.Name() != restoreStaging {
			return fmt.Errorf("data directory %s is not empty (it holds %s): restore only into a new or empty directory; it never overwrites a server's data", dir, de.Name())
		}
	}
	if len(des) > 0 {
		if err := os.RemoveAll(filepath.Join(dir, restoreStaging)); err != nil {
			return fmt.Errorf("failed to remove what a restore cut short left: %w", err)
		}
	}
	return nil
}

// checkRestorable checks that the manifest lists only files a backup of a
// data directory holds, and every file it must.
func checkRestorable(m *backup.Manifest) error {
	have := map[string]bool{}
	for _, f := range m.Files {
		if !restorablePath(f.Path) {
			return fmt.Errorf("the backup holds %s, which is not part of a data directory: it was not made by intake backup", f.Path)
		}
		have[f.Path] = true
	}
	for _, p := range append([]string{"study", backupRecords}, backupKeys...) {
		if !have[p] {
			return fmt.Errorf("the backup lacks %s", p)
		}
	}
	if have[backupOnionKey] != (m.Onion != "") {
		return errors.New("the backup's manifest and its onion key disagree")
	}
	return nil
}

// restorablePath reports whether p is a path [Data.Backup] writes.
func restorablePath(p string) bool {
	switch p {
	case "study", backupOnionKey, backupRecords, backupHashes, backupJournal:
		return true
	}
	for _, k := range backupKeys {
		if p == k {
			return true
		}
	}
	if name, ok := strings.CutPrefix(p, backupCkptDir); ok {
		return len(name) == 19 && strings.Trim(name, "0123456789") == ""
	}
	if name, ok := strings.CutPrefix(p, backupVersions); ok {
		h, ok := strings.CutSuffix(name, ".yaml")
		_, err := hex.DecodeString(h)
		return ok && len(h) == 64 && strings.ToLower(h) == h && err == nil
	}
	if rest, ok := strings.CutPrefix(p, backupExportDir); ok {
		id, note, ok := strings.Cut(rest, "/")
		if !ok || len(id) != 26 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			return false
		}
		// Notes only: never an envelope.
		return note != "envelopes" && !strings.Contains(note, "/")
	}
	return false
}

// writeRestored writes one file of the backup under stage, synced, mode
// 0600 in folders 0700.
func writeRestored(stage, path string, content io.Reader) error {
	disk := filepath.Join(stage, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(disk), 0o700); err != nil {
		return fmt.Errorf("failed to restore %s: %w", path, err)
	}
	f, err := os.OpenFile(disk, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("failed to restore %s: %w", path, err)
	}
	_, err = io.Copy(f, content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("failed to restore %s: %w", path, err)
	}
	return nil
}

// checkRestored checks the files restored into stage against each other,
// fills in res, and returns the verifier of the server's batch key.
func checkRestored(stage string, m *backup.Manifest, res *RestoreResult) (note.Verifier, error) {
	b, err := os.ReadFile(filepath.Join(stage, "study"))
	if err != nil {
		return nil, err
	}
	if got := strings.TrimSpace(string(b)); got != m.StudyID {
		return nil, fmt.Errorf("the backup's study file names %q, its manifest %q", got, m.StudyID)
	}
	_, verifier, vkey, err := checkKeyPair(stage, "keys/server.key", "keys/server.pub", ServerKeyName)
	if err != nil {
		return nil, err
	}
	res.ServerKey = vkey
	origin := "testimony/" + m.StudyID + "/server"
	auditSigner, _, auditVkey, err := checkKeyPair(stage, "keys/audit.key", "keys/audit.pub", origin)
	if err != nil {
		return nil, err
	}
	res.AuditKey = auditVkey
	if m.Onion != "" {
		if res.Address, err = onion.Address(filepath.Join(stage, "onion")); err != nil {
			return nil, err
		}
		if res.Address != m.Onion {
			return nil, fmt.Errorf("the backup's onion key is for %s, its manifest names %s", res.Address, m.Onion)
		}
	}
	for _, f := range m.Files {
		switch {
		case strings.HasPrefix(f.Path, backupVersions):
			data, err := os.ReadFile(filepath.Join(stage, filepath.FromSlash(f.Path)))
			if err != nil {
				return nil, err
			}
			if want := strings.TrimSuffix(strings.TrimPrefix(f.Path, backupVersions), ".yaml"); hex.EncodeToString(sha256Of(data)) != want {
				return nil, fmt.Errorf("the backup's %s does not hash to its name", f.Path)
			}
		case strings.HasPrefix(f.Path, backupExportDir) && partOfNote(filepath.Base(f.Path)) > 0:
			msg, err := os.ReadFile(filepath.Join(stage, filepath.FromSlash(f.Path)))
			if err != nil {
				return nil, err
			}
			bm, err := batch.OpenManifest(msg, verifier)
			if err != nil {
				return nil, fmt.Errorf("the backup's %s: %w", f.Path, err)
			}
			if bm.StudyID != m.StudyID {
				return nil, fmt.Errorf("the backup's %s is a batch of study %q", f.Path, bm.StudyID)
			}
		case f.Path == backupJournal:
			b, err := os.ReadFile(filepath.Join(stage, backupJournal))
			if err != nil {
				return nil, err
			}
			if _, err := parseJournal(b); err != nil {
				return nil, fmt.Errorf("the backup's purge journal: %w", err)
			}
		}
	}
	// The audit log: opening it checks its records against its latest
	// checkpoint and rebuilds the hashes of a record a crash cut short;
	// then it must verify whole with its key.
	l, err := audit.Open(filepath.Join(stage, "audit"), origin, auditSigner)
	if err != nil {
		return nil, fmt.Errorf("the backup's audit log: %w", err)
	}
	n := l.Size()
	l.Close()
	if n != m.AuditRecords {
		return nil, fmt.Errorf("the backup's audit log has %d records, its manifest says %d", n, m.AuditRecords)
	}
	rep, err := audit.Verify(filepath.Join(stage, "audit"), auditVkey, nil)
	if err != nil {
		return nil, fmt.Errorf("the backup's audit log: %w", err)
	}
	if !rep.OK() {
		return nil, fmt.Errorf("the backup's audit log does not verify: %v", rep.Damage[0])
	}
	return verifier, nil
}

// checkKeyPair checks that the signing key at keyPath and the verifier key
// at pubPath (under dir) are a pair named name: it signs and verifies.
func checkKeyPair(dir, keyPath, pubPath, name string) (note.Signer, note.Verifier, string, error) {
	skey, err := os.ReadFile(filepath.Join(dir, keyPath))
	if err != nil {
		return nil, nil, "", err
	}
	pub, err := os.ReadFile(filepath.Join(dir, pubPath))
	if err != nil {
		return nil, nil, "", err
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, nil, "", fmt.Errorf("the backup's %s is malformed", keyPath)
	}
	vkey := strings.TrimSpace(string(pub))
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, "", fmt.Errorf("the backup's %s is malformed", pubPath)
	}
	msg := []byte("testimony restore key check\n")
	sig, err := signer.Sign(msg)
	if err != nil || signer.Name() != name || verifier.Name() != name || verifier.KeyHash() != signer.KeyHash() || !verifier.Verify(msg, sig) {
		return nil, nil, "", fmt.Errorf("the backup's %s and %s are not a pair named %q", keyPath, pubPath, name)
	}
	return signer, verifier, vkey, nil
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// coarsenTree sets the times of every file and folder under dir to
// midnight UTC of now's day, best effort: the data directory keeps no
// time finer than the day.
func coarsenTree(dir string, now time.Time) {
	midnight := midnightOf(now)
	var paths []string
	filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			paths = append(paths, p)
		}
		return nil
	})
	// Children before parents: setting a child's times changes nothing of
	// the parent, but creating the lock files did.
	for i := len(paths) - 1; i >= 0; i-- {
		os.Chtimes(paths[i], midnight, midnight)
	}
}
