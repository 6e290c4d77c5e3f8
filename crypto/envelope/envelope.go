// Package envelope implements the testimony envelope: answers sealed once to
// every researcher of a study, so that only those researchers can read them,
// and all of them read the same answers or none does.
//
// Use [Seal] to seal answers, [Open] to open them with a researcher's
// [Identity], [OpenWithKey] to open them with a content key another
// researcher handed over, and [Check] on the server to check, without any
// key, that bytes received from a browser are a well-formed envelope for the
// study, sealed to a list of researchers the study accepts. Researchers'
// public keys are [Recipient] values, written as "testimony-pub-" strings;
// [ParseRecipient] reads them.
//
// # Format, version 2
//
// This is the specification the browser implementation follows byte for
// byte. H(x) is SHA-512 (NaCl's crypto_hash, present in every NaCl
// library), x[a:b] are the bytes a to b-1 of x, "||" is concatenation, u8
// and u32be are unsigned integers of one byte and of four bytes big-endian.
// crypto_box and crypto_secretbox are NaCl's (X25519, XSalsa20, Poly1305),
// with their usual 16-byte authenticator placed before the ciphertext.
// X25519(a, P) is the Diffie-Hellman function; X25519(a, 9) is a's public
// key, as crypto_box keypair makes it.
//
// Inputs: the study id S (3 to 64 bytes of 'a'-'z', '0'-'9' and '-'), the
// plaintext P (at most [MaxPlaintextSize] bytes) and the X25519 public keys
// R_1 … R_n of n recipients (1 ≤ n ≤ 16, pairwise distinct, in the order
// the study lists them; see [Recipient]).
//
//  1. Draw from a CSPRNG a content key K (32 bytes). It is the only
//     randomness: everything else is computed from it.
//  2. Ephemeral key: e = H("testimony-envelope-v2 ephemeral" || 0x00 ||
//     K)[0:32] and E = X25519(e, 9).
//  3. Commitment: C = H("testimony-envelope-v2 commitment" || 0x00 ||
//     u8(len S) || S || K)[0:32].
//  4. For i = 1 … n: W_i = crypto_box(K, N_i, R_i, e), where the nonce N_i
//     is 23 zero bytes followed by u8(i-1). Each W_i is 48 bytes.
//  5. Header: Hd = "testimony-envelope-v2\n" (22 bytes) || u8(len S) || S ||
//     E || C || u8(n) || R_1 || W_1 || … || R_n || W_n: each recipient's key
//     right before its slot.
//  6. Padding: Q = u32be(len P) || P || zero bytes, where len Q is the
//     smallest bucket that holds 4 + len P. The buckets are 1 KiB × 2^k for
//     k = 0 … 12: 1 KiB, 2 KiB, 4 KiB, … 4 MiB. The size of an envelope thus
//     reveals the study, the number of recipients and the bucket, nothing
//     finer.
//  7. Body key: B = H("testimony-envelope-v2 body" || 0x00 || Hd || K)[0:32].
//  8. Body: crypto_secretbox(Q, 24 zero bytes, B). The all-zero nonce is
//     safe because B is used exactly once: it depends on the fresh K.
//  9. The envelope is Hd || body.
//
// Deriving e from K costs nothing in secrecy (e is as secret and as fresh
// as K) and lets every recipient recompute every slot.
//
// Structure. An envelope is well-formed when it has the label, a valid
// study id, 1 ≤ n ≤ 16, keys R_i that are pairwise distinct canonical
// encodings (below 2^255-19, top bit clear) of points not of small order
// (not 0, 1, 2^255-20 or one of the two points of order 8), and a body of
// 16 bytes plus a bucket: not a byte more or less. [Check] tests this, that
// S is the study's and that R_1 … R_n, in this order, is a list of keys the
// study accepts; it needs no key, so it cannot tell whether the ciphertext
// is authentic.
//
// Opening. A recipient with secret key r and public key R = X25519(r, 9)
// opens an envelope as study S' with these steps, in this order, stopping
// at the first that fails, with the error named:
//
//  1. The envelope is well-formed ([ErrMalformed]) and S = S'
//     ([ErrWrongStudy]).
//  2. R is one of the R_i ([ErrNotRecipient]).
//  3. K = crypto_box_open(W_i, N_i, E, r) ([ErrInconsistent]).
//  4. Every slot is sealed alike: with e = H("testimony-envelope-v2
//     ephemeral" || 0x00 || K)[0:32], X25519(e, 9) = E and W_j =
//     crypto_box(K, N_j, R_j, e) for every j ≠ i ([ErrInconsistent]).
//  5. C = H("testimony-envelope-v2 commitment" || 0x00 || u8(len S) || S
//     || K)[0:32], compared in constant time ([ErrDamaged]).
//  6. B from the header received (so any change to the header makes the
//     body fail), and crypto_secretbox_open of the body ([ErrDamaged]).
//  7. Canonical padding: u32be(len P) ≤ len Q - 4, Q is the smallest
//     bucket that holds 4 + len P, and every padding byte is zero
//     ([ErrMalformed]).
//
// The result is P and K. Opening with a content key K handed over by
// another researcher ([OpenWithKey]) is steps 1, 4 for every j, 5, 6 and 7.
//
// # All researchers or none
//
// For a given envelope and study, every recipient the header lists gets
// the same result from [Open]: the same plaintext and content key, or an
// error of the same class. Proof sketch: steps 1 and 2 depend only on the
// bytes and S', and every listed recipient finds its key. Suppose one listed
// recipient passes step 4 with a key K. Then E = X25519(e, 9) and W_j =
// crypto_box(K, N_j, R_j, e) for every j, with e derived from K. For any
// other listed recipient j, X25519(r_j, E) = X25519(e, R_j), so step 3 opens
// W_j to exactly K, and step 4 checks the same equations, which hold.
// Conversely, if one listed recipient fails step 3 or 4, no listed
// recipient passes step 4 (by the argument above, it would then have
// passed). Steps 5 to 7 are functions of S', the bytes and K alone. The same
// holds for [OpenWithKey] with the right K, which passes step 4 exactly
// when every listed recipient's step 3 yields K. Step 4 comes before the
// commitment so that the error class, too, is the same for all.
//
// What this does not cover: a researcher the header leaves out cannot open
// the envelope at all ([ErrNotRecipient]). [Check] refuses a key list that
// is not one of the study's; the server runs it on every envelope before
// storing it, and a researcher's tools should run it too before opening,
// so that such an envelope is refused by everyone. And a submitter can seal
// nonsense consistently: every researcher then reads the same nonsense and
// quarantines it alike.
//
// Binding to the study: S is in C and in the header B covers, and opening
// first compares S with the study the researcher expects, so an envelope
// from one study fails to open as another.
//
// # Keys, version 2
//
// A researcher's identity is a 32-byte secret s. Its X25519 secret key is s
// and its public key X = X25519(s, 9): envelopes are sealed to X. Its
// Ed25519 seed is H("testimony-signing-key" || 0x00 || s)[0:32], with the
// public key Ed: notes the researcher signs (golang.org/x/mod/sumdb/note,
// key name "testimony-researcher-" followed by the fingerprint without
// dashes) are verified with Ed ([Identity.Signer], [Recipient.Verifier]).
//
// The public key string is "testimony-pub-" followed by the base32 of X ||
// Ed || H("testimony-pub" || X || Ed)[0:4] (RFC 4648 alphabet in lowercase,
// no padding, the last character's unused bit zero): 109 characters after
// the prefix. The fingerprint, for two people to compare by voice, is
// H("testimony-fingerprint" || X || Ed)[0:10] in uppercase hex, as five
// groups of four. [ParseRecipient] refuses a string whose checksum fails, an
// X or Ed that is not the canonical encoding of a point of large order, and
// the 36-byte payload of version 1 (X and a checksum), with
// [ErrOldPublicKey].
package envelope

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"github.com/testimony-project/testimony/crypto/internal/keycheck"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/salsa20/salsa"
)

