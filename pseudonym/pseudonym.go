// Package pseudonym gives each testimony a Korean-style pseudonym, such as
// 김석한 (Kim Seok-han), unique within a study and the same for every
// researcher of the team.
//
// Use a [Registry]: [Registry.Assign] gives a testimony key its pseudonym,
// drawn from a seed, and the same one on every later call;
// [Registry.Apply] lays the renames researchers chose over the drawn names;
// [Registry.MarshalBinary] and [Registry.UnmarshalBinary] carry the registry
// between runs (the caller encrypts the bytes). [Parse] reads a name typed
// by a person.
//
// # Names
//
// A drawn name is a surname and a two-syllable given name, in Hangul and in
// romanized form. Surnames come from 76 common surnames (including North
// Korean spellings such as 리 and 림) and keep their customary romanization
// (김 Kim, 이 Lee, 박 Park, 최 Choi, 리 Ri, ...). Each given-name syllable
// comes from 165 syllables common in given names, romanized by the Revised
// Romanization of Korean syllable by syllable, as the romanization rules for
// personal names prescribe, joined by a hyphen with the second syllable in
// lowercase: 김석한 is Kim Seok-han. The space skips given names and
// surname-syllable pairs that spell an unfortunate word and the names of
// well-known public figures. That leaves about two million names, so
// 100,000 testimonies fill about 5% of it.
//
// # Drawing from a seed
//
// The caller gives each testimony a 32-byte seed. Researchers who share a
// secret about the testimony derive the same seed (testimony's researcher
// package derives it from the envelope's content key, which only the
// researchers learn), so each of them draws the same name without talking to
// the others, and nobody without that secret can tell which name a testimony
// will get. Nothing else — the content, the time of arrival — influences it.
//
// The names of the space are numbered: with S surnames and G syllables in
// the order of the package tables, name i = s·G² + a·G + b (0 ≤ i < M =
// S·G²) is surname s with syllables a and b. Words are drawn from the seed
// by a deterministic generator: word k is the big-endian unsigned 64-bit
// integer at bytes 8·(k mod 8) to 8·(k mod 8)+7 of SHA-512(seed || u64be(k
// div 8)). A word w below L, the largest multiple of M not above 2^64−1,
// gives the candidate index w mod M (so every index is equally likely); a
// word at or above L, or an index the space blocks, gives no candidate.
// [Registry.Assign] gives a new key the first candidate whose Hangul form and
// romanized form no testimony of the registry drew (see Uniqueness). If the
// first [MaxWords] words give no free candidate, it takes the first free
// name of the space in index order instead.
//
// Collisions are thus resolved the same way everywhere: registries that hold
// the same names and assign the same seeds in the same order give the same
// names. Vectors in testdata/candidates.txt pin the generator and the tables;
// a change to either changes the names of new testimonies, so every
// researcher of a team must use the same version.
//
// # Uniqueness
//
// Within a registry no two testimonies share a pseudonym, in either script:
// Hangul forms differ, and romanized forms differ even when compared
// ignoring case and hyphens, so "Kim Seon-a" and "Kim Seo-na" cannot both be
// in use.
//
// # Renames
//
// A researcher may give a testimony another name; renames travel between
// researchers (testimony's researcher package signs them), and every
// researcher must end with the same names whatever order the renames and
// the batches reached them in. So a rename does not change the registry:
// it is a claim ([Rename]: testimony, name, clock, signer), and
// [Registry.Apply] lays the set of claims over the drawn names by one
// deterministic rule:
//
//   - Claims are taken in order of their clocks; equal clocks in order of
//     their signers, then keys and names, compared as bytes. A researcher
//     gives a new rename a clock one above every clock they know of, so a
//     rename made after seeing another one comes after it; between two
//     researchers who renamed the same testimony without seeing each
//     other's rename, the later signer in byte order wins.
//   - A claim applies unless its name, in either script, is another
//     testimony's drawn name, or a name an earlier claim gave another
//     testimony, even one renamed since (so a name that appeared in an
//     export never comes to mean another testimony). Such a claim is void
//     ([Taken]) for everyone alike.
//   - A testimony is named by the last of its claims that applied, or by
//     its drawn name. Renaming it back to its drawn name is a claim like
//     any other.
//
// Drawing ignores renames: drawn names must not depend on which renames a
// researcher had received when a batch came in. So a testimony of a later
// batch may draw a name a rename gave earlier; the drawn name then wins, and
// the rename becomes void (every researcher sees it so, and is told). With
// two million names this is rare; a name outside the drawn space (a
// surname or syllable not in the tables, or a compound surname such as
// 남궁) can never be drawn.
package pseudonym

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name is a pseudonym in Hangul and in romanized form.
type Name struct {
	// Hangul is two to four Hangul syllables, surname first, without
	// spaces: "김석한".
	Hangul string

	// Roman is the surname, one space and the given name, in ASCII letters
	// and hyphens: "Kim Seok-han".
	Roman string
}

