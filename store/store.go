// Package store keeps sealed envelopes on the intake server's disk until they
// are exported.
//
// Use [Open] on the server's data directory, [Store.Put] for every accepted
// submission, and [Store.Pending], [Store.Read], [Store.MarkExported] and
// [Store.PurgeExported] to export and later remove them.
//
// # Layout
//
// The store holds only envelope bytes. The only metadata it keeps is the UTC
// day each envelope arrived, as the name of the folder it sits in:
//
//	DIR/lock                    held (flock) by every process that has the store open
//	DIR/tmp/<random>            an envelope being written; removed by Open after a crash
//	DIR/inbox/YYYY-MM-DD/<id>   stored, not yet exported
//	DIR/exported/YYYY-MM-DD/<id> exported, waiting for PurgeExported
//
// An id is 26 characters of lowercase base32 (a–z, 2–7) drawn from
// crypto/rand: 130 random bits, derived from nothing about the submission.
// Files are mode 0600 and folders 0700. The modification and access times of
// envelope files and of the folders holding them are set to midnight UTC of
// the arrival day, so they reveal no more than the folder name does. (The
// inode change time, ctime, cannot be set by any program and still records
// the precise time of the last change; mount the data directory on an
// encrypted volume and see SECURITY.md.)
//
// # Durability
//
// Put writes the envelope to a temporary file, syncs it, renames it into the
// inbox and syncs the inbox folder before it returns, so an envelope Put has
// acknowledged survives a crash or power loss, and an envelope it has not
// acknowledged leaves nothing behind: a reader never sees a partial file.
// MarkExported moves envelopes with rename, so each envelope is at every
// moment either pending or exported, never both or neither.
//
// Several processes (the server, and an operator's export or purge) may have
// the same store open at once. Exports and purges exclude one another.
package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"golang.org/x/sys/unix"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrUnavailable is wrapped by every error [Store.Put] returns because the
// disk could not take the envelope: disk full, folder unwritable, I/O error.
// Nothing of the envelope remains on disk; the submitter should try later.
var ErrUnavailable = errors.New("store unavailable")

// DayFormat is the layout, for [time.Time.Format], of [Entry.Day].
const DayFormat = "2006-01-02"

const (
	lockName     = "lock"
	exportLock   = "export.lock"
	tmpName      = "tmp"
	inboxName    = "inbox"
	exportedName = "exported"
	idLen        = 26

	dirPerm  = 0o700
	filePerm = 0o600
)

// Store is an open ciphertext store. It is safe for concurrent use.
type Store struct {
	dir  string
	lock *os.File // flock LOCK_SH held until Close

	closed atomic.Bool

	exportMu sync.Mutex // serializes exports and purges within the process

	dayMu  sync.Mutex
	days   map[string]bool       // inbox day folders whose creation this process made durable
	groups map[string]*groupSync // group commits of folder syncs, by folder
}

// Entry names one stored envelope.
type Entry struct {
	// ID is the envelope's random id: 26 characters of lowercase base32.
	ID string
	// Day is the UTC day the envelope arrived, formatted as [DayFormat].
	Day string
}

// Open opens the store in dir, creating dir and its folders (mode 0700) if
// they do not exist and tightening their mode to 0700 if they do.
//
// If no other process has the store open, Open removes the temporary files
// left by a crash. It then checks that the store is writable by creating,
// syncing and removing a file, and returns an error wrapping [ErrUnavailable]
// if it is not.
//
// The caller must call [Store.Close] when done.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store folder not set: pass the data folder")
	}
	for _, d := range []string{dir, filepath.Join(dir, tmpName), filepath.Join(dir, inboxName), filepath.Join(dir, exportedName)} {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return nil, fmt.Errorf("%w: failed to create store folder: %w", ErrUnavailable, err)
		}
		if err := os.Chmod(d, dirPerm); err != nil {
			return nil, fmt.Errorf("%w: failed to set mode of store folder: %w", ErrUnavailable, err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, filePerm)
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
	s := &Store{dir: dir, lock: lock, days: map[string]bool{}}
	if err := s.probe(); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
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
		if err := atomicfile.SyncDir(tmp); err != nil {
			return fmt.Errorf("failed to sync temporary folder: %w", err)
		}
	}
	return nil
}

// probe checks the store can take a file.
func (s *Store) probe() error {
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpName), "probe-")
	if err != nil {
		return fmt.Errorf("%w: store folder is not writable: %w", ErrUnavailable, err)
	}
	name := f.Name()
	_, err = f.Write([]byte("probe"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("%w: store folder is not writable: %w", ErrUnavailable, err)
	}
	// The probe changed the folder's times: keep them coarse.
	midnight := midnightUTC(time.Now())
	os.Chtimes(filepath.Join(s.dir, tmpName), midnight, midnight)
	return nil
}

