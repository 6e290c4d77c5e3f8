//go:build unix

package audit

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLockTimeout checks that operations give up, with an error that says
// why, when another process holds the lock for too long, and work again
// once it lets go.
func TestLockTimeout(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, dir, k)
	mustAppend(t, l, submission(0))
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 200 * time.Millisecond

	held, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	want := "another process has held the audit log in " + dir + " for over 200ms"
	if _, err := l.Append(submission(1)); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Append error = %v, want %q", err, want)
	}
	if _, err := l.Checkpoint(testDay, true); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Checkpoint error = %v, want %q", err, want)
	}
	if _, err := Open(dir, testOrigin, k.signer); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open error = %v, want %q", err, want)
	}
	if _, err := Verify(dir, k.vkey, nil); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Verify error = %v, want %q", err, want)
	}

	// Readers share the lock.
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir, k.vkey, nil); err != nil {
		t.Fatalf("Verify while another reader holds the lock: %v", err)
	}
	if _, err := l.Append(submission(1)); err == nil {
		t.Fatal("Append while another process reads succeeded")
	}

	// The waits that timed out give the lock up when they get it.
	lockTimeout = 30 * time.Second
	held.Close()
	for i := 1; i < 3; i++ {
		if got := mustAppend(t, l, submission(i)); got != int64(i) {
			t.Fatalf("Append = %d, want %d", got, i)
		}
	}
	rep := mustVerify(t, dir, k.vkey, nil)
	if rep.Records != 3 {
		t.Fatalf("%d records, want 3", rep.Records)
	}
}
