package intake

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/backup"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/onion"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sys/unix"
)

// What a backup holds (see package backup for the format). Everything
// else in the data directory is left out: envelopes, pending or exported;
// tor's data directory (its state, caches and log) and the socket; the
// store's temporary files, reserve, marks and locks; the serve and
// recovery locks.
const (
	backupOnionKey  = "onion/hs_ed25519_secret_key"
	backupRecords   = "audit/records"
	backupHashes    = "audit/hashes"
	backupCkptDir   = "audit/checkpoints/"
	backupVersions  = "versions/"
	backupJournal   = "store/journal"
	backupExportDir = "store/exports/"
)

// backupKeys are the key files a backup must hold.
var backupKeys = []string{"keys/audit.key", "keys/audit.pub", "keys/server.key", "keys/server.pub"}

// BackupResult says what [Data.Backup] wrote.
type BackupResult struct {
	// Manifest is the backup's signed manifest.
	Manifest *backup.Manifest
	// Pending and Exported count the envelopes in the store when the
	// backup was made, not yet exported and exported but not purged:
	// none of them is in the backup.
	Pending, Exported int
}

// CurrentStudy returns the version of the study the server serves now: the
// study file named by the latest service-started record of the audit log.
// A backup is sealed to its researchers.
func (d *Data) CurrentStudy() (*config.Study, error) {
	l, err := d.Audit()
	if err != nil {
		return nil, err
	}
	var sum [32]byte
	found := false
	if err := l.Scan(func(_ int64, r audit.Record) error {
		if r.Event == audit.EventServiceStarted {
			sum, found = r.SHA256, true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("the audit log in %s records no service start: run `intake serve` first, or pass the study file with --config", d.Dir)
	}
	data, err := os.ReadFile(d.versionPath(sum))
	if err != nil {
		return nil, fmt.Errorf("the study version the server last started with is missing: %w", err)
	}
	if sha256.Sum256(data) != sum {
		return nil, fmt.Errorf("%s does not hold the study file its name says: pass the study file with --config", d.versionPath(sum))
	}
	return config.Parse(d.versionPath(sum), data)
}

// BackupFile writes a backup (see [Data.Backup]) to a new file at path,
// atomically: written and synced under a temporary name in the same
// folder, then linked into place. It never replaces a file. The file's
// times are set to midnight UTC of the day.
func (d *Data) BackupFile(path string, recipients []age.Recipient, now time.Time) (*BackupResult, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%s already exists: choose another --out, a backup never replaces a file", path)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".backup-*")
	if err != nil {
		return nil, fmt.Errorf("failed to write the backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	res, err := d.Backup(tmp, recipients, now)
	if err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("failed to write the backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("failed to write the backup: %w", err)
	}
	midnight := midnightOf(now)
	os.Chtimes(tmp.Name(), midnight, midnight)
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%s already exists: choose another --out, a backup never replaces a file", path)
		}
		return nil, fmt.Errorf("failed to write the backup: %w", err)
	}
	os.Remove(tmp.Name())
	if err := atomicfile.SyncDir(dir); err != nil {
		return nil, err
	}
	return res, nil
}

// Backup writes to w a backup of everything in the data directory that
// must survive the server, sealed with age to recipients (the researchers'
// keys, see backup.Researchers, or one passphrase, backup.Passphrase), and
// never an envelope. It appends a backup-made record to the audit log
// first, so the backup holds it.
//
// It may run while the server serves, and the backup is a consistent
// snapshot: it holds the audit log as it was at one moment (every record
// appended before, none after, and its own backup-made record) — the log's
// lock is held while its size is read, and the records before that size
// never change; the committed exports as they were (no export or purge
// runs meanwhile: Backup holds the exports lock, and leaves out an export
// that was interrupted before it committed, which the next export rolls
// back anyway); and every study version saved before it read the versions,
// after the log, so every version a record names. Keys never change once
// made. Backup writes nothing in the data directory but the record, so it
// works on a full disk (the record may use the store's reserve).
func (d *Data) Backup(w io.Writer, recipients []age.Recipient, now time.Time) (*BackupResult, error) {
	studyID, err := d.StudyID()
	if err != nil {
		return nil, err
	}
	x, err := d.Store.LockExports()
	if err != nil {
		return nil, err
	}
	defer x.Close()
	if err := d.Record(audit.BackupMade(now)); err != nil {
		return nil, err
	}
	snap, err := d.snapshot(x)
	if err != nil {
		return nil, err
	}
	m := &backup.Manifest{StudyID: studyID, Day: backup.DayOf(now), AuditRecords: snap.records}
	if _, err := os.Lstat(filepath.Join(d.Dir, backupOnionKey)); err == nil {
		if m.Onion, err = onion.Address(filepath.Join(d.Dir, "onion")); err != nil {
			return nil, err
		}
	}
	for _, src := range snap.files {
		f, err := src.hash()
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f)
	}
	backup.SortFiles(m.Files)
	signed, err := backup.Sign(m, d.signer)
	if err != nil {
		return nil, err
	}
	res := &BackupResult{Manifest: m}
	if err := store.Walk(d.Store.Dir(), func(wh store.Where, _ store.Entry, _ string) error {
		if wh.Export == "" {
			res.Pending++
		} else {
			res.Exported++
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := backup.Write(w, recipients, signed, func(f backup.File) (io.ReadCloser, error) {
		return snap.files[f.Path].open()
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// source is a file of the data directory to back up: its first size
// bytes (all of it if size < 0).
type source struct {
	path, disk string
	size       int64
}

func (s source) open() (io.ReadCloser, error) {
	f, err := os.Open(s.disk)
	if err != nil {
		return nil, err
	}
	if s.size < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, s.size), f}, nil
}

func (s source) hash() (backup.File, error) {
	r, err := s.open()
	if err != nil {
		return backup.File{}, fmt.Errorf("failed to read %s for the backup: %w", s.disk, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return backup.File{}, fmt.Errorf("failed to read %s for the backup: %w", s.disk, err)
	}
	if s.size >= 0 && n != s.size {
		return backup.File{}, fmt.Errorf("%s shrank while the backup was made", s.disk)
	}
	return backup.File{Path: s.path, Size: n, SHA256: [32]byte(h.Sum(nil))}, nil
}

// snapshot is what a backup holds.
type snapshot struct {
	files   map[string]source
	records int64
}

// snapshot lists the files to back up; the caller holds the exports lock.
func (d *Data) snapshot(x *store.Exports) (*snapshot, error) {
	s := &snapshot{files: map[string]source{}}
	add := func(path string, size int64) {
		s.files[path] = source{path: path, disk: filepath.Join(d.Dir, filepath.FromSlash(path)), size: size}
	}
	// The audit log first: every version a record names was saved before it.
	recordsLen, hashesLen, ckpts, n, err := d.auditSnapshot()
	if err != nil {
		return nil, err
	}
	s.records = n
	add(backupRecords, recordsLen)
	add(backupHashes, hashesLen)
	for _, c := range ckpts {
		add(backupCkptDir+c, -1)
	}
	add("study", -1)
	for _, k := range backupKeys {
		if _, err := os.Lstat(filepath.Join(d.Dir, k)); err != nil {
			return nil, fmt.Errorf("the data directory lacks %s: %w", k, err)
		}
		add(k, -1)
	}
	if _, err := os.Lstat(filepath.Join(d.Dir, backupOnionKey)); err == nil {
		add(backupOnionKey, -1)
	}
	versions, err := d.Versions()
	if err != nil {
		return nil, err
	}
	for _, v := range versions {
		add(fmt.Sprintf("%s%x.yaml", backupVersions, v), -1)
	}
	if _, err := os.Lstat(filepath.Join(d.Dir, backupJournal)); err == nil {
		add(backupJournal, -1)
	}
	committed, _, err := x.List()
	if err != nil {
		return nil, err
	}
	for _, id := range committed {
		e, err := x.Get(id)
		if err != nil {
			return nil, err
		}
		notes, err := e.Notes()
		if err != nil {
			return nil, err
		}
		for _, name := range notes {
			add(backupExportDir+id+"/"+name, -1)
		}
	}
	return s, nil
}

// auditSnapshot returns the length of the audit log's records file holding
// its n complete records, the length of its hashes file for them, and its
// checkpoint files, as they were at one moment: it holds the log's lock
// (see package audit) while it reads the sizes. Records before that size
// never change, so the files are read after the lock is released, and
// the server is not held up.
func (d *Data) auditSnapshot() (recordsLen, hashesLen int64, ckpts []string, n int64, err error) {
	dir := filepath.Join(d.Dir, "audit")
	unlock, err := lockAuditLog(dir)
	if err != nil {
		return 0, 0, nil, 0, err
	}
	rfi, err := os.Stat(filepath.Join(dir, "records"))
	var hsize int64
	if err == nil {
		var hfi os.FileInfo
		if hfi, err = os.Stat(filepath.Join(dir, "hashes")); err == nil {
			hsize = hfi.Size()
		} else if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	var des []os.DirEntry
	if err == nil {
		des, err = os.ReadDir(filepath.Join(dir, "checkpoints"))
	}
	unlock()
	if err != nil {
		return 0, 0, nil, 0, fmt.Errorf("failed to read the audit log: %w", err)
	}
	for _, de := range des {
		if name := de.Name(); len(name) == 19 && strings.Trim(name, "0123456789") == "" && de.Type().IsRegular() {
			ckpts = append(ckpts, name)
		}
	}
	// The records file may end in a partial record that a crashed writer
	// left: it was never acknowledged, and is left out.
	f, err := os.Open(filepath.Join(dir, "records"))
	if err != nil {
		return 0, 0, nil, 0, fmt.Errorf("failed to read the audit log: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var off int64
	for off < rfi.Size() {
		k, err := f.Read(buf[:min(int64(len(buf)), rfi.Size()-off)])
		for i, c := range buf[:k] {
			if c == '\n' {
				n++
				recordsLen = off + int64(i) + 1
			}
		}
		off += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, nil, 0, fmt.Errorf("failed to read the audit log: %w", err)
		}
	}
	// Missing or partly written hashes of the last record are rebuilt when
	// the log is opened after a restore.
	hashesLen = min(hsize, tlog.StoredHashCount(n)*tlog.HashSize)
	return recordsLen, hashesLen, ckpts, n, nil
}

// lockAuditLog takes the lock of the audit log in dir, the one every
// process appending to it takes (package audit: the lock file, flock),
// waiting up to 30 seconds.
func lockAuditLog(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to lock the audit log: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("failed to lock the audit log: %w", err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another process has held the audit log in %s for over 30 s; if it is stuck, find it with `fuser %s`", dir, path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// midnightOf returns midnight UTC of t's day.
func midnightOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
