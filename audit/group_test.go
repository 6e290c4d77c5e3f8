package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// setSyncFile makes the commits of every Log call fn for their fsyncs
// until the test ends.
func setSyncFile(t *testing.T, fn func(f *os.File) error) {
	t.Helper()
	old := syncFile
	syncFile = fn
	t.Cleanup(func() { syncFile = old })
}

// queued returns how many appends wait for l's next commit.
func (l *Log) queued() int {
	l.gmu.Lock()
	defer l.gmu.Unlock()
	return len(l.queue)
}

// waitQueued waits until n appends wait for l's next commit.
func waitQueued(l *Log, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for l.queued() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d appends queued after 30 s, want %d", l.queued(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

// fileOf returns which file of a log f is, by name.
func fileOf(f *os.File) string { return filepath.Base(f.Name()) }

// appendAll appends record 0 of each writer in labels, each from its own
// goroutine, and returns their indexes and errors, by label.
func appendAll(l *Log, labels []string) (map[string]int64, map[string]error) {
	var mu sync.Mutex
	idx, errs := map[string]int64{}, map[string]error{}
	var wg sync.WaitGroup
	for _, label := range labels {
		wg.Go(func() {
			i, err := l.Append(labelled(label, 0))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[label] = err
			} else {
				idx[label] = i
			}
		})
	}
	wg.Wait()
	return idx, errs
}

func labels(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// TestGroupCommitSharesSyncs: appends that arrive while a commit runs are
// committed together, with one fsync of the records and one of the hashes,
// and each returns the index of its record.
func TestGroupCommitSharesSyncs(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, dir, k)
	const n = 64
	var mu sync.Mutex
	syncs := map[string]int{}
	setSyncFile(t, func(f *os.File) error {
		mu.Lock()
		syncs[fileOf(f)]++
		first := syncs[fileOf(f)] == 1 && fileOf(f) == recordsFile
		mu.Unlock()
		if first {
			// Hold the first commit until every other append waits.
			if err := waitQueued(l, n-1); err != nil {
				return err
			}
		}
		return f.Sync()
	})
	idx, errs := appendAll(l, labels("w", n))
	if len(errs) > 0 {
		t.Fatalf("appends failed: %v", errs)
	}
	if syncs[recordsFile] != 2 || syncs[hashesFile] != 2 || l.commits.Load() != 2 {
		t.Fatalf("%d appends made %d commits, %d fsyncs of records, %d of hashes; want 2, 2 and 2 (one append, then the 63 that waited)",
			n, l.commits.Load(), syncs[recordsFile], syncs[hashesFile])
	}
	if _, err := l.Checkpoint(testDay, true); err != nil {
		t.Fatal(err)
	}
	l.Close()
	rep := mustVerify(t, dir, k.vkey, nil)
	acked := map[string][]int64{}
	for label, i := range idx {
		acked[label] = []int64{i}
	}
	checkWriters(t, rep, acked)
	if rep.Signed != n || len(rep.Notes) != 0 {
		t.Fatalf("%d records signed, notes %q", rep.Signed, rep.Notes)
	}
}

