package intake

import (
	"container/heap"
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/testimony-project/testimony/oplog"
)

// Limits bounds what clients can make the server hold at once. Every
// connection comes from tor through one socket, so there is no client
// address to set a limit for: the limits are for everyone together, and
// when one is reached the server closes the connections that cost it most
// for least — those waiting the longest for a request, then uploads that
// stopped sending. The zero value of each field means its default.
type Limits struct {
	// MaxConns bounds open connections. A connection beyond it makes the
	// server close the connection waiting the longest for a request (one
	// that never sent any first), or else an upload that has sent nothing
	// for 5 seconds; if there is neither, the new connection is closed.
	MaxConns int
	// MaxIdleConns bounds the connections waiting for a request: new ones,
	// and ones kept alive between requests. Beyond it the one waiting the
	// longest is closed.
	MaxIdleConns int
	// UploadMemory bounds, in bytes, the memory held by request bodies,
	// beyond the first 16 KiB of each (which MaxConns bounds); bodies over
	// 64 KiB may use seven eighths of it. A request that needs more waits
	// up to 10 seconds, behind smaller bodies — closing, to make room,
	// uploads that have sent nothing for 5 seconds — and then gets the
	// "busy" page (503). Seven eighths of it must hold one of the study's
	// largest uploads.
	UploadMemory int64
	// KDFs bounds the return passphrase derivations (Argon2id, 64 MiB,
	// about 0.3 s of a core each) the server runs at once for browsers
	// without JavaScript: one for each passphrase given after a
	// submission, and one for each passphrase typed on the come-back page.
	// A request beyond it waits up to 10 seconds behind at most
	// 8 × KDFs others of its kind, and then gets the "busy" page (503),
	// nothing stored; a slot that comes free goes to a submission first,
	// so that come-back posts, which store nothing, hold back no
	// testimony. It bounds the memory they take (KDFs × 64 MiB), the cores,
	// and how fast anyone can try passphrases through the server. The
	// default is half the cores, from 1 to 4.
	KDFs int
}

// Defaults of [Limits].
const (
	DefaultMaxConns     = 1024
	DefaultMaxIdleConns = 512
	DefaultUploadMemory = 32 << 20
)

// DefaultKDFs returns the default of [Limits.KDFs]: half the cores the
// process may use, from 1 to 4.
func DefaultKDFs() int { return min(max(runtime.GOMAXPROCS(0)/2, 1), 4) }

// uploadAllowance is the part of each request body that does not count
// against Limits.UploadMemory, so that small submissions (a testimony of
// a few paragraphs, sealed: up to the 8 KiB bucket) never wait for large
// ones. The connection limit bounds it in total.
const uploadAllowance = 16 << 10

// Bodies up to smallBody (sealed: up to the 32 KiB bucket) may use all of
// Limits.UploadMemory; larger ones leave them the last eighth, so that
// large uploads, however many, never hold back a testimony of a few pages.
const smallBody = 64 << 10

// Memory the server takes beside request bodies, for [Server.MemoryBound]:
// what it needs idle (the questionnaire's templates and files, the
// runtime), each connection (buffers, goroutine), and the requests that
// turn a body into a page or an envelope at once, which take up to eight
// times the body (the answers, decoded, checked, sealed, or shown again
// in a page, escaped).
const (
	baseMemory       = 24 << 20
	connMemory       = 8 << 10
	processingMemory = 16 << 20
	maxProcessing    = 8
)

// timing holds the durations of the request limits (constants but for
// tests).
type timing struct {
	// header bounds the time to send a request's head: it comes in one
	// round trip, which over a slow Tor circuit may take many seconds.
	header time.Duration
	// stall drops a body that has made no progress (progressBytes more)
	// for this long. A 256 KiB post at 4 KiB/s makes progress eight times
	// a second.
	stall time.Duration
	// pressure is how long an upload must have made no progress before
	// it may be closed to make room for others, when memory or
	// connections run out.
	pressure time.Duration
	// wait bounds how long a request waits for memory.
	wait time.Duration
	// write bounds the time to send a response.
	write time.Duration
	// idle closes a connection kept alive with no request for this long.
	idle time.Duration
}

