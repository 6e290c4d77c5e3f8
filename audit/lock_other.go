//go:build !unix

package audit

import (
	"errors"
	"os"
	"time"
)

// lockFile only opens the file where flock is not available: nothing keeps
// two processes from appending to one log at the same time, so only one
// process may have a log open.
func lockFile(path string, flag int, exclusive bool, deadline time.Time) (*os.File, error) {
	return os.OpenFile(path, flag, 0o600)
}

var errLockTimeout = errors.New("timed out")
