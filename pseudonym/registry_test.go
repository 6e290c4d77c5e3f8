package pseudonym

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// key returns a testimony key shaped like the hex SHA-256 callers use.
func key(i int) string { return fmt.Sprintf("%064x", i) }

// seedOf returns a seed for key k: any fixed function of the key will do in
// tests; the researcher derives seeds from a secret.
func seedOf(k string) [32]byte { return sha256.Sum256([]byte("seed " + k)) }

func mustAssign(t testing.TB, r *Registry, k string) Name {
	t.Helper()
	n, err := r.Assign(k, seedOf(k))
	if err != nil {
		t.Fatalf("Assign(%q): %v", k, err)
	}
	return n
}

func TestAssignStable(t *testing.T) {
	r := NewRegistry()
	a := mustAssign(t, r, key(1))
	b := mustAssign(t, r, key(2))
	if a == b {
		t.Fatalf("two keys got the same name %v", a)
	}
	if got := mustAssign(t, r, key(1)); got != a {
		t.Errorf("second Assign(key 1) = %v; first gave %v", got, a)
	}
	if got, ok := r.Lookup(key(1)); !ok || got != a {
		t.Errorf("Lookup(key 1) = %v, %v; want %v", got, ok, a)
	}
	if _, ok := r.Lookup(key(3)); ok {
		t.Errorf("Lookup of an unassigned key succeeded")
	}
	if r.Len() != 2 {
		t.Errorf("Len() = %d; want 2", r.Len())
	}
	// Stable across runs: through MarshalBinary and UnmarshalBinary.
	data, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var r2 Registry // the zero Registry is usable
	if err := r2.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if got := mustAssign(t, &r2, key(1)); got != a {
		t.Errorf("after reload, Assign(key 1) = %v; want %v", got, a)
	}
	if got := mustAssign(t, &r2, key(2)); got != b {
		t.Errorf("after reload, Assign(key 2) = %v; want %v", got, b)
	}
}

func TestZeroRegistry(t *testing.T) {
	var r Registry
	if r.Len() != 0 {
		t.Fatal("zero Registry is not empty")
	}
	if _, ok := r.Lookup("x"); ok {
		t.Fatal("zero Registry finds a key")
	}
	if _, res := r.Apply([]Rename{{Key: "x", Name: Name{"김영철", "Kim Yeong-cheol"}}}); res[0].Outcome != Unknown {
		t.Fatalf("rename in an empty registry: %v", res[0].Outcome)
	}
	n := mustAssign(t, &r, "x")
	if !validName(n) {
		t.Fatalf("drawn name %#v is not canonical", n)
	}
}

// TestAssignDependsOnSeed checks that a new key's name is a function of
// its seed and of the names already held, not of the key.
func TestAssignDependsOnSeed(t *testing.T) {
	seed := seedOf("x")
	a, err := NewRegistry().Assign("one key", seed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRegistry().Assign("another key", seed)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("the same seed gave %v and %v", a, b)
	}
	// A key already named keeps its name, whatever the seed.
	r := NewRegistry()
	first, _ := r.Assign("k", seedOf("1"))
	if again, _ := r.Assign("k", seedOf("2")); again != first {
		t.Fatalf("Assign with another seed renamed %v to %v", first, again)
	}
	same := 0
	for i := range 20 {
		x, _ := NewRegistry().Assign("k", seedOf(fmt.Sprint("a", i)))
		y, _ := NewRegistry().Assign("k", seedOf(fmt.Sprint("b", i)))
		if x == y {
			same++
		}
	}
	// Each pair is equal with probability about one in two million.
	if same > 1 {
		t.Errorf("%d of 20 pairs of seeds gave the same name; names do not depend on the seed", same)
	}
}

func TestAssignBadKey(t *testing.T) {
	r := NewRegistry()
	for _, k := range []string{"", strings.Repeat("k", MaxKeyLen+1)} {
		if _, err := r.Assign(k, seedOf(k)); err == nil {
			t.Errorf("Assign(%d-byte key) succeeded", len(k))
		}
	}
	mustAssign(t, r, strings.Repeat("k", MaxKeyLen))
	if r.Len() != 1 {
		t.Errorf("Len() = %d; want 1", r.Len())
	}
}

func TestAssignUnique100k(t *testing.T) {
	const n = 100_000
	r := NewRegistry()
	hangul := make(map[string]bool, n)
	roman := make(map[string]bool, n)
	for i := range n {
		nm := mustAssign(t, r, key(i))
		rk := romanKey(nm.Roman)
		if hangul[nm.Hangul] || roman[rk] {
			t.Fatalf("assignment %d: %v is a duplicate", i, nm)
		}
		hangul[nm.Hangul], roman[rk] = true, true
	}
	if r.Len() != n {
		t.Fatalf("Len() = %d; want %d", r.Len(), n)
	}
	// Every key still has the name it was first given.
	data, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("registry of %d names: %d bytes", n, len(data))
	r2 := NewRegistry()
	if err := r2.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		a, _ := r.Lookup(key(i))
		if b, ok := r2.Lookup(key(i)); !ok || a != b {
			t.Fatalf("key %d: %v before reload, %v after", i, a, b)
		}
	}
}