// TestGroupCommitManyGoroutines appends from 64 goroutines to each of two
// Logs on one directory, while checkpointing: the log holds every record
// once, each writer's in its order, at the index Append returned, and the
// appends shared commits.
func TestGroupCommitManyGoroutines(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	logs := []*Log{openTestLog(t, dir, k), openTestLog(t, dir, k)}
	const goroutines = 64
	each := 12
	if testing.Short() || raceEnabled {
		each = 4
	}
	var ws []*writer
	for i := range goroutines {
		ws = append(ws, &writer{l: logs[i%2], label: fmt.Sprintf("w%d", i)})
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.run(t, each, nil) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if _, err := logs[0].Checkpoint(testDay, true); err != nil {
		t.Fatal(err)
	}
	commits := logs[0].commits.Load() + logs[1].commits.Load()
	for _, l := range logs {
		l.Close()
	}
	rep := mustVerify(t, dir, k.vkey, nil)
	acked := map[string][]int64{}
	var ckpts [][]byte
	for _, w := range ws {
		acked[w.label] = w.acked
		ckpts = append(ckpts, w.ckpts...)
	}
	n := int64(goroutines * each)
	if rep.Records != n || rep.Signed != n || len(rep.Notes) != 0 {
		t.Fatalf("%d records, %d signed, notes %q; want %d", rep.Records, rep.Signed, rep.Notes, n)
	}
	checkWriters(t, rep, acked)
	checkSavedCheckpoints(t, dir, k.vkey, ckpts)
	if commits >= n {
		t.Fatalf("%d appends made %d commits: none shared a commit", n, commits)
	}
	t.Logf("%d records in %d commits", n, commits)
}

// TestGroupCommitSyncFailure makes an fsync of a commit fail: every append
// of the batch fails with the error, and so does every append that waited
// behind it, until the log is reopened; the reopened log verifies, keeps
// every record acknowledged before, and takes appends again.
func TestGroupCommitSyncFailure(t *testing.T) {
	k := newTestKey(t, testOrigin)
	for _, file := range []string{recordsFile, hashesFile} {
		t.Run(file, func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, k)
			for i := range 3 {
				mustAppend(t, l, labelled("before", i))
			}
			c, err := l.Checkpoint(testDay, true)
			if err != nil {
				t.Fatal(err)
			}
			injected := fmt.Errorf("injected: %w", syscall.EIO)
			const batch, behind = 16, 16
			var mu sync.Mutex
			syncs := 0
			firstSync, batchSync := make(chan struct{}), make(chan struct{})
			setSyncFile(t, func(f *os.File) error {
				if fileOf(f) != file {
					return f.Sync()
				}
				mu.Lock()
				syncs++
				nth := syncs
				mu.Unlock()
				switch nth {
				case 1: // a commit of one append: hold it until a batch waits
					close(firstSync)
					if err := waitQueued(l, batch); err != nil {
						return err
					}
					return f.Sync()
				case 2: // the batch: fail once more appends wait behind it
					close(batchSync)
					if err := waitQueued(l, behind); err != nil {
						return err
					}
					return injected
				}
				return fmt.Errorf("fsync %d of %s: the Log kept writing after a failed fsync", nth, file)
			})
			var first int64
			var firstErr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				first, firstErr = l.Append(labelled("first", 0))
			}()
			<-firstSync
			// The batch queues while the first commit runs; those behind it
			// queue while the batch's commit runs.
			var idx map[string]int64
			var errs map[string]error
			var wg sync.WaitGroup
			wg.Go(func() { idx, errs = appendAll(l, labels("batch", batch)) })
			<-batchSync
			_, errsBehind := appendAll(l, labels("behind", behind))
			wg.Wait()
			<-done
			if firstErr != nil || first != 3 {
				t.Fatalf("the append before the failure = %d, %v; want 3", first, firstErr)
			}
			if len(idx) != 0 || len(errs) != batch || len(errsBehind) != behind {
				t.Fatalf("%d appends of the failed batch succeeded, %d failed, and %d of those behind it failed; want 0, %d, %d",
					len(idx), len(errs), len(errsBehind), batch, behind)
			}
			for label, err := range errs {
				if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "injected") {
					t.Fatalf("append %s failed with %v, not the failed fsync", label, err)
				}
			}
			for label, err := range errsBehind {
				if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "must be reopened") {
					t.Fatalf("append %s, behind the failed batch, failed with %v", label, err)
				}
			}
			if _, err := l.Append(labelled("after", 0)); err == nil || !strings.Contains(err.Error(), "must be reopened") {
				t.Fatalf("Append after a failed fsync = %v, want the Log to ask to be reopened", err)
			}
			if _, err := l.Checkpoint(testDay, true); err == nil {
				t.Fatal("Checkpoint after a failed fsync succeeded")
			}
			l.Close()

			// Reopened, the log verifies against the checkpoint signed
			// before, holds every acknowledged record (the failed ones
			// may or may not be there: their fsync failed), and takes
			// appends again.
			setSyncFile(t, (*os.File).Sync)
			l = openTestLog(t, dir, k)
			n := l.Size()
			if got := mustAppend(t, l, labelled("after", 0)); got != n {
				t.Fatalf("Append after reopening = %d, want %d", got, n)
			}
			if _, err := l.Checkpoint(testDay, true); err != nil {
				t.Fatal(err)
			}
			l.Close()
			rep := mustVerify(t, dir, k.vkey, c)
			if rep.Trusted == 0 || rep.Signed != rep.Records || len(rep.Notes) != 0 {
				t.Fatalf("report after reopening: %+v", rep)
			}
			acked := map[string][]int64{"before": {0, 1, 2}, "first": {3}, "after": {n}}
			for _, label := range append(labels("batch", batch), labels("behind", behind)...) {
				acked[label] = nil
			}
			checkWriters(t, rep, acked)
			got, _ := os.ReadFile(filepath.Join(dir, hashesFile))
			if !bytes.Equal(got, hashBytes(rep.tree.hashes)) {
				t.Fatal("the hashes file does not match the records")
			}
			t.Logf("%d of the failed batch's records reached the log", n-4)
		})
	}
}

