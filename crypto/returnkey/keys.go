package returnkey

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/internal/keycheck"
	"golang.org/x/crypto/argon2"
)

// Parameters of the KDF, Argon2id. They are part of the format: changing
// them changes every person's keys.
const (
	// KDFTime is Argon2id's number of passes, t.
	KDFTime = 3
	// KDFMemory is Argon2id's memory, m, in KiB: 64 MiB.
	KDFMemory = 64 * 1024
	// KDFThreads is Argon2id's number of lanes, p.
	KDFThreads = 1
	// SeedSize is the size of the seed, in bytes.
	SeedSize = 32
	// TagSize is the size of a reply tag, in bytes.
	TagSize = 16
	// MaxReplies is the number of replies one researcher may send one
	// person: the tags tag(0, R) … tag(MaxReplies-1, R).
	MaxReplies = 256
	// AddressPrefix starts an address's text form.
	AddressPrefix = "testimony-return-"
	// saltLabel starts the KDF's salt.
	saltLabel = "testimony-return-v1\x00"
)

// Salt returns the KDF's salt for the study: "testimony-return-v1" || 0x00
// || studyID.
func Salt(studyID string) []byte { return []byte(saltLabel + studyID) }

// Seed runs the KDF: Argon2id of the passphrase's secret with the study's
// salt. It takes about 0.3 s and 64 MiB.
func Seed(p *Passphrase, studyID string) ([SeedSize]byte, error) {
	var seed [SeedSize]byte
	if err := envelope.CheckStudyID(studyID); err != nil {
		return seed, err
	}
	k := argon2.IDKey(p.secret[:], Salt(studyID), KDFTime, KDFMemory, KDFThreads, SeedSize)
	copy(seed[:], k)
	clear(k)
	return seed, nil
}

// Derive runs the KDF ([Seed]) and returns the keys of the passphrase for
// the study.
func Derive(p *Passphrase, studyID string) (*Keys, error) {
	seed, err := Seed(p, studyID)
	if err != nil {
		return nil, err
	}
	defer clear(seed[:])
	return NewKeys(seed), nil
}

// Keys are a person's return keys, derived from the seed.
type Keys struct {
	x    *ecdh.PrivateKey
	ed   ed25519.PrivateKey
	addr Address // with the tag key, held only there
}

// NewKeys returns the keys of a seed (see the package documentation).
func NewKeys(seed [SeedSize]byte) *Keys {
	k := &Keys{}
	xs := derive("testimony-return-x25519", &seed)
	x, err := ecdh.X25519().NewPrivateKey(xs[:])
	clear(xs[:])
	if err != nil {
		panic("returnkey: " + err.Error()) // only for a length other than 32
	}
	k.x = x
	d := derive("testimony-return-ed25519", &seed)
	k.ed = ed25519.NewKeyFromSeed(d[:])
	clear(d[:])
	k.addr.tagKey = derive("testimony-return-tag", &seed)
	copy(k.addr.x[:], x.PublicKey().Bytes())
	copy(k.addr.ed[:], k.ed.Public().(ed25519.PublicKey))
	return k
}

func derive(label string, seed *[SeedSize]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(seed[:])
	var sum [64]byte
	h.Sum(sum[:0])
	var out [32]byte
	copy(out[:], sum[:32])
	clear(sum[:])
	return out
}

// Address returns the public part of the keys, which the first submission
// carries to the researchers.
func (k *Keys) Address() *Address { a := k.addr; return &a }

// X25519 returns the X25519 public key X.
func (k *Keys) X25519() [32]byte { return k.addr.x }

// Tag returns tag(i, researcher): the tag of the i-th reply by the
// researcher.
func (k *Keys) Tag(i uint32, researcher *envelope.Recipient) [TagSize]byte {
	return tag(&k.addr.tagKey, researcher.Fingerprint(), i)
}

// Tags returns tag(0, researcher) … tag(n-1, researcher).
func (k *Keys) Tags(researcher *envelope.Recipient, n int) [][TagSize]byte {
	fp := researcher.Fingerprint()
	ts := make([][TagSize]byte, n)
	for i := range ts {
		ts[i] = tag(&k.addr.tagKey, fp, uint32(i))
	}
	return ts
}

// ECDH returns X25519(x, peer), x the keys' X25519 secret: for package
// reply, which opens reply records with it. It fails for a peer key of
// small order.
func (k *Keys) ECDH(peer [32]byte) ([32]byte, error) {
	var out [32]byte
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return out, err
	}
	s, err := k.x.ECDH(pub)
	if err != nil {
		return out, err
	}
	copy(out[:], s)
	clear(s)
	return out, nil
}

