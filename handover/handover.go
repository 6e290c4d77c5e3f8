// Package handover writes and reads handover files: testimonies one
// researcher hands to another who joined the team after they were sealed.
//
// An envelope is sealed to the researchers of the study version it
// answers; a researcher added later cannot open it. A current researcher
// who can writes a handover file holding, for each testimony, the original
// envelope and its content key K sealed to the new researcher. The new
// researcher checks the file's signature against the study's researchers,
// unseals each K and opens each envelope with it (crypto/envelope's
// OpenWithKey), which checks the whole envelope, every recipient's slot
// included: so they read exactly what every recipient reads, and derive the
// same pseudonym seed and testimony reference from K.
//
// Write one with [NewSealer] (once per file), [Sealer.Entry] for each
// envelope, then [NewWriter] and [Writer.Add] for each envelope in the same
// order; read one with [NewReader], [Reader.Next] and [Manifest.Opener].
// Neither holds more than one envelope in memory.
//
// # Format, version 1
//
// A handover file is
//
//	"testimony-handover-v1\n"
//	u32be(len N) || N                      the signed manifest
//	u32be(size) || study file              each version listed, in manifest order
//	…
//	u32be(size_1) || envelope_1            each envelope, in manifest order
//	…
//	u32be(size_n) || envelope_n
//
// and nothing after the last envelope. The study files are the versions of
// the study the envelopes may answer (the giver's workspace keeps them), so
// that a researcher who never saw the batches can check each testimony
// against its version. N is a signed note
// (golang.org/x/mod/sumdb/note) carrying exactly one Ed25519 signature, by
// the researcher key named "testimony-researcher-" followed by the
// fingerprint on its "from" line without dashes. Its text is
//
//	testimony handover v1
//	study <study id>
//	from <fingerprint of the giver>
//	to <public key of the new researcher>
//	ephemeral <64 hex: an X25519 public key E made for this file>
//	versions <k>
//	<64 hex: SHA-256 of a study file> <its size>      (k lines, sorted, distinct)
//	count <n>
//	<64 hex: SHA-256 of envelope i> <size of envelope i> <96 hex: sealed key i>   (n lines)
//
// each line ending in "\n" and no other lines. The study id is 3 to 64
// characters of a–z, 0–9 and '-'; the fingerprint five groups of four
// uppercase hex digits joined by '-'; the public key a "testimony-pub-"
// string; k from 0 to [MaxVersions], each study file's size from 1 to
// [MaxVersionSize]; n from 1 to [MaxEntries] and each envelope's size from
// 1 to [MaxEnvelopeSize]; numbers decimal without sign or leading zeros;
// hex lowercase; no two envelopes have the same SHA-256.
//
// Sealed key i is crypto_box(K_i, nonce_i, X, e) (48 bytes: the 32-byte
// content key and the Poly1305 tag), where e is the secret of E, used for
// this file only and forgotten once the keys are sealed, X the X25519 key
// of the "to" line, and nonce_i = SHA-512("testimony-handover-v1 key" ||
// 0x00 || SHA-256(envelope_i))[0:24].
//
// [NewReader] checks the signature against the keys it is given (the
// researchers of the current study: a researcher removed from the team
// can no longer hand anything over) and the manifest's form, and
// [Reader.NextVersion] and [Reader.Next] check each study file's and
// envelope's size and SHA-256 as they read it, and that nothing follows the
// last envelope. [Opener.Key] unseals a key for the
// researcher the file names on its "to" line, and nobody else.
//
// # What a handover file reveals
//
// The manifest is not encrypted: the envelopes' hashes and sizes, the
// study, the giver and the recipient are readable by anyone holding the
// file, as the envelopes are to anyone holding the batches (they are the
// same ciphertexts). The content keys are readable only with the new
// researcher's private key. Anyone holding the private key of a researcher
// of the study can forge a handover file, but only of envelopes they can
// open (a forged K fails OpenWithKey): the signature says who handed the
// testimonies over, OpenWithKey that they are the envelopes the server
// stored.
package handover

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/signednote"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/mod/sumdb/note"
)

