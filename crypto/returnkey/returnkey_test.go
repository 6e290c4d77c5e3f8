package returnkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// TestWordlists checks the embedded lists are BIP-39's, byte for byte, and
// have the properties Parse relies on.
func TestWordlists(t *testing.T) {
	for name, want := range map[string]string{
		// The SHA-256 of the files as published in github.com/bitcoin/bips,
		// bip-0039/, at 7fe0b034ec967b52a5a28276419117326df93263.
		"korean.txt":             "9e95f86c167de88f450f0aaf89e87f6624a57f973c67b516e338e8e8b8897f60",
		"chinese_simplified.txt": "5c5942792bd8340cb8b27cd592f1015edf56a8c5b26276ee18a482428e7c5726",
		"english.txt":            "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda",
	} {
		b, err := os.ReadFile("wordlists/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want || WordlistSHA256[name] != want {
			t.Errorf("wordlists/%s has SHA-256 %x, want %s", name, sum, want)
		}
	}
	seen := map[string]string{}
	for _, l := range Lists {
		for i := range 2048 {
			w := l.words[i]
			if o, dup := seen[w]; dup {
				t.Errorf("%s word %d %q is also in %s", l.Name, i, w, o)
			}
			seen[w] = l.Name
			if l.Word(i) != norm.NFC.String(w) || norm.NFKD.String(l.Word(i)) != w {
				t.Errorf("%s word %d: shown %q is not the NFC of %q", l.Name, i, l.Word(i), w)
			}
			got, err := lookupTyped(l.Word(i))
			if err != nil || got != i {
				t.Errorf("%s word %d %q reads as %d, %v", l.Name, i, l.Word(i), got, err)
			}
		}
	}
	// BIP-39's English list: four letters name a word.
	firsts := map[string]int{}
	for i, w := range English.words {
		if len(w) < 3 || len(w) > 8 || strings.ToLower(w) != w {
			t.Errorf("English word %q", w)
		}
		if len(w) >= 4 {
			if j, dup := firsts[w[:4]]; dup {
				t.Errorf("English words %q and %q start alike", English.words[j], w)
			}
			firsts[w[:4]] = i
		}
	}
	for _, w := range Chinese.words {
		if utf8.RuneCountInString(w) != 1 {
			t.Errorf("Chinese word %q is not one character", w)
		}
	}
}

// lookupTyped reads one word as Parse does.
func lookupTyped(s string) (int, error) {
	var ws []string
	for w := range fields(norm.NFKD.String(s)) {
		ws = append(ws, w)
	}
	if len(ws) != 1 {
		return 0, errors.New("not one word")
	}
	i, ok := lookup(ws[0])
	if !ok {
		return 0, errors.New("unknown")
	}
	return i, nil
}

