package researcher

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS makes every file written to the file system holding dir durable,
// with one syncfs(2) instead of one fsync per file.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
