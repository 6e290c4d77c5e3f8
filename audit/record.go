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
	// EventSubmissionsRecovered records that, on start after a crash, the
	// server found envelopes on disk without a submission-stored record and
	// appended one for each (with the day of the folder it was stored in).
	// It carries their number.
	EventSubmissionsRecovered Event = "submissions-recovered"
	// EventExportRolledBack records that an export interrupted before it
	// completed was undone: its envelopes are pending again and its batch
	// files were removed. It carries the number of envelopes.
	EventExportRolledBack Event = "export-rolled-back"
	// EventEnvelopesPurgedWithoutReceipt records that the operator deleted
	// exported envelopes that no researcher's import receipt covers. It
	// carries their number.
	EventEnvelopesPurgedWithoutReceipt Event = "envelopes-purged-without-receipt"
	// EventReceiptAccepted records that the server accepted a researcher's
	// import receipt as proof for a purge. It carries the SHA-256 of the
	// signed receipt and the fingerprint of the researcher key that signed
	// it.
	EventReceiptAccepted Event = "receipt-accepted"
	// EventStudyVersionRetired records that the server stopped accepting
	// answers to a version of the study. It carries the SHA-256 of that
	// version's study file.
	EventStudyVersionRetired Event = "study-version-retired"
	// EventBackupMade records that the operator made a backup of the
	// server's keys and records (intake backup). The backup holds the log up
	// to and including this record, and never an envelope.
	EventBackupMade Event = "backup-made"
	// EventServiceRestored records that the server was restored from a
	// backup into a new data directory (intake restore): the records before
	// it are those the backup held, and the envelopes not yet exported when
	// the backup was made are not on the restored server. It carries the
	// SHA-256 of the backup's signed manifest.
	EventServiceRestored Event = "service-restored"
	// EventReplyBatchImported records that the operator imported a
	// researchers' reply batch (intake replies import). It carries the
	// SHA-256 of the batch's signed manifest and the number of reply
	// records it lists.
	EventReplyBatchImported Event = "reply-batch-imported"
	// EventRepliesServed records how many times the server served the
	// stored replies to people coming back, on one UTC day: downloads of
	// every record, and look-ups made for a browser without JavaScript.
	// It carries that count, and is written once for the day, after it
	// ended (or when the server stops), never for a single visit.
	EventRepliesServed Event = "replies-served"
	// EventRepliesPurged records that the operator deleted stored reply
	// records past their retention (intake replies purge). It carries
	// their number.
	EventRepliesPurged Event = "replies-purged"
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
	// EventTestimoniesRecovered records that quarantined testimonies were
	// examined again and brought in. It carries their number.
	EventTestimoniesRecovered Event = "testimonies-recovered"
	// EventReceiptIssued records that the researcher signed an import
	// receipt. It carries the SHA-256 of the signed receipt and the number
	// of batches it covers.
	EventReceiptIssued Event = "receipt-issued"
	// EventRenamesSigned records that the researcher signed a file of
	// pseudonym renames for the team. It carries the number of renames.
	EventRenamesSigned Event = "renames-signed"
	// EventRenamesApplied records that a signed file of renames was applied.
	// It carries the number of renames and the fingerprint of the key that
	// signed them.
	EventRenamesApplied Event = "renames-applied"
	// EventResearcherAdded records that a researcher joined the study. It
	// carries the fingerprint of the new researcher's key.
	EventResearcherAdded Event = "researcher-added"
	// EventResearcherRemoved records that a researcher left the study (or
	// that their key was lost or compromised). It carries the fingerprint of
	// the removed key.
	EventResearcherRemoved Event = "researcher-removed"
	// EventPassphraseChanged records that the passphrase of a researcher key
	// file was changed. It carries the key's fingerprint.
	EventPassphraseChanged Event = "passphrase-changed"
	// EventHandoverWritten records that testimonies were handed over, sealed,
	// to a researcher added later. It carries their number and the
	// fingerprint of the recipient's key.
	EventHandoverWritten Event = "handover-written"
	// EventHandoverImported records that a handover was imported. It carries
	// the number of testimonies and the fingerprint of the giver's key.
	EventHandoverImported Event = "handover-imported"
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

	EventSubmissionsRecovered:          {count: true},
	EventExportRolledBack:              {count: true},
	EventEnvelopesPurgedWithoutReceipt: {count: true},
	EventReceiptAccepted:               {hashKey: "receipt-sha256", key: true},
	EventStudyVersionRetired:           {hashKey: "study-sha256"},
	EventBackupMade:                    {},
	EventServiceRestored:               {hashKey: "backup-sha256"},
	EventReplyBatchImported:            {hashKey: "manifest-sha256", count: true},
	EventRepliesServed:                 {count: true},
	EventRepliesPurged:                 {count: true},

	EventTestimoniesRecovered: {count: true},
	EventReceiptIssued:        {hashKey: "receipt-sha256", count: true},
	EventRenamesSigned:        {count: true},
	EventRenamesApplied:       {count: true, key: true},
	EventResearcherAdded:      {key: true},
	EventResearcherRemoved:    {key: true},
	EventPassphraseChanged:    {key: true},
	EventHandoverWritten:      {count: true, key: true},
	EventHandoverImported:     {count: true, key: true},
}

