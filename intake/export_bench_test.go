package intake

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkExport exports n envelopes of 8 KiB (written straight into the
// store's inbox, over 10 days) and reports the time per envelope and the
// process's peak resident memory during the export (VmHWM, reset before
// it), in the default parts of 10,000 and in one part. Memory must not grow
// with n beyond one part's manifest. Run with -benchtime 1x: each run
// writes n×8 KiB twice.
func BenchmarkExport(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, mode := range []string{"parts", "one-part"} {
			b.Run(fmt.Sprintf("%d/%s", n, mode), func(b *testing.B) {
				dir := b.TempDir()
				d := newData(b, dir)
				inbox := filepath.Join(d.Store.Dir(), "inbox")
				env := make([]byte, 8<<10)
				rand.Read(env)
				for i := range n {
					day := filepath.Join(inbox, time.Now().UTC().AddDate(0, 0, -i%10).Format(time.DateOnly))
					os.MkdirAll(day, 0o700)
					if err := os.WriteFile(filepath.Join(day, strings.ToLower(rand.Text())), env, 0o600); err != nil {
						b.Fatal(err)
					}
				}
				o := ExportOptions{}
				if mode == "one-part" {
					o.MaxEnvelopes, o.MaxBytes = n, 1<<40
				}
				var peak int64
				for b.Loop() {
					b.StopTimer()
					out := b.TempDir()
					o.Out = out
					runtime.GC()
					resetPeakRSS(b)
					b.StartTimer()
					res, err := d.ExportParts(o, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					peak = max(peak, peakRSS(b))
					if res.Envelopes != n {
						b.Fatalf("exported %d of %d", res.Envelopes, n)
					}
					// Put the envelopes back for the next run.
					os.RemoveAll(out)
					ex := filepath.Join(d.Store.Dir(), "exports", res.ExportID)
					os.Remove(inbox)
					if err := os.Rename(filepath.Join(ex, "envelopes"), inbox); err != nil {
						b.Fatal(err)
					}
					os.RemoveAll(ex)
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/envelope")
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			})
		}
	}
}

// resetPeakRSS resets the process's VmHWM (Linux 4.0 and later).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak resident memory: %v", err)
	}
}

func peakRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM")
	return 0
}
