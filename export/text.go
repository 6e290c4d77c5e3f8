package export

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// hidden reports whether the rune at s[i:] must not reach a reader's screen
// as it is (see [Visible] for the list), and returns the rune and its size.
// Invalid UTF-8 is hidden with r set to utf8.RuneError and size 1.
func hidden(s string, i int) (r rune, size int, hide bool) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1, (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f
	}
	r, size = utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && size == 1:
		return r, 1, true
	case r >= 0xac00 && r <= 0xd7a3, r >= 0x3400 && r <= 0x9fff, r >= 0xa0 && r < 0x600 && r != 0xad:
		return r, size, false // Hangul, Han, Latin, Greek, Cyrillic…: nothing hidden
	}
	switch {
	case r >= 0x80 && r <= 0x9f, r == 0x2028, r == 0x2029, r == 0x3164, r == 0xffa0:
		return r, size, true
	case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
		return r, size, true // noncharacters
	case r == 0x200c || r == 0x200d:
		prev, _ := utf8.DecodeLastRuneInString(s[:i])
		if joiningScript(prev) {
			return r, size, false
		}
		if r == 0x200d {
			next, _ := utf8.DecodeRuneInString(s[i+size:])
			if emojiBefore(s[:i]) && pictographic(next) {
				return r, size, false
			}
		}
		return r, size, true
	case r >= 0xe0020 && r <= 0xe007f:
		return r, size, !inFlagTags(s, i)
	case isVariationSelector(r):
		prev, _ := utf8.DecodeLastRuneInString(s[:i])
		return r, size, i == 0 || isVariationSelector(prev)
	case unicode.Is(unicode.Cf, r):
		return r, size, true
	}
	return r, size, false
}

// Visible returns s with every character that is invisible, or changes the
// direction or the lines of the text around it, replaced by its code point
// in angle brackets, such as "<U+202E>", and every byte that is not UTF-8
// by "<0xFF>": such characters can hide or disguise what a testimony says.
// Text that has none is returned as it is. CSV, XLSX and Markdown cells go
// through Visible; JSONL escapes the same characters as \u sequences
// instead, which keeps the text exact.
//
// Replaced are:
//   - C0 and C1 control characters but tab and line feed, and DEL;
//   - format characters (Unicode category Cf): the bidi embeddings,
//     overrides and isolates U+202A–202E and U+2066–2069, the marks
//     U+200E, U+200F and U+061C, U+200B, U+2060, U+FEFF, U+00AD, the
//     invisible operators U+2061–2064, the tags U+E0001 and U+E0020–E007F
//     and every other Cf — except ZERO WIDTH JOINER and NON-JOINER where
//     they join (see below) and the tags of an emoji flag;
//   - LINE SEPARATOR and PARAGRAPH SEPARATOR (U+2028, U+2029), which some
//     tools take for a line break and others show as nothing;
//   - the Hangul fillers U+3164 and U+FFA0, which render as blank;
//   - noncharacters (U+FDD0–FDEF and the last two code points of every
//     plane), which XML cannot hold;
//   - a variation selector that follows another one (a run of them can
//     carry hidden data after a single visible character), or starts the
//     text.
//
// Kept, because text needs them:
//   - U+200D ZERO WIDTH JOINER between two emoji (👩‍💻, 🏳️‍🌈, 🧑🏽‍🚀,
//     ❤️‍🔥), after an emoji, its skin tone or its presentation selector;
//   - U+200C and U+200D after a letter or mark of a script that shapes with
//     them (Arabic and Persian, Syriac, N'Ko, Mongolian, Thaana, the Indic
//     scripts, Sinhala, Myanmar, Khmer, Tibetan, Balinese, Javanese);
//   - the tags of a flag such as 🏴󠁧󠁢󠁳󠁣󠁴󠁿 (U+1F3F4, 1 to 8 tag letters or
//     digits, U+E007F);
//   - one variation selector after any character (U+FE0F of 🏳️, the
//     ideographic variation selectors of a Han character).
//
// Regional indicators (flags such as 🇰🇷), skin tones and keycaps are not
// format characters and are kept.
func Visible(s string) string {
	i := firstHidden(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		start := i
		for i < len(s) {
			r, size, hide := hidden(s, i)
			if hide {
				b.WriteString(s[start:i])
				writeCodePoint(&b, r, s[i])
				i += size
				start = i
				continue
			}
			i += size
		}
		b.WriteString(s[start:i])
	}
	return b.String()
}