var defaultTiming = timing{
	header:   60 * time.Second,
	stall:    20 * time.Second,
	pressure: 5 * time.Second,
	wait:     10 * time.Second,
	write:    2 * time.Minute,
	idle:     2 * time.Minute,
}

// progressBytes is what a body must send to count as progress: about one
// Tor cell. A body trickling a few bytes at a time makes none.
const progressBytes = 512

// errBusy says the memory for uploads stayed full.
var errBusy = errors.New("memory for uploads is full")

// large is the memory bodies over smallBody may use.
func (l Limits) large() int64 { return l.UploadMemory - l.UploadMemory/8 }

// room is the memory a body of total bytes may use.
func (l Limits) room(total int) int64 {
	if total <= smallBody {
		return l.UploadMemory
	}
	return l.large()
}

func (l Limits) withDefaults() Limits {
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxIdleConns == 0 {
		l.MaxIdleConns = min(DefaultMaxIdleConns, l.MaxConns)
	}
	if l.UploadMemory == 0 {
		l.UploadMemory = DefaultUploadMemory
	}
	if l.KDFs == 0 {
		l.KDFs = DefaultKDFs()
	}
	return l
}

func (l Limits) check(largestUpload int) error {
	if l.MaxConns < 1 || l.MaxIdleConns < 1 || l.UploadMemory < 0 || l.KDFs < 1 {
		return fmt.Errorf("intake: limits must be positive: %d connections, %d idle, %d bytes for uploads, %d derivations", l.MaxConns, l.MaxIdleConns, l.UploadMemory, l.KDFs)
	}
	if l.large() < int64(largestUpload) {
		return fmt.Errorf("memory for uploads (%d bytes) is less than one upload of this study can take (%d bytes) and an eighth for small ones: raise it", l.UploadMemory, largestUpload)
	}
	return nil
}

// guard enforces Limits: it follows every connection of an http.Server
// through its ConnContext and ConnState hooks, and every request through
// Server.Handler.
type guard struct {
	lim  Limits
	t    timing
	log  oplog.Logger
	work chan struct{} // a slot per request turning a body into a page or an envelope

	mu sync.Mutex
	// conns are the connections open and not closed by the guard, but
	// for those not yet in StateNew.
	conns map[net.Conn]*tracked
	// fresh and kept are the connections waiting for a first request and
	// for another one, oldest first.
	fresh, kept list.List
	// reading are the connections whose request body is being read.
	reading  map[*tracked]bool
	held     int64   // memory granted against UploadMemory
	waiters  waiters // requests waiting for memory
	seq      uint64
	inflight int           // handlers running
	drained  *sync.Cond    // signalled when inflight drops to 0
	stopped  chan struct{} // closed by shutdown: nobody waits for memory any more
}

// tracked is a connection, as the guard sees it.
type tracked struct {
	c     net.Conn
	state http.ConnState // -1 before StateNew
	// since is when the connection began to wait for a request, or the
	// last progress of the body being read.
	since    time.Time
	wait     *list.Element // in fresh or kept, while waiting
	reading  bool          // a handler is reading its request body
	blocked  bool          // and waits for memory: it is not the client that stalls
	held     int64         // memory its request holds against UploadMemory
	closedBy oplog.Reason
}

type connKey struct{}

func newGuard(l Limits, t timing, log oplog.Logger, slots int) *guard {
	g := &guard{lim: l, t: t, log: log, conns: map[net.Conn]*tracked{}, reading: map[*tracked]bool{},
		work: make(chan struct{}, slots), stopped: make(chan struct{})}
	g.drained = sync.NewCond(&g.mu)
	return g
}

