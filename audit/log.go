// Package audit implements a tamper-evident, append-only audit log that
// auditors verify offline, and the checks they run on it.
//
// The intake server and each researcher keep their own log. Use [Open] to
// open (or create) a log, [Log.Append] to add a [Record] made by one of the
// record constructors ([SubmissionStored], [BatchExported], ...), and
// [Log.Checkpoint] to sign the current state. Auditors use [Verify] to check
// one log and [Reconcile] to check that the batches a server exported are
// exactly the batches the researchers imported.
//
// A log is a directory holding:
//
//	records      the records, one per line, as encoded by Record.MarshalText
//	hashes       the stored hashes of the Merkle tree of the records
//	             (golang.org/x/mod/sumdb/tlog), 32 bytes each, in
//	             tlog.StoredHashIndex order; derived from records
//	checkpoints/ one signed C2SP checkpoint per file, named by its tree
//	             size as 19 decimal digits
//	lock         locked (flock) by a process for the duration of each
//	             commit of appends, checkpoint and crash recovery
//
// [Log.Append] returns once its record and the record's stored hashes are
// on disk (fsync). Appends that arrive while a commit is running are
// committed together when it ends (group commit): one write and one fsync
// of their records, then one write and one fsync of their hashes, for up to
// 256 records, in the order the appends arrived. A server storing
// submissions from many clients thus pays two fsyncs per batch, not per
// submission. A failed write or fsync fails every append of its batch, and
// after a failed fsync the Log must be reopened, which tells what reached
// the disk.
//
// Several processes may have one log open at once: the intake server keeps
// it open for days while the operator exports and purges. Each commit of
// appends and each [Log.Checkpoint] holds the lock, waiting up to 30
// seconds for another process to release it, and first takes in the
// records and checkpoints other processes added since, so that records are
// never interleaved or lost and the once-a-day rule for checkpoints holds
// across processes. Where flock is not available (outside Unix), only one
// process may have a log open.
//
// After a crash, [Open] (or the next commit of another process) removes a
// partial record and rebuilds the stored hashes of the last commit, which
// the crash may have cut short or, if the machine went down, left with
// zeros where disk blocks were lost. Any other difference between the
// records and the hashes is damage, and the log is refused.
//
// Records carry a UTC day, never a precise time, and a fixed set of fields
// that identify nobody. Checkpoints are signed at most once a day, and at
// export, so that the signatures do not reveal when single submissions
// arrived.
package audit

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Names of the files in a log directory.
const (
	recordsFile    = "records"
	hashesFile     = "hashes"
	checkpointsDir = "checkpoints"
	lockName       = "lock"
)

// lockTimeout is how long an operation on a log waits for other processes
// to finish theirs.
var lockTimeout = 30 * time.Second

// GenerateKey returns a new checkpoint signing key skey and its verifier key
// vkey, named name (use the log's origin). skey must stay on the machine that
// writes the log; vkey is what auditors pin. It wraps [note.GenerateKey] with
// crypto/rand.
func GenerateKey(name string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("failed to generate audit key %q: %w", name, err)
	}
	return skey, vkey, nil
}

// A Log is an open audit log. Its methods are safe for concurrent use, and
// other processes may have the same log open at the same time.
type Log struct {
	dir    string
	origin string
	signer note.Signer

	mu      sync.Mutex
	records *os.File
	hashes  *os.File
	size    int64 // bytes of the complete records in tree
	tree    tree
	latest  []byte     // latest signed checkpoint, or nil
	ckpt    Checkpoint // parsed latest, if latest != nil
	broken  error      // set when the files may disagree with memory

	// Group commit (see Append): gmu guards queue, committing and the
	// results in the pendings.
	gmu        sync.Mutex
	queue      []*pending   // appends waiting for the next commit, in order
	committing bool         // a commit runs, or its leader is being woken
	commits    atomic.Int64 // commits that succeeded, for tests
}