func writeCodePoint(b *strings.Builder, r rune, first byte) {
	if r == utf8.RuneError {
		b.WriteString("<0x")
		b.WriteString(strings.ToUpper(strconv.FormatUint(uint64(first), 16)))
		b.WriteByte('>')
		return
	}
	b.WriteString("<U+")
	h := strings.ToUpper(strconv.FormatUint(uint64(r), 16))
	for n := len(h); n < 4; n++ {
		b.WriteByte('0')
	}
	b.WriteString(h)
	b.WriteByte('>')
}

// firstHidden returns the index of the first hidden character of s, or -1.
func firstHidden(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		_, size, hide := hidden(s, i)
		if hide {
			return i
		}
		i += size
	}
	return -1
}

// joiningScript reports whether r is a letter or mark of a script whose
// shaping uses ZERO WIDTH JOINER or NON-JOINER.
func joiningScript(r rune) bool {
	if r < 0x0600 {
		return false
	}
	for _, t := range joiningScripts {
		if unicode.Is(t, r) {
			return unicode.IsLetter(r) || unicode.IsMark(r)
		}
	}
	return false
}

var joiningScripts = []*unicode.RangeTable{
	unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mongolian, unicode.Thaana,
	unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi, unicode.Gujarati, unicode.Oriya,
	unicode.Tamil, unicode.Telugu, unicode.Kannada, unicode.Malayalam, unicode.Sinhala,
	unicode.Myanmar, unicode.Khmer, unicode.Tibetan, unicode.Balinese, unicode.Javanese,
}

// pictographic approximates the Unicode property Extended_Pictographic:
// the code points emoji are drawn from.
func pictographic(r rune) bool {
	switch {
	case r >= 0x1f000 && r <= 0x1faff, r >= 0x1fc00 && r <= 0x1fffd:
		return !(r >= 0x1f1e6 && r <= 0x1f1ff) && !(r >= 0x1f3fb && r <= 0x1f3ff)
	case r >= 0x2600 && r <= 0x27bf, r >= 0x2300 && r <= 0x23ff, r >= 0x2b00 && r <= 0x2bff:
		return true
	case r >= 0x2190 && r <= 0x21ff, r >= 0x25a0 && r <= 0x25ff, r >= 0x2934 && r <= 0x2935:
		return true
	}
	switch r {
	case 0xa9, 0xae, 0x203c, 0x2049, 0x2122, 0x2139, 0x24c2, 0x3030, 0x303d, 0x3297, 0x3299:
		return true
	}
	return false
}

// emojiBefore reports whether a ZERO WIDTH JOINER after before continues an
// emoji: before ends with an emoji, a skin tone, or an emoji followed by
// the emoji presentation selector.
func emojiBefore(before string) bool {
	r, size := utf8.DecodeLastRuneInString(before)
	if r == 0xfe0f {
		r, _ = utf8.DecodeLastRuneInString(before[:len(before)-size])
	}
	return pictographic(r) || (r >= 0x1f3fb && r <= 0x1f3ff)
}

func isVariationSelector(r rune) bool {
	return (r >= 0xfe00 && r <= 0xfe0f) || (r >= 0xe0100 && r <= 0xe01ef)
}

// inFlagTags reports whether the tag character at s[i:] belongs to an emoji
// tag sequence: U+1F3F4, 1 to 8 tags among U+E0030–E0039 and
// U+E0061–E007A, then U+E007F CANCEL TAG.
func inFlagTags(s string, i int) bool {
	const maxTags = 8
	start := i
	n := 0
	for start > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:start])
		if !flagTag(r) {
			break
		}
		if n++; n > maxTags {
			return false
		}
		start -= size
	}
	if base, _ := utf8.DecodeLastRuneInString(s[:start]); base != 0x1f3f4 {
		return false
	}
	for j := i; j < len(s); {
		r, size := utf8.DecodeRuneInString(s[j:])
		if r == 0xe007f {
			return n > 0 || j > i // at least one tag before the cancel tag
		}
		if !flagTag(r) {
			return false
		}
		if n++; n > maxTags {
			return false
		}
		j += size
	}
	return false
}

func flagTag(r rune) bool {
	return (r >= 0xe0030 && r <= 0xe0039) || (r >= 0xe0061 && r <= 0xe007a)
}

