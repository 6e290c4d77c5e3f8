package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/testimony-project/testimony/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// Exports is the store's exports, locked: one export, purge or rollback at
// a time, in every process.
type Exports struct {
	s      *Store
	unlock func()
}

// LockExports takes the exports lock, waiting for another export or purge
// to finish, and returns the store's exports. The caller must Close it.
func (s *Store) LockExports() (*Exports, error) {
	if s.closed.Load() {
		return nil, errors.New("store is closed")
	}
	s.exportMu.Lock()
	f, err := openLockFile(filepath.Join(s.dir, exportsLock))
	if err != nil {
		s.exportMu.Unlock()
		return nil, fmt.Errorf("failed to open exports lock: %w", err)
	}
	if err := flock(f, syscall.LOCK_EX); err != nil {
		f.Close()
		s.exportMu.Unlock()
		return nil, fmt.Errorf("failed to take exports lock: %w", err)
	}
	return &Exports{s: s, unlock: func() { f.Close(); s.exportMu.Unlock() }}, nil
}

// Close releases the exports lock.
func (x *Exports) Close() error {
	if x.unlock != nil {
		x.unlock()
		x.unlock = nil
	}
	return nil
}

func (x *Exports) dir() string { return filepath.Join(x.s.dir, exportsName) }

// List returns the ids of the committed exports and of those interrupted
// before they committed, each in the order of their ids (which are random:
// not the order they ran in).
func (x *Exports) List() (committed, interrupted []string, err error) {
	des, err := os.ReadDir(x.dir())
	if err != nil {
		return nil, nil, fmt.Errorf("failed to list exports: %w", err)
	}
	for _, de := range des {
		id, dot := strings.CutPrefix(de.Name(), ".")
		if !de.IsDir() || !validID(id) {
			return nil, nil, fmt.Errorf("unexpected file %q in %s: the store only keeps export folders there", de.Name(), x.dir())
		}
		if dot {
			interrupted = append(interrupted, id)
		} else {
			committed = append(committed, id)
		}
	}
	return committed, interrupted, nil
}

// Begin starts an export with a fresh random id: an empty export folder,
// not committed.
func (x *Exports) Begin() (*Export, error) {
	e := &Export{x: x, ID: newID()}
	if err := os.Mkdir(e.dir(), dirPerm); err != nil {
		return nil, fmt.Errorf("failed to start an export: %w", err)
	}
	today := midnightUTC(time.Now())
	os.Chtimes(e.dir(), today, today)
	os.Chtimes(x.dir(), today, today)
	if err := atomicfile.SyncDir(x.dir()); err != nil {
		os.Remove(e.dir())
		return nil, fmt.Errorf("failed to start an export: %w", err)
	}
	return e, nil
}

// Get returns the export with id id, committed or not.
func (x *Exports) Get(id string) (*Export, error) {
	if !validID(id) {
		return nil, fmt.Errorf("malformed export id %q", id)
	}
	for _, committed := range []bool{true, false} {
		e := &Export{x: x, ID: id, committed: committed}
		if fi, err := os.Lstat(e.dir()); err == nil && fi.IsDir() {
			return e, nil
		}
	}
	return nil, fmt.Errorf("no export %s in the store: %w", id, fs.ErrNotExist)
}

// WriteJournal stores data as the store's journal, durably: a note for the
// caller's own crash recovery (a purge in progress), read back with
// [Exports.ReadJournal].
func (x *Exports) WriteJournal(data []byte) error {
	return writeNote(x.s.dir, journalName, data)
}

