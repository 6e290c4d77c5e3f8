// Package envelope implements the testimony envelope: answers sealed once to
// every researcher of a study, so that only those researchers can read them.
//
// Use [Seal] to seal answers, [Open] to open them with a researcher's
// [Identity], and [Check] on the server to check, without any key, that
// bytes received from a browser are a well-formed envelope for the study.
// Researchers' public keys are [Recipient] values, written as
// "testimony-pub-" strings; [ParseRecipient] reads them.
//
// # Format, version 1
//
// This is the specification the browser implementation follows byte for
// byte. H(x) is SHA-512 (NaCl's crypto_hash, present in every NaCl
// library), "||" is concatenation, u8 and u32be are unsigned integers of one
// byte and of four bytes big-endian. crypto_box and crypto_secretbox are
// NaCl's (X25519, XSalsa20, Poly1305), with their usual 16-byte
// authenticator placed before the ciphertext.
//
// Inputs: the study id S (3 to 64 bytes of 'a'-'z', '0'-'9' and '-'), the
// plaintext P (at most [MaxPlaintextSize] bytes) and the public keys R_1 …
// R_n of n recipients (1 ≤ n ≤ 16, in the order the study lists them).
//
//  1. Draw from a CSPRNG a content key K (32 bytes), then an ephemeral
//     secret key e (32 bytes). E is e's public key (crypto_box keypair from
//     e, i.e. X25519(e, 9)).
//  2. Commitment: C = H("testimony-envelope-v1 commitment" || 0x00 ||
//     u8(len S) || S || K)[0:32].
//  3. For i = 1 … n: W_i = crypto_box(K, N_i, R_i, e), where the nonce N_i
//     is 23 zero bytes followed by u8(i-1). Each W_i is 48 bytes.
//  4. Header: Hd = "testimony-envelope-v1\n" (22 bytes) || u8(len S) || S ||
//     E || C || u8(n) || W_1 || … || W_n.
//  5. Padding: Q = u32be(len P) || P || zero bytes, where len Q is the
//     smallest bucket that holds 4 + len P. The buckets are 1 KiB × 2^k for
//     k = 0 … 12: 1 KiB, 2 KiB, 4 KiB, … 4 MiB. The size of an envelope thus
//     reveals the study, the number of recipients and the bucket, nothing
//     finer.
//  6. Body key: B = H("testimony-envelope-v1 body" || 0x00 || Hd || K)[0:32].
//  7. Body: crypto_secretbox(Q, 24 zero bytes, B). The all-zero nonce is
//     safe because B is used exactly once: it depends on the fresh K.
//  8. The envelope is Hd || body.
//
// A recipient with secret key r opens an envelope by checking the label,
// the study id and every length (an envelope with any byte more or less than
// the steps above produce is rejected), then trying crypto_box_open on each
// W_i with nonce N_i and public key E until one yields K. It then checks C
// against K in constant time: because every recipient checks the same C, all
// of them obtain the same K, the same body key and so the same plaintext, or
// fail. It derives B from the header it received (so any change to the
// header makes the body fail to open), opens the body, and checks that the
// padding is canonical: the bucket is the smallest that fits and every
// padding byte is zero.
//
// Binding to the study: S is in both C and B, and opening first compares S
// with the study the researcher expects, so an envelope from one study
// fails to open as another.
package envelope

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// Label starts every version 1 envelope.
const Label = "testimony-envelope-v1\n"

// Limits of the format.
const (
	MaxRecipients    = 16
	MinBucket        = 1 << 10
	MaxBucket        = 4 << 20
	MaxPlaintextSize = MaxBucket - 4
	wrappedKeySize   = 32 + box.Overhead
	minStudyID       = 3
	maxStudyID       = 64
)

var (
	// ErrWrongStudy is returned when an envelope was sealed for another
	// study.
	ErrWrongStudy = errors.New("envelope was sealed for another study")
	// ErrNoIdentity is returned by Open when the envelope was not sealed to
	// the identity, or its key slot was tampered with.
	ErrNoIdentity = errors.New("envelope is not sealed to this key")
	// ErrMalformed wraps every error about an envelope's structure.
	ErrMalformed = errors.New("malformed envelope")
	// ErrDamaged is returned when an envelope is well-formed but fails
	// authentication: its header or body was changed after sealing.
	ErrDamaged = errors.New("envelope failed authentication: it was damaged or tampered with")
)

