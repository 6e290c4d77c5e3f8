package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// labelled is the k-th record the writer named label appends.
func labelled(label string, k int) Record {
	return SubmissionStored(sha256.Sum256(fmt.Appendf(nil, "%s/%d", label, k)), testDay)
}

// checkWriters checks that the log holds, for each writer, the records it
// appended, in its order, at the indexes Append returned (acked[label][k] is
// the index of its record k), and nothing else. A writer that was killed may
// have left one more record it never saw acknowledged. It returns how often
// the writer changes from one record to the next.
func checkWriters(t *testing.T, rep *Report, acked map[string][]int64) (switches int) {
	t.Helper()
	type origin struct {
		label string
		k     int
	}
	who := map[Record]origin{}
	for label, idx := range acked {
		for k := range len(idx) + 2 {
			who[labelled(label, k)] = origin{label, k}
		}
	}
	next := map[string]int{}
	prev := ""
	for i, r := range rep.records {
		w, ok := who[r]
		if !ok {
			t.Fatalf("record %d (%+v) is none of the records appended", i, r)
		}
		if w.k != next[w.label] {
			t.Fatalf("record %d is record %d of writer %s, want its record %d: its records were reordered, lost or duplicated", i, w.k, w.label, next[w.label])
		}
		next[w.label]++
		if w.k < len(acked[w.label]) && acked[w.label][w.k] != int64(i) {
			t.Fatalf("record %d of writer %s is at index %d, but Append returned %d", w.k, w.label, i, acked[w.label][w.k])
		}
		if prev != "" && prev != w.label {
			switches++
		}
		prev = w.label
	}
	for label, idx := range acked {
		if next[label] < len(idx) {
			t.Fatalf("writer %s had %d records acknowledged, but the log holds %d", label, len(idx), next[label])
		}
	}
	return switches
}

// A writer appends labelled records to its own Log in a goroutine, signing
// a checkpoint every few records, as one of the processes sharing a log.
type writer struct {
	l     *Log
	label string
	pause sync.Mutex // held around each append

	mu    sync.Mutex
	acked []int64
	ckpts [][]byte
}

// run appends count records, or records until stop is closed if count is 0.
func (w *writer) run(t *testing.T, count int, stop <-chan struct{}) {
	for k := 0; count == 0 || k < count; k++ {
		select {
		case <-stop:
			return
		default:
		}
		w.pause.Lock()
		idx, err := w.l.Append(labelled(w.label, k))
		w.pause.Unlock()
		if err != nil {
			t.Errorf("writer %s: Append: %v", w.label, err)
			return
		}
		w.mu.Lock()
		w.acked = append(w.acked, idx)
		w.mu.Unlock()
		if k%8 == 7 {
			c, err := w.l.Checkpoint(testDay, k%16 == 15)
			if err != nil {
				t.Errorf("writer %s: Checkpoint: %v", w.label, err)
				return
			}
			w.mu.Lock()
			w.ckpts = append(w.ckpts, c)
			w.mu.Unlock()
		}
	}
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// checkSavedCheckpoints checks that the log in dir verifies against each checkpoint
// in ckpts, as an auditor who saved it would.
func checkSavedCheckpoints(t *testing.T, dir, vkey string, ckpts [][]byte) {
	t.Helper()
	for _, c := range ckpts {
		rep := mustVerify(t, dir, vkey, c)
		if rep.Trusted == 0 {
			t.Fatalf("the log was not proven consistent with checkpoint %q", c)
		}
	}
}

func TestTwoLogsShareALog(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	l1 := openTestLog(t, dir, k)
	mustAppend(t, l1, labelled("a", 0))
	mustAppend(t, l1, labelled("a", 1))
	l2 := openTestLog(t, dir, k)
	if got := mustAppend(t, l2, labelled("b", 0)); got != 2 {
		t.Fatalf("second Log appended at %d, want 2", got)
	}
	if l1.Size() != 2 {
		t.Fatalf("first Log counts %d records before its next append, want 2", l1.Size())
	}
	if got := mustAppend(t, l1, labelled("a", 2)); got != 3 {
		t.Fatalf("first Log appended at %d after the second one appended, want 3", got)
	}

	// The once-a-day rule holds across processes; a forced checkpoint
	// covers the records of both.
	day1 := time.Date(2026, 3, 4, 1, 0, 0, 0, time.UTC)
	c1, err := l2.Checkpoint(day1, false)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l1, labelled("a", 3))
	if c, _ := l1.Checkpoint(day1.Add(time.Hour), false); !bytes.Equal(c, c1) {
		t.Fatal("signed a second checkpoint on a day another process already signed one")
	}
	c2, err := l1.Checkpoint(day1.Add(time.Hour), true)
	if err != nil || bytes.Equal(c2, c1) {
		t.Fatalf("forced Checkpoint = %v", err)
	}
	if c, _ := l2.Checkpoint(day1.Add(24*time.Hour), false); !bytes.Equal(c, c2) {
		t.Fatal("signed a new checkpoint although the log did not grow since another process signed one")
	}
	if l2.Size() != 5 {
		t.Fatalf("second Log counts %d records after its checkpoint, want 5", l2.Size())
	}
	l1.Close()
	l2.Close()
	rep := mustVerify(t, dir, k.vkey, c1)
	if rep.Signed != 5 || rep.Checkpoints != 2 || rep.Trusted != 4 {
		t.Fatalf("report = %+v", rep)
	}
	checkWriters(t, rep, map[string][]int64{"a": {0, 1, 3, 4}, "b": {2}})
}

