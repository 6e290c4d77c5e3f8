// Package smallfs mounts small, real file systems for tests that fill a
// disk: a tmpfs, or ext4 on a loop device. Mounting needs root; tests skip
// with a message when they cannot.
package smallfs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Kinds lists the file systems Mount can make.
var Kinds = []string{"tmpfs", "ext4"}

// Mount mounts a new file system of kind ("tmpfs" or "ext4") and about
// size bytes on a fresh folder, unmounts it when the test ends, and returns
// the folder. It skips the test if it cannot mount (not root, no mkfs.ext4,
// no loop device).
func Mount(t testing.TB, kind string, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("filling a real %s needs root to mount one; run the tests as root (for example in a container) to include them", kind)
	}
	mnt := filepath.Join(t.TempDir(), kind)
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	switch kind {
	case "tmpfs":
		cmd = exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10)+",mode=0700", "tmpfs", mnt)
	case "ext4":
		img := filepath.Join(t.TempDir(), "ext4.img")
		f, err := os.Create(img)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(size)
		f.Close()
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
			t.Skipf("cannot make an ext4 file system (%v: %s)", err, bytes.TrimSpace(out))
		}
		cmd = exec.Command("mount", "-o", "loop", img, mnt)
	default:
		t.Fatalf("unknown file system %q", kind)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s to fill (%v: %s)", kind, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// Fill writes a file in dir until the file system is full, as another
// program (logs, tor) would, and returns its path. Removing it frees the
// space again.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			buf = buf[:len(buf)/2]
		}
	}
	f.Sync()
	// ext4 keeps a few blocks back for metadata; take what the block
	// allocator still hands out.
	for i := 0; i < 64; i++ {
		if _, err := f.Write([]byte{0}); err != nil {
			break
		}
	}
	f.Sync()
	return path
}

// Free returns the bytes available on the file system holding dir.
func Free(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}
