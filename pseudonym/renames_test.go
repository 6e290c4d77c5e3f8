package pseudonym

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
)

func mustParse(t testing.TB, s string) Name {
	t.Helper()
	n, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// names returns every testimony's name in a registry with renames applied.
func namesOf(r *Registry, n *Names) map[string]Name {
	out := map[string]Name{}
	r.mu.Lock()
	keys := make([]string, 0, len(r.names))
	for k := range r.names {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	for _, k := range keys {
		out[k], _ = n.Lookup(k)
	}
	return out
}

func TestApply(t *testing.T) {
	r := newTestRegistry(t) // k1 김석한, k2 박서나, k3 리설향
	var claims []Rename
	clock := uint64(0)
	rename := func(key, name string) {
		t.Helper()
		clock++
		claims = append(claims, Rename{Key: key, Name: mustParse(t, name), Clock: clock, Signer: "A"})
	}
	expect := func(k string, want Name) {
		t.Helper()
		n, res := r.Apply(claims)
		if res[len(res)-1].Outcome != Applied {
			t.Fatalf("last rename: %v", res[len(res)-1])
		}
		if got, _ := n.Lookup(k); got != want {
			t.Fatalf("Lookup(%s) = %v; want %v", k, got, want)
		}
	}
	rename("k1", "김영철/Kim Young-chul")
	expect("k1", Name{"김영철", "Kim Young-chul"})
	rename("k1", "김민수")
	expect("k1", Name{"김민수", "Kim Min-su"})
	rename("k1", "김민수/Kim Min-soo") // only the romanization
	expect("k1", Name{"김민수", "Kim Min-soo"})
	rename("k1", "김영철/Kim Young-chul") // back to a name it had
	expect("k1", Name{"김영철", "Kim Young-chul"})
	rename("k1", "김석한/Kim Seok-han") // back to its drawn name
	expect("k1", Name{"김석한", "Kim Seok-han"})
	rename("k2", "남궁민") // outside the drawn space
	expect("k2", Name{"남궁민", "Namgung Min"})

	n, res := r.Apply(claims)
	for i, want := range []Outcome{Superseded, Superseded, Superseded, Superseded, Applied, Applied} {
		if res[i].Outcome != want {
			t.Errorf("rename %d: %v, want %v", i, res[i].Outcome, want)
		}
	}
	if n.Renamed() != 1 {
		t.Errorf("Renamed() = %d, want 1 (k1 is back to its drawn name)", n.Renamed())
	}

	// What a further rename would meet.
	key := func(s string) string {
		t.Helper()
		k, err := n.Find(s)
		if err != nil {
			t.Fatalf("Find(%q): %v", s, err)
		}
		return k
	}
	for _, tc := range []struct{ s, key string }{
		{"김석한", "k1"}, {"kim seokhan", "k1"}, {"김석한 (Kim Seok-han)", "k1"}, {"Namgung Min", "k2"}, {"리설향/Ri Seol-hyang", "k3"},
	} {
		if got := key(tc.s); got != tc.key {
			t.Errorf("Find(%q) = %s, want %s", tc.s, got, tc.key)
		}
	}
	for _, tc := range []struct{ s, says string }{
		{"박서나", "former pseudonym; that testimony is now 남궁민 (Namgung Min)"},
		{"Park Seo-na", "former pseudonym"},
		{"김민수/Kim Min-soo", "former pseudonym; that testimony is now 김석한"},
		{"김석한/Kim Suk-han", "does not match"},
		{"김철수", "no testimony is named \"김철수\""},
		{"Kim Chul-su", "no testimony is named"},
		{"김석한 (Kim Seok-han", "malformed name"},
		{"Kim", "malformed name"},
		{"", "malformed name"},
		{"\xff", "malformed name"},
	} {
		if _, err := n.Find(tc.s); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Find(%q) error %v; want one saying %q", tc.s, err, tc.says)
		}
	}
	for _, tc := range []struct{ key, name, says string }{
		{"k1", "김석한", "already named"},
		{"k1", "남궁민", "pseudonym of another testimony"},
		{"k1", "남궁민/Namgung Min-x", "pseudonym of another testimony"},
		{"k1", "이민/Namgung Min", "taken by another testimony"},
		{"k1", "이민/NAMGUNG MIN", "taken by another testimony"},
		{"k1", "박서나", "was a pseudonym of another testimony (now 남궁민 (Namgung Min))"},
		{"k1", "박서란/Park Seon-a", "too close to a former pseudonym"},
		{"k3", "김영철", "was a pseudonym of another testimony (now 김석한 (Kim Seok-han))"},
	} {
		err := n.Check(tc.key, mustParse(t, tc.name))
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Check(%s, %q) = %v; want an error saying %q", tc.key, tc.name, err, tc.says)
			continue
		}
		if tc.says == "already named" {
			continue // Apply does nothing either
		}
		// Check says what Apply does.
		_, res := r.Apply(append(claims[:len(claims):len(claims)], Rename{Key: tc.key, Name: mustParse(t, tc.name), Clock: clock + 1, Signer: "A"}))
		if o := res[len(res)-1].Outcome; o == Applied {
			t.Errorf("Check(%s, %q) refused a rename that Apply applies", tc.key, tc.name)
		}
	}
	if err := n.Check("k3", mustParse(t, "리영희")); err != nil {
		t.Errorf("Check of a free name: %v", err)
	}
}

