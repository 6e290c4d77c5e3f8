package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	crashDirEnv  = "AUDIT_TEST_CRASH_CHILD_DIR"
	crashSkeyEnv = "AUDIT_TEST_CRASH_CHILD_SKEY"
)

// crashRecord is the record the crash child appends at index i.
func crashRecord(i int64) Record {
	return SubmissionStored(sha256.Sum256(strconv.AppendInt(nil, i, 10)), testDay)
}

// TestCrashChild is the process TestCrashRecovery kills: it appends records
// in a loop, signing a checkpoint now and then, and prints the index of each
// record once Append has returned.
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
	for {
		i := l.Size()
		got, err := l.Append(crashRecord(i))
		if err != nil || got != i {
			fmt.Fprintf(os.Stderr, "Append = %d, %v; want %d\n", got, err, i)
			os.Exit(4)
		}
		os.Stdout.WriteString(strconv.FormatInt(got, 10) + "\n")
		if got%16 == 15 {
			if _, err := l.Checkpoint(testDay, true); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(5)
			}
		}
	}
}

// TestCrashRecovery kills a process appending to a log with SIGKILL at
// random points, many times. Every time, the log must reopen, verify, be
// consistent with the checkpoint saved after the previous run, and hold
// every record the process acknowledged.
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
	maxAcked := int64(-1)
	hashesBehind, partialRecords := 0, 0
	for run := range runs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSkeyEnv+"="+k.skey)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acks := make(chan int64)
		go func() {
			defer close(acks)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if i, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
					acks <- i
				}
			}
		}()
		// Let it acknowledge at least one record, then kill it at a random
		// point: before, during or after an append or a checkpoint.
		select {
		case i, ok := <-acks:
			if !ok {
				t.Fatalf("run %d: child exited: %s", run, stderr.String())
			}
			maxAcked = max(maxAcked, i)
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("run %d: child acknowledged nothing in 60 s: %s", run, stderr.String())
		}
		deadline := time.After(time.Duration(rng.IntN(40_000)) * time.Microsecond)
	wait:
		for {
			select {
			case i := <-acks:
				maxAcked = max(maxAcked, i)
			case <-deadline:
				break wait
			}
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		for i := range acks {
			maxAcked = max(maxAcked, i)
		}
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
		size := l.Size()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if size <= maxAcked {
			t.Fatalf("run %d: log has %d records after SIGKILL, but record %d was acknowledged", run, size, maxAcked)
		}
		rep, err := Verify(dir, k.vkey, trusted)
		if err != nil {
			t.Fatalf("run %d: Verify after SIGKILL: %v", run, err)
		}
		if trusted != nil && rep.Trusted == 0 {
			t.Fatalf("run %d: not proven consistent with the previous checkpoint", run)
		}
		for i, r := range rep.records {
			if r != crashRecord(int64(i)) {
				t.Fatalf("run %d: record %d is %+v, want %+v", run, i, r, crashRecord(int64(i)))
			}
		}
		if rep.Latest != "" {
			trusted = []byte(rep.Latest)
		}
	}
	t.Logf("%d runs killed with SIGKILL; %d records acknowledged, all kept; recovery rebuilt hashes %d times and removed a partial record %d times",
		runs, maxAcked+1, hashesBehind, partialRecords)
}
