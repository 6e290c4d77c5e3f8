//go:build !unix

package audit

import "os"

// lockFile does nothing where flock is not available: only one process may
// open a log at a time, and nothing enforces it.
func lockFile(f *os.File) error { return nil }
