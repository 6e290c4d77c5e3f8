package envelope

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/testimony-project/testimony/crypto/internal/keycheck"
	"golang.org/x/mod/sumdb/note"
)

// RecipientPrefix starts every public key string.
const RecipientPrefix = "testimony-pub-"

// NoteKeyPrefix starts the name of every researcher's signing key in a
// signed note: "testimony-researcher-" followed by the key's fingerprint
// without dashes.
const NoteKeyPrefix = "testimony-researcher-"

// ErrOldPublicKey is returned by [ParseRecipient] for a public key string in
// the format of version 1, which had no signing key.
var ErrOldPublicKey = errors.New("this public key is in the old format; print the current one with `researcher pubkey --key FILE`")

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// A Recipient is a researcher's public key: envelopes sealed to it can be
// opened with the matching [Identity], and notes it verifies were signed
// with that identity.
type Recipient struct {
	x  [32]byte // X25519: envelopes are sealed to it
	ed [32]byte // Ed25519: signed notes are checked with it
}

// An Identity is a researcher's private key. It never leaves the
// researcher's offline machine.
type Identity struct {
	secret [32]byte
	x      *ecdh.PrivateKey // made once: Open does one scalar multiplication for its slot
	ed     ed25519.PrivateKey
	pub    Recipient
}

// GenerateIdentity returns a new random identity.
func GenerateIdentity() (*Identity, error) {
	var s [32]byte
	if _, err := rand.Read(s[:]); err != nil {
		return nil, fmt.Errorf("failed to generate key: %w", err)
	}
	defer clear(s[:])
	return NewIdentity(s[:])
}

// NewIdentity returns the identity with the given 32-byte secret s: its
// X25519 secret key is s, its Ed25519 seed is H("testimony-signing-key" ||
// 0x00 || s)[0:32].
func NewIdentity(secret []byte) (*Identity, error) {
	if len(secret) != 32 {
		return nil, fmt.Errorf("secret key is %d bytes, want 32", len(secret))
	}
	id := &Identity{}
	copy(id.secret[:], secret)
	x, err := ecdh.X25519().NewPrivateKey(id.secret[:])
	if err != nil {
		return nil, fmt.Errorf("invalid secret key: %w", err)
	}
	id.x = x
	copy(id.pub.x[:], x.PublicKey().Bytes())
	h := sha512.New()
	h.Write([]byte("testimony-signing-key\x00"))
	h.Write(id.secret[:])
	sum := h.Sum(nil)
	id.ed = ed25519.NewKeyFromSeed(sum[:32])
	clear(sum)
	copy(id.pub.ed[:], id.ed.Public().(ed25519.PublicKey))
	return id, nil
}

// Bytes returns the identity's 32-byte secret. Handle with care.
func (i *Identity) Bytes() []byte { return append([]byte(nil), i.secret[:]...) }

// Recipient returns the public key of the identity.
func (i *Identity) Recipient() *Recipient { r := i.pub; return &r }

// Signer returns a signer of notes (golang.org/x/mod/sumdb/note) with the
// identity's Ed25519 key, named [NoteKeyPrefix] + fingerprint. The
// recipient's [Recipient.Verifier] checks what it signs.
func (i *Identity) Signer() note.Signer {
	return &signer{name: i.pub.noteName(), hash: i.pub.keyHash(), key: i.ed}
}

type signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s *signer) Name() string                    { return s.name }
func (s *signer) KeyHash() uint32                 { return s.hash }
func (s *signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// Verifier returns a verifier of notes signed by the identity's
// [Identity.Signer].
func (r *Recipient) Verifier() note.Verifier {
	return &verifier{name: r.noteName(), hash: r.keyHash(), key: ed25519.PublicKey(r.ed[:])}
}

type verifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *verifier) Name() string                { return v.name }
func (v *verifier) KeyHash() uint32             { return v.hash }
func (v *verifier) Verify(msg, sig []byte) bool { return ed25519.Verify(v.key, msg, sig) }

// noteName is the key's name in signed notes.
func (r *Recipient) noteName() string { return NoteKeyName(r.Fingerprint()) }

