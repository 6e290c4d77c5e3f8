package reply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/signednote"
	"github.com/testimony-project/testimony/internal/signedtar"
	"golang.org/x/mod/sumdb/note"
)

// Limits of a reply batch.
const (
	// MaxRecords is the largest number of records in one batch.
	MaxRecords = 100_000
	// maxManifestSize bounds the signed manifest: 65 bytes per record
	// line, the header lines and the signature fit with room to spare.
	maxManifestSize = 8 << 20
)

const (
	batchFormat = "testimony reply batch v1"
	noun        = "reply batch"
	recordDir   = "records/"
)

// ErrUnknownKey is wrapped by [NewReader] and [OpenManifest] when a
// batch is not signed by any of the researchers' keys given.
var ErrUnknownKey = errors.New("reply batch not signed by a researcher of the study")

// manifestKind names reply batch manifests in the errors of OpenManifest.
var manifestKind = signednote.Kind{What: `reply batch entry "manifest"`, Signers: "a researcher of the study", UnknownKey: ErrUnknownKey}

// Manifest is the signed table of contents of a reply batch.
//
// # Format, version 1
//
// A reply batch is a POSIX (ustar) tar archive. Its first entry is named
// "manifest"; then comes one entry named "records/<sha256>" for every
// record, in the order the manifest lists them, then the end-of-archive
// marker and nothing else. Every entry is a regular file; writers give
// each mode 0600, modification time 0 (1970-01-01) and no owner names, and
// readers ignore those fields. Every record entry is [RecordSize] bytes.
//
// The manifest is a signed note (golang.org/x/mod/sumdb/note) carrying
// exactly one Ed25519 signature, by the key of the researcher it names
// (envelope.Identity.Signer). Its text is:
//
//	testimony reply batch v1
//	study <study id>
//	researcher <fingerprint>
//	count <n>
//	<sha256>
//	...
//
// with each line ending in "\n" (no "\r"), and no other lines:
//
//   - The study id is 3 to 64 characters of a–z, 0–9 and '-'.
//   - The fingerprint is the researcher key's, as printed: five groups of
//     four uppercase hexadecimal digits joined by '-'. The signature is by
//     the key named "testimony-researcher-" followed by the fingerprint
//     without dashes.
//   - n, from 1 to [MaxRecords], decimal without sign or leading zeros, is
//     the number of lines that follow: the SHA-256 of each record, in 64
//     lowercase hexadecimal digits, sorted, no two alike.
//
// No two records of a batch have the same tag. The encoding is canonical:
// a manifest that verifies has one byte form, and its SHA-256 ([Hash])
// names the batch in both audit logs.
//
// A batch tells the server which researcher replied, for which study, and
// how many records; not to whom, in answer to what, or when they were
// written: records are listed by hash, which is random, and no time is
// recorded.
type Manifest struct {
	// StudyID is the study of the replies.
	StudyID string
	// Researcher is the fingerprint of the researcher who signed it.
	Researcher string
	// Records lists the SHA-256 of every record, sorted.
	Records [][32]byte
	// Hash is the SHA-256 of the signed manifest, as it appears in the
	// batch.
	Hash [32]byte
}

// Record is one record of a batch.
type Record struct {
	// SHA256 is the SHA-256 of Data, as the manifest lists it.
	SHA256 [32]byte
	// Data is the record, [RecordSize] bytes; its tag is its first
	// [TagSize] bytes.
	Data []byte
}

// fingerprintOf returns the fingerprint a researcher's signing key name
// holds, or "".
func fingerprintOf(name string) string {
	h, ok := strings.CutPrefix(name, envelope.NoteKeyPrefix)
	if !ok || len(h) != 20 {
		return ""
	}
	fp := h[0:4] + "-" + h[4:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20]
	if !envelope.IsFingerprint(fp) {
		return ""
	}
	return fp
}

