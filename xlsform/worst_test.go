package xlsform

import (
	"strings"
	"testing"
)

// worstForm is a workbook just within the limits: a survey sheet that
// decompresses to almost MaxUnzippedSize, in as many small cells as fit.
func worstForm(t testing.TB) []byte {
	header := []string{"type", "name"}
	for len(header) < 70 {
		header = append(header, "label::English (en)")
	}
	rows := [][]string{header}
	cell := strings.Repeat("x", 3)
	for len(rows) < 3100 {
		row := make([]string, 70)
		for i := range row {
			row[i] = cell
		}
		rows = append(rows, row)
	}
	return minimalXLSX(t, []sheetSpec{{"survey", rows}})
}

// BenchmarkWorstForm converts a form at the limits (217,000 cells, 14.8 MiB
// of XML): the most time and memory any file can take.
func BenchmarkWorstForm(b *testing.B) {
	data := worstForm(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ConvertBytes(data, Options{Name: "worst.xlsx"}); err == nil || strings.Contains(err.Error(), "decompresses") {
			b.Fatalf("not read to the end: %v", err)
		}
	}
}
