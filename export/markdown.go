package export

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// WriteMarkdown writes one testimony as Markdown to w: its pseudonym as the
// title, its language and questionnaire version, then every answered
// question, numbered in export order, with its label in lang (empty means
// the study's default language) and its answer — choice labels followed by
// their values — inside a code fence longer than any run of backticks in
// it, so that nothing a person wrote is rendered: no link, image or HTML
// loads anything in a Markdown viewer. Labels and pseudonyms outside
// fences are escaped. All text is made [Visible].
func WriteMarkdown(w io.Writer, s *Schema, r Row, lang string) error {
	lang, err := s.checkLanguage(lang)
	if err != nil {
		return err
	}
	v, err := s.versionOf(&r)
	if err != nil {
		return err
	}
	for id := range r.Answers {
		if v.qs[id] == nil {
			return fmt.Errorf("testimony %s answers question %q, which its questionnaire version %s does not have", r.Pseudonym, id, v.short)
		}
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s (%s)\n\n", escapeMarkdown(r.Pseudonym), escapeMarkdown(r.PseudonymRoman))
	fmt.Fprintf(bw, "- language: %s\n- questionnaire version: %s\n\n", escapeMarkdown(r.Language), v.short)
	n := 0
	for _, q := range s.questions {
		if !hasColumn(q.q) {
			continue
		}
		n++
		vals := r.Answers[q.id]
		if len(vals) == 0 {
			continue
		}
		vq := v.qs[q.id]
		fmt.Fprintf(bw, "## %d. %s\n\n", n, escapeMarkdown(label(vq.Label, lang)))
		text := strings.Join(vals, MultiSeparator)
		if isChoice(q.q) {
			lines := make([]string, len(vals))
			for i, val := range vals {
				lines[i] = val
				if c := q.byValue[val]; c != nil {
					lines[i] = label(c.label, lang) + " (" + val + ")"
				}
			}
			text = strings.Join(lines, "\n")
		}
		text = Visible(text)
		f := fence(text)
		fmt.Fprintf(bw, "%s\n%s\n%s\n\n", f, text, f)
	}
	return bw.Flush()
}

// fence returns a Markdown code fence longer than any run of backticks in
// s, and at least three long.
func fence(s string) string {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// escapeMarkdown makes text shown outside a fence render as itself: it is
// made Visible, and every ASCII punctuation mark that Markdown or HTML
// gives a meaning to is escaped with a backslash.
func escapeMarkdown(s string) string {
	s = Visible(s)
	var b strings.Builder
	for _, r := range s {
		if r == '\n' || r == '\t' {
			r = ' '
		}
		if strings.ContainsRune("\\`*_{}[]()<>#+-.!|~&\"'=:", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// MarkdownName returns the file name of a testimony's Markdown file: its
// pseudonyms and ".md", with any character other than a letter, digit,
// space, hyphen or apostrophe replaced by "_".
func MarkdownName(r Row) string {
	name := strings.Map(func(c rune) rune {
		if unicode.IsLetter(c) || unicode.IsDigit(c) || c == ' ' || c == '-' || c == '\'' {
			return c
		}
		return '_'
	}, Visible(r.Pseudonym+" "+r.PseudonymRoman))
	return name + ".md"
}

// WriteMarkdownDir writes one Markdown file per testimony into dir (made if
// needed, 0700), named by [MarkdownName], with labels in lang; a file that
// already holds the same bytes is left alone. Markdown files of dir that
// no row names any more (after a rename) are removed. Files are made again
// from the testimonies on every run, so they are not synced one by one.
func WriteMarkdownDir(dir string, s *Schema, rows Rows, lang string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	want := map[string]bool{}
	var b bytes.Buffer
	for r, err := range rows {
		if err != nil {
			return err
		}
		name := MarkdownName(r)
		if want[name] {
			return fmt.Errorf("two testimonies are called %s", strings.TrimSuffix(name, ".md"))
		}
		want[name] = true
		b.Reset()
		if err := WriteMarkdown(&b, s, r, lang); err != nil {
			return err
		}
		if err := writeIfChanged(filepath.Join(dir, name), b.Bytes()); err != nil {
			return err
		}
	}
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

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return os.WriteFile(path, data, 0o600)
}
