package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/internal/notekey"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/mod/sumdb/note"
)

// Data is the server's data directory:
//
//	DIR/study                  the id of the study this directory serves
//	DIR/versions/<sha256>.yaml every study file ever served, byte for byte
//	DIR/keys/server.key        the batch signing key (0600), made on first use
//	DIR/keys/server.pub        its verifier key, for researchers to pin
//	DIR/keys/audit.key         the audit log's checkpoint signing key (0600), made on first use
//	DIR/keys/audit.pub         its verifier key, for auditors to pin
//	DIR/store/                 the envelope store (see package store); its
//	                           exports/<export>/ folders keep each exported
//	                           batch's signed manifest (part-NNNNNN.manifest)
//	DIR/audit/                 the audit log (see package audit)
//	DIR/serve.lock             held (flock) by the one process serving the directory;
//	                           holds "min-free N", the low-disk watermark it keeps,
//	                           and "onion operator" behind an operator's tor
//	DIR/recover.lock           held by an export or purge while it recovers
//	                           what a crashed server left
//
// One data directory serves one study, so envelopes of two studies are
// never mixed in one store or one batch.
//
// # Exports
//
// [Data.ExportParts] writes every pending envelope into one or more batch
// files (parts), all-or-nothing: the batch files are written and synced
// under temporary names, renamed into place, and only then does the store
// commit the export (one rename, see package store) and the audit log
// record each part. Before that commit point, a failure or a crash leaves
// an export that the next export or purge rolls back: it removes the batch
// files the export wrote (their paths are in the export's "intent" note),
// moves the envelopes back into the inbox, and records export-rolled-back.
// After it, the next export or purge completes what is missing (the
// batch-exported records). Each says so in one line.
//
// # Purges
//
// [Data.Purge] deletes the envelopes of exported batches that a valid
// import receipt covers (see package receipt), or, told to do without,
// every exported envelope, recording envelopes-purged-without-receipt. It
// journals what it will delete and records it in the audit log before
// deleting, so a crash half-way is completed by the next export or purge.
//
// # Crash recovery of the audit log
//
// The server records submission-stored just after the store acknowledged
// an envelope; a crash in between leaves an envelope without its record.
// The store is marked unconfirmed before the first envelope of a run (see
// package store), and confirmed when the server stops with every envelope
// recorded. If the mark is there when a server starts — or when an export
// or purge runs with no server — [Data.RecoverSubmissions] appends a
// submission-stored record (day: the envelope's folder) for every envelope
// the log lacks, then one submissions-recovered record with their number.
type Data struct {
	Dir   string
	Store *store.Store
	// OnionByOperator says that the onion service is not intake's to
	// publish: the server serves a tor of the operator's (intake serve
	// --external-tor). Set before [Data.LockServe], it is recorded in the
	// serve lock for intake status, which cannot see that tor and does
	// not warn that the service was never published.
	OnionByOperator bool

	signer    note.Signer
	vkey      string
	auditMu   sync.Mutex
	audit     *audit.Log
	auditVkey string

	serveLock   *os.File
	closed      bool
	confirmable bool         // this process may confirm the store when it closes
	recorded    atomic.Int64 // submission-stored records this process appended for its puts
}

// ServerKeyName names the batch signing key in its verifier key.
const ServerKeyName = "testimony-server"

// ErrNothingToExport is returned by Export when every envelope was already
// exported.
var ErrNothingToExport = errors.New("nothing to export: every stored envelope was already exported")

// OpenData opens the data directory with the store's default options; see
// [OpenDataWith].
func OpenData(dir string) (*Data, error) { return OpenDataWith(dir, store.Options{}) }

