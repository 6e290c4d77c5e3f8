package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const testOrigin = "testimony/server/study-1"

type testKey struct {
	skey, vkey string
	signer     note.Signer
}

func newTestKey(t testing.TB, name string) testKey {
	t.Helper()
	skey, vkey, err := GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{skey, vkey, signer}
}

func openTestLog(t testing.TB, dir string, k testKey) *Log {
	t.Helper()
	l, err := Open(dir, testOrigin, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, r Record) int64 {
	t.Helper()
	i, err := l.Append(r)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func mustVerify(t testing.TB, dir, vkey string, trusted []byte) *Report {
	t.Helper()
	rep, err := Verify(dir, vkey, trusted)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func submission(i int) Record {
	return SubmissionStored(sha256.Sum256(fmt.Appendf(nil, "envelope %d", i)), testDay)
}

func TestAppendCheckpointReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, dir, k)
	mustAppend(t, l, ServiceStarted(sha256.Sum256([]byte("study")), testDay))
	for i := range 10 {
		if got := mustAppend(t, l, submission(i)); got != int64(i+1) {
			t.Fatalf("Append returned index %d, want %d", got, i+1)
		}
	}
	ckpt, err := l.Checkpoint(testDay, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(submission(99)); err == nil {
		t.Fatal("Append after Close succeeded")
	}

	for name, mode := range map[string]os.FileMode{"": 0o700, checkpointsDir: 0o700, recordsFile: 0o600, hashesFile: 0o600, lockName: 0o600,
		checkpointsDir + "/" + checkpointFileName(11): 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}

	l = openTestLog(t, dir, k)
	if l.Size() != 11 {
		t.Fatalf("reopened log has %d records, want 11", l.Size())
	}
	mustAppend(t, l, ServiceStopped(testDay))
	l.Close()

	rep := mustVerify(t, dir, k.vkey, ckpt)
	if rep.Records != 12 || rep.Signed != 11 || rep.Checkpoints != 1 || rep.Trusted != 11 || rep.Origin != testOrigin {
		t.Fatalf("report = %+v", rep)
	}
	if len(rep.Days) != 1 || rep.Days[0].Day != "2026-03-04" || rep.Days[0].Events[EventSubmissionStored] != 10 ||
		rep.Days[0].Events[EventServiceStarted] != 1 || rep.Days[0].Events[EventServiceStopped] != 1 {
		t.Fatalf("days = %+v", rep.Days)
	}
}

func TestCheckpointSchedule(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, newTestKey(t, testOrigin))
	if _, err := l.Checkpoint(testDay, true); err == nil {
		t.Fatal("Checkpoint of an empty log succeeded")
	}
	day1 := time.Date(2026, 3, 4, 1, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	mustAppend(t, l, submission(0))
	c1, err := l.Checkpoint(day1, false)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, submission(1))
	if c, _ := l.Checkpoint(day1.Add(20*time.Hour), false); !bytes.Equal(c, c1) {
		t.Fatal("signed a second checkpoint on the same day without force")
	}
	c2, _ := l.Checkpoint(day1.Add(20*time.Hour), true)
	if bytes.Equal(c2, c1) {
		t.Fatal("force did not sign a new checkpoint")
	}
	if c, _ := l.Checkpoint(day2, false); !bytes.Equal(c, c2) {
		t.Fatal("signed a new checkpoint although the log did not grow")
	}
	mustAppend(t, l, submission(2))
	c3, _ := l.Checkpoint(day2, false)
	if bytes.Equal(c3, c2) {
		t.Fatal("did not sign a checkpoint on a new day")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, checkpointsDir))
	if len(entries) != 3 {
		t.Fatalf("%d checkpoint files, want 3", len(entries))
	}
	for _, c := range [][]byte{c1, c2, c3} {
		// Checkpoints reveal the day only.
		if regexp.MustCompile(`\d\d:\d\d`).Match(c) || !bytes.Contains(c, []byte("\nday 2026-03-0")) {
			t.Fatalf("checkpoint %q carries more or less than the day", c)
		}
	}
}

func TestRecordsCarryOnlyTheDay(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, newTestKey(t, testOrigin))
	for _, r := range allRecords() {
		mustAppend(t, l, r)
	}
	l.Close()
	data, _ := os.ReadFile(filepath.Join(dir, recordsFile))
	line := regexp.MustCompile(`^testimony-audit/1 2026-03-04 [a-z-]+( [a-z0-9-]+=[0-9a-f]+)?( count=[0-9]+)?( researcher-key=[^ ]+)?$`)
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !line.MatchString(l) {
			t.Errorf("record %q carries something other than the event, the UTC day, a hash, a count and a key fingerprint", l)
		}
	}
}