// Magic starts every handover file.
const Magic = "testimony-handover-v1\n"

// Limits of the format.
const (
	// MaxEntries is the most envelopes one file hands over.
	MaxEntries = 200_000
	// MaxEnvelopeSize bounds one envelope, as batches do.
	MaxEnvelopeSize = 8 << 20
	// MaxVersions is the most study files one file carries, and
	// MaxVersionSize bounds each, as batches do.
	MaxVersions    = 1000
	MaxVersionSize = 1 << 20
	// MaxManifestSize bounds the signed manifest.
	MaxManifestSize = 512 + MaxVersions*(64+1+7+1) + MaxEntries*(64+1+7+1+96+1) + 1024
)

const formatLine = "testimony handover v1"

// SealedKeySize is the size of a sealed content key.
const SealedKeySize = 32 + box.Overhead

// Entry is one envelope of a handover file.
type Entry struct {
	SHA256    [32]byte // of the envelope
	Size      int      // of the envelope, in bytes
	SealedKey [SealedKeySize]byte
}

// Manifest is the signed part of a handover file.
type Manifest struct {
	StudyID string
	// From is the fingerprint of the researcher who signed it.
	From string
	// To is the researcher the content keys are sealed to.
	To *envelope.Recipient
	// Ephemeral is the X25519 public key the keys are sealed with.
	Ephemeral [32]byte
	// Versions are the study files the file carries, sorted.
	Versions []Version
	Entries  []Entry
}

// Version is one study file of a handover file.
type Version struct {
	SHA256 [32]byte
	Size   int
}

// Sealer seals content keys for one handover file, to one researcher.
type Sealer struct {
	to     *envelope.Recipient
	eph    [32]byte
	shared [32]byte
}

// NewSealer makes the ephemeral key of a new handover file to the
// researcher to.
func NewSealer(to *envelope.Recipient) (*Sealer, error) {
	var priv [32]byte
	if _, err := rand.Read(priv[:]); err != nil {
		return nil, fmt.Errorf("failed to make a key: %w", err)
	}
	defer clear(priv[:])
	pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return nil, err
	}
	s := &Sealer{to: to}
	copy(s.eph[:], pub)
	x := to.X25519()
	box.Precompute(&s.shared, &x, &priv)
	return s, nil
}

// Entry returns the manifest entry of env, whose content key is k.
func (s *Sealer) Entry(env []byte, k [32]byte) Entry {
	e := Entry{SHA256: sha256.Sum256(env), Size: len(env)}
	n := keyNonce(e.SHA256)
	box.SealAfterPrecomputation(e.SealedKey[:0], k[:], &n, &s.shared)
	return e
}

// Manifest returns the manifest of a file from the researcher with
// fingerprint from, for study, carrying the study files versions (sorted
// here) and the envelopes of entries, in order.
func (s *Sealer) Manifest(study, from string, versions [][]byte, entries []Entry) *Manifest {
	m := &Manifest{StudyID: study, From: from, To: s.to, Ephemeral: s.eph, Entries: entries}
	for _, v := range versions {
		m.Versions = append(m.Versions, Version{SHA256: sha256.Sum256(v), Size: len(v)})
	}
	slices.SortFunc(m.Versions, func(a, b Version) int { return bytes.Compare(a.SHA256[:], b.SHA256[:]) })
	return m
}

// Close forgets the key the content keys were sealed with.
func (s *Sealer) Close() { clear(s.shared[:]) }

func keyNonce(sum [32]byte) [24]byte {
	h := sha512.New()
	h.Write([]byte("testimony-handover-v1 key"))
	h.Write([]byte{0})
	h.Write(sum[:])
	var n [24]byte
	copy(n[:], h.Sum(nil))
	return n
}