// defuse returns s, already made [Visible], with a single quote inserted
// before every formula trigger that a spreadsheet could read at the start
// of a cell, whatever it splits fields and lines on. See the package
// documentation, "CSV and formulas", for what is dangerous and why.
func defuse(s string) string {
	var at []int // byte offsets of dangerous triggers, increasing
	// The run of white space and quotes skipped last, [.., skipEnd), and
	// its last quote: boundaries inside a run share its end, so that every
	// byte is skipped once (a run of spaces is a run of boundaries).
	skipEnd, lastQuote := -1, -1
	seen, harmless := -1, map[rune]bool(nil)
	check := func(b int, sep rune) {
		if b >= skipEnd {
			skipEnd, lastQuote = b, -1
			for skipEnd < len(s) {
				r, size := utf8.DecodeRuneInString(s[skipEnd:])
				if r == '"' {
					lastQuote = skipEnd
				} else if !unicode.IsSpace(r) {
					break
				}
				skipEnd += size
			}
		}
		j := skipEnd
		if lastQuote >= b {
			// A quote-aware tool reads on past the separator until the
			// closing quote: check the rest of the line.
			sep = 0
		}
		if j == len(s) {
			return
		}
		if len(at) > 0 && at[len(at)-1] == j {
			return // already found dangerous from an earlier boundary
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		switch trigger(r) {
		case 0:
			return
		case '+':
			// Boundaries of one run reach the same trigger: remember the
			// verdict for each separator, so the number is read once.
			if j != seen {
				seen, harmless = j, map[rune]bool{}
			}
			h, ok := harmless[sep]
			if !ok {
				h = harmlessNumber(s[j+size:], sep)
				harmless[sep] = h
			}
			if h {
				return
			}
		}
		// Boundaries are visited in order and skip forward only, so a
		// trigger is found again only by boundaries of the same run.
		at = append(at, j)
	}
	check(0, 0)
	for i := 0; i < len(s); i++ {
		// Boundaries are ASCII, which is never part of a longer UTF-8
		// sequence: scanning bytes finds them all.
		if c := s[i]; c < utf8.RuneSelf && isBoundary(rune(c)) {
			check(i+1, rune(c))
		}
	}
	if len(at) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(at))
	last := 0
	for _, j := range at {
		b.WriteString(s[last:j])
		b.WriteByte('\'')
		last = j
	}
	b.WriteString(s[last:])
	return b.String()
}

// Boundaries are the characters a tool may split fields or rows on: the
// separators spreadsheets offer (comma, semicolon, tab, space, vertical
// bar) and line breaks.
func isBoundary(r rune) bool {
	switch r {
	case ',', ';', '\t', ' ', '|', '\n', '\r':
		return true
	}
	return false
}

// trigger classifies r: '=' for characters that start a formula whatever
// follows (=, @ and their full-width and small forms), '+' for signs that
// start one unless a plain number follows (+, -, U+2212 MINUS SIGN and
// their full-width and small forms), and 0 for anything else.
func trigger(r rune) rune {
	switch r {
	case '=', '@', '＝', '＠', '﹦', '﹫':
		return '='
	case '+', '-', '＋', '－', '﹢', '﹣', '−':
		return '+'
	}
	return 0
}

// harmlessNumber reports whether rest, the text after a sign up to the next
// sep or line break, holds only digits, spaces and . , ( ) / + - % ': a
// number such as -5 or a telephone number such as +82 (0)10-1234-5678.
// With no letter a formula can name no function, cell, sheet or program.
// (The single quote is allowed so that the quotes defuse inserts never make
// another segment dangerous.)
func harmlessNumber(rest string, sep rune) bool {
	for _, r := range rest {
		if r == sep || r == '\n' || r == '\r' {
			return true
		}
		switch {
		case r >= '0' && r <= '9':
		case r == ' ', r == '.', r == ',', r == '(', r == ')', r == '/', r == '+', r == '-', r == '%', r == '\'':
		default:
			return false
		}
	}
	return true
}

// Codes for answers that are not there. They are Stata's extended missing
// values .n, .s and .v, and plain text elsewhere.
const (
	NotAsked     = ".n" // the question's condition was false: it was not shown
	Skipped      = ".s" // the question was shown and left blank
	NotInVersion = ".v" // the questionnaire version the testimony answered has no such question
)

// escapeCode returns a text answer that reads as a code, or as an escaped
// code, with one more backslash in front: ".s" becomes "\.s" and "\.s"
// becomes "\\.s". Removing one leading backslash from every cell matching
// ^\\+\.[nsv]$ gives back the text.
func escapeCode(s string) string {
	t := strings.TrimLeft(s, `\`)
	if t == NotAsked || t == Skipped || t == NotInVersion {
		return `\` + s
	}
	return s
}