func TestAppendRejectsInvalidRecord(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, newTestKey(t, testOrigin))
	mustAppend(t, l, submission(0))
	if _, err := l.Append(EnvelopesPurged(-3, testDay)); err == nil || !strings.Contains(err.Error(), "count -3") {
		t.Fatalf("Append(invalid) error = %v", err)
	}
	if _, err := l.Append(ServiceStopped(time.Time{})); err == nil {
		t.Fatal("Append with an unset day succeeded")
	}
	if got := mustAppend(t, l, submission(1)); got != 1 {
		t.Fatalf("index after rejected records = %d, want 1", got)
	}
}

func TestConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, dir, k)
	const workers, each = 4, 25
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				idx, err := l.Append(submission(w*each + i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[idx] = true
				mu.Unlock()
				if i%10 == 0 {
					if _, err := l.Checkpoint(testDay, true); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each || l.Size() != workers*each {
		t.Fatalf("%d distinct indexes, size %d; want %d", len(seen), l.Size(), workers*each)
	}
	l.Checkpoint(testDay, true)
	l.Close()
	rep := mustVerify(t, dir, k.vkey, nil)
	if rep.Signed != workers*each {
		t.Fatalf("signed %d", rep.Signed)
	}
}

func TestOpenRecoversPartialWrites(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, dir, k)
	for i := range 9 {
		mustAppend(t, l, submission(i))
	}
	l.Checkpoint(testDay, true)
	l.Close()
	records, _ := os.ReadFile(filepath.Join(dir, recordsFile))
	hashes, _ := os.ReadFile(filepath.Join(dir, hashesFile))

	cases := map[string]func(){
		"partial record": func() {
			text, _ := submission(9).MarshalText()
			appendFile(t, filepath.Join(dir, recordsFile), text[:len(text)/2])
		},
		"record without its newline": func() {
			text, _ := submission(9).MarshalText()
			appendFile(t, filepath.Join(dir, recordsFile), text[:len(text)-1])
		},
		"hashes file missing": func() { os.Remove(filepath.Join(dir, hashesFile)) },
		"hashes of the last record cut short": func() {
			os.Truncate(filepath.Join(dir, hashesFile), int64(len(hashes)-45))
		},
		"hashes of the last record zeroed": func() {
			f, _ := os.OpenFile(filepath.Join(dir, hashesFile), os.O_WRONLY, 0)
			f.WriteAt(make([]byte, 32), int64(len(hashes)-32))
			f.Close()
		},
		"record without its hashes": func() {
			// A crash after the record's fsync and before its hashes.
			text, _ := submission(9).MarshalText()
			appendFile(t, filepath.Join(dir, recordsFile), text)
		},
		"leftover checkpoint temp file": func() {
			os.WriteFile(filepath.Join(dir, checkpointsDir, ".tmp-"+checkpointFileName(10)), []byte("partial"), 0o600)
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(filepath.Join(dir, recordsFile), records, 0o600)
			os.WriteFile(filepath.Join(dir, hashesFile), hashes, 0o600)
			damage()
			l, err := Open(dir, testOrigin, k.signer)
			if err != nil {
				t.Fatalf("Open after %s: %v", name, err)
			}
			want := int64(9)
			if name == "record without its hashes" {
				want = 10
			}
			if l.Size() != want {
				t.Fatalf("size %d after recovery, want %d", l.Size(), want)
			}
			mustAppend(t, l, submission(100))
			l.Close()
			rep := mustVerify(t, dir, k.vkey, nil)
			if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "not signed yet") {
				t.Fatalf("notes after recovery = %q, want only the unsigned records", rep.Notes)
			}
			got, _ := os.ReadFile(filepath.Join(dir, hashesFile))
			if !bytes.Equal(got, hashBytes(rep.tree.hashes)) {
				t.Fatal("hashes file was not rebuilt")
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, checkpointsDir)); len(entries) != 1 {
				t.Fatalf("%d files in checkpoints, want 1", len(entries))
			}
		})
	}
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesDamagedLog(t *testing.T) {
	k := newTestKey(t, testOrigin)
	build := func(t *testing.T) string {
		dir := t.TempDir()
		l := openTestLog(t, dir, k)
		for i := range 5 {
			mustAppend(t, l, submission(i))
		}
		l.Checkpoint(testDay, true)
		mustAppend(t, l, submission(5))
		l.Close()
		return dir
	}
	edit := func(dir, file string, f func([]byte) []byte) {
		p := filepath.Join(dir, file)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, f(b), 0o600)
	}
	other := newTestKey(t, testOrigin)
	for _, tc := range []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"signed record edited", func(dir string) {
			edit(dir, recordsFile, func(b []byte) []byte {
				i := bytes.Index(b, []byte("envelope-sha256=")) + len("envelope-sha256=")
				b[i] = "10"[min(1, int(b[i]-'0'))]
				return b
			})
			os.Remove(filepath.Join(dir, hashesFile))
		}, "do not match its latest checkpoint"},
		{"record malformed", func(dir string) {
			edit(dir, recordsFile, func(b []byte) []byte {
				return bytes.Replace(b, []byte("submission-stored"), []byte("submission-s7ored"), 1)
			})
		}, "record 0: malformed"},
		{"signed records removed", func(dir string) {
			edit(dir, recordsFile, func(b []byte) []byte { return b[:bytes.IndexByte(b, '\n')+1] })
			os.Remove(filepath.Join(dir, hashesFile))
		}, "its latest checkpoint covers 5"},
		{"unsigned record removed", func(dir string) {
			edit(dir, recordsFile, func(b []byte) []byte { return b[:bytes.LastIndexByte(b[:len(b)-1], '\n')+1] })
		}, "hashes file disagrees"},
		{"hashes file edited", func(dir string) {
			edit(dir, hashesFile, func(b []byte) []byte { b[3] ^= 1; return b })
		}, "hashes file disagrees"},
		{"checkpoint by another key", func(dir string) {
			text, _ := os.ReadFile(filepath.Join(dir, checkpointsDir, checkpointFileName(5)))
			n, _ := note.Open(text, note.VerifierList(mustVerifier(t, k.vkey)))
			forged, _ := note.Sign(&note.Note{Text: n.Text}, other.signer)
			os.WriteFile(filepath.Join(dir, checkpointsDir, checkpointFileName(5)), forged, 0o600)
		}, "not signed by this log's key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := build(t)
			tc.damage(dir)
			before := snapshot(t, dir)
			l, err := Open(dir, testOrigin, k.signer)
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open error = %v, want %q", err, tc.want)
			}
			if after := snapshot(t, dir); after != before {
				t.Fatal("Open changed a damaged log")
			}
		})
	}
	t.Run("other origin", func(t *testing.T) {
		dir := build(t)
		if _, err := Open(dir, "testimony/server/study-2", k.signer); err == nil || !strings.Contains(err.Error(), "belongs to") {
			t.Fatalf("Open error = %v", err)
		}
	})
}

