// Package replycopy writes and checks team copies: a researcher's signed
// copy of the replies they sealed to people who testified, for the rest of
// the team.
//
// A reply record (package reply) opens only with the person's keys: once
// sealed, not even the researcher who wrote it can read it again. So that
// every researcher can check a follow-up that answers a teammate's reply,
// and show it under the same pseudonym with the questions it answers, the
// researcher who writes a reply batch also writes a team copy of its
// replies with [Sign]; each teammate checks it with [Verify] against the
// study's researchers and keeps the replies in their workspace (`researcher
// decrypt --replies FILE`). The server never sees a team copy.
//
// # Format, version 1
//
// A team copy is a signed note (golang.org/x/mod/sumdb/note) carrying
// exactly one Ed25519 signature, by the key of the researcher it names.
// Its text is:
//
//	testimony team copy of replies v1
//	study <study id>
//	researcher <fingerprint>
//	batch <sha256>
//	replies <n>
//	reply <ref> <number> <content>
//	...
//
// with each line ending in "\n" (no "\r"), and no other lines:
//
//   - The study id is 3 to 64 characters of a–z, 0–9 and '-'.
//   - The fingerprint is the researcher key's, as printed: five groups of
//     four uppercase hexadecimal digits joined by '-'. The signature must be
//     by the key named "testimony-researcher-" followed by the fingerprint
//     without its dashes, so a copy cannot claim another researcher's
//     replies.
//   - The batch is the SHA-256 of the signed manifest of the reply batch
//     that carried these replies to the server, in 64 lowercase hexadecimal
//     digits (the hash both audit logs record for that batch).
//   - n, from 1 to [MaxReplies], decimal without sign or leading zeros, is
//     the number of reply lines that follow.
//   - Each reply line gives the testimony reference of the testimony the
//     reply answers (32 lowercase hexadecimal digits: DESIGN.md §6, the
//     same for every researcher, unknown to the server), the reply's number
//     among the researcher's replies to that person (0 to
//     returnkey.MaxReplies-1, decimal without leading zeros: it names the
//     reply's tag, so the researcher's own workspace, restored from a
//     backup, never numbers a reply alike again), and its content exactly
//     as the record holds it (reply.Content.Marshal), in standard base64
//     with padding. The content must read with reply.ParseContent and be
//     for the study of the header. Lines are sorted by the reply's id; no
//     id appears twice, nor a reference with the same number twice.
//
// The signature line is "— <key name> <base64>" as note writes it, and the
// copy ends there. The encoding is canonical: a copy that verifies has one
// byte form.
//
// A team copy holds what the replies say and to which testimony
// (by reference), but no return address: a teammate can read the replies,
// not write to the person, nor find their records among the server's.
package replycopy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/internal/signednote"
	"github.com/testimony-project/testimony/reply"
	"golang.org/x/mod/sumdb/note"
)

// Limits of a team copy.
const (
	// MaxReplies is the largest number of replies one copy holds: the
	// largest reply batch researcher writes.
	MaxReplies = 10_000
	// MaxSize bounds a signed team copy, in bytes.
	MaxSize = 512 + MaxReplies*(6+32+1+3+1+(reply.MaxContentSize+2)/3*4+1) + 256
)

const formatLine = "testimony team copy of replies v1"

// Errors [Verify] wraps.
var (
	// ErrUnknownKey: the copy is not signed by any of the keys given.
	ErrUnknownKey = errors.New("team copy not signed by a researcher of the study")
	// ErrInvalid: the copy is malformed, or its signature does not verify.
	ErrInvalid = errors.New("team copy invalid")
)

// Copy is the content of a team copy.
type Copy struct {
	// StudyID is the study of the replies.
	StudyID string
	// Researcher is the fingerprint of the researcher who wrote the
	// replies and signed the copy.
	Researcher string
	// Batch is the SHA-256 of the signed manifest of the reply batch that
	// carried the replies.
	Batch [32]byte
	// Replies are the replies, sorted by id ([Sign] sorts them).
	Replies []Reply
	// Hash is the SHA-256 of the signed copy, set by [Sign] and [Verify].
	Hash [32]byte
}

// Reply is one reply of a team copy.
type Reply struct {
	// Ref is the reference of the testimony it answers.
	Ref [16]byte
	// Number is its number among the researcher's replies to the person.
	Number uint32
	// Content is what it says, as reply.Content.Marshal wrote it; Parsed
	// is the same, read ([Parse] and [Verify] set it).
	Content []byte
	Parsed  *reply.Content
}