// ReadJournal returns the journal, or nil if there is none.
func (x *Exports) ReadJournal() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(x.s.dir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// RemoveJournal removes the journal, durably.
func (x *Exports) RemoveJournal() error {
	if err := os.Remove(filepath.Join(x.s.dir, journalName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove the store's journal: %w", err)
	}
	coarsen(x.s.dir)
	return atomicfile.SyncDir(x.s.dir)
}

// An Export is one export's folder: the envelopes it took, and its writer's
// notes. Use it only while the [Exports] it came from is open.
type Export struct {
	x         *Exports
	ID        string
	committed bool
}

// Committed reports whether the export committed.
func (e *Export) Committed() bool { return e.committed }

func (e *Export) dir() string {
	name := e.ID
	if !e.committed {
		name = "." + name
	}
	return filepath.Join(e.x.dir(), name)
}

func (e *Export) envelopes() string { return filepath.Join(e.dir(), envelopesName) }

// TakeInbox moves every pending envelope into the export, with one rename
// of the inbox folder, and makes a new, empty inbox. Puts in progress
// finish first, and new ones wait for the rename.
func (e *Export) TakeInbox() error {
	if e.committed {
		return errors.New("export already committed")
	}
	if _, err := os.Lstat(e.envelopes()); err == nil {
		return errors.New("export already took the inbox")
	}
	unlock, err := e.x.s.lockInboxExclusive()
	if err != nil {
		return err
	}
	defer unlock()
	inbox := filepath.Join(e.x.s.dir, inboxName)
	if err := os.Rename(inbox, e.envelopes()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to take the inbox: %w", err)
	}
	err = os.Mkdir(inbox, dirPerm)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("failed to make a new inbox: %w", err)
	}
	today := midnightUTC(time.Now())
	os.Chtimes(inbox, today, today)
	os.Chtimes(e.dir(), today, today)
	os.Chtimes(e.x.s.dir, today, today)
	for _, d := range []string{e.x.s.dir, e.dir()} {
		if err := atomicfile.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// Walk calls fn for every envelope in the export, with its size: day
// folders in order, envelopes within a day in the order the file system
// lists them. Two walks of an export nobody changes in between list the
// envelopes in the same order.
func (e *Export) Walk(fn func(en Entry, size int64) error) error {
	return walkAreaSizes(e.envelopes(), true, func(en Entry, _ string, size int64) error { return fn(en, size) })
}

// Count returns the number of envelopes in the export.
func (e *Export) Count() (int, error) {
	n := 0
	err := walkArea(e.envelopes(), func(Entry, string, int64) error { n++; return nil })
	return n, err
}

// Open opens the envelope en of the export for reading.
func (e *Export) Open(en Entry) (*os.File, error) {
	if err := en.check(); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(e.envelopes(), en.Day, en.ID))
	if err != nil {
		return nil, fmt.Errorf("failed to read envelope %s/%s: %w", en.Day, en.ID, err)
	}
	return f, nil
}

// WriteNote stores data under name in the export folder, durably and
// atomically. Names are 1 to 64 characters of a–z, 0–9, '-' and '.', not
// starting with '.', and not "envelopes".
func (e *Export) WriteNote(name string, data []byte) error {
	if err := checkNoteName(name); err != nil {
		return err
	}
	return writeNote(e.dir(), name, data)
}

// ReadNote returns the note name, or an error wrapping fs.ErrNotExist.
func (e *Export) ReadNote(name string) ([]byte, error) {
	if err := checkNoteName(name); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(e.dir(), name))
}

// Notes returns the names of the export's notes, sorted.
func (e *Export) Notes() ([]string, error) {
	des, err := os.ReadDir(e.dir())
	if err != nil {
		return nil, fmt.Errorf("failed to list export %s: %w", e.ID, err)
	}
	var names []string
	for _, de := range des {
		if de.Name() != envelopesName && de.Type().IsRegular() && checkNoteName(de.Name()) == nil {
			names = append(names, de.Name())
		}
	}
	return names, nil
}

func checkNoteName(name string) error {
	ok := name != "" && len(name) <= 64 && name[0] != '.' && name != envelopesName
	for _, c := range []byte(name) {
		ok = ok && ('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.')
	}
	if !ok {
		return fmt.Errorf("malformed export note name %q", name)
	}
	return nil
}

func writeNote(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	if err := atomicfile.WriteBytes(path, filePerm, data); err != nil {
		return err
	}
	today := midnightUTC(time.Now())
	os.Chtimes(path, today, today)
	os.Chtimes(dir, today, today)
	return nil
}

// Commit makes the export's envelopes exported, with one rename.
func (e *Export) Commit() error {
	if e.committed {
		return nil
	}
	from := e.dir()
	e.committed = true
	if err := os.Rename(from, e.dir()); err != nil {
		e.committed = false
		return fmt.Errorf("failed to commit export %s: %w", e.ID, err)
	}
	coarsen(e.x.dir())
	if err := atomicfile.SyncDir(e.x.dir()); err != nil {
		return fmt.Errorf("failed to commit export %s: %w", e.ID, err)
	}
	return nil
}

// RollBack undoes an export that did not commit: it moves its envelopes back
// into the inbox and removes its folder, notes included, and returns how
// many envelopes it moved back. If it fails or the process dies, calling it
// again finishes the work.
func (e *Export) RollBack() (int, error) {
	if e.committed {
		return 0, errors.New("a committed export cannot be rolled back")
	}
	inbox := filepath.Join(e.x.s.dir, inboxName)
	if err := os.MkdirAll(inbox, dirPerm); err != nil {
		return 0, fmt.Errorf("failed to roll back export %s: %w", e.ID, err)
	}
	days, err := os.ReadDir(e.envelopes())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("failed to roll back export %s: %w", e.ID, err)
	}
	n := 0
	for _, d := range days {
		if !d.IsDir() || !validDay(d.Name()) {
			return n, fmt.Errorf("unexpected file %q in %s: move it out, then try again", d.Name(), e.envelopes())
		}
		moved, err := e.rollBackDay(d.Name())
		n += moved
		if err != nil {
			return n, fmt.Errorf("failed to roll back export %s: %w", e.ID, err)
		}
	}
	today := midnightUTC(time.Now())
	os.Chtimes(inbox, today, today)
	if err := atomicfile.SyncDir(inbox); err != nil {
		return n, err
	}
	if err := os.RemoveAll(e.dir()); err != nil {
		return n, fmt.Errorf("failed to remove export %s: %w", e.ID, err)
	}
	os.Chtimes(e.x.dir(), today, today)
	return n, atomicfile.SyncDir(e.x.dir())
}

