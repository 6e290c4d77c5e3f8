// Package receipt writes and checks import receipts: a researcher's signed
// statement that batches were imported, which the intake server requires
// before it deletes the envelopes they hold.
//
// A researcher makes one from the workspace with [Sign] and the key of a
// recipient of the study; the operator hands it to `intake purge
// --receipt`, which checks it with [Verify] against the study's researcher
// keys and deletes only the envelopes of the batches it lists.
//
// # Format, version 1
//
// A receipt is a signed note (golang.org/x/mod/sumdb/note) carrying exactly
// one Ed25519 signature, by the key of the researcher it names. Its text
// is:
//
//	testimony import receipt v1
//	study <study id>
//	researcher <fingerprint>
//	batches <n>
//	<sha256>
//	...
//
// with each line ending in "\n" (no "\r"), and no other lines:
//
//   - The study id is 3 to 64 characters of a–z, 0–9 and '-'.
//   - The fingerprint is the researcher key's fingerprint as researchers
//     read it to each other: five groups of four uppercase hexadecimal
//     digits joined by '-' ("0123-4567-89AB-CDEF-0123"). The signature must
//     be by the key named "testimony-researcher-" followed by the
//     fingerprint without its dashes ([KeyName]), so a receipt cannot claim
//     another researcher's name.
//   - n, from 1 to [MaxBatches], decimal without sign or leading zeros, is
//     the number of lines that follow: the SHA-256 of each imported batch's
//     signed manifest (the hash the batch's audit records carry), in 64
//     lowercase hexadecimal digits, sorted, no two alike.
//
// The signature line is "— <key name> <base64>" as note writes it, and the
// receipt ends there. The encoding is canonical: a receipt that verifies has
// exactly one byte form, so its SHA-256 (recorded in both audit logs)
// names it.
//
// A receipt says which batches were imported, by whom; not when, and
// nothing about their content.
package receipt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/testimony-project/testimony/crypto/envelope"
	"golang.org/x/mod/sumdb/note"
)

// Limits of a receipt.
const (
	// MaxBatches is the largest number of batches one receipt lists.
	MaxBatches = 100_000
	// MaxSize bounds a signed receipt, in bytes.
	MaxSize = 8 << 20
)

const (
	formatLine    = "testimony import receipt v1"
	keyNamePrefix = "testimony-researcher-"
)

// Errors [Verify] wraps, so that callers can count rejections by reason.
var (
	// ErrUnknownKey: the receipt is not signed by any of the keys given.
	ErrUnknownKey = errors.New("receipt not signed by a researcher of the study")
	// ErrInvalid: the receipt is malformed, or its signature does not verify.
	ErrInvalid = errors.New("receipt invalid")
)

// Receipt is the content of an import receipt.
type Receipt struct {
	// StudyID is the study the batches belong to.
	StudyID string
	// Researcher is the fingerprint of the researcher key that signed it.
	Researcher string
	// Batches lists the SHA-256 of each imported batch's signed manifest,
	// sorted.
	Batches [][32]byte
	// Hash is the SHA-256 of the signed receipt, set by [Sign] and
	// [Verify]: what the audit logs record.
	Hash [32]byte
}

// KeyName returns the note key name of the researcher key whose fingerprint
// is fingerprint: "testimony-researcher-" and the fingerprint without its
// dashes.
func KeyName(fingerprint string) string {
	return keyNamePrefix + strings.ReplaceAll(fingerprint, "-", "")
}

