package intake

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/internal/notekey"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/mod/sumdb/note"
)

// Data is the server's data directory:
//
//	DIR/study             the id of the study this directory serves
//	DIR/keys/server.key   the batch signing key (0600), made on first use
//	DIR/keys/server.pub   its verifier key, for researchers to pin
//	DIR/keys/audit.key    the audit log's checkpoint signing key (0600), made on first use
//	DIR/keys/audit.pub    its verifier key, for auditors to pin
//	DIR/store/            the envelope store (see package store)
//	DIR/audit/            the audit log (see package audit)
//	DIR/serve.lock        held (flock) by the one process serving the directory
//
// One data directory serves one study, so envelopes of two studies are
// never mixed in one store or one batch.
type Data struct {
	Dir   string
	Store *store.Store

	signer    note.Signer
	vkey      string
	audit     *audit.Log
	auditVkey string

	serveLock *os.File
}

// ServerKeyName names the batch signing key in its verifier key.
const ServerKeyName = "testimony-server"

// ErrNothingToExport is returned by Export when every envelope was already
// exported.
var ErrNothingToExport = errors.New("nothing to export: every stored envelope was already exported")

// OpenData opens the data directory, creating it (0700) and the server's
// signing key if needed. The caller must Close it.
func OpenData(dir string) (*Data, error) {
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
	if d.Store, err = store.Open(filepath.Join(dir, "store")); err != nil {
		return nil, err
	}
	return d, nil
}

// Close closes the store and the audit log.
func (d *Data) Close() error {
	if d.serveLock != nil {
		d.serveLock.Close()
	}
	if d.audit != nil {
		d.audit.Close()
	}
	return d.Store.Close()
}

// Audit returns the server's audit log, opening it (and making its signing
// key) on first use. Its origin names the study the directory serves.
func (d *Data) Audit() (*audit.Log, error) {
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
	d.auditVkey = vkey
	if d.audit, err = audit.Open(filepath.Join(d.Dir, "audit"), origin, signer); err != nil {
		return nil, fmt.Errorf("failed to open the audit log: %w", err)
	}
	return d.audit, nil
}

// AuditKey returns the verifier key of the audit log: one line for
// auditors to pin.
func (d *Data) AuditKey() (string, error) {
	if _, err := d.Audit(); err != nil {
		return "", err
	}
	return d.auditVkey, nil
}

// Record appends a record to the audit log.
func (d *Data) Record(r audit.Record) error {
	l, err := d.Audit()
	if err != nil {
		return err
	}
	if _, err := l.Append(r); err != nil {
		return fmt.Errorf("failed to append to the audit log: %w", err)
	}
	return nil
}

// Purge removes exported envelopes and records how many in the audit log.
func (d *Data) Purge(now time.Time) (int, error) {
	n, err := d.Store.PurgeExported()
	if err != nil {
		return n, err
	}
	return n, d.Record(audit.EnvelopesPurged(n, now))
}

// LockServe makes sure no other process serves this data directory, and
// keeps it so until the process exits. Export, purge and the key commands
// may run beside the server; a second server may not.
func (d *Data) LockServe() error {
	f, err := os.OpenFile(filepath.Join(d.Dir, "serve.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("another intake serve is already serving %s: stop it first", d.Dir)
	}
	d.serveLock = f
	return nil
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
		return atomicfile.WriteBytes(path, 0o600, []byte(studyID+"\n"))
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

// Export writes every envelope not yet exported to a new batch file at
// path, synced, then marks them exported. It refuses to overwrite a file.
//
// It also records the export in the audit log and signs a checkpoint.
func (d *Data) Export(path string, now time.Time) (*batch.Manifest, error) {
	studyID, err := d.StudyID()
	if err != nil {
		return nil, err
	}
	pending, err := d.Store.Pending()
	if err != nil {
		return nil, err
	}
	if len(pending) == 0 {
		return nil, ErrNothingToExport
	}
	envs := make([]batch.Envelope, 0, len(pending))
	for _, e := range pending {
		data, err := d.Store.Read(e)
		if err != nil {
			return nil, err
		}
		envs = append(envs, batch.Envelope{ID: e.ID, Data: data})
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%s already exists: choose a new file name, an earlier batch must not be overwritten", path)
	}
	var m *batch.Manifest
	err = atomicfile.Write(path, 0o600, func(w io.Writer) error {
		var err error
		m, err = batch.Write(w, d.signer, studyID, envs)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := d.Store.MarkExported(pending); err != nil {
		return nil, fmt.Errorf("batch %s was written but its envelopes could not be marked exported (the next export will include them again, which researchers' tools tolerate): %w", path, err)
	}
	if err := d.Record(audit.BatchExported(m.Hash, len(m.Entries), now)); err != nil {
		return m, err
	}
	if _, err := d.audit.Checkpoint(now, true); err != nil {
		return m, fmt.Errorf("failed to sign an audit checkpoint: %w", err)
	}
	return m, nil
}
