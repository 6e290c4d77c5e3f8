package intake

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/testimony-project/testimony/crypto/returnkey"
)

// waitFor polls until cond holds, or fails after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func (k *kdfSlots) waitingIn(c kdfClass) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.waiting[c])
}

// TestKDFSlotsNewReturnsFirst: a come-back post costs its sender nothing
// stored, so a flood of them must hold back no testimony. With the one
// slot taken and the come-back waiting room full, a person sending a
// testimony still waits, and gets the slot first when it comes free.
func TestKDFSlotsNewReturnsFirst(t *testing.T) {
	k := newKDFSlots(1, 5*time.Second)
	ctx := context.Background()
	if err := k.acquire(ctx, kdfComeBack); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []kdfClass
	var wg sync.WaitGroup
	start := func(c kdfClass) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := k.run(ctx, nil, c, func() {
				mu.Lock()
				order = append(order, c)
				mu.Unlock()
			}); err != nil {
				t.Errorf("class %d: %v", c, err)
			}
		}()
	}
	for range 8 {
		start(kdfComeBack)
	}
	waitFor(t, "8 come-back requests wait", func() bool { return k.waitingIn(kdfComeBack) == 8 })
	// The come-back waiting room is full: one more is busy at once.
	began := time.Now()
	if err := k.run(ctx, nil, kdfComeBack, func() { t.Error("ran a ninth come-back derivation") }); !errors.Is(err, errKDFBusy) || time.Since(began) >= k.wait {
		t.Errorf("a ninth come-back request waiting: %v after %v, want errKDFBusy without waiting %v", err, time.Since(began), k.wait)
	}
	// A new return still waits, and goes first.
	start(kdfNewReturn)
	waitFor(t, "the new return waits", func() bool { return k.waitingIn(kdfNewReturn) == 1 })
	k.release()
	wg.Wait()
	if len(order) != 9 || order[0] != kdfNewReturn {
		t.Fatalf("derivations ran in the order %v, want the new return first, then the 8 come-backs", order)
	}
	if k.free != 1 || k.waitingIn(kdfComeBack) != 0 {
		t.Errorf("after all: %d free, %d waiting; want 1 and 0", k.free, k.waitingIn(kdfComeBack))
	}
}

// TestKDFSlotsWaitEnds: a request that waits past k.wait, or whose
// context ends, leaves the queue and gets errKDFBusy or its context's
// error; the slot then goes to the next one, and none is lost.
func TestKDFSlotsWaitEnds(t *testing.T) {
	k := newKDFSlots(1, 30*time.Millisecond)
	if err := k.acquire(context.Background(), kdfNewReturn); err != nil {
		t.Fatal(err)
	}
	if err := k.run(context.Background(), nil, kdfNewReturn, func() { t.Error("ran without a slot") }); !errors.Is(err, errKDFBusy) {
		t.Errorf("run after the wait: %v, want errKDFBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k.wait = 5 * time.Second
	if err := k.run(ctx, nil, kdfComeBack, func() { t.Error("ran without a slot") }); !errors.Is(err, context.Canceled) {
		t.Errorf("run with its context done: %v", err)
	}
	if k.waitingIn(kdfNewReturn)+k.waitingIn(kdfComeBack) != 0 {
		t.Fatal("a request that stopped waiting is still queued")
	}
	k.release()
	ran := false
	if err := k.run(context.Background(), nil, kdfComeBack, func() { ran = true }); err != nil || !ran || k.free != 1 {
		t.Errorf("after the slot came back: %v, ran %v, %d free", err, ran, k.free)
	}
	// A panic in a derivation gives its slot back.
	func() {
		defer func() { recover() }()
		k.run(context.Background(), nil, kdfNewReturn, func() { panic("derivation") })
	}()
	if k.free != 1 {
		t.Errorf("%d free after a derivation panicked, want 1", k.free)
	}
}

// TestComeBackFloodHoldsBackNoTestimony: the server asks for a slot of
// the right class on each page. Come-back posts wait for the one slot
// first; a testimony sent without JavaScript after them still gets the
// slot first, and its passphrase.
func TestComeBackFloodHoldsBackNoTestimony(t *testing.T) {
	b := startBackSite(t, func(c *Config) { c.Limits.KDFs = 1 })
	k := b.srv.kdf
	k.wait = time.Minute // three derivations under the race detector on a busy machine
	// How many come-back posts still wait as each derivation starts.
	var mu sync.Mutex
	var waitingAtStart []int
	memory := k.changed
	k.changed = func(delta int64) {
		if delta > 0 {
			mu.Lock()
			waitingAtStart = append(waitingAtStart, k.waitingIn(kdfComeBack))
			mu.Unlock()
		}
		memory(delta)
	}
	if err := k.acquire(context.Background(), kdfComeBack); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		p, _ := returnkey.Generate()
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.PostForm(b.base+"/back", url.Values{"lang": {"en"}, "passphrase": {p.Format("en")}})
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitFor(t, "2 come-back posts wait", func() bool { return k.waitingIn(kdfComeBack) == 2 })
	type answer struct {
		status int
		body   string
	}
	sent := make(chan answer, 1)
	go func() {
		resp, err := http.PostForm(b.base+"/submit", url.Values{"lang": {"en"}, "q.used": {"no"}, "q.consent": {"yes"}})
		if err != nil {
			sent <- answer{0, err.Error()}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sent <- answer{resp.StatusCode, string(body)}
	}()
	waitFor(t, "the testimony waits", func() bool { return k.waitingIn(kdfNewReturn) == 1 })
	k.release()
	a := <-sent
	if a.status != http.StatusOK || !wordsRE.MatchString(a.body) {
		t.Fatalf("testimony sent during a flood of come-back posts: status %d\n%.300s", a.status, a.body)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(waitingAtStart) != 3 || waitingAtStart[0] != 2 {
		t.Errorf("come-back posts waiting as each derivation started: %v; want [2 1 0], the testimony's first", waitingAtStart)
	}
}
