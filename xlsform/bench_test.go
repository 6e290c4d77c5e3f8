package xlsform

import (
	"os"
	"testing"
)

// BenchmarkConvertExample converts examples/nk-internet-access.xlsx (23
// questions and a note, in three languages), checks included.
func BenchmarkConvertExample(b *testing.B) {
	data, err := os.ReadFile(exampleXLSX)
	if err != nil {
		b.Fatal(err)
	}
	opt := Options{Name: "nk-internet-access.xlsx", Recipients: testRecipients(b)}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ConvertBytes(data, opt); err != nil {
			b.Fatal(err)
		}
	}
}
