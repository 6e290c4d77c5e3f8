// Package returnkey implements the return passphrase: the words a person
// is shown after testifying, and types again to come back, and the keys
// derived from them. It is pure: no I/O, no clock, randomness from
// crypto/rand only.
//
// Use [Generate] to make a passphrase, [Passphrase.Format] or
// [Passphrase.Words] to show it in the person's language, [Parse] to read
// what a person typed, and [Derive] to compute, with a memory-hard KDF, the
// person's [Keys]: an X25519 key pair replies are sealed to, an Ed25519 key
// pair that signs follow-ups and withdrawals, and a tag key that names
// replies ([Keys.Tag]). [Keys.Address] is the public part a first
// submission carries to the researchers, sealed; researchers name and seal
// replies with it ([Address.Tag], package reply). intake/static/returnkey.js
// implements the same in the browser; both are held to the vectors in
// testdata/.
//
// # Passphrase
//
// H(x) is SHA-512, "||" concatenation, u32be a four-byte big-endian
// unsigned integer, x[a:b] the bytes a to b-1 of x.
//
//  1. s ← CSPRNG(9): 72 random bits. The secret is s, never the words.
//  2. c = H("testimony-return-checksum" || 0x00 || s)[0] >> 3: a 5-bit
//     checksum.
//  3. The 77 bits s || c, most significant bit of s[0] first, are cut into
//     seven groups of 11 bits; each, read as a big-endian number from 0 to
//     2047, is the index of a word in a BIP-39 word list.
//  4. The passphrase is the seven words of the list of the person's
//     language ([ListFor]: Korean, Chinese (simplified) or English, the
//     official BIP-39 lists, see [Korean]), in order, separated by one
//     space (U+0020), Korean and Chinese words written in NFC.
//
// # Typing it back
//
// [Parse] reads what a person typed, with any list's words in any mix (a
// Korean passphrase may be typed with the English words of the same
// indices), in these steps:
//
//  1. At most [MaxInputSize] bytes; invalid UTF-8 reads as U+FFFD.
//  2. Unicode NFKD (as BIP-39 stores its lists: Hangul syllables become
//     conjoining jamo, full-width Latin letters ASCII), then ASCII A–Z
//     lowercased.
//  3. A word is a maximal run of letters and combining marks (Unicode
//     general categories L and M); everything else separates words: any
//     white space, punctuation such as "," or "、", and digits, so that a
//     numbered list such as "1. abandon 2. ability" reads as two words.
//  4. Each word is looked up in every list: exactly, or, for English, as
//     four or more letters that start exactly one word (BIP-39's English
//     list is built so that four letters name a word: "aban" is
//     "abandon"). A word that is in no list but whose every character is a
//     word of the Chinese list (Chinese written without spaces) stands for
//     those words. Otherwise it is refused ([UnknownWordError], by
//     position: the error never holds what was typed).
//  5. There must be exactly seven words ([WordCountError]).
//  6. The checksum is checked before any key is derived ([ErrChecksum]): a
//     mistyped word is caught with probability 31/32 and the person is told
//     to check the words, instead of deriving keys that find nothing.
//
// # Keys
//
// The seed is Argon2id (RFC 9106, version 0x13) of the password s with the
// salt "testimony-return-v1" || 0x00 || S, S the study id, t = 3 passes
// over m = 64 MiB (65536 KiB), p = 1 lane, 32 bytes of output, no secret
// or associated data ([KDFTime], [KDFMemory], [KDFThreads]). From it,
// separated by domain:
//
//	x  = H("testimony-return-x25519" || 0x00 || seed)[0:32]   X25519 secret; X = X25519(x, 9)
//	d  = H("testimony-return-ed25519" || 0x00 || seed)[0:32]  Ed25519 seed; its public key Ed
//	T  = H("testimony-return-tag" || 0x00 || seed)[0:32]      tag key
//
// The reply tag of the i-th reply (i from 0) by the researcher R is
//
//	tag(i, R) = H("testimony-reply-tag" || 0x00 || T || F_R || u32be(i))[0:16]
//
// where F_R is R's fingerprint as printed (envelope.Recipient.Fingerprint:
// 24 ASCII characters, "XXXX-XXXX-XXXX-XXXX-XXXX"). Each researcher
// numbers their own replies to one person from 0 to [MaxReplies]-1, never
// using a number twice; a person looks for every tag(i, R), i <
// MaxReplies, of every researcher of the study, so a lost or deleted
// reply leaves no gap that hides later ones. A signature by the person is Ed25519 with d over
// "testimony-return-v1 signature" || 0x00 || message ([Keys.Sign]).
//
// An [Address], what the first submission carries to the researchers
// (sealed), is X, Ed and T: as text, "testimony-return-" followed by the
// base32 (RFC 4648 alphabet in lowercase, no padding) of X || Ed || T, 154
// characters. X and Ed must be canonical encodings of points of large
// order.
//
// # Why 72 bits and Argon2id(64 MiB, 3 passes)
//
// What can be tested offline is what the server stores: reply records,
// whose tags test a guess at the cost of one derivation and a hash per
// researcher (the checksum costs a guesser nothing: it is a function of
// s). Finding a given person takes 2^71 derivations on average. Each
// derivation writes 3 × 64 MiB and reads twice as much, so a GPU with
// 1 TB/s of memory bandwidth makes at most about 2^12 a second (an ASIC
// fares no better: memory, not logic, is the cost), and one person costs
// 2^59 GPU-seconds: 1.8 × 10^10 GPU-years. The salt holds the study id,
// so nothing is computed once for every study; it cannot be unique to a
// person, who brings nothing but the words, so one guess is tested against
// everyone in the study at once. Among 2^10 people with replies, finding
// any one with even odds takes about 2^61 derivations: 2.2 × 10^7
// GPU-years, twenty years of a million GPUs. Each more word would
// multiply these by 2048. Online guessing goes through the server, which
// must run the KDF for each guess of a person without JavaScript: it
// bounds how many run at once and how many one client may ask for.
//
// The cost is chosen for the person's side, measured on a shared 2-core
// server: one derivation takes 1.1 to 1.2 s in Chromium at best
// (noble-hashes' Argon2id, vendored as intake/static/argon2id.min.js:
// BenchmarkChromiumSeed) and 0.2 to 0.3 s in Go (BenchmarkSeed), and 64 MiB is
// memory a cheap phone has. scrypt (N = 2^17, r = 8), whose code in
// noble-hashes was audited where Argon2id's was not, holds 128 MiB for
// 0.6 s in Chromium: more memory per second, but twice what a page should
// ask of a cheap phone, and 256 MiB would be needed for a second. Without
// a JIT (Tor Browser's "Safer" level) noble's Argon2id is about 10 times
// slower, its scrypt about 30 times: pages should show progress (seedAsync
// in returnkey.js reports it).
//
// # Using it
//
// A browser with JavaScript does everything itself (returnkey.js). For a
// person without JavaScript the server does it in memory, for that request
// only: after a submission, [Generate], [Derive] with the study id, put
// [Keys.Address] in the plaintext before sealing, show
// [Passphrase.Format] in the page's language, then [Keys.Clear] and
// [Passphrase.Clear]; when someone comes back, [Parse] (its errors are
// safe to show and to count, never to log with the input), [Derive], find
// the replies (package reply's Find), clear. Each derivation holds 64 MiB
// for a fraction of a second: bound how many run at once. Nothing of this
// is written anywhere.
//
// # What is secret
//
// s, the seed, x, d and T are secret: whoever holds any of them reads the
// person's replies or finds them. X, Ed and T travel only sealed to the
// researchers. Go cannot erase every copy (crypto/ecdh keeps its own);
// [Keys.Clear] and [Passphrase.Clear] erase what this package holds.
package returnkey