// OpenDataWith opens the data directory, creating it (0700) and the
// server's signing key if needed, with the store options o (the low-disk
// watermark). It writes nothing if they exist, so commands work on a full
// disk. The caller must Close it.
func OpenDataWith(dir string, o store.Options) (*Data, error) {
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return nil, fmt.Errorf("failed to create data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	d := &Data{Dir: dir}
	var err error
	d.signer, d.vkey, err = notekey.LoadOrCreate(filepath.Join(dir, "keys", "server.key"), filepath.Join(dir, "keys", "server.pub"),
		func() (string, string, error) { return batch.GenerateKey(ServerKeyName) })
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	if d.Store, err = store.OpenWith(filepath.Join(dir, "store"), o); err != nil {
		return nil, err
	}
	return d, nil
}

// Close closes the store and the audit log. If this process served the
// directory and the audit log holds a record of every envelope it stored,
// it confirms the store first (see package store).
func (d *Data) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	if d.serveLock != nil && d.confirmable && d.Store.Puts() == d.recorded.Load() && d.Store.Unconfirmed() {
		d.Store.Confirm()
	}
	if d.serveLock != nil {
		d.serveLock.Close()
	}
	d.auditMu.Lock()
	if d.audit != nil {
		d.audit.Close()
	}
	d.auditMu.Unlock()
	return d.Store.Close()
}

// Audit returns the server's audit log, opening it (and making its signing
// key) on first use. Its origin names the study the directory serves.
func (d *Data) Audit() (*audit.Log, error) {
	d.auditMu.Lock()
	defer d.auditMu.Unlock()
	return d.openAudit()
}

func (d *Data) openAudit() (*audit.Log, error) {
	if d.audit != nil {
		return d.audit, nil
	}
	studyID, err := d.StudyID()
	if err != nil {
		return nil, err
	}
	origin := "testimony/" + studyID + "/server"
	signer, vkey, err := notekey.LoadOrCreate(filepath.Join(d.Dir, "keys", "audit.key"), filepath.Join(d.Dir, "keys", "audit.pub"),
		func() (string, string, error) { return audit.GenerateKey(origin) })
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	l, err := audit.Open(filepath.Join(d.Dir, "audit"), origin, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to open the audit log: %w", err)
	}
	d.audit, d.auditVkey = l, vkey
	return l, nil
}

// AuditKey returns the verifier key of the audit log: one line for
// auditors to pin.
func (d *Data) AuditKey() (string, error) {
	if _, err := d.Audit(); err != nil {
		return "", err
	}
	return d.auditVkey, nil
}

// Record appends a record to the audit log. If the disk is full, it
// releases the store's reserve and tries once more: the log must not miss
// what the commands that free space do.
func (d *Data) Record(r audit.Record) error {
	err := d.record(r)
	if err == nil && r.Event == audit.EventSubmissionStored {
		d.recorded.Add(1)
	}
	return err
}