// Label starts every version 2 envelope.
const Label = "testimony-envelope-v2\n"

// Limits of the format.
const (
	MaxRecipients    = 16
	MinBucket        = 1 << 10
	MaxBucket        = 4 << 20
	MaxPlaintextSize = MaxBucket - 4
	slotSize         = 32 + box.Overhead // W_i
	entrySize        = 32 + slotSize     // R_i || W_i
	minStudyID       = 3
	maxStudyID       = 64
)

var (
	// ErrWrongStudy is returned when an envelope was sealed for another
	// study.
	ErrWrongStudy = errors.New("envelope was sealed for another study")
	// ErrNotRecipient is returned by Open when the envelope's header does
	// not list the identity's key.
	ErrNotRecipient = errors.New("envelope is not sealed to this key")
	// ErrInconsistent is returned when the envelope's key slots do not all
	// hold the same content key, sealed as the format says: a hand-made
	// envelope that some researchers could read and others not. Every
	// recipient gets this error for such an envelope.
	ErrInconsistent = errors.New("envelope is not sealed alike to every recipient")
	// ErrWrongRecipients is returned by Check when the envelope's key list
	// is not one the study accepts.
	ErrWrongRecipients = errors.New("envelope is not sealed to the study's researchers")
	// ErrMalformed wraps every error about an envelope's structure.
	ErrMalformed = errors.New("malformed envelope")
	// ErrDamaged is returned when an envelope is well-formed and sealed
	// alike to every recipient but fails authentication: its commitment,
	// header or body was changed after sealing.
	ErrDamaged = errors.New("envelope failed authentication: it was damaged or tampered with")
)