// Seal seals plaintext for the study to every recipient.
func Seal(studyID string, plaintext []byte, recipients []*Recipient) ([]byte, error) {
	return seal(rand.Reader, studyID, plaintext, recipients)
}

func seal(rnd io.Reader, studyID string, plaintext []byte, recipients []*Recipient) ([]byte, error) {
	if err := CheckStudyID(studyID); err != nil {
		return nil, err
	}
	if len(recipients) == 0 || len(recipients) > MaxRecipients {
		return nil, fmt.Errorf("need 1 to %d recipients, got %d", MaxRecipients, len(recipients))
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, fmt.Errorf("plaintext of %d bytes is larger than the maximum of %d", len(plaintext), MaxPlaintextSize)
	}
	var k, e [32]byte
	if _, err := io.ReadFull(rnd, k[:]); err != nil {
		return nil, fmt.Errorf("failed to generate content key: %w", err)
	}
	if _, err := io.ReadFull(rnd, e[:]); err != nil {
		return nil, fmt.Errorf("failed to generate ephemeral key: %w", err)
	}
	var ephPub [32]byte
	pub, _, err := box.GenerateKey(bytes.NewReader(e[:]))
	if err != nil {
		return nil, fmt.Errorf("failed to derive ephemeral key: %w", err)
	}
	ephPub = *pub

	bucket := BucketSize(len(plaintext))
	hd := make([]byte, 0, headerSize(len(studyID), len(recipients))+secretbox.Overhead+bucket)
	hd = append(hd, Label...)
	hd = append(hd, byte(len(studyID)))
	hd = append(hd, studyID...)
	hd = append(hd, ephPub[:]...)
	c := commitment(studyID, &k)
	hd = append(hd, c[:]...)
	hd = append(hd, byte(len(recipients)))
	for i, r := range recipients {
		n := slotNonce(i)
		hd = box.Seal(hd, k[:], &n, &r.key, &e)
	}
	bk := bodyKey(hd, &k)
	q := make([]byte, bucket)
	binary.BigEndian.PutUint32(q, uint32(len(plaintext)))
	copy(q[4:], plaintext)
	var zero [24]byte
	return secretbox.Seal(hd, q, &zero, &bk), nil
}

// header is a parsed envelope header.
type header struct {
	studyID string
	ephPub  [32]byte
	commit  [32]byte
	slots   [][]byte
	raw     []byte // the header bytes, for the body key
	body    []byte
}

