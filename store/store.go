// Package store keeps sealed envelopes on the intake server's disk until they
// are exported and, later, purged.
//
// Use [Open] on the server's store folder and [Store.Put] for every accepted
// submission. An export or a purge takes the store's exports lock with
// [Store.LockExports] and works on an [Export].
//
// # Layout
//
// The store holds only envelope bytes. The only metadata it keeps about an
// envelope is the UTC day it arrived, as the name of the folder it sits in:
//
//	DIR/inbox/YYYY-MM-DD/<id>                 stored, not yet exported
//	DIR/exports/.<export>/envelopes/DAY/<id>  taken by an export that has not committed
//	DIR/exports/<export>/envelopes/DAY/<id>   exported, until purged
//	DIR/exports/<export>/<name>               notes of the export's writer (manifests, ...)
//	DIR/journal                               a purge in progress, written by its caller
//	DIR/tmp/<random>                          an envelope being written where O_TMPFILE is missing
//	DIR/reserve                               space kept for the commands that free space
//	DIR/unconfirmed                           present while stored envelopes may lack their record
//	DIR/lock, DIR/exports.lock, DIR/gate.lock, DIR/inbox.lock   locks (flock), empty
//
// An envelope id, and an export id, is 26 characters of lowercase base32
// (a–z, 2–7) drawn from crypto/rand: 130 random bits, derived from nothing
// about the submission. Files are mode 0600 and folders 0700. The
// modification and access times of envelope files and of the folders
// holding them are set to midnight UTC of the arrival day, and those of the
// other folders to midnight UTC of the day they last changed, so they reveal
// no more than the folder names do. (The inode change time, ctime, cannot
// be set by any program and still records the precise time of the last
// change; mount the data directory on an encrypted volume and see
// SECURITY.md.)
//
// # Durability
//
// Put writes the envelope to an unnamed file, syncs it, links it into the
// inbox and syncs the inbox folder before it returns, so an envelope Put has
// acknowledged survives a crash or power loss, and an envelope it has not
// acknowledged leaves nothing behind: a reader never sees a partial file.
//
// # Exports
//
// An export moves envelopes with two renames, whatever their number, so
// that at every moment each envelope is in exactly one place and every
// export is either wholly done or wholly undone:
//
//  1. [Export.TakeInbox] renames the whole inbox into a new export folder,
//     exports/.<export>, and makes a fresh inbox. Puts wait for the
//     rename (a few milliseconds), and a Put never straddles it: Put holds
//     a shared lock from before it links the envelope until the link is
//     synced, and the rename takes it exclusively (with a gate that lets no
//     new Put in meanwhile, so that a stream of Puts cannot starve it).
//  2. The export's writer hashes and copies the envelopes and writes its
//     notes (the signed manifests) into the export folder.
//  3. [Export.Commit] renames exports/.<export> to exports/<export>: from then
//     on its envelopes are exported. A folder whose name starts with a dot
//     is an export that never committed: the next export or purge finds it
//     with [Exports.Interrupted] and rolls it back with [Export.RollBack],
//     which moves its envelopes back into the inbox.
//
// Several processes (the server, and an operator's export or purge) may have
// the same store open at once. Exports, purges and rollbacks exclude one
// another (the exports lock).
//
// # Space
//
// Put refuses an envelope, with an error wrapping [ErrLowDisk], when the file
// system would have less than [Options.MinFree] bytes free after storing it:
// the room left is for exports (their manifests), purges and the audit log,
// so that the commands that free space work when the store is full. The
// store also keeps a reserve file ([Options.Reserve] bytes) that those
// commands release with [Store.ReleaseReserve] when something else filled
// the disk; [Store.EnsureReserve] makes it again once there is room.
//
// # Confirmation
//
// The server records every stored envelope elsewhere (in the audit log),
// just after Put returns. A crash between the two leaves an envelope without
// its record. Before its first Put, a Store creates DIR/unconfirmed (synced);
// its user removes it with [Store.Confirm] once every envelope it put was
// recorded. If the file is there when the server starts, the previous server
// stopped before confirming, and [Walk] finds every envelope to check.
package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/testimony-project/testimony/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// ErrUnavailable is wrapped by every error [Store.Put] returns because the
// disk could not take the envelope: disk full, low disk, folder unwritable,
// I/O error. Nothing of the envelope remains on disk; the submitter should
// try later.
var ErrUnavailable = errors.New("store unavailable")