// connContext is the http.Server's ConnContext hook.
func (g *guard) connContext(ctx context.Context, c net.Conn) context.Context {
	t := &tracked{c: c, state: -1}
	g.mu.Lock()
	g.conns[c] = t
	g.mu.Unlock()
	return context.WithValue(ctx, connKey{}, t)
}

// connState is the http.Server's ConnState hook.
func (g *guard) connState(c net.Conn, st http.ConnState) {
	now := time.Now()
	g.mu.Lock()
	t := g.conns[c]
	if t == nil || t.closedBy != "" {
		g.mu.Unlock()
		return
	}
	g.unwait(t)
	if st == http.StateClosed || st == http.StateHijacked {
		g.forget(t)
		g.mu.Unlock()
		return
	}
	t.state, t.since = st, now
	switch st {
	case http.StateNew:
		t.wait = g.fresh.PushBack(t)
	case http.StateIdle:
		t.wait = g.kept.PushBack(t)
	}
	var cut []*tracked
	if st == http.StateNew && len(g.conns) > g.lim.MaxConns {
		v := g.victim(now, t, true)
		if v == nil {
			v = t
		}
		g.cut(v, oplog.ConnLimit)
		cut = append(cut, v)
	}
	for g.fresh.Len()+g.kept.Len() > g.lim.MaxIdleConns {
		v := g.victim(now, nil, false)
		g.cut(v, oplog.IdleLimit)
		cut = append(cut, v)
	}
	g.mu.Unlock()
	g.close(cut)
}

// unwait takes t off the list of connections waiting for a request.
// g.mu is held.
func (g *guard) unwait(t *tracked) {
	if t.wait != nil {
		if t.state == http.StateNew {
			g.fresh.Remove(t.wait)
		} else {
			g.kept.Remove(t.wait)
		}
		t.wait = nil
	}
}

// forget stops following t. g.mu is held.
func (g *guard) forget(t *tracked) {
	g.unwait(t)
	delete(g.reading, t)
	delete(g.conns, t.c)
}

// victim returns the connection to close to make room for another: the
// one waiting the longest for a first request, else the one kept alive
// the longest — passing over those whose next request has arrived but not
// been read yet (the server is behind: they are not idle), unless every
// one looked at has — else, with stalled, the upload that has made no
// progress the longest, if for at least t.pressure. It never returns not.
// g.mu is held.
func (g *guard) victim(now time.Time, not *tracked, stalled bool) *tracked {
	const look = 32 // connections looked at, at most
	var first *tracked
	n := 0
	for _, l := range []*list.List{&g.fresh, &g.kept} {
		for e := l.Front(); e != nil && n < look; e = e.Next() {
			t := e.Value.(*tracked)
			if t == not {
				continue
			}
			if !sentUnread(t.c) {
				return t
			}
			if first == nil {
				first = t
			}
			n++
		}
	}
	if first != nil {
		return first
	}
	if stalled {
		return g.stalled(now, not, false)
	}
	return nil
}

// stalled returns the upload that has made no progress the longest, if
// for at least t.pressure, other than not; with holding, only among
// uploads holding memory against UploadMemory. g.mu is held.
func (g *guard) stalled(now time.Time, not *tracked, holding bool) *tracked {
	var best *tracked
	for t := range g.reading {
		if t == not || t.blocked || holding && t.held == 0 || now.Sub(t.since) < g.t.pressure {
			continue
		}
		if best == nil || t.since.Before(best.since) {
			best = t
		}
	}
	return best
}

// cut marks t as closed by the guard for reason and stops following it.
// g.mu is held; the caller closes it after releasing g.mu.
func (g *guard) cut(t *tracked, reason oplog.Reason) {
	t.closedBy = reason
	g.forget(t)
}

func (g *guard) close(cut []*tracked) {
	for _, t := range cut {
		t.c.Close()
		g.log.Add(oplog.Counter{Event: oplog.ConnectionsClosed, Reason: t.closedBy})
	}
}

