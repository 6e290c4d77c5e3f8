package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
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

// TestOnlyEnvelopeBytes checks that nothing but the envelopes themselves,
// byte for byte, is written: no index, no log, no metadata file.
func TestOnlyEnvelopeBytes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	envs := map[string]bool{}
	for i := range 5 {
		env := envelope(t, 1000+i)
		envs[string(env)] = true
		put(t, s, env, at)
	}
	es, _ := s.Pending()
	if err := s.MarkExported(es[:2]); err != nil {
		t.Fatal(err)
	}
	for _, rel := range files(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case rel == lockName || rel == exportLock:
			if len(b) != 0 {
				t.Errorf("lock file %s holds %d bytes, want 0", rel, len(b))
			}
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
	es, _ := s.Pending()
	if err := s.MarkExported(es[:1]); err != nil {
		t.Fatal(err)
	}
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
	if n < 9 {
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
	check(filepath.Join(dir, tmpName), midnightUTC(time.Now())) // touched only by Open's probe

	if err := s.MarkExported([]Entry{{ID: id, Day: atDay}}); err != nil {
		t.Fatal(err)
	}
	check(filepath.Join(dir, exportedName, atDay, id), atMidnight)
	check(filepath.Join(dir, exportedName, atDay), atMidnight)
	check(filepath.Join(dir, inboxName, atDay), atMidnight)
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

// TestDiskFull fills a tiny tmpfs. It needs to mount one (root on Linux) and
// is skipped otherwise.
func TestDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	s, err := Open(filepath.Join(mnt, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Too big for the disk at all.
	_, err = s.Put(envelope(t, 100<<10), at)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put larger than the disk: got %v, want ErrUnavailable and ENOSPC", err)
	}
	assertNothingPartial(t, s, 0)

	// Fill the disk up.
	stored := map[string][]byte{}
	for {
		env := envelope(t, 6000)
		id, err := s.Put(env, at)
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Put on full disk: got %v, want ErrUnavailable", err)
			}
			break
		}
		stored[id] = env
		if len(stored) > 20 {
			t.Fatal("64 KiB tmpfs took more than 120 KiB")
		}
	}
	if len(stored) == 0 {
		t.Fatal("no envelope fit")
	}
	assertNothingPartial(t, s, len(stored))
	for id, env := range stored {
		got, err := s.Read(Entry{ID: id, Day: atDay})
		if err != nil || !bytes.Equal(got, env) {
			t.Errorf("envelope %s damaged on full disk: %v", id, err)
		}
	}

	// Freeing space makes the store usable again.
	if err := s.MarkExported([]Entry{{ID: slices.Collect(maps.Keys(stored))[0], Day: atDay}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeExported(); err != nil || n != 1 {
		t.Fatalf("PurgeExported = %d, %v", n, err)
	}
	put(t, s, envelope(t, 1000), at)
}

func TestExportAndPurge(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	var ids []string
	for i := range 6 {
		ids = append(ids, put(t, s, envelope(t, 10+i), at.AddDate(0, 0, i%2)))
	}
	es, _ := s.Pending()
	exp, keep := es[:4], es[4:]
	if err := s.MarkExported(exp); err != nil {
		t.Fatal(err)
	}
	// Marking again is harmless.
	if err := s.MarkExported(exp[:2]); err != nil {
		t.Fatalf("MarkExported twice: %v", err)
	}
	got, err := s.Pending()
	if err != nil || !slices.Equal(got, keep) {
		t.Fatalf("Pending after export = %v, %v; want %v", got, err, keep)
	}
	for _, e := range exp {
		if _, err := s.Read(e); err != nil {
			t.Errorf("Read of exported entry: %v", err)
		}
	}
	n, err := s.PurgeExported()
	if err != nil || n != len(exp) {
		t.Fatalf("PurgeExported = %d, %v; want %d", n, err, len(exp))
	}
	for _, e := range exp {
		if _, err := s.Read(e); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Read of purged entry: got %v, want not found", err)
		}
	}
	if got, _ := s.Pending(); !slices.Equal(got, keep) {
		t.Fatalf("PurgeExported touched pending envelopes: %v", got)
	}
	if n, err := s.PurgeExported(); err != nil || n != 0 {
		t.Errorf("second PurgeExported = %d, %v; want 0", n, err)
	}
	days, _ := os.ReadDir(filepath.Join(dir, exportedName))
	if len(days) != 0 {
		t.Errorf("empty day folders left in exported: %v", days)
	}
}

func TestMarkExportedBadEntries(t *testing.T) {
	s := open(t, t.TempDir())
	id := put(t, s, envelope(t, 10), at)
	for _, e := range []Entry{
		{ID: "../../../etc/passwd", Day: atDay},
		{ID: id, Day: "../inbox"},
		{ID: strings.ToUpper(id), Day: atDay},
		{ID: id, Day: "2026-13-01"},
		{ID: id + "a", Day: atDay},
	} {
		if err := s.MarkExported([]Entry{e}); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("MarkExported(%v): got %v, want malformed", e, err)
		}
		if _, err := s.Read(e); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("Read(%v): got %v, want malformed", e, err)
		}
	}
	missing := Entry{ID: strings.Repeat("a", idLen), Day: atDay}
	if err := s.MarkExported([]Entry{missing}); err == nil || !strings.Contains(err.Error(), missing.ID) {
		t.Errorf("MarkExported of unknown entry: got %v, want error naming it", err)
	}
	if es, _ := s.Pending(); len(es) != 1 {
		t.Errorf("pending envelope lost: %v", es)
	}
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