// ErrLowDisk is wrapped, with [ErrUnavailable], by the error [Store.Put]
// returns when storing the envelope would leave less free space than the
// low-disk watermark.
var ErrLowDisk = errors.New("disk space below the low-disk watermark")

// DayFormat is the layout, for [time.Time.Format], of [Entry.Day].
const DayFormat = "2006-01-02"

const (
	lockName      = "lock"
	exportsLock   = "exports.lock"
	gateLock      = "gate.lock"
	inboxLock     = "inbox.lock"
	tmpName       = "tmp"
	inboxName     = "inbox"
	exportsName   = "exports"
	envelopesName = "envelopes"
	reserveName   = "reserve"
	unconfirmed   = "unconfirmed"
	journalName   = "journal"
	idLen         = 26

	dirPerm  = 0o700
	filePerm = 0o600
)

// Store is an open ciphertext store. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	lock *os.File // flock LOCK_SH held until Close

	closed atomic.Bool
	puts   atomic.Int64 // envelopes this Store put

	exportMu sync.Mutex // serializes exports and purges within the process

	dayMu  sync.Mutex
	days   map[string]bool       // inbox day folders whose creation this process made durable
	groups map[string]*groupSync // group commits of folder syncs, by folder

	markMu sync.Mutex
	marked bool // DIR/unconfirmed exists, made by this Store

	lockMu    sync.Mutex
	lockFiles []putLocks // open lock files for Puts, reused
}

// Entry names one stored envelope.
type Entry struct {
	// ID is the envelope's random id: 26 characters of lowercase base32.
	ID string
	// Day is the UTC day the envelope arrived, formatted as [DayFormat].
	Day string
}

// Open opens the store in dir with default [Options]: see [OpenWith].
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenWith opens the store in dir, creating dir and its folders (mode 0700)
// if they do not exist and tightening their mode to 0700 if they do.
//
// If no other process has the store open, OpenWith removes the temporary
// files left by a crash. It writes nothing else, so it works on a full
// disk: commands that only read or free space need no room. A store that
// cannot take envelopes is reported by [Store.Put].
//
// The caller must call [Store.Close] when done.
func OpenWith(dir string, o Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store folder not set: pass the data folder")
	}
	for _, d := range []string{dir, filepath.Join(dir, tmpName), filepath.Join(dir, inboxName), filepath.Join(dir, exportsName)} {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return nil, fmt.Errorf("%w: failed to create store folder: %w", ErrUnavailable, err)
		}
		if err := os.Chmod(d, dirPerm); err != nil {
			return nil, fmt.Errorf("%w: failed to set mode of store folder: %w", ErrUnavailable, err)
		}
	}
	lock, err := openLockFile(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("%w: failed to open store lock: %w", ErrUnavailable, err)
	}
	// Only the sole user of the store may remove temporary files: another
	// process's may be in flight.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		if err := removeTemps(filepath.Join(dir, tmpName)); err != nil {
			lock.Close()
			return nil, err
		}
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
		lock.Close()
		return nil, fmt.Errorf("failed to lock store: %w", err)
	}
	return &Store{dir: dir, opts: o, lock: lock, days: map[string]bool{}}, nil
}

// coarsen sets the modification and access times of paths to midnight UTC
// today, best effort.
func coarsen(paths ...string) {
	today := midnightUTC(time.Now())
	for _, p := range paths {
		os.Chtimes(p, today, today)
	}
}

// openLockFile opens (creating it if needed) a lock file. On a full disk a
// lock file that already exists still opens.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, filePerm)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, filePerm)
		coarsen(path, filepath.Dir(path))
	}
	return f, err
}

// removeTemps removes every file in the temporary folder.
func removeTemps(tmp string) error {
	des, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("failed to list temporary files: %w", err)
	}
	for _, de := range des {
		if err := os.RemoveAll(filepath.Join(tmp, de.Name())); err != nil {
			return fmt.Errorf("failed to remove temporary file left by a crash: %w", err)
		}
	}
	if len(des) > 0 {
		coarsen(tmp)
		if err := atomicfile.SyncDir(tmp); err != nil {
			return fmt.Errorf("failed to sync temporary folder: %w", err)
		}
	}
	return nil
}

// Close releases the store. It does not wait for calls in progress.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.lockMu.Lock()
	for _, l := range s.lockFiles {
		l.gate.Close()
		l.inbox.Close()
	}
	s.lockFiles = nil
	s.lockMu.Unlock()
	return s.lock.Close()
}

// Dir returns the store's folder.
func (s *Store) Dir() string { return s.dir }