// Events lists every event, in the order summaries show them.
var Events = []Event{
	EventServiceStarted, EventServiceStopped, EventOnionPublished, EventStudyVersionRetired,
	EventBackupMade, EventServiceRestored,
	EventSubmissionStored, EventSubmissionsRecovered,
	EventBatchExported, EventExportRolledBack,
	EventReceiptAccepted, EventEnvelopesPurged, EventEnvelopesPurgedWithoutReceipt,
	EventReplyBatchImported, EventRepliesServed, EventRepliesPurged,
	EventBatchImported, EventTestimoniesQuarantined, EventTestimoniesRecovered, EventReceiptIssued,
	EventPseudonymRenamed, EventRenamesSigned, EventRenamesApplied,
	EventResearcherAdded, EventResearcherRemoved, EventPassphraseChanged,
	EventHandoverWritten, EventHandoverImported,
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
	// SHA256 is the hash of the study file, envelope, batch manifest,
	// receipt or backup manifest. It is zero for events that carry no hash.
	SHA256 [32]byte
	// Count is a number of envelopes, testimonies, batches or renames, from
	// 0 to [MaxCount]. It is zero for events that carry no count.
	Count int
	// ResearcherKey is the fingerprint of the researcher key the event
	// concerns (the key that imported a batch, signed a receipt or renames,
	// joined or left the study, gave or received a handover): 8 to 128
	// characters from A-Z a-z 0-9 and "+/=:._-". It is empty for events that
	// carry no key.
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

// SubmissionsRecovered records that count envelopes were found on disk
// without a submission-stored record, after a crash, and recorded.
func SubmissionsRecovered(count int, day time.Time) Record {
	return Record{Event: EventSubmissionsRecovered, Day: dayOf(day), Count: count}
}

// ExportRolledBack records that an interrupted export of count envelopes
// was undone.
func ExportRolledBack(count int, day time.Time) Record {
	return Record{Event: EventExportRolledBack, Day: dayOf(day), Count: count}
}

// EnvelopesPurgedWithoutReceipt records that count exported envelopes were
// deleted without a receipt covering them.
func EnvelopesPurgedWithoutReceipt(count int, day time.Time) Record {
	return Record{Event: EventEnvelopesPurgedWithoutReceipt, Day: dayOf(day), Count: count}
}

// ReceiptAccepted records that the signed receipt whose SHA-256 is
// receiptSHA256, signed by the researcher key whose fingerprint is
// researcherKeyFingerprint, was accepted as proof for a purge.
func ReceiptAccepted(receiptSHA256 [32]byte, researcherKeyFingerprint string, day time.Time) Record {
	return Record{Event: EventReceiptAccepted, Day: dayOf(day), SHA256: receiptSHA256, ResearcherKey: researcherKeyFingerprint}
}

// StudyVersionRetired records that the study version whose file has
// SHA-256 studySHA256 is no longer accepted.
func StudyVersionRetired(studySHA256 [32]byte, day time.Time) Record {
	return Record{Event: EventStudyVersionRetired, Day: dayOf(day), SHA256: studySHA256}
}

// BackupMade records that a backup of the server's keys and records was
// made.
func BackupMade(day time.Time) Record {
	return Record{Event: EventBackupMade, Day: dayOf(day)}
}

// ServiceRestored records that the server was restored from the backup
// whose signed manifest has SHA-256 backupSHA256.
func ServiceRestored(backupSHA256 [32]byte, day time.Time) Record {
	return Record{Event: EventServiceRestored, Day: dayOf(day), SHA256: backupSHA256}
}

// ReplyBatchImported records that the reply batch whose signed manifest
// has SHA-256 manifestSHA256, listing count records, was imported.
func ReplyBatchImported(manifestSHA256 [32]byte, count int, day time.Time) Record {
	return Record{Event: EventReplyBatchImported, Day: dayOf(day), SHA256: manifestSHA256, Count: count}
}

// RepliesServed records that the stored replies were served count times
// on day.
func RepliesServed(count int, day time.Time) Record {
	return Record{Event: EventRepliesServed, Day: dayOf(day), Count: count}
}

// RepliesPurged records that count stored reply records were deleted.
func RepliesPurged(count int, day time.Time) Record {
	return Record{Event: EventRepliesPurged, Day: dayOf(day), Count: count}
}

// TestimoniesRecovered records that count quarantined testimonies were
// brought in.
func TestimoniesRecovered(count int, day time.Time) Record {
	return Record{Event: EventTestimoniesRecovered, Day: dayOf(day), Count: count}
}

// ReceiptIssued records that a receipt covering count batches, whose signed
// form has SHA-256 receiptSHA256, was signed.
func ReceiptIssued(receiptSHA256 [32]byte, count int, day time.Time) Record {
	return Record{Event: EventReceiptIssued, Day: dayOf(day), SHA256: receiptSHA256, Count: count}
}

// RenamesSigned records that a file of count renames was signed.
func RenamesSigned(count int, day time.Time) Record {
	return Record{Event: EventRenamesSigned, Day: dayOf(day), Count: count}
}

// RenamesApplied records that count renames signed by the key whose
// fingerprint is signerFingerprint were applied.
func RenamesApplied(count int, signerFingerprint string, day time.Time) Record {
	return Record{Event: EventRenamesApplied, Day: dayOf(day), Count: count, ResearcherKey: signerFingerprint}
}

// ResearcherAdded records that the researcher key whose fingerprint is
// fingerprint joined the study.
func ResearcherAdded(fingerprint string, day time.Time) Record {
	return Record{Event: EventResearcherAdded, Day: dayOf(day), ResearcherKey: fingerprint}
}

// ResearcherRemoved records that the researcher key whose fingerprint is
// fingerprint was removed from the study.
func ResearcherRemoved(fingerprint string, day time.Time) Record {
	return Record{Event: EventResearcherRemoved, Day: dayOf(day), ResearcherKey: fingerprint}
}

// PassphraseChanged records that the passphrase of the key whose
// fingerprint is fingerprint was changed.
func PassphraseChanged(fingerprint string, day time.Time) Record {
	return Record{Event: EventPassphraseChanged, Day: dayOf(day), ResearcherKey: fingerprint}
}

// HandoverWritten records that count testimonies were handed over to the
// researcher key whose fingerprint is recipientFingerprint.
func HandoverWritten(count int, recipientFingerprint string, day time.Time) Record {
	return Record{Event: EventHandoverWritten, Day: dayOf(day), Count: count, ResearcherKey: recipientFingerprint}
}

// HandoverImported records that count testimonies handed over by the
// researcher key whose fingerprint is giverFingerprint were imported.
func HandoverImported(count int, giverFingerprint string, day time.Time) Record {
	return Record{Event: EventHandoverImported, Day: dayOf(day), Count: count, ResearcherKey: giverFingerprint}
}

// MarshalText encodes r as one line of text ending in a newline:
//
//	testimony-audit/1 <day> <event>[ <key>=<value>]...
//
// The keys are fixed by the event and always appear in the same order:
// a hash ("study-sha256", "envelope-sha256", "manifest-sha256",
// "receipt-sha256" or "backup-sha256", 64 lowercase hex digits), then "count" (decimal, no
// sign, no leading zero), then "researcher-key". The encoding is canonical: a record has exactly one.
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