// Open opens the log in dir, creating it if needed (directories 0700, files
// 0600). origin is the checkpoint origin line, for example
// "testimony/server/<study-id>"; signer signs checkpoints (see
// [note.NewSigner]) and must be deterministic, as Ed25519 is. Other
// processes may have the log open too; Open waits up to 30 seconds for one
// that is appending to it.
//
// Open recovers from a crash: it removes a partial record at the end of the
// records file (one whose [Log.Append] never returned) and rebuilds missing
// stored hashes. It refuses to open a log whose records do not parse, do not
// match its latest checkpoint, or were not signed by signer: such a log may
// have been tampered with, and appending to it would hide that. Run
// auditor verify on it.
func Open(dir string, origin string, signer note.Signer) (*Log, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, fmt.Errorf("failed to open audit log: %w", err)
	}
	if signer == nil {
		return nil, errors.New("failed to open audit log: no signer")
	}
	if err := os.MkdirAll(filepath.Join(dir, checkpointsDir), 0o700); err != nil {
		return nil, fmt.Errorf("failed to create audit log directory: %w", err)
	}
	l := &Log{dir: dir, origin: origin, signer: signer}
	unlock, err := l.lock()
	if err != nil {
		return nil, fmt.Errorf("failed to open audit log: %w", err)
	}
	defer unlock()
	// Check everything before changing anything: a damaged log is left as
	// it is, for the auditors.
	records, err := readOptional(filepath.Join(dir, recordsFile))
	if err != nil {
		return nil, fmt.Errorf("failed to read audit log records: %w", err)
	}
	hashes, err := readOptional(filepath.Join(dir, hashesFile))
	if err != nil {
		return nil, fmt.Errorf("failed to read audit log hashes: %w", err)
	}
	fix, err := l.load(records, hashes, 0, true)
	if err != nil {
		return nil, err
	}

	ok := false
	defer func() {
		if !ok {
			l.closeFiles()
		}
	}()
	if l.records, err = os.OpenFile(filepath.Join(dir, recordsFile), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return nil, fmt.Errorf("failed to open audit log: %w", err)
	}
	if l.hashes, err = os.OpenFile(filepath.Join(dir, hashesFile), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("failed to open audit log: %w", err)
	}
	if err := l.recover(fix); err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return nil, err
	}
	ok = true
	return l, nil
}

// lock takes the log's lock, which every process that has the log open
// takes for each operation, and returns the function that releases it. It
// waits lockTimeout at most.
func (l *Log) lock() (unlock func(), err error) {
	path := filepath.Join(l.dir, lockName)
	f, err := lockFile(path, os.O_RDWR|os.O_CREATE, true, time.Now().Add(lockTimeout))
	if errors.Is(err, errLockTimeout) {
		return nil, fmt.Errorf("another process has held the audit log in %s for over %v; if it is stuck, find it with `fuser %s` and stop it", l.dir, lockTimeout, path)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to lock audit log in %s: %w", l.dir, err)
	}
	return func() { f.Close() }, nil
}

// A recovery is what a crash left for the next writer to repair.
type recovery struct {
	tail       bool     // a partial record follows the complete ones
	hashesLen  int64    // length of the hashes file
	hashesKeep int64    // bytes of the hashes file that are right
	temps      []string // temporary checkpoint files
}

// load checks records, the records file from byte l.size on, and takes in
// its complete records; hashes is the hashes file from byte hoff on, hoff
// being a multiple of [tlog.HashSize] that it holds all of. If checkpoints
// is true, load also takes in the latest checkpoint. It changes no file, and
// if it fails, it leaves l as it was.
func (l *Log) load(records, hashes []byte, hoff int64, checkpoints bool) (recovery, error) {
	n0, h0, size0 := l.tree.n, len(l.tree.hashes), l.size
	fail := func(err error) (recovery, error) {
		l.tree.n, l.tree.hashes, l.size = n0, l.tree.hashes[:h0], size0
		return recovery{}, err
	}
	lines, tail := splitRecords(records)
	l.tree.hashes = slices.Grow(l.tree.hashes, 2*len(lines)+64)
	for i, line := range lines {
		if _, err := ParseRecord(line); err != nil {
			return fail(fmt.Errorf("audit log in %s is damaged: record %d: %w (run auditor verify; nothing was changed)", l.dir, n0+int64(i), err))
		}
		l.tree.add(tlog.RecordHash(line))
	}
	l.size += int64(len(records) - len(tail))
	fix := recovery{tail: len(tail) > 0, hashesLen: hoff + int64(len(hashes))}
	latest, ckpt := l.latest, l.ckpt
	if checkpoints {
		var err error
		if latest, ckpt, fix.temps, err = l.loadLatest(); err != nil {
			return fail(err)
		}
	}
	var err error
	if fix.hashesKeep, err = l.checkHashes(hashes, hoff); err != nil {
		return fail(err)
	}
	l.latest, l.ckpt = latest, ckpt
	return fix, nil
}

