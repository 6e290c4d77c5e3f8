package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// at is a submission time in the afternoon UTC; in Seoul it is already the
// next day, so the day kept must be computed in UTC.
var at = time.Date(2026, 11, 27, 16, 37, 42, 123456789, time.UTC).In(time.FixedZone("KST", 9*3600))

const atDay = "2026-11-27"

var atMidnight = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func envelope(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func put(t testing.TB, s *Store, env []byte, now time.Time) string {
	t.Helper()
	id, err := s.Put(env, now)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return id
}

// files returns the relative paths of every regular file under dir.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutReadPending(t *testing.T) {
	s := open(t, t.TempDir())
	days := []time.Time{at.AddDate(0, 0, 1), at, at.Add(time.Hour), at.AddDate(0, 0, -40)}
	want := map[Entry][]byte{}
	for i, now := range days {
		env := envelope(t, 100+i)
		id := put(t, s, env, now)
		if !validID(id) {
			t.Fatalf("Put returned malformed id %q", id)
		}
		e := Entry{ID: id, Day: now.UTC().Format(DayFormat)}
		if _, dup := want[e]; dup {
			t.Fatalf("Put returned id %q twice", id)
		}
		want[e] = env
	}
	es, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(want) {
		t.Fatalf("Pending returned %d entries, want %d", len(es), len(want))
	}
	if !slices.IsSortedFunc(es, func(a, b Entry) int {
		return strings.Compare(a.Day+"/"+a.ID, b.Day+"/"+b.ID)
	}) {
		t.Errorf("Pending not sorted by day then id: %v", es)
	}
	for _, e := range es {
		env, ok := want[e]
		if !ok {
			t.Fatalf("Pending returned unknown entry %v", e)
		}
		got, err := s.Read(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, env) {
			t.Errorf("Read(%v) returned different bytes", e)
		}
	}
	if es[1].Day != atDay || es[2].Day != atDay {
		t.Errorf("Seoul-time submission stored under %v, want UTC day %s", es, atDay)
	}
}

func TestPutSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	env := envelope(t, 5000)
	id := put(t, s, env, at)
	s.Close()
	if _, err := s.Put(env, at); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Put after Close: got %v, want ErrUnavailable", err)
	}
	s2 := open(t, dir)
	got, err := s2.Read(Entry{ID: id, Day: atDay})
	if err != nil || !bytes.Equal(got, env) {
		t.Fatalf("after reopen, Read = %v, %v", len(got), err)
	}
}

func TestOpenRemovesCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s1 := open(t, dir)
	put(t, s1, envelope(t, 10), at)
	leftover := filepath.Join(dir, tmpName, "put-123456")
	if err := os.WriteFile(leftover, []byte("half an envel"), 0o600); err != nil {
		t.Fatal(err)
	}
	// While another user has the store open, its temporary files may be in
	// flight and must be left alone.
	s2 := open(t, dir)
	if _, err := os.Stat(leftover); err != nil {
		t.Fatalf("Open removed a temporary file while the store was in use: %v", err)
	}
	s1.Close()
	s2.Close()
	// The sole user after a crash removes them.
	s3 := open(t, dir)
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("leftover temporary file not removed by Open: %v", err)
	}
	es, err := s3.Pending()
	if err != nil || len(es) != 1 {
		t.Fatalf("Pending after reopen = %v, %v; want the one stored envelope", es, err)
	}
}

func TestNoPartialEnvelopeVisible(t *testing.T) {
	s := open(t, t.TempDir())
	const writers, each, size = 8, 20, 256 << 10
	// Every envelope is size bytes of one repeated value, so a partial or
	// mixed file is easy to spot.
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Put(bytes.Repeat([]byte{byte(w*each + i)}, size), at); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var readErr error
	var rwg sync.WaitGroup
	rwg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			es, err := s.Pending()
			if err != nil {
				readErr = err
				return
			}
			for _, e := range es {
				b, err := s.Read(e)
				if err != nil {
					readErr = err
					return
				}
				if len(b) != size || !bytes.Equal(b, bytes.Repeat(b[:1], size)) {
					readErr = fmt.Errorf("envelope %v is partial: %d bytes", e, len(b))
					return
				}
			}
		}
	})
	wg.Wait()
	close(done)
	rwg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	es, _ := s.Pending()
	if len(es) != writers*each {
		t.Fatalf("%d envelopes stored, want %d", len(es), writers*each)
	}
}