// newID returns a fresh random envelope id.
func newID() string {
	return strings.ToLower(rand.Text())
}

// Put stores envelope, which arrived at now, under a fresh random id, and
// returns the id. When Put returns nil the envelope is on disk and survives
// a crash.
//
// If the disk cannot take the envelope, Put returns an error wrapping
// [ErrUnavailable] (and [ErrLowDisk] if it would go below the low-disk
// watermark), and nothing of the envelope remains on disk.
func (s *Store) Put(envelope []byte, now time.Time) (id string, err error) {
	if len(envelope) == 0 {
		return "", errors.New("empty envelope: nothing to store")
	}
	if s.closed.Load() {
		return "", fmt.Errorf("%w: store is closed", ErrUnavailable)
	}
	if err := s.checkSpace(int64(len(envelope))); err != nil {
		return "", err
	}
	if err := s.markUnconfirmed(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// An export may not take the inbox while an envelope is on its way in.
	unlock, err := s.lockInbox()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer unlock()

	midnight := midnightUTC(now)
	day := midnight.Format(DayFormat)
	tmpDir := filepath.Join(s.dir, tmpName)

	// The envelope is written to an unnamed file (O_TMPFILE), synced, and
	// only then linked into the inbox: a crash at any point leaves either
	// nothing or the whole envelope, and the kernel frees an unlinked file by
	// itself. Where the file system lacks O_TMPFILE, a named temporary file
	// and a rename do the same.
	dayDir := filepath.Join(s.dir, inboxName, day)
	if err := s.ensureInboxDay(day, midnight); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// The unnamed file is made in the day folder, whose times the sync
	// below resets anyway.
	f, named, err := createTemp(dayDir, tmpDir)
	if err != nil {
		return "", fmt.Errorf("%w: failed to create envelope file: %w", ErrUnavailable, err)
	}
	committed := false
	defer func() {
		f.Close()
		if !committed && named {
			os.Remove(f.Name())
			os.Chtimes(tmpDir, midnight, midnight)
		}
	}()
	if _, err := f.Write(envelope); err != nil {
		return "", fmt.Errorf("%w: failed to write envelope file: %w", ErrUnavailable, err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(midnight.UnixNano()), unix.NsecToTimespec(midnight.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, fdPath(f), ts, 0); err != nil {
		return "", fmt.Errorf("%w: failed to set envelope file times: %w", ErrUnavailable, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("%w: failed to sync envelope file: %w", ErrUnavailable, err)
	}

	id = newID()
	final := filepath.Join(dayDir, id)
	if named {
		err = os.Rename(f.Name(), final)
	} else {
		err = unix.Linkat(unix.AT_FDCWD, fdPath(f), unix.AT_FDCWD, final, unix.AT_SYMLINK_FOLLOW)
	}
	if err != nil {
		return "", fmt.Errorf("%w: failed to move envelope file into inbox: %w", ErrUnavailable, err)
	}
	committed = true
	// One sync of the day folder makes every envelope linked into it
	// before the sync began durable, so concurrent puts share it.
	if err := s.syncGroup(dayDir).sync(func() error {
		if err := os.Chtimes(dayDir, midnight, midnight); err != nil {
			return fmt.Errorf("failed to set inbox folder times: %w", err)
		}
		return atomicfile.SyncDir(dayDir)
	}); err != nil {
		// The envelope may not survive a crash, and the submitter will be
		// told it was not saved: remove it so a retry does not duplicate it.
		os.Remove(final)
		return "", fmt.Errorf("%w: failed to sync inbox folder: %w", ErrUnavailable, err)
	}
	if named {
		os.Chtimes(tmpDir, midnight, midnight)
	}
	s.puts.Add(1)
	return id, nil
}

// Puts returns how many envelopes this Store has put.
func (s *Store) Puts() int64 { return s.puts.Load() }

// markUnconfirmed makes DIR/unconfirmed exist, durably, before this Store's
// first envelope goes in.
func (s *Store) markUnconfirmed() error {
	s.markMu.Lock()
	defer s.markMu.Unlock()
	if s.marked {
		return nil
	}
	path := filepath.Join(s.dir, unconfirmed)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, filePerm)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", path, err)
	}
	f.Close()
	coarsen(path, s.dir)
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return err
	}
	s.marked = true
	return nil
}

// Unconfirmed reports whether DIR/unconfirmed exists: whether a Store put
// envelopes and was not closed with every one of them confirmed.
func (s *Store) Unconfirmed() bool {
	_, err := os.Lstat(filepath.Join(s.dir, unconfirmed))
	return err == nil
}

// Confirm says that every envelope in the store has been recorded: it
// removes DIR/unconfirmed. The next Put makes it again. Call it only when
// no Put is in progress in any process (for example, from the server with
// its serve lock, once it stopped taking submissions).
func (s *Store) Confirm() error {
	s.markMu.Lock()
	defer s.markMu.Unlock()
	err := os.Remove(filepath.Join(s.dir, unconfirmed))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to confirm the store: %w", err)
	}
	s.marked = false
	coarsen(s.dir)
	return atomicfile.SyncDir(s.dir)
}