func TestAppendRecoversAnotherWritersCrash(t *testing.T) {
	k := newTestKey(t, testOrigin)
	text, _ := labelled("crashed", 0).MarshalText()
	for _, tc := range []struct {
		name   string
		crash  func(dir string)
		before int64 // records the crashed writer left
	}{
		{"partial record", func(dir string) {
			appendFile(t, filepath.Join(dir, recordsFile), text[:len(text)/2])
		}, 0},
		{"record without its hashes", func(dir string) {
			appendFile(t, filepath.Join(dir, recordsFile), text)
		}, 1},
		{"record with half its hashes", func(dir string) {
			appendFile(t, filepath.Join(dir, recordsFile), text)
			// Record 3 completes subtrees of 2 and 4 records: 3 hashes.
			appendFile(t, filepath.Join(dir, hashesFile), make([]byte, 40))
		}, 1},
		{"checkpoint temp file", func(dir string) {
			os.WriteFile(filepath.Join(dir, checkpointsDir, ".tmp-"+checkpointFileName(4)), []byte("partial"), 0o600)
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, k)
			for i := range 3 {
				mustAppend(t, l, submission(i))
			}
			if _, err := l.Checkpoint(testDay, true); err != nil {
				t.Fatal(err)
			}
			tc.crash(dir)
			if got := mustAppend(t, l, submission(3)); got != 3+tc.before {
				t.Fatalf("Append after another writer's crash = %d, want %d", got, 3+tc.before)
			}
			if _, err := l.Checkpoint(testDay, true); err != nil {
				t.Fatal(err)
			}
			l.Close()
			rep := mustVerify(t, dir, k.vkey, nil)
			if rep.Signed != 4+tc.before || len(rep.Notes) != 0 {
				t.Fatalf("signed %d, notes %q", rep.Signed, rep.Notes)
			}
			if rep.records[3+tc.before] != submission(3) {
				t.Fatal("the appended record is not where Append said")
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, checkpointsDir)); len(entries) != 2 {
				t.Fatalf("%d files in checkpoints, want 2", len(entries))
			}
		})
	}
}