func TestDistribution(t *testing.T) {
	const n = 30_000
	sp := defaultSpace
	r := NewRegistry()
	surnames := map[string]int{}
	first, second := map[string]int{}, map[string]int{}
	word := map[string]bool{}
	for _, w := range blockedWords {
		word[w] = true
	}
	blockedName := map[string]bool{}
	for _, w := range blockedNames {
		blockedName[w] = true
	}
	for i := range n {
		nm := mustAssign(t, r, key(i))
		rs := []rune(nm.Hangul)
		if len(rs) != 3 {
			t.Fatalf("drawn name %v is not three syllables", nm)
		}
		surnames[string(rs[0])]++
		first[string(rs[1])]++
		second[string(rs[2])]++
		if word[string(rs[0:2])] || word[string(rs[1:3])] || blockedName[nm.Hangul] {
			t.Fatalf("drew blocked name %v", nm)
		}
	}
	// Each count is binomial with mean at least 180 and standard
	// deviation below 14: falling outside [mean/2, 2·mean] is a >6σ event.
	check := func(what string, counts map[string]int, want []string) {
		t.Helper()
		mean := float64(n) / float64(len(want))
		lo, hi := mean, 0.0
		for _, w := range want {
			c := float64(counts[w])
			lo, hi = min(lo, c), max(hi, c)
			if c < mean/2 || c > 2*mean {
				t.Errorf("%s %s drawn %v times; expected about %.0f", what, w, c, mean)
			}
		}
		if len(counts) != len(want) {
			t.Errorf("%d different %ss drawn; the table has %d", len(counts), what, len(want))
		}
		t.Logf("%d %ss: each drawn %.0f to %.0f times (mean %.0f)", len(want), what, lo, hi, mean)
	}
	var surnameList []string
	for _, s := range sp.surnames {
		surnameList = append(surnameList, s.hangul)
	}
	check("surname", surnames, surnameList)
	check("first syllable", first, drawSyllables)
	check("second syllable", second, drawSyllables)
}

func TestExhaustion(t *testing.T) {
	// 2 surnames × 3² syllables = 18 names; 한가나 is blocked by word,
	// 김나가 by name, 김다 (surname + first syllable) by word.
	sp := newSpace([]struct{ hangul, roman string }{{"김", "Kim"}, {"한", "Han"}},
		[]string{"가", "나", "다"}, []string{"가나", "김다"}, []string{"김나가"})
	for _, words := range []int{MaxWords, 1} {
		r := &Registry{space: sp, maxWords: words}
		seen := map[string]bool{}
		for i := range 18 - 2 - 3 - 1 {
			n := mustAssign(t, r, key(i))
			if seen[n.Hangul] || n.Hangul == "김나가" || strings.Contains(n.Hangul, "가나") || strings.HasPrefix(n.Hangul, "김다") {
				t.Fatalf("drew %v twice or drew a blocked name", n)
			}
			seen[n.Hangul] = true
		}
		_, err := r.Assign("one too many", seedOf("one too many"))
		if err == nil || !strings.Contains(err.Error(), "taken") {
			t.Errorf("Assign in a full space: %v; want an error saying every name is taken", err)
		}
		if r.Len() != 12 {
			t.Errorf("Len() = %d after exhaustion; want 12", r.Len())
		}
	}
}

func TestConcurrentAssign(t *testing.T) {
	r := NewRegistry()
	const workers, keys = 4, 500
	got := make([][]Name, workers)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range keys {
				k := key((i + w*keys/workers) % keys)
				n, err := r.Assign(k, seedOf(k))
				if err != nil {
					t.Error(err)
					return
				}
				got[w] = append(got[w], n)
			}
		}()
	}
	for range workers {
		<-done
	}
	if r.Len() != keys {
		t.Fatalf("Len() = %d; want %d", r.Len(), keys)
	}
	for w := range workers {
		for i, n := range got[w] {
			if want, _ := r.Lookup(key((i + w*keys/workers) % keys)); n != want {
				t.Fatalf("worker %d got %v for a key now named %v", w, n, want)
			}
		}
	}
}

