package intake

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/oplog"
)

// sealedForm returns the form the page's script posts to /sealed: an
// envelope sealed for s from a plaintext of n bytes.
func sealedForm(t testing.TB, s *config.Study, lang string, n int) url.Values {
	t.Helper()
	rs, err := s.RecipientKeys()
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(s.ID, []byte(strings.Repeat("x", n)), rs)
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"lang": {lang}, "envelope": {base64.StdEncoding.EncodeToString(env)}}
}

// langFirst encodes a form as a browser does, in the order of the page's
// fields: "lang" first (url.Values.Encode sorts the keys).
func langFirst(v url.Values) string {
	return "lang=" + url.QueryEscape(v.Get("lang")) + "&envelope=" + url.QueryEscape(v.Get("envelope"))
}

// percentEncodeAll writes every byte of every value as %XX: a valid
// url-encoding, and the longest one.
func percentEncodeAll(v url.Values) string {
	var b strings.Builder
	for _, k := range []string{"lang", "envelope"} {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=")
		for _, c := range []byte(v.Get(k)) {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// TestLargestEnvelopeCanBePosted posts an envelope of the largest bucket
// the study allows, as a browser encodes it ("+", "/" and "=" as %2B,
// %2F, %3D), and then with every byte percent-encoded: the limit is on
// what the form holds, not on how it was encoded.
func TestLargestEnvelopeCanBePosted(t *testing.T) {
	s := testStudy(t)
	ts := startServer(t, s, t.TempDir())
	form := sealedForm(t, s, "en", s.MaxSubmissionBytes())
	env, _ := base64.StdEncoding.DecodeString(form.Get("envelope"))
	if want := envelope.Size(s.MaxSubmissionBytes(), len(s.ID), 1); len(env) != want {
		t.Fatalf("envelope of %d bytes, want the largest, %d", len(env), want)
	}
	for _, body := range []string{langFirst(form), percentEncodeAll(form)} {
		resp, err := http.Post(ts.base+"/sealed", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "Received") {
			t.Fatalf("largest envelope, %d bytes on the wire: status %d", len(body), resp.StatusCode)
		}
	}
	if p, _ := ts.store.Pending(); len(p) != 2 {
		t.Fatalf("%d envelopes stored, want 2", len(p))
	}
	// One byte more than any envelope of the study is refused.
	form.Set("envelope", form.Get("envelope")+strings.Repeat("A", 1100))
	resp, err := http.Post(ts.base+"/sealed", "application/x-www-form-urlencoded", strings.NewReader(langFirst(form)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "too long") {
		t.Fatalf("over the limit: status %d", resp.StatusCode)
	}
}

// TestLongKoreanAnswerFitsTheLimit: an answer of the longest length a
// question allows, in Korean (three bytes a character, nine once
// percent-encoded), goes through a study whose limit leaves room for it.
func TestLongKoreanAnswerFitsTheLimit(t *testing.T) {
	s := testStudy(t)
	s.Limits.MaxTextLength = 20000
	s.Limits.MaxSubmissionBytes = 4 * 20000 // what the study loader asks for
	ts := startServer(t, s, t.TempDir())
	story := strings.Repeat("증", 20000)
	resp, body := postForm(t, http.DefaultClient, ts.base+"/submit", url.Values{
		"lang": {"ko"}, "q.used": {"no"}, "q.consent": {"yes"}, "q.story": {story}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%.300s", resp.StatusCode, body)
	}
}

// TestErrorPagesInThePagesLanguage: a request that cannot be read gets its
// error page in the language of the page it came from — the query's, or
// the form's when it was read — not in Korean.
func TestErrorPagesInThePagesLanguage(t *testing.T) {
	ts := startServer(t, testStudy(t), t.TempDir())
	for _, c := range []struct {
		name, path, ctype, body string
		status                  int
		want                    string
	}{
		{"media type, query", "/submit?lang=en", "text/plain", "x", 415, "cannot be accepted"},
		{"media type, query", "/sealed?lang=zh", "multipart/form-data; boundary=x", "x", 415, "无法接受"},
		{"malformed, form", "/next", "application/x-www-form-urlencoded", "lang=en&step=1&q.story=%zz", 400, "could not be read"},
		{"malformed, query", "/next?lang=zh", "application/x-www-form-urlencoded", "a=1;b", 400, "无法读取"},
		{"too large, form", "/sealed", "application/x-www-form-urlencoded", "lang=zh&envelope=" + strings.Repeat("A", 800<<10), 413, "太长"},
		{"too many fields", "/next", "application/x-www-form-urlencoded", "lang=en" + strings.Repeat("&x=1", 100), 400, "could not be read"},
		{"bad lang, query", "/next?lang=en", "application/x-www-form-urlencoded", "lang=xx&step=1", 400, "could not be read"},
	} {
		resp, err := http.Post(ts.base+c.path, c.ctype, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
			t.Errorf("%s: status %d, want %d with %q:\n%.400s", c.name, resp.StatusCode, c.status, c.want, b)
		}
	}
}

// rawConn is a client connection written by hand.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, base string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c, bufio.NewReader(c)}
}

// startUpload sends the head of a form post announcing contentLength bytes
// and the first part of its body.
func startUpload(t testing.TB, base, path string, contentLength int, part string) *rawConn {
	t.Helper()
	c := dialRaw(t, base)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", path, contentLength, part)
	return c
}

// response reads the server's answer, waiting up to d. It returns status
// 0 if the connection was closed without one.
func (c *rawConn) response(t testing.TB, d time.Duration) (int, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("no answer within %s", d)
		}
		return 0, ""
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// closed reports whether the server closed the connection within d.
func (c *rawConn) closed(d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.r.ReadByte()
	if err == nil {
		return false
	}
	ne, ok := err.(net.Error)
	return !ok || !ne.Timeout()
}

// fast sets short times for the limits, so the tests do not wait.
func fast(stall, pressure, wait time.Duration) func(*Server) {
	return func(s *Server) {
		s.guard.t.stall, s.guard.t.pressure, s.guard.t.wait = stall, pressure, wait
	}
}

// TestStalledUploadIsDropped: a body that stops arriving is dropped (with
// a page in its language, if anyone reads it), one that trickles a few
// bytes at a time too, while one that is slow but keeps coming — ten
// times as long as the stall limit here — is stored. A person is served
// meanwhile.
func TestStalledUploadIsDropped(t *testing.T) {
	s := testStudy(t)
	const stall = time.Second
	ts := serveTestWith(t, Config{Study: s, Store: tempStoreTB(t)}, nil, fast(stall, time.Hour, time.Second))

	stalled := startUpload(t, ts.base, "/sealed", 100000, "lang=en&envelope="+strings.Repeat("A", 10000))
	trickle := startUpload(t, ts.base, "/sealed", 100000, "lang=zh&envelope=")
	go func() {
		for range 100 {
			if _, err := trickle.Write([]byte("AAAAAAAAAA")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if resp, _ := get(t, ts.base+"/?lang=en"); resp.StatusCode != 200 {
		t.Fatalf("a person was not served during the stall: %d", resp.StatusCode)
	}
	start := time.Now()
	if status, body := stalled.response(t, 10*stall); status != http.StatusRequestTimeout || !strings.Contains(body, "too slow") {
		t.Fatalf("stalled upload: status %d, want 408 in English", status)
	}
	if d := time.Since(start); d > 3*stall {
		t.Errorf("stalled upload dropped after %s, stall limit %s", d, stall)
	}
	if !stalled.closed(stall) {
		t.Error("the connection of the stalled upload stayed open")
	}
	if status, body := trickle.response(t, 10*stall); status != http.StatusRequestTimeout || !strings.Contains(body, "连接太慢") {
		t.Fatalf("trickling upload: status %d, want 408 in Chinese", status)
	}

	// Slow but steady: about five stall periods long, 512 bytes every
	// 100 ms, each stall period five times the progress it needs.
	body := langFirst(sealedForm(t, s, "en", 16000))
	slow := startUpload(t, ts.base, "/sealed", len(body), "")
	const step = 512
	go func() {
		for i := 0; i < len(body); i += step {
			slow.Write([]byte(body[i:min(i+step, len(body))]))
			time.Sleep(100 * time.Millisecond)
		}
	}()
	if status, page := slow.response(t, 30*stall); status != 200 || !strings.Contains(page, "Received") {
		t.Fatalf("slow upload: status %d", status)
	}
	if p, _ := ts.store.Pending(); len(p) != 1 {
		t.Fatalf("%d envelopes stored, want the slow one", len(p))
	}
}

// TestUploadMemoryIsBounded fills the memory for uploads with one that
// stalls: a second large upload waits, then gets the "busy" page in its
// language, while small ones go through, and a medium one goes ahead of
// it; once the first has stalled long enough, the second takes its room
// and is stored.
func TestUploadMemoryIsBounded(t *testing.T) {
	s := testStudy(t)
	large := langFirst(sealedForm(t, s, "zh", s.MaxSubmissionBytes()))
	for _, c := range []struct {
		name     string
		pressure time.Duration
	}{{"stalled upload kept", time.Hour}, {"stalled upload closed", 300 * time.Millisecond}} {
		t.Run(c.name, func(t *testing.T) {
			ts := serveTestWith(t, Config{Study: s, Store: tempStoreTB(t), Limits: Limits{UploadMemory: 1 << 20}}, nil,
				fast(time.Minute, c.pressure, time.Second))
			// The first holds about 600 KiB: more than half the memory.
			first := startUpload(t, ts.base, "/sealed", 700000, "lang=en&envelope="+strings.Repeat("A", 600<<10))
			time.Sleep(100 * time.Millisecond)
			for range 3 {
				if resp, body := postForm(t, http.DefaultClient, ts.base+"/sealed", sealedForm(t, s, "en", 2000)); resp.StatusCode != 200 {
					t.Fatalf("a small submission while the memory is full: status %d\n%.300s", resp.StatusCode, body)
				}
			}
			type result struct {
				status int
				page   string
			}
			second := make(chan result, 1)
			go func() {
				resp, err := http.Post(ts.base+"/sealed", "application/x-www-form-urlencoded", strings.NewReader(large))
				if err != nil {
					second <- result{}
					return
				}
				page, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				second <- result{resp.StatusCode, string(page)}
			}()
			if c.pressure == time.Hour {
				// A medium one, beyond what each body may take without
				// asking, goes ahead of the large one waiting.
				time.Sleep(200 * time.Millisecond)
				if resp, _ := postForm(t, http.DefaultClient, ts.base+"/sealed", sealedForm(t, s, "en", 30000)); resp.StatusCode != 200 {
					t.Fatalf("a medium submission behind a large one waiting: status %d", resp.StatusCode)
				}
				select {
				case r := <-second:
					t.Fatalf("the large upload ended (%d) before the medium one was stored", r.status)
				default:
				}
				if r := <-second; r.status != http.StatusServiceUnavailable || !strings.Contains(r.page, "发送的人太多") {
					t.Fatalf("second large upload: status %d, want 503 in Chinese:\n%.300s", r.status, r.page)
				}
				if first.closed(100 * time.Millisecond) {
					t.Fatal("the stalled upload was closed though it had not stalled long enough")
				}
				return
			}
			r := <-second
			resp := &http.Response{StatusCode: r.status}
			page := r.page
			if resp.StatusCode != 200 {
				t.Fatalf("second large upload: status %d, want 200 after the stalled one made room:\n%.300s", resp.StatusCode, page)
			}
			if status, _ := first.response(t, time.Second); status != 0 {
				t.Fatalf("the stalled upload got status %d, want its connection closed", status)
			}
		})
	}
}

// TestConnectionLimits: connections that send nothing are closed, the
// oldest first, beyond the idle limit; beyond the connection limit a new
// connection is closed unless an older one can be; a person is served.
func TestConnectionLimits(t *testing.T) {
	s := testStudy(t)
	ts := serveTestWith(t, Config{Study: s, Store: tempStoreTB(t), Limits: Limits{MaxConns: 4, MaxIdleConns: 2}}, nil,
		fast(time.Minute, 300*time.Millisecond, time.Second))
	var idle []*rawConn
	for range 3 {
		idle = append(idle, dialRaw(t, ts.base))
		time.Sleep(20 * time.Millisecond)
	}
	if !idle[0].closed(time.Second) {
		t.Fatal("the oldest of three idle connections is still open, with room for two")
	}
	if idle[1].closed(50*time.Millisecond) || idle[2].closed(50*time.Millisecond) {
		t.Fatal("a newer idle connection was closed")
	}
	if resp, _ := get(t, ts.base+"/"); resp.StatusCode != 200 {
		t.Fatalf("a person beside idle connections: status %d", resp.StatusCode)
	}
	// Four uploads in progress fill every connection: a new one is
	// closed at once, until they have stalled long enough.
	for range 4 {
		startUpload(t, ts.base, "/sealed", 10000, "lang=en&envelope=AAAA")
		time.Sleep(30 * time.Millisecond)
	}
	late := dialRaw(t, ts.base)
	if !late.closed(time.Second) {
		t.Fatal("a connection beyond the limit, with no room to make, stayed open")
	}
	time.Sleep(400 * time.Millisecond)
	if resp, _ := get(t, ts.base+"/"); resp.StatusCode != 200 {
		t.Fatalf("a person after the uploads stalled: status %d", resp.StatusCode)
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestSentRequestIsNotIdle: a connection whose request has arrived but not
// been read yet (the server is behind, in a flood) is passed over when the
// oldest waiting connection is closed to make room.
func TestSentRequestIsNotIdle(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux tells how many bytes wait on a socket")
	}
	g := newGuard(Limits{}.withDefaults(), defaultTiming, oplog.Logger{}, 1)
	var conns []*tracked
	for i := range 3 {
		client, server := tcpPair(t)
		if i < 2 {
			// The two oldest have sent their request.
			client.Write([]byte("GET / HTTP/1.1\r\n"))
		}
		c := &tracked{c: server, state: http.StateNew, since: time.Now()}
		c.wait = g.fresh.PushBack(c)
		conns = append(conns, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !sentUnread(conns[1].c) {
		if time.Now().After(deadline) {
			t.Fatal("bytes sent never show as unread")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v := g.victim(time.Now(), nil, false); v != conns[2] {
		t.Fatalf("victim is connection %d, want the one that sent nothing (2)", slices.Index(conns, v))
	}
	// If every one has sent its request, the oldest goes.
	if v := g.victim(time.Now(), conns[2], false); v != conns[0] {
		t.Fatalf("victim is connection %d, want the oldest (0)", slices.Index(conns, v))
	}
	conns[0].c.Read(make([]byte, 100))
	if sentUnread(conns[0].c) {
		t.Fatal("bytes read still show as unread")
	}
}

// TestShutdownCutsWaitingUploads: a shutdown does not wait for uploads
// that wait for memory (here for up to a minute): they give up with
// their connections.
func TestShutdownCutsWaitingUploads(t *testing.T) {
	s := testStudy(t)
	ts := serveTestWith(t, Config{Study: s, Store: tempStoreTB(t), Limits: Limits{UploadMemory: 1 << 20}}, nil,
		fast(time.Minute, time.Hour, time.Minute))
	holder := startUpload(t, ts.base, "/sealed", 700000, "lang=en&envelope="+strings.Repeat("A", 600<<10))
	time.Sleep(100 * time.Millisecond)
	waiting := startUpload(t, ts.base, "/sealed", 700000, "lang=en&envelope="+strings.Repeat("A", 600<<10))
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if cut := ts.srv.Shutdown(ts.hs, 100*time.Millisecond); cut != 2 {
		t.Errorf("shutdown closed %d connections, want the 2 uploads", cut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("shutdown took %s: it waited for an upload waiting for memory", d)
	}
	for i, c := range []*rawConn{holder, waiting} {
		if status, body := c.response(t, 2*time.Second); status != 0 {
			t.Errorf("upload %d got status %d after shutdown, want its connection closed:\n%.200s", i, status, body)
		}
	}
}
