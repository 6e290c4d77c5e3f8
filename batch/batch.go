// Package batch writes and reads the signed batch files an operator carries
// from the intake server to the researchers' offline machine.
//
// On the server, use [GenerateKey] once to make the server's signing key,
// and [Write] to export envelopes. On the researcher's machine, use [Read]
// (or [NewReader], to stream a large batch) with the verifier key the
// researchers pinned; it returns the envelopes only if the batch is exactly
// what the server signed.
//
// # Format
//
// A batch is a POSIX (ustar) tar archive. Its first entry is named
// "manifest"; then comes one entry named "envelopes/<id>" for every envelope,
// in the order the manifest lists them, then the end-of-archive marker and
// nothing else. Every entry is a regular file; Write gives each mode 0600,
// modification time 0 (1970-01-01) and no owner names, and Read ignores
// those fields.
//
// The manifest is a signed note (golang.org/x/mod/sumdb/note) with exactly
// one Ed25519 signature, by the server's key. Its text is:
//
//	testimony batch v1
//	study <study id>
//	batch <batch id>
//	count <n>
//	<id> <sha256>
//	...
//
// with each line ending in "\n" (no "\r"), and no other lines. The study id
// is 3 to 64 characters of a–z, 0–9 and '-'. The batch id and every envelope
// id are 26 characters of a–z and 2–7; the batch id is random. The count is
// a decimal number without leading zeros, from 1 to 1,000,000, and equals
// the number of envelope lines that follow. Each envelope line gives the
// envelope's id and the SHA-256 of its bytes in 64 lowercase hexadecimal
// digits; the lines are sorted by id, each id strictly greater than the one
// before, so no id appears twice. Envelopes are 1 byte to 8 MiB.
//
// A batch says nothing about when an envelope arrived: envelopes are listed
// by id, which is random, and no times are recorded.
package batch

