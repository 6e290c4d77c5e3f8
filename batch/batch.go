// Package batch writes and reads the signed batch files an operator carries
// from the intake server to the researchers' offline machine.
//
// On the server, use [GenerateKey] once to make the server's signing key,
// and [NewWriter] to export envelopes: it streams, so a batch of any size is
// written holding only its manifest in memory. On the researcher's machine,
// use [NewReader] with the verifier keys the researchers pinned (the
// server's, or one per server when several serve the study behind
// Onionbalance, each signing its own batches): it streams
// too, and returns the study files and envelopes only as they prove to be
// exactly what the server signed. [Write] and [Read] do the same for a batch
// held in memory.
//
// # Format, version 2
//
// A batch is a POSIX (ustar) tar archive. Its first entry is named
// "manifest"; then comes one entry named "versions/<sha256>" for every study
// file listed in the manifest, then one entry named "envelopes/<id>" for
// every envelope, each in the order the manifest lists them, then the
// end-of-archive marker and nothing else. Every entry is a regular file;
// writers give each mode 0600, modification time 0 (1970-01-01) and no owner
// names, and readers ignore those fields.
//
// The manifest is a signed note (golang.org/x/mod/sumdb/note) with exactly
// one Ed25519 signature, by the server's key. Its text is:
//
//	testimony batch v2
//	study <study id>
//	batch <batch id>
//	export <export id>
//	part <i> of <n>
//	versions <k>
//	<sha256>
//	...
//	count <m>
//	<id> <sha256>
//	...
//
// with each line ending in "\n" (no "\r"), and no other lines:
//
//   - The study id is 3 to 64 characters of a–z, 0–9 and '-'.
//   - The batch id, the export id and every envelope id are 26 characters of
//     a–z and 2–7. The batch id is random. The export id is random too, and
//     shared by the n parts one export run wrote: part i of n, 1 ≤ i ≤ n ≤
//     [MaxParts]. A researcher who holds parts 1 to n of an export holds
//     everything it exported.
//   - k, from 0 to [MaxVersions], is the number of study file lines that
//     follow: the SHA-256 of each version of the study file the server has
//     served, in 64 lowercase hexadecimal digits, sorted, no two alike. The
//     study file itself travels in the entry "versions/<sha256>", 1 to
//     [MaxVersionSize] bytes (the limit of config.MaxFileSize).
//   - m, from 1 to [MaxEnvelopes], is the number of envelope lines that
//     follow: the envelope's id and the SHA-256 of its bytes; the lines are
//     sorted by id, each id strictly greater than the one before. Envelopes
//     are 1 byte to [MaxEnvelopeSize].
//
// Numbers are decimal without sign or leading zeros. The encoding is
// canonical: a manifest that parses formats back to the same bytes.
//
// A batch says nothing about when an envelope arrived: envelopes are listed
// by id, which is random, and no times are recorded.
//
// Version 1 (first line "testimony batch v1") is no longer read: nothing in
// the field used it.
package batch

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/signednote"
	"github.com/testimony-project/testimony/internal/signedtar"
	"golang.org/x/mod/sumdb/note"
)

// Limits a batch must respect. Readers refuse a batch beyond them, and
// writers refuse to produce one.
const (
	// MaxEnvelopes is the largest number of envelopes in one batch.
	MaxEnvelopes = 1_000_000
	// MaxEnvelopeSize is the largest envelope, in bytes.
	MaxEnvelopeSize = 8 << 20
	// MaxVersions is the largest number of study files in one batch.
	MaxVersions = 1000
	// MaxVersionSize is the largest study file, in bytes.
	MaxVersionSize = config.MaxFileSize
	// MaxParts is the largest number of parts of one export.
	MaxParts = 1_000_000
	// maxManifestSize bounds the signed manifest: 92 bytes per envelope line,
	// 65 per version line, the header lines and the signature fit with room
	// to spare.
	maxManifestSize = 96 << 20
)

const (
	noun        = "batch"
	formatLine  = "testimony batch v2"
	envelopeDir = "envelopes/"
	versionDir  = "versions/"
	idLen       = 26
)