// String returns the name as Hangul followed by the romanized form in
// parentheses: "김석한 (Kim Seok-han)". [Parse] reads this form back.
func (n Name) String() string {
	return n.Hangul + " (" + n.Roman + ")"
}

const (
	// maxInput bounds what Parse reads, in bytes.
	maxInput = 256
	// maxRoman bounds a romanized name, in bytes.
	maxRoman = 40
	// minSyllables and maxSyllables bound a Hangul name.
	minSyllables = 2
	maxSyllables = 4
)

// Parse reads a name typed by a person, in one of three forms:
//
//	김영철                      Hangul only: romanized by the package
//	김영철/Kim Young-chul       Hangul, a slash, the romanized form
//	김영철 (Kim Young-chul)     the form [Name.String] writes
//
// Spaces around the whole input, around the slash and inside the
// parentheses are ignored.
//
// The Hangul form must be two to four Hangul syllables without spaces,
// surname first. A name of three or four syllables starting with a
// two-syllable surname (남궁, 선우, 제갈, 황보, ...) is read as having that
// surname. Hangul typed as separate jamo (for example by macOS, in
// decomposed form) is composed into syllables first.
//
// The romanized form must be the surname, one space and the given name,
// written in ASCII letters with its syllables optionally joined by hyphens,
// at most 40 characters: "Kim Young-chul", "Kim Youngchul", "Namgung Min".
// Its case is normalized: each word starts with a capital letter and the rest
// is lowercase ("KIM young-Chul" becomes "Kim Young-chul"). Parse does not
// check that the romanized form matches the Hangul, so a researcher can keep
// a person's own spelling.
//
// Without a romanized form, Parse uses the customary romanization of the
// surname if it knows one (김 Kim, 이 Lee, 박 Park, ...) and otherwise the
// Revised Romanization, syllable by syllable; the given name is romanized by
// the Revised Romanization, syllables joined by hyphens: "김영철" gives
// "Kim Yeong-cheol".
func Parse(s string) (Name, error) {
	if len(s) > maxInput {
		return Name{}, fmt.Errorf("name is %d bytes long; a name is at most %d bytes, for example 김영철/Kim Young-chul", len(s), maxInput)
	}
	if !utf8.ValidString(s) {
		return Name{}, fmt.Errorf("name %q is not valid UTF-8; type it again in a UTF-8 terminal, for example 김영철/Kim Young-chul", s)
	}
	hangul, roman, hasRoman, err := splitInput(s)
	if err != nil {
		return Name{}, err
	}
	h, err := parseHangul(hangul)
	if err != nil {
		return Name{}, err
	}
	if !hasRoman {
		return Name{Hangul: h, Roman: romanize(h)}, nil
	}
	r, err := parseRoman(roman)
	if err != nil {
		return Name{}, err
	}
	return Name{Hangul: h, Roman: r}, nil
}

