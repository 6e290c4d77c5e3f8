// Package oplog is the operational log of the server: JSON lines from a
// fixed vocabulary, none of which tells when a person did something.
//
// Use [New] to make a logger. It writes two kinds of line:
//
//   - Lines about the operator's and tor's actions, written when they
//     happen: the server starting and stopping, tor bootstrapping and
//     publishing the onion service, a batch exported, envelopes purged
//     ([Logger.Event], [Logger.Addr], [Logger.Count]).
//   - Daily counts of what people's requests caused: submissions stored by
//     path, rejected by path and reason, the store or the audit log
//     unavailable, handlers that panicked, connections the server closed
//     to protect itself ([Logger.Add]). Nothing is written when such an
//     event happens. [Logger.RunDaily] writes each UTC day's counts at the
//     following midnight, and [Logger.Flush] writes what was counted so far
//     (at shutdown), one line per counter that is not zero.
//
// A line written the moment a request arrives is a timestamp: any log
// collector (journald, docker) records when it reads a line, to the
// microsecond, and the n-th such line would match the n-th record of the
// audit log. So no line is ever written because of a single request.
//
// Every field is one of a few fixed names whose values are event names,
// reason codes, counts, the UTC day, or addresses of the server itself
// (its onion address, its socket or loopback port). There is no way to log
// free text: the values of [Event], [Path] and [Reason] are the constants
// of this package. No line carries a time finer than the UTC day, an
// answer, a client address, a user agent or an identifier of a submission.
//
// The log is for the operator. The tamper-evident record of what happened
// is the audit log, which is separate.
package oplog