// shutdown closes every connection still open and counts them; requests
// waiting for memory give up.
func (g *guard) shutdown() int {
	defer func() {
		select {
		case <-g.stopped:
		default:
			close(g.stopped)
		}
	}()
	g.mu.Lock()
	var cut []*tracked
	for _, t := range g.conns {
		if t.state != -1 {
			cut = append(cut, t)
		}
	}
	for _, t := range cut {
		g.cut(t, oplog.Shutdown)
	}
	g.mu.Unlock()
	g.close(cut)
	return len(cut)
}

// wait returns once no handler is running.
func (g *guard) wait() {
	g.mu.Lock()
	for g.inflight > 0 {
		g.drained.Wait()
	}
	g.mu.Unlock()
}

// request follows one request through its handler.
type request struct {
	g    *guard
	t    *tracked // nil if the connection is not tracked (Handler served by another http.Server)
	rc   *http.ResponseController
	held int64
	work bool
	acc  int // body bytes since the last progress
}

type requestKey struct{}

// begin starts following r. A body, if r has one, must make progress
// from now on.
func (g *guard) begin(w http.ResponseWriter, r *http.Request) *request {
	q := &request{g: g, rc: http.NewResponseController(w)}
	q.t, _ = r.Context().Value(connKey{}).(*tracked)
	g.mu.Lock()
	g.inflight++
	if q.t != nil && r.ContentLength != 0 && q.t.closedBy == "" {
		q.t.reading, q.t.since = true, time.Now()
		g.reading[q.t] = true
	}
	g.mu.Unlock()
	if r.ContentLength != 0 {
		q.rc.SetReadDeadline(time.Now().Add(g.t.stall))
	}
	return q
}

// requestOf returns the request that Handler began for r.
func requestOf(r *http.Request) *request {
	q, _ := r.Context().Value(requestKey{}).(*request)
	return q
}

// end releases what the request held.
func (q *request) end() {
	g := q.g
	g.mu.Lock()
	g.release(q)
	if q.t != nil {
		q.t.reading, q.t.held = false, 0
		delete(g.reading, q.t)
	}
	g.inflight--
	if g.inflight == 0 {
		g.drained.Broadcast()
	}
	g.mu.Unlock()
	if q.work {
		<-g.work
	}
}

// progress notes n more bytes of the request body: every progressBytes,
// it pushes the body's stall deadline further.
func (q *request) progress(n int) {
	q.acc += n
	if q.acc < progressBytes {
		return
	}
	q.acc = 0
	now := time.Now()
	q.rc.SetReadDeadline(now.Add(q.g.t.stall))
	if q.t != nil {
		q.g.mu.Lock()
		q.t.since = now
		q.g.mu.Unlock()
	}
}

// bodyDone notes that the body was read whole: from now on the request
// is never closed to make room, and its response has its own time.
func (q *request) bodyDone() {
	if q.t != nil {
		q.g.mu.Lock()
		q.t.reading = false
		delete(q.g.reading, q.t)
		q.g.mu.Unlock()
	}
	q.rc.SetReadDeadline(time.Time{})
	q.rc.SetWriteDeadline(time.Now().Add(q.g.t.write))
}