// Envelope is one sealed submission in a batch.
type Envelope struct {
	// ID is the envelope's id on the server: 26 characters of a–z and 2–7.
	ID string
	// Data is the envelope, as stored.
	Data []byte
}

// Version is one version of the study file in a batch.
type Version struct {
	// SHA256 is the SHA-256 of Data: the study version's id.
	SHA256 [32]byte
	// Data is the study file, byte for byte as the server served it.
	Data []byte
}

// Manifest is the signed table of contents of a batch.
type Manifest struct {
	// StudyID is the study the envelopes were submitted to.
	StudyID string
	// BatchID is the batch's random id.
	BatchID string
	// ExportID is the random id of the export run that wrote the batch,
	// shared by all its parts.
	ExportID string
	// Part is the batch's number among the Parts batches of its export,
	// from 1.
	Part, Parts int
	// Versions lists the SHA-256 of every study file in the batch, sorted.
	Versions [][32]byte
	// Entries lists the envelopes, sorted by ID.
	Entries []ManifestEntry
	// Hash is the SHA-256 of the signed manifest, signature included, as it
	// appears in the batch. Record it in the audit log.
	Hash [32]byte
}

// ManifestEntry is one envelope listed in a [Manifest].
type ManifestEntry struct {
	ID     string
	SHA256 [32]byte
}

// GenerateKey returns a new server signing key, named name (for example
// "testimony-server"), encoded for [note.NewSigner], and its verifier key,
// encoded for [note.NewVerifier]: the line researchers pin. The signing key
// must stay secret; it is the only key the server holds.
func GenerateKey(name string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("failed to generate server key %q: %w", name, err)
	}
	// note.GenerateKey does not check the name; NewSigner and NewVerifier do.
	if _, err := note.NewSigner(skey); err != nil {
		return "", "", fmt.Errorf("malformed key name %q: want non-empty UTF-8 without spaces or '+'", name)
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		return "", "", fmt.Errorf("malformed key name %q: want non-empty UTF-8 without spaces or '+'", name)
	}
	return skey, vkey, nil
}

// NewID returns a fresh random id, for a batch or an export: 26 characters
// of a–z and 2–7 (130 bits from crypto/rand).
func NewID() string { return strings.ToLower(rand.Text()) }

// Sign checks m, sorts its versions and entries, gives it a fresh random
// BatchID if it has none, signs it with signer, sets m.Hash and returns the
// signed manifest: the first entry of the batch. It refuses anything the
// format does not allow (see the package documentation).
func Sign(m *Manifest, signer note.Signer) ([]byte, error) {
	if m.BatchID == "" {
		m.BatchID = NewID()
	}
	slices.SortFunc(m.Versions, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	slices.SortFunc(m.Entries, func(a, b ManifestEntry) int { return cmp.Compare(a.ID, b.ID) })
	if err := m.check(); err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: string(formatManifest(m))}, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to sign manifest: %w", err)
	}
	if len(signed) > maxManifestSize {
		return nil, fmt.Errorf("signed manifest too large (%d bytes): use a shorter signer name", len(signed))
	}
	m.Hash = sha256.Sum256(signed)
	return signed, nil
}