// assertNothingPartial checks that the temporary folder is empty and the
// inbox holds exactly want.
func assertNothingPartial(t *testing.T, s *Store, want int) {
	t.Helper()
	tmp, err := os.ReadDir(filepath.Join(s.dir, tmpName))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmp) != 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
	es, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != want {
		t.Errorf("inbox holds %d envelopes, want %d", len(es), want)
	}
}

// TestPutUnwritableTemp uses the named temporary file that replaces
// O_TMPFILE where the file system lacks it.
func TestPutUnwritableTemp(t *testing.T) {
	forceNamedTemp = true
	defer func() { forceNamedTemp = false }()
	s := open(t, t.TempDir())
	tmp := filepath.Join(s.dir, tmpName)
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(envelope(t, 10), at); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put with temporary folder unusable: got %v, want ErrUnavailable", err)
	}
	es, err := s.Pending()
	if err != nil || len(es) != 0 {
		t.Fatalf("Pending = %v, %v; want nothing", es, err)
	}
}

// TestPutFailsAfterWrite makes the move into the inbox fail after the
// envelope was written and synced: the temporary file must go.
func TestPutFailsAfterWrite(t *testing.T) {
	s := open(t, t.TempDir())
	put(t, s, envelope(t, 10), at.AddDate(0, 0, -1))
	if err := os.WriteFile(filepath.Join(s.dir, inboxName, atDay), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := []byte("MARKER-unsaved-envelope")
	_, err := s.Put(secret, at)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put into blocked day folder: got %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), string(secret)) {
		t.Errorf("error message contains envelope bytes: %v", err)
	}
	os.Remove(filepath.Join(s.dir, inboxName, atDay))
	assertNothingPartial(t, s, 1)
}

func TestPendingRefusesStrangers(t *testing.T) {
	s := open(t, t.TempDir())
	put(t, s, envelope(t, 10), at)
	stranger := filepath.Join(s.dir, inboxName, atDay, "notes.txt")
	if err := os.WriteFile(stranger, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pending(); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("Pending with a stray file: got %v, want error naming it", err)
	}
}