func TestAppendRefusesAnotherWritersDamage(t *testing.T) {
	k := newTestKey(t, testOrigin)
	other := newTestKey(t, testOrigin)
	for _, tc := range []struct {
		name   string
		damage func(dir string)
		op     func(l *Log) error
		want   string
	}{
		{"malformed record appended", func(dir string) {
			appendFile(t, filepath.Join(dir, recordsFile), []byte("testimony-audit/1 2026-03-04 service-stopped extra\n"))
		}, appendOp, "record 3: malformed"},
		{"records removed", func(dir string) {
			os.Truncate(filepath.Join(dir, recordsFile), 10)
		}, appendOp, "records were removed"},
		{"records file replaced", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, recordsFile))
			os.Rename(filepath.Join(dir, recordsFile), filepath.Join(dir, "records.old"))
			os.WriteFile(filepath.Join(dir, recordsFile), b, 0o600)
		}, appendOp, "replaced while the log was open"},
		{"wrong hashes appended", func(dir string) {
			// Records 3 and 4 with their hashes, but the hash of record 3
			// (stored hash 4) is wrong: only the last record's may be.
			var leaves []tlog.Hash
			for i := range 5 {
				leaves = append(leaves, tlog.RecordHash(mustMarshal(t, submission(i))))
				if i >= 3 {
					appendFile(t, filepath.Join(dir, recordsFile), mustMarshal(t, submission(i)))
				}
			}
			hs := hashBytes(buildTree(leaves).hashes)[4*tlog.HashSize:]
			hs[0] ^= 1
			appendFile(t, filepath.Join(dir, hashesFile), hs)
		}, appendOp, "disagrees with the records at stored hash 4"},
		{"checkpoint by another key", func(dir string) {
			appendFile(t, filepath.Join(dir, recordsFile), mustMarshal(t, submission(3)))
			text, _ := Checkpoint{Origin: testOrigin, Size: 4, Hash: tlog.Hash{}, Day: "2026-03-04"}.MarshalText()
			msg, _ := note.Sign(&note.Note{Text: string(text)}, other.signer)
			os.WriteFile(filepath.Join(dir, checkpointsDir, checkpointFileName(4)), msg, 0o600)
		}, checkpointOp, "not signed by this log's key"},
		{"checkpoint removed", func(dir string) {
			os.Remove(filepath.Join(dir, checkpointsDir, checkpointFileName(3)))
		}, checkpointOp, "was removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, k)
			for i := range 3 {
				mustAppend(t, l, submission(i))
			}
			if _, err := l.Checkpoint(testDay, true); err != nil {
				t.Fatal(err)
			}
			tc.damage(dir)
			before := snapshot(t, dir)
			for range 2 { // and again: nothing was taken in
				if err := tc.op(l); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error = %v, want %q", err, tc.want)
				}
			}
			if after := snapshot(t, dir); after != before {
				t.Fatal("the open Log changed a damaged log")
			}
		})
	}
}

func appendOp(l *Log) error { _, err := l.Append(submission(99)); return err }

func checkpointOp(l *Log) error { _, err := l.Checkpoint(testDay, true); return err }

func mustMarshal(t testing.TB, r Record) []byte {
	t.Helper()
	b, err := r.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConcurrentLogs has two Logs on one directory append concurrently,
// each from two goroutines, while checkpointing.
func TestConcurrentLogs(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	l1, l2 := openTestLog(t, dir, k), openTestLog(t, dir, k)
	ws := []*writer{{l: l1, label: "a"}, {l: l1, label: "b"}, {l: l2, label: "c"}, {l: l2, label: "d"}}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.run(t, 40, nil) })
	}
	wg.Wait()
	if _, err := l2.Checkpoint(testDay, true); err != nil {
		t.Fatal(err)
	}
	l1.Close()
	l2.Close()
	rep := mustVerify(t, dir, k.vkey, nil)
	acked := map[string][]int64{}
	var ckpts [][]byte
	for _, w := range ws {
		acked[w.label] = w.acked
		ckpts = append(ckpts, w.ckpts...)
	}
	if rep.Records != 160 || rep.Signed != 160 {
		t.Fatalf("%d records, %d signed; want 160", rep.Records, rep.Signed)
	}
	switches := checkWriters(t, rep, acked)
	checkSavedCheckpoints(t, dir, k.vkey, ckpts)
	t.Logf("%d records, %d checkpoints, the writer changed %d times", rep.Records, rep.Checkpoints, switches)
}

