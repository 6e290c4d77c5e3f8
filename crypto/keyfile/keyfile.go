// Package keyfile stores a researcher's private key encrypted under a
// passphrase.
//
// Use [Encrypt] to write a new key file and [Decrypt] to read one back.
// [PublicKey] reads the public key, which the file keeps in the clear, without
// the passphrase. To change the passphrase, Decrypt and Encrypt again with
// the file's parameters or stronger ones ([FileParams], [Params.Stronger]).
//
// # Format
//
// A key file is UTF-8 text of exactly these lines, in this order:
//
//	testimony-secret-key-v1
//	public: <the public key, as envelope.Recipient.String>
//	kdf: argon2id t=<passes> m=<memory in KiB> p=<threads>
//	salt: <base64 (standard, padded) of 16 random bytes>
//	nonce: <base64 of 24 random bytes>
//	sealed: <base64 of crypto_secretbox(secret key, nonce, argon2id(passphrase, salt, t, m, p, 32))>
//
// followed by a final newline. Decrypt refuses memory below 64 MiB, which
// Encrypt never writes, and above 4 GiB, which would let a crafted file
// exhaust the machine.
//
// The public line holds the public key of version 2 (X25519 and Ed25519
// keys, see envelope.Recipient). A file whose public line is in the format
// of version 1 still decrypts (the secret is the same), but [PublicKey]
// refuses it with [ErrOldPublicLine]: encrypting it again writes the
// current line.
package keyfile

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/testimony-project/testimony/crypto/envelope"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/nacl/secretbox"
)

const header = "testimony-secret-key-v1"

// Params are the argon2id parameters of a key file.
type Params struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultParams are what Encrypt uses: 3 passes over 256 MiB with 4
// threads, about a second on a laptop.
var DefaultParams = Params{Time: 3, MemoryKiB: 256 << 10, Threads: 4}

// MaxSize is the largest key file Decrypt reads, in bytes.
const MaxSize = 4096

// Bounds Decrypt enforces on a file's parameters.
const (
	MinMemoryKiB = 64 << 10
	maxMemoryKiB = 4 << 20
	maxTime      = 64
)

// ErrWrongPassphrase is returned by Decrypt when the passphrase does not
// open the file.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrOldPublicLine is returned by PublicKey for a key file whose public
// line is in the format of version 1.
var ErrOldPublicLine = errors.New("its public key line is in the old format: rewrite it with `researcher passphrase --key FILE` (you may keep the same passphrase)")

// Encrypt returns a key file holding id, encrypted under passphrase with p
// (use DefaultParams).
func Encrypt(id *envelope.Identity, passphrase []byte, p Params) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("empty passphrase: choose a long passphrase")
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	var salt [16]byte
	var nonce [24]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, fmt.Errorf("failed to generate salt: %w", err)
	}
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("failed to generate nonce: %w", err)
	}
	k := derive(passphrase, salt[:], p)
	secret := id.Bytes()
	sealed := secretbox.Seal(nil, secret, &nonce, &k)
	clear(secret)
	clear(k[:])
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\npublic: %s\nkdf: argon2id t=%d m=%d p=%d\nsalt: %s\nnonce: %s\nsealed: %s\n",
		header, id.Recipient(), p.Time, p.MemoryKiB, p.Threads,
		base64.StdEncoding.EncodeToString(salt[:]), base64.StdEncoding.EncodeToString(nonce[:]),
		base64.StdEncoding.EncodeToString(sealed))
	return b.Bytes(), nil
}

type file struct {
	public *envelope.Recipient // nil if old
	old    bool
	params Params
	salt   []byte
	nonce  [24]byte
	sealed []byte
}

// PublicKey returns the public key stored in a key file.
func PublicKey(data []byte) (*envelope.Recipient, error) {
	f, err := parse(data)
	if err != nil {
		return nil, err
	}
	if f.old {
		return nil, ErrOldPublicLine
	}
	return f.public, nil
}

// FileParams returns the argon2id parameters of a key file.
func FileParams(data []byte) (Params, error) {
	f, err := parse(data)
	if err != nil {
		return Params{}, err
	}
	return f.params, nil
}

// Stronger returns, parameter by parameter, the larger of p and o: at least
// as costly to attack as either.
func (p Params) Stronger(o Params) Params {
	return Params{Time: max(p.Time, o.Time), MemoryKiB: max(p.MemoryKiB, o.MemoryKiB), Threads: max(p.Threads, o.Threads)}
}

