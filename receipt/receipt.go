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
//     fingerprint without its dashes ([envelope.NoteKeyName]), so a
//     receipt cannot claim another researcher's name.
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

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/signednote"
	"golang.org/x/mod/sumdb/note"
)

// Limits of a receipt.
const (
	// MaxBatches is the largest number of batches one receipt lists.
	MaxBatches = 100_000
	// MaxSize bounds a signed receipt, in bytes.
	MaxSize = 8 << 20
)

const formatLine = "testimony import receipt v1"

// Errors [Verify] wraps, so that callers can count rejections by reason.
var (
	// ErrUnknownKey: the receipt is not signed by any of the keys given.
	ErrUnknownKey = errors.New("receipt not signed by a researcher of the study")
	// ErrInvalid: the receipt is malformed, or its signature does not verify.
	ErrInvalid = errors.New("receipt invalid")
)

// kind names receipts in the errors of Verify.
var kind = signednote.Kind{What: "receipt", Signers: "a researcher of the study", UnknownKey: ErrUnknownKey, Invalid: ErrInvalid}

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

// Sign sorts r.Batches, checks r, signs it with signer, which must be the
// key of the researcher r names, sets r.Hash and returns the signed
// receipt.
func Sign(r *Receipt, signer note.Signer) ([]byte, error) {
	slices.SortFunc(r.Batches, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	text, err := r.MarshalText()
	if err != nil {
		return nil, err
	}
	if signer.Name() != envelope.NoteKeyName(r.Researcher) {
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
	case !envelope.IsFingerprint(r.Researcher):
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
	l := signednote.NewLines(text, "receipt")
	if err := l.Header(formatLine, "receipt"); err != nil {
		return nil, err
	}
	r := &Receipt{}
	var err error
	if r.StudyID, err = l.Field("study"); err != nil {
		return nil, err
	}
	if envelope.CheckStudyID(r.StudyID) != nil {
		return nil, l.Errorf("malformed study id %.80q", r.StudyID)
	}
	if r.Researcher, err = l.Field("researcher"); err != nil {
		return nil, err
	}
	if !envelope.IsFingerprint(r.Researcher) {
		return nil, l.Errorf("malformed researcher fingerprint %.80q", r.Researcher)
	}
	n, err := l.Count("batches", "batch count", 1, MaxBatches)
	if err != nil {
		return nil, err
	}
	if r.Batches, err = l.SHA256s(n, "batch"); err != nil {
		return nil, err
	}
	if err := l.End(n, "batch"); err != nil {
		return nil, err
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
	n, err := kind.Open(msg, verifiers...)
	if err != nil {
		return nil, err
	}
	r, err := Parse([]byte(n.Text))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := kind.CheckSigner(n, envelope.NoteKeyName(r.Researcher), "researcher "+r.Researcher); err != nil {
		return nil, err
	}
	r.Hash = sha256.Sum256(msg)
	return r, nil
}