func mustVerifier(t testing.TB, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// snapshot returns the content of the log files, except the lock.
func snapshot(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Name() != lockName {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "%s %x\n", p, sha256.Sum256(data))
		}
		return nil
	})
	return b.String()
}

func TestLeafHashIsRecordHash(t *testing.T) {
	// Auditors with other tools recompute the tree with RFC 6962 hashing of
	// each line, newline included.
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, dir, k)
	mustAppend(t, l, submission(0))
	mustAppend(t, l, submission(1))
	c, _ := l.Checkpoint(testDay, true)
	a, _ := submission(0).MarshalText()
	b, _ := submission(1).MarshalText()
	root := tlog.NodeHash(tlog.RecordHash(a), tlog.RecordHash(b))
	n, err := note.Open(c, note.VerifierList(mustVerifier(t, k.vkey)))
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := ParseCheckpoint([]byte(n.Text))
	if ck.Hash != root || ck.Size != 2 {
		t.Fatalf("checkpoint %+v, want size 2 and root %v", ck, root)
	}
}

// TestScan reads every record, including those another process appended.
func TestScan(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	a := openTestLog(t, dir, k)
	b := openTestLog(t, dir, k)
	for i := range 10 {
		l := a
		if i%3 == 0 {
			l = b
		}
		mustAppend(t, l, submission(i))
	}
	var got []Record
	if err := a.Scan(func(i int64, r Record) error {
		if i != int64(len(got)) {
			t.Fatalf("index %d after %d records", i, len(got))
		}
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("Scan saw %d records, want 10", len(got))
	}
	for i, r := range got {
		if r != submission(i) {
			t.Errorf("record %d = %+v", i, r)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := b.Scan(func(int64, Record) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Scan returned %v after %d calls, want the callback's error after 1", err, n)
	}
}
