package researcher

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MultiSeparator joins the values of a multi_choice answer in a CSV cell.
const MultiSeparator = ";"

func (w *Workspace) writeExports() error {
	if err := atomicfile.Write(filepath.Join(w.dir, jsonlFile), 0o600, func(out io.Writer) error { return writeJSONL(out, w.rows) }); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(w.dir, quarantineFile), 0o600, func(out io.Writer) error { return writeJSONL(out, w.quar) }); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(w.dir, csvFile), 0o600, w.writeCSV); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(w.dir, codebookFile), 0o600, w.writeCodebook); err != nil {
		return err
	}
	return w.writeMarkdown()
}

func writeJSONL[T any](out io.Writer, rows []T) error {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// Cell returns the text of an answer for a CSV cell or a Markdown file:
// multi_choice values joined by MultiSeparator, other answers as sent.
func Cell(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var vals []string
	if json.Unmarshal(raw, &vals) == nil {
		return strings.Join(vals, MultiSeparator)
	}
	return ""
}

// csvSafe defuses a cell that a spreadsheet would run as a formula (one
// starting with =, +, -, @, a tab or a carriage return) by prefixing a single
// quote, as OWASP recommends: a submitter must not be able to make the
// researcher's spreadsheet fetch a URL or run a command. testimonies.jsonl
// keeps the text exactly as sent.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (w *Workspace) writeCSV(out io.Writer) error {
	if _, err := io.WriteString(out, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(out)
	cw.UseCRLF = true
	head := []string{"pseudonym", "pseudonym_roman", "lang"}
	for _, q := range w.study.Questions {
		head = append(head, q.ID)
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, t := range w.rows {
		row := []string{t.Pseudonym, t.PseudonymRoman, t.Language}
		for _, q := range w.study.Questions {
			row = append(row, csvSafe(Cell(t.Answers[q.ID])))
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func (w *Workspace) writeCodebook(out io.Writer) error {
	if _, err := io.WriteString(out, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(out)
	cw.UseCRLF = true
	head := []string{"question", "type", "value"}
	for _, l := range w.study.Languages {
		head = append(head, "label_"+l)
	}
	cw.Write(head)
	labels := func(t config.Text) []string {
		var out []string
		for _, l := range w.study.Languages {
			out = append(out, t.In(l))
		}
		return out
	}
	for _, q := range w.study.Questions {
		cw.Write(append([]string{q.ID, string(q.Type), ""}, labels(q.Label)...))
		for _, c := range q.Choices {
			cw.Write(append([]string{q.ID, "choice", c.Value}, labels(c.Label)...))
		}
	}
	cw.Flush()
	return cw.Error()
}

// fence returns a Markdown code fence longer than any run of backticks in
// s, so that a testimony is shown as typed and never rendered: no link,
// image or HTML a submitter wrote can load anything in a Markdown viewer.
func fence(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// MarkdownName returns the file name of a testimony's Markdown file.
func MarkdownName(t Testimony) string {
	return t.Pseudonym + " " + t.PseudonymRoman + ".md"
}

func (w *Workspace) writeMarkdown() error {
	dir := filepath.Join(w.dir, markdownDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, t := range w.rows {
		name := MarkdownName(t)
		want[name] = true
		var b bytes.Buffer
		fmt.Fprintf(&b, "# %s (%s)\n\n", t.Pseudonym, t.PseudonymRoman)
		for i, q := range w.study.Questions {
			raw, ok := t.Answers[q.ID]
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "## %d. %s\n\n", i+1, q.Label.In(w.lang))
			text := Cell(raw)
			if len(q.Choices) > 0 {
				var labels []string
				for _, v := range strings.Split(text, MultiSeparator) {
					if c := q.Choice(v); c != nil {
						labels = append(labels, fmt.Sprintf("%s (%s)", c.Label.In(w.lang), v))
					}
				}
				text = strings.Join(labels, "\n")
			}
			f := fence(text)
			fmt.Fprintf(&b, "%s\n%s\n%s\n\n", f, text, f)
		}
		if err := writeIfChanged(filepath.Join(dir, name), b.Bytes()); err != nil {
			return err
		}
	}
	// Remove files of pseudonyms that were renamed.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") && !want[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeIfChanged writes a Markdown file unless it already holds data.
// These files are made again from testimonies.jsonl on every run, so they
// are not synced one by one.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return os.WriteFile(path, data, 0o600)
}