// check checks a sorted manifest against the format.
func (m *Manifest) check() error {
	switch {
	case envelope.CheckStudyID(m.StudyID) != nil:
		return fmt.Errorf("malformed study id %q: want 3 to 64 characters of a-z, 0-9 and '-'", m.StudyID)
	case !validID(m.BatchID):
		return fmt.Errorf("malformed batch id %q: want 26 characters of a-z and 2-7", m.BatchID)
	case !validID(m.ExportID):
		return fmt.Errorf("malformed export id %q: want 26 characters of a-z and 2-7", m.ExportID)
	case m.Parts < 1 || m.Parts > MaxParts || m.Part < 1 || m.Part > m.Parts:
		return fmt.Errorf("malformed part %d of %d: want 1 ≤ part ≤ parts ≤ %d", m.Part, m.Parts, MaxParts)
	case len(m.Versions) > MaxVersions:
		return fmt.Errorf("too many study versions (%d) for one batch: at most %d", len(m.Versions), MaxVersions)
	case len(m.Entries) == 0:
		return errors.New("no envelopes to write: a batch holds at least one")
	case len(m.Entries) > MaxEnvelopes:
		return fmt.Errorf("too many envelopes (%d) for one batch: at most %d; export in parts", len(m.Entries), MaxEnvelopes)
	}
	for i, v := range m.Versions {
		if i > 0 && v == m.Versions[i-1] {
			return fmt.Errorf("duplicate study version %x", v)
		}
	}
	for i, e := range m.Entries {
		if !validID(e.ID) {
			return fmt.Errorf("malformed envelope id %q: want 26 characters of a-z and 2-7", e.ID)
		}
		if i > 0 && e.ID == m.Entries[i-1].ID {
			return fmt.Errorf("duplicate envelope id %q", e.ID)
		}
	}
	return nil
}

// A Writer writes one batch, streaming: the caller hashes every study file
// and envelope first (the manifest is signed before anything else is
// written), then copies each in manifest order. Writer checks every copy
// against the hash in the manifest, so a file that changed between the two
// passes is caught rather than exported.
type Writer struct {
	tw     *signedtar.Writer
	m      *Manifest
	signed []byte
	next   int   // position of the next entry: versions, then envelopes
	err    error // sticky
	h      hash.Hash
	close  bool
}

// NewWriter signs m (see [Sign]), writes the manifest to w, and returns a
// Writer for the rest of the batch. The caller then calls
// [Writer.WriteVersion] for every study file in [Manifest.Versions], then
// [Writer.WriteEnvelope] for every envelope in [Manifest.Entries], in that
// order (sorted, as Sign left them), then [Writer.Close].
//
// If any call fails, what was written is not a batch: write to a temporary
// file, and keep it only once Close returned nil.
func NewWriter(w io.Writer, signer note.Signer, m *Manifest) (*Writer, error) {
	signed, err := Sign(m, signer)
	if err != nil {
		return nil, err
	}
	bw := &Writer{tw: signedtar.NewWriter(w, noun, time.Unix(0, 0)), m: m, signed: signed, h: sha256.New()}
	if err := bw.tw.WriteEntry(signedtar.ManifestName, int64(len(signed)), bytes.NewReader(signed)); err != nil {
		return nil, err
	}
	return bw, nil
}

// Manifest returns the signed manifest, with its Hash set. The caller must
// not modify it.
func (bw *Writer) Manifest() *Manifest { return bw.m }

// SignedManifest returns the signed manifest as written, the batch's first
// entry (for the server to keep). The caller must not modify it.
func (bw *Writer) SignedManifest() []byte { return bw.signed }

// WriteVersion writes the next study file: the one whose SHA-256 is sum,
// size bytes read from r.
func (bw *Writer) WriteVersion(sum [32]byte, size int64, r io.Reader) error {
	return bw.write(func() error {
		if bw.next >= len(bw.m.Versions) {
			return fmt.Errorf("study version %x written after the last one", sum)
		}
		if want := bw.m.Versions[bw.next]; want != sum {
			return fmt.Errorf("study version %x written where the manifest lists %x next", sum, want)
		}
		if size < 1 || size > MaxVersionSize {
			return fmt.Errorf("study version %x is %d bytes: want 1 to %d", sum, size, MaxVersionSize)
		}
		return bw.copy(versionDir+hex.EncodeToString(sum[:]), size, r, sum)
	})
}

// WriteEnvelope writes the next envelope: the one with id id, size bytes
// read from r.
func (bw *Writer) WriteEnvelope(id string, size int64, r io.Reader) error {
	return bw.write(func() error {
		i := bw.next - len(bw.m.Versions)
		switch {
		case i < 0:
			return fmt.Errorf("envelope %s written before study version %x", id, bw.m.Versions[bw.next])
		case i >= len(bw.m.Entries):
			return fmt.Errorf("envelope %s written after the last one", id)
		case bw.m.Entries[i].ID != id:
			return fmt.Errorf("envelope %s written where the manifest lists %s next", id, bw.m.Entries[i].ID)
		case size < 1 || size > MaxEnvelopeSize:
			return fmt.Errorf("envelope %s is %d bytes: want 1 to %d", id, size, MaxEnvelopeSize)
		}
		return bw.copy(envelopeDir+id, size, r, bw.m.Entries[i].SHA256)
	})
}