// newTestRegistry returns a registry with three known names.
func newTestRegistry(t testing.TB) *Registry {
	t.Helper()
	r := NewRegistry()
	data := []byte(magic)
	data = binary.AppendUvarint(data, 3)
	for _, e := range [][3]string{
		{"k1", "김석한", "Kim Seok-han"},
		{"k2", "박서나", "Park Seo-na"},
		{"k3", "리설향", "Ri Seol-hyang"},
	} {
		for _, s := range e {
			data = appendString(data, s)
		}
	}
	if err := r.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMarshalRoundTrip(t *testing.T) {
	r := newTestRegistry(t)
	for i := range 50 {
		mustAssign(t, r, key(i))
	}
	data, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r2 := NewRegistry()
	mustAssign(t, r2, "overwritten")
	if err := r2.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if _, ok := r2.Lookup("overwritten"); ok || r2.Len() != r.Len() {
		t.Fatalf("UnmarshalBinary did not replace the contents: Len() = %d, want %d", r2.Len(), r.Len())
	}
	data2, _ := r2.MarshalBinary()
	if !bytes.Equal(data, data2) {
		t.Fatal("MarshalBinary after UnmarshalBinary differs")
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := newTestRegistry(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	entry := func(k, h, ro string) []byte {
		return appendString(appendString(appendString(nil, k), h), ro)
	}
	build := func(parts ...[]byte) []byte {
		return append([]byte(magic), bytes.Join(parts, nil)...)
	}
	one := []byte{1}
	for _, tc := range []struct {
		name string
		data []byte
		says string
	}{
		{"empty", nil, "not a pseudonym registry"},
		{"other file", []byte("age-encryption.org/v1\n"), "not a pseudonym registry"},
		{"newer version", []byte("testimony pseudonym registry v3\n\x00"), "unsupported pseudonym registry version \"v3\""},
		{"version 1", []byte("testimony pseudonym registry v1\n\x00\x00\x00"), "unsupported pseudonym registry version \"v1\""},
		{"cut header", []byte(magic[:20]), "cut short"},
		{"trailing byte", append(bytes.Clone(good), 0), "unexpected bytes"},
		{"no counts", []byte(magic), "malformed length"},
		{"non-minimal varint", build([]byte{0x80, 0x00}), "malformed length"},
		{"count too large", build([]byte{0xff, 0xff, 0x03}), "more entries than fit"},
		{"empty key", build(one, entry("", "김석한", "Kim Seok-han")), "empty testimony key"},
		{"unsorted keys", build([]byte{2}, entry("b", "김석한", "Kim Seok-han"), entry("a", "김영철", "Kim Young-chul")), "not sorted"},
		{"repeated key", build([]byte{2}, entry("a", "김석한", "Kim Seok-han"), entry("a", "김영철", "Kim Young-chul")), "not sorted"},
		{"duplicate Hangul", build([]byte{2}, entry("a", "김석한", "Kim Seok-han"), entry("b", "김석한", "Kim Suk-han")), "occurs twice"},
		{"duplicate romanized", build([]byte{2}, entry("a", "김석한", "Kim Seok-han"), entry("b", "김석환", "Kim Seokhan")), "occurs twice"},
		{"non-canonical case", build(one, entry("a", "김석한", "kim Seok-han")), "malformed name"},
		{"one syllable", build(one, entry("a", "김", "Kim A")), "malformed name"},
		{"jamo", build(one, entry("a", "\u1100\u1175김", "Kim A")), "malformed name"},
		{"long name", build(one, entry("a", "김석한김석", "Kim A")), "too long"},
		{"invalid UTF-8", build(one, entry("a", "김석\xff", "Kim A")), "malformed name"},
	} {
		r := newTestRegistry(t)
		err := r.UnmarshalBinary(tc.data)
		if err == nil {
			t.Errorf("%s: UnmarshalBinary succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.says)
		}
		if after, _ := r.MarshalBinary(); !bytes.Equal(after, good) {
			t.Errorf("%s: failed UnmarshalBinary changed the registry", tc.name)
		}
	}
	// Every truncation of a valid encoding is rejected.
	for i := range len(good) {
		if err := NewRegistry().UnmarshalBinary(good[:i]); err == nil {
			t.Errorf("UnmarshalBinary accepted the first %d of %d bytes", i, len(good))
		}
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	empty, _ := NewRegistry().MarshalBinary()
	f.Add(empty)
	r := newTestRegistry(f)
	good, _ := r.MarshalBinary()
	f.Add(good)
	f.Add([]byte(magic + "\x01\x01a\x06김가\x05Kim A"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewRegistry()
		if err := r.UnmarshalBinary(data); err != nil {
			if !utf8.ValidString(err.Error()) {
				t.Errorf("error is not valid UTF-8: %q", err)
			}
			return
		}
		out, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("UnmarshalBinary accepted %q, which MarshalBinary writes as %q", data, out)
		}
		// An accepted registry keeps working.
		if _, err := r.Assign("fuzz-new-key", seedOf("fuzz")); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkAssign(b *testing.B) {
	r := NewRegistry()
	keys := make([]string, 0, 1<<20)
	i := 0
	for b.Loop() {
		if i == len(keys) {
			keys = append(keys, key(i))
		}
		if _, err := r.Assign(keys[i], seedOf(keys[i])); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAssign100k measures assigning 100,000 names to a fresh registry,
// the size of a large study.
func BenchmarkAssign100k(b *testing.B) {
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = key(i)
	}
	for b.Loop() {
		r := NewRegistry()
		for _, k := range keys {
			if _, err := r.Assign(k, seedOf(k)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkMarshal100k(b *testing.B) {
	r := NewRegistry()
	for i := range 100_000 {
		mustAssign(b, r, key(i))
	}
	data, _ := r.MarshalBinary()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := r.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
		if err := NewRegistry().UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}