// TestApplyConflicts checks the rule for renames that conflict.
func TestApplyConflicts(t *testing.T) {
	r := newTestRegistry(t)
	a := func(key, name string, clock uint64, signer string) Rename {
		return Rename{Key: key, Name: mustParse(t, name), Clock: clock, Signer: signer}
	}
	for _, tc := range []struct {
		name   string
		claims []Rename
		want   map[string]string // key → Hangul
		out    []Outcome
	}{
		{"same testimony, same clock: the later signer wins",
			[]Rename{a("k1", "김영철", 3, "B"), a("k1", "김민수", 3, "A")},
			map[string]string{"k1": "김영철"}, []Outcome{Applied, Superseded}},
		{"same testimony: the later clock wins, whoever signed it",
			[]Rename{a("k1", "김영철", 4, "A"), a("k1", "김민수", 3, "B")},
			map[string]string{"k1": "김영철"}, []Outcome{Applied, Superseded}},
		{"same name for two testimonies: the earlier takes it",
			[]Rename{a("k2", "김영철", 2, "B"), a("k1", "김영철", 1, "A")},
			map[string]string{"k1": "김영철", "k2": "박서나"}, []Outcome{Taken, Applied}},
		{"a name given up stays with its testimony",
			[]Rename{a("k1", "김영철", 1, "A"), a("k1", "김민수", 2, "A"), a("k2", "김영철", 3, "B")},
			map[string]string{"k1": "김민수", "k2": "박서나"}, []Outcome{Superseded, Applied, Taken}},
		{"another's drawn name is never taken",
			[]Rename{a("k1", "박서나/Park Sun-a", 1, "A")},
			map[string]string{"k1": "김석한", "k2": "박서나"}, []Outcome{Taken}},
		{"romanized forms compared without case and hyphens",
			[]Rename{a("k1", "김영철/Kim Young-chul", 1, "A"), a("k2", "박영철/Kim Youngchul", 2, "B")},
			map[string]string{"k1": "김영철", "k2": "박서나"}, []Outcome{Applied, Taken}},
		{"a testimony not here waits",
			[]Rename{a("k9", "김영철", 1, "A")},
			map[string]string{"k1": "김석한"}, []Outcome{Unknown}},
		{"repetitions change nothing",
			[]Rename{a("k1", "김영철", 1, "A"), a("k1", "김영철", 1, "A"), a("k2", "김영철", 1, "B")},
			map[string]string{"k1": "김영철", "k2": "박서나"}, []Outcome{Applied, Applied, Taken}},
	} {
		n, res := r.Apply(tc.claims)
		for k, h := range tc.want {
			if got, _ := n.Lookup(k); got.Hangul != h {
				t.Errorf("%s: %s is %v, want %s", tc.name, k, got, h)
			}
		}
		for i, o := range tc.out {
			if res[i].Outcome != o {
				t.Errorf("%s: rename %d: %v, want %v", tc.name, i, res[i].Outcome, o)
			}
		}
	}
	// Malformed names are void.
	if _, res := r.Apply([]Rename{{Key: "k1", Name: Name{"김영철", "kim young-chul"}}}); res[0].Outcome != Malformed {
		t.Errorf("non-canonical name: %v", res[0].Outcome)
	}
}

// claimsFrom turns fuzz bytes into renames over keys k1..k3 and a few
// names, so that collisions are frequent.
func claimsFrom(data []byte) []Rename {
	pool := []Name{
		{"김영철", "Kim Young-chul"}, {"김영철", "Kim Yeong-cheol"}, {"박영철", "Kim Youngchul"},
		{"김석한", "Kim Seok-han"}, {"박서나", "Park Seo-na"}, {"남궁민", "Namgung Min"}, {"리설향", "Ri Seol-hyang"},
		{"박서란", "Park Seon-a"},
	}
	var out []Rename
	for len(data) >= 4 {
		out = append(out, Rename{
			Key:    []string{"k1", "k2", "k3", "k4"}[data[0]%4],
			Name:   pool[int(data[1])%len(pool)],
			Clock:  uint64(data[2] % 8),
			Signer: []string{"A", "B", "C"}[data[3]%3],
		})
		data = data[4:]
	}
	return out
}

// checkApply checks the properties every application of renames has: names
// stay unique in both scripts, and the result and outcomes do not depend
// on the order of the renames.
func checkApply(t *testing.T, claims []Rename, rng *rand.Rand) {
	r := newTestRegistry(t)
	n, res := r.Apply(claims)
	got := namesOf(r, n)
	seenH, seenR := map[string]string{}, map[string]string{}
	for k, nm := range got {
		if o, dup := seenH[nm.Hangul]; dup {
			t.Fatalf("%s and %s are both %s", k, o, nm.Hangul)
		}
		if o, dup := seenR[romanKey(nm.Roman)]; dup {
			t.Fatalf("%s and %s are both %s", k, o, nm.Roman)
		}
		seenH[nm.Hangul], seenR[romanKey(nm.Roman)] = k, k
	}
	for range 4 {
		perm := rng.Perm(len(claims))
		shuffled := make([]Rename, len(claims))
		for i, p := range perm {
			shuffled[p] = claims[i]
		}
		n2, res2 := r.Apply(shuffled)
		for k, nm := range namesOf(r, n2) {
			if got[k] != nm {
				t.Fatalf("order changed %s: %v vs %v", k, got[k], nm)
			}
		}
		for i, p := range perm {
			if res[i] != res2[p] {
				t.Fatalf("order changed the outcome of %+v: %+v vs %+v", claims[i], res[i], res2[p])
			}
		}
	}
}

func TestApplyOrderDoesNotMatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		data := make([]byte, 4*rng.IntN(12))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		checkApply(t, claimsFrom(data), rng)
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 1, 0, 1, 1})
	f.Add([]byte{0, 4, 1, 0, 1, 0, 2, 1, 0, 5, 3, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		seed := uint64(0)
		if len(data) >= 8 {
			seed = binary.BigEndian.Uint64(data)
		}
		checkApply(t, claimsFrom(data), rand.New(rand.NewPCG(seed, 1)))
	})
}