// Sign sorts c.Replies, checks c, signs it with signer, which must be the
// key of the researcher c names, sets c.Hash and returns the signed copy.
func Sign(c *Copy, signer note.Signer) ([]byte, error) {
	for i := range c.Replies {
		if c.Replies[i].Parsed == nil {
			p, err := reply.ParseContent(c.Replies[i].Content)
			if err != nil {
				return nil, err
			}
			c.Replies[i].Parsed = p
		}
	}
	slices.SortFunc(c.Replies, func(a, b Reply) int { return strings.Compare(a.Parsed.ID, b.Parsed.ID) })
	text, err := c.MarshalText()
	if err != nil {
		return nil, err
	}
	if signer.Name() != envelope.NoteKeyName(c.Researcher) {
		return nil, fmt.Errorf("team copy names researcher %s, but the signing key is %q: sign with that researcher's own key", c.Researcher, signer.Name())
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to sign the team copy: %w", err)
	}
	if len(msg) > MaxSize {
		return nil, fmt.Errorf("signed team copy too large (%d bytes)", len(msg))
	}
	c.Hash = sha256.Sum256(msg)
	return msg, nil
}

// MarshalText returns the text of the copy, without its signature. It
// fails if c does not fit the format: every content must read with
// reply.ParseContent and be for the study, replies sorted by id.
func (c *Copy) MarshalText() ([]byte, error) {
	switch {
	case envelope.CheckStudyID(c.StudyID) != nil:
		return nil, fmt.Errorf("malformed team copy: study id %q: want 3 to 64 characters of a-z, 0-9 and '-'", c.StudyID)
	case !envelope.IsFingerprint(c.Researcher):
		return nil, fmt.Errorf("malformed team copy: researcher fingerprint %q: want five groups of four uppercase hex digits joined by '-'", c.Researcher)
	case len(c.Replies) == 0:
		return nil, errors.New("malformed team copy: it holds no reply")
	case len(c.Replies) > MaxReplies:
		return nil, fmt.Errorf("malformed team copy: %d replies, at most %d", len(c.Replies), MaxReplies)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nstudy %s\nresearcher %s\nbatch %x\nreplies %d\n", formatLine, c.StudyID, c.Researcher, c.Batch, len(c.Replies))
	numbers := map[[20]byte]bool{}
	for i, r := range c.Replies {
		p, err := reply.ParseContent(r.Content)
		if err != nil {
			return nil, fmt.Errorf("malformed team copy: reply %d: %w", i+1, err)
		}
		if err := checkReply(c, r, p, numbers); err != nil {
			return nil, fmt.Errorf("malformed team copy: %w", err)
		}
		if i > 0 && c.Replies[i-1].Parsed != nil && c.Replies[i-1].Parsed.ID >= p.ID {
			return nil, fmt.Errorf("malformed team copy: reply %s listed out of order or twice", p.ID)
		}
		c.Replies[i].Parsed = p
		fmt.Fprintf(&b, "reply %x %d %s\n", r.Ref, r.Number, base64.StdEncoding.EncodeToString(r.Content))
	}
	return b.Bytes(), nil
}

// checkReply checks what the format asks of one reply beyond its content's
// own rules; numbers collects the references and numbers seen.
func checkReply(c *Copy, r Reply, p *reply.Content, numbers map[[20]byte]bool) error {
	if p.Study != c.StudyID {
		return fmt.Errorf("reply %s is for study %.80q, not %q", p.ID, p.Study, c.StudyID)
	}
	if r.Number >= returnkey.MaxReplies {
		return fmt.Errorf("reply %s has number %d, at most %d", p.ID, r.Number, returnkey.MaxReplies-1)
	}
	var k [20]byte
	copy(k[:], r.Ref[:])
	k[16], k[17], k[18], k[19] = byte(r.Number>>24), byte(r.Number>>16), byte(r.Number>>8), byte(r.Number)
	if numbers[k] {
		return fmt.Errorf("two replies to testimony %x have number %d", r.Ref, r.Number)
	}
	numbers[k] = true
	return nil
}

// Parse parses the text of a team copy (without its signature), accepting
// only the canonical form [Copy.MarshalText] writes. It does not check any
// signature: use [Verify] on a signed copy.
func Parse(text []byte) (*Copy, error) {
	if len(text) > MaxSize {
		return nil, fmt.Errorf("malformed team copy: larger than %d bytes", MaxSize)
	}
	l := signednote.NewLines(text, "team copy")
	if err := l.Header(formatLine, "team copy"); err != nil {
		return nil, err
	}
	c := &Copy{}
	var err error
	if c.StudyID, err = l.Field("study"); err != nil {
		return nil, err
	}
	if envelope.CheckStudyID(c.StudyID) != nil {
		return nil, l.Errorf("malformed study id %.80q", c.StudyID)
	}
	if c.Researcher, err = l.Field("researcher"); err != nil {
		return nil, err
	}
	if !envelope.IsFingerprint(c.Researcher) {
		return nil, l.Errorf("malformed researcher fingerprint %.80q", c.Researcher)
	}
	b, err := l.Field("batch")
	if err != nil {
		return nil, err
	}
	if !signednote.ParseHex(c.Batch[:], b) {
		return nil, l.Errorf("malformed batch SHA-256 %.80q", b)
	}
	n, err := l.Count("replies", "reply count", 1, MaxReplies)
	if err != nil {
		return nil, err
	}
	numbers := map[[20]byte]bool{}
	for i := range n {
		s, err := l.Item(i, n, "reply")
		if err != nil {
			return nil, err
		}
		fields, ok := strings.CutPrefix(s, "reply ")
		parts := strings.Split(fields, " ")
		if !ok || len(parts) != 3 {
			return nil, l.Errorf("want \"reply <ref> <number> <content>\", got %.80q", s)
		}
		var r Reply
		if !signednote.ParseHex(r.Ref[:], parts[0]) {
			return nil, l.Errorf("malformed testimony reference %.40q", parts[0])
		}
		num, ok := signednote.ParseDecimal[int64](parts[1], 0, math.MaxUint32)
		if !ok {
			return nil, l.Errorf("malformed reply number %.40q", parts[1])
		}
		r.Number = uint32(num)
		if len(parts[2]) > (reply.MaxContentSize+2)/3*4 {
			return nil, l.Errorf("reply content longer than a record holds")
		}
		if r.Content, err = base64.StdEncoding.Strict().DecodeString(parts[2]); err != nil || base64.StdEncoding.EncodeToString(r.Content) != parts[2] {
			return nil, l.Errorf("malformed reply content: not standard base64")
		}
		if r.Parsed, err = reply.ParseContent(r.Content); err != nil {
			return nil, l.Errorf("%v", err)
		}
		if k := len(c.Replies); k > 0 && c.Replies[k-1].Parsed.ID >= r.Parsed.ID {
			return nil, l.Errorf("reply %s listed out of order or twice", r.Parsed.ID)
		}
		if err := checkReply(c, r, r.Parsed, numbers); err != nil {
			return nil, l.Errorf("%v", err)
		}
		c.Replies = append(c.Replies, r)
	}
	if err := l.End(n, "reply"); err != nil {
		return nil, err
	}
	return c, nil
}

// copyKind is how Verify names team copies and their signers.
var copyKind = signednote.Kind{
	What:       "team copy",
	Signers:    "a researcher of the study",
	Hint:       "a researcher no longer in the team, or another study",
	UnknownKey: ErrUnknownKey,
	Invalid:    ErrInvalid,
}

// Verify checks that msg is a team copy signed by exactly one key, one of
// verifiers (the keys of the study's researchers), that key being the one
// the copy names, and returns it. It fails with an error wrapping
// [ErrUnknownKey] if no key of verifiers signed it, and [ErrInvalid] if it
// is malformed, altered or signed by another key than the researcher it
// names. Error messages quote what they repeat from msg, briefly.
//
// The caller checks the study: [Copy.StudyID].
func Verify(msg []byte, verifiers []note.Verifier) (*Copy, error) {
	if len(msg) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	n, err := copyKind.Open(msg, verifiers...)
	if err != nil {
		return nil, err
	}
	c, err := Parse([]byte(n.Text))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := copyKind.CheckSigner(n, envelope.NoteKeyName(c.Researcher), "researcher "+c.Researcher); err != nil {
		return nil, err
	}
	c.Hash = sha256.Sum256(msg)
	return c, nil
}