// rollBackDay moves the envelopes of one day back into the inbox: the whole
// folder if the inbox has none for that day, else one by one.
func (e *Export) rollBackDay(day string) (int, error) {
	from := filepath.Join(e.envelopes(), day)
	to := filepath.Join(e.x.s.dir, inboxName, day)
	count := func() (int, error) {
		n := 0
		err := walkArea(e.envelopes(), func(en Entry, _ string, _ int64) error {
			if en.Day == day {
				n++
			}
			return nil
		})
		return n, err
	}
	n, err := count()
	if err != nil {
		return 0, err
	}
	// A Put may be making the inbox's folder for that day: keep Puts out
	// while the folder moves.
	unlock, err := e.x.s.lockInboxExclusive()
	if err != nil {
		return 0, err
	}
	err = renameNoReplace(from, to)
	unlock()
	if err == nil {
		return n, atomicfile.SyncDir(e.envelopes())
	}
	if !errors.Is(err, fs.ErrExist) {
		return 0, fmt.Errorf("failed to move %s back into the inbox: %w", day, err)
	}
	moved := 0
	err = walkArea(e.envelopes(), func(en Entry, path string, _ int64) error {
		if en.Day != day {
			return nil
		}
		if err := renameNoReplace(path, filepath.Join(to, en.ID)); err != nil {
			return fmt.Errorf("failed to move envelope %s/%s back into the inbox: %w", day, en.ID, err)
		}
		moved++
		return nil
	})
	if serr := atomicfile.SyncDir(to); err == nil {
		err = serr
	}
	if err != nil {
		return moved, err
	}
	midnight, _ := time.Parse(DayFormat, day)
	os.Chtimes(to, midnight, midnight)
	if err := os.Remove(from); err != nil {
		return moved, fmt.Errorf("failed to remove %s: %w", from, err)
	}
	return moved, atomicfile.SyncDir(e.envelopes())
}

// Remove deletes the envelopes of a committed export whose id match
// accepts, and returns how many it deleted. Day folders left empty go too,
// so the folders left reveal no more than the envelopes still stored.
func (e *Export) Remove(match func(id string) bool) (int, error) {
	if !e.committed {
		return 0, errors.New("only a committed export's envelopes can be purged")
	}
	n := 0
	touched := map[string]bool{}
	err := walkArea(e.envelopes(), func(en Entry, path string, _ int64) error {
		if !match(en.ID) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("failed to remove exported envelope %s/%s: %w", en.Day, en.ID, err)
		}
		touched[en.Day] = true
		n++
		return nil
	})
	for day := range touched {
		d := filepath.Join(e.envelopes(), day)
		midnight, _ := time.Parse(DayFormat, day)
		os.Chtimes(d, midnight, midnight)
		// Remove fails, harmlessly, on a folder that is not empty.
		if os.Remove(d) != nil {
			if serr := atomicfile.SyncDir(d); err == nil {
				err = serr
			}
		}
	}
	if len(touched) > 0 {
		today := midnightUTC(time.Now())
		os.Chtimes(e.envelopes(), today, today)
		if serr := atomicfile.SyncDir(e.envelopes()); err == nil {
			err = serr
		}
	}
	return n, err
}

// renameNoReplace renames from to to, failing with an error wrapping
// fs.ErrExist if to exists. Where renameat2 is missing, the caller's locks
// keep to from appearing between the check and the rename.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if _, serr := os.Lstat(to); serr == nil {
			return fs.ErrExist
		}
		err = os.Rename(from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