// Opened is an opened envelope.
type Opened struct {
	// Plaintext is the sealed plaintext.
	Plaintext []byte
	// Key is the content key K: the same for every recipient, unknown to
	// whoever stores the envelope, and independent of the plaintext. Keep
	// it as secret as the plaintext: it opens the envelope.
	Key [32]byte
}

// Seal seals plaintext for the study to every recipient, in the order
// given, which must be the study's.
func Seal(studyID string, plaintext []byte, recipients []*Recipient) ([]byte, error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("failed to generate content key: %w", err)
	}
	defer clear(k[:])
	return seal(&k, studyID, plaintext, recipients)
}

func seal(k *[32]byte, studyID string, plaintext []byte, recipients []*Recipient) ([]byte, error) {
	if err := CheckStudyID(studyID); err != nil {
		return nil, err
	}
	if len(recipients) == 0 || len(recipients) > MaxRecipients {
		return nil, fmt.Errorf("need 1 to %d recipients, got %d", MaxRecipients, len(recipients))
	}
	for i, r := range recipients {
		for _, o := range recipients[:i] {
			if o.x == r.x {
				return nil, fmt.Errorf("recipient %d is listed twice", i+1)
			}
		}
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, fmt.Errorf("plaintext of %d bytes is larger than the maximum of %d", len(plaintext), MaxPlaintextSize)
	}
	e := ephemeral(k)
	priv, err := ecdh.X25519().NewPrivateKey(e[:])
	clear(e[:]) // crypto/ecdh keeps a copy of its own, which cannot be cleared
	if err != nil {
		return nil, fmt.Errorf("failed to derive ephemeral key: %w", err)
	}
	eph := priv.PublicKey().Bytes()

	bucket := BucketSize(len(plaintext))
	env := make([]byte, 0, headerSize(len(studyID), len(recipients))+secretbox.Overhead+bucket)
	env = append(env, Label...)
	env = append(env, byte(len(studyID)))
	env = append(env, studyID...)
	env = append(env, eph[:]...)
	c := commitment(studyID, k)
	env = append(env, c[:]...)
	env = append(env, byte(len(recipients)))
	for i, r := range recipients {
		env = append(env, r.x[:]...)
		var sk [32]byte
		if err := sharedKey(&sk, priv, &r.x); err != nil {
			return nil, fmt.Errorf("recipient %d: %w", i+1, err)
		}
		n := slotNonce(i)
		env = box.SealAfterPrecomputation(env, k[:], &n, &sk)
		clear(sk[:])
	}
	bk := bodyKey(env, k)
	defer clear(bk[:])
	q := make([]byte, bucket)
	defer clear(q)
	binary.BigEndian.PutUint32(q, uint32(len(plaintext)))
	copy(q[4:], plaintext)
	var zero [24]byte
	return secretbox.Seal(env, q, &zero, &bk), nil
}

// header is a parsed envelope header.
type header struct {
	studyID string
	ephPub  [32]byte
	commit  [32]byte
	keys    [][32]byte
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
	if len(rest) < n*entrySize {
		return nil, fmt.Errorf("%w: truncated in key slots", ErrMalformed)
	}
	h.keys = make([][32]byte, n)
	h.slots = make([][]byte, n)
	for i := range n {
		entry := rest[i*entrySize : (i+1)*entrySize]
		copy(h.keys[i][:], entry[:32])
		if err := keycheck.X25519(&h.keys[i]); err != nil {
			return nil, fmt.Errorf("%w: recipient %d: %v", ErrMalformed, i+1, err)
		}
		for j := range i {
			if h.keys[j] == h.keys[i] {
				return nil, fmt.Errorf("%w: recipients %d and %d have the same key", ErrMalformed, j+1, i+1)
			}
		}
		h.slots[i] = entry[32:]
	}
	rest = rest[n*entrySize:]
	h.raw = env[:len(env)-len(rest)]
	h.body = rest
	size := len(rest) - secretbox.Overhead
	if size < MinBucket || size > MaxBucket || size&(size-1) != 0 {
		return nil, fmt.Errorf("%w: body of %d bytes is not a padding bucket (truncated or extended?)", ErrMalformed, len(rest))
	}
	return h, nil
}