// reserve makes sure the request holds memory for total bytes of body.
// If there is not enough, it waits, for up to t.wait, behind requests
// whose bodies are smaller — so that large uploads never hold back small
// ones — closing uploads that have stalled to make room; then it returns
// errBusy.
func (q *request) reserve(total int) error {
	g := q.g
	need := int64(total-uploadAllowance) - q.held
	if need <= 0 {
		return nil
	}
	g.mu.Lock()
	if g.waiters.Len() == 0 && g.held+need <= g.lim.room(total) {
		g.grant(q, need)
		g.mu.Unlock()
		return nil
	}
	w := &waiter{q: q, need: need, total: total, ready: make(chan struct{}), seq: g.seq}
	g.seq++
	heap.Push(&g.waiters, w)
	if q.t != nil {
		q.t.blocked = true
	}
	g.grantWaiters()
	g.mu.Unlock()
	defer func() {
		if q.t != nil {
			// Waiting was the server's doing, not the client's.
			g.mu.Lock()
			q.t.blocked, q.t.since = false, time.Now()
			g.mu.Unlock()
		}
	}()
	deadline := time.Now().Add(g.t.wait)
	for {
		// Make room: close the upload that has stalled the longest, if
		// one has for long enough; its memory goes to the smallest
		// waiting request when its handler returns.
		now := time.Now()
		g.mu.Lock()
		var cut []*tracked
		if w.index >= 0 {
			if v := g.stalled(now, q.t, true); v != nil {
				g.cut(v, oplog.MemoryLimit)
				cut = append(cut, v)
			}
		}
		g.mu.Unlock()
		g.close(cut)
		t := time.NewTimer(min(250*time.Millisecond, time.Until(deadline)))
		stopping := false
		select {
		case <-w.ready:
			t.Stop()
			return nil
		case <-g.stopped:
			t.Stop()
			stopping = true
		case <-t.C:
		}
		if !stopping && time.Now().Before(deadline) {
			continue
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if w.index < 0 {
			return nil // granted meanwhile
		}
		heap.Remove(&g.waiters, w.index)
		g.grantWaiters()
		return errBusy
	}
}

// grant gives q need more bytes of memory. g.mu is held.
func (g *guard) grant(q *request, need int64) {
	g.held += need
	q.held += need
	if q.t != nil {
		q.t.held = q.held
	}
}

// release takes back the memory q holds. g.mu is held.
func (g *guard) release(q *request) {
	if q.held > 0 {
		g.held -= q.held
		q.held = 0
		g.grantWaiters()
	}
}

// grantWaiters gives memory to waiting requests, smallest body first, as
// long as there is enough for the next. g.mu is held.
func (g *guard) grantWaiters() {
	for g.waiters.Len() > 0 {
		w := g.waiters[0]
		if g.held+w.need > g.lim.room(w.total) {
			return
		}
		heap.Pop(&g.waiters)
		g.grant(w.q, w.need)
		close(w.ready)
	}
}

// waiter is a request waiting for memory.
type waiter struct {
	q     *request
	need  int64
	total int
	seq   uint64 // arrival order, among bodies of the same size
	ready chan struct{}
	index int // in the heap; -1 once out of it
}

// waiters orders waiting requests by the size of their bodies, then by
// arrival.
type waiters []*waiter

func (h waiters) Len() int { return len(h) }
func (h waiters) Less(i, j int) bool {
	return h[i].total < h[j].total || h[i].total == h[j].total && h[i].seq < h[j].seq
}
func (h waiters) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiters) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*h = old[:len(old)-1]
	return w
}

// process waits for a slot to turn the body into a page or an envelope:
// memory for that is bounded by the number of slots, not by the number of
// bodies read.
func (q *request) process() {
	if !q.work {
		q.g.work <- struct{}{}
		q.work = true
	}
}

// processed gives the slot back (to store an envelope, which waits for
// the disk, without holding one). q may be nil.
func (q *request) processed() {
	if q != nil && q.work {
		<-q.g.work
		q.work = false
	}
}

// failure names why reading the body failed with err. q may be nil.
func (q *request) failure(err error) oplog.Reason {
	if q != nil && q.t != nil {
		q.g.mu.Lock()
		by := q.t.closedBy
		q.g.mu.Unlock()
		switch by {
		case "":
		case oplog.Shutdown:
			return by
		default:
			return oplog.Evicted
		}
	}
	switch {
	case errors.Is(err, errBusy):
		return oplog.Busy
	case errors.Is(err, os.ErrDeadlineExceeded):
		return oplog.Stalled
	}
	return oplog.Aborted
}

// bodyProgress is a request body that reports its progress.
type bodyProgress struct {
	q *request
	r interface{ Read([]byte) (int, error) }
}

func (p bodyProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.q.progress(n)
	return n, err
}

