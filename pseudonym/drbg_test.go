package pseudonym

import (
	"bufio"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the vectors in testdata from the code (then review the diff!)")

// vectorSeeds are the seeds of testdata/candidates.txt.
func vectorSeeds() [][32]byte {
	seeds := [][32]byte{{}, {31: 1}}
	var ff [32]byte
	for i := range ff {
		ff[i] = 0xff
	}
	seeds = append(seeds, ff)
	for i := range 5 {
		seeds = append(seeds, sha256.Sum256([]byte(fmt.Sprint("testimony pseudonym vector ", i))))
	}
	return seeds
}

// candidateLines returns the first n candidates drawn from seed in sp, as
// "<word> <index> <hangul> <roman>".
func candidateLines(sp *space, seed [32]byte, n int) []string {
	var out []string
	d := newDRBG(seed, sp.size())
	for len(out) < n {
		word := d.words
		i, ok := d.next()
		if !ok {
			continue
		}
		name, _, ok := sp.name(i)
		if !ok {
			continue
		}
		out = append(out, fmt.Sprintf("%d %d %s %s", word, i, name.Hangul, name.Roman))
	}
	return out
}

// TestCandidateVectors pins the generator and the tables: the candidates
// drawn from fixed seeds must never change, or researchers on different
// versions would give the same testimony different names.
func TestCandidateVectors(t *testing.T) {
	const perSeed = 8
	var b strings.Builder
	b.WriteString("# Candidates drawn from seeds in the default space (see the package documentation).\n")
	b.WriteString("# seed <64 hex>, then per candidate: <word number> <index> <Hangul> <romanized>\n")
	for _, seed := range vectorSeeds() {
		fmt.Fprintf(&b, "seed %x\n", seed)
		for _, l := range candidateLines(defaultSpace, seed, perSeed) {
			b.WriteString(l + "\n")
		}
	}
	path := "testdata/candidates.txt"
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("candidates drawn from the vector seeds differ from %s: the generator or the tables changed, which renames new testimonies for every team", path)
	}
	// The vectors follow the documented construction, recomputed here
	// without the package's generator.
	sc := bufio.NewScanner(strings.NewReader(string(want)))
	var seed [32]byte
	m := uint64(len(drawSurnames) * len(drawSyllables) * len(drawSyllables))
	if m != defaultSpace.size() {
		t.Fatalf("space size %d, tables give %d", defaultSpace.size(), m)
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case f[0] == "#":
		case f[0] == "seed":
			h, _ := hex.DecodeString(f[1])
			copy(seed[:], h)
		default:
			k, _ := strconv.ParseUint(f[0], 10, 64)
			var in [40]byte
			copy(in[:], seed[:])
			binary.BigEndian.PutUint64(in[32:], k/8)
			block := sha512.Sum512(in[:])
			w := binary.BigEndian.Uint64(block[8*(k%8):])
			limit := (^uint64(0) / m) * m
			idx := w % m
			g := uint64(len(drawSyllables))
			s, x, y := idx/(g*g), idx/g%g, idx%g
			hangul := drawSurnames[s].hangul + drawSyllables[x] + drawSyllables[y]
			if w >= limit || strconv.FormatUint(idx, 10) != f[1] || hangul != f[2] {
				t.Fatalf("vector %q: recomputed index %d (%s), word %#x", sc.Text(), idx, hangul, w)
			}
		}
	}
}

// TestCollisionsResolvedAlike forces collisions in a space of 8 names: two
// registries assigning the same seeds in the same order give the same names,
// and each testimony gets the first of its candidates no earlier testimony
// holds.
func TestCollisionsResolvedAlike(t *testing.T) {
	small := func() *Registry { return NewSmallRegistry([]string{"김", "박"}, []string{"가", "나"}) }
	a, b := small(), small()
	var seeds [][32]byte
	for i := range 8 {
		seeds = append(seeds, seedOf(fmt.Sprint(i)))
	}
	collisions := 0
	for i, seed := range seeds {
		k := fmt.Sprint("key", i)
		na, err := a.Assign(k, seed)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := b.Assign(k, seed)
		if err != nil {
			t.Fatal(err)
		}
		if na != nb {
			t.Fatalf("testimony %d: %v in one registry, %v in the other", i, na, nb)
		}
		// The expected name: the first candidate not held before.
		first := ""
		for _, l := range candidateLines(a.space, seed, 200) {
			f := strings.Fields(l)
			if _, held := a.hangul[f[2]]; !held || a.hangul[f[2]] == k {
				first = f[2]
				break
			}
		}
		if first == "" {
			t.Fatalf("testimony %d: no free candidate among 200", i)
		}
		if first != na.Hangul {
			t.Fatalf("testimony %d got %v; its first free candidate is %s", i, na, first)
		}
		if c := candidateLines(a.space, seed, 1)[0]; !strings.Contains(c, na.Hangul) {
			collisions++
		}
	}
	if collisions == 0 {
		t.Fatal("no collision in a space of 8 names: the test does not test collisions")
	}
	if _, err := a.Assign("ninth", seedOf("9")); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("a ninth name in a space of 8: %v", err)
	}
}

// TestAssignIgnoresRenames checks that drawing does not depend on renames:
// a name a rename gave is drawn all the same, and the rename yields.
func TestAssignIgnoresRenames(t *testing.T) {
	r := NewRegistry()
	seed := seedOf("s")
	a, _ := r.Assign("a", seed)
	first := strings.Fields(candidateLines(defaultSpace, seed, 2)[0])
	second := strings.Fields(candidateLines(defaultSpace, seed, 2)[1])
	if a.Hangul != first[2] {
		t.Fatalf("first testimony got %v, want the first candidate %s", a, first[2])
	}
	// c renames itself to the second candidate before b draws it.
	c, _ := r.Assign("c", seedOf("c"))
	claim, err := Parse(second[2])
	if err != nil {
		t.Fatal(err)
	}
	if _, res := r.Apply([]Rename{{Key: "c", Name: claim, Clock: 1}}); res[0].Outcome != Applied {
		t.Fatalf("rename of c before b came: %v", res[0].Outcome)
	}
	b, _ := r.Assign("b", seed)
	if b.Hangul != second[2] {
		t.Fatalf("second testimony with the same seed got %v; want the second candidate %s whatever renames say", b, second[2])
	}
	names, res := r.Apply([]Rename{{Key: "c", Name: claim, Clock: 1}})
	if res[0].Outcome != Taken || res[0].Holder != "b" {
		t.Fatalf("rename to a name b drew: %+v, want taken by b", res[0])
	}
	if got, _ := names.Lookup("c"); got != c {
		t.Fatalf("c is named %v, want its drawn name %v back", got, c)
	}
}
