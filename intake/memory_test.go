package intake

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/testimony-project/testimony/reply"
)

// TestMemoryLimitFollowsUse: the memory limit the server asks for is
// what it may hold now: without derivations or replies, the bound less
// their share; more by a derivation's memory while one runs; more by the
// replies while it holds them, and by a rebuild's while it makes the
// download again. Never more than MemoryBound.
func TestMemoryLimitFollowsUse(t *testing.T) {
	st, _ := testStudyAndKey(t)
	dir := filepath.Join(t.TempDir(), "replies")
	var mu sync.Mutex
	var limits []int64
	last := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return limits[len(limits)-1]
	}
	srv, err := New(Config{Study: st, Store: tempStoreTB(t), Replies: OpenReplies(dir), MemoryLimit: func(n int64) {
		mu.Lock()
		limits = append(limits, n)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	base := srv.MemoryBound() - int64(srv.kdf.n)*kdfMemory - replyMemory
	if len(limits) != 1 || limits[0] != base {
		t.Fatalf("limits after New = %v, want [%d]", limits, base)
	}

	var during int64
	if err := srv.kdf.run(context.Background(), nil, kdfComeBack, func() { during = last() }); err != nil {
		t.Fatal(err)
	}
	if during != base+kdfMemory || last() != base {
		t.Fatalf("limit during a derivation %d, after %d; want %d, then %d", during, last(), base+kdfMemory, base)
	}

	const n = 1000
	recs := make([]byte, n*reply.RecordSize)
	rand.Read(recs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, time.Now().UTC().Format(time.DateOnly)), sortRecords(recs), 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(limits)
	got, body, err := srv.replies.get()
	if err != nil || len(got) != len(recs) {
		t.Fatalf("replies: %d bytes, %v", len(got), err)
	}
	held := int64(len(got) + len(body))
	if last() != base+held {
		t.Fatalf("limit holding %d bytes of replies = %d, want %d", held, last(), base+held)
	}
	if rebuild := limits[before]; rebuild < base+held+int64(len(recs)) {
		t.Fatalf("limit while the download was made = %d, want at least %d", rebuild, base+held+int64(len(recs)))
	}
	for _, l := range limits {
		if l > srv.MemoryBound() {
			t.Fatalf("limit %d above MemoryBound %d", l, srv.MemoryBound())
		}
	}
}