// MarshalText returns the text of the manifest, without its signature,
// failing if m does not fit the format.
func (m *Manifest) MarshalText() ([]byte, error) {
	switch {
	case envelope.CheckStudyID(m.StudyID) != nil:
		return nil, fmt.Errorf("malformed handover: study id %q", m.StudyID)
	case !envelope.IsFingerprint(m.From):
		return nil, fmt.Errorf("malformed handover: fingerprint %q", m.From)
	case m.To == nil:
		return nil, errors.New("malformed handover: no recipient")
	case len(m.Entries) == 0:
		return nil, errors.New("malformed handover: it hands over no envelope")
	case len(m.Entries) > MaxEntries:
		return nil, fmt.Errorf("malformed handover: %d envelopes, at most %d in one file", len(m.Entries), MaxEntries)
	case len(m.Versions) > MaxVersions:
		return nil, fmt.Errorf("malformed handover: %d study files, at most %d in one file", len(m.Versions), MaxVersions)
	}
	var b bytes.Buffer
	b.Grow(512 + len(m.Versions)*(64+1+7+1) + len(m.Entries)*(64+1+7+1+96+1))
	fmt.Fprintf(&b, "%s\nstudy %s\nfrom %s\nto %s\nephemeral %s\nversions %d\n", formatLine, m.StudyID, m.From, m.To, hex.EncodeToString(m.Ephemeral[:]), len(m.Versions))
	for i, v := range m.Versions {
		if i > 0 && bytes.Compare(m.Versions[i-1].SHA256[:], v.SHA256[:]) >= 0 {
			return nil, errors.New("malformed handover: study files out of order or repeated")
		}
		if v.Size < 1 || v.Size > MaxVersionSize {
			return nil, fmt.Errorf("malformed handover: a study file of %d bytes", v.Size)
		}
		fmt.Fprintf(&b, "%x %d\n", v.SHA256, v.Size)
	}
	fmt.Fprintf(&b, "count %d\n", len(m.Entries))
	seen := make(map[[32]byte]bool, len(m.Entries))
	for _, e := range m.Entries {
		if seen[e.SHA256] {
			return nil, fmt.Errorf("malformed handover: envelope %x listed twice", e.SHA256)
		}
		seen[e.SHA256] = true
		if e.Size < 1 || e.Size > MaxEnvelopeSize {
			return nil, fmt.Errorf("malformed handover: envelope %x of %d bytes", e.SHA256, e.Size)
		}
		fmt.Fprintf(&b, "%x %d %x\n", e.SHA256, e.Size, e.SealedKey)
	}
	return b.Bytes(), nil
}