const (
	writerDirEnv   = "AUDIT_TEST_WRITER_DIR"
	writerSkeyEnv  = "AUDIT_TEST_WRITER_SKEY"
	writerLabelEnv = "AUDIT_TEST_WRITER_LABEL"
)

// TestWriterChild is another process appending to a log: it appends
// labelled records until its standard input is closed, checkpointing now
// and then, and prints the index of each record once Append has returned.
func TestWriterChild(t *testing.T) {
	dir := os.Getenv(writerDirEnv)
	if dir == "" {
		t.Skip("run by TestTwoProcesses and TestCrashWhileOpen")
	}
	signer, err := note.NewSigner(os.Getenv(writerSkeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, testOrigin, signer)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	w := &writer{l: l, label: os.Getenv(writerLabelEnv)}
	go func() {
		for k := 0; ; k++ {
			select {
			case <-stop:
				if err := l.Close(); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
				os.Exit(0)
			default:
			}
			idx, err := l.Append(labelled(w.label, k))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(5)
			}
			os.Stdout.WriteString(strconv.FormatInt(idx, 10) + "\n")
			if k%8 == 7 {
				if _, err := l.Checkpoint(testDay, k%16 == 15); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(6)
				}
			}
		}
	}()
	select {}
}

// A child is a TestWriterChild process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	acks   chan int64 // closed when its standard output is
}

func startChild(t *testing.T, dir string, k testKey, label string) *child {
	t.Helper()
	c := &child{acks: make(chan int64)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestWriterChild$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), writerDirEnv+"="+dir, writerSkeyEnv+"="+k.skey, writerLabelEnv+"="+label)
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.acks)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if i, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
				c.acks <- i
			}
		}
	}()
	return c
}

// first waits for the child's first acknowledged record.
func (c *child) first(t *testing.T) int64 {
	t.Helper()
	select {
	case i, ok := <-c.acks:
		if !ok {
			t.Fatalf("child exited: %s", c.stderr.String())
		}
		return i
	case <-time.After(60 * time.Second):
		c.cmd.Process.Kill()
		t.Fatalf("child acknowledged nothing in 60 s: %s", c.stderr.String())
	}
	return 0
}

// TestTwoProcesses has a child process and two Logs of this process append
// to one log concurrently, while checkpointing.
func TestTwoProcesses(t *testing.T) {
	if os.Getenv(writerDirEnv) != "" {
		t.Skip("this is the child")
	}
	dir := filepath.Join(t.TempDir(), "log")
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, dir, k)
	mustAppend(t, l, ServiceStarted(sha256.Sum256([]byte("study")), testDay))
	c := startChild(t, dir, k, "child")
	childAcked := []int64{c.first(t)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range c.acks {
			childAcked = append(childAcked, i)
		}
	}()
	ws := []*writer{{l: l, label: "a"}, {l: openTestLog(t, dir, k), label: "b"}}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.run(t, 60, nil) })
	}
	wg.Wait()
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, c.stderr.String())
	}
	<-done
	if _, err := l.Checkpoint(testDay, true); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, dir, k.vkey, nil)
	if rep.Signed != rep.Records || rep.Records != int64(1+120+len(childAcked)) {
		t.Fatalf("%d records, %d signed; want %d", rep.Records, rep.Signed, 1+120+len(childAcked))
	}
	rep.records = rep.records[1:] // ServiceStarted
	for _, w := range ws {
		for i := range w.acked {
			w.acked[i]--
		}
	}
	for i := range childAcked {
		childAcked[i]--
	}
	switches := checkWriters(t, rep, map[string][]int64{"a": ws[0].acked, "b": ws[1].acked, "child": childAcked})
	if switches < 2 {
		t.Fatalf("the child's records were not interleaved with this process's: %d changes of writer", switches)
	}
	checkSavedCheckpoints(t, dir, k.vkey, append(ws[0].ckpts, ws[1].ckpts...))
	t.Logf("%d records (%d by the child), %d checkpoints, the writer changed %d times", rep.Records+1, len(childAcked), rep.Checkpoints, switches)
}