import (
	"cmp"
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Event names a kind of line in the log.
type Event string

// Events written when they happen: actions of the operator and of tor.
const (
	ServerStarted      Event = "server_started"        //
	ServerStopping     Event = "server_stopping"       //
	ServerStopped      Event = "server_stopped"        //
	BatchExported      Event = "batch_exported"        // count
	EnvelopesPurged    Event = "envelopes_purged"      // count
	TorBootstrap       Event = "tor_bootstrap"         // progress
	OnionPublished     Event = "onion_published"       // addr, seconds
	TorRestarted       Event = "tor_restarted"         //
	ListenerDevWarning Event = "listening_on_loopback" // addr
)

// Events counted per UTC day, written as daily totals (see [Logger.Add]).
const (
	SubmissionsStored   Event = "submissions_stored"   // path, count
	SubmissionsRejected Event = "submissions_rejected" // path, reason, count
	StoreUnavailable    Event = "store_unavailable"    // path, count
	AuditUnavailable    Event = "audit_unavailable"    // count
	HandlerPanics       Event = "handler_panics"       // count
	ConnectionsClosed   Event = "connections_closed"   // reason, count
)

// Counted are the events counted per day, for tests that check what a
// server writes.
var Counted = []Event{SubmissionsStored, SubmissionsRejected, StoreUnavailable, AuditUnavailable, HandlerPanics, ConnectionsClosed}

// Path is the way a submission came: sealed by the server from a form, or
// sealed in the browser.
type Path string

// Submission paths.
const (
	PathForm   Path = "form"
	PathSealed Path = "sealed"
)

// Reason says why a submission was refused or a connection closed.
type Reason string

// Reasons for refusing a submission.
const (
	Malformed                 Reason = "malformed"                   // not a form, or fields the questionnaire cannot have
	UnsupportedMediaType      Reason = "unsupported_media_type"      // not application/x-www-form-urlencoded
	TooLarge                  Reason = "too_large"                   // over the study's size limit
	InvalidAnswers            Reason = "invalid_answers"             // answers the questionnaire refuses (shown again to the person)
	WrongStudy                Reason = "wrong_study"                 // an envelope sealed for another study
	StudyChanged              Reason = "study_changed"               // answers typed for another version of the questionnaire
	BrowserEncryptionRequired Reason = "browser_encryption_required" // a plain form post to a study that takes only sealed ones
	Busy                      Reason = "busy"                        // the memory for uploads stayed full
	Stalled                   Reason = "stalled"                     // the body stopped arriving
	Evicted                   Reason = "evicted"                     // the connection was closed to make room
	Aborted                   Reason = "aborted"                     // the client closed the connection before the body was complete
)

// RejectionReasons and ClosingReasons are every reason, for tests that
// check what a server writes.
var (
	RejectionReasons = []Reason{Malformed, UnsupportedMediaType, TooLarge, InvalidAnswers, WrongStudy, StudyChanged,
		BrowserEncryptionRequired, Busy, Stalled, Evicted, Aborted, Shutdown}
	ClosingReasons = []Reason{IdleLimit, ConnLimit, MemoryLimit, Shutdown}
)

// Reasons for closing a connection.
const (
	IdleLimit   Reason = "idle_limit"   // too many connections waiting for a request: the oldest was closed
	ConnLimit   Reason = "conn_limit"   // too many connections: this one, or a stalled upload, was closed
	MemoryLimit Reason = "memory_limit" // the memory for uploads was full: a stalled upload was closed
	Shutdown    Reason = "shutdown"     // still open when the server stopped (a submission in progress too)
)

// Logger writes the log as JSON lines. Copies of a Logger share its
// counts. The zero value discards every line.
type Logger struct {
	z zerolog.Logger // lines of the moment, with the day added
	c *counts        // nil for the zero value
}

// New returns a logger writing to w. A nil w discards every line.
func New(w io.Writer) Logger { return newLogger(w, time.Now) }

func newLogger(w io.Writer, now func() time.Time) Logger {
	if w == nil {
		return Logger{z: zerolog.Nop()}
	}
	return Logger{
		z: zerolog.New(w).Hook(dayHook{now}),
		c: &counts{w: zerolog.New(w), now: now, days: map[string]map[Counter]int{}},
	}
}

// Zerolog returns the underlying logger, for packages that take one (they
// keep to the same rules: nothing written because of a single request).
func (l Logger) Zerolog() zerolog.Logger { return l.z }

type dayHook struct{ now func() time.Time }

func (h dayHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("day", day(h.now()))
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Event logs an event of the operator or of tor, with no fields.
func (l Logger) Event(ev Event) { l.z.Info().Str("event", string(ev)).Send() }

// Addr logs an event about an address of the server itself (a loopback
// address, a unix socket or the onion address).
func (l Logger) Addr(ev Event, addr string) {
	l.z.Info().Str("event", string(ev)).Str("addr", addr).Send()
}

// Count logs an event of the operator with a count.
func (l Logger) Count(ev Event, n int) {
	l.z.Info().Str("event", string(ev)).Int("count", n).Send()
}

// A Counter is one of the daily counts: an event caused by people's
// requests, with the path and reason that apply to it ("" for none).
type Counter struct {
	Event  Event
	Path   Path
	Reason Reason
}

// Add counts one event for today's (UTC) totals. It writes nothing.
func (l Logger) Add(c Counter) {
	if l.c == nil {
		return
	}
	l.c.add(c)
}

// Flush writes every count kept so far, for each day, and forgets them.
// Call it once the server has stopped serving.
func (l Logger) Flush() {
	if l.c == nil {
		return
	}
	l.c.flush(func(string) bool { return true })
}

// RunDaily writes each UTC day's counts just after that day ends, until
// ctx is done. The moment of writing depends only on the clock, never on
// a request.
func (l Logger) RunDaily(ctx context.Context) {
	if l.c == nil {
		return
	}
	for {
		now := l.c.now().UTC()
		y, m, d := now.Date()
		next := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		l.c.flushBefore(day(l.c.now()))
	}
}

// counts keeps the daily totals.
type counts struct {
	mu   sync.Mutex
	w    zerolog.Logger // no hook: each line names the day it counts
	now  func() time.Time
	days map[string]map[Counter]int
}

func (c *counts) add(k Counter) {
	d := day(c.now())
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.days[d]
	if m == nil {
		m = map[Counter]int{}
		c.days[d] = m
	}
	m[k]++
}

// flushBefore writes the counts of the days before today.
func (c *counts) flushBefore(today string) {
	c.flush(func(d string) bool { return d < today })
}

// flush writes and forgets the counts of the days for which pick is true,
// oldest day first, in a fixed order of counters within a day.
func (c *counts) flush(pick func(day string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var days []string
	for d := range c.days {
		if pick(d) {
			days = append(days, d)
		}
	}
	slices.Sort(days)
	for _, d := range days {
		var keys []Counter
		for k := range c.days[d] {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b Counter) int {
			return cmp.Or(cmp.Compare(a.Event, b.Event), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Reason, b.Reason))
		})
		for _, k := range keys {
			e := c.w.WithLevel(level(k.Event)).Str("event", string(k.Event))
			if k.Path != "" {
				e = e.Str("path", string(k.Path))
			}
			if k.Reason != "" {
				e = e.Str("reason", string(k.Reason))
			}
			e.Int("count", c.days[d][k]).Str("day", d).Send()
		}
		delete(c.days, d)
	}
}

func level(ev Event) zerolog.Level {
	switch ev {
	case SubmissionsStored:
		return zerolog.InfoLevel
	case StoreUnavailable, AuditUnavailable, HandlerPanics:
		return zerolog.ErrorLevel
	}
	return zerolog.WarnLevel
}
