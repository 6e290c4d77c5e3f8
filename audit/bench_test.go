package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// writeLogDirect writes a log of n submission records, signed at the end,
// straight to the files (as Log would, without an fsync per record).
func writeLogDirect(b *testing.B, dir string, k testKey, n int) {
	b.Helper()
	if err := os.MkdirAll(filepath.Join(dir, checkpointsDir), 0o700); err != nil {
		b.Fatal(err)
	}
	records := make([]byte, 0, n*110)
	var t tree
	var h [32]byte
	for i := range n {
		binary.BigEndian.PutUint64(h[:], uint64(i))
		h = sha256.Sum256(h[:])
		r := SubmissionStored(h, testDay)
		if i%1000 == 0 {
			r = BatchExported(h, 1000, testDay)
		}
		text, err := r.MarshalText()
		if err != nil {
			b.Fatal(err)
		}
		records = append(records, text...)
		t.add(tlog.RecordHash(text))
	}
	if err := os.WriteFile(filepath.Join(dir, recordsFile), records, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, hashesFile), hashBytes(t.hashes), 0o600); err != nil {
		b.Fatal(err)
	}
	text, _ := Checkpoint{Origin: testOrigin, Size: int64(n), Hash: t.root(int64(n)), Day: "2026-03-04"}.MarshalText()
	msg, err := note.Sign(&note.Note{Text: string(text)}, k.signer)
	if err != nil {
		b.Fatal(err)
	}
	if err := writeCheckpoint(filepath.Join(dir, checkpointsDir), int64(n), msg); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerify1M verifies a log of 1,000,000 records (goal: under 10 s
// on a 2-core machine).
func BenchmarkVerify1M(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	k := newTestKey(b, testOrigin)
	writeLogDirect(b, dir, k, n)
	b.ResetTimer()
	for b.Loop() {
		rep, err := Verify(dir, k.vkey, nil)
		if err != nil || rep.Signed != n {
			b.Fatalf("Verify: %v", err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppend appends records, each on disk (fsync) before Append
// returns: one after the other ("sequential"), and from 64 goroutines at
// once, as the intake server does for 64 clients ("64-goroutines"), where
// appends share commits. Each reports appends per second and the 99th
// percentile latency of an append.
func BenchmarkAppend(b *testing.B) {
	b.Run("sequential", func(b *testing.B) { benchmarkAppend(b, 1) })
	b.Run("64-goroutines", func(b *testing.B) { benchmarkAppend(b, 64) })
}

func benchmarkAppend(b *testing.B, goroutines int) {
	k := newTestKey(b, testOrigin)
	l := openTestLog(b, b.TempDir(), k)
	var next atomic.Int64
	lat := make([][]time.Duration, goroutines)
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if _, err := l.Append(submission(int(i))); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "appends/s")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkAppendTwoLogs appends from two Logs on one directory at the same
// time, as two processes sharing a log do: each append first takes in the
// other's.
func BenchmarkAppendTwoLogs(b *testing.B) {
	k := newTestKey(b, testOrigin)
	dir := b.TempDir()
	logs := []*Log{openTestLog(b, dir, k), openTestLog(b, dir, k)}
	var next atomic.Int64
	b.SetParallelism(1) // with GOMAXPROCS 2: one goroutine per Log
	b.RunParallel(func(pb *testing.PB) {
		l := logs[next.Add(1)%2]
		i := 0
		for pb.Next() {
			if _, err := l.Append(submission(i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}