// TestOpenRebuildsHashesOfLastCommit: a machine that lost power during the
// last commit's write of hashes may have kept some of its disk blocks and
// not others, which read as zeros. Open rebuilds those hashes, and only
// those: zeros elsewhere, or wrong hashes that are not zeros, are damage.
func TestOpenRebuildsHashesOfLastCommit(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	const n = maxBatch + 100
	l := openTestLog(t, dir, k)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < n; i += 16 {
				if _, err := l.Append(submission(i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if _, err := l.Checkpoint(testDay, true); err != nil {
		t.Fatal(err)
	}
	l.Close()
	records, _ := os.ReadFile(filepath.Join(dir, recordsFile))
	hashes, _ := os.ReadFile(filepath.Join(dir, hashesFile))
	const hs = tlog.HashSize
	// The hashes of the last maxBatch records, but for the last one's.
	batchStart := tlog.StoredHashCount(n - maxBatch)
	lastStart := tlog.StoredHashCount(n - 1)
	for _, tc := range []struct {
		name    string
		from, n int64 // stored hashes to overwrite
		zero    bool
		ok      bool
	}{
		{"a block of the last commit lost", batchStart + 10, 128, true, true},
		{"first hash of the last commit lost", batchStart, 1, true, true},
		{"several blocks lost", batchStart + 3, lastStart - batchStart - 3, true, true},
		{"hash before the last commit zeroed", batchStart - 1, 1, true, false},
		{"hash of the last commit wrong", batchStart + 10, 1, false, false},
		{"last record's hashes wrong", lastStart, tlog.StoredHashCount(n) - lastStart, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(dir, recordsFile), records, 0o600)
			damaged := bytes.Clone(hashes)
			for j := tc.from * hs; j < (tc.from+tc.n)*hs; j++ {
				if tc.zero {
					damaged[j] = 0
				} else {
					damaged[j] ^= 0x5a
				}
			}
			os.WriteFile(filepath.Join(dir, hashesFile), damaged, 0o600)
			l, err := Open(dir, testOrigin, k.signer)
			if !tc.ok {
				if err == nil {
					l.Close()
					t.Fatal("Open took in hashes a crash cannot leave")
				}
				if !strings.Contains(err.Error(), "hashes file disagrees") {
					t.Fatalf("Open error = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			l.Close()
			got, _ := os.ReadFile(filepath.Join(dir, hashesFile))
			if !bytes.Equal(got, hashes) {
				t.Fatal("the hashes were not rebuilt")
			}
			if rep := mustVerify(t, dir, k.vkey, nil); rep.Signed != n || len(rep.Notes) != 0 {
				t.Fatalf("%d signed, notes %q", rep.Signed, rep.Notes)
			}
		})
	}
}

const (
	groupDirEnv   = "AUDIT_TEST_GROUP_DIR"
	groupSkeyEnv  = "AUDIT_TEST_GROUP_SKEY"
	groupLabelEnv = "AUDIT_TEST_GROUP_LABEL"
	groupEachEnv  = "AUDIT_TEST_GROUP_EACH"
)

// groupGoroutines is how many goroutines of each process append at once in
// TestGroupCommitTwoProcesses.
const groupGoroutines = 32

// TestGroupChild is the other process of TestGroupCommitTwoProcesses:
// groupGoroutines goroutines each append a number of labelled records,
// one of them checkpointing now and then, and print "<label> <index>" for
// each record once Append has returned.
func TestGroupChild(t *testing.T) {
	dir := os.Getenv(groupDirEnv)
	if dir == "" {
		t.Skip("run by TestGroupCommitTwoProcesses")
	}
	signer, err := note.NewSigner(os.Getenv(groupSkeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	each, err := strconv.Atoi(os.Getenv(groupEachEnv))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, testOrigin, signer)
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range groupGoroutines {
		label := fmt.Sprintf("%s%d", os.Getenv(groupLabelEnv), g)
		wg.Go(func() {
			for k := range each {
				i, err := l.Append(labelled(label, k))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %d\n", label, i)
				mu.Unlock()
				if g == 0 && k%8 == 7 {
					if _, err := l.Checkpoint(testDay, k%16 == 15); err != nil {
						t.Errorf("Checkpoint: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err := out.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitTwoProcesses has two processes append to one log, each
// from 32 goroutines, while checkpointing: the log verifies and holds
// every record once, each writer's in its order, at the index Append
// returned.
func TestGroupCommitTwoProcesses(t *testing.T) {
	if os.Getenv(groupDirEnv) != "" {
		t.Skip("this is the child")
	}
	each := 10
	if testing.Short() || raceEnabled {
		each = 4
	}
	dir := filepath.Join(t.TempDir(), "log")
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, dir, k)
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), groupDirEnv+"="+dir, groupSkeyEnv+"="+k.skey, groupLabelEnv+"=child", groupEachEnv+"="+strconv.Itoa(each))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ws []*writer
	for g := range groupGoroutines {
		ws = append(ws, &writer{l: l, label: fmt.Sprintf("parent%d", g)})
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.run(t, each, nil) })
	}
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if _, err := l.Checkpoint(testDay, true); err != nil {
		t.Fatal(err)
	}
	acked := map[string][]int64{}
	var ckpts [][]byte
	for _, w := range ws {
		acked[w.label] = w.acked
		ckpts = append(ckpts, w.ckpts...)
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var label string
		var i int64
		if _, err := fmt.Sscanf(sc.Text(), "%s %d", &label, &i); err != nil {
			continue // the test framework's own lines
		}
		acked[label] = append(acked[label], i)
	}
	rep := mustVerify(t, dir, k.vkey, nil)
	n := int64(2 * groupGoroutines * each)
	if rep.Records != n || rep.Signed != n || len(rep.Notes) != 0 {
		t.Fatalf("%d records, %d signed, notes %q; want %d", rep.Records, rep.Signed, rep.Notes, n)
	}
	switches := checkWriters(t, rep, acked)
	for g := range groupGoroutines {
		if len(acked[fmt.Sprintf("child%d", g)]) != each {
			t.Fatalf("child writer %d had %d records acknowledged, want %d", g, len(acked[fmt.Sprintf("child%d", g)]), each)
		}
	}
	checkSavedCheckpoints(t, dir, k.vkey, ckpts)
	t.Logf("%d records, %d commits by this process, the writer changed %d times", n, l.commits.Load(), switches)
}
