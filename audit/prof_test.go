package audit

import (
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func BenchmarkVerifyRecords300(b *testing.B) {
	dir := b.TempDir()
	k := newTestKey(b, testOrigin)
	buildVariedLog(b, dir, k, 300)
	base, _ := readLogFiles(dir)
	list := note.VerifierList(mustVerifier(b, k.vkey))
	cc := checkCheckpoints(base.checkpoints, list)
	b.ReportAllocs()
	for b.Loop() {
		verifyRecords(base, cc, list, nil)
	}
}