// Close releases the store. It does not wait for calls in progress.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.lock.Close()
}

// newID returns a fresh random envelope id.
func newID() string {
	return strings.ToLower(rand.Text())
}

// Put stores envelope, which arrived at now, under a fresh random id, and
// returns the id. When Put returns nil the envelope is on disk and survives
// a crash.
//
// If the disk cannot take the envelope, Put returns an error wrapping
// [ErrUnavailable], and nothing of the envelope remains on disk.
func (s *Store) Put(envelope []byte, now time.Time) (id string, err error) {
	if len(envelope) == 0 {
		return "", errors.New("empty envelope: nothing to store")
	}
	if s.closed.Load() {
		return "", fmt.Errorf("%w: store is closed", ErrUnavailable)
	}
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
	// PurgeExported, perhaps in another process, removes empty inbox day
	// folders older than yesterday; if the clock jumped and it removed ours,
	// make it again.
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := s.ensureInboxDay(day, midnight); err != nil {
				return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
		if named {
			err = os.Rename(f.Name(), final)
		} else {
			err = unix.Linkat(unix.AT_FDCWD, fdPath(f), unix.AT_FDCWD, final, unix.AT_SYMLINK_FOLLOW)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return "", fmt.Errorf("%w: failed to move envelope file into inbox: %w", ErrUnavailable, err)
		}
		s.dayMu.Lock()
		delete(s.days, day)
		s.dayMu.Unlock()
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
	return id, nil
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
// it: syncing the day folder alone after a rename does not make the day
// folder's own entry durable.
func (s *Store) ensureInboxDay(day string, midnight time.Time) error {
	s.dayMu.Lock()
	defer s.dayMu.Unlock()
	if s.days[day] {
		return nil
	}
	if err := s.makeDayDir(inboxName, day, midnight); err != nil {
		return err
	}
	// Sync even if the folder existed: whoever made it may have crashed
	// before syncing.
	if err := atomicfile.SyncDir(filepath.Join(s.dir, inboxName)); err != nil {
		return fmt.Errorf("failed to sync inbox folder: %w", err)
	}
	s.days[day] = true
	return nil
}

// makeDayDir makes DIR/<area>/<day> if it does not exist. The caller must
// sync DIR/<area>.
func (s *Store) makeDayDir(area, day string, midnight time.Time) error {
	areaDir := filepath.Join(s.dir, area)
	dayDir := filepath.Join(areaDir, day)
	err := os.Mkdir(dayDir, dirPerm)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to create day folder: %w", err)
	}
	if err := os.Chtimes(dayDir, midnight, midnight); err != nil {
		return fmt.Errorf("failed to set day folder times: %w", err)
	}
	if err := os.Chtimes(areaDir, midnight, midnight); err != nil {
		return fmt.Errorf("failed to set %s folder times: %w", area, err)
	}
	return nil
}

// Pending returns the envelopes not yet exported, sorted by day, then id.
//
// It returns an error naming any file in the inbox that the store did not
// put there, rather than skip it.
func (s *Store) Pending() ([]Entry, error) {
	return s.list(inboxName)
}

func (s *Store) list(area string) ([]Entry, error) {
	areaDir := filepath.Join(s.dir, area)
	days, err := os.ReadDir(areaDir)
	if err != nil {
		return nil, fmt.Errorf("failed to list %s: %w", area, err)
	}
	var es []Entry
	for _, d := range days {
		if !d.IsDir() || !validDay(d.Name()) {
			return nil, fmt.Errorf("unexpected file %q in %s: the store only keeps day folders there; move it out of %s", d.Name(), area, areaDir)
		}
		ids, err := os.ReadDir(filepath.Join(areaDir, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("failed to list %s/%s: %w", area, d.Name(), err)
		}
		for _, f := range ids {
			if !f.Type().IsRegular() || !validID(f.Name()) {
				return nil, fmt.Errorf("unexpected file %q in %s/%s: the store only keeps envelopes there; move it out of %s", f.Name(), area, d.Name(), areaDir)
			}
			es = append(es, Entry{ID: f.Name(), Day: d.Name()})
		}
	}
	// ReadDir sorts by name, so es is sorted by day, then id.
	return es, nil
}

// Read returns the envelope e names, whether pending or exported.
func (s *Store) Read(e Entry) ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir, inboxName, e.Day, e.ID))
	if errors.Is(err, fs.ErrNotExist) {
		b, err = os.ReadFile(filepath.Join(s.dir, exportedName, e.Day, e.ID))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("envelope %s/%s not found: %w", e.Day, e.ID, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read envelope %s/%s: %w", e.Day, e.ID, err)
	}
	return b, nil
}