import (
	"archive/tar"
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/testimony-project/testimony/crypto/envelope"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Limits a batch must respect. Read refuses a batch beyond them, and Write
// refuses to produce one.
const (
	// MaxEnvelopes is the largest number of envelopes in one batch.
	MaxEnvelopes = 1_000_000
	// MaxEnvelopeSize is the largest envelope, in bytes.
	MaxEnvelopeSize = 8 << 20
	// maxManifestSize bounds the signed manifest: 92 bytes per envelope line,
	// the header lines and the signature fit with room to spare.
	maxManifestSize = 96 << 20
)

const (
	formatLine   = "testimony batch v1"
	manifestName = "manifest"
	envelopeDir  = "envelopes/"
	idLen        = 26
	blockSize    = 512
)

// Envelope is one sealed submission in a batch.
type Envelope struct {
	// ID is the envelope's id on the server: 26 characters of a–z and 2–7.
	ID string
	// Data is the envelope, as stored.
	Data []byte
}

// Manifest is the signed table of contents of a batch.
type Manifest struct {
	// StudyID is the study the envelopes were submitted to.
	StudyID string
	// BatchID is the batch's random id.
	BatchID string
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

// Write writes a batch of envs for study studyID to w, signed by signer, and
// returns its manifest.
//
// Write lists and writes envs sorted by id, whatever their order in envs. It
// refuses an empty batch, a duplicate or malformed id, an empty envelope and
// anything beyond [MaxEnvelopes] or [MaxEnvelopeSize], before writing
// anything. It writes straight to w, holding nothing but the manifest; if it
// returns an error, what it wrote is not a batch, so write to a temporary
// file and rename it only on success.
func Write(w io.Writer, signer note.Signer, studyID string, envs []Envelope) (*Manifest, error) {
	if envelope.CheckStudyID(studyID) != nil {
		return nil, fmt.Errorf("malformed study id %q: want 3 to 64 characters of a-z, 0-9 and '-'", studyID)
	}
	if len(envs) == 0 {
		return nil, errors.New("no envelopes to write: a batch holds at least one")
	}
	if len(envs) > MaxEnvelopes {
		return nil, fmt.Errorf("too many envelopes (%d) for one batch: at most %d; export in several batches", len(envs), MaxEnvelopes)
	}
	sorted := slices.Clone(envs)
	slices.SortFunc(sorted, func(a, b Envelope) int { return cmp.Compare(a.ID, b.ID) })
	m := &Manifest{
		StudyID: studyID,
		BatchID: strings.ToLower(rand.Text()),
		Entries: make([]ManifestEntry, len(sorted)),
	}
	for i, e := range sorted {
		if !validID(e.ID) {
			return nil, fmt.Errorf("malformed envelope id %q: want 26 characters of a-z and 2-7", e.ID)
		}
		if i > 0 && e.ID == sorted[i-1].ID {
			return nil, fmt.Errorf("duplicate envelope id %q", e.ID)
		}
		if len(e.Data) == 0 || len(e.Data) > MaxEnvelopeSize {
			return nil, fmt.Errorf("envelope %s is %d bytes: want 1 to %d", e.ID, len(e.Data), MaxEnvelopeSize)
		}
		m.Entries[i] = ManifestEntry{ID: e.ID, SHA256: sha256.Sum256(e.Data)}
	}
	signed, err := note.Sign(&note.Note{Text: string(formatManifest(m))}, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to sign manifest: %w", err)
	}
	if len(signed) > maxManifestSize {
		return nil, fmt.Errorf("signed manifest too large (%d bytes): use a shorter signer name", len(signed))
	}
	m.Hash = sha256.Sum256(signed)

	tw := tar.NewWriter(w)
	if err := writeEntry(tw, manifestName, signed); err != nil {
		return nil, err
	}
	for _, e := range sorted {
		if err := writeEntry(tw, envelopeDir+e.ID, e.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("failed to finish batch: %w", err)
	}
	return m, nil
}

func writeEntry(tw *tar.Writer, name string, data []byte) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     int64(len(data)),
		Mode:     0o600,
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("failed to write batch entry %q: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("failed to write batch entry %q: %w", name, err)
	}
	return nil
}

// Read reads a whole batch from r, checks it against verifier, and returns
// its manifest and envelopes, in manifest order. It returns an error, and no
// envelopes, unless the manifest carries exactly one valid signature by
// verifier's key and the batch holds exactly the envelopes the manifest
// lists, each matching its SHA-256, with nothing missing, extra, repeated or
// out of order. The error names the bad entry.
//
// Read holds the whole batch in memory; use [NewReader] to stream.
// The caller should check [Manifest.StudyID] is the study it expects.
func Read(r io.Reader, verifier note.Verifier) (*Manifest, []Envelope, error) {
	br, err := NewReader(r, verifier)
	if err != nil {
		return nil, nil, err
	}
	envs := make([]Envelope, 0, len(br.m.Entries))
	for {
		e, err := br.Next()
		if err == io.EOF {
			return br.Manifest(), envs, nil
		}
		if err != nil {
			return nil, nil, err
		}
		envs = append(envs, e)
	}
}

// Reader reads a batch one envelope at a time.
type Reader struct {
	m     *Manifest
	index map[string]int // envelope id → position in m.Entries
	cr    *countingReader
	tr    *tar.Reader
	next  int   // position in m.Entries of the next envelope expected
	want  int64 // bytes of archive read so far, per the headers
	err   error // sticky
}

// NewReader reads the manifest at the start of the batch in r and checks its
// signature against verifier, as [Read] does.
//
// Each envelope [Reader.Next] then returns has been checked against the
// signed manifest, but the batch is known to be complete only once Next
// returns io.EOF. Discard what was read if Next returns any other error.
func NewReader(r io.Reader, verifier note.Verifier) (*Reader, error) {
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	hdr, err := tr.Next()
	if err == io.EOF {
		return nil, errors.New("empty batch: no manifest")
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read batch: %w", truncated(err))
	}
	if hdr.Name != manifestName {
		return nil, fmt.Errorf("batch does not start with a manifest (first entry is %q): not a batch file, or altered", hdr.Name)
	}
	if err := checkHeader(hdr, maxManifestSize); err != nil {
		return nil, err
	}
	msg, err := readData(tr, hdr)
	if err != nil {
		return nil, err
	}
	m, err := openManifest(msg, verifier)
	if err != nil {
		return nil, err
	}
	br := &Reader{
		m:     m,
		index: make(map[string]int, len(m.Entries)),
		cr:    cr,
		tr:    tr,
		want:  blockSize + padded(hdr.Size),
	}
	for i, e := range m.Entries {
		br.index[e.ID] = i
	}
	return br, nil
}

// Manifest returns the batch's verified manifest. The caller must not modify
// it.
func (br *Reader) Manifest() *Manifest { return br.m }

// Next returns the next envelope, checked against the manifest. After the
// last envelope it checks the batch ends there and returns io.EOF.
func (br *Reader) Next() (Envelope, error) {
	if br.err != nil {
		return Envelope{}, br.err
	}
	e, err := br.next1()
	if err != nil {
		br.err = err
	}
	return e, err
}

func (br *Reader) next1() (Envelope, error) {
	hdr, err := br.tr.Next()
	if err == io.EOF {
		if br.next < len(br.m.Entries) {
			return Envelope{}, br.missing()
		}
		// archive/tar stops at the end-of-archive marker, but also, silently,
		// at a clean end of input or after a padding it skipped.
		if br.cr.n != br.want+2*blockSize {
			return Envelope{}, errors.New("batch is truncated or malformed after its last entry: end-of-archive marker missing or unexpected tar headers")
		}
		var one [1]byte
		if n, _ := io.ReadFull(br.cr, one[:]); n != 0 {
			return Envelope{}, errors.New("batch has data after its end-of-archive marker: altered")
		}
		return Envelope{}, io.EOF
	}
	if err != nil {
		if br.next < len(br.m.Entries) {
			return Envelope{}, fmt.Errorf("failed to read batch entry %q: %w", envelopeDir+br.m.Entries[br.next].ID, truncated(err))
		}
		return Envelope{}, fmt.Errorf("failed to read batch after its last entry: %w", truncated(err))
	}
	name := hdr.Name
	id, ok := strings.CutPrefix(name, envelopeDir)
	i, listed := br.index[id]
	switch {
	case name == manifestName:
		return Envelope{}, errors.New(`duplicate batch entry "manifest": altered`)
	case !ok || !listed:
		return Envelope{}, fmt.Errorf("batch entry %q is not listed in the signed manifest: added after signing", name)
	case i < br.next:
		return Envelope{}, fmt.Errorf("duplicate batch entry %q", name)
	case i > br.next:
		return Envelope{}, fmt.Errorf("batch entry %q is missing (found %q in its place): removed or reordered after signing",
			envelopeDir+br.m.Entries[br.next].ID, name)
	}
	if err := checkHeader(hdr, MaxEnvelopeSize); err != nil {
		return Envelope{}, err
	}
	data, err := readData(br.tr, hdr)
	if err != nil {
		return Envelope{}, err
	}
	if sha256.Sum256(data) != br.m.Entries[i].SHA256 {
		return Envelope{}, fmt.Errorf("batch entry %q does not match the SHA-256 in the signed manifest: altered", name)
	}
	br.next++
	br.want += blockSize + padded(hdr.Size)
	return Envelope{ID: id, Data: data}, nil
}

func (br *Reader) missing() error {
	e := br.m.Entries[br.next]
	more := len(br.m.Entries) - br.next - 1
	if more == 0 {
		return fmt.Errorf("batch entry %q is missing: batch truncated", envelopeDir+e.ID)
	}
	return fmt.Errorf("batch entry %q and %d after it are missing: batch truncated", envelopeDir+e.ID, more)
}

// checkHeader checks hdr is a regular file no larger than limit.
func checkHeader(hdr *tar.Header, limit int64) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("batch entry %q is not a regular file (type %q): altered", hdr.Name, hdr.Typeflag)
	}
	if hdr.Size <= 0 || hdr.Size > limit {
		return fmt.Errorf("batch entry %q is %d bytes: want 1 to %d", hdr.Name, hdr.Size, limit)
	}
	return nil
}

