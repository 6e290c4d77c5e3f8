package pseudonym

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTables(t *testing.T) {
	hangul, roman := map[string]bool{}, map[string]bool{}
	for _, s := range drawSurnames {
		if utf8.RuneCountInString(s.hangul) != 1 || !isSyllable([]rune(s.hangul)[0]) {
			t.Errorf("surname %q is not one Hangul syllable", s.hangul)
		}
		if r, err := parseRoman(s.roman + " A"); err != nil || r != s.roman+" A" {
			t.Errorf("surname %s romanized %q is not canonical: %v", s.hangul, s.roman, err)
		}
		if hangul[s.hangul] || roman[romanKey(s.roman)] {
			t.Errorf("surname %s (%s) is listed twice", s.hangul, s.roman)
		}
		hangul[s.hangul], roman[romanKey(s.roman)] = true, true
	}
	for h, r := range otherSurnames {
		if n := utf8.RuneCountInString(h); n < 1 || n > 2 {
			t.Errorf("surname %q has %d syllables", h, n)
		}
		if c, err := parseRoman(r + " A"); err != nil || c != r+" A" {
			t.Errorf("surname %s romanized %q is not canonical: %v", h, r, err)
		}
		if hangul[h] {
			t.Errorf("surname %s is in both tables", h)
		}
	}
	hangul, roman = map[string]bool{}, map[string]bool{}
	for _, s := range drawSyllables {
		if utf8.RuneCountInString(s) != 1 || !isSyllable([]rune(s)[0]) {
			t.Errorf("syllable %q is not one Hangul syllable", s)
		}
		r := romanizeSyllable([]rune(s)[0])
		if hangul[s] || roman[r] {
			t.Errorf("syllable %s (%s) is listed twice", s, r)
		}
		hangul[s], roman[r] = true, true
	}
	for _, w := range blockedWords {
		if utf8.RuneCountInString(w) != 2 {
			t.Errorf("blocked word %q is not two syllables", w)
		}
	}
	for _, n := range blockedNames {
		if _, err := parseHangul(n); err != nil {
			t.Errorf("blocked name %q: %v", n, err)
		}
	}
}

// TestSpaceSize checks the space holds comfortably more than 100,000 names,
// counted after blocking and after merging names whose romanized forms
// differ only in hyphens.
func TestSpaceSize(t *testing.T) {
	sp := defaultSpace
	given := map[string]bool{}
	for _, a := range sp.syls {
		for _, b := range sp.syls {
			given[a.roman+b.roman] = true
		}
	}
	g := uint64(len(sp.syls))
	var blocked uint64
	for s := range uint64(len(sp.surnames)) {
		for a := range g {
			for b := range g {
				if sp.blockedPair[a*g+b] || sp.blockedStart[s*g+a] {
					blocked++
				}
			}
		}
	}
	blocked += uint64(len(sp.blockedName))
	// Each blocked name removes at most one distinct romanized name.
	usable := uint64(len(sp.surnames))*uint64(len(given)) - blocked
	t.Logf("space: %d surnames × %d² syllables = %d; %d blocked; at least %d distinct names", len(sp.surnames), g, sp.size(), blocked, usable)
	if usable < 1_000_000 {
		t.Errorf("only %d usable names; want at least 1,000,000", usable)
	}
}

func TestDrawnNamesAreCanonical(t *testing.T) {
	sp := defaultSpace
	g := uint64(len(sp.syls))
	// Every surname and every syllable in both positions.
	for s := range uint64(len(sp.surnames)) {
		for a := range g {
			for _, i := range []uint64{s*g*g + a*g + (a+1)%g, s*g*g + (a+7)%g*g + a} {
				n, rk, ok := sp.name(i)
				if !ok {
					continue
				}
				p, err := Parse(n.String())
				if err != nil || p != n || !validName(n) || rk != romanKey(n.Roman) {
					t.Fatalf("drawn name %v: parsed %v, %v; romanKey %q", n, p, err, rk)
				}
				// Parse of the bare Hangul gives the same romanization,
				// unless it reads the name as having a two-syllable
				// surname (선우진: Sunwoo Jin, not Sun U-jin).
				if sur, _ := splitSurname(n.Hangul); utf8.RuneCountInString(sur) == 1 && romanize(n.Hangul) != n.Roman {
					t.Fatalf("romanize(%s) = %q; drawn as %q", n.Hangul, romanize(n.Hangul), n.Roman)
				}
			}
		}
	}
}

