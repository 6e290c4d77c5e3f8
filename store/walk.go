package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// walkArea calls fn for every envelope in area/DAY/<id>, day folders in
// order, envelopes within a day in the order the file system lists them, a
// few hundred names in memory at a time. size is the envelope's size if
// sizes is set, else -1. It returns an error naming any file the store did
// not put there, rather than skip it. A missing area holds nothing.
func walkArea(area string, fn func(e Entry, path string, size int64) error) error {
	return walkAreaSizes(area, false, fn)
}

func walkAreaSizes(area string, sizes bool, fn func(e Entry, path string, size int64) error) error {
	days, err := os.ReadDir(area)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to list %s: %w", area, err)
	}
	for _, d := range days {
		if !d.IsDir() || !validDay(d.Name()) {
			return fmt.Errorf("unexpected file %q in %s: the store only keeps day folders there; move it out of %s", d.Name(), area, area)
		}
		dayDir := filepath.Join(area, d.Name())
		f, err := os.Open(dayDir)
		if err != nil {
			return fmt.Errorf("failed to list %s: %w", dayDir, err)
		}
		for {
			des, err := f.ReadDir(256)
			for _, de := range des {
				if !de.Type().IsRegular() || !validID(de.Name()) {
					f.Close()
					return fmt.Errorf("unexpected file %q in %s: the store only keeps envelopes there; move it out of %s", de.Name(), dayDir, area)
				}
				size := int64(-1)
				if sizes {
					fi, err := de.Info()
					if err != nil {
						f.Close()
						return fmt.Errorf("failed to read envelope %s/%s: %w", d.Name(), de.Name(), err)
					}
					size = fi.Size()
				}
				if err := fn(Entry{ID: de.Name(), Day: d.Name()}, filepath.Join(dayDir, de.Name()), size); err != nil {
					f.Close()
					return err
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("failed to list %s: %w", dayDir, err)
			}
		}
		f.Close()
	}
	return nil
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := strings.Compare(a.Day, b.Day); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Where says where [Walk] found an envelope.
type Where struct {
	// Export is the id of the export holding the envelope, or "" for the
	// inbox.
	Export string
	// Committed is whether that export committed; false for an export
	// interrupted before it did.
	Committed bool
}

func (w Where) String() string {
	switch {
	case w.Export == "":
		return "inbox"
	case w.Committed:
		return "export " + w.Export
	}
	return "export " + w.Export + " (interrupted)"
}

// Walk calls fn for every envelope in the store in dir, wherever it is:
// pending, taken by an interrupted export, or exported and not purged, with
// the path of its file. It only reads, and needs no [Store]: an auditor may
// run it on a copy. It returns an error naming any file the store did not
// put where envelopes are kept.
//
// While exports and purges run, envelopes move; the caller that needs every
// envelope exactly once holds the exports lock ([Store.LockExports]).
func Walk(dir string, fn func(w Where, e Entry, path string) error) error {
	if _, err := os.Stat(filepath.Join(dir, inboxName)); err != nil {
		return fmt.Errorf("%s is not an envelope store: %w", dir, err)
	}
	if err := walkArea(filepath.Join(dir, inboxName), func(e Entry, path string, _ int64) error {
		return fn(Where{}, e, path)
	}); err != nil {
		return err
	}
	exports := filepath.Join(dir, exportsName)
	des, err := os.ReadDir(exports)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to list exports: %w", err)
	}
	for _, de := range des {
		id, interrupted := strings.CutPrefix(de.Name(), ".")
		if !de.IsDir() || !validID(id) {
			return fmt.Errorf("unexpected file %q in %s: the store only keeps export folders there", de.Name(), exports)
		}
		w := Where{Export: id, Committed: !interrupted}
		if err := walkArea(filepath.Join(exports, de.Name(), envelopesName), func(e Entry, path string, _ int64) error {
			return fn(w, e, path)
		}); err != nil {
			return err
		}
	}
	return nil
}