// ParseManifest parses the text of a manifest (without its signature),
// accepting only the form [Manifest.MarshalText] writes. It checks no
// signature.
func ParseManifest(text []byte) (*Manifest, error) {
	if len(text) > MaxManifestSize {
		return nil, fmt.Errorf("malformed handover manifest: larger than %d bytes", MaxManifestSize)
	}
	l := signednote.NewLines(text, "handover manifest")
	if err := l.Header(formatLine, "handover file"); err != nil {
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
	if m.From, err = l.Field("from"); err != nil {
		return nil, err
	}
	if !envelope.IsFingerprint(m.From) {
		return nil, l.Errorf("malformed fingerprint %.80q", m.From)
	}
	to, err := l.Field("to")
	if err != nil {
		return nil, err
	}
	if m.To, err = envelope.ParseRecipient(to); err != nil || m.To.String() != to {
		return nil, l.Errorf("malformed public key %.80q", to)
	}
	eph, err := l.Field("ephemeral")
	if err != nil {
		return nil, err
	}
	if !signednote.ParseHex(m.Ephemeral[:], eph) {
		return nil, l.Errorf("malformed ephemeral key %.80q", eph)
	}
	k, err := l.Count("versions", "count of study files", 0, MaxVersions)
	if err != nil {
		return nil, err
	}
	for i := range k {
		line, err := l.Item(i, k, "study file")
		if err != nil {
			return nil, err
		}
		sum, size, _ := strings.Cut(line, " ")
		var v Version
		var ok bool
		if !signednote.ParseHex(v.SHA256[:], sum) {
			return nil, l.Errorf("malformed study file line %.80q: want <sha256> <size>", line)
		}
		if v.Size, ok = signednote.ParseDecimal(size, 1, MaxVersionSize); !ok {
			return nil, l.Errorf("malformed study file size %.80q: want 1 to %d", size, MaxVersionSize)
		}
		if n := len(m.Versions); n > 0 && bytes.Compare(m.Versions[n-1].SHA256[:], v.SHA256[:]) >= 0 {
			return nil, l.Errorf("study file %s listed out of order or twice", sum)
		}
		m.Versions = append(m.Versions, v)
	}
	n, err := l.Count("count", "count", 1, MaxEntries)
	if err != nil {
		return nil, err
	}
	m.Entries = make([]Entry, 0, min(n, l.Len()/(64+1+1+1+96+1)+1))
	seen := make(map[[32]byte]bool, cap(m.Entries))
	for i := range n {
		line, err := l.Item(i, n, "envelope")
		if err != nil {
			return nil, err
		}
		parts := strings.Split(line, " ")
		var e Entry
		var ok bool
		if len(parts) != 3 || !signednote.ParseHex(e.SHA256[:], parts[0]) || !signednote.ParseHex(e.SealedKey[:], parts[2]) {
			return nil, l.Errorf("malformed envelope line %.80q: want <sha256> <size> <sealed key>", line)
		}
		if e.Size, ok = signednote.ParseDecimal(parts[1], 1, MaxEnvelopeSize); !ok {
			return nil, l.Errorf("malformed envelope size %.80q: want 1 to %d", parts[1], MaxEnvelopeSize)
		}
		if seen[e.SHA256] {
			return nil, l.Errorf("envelope %s listed twice", parts[0])
		}
		seen[e.SHA256] = true
		m.Entries = append(m.Entries, e)
	}
	if err := l.End(n, "envelope"); err != nil {
		return nil, err
	}
	return m, nil
}

// Writer writes a handover file.
type Writer struct {
	w    *bufio.Writer
	m    *Manifest
	next int
	err  error
}

// NewWriter signs the manifest with signer, which must be the key of the
// researcher on its "from" line, and writes it to w, followed by the study
// files versions (those the manifest lists, in any order); then give each
// envelope, in manifest order, to [Writer.Add], and call [Writer.Close].
func NewWriter(w io.Writer, m *Manifest, signer note.Signer, versions [][]byte) (*Writer, error) {
	byHash := map[[32]byte][]byte{}
	for _, v := range versions {
		byHash[sha256.Sum256(v)] = v
	}
	if len(byHash) != len(m.Versions) {
		return nil, errors.New("the study files given are not those the manifest lists")
	}
	text, err := m.MarshalText()
	if err != nil {
		return nil, err
	}
	if signer.Name() != envelope.NoteKeyName(m.From) {
		return nil, fmt.Errorf("the handover names researcher %s, but the signing key is %q: sign with that researcher's own key", m.From, signer.Name())
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to sign the handover: %w", err)
	}
	hw := &Writer{w: bufio.NewWriterSize(w, 1<<20), m: m}
	hw.w.WriteString(Magic)
	hw.w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(signed))))
	hw.w.Write(signed)
	for _, v := range m.Versions {
		data, ok := byHash[v.SHA256]
		if !ok || len(data) != v.Size {
			return nil, errors.New("the study files given are not those the manifest lists")
		}
		hw.w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
		hw.w.Write(data)
	}
	if err := hw.w.Flush(); err != nil {
		return nil, fmt.Errorf("failed to write the handover: %w", err)
	}
	return hw, nil
}