func benchmarkPut(b *testing.B, parallel int, o Options) {
	s, err := OpenWith(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	env := envelope(b, 8<<10)
	b.SetBytes(int64(len(env)))
	start := time.Now()
	if parallel == 1 {
		for b.Loop() {
			if _, err := s.Put(env, at); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(max(1, parallel/runtime.GOMAXPROCS(0))) // × GOMAXPROCS goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Put(env, at); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
}

// BenchmarkPut measures durable puts of 8 KiB envelopes, one at a time,
// with the low-disk watermark checked (the default) and without.
func BenchmarkPut(b *testing.B) {
	b.Run("watermark", func(b *testing.B) { benchmarkPut(b, 1, Options{}) })
	b.Run("no-watermark", func(b *testing.B) { benchmarkPut(b, 1, Options{MinFree: -1}) })
}

// BenchmarkPutParallel measures durable puts of 8 KiB envelopes from about
// 64 goroutines (64/GOMAXPROCS × GOMAXPROCS).
func BenchmarkPutParallel(b *testing.B) {
	b.Run("watermark", func(b *testing.B) { benchmarkPut(b, 64, Options{}) })
	b.Run("no-watermark", func(b *testing.B) { benchmarkPut(b, 64, Options{MinFree: -1}) })
}

// TestPutNamedTempFallback stores through the named temporary file used
// where O_TMPFILE is missing, and leaves no temporary file behind.
func TestPutNamedTempFallback(t *testing.T) {
	forceNamedTemp = true
	defer func() { forceNamedTemp = false }()
	s := open(t, t.TempDir())
	put(t, s, envelope(t, 10), at)
	put(t, s, envelope(t, 10), at)
	entries, err := os.ReadDir(filepath.Join(s.dir, tmpName))
	if err != nil || len(entries) != 0 {
		t.Fatalf("temporary folder holds %v (%v)", entries, err)
	}
	assertNothingPartial(t, s, 2)
}

// TestOnlyEnvelopeBytes checks that nothing but the envelopes themselves,
// byte for byte, is written, besides empty lock and marker files and the
// notes an export's writer asks for: no index, no log, no metadata file.
func TestOnlyEnvelopeBytes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	envs := map[string]bool{}
	for i := range 6 {
		env := envelope(t, 1000+i)
		envs[string(env)] = true
		put(t, s, env, at)
		if i == 3 {
			exportAll(t, s)
		}
	}
	for _, rel := range files(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case rel == lockName || rel == exportsLock || rel == gateLock || rel == inboxLock || rel == unconfirmed:
			if len(b) != 0 {
				t.Errorf("lock or marker file %s holds %d bytes, want 0", rel, len(b))
			}
		case strings.HasSuffix(rel, "/note"):
		case envs[string(b)]:
			delete(envs, string(b))
		default:
			t.Errorf("unexpected file %s (%d bytes) in store", rel, len(b))
		}
	}
	if len(envs) != 0 {
		t.Errorf("%d envelopes not found on disk", len(envs))
	}
}

// exportAll exports every pending envelope, with a note, and commits.
func exportAll(t testing.TB, s *Store) *Export {
	t.Helper()
	x, err := s.LockExports()
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	e, err := x.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.TakeInbox(); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteNote("note", []byte("manifest")); err != nil {
		t.Fatal(err)
	}
	if err := e.Commit(); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPermissions(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	// A folder the operator made too open is tightened.
	if err := os.MkdirAll(filepath.Join(dir, inboxName), 0o777); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)
	put(t, s, envelope(t, 10), at)
	put(t, s, envelope(t, 10), at.AddDate(0, 0, 1))
	exportAll(t, s)
	put(t, s, envelope(t, 10), at)
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(filePerm)
		if d.IsDir() {
			want = dirPerm
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 15 {
		t.Errorf("walked only %d paths", n)
	}
}

func TestTimesAreCoarse(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	id := put(t, s, envelope(t, 10), at)
	id2 := put(t, s, envelope(t, 10), at.Add(30*time.Minute))
	check := func(p string, midnight time.Time) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		mtime := time.Unix(st.Mtim.Unix())
		atime := time.Unix(st.Atim.Unix())
		if !mtime.Equal(midnight) || !atime.Equal(midnight) {
			t.Errorf("%s: mtime %v, atime %v; want both %v", p, mtime.UTC(), atime.UTC(), midnight)
		}
	}
	check(filepath.Join(dir, inboxName, atDay, id), atMidnight)
	check(filepath.Join(dir, inboxName, atDay, id2), atMidnight)
	check(filepath.Join(dir, inboxName, atDay), atMidnight)
	check(filepath.Join(dir, inboxName), atMidnight)

	e := exportAll(t, s)
	today := midnightUTC(time.Now())
	check(filepath.Join(e.envelopes(), atDay, id), atMidnight)
	check(filepath.Join(e.envelopes(), atDay), atMidnight)
	check(filepath.Join(e.dir(), "note"), today)
	check(filepath.Join(dir, inboxName), today)
	check(filepath.Join(dir, exportsName), today)
	check(filepath.Join(dir, unconfirmed), today)
	check(dir, today)

	x, _ := s.LockExports()
	defer x.Close()
	if n, err := e.Remove(func(string) bool { return true }); err != nil || n != 2 {
		t.Fatalf("Remove = %d, %v", n, err)
	}
	check(e.envelopes(), today)
}

func TestOpenUnwritable(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open on a regular file: got %v, want ErrUnavailable", err)
	}
	if _, err := Open(filepath.Join(f, "sub")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open below a regular file: got %v, want ErrUnavailable", err)
	}
}

// TestUnconfirmed: the marker exists, durably, before the first envelope
// is in, and goes with Confirm.
func TestUnconfirmed(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if s.Unconfirmed() {
		t.Fatal("a new store is unconfirmed")
	}
	put(t, s, envelope(t, 10), at)
	put(t, s, envelope(t, 10), at)
	if !s.Unconfirmed() || s.Puts() != 2 {
		t.Fatalf("after two puts: unconfirmed %v, puts %d", s.Unconfirmed(), s.Puts())
	}
	s.Close()
	s = open(t, dir)
	if !s.Unconfirmed() {
		t.Fatal("reopening forgot the marker")
	}
	if err := s.Confirm(); err != nil || s.Unconfirmed() {
		t.Fatalf("Confirm: %v", err)
	}
	put(t, s, envelope(t, 10), at)
	if !s.Unconfirmed() {
		t.Fatal("a put after Confirm did not mark the store again")
	}
}
