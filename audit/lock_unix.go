//go:build unix

package audit

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

// lockFile opens the file at path with flag and waits until it holds a flock
// on it, exclusive or shared, until deadline at most. Closing the returned
// file releases the lock, and so does the kernel when the process exits,
// however it exits.
//
// Each call opens the file anew: flock locks belong to an open file, so two
// calls exclude each other even within one process.
func lockFile(path string, flag int, exclusive bool, deadline time.Time) (*os.File, error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		f, err := os.OpenFile(path, flag, 0o600)
		if err != nil {
			return nil, err
		}
		if err := waitFlock(f, how, deadline); err != nil {
			return nil, err // waitFlock closed f, or will once it can
		}
		// The lock is only worth something if path still names the locked
		// file: someone may have removed or replaced it meanwhile.
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if pi, err := os.Stat(path); err == nil && os.SameFile(fi, pi) {
			return f, nil
		}
		f.Close()
		if !time.Now().Before(deadline) {
			return nil, errLockTimeout
		}
	}
}

// errLockTimeout is wrapped with the log directory by the caller.
var errLockTimeout = errors.New("timed out")

// waitFlock takes the flock how on f, waiting until deadline at most. On
// failure f is closed, at once or, if a wait for the lock cannot be
// interrupted, as soon as the lock is granted.
func waitFlock(f *os.File, how int, deadline time.Time) error {
	fd := int(f.Fd())
	err := flock(fd, how|syscall.LOCK_NB)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return fmt.Errorf("failed to lock %s: %w", f.Name(), err)
	}
	// A blocking flock wakes up as soon as the lock is released, which
	// polling might miss under load; it cannot be interrupted, so it runs
	// in a goroutine that gives up the lock if it comes too late.
	done := make(chan error, 1)
	go func() {
		done <- flock(fd, how)
		runtime.KeepAlive(f)
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return fmt.Errorf("failed to lock %s: %w", f.Name(), err)
		}
		return nil
	case <-timer.C:
		go func() {
			<-done
			f.Close()
		}()
		return errLockTimeout
	}
}

func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}
