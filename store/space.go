package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/testimony-project/testimony/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// Options tune a Store's use of disk space. The zero value means the
// defaults.
type Options struct {
	// MinFree is the low-disk watermark, in bytes: Put refuses an envelope
	// that would leave less free space on the file system. Zero means
	// [DefaultMinFree]; negative means no watermark.
	MinFree int64
	// Reserve is the size of the reserve file, in bytes. Zero means a
	// quarter of the watermark, at most 64 MiB; negative means no reserve.
	Reserve int64
}

// Defaults of [Options].
const (
	// MinMinFree is the least default watermark: 256 MiB holds the
	// manifests (92 bytes an envelope) and audit records of an export of
	// over two million envelopes.
	MinMinFree = 256 << 20
	// MinFreeShare is the share of the file system's size the default
	// watermark keeps free on large disks, where file systems slow down as
	// they fill and other programs (tor, the system's logs) need room too.
	MinFreeShare = 0.01
	// MaxReserve bounds the default reserve.
	MaxReserve = 64 << 20
)

// DefaultMinFree returns the default watermark for a file system of size
// bytes: the larger of [MinMinFree] and [MinFreeShare] of the file system,
// but no more than a quarter of it (on a disk of under 1 GiB, 256 MiB would
// be most of it).
func DefaultMinFree(size int64) int64 {
	return min(max(MinMinFree, int64(float64(size)*MinFreeShare)), size/4)
}

// Space is what a file system holds, in bytes.
type Space struct {
	Size, Free int64 // Free: available to this process's user
}

// SpaceOf returns the size and free space of the file system holding dir.
func SpaceOf(dir string) (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Space{}, fmt.Errorf("failed to read free disk space: %w", err)
	}
	return Space{Size: int64(st.Blocks) * st.Bsize, Free: int64(st.Bavail) * st.Bsize}, nil
}

// MinFree returns the low-disk watermark in force, for a file system of
// size bytes.
func (s *Store) MinFree(size int64) int64 {
	switch {
	case s.opts.MinFree < 0:
		return 0
	case s.opts.MinFree > 0:
		return s.opts.MinFree
	}
	return DefaultMinFree(size)
}

// reserveSize returns the size of the reserve file to keep.
func (s *Store) reserveSize(size int64) int64 {
	switch {
	case s.opts.Reserve < 0:
		return 0
	case s.opts.Reserve > 0:
		return s.opts.Reserve
	}
	return min(MaxReserve, s.MinFree(size)/4)
}

// checkSpace refuses an envelope of n bytes that would take the file system
// below the watermark. It counts whole 4 KiB blocks and one more for the
// folder entry and inode.
func (s *Store) checkSpace(n int64) error {
	if s.opts.MinFree < 0 {
		return nil
	}
	sp, err := SpaceOf(s.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	need := (n+4095)/4096*4096 + 4096
	if min := s.MinFree(sp.Size); sp.Free-need < min {
		return fmt.Errorf("%w: %w: %d bytes free, %d kept free for exports, purges and the audit log", ErrUnavailable, ErrLowDisk, sp.Free, min)
	}
	return nil
}

// EnsureReserve makes the reserve file if it is missing and the file system
// has room for it above the watermark. It reports whether the reserve is
// in place.
func (s *Store) EnsureReserve() (bool, error) {
	path := filepath.Join(s.dir, reserveName)
	sp, err := SpaceOf(s.dir)
	if err != nil {
		return false, err
	}
	size := s.reserveSize(sp.Size)
	if fi, err := os.Lstat(path); err == nil && fi.Size() >= size {
		return true, nil
	}
	if size == 0 || sp.Free-size < s.MinFree(sp.Size) {
		return false, nil
	}
	tmp := filepath.Join(s.dir, tmpName, "reserve")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return false, fmt.Errorf("failed to make the reserve file: %w", err)
	}
	defer os.Remove(tmp)
	// fallocate takes the blocks without writing them; where it is missing,
	// write zeros.
	err = unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = f.Truncate(0)
		zeros := make([]byte, 1<<20)
		for n := int64(0); err == nil && n < size; n += int64(len(zeros)) {
			_, err = f.Write(zeros[:min(int64(len(zeros)), size-n)])
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		today := midnightUTC(time.Now())
		os.Chtimes(tmp, today, today)
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return false, fmt.Errorf("failed to make the reserve file: %w", err)
	}
	coarsen(s.dir, filepath.Join(s.dir, tmpName))
	return true, atomicfile.SyncDir(s.dir)
}

// ReleaseReserve removes the reserve file if the file system has less free
// space than half the watermark (or than the reserve holds, if that is
// more): something other than Put, which stops at the watermark, filled
// the disk. It is for the commands that
// free space or must record (an export, a purge, the server's start), so
// that they can write their records. It reports whether it released it.
func (s *Store) ReleaseReserve() (bool, error) {
	path := filepath.Join(s.dir, reserveName)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to read the reserve file: %w", err)
	}
	sp, err := SpaceOf(s.dir)
	if err != nil {
		return false, err
	}
	if sp.Free >= max(s.MinFree(sp.Size)/2, fi.Size()) {
		return false, nil
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("failed to release the reserve file: %w", err)
	}
	coarsen(s.dir)
	return true, atomicfile.SyncDir(s.dir)
}
