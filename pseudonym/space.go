package pseudonym

import "strings"

// space is the set of names Assign draws from: every surname followed by
// every ordered pair of syllables, numbered 0 to size()-1, minus the names
// it blocks.
type space struct {
	surnames []spaceSurname
	syls     []spaceSyllable

	// blockedPair[i*len(syls)+j] blocks the given name syls[i] syls[j];
	// blockedStart[s*len(syls)+i] blocks surname s with first syllable i.
	blockedPair  []bool
	blockedStart []bool
	blockedName  map[string]bool
}

type spaceSurname struct {
	hangul, roman string
	key           string // romanKey(roman) + " "
}

type spaceSyllable struct {
	hangul string
	roman  string // lowercase
	title  string // roman with its first letter in uppercase
}

// defaultSpace is the space drawn from the package tables.
var defaultSpace = newSpace(drawSurnames, drawSyllables, blockedWords, blockedNames)

func newSpace(surnames []struct{ hangul, roman string }, syllables, words, names []string) *space {
	sp := &space{blockedName: make(map[string]bool, len(names))}
	for _, s := range surnames {
		sp.surnames = append(sp.surnames, spaceSurname{s.hangul, s.roman, romanKey(s.roman) + " "})
	}
	for _, h := range syllables {
		ro := romanizeSyllable([]rune(h)[0])
		sp.syls = append(sp.syls, spaceSyllable{h, ro, string(upper(ro[0])) + ro[1:]})
	}
	word := make(map[string]bool, len(words))
	for _, w := range words {
		word[w] = true
	}
	g := len(sp.syls)
	sp.blockedPair = make([]bool, g*g)
	for i, a := range sp.syls {
		for j, b := range sp.syls {
			sp.blockedPair[i*g+j] = word[a.hangul+b.hangul]
		}
	}
	sp.blockedStart = make([]bool, len(sp.surnames)*g)
	for s, a := range sp.surnames {
		for i, b := range sp.syls {
			sp.blockedStart[s*g+i] = word[a.hangul+b.hangul]
		}
	}
	for _, n := range names {
		sp.blockedName[n] = true
	}
	return sp
}

func (sp *space) size() uint64 {
	g := uint64(len(sp.syls))
	return uint64(len(sp.surnames)) * g * g
}

// name returns name i of the space and its romanKey, or false if the space
// blocks it.
func (sp *space) name(i uint64) (n Name, romanKey string, ok bool) {
	g := uint64(len(sp.syls))
	s, a, b := i/(g*g), i/g%g, i%g
	if sp.blockedPair[a*g+b] || sp.blockedStart[s*g+a] {
		return Name{}, "", false
	}
	sur, x, y := &sp.surnames[s], &sp.syls[a], &sp.syls[b]
	h := sur.hangul + x.hangul + y.hangul
	if sp.blockedName[h] {
		return Name{}, "", false
	}
	var rb strings.Builder
	rb.Grow(len(sur.roman) + len(x.roman) + len(y.roman) + 2)
	rb.WriteString(sur.roman)
	rb.WriteByte(' ')
	rb.WriteString(x.title)
	rb.WriteByte('-')
	rb.WriteString(y.roman)
	return Name{Hangul: h, Roman: rb.String()}, sur.key + x.roman + y.roman, true
}
