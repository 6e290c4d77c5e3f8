package reply

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
)

const study = "nk-internet-2026"

// person returns fixed return keys: those of the seed made from n.
func person(n byte) *returnkey.Keys {
	var seed [returnkey.SeedSize]byte
	for i := range seed {
		seed[i] = n + byte(i)*3
	}
	return returnkey.NewKeys(seed)
}

// researcher returns a fixed researcher identity.
func researcher(t testing.TB, n int) *envelope.Identity {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(n*31 + i*7)
	}
	id, err := envelope.NewIdentity(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func content(t testing.TB, text string, qs ...Question) []byte {
	t.Helper()
	c := &Content{Study: study, ID: NewID(), Lang: "ko", Text: text, Questions: qs}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	p, other := person(1), person(2)
	r, r2 := researcher(t, 0), researcher(t, 1)
	for _, n := range []int{0, 1, 100, MaxContentSize - 1, MaxContentSize} {
		c := bytes.Repeat([]byte{'a'}, n)
		rec, err := Seal(p.Address(), 7, r, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec) != RecordSize {
			t.Fatalf("record of %d bytes for content of %d", len(rec), n)
		}
		if tg, _ := RecordTag(rec); tg != p.Tag(7, r.Recipient()) {
			t.Fatal("the record's tag is not tag(7, researcher)")
		}
		got, err := Open(rec, p, r.Recipient())
		if err != nil || !bytes.Equal(got, c) {
			t.Fatalf("Open: %v", err)
		}
		if _, err := Open(rec, other, r.Recipient()); !errors.Is(err, ErrNotOpened) {
			t.Fatalf("another person opened it: %v", err)
		}
		if _, err := Open(rec, p, r2.Recipient()); !errors.Is(err, ErrNotOpened) {
			t.Fatalf("it opened as another researcher's: %v", err)
		}
	}
	if _, err := Seal(p.Address(), 0, r, make([]byte, MaxContentSize+1)); err == nil {
		t.Fatal("sealed content larger than a record")
	}
	if _, err := Seal(p.Address(), returnkey.MaxReplies, r, nil); err == nil {
		t.Fatal("sealed reply number MaxReplies")
	}
	if _, err := Open(make([]byte, RecordSize-1), p, r.Recipient()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short record: %v", err)
	}
}

// TestTampering changes every byte of a record in turn: none opens.
func TestTampering(t *testing.T) {
	p, r := person(1), researcher(t, 0)
	rec, _ := Seal(p.Address(), 0, r, content(t, "안녕하세요"))
	for i := range rec {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x01
		if _, err := Open(bad, p, r.Recipient()); !errors.Is(err, ErrNotOpened) {
			t.Fatalf("record with byte %d changed: %v", i, err)
		}
	}
}

// TestForgery checks that whoever knows a person's address but not a
// researcher's key cannot write a record that opens as that researcher's.
func TestForgery(t *testing.T) {
	p, r, impostor := person(1), researcher(t, 0), researcher(t, 5)
	rec, _ := Seal(p.Address(), 0, impostor, content(t, "Please send us your address"))
	copy(rec, func() []byte { t := p.Tag(0, r.Recipient()); return t[:] }())
	if _, err := Open(rec, p, r.Recipient()); !errors.Is(err, ErrNotOpened) {
		t.Fatalf("a record sealed with another key opened as the researcher's: %v", err)
	}
}

// TestRecordsUnlinkable checks what the server sees of records to one
// person: the same size, distinct tags, fresh ephemeral keys.
func TestRecordsUnlinkable(t *testing.T) {
	p, r := person(1), researcher(t, 0)
	tags, es := map[[TagSize]byte]bool{}, map[string]bool{}
	for i := range uint32(20) {
		for range 2 {
			rec, err := Seal(p.Address(), i, r, content(t, strings.Repeat("가", int(i)*10+1)))
			if err != nil {
				t.Fatal(err)
			}
			if len(rec) != RecordSize {
				t.Fatal("size depends on the content")
			}
			es[string(rec[TagSize:TagSize+32])] = true
			tags[[TagSize]byte(rec)] = true
		}
	}
	if len(tags) != 20 || len(es) != 40 {
		t.Fatalf("%d tags for 20 reply numbers, %d ephemeral keys for 40 records", len(tags), len(es))
	}
}

// TestPadding checks padding records look like replies: the size, and an
// E that is a public key (its top bit clear, as in every X25519 public
// key, where random bytes would have it set half the time).
func TestPadding(t *testing.T) {
	p, r := person(1), researcher(t, 0)
	top := 0
	for range 64 {
		rec, err := Padding()
		if err != nil {
			t.Fatal(err)
		}
		if len(rec) != RecordSize {
			t.Fatalf("padding record of %d bytes", len(rec))
		}
		top |= int(rec[TagSize+31] & 0x80)
		if _, err := Open(rec, p, r.Recipient()); !errors.Is(err, ErrNotOpened) {
			t.Fatalf("a padding record opened: %v", err)
		}
	}
	if top != 0 {
		t.Fatal("a padding record's E is not a public key")
	}
}

func TestFind(t *testing.T) {
	p, other := person(1), person(2)
	r0, r1, r2 := researcher(t, 0), researcher(t, 1), researcher(t, 2)
	rs := []*envelope.Recipient{r0.Recipient(), r1.Recipient(), r2.Recipient()}
	var records [][]byte
	for range 50 {
		b := make([]byte, RecordSize)
		rand.Read(b)
		records = append(records, b)
	}
	mine := []struct {
		r *envelope.Identity
		i uint32
	}{{r0, 0}, {r1, 0}, {r0, 1}, {r0, returnkey.MaxReplies - 1}}
	for _, m := range mine {
		rec, _ := Seal(p.Address(), m.i, m.r, content(t, "reply"))
		records = append(records[:len(records)/2], append([][]byte{rec}, records[len(records)/2:]...)...)
	}
	forOther, _ := Seal(other.Address(), 0, r2, content(t, "not for p"))
	records = append(records, forOther)
	// A record with p's tag for researcher 2 that researcher 2 did not seal.
	forged, _ := Seal(p.Address(), 3, r1, content(t, "forged"))
	tg := p.Tag(3, r2.Recipient())
	copy(forged, tg[:])
	records = append(records, forged)
	// A record for p from researcher 2 for another study.
	c := &Content{Study: "other-study", ID: NewID(), Lang: "en", Text: "wrong study"}
	cb, _ := c.Marshal()
	wrong, _ := Seal(p.Address(), 4, r2, cb)
	records = append(records, wrong)

	found, unreadable, err := Find(bytes.Join(records, nil), p, study, rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != len(mine) || unreadable != 2 {
		t.Fatalf("found %d replies and %d unreadable, want %d and 2", len(found), unreadable, len(mine))
	}
	want := []string{"0/0", "0/1", "0/255", "1/0"} // by researcher, then number
	for k, f := range found {
		ri := map[*envelope.Recipient]int{rs[0]: 0, rs[1]: 1, rs[2]: 2}[f.Researcher]
		if got := strings.Join([]string{string(rune('0' + ri)), itoa(f.Number)}, "/"); got != want[k] {
			t.Errorf("found %d: %s, want %s", k, got, want[k])
		}
		if !bytes.Equal(records[f.Position][:TagSize], func() []byte { t := p.Tag(f.Number, f.Researcher); return t[:] }()) {
			t.Errorf("found %d: wrong position", k)
		}
		if f.Content.Text != "reply" {
			t.Errorf("found %d: text %q", k, f.Content.Text)
		}
	}
	if f, _, _ := Find(bytes.Join(records, nil), other, study, rs); len(f) != 1 || f[0].Content.Text != "not for p" {
		t.Fatalf("the other person found %d replies", len(f))
	}
	if _, _, err := Find(make([]byte, RecordSize+1), p, study, rs); err == nil {
		t.Fatal("Find read a partial record")
	}
}

func itoa(n uint32) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func FuzzOpen(f *testing.F) {
	p, r := person(1), researcher(f, 0)
	e := [32]byte{1, 2, 3} // fixed: fuzzing workers run this again
	rec, _ := seal(&e, p.Address(), 0, r, []byte(`{"v":1}`))
	f.Add(rec)
	f.Add(make([]byte, RecordSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < RecordSize && len(b) > 0 {
			b = append(b, make([]byte, RecordSize-len(b))...)
		}
		c, err := Open(b, p, r.Recipient())
		if err == nil && !bytes.Equal(b, rec) {
			t.Fatalf("a record not sealed by the researcher opened: %q", c)
		}
		if err != nil && !errors.Is(err, ErrNotOpened) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	p, r := person(1), researcher(b, 0)
	c := content(b, strings.Repeat("가", 500), Question{ID: "year", Type: config.Year, Label: "몇 년이었습니까?"})
	for b.Loop() {
		if _, err := Seal(p.Address(), 0, r, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFind10000 is the come-back page's work in Go (the server does it
// for a person without JavaScript): 10,000 stored records, 3 of them the
// person's, from three researchers.
func BenchmarkFind10000(b *testing.B) {
	p := person(1)
	var rs []*envelope.Recipient
	for n := range 3 {
		rs = append(rs, researcher(b, n).Recipient())
	}
	records := make([]byte, 10000*RecordSize)
	rand.Read(records)
	for k := range 3 {
		rec, _ := Seal(p.Address(), uint32(k), researcher(b, k), content(b, "reply"))
		copy(records[(k*3333+17)*RecordSize:], rec)
	}
	b.ResetTimer()
	for b.Loop() {
		found, _, err := Find(records, p, study, rs)
		if err != nil || len(found) != 3 {
			b.Fatalf("found %d: %v", len(found), err)
		}
	}
}