func TestListFor(t *testing.T) {
	for lang, want := range map[string]*List{
		"ko": Korean, "ko-KP": Korean, "KO-kr": Korean, "zh": Chinese, "zh-Hans": Chinese, "zh-Hant": Chinese, "zh_CN": Chinese,
		"en": English, "en-GB": English, "ru": English, "ja": English, "": English, "kok": English,
	} {
		if got := ListFor(lang); got != want {
			t.Errorf("ListFor(%q) = %s, want %s", lang, got.Name, want.Name)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for range 300 {
		p, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		var mixed []string
		for j, l := range []string{"ko", "zh", "en"} {
			got, err := Parse(p.Format(l))
			if err != nil || got.Secret() != p.Secret() {
				t.Fatalf("Parse(Format(%s)) = %v, %v", l, got, err)
			}
			ws := p.Words(ListFor(l))
			if len(ws) != Words {
				t.Fatalf("%d words", len(ws))
			}
			for k := j; k < Words; k += 3 {
				for len(mixed) <= k {
					mixed = append(mixed, "")
				}
				mixed[k] = ws[k]
			}
		}
		got, err := Parse(strings.Join(mixed, "\u3000"))
		if err != nil || got.Secret() != p.Secret() {
			t.Fatalf("mixed %q: %v", mixed, err)
		}
	}
}

// TestIndices checks the bit layout on a secret whose words are easy to
// tell: s = 0 gives six words 0 and a seventh holding the checksum.
func TestIndices(t *testing.T) {
	p, _ := FromSecret(make([]byte, SecretSize))
	idx := p.Indices()
	c := checksum(&p.secret)
	want := [Words]int{0, 0, 0, 0, 0, 0, int(c)}
	if idx != want {
		t.Fatalf("indices of the zero secret: %v, want %v", idx, want)
	}
	ff, _ := FromSecret(bytes.Repeat([]byte{0xff}, SecretSize))
	c = checksum(&ff.secret)
	want = [Words]int{2047, 2047, 2047, 2047, 2047, 2047, 0x7e0 | int(c)}
	if got := ff.Indices(); got != want {
		t.Fatalf("indices of the all-ones secret: %v, want %v", got, want)
	}
	if got := ff.Format("en"); !strings.HasPrefix(got, "zoo zoo zoo zoo zoo zoo ") {
		t.Fatalf("all-ones secret in English: %q", got)
	}
}

// TestChecksum checks a mistyped word is caught about 31 times in 32, and
// that what is not caught is another passphrase.
func TestChecksum(t *testing.T) {
	caught, n := 0, 4000
	for k := range n {
		p, _ := Generate()
		ws := p.Words(English)
		j := k % Words
		ws[j] = English.Word((indexOf(English, ws[j]) + 1 + k%2000) % 2048)
		q, err := Parse(strings.Join(ws, " "))
		switch {
		case errors.Is(err, ErrChecksum):
			caught++
		case err != nil:
			t.Fatal(err)
		case q.Secret() == p.Secret():
			t.Fatal("a changed word gave the same secret")
		}
	}
	// Expected 3875; the bounds are 5 standard deviations (11) away.
	if caught < 3820 || caught > 3930 {
		t.Fatalf("checksum caught %d of %d changed words, want about %d", caught, n, n*31/32)
	}
}

func indexOf(l *List, w string) int {
	for i := range l.display {
		if l.display[i] == w {
			return i
		}
	}
	return -1
}

// errorForm is every error message Parse may return: fixed text and
// numbers, never what was typed.
var errorForm = regexp.MustCompile(`^(word \d+ is not a word of the return passphrase lists|a return passphrase has 7 words, not \d+|` +
	regexp.QuoteMeta(ErrChecksum.Error()) + `|` + regexp.QuoteMeta(ErrTooLong.Error()) + `)$`)

func TestParseErrors(t *testing.T) {
	p, _ := FromSecret([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	en := p.Words(English)
	swapped := append([]string(nil), en...)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	for _, c := range []struct {
		in   string
		want error
	}{
		{"", &WordCountError{0}},
		{strings.Join(en[:6], " "), &WordCountError{6}},
		{strings.Join(append(en, "abandon"), " "), &WordCountError{8}},
		{strings.Join(en[:2], " ") + " secretword " + strings.Join(en[3:], " "), &UnknownWordError{3}},
		{"aba " + strings.Join(en[1:], " "), &UnknownWordError{1}},
		{strings.Join(swapped, " "), ErrChecksum},
		{strings.Repeat(" ", MaxInputSize+1), ErrTooLong},
	} {
		_, err := Parse(c.in)
		if err == nil || err.Error() != c.want.Error() {
			t.Errorf("Parse(%.60q) = %v, want %v", c.in, err, c.want)
		}
		if !errorForm.MatchString(err.Error()) || strings.Contains(err.Error(), "secretword") {
			t.Errorf("error %q repeats input", err)
		}
	}
	var uw *UnknownWordError
	if _, err := Parse("zoo zoo quux"); !errors.As(err, &uw) || uw.Position != 3 {
		t.Errorf("unknown word: %v", err)
	}
	var wc *WordCountError
	if _, err := Parse("zoo zoo"); !errors.As(err, &wc) || wc.Got != 2 {
		t.Errorf("word count: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	p, _ := FromSecret([]byte{9, 8, 7, 6, 5, 4, 3, 2, 1})
	for _, l := range []string{"ko", "zh", "en"} {
		f.Add(p.Format(l))
	}
	f.Add(strings.ReplaceAll(p.Format("zh"), " ", ""))
	f.Add("1. ABAN 2, zoo\u3000zoo")
	f.Add(norm.NFKD.String(p.Format("ko")))
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			if !errorForm.MatchString(err.Error()) {
				t.Fatalf("error %q is not one of Parse's forms", err)
			}
			return
		}
		for _, l := range Lists {
			r, err := Parse(strings.Join(q.Words(l), " "))
			if err != nil || r.Secret() != q.Secret() {
				t.Fatalf("%q parsed, but its %s words do not read back: %v", s, l.Language, err)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	p, _ := Generate()
	s := p.Format("ko")
	for b.Loop() {
		if _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}
