package backup

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"github.com/testimony-project/testimony/crypto/envelope"
)

// ScryptWorkFactor is the scrypt cost (log2 N, with r = 8, p = 1) of a
// backup sealed to a passphrase: 2^18, about a second and 256 MiB of memory
// for each guess, age's own default.
const ScryptWorkFactor = 18

// maxScryptWorkFactor is the largest cost a reader accepts: 2^22, about 4 GiB.
const maxScryptWorkFactor = 22

// X25519Recipient returns the age recipient of a researcher's key: its
// X25519 half, to which envelopes are sealed too. Whoever holds the
// researcher's private key opens the backup with [X25519Identity].
func X25519Recipient(r *envelope.Recipient) (age.Recipient, error) {
	x := r.X25519()
	if _, err := ecdh.X25519().NewPublicKey(x[:]); err != nil {
		return nil, fmt.Errorf("researcher key %s: %w", r.Fingerprint(), err)
	}
	return age.ParseX25519Recipient(bech32Encode("age", x[:]))
}

// Researchers returns the age recipients of the researchers' keys rs, one
// each.
func Researchers(rs []*envelope.Recipient) ([]age.Recipient, error) {
	if len(rs) == 0 {
		return nil, errors.New("no researcher keys to seal the backup to")
	}
	out := make([]age.Recipient, len(rs))
	for i, r := range rs {
		var err error
		if out[i], err = X25519Recipient(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// X25519Identity returns the age identity of a researcher's private key,
// which opens a backup sealed with [X25519Recipient] to its public key.
func X25519Identity(id *envelope.Identity) (age.Identity, error) {
	secret := id.Bytes()
	defer clear(secret)
	s := bech32Encode("age-secret-key-", secret)
	i, err := age.ParseX25519Identity(strings.ToUpper(s))
	if err != nil {
		return nil, fmt.Errorf("failed to use the researcher key for the backup: %w", err)
	}
	return i, nil
}

// Passphrase returns the age recipient that seals a backup to passphrase,
// at [ScryptWorkFactor]. age allows no other recipient beside it.
func Passphrase(passphrase []byte) (age.Recipient, error) {
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(ScryptWorkFactor)
	return r, nil
}

// PassphraseIdentity returns the age identity that opens a backup sealed to
// passphrase.
func PassphraseIdentity(passphrase []byte) (age.Identity, error) {
	i, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, err
	}
	i.SetMaxWorkFactor(maxScryptWorkFactor)
	return i, nil
}

// bech32Encode encodes data under the human-readable part hrp (lowercase)
// as BIP 173 does, with no length limit, as age's key strings are. It is
// only an encoding: age parses the result and checks its checksum, and the
// tests check it against age's own encoder (in filippo.io/age/plugin, which
// this package does not import so as not to link age's plugin runner).
func bech32Encode(hrp string, data []byte) string {
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	// 8-bit bytes to 5-bit groups, padded with zero bits.
	var groups []byte
	acc, bits := 0, 0
	for _, b := range data {
		acc = acc<<8 | int(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			groups = append(groups, byte(acc>>bits&31))
		}
	}
	if bits > 0 {
		groups = append(groups, byte(acc<<(5-bits)&31))
	}
	values := make([]byte, 0, 2*len(hrp)+1+len(groups)+6)
	for _, c := range []byte(hrp) {
		values = append(values, c>>5)
	}
	values = append(values, 0)
	for _, c := range []byte(hrp) {
		values = append(values, c&31)
	}
	values = append(values, groups...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(values) ^ 1
	var b strings.Builder
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, g := range groups {
		b.WriteByte(charset[g])
	}
	for i := 0; i < 6; i++ {
		b.WriteByte(charset[mod>>(5*(5-i))&31])
	}
	return b.String()
}

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if top>>i&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}
