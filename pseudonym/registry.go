package pseudonym

import (
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxKeyLen is the longest testimony key a Registry accepts, in bytes.
const MaxKeyLen = 1024

// Registry assigns each testimony key a unique pseudonym. A key is an opaque,
// non-empty string of at most [MaxKeyLen] bytes chosen by the caller, such as
// the hex SHA-256 of an envelope; it must identify the testimony the same way
// on every run for the pseudonym to stay the same.
//
// The zero Registry is empty and ready to use. A Registry is safe for
// concurrent use.
type Registry struct {
	mu sync.Mutex

	names map[string]Name // testimony key → current name

	// Every Hangul form and every romanKey in the registry, current or
	// retired, maps to the key of its testimony. A form is in at most one
	// of the current and retired maps.
	hangul   map[string]string
	roman    map[string]string
	retiredH map[string]string
	retiredR map[string]retiredRoman
	space    *space // nil means defaultSpace
	maxWords int    // words drawn before scanning; 0 means MaxWords
}

// retiredRoman is a romanized form given up by Rename.
type retiredRoman struct {
	roman string // as it was displayed
	key   string // the testimony that had it
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.init()
	return r
}

func (r *Registry) init() {
	if r.names == nil {
		r.names = make(map[string]Name)
		r.hangul = make(map[string]string)
		r.roman = make(map[string]string)
		r.retiredH = make(map[string]string)
		r.retiredR = make(map[string]retiredRoman)
	}
}

// Len returns the number of testimonies with a pseudonym.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.names)
}

// Lookup returns the pseudonym of the testimony key, if it has one.
func (r *Registry) Lookup(key string) (Name, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.names[key]
	return n, ok
}