// Sign sorts r.Batches, checks r, signs it with signer, which must be the
// key of the researcher r names, sets r.Hash and returns the signed
// receipt.
func Sign(r *Receipt, signer note.Signer) ([]byte, error) {
	slices.SortFunc(r.Batches, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	text, err := r.MarshalText()
	if err != nil {
		return nil, err
	}
	if signer.Name() != KeyName(r.Researcher) {
		return nil, fmt.Errorf("receipt names researcher %s, but the signing key is %q: sign with that researcher's own key", r.Researcher, signer.Name())
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to sign receipt: %w", err)
	}
	if len(msg) > MaxSize {
		return nil, fmt.Errorf("signed receipt too large (%d bytes)", len(msg))
	}
	r.Hash = sha256.Sum256(msg)
	return msg, nil
}

// MarshalText returns the text of the receipt, without its signature. It
// fails if r does not fit the format: r.Batches must be sorted, without
// duplicates.
func (r *Receipt) MarshalText() ([]byte, error) {
	switch {
	case envelope.CheckStudyID(r.StudyID) != nil:
		return nil, fmt.Errorf("malformed receipt: study id %q: want 3 to 64 characters of a-z, 0-9 and '-'", r.StudyID)
	case !validFingerprint(r.Researcher):
		return nil, fmt.Errorf("malformed receipt: researcher fingerprint %q: want five groups of four uppercase hex digits joined by '-'", r.Researcher)
	case len(r.Batches) == 0:
		return nil, errors.New("malformed receipt: it lists no batch")
	case len(r.Batches) > MaxBatches:
		return nil, fmt.Errorf("malformed receipt: %d batches, at most %d", len(r.Batches), MaxBatches)
	}
	var b bytes.Buffer
	b.Grow(100 + len(r.Batches)*65)
	fmt.Fprintf(&b, "%s\nstudy %s\nresearcher %s\nbatches %d\n", formatLine, r.StudyID, r.Researcher, len(r.Batches))
	for i, h := range r.Batches {
		if i > 0 && bytes.Compare(h[:], r.Batches[i-1][:]) <= 0 {
			return nil, fmt.Errorf("malformed receipt: batch %x listed out of order or twice", h)
		}
		b.WriteString(hex.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// Parse parses the text of a receipt (without its signature), accepting
// only the canonical form [Receipt.MarshalText] writes. It does not check
// any signature: use [Verify] on a signed receipt.
func Parse(text []byte) (*Receipt, error) {
	if len(text) > MaxSize {
		return nil, fmt.Errorf("malformed receipt: larger than %d bytes", MaxSize)
	}
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
		return fmt.Errorf("malformed receipt, line %d: %s", lineNo, fmt.Sprintf(format, args...))
	}
	field := func(key string) (string, error) {
		l, ok := line()
		if !ok {
			return "", bad("missing %q line", key)
		}
		v, ok := strings.CutPrefix(l, key+" ")
		if !ok {
			return "", bad("want %q line, got %.80q", key, l)
		}
		return v, nil
	}
	if l, ok := line(); !ok || l != formatLine {
		return nil, bad("not a %q: unsupported version, or not a receipt", formatLine)
	}
	r := &Receipt{}
	var err error
	if r.StudyID, err = field("study"); err != nil {
		return nil, err
	}
	if envelope.CheckStudyID(r.StudyID) != nil {
		return nil, bad("malformed study id %.80q", r.StudyID)
	}
	if r.Researcher, err = field("researcher"); err != nil {
		return nil, err
	}
	if !validFingerprint(r.Researcher) {
		return nil, bad("malformed researcher fingerprint %.80q", r.Researcher)
	}
	c, err := field("batches")
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(c)
	if err != nil || n < 1 || n > MaxBatches || strconv.Itoa(n) != c {
		return nil, bad("malformed batch count %.80q: want 1 to %d", c, MaxBatches)
	}
	r.Batches = make([][32]byte, 0, min(n, len(text)/65))
	for range n {
		l, ok := line()
		if !ok {
			return nil, bad("receipt ends after %d of %d batches", len(r.Batches), n)
		}
		var h [32]byte
		if len(l) != 64 || strings.ToLower(l) != l {
			return nil, bad("malformed batch SHA-256 %.80q", l)
		}
		if _, err := hex.Decode(h[:], []byte(l)); err != nil {
			return nil, bad("malformed batch SHA-256 %.80q", l)
		}
		if k := len(r.Batches); k > 0 && bytes.Compare(h[:], r.Batches[k-1][:]) <= 0 {
			return nil, bad("batch %s listed out of order or twice", l)
		}
		r.Batches = append(r.Batches, h)
	}
	if len(text) != 0 {
		lineNo++
		return nil, bad("unexpected text after the %d batches", n)
	}
	return r, nil
}

// Verify checks that msg is a receipt signed by exactly one key, one of
// verifiers, that key being the one the receipt names, and returns it. It
// fails with an error wrapping [ErrUnknownKey] if no key of verifiers
// signed it, and [ErrInvalid] if it is malformed, altered or signed by a
// key other than the researcher it names. Error messages quote what they
// repeat from msg.
//
// The caller checks the study: [Receipt.StudyID].
func Verify(msg []byte, verifiers []note.Verifier) (*Receipt, error) {
	if len(msg) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			var by []string
			for i, s := range unverified.Note.UnverifiedSigs {
				if i == 3 {
					by = append(by, fmt.Sprintf("and %d more", len(unverified.Note.UnverifiedSigs)-3))
					break
				}
				by = append(by, fmt.Sprintf("%.64q", s.Name))
			}
			return nil, fmt.Errorf("%w: signed by %s", ErrUnknownKey, strings.Join(by, ", "))
		case errors.As(err, &invalid):
			return nil, fmt.Errorf("%w: the signature by %.64q does not verify: the receipt was altered", ErrInvalid, invalid.Name)
		}
		return nil, fmt.Errorf("%w: not a signed receipt", ErrInvalid)
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 ||
		string(msg) != n.Text+"\n— "+n.Sigs[0].Name+" "+n.Sigs[0].Base64+"\n" {
		return nil, fmt.Errorf("%w: it carries other signatures or text than one researcher's signature", ErrInvalid)
	}
	r, err := Parse([]byte(n.Text))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if n.Sigs[0].Name != KeyName(r.Researcher) {
		return nil, fmt.Errorf("%w: it names researcher %s but is signed by %.64q", ErrInvalid, r.Researcher, n.Sigs[0].Name)
	}
	r.Hash = sha256.Sum256(msg)
	return r, nil
}

func validFingerprint(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%5 == 4 {
			if c != '-' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