func (bw *Writer) write(fn func() error) error {
	if bw.err != nil {
		return bw.err
	}
	if bw.close {
		return errors.New("batch already closed")
	}
	if err := fn(); err != nil {
		bw.err = err
		return err
	}
	bw.next++
	return nil
}

func (bw *Writer) copy(name string, size int64, r io.Reader, sum [32]byte) error {
	bw.h.Reset()
	if err := bw.tw.WriteEntry(name, size, io.TeeReader(r, bw.h)); err != nil {
		return err
	}
	if [32]byte(bw.h.Sum(nil)) != sum {
		return fmt.Errorf("batch entry %q does not match the SHA-256 in the manifest: the file changed after it was hashed", name)
	}
	return nil
}

// Close checks that every study file and envelope of the manifest was
// written, and writes the end-of-archive marker. It does not close the
// underlying writer.
func (bw *Writer) Close() error {
	if bw.err != nil {
		return bw.err
	}
	if bw.close {
		return nil
	}
	if n := len(bw.m.Versions) + len(bw.m.Entries); bw.next != n {
		bw.err = fmt.Errorf("batch closed after %d of its %d entries", bw.next, n)
		return bw.err
	}
	if err := bw.tw.Close(); err != nil {
		bw.err = err
		return err
	}
	bw.close = true
	return nil
}

// Write writes a batch held in memory to w, signed by signer, and returns
// its manifest: the envelopes envs and the study files versions, for study
// studyID, as part 1 of 1 of a new export. It refuses anything the format
// does not allow before writing anything.
func Write(w io.Writer, signer note.Signer, studyID string, envs []Envelope, versions ...[]byte) (*Manifest, error) {
	m := &Manifest{StudyID: studyID, ExportID: NewID(), Part: 1, Parts: 1}
	byHash := map[[32]byte][]byte{}
	for _, v := range versions {
		if len(v) == 0 || len(v) > MaxVersionSize {
			return nil, fmt.Errorf("study version is %d bytes: want 1 to %d", len(v), MaxVersionSize)
		}
		sum := sha256.Sum256(v)
		m.Versions = append(m.Versions, sum)
		byHash[sum] = v
	}
	byID := make(map[string][]byte, len(envs))
	for _, e := range envs {
		if len(e.Data) == 0 || len(e.Data) > MaxEnvelopeSize {
			return nil, fmt.Errorf("envelope %s is %d bytes: want 1 to %d", e.ID, len(e.Data), MaxEnvelopeSize)
		}
		m.Entries = append(m.Entries, ManifestEntry{ID: e.ID, SHA256: sha256.Sum256(e.Data)})
		byID[e.ID] = e.Data
	}
	bw, err := NewWriter(w, signer, m)
	if err != nil {
		return nil, err
	}
	for _, v := range m.Versions {
		if err := bw.WriteVersion(v, int64(len(byHash[v])), bytes.NewReader(byHash[v])); err != nil {
			return nil, err
		}
	}
	for _, e := range m.Entries {
		if err := bw.WriteEnvelope(e.ID, int64(len(byID[e.ID])), bytes.NewReader(byID[e.ID])); err != nil {
			return nil, err
		}
	}
	if err := bw.Close(); err != nil {
		return nil, err
	}
	return bw.Manifest(), nil
}

// Batch is a whole batch, read into memory by [ReadAll].
type Batch struct {
	Manifest  *Manifest
	Versions  []Version  // in manifest order
	Envelopes []Envelope // in manifest order
}