// kdfMemory is what one return passphrase derivation holds: Argon2id's
// 64 MiB and the little around it.
const kdfMemory = 65 << 20

// errKDFBusy says no derivation slot came free in time.
var errKDFBusy = errors.New("every return passphrase derivation slot stayed busy")

// kdfClass says whom a derivation is for, which decides who gets a slot
// first when several wait.
type kdfClass int

const (
	// kdfNewReturn is the passphrase of a testimony being sent without
	// JavaScript: a person who testified, whose testimony waits for it.
	kdfNewReturn kdfClass = iota
	// kdfComeBack is a passphrase typed on the come-back page: anyone can
	// post one, as often as they like, and store nothing.
	kdfComeBack
	kdfClasses
)

// kdfSlots bounds the return passphrase derivations run at once
// (Limits.KDFs), and the requests waiting for one: at most 8 per slot of
// each class. A slot that comes free goes to the request of the first
// class (new returns) that has waited longest, else to the come-back
// request that has, so that a flood of come-back posts, which costs its
// sender nothing stored, can hold back no testimony.
type kdfSlots struct {
	n       int
	wait    time.Duration
	changed func(delta int64) // if set, told of each derivation started (+1) and ended (-1)

	mu      sync.Mutex
	free    int
	waiting [kdfClasses][]chan struct{} // FIFO; a channel is closed when its request is given a slot
}

func newKDFSlots(n int, wait time.Duration) *kdfSlots {
	return &kdfSlots{n: n, free: n, wait: wait}
}

// acquire takes a slot for a request of class c, waiting up to k.wait,
// or until ctx is done, behind at most 8 slots' worth of requests of its
// class.
func (k *kdfSlots) acquire(ctx context.Context, c kdfClass) error {
	k.mu.Lock()
	if k.free > 0 {
		k.free--
		k.mu.Unlock()
		return nil
	}
	if len(k.waiting[c]) >= 8*k.n {
		k.mu.Unlock()
		return errKDFBusy
	}
	given := make(chan struct{})
	k.waiting[c] = append(k.waiting[c], given)
	k.mu.Unlock()
	t := time.NewTimer(k.wait)
	defer t.Stop()
	var err error
	select {
	case <-given:
		return nil
	case <-t.C:
		err = errKDFBusy
	case <-ctx.Done():
		err = ctx.Err()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if i := slices.Index(k.waiting[c], given); i >= 0 {
		k.waiting[c] = slices.Delete(k.waiting[c], i, i+1)
		return err
	}
	// Given a slot as the wait ended: take it after all.
	return nil
}

// release gives a slot back: to the request that has waited longest in
// the first class that has one waiting, else to the free slots.
func (k *kdfSlots) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for c := range k.waiting {
		if len(k.waiting[c]) > 0 {
			close(k.waiting[c][0])
			k.waiting[c] = slices.Delete(k.waiting[c], 0, 1)
			return
		}
	}
	k.free++
}

// inSlot runs f in the slot just taken, and gives the slot back however f
// ends: a panic (recovered by the handler) must not keep a slot, nor its
// memory in the limit.
func (k *kdfSlots) inSlot(f func()) {
	if k.changed != nil {
		k.changed(1)
	}
	defer func() {
		if k.changed != nil {
			k.changed(-1)
		}
		k.release()
	}()
	f()
}

// run runs f in a slot for a request of class c, waiting up to k.wait for
// one (see [kdfSlots]); it returns errKDFBusy if none came, and does not
// run f. A request holding a processing slot (q.process) gives it back
// while it waits and runs f, and takes it again after: the requests
// turning bodies into pages must not wait behind derivations. q may be
// nil.
func (k *kdfSlots) run(ctx context.Context, q *request, c kdfClass, f func()) error {
	held := q != nil && q.work
	q.processed()
	err := k.acquire(ctx, c)
	if err == nil {
		k.inSlot(f)
	}
	if held {
		q.process()
	}
	return err
}
