package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// contents returns every envelope in the store, by content hash, with
// where it is.
func contents(t testing.TB, dir string) map[[32]byte]string {
	t.Helper()
	got := map[[32]byte]string{}
	err := Walk(dir, func(w Where, e Entry, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		if _, dup := got[h]; dup {
			t.Errorf("envelope %v found twice", e)
		}
		got[h] = w.String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestExportCommit(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	stored := map[string][]byte{}
	for i := range 5 {
		env := envelope(t, 100+i)
		stored[put(t, s, env, at.AddDate(0, 0, i%2))] = env
	}
	x, err := s.LockExports()
	if err != nil {
		t.Fatal(err)
	}
	e, err := x.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.TakeInbox(); err != nil {
		t.Fatal(err)
	}
	if err := e.TakeInbox(); err == nil {
		t.Error("an export took the inbox twice")
	}
	// Submissions keep arriving, into the new inbox.
	late := put(t, s, envelope(t, 77), at)
	if es, _ := s.Pending(); len(es) != 1 || es[0].ID != late {
		t.Fatalf("pending after the take: %v", es)
	}
	// Two walks list the same envelopes in the same order.
	var walk1, walk2 []Entry
	e.Walk(func(en Entry, size int64) error {
		walk1 = append(walk1, en)
		if size != int64(len(stored[en.ID])) {
			t.Errorf("%v: size %d, want %d", en, size, len(stored[en.ID]))
		}
		return nil
	})
	e.Walk(func(en Entry, _ int64) error { walk2 = append(walk2, en); return nil })
	if len(walk1) != 5 || !slices.Equal(walk1, walk2) {
		t.Fatalf("walks %v and %v", walk1, walk2)
	}
	for _, en := range walk1 {
		f, err := e.Open(en)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(b, stored[en.ID]) {
			t.Errorf("%v: wrong bytes", en)
		}
	}
	if err := e.WriteNote("part-1.manifest", []byte("m1")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", ".hidden", "envelopes", "../x", "A", strings.Repeat("a", 65)} {
		if err := e.WriteNote(bad, nil); err == nil {
			t.Errorf("WriteNote(%q) accepted", bad)
		}
	}
	if _, interrupted, _ := x.List(); !slices.Equal(interrupted, []string{e.ID}) {
		t.Errorf("uncommitted export not listed as interrupted: %v", interrupted)
	}
	if err := e.Commit(); err != nil {
		t.Fatal(err)
	}
	committed, interrupted, err := x.List()
	if err != nil || !slices.Equal(committed, []string{e.ID}) || len(interrupted) != 0 {
		t.Fatalf("List = %v, %v, %v", committed, interrupted, err)
	}
	if notes, _ := e.Notes(); !slices.Equal(notes, []string{"part-1.manifest"}) {
		t.Errorf("Notes = %v", notes)
	}
	if b, err := e.ReadNote("part-1.manifest"); err != nil || string(b) != "m1" {
		t.Errorf("ReadNote = %q, %v", b, err)
	}
	if _, err := e.RollBack(); err == nil {
		t.Error("a committed export rolled back")
	}
	x.Close()
	for id, env := range stored {
		if b, err := s.Read(Entry{ID: id, Day: walkDay(walk1, id)}); err != nil || !bytes.Equal(b, env) {
			t.Errorf("Read of exported %s: %v", id, err)
		}
	}
	got := contents(t, dir)
	if len(got) != 6 {
		t.Fatalf("store holds %d envelopes, want 6", len(got))
	}
	for _, env := range stored {
		if got[sha256.Sum256(env)] != "export "+e.ID {
			t.Errorf("exported envelope is in %q", got[sha256.Sum256(env)])
		}
	}
}

func walkDay(es []Entry, id string) string {
	for _, e := range es {
		if e.ID == id {
			return e.Day
		}
	}
	return ""
}

// TestRollBack takes the inbox, lets new envelopes arrive for the same
// days, and rolls back: every envelope is pending again, once.
func TestRollBack(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for i := range 6 {
		put(t, s, envelope(t, 100+i), at.AddDate(0, 0, -i%3))
	}
	x, _ := s.LockExports()
	defer x.Close()
	e, _ := x.Begin()
	if err := e.TakeInbox(); err != nil {
		t.Fatal(err)
	}
	e.WriteNote("intent", []byte("x"))
	put(t, s, envelope(t, 1), at) // a day the export also has
	put(t, s, envelope(t, 2), at.AddDate(0, 0, 5))
	before := contents(t, dir)
	n, err := e.RollBack()
	if err != nil || n != 6 {
		t.Fatalf("RollBack = %d, %v; want 6", n, err)
	}
	after := contents(t, dir)
	if len(after) != 8 {
		t.Fatalf("after rollback the store holds %d envelopes, want 8", len(after))
	}
	for h := range before {
		if after[h] != "inbox" {
			t.Errorf("an envelope is in %q after rollback", after[h])
		}
	}
	if c, i, _ := x.List(); len(c)+len(i) != 0 {
		t.Errorf("exports left after rollback: %v %v", c, i)
	}
	if es, err := s.Pending(); err != nil || len(es) != 8 {
		t.Errorf("Pending = %d, %v", len(es), err)
	}
}

// TestRollBackResumes: a rollback cut short (here: half its envelopes
// moved by hand, as a crash would leave them) finishes when run again.
func TestRollBackResumes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for i := range 10 {
		put(t, s, envelope(t, 100+i), at)
	}
	x, _ := s.LockExports()
	defer x.Close()
	e, _ := x.Begin()
	e.TakeInbox()
	put(t, s, envelope(t, 1), at)
	moved := 0
	e.Walk(func(en Entry, _ int64) error {
		if moved < 4 {
			os.Rename(filepath.Join(e.envelopes(), en.Day, en.ID), filepath.Join(dir, inboxName, en.Day, en.ID))
			moved++
		}
		return nil
	})
	x.Close()
	s.Close()

	s = open(t, dir)
	x, _ = s.LockExports()
	defer x.Close()
	_, interrupted, _ := x.List()
	if len(interrupted) != 1 {
		t.Fatalf("interrupted exports: %v", interrupted)
	}
	e, err := x.Get(interrupted[0])
	if err != nil || e.Committed() {
		t.Fatal(err)
	}
	if n, err := e.RollBack(); err != nil || n != 6 {
		t.Fatalf("RollBack = %d, %v; want the 6 left", n, err)
	}
	if es, _ := s.Pending(); len(es) != 11 {
		t.Fatalf("%d pending, want 11", len(es))
	}
}

// TestTakeRacesPut takes the inbox again and again while puts run in
// other goroutines and through another Store, as the server and an export
// would: every acknowledged envelope is stored exactly once, none is lost
// between the inbox and an export, and the takes are not starved.
func TestTakeRacesPut(t *testing.T) {
	dir := t.TempDir()
	server := open(t, dir)
	operator := open(t, dir)
	stop := make(chan struct{})
	var mu sync.Mutex
	acked := map[[32]byte]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				env := envelope(t, 200)
				if _, err := server.Put(env, time.Now()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[sha256.Sum256(env)] = true
				mu.Unlock()
			}
		})
	}
	takes := 0
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		x, err := operator.LockExports()
		if err != nil {
			t.Fatal(err)
		}
		e, err := x.Begin()
		if err == nil {
			err = e.TakeInbox()
		}
		if err == nil && takes%2 == 0 {
			err = e.Commit()
		} else if err == nil {
			_, err = e.RollBack()
		}
		x.Close()
		if err != nil {
			t.Fatal(err)
		}
		takes++
	}
	close(stop)
	wg.Wait()
	got := contents(t, dir)
	for h := range acked {
		if _, ok := got[h]; !ok {
			t.Fatalf("an acknowledged envelope is gone (after %d takes)", takes)
		}
	}
	if len(got) != len(acked) {
		t.Errorf("store holds %d envelopes, %d acknowledged", len(got), len(acked))
	}
	if takes < 20 {
		t.Errorf("only %d takes in 2 s beside 8 putters: the takes starve", takes)
	}
	t.Logf("%d takes, %d envelopes", takes, len(acked))
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ids := map[string]bool{}
	for i := range 6 {
		ids[put(t, s, envelope(t, 10), at.AddDate(0, 0, i%3))] = i%2 == 0
	}
	e := exportAll(t, s)
	kept := put(t, s, envelope(t, 10), at)
	x, _ := s.LockExports()
	defer x.Close()
	e, _ = x.Get(e.ID)
	n, err := e.Remove(func(id string) bool { return ids[id] })
	if err != nil || n != 3 {
		t.Fatalf("Remove = %d, %v; want 3", n, err)
	}
	if c, _ := e.Count(); c != 3 {
		t.Fatalf("%d left, want 3", c)
	}
	n, err = e.Remove(func(string) bool { return true })
	if err != nil || n != 3 {
		t.Fatalf("Remove = %d, %v; want 3", n, err)
	}
	if days, _ := os.ReadDir(e.envelopes()); len(days) != 0 {
		t.Errorf("empty day folders left: %v", days)
	}
	if es, _ := s.Pending(); len(es) != 1 || es[0].ID != kept {
		t.Errorf("Remove touched pending envelopes: %v", es)
	}
	if _, err := s.Read(Entry{ID: kept, Day: atDay}); err != nil {
		t.Error(err)
	}
	if notes, _ := e.Notes(); len(notes) != 1 {
		t.Error("Remove removed the export's notes")
	}
	u, _ := x.Begin()
	if _, err := u.Remove(func(string) bool { return true }); err == nil {
		t.Error("Remove on an uncommitted export")
	}
}

func TestBadEntries(t *testing.T) {
	s := open(t, t.TempDir())
	id := put(t, s, envelope(t, 10), at)
	e := exportAll(t, s)
	x, _ := s.LockExports()
	defer x.Close()
	e, _ = x.Get(e.ID)
	for _, en := range []Entry{
		{ID: "../../../etc/passwd", Day: atDay},
		{ID: id, Day: "../inbox"},
		{ID: strings.ToUpper(id), Day: atDay},
		{ID: id, Day: "2026-13-01"},
		{ID: id + "a", Day: atDay},
	} {
		if _, err := e.Open(en); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("Open(%v): got %v, want malformed", en, err)
		}
		if _, err := s.Read(en); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("Read(%v): got %v, want malformed", en, err)
		}
	}
	for _, id := range []string{"../x", "", strings.Repeat("A", 26)} {
		if _, err := x.Get(id); err == nil {
			t.Errorf("Get(%q) accepted", id)
		}
	}
	if _, err := x.Get(strings.Repeat("a", 26)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get of an unknown export: %v", err)
	}
}
