package export

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzWriters writes a testimony whose story is arbitrary text and checks
// every format: the CSV field reads back as the defused, visible text;
// JSONL gives the exact text back; Markdown keeps it inside one fence.
func FuzzWriters(f *testing.F) {
	for _, s := range nasty {
		f.Add(s)
	}
	f.Add("```\n````")
	s, v := schema(f), current(f)
	f.Fuzz(func(t *testing.T, story string) {
		if !utf8.ValidString(story) {
			return // the plaintext is UTF-8; the writers refuse or show other bytes
		}
		r := Row{Pseudonym: "김석한", PseudonymRoman: "Kim Seok-han", Language: "ko", Version: v,
			Answers: map[string][]string{"story": {story}}}
		var b bytes.Buffer
		if err := WriteCSV(&b, s, Slice([]Row{r}), CSVOptions{}); err != nil {
			t.Fatal(err)
		}
		recs := readCSV(t, b.Bytes())
		if len(recs) != 2 {
			t.Fatalf("CSV has %d records", len(recs))
		}
		want := defuse(Visible(escapeCode(story)))
		if got := recs[1][len(recs[1])-2]; got != want {
			t.Fatalf("CSV story %q, want %q", got, want)
		}
		if dangerousAt(want) >= 0 {
			t.Fatalf("CSV story %q is dangerous", want)
		}

		b.Reset()
		if err := WriteJSONL(&b, s, Slice([]Row{r})); err != nil {
			t.Fatal(err)
		}
		var j struct{ Answers map[string]string }
		if err := json.Unmarshal(b.Bytes(), &j); err != nil || j.Answers["story"] != story {
			t.Fatalf("JSONL story %q, %v; want %q", j.Answers["story"], err, story)
		}

		b.Reset()
		if err := WriteMarkdown(&b, s, r, ""); err != nil {
			t.Fatal(err)
		}
		md := b.String()
		text := Visible(story)
		fence := fence(text)
		block := "\n" + fence + "\n" + text + "\n" + fence + "\n"
		if !strings.Contains(md, block) {
			t.Fatalf("Markdown lacks the fenced story:\n%s", md)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimLeft(line, " "), fence) {
				t.Fatalf("a line of the story closes the fence: %q", line)
			}
		}
	})
}

// FuzzXLSXText checks what goes into an XLSX text cell, whatever the
// answer: only characters XML 1.0 can hold (a workbook with any other is
// refused by Excel), at most MaxCellChars UTF-16 code units, the answer
// made Visible when it fits and cut with the mark when it does not. Writing
// whole workbooks is tested on the nasty answers by TestXLSXInLibreOffice;
// per input it is too slow to fuzz.
func FuzzXLSXText(f *testing.F) {
	for _, s := range nasty {
		f.Add(s)
	}
	f.Add("\uFFFF\uFFFE<&>]]>\x00\x1f")
	f.Fuzz(func(t *testing.T, s string) {
		x := xlsxText(escapeCode(s))
		for _, r := range x {
			if !(r == 0x09 || r == 0x0a || r == 0x0d || r >= 0x20 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff) {
				t.Fatalf("xlsxText(%+q) holds %U, which XML cannot", s, r)
			}
		}
		if !utf8.ValidString(x) {
			t.Fatalf("xlsxText(%+q) is not UTF-8", s)
		}
		if n := utf16Len(x); n > MaxCellChars {
			t.Fatalf("xlsxText(%+q) is %d UTF-16 units long", s, n)
		}
		if v := Visible(escapeCode(s)); x != v && !(strings.HasSuffix(x, TruncatedMark) && strings.HasPrefix(v, strings.TrimSuffix(x, TruncatedMark))) {
			t.Fatalf("xlsxText(%+q) = %+q, want %+q or a cut of it", s, x, v)
		}
	})
}