// Add writes the next envelope, which must be the one the manifest lists
// next.
func (hw *Writer) Add(env []byte) error {
	if hw.err != nil {
		return hw.err
	}
	if hw.next >= len(hw.m.Entries) {
		hw.err = errors.New("more envelopes than the manifest lists")
		return hw.err
	}
	e := hw.m.Entries[hw.next]
	if len(env) != e.Size || sha256.Sum256(env) != e.SHA256 {
		hw.err = fmt.Errorf("envelope %d is not the one the manifest lists (%x)", hw.next+1, e.SHA256)
		return hw.err
	}
	hw.next++
	hw.w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(env))))
	if _, err := hw.w.Write(env); err != nil {
		hw.err = fmt.Errorf("failed to write the handover: %w", err)
	}
	return hw.err
}

// Close flushes the file, failing if an envelope the manifest lists was
// not added.
func (hw *Writer) Close() error {
	if hw.err != nil {
		return hw.err
	}
	if hw.next != len(hw.m.Entries) {
		return fmt.Errorf("%d of the %d envelopes the manifest lists were written", hw.next, len(hw.m.Entries))
	}
	if err := hw.w.Flush(); err != nil {
		return fmt.Errorf("failed to write the handover: %w", err)
	}
	return nil
}

// Errors [NewReader] wraps.
var (
	// ErrUnknownKey: the file is not signed by any of the keys given.
	ErrUnknownKey = errors.New("handover not signed by a researcher of the study")
	// ErrInvalid: the file is malformed, altered or cut short.
	ErrInvalid = errors.New("handover invalid")
)

// manifestKind names handover manifests in the errors of NewReader.
var manifestKind = signednote.Kind{What: "handover manifest", Signers: "a researcher of the study", UnknownKey: ErrUnknownKey, Invalid: ErrInvalid}

// Reader reads a handover file.
type Reader struct {
	r     *bufio.Reader
	m     *Manifest
	nextV int
	next  int
	err   error
	sum   [32]byte
	hash  hashReader
	atEOF bool
}