// readData reads the data of the entry hdr, whose size checkHeader bounded.
// Beyond MaxEnvelopeSize it allocates as data arrives, not as the header
// claims.
func readData(tr *tar.Reader, hdr *tar.Header) ([]byte, error) {
	var data []byte
	var err error
	if hdr.Size <= MaxEnvelopeSize {
		data = make([]byte, hdr.Size)
		_, err = io.ReadFull(tr, data)
	} else {
		buf := bytes.NewBuffer(make([]byte, 0, MaxEnvelopeSize))
		var n int64
		n, err = buf.ReadFrom(tr)
		if err == nil && n != hdr.Size {
			err = io.ErrUnexpectedEOF
		}
		data = buf.Bytes()
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read batch entry %q: %w", hdr.Name, truncated(err))
	}
	return data, nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("batch truncated: %w", err)
	}
	return err
}

func padded(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// openManifest checks the signed manifest msg carries exactly one signature,
// valid for verifier, and parses it.
func openManifest(msg []byte, verifier note.Verifier) (*Manifest, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			// The names come from the batch file: quote them, and only a few.
			var by []string
			for i, s := range unverified.Note.UnverifiedSigs {
				if i == 3 {
					by = append(by, fmt.Sprintf("and %d more", len(unverified.Note.UnverifiedSigs)-3))
					break
				}
				by = append(by, fmt.Sprintf("%.64q+%08x", s.Name, s.Hash))
			}
			return nil, fmt.Errorf("batch manifest is not signed by the pinned server key %s+%08x (signed by %s): check --server-key, or the batch is not from this server",
				verifier.Name(), verifier.KeyHash(), strings.Join(by, ", "))
		case errors.As(err, &invalid):
			return nil, fmt.Errorf(`batch entry "manifest" has an invalid signature by %.64q+%08x: altered after signing`, invalid.Name, invalid.Hash)
		}
		return nil, fmt.Errorf(`batch entry "manifest" is not a signed note (unsigned or altered): %w`, err)
	}
	// Open ignores repeated signatures; the manifest must be exactly the
	// text and one signature line.
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 ||
		string(msg) != n.Text+"\n— "+n.Sigs[0].Name+" "+n.Sigs[0].Base64+"\n" {
		return nil, errors.New(`batch entry "manifest" carries signatures other than the server's: altered`)
	}
	m, err := parseManifest([]byte(n.Text))
	if err != nil {
		return nil, err
	}
	m.Hash = sha256.Sum256(msg)
	return m, nil
}