// recover repairs what load found a crash left. It runs with the lock held,
// when no other process can be writing.
func (l *Log) recover(fix recovery) error {
	if fix.tail {
		// A record is acknowledged only after its newline reached the disk,
		// so a record without one was never acknowledged.
		if err := l.records.Truncate(l.size); err != nil {
			return fmt.Errorf("failed to remove partial audit record: %w", err)
		}
		if err := l.records.Sync(); err != nil {
			return fmt.Errorf("failed to remove partial audit record: %w", err)
		}
	}
	keep := fix.hashesKeep
	if keep < fix.hashesLen || keep < int64(len(l.tree.hashes))*tlog.HashSize {
		if err := l.hashes.Truncate(keep); err != nil {
			return fmt.Errorf("failed to rebuild audit log hashes: %w", err)
		}
		if _, err := l.hashes.WriteAt(hashBytes(l.tree.hashes[keep/tlog.HashSize:]), keep); err != nil {
			return fmt.Errorf("failed to rebuild audit log hashes: %w", err)
		}
		if err := l.hashes.Sync(); err != nil {
			return fmt.Errorf("failed to rebuild audit log hashes: %w", err)
		}
	}
	if len(fix.temps) > 0 {
		cdir := filepath.Join(l.dir, checkpointsDir)
		for _, name := range fix.temps {
			// Left by a crash before the rename: never part of the log.
			if err := os.Remove(filepath.Join(cdir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("failed to remove partial audit checkpoint: %w", err)
			}
		}
		if err := atomicfile.SyncDir(cdir); err != nil {
			return err
		}
	}
	return nil
}

// catchUp takes in the records and checkpoints other processes added since
// this Log last held the lock, and repairs what a crash of one of them
// left. It runs with the lock held.
func (l *Log) catchUp(checkpoints bool) error {
	rfi, err := l.stillOpen(l.records, recordsFile)
	if err != nil {
		return err
	}
	hfi, err := l.stillOpen(l.hashes, hashesFile)
	if err != nil {
		return err
	}
	hoff := tlog.StoredHashCount(l.tree.n) * tlog.HashSize
	if rfi.Size() == l.size && hfi.Size() == hoff && !checkpoints {
		return nil // nothing happened since
	}
	if rfi.Size() < l.size {
		return fmt.Errorf("audit log in %s is damaged: its records file is shorter than the %d records it had: records were removed (run auditor verify)", l.dir, l.tree.n)
	}
	records := make([]byte, rfi.Size()-l.size)
	if _, err := l.records.ReadAt(records, l.size); err != nil {
		return fmt.Errorf("failed to read audit log records: %w", err)
	}
	if hfi.Size() < hoff {
		hoff = 0 // check it all: it was cut short behind this Log's back
	}
	hashes := make([]byte, hfi.Size()-hoff)
	if _, err := l.hashes.ReadAt(hashes, hoff); err != nil {
		return fmt.Errorf("failed to read audit log hashes: %w", err)
	}
	fix, err := l.load(records, hashes, hoff, checkpoints)
	if err != nil {
		return err
	}
	if err := l.recover(fix); err != nil {
		l.broken = err
		return err
	}
	return nil
}

// stillOpen returns the FileInfo of f, which must still be the file name of
// the log: one replaced behind the Log's back no longer receives the
// records that other processes append.
func (l *Log) stillOpen(f *os.File, name string) (fs.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to read audit log: %w", err)
	}
	pi, err := os.Stat(filepath.Join(l.dir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("failed to read audit log: %w", err)
	}
	if err != nil || !os.SameFile(fi, pi) {
		return nil, fmt.Errorf("the %s file of the audit log in %s was removed or replaced while the log was open; reopen the log", name, l.dir)
	}
	return fi, nil
}

// checkHashes checks the hashes file against the records and returns how
// many of its bytes to keep; the rest is rebuilt. data is the file from
// byte off on: the hashes before off were checked earlier. Only the hashes
// of the last commit may be missing or partly written after a crash: any
// other difference means the files were changed behind the log's back.
func (l *Log) checkHashes(data []byte, off int64) (keep int64, err error) {
	const hs = tlog.HashSize
	want := l.tree.hashes
	m := int64(len(want))
	total := off + int64(len(data))
	k := off / hs // leading hashes that agree
	for k < m && (k+1)*hs <= total && bytes.Equal(data[k*hs-off:(k+1)*hs-off], want[k][:]) {
		k++
	}
	if k == m && total == k*hs {
		return total, nil
	}
	damaged := func() (int64, error) {
		return 0, fmt.Errorf("audit log in %s is damaged: the hashes file disagrees with the records at stored hash %d; run auditor verify, and if the records are intact, move %s aside to rebuild it",
			l.dir, k, filepath.Join(l.dir, hashesFile))
	}
	if total > m*hs {
		return damaged()
	}
	// Missing hashes are rebuilt, and so are wrong ones where a crash can
	// leave them. A crash of the process cuts the last commit's write of
	// hashes short; the last record's hashes may be anything. A crash of
	// the machine may also keep some disk blocks of that write and lose
	// others, which then read as zeros: hashes are 32 bytes and blocks a
	// multiple of that, so each hash of the last commit, at most maxBatch
	// records, is right or zero.
	n := l.tree.n
	lastStart := tlog.StoredHashCount(max(n-1, 0))
	batchStart := tlog.StoredHashCount(max(n-maxBatch, 0))
	if k < batchStart {
		if total < (k+1)*hs { // cut short
			return k * hs, nil
		}
		return damaged()
	}
	for j := k; j < lastStart && (j+1)*hs <= total; j++ {
		if h := data[j*hs-off : (j+1)*hs-off]; !bytes.Equal(h, want[j][:]) && !allZero(h) {
			k = j
			return damaged()
		}
	}
	return k * hs, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// loadLatest reads the latest checkpoint and checks that it is ours and
// matches the records. It also returns the names of temporary files a crash
// left.
func (l *Log) loadLatest() (latest []byte, c Checkpoint, temps []string, err error) {
	cdir := filepath.Join(l.dir, checkpointsDir)
	entries, err := os.ReadDir(cdir)
	if err != nil {
		return nil, c, nil, fmt.Errorf("failed to read audit checkpoints: %w", err)
	}
	size := int64(-1)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") { // a temporary file of a write cut short
			temps = append(temps, name)
			continue
		}
		if n, ok := checkpointFileSize(name); ok {
			size = max(size, n)
		}
	}
	if l.latest != nil {
		switch {
		case size == l.ckpt.Size:
			return l.latest, l.ckpt, temps, nil // checked before
		case size < l.ckpt.Size:
			return nil, c, nil, fmt.Errorf("audit log in %s is damaged: its checkpoint %s was removed (run auditor verify)", l.dir, checkpointFileName(l.ckpt.Size))
		}
	}
	if size < 0 {
		return nil, c, temps, nil
	}
	name := checkpointFileName(size)
	msg, err := readLimited(filepath.Join(cdir, name), MaxCheckpointSize)
	if err != nil {
		return nil, c, nil, fmt.Errorf("failed to read audit checkpoint: %w", err)
	}
	c, _, err = openCheckpoint(msg, signerVerifiers{l.signer})
	if err != nil {
		return nil, c, nil, fmt.Errorf("audit log in %s is damaged: checkpoint %s is not signed by this log's key: %w (run auditor verify)", l.dir, name, err)
	}
	switch {
	case c.Origin != l.origin:
		return nil, c, nil, fmt.Errorf("audit log in %s belongs to %q, not %q", l.dir, c.Origin, l.origin)
	case c.Size != size:
		return nil, c, nil, fmt.Errorf("audit log in %s is damaged: checkpoint %s covers %d records", l.dir, name, c.Size)
	case c.Size > l.tree.n:
		return nil, c, nil, fmt.Errorf("audit log in %s is damaged: it has %d records but its latest checkpoint covers %d (run auditor verify)", l.dir, l.tree.n, c.Size)
	case l.tree.root(c.Size) != c.Hash:
		return nil, c, nil, fmt.Errorf("audit log in %s is damaged: its records do not match its latest checkpoint (run auditor verify)", l.dir)
	}
	return msg, c, temps, nil
}