// Assign returns the pseudonym of the testimony key. A key seen before gets
// the name it has, including one chosen by [Registry.Rename], whatever the
// seed. A new key gets the first name drawn from seed, as the package
// documentation describes, that no testimony in the registry has, or has
// had, in either script.
//
// The seed must be secret and unpredictable to anyone who must not learn
// the pseudonym, and the same for every researcher who should give the
// testimony the same name. Registries holding the same names that assign the
// same keys with the same seeds in the same order give the same names.
//
// Assign fails if the key is empty or longer than [MaxKeyLen], or if every
// name is taken, which does not happen below millions of testimonies.
func (r *Registry) Assign(key string, seed [32]byte) (Name, error) {
	if key == "" {
		return Name{}, errors.New("testimony key is empty; pass a key that identifies the testimony, such as the SHA-256 of its envelope")
	}
	if len(key) > MaxKeyLen {
		return Name{}, fmt.Errorf("testimony key is %d bytes long; the limit is %d, so pass a digest of the testimony instead", len(key), MaxKeyLen)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	if n, ok := r.names[key]; ok {
		return n, nil
	}
	sp := r.space
	if sp == nil {
		sp = defaultSpace
	}
	n, err := r.draw(sp, seed)
	if err != nil {
		return Name{}, err
	}
	r.names[key] = n
	r.hangul[n.Hangul] = key
	r.roman[romanKey(n.Roman)] = key
	return n, nil
}

// MaxWords is how many words Assign draws from a seed before it falls back
// to scanning the space from its first name (see the package
// documentation). With the space a tenth full, a candidate is taken about
// one time in ten, so MaxWords misses in a row mean the space is nearly
// exhausted.
const MaxWords = 8192

// draw picks the first free candidate drawn from seed, or, when MaxWords
// words gave none, the first free name of the space.
func (r *Registry) draw(sp *space, seed [32]byte) (Name, error) {
	limit := r.maxWords
	if limit == 0 {
		limit = MaxWords
	}
	d := newDRBG(seed, sp.size())
	for range limit {
		i, ok := d.next()
		if !ok {
			continue
		}
		if n, ok := r.free(sp, i); ok {
			return n, nil
		}
	}
	for i := range sp.size() {
		if n, ok := r.free(sp, i); ok {
			return n, nil
		}
	}
	return Name{}, fmt.Errorf("every one of the %d pseudonyms is taken; the registry cannot name more than that many testimonies", sp.size())
}

// drbg draws indices into a space of size m from a seed: word k is the
// big-endian uint64 at bytes 8(k mod 8) to 8(k mod 8)+8 of
// SHA-512(seed || u64be(k div 8)); a word below limit, the largest multiple
// of m not above 2^64-1, gives the index word mod m, and a word at or above
// limit gives none.
type drbg struct {
	seed  [32]byte
	m     uint64
	limit uint64
	block [sha512.Size]byte
	words uint64 // words drawn so far
}

func newDRBG(seed [32]byte, m uint64) *drbg {
	return &drbg{seed: seed, m: m, limit: ^uint64(0) - ^uint64(0)%m}
}

// next draws the next word and returns the index it gives, if any.
func (d *drbg) next() (uint64, bool) {
	k := d.words % 8
	if k == 0 {
		var in [40]byte
		copy(in[:32], d.seed[:])
		binary.BigEndian.PutUint64(in[32:], d.words/8)
		d.block = sha512.Sum512(in[:])
	}
	d.words++
	w := binary.BigEndian.Uint64(d.block[8*k:])
	if w >= d.limit {
		return 0, false
	}
	return w % d.m, true
}

// free returns name i of the space if it may be drawn and is not taken.
func (r *Registry) free(sp *space, i uint64) (Name, bool) {
	n, rk, ok := sp.name(i)
	if !ok {
		return Name{}, false
	}
	if r.taken(n.Hangul, rk) {
		return Name{}, false
	}
	return n, true
}

func (r *Registry) taken(hangul, rk string) bool {
	if _, ok := r.hangul[hangul]; ok {
		return true
	}
	if _, ok := r.roman[rk]; ok {
		return true
	}
	if _, ok := r.retiredH[hangul]; ok {
		return true
	}
	_, ok := r.retiredR[rk]
	return ok
}

// Rename gives the testimony now named old the name new.
//
// Old is the current name in either script, as Hangul ("김석한"), as the
// romanized form ("Kim Seok-han", compared ignoring case and hyphens), or in
// any form [Parse] accepts, in which case both forms must be those of the
// same testimony. New is read by [Parse]: "김영철", "김영철/Kim Young-chul" or
// "김영철 (Kim Young-chul)". Renaming to the same Hangul with another
// romanized form changes only the romanization.
//
// New must differ from the current name and must not be, or have been, the
// name of another testimony, in either script; romanized forms are compared
// ignoring case and hyphens. The name the testimony gives up stays reserved
// for it: no other testimony will get it, and renaming back to it is allowed.
// Names chosen by Rename need not be ones Assign would draw. On error the
// registry is unchanged.
func (r *Registry) Rename(old, new string) error {
	nn, err := Parse(new)
	if err != nil {
		return fmt.Errorf("malformed new name: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	key, err := r.resolve(old)
	if err != nil {
		return err
	}
	cur := r.names[key]
	if nn == cur {
		return fmt.Errorf("the testimony is already named %s; give a different new name", cur)
	}
	nrk := romanKey(nn.Roman)
	if k, ok := r.hangul[nn.Hangul]; ok && k != key {
		return fmt.Errorf("%s is the pseudonym of another testimony; choose a different name", r.names[k])
	}
	if k, ok := r.retiredH[nn.Hangul]; ok && k != key {
		return fmt.Errorf("%s was an earlier pseudonym of another testimony (now %s) and stays reserved so earlier exports remain unambiguous; choose a different name", nn.Hangul, r.names[k])
	}
	if k, ok := r.roman[nrk]; ok && k != key {
		return fmt.Errorf("romanized name %q is taken by another testimony, %s (romanized names must differ in more than case and hyphens); choose a different romanization or name", nn.Roman, r.names[k])
	}
	if rr, ok := r.retiredR[nrk]; ok && rr.key != key {
		return fmt.Errorf("romanized name %q is too close to %q, an earlier pseudonym of another testimony (now %s), which stays reserved so earlier exports remain unambiguous; choose a different romanization or name", nn.Roman, rr.roman, r.names[rr.key])
	}

	crk := romanKey(cur.Roman)
	delete(r.hangul, cur.Hangul)
	delete(r.roman, crk)
	delete(r.retiredH, nn.Hangul)
	delete(r.retiredR, nrk)
	if cur.Hangul != nn.Hangul {
		r.retiredH[cur.Hangul] = key
	}
	if crk != nrk {
		r.retiredR[crk] = retiredRoman{roman: cur.Roman, key: key}
	}
	r.names[key] = nn
	r.hangul[nn.Hangul] = key
	r.roman[nrk] = key
	return nil
}

// resolve returns the key of the testimony currently named s.
func (r *Registry) resolve(s string) (string, error) {
	if len(s) > maxInput || !utf8.ValidString(s) {
		return "", fmt.Errorf("malformed old name %q; give the current name in Hangul (for example 김석한) or romanized (for example Kim Seok-han)", s)
	}
	hasHangul := strings.ContainsFunc(s, func(c rune) bool { return isSyllable(c) || 0x1100 <= c && c <= 0x11FF })
	if hasHangul {
		n, err := Parse(s)
		if err != nil {
			return "", fmt.Errorf("malformed old name: %w", err)
		}
		key, ok := r.hangul[n.Hangul]
		if !ok {
			return "", r.notFound(s, r.retiredH[n.Hangul])
		}
		// Parse romanizes a bare Hangul name itself; only a romanized form
		// the caller wrote must match.
		_, _, hasRoman, _ := splitInput(s)
		if hasRoman && romanKey(n.Roman) != romanKey(r.names[key].Roman) {
			return "", fmt.Errorf("old name %q does not match the registry: %s is romanized %q; give the Hangul alone or the current romanization", s, n.Hangul, r.names[key].Roman)
		}
		return key, nil
	}
	roman, err := parseRoman(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("malformed old name: %w", err)
	}
	rk := romanKey(roman)
	key, ok := r.roman[rk]
	if !ok {
		return "", r.notFound(s, r.retiredR[rk].key)
	}
	return key, nil
}

// notFound explains that no testimony is named s; retiredBy is the key of
// the testimony that used to be named s, or "".
func (r *Registry) notFound(s, retiredBy string) error {
	if retiredBy != "" {
		return fmt.Errorf("%q is a former pseudonym; that testimony is now %s, so rename it by that name", s, r.names[retiredBy])
	}
	return fmt.Errorf("no testimony is named %q; give a current pseudonym, in Hangul (for example 김석한) or romanized (for example Kim Seok-han)", s)
}

// The binary form of a Registry, version 1:
//
//	"testimony pseudonym registry v1\n"
//	count   n, then n entries sorted by key, keys strictly increasing:
//	          string key, string Hangul, string romanized
//	count   m, then m retired Hangul forms, strictly increasing:
//	          string Hangul, string key of the testimony that had it
//	count   k, then k retired romanized forms, strictly increasing:
//	          string romanized, string key of the testimony that had it
//
// A count is an unsigned varint (encoding/binary); a string is its length in
// bytes as a count, then its bytes. Varints are minimal, every name is
// canonical (what Parse returns for Name.String), every key of a retired form
// is the key of an entry, no Hangul form or romanKey occurs twice across
// entries and retired forms, and nothing follows the last string. Anything
// else is rejected.
const magic = "testimony pseudonym registry v1\n"

// MarshalBinary encodes the registry in its binary form, version 1. The same
// registry always encodes to the same bytes. The bytes link testimony keys to
// pseudonyms: encrypt them before they are stored.
func (r *Registry) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(nil)
}

// AppendBinary appends the binary form of the registry, as MarshalBinary
// returns it, to b.
func (r *Registry) AppendBinary(b []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.names))
	for k := range r.names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = slices.Grow(b, len(magic)+len(keys)*(64+12+20+3)+16)
	b = append(b, magic...)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		n := r.names[k]
		b = appendString(b, k)
		b = appendString(b, n.Hangul)
		b = appendString(b, n.Roman)
	}
	hs := make([]string, 0, len(r.retiredH))
	for h := range r.retiredH {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = appendString(b, h)
		b = appendString(b, r.retiredH[h])
	}
	rs := make([]retiredRoman, 0, len(r.retiredR))
	for _, rr := range r.retiredR {
		rs = append(rs, rr)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].roman < rs[j].roman })
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for _, rr := range rs {
		b = appendString(b, rr.roman)
		b = appendString(b, rr.key)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UnmarshalBinary replaces the contents of the registry with those encoded
// in data by MarshalBinary. It rejects anything MarshalBinary would not have
// produced, and leaves the registry unchanged on error.
func (r *Registry) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if len(data) < len(magic) || string(data[:len(magic)]) != magic {
		if line, _, ok := strings.Cut(string(data), "\n"); ok && strings.HasPrefix(line, "testimony pseudonym registry v") {
			return fmt.Errorf("unsupported pseudonym registry version %q; use the version of this program that wrote it, or a newer one", strings.TrimPrefix(line, "testimony pseudonym registry "))
		}
		return errors.New("not a pseudonym registry, or one cut short: the header is missing; check that the file is the workspace's pseudonym registry, or restore it from a backup")
	}
	d.b = d.b[len(magic):]
	nr := NewRegistry()

	n := d.count("entries", 3)
	var prev string
	for i := uint64(0); i < n && d.err == nil; i++ {
		key := d.key()
		name := Name{Hangul: d.str(maxSyllables * 3), Roman: d.str(maxRoman)}
		if d.err != nil {
			break
		}
		switch {
		case i > 0 && key <= prev:
			d.fail("entries are not sorted by key or a key repeats")
		case !validName(name):
			d.fail(fmt.Sprintf("malformed name %q", name.String()))
		case nr.taken(name.Hangul, romanKey(name.Roman)):
			d.fail(fmt.Sprintf("name %s occurs twice", name))
		}
		prev = key
		nr.names[key] = name
		nr.hangul[name.Hangul] = key
		nr.roman[romanKey(name.Roman)] = key
	}

	m := d.count("retired Hangul names", 2)
	prev = ""
	for i := uint64(0); i < m && d.err == nil; i++ {
		h := d.str(maxSyllables * 3)
		key := d.key()
		if d.err != nil {
			break
		}
		switch {
		case i > 0 && h <= prev:
			d.fail("retired Hangul names are not sorted or repeat")
		case !validName(Name{Hangul: h, Roman: "A B"}):
			d.fail(fmt.Sprintf("malformed retired name %q", h))
		case nr.names[key] == Name{}:
			d.fail("retired name belongs to no testimony")
		case nr.taken(h, ""):
			d.fail(fmt.Sprintf("retired name %s is also in use", h))
		}
		prev = h
		nr.retiredH[h] = key
	}

	k := d.count("retired romanized names", 2)
	prev = ""
	for i := uint64(0); i < k && d.err == nil; i++ {
		ro := d.str(maxRoman)
		key := d.key()
		if d.err != nil {
			break
		}
		rk := romanKey(ro)
		switch {
		case i > 0 && ro <= prev:
			d.fail("retired romanized names are not sorted or repeat")
		case !validName(Name{Hangul: "가가", Roman: ro}):
			d.fail(fmt.Sprintf("malformed retired name %q", ro))
		case nr.names[key] == Name{}:
			d.fail("retired name belongs to no testimony")
		case nr.taken("", rk):
			d.fail(fmt.Sprintf("retired name %q is also in use", ro))
		}
		prev = ro
		nr.retiredR[rk] = retiredRoman{roman: ro, key: key}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d unexpected bytes after the end", len(d.b)))
	}
	if d.err != nil {
		return d.err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.names, r.hangul, r.roman, r.retiredH, r.retiredR = nr.names, nr.hangul, nr.roman, nr.retiredH, nr.retiredR
	return nil
}

// decoder reads the binary form; after the first error it reads nothing.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("corrupt pseudonym registry: %s; restore the registry from a backup", what)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail("malformed length")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items, each at least minItem bytes long.
func (d *decoder) count(what string, minItem int) uint64 {
	v := d.uvarint()
	if d.err == nil && v > uint64(len(d.b)/minItem) {
		d.fail(fmt.Sprintf("more %s than fit in the data", what))
		return 0
	}
	return v
}

func (d *decoder) str(max int) string {
	v := d.uvarint()
	if d.err != nil {
		return ""
	}
	if v > uint64(max) || v > uint64(len(d.b)) {
		d.fail("string too long or truncated")
		return ""
	}
	s := string(d.b[:v])
	d.b = d.b[v:]
	return s
}

func (d *decoder) key() string {
	k := d.str(MaxKeyLen)
	if d.err == nil && k == "" {
		d.fail("empty testimony key")
	}
	return k
}