// parse checks everything about env that can be checked without a key.
func parse(env []byte) (*header, error) {
	rest := env
	if len(rest) < len(Label) || string(rest[:len(Label)]) != Label {
		return nil, fmt.Errorf("%w: missing %q label", ErrMalformed, Label[:len(Label)-1])
	}
	rest = rest[len(Label):]
	if len(rest) < 1 {
		return nil, fmt.Errorf("%w: truncated before study id", ErrMalformed)
	}
	sl := int(rest[0])
	rest = rest[1:]
	if len(rest) < sl {
		return nil, fmt.Errorf("%w: truncated in study id", ErrMalformed)
	}
	h := &header{studyID: string(rest[:sl])}
	if err := CheckStudyID(h.studyID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	rest = rest[sl:]
	if len(rest) < 32+32+1 {
		return nil, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	copy(h.ephPub[:], rest[:32])
	copy(h.commit[:], rest[32:64])
	n := int(rest[64])
	rest = rest[65:]
	if n < 1 || n > MaxRecipients {
		return nil, fmt.Errorf("%w: %d recipients, want 1 to %d", ErrMalformed, n, MaxRecipients)
	}
	if len(rest) < n*wrappedKeySize {
		return nil, fmt.Errorf("%w: truncated in key slots", ErrMalformed)
	}
	for i := 0; i < n; i++ {
		h.slots = append(h.slots, rest[i*wrappedKeySize:(i+1)*wrappedKeySize])
	}
	rest = rest[n*wrappedKeySize:]
	h.raw = env[:len(env)-len(rest)]
	h.body = rest
	size := len(rest) - secretbox.Overhead
	if size < MinBucket || size > MaxBucket || size&(size-1) != 0 {
		return nil, fmt.Errorf("%w: body of %d bytes is not a padding bucket (truncated or extended?)", ErrMalformed, len(rest))
	}
	return h, nil
}

// Check reports whether env is a well-formed envelope for studyID of at most
// maxSize bytes. It needs no key and cannot tell whether the ciphertext is
// authentic: only a recipient can, with Open.
func Check(studyID string, env []byte, maxSize int) error {
	if len(env) > maxSize {
		return fmt.Errorf("%w: %d bytes is larger than the limit of %d", ErrMalformed, len(env), maxSize)
	}
	h, err := parse(env)
	if err != nil {
		return err
	}
	if h.studyID != studyID {
		return ErrWrongStudy
	}
	return nil
}

// StudyID returns the study an envelope claims to be sealed for, checking
// only its structure.
func StudyID(env []byte) (string, error) {
	h, err := parse(env)
	if err != nil {
		return "", err
	}
	return h.studyID, nil
}

// Open opens an envelope sealed for studyID with the identity.
func Open(studyID string, env []byte, id *Identity) ([]byte, error) {
	h, err := parse(env)
	if err != nil {
		return nil, err
	}
	if h.studyID != studyID {
		return nil, ErrWrongStudy
	}
	var shared [32]byte
	box.Precompute(&shared, &h.ephPub, &id.secret)
	var k []byte
	for i, slot := range h.slots {
		n := slotNonce(i)
		if out, ok := box.OpenAfterPrecomputation(nil, slot, &n, &shared); ok {
			k = out
			break
		}
	}
	if k == nil {
		return nil, ErrNoIdentity
	}
	var key [32]byte
	copy(key[:], k)
	c := commitment(studyID, &key)
	if subtle.ConstantTimeCompare(c[:], h.commit[:]) != 1 {
		return nil, fmt.Errorf("%w: key commitment does not match", ErrDamaged)
	}
	bk := bodyKey(h.raw, &key)
	var zero [24]byte
	q, ok := secretbox.Open(nil, h.body, &zero, &bk)
	if !ok {
		return nil, ErrDamaged
	}
	l := int(binary.BigEndian.Uint32(q))
	if l > len(q)-4 {
		return nil, fmt.Errorf("%w: plaintext length %d exceeds its bucket", ErrMalformed, l)
	}
	if BucketSize(l) != len(q) {
		return nil, fmt.Errorf("%w: padding is not the smallest bucket", ErrMalformed)
	}
	for _, b := range q[4+l:] {
		if b != 0 {
			return nil, fmt.Errorf("%w: padding is not zero", ErrMalformed)
		}
	}
	return q[4 : 4+l], nil
}

// BucketSize returns the padded size of a plaintext of n bytes: the
// smallest bucket that holds it and its four-byte length prefix. The
// envelope is this many bytes, plus 16, plus its header.
func BucketSize(n int) int {
	b := MinBucket
	for b < n+4 {
		b <<= 1
	}
	return b
}

// Size returns the size in bytes of the envelope that Seal produces for a
// plaintext of n bytes, a study id of idLen bytes and r recipients.
func Size(n, idLen, r int) int {
	return headerSize(idLen, r) + secretbox.Overhead + BucketSize(n)
}

func headerSize(idLen, r int) int {
	return len(Label) + 1 + idLen + 32 + 32 + 1 + r*wrappedKeySize
}

func slotNonce(i int) [24]byte {
	var n [24]byte
	n[23] = byte(i)
	return n
}

func commitment(studyID string, k *[32]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte("testimony-envelope-v1 commitment\x00"))
	h.Write([]byte{byte(len(studyID))})
	h.Write([]byte(studyID))
	h.Write(k[:])
	var c [32]byte
	copy(c[:], h.Sum(nil))
	return c
}

func bodyKey(hd []byte, k *[32]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte("testimony-envelope-v1 body\x00"))
	h.Write(hd)
	h.Write(k[:])
	var b [32]byte
	copy(b[:], h.Sum(nil))
	return b
}

// CheckStudyID reports whether id is a valid study id: 3 to 64 bytes of
// 'a'-'z', '0'-'9' and '-'. Every part of testimony that names a study
// (study files, envelopes, batches) uses this rule.
func CheckStudyID(id string) error {
	if len(id) < minStudyID || len(id) > maxStudyID {
		return fmt.Errorf("study id %q must be %d to %d characters", id, minStudyID, maxStudyID)
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("study id %q may only contain a-z, 0-9 and '-'", id)
		}
	}
	return nil
}