// ReadAll reads a whole batch from r, checks it against verifiers, and
// returns it. It returns an error, and nothing else, unless the manifest
// carries exactly one valid signature, by the key of one of verifiers, and
// nothing else, and the batch holds
// exactly the study files and envelopes the manifest lists, each matching
// its SHA-256, with nothing missing, extra, repeated or out of order. The
// error names the bad entry.
//
// ReadAll holds the whole batch in memory; use [NewReader] to stream.
// The caller should check [Manifest.StudyID] is the study it expects.
func ReadAll(r io.Reader, verifiers ...note.Verifier) (*Batch, error) {
	br, err := NewReader(r, verifiers...)
	if err != nil {
		return nil, err
	}
	b := &Batch{Manifest: br.Manifest(), Versions: make([]Version, 0, len(br.m.Versions)), Envelopes: make([]Envelope, 0, len(br.m.Entries))}
	for {
		v, err := br.NextVersion()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		b.Versions = append(b.Versions, v)
	}
	for {
		e, err := br.Next()
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		b.Envelopes = append(b.Envelopes, e)
	}
}

// Read is [ReadAll] for callers that need only the envelopes: it checks the
// study files too, but does not return them.
func Read(r io.Reader, verifiers ...note.Verifier) (*Manifest, []Envelope, error) {
	b, err := ReadAll(r, verifiers...)
	if err != nil {
		return nil, nil, err
	}
	return b.Manifest, b.Envelopes, nil
}

// Reader reads a batch one entry at a time, holding one entry and the
// manifest in memory.
type Reader struct {
	m    *Manifest
	sr   *signedtar.Reader
	next int   // position of the next entry expected: versions, then envelopes
	err  error // sticky
}

