package audit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// RecordVersion is the first field of every record. A record that starts
// with anything else is rejected, so a future format cannot be misread as
// this one.
const RecordVersion = "testimony-audit/1"

// MaxRecordSize is the largest encoded record, newline included, that
// [ParseRecord] accepts.
const MaxRecordSize = 256

// MaxCount is the largest count a record can carry.
const MaxCount = 1_000_000_000

// An Event names what a record attests. The set is fixed: [ParseRecord]
// rejects any other.
type Event string

// Events written by the intake server into its own log.
const (
	// EventServiceStarted records that the server started serving a study.
	// It carries the SHA-256 of the study file.
	EventServiceStarted Event = "service-started"
	// EventServiceStopped records that the server stopped.
	EventServiceStopped Event = "service-stopped"
	// EventSubmissionStored records that an envelope was stored. It carries
	// the SHA-256 of the envelope, never anything about who sent it.
	EventSubmissionStored Event = "submission-stored"
	// EventBatchExported records that stored envelopes were exported for
	// the researchers. It carries the SHA-256 of the batch manifest and the
	// number of envelopes in the batch.
	EventBatchExported Event = "batch-exported"
	// EventEnvelopesPurged records that exported envelopes were deleted from
	// the server. It carries their number.
	EventEnvelopesPurged Event = "envelopes-purged"
	// EventOnionPublished records that the onion service was (re)published.
	EventOnionPublished Event = "onion-published"
)

// Events written by a researcher into the researcher's own log, on the
// offline machine.
const (
	// EventBatchImported records that a batch was imported. It carries the
	// SHA-256 of the batch manifest, the number of envelopes in the batch and
	// the fingerprint of the researcher key that imported it.
	EventBatchImported Event = "batch-imported"
	// EventTestimoniesQuarantined records that testimonies were set aside
	// (for example because they failed to decrypt). It carries their number.
	EventTestimoniesQuarantined Event = "testimonies-quarantined"
	// EventPseudonymRenamed records that a pseudonym was renamed. It carries
	// neither the old nor the new name.
	EventPseudonymRenamed Event = "pseudonym-renamed"
)

// eventFields says which fields an event carries, in the order they are
// encoded.
type eventFields struct {
	hashKey string // key of the SHA-256 field, or "" for none
	count   bool
	key     bool // researcher key fingerprint
}

var events = map[Event]eventFields{
	EventServiceStarted:         {hashKey: "study-sha256"},
	EventServiceStopped:         {},
	EventSubmissionStored:       {hashKey: "envelope-sha256"},
	EventBatchExported:          {hashKey: "manifest-sha256", count: true},
	EventEnvelopesPurged:        {count: true},
	EventOnionPublished:         {},
	EventBatchImported:          {hashKey: "manifest-sha256", count: true, key: true},
	EventTestimoniesQuarantined: {count: true},
	EventPseudonymRenamed:       {},
}

// Events lists every event, in the order summaries show them.
var Events = []Event{
	EventServiceStarted, EventServiceStopped, EventOnionPublished,
	EventSubmissionStored, EventBatchExported, EventEnvelopesPurged,
	EventBatchImported, EventTestimoniesQuarantined, EventPseudonymRenamed,
}

// A Record is one entry of an audit log. Use the constructors
// ([SubmissionStored], [BatchExported], ...) rather than filling the fields:
// they set exactly the fields the event carries and reduce the time to a UTC
// day. [Log.Append] and [Record.MarshalText] reject a record whose fields do
// not fit its event.
//
// A record never holds a precise time, an address, a user agent, an answer or
// a pseudonym: the fixed fields below are all it can say.
type Record struct {
	// Event says what happened.
	Event Event
	// Day is the UTC day it happened, as YYYY-MM-DD, from 2000-01-01 to
	// 9999-12-31.
	Day string
	// SHA256 is the hash of the study file, envelope or batch manifest.
	// It is zero for events that carry no hash.
	SHA256 [32]byte
	// Count is a number of envelopes or testimonies, from 0 to [MaxCount].
	// It is zero for events that carry no count.
	Count int
	// ResearcherKey is the fingerprint of the researcher key that imported
	// a batch: 8 to 128 characters from A-Z a-z 0-9 and "+/=:._-".
	// It is empty for every other event.
	ResearcherKey string
}

// dayOf reduces t to its UTC date.
func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// ServiceStarted records that the server started serving the study file
// whose SHA-256 is studySHA256.
func ServiceStarted(studySHA256 [32]byte, day time.Time) Record {
	return Record{Event: EventServiceStarted, Day: dayOf(day), SHA256: studySHA256}
}