// NoteKeyName returns the name, in signed notes, of the signing key of the
// researcher whose fingerprint is fingerprint (as [Recipient.Fingerprint]
// prints it): [NoteKeyPrefix] and the fingerprint without its dashes.
func NoteKeyName(fingerprint string) string {
	return NoteKeyPrefix + strings.ReplaceAll(fingerprint, "-", "")
}

// keyHash is the note format's key hash: the first four bytes, big-endian,
// of SHA-256(name || "\n" || 0x01 || Ed), 0x01 naming Ed25519.
func (r *Recipient) keyHash() uint32 {
	h := sha256.New()
	h.Write([]byte(r.noteName() + "\n"))
	h.Write([]byte{1})
	h.Write(r.ed[:])
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// X25519 returns the recipient's 32-byte X25519 public key: the key an
// envelope's header lists (see [Recipients]).
func (r *Recipient) X25519() [32]byte { return r.x }

// String encodes the key as "testimony-pub-" followed by the lowercase
// unpadded base32 of X || Ed || H("testimony-pub" || X || Ed)[0:4]: the
// 32-byte X25519 key, the 32-byte Ed25519 key and a checksum, 109
// characters.
func (r *Recipient) String() string {
	c := r.checksum()
	b := make([]byte, 0, 68)
	b = append(b, r.x[:]...)
	b = append(b, r.ed[:]...)
	return RecipientPrefix + b32.EncodeToString(append(b, c[:]...))
}

// Equal reports whether r and o are the same key.
func (r *Recipient) Equal(o *Recipient) bool { return r.x == o.x && r.ed == o.ed }

// Fingerprint returns a short form of the key that two people can read to
// each other to check they hold the same key: 80 bits of
// H("testimony-fingerprint" || X || Ed), as five groups of four uppercase
// hex digits.
func (r *Recipient) Fingerprint() string {
	h := sha512.New()
	h.Write([]byte("testimony-fingerprint"))
	h.Write(r.x[:])
	h.Write(r.ed[:])
	s := fmt.Sprintf("%X", h.Sum(nil)[:10])
	var groups []string
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:i+4])
	}
	return strings.Join(groups, "-")
}

// IsFingerprint reports whether s has the form of a fingerprint
// [Recipient.Fingerprint] writes: five groups of four uppercase hex digits
// joined by '-'. Files that name a researcher by fingerprint check it with
// this before looking the key up.
func IsFingerprint(s string) bool {
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

// ParseRecipient parses a public key string made by [Recipient.String]. It
// refuses a changed character (checksum), an X25519 key that is not the
// canonical encoding of a point of large order, an Ed25519 key that is not
// the canonical encoding of a point of large order, and a key in the old
// format ([ErrOldPublicKey]).
func ParseRecipient(s string) (*Recipient, error) {
	rest, ok := strings.CutPrefix(s, RecipientPrefix)
	if !ok {
		return nil, fmt.Errorf("malformed public key %q: it must start with %q", s, RecipientPrefix)
	}
	b, err := b32.DecodeString(rest)
	if err == nil && len(b) == 36 {
		return nil, fmt.Errorf("public key %q: %w", s, ErrOldPublicKey)
	}
	if err != nil || len(b) != 68 || b32.EncodeToString(b) != rest {
		return nil, fmt.Errorf("malformed public key %q: copy it again exactly as `researcher pubkey` printed it", s)
	}
	r := &Recipient{}
	copy(r.x[:], b[:32])
	copy(r.ed[:], b[32:64])
	c := r.checksum()
	if subtle.ConstantTimeCompare(c[:], b[64:]) != 1 {
		return nil, fmt.Errorf("malformed public key %q: checksum mismatch, a character was changed", s)
	}
	if err := keycheck.X25519(&r.x); err != nil {
		return nil, fmt.Errorf("malformed public key %q: %v", s, err)
	}
	if err := keycheck.Ed25519(&r.ed); err != nil {
		return nil, fmt.Errorf("malformed public key %q: %v", s, err)
	}
	return r, nil
}

func (r *Recipient) checksum() [4]byte {
	h := sha512.New()
	h.Write([]byte("testimony-pub"))
	h.Write(r.x[:])
	h.Write(r.ed[:])
	var c [4]byte
	copy(c[:], h.Sum(nil))
	return c
}