// NewReader reads the manifest at the start of the batch in r and checks its
// signature against verifiers, as [ReadAll] does.
//
// Call [Reader.NextVersion] until it returns io.EOF to get the study files,
// then [Reader.Next] until it returns io.EOF to get the envelopes (Next
// checks and skips the study files not read). Each study file and envelope
// returned has been checked against the signed manifest, but the batch is
// known to be complete only once Next returns io.EOF. Discard what was read
// if either returns any other error.
func NewReader(r io.Reader, verifiers ...note.Verifier) (*Reader, error) {
	sr := signedtar.NewReader(r, noun)
	msg, err := sr.ReadManifest(maxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := OpenManifest(msg, verifiers...)
	if err != nil {
		return nil, err
	}
	sr.Expect(signedtar.List{Len: len(m.Versions) + len(m.Entries), Entry: m.entry, Index: m.position})
	return &Reader{m: m, sr: sr}, nil
}

// Manifest returns the batch's verified manifest. The caller must not modify
// it.
func (br *Reader) Manifest() *Manifest { return br.m }

// NextVersion returns the next study file, checked against the manifest, or
// io.EOF once every study file was returned.
func (br *Reader) NextVersion() (Version, error) {
	if br.err != nil {
		return Version{}, br.err
	}
	if br.next >= len(br.m.Versions) {
		return Version{}, io.EOF
	}
	i, data, err := br.entry()
	if err != nil {
		return Version{}, err
	}
	return Version{SHA256: br.m.Versions[i], Data: data}, nil
}

// Next returns the next envelope, checked against the manifest. It first
// reads and checks the study files [Reader.NextVersion] did not return.
// After the last envelope it checks the batch ends there and returns
// io.EOF.
func (br *Reader) Next() (Envelope, error) {
	for br.next < len(br.m.Versions) {
		if _, err := br.NextVersion(); err != nil {
			return Envelope{}, err
		}
	}
	i, data, err := br.entry()
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{ID: br.m.Entries[i-len(br.m.Versions)].ID, Data: data}, nil
}

// entry reads the next entry and returns its position.
func (br *Reader) entry() (int, []byte, error) {
	i, _, err := br.sr.Next()
	var data []byte
	if err == nil {
		data, err = br.sr.ReadData()
	}
	if err != nil {
		if err != io.EOF {
			br.err = err
		}
		return 0, nil, err
	}
	br.next = i + 1
	return i, data, nil
}

// entry returns the entry at position i of the batch after the manifest:
// the study files, then the envelopes.
func (m *Manifest) entry(i int) signedtar.Entry {
	if i < len(m.Versions) {
		return signedtar.Entry{Name: versionDir + hex.EncodeToString(m.Versions[i][:]), Min: 1, Max: MaxVersionSize, SHA256: m.Versions[i]}
	}
	e := m.Entries[i-len(m.Versions)]
	return signedtar.Entry{Name: envelopeDir + e.ID, Min: 1, Max: MaxEnvelopeSize, SHA256: e.SHA256}
}

// position returns where the manifest lists the entry named name, if it
// does.
func (m *Manifest) position(name string) (int, bool) {
	if id, ok := strings.CutPrefix(name, envelopeDir); ok {
		i, found := slices.BinarySearchFunc(m.Entries, id, func(e ManifestEntry, id string) int { return cmp.Compare(e.ID, id) })
		return len(m.Versions) + i, found
	}
	if h, ok := strings.CutPrefix(name, versionDir); ok {
		var sum [32]byte
		if !signednote.ParseHex(sum[:], h) {
			return 0, false
		}
		return slices.BinarySearchFunc(m.Versions, sum, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	}
	return 0, false
}

// OpenManifest checks that the signed manifest msg carries exactly one
// signature, valid for one of verifiers (a key given twice counts once),
// and nothing else, and parses it.
// Its Hash is the SHA-256 of msg.
func OpenManifest(msg []byte, verifiers ...note.Verifier) (*Manifest, error) {
	verifiers = distinctKeys(verifiers)
	kind := signednote.Kind{
		What:    `batch entry "manifest"`,
		Signers: pinnedKeys(verifiers),
		Hint:    "check --server-key, or the batch is not from this server",
	}
	if len(verifiers) > 1 {
		kind.Hint = "check --server-key, or the batch is not from a server of this study"
	}
	n, err := kind.Open(msg, verifiers...)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest([]byte(n.Text))
	if err != nil {
		return nil, err
	}
	m.Hash = sha256.Sum256(msg)
	return m, nil
}

// distinctKeys returns verifiers without a key given twice (same name and
// key hash), which note.VerifierList would take for two keys.
func distinctKeys(verifiers []note.Verifier) []note.Verifier {
	var out []note.Verifier
	for _, v := range verifiers {
		if !slices.ContainsFunc(out, func(o note.Verifier) bool { return o.Name() == v.Name() && o.KeyHash() == v.KeyHash() }) {
			out = append(out, v)
		}
	}
	return out
}

// pinnedKeys names the server keys a manifest may be signed by, as errors
// say it: `the pinned server key "testimony-server"+1a2b3c4d`, or for
// several `one of the 2 pinned server keys ("a"+…, "b"+…)`.
func pinnedKeys(verifiers []note.Verifier) string {
	switch len(verifiers) {
	case 0:
		return "a pinned server key (none was given)"
	case 1:
		return "the pinned server key " + signednote.VerifierNames(verifiers)
	}
	return fmt.Sprintf("one of the %d pinned server keys (%s)", len(verifiers), signednote.VerifierNames(verifiers))
}

// unverifiedKind names manifests in the errors of ParseUnverifiedManifest.
var unverifiedKind = signednote.Kind{What: "batch manifest"}

// ParseUnverifiedManifest parses a signed manifest without checking its
// signature: for an auditor, who does not hold the server's batch key and
// binds a manifest to the audit log by its hash (the Hash field, the
// SHA-256 of msg) rather than by its signature. The text must still be a
// valid manifest followed by exactly one signature line.
func ParseUnverifiedManifest(msg []byte) (*Manifest, error) {
	if len(msg) > maxManifestSize {
		return nil, fmt.Errorf("manifest is larger than %d bytes", maxManifestSize)
	}
	text, err := unverifiedKind.UnverifiedText(msg)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest(text)
	if err != nil {
		return nil, err
	}
	m.Hash = sha256.Sum256(msg)
	return m, nil
}

// ReadUnverifiedManifest reads the manifest at the start of the batch in r,
// without checking its signature (see [ParseUnverifiedManifest]), and
// returns it without reading further.
func ReadUnverifiedManifest(r io.Reader) (*Manifest, error) {
	msg, err := signedtar.NewReader(r, noun).ReadManifest(maxManifestSize)
	if err != nil {
		return nil, err
	}
	return ParseUnverifiedManifest(msg)
}

// formatManifest returns the text of m's manifest, without its signature.
func formatManifest(m *Manifest) []byte {
	var b bytes.Buffer
	b.Grow(200 + len(m.Versions)*(2*sha256.Size+1) + len(m.Entries)*(idLen+1+2*sha256.Size+1))
	fmt.Fprintf(&b, "%s\nstudy %s\nbatch %s\nexport %s\npart %d of %d\nversions %d\n",
		formatLine, m.StudyID, m.BatchID, m.ExportID, m.Part, m.Parts, len(m.Versions))
	for _, v := range m.Versions {
		b.WriteString(hex.EncodeToString(v[:]))
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "count %d\n", len(m.Entries))
	for _, e := range m.Entries {
		b.WriteString(e.ID)
		b.WriteByte(' ')
		b.WriteString(hex.EncodeToString(e.SHA256[:]))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// parseManifest parses the text of a manifest, accepting only what
// formatManifest produces.
func parseManifest(text []byte) (*Manifest, error) {
	r := signednote.NewLines(text, "batch manifest")
	if err := r.Header(formatLine, "batch"); err != nil {
		return nil, err
	}
	m := &Manifest{}
	var err error
	if m.StudyID, err = r.Field("study"); err != nil {
		return nil, err
	}
	if envelope.CheckStudyID(m.StudyID) != nil {
		return nil, r.Errorf("malformed study id %.80q", m.StudyID)
	}
	if m.BatchID, err = r.Field("batch"); err != nil {
		return nil, err
	}
	if !validID(m.BatchID) {
		return nil, r.Errorf("malformed batch id %.80q", m.BatchID)
	}
	if m.ExportID, err = r.Field("export"); err != nil {
		return nil, err
	}
	if !validID(m.ExportID) {
		return nil, r.Errorf("malformed export id %.80q", m.ExportID)
	}
	p, err := r.Field("part")
	if err != nil {
		return nil, err
	}
	i, n, ok := strings.Cut(p, " of ")
	var ok1, ok2 bool
	m.Part, ok1 = signednote.ParseDecimal(i, 1, MaxParts)
	m.Parts, ok2 = signednote.ParseDecimal(n, 1, MaxParts)
	if !ok || !ok1 || !ok2 || m.Part > m.Parts {
		return nil, r.Errorf("malformed part %.80q: want \"<i> of <n>\", 1 ≤ i ≤ n ≤ %d", p, MaxParts)
	}
	k, err := r.Count("versions", "versions count", 0, MaxVersions)
	if err != nil {
		return nil, err
	}
	if m.Versions, err = r.SHA256s(k, "study version"); err != nil {
		return nil, err
	}
	count, err := r.Count("count", "count", 1, MaxEnvelopes)
	if err != nil {
		return nil, err
	}
	m.Entries = make([]ManifestEntry, 0, min(count, r.Len()/(idLen+1+2*sha256.Size+1)))
	for i := range count {
		l, err := r.Item(i, count, "envelope")
		if err != nil {
			return nil, err
		}
		id, h, ok := strings.Cut(l, " ")
		if !ok || !validID(id) {
			return nil, r.Errorf("malformed envelope line %.80q", l)
		}
		e := ManifestEntry{ID: id}
		if !signednote.ParseHex(e.SHA256[:], h) {
			return nil, r.Errorf("malformed SHA-256 %.80q for envelope %s", h, id)
		}
		if n := len(m.Entries); n > 0 && id <= m.Entries[n-1].ID {
			return nil, r.Errorf("envelope %s listed out of order or twice", id)
		}
		m.Entries = append(m.Entries, e)
	}
	if err := r.End(count, "envelope"); err != nil {
		return nil, err
	}
	return m, nil
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}
