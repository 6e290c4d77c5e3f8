package export

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/examples"
)

// benchRows yields n testimonies to the example study, made as they are
// asked for, as a workspace streaming them from disk would: every question
// answered, a story of about 2,000 characters.
func benchRows(b *testing.B, st *config.Study, n int) Rows {
	story := strings.Repeat("도서관 관리원이 옆에서 지켜보았다. 5분마다 화면이 멈췄다. =1+1; ", 40)
	return func(yield func(Row, error) bool) {
		for i := range n {
			a := map[string][]string{}
			for _, q := range st.Questions {
				switch q.Type {
				case config.SingleChoice:
					a[q.ID] = []string{q.Choices[i%len(q.Choices)].Value}
				case config.MultiChoice:
					a[q.ID] = []string{q.Choices[0].Value, q.Choices[len(q.Choices)-1].Value}
				case config.Year:
					a[q.ID] = []string{"2015"}
				case config.DateApprox:
					a[q.ID] = []string{"2014-winter"}
				case config.Integer:
					a[q.ID] = []string{"42"}
				case config.Consent:
					a[q.ID] = []string{"yes"}
				default:
					a[q.ID] = []string{story}
				}
			}
			r := Row{Pseudonym: "김석한", PseudonymRoman: fmt.Sprint("Kim Seok-han ", i), Language: "ko", Answers: a}
			if !yield(r, nil) {
				return
			}
		}
	}
}

func benchExport(b *testing.B, n int, write func(*os.File, *Schema, Rows) error) {
	st, err := config.Parse("nk-internet-access.yaml", examples.NKInternetAccess)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSchema([]*config.Study{st})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var peak uint64
	var size int64
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	// Sample the heap every 10 ms for the whole export, writing included.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64()+sample[1].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	for b.Loop() {
		runtime.GC()
		f, err := os.Create(filepath.Join(dir, "out"))
		if err != nil {
			b.Fatal(err)
		}
		if err := write(f, s, benchRows(b, st, n)); err != nil {
			b.Fatal(err)
		}
		fi, _ := f.Stat()
		size = fi.Size()
		f.Close()
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	close(stop)
	<-done
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	// CPU time says more than wall time on a machine others share.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/export")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(size)/(1<<20), "file-MiB")
	b.ReportMetric(float64(peakRSS())/(1<<20), "process-peak-RSS-MiB")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/export")
}

// BenchmarkXLSX writes the workbook (values, labels, codebook) of 10,000
// and 100,000 testimonies to the example study. Goal: 10,000 in < 5 s,
// with heap independent of the number of testimonies.
func BenchmarkXLSX(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tmp := b.TempDir()
			benchExport(b, n, func(f *os.File, s *Schema, rows Rows) error {
				return WriteXLSX(f, s, rows, XLSXOptions{Labels: "en", TempDir: tmp})
			})
		})
	}
}

// BenchmarkCSV writes the CSV of values of 10,000 and 100,000 testimonies.
func BenchmarkCSV(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			benchExport(b, n, func(f *os.File, s *Schema, rows Rows) error { return WriteCSV(f, s, rows, CSVOptions{}) })
		})
	}
}

// BenchmarkJSONL writes the JSONL of 10,000 testimonies.
func BenchmarkJSONL(b *testing.B) {
	benchExport(b, 10000, func(f *os.File, s *Schema, rows Rows) error { return WriteJSONL(f, s, rows) })
}

// peakRSS returns the most memory the process has held (VmHWM), or 0. It
// covers the whole test binary: run one benchmark at a time to read it.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kib)
			return kib << 10
		}
	}
	return 0
}
