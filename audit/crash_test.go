package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	crashDirEnv   = "AUDIT_TEST_CRASH_CHILD_DIR"
	crashSkeyEnv  = "AUDIT_TEST_CRASH_CHILD_SKEY"
	crashLabelEnv = "AUDIT_TEST_CRASH_CHILD_LABEL"
)

// crashGoroutines is how many goroutines of the crash child append at once,
// so that its appends share commits.
const crashGoroutines = 8

// TestCrashChild is the process TestCrashRecovery kills: crashGoroutines
// goroutines append labelled records in a loop, one of them signing a
// checkpoint now and then, and each prints "<label> <k> <index> <commits>"
// once Append has returned, commits being how many commits the Log made so
// far.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashRecovery")
	}
	signer, err := note.NewSigner(os.Getenv(crashSkeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, testOrigin, signer)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var out sync.Mutex
	for g := range crashGoroutines {
		label := fmt.Sprintf("%s.%d", os.Getenv(crashLabelEnv), g)
		go func() {
			for k := 0; ; k++ {
				i, err := l.Append(labelled(label, k))
				if err != nil {
					fmt.Fprintf(os.Stderr, "Append: %v\n", err)
					os.Exit(4)
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "%s %d %d %d\n", label, k, i, l.commits.Load())
				out.Unlock()
				if g == 0 && k%16 == 15 {
					if _, err := l.Checkpoint(testDay, true); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(5)
					}
				}
			}
		}()
	}
	select {}
}

// A crashAck is a line of TestCrashChild: record k of the writer label is
// at index, acknowledged after commits commits.
type crashAck struct {
	label          string
	k              int
	index, commits int64
}

// TestCrashRecovery kills a process appending to a log from several
// goroutines, which share commits, with SIGKILL at random points, many
// times: before, during or after a commit or a checkpoint. Every time, the
// log must reopen, verify, be consistent with the checkpoint saved after
// the previous run, and hold every record the process acknowledged, at the
// index Append returned, once.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("this is the child")
	}
	runs := 25
	if testing.Short() {
		runs = 5
	}
	dir := filepath.Join(t.TempDir(), "log")
	k := newTestKey(t, testOrigin)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)
	var trusted []byte
	acked := map[string][]int64{}
	var nacked, commits int64
	hashesBehind, partialRecords := 0, 0
	for run := range runs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSkeyEnv+"="+k.skey, fmt.Sprintf("%s=run%d", crashLabelEnv, run))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for g := range crashGoroutines {
			acked[fmt.Sprintf("run%d.%d", run, g)] = nil
		}
		acks := make(chan crashAck)
		go func() {
			defer close(acks)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var a crashAck
				if _, err := fmt.Sscanf(sc.Text(), "%s %d %d %d", &a.label, &a.k, &a.index, &a.commits); err == nil {
					acks <- a
				}
			}
		}()
		runCommits := int64(0)
		ack := func(a crashAck) {
			if a.k != len(acked[a.label]) {
				t.Fatalf("run %d: writer %s acknowledged its record %d after %d", run, a.label, a.k, len(acked[a.label]))
			}
			acked[a.label] = append(acked[a.label], a.index)
			nacked++
			runCommits = max(runCommits, a.commits)
		}
		// Let it acknowledge at least one record, then kill it at a random
		// point.
		select {
		case a, ok := <-acks:
			if !ok {
				t.Fatalf("run %d: child exited: %s", run, stderr.String())
			}
			ack(a)
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("run %d: child acknowledged nothing in 60 s: %s", run, stderr.String())
		}
		deadline := time.After(time.Duration(rng.IntN(40_000)) * time.Microsecond)
	wait:
		for {
			select {
			case a := <-acks:
				ack(a)
			case <-deadline:
				break wait
			}
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		for a := range acks {
			ack(a)
		}
		commits += runCommits
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("run %d: child ended with %v, not SIGKILL: %s", run, err, stderr.String())
		}

		// Look at what the crash left, then recover.
		records, _ := os.ReadFile(filepath.Join(dir, recordsFile))
		hashes, _ := os.ReadFile(filepath.Join(dir, hashesFile))
		if len(records) > 0 && records[len(records)-1] != '\n' {
			partialRecords++
		}
		if n := int64(bytes.Count(records, []byte("\n"))); int64(len(hashes)) < tlog.StoredHashCount(n)*tlog.HashSize {
			hashesBehind++
		}
		l, err := Open(dir, testOrigin, k.signer)
		if err != nil {
			t.Fatalf("run %d: Open after SIGKILL: %v", run, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(dir, k.vkey, trusted)
		if err != nil {
			t.Fatalf("run %d: Verify after SIGKILL: %v", run, err)
		}
		if trusted != nil && rep.Trusted == 0 {
			t.Fatalf("run %d: not proven consistent with the previous checkpoint", run)
		}
		// Every acknowledged record is there, once, where Append said.
		checkWriters(t, rep, acked)
		if rep.Latest != "" {
			trusted = []byte(rep.Latest)
		}
	}
	if commits >= nacked {
		t.Fatalf("%d records acknowledged in %d commits: the appends never shared a commit", nacked, commits)
	}
	t.Logf("%d runs killed with SIGKILL; %d records acknowledged in about %d commits, all kept; recovery rebuilt hashes %d times and removed a partial record %d times",
		runs, nacked, commits, hashesBehind, partialRecords)
}
