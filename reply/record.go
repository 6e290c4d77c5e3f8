// Package reply implements researchers' replies to the people who
// testified: the fixed-size reply record sealed to one person, its
// content, and the signed reply batch that carries records from a
// researcher's offline machine to the intake server.
//
// A researcher's tool writes the content ([Content.Marshal]), seals it to
// the person's return address ([Seal], the address being what the
// person's first submission carried, see package crypto/returnkey) and
// writes the records in a batch ([Write]). The server reads the batch
// ([NewReader]), checking it against the study's researchers, and stores
// the records. A person who comes back downloads every stored record and
// finds their own ([Find]): intake/static/reply.js does the same in the
// browser, held to the vectors in testdata/.
//
// # Record
//
// H(x) is SHA-512, "||" concatenation, u16be and u32be big-endian unsigned
// integers of two and four bytes. X25519(a, P) is the Diffie-Hellman
// function, X25519(a, 9) a's public key. crypto_secretbox is NaCl's
// (XSalsa20 and Poly1305, the 16-byte authenticator first).
//
// Inputs: the content C (at most [MaxContentSize] bytes), the person's
// address (X25519 public key X_P and tag key, see returnkey.Address), the
// number i of the reply among those of the researcher to this person (0 ≤
// i < returnkey.MaxReplies), and the researcher's identity: X25519 secret
// r, public key X_R, fingerprint F_R.
//
//  1. tag = H("testimony-reply-tag" || 0x00 || tag key || F_R ||
//     u32be(i))[0:16] (returnkey's tag(i, R)).
//  2. e ← CSPRNG(32), fresh for every record; E = X25519(e, 9).
//  3. K = H("testimony-reply-v1" || 0x00 || X25519(e, X_P) || X25519(r,
//     X_P) || E || X_R || X_P || tag)[0:32].
//  4. Q = u16be(len C) || C || zero bytes: 1984 bytes.
//  5. The record is tag || E || crypto_secretbox(Q, 24 zero bytes, K):
//     16 + 32 + 16 + 1984 = [RecordSize] = 2048 bytes, whatever C.
//
// The all-zero nonce is safe because K is used once: it depends on the
// fresh e. K depends on two Diffie-Hellman values: X25519(e, X_P) makes
// the record readable only with the person's secret key (the researcher's
// key alone does not open it), and X25519(r, X_P) authenticates the
// researcher to the person, deniably (the person could have computed it
// too): whoever learns a person's address, from a copy of a plaintext,
// cannot write them a reply that opens as a researcher's without that
// researcher's secret key. E, X_R, X_P and the tag are bound into K, so a
// record whose tag or E is changed does not open.
//
// Opening, by the person (secret key p, public key X_P) who computed tag
// for the researcher R: the record is [RecordSize] bytes; K is computed
// from X25519(p, E) and X25519(p, X_R) (an E of small order gives the
// all-zero value and fails); crypto_secretbox_open with K; then the
// length is at most [MaxContentSize] and every padding byte is zero.
// [Open] does these steps; any failure is [ErrNotOpened], or
// [ErrMalformed] for the size.
//
// # What a record reveals
//
// Every record is 2048 bytes of which the server can read nothing but the
// tag and E. The tag is the first 16 bytes of a hash keyed by a 256-bit
// tag key only the person and the researchers hold: without it, tags of
// the same person (another i, another researcher) are independent random
// strings, and a tag says nothing about who it is for. E is a fresh
// public key, independent of the person, the researcher and the content.
// The ciphertext is the same length for every content. So nothing in a
// record, nor in any set of records, tells the server who a record is
// for, which records go to the same person, how long a reply is, or which
// submission it answers. A record carries no id, no day and no recipient.
//
// What the server does learn, from the batch that carries records (see
// [Manifest]): which researcher signed it, for which study, and how many
// records it holds; and, from its own clock, the day it imported it.
//
// # Content
//
// The content is a JSON object, UTF-8, written by [Content.Marshal] with
// exactly these members in this order and no white space:
//
//	{"v":1,"study":"<study id>","id":"<reply id>","lang":"<tag>","text":"…","questions":[…]}
//
// "id" is 26 characters of a–z and 2–7, random ([NewID]): a follow-up
// names the reply it answers by it. "lang" is the BCP 47 tag of the text
// and labels (the person's language: a reply is written to one person).
// "text" is NFC, with "\n" between lines and no control characters but
// tab. "questions", left out when there are none, holds 1 to
// [MaxQuestions] follow-up questions, each
//
//	{"id":"…","type":"…","label":"…","choices":[{"value":"…","label":"…"},…],"required":true}
//
// with the id, choice value and type rules of a study file's questions
// (package config), of the types [QuestionTypes]; "choices" only, and 2 to
// [MaxChoices] of them, for single_choice and multi_choice; "required"
// only when true. Labels are one line, 1 to [MaxLabelLength] characters.
// A reply has text or questions. Its size is at most [MaxContentSize]
// (1982) bytes: some 600 Korean or Chinese characters, or 1,800 English
// ones; Marshal says by how much a reply is too long. [ParseContent]
// accepts only the bytes Marshal writes. Answers to follow-up questions
// travel back in ordinary envelopes: checking them is the researcher's
// tools' (package response's rules apply to these types).
//
// # Finding one's replies
//
// A person who comes back derives their keys from the return passphrase
// and downloads all stored records. For every researcher R of the study
// and every i < returnkey.MaxReplies, tag(i, R) is looked up among the
// records' tags; each record found is opened with R's key, and its content
// read ([ParseContent]) and checked to be for the study ([Find]). The
// download is the same for everyone, so the server does not learn which
// records, if any, were found. (A person without JavaScript posts the
// passphrase instead, and the server runs Find for them, in memory, for
// that request: it then knows, for that moment, which records are theirs;
// see SECURITY.md.)
//
// # What the server and the researcher's tools must do
//
// The researcher's tools number each researcher's replies to one person
// from 0, never reusing a number (a reused number gives two records the
// same tag, which links them), and refuse the [returnkey.MaxReplies]-th.
// They write records only with [Seal] and batches only with [Write].
//
// The server imports a batch with [NewReader] and the verifiers of the
// current study's researchers, checks [Manifest.StudyID], and stores each
// record. A record whose bytes it already holds is already imported; a
// record whose tag it already holds with other bytes is refused (with the
// batch: the researcher's numbering went wrong). It serves every record it
// holds, to anyone, in one download in an order that says nothing of when
// each came (sorted by tag, say), padded with [Padding] records to a size
// that changes in coarse steps. It keeps no record of who downloaded, and
// counts downloads per UTC day at most. Whoever downloads learns what the
// server knows: how many records there are, and, comparing downloads, how
// many came in between.
package reply

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"golang.org/x/crypto/nacl/secretbox"
)

