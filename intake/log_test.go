package intake

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/oplog"
)

// TestLogHoldsOnlyDailyCounts drives every way a request makes the server
// log something — submissions by both paths, every reason to refuse one,
// the store and the audit log failing, a handler panicking, connections
// closed for every reason — and checks SECURITY.md's promise line by
// line: nothing is written while requests are served (a line written at
// once is a timestamp of someone's request), and what the day's counts
// write at the end is exactly one line per kind of event, with its count,
// from the fixed vocabulary, carrying the UTC day and nothing else.
func TestLogHoldsOnlyDailyCounts(t *testing.T) {
	s := testStudy(t)
	var stored atomic.Int32 // what the audit log does: 0 append, 1 fail, 2 panic
	audit := func([32]byte, time.Time) error {
		switch stored.Load() {
		case 1:
			return errors.New("audit log unavailable")
		case 2:
			panic("audit log broken")
		}
		return nil
	}
	// The main server; others share its log.
	a := serveTestWith(t, Config{Study: s, Store: tempStoreTB(t), Stored: audit, Limits: Limits{UploadMemory: 1 << 20}}, nil,
		fast(time.Second, time.Hour, 200*time.Millisecond))
	sealedOnly := *s
	sealedOnly.RequireBrowserEncryption = true
	b := serveTestWith(t, Config{Study: &sealedOnly, Store: tempStoreTB(t)}, a, nil)
	closed := tempStoreTB(t)
	closed.Close()
	c := serveTestWith(t, Config{Study: s, Store: closed}, a, nil)
	evicting := serveTestWith(t, Config{Study: s, Store: tempStoreTB(t), Limits: Limits{UploadMemory: 1 << 20}}, a,
		fast(time.Minute, 200*time.Millisecond, 2*time.Second))
	tight := serveTestWith(t, Config{Study: s, Store: tempStoreTB(t), Limits: Limits{MaxConns: 2, MaxIdleConns: 1}}, a,
		fast(time.Minute, time.Hour, time.Second))

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	valid := url.Values{"lang": {"en"}, "q.used": {"no"}, "q.consent": {"yes"}}
	post := func(base, path string, v url.Values, want int) {
		t.Helper()
		if resp, body := postForm(t, client, base+path, v); resp.StatusCode != want {
			t.Fatalf("POST %s: status %d, want %d:\n%.300s", path, resp.StatusCode, want, body)
		}
	}
	postRaw := func(base, path, ctype, body string, want int) {
		t.Helper()
		resp, err := client.Post(base+path, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
	rs, _ := s.RecipientKeys()
	otherEnv, _ := envelope.Seal("another-study", []byte("x"), rs)
	large := langFirst(sealedForm(t, s, "en", s.MaxSubmissionBytes()))

	// Stored, by both paths; stored but the audit log failed; stored but
	// the handler panicked.
	post(a.base, "/submit", valid, 200)
	post(a.base, "/sealed", sealedForm(t, s, "en", 100), 200)
	stored.Store(1)
	post(a.base, "/submit", valid, 200)
	stored.Store(2)
	post(a.base, "/sealed", sealedForm(t, s, "en", 100), 503)
	stored.Store(0)
	// Refused, for every reason.
	postRaw(a.base, "/submit", "application/x-www-form-urlencoded", "lang=en&q.story=%zz", 400)
	postRaw(a.base, "/sealed", "text/plain", "x", 415)
	postRaw(a.base, "/sealed", "application/x-www-form-urlencoded", "lang=en&envelope="+strings.Repeat("A", 800<<10), 413)
	post(a.base, "/submit", url.Values{"lang": {"en"}, "q.used": {"no"}}, 422)
	post(a.base, "/sealed", url.Values{"lang": {"en"}, "envelope": {base64.StdEncoding.EncodeToString(otherEnv)}}, 400)
	// Answers to a version the server does not know: carried to the
	// current one, nothing stored; an envelope sealed to researchers
	// who are not the study's.
	post(a.base, "/submit", url.Values{"lang": {"en"}, "v": {"0000"}, "q.used": {"no"}, "q.consent": {"yes"}}, 409)
	stranger, _ := envelope.GenerateIdentity()
	strangerEnv, _ := envelope.Seal(s.ID, []byte("x"), []*envelope.Recipient{stranger.Recipient()})
	post(a.base, "/sealed", url.Values{"lang": {"en"}, "envelope": {base64.StdEncoding.EncodeToString(strangerEnv)}}, 409)
	post(b.base, "/submit", valid, 403)
	// Busy: the memory is held by an upload that has not stalled long
	// enough to be closed.
	holder := startUpload(t, a.base, "/sealed", 700000, "lang=en&envelope="+strings.Repeat("A", 600<<10))
	time.Sleep(100 * time.Millisecond)
	postRaw(a.base, "/sealed", "application/x-www-form-urlencoded", large, 503)
	// Stalled: the holder itself, after a second without progress.
	if status, _ := holder.response(t, 5*time.Second); status != http.StatusRequestTimeout {
		t.Fatalf("stalled upload: status %d", status)
	}
	// Aborted: the client leaves halfway.
	startUpload(t, a.base, "/sealed", 10000, "lang=en&envelope=AAAA").Close()
	// Evicted to make room: the holder has stalled 200 ms, the memory is
	// needed.
	holder = startUpload(t, evicting.base, "/sealed", 700000, "lang=en&envelope="+strings.Repeat("A", 600<<10))
	time.Sleep(300 * time.Millisecond)
	postRaw(evicting.base, "/sealed", "application/x-www-form-urlencoded", large, 200)
	if !holder.closed(time.Second) {
		t.Fatal("the stalled holder was not closed")
	}
	// The store failing.
	post(c.base, "/submit", valid, 503)
	// Connections: two waiting for one idle place; then two uploads in
	// the two places (the first, while it waits for its head to be read,
	// makes the waiting one too many), and a connection beyond them.
	first := dialRaw(t, tight.base)
	time.Sleep(50 * time.Millisecond)
	second := dialRaw(t, tight.base)
	if !first.closed(time.Second) {
		t.Fatal("idle limit: the oldest connection stayed open")
	}
	var uploads []*rawConn
	for range 2 {
		uploads = append(uploads, startUpload(t, tight.base, "/sealed", 10000, "lang=en&envelope=AAAA"))
		time.Sleep(100 * time.Millisecond)
	}
	if !second.closed(time.Second) {
		t.Fatal("idle limit: the waiting connection stayed open")
	}
	if !dialRaw(t, tight.base).closed(time.Second) {
		t.Fatal("connection limit: a connection beyond it stayed open")
	}
	// A shutdown cuts the uploads still in progress.
	tight.srv.Shutdown(tight.hs, 100*time.Millisecond)
	for _, u := range uploads {
		if !u.closed(time.Second) {
			t.Fatal("shutdown: an upload's connection stayed open")
		}
	}
	// Let the handlers of closed connections count what they saw.
	for _, ts := range []*testServer{a, b, c, evicting, tight} {
		ts.srv.guard.waitIdle(t)
	}

	if got := a.logText(); got != "" {
		t.Fatalf("the log was written while requests were served:\n%s", got)
	}
	a.log.Flush()
	want := map[string]int{
		"info submissions_stored form":                               2,
		"info submissions_stored sealed":                             3,
		"error audit_unavailable":                                    1,
		"error handler_panics":                                       1,
		"error store_unavailable form":                               1,
		"warn submissions_rejected form malformed":                   1,
		"warn submissions_rejected sealed unsupported_media_type":    1,
		"warn submissions_rejected sealed too_large":                 1,
		"warn submissions_rejected form invalid_answers":             1,
		"warn submissions_rejected sealed wrong_study":               1,
		"warn submissions_rejected form study_changed":               1,
		"warn submissions_rejected sealed study_changed":             1,
		"warn submissions_rejected form browser_encryption_required": 1,
		"warn submissions_rejected sealed busy":                      1,
		"warn submissions_rejected sealed stalled":                   1,
		"warn submissions_rejected sealed aborted":                   1,
		"warn submissions_rejected sealed evicted":                   1,
		"warn submissions_rejected sealed shutdown":                  2,
		"warn connections_closed memory_limit":                       1,
		"warn connections_closed idle_limit":                         2,
		"warn connections_closed conn_limit":                         1,
		"warn connections_closed shutdown":                           2,
	}
	got := map[string]int{}
	allowed := map[string]bool{"level": true, "event": true, "path": true, "reason": true, "count": true, "day": true}
	today := time.Now().UTC().Format(time.DateOnly)
	for _, line := range strings.Split(strings.TrimSpace(a.logText()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		for k := range m {
			if !allowed[k] {
				t.Errorf("field %q is outside the vocabulary: %s", k, line)
			}
		}
		if m["day"] != today || !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`).MatchString(today) {
			t.Errorf("day %v, want %s: %s", m["day"], today, line)
		}
		ev, _ := m["event"].(string)
		if !slices.Contains(oplog.Counted, oplog.Event(ev)) {
			t.Errorf("event %q is not a daily count: %s", ev, line)
		}
		key := strings.Join(slices.DeleteFunc([]string{str(m["level"]), ev, str(m["path"]), str(m["reason"])}, func(s string) bool { return s == "" }), " ")
		if _, dup := got[key]; dup {
			t.Errorf("two lines for %s", key)
		}
		n, _ := m["count"].(float64)
		got[key] = int(n)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: count %d, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected line %s (count %d)", k, n)
		}
	}
	// Every reason in the vocabulary was driven.
	for _, r := range oplog.RejectionReasons {
		if !anyKey(got, "submissions_rejected", string(r)) {
			t.Errorf("no rejection for reason %s was driven", r)
		}
	}
	for _, r := range oplog.ClosingReasons {
		if !anyKey(got, "connections_closed", string(r)) {
			t.Errorf("no connection closed for reason %s was driven", r)
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }

func anyKey(m map[string]int, event, reason string) bool {
	for k := range m {
		if strings.Contains(k, " "+event+" ") && strings.HasSuffix(k, " "+reason) {
			return true
		}
	}
	return false
}

// waitIdle waits until no handler runs.
func (g *guard) waitIdle(t *testing.T) {
	done := make(chan struct{})
	go func() { g.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handlers still running after 10 s")
	}
}
