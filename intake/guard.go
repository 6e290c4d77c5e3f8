package intake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
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
	// beyond the first 16 KiB of each (which MaxConns bounds). A request
	// that needs more waits up to 10 seconds — closing, to make room,
	// uploads that have sent nothing for 5 seconds — and then gets the
	// "busy" page (503). It must hold at least one of the study's largest
	// uploads.
	UploadMemory int64
}

// Defaults of [Limits]. An idle connection costs the server about 7 KiB,
// so the defaults bound connections to about 7 MiB, request bodies to
// 16 MiB + 32 MiB.
const (
	DefaultMaxConns     = 1024
	DefaultMaxIdleConns = 512
	DefaultUploadMemory = 32 << 20
)

// uploadAllowance is the part of each request body that does not count
// against Limits.UploadMemory: small submissions never wait for large
// ones. The connection limit bounds it in total.
const uploadAllowance = 16 << 10

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
	return l
}

func (l Limits) check(largestUpload int) error {
	if l.MaxConns < 1 || l.MaxIdleConns < 1 || l.UploadMemory < 0 {
		return fmt.Errorf("intake: limits must be positive: %d connections, %d idle, %d bytes for uploads", l.MaxConns, l.MaxIdleConns, l.UploadMemory)
	}
	if l.UploadMemory < int64(largestUpload) {
		return fmt.Errorf("memory for uploads (%d bytes) is less than one upload of this study can take (%d bytes): raise it", l.UploadMemory, largestUpload)
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

	mu       sync.Mutex
	conns    map[net.Conn]*tracked
	open     int // tracked connections the guard has not closed
	idle     int // of which waiting for a request
	held     int64
	freed    chan struct{} // closed and replaced when memory is released
	inflight int           // handlers running
	drained  *sync.Cond    // signalled when inflight drops to 0
}

// tracked is a connection, as the guard sees it.
type tracked struct {
	c     net.Conn
	state http.ConnState // -1 before StateNew
	// since is when the connection began to wait for a request, or the
	// last progress of the body being read.
	since    time.Time
	reading  bool  // a handler is reading its request body
	held     int64 // memory its request holds against UploadMemory
	closedBy oplog.Reason
}

type connKey struct{}

func newGuard(l Limits, t timing, log oplog.Logger) *guard {
	g := &guard{lim: l, t: t, log: log, conns: map[net.Conn]*tracked{}, freed: make(chan struct{}),
		work: make(chan struct{}, 4*runtime.GOMAXPROCS(0))}
	g.drained = sync.NewCond(&g.mu)
	return g
}

func waiting(s http.ConnState) bool { return s == http.StateNew || s == http.StateIdle }

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
	if t == nil {
		g.mu.Unlock()
		return
	}
	if st == http.StateClosed || st == http.StateHijacked {
		if t.closedBy == "" && t.state != -1 {
			g.open--
			if waiting(t.state) {
				g.idle--
			}
		}
		delete(g.conns, c)
		g.mu.Unlock()
		return
	}
	if t.closedBy != "" {
		g.mu.Unlock()
		return
	}
	if t.state == -1 {
		g.open++
	} else if waiting(t.state) {
		g.idle--
	}
	t.state, t.since = st, now
	if waiting(st) {
		g.idle++
	}
	var cut []*tracked
	if st == http.StateNew && g.open > g.lim.MaxConns {
		v := g.victim(now, t, true)
		if v == nil {
			v = t
		}
		g.cut(v, oplog.ConnLimit)
		cut = append(cut, v)
	}
	for g.idle > g.lim.MaxIdleConns {
		v := g.victim(now, nil, false)
		if v == nil {
			break
		}
		g.cut(v, oplog.IdleLimit)
		cut = append(cut, v)
	}
	g.mu.Unlock()
	g.close(cut)
}