// TestCrashWhileOpen kills, with SIGKILL at random points, processes
// appending to a log that this process keeps open and appends to. This
// process's Log must recover what each crash left, without being reopened,
// and the log must hold every record either acknowledged.
func TestCrashWhileOpen(t *testing.T) {
	if os.Getenv(writerDirEnv) != "" {
		t.Skip("this is the child")
	}
	runs := 12
	if testing.Short() {
		runs = 4
	}
	dir := filepath.Join(t.TempDir(), "log")
	k := newTestKey(t, testOrigin)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)
	w := &writer{l: openTestLog(t, dir, k), label: "parent"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { w.run(t, 0, stop) })
	stopWriter := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	t.Cleanup(stopWriter) // before the Log is closed
	acked := map[string][]int64{}
	partial, hashesBehind := 0, 0
	for run := range runs {
		label := fmt.Sprintf("child%d", run)
		c := startChild(t, dir, k, label)
		acked[label] = append(acked[label], c.first(t))
		deadline := time.After(time.Duration(rng.IntN(40_000)) * time.Microsecond)
	wait:
		for {
			select {
			case i := <-c.acks:
				acked[label] = append(acked[label], i)
			case <-deadline:
				break wait
			}
		}
		// Kill the child while this process waits between two appends,
		// and look at what the crash left.
		w.pause.Lock()
		if err := c.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for i := range c.acks {
			acked[label] = append(acked[label], i)
		}
		if err := c.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("run %d: child ended with %v, not SIGKILL: %s", run, err, c.stderr.String())
		}
		records, _ := os.ReadFile(filepath.Join(dir, recordsFile))
		hashes, _ := os.ReadFile(filepath.Join(dir, hashesFile))
		if len(records) > 0 && records[len(records)-1] != '\n' {
			partial++
		}
		if n := int64(bytes.Count(records, []byte("\n"))); int64(len(hashes)) < tlog.StoredHashCount(n)*tlog.HashSize {
			hashesBehind++
		}
		w.pause.Unlock()
		// The log verifies while this process appends to it.
		for n := w.count(); w.count() < n+2; {
			time.Sleep(time.Millisecond)
			if t.Failed() {
				t.FailNow()
			}
		}
		n := w.count()
		if rep := mustVerify(t, dir, k.vkey, nil); rep.Records < int64(n) {
			t.Fatalf("run %d: %d records, but this process had %d acknowledged", run, rep.Records, n)
		}
	}
	stopWriter()
	if _, err := w.l.Checkpoint(testDay, true); err != nil {
		t.Fatal(err)
	}
	acked[w.label] = w.acked
	rep := mustVerify(t, dir, k.vkey, nil)
	if rep.Signed != rep.Records || len(rep.Notes) != 0 {
		t.Fatalf("%d records, %d signed, notes %q", rep.Records, rep.Signed, rep.Notes)
	}
	checkWriters(t, rep, acked)
	checkSavedCheckpoints(t, dir, k.vkey, w.ckpts)
	t.Logf("%d children killed with SIGKILL; %d records, all acknowledged ones kept; the open Log removed a partial record %d times and rebuilt hashes %d times",
		runs, rep.Records, partial, hashesBehind)
}