func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Size returns the number of records in the log when this Log last opened,
// appended to or signed it: records other processes appended since are not
// counted until then.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tree.n
}

// Len returns the number of records in the log now, counting those other
// processes appended.
func (l *Log) Len() (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	unlock, err := l.lock()
	if err != nil {
		return 0, fmt.Errorf("failed to read audit log: %w", err)
	}
	defer unlock()
	if err := l.catchUp(false); err != nil {
		return 0, fmt.Errorf("failed to read audit log: %w", err)
	}
	return l.tree.n, nil
}

// Scan calls fn with the index and content of every record in the log, in
// order: every record any process had appended when Scan began. It stops at
// the first error fn returns, and returns it. Scan holds the lock only to
// learn the log's size, so writers are not held up while fn runs.
func (l *Log) Scan(fn func(index int64, r Record) error) error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	unlock, err := l.lock()
	if err != nil {
		l.mu.Unlock()
		return fmt.Errorf("failed to read audit log: %w", err)
	}
	err = l.catchUp(false)
	size, f := l.size, l.records
	unlock()
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("failed to read audit log: %w", err)
	}
	// Records before size never change: the log only grows.
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 64<<10)
	for i := int64(0); ; i++ {
		line, err := br.ReadSlice('\n')
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("failed to read audit log record %d: %w", i, err)
		}
		r, err := ParseRecord(line)
		if err != nil {
			return fmt.Errorf("audit log in %s is damaged: record %d: %w (run auditor verify)", l.dir, i, err)
		}
		if err := fn(i, r); err != nil {
			return err
		}
	}
}

