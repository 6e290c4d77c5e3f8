package signednote

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Lines reads the text of a note line by line, strictly: see the package
// documentation. Each method reads the lines it names and fails, naming
// the line, if they are not there or not in form; the caller checks what
// is format-specific (ids, names) and reports it with [Lines.Errorf].
type Lines struct {
	text []byte
	what string
	n    int
}

// NewLines returns a reader of text, a note's text whose errors call it
// what: "receipt", "batch manifest".
func NewLines(text []byte, what string) *Lines {
	return &Lines{text: text, what: what}
}

// Errorf returns an error about the line read last (line 0 if none was):
// "malformed <what>, line <n>: " and the message.
func (l *Lines) Errorf(format string, args ...any) error {
	return fmt.Errorf("malformed %s, line %d: %s", l.what, l.n, fmt.Sprintf(format, args...))
}

// Len returns the number of bytes not yet read: what a count may be
// checked against before anything is allocated for it.
func (l *Lines) Len() int { return len(l.text) }

func (l *Lines) line() (string, bool) {
	i := bytes.IndexByte(l.text, '\n')
	if i < 0 {
		return "", false
	}
	s := string(l.text[:i])
	l.text = l.text[i+1:]
	l.n++
	return s, true
}

// Header reads the first line, which must be format ("testimony import
// receipt v1"). noun names what such a file is, for the error: "receipt".
func (l *Lines) Header(format, noun string) error {
	if s, ok := l.line(); !ok || s != format {
		return l.Errorf("not a %q: unsupported version, or not a %s", format, noun)
	}
	return nil
}

// Field reads the line "<key> <value>" and returns the value: all after
// the first space, which the caller checks.
func (l *Lines) Field(key string) (string, error) {
	s, ok := l.line()
	if !ok {
		return "", l.Errorf("missing %q line", key)
	}
	v, ok := strings.CutPrefix(s, key+" ")
	if !ok {
		return "", l.Errorf("want %q line, got %.80q", key, s)
	}
	return v, nil
}

// Count reads the line "<key> <n>", n decimal from lo to hi without sign
// or leading zeros, and returns n. what names the number in errors:
// "batch count".
func (l *Lines) Count(key, what string, lo, hi int) (int, error) {
	v, err := l.Field(key)
	if err != nil {
		return 0, err
	}
	n, ok := ParseDecimal(v, lo, hi)
	if !ok {
		return 0, l.Errorf("malformed %s %.80q: want %d to %d", what, v, lo, hi)
	}
	return n, nil
}

// Item reads line i (from 0) of a list of n lines, each of a noun
// ("envelope"): the error says the text ends after i of the n.
func (l *Lines) Item(i, n int, noun string) (string, error) {
	s, ok := l.line()
	if !ok {
		return "", l.Errorf("it ends after %d of %d %s lines", i, n, noun)
	}
	return s, nil
}

// SHA256s reads a list of n lines, each a SHA-256 in 64 lowercase
// hexadecimal digits, sorted, no two alike, of a noun ("batch"), and
// returns them (an empty, not nil, slice for n = 0). It allocates for no
// more of them than the rest of the text can hold.
func (l *Lines) SHA256s(n int, noun string) ([][32]byte, error) {
	const lineSize = 2*sha256.Size + 1
	out := make([][32]byte, 0, min(n, len(l.text)/lineSize))
	for i := range n {
		s, err := l.Item(i, n, noun)
		if err != nil {
			return nil, err
		}
		var h [32]byte
		if !ParseHex(h[:], s) {
			return nil, l.Errorf("malformed %s SHA-256 %.80q", noun, s)
		}
		if i > 0 && bytes.Compare(h[:], out[i-1][:]) <= 0 {
			return nil, l.Errorf("%s %s listed out of order or twice", noun, s)
		}
		out = append(out, h)
	}
	return out, nil
}

// End checks that the text ends after the list just read, of n lines each
// of a noun.
func (l *Lines) End(n int, noun string) error {
	if len(l.text) != 0 {
		l.n++
		return l.Errorf("unexpected text after the %d %s lines", n, noun)
	}
	return nil
}

// ParseDecimal returns the number s writes in decimal, if it is from lo to
// hi and s has no sign, no leading zero and nothing else.
func ParseDecimal[T ~int | ~int64](s string, lo, hi T) (T, bool) {
	if s == "" || len(s) > 19 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0') // 19 digits fit in 64 bits
	}
	if lo > 0 && n < uint64(lo) || hi < 0 || n > uint64(hi) {
		return 0, false
	}
	return T(n), true
}

// ParseHex decodes s into dst if it is exactly len(dst) bytes in
// lowercase hexadecimal.
func ParseHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}