// Sign signs message with the Ed25519 key: the signature of
// "testimony-return-v1 signature" || 0x00 || message. [Address.Verify]
// checks it.
func (k *Keys) Sign(message []byte) []byte {
	return ed25519.Sign(k.ed, signed(message))
}

func signed(message []byte) []byte {
	return append([]byte("testimony-return-v1 signature\x00"), message...)
}

// Clear erases the Ed25519 key and the tag key. The X25519 key is held by
// crypto/ecdh, which cannot erase it: drop the Keys.
func (k *Keys) Clear() {
	clear(k.ed)
	clear(k.addr.tagKey[:])
}

// tag returns H("testimony-reply-tag" || 0x00 || tagKey || fingerprint ||
// u32be(i))[0:16].
func tag(tagKey *[32]byte, fingerprint string, i uint32) [TagSize]byte {
	var buf [len("testimony-reply-tag\x00") + 32 + 24 + 4]byte
	n := copy(buf[:], "testimony-reply-tag\x00")
	n += copy(buf[n:], tagKey[:])
	n += copy(buf[n:], fingerprint)
	binary.BigEndian.PutUint32(buf[n:], i)
	sum := sha512.Sum512(buf[:n+4])
	clear(buf[:])
	var t [TagSize]byte
	copy(t[:], sum[:TagSize])
	return t
}

// An Address is what researchers need to reply to a person: the X25519
// public key replies are sealed to, the tag key that names them, and the
// Ed25519 public key that checks the person's signatures. It travels only
// inside envelopes: the tag key finds the person's replies among all.
type Address struct {
	x, ed, tagKey [32]byte
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// X25519 returns the X25519 public key replies are sealed to.
func (a *Address) X25519() [32]byte { return a.x }

// Ed25519 returns the Ed25519 public key that checks the person's
// signatures. It names the person's thread.
func (a *Address) Ed25519() ed25519.PublicKey { return append(ed25519.PublicKey(nil), a.ed[:]...) }

// Tag returns tag(i, researcher) for this person.
func (a *Address) Tag(i uint32, researcher *envelope.Recipient) [TagSize]byte {
	return tag(&a.tagKey, researcher.Fingerprint(), i)
}

// Verify reports whether sig is the person's signature of message (see
// [Keys.Sign]).
func (a *Address) Verify(message, sig []byte) bool {
	return ed25519.Verify(a.ed[:], signed(message), sig)
}

// Equal reports whether a and o are the same address.
func (a *Address) Equal(o *Address) bool {
	return subtle.ConstantTimeCompare(a.x[:], o.x[:])&subtle.ConstantTimeCompare(a.ed[:], o.ed[:])&
		subtle.ConstantTimeCompare(a.tagKey[:], o.tagKey[:]) == 1
}

// String returns "testimony-return-" and the base32 of X || Ed || T.
func (a *Address) String() string {
	b := make([]byte, 0, 96)
	b = append(b, a.x[:]...)
	b = append(b, a.ed[:]...)
	b = append(b, a.tagKey[:]...)
	return AddressPrefix + b32.EncodeToString(b)
}

// MarshalText implements encoding.TextMarshaler.
func (a *Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseAddress].
func (a *Address) UnmarshalText(text []byte) error {
	p, err := ParseAddress(string(text))
	if err != nil {
		return err
	}
	*a = *p
	return nil
}

// ParseAddress reads an address written by [Address.String]. It refuses
// any other spelling, and keys that are not canonical encodings of points
// of large order. Its errors do not repeat the address, which holds the
// tag key.
func ParseAddress(s string) (*Address, error) {
	rest, ok := strings.CutPrefix(s, AddressPrefix)
	if !ok {
		return nil, fmt.Errorf("malformed return address: it must start with %q", AddressPrefix)
	}
	b, err := b32.DecodeString(rest)
	if err != nil || len(b) != 96 || b32.EncodeToString(b) != rest {
		return nil, errors.New("malformed return address: want 154 characters of a-z and 2-7 after the prefix")
	}
	a := &Address{}
	copy(a.x[:], b[:32])
	copy(a.ed[:], b[32:64])
	copy(a.tagKey[:], b[64:])
	clear(b)
	if err := keycheck.X25519(&a.x); err != nil {
		return nil, fmt.Errorf("malformed return address: %v", err)
	}
	if err := keycheck.Ed25519(&a.ed); err != nil {
		return nil, fmt.Errorf("malformed return address: %v", err)
	}
	return a, nil
}