// ServiceStopped records that the server stopped.
func ServiceStopped(day time.Time) Record {
	return Record{Event: EventServiceStopped, Day: dayOf(day)}
}

// SubmissionStored records that the envelope whose SHA-256 is envelopeSHA256
// was stored.
func SubmissionStored(envelopeSHA256 [32]byte, day time.Time) Record {
	return Record{Event: EventSubmissionStored, Day: dayOf(day), SHA256: envelopeSHA256}
}

// BatchExported records that a batch of count envelopes, described by the
// manifest whose SHA-256 is manifestSHA256, was exported.
func BatchExported(manifestSHA256 [32]byte, count int, day time.Time) Record {
	return Record{Event: EventBatchExported, Day: dayOf(day), SHA256: manifestSHA256, Count: count}
}

// EnvelopesPurged records that count exported envelopes were deleted.
func EnvelopesPurged(count int, day time.Time) Record {
	return Record{Event: EventEnvelopesPurged, Day: dayOf(day), Count: count}
}

// OnionPublished records that the onion service was (re)published.
func OnionPublished(day time.Time) Record {
	return Record{Event: EventOnionPublished, Day: dayOf(day)}
}

// BatchImported records, in a researcher's log, that the batch of count
// envelopes described by the manifest whose SHA-256 is manifestSHA256 was
// imported with the researcher key whose fingerprint is
// researcherKeyFingerprint.
func BatchImported(manifestSHA256 [32]byte, count int, researcherKeyFingerprint string, day time.Time) Record {
	return Record{Event: EventBatchImported, Day: dayOf(day), SHA256: manifestSHA256, Count: count, ResearcherKey: researcherKeyFingerprint}
}

// TestimoniesQuarantined records that count testimonies were set aside.
func TestimoniesQuarantined(count int, day time.Time) Record {
	return Record{Event: EventTestimoniesQuarantined, Day: dayOf(day), Count: count}
}

// PseudonymRenamed records that a pseudonym was renamed.
func PseudonymRenamed(day time.Time) Record {
	return Record{Event: EventPseudonymRenamed, Day: dayOf(day)}
}

// MarshalText encodes r as one line of text ending in a newline:
//
//	testimony-audit/1 <day> <event>[ <key>=<value>]...
//
// The keys are fixed by the event and always appear in the same order:
// a hash ("study-sha256", "envelope-sha256" or "manifest-sha256", 64
// lowercase hex digits), then "count" (decimal, no sign, no leading zero),
// then "researcher-key". The encoding is canonical: a record has exactly one.
// MarshalText fails if r does not fit its event.
func (r Record) MarshalText() ([]byte, error) {
	f, ok := events[r.Event]
	if !ok {
		return nil, fmt.Errorf("malformed record: unknown event %q", r.Event)
	}
	if err := checkDay(r.Day); err != nil {
		return nil, fmt.Errorf("malformed %s record: %w", r.Event, err)
	}
	if f.hashKey == "" && r.SHA256 != ([32]byte{}) {
		return nil, fmt.Errorf("malformed %s record: it carries no hash", r.Event)
	}
	if !f.count && r.Count != 0 {
		return nil, fmt.Errorf("malformed %s record: it carries no count", r.Event)
	}
	if f.count && (r.Count < 0 || r.Count > MaxCount) {
		return nil, fmt.Errorf("malformed %s record: count %d is not between 0 and %d", r.Event, r.Count, MaxCount)
	}
	if !f.key && r.ResearcherKey != "" {
		return nil, fmt.Errorf("malformed %s record: it carries no researcher key", r.Event)
	}
	if f.key {
		if err := checkFingerprint(r.ResearcherKey); err != nil {
			return nil, fmt.Errorf("malformed %s record: %w", r.Event, err)
		}
	}
	b := make([]byte, 0, 160)
	b = append(b, RecordVersion...)
	b = append(b, ' ')
	b = append(b, r.Day...)
	b = append(b, ' ')
	b = append(b, r.Event...)
	if f.hashKey != "" {
		b = append(b, ' ')
		b = append(b, f.hashKey...)
		b = append(b, '=')
		b = hex.AppendEncode(b, r.SHA256[:])
	}
	if f.count {
		b = append(b, " count="...)
		b = strconv.AppendInt(b, int64(r.Count), 10)
	}
	if f.key {
		b = append(b, " researcher-key="...)
		b = append(b, r.ResearcherKey...)
	}
	b = append(b, '\n')
	return b, nil
}

