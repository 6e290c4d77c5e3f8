package intake

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/store"
)

// hasProblem reports whether s lists a problem of level l containing text.
func hasProblem(s *Status, l Level, text string) bool {
	for _, p := range s.Problems {
		if strings.HasPrefix(p, l.String()+": ") && strings.Contains(p, text) {
			return true
		}
	}
	return false
}

// flockFile holds an exclusive flock on path until the test ends, as
// another process (a server, tor, an export) would.
func flockFile(t *testing.T, path string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o700)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// servingData is a data directory held by a server that started, published
// its onion service and was backed up today.
func servingData(t *testing.T) (*Data, string) {
	t.Helper()
	dir := t.TempDir()
	d := newData(t, dir)
	if err := d.LockServe(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, r := range []audit.Record{audit.ServiceStarted([32]byte{1}, now), audit.OnionPublished(now), audit.BackupMade(now)} {
		if err := d.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	return d, dir
}

var defaultStatus = StatusOptions{MinFree: -1, WarnPending: 5, WarnDays: 7, WarnBackupDays: 7}

func TestStatusStates(t *testing.T) {
	t.Run("not a data directory", func(t *testing.T) {
		s := ReadStatus(t.TempDir(), defaultStatus, time.Now())
		if s.Level != Unknown || !hasProblem(s, Unknown, "not a data directory") {
			t.Fatalf("%s %v", s.State, s.Problems)
		}
	})
	t.Run("not serving", func(t *testing.T) {
		dir := t.TempDir()
		newData(t, dir)
		s := ReadStatus(dir, defaultStatus, time.Now())
		if s.Level != Critical || s.Serving || !hasProblem(s, Critical, "not serving") || !hasProblem(s, Warning, "no backup was ever made") {
			t.Fatalf("%s %v", s.State, s.Problems)
		}
	})
	t.Run("serving", func(t *testing.T) {
		_, dir := servingData(t)
		s := ReadStatus(dir, defaultStatus, time.Now())
		if s.Level != OK || !s.Serving || !s.Published || s.Tor != "not started by intake" || s.LastBackup == "" {
			t.Fatalf("%+v", s)
		}
	})
	t.Run("not published since start", func(t *testing.T) {
		d, dir := servingData(t)
		d.Record(audit.ServiceStarted([32]byte{1}, time.Now()))
		s := ReadStatus(dir, defaultStatus, time.Now())
		if s.Level != Warning || s.Published || !hasProblem(s, Warning, "not been published") {
			t.Fatalf("%s %v", s.State, s.Problems)
		}
	})
	t.Run("the operator's tor", func(t *testing.T) {
		// intake serve --external-tor: no onion-published record ever,
		// and no warning for it; the disk is still judged.
		dir := t.TempDir()
		d := newData(t, dir)
		d.OnionByOperator = true
		if err := d.LockServe(); err != nil {
			t.Fatal(err)
		}
		for _, r := range []audit.Record{audit.ServiceStarted([32]byte{1}, time.Now()), audit.BackupMade(time.Now())} {
			if err := d.Record(r); err != nil {
				t.Fatal(err)
			}
		}
		s := ReadStatus(dir, defaultStatus, time.Now())
		if s.Level != OK || !s.OnionByOperator || s.Published || s.Tor != "the operator's" {
			t.Fatalf("%s %+v", s.State, s)
		}
		var text, prom strings.Builder
		s.WriteText(&text, defaultStatus)
		s.WritePrometheus(&prom)
		for _, want := range []string{"TESTIMONY OK - serving, for the operator's tor to publish |", "onion service:         the operator's tor publishes it: intake cannot see it"} {
			if !strings.Contains(text.String(), want) {
				t.Errorf("status text lacks %q:\n%s", want, text.String())
			}
		}
		if !strings.Contains(prom.String(), "testimony_onion_by_operator 1\n") {
			t.Errorf("textfile lacks testimony_onion_by_operator 1:\n%s", prom.String())
		}
		// The next server is intake's own tor's again: the hint goes.
		d.Close()
		d = newData(t, dir)
		if err := d.LockServe(); err != nil {
			t.Fatal(err)
		}
		if err := d.Record(audit.ServiceStarted([32]byte{1}, time.Now())); err != nil {
			t.Fatal(err)
		}
		if s := ReadStatus(dir, defaultStatus, time.Now()); s.OnionByOperator || !hasProblem(s, Warning, "not been published") {
			t.Fatalf("after a server with its own tor: %s %v", s.State, s.Problems)
		}
	})
	t.Run("tor", func(t *testing.T) {
		_, dir := servingData(t)
		torrc := filepath.Join(dir, "onion", "tor", "torrc")
		os.MkdirAll(filepath.Dir(torrc), 0o700)
		os.WriteFile(torrc, []byte("SocksPort 0\n__OwningControllerProcess "+strconv.Itoa(os.Getpid())+"\n"), 0o600)
		os.WriteFile(filepath.Join(dir, "onion", "tor", "lock"), nil, 0o600)
		s := ReadStatus(dir, defaultStatus, time.Now())
		if s.Level != Critical || s.Tor != "stopped" || !hasProblem(s, Critical, "tor is not running") {
			t.Fatalf("%s %s %v", s.State, s.Tor, s.Problems)
		}
		flockFile(t, filepath.Join(dir, "onion", "tor", "lock"))
		s = ReadStatus(dir, defaultStatus, time.Now())
		if s.Level != OK || s.Tor != "running" {
			t.Fatalf("%s %s %v", s.State, s.Tor, s.Problems)
		}
	})
	t.Run("pending", func(t *testing.T) {
		d, dir := servingData(t)
		now := time.Now()
		put := func(day time.Time, size int) {
			env := make([]byte, size)
			rand.Read(env)
			if _, err := d.Store.Put(env, day); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			put(now, 1000) // today: never counted
		}
		s := ReadStatus(dir, defaultStatus, now)
		if s.Pending != 0 || s.PendingBytes != 0 || s.Level != OK {
			t.Fatalf("today's envelopes counted: %d, %d bytes, %s %v", s.Pending, s.PendingBytes, s.State, s.Problems)
		}
		for i := range 4 {
			put(now.AddDate(0, 0, -1-i), 100)
		}
		s = ReadStatus(dir, defaultStatus, now)
		if s.Pending != 4 || s.PendingBytes != 400 || s.OldestPending != now.AddDate(0, 0, -4).UTC().Format(time.DateOnly) || s.Level != OK {
			t.Fatalf("%d pending, %d bytes, oldest %s: %s %v", s.Pending, s.PendingBytes, s.OldestPending, s.State, s.Problems)
		}
		put(now.AddDate(0, 0, -9), 100)
		s = ReadStatus(dir, defaultStatus, now)
		if s.Level != Warning || !hasProblem(s, Warning, "5 envelopes wait") || !hasProblem(s, Warning, "waited for export since") {
			t.Fatalf("%s %v", s.State, s.Problems)
		}
	})
	t.Run("interrupted export", func(t *testing.T) {
		d, dir := servingData(t)
		os.Mkdir(filepath.Join(d.Store.Dir(), "exports", "."+strings.Repeat("a", 26)), 0o700)
		s := ReadStatus(dir, defaultStatus, time.Now())
		if s.Level != Critical || s.InterruptedExports != 1 || !hasProblem(s, Critical, "interrupted export") {
			t.Fatalf("%s %v", s.State, s.Problems)
		}
		// While an export runs, its folder is not a problem.
		flockFile(t, filepath.Join(d.Store.Dir(), "exports.lock"))
		s = ReadStatus(dir, defaultStatus, time.Now())
		if s.Level != OK || !s.ExportRunning {
			t.Fatalf("%s %v", s.State, s.Problems)
		}
	})
	t.Run("interrupted purge and crashed server", func(t *testing.T) {
		dir := t.TempDir()
		d := newData(t, dir)
		d.Record(audit.BackupMade(time.Now()))
		os.WriteFile(filepath.Join(d.Store.Dir(), "journal"), []byte("purge v1\n"), 0o600)
		os.WriteFile(filepath.Join(d.Store.Dir(), "unconfirmed"), nil, 0o600)
		s := ReadStatus(dir, defaultStatus, time.Now())
		if !s.PurgeInterrupted || !s.Unconfirmed || !hasProblem(s, Warning, "purge was interrupted") || !hasProblem(s, Warning, "without confirming") {
			t.Fatalf("%+v", s)
		}
	})
	t.Run("disk", func(t *testing.T) {
		_, dir := servingData(t)
		sp, err := store.SpaceOf(dir)
		if err != nil {
			t.Fatal(err)
		}
		o := defaultStatus
		o.MinFree = sp.Free * 3 / 4 // free is under twice the watermark
		if s := ReadStatus(dir, o, time.Now()); s.Level != Warning || !hasProblem(s, Warning, "near the low-disk watermark") {
			t.Fatalf("%s %v", s.State, s.Problems)
		}
		o.MinFree = sp.Free + 1<<30
		s := ReadStatus(dir, o, time.Now())
		if s.Level != Critical || !hasProblem(s, Critical, "below the low-disk watermark") {
			t.Fatalf("%s %v", s.State, s.Problems)
		}
		if step := max(s.DiskSize/100, 1<<20); s.DiskFree%step != 0 || s.DiskFree > sp.Free+step {
			t.Fatalf("free space %d not rounded to %d", s.DiskFree, step)
		}
	})
	t.Run("backup overdue", func(t *testing.T) {
		dir := t.TempDir()
		d := newData(t, dir)
		d.LockServe()
		d.Record(audit.ServiceStarted([32]byte{1}, time.Now()))
		d.Record(audit.OnionPublished(time.Now()))
		d.Record(audit.BackupMade(time.Now().AddDate(0, 0, -10)))
		if s := ReadStatus(dir, defaultStatus, time.Now()); s.Level != Warning || !hasProblem(s, Warning, "last backup is from") {
			t.Fatalf("%s %v", s.State, s.Problems)
		}
	})
}

// TestStatusLeaksNothingFinerThanTheDay checks that what status shows does
// not change when envelopes arrive or records are appended during the day,
// and that it shows no time of day.
func TestStatusLeaksNothingFinerThanTheDay(t *testing.T) {
	d, dir := servingData(t)
	now := time.Now()
	d.Record(audit.SubmissionStored([32]byte{9}, now.AddDate(0, 0, -1)))
	render := func() (string, string) {
		s := ReadStatus(dir, StatusOptions{MinFree: -1}, now)
		var text, prom bytes.Buffer
		s.WriteText(&text, StatusOptions{})
		s.WritePrometheus(&prom)
		// Other programs change the free space meanwhile: leave it out.
		free := regexp.MustCompile(`disk_free=\d+B|data disk: .*|testimony_disk_free_bytes \d+`)
		return free.ReplaceAllString(text.String(), ""), free.ReplaceAllString(prom.String(), "")
	}
	text1, prom1 := render()
	for range 5 { // today
		env := make([]byte, 300)
		rand.Read(env)
		if _, err := d.Store.Put(env, now); err != nil {
			t.Fatal(err)
		}
		d.Record(audit.SubmissionStored([32]byte(env[:32]), now))
	}
	text2, prom2 := render()
	if text1 != text2 || prom1 != prom2 {
		t.Fatalf("status changed when envelopes arrived today:\n%s\n%s", text1, text2)
	}
	if !strings.Contains(text1, "audit log:             1 records") {
		t.Errorf("yesterday's record not counted:\n%s", text1)
	}
	if m := regexp.MustCompile(`\d\d:\d\d`).FindString(text1 + prom1); m != "" {
		t.Errorf("status shows a time of day %q", m)
	}
}

func TestStatusTextfile(t *testing.T) {
	_, dir := servingData(t)
	out := filepath.Join(t.TempDir(), "testimony.prom")
	s := ReadStatus(dir, defaultStatus, time.Now())
	if err := s.WriteTextfile(out, time.Now()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 || !fi.ModTime().Equal(midnightOf(time.Now())) {
		t.Errorf("textfile mode %v, time %v: want 0644 and midnight UTC", fi.Mode(), fi.ModTime())
	}
	if des, _ := os.ReadDir(filepath.Dir(out)); len(des) != 1 {
		t.Errorf("textfile folder holds %d files, want 1", len(des))
	}
	b, _ := os.ReadFile(out)
	metric := regexp.MustCompile(`^testimony_[a-z_]+ -?[0-9]+$`)
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			if strings.HasPrefix(line, "# TYPE ") && !strings.HasSuffix(line, " gauge") {
				t.Errorf("not a gauge: %s", line)
			}
			continue
		}
		if !metric.MatchString(line) {
			t.Errorf("line %q is not a gauge without labels or timestamp", line)
		}
		seen[strings.Fields(line)[0]] = true
	}
	for _, m := range []string{"testimony_status", "testimony_serving", "testimony_onion_published", "testimony_envelopes_pending", "testimony_disk_free_bytes", "testimony_audit_records", "testimony_last_backup_day_timestamp_seconds"} {
		if !seen[m] {
			t.Errorf("textfile lacks %s", m)
		}
	}
	if !strings.Contains(string(b), "testimony_status 0\n") {
		t.Errorf("status of a healthy server:\n%s", b)
	}
}

// TestStatusUsesServeWatermark: intake status, not told --min-free, judges
// the disk by the watermark the serving intake serve recorded, so that it
// cannot say OK while the server refuses submissions, nor the reverse.
func TestStatusUsesServeWatermark(t *testing.T) {
	dir := t.TempDir()
	sp, err := store.SpaceOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	above := sp.Free + 1<<30 // more than is free: the server refuses submissions
	d, err := OpenDataWith(dir, store.Options{MinFree: above, Reserve: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.BindStudy(dataStudy); err != nil {
		t.Fatal(err)
	}
	if err := d.LockServe(); err != nil {
		t.Fatal(err)
	}
	if h := readServeHints(dir); !h.hasMinFree || h.minFree != above {
		t.Fatalf("recorded watermark %d, %v; want %d", h.minFree, h.hasMinFree, above)
	}
	o := defaultStatus
	o.MinFree = 0 // not given
	s := ReadStatus(dir, o, time.Now())
	if s.MinFree != above || !hasProblem(s, Critical, "below the low-disk watermark") {
		t.Fatalf("status without --min-free: watermark %d, %s %v; want %d and below it", s.MinFree, s.State, s.Problems, above)
	}
	o.MinFree = 1 << 20 // given: it wins
	if s := ReadStatus(dir, o, time.Now()); s.MinFree != 1<<20 || hasProblem(s, Critical, "below the low-disk watermark") {
		t.Fatalf("status with --min-free 1 MiB: watermark %d, %v", s.MinFree, s.Problems)
	}
	for _, bad := range []string{"", "min-free -5\n", "min-free x\n", "free 5\n"} {
		os.WriteFile(filepath.Join(dir, "serve.lock"), []byte(bad), 0o600)
		if readServeHints(dir).hasMinFree {
			t.Errorf("readServeHints read a watermark in %q", bad)
		}
	}
}

// TestReadServeHints: what intake status reads from the serve lock, and
// that anything else gives no hint rather than a wrong one.
func TestReadServeHints(t *testing.T) {
	for _, tc := range []struct {
		lock string
		want serveHints
	}{
		{"min-free 1048576\n", serveHints{minFree: 1 << 20, hasMinFree: true}},
		{"min-free 0\nonion operator\n", serveHints{hasMinFree: true, onionByOperator: true}},
		{"onion operator\n", serveHints{onionByOperator: true}},
		{"", serveHints{}},
		{"min-free 5\nonion operator\nonion operator\n", serveHints{}},
		{"min-free 5\nmin-free 6\n", serveHints{}},
		{"min-free -5\n", serveHints{}},
		{"min-free 5\nonion elsewhere\n", serveHints{}},
		{"onion operator\n" + strings.Repeat("x", 64), serveHints{}},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "serve.lock"), []byte(tc.lock), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := readServeHints(dir); got != tc.want {
			t.Errorf("serve.lock %q: %+v, want %+v", tc.lock, got, tc.want)
		}
	}
}