// Append adds r to the log and returns its index, counting from 0. The
// record and its stored hashes are on disk (fsync) before Append returns;
// if Append fails, the record may or may not be in the log. Append waits up
// to 30 seconds for another process that is appending to the log.
//
// Concurrent appends share their commits (group commit): an Append that
// arrives while another one's records are being written waits for that
// commit to end, then is committed with every Append that arrived
// meanwhile, up to 256 records: one lock, one write and one fsync
// of the records, then one write and one fsync of their hashes, whatever
// their number. Records take their indexes in the order their appends
// joined the queue; a failure of the shared write or fsync fails every
// Append of the batch.
func (l *Log) Append(r Record) (index int64, err error) {
	text, err := r.MarshalText()
	if err != nil {
		return 0, fmt.Errorf("failed to append audit record: %w", err)
	}
	p := &pending{text: text, wake: make(chan struct{}, 1)}
	l.gmu.Lock()
	l.queue = append(l.queue, p)
	lead := !l.committing
	l.committing = true
	l.gmu.Unlock()
	if !lead {
		// Wait for the commit of p, or to lead the next one.
		<-p.wake
		l.gmu.Lock()
		done := p.done
		l.gmu.Unlock()
		if done {
			return p.index, p.err
		}
	}
	// p heads the queue, so the commit it leads includes it.
	l.lead()
	return p.index, p.err
}

// maxBatch bounds the records one commit writes: the hashes of at most this
// many records are in flight at a time, which bounds what a crash can leave
// unwritten (see checkHashes).
const maxBatch = 256

// A pending is the record of an Append, queued for a group commit. The
// commit sets its result and done, under gmu, then sends on wake; before,
// a send on wake may have asked it to lead that commit, and been received.
// So wake never holds more than one value, and sends never block.
type pending struct {
	text  []byte
	wake  chan struct{} // buffered: 1
	index int64
	err   error
	done  bool
}

// lead commits the oldest queued appends, up to maxBatch, and wakes them;
// then it hands the lead to the oldest append still queued, if any. The
// caller leads: l.committing is set, and no other commit runs.
func (l *Log) lead() {
	l.gmu.Lock()
	n := min(len(l.queue), maxBatch)
	batch := l.queue[:n:n]
	if n == len(l.queue) {
		l.queue = nil
	} else {
		l.queue = slices.Clone(l.queue[n:])
	}
	l.gmu.Unlock()
	committed := false
	defer func() {
		l.gmu.Lock()
		defer l.gmu.Unlock()
		for _, p := range batch {
			if !committed { // commit panicked
				p.index, p.err = 0, errors.New("failed to append audit record: the commit was interrupted")
			}
			p.done = true
			p.wake <- struct{}{}
		}
		if len(l.queue) > 0 {
			l.queue[0].wake <- struct{}{} // lead the next commit
		} else {
			l.committing = false
		}
	}()
	l.commit(batch)
	committed = true
}