// splitInput splits the input forms Parse accepts into the Hangul part and,
// if present, the romanized part.
func splitInput(s string) (hangul, roman string, hasRoman bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", false, fmt.Errorf("name is empty; give a Hangul name, for example 김영철 or 김영철/Kim Young-chul")
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hangul, roman = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		if strings.ContainsAny(roman, "/()") {
			return "", "", false, fmt.Errorf("name %q has more than one romanized form; write one, for example 김영철/Kim Young-chul", s)
		}
		if roman == "" {
			return "", "", false, fmt.Errorf("name %q has nothing after the slash; write the romanized form after it, for example 김영철/Kim Young-chul, or leave out the slash", s)
		}
		return hangul, roman, true, nil
	}
	if i := strings.IndexByte(s, '('); i >= 0 {
		if !strings.HasSuffix(s, ")") || strings.Count(s, "(") != 1 || strings.Count(s, ")") != 1 {
			return "", "", false, fmt.Errorf("name %q has unbalanced parentheses; write 김영철 (Kim Young-chul) or 김영철/Kim Young-chul", s)
		}
		hangul, roman = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:len(s)-1])
		if roman == "" {
			return "", "", false, fmt.Errorf("name %q has nothing inside the parentheses; write the romanized form there, for example 김영철 (Kim Young-chul), or leave them out", s)
		}
		return hangul, roman, true, nil
	}
	if strings.ContainsRune(s, ')') {
		return "", "", false, fmt.Errorf("name %q has unbalanced parentheses; write 김영철 (Kim Young-chul) or 김영철/Kim Young-chul", s)
	}
	return s, "", false, nil
}

// parseHangul checks a Hangul name and returns it with jamo composed into
// syllables.
func parseHangul(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("name has no Hangul form; write it first, for example 김영철/Kim Young-chul")
	}
	c := composeJamo(s)
	n := 0
	for _, r := range c {
		switch {
		case isSyllable(r):
			n++
		case unicode.IsSpace(r):
			return "", fmt.Errorf("Hangul name %q contains a space; write it without spaces, for example 김영철", s)
		case r < utf8.RuneSelf && unicode.IsLetter(r):
			return "", fmt.Errorf("name %q has no Hangul form; write the Hangul first, for example 김영철/Kim Young-chul, or just 김영철", s)
		default:
			return "", fmt.Errorf("Hangul name %q contains %q, which is not a complete Hangul syllable; use Hangul syllables only, for example 김영철", s, r)
		}
	}
	if n < minSyllables || n > maxSyllables {
		return "", fmt.Errorf("Hangul name %q has %d syllables; a name has %d to %d, surname first, for example 김영철", s, n, minSyllables, maxSyllables)
	}
	return c, nil
}

// parseRoman checks a romanized name and returns it with its case
// normalized.
func parseRoman(s string) (string, error) {
	if len(s) > maxRoman {
		return "", fmt.Errorf("romanized name %q is %d characters long; the limit is %d", s, len(s), maxRoman)
	}
	for _, r := range s {
		if r >= utf8.RuneSelf {
			return "", fmt.Errorf("romanized name %q contains %q; use ASCII letters only, for example Kim Young-chul", s, r)
		}
		if !isASCIILetter(r) && r != ' ' && r != '-' {
			return "", fmt.Errorf("romanized name %q contains %q; use letters, one space after the surname and hyphens between syllables only, for example Kim Young-chul", s, r)
		}
	}
	surname, given, ok := strings.Cut(s, " ")
	if !ok {
		return "", fmt.Errorf("romanized name %q has no space between surname and given name; write it like Kim Young-chul", s)
	}
	if strings.Contains(given, " ") {
		return "", fmt.Errorf("romanized name %q has more than one space; write the surname, one space, and the given name with its syllables joined by hyphens, like Kim Young-chul", s)
	}
	if surname == "" || strings.Contains(surname, "-") {
		return "", fmt.Errorf("romanized name %q does not start with a surname of letters only; write it like Kim Young-chul", s)
	}
	if given == "" || given[0] == '-' || given[len(given)-1] == '-' || strings.Contains(given, "--") {
		return "", fmt.Errorf("romanized name %q has a misplaced hyphen; put single hyphens only between syllables of the given name, like Kim Young-chul", s)
	}
	var b strings.Builder
	b.Grow(len(s))
	writeWord(&b, surname)
	b.WriteByte(' ')
	writeWord(&b, given)
	return b.String(), nil
}

// writeWord writes w with its first letter in uppercase and the rest in
// lowercase.
func writeWord(b *strings.Builder, w string) {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if i == 0 {
			c = upper(c)
		} else {
			c = lower(c)
		}
		b.WriteByte(c)
	}
}

// romanKey is the form in which romanized names are compared for
// uniqueness: lowercase, hyphens removed. Roman must be well-formed.
func romanKey(roman string) string {
	b := make([]byte, 0, len(roman))
	for i := 0; i < len(roman); i++ {
		if c := roman[i]; c != '-' {
			b = append(b, lower(c))
		}
	}
	return string(b)
}

func isASCIILetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c - 'A' + 'a'
	}
	return c
}

// Hangul syllables are composed algorithmically (Unicode §3.12).
const (
	syllableBase = 0xAC00
	syllableLast = 0xD7A3
	jamoLBase    = 0x1100
	jamoVBase    = 0x1161
	jamoTBase    = 0x11A7
	jamoLCount   = 19
	jamoVCount   = 21
	jamoTCount   = 28
	jamoNCount   = jamoVCount * jamoTCount
)

func isSyllable(r rune) bool { return syllableBase <= r && r <= syllableLast }

// composeJamo composes conjoining Hangul jamo into syllables, as Unicode
// normalization form NFC does, and leaves everything else as it is.
func composeJamo(s string) string {
	hasJamo := false
	for _, r := range s {
		if 0x1100 <= r && r <= 0x11FF {
			hasJamo = true
			break
		}
	}
	if !hasJamo {
		return s
	}
	rs := []rune(s)
	out := make([]rune, 0, len(rs))
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := out[n-1]
			if l := last - jamoLBase; 0 <= l && l < jamoLCount {
				if v := r - jamoVBase; 0 <= v && v < jamoVCount {
					out[n-1] = syllableBase + (l*jamoVCount+v)*jamoTCount
					continue
				}
			}
			if si := last - syllableBase; isSyllable(last) && si%jamoTCount == 0 {
				if t := r - jamoTBase; 0 < t && t < jamoTCount {
					out[n-1] = last + t
					continue
				}
			}
		}
		out = append(out, r)
	}
	return string(out)
}

// Revised Romanization of each jamo of a syllable, read on its own.
var (
	rrInitial = [jamoLCount]string{"g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch", "k", "t", "p", "h"}
	rrVowel   = [jamoVCount]string{"a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u", "wo", "we", "wi", "yu", "eu", "ui", "i"}
	rrFinal   = [jamoTCount]string{"", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m", "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t"}
)

// romanizeSyllable returns the Revised Romanization of one Hangul syllable,
// in lowercase.
func romanizeSyllable(r rune) string {
	i := r - syllableBase
	return rrInitial[i/jamoNCount] + rrVowel[i%jamoNCount/jamoTCount] + rrFinal[i%jamoTCount]
}

// splitSurname splits a well-formed Hangul name into surname and given name.
func splitSurname(h string) (surname, given string) {
	_, n1 := utf8.DecodeRuneInString(h)
	if utf8.RuneCountInString(h) >= 3 {
		_, n2 := utf8.DecodeRuneInString(h[n1:])
		if _, ok := otherSurnames[h[:n1+n2]]; ok {
			return h[:n1+n2], h[n1+n2:]
		}
	}
	return h[:n1], h[n1:]
}

// surnameRoman maps each surname to its customary romanization.
var surnameRoman = func() map[string]string {
	m := make(map[string]string, len(drawSurnames)+len(otherSurnames))
	for k, v := range otherSurnames {
		m[k] = v
	}
	for _, s := range drawSurnames {
		m[s.hangul] = s.roman
	}
	return m
}()

// romanize returns the romanized form of a well-formed Hangul name, as
// documented on Parse.
func romanize(h string) string {
	surname, given := splitSurname(h)
	var b strings.Builder
	if r, ok := surnameRoman[surname]; ok {
		b.WriteString(r)
	} else {
		var s strings.Builder
		for _, r := range surname {
			s.WriteString(romanizeSyllable(r))
		}
		writeWord(&b, s.String())
	}
	b.WriteByte(' ')
	first := true
	for _, r := range given {
		syl := romanizeSyllable(r)
		if first {
			b.WriteByte(upper(syl[0]))
			b.WriteString(syl[1:])
			first = false
			continue
		}
		b.WriteByte('-')
		b.WriteString(syl)
	}
	return b.String()
}

// validName reports whether n is well-formed and canonical: what Parse
// returns for n.String().
func validName(n Name) bool {
	if len(n.Hangul) > maxSyllables*3 || len(n.Roman) > maxRoman {
		return false
	}
	h, err := parseHangul(n.Hangul)
	if err != nil || h != n.Hangul {
		return false
	}
	r, err := parseRoman(n.Roman)
	return err == nil && r == n.Roman
}