// formatManifest returns the text of m's manifest, without its signature.
func formatManifest(m *Manifest) []byte {
	var b bytes.Buffer
	b.Grow(100 + len(m.Entries)*(idLen+1+2*sha256.Size+1))
	fmt.Fprintf(&b, "%s\nstudy %s\nbatch %s\ncount %d\n", formatLine, m.StudyID, m.BatchID, len(m.Entries))
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
	lineNo := 0
	line := func() (string, bool) {
		i := bytes.IndexByte(text, '\n')
		if i < 0 {
			return "", false
		}
		l := string(text[:i])
		text = text[i+1:]
		lineNo++
		return l, true
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("malformed batch manifest, line %d: %s", lineNo, fmt.Sprintf(format, args...))
	}
	field := func(key string) (string, error) {
		l, ok := line()
		if !ok {
			return "", bad("missing %q line", key)
		}
		v, ok := strings.CutPrefix(l, key+" ")
		if !ok {
			return "", bad("want %q line, got %q", key, l)
		}
		return v, nil
	}

	if l, ok := line(); !ok || l != formatLine {
		return nil, bad("not a %q manifest: unsupported version or not a batch", formatLine)
	}
	m := &Manifest{}
	var err error
	if m.StudyID, err = field("study"); err != nil {
		return nil, err
	}
	if envelope.CheckStudyID(m.StudyID) != nil {
		return nil, bad("malformed study id %q", m.StudyID)
	}
	if m.BatchID, err = field("batch"); err != nil {
		return nil, err
	}
	if !validID(m.BatchID) {
		return nil, bad("malformed batch id %q", m.BatchID)
	}
	c, err := field("count")
	if err != nil {
		return nil, err
	}
	count, err := strconv.Atoi(c)
	if err != nil || count < 1 || count > MaxEnvelopes || strconv.Itoa(count) != c {
		return nil, bad("malformed count %q: want 1 to %d", c, MaxEnvelopes)
	}
	m.Entries = make([]ManifestEntry, 0, min(count, len(text)/(idLen+1+2*sha256.Size+1)))
	for range count {
		l, ok := line()
		if !ok {
			return nil, bad("manifest ends after %d of %d envelopes", len(m.Entries), count)
		}
		id, h, ok := strings.Cut(l, " ")
		if !ok || !validID(id) {
			return nil, bad("malformed envelope line %q", l)
		}
		var e ManifestEntry
		e.ID = id
		if len(h) != 2*sha256.Size || strings.ToLower(h) != h {
			return nil, bad("malformed SHA-256 %q for envelope %s", h, id)
		}
		if _, err := hex.Decode(e.SHA256[:], []byte(h)); err != nil {
			return nil, bad("malformed SHA-256 %q for envelope %s", h, id)
		}
		if n := len(m.Entries); n > 0 && id <= m.Entries[n-1].ID {
			return nil, bad("envelope %s listed out of order or twice", id)
		}
		m.Entries = append(m.Entries, e)
	}
	if len(text) != 0 {
		lineNo++
		return nil, bad("unexpected text after the %d envelopes", count)
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