// commit writes the records of batch and their hashes, durably, and sets
// the index or the error of each. It holds l.mu and the lock for the whole
// batch.
func (l *Log) commit(batch []*pending) {
	fail := func(err error) {
		for _, p := range batch {
			p.index, p.err = 0, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		fail(err)
		return
	}
	unlock, err := l.lock()
	if err != nil {
		fail(fmt.Errorf("failed to append audit record: %w", err))
		return
	}
	defer unlock()
	if err := l.catchUp(false); err != nil {
		fail(fmt.Errorf("failed to append audit record: %w", err))
		return
	}
	text := batch[0].text
	if len(batch) > 1 {
		size := 0
		for _, p := range batch {
			size += len(p.text)
		}
		text = make([]byte, 0, size)
		for _, p := range batch {
			text = append(text, p.text...)
		}
	}
	if _, err := l.records.Write(text); err != nil {
		// Remove what was written, so the next record starts on a line.
		if terr := l.records.Truncate(l.size); terr != nil {
			l.broken = fmt.Errorf("failed to remove a partial audit record: %w (after: %v)", terr, err)
		}
		fail(fmt.Errorf("failed to append audit record: %w", err))
		return
	}
	if err := syncFile(l.records); err != nil {
		// After a failed fsync the file's state is unknown: only reopening
		// tells what reached the disk.
		l.broken = fmt.Errorf("failed to append audit record: %w", err)
		fail(l.broken)
		return
	}
	first := l.tree.n
	off := tlog.StoredHashCount(first) * tlog.HashSize
	start := len(l.tree.hashes)
	for _, p := range batch {
		l.tree.add(tlog.RecordHash(p.text))
	}
	l.size += int64(len(text))
	if _, err := l.hashes.WriteAt(hashBytes(l.tree.hashes[start:]), off); err != nil {
		l.broken = hashesLost(first, l.tree.n, err)
		fail(l.broken)
		return
	}
	if err := syncFile(l.hashes); err != nil {
		l.broken = hashesLost(first, l.tree.n, err)
		fail(l.broken)
		return
	}
	coarsenTimes(filepath.Join(l.dir, recordsFile), filepath.Join(l.dir, hashesFile))
	for i, p := range batch {
		p.index = first + int64(i)
	}
	l.commits.Add(1)
}

// hashesLost is the error of a commit whose records from first to end
// (excluded) are on disk but whose hashes may not be.
func hashesLost(first, end int64, err error) error {
	if end-first == 1 {
		return fmt.Errorf("audit record %d was written but its hashes were not: %w", first, err)
	}
	return fmt.Errorf("audit records %d to %d were written but their hashes were not: %w", first, end-1, err)
}

// syncFile makes what was written to f durable. Tests replace it to make
// the fsyncs of a commit fail.
var syncFile = (*os.File).Sync

// coarsenTimes sets the modification and access times of paths to midnight
// UTC today, so that the files do not tell when the last record (say, a
// submission) arrived. It is best effort: the records hold the day anyway.
// The inode change time cannot be set; see SECURITY.md.
func coarsenTimes(paths ...string) {
	y, m, d := time.Now().UTC().Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	for _, p := range paths {
		os.Chtimes(p, midnight, midnight)
	}
}

// Checkpoint returns the latest signed checkpoint, first signing a new one
// over every record if the log grew since the latest one and either force is
// true (use it at export) or no checkpoint was signed on now's UTC day. The
// latest checkpoint is the latest any process signed. New checkpoints are
// stored in the log directory before Checkpoint returns. Checkpoint fails on
// an empty log.
func (l *Log) Checkpoint(now time.Time, force bool) (signed []byte, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return nil, err
	}
	unlock, err := l.lock()
	if err != nil {
		return nil, fmt.Errorf("failed to sign audit checkpoint: %w", err)
	}
	defer unlock()
	if err := l.catchUp(true); err != nil {
		return nil, fmt.Errorf("failed to sign audit checkpoint: %w", err)
	}
	n := l.tree.n
	if n == 0 {
		return nil, errors.New("failed to sign audit checkpoint: the log is empty")
	}
	day := dayOf(now)
	if l.latest != nil && (l.ckpt.Size == n || !force && l.ckpt.Day == day) {
		return bytes.Clone(l.latest), nil
	}
	c := Checkpoint{Origin: l.origin, Size: n, Hash: l.tree.root(n), Day: day}
	text, err := c.MarshalText()
	if err != nil {
		return nil, fmt.Errorf("failed to sign audit checkpoint: %w", err)
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("failed to sign audit checkpoint: %w", err)
	}
	if err := writeCheckpoint(filepath.Join(l.dir, checkpointsDir), n, msg); err != nil {
		return nil, err
	}
	l.latest, l.ckpt = msg, c
	return bytes.Clone(msg), nil
}

