// Package oplog is the operational log of the server: JSON lines, one per
// event, from a fixed vocabulary.
//
// Use [New] to make a logger and the [Logger] methods to write events. There
// is no way to log free text: every field is one of a few fixed names whose
// values are event names, reason codes, counts, durations or addresses of
// the server itself. Each line carries the UTC day, never a finer time, and
// never an answer, a client address, a user agent or an identifier of a
// submission.
//
// The log is for the operator. The tamper-evident record of what happened
// is the audit log, which is separate.
package oplog

import (
	"io"
	"time"

	"github.com/rs/zerolog"
)

// Event names a kind of line in the log.
type Event string

// The vocabulary of the operational log.
const (
	ServerStarted      Event = "server_started"        // addr
	ServerStopping     Event = "server_stopping"       //
	ServerStopped      Event = "server_stopped"        //
	SubmissionStored   Event = "submission_stored"     // path
	SubmissionRejected Event = "submission_rejected"   // path, reason
	StoreUnavailable   Event = "store_unavailable"     // path
	BatchExported      Event = "batch_exported"        // count
	EnvelopesPurged    Event = "envelopes_purged"      // count
	HandlerPanic       Event = "handler_panic"         //
	TorBootstrap       Event = "tor_bootstrap"         // progress
	OnionPublished     Event = "onion_published"       // addr, seconds
	TorRestarted       Event = "tor_restarted"         //
	ListenerDevWarning Event = "listening_on_loopback" // addr
)

// Logger writes events as JSON lines.
type Logger struct{ z zerolog.Logger }

// New returns a logger writing to w. A nil w discards every event.
func New(w io.Writer) Logger {
	if w == nil {
		return Logger{zerolog.Nop()}
	}
	return Logger{zerolog.New(w).Hook(dayHook{})}
}

// Zerolog returns the underlying logger, for packages that take one (they
// keep to the same rules).
func (l Logger) Zerolog() zerolog.Logger { return l.z }

type dayHook struct{}

func (dayHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("day", time.Now().UTC().Format(time.DateOnly))
}

// Event logs an event with no fields.
func (l Logger) Event(ev Event) { l.z.Info().Str("event", string(ev)).Send() }

// Addr logs an event about an address of the server itself (a loopback
// address, a unix socket or the onion address).
func (l Logger) Addr(ev Event, addr string) {
	l.z.Info().Str("event", string(ev)).Str("addr", addr).Send()
}

// Path logs an event about a submission path ("form" or "sealed").
func (l Logger) Path(ev Event, path string) {
	l.z.Info().Str("event", string(ev)).Str("path", path).Send()
}

// Rejected logs a rejected submission with a reason code.
func (l Logger) Rejected(path, reason string) {
	l.z.Warn().Str("event", string(SubmissionRejected)).Str("path", path).Str("reason", reason).Send()
}

// Count logs an event with a count.
func (l Logger) Count(ev Event, n int) {
	l.z.Info().Str("event", string(ev)).Int("count", n).Send()
}

// Error logs an event that went wrong, with the kind of error as a fixed
// code (never the error text, which may hold paths or data).
func (l Logger) Error(ev Event, code string) {
	l.z.Error().Str("event", string(ev)).Str("code", code).Send()
}
