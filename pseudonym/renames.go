package pseudonym

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Rename is one researcher's choice of a name for a testimony: a claim that
// [Registry.Apply] weighs against every other.
type Rename struct {
	// Key is the testimony's key in the registry.
	Key string
	// Name is the name chosen, canonical as [Parse] returns it.
	Name Name
	// Clock orders renames: a researcher gives a new rename a clock one
	// above the highest clock of every rename they know of, their own and
	// those they received, so that a rename made after seeing another
	// comes after it.
	Clock uint64
	// Signer names who chose it, such as the fingerprint of a researcher's
	// key; it only breaks ties between equal clocks.
	Signer string
}

// compare orders renames as Apply applies them: by clock, then signer,
// key, Hangul and romanized form.
func (r Rename) compare(o Rename) int {
	return cmp.Or(cmp.Compare(r.Clock, o.Clock), strings.Compare(r.Signer, o.Signer), strings.Compare(r.Key, o.Key),
		strings.Compare(r.Name.Hangul, o.Name.Hangul), strings.Compare(r.Name.Roman, o.Name.Roman))
}

// Outcome is what [Registry.Apply] made of a rename.
type Outcome uint8

const (
	// Applied: the rename is in effect; the testimony has its name.
	Applied Outcome = 1 + iota
	// Superseded: the rename applied, then a later rename of the same
	// testimony did. Its name stays reserved for that testimony.
	Superseded
	// Taken: the rename is void: when its turn came, its name (in either
	// script, romanized forms compared ignoring case and hyphens) was,
	// or had been, another testimony's.
	Taken
	// Unknown: the registry has no testimony with the rename's key (a
	// batch not imported yet): it applies once the testimony comes.
	Unknown
	// Malformed: the name is not canonical; the rename is void.
	Malformed
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Superseded:
		return "superseded"
	case Taken:
		return "taken"
	case Unknown:
		return "unknown testimony"
	case Malformed:
		return "malformed"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Result is the outcome of one rename. Holder, for a Taken rename, is the
// key of the testimony that holds or held the name.
type Result struct {
	Outcome Outcome
	Holder  string
}

// Names are the pseudonyms of a registry's testimonies with renames
// applied, made by [Registry.Apply]. They are valid until the registry
// assigns another name: apply the renames again after Assign.
type Names struct {
	reg     *Registry
	renamed map[string]Name   // key → name, for renamed testimonies
	hangul  map[string]string // Hangul form a rename gave (current or given up) → key
	roman   map[string]string // romanKey a rename gave → key
}

// Apply applies renames to the names the registry drew and returns the
// result, and what became of each rename (results[i] for renames[i]).
// The registry is not changed.
//
// The result depends only on the drawn names and the set of renames, not on
// their order or repetitions: renames are applied one by one in the order
// of their clocks (ties broken by signer, then key, then name, as strings
// of bytes). A rename applies unless its name, in either script, is the
// drawn name of another testimony, or the name an earlier-applied rename
// gave another testimony (even if that testimony has been renamed since:
// a name that was in an export never comes to mean another testimony).
// A testimony's name is that of the last rename of it that applied, or its
// drawn name. So two researchers holding the same testimonies and the same
// renames get the same names, whatever order they learnt of them in.
func (r *Registry) Apply(renames []Rename) (*Names, []Result) {
	n := &Names{reg: r, renamed: map[string]Name{}, hangul: map[string]string{}, roman: map[string]string{}}
	results := make([]Result, len(renames))
	order := make([]int, len(renames))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return renames[a].compare(renames[b]) })
	last := map[string]int{} // key → index of the last rename applied
	r.mu.Lock()
	defer r.mu.Unlock()
	for j, i := range order {
		rn := renames[i]
		if j > 0 && rn == renames[order[j-1]] {
			continue // a repetition: given the first one's outcome below
		}
		if _, ok := r.names[rn.Key]; !ok {
			results[i] = Result{Outcome: Unknown}
			continue
		}
		if !validName(rn.Name) {
			results[i] = Result{Outcome: Malformed}
			continue
		}
		rk := romanKey(rn.Name.Roman)
		if k := n.otherHolderLocked(rn.Name.Hangul, rk, rn.Key); k != "" {
			results[i] = Result{Outcome: Taken, Holder: k}
			continue
		}
		n.renamed[rn.Key] = rn.Name
		n.hangul[rn.Name.Hangul] = rn.Key
		n.roman[rk] = rn.Key
		results[i] = Result{Outcome: Applied}
		if p, ok := last[rn.Key]; ok {
			results[p].Outcome = Superseded
		}
		last[rn.Key] = i
	}
	for j, i := range order {
		if j > 0 && renames[i] == renames[order[j-1]] {
			results[i] = results[order[j-1]]
		}
	}
	return n, results
}

// otherHolderLocked returns the key of a testimony other than self that
// holds or held the Hangul form h or the romanKey rk (drawn, or given by a
// rename), or "". The registry's lock is held.
func (n *Names) otherHolderLocked(h, rk, self string) string {
	for _, m := range []map[string]string{n.hangul, n.reg.hangul} {
		if k, ok := m[h]; ok && k != self {
			return k
		}
	}
	for _, m := range []map[string]string{n.roman, n.reg.roman} {
		if k, ok := m[rk]; ok && k != self {
			return k
		}
	}
	return ""
}