// Sizes of a record.
const (
	// RecordSize is the size of every reply record.
	RecordSize = 2048
	// TagSize is the size of a record's tag, its first bytes.
	TagSize = returnkey.TagSize
	// paddedSize is the size of Q: the length, the content, the padding.
	paddedSize = RecordSize - TagSize - 32 - secretbox.Overhead
	// MaxContentSize is the largest content a record holds, in bytes.
	MaxContentSize = paddedSize - 2
	keyLabel       = "testimony-reply-v1\x00"
)

var (
	// ErrMalformed is returned for a record that is not [RecordSize] bytes.
	ErrMalformed = fmt.Errorf("malformed reply record: want %d bytes", RecordSize)
	// ErrNotOpened is returned by [Open] for a record not sealed to these
	// keys by this researcher, or damaged.
	ErrNotOpened = errors.New("reply record does not open with these keys from this researcher: it is for someone else, from someone else, or damaged")
)

// Seal seals content to the person at the address, as the i-th reply of
// the researcher from, and returns the record.
func Seal(to *returnkey.Address, i uint32, from *envelope.Identity, content []byte) ([]byte, error) {
	var e [32]byte
	if _, err := rand.Read(e[:]); err != nil {
		return nil, fmt.Errorf("failed to generate ephemeral key: %w", err)
	}
	defer clear(e[:])
	return seal(&e, to, i, from, content)
}

