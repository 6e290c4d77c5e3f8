package signednote

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// A test format using every method of Lines:
//
//	testimony list v1
//	name <value>
//	hashes <k>          (0 to 3)
//	<sha256>            (k lines, sorted)
//	items <n>           (1 to 3)
//	<item>              (n lines)
type list struct {
	name   string
	hashes [][32]byte
	items  []string
}

func (x *list) format() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "testimony list v1\nname %s\nhashes %d\n", x.name, len(x.hashes))
	for _, h := range x.hashes {
		fmt.Fprintf(&b, "%x\n", h)
	}
	fmt.Fprintf(&b, "items %d\n", len(x.items))
	for _, it := range x.items {
		fmt.Fprintf(&b, "%s\n", it)
	}
	return b.Bytes()
}

func parseList(text []byte) (*list, error) {
	l := NewLines(text, "list")
	if err := l.Header("testimony list v1", "list file"); err != nil {
		return nil, err
	}
	x := &list{}
	var err error
	if x.name, err = l.Field("name"); err != nil {
		return nil, err
	}
	if x.name == "" || strings.ContainsAny(x.name, " \r") {
		return nil, l.Errorf("malformed name %.80q", x.name)
	}
	k, err := l.Count("hashes", "hash count", 0, 3)
	if err != nil {
		return nil, err
	}
	if x.hashes, err = l.SHA256s(k, "hash"); err != nil {
		return nil, err
	}
	n, err := l.Count("items", "item count", 1, 3)
	if err != nil {
		return nil, err
	}
	for i := range n {
		it, err := l.Item(i, n, "item")
		if err != nil {
			return nil, err
		}
		if it == "" || strings.ContainsAny(it, "\r") {
			return nil, l.Errorf("malformed item %.80q", it)
		}
		x.items = append(x.items, it)
	}
	if err := l.End(n, "item"); err != nil {
		return nil, err
	}
	return x, nil
}

func sortedHashes(n int) ([][32]byte, []string) {
	var hs [][32]byte
	for i := range n {
		hs = append(hs, sha256.Sum256([]byte{byte(i)}))
	}
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && bytes.Compare(hs[j][:], hs[j-1][:]) < 0; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
	var s []string
	for _, h := range hs {
		s = append(s, fmt.Sprintf("%x", h))
	}
	return hs, s
}