// MarkExported moves the envelopes es from the inbox to the exported area,
// where [Store.Read] still finds them and [Store.PurgeExported] removes them.
// An entry already exported is left as it is. The moves are durable when
// MarkExported returns; if it returns an error, some entries may have moved
// and the others not, and calling it again with the same entries completes
// the move.
func (s *Store) MarkExported(es []Entry) error {
	for _, e := range es {
		if err := e.check(); err != nil {
			return err
		}
	}
	unlock, err := s.exportLock()
	if err != nil {
		return err
	}
	defer unlock()

	days := map[string]bool{}
	for _, e := range es {
		days[e.Day] = true
	}
	for day := range days {
		midnight, _ := time.Parse(DayFormat, day)
		if err := s.makeDayDir(exportedName, day, midnight); err != nil {
			return err
		}
	}
	if err := atomicfile.SyncDir(filepath.Join(s.dir, exportedName)); err != nil {
		return fmt.Errorf("failed to sync exported folder: %w", err)
	}

	touched := map[string]bool{} // days whose folders need times reset and sync
	var firstErr error
	for _, e := range es {
		from := filepath.Join(s.dir, inboxName, e.Day, e.ID)
		to := filepath.Join(s.dir, exportedName, e.Day, e.ID)
		if err := os.Rename(from, to); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if _, serr := os.Lstat(to); serr == nil {
					// Moved by an earlier call that may have crashed
					// before syncing: sync it now.
					touched[e.Day] = true
					continue
				}
				firstErr = fmt.Errorf("envelope %s/%s not found in inbox", e.Day, e.ID)
			} else {
				firstErr = fmt.Errorf("failed to mark envelope %s/%s exported: %w", e.Day, e.ID, err)
			}
			break
		}
		touched[e.Day] = true
	}
	// Make every move done so far durable, even after an error.
	for _, day := range slices.Sorted(maps.Keys(touched)) {
		midnight, _ := time.Parse(DayFormat, day)
		for _, area := range []string{inboxName, exportedName} {
			d := filepath.Join(s.dir, area, day)
			if err := os.Chtimes(d, midnight, midnight); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("failed to set %s/%s folder times: %w", area, day, err)
			}
			if err := atomicfile.SyncDir(d); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("failed to sync %s/%s folder: %w", area, day, err)
			}
		}
	}
	return firstErr
}

// PurgeExported removes every exported envelope and returns how many it
// removed. It also removes the day folders left empty in the exported area,
// and those in the inbox older than yesterday (UTC), so the folders left
// reveal no more than the envelopes still stored. Pending envelopes are
// never touched.
func (s *Store) PurgeExported() (n int, err error) {
	unlock, err := s.exportLock()
	if err != nil {
		return 0, err
	}
	defer unlock()

	es, err := s.list(exportedName)
	if err != nil {
		return 0, err
	}
	purged := map[string]bool{}
	for _, e := range es {
		if err := os.Remove(filepath.Join(s.dir, exportedName, e.Day, e.ID)); err != nil {
			return n, fmt.Errorf("failed to remove exported envelope %s/%s: %w", e.Day, e.ID, err)
		}
		purged[e.Day] = true
		n++
	}
	// Removing changed the folders' times: keep them at midnight of the day
	// they stand for, as Put does.
	for day := range purged {
		midnight, _ := time.Parse(DayFormat, day)
		os.Chtimes(filepath.Join(s.dir, exportedName, day), midnight, midnight)
	}
	// A Put may be about to move an envelope into today's inbox folder (or,
	// just after midnight, yesterday's): leave those.
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(DayFormat)
	for _, area := range []string{exportedName, inboxName} {
		areaDir := filepath.Join(s.dir, area)
		days, err := os.ReadDir(areaDir)
		if err != nil {
			return n, fmt.Errorf("failed to list %s: %w", area, err)
		}
		for _, d := range days {
			if !d.IsDir() || !validDay(d.Name()) || area == inboxName && d.Name() >= yesterday {
				continue
			}
			// Remove fails, harmlessly, on a folder that is not empty.
			os.Remove(filepath.Join(areaDir, d.Name()))
		}
		today := midnightUTC(time.Now())
		os.Chtimes(areaDir, today, today)
		if err := atomicfile.SyncDir(areaDir); err != nil {
			return n, fmt.Errorf("failed to sync %s folder: %w", area, err)
		}
	}
	return n, nil
}

// exportLock excludes other exports and purges, in this process and others.
func (s *Store) exportLock() (unlock func(), err error) {
	if s.closed.Load() {
		return nil, errors.New("store is closed")
	}
	s.exportMu.Lock()
	f, err := os.OpenFile(filepath.Join(s.dir, exportLock), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		s.exportMu.Unlock()
		return nil, fmt.Errorf("failed to open export lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		s.exportMu.Unlock()
		return nil, fmt.Errorf("failed to take export lock: %w", err)
	}
	return func() {
		f.Close()
		s.exportMu.Unlock()
	}, nil
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
