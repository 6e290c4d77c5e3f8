package audit

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func TestTreeMatchesTlog(t *testing.T) {
	var ours tree
	var theirs []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = theirs[x]
		}
		return out, nil
	})
	for n := range int64(1100) {
		leaf := tlog.RecordHash(fmt.Appendf(nil, "record %d\n", n))
		hs, err := tlog.StoredHashesForRecordHash(n, leaf, reader)
		if err != nil {
			t.Fatal(err)
		}
		theirs = append(theirs, hs...)
		added := ours.add(leaf)
		if len(added) != len(hs) {
			t.Fatalf("record %d: added %d hashes, tlog %d", n, len(added), len(hs))
		}
		if int64(len(ours.hashes)) != tlog.StoredHashCount(n+1) {
			t.Fatalf("record %d: %d stored hashes, want %d", n, len(ours.hashes), tlog.StoredHashCount(n+1))
		}
		for i := range hs {
			if added[i] != hs[i] {
				t.Fatalf("record %d: stored hash %d differs from tlog's", n, i)
			}
		}
		if want, _ := tlog.TreeHash(n+1, reader); ours.root(n+1) != want {
			t.Fatalf("root of %d records differs from tlog's", n+1)
		}
	}
}