// putLocks are one Put's own open files of the gate and inbox locks: flock
// locks belong to an open file, so concurrent Puts need one each.
type putLocks struct{ gate, inbox *os.File }

// lockInbox takes the inbox lock shared, through the gate, and returns the
// function that releases it.
func (s *Store) lockInbox() (unlock func(), err error) {
	s.lockMu.Lock()
	var l putLocks
	if n := len(s.lockFiles); n > 0 {
		l, s.lockFiles = s.lockFiles[n-1], s.lockFiles[:n-1]
	}
	s.lockMu.Unlock()
	if l.gate == nil {
		if l.gate, err = openLockFile(filepath.Join(s.dir, gateLock)); err != nil {
			return nil, fmt.Errorf("failed to open inbox lock: %w", err)
		}
		if l.inbox, err = openLockFile(filepath.Join(s.dir, inboxLock)); err != nil {
			l.gate.Close()
			return nil, fmt.Errorf("failed to open inbox lock: %w", err)
		}
	}
	release := func() {
		s.lockMu.Lock()
		defer s.lockMu.Unlock()
		if s.closed.Load() {
			l.gate.Close()
			l.inbox.Close()
			return
		}
		s.lockFiles = append(s.lockFiles, l)
	}
	if err := flock(l.gate, syscall.LOCK_SH); err != nil {
		release()
		return nil, fmt.Errorf("failed to lock inbox: %w", err)
	}
	err = flock(l.inbox, syscall.LOCK_SH)
	flock(l.gate, syscall.LOCK_UN)
	if err != nil {
		release()
		return nil, fmt.Errorf("failed to lock inbox: %w", err)
	}
	return func() {
		flock(l.inbox, syscall.LOCK_UN)
		release()
	}, nil
}

// lockInboxExclusive keeps every Put out of the inbox until unlock: it
// closes the gate to new Puts, then waits for those in progress.
func (s *Store) lockInboxExclusive() (unlock func(), err error) {
	gate, err := openLockFile(filepath.Join(s.dir, gateLock))
	if err != nil {
		return nil, fmt.Errorf("failed to open inbox lock: %w", err)
	}
	inbox, err := openLockFile(filepath.Join(s.dir, inboxLock))
	if err != nil {
		gate.Close()
		return nil, fmt.Errorf("failed to open inbox lock: %w", err)
	}
	if err := flock(gate, syscall.LOCK_EX); err != nil {
		gate.Close()
		inbox.Close()
		return nil, fmt.Errorf("failed to lock inbox: %w", err)
	}
	if err := flock(inbox, syscall.LOCK_EX); err != nil {
		gate.Close()
		inbox.Close()
		return nil, fmt.Errorf("failed to lock inbox: %w", err)
	}
	return func() { inbox.Close(); gate.Close() }, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// createTemp opens an unnamed file in dir (O_TMPFILE), or, where the file
// system cannot, a named temporary file in fallback; named says which.
func createTemp(dir, fallback string) (f *os.File, named bool, err error) {
	if !forceNamedTemp {
		f, err = os.OpenFile(dir, unix.O_TMPFILE|os.O_WRONLY, filePerm)
		if err == nil {
			return f, false, nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
			return nil, false, err
		}
	}
	f, err = os.CreateTemp(fallback, "put-")
	return f, true, err
}

// forceNamedTemp makes createTemp skip O_TMPFILE, for tests of the
// fallback.
var forceNamedTemp = false

// fdPath names an open file through /proc, for calls that need a path.
func fdPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// syncGroup returns the group commit of the folder dir.
func (s *Store) syncGroup(dir string) *groupSync {
	s.dayMu.Lock()
	defer s.dayMu.Unlock()
	if s.groups == nil {
		s.groups = map[string]*groupSync{}
	}
	g := s.groups[dir]
	if g == nil {
		g = &groupSync{}
		g.cond = sync.NewCond(&g.mu)
		s.groups[dir] = g
	}
	return g
}

// groupSync runs one sync for every caller that arrived before it began:
// a caller that arrives while a sync runs waits for the next one, since the
// running one may have missed its change.
type groupSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	next    uint64 // generation of the next sync to start
	done    uint64 // generations below this have finished
	running bool
	err     error  // of the latest finished sync
	errGen  uint64 // its generation
}

