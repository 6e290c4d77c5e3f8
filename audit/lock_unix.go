//go:build unix

package audit

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on f, so that a second process
// cannot append to the same log. The kernel releases it when the process
// exits, however it exits.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errors.New("the log is open in another process; stop it first")
	}
	if err != nil {
		return fmt.Errorf("failed to lock the log: %w", err)
	}
	return nil
}