import (
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Sizes of the format.
const (
	// SecretSize is the size of the secret s, in bytes: 72 bits.
	SecretSize = 9
	// Words is the number of words of a passphrase.
	Words = 7
	// MaxInputSize bounds, in bytes, what [Parse] reads.
	MaxInputSize = 2048
	// checksumBits is the size of the checksum c.
	checksumBits = Words*11 - SecretSize*8
)

// ErrChecksum is returned by [Parse] when every word is known but the words
// do not form a passphrase: a word was mistyped, or words swapped.
var ErrChecksum = errors.New("these words are not a return passphrase: check each word and their order")

// ErrTooLong is returned by [Parse] for more than [MaxInputSize] bytes.
var ErrTooLong = fmt.Errorf("too much text for a return passphrase (more than %d bytes)", MaxInputSize)

// UnknownWordError is returned by [Parse] for a word that is in no list.
// It names the word by its position only: what a person types may be
// their secret, and errors end up in logs.
type UnknownWordError struct {
	// Position is the word's position, from 1, counting the words before
	// it as Parse read them.
	Position int
}

func (e *UnknownWordError) Error() string {
	return fmt.Sprintf("word %d is not a word of the return passphrase lists", e.Position)
}

// WordCountError is returned by [Parse] when every word is known but there
// are not seven.
type WordCountError struct {
	// Got is the number of words read.
	Got int
}

func (e *WordCountError) Error() string {
	return fmt.Sprintf("a return passphrase has %d words, not %d", Words, e.Got)
}

// A Passphrase is a return passphrase: its 72-bit secret s.
type Passphrase struct {
	secret [SecretSize]byte
}

// Generate returns a new random passphrase.
func Generate() (*Passphrase, error) {
	p := &Passphrase{}
	if _, err := rand.Read(p.secret[:]); err != nil {
		return nil, fmt.Errorf("failed to generate return passphrase: %w", err)
	}
	return p, nil
}

// FromSecret returns the passphrase whose secret is s, [SecretSize] bytes.
func FromSecret(s []byte) (*Passphrase, error) {
	if len(s) != SecretSize {
		return nil, fmt.Errorf("return passphrase secret is %d bytes, want %d", len(s), SecretSize)
	}
	p := &Passphrase{}
	copy(p.secret[:], s)
	return p, nil
}

// Secret returns the passphrase's secret s. Handle with care.
func (p *Passphrase) Secret() [SecretSize]byte { return p.secret }

// Clear erases the secret.
func (p *Passphrase) Clear() { clear(p.secret[:]) }

// Indices returns the indices of the seven words.
func (p *Passphrase) Indices() [Words]int {
	var bits [SecretSize + 1]byte
	copy(bits[:], p.secret[:])
	bits[SecretSize] = checksum(&p.secret) << (8 - checksumBits)
	var idx [Words]int
	for j := range idx {
		for k := range 11 {
			b := 11*j + k
			idx[j] = idx[j]<<1 | int(bits[b/8]>>(7-b%8))&1
		}
	}
	clear(bits[:])
	return idx
}

// Words returns the seven words in the list, as the person is shown them.
func (p *Passphrase) Words(list *List) []string {
	idx := p.Indices()
	ws := make([]string, Words)
	for j, i := range idx {
		ws[j] = list.display[i]
	}
	return ws
}

// Format returns the passphrase in the list of the language lang (a
// BCP 47 tag, see [ListFor]): seven words separated by spaces.
func (p *Passphrase) Format(lang string) string {
	return strings.Join(p.Words(ListFor(lang)), " ")
}

// checksum returns c: the first 5 bits of H("testimony-return-checksum" ||
// 0x00 || s).
func checksum(s *[SecretSize]byte) byte {
	h := sha512.New()
	h.Write([]byte("testimony-return-checksum\x00"))
	h.Write(s[:])
	return h.Sum(nil)[0] >> (8 - checksumBits)
}

// Parse reads a passphrase as a person typed it, in any list's words (see
// the package documentation). Its errors never hold what was typed:
// [ErrTooLong], [*UnknownWordError], [*WordCountError], [ErrChecksum].
func Parse(typed string) (*Passphrase, error) {
	if len(typed) > MaxInputSize {
		return nil, ErrTooLong
	}
	var idx []int
	for w := range fields(norm.NFKD.String(typed)) {
		if i, ok := lookup(w); ok {
			idx = append(idx, i)
			continue
		}
		if cs, ok := chineseRun(w); ok {
			idx = append(idx, cs...)
			continue
		}
		return nil, &UnknownWordError{Position: len(idx) + 1}
	}
	if len(idx) != Words {
		return nil, &WordCountError{Got: len(idx)}
	}
	var bits [SecretSize + 1]byte
	defer clear(bits[:])
	for j, i := range idx {
		for k := range 11 {
			if i>>(10-k)&1 == 1 {
				b := 11*j + k
				bits[b/8] |= 1 << (7 - b%8)
			}
		}
	}
	p := &Passphrase{}
	copy(p.secret[:], bits[:SecretSize])
	if checksum(&p.secret) != bits[SecretSize]>>(8-checksumBits) {
		p.Clear()
		return nil, ErrChecksum
	}
	return p, nil
}

// fields yields the words of s: maximal runs of letters and marks, ASCII
// letters lowercased.
func fields(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		var b strings.Builder
		for _, r := range s {
			if r < utf8.RuneSelf && 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			if unicode.IsLetter(r) || unicode.IsMark(r) {
				b.WriteRune(r)
				continue
			}
			if b.Len() > 0 {
				if !yield(b.String()) {
					return
				}
				b.Reset()
			}
		}
		if b.Len() > 0 {
			yield(b.String())
		}
	}
}