type hashReader struct {
	r io.Reader
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// NewReader reads the manifest of the handover file in r and checks its
// signature: it must carry exactly one, by one of verifiers, that key being
// the researcher its "from" line names. It fails with an error wrapping
// [ErrUnknownKey] if none of verifiers signed it, and [ErrInvalid] if it
// is malformed or altered.
func NewReader(r io.Reader, verifiers []note.Verifier) (*Reader, error) {
	hr := &Reader{hash: hashReader{r: r, h: sha256.New()}}
	hr.r = bufio.NewReaderSize(&hr.hash, 1<<20)
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(hr.r, magic); err != nil || string(magic) != Magic {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("failed to read handover: %w", err)
		}
		return nil, fmt.Errorf("%w: not a handover file (it does not start with %q)", ErrInvalid, strings.TrimSpace(Magic))
	}
	var n [4]byte
	if _, err := io.ReadFull(hr.r, n[:]); err != nil {
		return nil, hr.readErr(err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > MaxManifestSize {
		return nil, fmt.Errorf("%w: a manifest of %d bytes, larger than %d", ErrInvalid, size, MaxManifestSize)
	}
	// Allocated as the bytes arrive, not as the length claims.
	msg, err := io.ReadAll(io.LimitReader(hr.r, int64(size)))
	if err != nil {
		return nil, hr.readErr(err)
	}
	if len(msg) != int(size) {
		return nil, hr.readErr(io.ErrUnexpectedEOF)
	}
	nt, err := manifestKind.Open(msg, verifiers...)
	if err != nil {
		return nil, err
	}
	if hr.m, err = ParseManifest([]byte(nt.Text)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := manifestKind.CheckSigner(nt, envelope.NoteKeyName(hr.m.From), "researcher "+hr.m.From); err != nil {
		return nil, err
	}
	return hr, nil
}

func (hr *Reader) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file is cut short", ErrInvalid)
	}
	return fmt.Errorf("failed to read handover: %w", err)
}

// Manifest returns the file's manifest, whose signature was checked.
func (hr *Reader) Manifest() *Manifest { return hr.m }

// NextVersion returns the next study file, checked against the manifest,
// or io.EOF after the last.
func (hr *Reader) NextVersion() ([]byte, error) {
	if hr.err != nil {
		return nil, hr.err
	}
	if hr.nextV == len(hr.m.Versions) {
		return nil, io.EOF
	}
	v := hr.m.Versions[hr.nextV]
	data, err := hr.read(v.Size, v.SHA256, fmt.Sprintf("study file %d", hr.nextV+1))
	if err != nil {
		hr.err = err
		return nil, err
	}
	hr.nextV++
	return data, nil
}

// read reads one length-prefixed item of the size and SHA-256 the
// manifest gives.
func (hr *Reader) read(size int, sum [32]byte, what string) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(hr.r, n[:]); err != nil {
		return nil, hr.readErr(err)
	}
	if got := binary.BigEndian.Uint32(n[:]); got != uint32(size) {
		return nil, fmt.Errorf("%w: %s is %d bytes, the manifest says %d", ErrInvalid, what, got, size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(hr.r, data); err != nil {
		return nil, hr.readErr(err)
	}
	if sha256.Sum256(data) != sum {
		return nil, fmt.Errorf("%w: %s does not match the SHA-256 the manifest lists: the file was altered", ErrInvalid, what)
	}
	return data, nil
}

// Next returns the next envelope, checked against its entry, or io.EOF
// after the last one once it has checked that nothing follows it (study
// files not read with NextVersion are read and checked first). The
// envelope is the caller's.
func (hr *Reader) Next() ([]byte, error) {
	for hr.err == nil && hr.nextV < len(hr.m.Versions) {
		hr.NextVersion()
	}
	if hr.err != nil {
		return nil, hr.err
	}
	if hr.next == len(hr.m.Entries) {
		if _, err := hr.r.ReadByte(); err == nil {
			hr.err = fmt.Errorf("%w: bytes follow the last envelope", ErrInvalid)
		} else if err != io.EOF {
			hr.err = hr.readErr(err)
		} else {
			copy(hr.sum[:], hr.hash.h.Sum(nil))
			hr.atEOF = true
			hr.err = io.EOF
		}
		return nil, hr.err
	}
	e := hr.m.Entries[hr.next]
	env, err := hr.read(e.Size, e.SHA256, fmt.Sprintf("envelope %d", hr.next+1))
	if err != nil {
		hr.err = err
		return nil, err
	}
	hr.next++
	return env, nil
}

// SHA256 returns the SHA-256 of the whole file, once Next returned io.EOF.
func (hr *Reader) SHA256() ([32]byte, bool) { return hr.sum, hr.atEOF }

// Opener unseals the content keys of a manifest for its recipient.
type Opener struct {
	shared [32]byte
}

// Opener returns an Opener of the manifest's keys for id, which must be
// the researcher the manifest's "to" line names.
func (m *Manifest) Opener(id *envelope.Identity) (*Opener, error) {
	if !id.Recipient().Equal(m.To) {
		return nil, fmt.Errorf("this handover is for key %s, not yours (%s): ask for one made for your key", m.To.Fingerprint(), id.Recipient().Fingerprint())
	}
	var priv [32]byte
	copy(priv[:], id.Bytes())
	defer clear(priv[:])
	o := &Opener{}
	box.Precompute(&o.shared, &m.Ephemeral, &priv)
	return o, nil
}

// Key unseals the content key of the entry.
func (o *Opener) Key(e Entry) ([32]byte, error) {
	var k [32]byte
	n := keyNonce(e.SHA256)
	out, ok := box.OpenAfterPrecomputation(k[:0], e.SealedKey[:], &n, &o.shared)
	if !ok || len(out) != 32 {
		return [32]byte{}, fmt.Errorf("%w: the content key of envelope %x does not open", ErrInvalid, e.SHA256)
	}
	return k, nil
}

// Close forgets the key the content keys are unsealed with.
func (o *Opener) Close() { clear(o.shared[:]) }