func TestLines(t *testing.T) {
	hs, h := sortedHashes(2)
	good := &list{name: "n", hashes: hs, items: []string{"a b", "c"}}
	ok := string(good.format())
	x, err := parseList([]byte(ok))
	if err != nil || x.name != "n" || len(x.hashes) != 2 || x.hashes[1] != hs[1] || len(x.items) != 2 || x.items[0] != "a b" {
		t.Fatalf("parseList(%q) = %+v, %v", ok, x, err)
	}
	if x, err := parseList([]byte("testimony list v1\nname n\nhashes 0\nitems 1\nx\n")); err != nil || x.hashes == nil || len(x.hashes) != 0 {
		t.Fatalf("no hashes: %+v, %v; want an empty, not nil, list", x, err)
	}

	for _, tc := range []struct{ text, want string }{
		{"", "malformed list, line 0: not a \"testimony list v1\": unsupported version, or not a list file"},
		{strings.Replace(ok, "v1", "v2", 1), "line 1: not a \"testimony list v1\""},
		{strings.ReplaceAll(ok, "\n", "\r\n"), "line 1: not a"},
		{"testimony list v1\n", `line 1: missing "name" line`},
		{strings.Replace(ok, "name n", "names n", 1), `line 2: want "name" line, got "names n"`},
		{strings.Replace(ok, "name n", "name"+strings.Repeat("x", 100), 1), `got "name` + strings.Repeat("x", 76) + `"`},
		{strings.Replace(ok, "name n", "name  n", 1), "line 2: malformed name"},
		{strings.Replace(ok, "hashes 2", "hashes 02", 1), `line 3: malformed hash count "02": want 0 to 3`},
		{strings.Replace(ok, "hashes 2", "hashes +2", 1), "line 3: malformed hash count"},
		{strings.Replace(ok, "hashes 2", "hashes -0", 1), "line 3: malformed hash count"},
		{strings.Replace(ok, "hashes 2", "hashes 2 ", 1), "line 3: malformed hash count"},
		{strings.Replace(ok, "hashes 2", "hashes 4", 1), "line 3: malformed hash count"},
		{strings.Replace(ok, "hashes 2", "hashes 99999999999999999999", 1), "line 3: malformed hash count"},
		{strings.Replace(ok, "hashes 2", "hashes 3", 1), `line 6: malformed hash SHA-256 "items 2"`},
		{strings.Replace(ok, "hashes 2", "hashes 1", 1), `line 5: want "items" line`},
		{strings.Replace(ok, h[0], strings.ToUpper(h[0]), 1), "line 4: malformed hash SHA-256"},
		{strings.Replace(ok, h[0], h[0][:63], 1), "line 4: malformed hash SHA-256"},
		{strings.Replace(ok, h[0], h[0][:63]+"g", 1), "line 4: malformed hash SHA-256"},
		{strings.Replace(ok, h[0], h[0]+" ", 1), "line 4: malformed hash SHA-256"},
		{strings.Replace(ok, h[0]+"\n"+h[1], h[1]+"\n"+h[0], 1), "line 5: hash " + h[0] + " listed out of order or twice"},
		{strings.Replace(ok, h[1], h[0], 1), "line 5: hash " + h[0] + " listed out of order or twice"},
		{strings.Replace(ok, "items 2", "items 0", 1), "line 6: malformed item count"},
		{strings.Replace(ok, "items 2", "items 3", 1), "line 8: it ends after 2 of 3 item lines"},
		{strings.TrimSuffix(ok, "\n"), "line 7: it ends after 1 of 2 item lines"},
		{strings.Replace(ok, "items 2", "items 1", 1), "line 8: unexpected text after the 1 item lines"},
		{ok + "\n", "line 9: unexpected text after the 2 item lines"},
		{ok + "x", "line 9: unexpected text"},
	} {
		if _, err := parseList([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseList(%q):\n  got %v\n  want %q", tc.text, err, tc.want)
		}
	}
}

// TestSHA256sAllocation checks that a count larger than the text is not
// allocated for: a million hashes would take 32 MB.
func TestSHA256sAllocation(t *testing.T) {
	_, h := sortedHashes(3)
	text := []byte(strings.Join(h, "\n") + "\n")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewLines(text, "list").SHA256s(1_000_000, "hash")
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "line 3: it ends after 3 of 1000000 hash lines") {
		t.Errorf("SHA256s of a count larger than the text = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("SHA256s allocated %d bytes for 3 lines", n)
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		s      string
		lo, hi int
		want   int
		ok     bool
	}{
		{"0", 0, 10, 0, true},
		{"7", 1, 10, 7, true},
		{"10", 1, 10, 10, true},
		{"11", 1, 10, 0, false},
		{"0", 1, 10, 0, false},
		{"", 0, 10, 0, false},
		{"07", 0, 10, 0, false},
		{"00", 0, 10, 0, false},
		{"+7", 0, 10, 0, false},
		{"-7", -10, 10, 0, false},
		{"7", -10, 10, 7, true},
		{"7", 8, 6, 0, false},
		{"-0", 0, 10, 0, false},
		{" 7", 0, 10, 0, false},
		{"7 ", 0, 10, 0, false},
		{"7\n", 0, 10, 0, false},
		{"0x7", 0, 10, 0, false},
		{"1_0", 0, 100, 0, false},
		{"٣", 0, 10, 0, false}, // an Arabic-Indic three
		{"9223372036854775807", 0, 1<<63 - 1, 1<<63 - 1, true},
		{"9223372036854775808", 0, 1<<63 - 1, 0, false},
		{"99999999999999999999", 0, 1<<63 - 1, 0, false},
	} {
		if got, ok := ParseDecimal(tc.s, tc.lo, tc.hi); got != tc.want || ok != tc.ok {
			t.Errorf("ParseDecimal(%q, %d, %d) = %d, %v; want %d, %v", tc.s, tc.lo, tc.hi, got, ok, tc.want, tc.ok)
		}
	}
	if n, ok := ParseDecimal("17179869184", 0, int64(16<<30)); n != 16<<30 || !ok {
		t.Errorf("ParseDecimal of 16 GiB as int64 = %d, %v", n, ok)
	}
}

func TestParseHex(t *testing.T) {
	var dst [2]byte
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"0a1f", true},
		{"0A1F", false},
		{"0a1", false},
		{"0a1f0", false},
		{"0a1g", false},
		{"0a 1", false},
		{"", false},
	} {
		if ok := ParseHex(dst[:], tc.s); ok != tc.ok || ok && dst != [2]byte{0x0a, 0x1f} {
			t.Errorf("ParseHex(%q) = %v, %x", tc.s, ok, dst)
		}
	}
}

// FuzzLines checks that the reader accepts only what the format writes,
// and that its errors name a line.
func FuzzLines(f *testing.F) {
	hs, _ := sortedHashes(3)
	f.Add((&list{name: "n", hashes: hs, items: []string{"a b", "c"}}).format())
	f.Add((&list{name: "n", items: []string{"x"}}).format())
	f.Add([]byte("testimony list v1\nname n\nhashes 1\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		x, err := parseList(text)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "malformed list, line ") {
				t.Fatalf("error %q names no line", err)
			}
			return
		}
		if out := x.format(); !bytes.Equal(out, text) {
			t.Fatalf("parseList accepted %q, which formats as %q", text, out)
		}
	})
}