// Check reports whether env is a well-formed envelope for studyID of at most
// maxSize bytes, whose header lists, in order, exactly the X25519 keys of
// one of the accepted lists of recipients ([ErrWrongRecipients] if not). It
// needs no key and cannot tell whether the ciphertext is authentic: only a
// recipient can, with Open.
func Check(studyID string, env []byte, maxSize int, accepted [][]*Recipient) error {
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
	for _, rs := range accepted {
		if len(rs) != len(h.keys) {
			continue
		}
		same := true
		for i, r := range rs {
			if r.x != h.keys[i] {
				same = false
				break
			}
		}
		if same {
			return nil
		}
	}
	return ErrWrongRecipients
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

// Recipients returns the X25519 keys an envelope's header lists, in slot
// order, checking only its structure. Compare them with
// [Recipient.X25519].
func Recipients(env []byte) ([][32]byte, error) {
	h, err := parse(env)
	if err != nil {
		return nil, err
	}
	return h.keys, nil
}

// Open opens an envelope sealed for studyID with the identity. Every
// recipient the envelope lists gets the same result: see the package
// documentation.
func Open(studyID string, env []byte, id *Identity) (*Opened, error) {
	h, err := parse(env)
	if err != nil {
		return nil, err
	}
	if h.studyID != studyID {
		return nil, ErrWrongStudy
	}
	own := -1
	for i := range h.keys {
		if h.keys[i] == id.pub.x {
			own = i
			break
		}
	}
	if own < 0 {
		return nil, ErrNotRecipient
	}
	eph, err := ecdh.X25519().NewPublicKey(h.ephPub[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInconsistent, err)
	}
	shared, err := id.x.ECDH(eph)
	if err != nil {
		return nil, fmt.Errorf("%w: own key slot does not open", ErrInconsistent)
	}
	var sk [32]byte
	hsalsa(&sk, shared)
	clear(shared)
	n := slotNonce(own)
	o := &Opened{}
	k, ok := box.OpenAfterPrecomputation(o.Key[:0], h.slots[own], &n, &sk)
	clear(sk[:])
	if !ok || len(k) != 32 {
		return nil, fmt.Errorf("%w: own key slot does not open", ErrInconsistent)
	}
	if err := openBody(h, o, own); err != nil {
		clear(o.Key[:])
		return nil, err
	}
	return o, nil
}

// OpenWithKey opens an envelope sealed for studyID with its content key, as
// [Opened.Key] gave it to a researcher who then handed it over. It checks
// everything Open checks, every key slot included, so it gives the
// plaintext every listed recipient gets, or the error they get.
func OpenWithKey(studyID string, env []byte, key [32]byte) (*Opened, error) {
	h, err := parse(env)
	if err != nil {
		return nil, err
	}
	if h.studyID != studyID {
		return nil, ErrWrongStudy
	}
	o := &Opened{Key: key}
	if err := openBody(h, o, -1); err != nil {
		clear(o.Key[:])
		return nil, err
	}
	return o, nil
}

// openBody runs the steps after the content key is known: every slot
// except skip (already opened to o.Key) is checked, then the commitment,
// the body and its padding.
func openBody(h *header, o *Opened, skip int) error {
	k := &o.Key
	e := ephemeral(k)
	var priv *ecdh.PrivateKey
	var eph [32]byte
	if len(h.keys) == 1 && skip == 0 {
		// Nothing to seal with e: compute E alone, on the Edwards form of
		// the curve with a precomputed table for the base point (18 µs
		// against 44 for the Montgomery ladder that crypto/ecdh runs).
		eph = ephemeralPublic(&e)
	} else {
		var err error
		if priv, err = ecdh.X25519().NewPrivateKey(e[:]); err != nil {
			clear(e[:])
			return fmt.Errorf("failed to derive ephemeral key: %w", err)
		}
		copy(eph[:], priv.PublicKey().Bytes())
	}
	clear(e[:])
	if subtle.ConstantTimeCompare(eph[:], h.ephPub[:]) != 1 {
		return fmt.Errorf("%w: the ephemeral key is not derived from the content key", ErrInconsistent)
	}
	var sk [32]byte
	defer clear(sk[:])
	var w [slotSize]byte
	for j := range h.keys {
		if j == skip {
			continue
		}
		if err := sharedKey(&sk, priv, &h.keys[j]); err != nil {
			return fmt.Errorf("%w: key slot %d: %v", ErrInconsistent, j+1, err)
		}
		n := slotNonce(j)
		box.SealAfterPrecomputation(w[:0], k[:], &n, &sk)
		if subtle.ConstantTimeCompare(w[:], h.slots[j]) != 1 {
			return fmt.Errorf("%w: key slot %d differs", ErrInconsistent, j+1)
		}
	}
	c := commitment(h.studyID, k)
	if subtle.ConstantTimeCompare(c[:], h.commit[:]) != 1 {
		return fmt.Errorf("%w: key commitment does not match", ErrDamaged)
	}
	bk := bodyKey(h.raw, k)
	defer clear(bk[:])
	var zero [24]byte
	q, ok := secretbox.Open(nil, h.body, &zero, &bk)
	if !ok {
		return ErrDamaged
	}
	l := int(binary.BigEndian.Uint32(q))
	if l > len(q)-4 {
		clear(q)
		return fmt.Errorf("%w: plaintext length %d exceeds its bucket", ErrMalformed, l)
	}
	if BucketSize(l) != len(q) {
		clear(q)
		return fmt.Errorf("%w: padding is not the smallest bucket", ErrMalformed)
	}
	for _, b := range q[4+l:] {
		if b != 0 {
			clear(q)
			return fmt.Errorf("%w: padding is not zero", ErrMalformed)
		}
	}
	o.Plaintext = q[4 : 4+l : 4+l]
	return nil
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
	return len(Label) + 1 + idLen + 32 + 32 + 1 + r*entrySize
}

func slotNonce(i int) [24]byte {
	var n [24]byte
	n[23] = byte(i)
	return n
}

// ephemeral returns e = H("testimony-envelope-v2 ephemeral" || 0x00 ||
// k)[0:32].
func ephemeral(k *[32]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte("testimony-envelope-v2 ephemeral\x00"))
	h.Write(k[:])
	var sum [64]byte
	h.Sum(sum[:0])
	var e [32]byte
	copy(e[:], sum[:32])
	clear(sum[:])
	return e
}

