package pseudonym

import "strings"

// NewSmallRegistry returns an empty Registry whose space holds only the
// given surnames (one Hangul syllable each), each followed by every ordered
// pair of the given syllables, romanized as [Parse] romanizes them, with
// nothing blocked. It lets tests of callers force collisions and exhaust the
// space. Never use it for a study: names drawn from another space differ
// from every other researcher's.
func NewSmallRegistry(surnames, syllables []string) *Registry {
	sur := make([]struct{ hangul, roman string }, len(surnames))
	for i, s := range surnames {
		sur[i].hangul = s
		sur[i].roman, _, _ = strings.Cut(romanize(s+"가"), " ")
	}
	r := NewRegistry()
	r.space = newSpace(sur, syllables, nil, nil)
	return r
}