func TestRomanize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"김석한", "Kim Seok-han"},
		{"김영철", "Kim Yeong-cheol"},
		{"이순신", "Lee Sun-sin"},
		{"리설주", "Ri Seol-ju"},
		{"최룡해", "Choi Ryong-hae"},
		{"박꽃님", "Park Kkot-nim"},
		{"정의", "Jung Ui"},
		{"김구", "Kim Gu"},
		{"한아름", "Han A-reum"},
		{"윤희", "Yoon Hui"},
		{"남궁민수", "Namgung Min-su"},
		{"선우진", "Sunwoo Jin"},
		{"황보은", "Hwangbo Eun"},
		{"황은비", "Hwang Eun-bi"},
		{"뚱뚱", "Ttung Ttung"},
		{"김닭", "Kim Dak"},
		{"오쌍", "Oh Ssang"},
		{"궉왜뢰", "Gwok Wae-roe"},
		{"김갑을병", "Kim Gap-eul-byeong"},
	} {
		n, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if n.Hangul != tc.in || n.Roman != tc.want {
			t.Errorf("Parse(%q) = %v; want %s (%s)", tc.in, n, tc.in, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	want := Name{"김영철", "Kim Young-chul"}
	for _, in := range []string{
		"김영철/Kim Young-chul",
		"  김영철 / Kim Young-chul  ",
		"김영철 (Kim Young-chul)",
		"김영철(Kim Young-chul)",
		"김영철 ( Kim Young-chul )",
		"김영철/KIM YOUNG-CHUL",
		"김영철/kim young-Chul",
		"\u1100\u1175\u11b7\u110b\u1167\u11bc\u110e\u1165\u11af/Kim Young-chul", // decomposed jamo
		"\uae40\u110b\u1167\u11bc\ucca0/Kim Young-chul",                         // partly decomposed
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, tc := range []struct{ in, roman string }{
		{"김영철/Kim Youngchul", "Kim Youngchul"},
		{"남궁민/Namgung Min", "Namgung Min"},
		{"김영철/Kim Yeong-cheol-a", "Kim Yeong-cheol-a"},
	} {
		if got, err := Parse(tc.in); err != nil || got.Roman != tc.roman {
			t.Errorf("Parse(%q) = %v, %v; want romanized %q", tc.in, got, err, tc.roman)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, says string }{
		{"", "empty"},
		{"   ", "empty"},
		{"Kim Young-chul", "no Hangul form"},
		{"/Kim Young-chul", "no Hangul form"},
		{"김영철/", "nothing after the slash"},
		{"김영철 ()", "nothing inside the parentheses"},
		{"김영철 (Kim Young-chul", "unbalanced"},
		{"김영철 Kim Young-chul)", "unbalanced"},
		{"김영철 ((Kim Young-chul))", "unbalanced"},
		{"김영철/Kim/Young", "more than one romanized form"},
		{"김", "1 syllables"},
		{"김영철수호", "5 syllables"},
		{"김 영철", "space"},
		{"김영철3", "not a complete Hangul syllable"},
		{"김ㅇ철", "not a complete Hangul syllable"},
		{"\u1100\u1175", "1 syllables"},
		{"金英哲", "not a complete Hangul syllable"},
		{"김영철/Kim Sŏng-ch'ŏl", "ASCII letters only"},
		{"김영철/Kim Young_chul", "letters, one space"},
		{"김영철/KimYoungchul", "no space"},
		{"김영철/Kim Young chul", "more than one space"},
		{"김영철/Kim  Young-chul", "more than one space"},
		{"김영철/Kim-Lee Young", "surname of letters only"},
		{"김영철/Kim Young--chul", "misplaced hyphen"},
		{"김영철/Kim -Young", "misplaced hyphen"},
		{"김영철/Kim Young-", "misplaced hyphen"},
		{"김영철/Kim Youngchulyoungchulyoungchulyoungchulx", "the limit is 40"},
		{"김영철/" + strings.Repeat("a", 300), "at most 256 bytes"},
		{"김영철/Kim \xff", "not valid UTF-8"},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded; want error saying %q", tc.in, tc.says)
			continue
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Parse(%q) error %q does not say %q", tc.in, err, tc.says)
		}
		// Every error shows a correct example of what to write, except
		// those that are only about length or encoding.
		if !strings.Contains(err.Error(), "김영철") && !strings.Contains(err.Error(), "Kim Young-chul") && !strings.Contains(err.Error(), "limit") {
			t.Errorf("Parse(%q) error %q gives no example of a correct name", tc.in, err)
		}
	}
}

func TestNameString(t *testing.T) {
	n := Name{"김석한", "Kim Seok-han"}
	if got, want := n.String(), "김석한 (Kim Seok-han)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"김석한", "김석한 (Kim Seok-han)", "김영철/Kim Young-chul", "남궁민수", "Kim Seok-han",
		"김 영철", "김영철 (", "\u1100\u1175\u11b7\u110b\u1167\u11bc", "김영철/Kim -x", "가가가가/A B-c-d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			if !utf8.ValidString(err.Error()) {
				t.Errorf("error is not valid UTF-8: %q", err)
			}
			return
		}
		if !validName(n) {
			t.Fatalf("Parse(%q) = %#v, not canonical", s, n)
		}
		for _, form := range []string{n.String(), n.Hangul + "/" + n.Roman} {
			if m, err := Parse(form); err != nil || m != n {
				t.Fatalf("Parse(%q) = %v; Parse(%q) = %v, %v", s, n, form, m, err)
			}
		}
		if strings.ContainsAny(n.Hangul, " /()") || strings.Count(n.Roman, " ") != 1 {
			t.Fatalf("Parse(%q) = %#v", s, n)
		}
	})
}

func ExampleParse() {
	for _, s := range []string{"김영철", "김영철/Kim Young-chul", "남궁민수 (Namgoong Min-soo)"} {
		n, err := Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(n)
	}
	// Output:
	// 김영철 (Kim Yeong-cheol)
	// 김영철 (Kim Young-chul)
	// 남궁민수 (Namgoong Min-soo)
}