// Lookup returns the name of the testimony key: the last rename of it that
// applied, or its drawn name.
func (n *Names) Lookup(key string) (Name, bool) {
	if nm, ok := n.renamed[key]; ok {
		return nm, true
	}
	return n.reg.Lookup(key)
}

// Renamed returns the number of testimonies whose name is not their drawn
// one.
func (n *Names) Renamed() int {
	c := 0
	for k, nm := range n.renamed {
		if d, _ := n.reg.Lookup(k); d != nm {
			c++
		}
	}
	return c
}

// Find returns the key of the testimony now named s, given in either
// script: as Hangul ("김석한"), as the romanized form ("Kim Seok-han",
// compared ignoring case and hyphens), or in any form [Parse] accepts, in
// which case both forms must be those of the same testimony. A former name
// is refused with the testimony's current name.
func (n *Names) Find(s string) (string, error) {
	if len(s) > maxInput || !utf8.ValidString(s) {
		return "", fmt.Errorf("malformed name %q; give the current name in Hangul (for example 김석한) or romanized (for example Kim Seok-han)", s)
	}
	hasHangul := strings.ContainsFunc(s, func(c rune) bool { return isSyllable(c) || 0x1100 <= c && c <= 0x11FF })
	if hasHangul {
		nm, err := Parse(s)
		if err != nil {
			return "", fmt.Errorf("malformed name: %w", err)
		}
		key := n.holder(nm.Hangul, "")
		if key == "" {
			return "", n.notFound(s, "")
		}
		cur, _ := n.Lookup(key)
		if cur.Hangul != nm.Hangul {
			return "", n.notFound(s, key)
		}
		// Parse romanizes a bare Hangul name itself; only a romanized form
		// the caller wrote must match.
		if _, _, hasRoman, _ := splitInput(s); hasRoman && romanKey(nm.Roman) != romanKey(cur.Roman) {
			return "", fmt.Errorf("name %q does not match: %s is romanized %q; give the Hangul alone or the current romanization", s, nm.Hangul, cur.Roman)
		}
		return key, nil
	}
	roman, err := parseRoman(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("malformed name: %w", err)
	}
	rk := romanKey(roman)
	key := n.holder("", rk)
	if key == "" {
		return "", n.notFound(s, "")
	}
	if cur, _ := n.Lookup(key); romanKey(cur.Roman) != rk {
		return "", n.notFound(s, key)
	}
	return key, nil
}

// holder returns the key of the testimony that holds or held the Hangul
// form h or the romanKey rk, or "".
func (n *Names) holder(h, rk string) string {
	n.reg.mu.Lock()
	defer n.reg.mu.Unlock()
	return n.otherHolderLocked(h, rk, "")
}

func (n *Names) otherHolder(h, rk, self string) string {
	n.reg.mu.Lock()
	defer n.reg.mu.Unlock()
	return n.otherHolderLocked(h, rk, self)
}

// notFound explains that no testimony is named s; formerOf is the key of
// the testimony that used to be named s, or "".
func (n *Names) notFound(s, formerOf string) error {
	if formerOf != "" {
		cur, _ := n.Lookup(formerOf)
		return fmt.Errorf("%q is a former pseudonym; that testimony is now %s, so give that name", s, cur)
	}
	return fmt.Errorf("no testimony is named %q; give a current pseudonym, in Hangul (for example 김석한) or romanized (for example Kim Seok-han)", s)
}

// Check reports whether a rename of the testimony key to name, applied
// after every rename so far, would apply, and if not, why, in a sentence
// saying what to do.
func (n *Names) Check(key string, name Name) error {
	cur, ok := n.Lookup(key)
	if !ok {
		return fmt.Errorf("no testimony has key %q", key)
	}
	if !validName(name) {
		return fmt.Errorf("malformed name %q; write it as Parse reads it, for example 김영철/Kim Young-chul", name.String())
	}
	if cur == name {
		return fmt.Errorf("the testimony is already named %s; give a different new name", cur)
	}
	rk := romanKey(name.Roman)
	if k := n.otherHolder(name.Hangul, "", key); k != "" {
		if now, _ := n.Lookup(k); now.Hangul == name.Hangul {
			return fmt.Errorf("%s is the pseudonym of another testimony; choose a different name", now)
		} else {
			return fmt.Errorf("%s was a pseudonym of another testimony (now %s) and stays reserved so that earlier exports remain unambiguous; choose a different name", name.Hangul, now)
		}
	}
	if k := n.otherHolder("", rk, key); k != "" {
		now, _ := n.Lookup(k)
		if romanKey(now.Roman) == rk {
			return fmt.Errorf("romanized name %q is taken by another testimony, %s (romanized names must differ in more than case and hyphens); choose a different romanization or name", name.Roman, now)
		}
		return fmt.Errorf("romanized name %q is too close to a former pseudonym of another testimony (now %s), which stays reserved so that earlier exports remain unambiguous; choose a different romanization or name", name.Roman, now)
	}
	return nil
}

// Canonical reports whether n is a name as [Parse] returns it: Hangul of
// two to four syllables, a romanized form with its case normalized.
func Canonical(n Name) bool { return validName(n) }