// ParseRecord decodes one record encoded by [Record.MarshalText], newline
// included. It accepts only the canonical encoding: a text that parses
// re-encodes to the same bytes.
func ParseRecord(text []byte) (Record, error) {
	var r Record
	if len(text) > MaxRecordSize {
		return r, fmt.Errorf("malformed record: longer than %d bytes", MaxRecordSize)
	}
	line, ok := bytes.CutSuffix(text, []byte("\n"))
	if !ok {
		return r, errors.New("malformed record: does not end in a newline")
	}
	for _, c := range line {
		if c < 0x21 && c != ' ' || c > 0x7e {
			return r, errors.New("malformed record: contains a byte that is not printable ASCII")
		}
	}
	sep := true // whether a space preceded line
	field := func() []byte {
		f, rest, found := bytes.Cut(line, []byte(" "))
		line, sep = rest, found
		return f
	}
	if v := field(); string(v) != RecordVersion {
		return r, fmt.Errorf("malformed record: version %q, want %q", v, RecordVersion)
	}
	day := field()
	if err := checkDay(string(day)); err != nil {
		return Record{}, fmt.Errorf("malformed record: %w", err)
	}
	r.Day = string(day)
	ev := field()
	for _, e := range Events {
		if string(ev) == string(e) {
			r.Event = e
		}
	}
	f, ok := events[r.Event]
	if !ok {
		return Record{}, fmt.Errorf("malformed record: unknown event %q", ev)
	}
	next := func(key string) (string, error) {
		if !sep {
			return "", fmt.Errorf("malformed %s record: missing %s", r.Event, key)
		}
		kv := field()
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok || string(k) != key {
			return "", fmt.Errorf("malformed %s record: field %q, want %s=", r.Event, kv, key)
		}
		return string(v), nil
	}
	if f.hashKey != "" {
		v, err := next(f.hashKey)
		if err != nil {
			return Record{}, err
		}
		if err := parseSHA256(v, &r.SHA256); err != nil {
			return Record{}, fmt.Errorf("malformed %s record: %s: %w", r.Event, f.hashKey, err)
		}
	}
	if f.count {
		v, err := next("count")
		if err != nil {
			return Record{}, err
		}
		n, err := parseCount(v)
		if err != nil {
			return Record{}, fmt.Errorf("malformed %s record: %w", r.Event, err)
		}
		r.Count = n
	}
	if f.key {
		v, err := next("researcher-key")
		if err != nil {
			return Record{}, err
		}
		if err := checkFingerprint(v); err != nil {
			return Record{}, fmt.Errorf("malformed %s record: %w", r.Event, err)
		}
		r.ResearcherKey = v
	}
	if sep {
		return Record{}, fmt.Errorf("malformed %s record: unexpected text %q after the last field", r.Event, line)
	}
	return r, nil
}

func checkDay(day string) error {
	ok := len(day) == 10 && day[4] == '-' && day[7] == '-'
	num := func(s string) int {
		n := 0
		for _, c := range []byte(s) {
			if c < '0' || c > '9' {
				ok = false
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	if ok {
		y, m, d := num(day[0:4]), num(day[5:7]), num(day[8:10])
		ok = ok && m >= 1 && m <= 12 && d >= 1 && d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
		if ok && y < 2000 {
			return fmt.Errorf("day %q is before 2000-01-01 (was the day left unset?)", day)
		}
	}
	if !ok {
		return fmt.Errorf("day %q is not a date written YYYY-MM-DD", day)
	}
	return nil
}

func parseSHA256(s string, out *[32]byte) error {
	if len(s) != 64 {
		return fmt.Errorf("want 64 hex digits, got %d characters", len(s))
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return errors.New("want lowercase hex digits")
		}
	}
	_, err := hex.Decode(out[:], []byte(s))
	return err
}

func parseCount(s string) (int, error) {
	if s == "" || len(s) > 10 || s[0] == '0' && len(s) > 1 {
		return 0, fmt.Errorf("count %q is not a decimal number without leading zeros", s)
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("count %q is not a decimal number without leading zeros", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > MaxCount {
		return 0, fmt.Errorf("count %q is larger than %d", s, MaxCount)
	}
	return n, nil
}

func checkFingerprint(s string) error {
	if len(s) < 8 || len(s) > 128 {
		return fmt.Errorf("researcher key fingerprint is %d characters, want 8 to 128", len(s))
	}
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '+' || c == '/' || c == '=' || c == ':' || c == '.' || c == '_' || c == '-':
		default:
			return fmt.Errorf("researcher key fingerprint contains %q; allowed are A-Z a-z 0-9 and +/=:._-", c)
		}
	}
	return nil
}
