package export

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
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

// FuzzXLSX writes a workbook whose story is arbitrary text and reads it
// back with excelize: the file is valid, and the cell holds the visible
// text, cut to fit if it must be.
func FuzzXLSX(f *testing.F) {
	for _, s := range nasty {
		f.Add(s)
	}
	f.Add("\uFFFF\uFFFE<&>]]>")
	s, v := schema(f), current(f)
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, story string) {
		if !utf8.ValidString(story) {
			return
		}
		r := Row{Pseudonym: "김석한", PseudonymRoman: "Kim Seok-han", Language: "ko", Version: v,
			Answers: map[string][]string{"story": {story}}}
		var b bytes.Buffer
		if err := WriteXLSX(&b, s, Slice([]Row{r}), XLSXOptions{TempDir: tmp}); err != nil {
			t.Fatal(err)
		}
		xf, err := excelize.OpenReader(&b)
		if err != nil {
			t.Fatal(err)
		}
		defer xf.Close()
		rows, err := xf.GetRows(ValuesSheet)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rows[1][len(rows[1])-2], xlsxText(escapeCode(story)); got != want {
			t.Fatalf("story cell %q, want %q", got, want)
		}
	})
}
