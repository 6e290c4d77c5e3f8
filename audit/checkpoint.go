package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// MaxCheckpointSize is the largest checkpoint text, signatures included,
// that this package reads.
const MaxCheckpointSize = 4096

// A Checkpoint is the text of a signed checkpoint in the C2SP
// tlog-checkpoint format (https://c2sp.org/tlog-checkpoint):
//
//	<origin>
//	<tree size, decimal>
//	<root hash, base64>
//	day <YYYY-MM-DD>
//
// The last line is the one extension line this package writes and accepts:
// the UTC day the checkpoint was signed. It is optional when parsing.
type Checkpoint struct {
	// Origin names the log, for example "testimony/server/<study-id>".
	Origin string
	// Size is the number of records the checkpoint covers.
	Size int64
	// Hash is the root hash of the Merkle tree of those records.
	Hash tlog.Hash
	// Day is the UTC day the checkpoint was signed, or "" if unknown.
	Day string
}

// MarshalText encodes c as a checkpoint note text.
func (c Checkpoint) MarshalText() ([]byte, error) {
	if err := checkOrigin(c.Origin); err != nil {
		return nil, err
	}
	if c.Size < 0 {
		return nil, fmt.Errorf("malformed checkpoint: negative size %d", c.Size)
	}
	var b []byte
	b = append(b, c.Origin...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, c.Size, 10)
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, c.Hash[:])
	b = append(b, '\n')
	if c.Day != "" {
		if err := checkDay(c.Day); err != nil {
			return nil, fmt.Errorf("malformed checkpoint: %w", err)
		}
		b = append(b, "day "...)
		b = append(b, c.Day...)
		b = append(b, '\n')
	}
	return b, nil
}

// ParseCheckpoint decodes a checkpoint note text (without its signatures).
// It accepts only the canonical encoding written by
// [Checkpoint.MarshalText].
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	var c Checkpoint
	if len(text) > MaxCheckpointSize {
		return c, fmt.Errorf("malformed checkpoint: longer than %d bytes", MaxCheckpointSize)
	}
	body, ok := bytes.CutSuffix(text, []byte("\n"))
	if !ok {
		return c, errors.New("malformed checkpoint: does not end in a newline")
	}
	lines := strings.Split(string(body), "\n")
	if len(lines) < 3 || len(lines) > 4 {
		return c, fmt.Errorf("malformed checkpoint: %d lines, want origin, size, root hash and an optional day", len(lines))
	}
	if err := checkOrigin(lines[0]); err != nil {
		return c, err
	}
	c.Origin = lines[0]
	s := lines[1]
	if s == "" || len(s) > 19 || s[0] == '0' && s != "0" || strings.TrimLeft(s, "0123456789") != "" {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint: size %q is not a decimal number without leading zeros", s)
	}
	size, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint: size %q: %w", s, err)
	}
	c.Size = size
	// Strict decoding still skips '\r' and '\n': compare the encoding too,
	// so that a checkpoint has one byte form.
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint: root hash %q is not %d bytes of base64", lines[2], tlog.HashSize)
	}
	copy(c.Hash[:], h)
	if len(lines) == 4 {
		day, ok := strings.CutPrefix(lines[3], "day ")
		if !ok {
			return Checkpoint{}, fmt.Errorf("malformed checkpoint: unknown extension line %q", lines[3])
		}
		if err := checkDay(day); err != nil {
			return Checkpoint{}, fmt.Errorf("malformed checkpoint: %w", err)
		}
		c.Day = day
	}
	return c, nil
}

func checkOrigin(origin string) error {
	if origin == "" {
		return errors.New("malformed checkpoint: empty origin")
	}
	if len(origin) > 256 || !utf8.ValidString(origin) {
		return fmt.Errorf("malformed checkpoint: origin %q is not short UTF-8", origin)
	}
	for _, r := range origin {
		if r < 0x21 || r == 0x7f {
			return fmt.Errorf("malformed checkpoint: origin %q contains a space or control character", origin)
		}
	}
	return nil
}

// openCheckpoint checks the signatures on msg and parses its text. It fails
// with a *note.UnverifiedNoteError if no known key signed it, and with a
// *note.InvalidSignatureError if a known key's signature does not verify.
func openCheckpoint(msg []byte, known note.Verifiers) (Checkpoint, *note.Note, error) {
	if len(msg) > MaxCheckpointSize {
		return Checkpoint{}, nil, fmt.Errorf("malformed checkpoint: longer than %d bytes", MaxCheckpointSize)
	}
	n, err := note.Open(msg, known)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	// note.Open accepts base64 with stray low bits in the last character,
	// so two different files could carry the same signature. Accept only
	// the canonical encoding, so that any change to a file is detected.
	sigs := msg[len(n.Text)+1:]
	for len(sigs) > 0 {
		line, rest, _ := bytes.Cut(sigs, []byte("\n"))
		sigs = rest
		_, b64, _ := bytes.Cut(line, []byte(" "))
		_, b64, _ = bytes.Cut(b64, []byte(" "))
		if sig, err := base64.StdEncoding.Strict().DecodeString(string(b64)); err != nil || base64.StdEncoding.EncodeToString(sig) != string(b64) {
			return Checkpoint{}, nil, errors.New("malformed checkpoint: a signature is not canonical base64")
		}
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, nil, err
	}
	return c, n, nil
}
