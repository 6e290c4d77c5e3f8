package store

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/testimony-project/testimony/internal/smallfs"
)

func TestWatermark(t *testing.T) {
	dir := t.TempDir()
	sp, err := SpaceOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenWith(dir, Options{MinFree: sp.Free + 1<<30})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Put(envelope(t, 10), at)
	if !errors.Is(err, ErrLowDisk) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put under the watermark: got %v, want ErrLowDisk and ErrUnavailable", err)
	}
	assertNothingPartial(t, s, 0)
	if s.Unconfirmed() {
		t.Error("a refused put marked the store unconfirmed")
	}
	if d := DefaultMinFree(1 << 40); d != 1<<40/100 {
		t.Errorf("default watermark for 1 TiB = %d", d)
	}
	if d := DefaultMinFree(2 << 30); d != MinMinFree {
		t.Errorf("default watermark for 2 GiB = %d", d)
	}
	if d := DefaultMinFree(256 << 20); d != 64<<20 {
		t.Errorf("default watermark for 256 MiB = %d", d)
	}
}

// TestFullDisk fills a small real file system: first with envelopes up to
// the watermark, then with another program's file to the last byte. The
// store must still open, refuse puts cleanly, export (after releasing its
// reserve) and purge, and take envelopes again once there is room.
func TestFullDisk(t *testing.T) {
	for _, kind := range smallfs.Kinds {
		t.Run(kind, func(t *testing.T) {
			mnt := smallfs.Mount(t, kind, 8<<20)
			dir := filepath.Join(mnt, "store")
			o := Options{MinFree: 1 << 20, Reserve: 512 << 10}
			s, err := OpenWith(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if ok, err := s.EnsureReserve(); !ok || err != nil {
				t.Fatalf("EnsureReserve = %v, %v", ok, err)
			}
			// Too big for the disk at all.
			if _, err := s.Put(envelope(t, 16<<20), at); !errors.Is(err, ErrLowDisk) {
				t.Fatalf("Put larger than the disk: got %v, want ErrLowDisk", err)
			}
			stored := map[[32]byte]bool{}
			for {
				env := envelope(t, 60<<10)
				_, err := s.Put(env, at)
				if err != nil {
					if !errors.Is(err, ErrLowDisk) {
						t.Fatalf("Put near the watermark: got %v, want ErrLowDisk", err)
					}
					break
				}
				stored[sha256.Sum256(env)] = true
			}
			if free := smallfs.Free(t, mnt); free < o.MinFree {
				t.Fatalf("puts left %d bytes free, under the %d watermark", free, o.MinFree)
			}
			// Something else takes the rest.
			smallfs.Fill(t, mnt)
			if _, err := s.Put(envelope(t, 100), at); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Put on a full disk: %v", err)
			}
			assertNothingPartial(t, s, len(stored))

			// A command that frees space opens the store on the full disk.
			op, err := OpenWith(dir, o)
			if err != nil {
				t.Fatalf("Open on a full disk: %v", err)
			}
			defer op.Close()
			x, err := op.LockExports()
			if err != nil {
				t.Fatalf("LockExports on a full disk: %v", err)
			}
			defer x.Close()
			if ok, err := op.ReleaseReserve(); !ok || err != nil {
				t.Fatalf("ReleaseReserve = %v, %v", ok, err)
			}
			e, err := x.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if err := e.TakeInbox(); err != nil {
				t.Fatal(err)
			}
			if err := e.WriteNote("part-1.manifest", make([]byte, 100*len(stored))); err != nil {
				t.Fatal(err)
			}
			if err := e.Commit(); err != nil {
				t.Fatal(err)
			}
			if got := contents(t, dir); len(got) != len(stored) {
				t.Fatalf("after export: %d envelopes, want %d", len(got), len(stored))
			}
			n, err := e.Remove(func(string) bool { return true })
			if err != nil || n != len(stored) {
				t.Fatalf("Remove = %d, %v", n, err)
			}
			if ok, err := op.EnsureReserve(); !ok || err != nil {
				t.Fatalf("EnsureReserve after the purge = %v, %v", ok, err)
			}
			put(t, s, envelope(t, 100), time.Now())
		})
	}
}

// TestExportOnFullDiskIsAllOrNothing: on a disk full to the last byte and
// no reserve, an export fails or succeeds whole; a failed one rolls back
// with every envelope pending again. (On ext4, the old export renamed
// envelopes one by one, and a full disk stopped it half-way.)
func TestExportOnFullDiskIsAllOrNothing(t *testing.T) {
	for _, kind := range smallfs.Kinds {
		t.Run(kind, func(t *testing.T) {
			mnt := smallfs.Mount(t, kind, 4<<20)
			dir := filepath.Join(mnt, "store")
			s, err := OpenWith(dir, Options{MinFree: -1, Reserve: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want := map[[32]byte]bool{}
			for i := range 200 {
				env := envelope(t, 1000)
				put(t, s, env, at.AddDate(0, 0, i%7))
				want[sha256.Sum256(env)] = true
			}
			smallfs.Fill(t, mnt)
			x, err := s.LockExports()
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			e, err := x.Begin()
			if err == nil {
				err = e.TakeInbox()
				if err == nil {
					err = e.WriteNote("part-1.manifest", make([]byte, 200<<10))
				}
				if err == nil {
					err = e.Commit()
				}
				if err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Logf("export failed with %v", err)
					}
					if _, err := e.RollBack(); err != nil {
						t.Fatalf("RollBack on a full disk: %v", err)
					}
				}
			}
			got := contents(t, dir)
			if len(got) != len(want) {
				t.Fatalf("%d envelopes after the export, want %d", len(got), len(want))
			}
			place := ""
			for h := range want {
				if place == "" {
					place = got[h]
				}
				if got[h] != place {
					t.Fatalf("envelopes split between %q and %q", place, got[h])
				}
			}
			t.Logf("export on a full %s: %v; envelopes in %s", kind, err, place)
			os.Remove(filepath.Join(mnt, "filler"))
		})
	}
}