// Close closes the log. It is safe to call more than once.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.records == nil {
		return nil
	}
	err := l.closeFiles()
	if err != nil {
		return fmt.Errorf("failed to close audit log: %w", err)
	}
	return nil
}

func (l *Log) usable() error {
	if l.records == nil {
		return errors.New("audit log is closed")
	}
	if l.broken != nil {
		return fmt.Errorf("audit log must be reopened after an earlier failure: %w", l.broken)
	}
	return nil
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, f := range []*os.File{l.records, l.hashes} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	l.records, l.hashes = nil, nil
	return errors.Join(errs...)
}

// writeCheckpoint stores msg as the checkpoint of size n, atomically,
// with coarse times.
func writeCheckpoint(cdir string, n int64, msg []byte) error {
	path := filepath.Join(cdir, checkpointFileName(n))
	if err := atomicfile.WriteBytes(path, 0o600, msg); err != nil {
		return fmt.Errorf("failed to store audit checkpoint: %w", err)
	}
	coarsenTimes(path, cdir)
	return nil
}

func checkpointFileName(n int64) string { return fmt.Sprintf("%019d", n) }

// checkpointFileSize returns the tree size a checkpoint file name stands for.
func checkpointFileSize(name string) (int64, bool) {
	if len(name) != 19 || strings.TrimLeft(name, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(name, 10, 64)
	return n, err == nil
}

// splitRecords splits data into lines, each with its newline, and returns
// the bytes after the last newline separately.
func splitRecords(data []byte) (lines [][]byte, tail []byte) {
	lines = make([][]byte, 0, len(data)/128+1)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return lines, data
		}
		lines = append(lines, data[:i+1:i+1])
		data = data[i+1:]
	}
}

func hashBytes(hs []tlog.Hash) []byte {
	b := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w of %d bytes", path, errTooLarge, limit)
	}
	return b, nil
}

var errTooLarge = errors.New("larger than the limit")

// MaxLogFileSize bounds the records and hashes files Verify reads: about
// ten million records.
const MaxLogFileSize = 2 << 30

// readRegular reads a regular file of at most limit bytes. A log handed to
// an auditor is untrusted: a pipe, a device or a huge file must not hang or
// exhaust the auditor's machine.
func readRegular(path string, limit int64) ([]byte, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if info.Size() > limit {
		return nil, fmt.Errorf("%s: %w of %d bytes", path, errTooLarge, limit)
	}
	return readLimited(path, limit)
}

// signerVerifiers verifies signatures made by a deterministic signer by
// signing again and comparing: the writer of a log holds its signing key,
// not necessarily its verifier key.
type signerVerifiers struct{ s note.Signer }

func (v signerVerifiers) Verifier(name string, hash uint32) (note.Verifier, error) {
	if name != v.s.Name() || hash != v.s.KeyHash() {
		return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
	}
	return v, nil
}

func (v signerVerifiers) Name() string    { return v.s.Name() }
func (v signerVerifiers) KeyHash() uint32 { return v.s.KeyHash() }
func (v signerVerifiers) Verify(msg, sig []byte) bool {
	want, err := v.s.Sign(msg)
	return err == nil && bytes.Equal(want, sig)
}