func (g *groupSync) sync(fn func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	ticket := g.next
	for g.done <= ticket {
		if g.running {
			g.cond.Wait()
			continue
		}
		gen := g.next
		g.next++
		g.running = true
		g.mu.Unlock()
		err := fn()
		g.mu.Lock()
		g.running = false
		g.done = gen + 1
		g.err, g.errGen = err, gen
		g.cond.Broadcast()
	}
	// The sync that covered us is the first one started at or after our
	// ticket; later ones only cover more. If it failed, report it.
	if g.errGen >= ticket && g.err != nil {
		return g.err
	}
	return nil
}

// ensureInboxDay makes the inbox folder for day if it does not exist, and
// makes sure its entry in the inbox is durable before any envelope is put in
// it: syncing the day folder alone after a link does not make the day
// folder's own entry durable. The caller holds the inbox lock, so the
// folder stays until the caller's envelope is in it.
func (s *Store) ensureInboxDay(day string, midnight time.Time) error {
	s.dayMu.Lock()
	defer s.dayMu.Unlock()
	dayDir := filepath.Join(s.dir, inboxName, day)
	if s.days[day] {
		// An export may have taken the inbox since.
		if _, err := os.Lstat(dayDir); err == nil {
			return nil
		}
		delete(s.days, day)
	}
	inbox := filepath.Join(s.dir, inboxName)
	if _, err := os.Lstat(inbox); errors.Is(err, fs.ErrNotExist) {
		// An export that crashed after taking the inbox left none.
		if err := os.Mkdir(inbox, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("failed to create inbox: %w", err)
		}
		if err := atomicfile.SyncDir(s.dir); err != nil {
			return err
		}
	}
	err := os.Mkdir(dayDir, dirPerm)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("failed to create day folder: %w", err)
	}
	if err == nil {
		os.Chtimes(dayDir, midnight, midnight)
		os.Chtimes(inbox, midnight, midnight)
	}
	// Sync even if the folder existed: whoever made it may have crashed
	// before syncing.
	if err := atomicfile.SyncDir(inbox); err != nil {
		return fmt.Errorf("failed to sync inbox folder: %w", err)
	}
	s.days[day] = true
	return nil
}

// Pending returns the envelopes not yet exported, sorted by day, then id.
// It holds them all in memory: for tests and small stores. Exports stream
// with [Export.Walk].
//
// It returns an error naming any file in the inbox that the store did not
// put there, rather than skip it.
func (s *Store) Pending() ([]Entry, error) {
	var es []Entry
	err := walkArea(filepath.Join(s.dir, inboxName), func(e Entry, _ string, _ int64) error {
		es = append(es, e)
		return nil
	})
	sortEntries(es)
	return es, err
}

// HasPending reports whether the inbox holds an envelope.
func (s *Store) HasPending() (bool, error) {
	found := errors.New("found")
	err := walkArea(filepath.Join(s.dir, inboxName), func(Entry, string, int64) error { return found })
	if err == found {
		return true, nil
	}
	return false, err
}

// Read returns the envelope e names, whether pending or exported.
func (s *Store) Read(e Entry) ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	paths := []string{filepath.Join(s.dir, inboxName, e.Day, e.ID)}
	des, err := os.ReadDir(filepath.Join(s.dir, exportsName))
	if err != nil {
		return nil, fmt.Errorf("failed to list exports: %w", err)
	}
	for _, de := range des {
		paths = append(paths, filepath.Join(s.dir, exportsName, de.Name(), envelopesName, e.Day, e.ID))
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read envelope %s/%s: %w", e.Day, e.ID, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("envelope %s/%s not found: %w", e.Day, e.ID, fs.ErrNotExist)
}

func (e Entry) check() error {
	if !validID(e.ID) {
		return fmt.Errorf("malformed envelope id %q: want 26 characters of a-z and 2-7", e.ID)
	}
	if !validDay(e.Day) {
		return fmt.Errorf("malformed day %q: want YYYY-MM-DD", e.Day)
	}
	return nil
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

func validDay(day string) bool {
	t, err := time.Parse(DayFormat, day)
	return err == nil && t.Format(DayFormat) == day
}

func midnightUTC(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