// Decrypt opens a key file with passphrase.
func Decrypt(data, passphrase []byte) (*envelope.Identity, error) {
	f, err := parse(data)
	if err != nil {
		return nil, err
	}
	k := derive(passphrase, f.salt, f.params)
	secret, ok := secretbox.Open(nil, f.sealed, &f.nonce, &k)
	clear(k[:])
	if !ok {
		return nil, ErrWrongPassphrase
	}
	id, err := envelope.NewIdentity(secret)
	clear(secret)
	if err != nil {
		return nil, fmt.Errorf("malformed key file: %w", err)
	}
	if !f.old && !id.Recipient().Equal(f.public) {
		return nil, errors.New("malformed key file: the public key line does not match the secret key")
	}
	return id, nil
}

func parse(data []byte) (*file, error) {
	if len(data) > MaxSize {
		return nil, errors.New("malformed key file: too large; is this a testimony key file?")
	}
	s := string(data)
	if !strings.HasSuffix(s, "\n") {
		return nil, errors.New("malformed key file: truncated (no final newline)")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) == 0 || lines[0] != header {
		return nil, fmt.Errorf("malformed key file: first line must be %q; is this a testimony key file?", header)
	}
	want := []string{"public", "kdf", "salt", "nonce", "sealed"}
	if len(lines) != 1+len(want) {
		return nil, fmt.Errorf("malformed key file: %d lines, want %d", len(lines), 1+len(want))
	}
	v := map[string]string{}
	for i, k := range want {
		val, ok := strings.CutPrefix(lines[1+i], k+": ")
		if !ok {
			return nil, fmt.Errorf("malformed key file: line %d must start with %q", i+2, k+": ")
		}
		v[k] = val
	}
	f := &file{}
	var err error
	if f.public, err = envelope.ParseRecipient(v["public"]); errors.Is(err, envelope.ErrOldPublicKey) {
		f.old = true
	} else if err != nil {
		return nil, fmt.Errorf("malformed key file: %w", err)
	}
	var t, m, p uint64
	var rest string
	if n, _ := fmt.Sscanf(v["kdf"], "argon2id t=%d m=%d p=%d%s", &t, &m, &p, &rest); n != 3 {
		return nil, fmt.Errorf("malformed key file: kdf line %q", v["kdf"])
	}
	if t > maxTime || m > maxMemoryKiB || p > 255 {
		return nil, fmt.Errorf("malformed key file: argon2id parameters t=%d m=%d p=%d are out of range", t, m, p)
	}
	f.params = Params{Time: uint32(t), MemoryKiB: uint32(m), Threads: uint8(p)}
	if err := f.params.check(); err != nil {
		return nil, fmt.Errorf("malformed key file: %w", err)
	}
	if f.salt, err = base64.StdEncoding.Strict().DecodeString(v["salt"]); err != nil || len(f.salt) != 16 {
		return nil, errors.New("malformed key file: salt must be 16 bytes of base64")
	}
	nonce, err := base64.StdEncoding.Strict().DecodeString(v["nonce"])
	if err != nil || len(nonce) != 24 {
		return nil, errors.New("malformed key file: nonce must be 24 bytes of base64")
	}
	copy(f.nonce[:], nonce)
	if f.sealed, err = base64.StdEncoding.Strict().DecodeString(v["sealed"]); err != nil || len(f.sealed) != 32+secretbox.Overhead {
		return nil, errors.New("malformed key file: sealed key must be 48 bytes of base64")
	}
	return f, nil
}

func (p Params) check() error {
	if p.Time < 1 || p.Time > maxTime {
		return fmt.Errorf("argon2id passes must be 1 to %d, not %d", maxTime, p.Time)
	}
	if p.MemoryKiB < MinMemoryKiB || p.MemoryKiB > maxMemoryKiB {
		return fmt.Errorf("argon2id memory must be %d to %d KiB, not %d", MinMemoryKiB, maxMemoryKiB, p.MemoryKiB)
	}
	if p.Threads < 1 {
		return errors.New("argon2id threads must be at least 1")
	}
	return nil
}

func derive(passphrase, salt []byte, p Params) [32]byte {
	var k [32]byte
	b := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	copy(k[:], b)
	clear(b)
	return k
}