// TestPutRacesPurge checks that Put keeps working while another store on
// the same folder (as `intake purge` would be) exports and purges.
func TestPutRacesPurge(t *testing.T) {
	dir := t.TempDir()
	server := open(t, dir)
	operator := open(t, dir)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	exported := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			es, err := operator.Pending()
			if err != nil {
				t.Error(err)
				return
			}
			if err := operator.MarkExported(es); err != nil {
				t.Error(err)
				return
			}
			n, err := operator.PurgeExported()
			if err != nil {
				t.Error(err)
				return
			}
			exported += n
		}
	})
	for range 200 {
		put(t, server, envelope(t, 100), time.Now())
	}
	close(stop)
	wg.Wait()
	es, _ := server.Pending()
	if exported+len(es) != 200 {
		t.Errorf("%d purged + %d pending, want 200", exported, len(es))
	}
}

// TestPurgeRemovesOldEmptyDays checks that after a purge the inbox keeps no
// trace of days whose envelopes are all gone, except today and yesterday,
// which a Put may be about to use.
func TestPurgeRemovesOldEmptyDays(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	now := time.Now()
	for _, d := range []int{0, -1, -2, -30} {
		put(t, s, envelope(t, 10), now.AddDate(0, 0, d))
	}
	kept := put(t, s, envelope(t, 10), now.AddDate(0, 0, -3))
	es, _ := s.Pending()
	var exp []Entry
	for _, e := range es {
		if e.ID != kept {
			exp = append(exp, e)
		}
	}
	if err := s.MarkExported(exp); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeExported(); err != nil || n != 4 {
		t.Fatalf("PurgeExported = %d, %v; want 4", n, err)
	}
	day := func(d int) string { return now.UTC().AddDate(0, 0, d).Format(DayFormat) }
	if time.Now().UTC().Format(DayFormat) != day(0) {
		t.Skip("midnight UTC passed during the test")
	}
	var got []string
	des, _ := os.ReadDir(filepath.Join(dir, inboxName))
	for _, de := range des {
		got = append(got, de.Name())
	}
	if want := []string{day(-3), day(-1), day(0)}; !slices.Equal(got, want) {
		t.Errorf("inbox day folders after purge: %v, want %v", got, want)
	}
}

func benchmarkPut(b *testing.B, parallel int) {
	s := open(b, b.TempDir())
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

// BenchmarkPut measures durable puts of 8 KiB envelopes, one at a time.
func BenchmarkPut(b *testing.B) { benchmarkPut(b, 1) }

// BenchmarkPutParallel measures durable puts of 8 KiB envelopes from about
// 64 goroutines (64/GOMAXPROCS × GOMAXPROCS).
func BenchmarkPutParallel(b *testing.B) { benchmarkPut(b, 64) }

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
