package envelope

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// RecipientPrefix starts every public key string.
const RecipientPrefix = "testimony-pub-"

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// A Recipient is a researcher's public key: envelopes sealed to it can be
// opened with the matching [Identity].
type Recipient struct {
	key [32]byte
}

// An Identity is a researcher's private key. It never leaves the
// researcher's offline machine.
type Identity struct {
	secret [32]byte
	pub    Recipient
}

// GenerateIdentity returns a new random identity.
func GenerateIdentity() (*Identity, error) {
	var s [32]byte
	if _, err := rand.Read(s[:]); err != nil {
		return nil, fmt.Errorf("failed to generate key: %w", err)
	}
	return NewIdentity(s[:])
}

// NewIdentity returns the identity with the given 32-byte X25519 secret key.
func NewIdentity(secret []byte) (*Identity, error) {
	if len(secret) != 32 {
		return nil, fmt.Errorf("secret key is %d bytes, want 32", len(secret))
	}
	id := &Identity{}
	copy(id.secret[:], secret)
	pub, err := curve25519.X25519(id.secret[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("invalid secret key: %w", err)
	}
	copy(id.pub.key[:], pub)
	return id, nil
}

// Bytes returns the identity's 32-byte secret key. Handle with care.
func (i *Identity) Bytes() []byte { return append([]byte(nil), i.secret[:]...) }

// Recipient returns the public key of the identity.
func (i *Identity) Recipient() *Recipient { r := i.pub; return &r }

// NewRecipient returns the recipient with the given 32-byte X25519 public
// key.
func NewRecipient(key []byte) (*Recipient, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("public key is %d bytes, want 32", len(key))
	}
	r := &Recipient{}
	copy(r.key[:], key)
	return r, nil
}

// Bytes returns the recipient's 32-byte X25519 public key.
func (r *Recipient) Bytes() []byte { return append([]byte(nil), r.key[:]...) }

// String encodes the key as "testimony-pub-" followed by the lowercase
// unpadded base32 of the 32-byte key and a 4-byte checksum,
// H("testimony-pub" || key)[0:4].
func (r *Recipient) String() string {
	c := checksum(&r.key)
	return RecipientPrefix + b32.EncodeToString(append(r.key[:], c[:]...))
}

// Equal reports whether r and o are the same key.
func (r *Recipient) Equal(o *Recipient) bool { return r.key == o.key }

// Fingerprint returns a short form of the key that two people can read to
// each other to check they hold the same key: 80 bits of
// H("testimony-fingerprint" || key), as five groups of four uppercase hex
// digits.
func (r *Recipient) Fingerprint() string {
	h := sha512.Sum512(append([]byte("testimony-fingerprint"), r.key[:]...))
	s := fmt.Sprintf("%X", h[:10])
	var groups []string
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:i+4])
	}
	return strings.Join(groups, "-")
}

// ParseRecipient parses a public key string made by [Recipient.String].
func ParseRecipient(s string) (*Recipient, error) {
	rest, ok := strings.CutPrefix(s, RecipientPrefix)
	if !ok {
		return nil, fmt.Errorf("malformed public key %q: it must start with %q", s, RecipientPrefix)
	}
	b, err := b32.DecodeString(rest)
	if err != nil || len(b) != 36 {
		return nil, fmt.Errorf("malformed public key %q: copy it again exactly as `researcher keygen` printed it", s)
	}
	r := &Recipient{}
	copy(r.key[:], b[:32])
	c := checksum(&r.key)
	if string(c[:]) != string(b[32:]) {
		return nil, fmt.Errorf("malformed public key %q: checksum mismatch, a character was changed", s)
	}
	if r.key == [32]byte{} {
		return nil, errors.New("malformed public key: all zeros")
	}
	return r, nil
}

func checksum(k *[32]byte) [4]byte {
	h := sha512.Sum512(append([]byte("testimony-pub"), k[:]...))
	var c [4]byte
	copy(c[:], h[:4])
	return c
}
