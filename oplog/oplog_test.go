package oplog

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		out = append(out, m)
	}
	return out
}

// TestLinesHoldOnlyTheVocabulary checks every line is JSON with only the
// fixed field names, and the time only as a UTC day.
func TestLinesHoldOnlyTheVocabulary(t *testing.T) {
	var b bytes.Buffer
	l := New(&b)
	l.Event(ServerStarted)
	l.Addr(OnionPublished, "abc.onion")
	l.Add(Counter{Event: SubmissionsStored, Path: PathForm})
	l.Add(Counter{Event: SubmissionsRejected, Path: PathSealed, Reason: TooLarge})
	l.Count(BatchExported, 12)
	l.Add(Counter{Event: StoreUnavailable, Path: PathForm})
	l.Add(Counter{Event: ConnectionsClosed, Reason: IdleLimit})
	z := l.Zerolog()
	z.Info().Str("event", string(TorBootstrap)).Int("progress", 50).Send()
	l.Flush()
	allowed := map[string]bool{"level": true, "event": true, "day": true, "addr": true, "path": true, "reason": true, "count": true, "progress": true}
	day := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	ls := lines(t, &b)
	if len(ls) != 8 {
		t.Fatalf("%d lines, want 8:\n%s", len(ls), b.String())
	}
	for _, m := range ls {
		for k := range m {
			if !allowed[k] {
				t.Errorf("field %q is not in the vocabulary: %v", k, m)
			}
		}
		if d, _ := m["day"].(string); !day.MatchString(d) {
			t.Errorf("day %q is not a UTC date: %v", d, m)
		}
	}
}

// TestCountsWaitForTheEndOfTheDay: counting writes nothing; the counts of
// a day are written once that day is over (or at Flush), each under the
// day it counts, and then forgotten.
func TestCountsWaitForTheEndOfTheDay(t *testing.T) {
	var b bytes.Buffer
	c := &clock{t: time.Date(2026, 11, 27, 23, 59, 0, 0, time.UTC)}
	l := newLogger(&b, c.now)
	for range 3 {
		l.Add(Counter{Event: SubmissionsStored, Path: PathSealed})
	}
	l.Add(Counter{Event: SubmissionsRejected, Path: PathForm, Reason: Malformed})
	l.Add(Counter{Event: HandlerPanics})
	if b.Len() != 0 {
		t.Fatalf("counting wrote a line at once:\n%s", b.String())
	}
	c.set(time.Date(2026, 11, 28, 0, 1, 0, 0, time.UTC))
	l.Add(Counter{Event: SubmissionsStored, Path: PathSealed})
	l.c.flushBefore(day(c.now()))
	want := []string{
		`{"level":"error","event":"handler_panics","count":1,"day":"2026-11-27"}`,
		`{"level":"warn","event":"submissions_rejected","path":"form","reason":"malformed","count":1,"day":"2026-11-27"}`,
		`{"level":"info","event":"submissions_stored","path":"sealed","count":3,"day":"2026-11-27"}`,
	}
	if got := strings.Split(strings.TrimSpace(b.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines at midnight:\n%s\nwant:\n%s", b.String(), strings.Join(want, "\n"))
	}
	b.Reset()
	l.c.flushBefore(day(c.now()))
	if b.Len() != 0 {
		t.Fatalf("a day's counts were written twice:\n%s", b.String())
	}
	l.Flush()
	if got := strings.TrimSpace(b.String()); got != `{"level":"info","event":"submissions_stored","path":"sealed","count":1,"day":"2026-11-28"}` {
		t.Fatalf("flush at shutdown wrote:\n%s", got)
	}
}

// TestRunDailyWritesAtMidnight runs the daily writer across a day's end.
func TestRunDailyWritesAtMidnight(t *testing.T) {
	var b syncBuffer
	// The real clock, 50 ms before midnight of a day that has passed, as
	// seen through an offset.
	start := time.Now()
	offset := time.Date(2026, 11, 27, 23, 59, 59, 950e6, time.UTC).Sub(start)
	now := func() time.Time { return time.Now().Add(offset) }
	l := newLogger(&b, now)
	l.Add(Counter{Event: SubmissionsStored, Path: PathForm})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.RunDaily(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), `"day":"2026-11-27"`) {
		if time.Now().After(deadline) {
			t.Fatal("the day's counts were not written after midnight")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestZeroAndNilWriterDiscard(t *testing.T) {
	New(nil).Event(ServerStarted) // must not panic
	var l Logger
	l.Add(Counter{Event: HandlerPanics})
	l.Flush()
	l.Event(ServerStopped)
}