func (d *Data) record(r audit.Record) error {
	l, err := d.Audit()
	if err != nil {
		return err
	}
	_, err = l.Append(r)
	if err != nil && diskFull(err) {
		if released, _ := d.Store.ReleaseReserve(); released {
			// A failed append may leave the Log unusable until reopened.
			d.auditMu.Lock()
			d.audit.Close()
			d.audit = nil
			l, err = d.openAudit()
			d.auditMu.Unlock()
			if err == nil {
				_, err = l.Append(r)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("failed to append to the audit log: %w", err)
	}
	return nil
}

// checkpoint signs an audit checkpoint now (at export and purge).
func (d *Data) checkpoint(now time.Time) error {
	l, err := d.Audit()
	if err != nil {
		return err
	}
	if _, err := l.Checkpoint(now, true); err != nil {
		return fmt.Errorf("failed to sign an audit checkpoint: %w", err)
	}
	return nil
}

func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// LockServe makes sure no other process serves this data directory, and
// keeps it so until the process exits. Export, purge and the key commands
// may run beside the server; a second server may not.
//
// It then readies the directory for serving: on a disk that something
// filled, it releases the store's reserve so that the start can be
// recorded; if the previous server stopped without confirming the store,
// it recovers the audit records of the envelopes it stored
// ([Data.RecoverSubmissions]); and it makes the reserve again if there is
// room. A full disk does not stop the server: it starts, and Put refuses
// submissions with [store.ErrUnavailable].
func (d *Data) LockServe() error {
	f, err := os.OpenFile(filepath.Join(d.Dir, "serve.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		// An export or purge may hold it for a moment while it recovers
		// after a crashed server: wait for that, then try again.
		if werr := d.waitRecovery(); werr != nil || syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			return fmt.Errorf("another intake serve is already serving %s: stop it first", d.Dir)
		}
	}
	d.serveLock = f
	if _, err := d.Store.ReleaseReserve(); err != nil {
		return err
	}
	d.recordServeHints(f)
	if d.Store.Unconfirmed() {
		if _, err := d.RecoverSubmissions(time.Now()); err != nil {
			return fmt.Errorf("failed to recover the audit records of envelopes stored before a crash: %w", err)
		}
	}
	d.confirmable = true
	d.Store.EnsureReserve()
	return nil
}

// recordServeHints writes into the serve lock what intake status judges
// this server by (readServeHints): the low-disk watermark it keeps, and
// whether the onion service is the operator's to publish. They are hints:
// if the disk is too full to write them, status falls back to the default
// watermark and expects intake's own tor.
//
// The serve lock holds one line per hint: "min-free N", N the watermark
// in bytes, then "onion operator" if Data.OnionByOperator.
func (d *Data) recordServeHints(f *os.File) {
	sp, err := store.SpaceOf(d.Store.Dir())
	if err != nil {
		return
	}
	text := fmt.Sprintf("min-free %d\n", d.Store.MinFree(sp.Size))
	if d.OnionByOperator {
		text += "onion operator\n"
	}
	old := make([]byte, len(text)+1)
	if n, _ := f.ReadAt(old, 0); string(old[:n]) != text && f.Truncate(0) == nil {
		f.WriteAt([]byte(text), 0)
	}
	// Opening (creating) or writing the lock stamped it with this second:
	// the data directory keeps no time finer than the day.
	coarsen(f.Name())
}

// serveHints is what the last intake serve of a data directory recorded
// in its serve lock (see recordServeHints).
type serveHints struct {
	// minFree is the low-disk watermark in bytes, if hasMinFree.
	minFree    int64
	hasMinFree bool
	// onionByOperator: the onion service is the operator's to publish.
	onionByOperator bool
}

// readServeHints reads the hints the last intake serve of the data
// directory dir recorded. A line it does not know, or a lock too large
// for hints, gives none.
func readServeHints(dir string) serveHints {
	b, err := os.ReadFile(filepath.Join(dir, "serve.lock"))
	if err != nil || len(b) > 64 {
		return serveHints{}
	}
	var h serveHints
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if v, ok := strings.CutPrefix(line, "min-free "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || h.hasMinFree {
				return serveHints{}
			}
			h.minFree, h.hasMinFree = n, true
			continue
		}
		if line == "onion operator" && !h.onionByOperator {
			h.onionByOperator = true
			continue
		}
		return serveHints{}
	}
	return h
}

// waitRecovery waits until no export or purge is recovering the directory.
func (d *Data) waitRecovery() error {
	f, err := os.OpenFile(filepath.Join(d.Dir, "recover.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
}

// recoverIfNoServer runs [Data.RecoverSubmissions], for a caller holding
// the exports lock x, if no server is running: a server that crashed may
// have left envelopes without records, which an export or purge must not
// carry away unrecorded. (A running server recovered when it started.) It
// holds the serve lock meanwhile, so that no server starts half-way.
func (d *Data) recoverIfNoServer(x *store.Exports, now time.Time) (int, error) {
	rl, err := os.OpenFile(filepath.Join(d.Dir, "recover.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer rl.Close()
	if err := syscall.Flock(int(rl.Fd()), syscall.LOCK_EX); err != nil {
		return 0, err
	}
	sl, err := os.OpenFile(filepath.Join(d.Dir, "serve.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer sl.Close()
	if err := syscall.Flock(int(sl.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return 0, nil // a server is running
	}
	return d.recoverSubmissions(x, now)
}

// ServerKey returns the verifier key of the batch signing key: one line for
// researchers to pin.
func (d *Data) ServerKey() string { return d.vkey }

// BindStudy records that the data directory serves studyID, or checks that
// it already does.
func (d *Data) BindStudy(studyID string) error {
	path := filepath.Join(d.Dir, "study")
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := atomicfile.WriteBytes(path, 0o600, []byte(studyID+"\n")); err != nil {
			return err
		}
		coarsen(path, d.Dir)
		return nil
	}
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(string(old)); got != studyID {
		return fmt.Errorf("data directory %s serves study %q, not %q: use a new --data directory for a new study", d.Dir, got, studyID)
	}
	return nil
}

// StudyID returns the study the data directory serves.
func (d *Data) StudyID() (string, error) {
	b, err := os.ReadFile(filepath.Join(d.Dir, "study"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("data directory %s has never served a study: run `intake serve` first", d.Dir)
	}
	return strings.TrimSpace(string(b)), err
}

// SaveVersion keeps data, a study file the server serves, as
// DIR/versions/<sha256>.yaml, byte for byte and synced, so that every
// export carries every version answers may refer to. A version already kept
// is not written again (so a restart on a full disk works).
func (d *Data) SaveVersion(data []byte) error {
	if len(data) == 0 || len(data) > config.MaxFileSize {
		return fmt.Errorf("study file is %d bytes: want 1 to %d", len(data), config.MaxFileSize)
	}
	sum := sha256.Sum256(data)
	path := d.versionPath(sum)
	old, err := os.ReadFile(path)
	if err == nil {
		if sha256.Sum256(old) != sum {
			return fmt.Errorf("%s does not hold the study file its name says: restore it from a backup, or move it aside to write it again", path)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to read %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("failed to keep the study version: %w", err)
	}
	if err := atomicfile.WriteBytes(path, 0o600, data); err != nil {
		return fmt.Errorf("failed to keep the study version: %w", err)
	}
	coarsen(path, filepath.Dir(path))
	return nil
}

// coarsen sets the modification and access times of paths to midnight UTC
// today, best effort: the data directory keeps no time finer than the day.
func coarsen(paths ...string) {
	y, m, d := time.Now().UTC().Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	for _, p := range paths {
		os.Chtimes(p, midnight, midnight)
	}
}

// SaveVersionFile keeps the study file at path (see [Data.SaveVersion]),
// checking that it is still the file whose SHA-256 is sum: the one the
// server loaded.
func (d *Data) SaveVersionFile(path string, sum [32]byte) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("failed to read study file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
	if err != nil {
		return fmt.Errorf("failed to read study file: %w", err)
	}
	if sha256.Sum256(data) != sum {
		return fmt.Errorf("study file %s changed while the server started: start it again", path)
	}
	return d.SaveVersion(data)
}

// Versions returns the SHA-256 of every study file kept with
// [Data.SaveVersion], sorted.
func (d *Data) Versions() ([][32]byte, error) {
	des, err := os.ReadDir(filepath.Join(d.Dir, "versions"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to list study versions: %w", err)
	}
	var sums [][32]byte
	for _, de := range des {
		var sum [32]byte
		name, ok := strings.CutSuffix(de.Name(), ".yaml")
		if !ok || len(name) != 64 || strings.ToLower(name) != name || !de.Type().IsRegular() {
			return nil, fmt.Errorf("unexpected file %q in %s: it only keeps <sha256>.yaml study files", de.Name(), filepath.Join(d.Dir, "versions"))
		}
		if _, err := hex.Decode(sum[:], []byte(name)); err != nil {
			return nil, fmt.Errorf("unexpected file %q in %s: it only keeps <sha256>.yaml study files", de.Name(), filepath.Join(d.Dir, "versions"))
		}
		sums = append(sums, sum)
	}
	return sums, nil
}

func (d *Data) versionPath(sum [32]byte) string {
	return filepath.Join(d.Dir, "versions", fmt.Sprintf("%x.yaml", sum))
}