// ephemeralPublic returns X25519(e, 9), computed as the Montgomery
// u-coordinate of [clamp(e)]B on the Edwards form of the curve.
func ephemeralPublic(e *[32]byte) [32]byte {
	s, err := edwards25519.NewScalar().SetBytesWithClamping(e[:])
	if err != nil {
		panic("envelope: " + err.Error()) // only for a length other than 32
	}
	var eph [32]byte
	copy(eph[:], new(edwards25519.Point).ScalarBaseMult(s).BytesMontgomery())
	s.Set(edwards25519.NewScalar())
	return eph
}

// sharedKey sets sk to crypto_box's precomputed key for the secret key
// priv and the public key r: HSalsa20 of X25519(priv, r).
func sharedKey(sk *[32]byte, priv *ecdh.PrivateKey, r *[32]byte) error {
	pub, err := ecdh.X25519().NewPublicKey(r[:])
	if err != nil {
		return err
	}
	shared, err := priv.ECDH(pub)
	if err != nil {
		return err
	}
	hsalsa(sk, shared)
	clear(shared)
	return nil
}

func hsalsa(sk *[32]byte, shared []byte) {
	var zeros [16]byte
	copy(sk[:], shared)
	salsa.HSalsa20(sk, &zeros, sk, &salsa.Sigma)
}

func commitment(studyID string, k *[32]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte("testimony-envelope-v2 commitment\x00"))
	h.Write([]byte{byte(len(studyID))})
	h.Write([]byte(studyID))
	h.Write(k[:])
	var c [32]byte
	copy(c[:], h.Sum(nil))
	return c
}

func bodyKey(hd []byte, k *[32]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte("testimony-envelope-v2 body\x00"))
	h.Write(hd)
	h.Write(k[:])
	var sum [64]byte
	h.Sum(sum[:0])
	var b [32]byte
	copy(b[:], sum[:32])
	clear(sum[:])
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
