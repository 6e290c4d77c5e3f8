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

	names map[string]Name // testimony key → drawn name

	// Every Hangul form and every romanKey in the registry maps to the key
	// of its testimony.
	hangul   map[string]string
	roman    map[string]string
	space    *space // nil means defaultSpace
	maxWords int    // words drawn before scanning; 0 means MaxWords
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
	}
}

// Len returns the number of testimonies with a pseudonym.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.names)
}

// Lookup returns the drawn pseudonym of the testimony key, if it has one.
// [Names.Lookup] gives the name with renames applied.
func (r *Registry) Lookup(key string) (Name, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.names[key]
	return n, ok
}

// Assign returns the pseudonym of the testimony key. A key seen before gets
// the name it drew, whatever the seed. A new key gets the first name drawn
// from seed, as the package documentation describes, that no testimony in
// the registry drew, in either script. Renames ([Registry.Apply]) play no
// part: they are an overlay, so that the names drawn do not depend on which
// renames a researcher had received when a batch came in.
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
	_, ok := r.roman[rk]
	return ok
}

// The binary form of a Registry, version 2:
//
//	"testimony pseudonym registry v2\n"
//	count   n, then n entries sorted by key, keys strictly increasing:
//	          string key, string Hangul, string romanized
//
// A count is an unsigned varint (encoding/binary); a string is its length in
// bytes as a count, then its bytes. Varints are minimal, every name is
// canonical (what Parse returns for Name.String), no Hangul form or romanKey
// occurs twice, and nothing follows the last string. Anything else is
// rejected. (Version 1 also held names given up by renames, which are now
// kept by the caller: see [Registry.Apply].)
const magic = "testimony pseudonym registry v2\n"

// MarshalBinary encodes the registry in its binary form, version 2. The same
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
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d unexpected bytes after the end", len(d.b)))
	}
	if d.err != nil {
		return d.err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.names, r.hangul, r.roman = nr.names, nr.hangul, nr.roman
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