func seal(e *[32]byte, to *returnkey.Address, i uint32, from *envelope.Identity, content []byte) ([]byte, error) {
	if len(content) > MaxContentSize {
		return nil, fmt.Errorf("reply content of %d bytes is larger than a record holds (%d bytes)", len(content), MaxContentSize)
	}
	if i >= returnkey.MaxReplies {
		return nil, fmt.Errorf("reply number %d: a researcher sends one person at most %d replies", i, returnkey.MaxReplies)
	}
	eph, err := ecdh.X25519().NewPrivateKey(e[:])
	if err != nil {
		return nil, fmt.Errorf("failed to make ephemeral key: %w", err)
	}
	s := from.Bytes()
	r, err := ecdh.X25519().NewPrivateKey(s)
	clear(s)
	if err != nil {
		return nil, fmt.Errorf("invalid researcher key: %w", err)
	}
	xp := to.X25519()
	pub, err := ecdh.X25519().NewPublicKey(xp[:])
	if err != nil {
		return nil, fmt.Errorf("invalid return address: %w", err)
	}
	dh1, err := eph.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("invalid return address: %w", err)
	}
	defer clear(dh1)
	dh2, err := r.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("invalid return address: %w", err)
	}
	defer clear(dh2)
	t := to.Tag(i, from.Recipient())
	var ee [32]byte
	copy(ee[:], eph.PublicKey().Bytes())
	k := recordKey(dh1, dh2, &ee, from.Recipient().X25519(), xp, &t)
	defer clear(k[:])

	q := make([]byte, paddedSize)
	defer clear(q)
	binary.BigEndian.PutUint16(q, uint16(len(content)))
	copy(q[2:], content)
	rec := make([]byte, 0, RecordSize)
	rec = append(rec, t[:]...)
	rec = append(rec, ee[:]...)
	var zero [24]byte
	return secretbox.Seal(rec, q, &zero, &k), nil
}

// recordKey returns K = H("testimony-reply-v1" || 0x00 || dh1 || dh2 || E
// || X_R || X_P || tag)[0:32].
func recordKey(dh1, dh2 []byte, e *[32]byte, xr, xp [32]byte, t *[TagSize]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte(keyLabel))
	h.Write(dh1)
	h.Write(dh2)
	h.Write(e[:])
	h.Write(xr[:])
	h.Write(xp[:])
	h.Write(t[:])
	var sum [64]byte
	h.Sum(sum[:0])
	var k [32]byte
	copy(k[:], sum[:32])
	clear(sum[:])
	return k
}

// Padding returns a record that is nobody's: a random tag, a fresh
// public key E, random bytes for the rest. Without the keys of a person
// and a researcher it cannot be told from a reply (E, like every E, is
// a public key; a ciphertext is indistinguishable from random bytes), so
// the server may pad the download with such records.
func Padding() ([]byte, error) {
	rec := make([]byte, RecordSize)
	if _, err := rand.Read(rec); err != nil {
		return nil, fmt.Errorf("failed to generate padding record: %w", err)
	}
	e, err := ecdh.X25519().NewPrivateKey(rec[TagSize : TagSize+32])
	if err != nil {
		return nil, err
	}
	copy(rec[TagSize:], e.PublicKey().Bytes())
	return rec, nil
}

// RecordTag returns a record's tag: its first [TagSize] bytes.
func RecordTag(record []byte) ([TagSize]byte, error) {
	var t [TagSize]byte
	if len(record) != RecordSize {
		return t, ErrMalformed
	}
	copy(t[:], record)
	return t, nil
}

// Open opens a record sealed to keys by the researcher from, and returns
// its content, which the caller reads with [ParseContent]. It does not
// check the tag: [Find] matched it first.
func Open(record []byte, keys *returnkey.Keys, from *envelope.Recipient) ([]byte, error) {
	if len(record) != RecordSize {
		return nil, ErrMalformed
	}
	var t [TagSize]byte
	var e [32]byte
	copy(t[:], record)
	copy(e[:], record[TagSize:])
	dh1, err := keys.ECDH(e)
	if err != nil {
		return nil, ErrNotOpened
	}
	defer clear(dh1[:])
	dh2, err := keys.ECDH(from.X25519())
	if err != nil {
		return nil, ErrNotOpened
	}
	defer clear(dh2[:])
	k := recordKey(dh1[:], dh2[:], &e, from.X25519(), keys.X25519(), &t)
	defer clear(k[:])
	var zero [24]byte
	q, ok := secretbox.Open(nil, record[TagSize+32:], &zero, &k)
	if !ok {
		return nil, ErrNotOpened
	}
	n := int(binary.BigEndian.Uint16(q))
	if n > MaxContentSize {
		clear(q)
		return nil, fmt.Errorf("%w: content length %d exceeds the record", ErrNotOpened, n)
	}
	for _, b := range q[2+n:] {
		if b != 0 {
			clear(q)
			return nil, fmt.Errorf("%w: padding is not zero", ErrNotOpened)
		}
	}
	return q[2 : 2+n : 2+n], nil
}