// Write writes a reply batch of the records for the study, signed with
// signer, a researcher's key (envelope.Identity.Signer), and returns its
// manifest. It refuses, before writing anything, what the format does not
// allow: no records or too many, a record of the wrong size, the same
// record or the same tag twice.
func Write(w io.Writer, signer note.Signer, studyID string, records [][]byte) (*Manifest, error) {
	fp := fingerprintOf(signer.Name())
	if fp == "" {
		return nil, fmt.Errorf("signing key %q is not a researcher's key (%s…)", signer.Name(), envelope.NoteKeyPrefix)
	}
	m := &Manifest{StudyID: studyID, Researcher: fp}
	byHash := make(map[[32]byte][]byte, len(records))
	tags := make(map[[TagSize]byte]bool, len(records))
	for i, r := range records {
		if len(r) != RecordSize {
			return nil, fmt.Errorf("record %d is %d bytes, want %d", i+1, len(r), RecordSize)
		}
		sum := sha256.Sum256(r)
		if _, dup := byHash[sum]; dup {
			return nil, fmt.Errorf("record %d is listed twice", i+1)
		}
		t := [TagSize]byte(r)
		if tags[t] {
			return nil, fmt.Errorf("record %d has the tag of another record: the same reply number was used twice for one person", i+1)
		}
		tags[t] = true
		byHash[sum] = r
		m.Records = append(m.Records, sum)
	}
	slices.SortFunc(m.Records, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	text, err := m.marshalText()
	if err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to sign reply batch: %w", err)
	}
	m.Hash = sha256.Sum256(signed)
	tw := signedtar.NewWriter(w, noun, time.Unix(0, 0))
	if err := tw.WriteEntry(signedtar.ManifestName, int64(len(signed)), bytes.NewReader(signed)); err != nil {
		return nil, err
	}
	for _, sum := range m.Records {
		if err := tw.WriteEntry(recordDir+hex.EncodeToString(sum[:]), RecordSize, bytes.NewReader(byHash[sum])); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return m, nil
}

// marshalText returns the manifest's text, checking it fits the format.
func (m *Manifest) marshalText() ([]byte, error) {
	switch {
	case envelope.CheckStudyID(m.StudyID) != nil:
		return nil, fmt.Errorf("malformed study id %q: want 3 to 64 characters of a-z, 0-9 and '-'", m.StudyID)
	case !envelope.IsFingerprint(m.Researcher):
		return nil, fmt.Errorf("malformed researcher fingerprint %q", m.Researcher)
	case len(m.Records) == 0:
		return nil, errors.New("no reply records to write: a reply batch holds at least one")
	case len(m.Records) > MaxRecords:
		return nil, fmt.Errorf("too many reply records (%d) for one batch: at most %d", len(m.Records), MaxRecords)
	}
	var b bytes.Buffer
	b.Grow(100 + 65*len(m.Records))
	fmt.Fprintf(&b, "%s\nstudy %s\nresearcher %s\ncount %d\n", batchFormat, m.StudyID, m.Researcher, len(m.Records))
	for i, h := range m.Records {
		if i > 0 && bytes.Compare(h[:], m.Records[i-1][:]) <= 0 {
			return nil, fmt.Errorf("record %x listed out of order or twice", h)
		}
		b.WriteString(hex.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// parseManifest parses a manifest's text, accepting only what marshalText
// writes.
func parseManifest(text []byte) (*Manifest, error) {
	l := signednote.NewLines(text, "reply batch manifest")
	if err := l.Header(batchFormat, "reply batch"); err != nil {
		return nil, err
	}
	m := &Manifest{}
	var err error
	if m.StudyID, err = l.Field("study"); err != nil {
		return nil, err
	}
	if envelope.CheckStudyID(m.StudyID) != nil {
		return nil, l.Errorf("malformed study id %.80q", m.StudyID)
	}
	if m.Researcher, err = l.Field("researcher"); err != nil {
		return nil, err
	}
	if !envelope.IsFingerprint(m.Researcher) {
		return nil, l.Errorf("malformed researcher fingerprint %.80q", m.Researcher)
	}
	n, err := l.Count("count", "record count", 1, MaxRecords)
	if err != nil {
		return nil, err
	}
	if m.Records, err = l.SHA256s(n, "record"); err != nil {
		return nil, err
	}
	if err := l.End(n, "record"); err != nil {
		return nil, err
	}
	return m, nil
}

// OpenManifest checks that msg, a reply batch's signed manifest, carries
// exactly one signature, by one of verifiers (the study's researchers),
// whose key is the researcher's it names, and nothing else, and parses it.
// Its errors quote what they repeat from msg, briefly.
func OpenManifest(msg []byte, verifiers []note.Verifier) (*Manifest, error) {
	if len(msg) > maxManifestSize {
		return nil, fmt.Errorf("reply batch manifest is larger than %d bytes", maxManifestSize)
	}
	n, err := manifestKind.Open(msg, verifiers...)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest([]byte(n.Text))
	if err != nil {
		return nil, err
	}
	if err := manifestKind.CheckSigner(n, envelope.NoteKeyName(m.Researcher), "researcher "+m.Researcher); err != nil {
		return nil, err
	}
	m.Hash = sha256.Sum256(msg)
	return m, nil
}

// Reader reads a reply batch one record at a time, holding the manifest,
// one record and the tags seen in memory.
type Reader struct {
	m    *Manifest
	sr   *signedtar.Reader
	tags map[[TagSize]byte]int
}

// NewReader reads the manifest at the start of the reply batch in r and
// checks it against verifiers, the keys of the study's researchers (see
// [OpenManifest]). Call [Reader.Next] until it returns io.EOF: each record
// it returns matches the signed manifest, but the batch is known to be
// whole only at io.EOF; discard what was read if Next returns another
// error. The caller checks [Manifest.StudyID] is its study.
func NewReader(r io.Reader, verifiers []note.Verifier) (*Reader, error) {
	sr := signedtar.NewReader(r, noun)
	msg, err := sr.ReadManifest(maxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := OpenManifest(msg, verifiers)
	if err != nil {
		return nil, err
	}
	sr.Expect(signedtar.List{Len: len(m.Records), Entry: m.entry, Index: m.position})
	return &Reader{m: m, sr: sr, tags: make(map[[TagSize]byte]int, len(m.Records))}, nil
}

// Manifest returns the batch's verified manifest. The caller must not
// modify it.
func (br *Reader) Manifest() *Manifest { return br.m }

// Next returns the next record, checked against the manifest, or io.EOF
// after the last, once it has checked the batch ends there.
func (br *Reader) Next() (Record, error) {
	i, _, err := br.sr.Next()
	if err != nil {
		return Record{}, err
	}
	data, err := br.sr.ReadData()
	if err != nil {
		return Record{}, err
	}
	t := [TagSize]byte(data)
	if j, dup := br.tags[t]; dup {
		return Record{}, br.sr.Fail(fmt.Errorf("reply batch entry %q has the same tag as %q: refused, it would link two replies", br.m.entry(i).Name, br.m.entry(j).Name))
	}
	br.tags[t] = i
	return Record{SHA256: br.m.Records[i], Data: data}, nil
}

// entry returns the entry at position i of the batch after the manifest.
func (m *Manifest) entry(i int) signedtar.Entry {
	return signedtar.Entry{Name: recordDir + hex.EncodeToString(m.Records[i][:]), Min: RecordSize, Max: RecordSize, SHA256: m.Records[i]}
}

// position returns where the manifest lists the entry named name.
func (m *Manifest) position(name string) (int, bool) {
	h, ok := strings.CutPrefix(name, recordDir)
	var sum [32]byte
	if !ok || !signednote.ParseHex(sum[:], h) {
		return 0, false
	}
	return slices.BinarySearchFunc(m.Records, sum, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
}

// ReadAll reads a whole reply batch with [NewReader] and returns its
// manifest and records, in manifest order, or an error naming the bad
// entry and nothing else.
func ReadAll(r io.Reader, verifiers []note.Verifier) (*Manifest, []Record, error) {
	br, err := NewReader(r, verifiers)
	if err != nil {
		return nil, nil, err
	}
	recs := make([]Record, 0, len(br.m.Records))
	for {
		rec, err := br.Next()
		if err == io.EOF {
			return br.m, recs, nil
		}
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, rec)
	}
}