// victim returns the connection to close to make room: the one waiting
// the longest for a first request, else the one kept alive the longest,
// else (with stalled) the upload that has made no progress the longest,
// if for at least t.pressure. It never returns not. g.mu is held.
func (g *guard) victim(now time.Time, not *tracked, stalled bool) *tracked {
	var best *tracked
	rank := func(t *tracked) int {
		switch {
		case t.state == http.StateNew:
			return 0
		case t.state == http.StateIdle:
			return 1
		case stalled && t.reading && now.Sub(t.since) >= g.t.pressure:
			return 2
		}
		return -1
	}
	for _, t := range g.conns {
		r := rank(t)
		if t == not || t.closedBy != "" || r < 0 {
			continue
		}
		if best == nil || r < rank(best) || r == rank(best) && t.since.Before(best.since) {
			best = t
		}
	}
	return best
}

// stalledHolder returns the upload holding memory that has made no
// progress the longest, if for at least t.pressure, other than not.
// g.mu is held.
func (g *guard) stalledHolder(now time.Time, not *tracked) *tracked {
	var best *tracked
	for _, t := range g.conns {
		if t == not || t.closedBy != "" || !t.reading || t.held == 0 || now.Sub(t.since) < g.t.pressure {
			continue
		}
		if best == nil || t.since.Before(best.since) {
			best = t
		}
	}
	return best
}

// cut marks t as closed by the guard for reason. g.mu is held; the caller
// closes it after releasing g.mu.
func (g *guard) cut(t *tracked, reason oplog.Reason) {
	t.closedBy = reason
	if t.state != -1 {
		g.open--
		if waiting(t.state) {
			g.idle--
		}
	}
}

func (g *guard) close(cut []*tracked) {
	for _, t := range cut {
		t.c.Close()
		g.log.Add(oplog.Counter{Event: oplog.ConnectionsClosed, Reason: t.closedBy})
	}
}

// shutdown closes every connection still open and counts them.
func (g *guard) shutdown() int {
	g.mu.Lock()
	var cut []*tracked
	for _, t := range g.conns {
		if t.closedBy == "" {
			g.cut(t, oplog.Shutdown)
			cut = append(cut, t)
		}
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
	if q.t != nil && r.ContentLength != 0 {
		q.t.reading, q.t.since = true, time.Now()
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
	if q.held > 0 {
		g.held -= q.held
		q.held = 0
		close(g.freed)
		g.freed = make(chan struct{})
	}
	if q.t != nil {
		q.t.reading, q.t.held = false, 0
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

// Read reads the request body (progressReader's), noting its progress.
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
		q.g.mu.Unlock()
	}
	q.rc.SetReadDeadline(time.Time{})
	q.rc.SetWriteDeadline(time.Now().Add(q.g.t.write))
}

// reserve makes sure the request holds memory for total bytes of body,
// waiting for others to release some, closing uploads that have stalled,
// for up to t.wait. It returns errBusy if that was not enough.
func (q *request) reserve(total int) error {
	g := q.g
	need := int64(total-uploadAllowance) - q.held
	if need <= 0 {
		return nil
	}
	deadline := time.Now().Add(g.t.wait)
	for {
		now := time.Now()
		g.mu.Lock()
		if g.held+need <= g.lim.UploadMemory {
			g.held += need
			q.held += need
			if q.t != nil {
				q.t.held = q.held
			}
			g.mu.Unlock()
			return nil
		}
		var cut []*tracked
		if v := g.stalledHolder(now, q.t); v != nil {
			g.cut(v, oplog.MemoryLimit)
			cut = append(cut, v)
		}
		freed := g.freed
		g.mu.Unlock()
		g.close(cut)
		if now.After(deadline) {
			return errBusy
		}
		t := time.NewTimer(min(250*time.Millisecond, time.Until(deadline)+time.Millisecond))
		select {
		case <-freed:
		case <-t.C:
		}
		t.Stop()
	}
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

// failure names why reading the body failed with err. q may be nil.
func (q *request) failure(err error) oplog.Reason {
	if q != nil && q.t != nil {
		q.g.mu.Lock()
		closed := q.t.closedBy != ""
		q.g.mu.Unlock()
		if closed {
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

// progressReader is a request body that reports its progress.
type progressReader struct {
	q *request
	r interface{ Read([]byte) (int, error) }
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.q.progress(n)
	return n, err
}
