package xlsform

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/goccy/go-yaml"
	"github.com/testimony-project/testimony/config"
)

// The study as the conversion builds it, field for field as the study file
// writes it; marshal writes it in the layout of
// examples/nk-internet-access.yaml.

// text is a text in several languages: language tag → text.
type text map[string]string

type studyDoc struct {
	source     string // the form's file name, for the header comment
	id         string
	langs      []string
	title      text
	intro      text
	recipients []config.Recipient
	limits     config.Limits
	browserEnc bool
	sections   []sectionDoc
	questions  []questionDoc
}

type sectionDoc struct {
	id        string
	label     text
	help      text
	relevant  string
	questions []string
}

type questionDoc struct {
	id            string
	typ           config.QuestionType
	required      *bool
	min, max      string
	decimals      int
	maxLength     int
	relevant      string
	constraint    string
	constraintMsg text
	label         text
	help          text
	choices       []choiceDoc
}

type choiceDoc struct {
	value     string
	exclusive bool
	label     text
}

// marshal writes the study file. With conditions unset it leaves out every
// relevant, constraint and constraint_message.
func (s *studyDoc) marshal(conditions bool) []byte {
	w := &yamlWriter{}
	w.line(0, "# Written by `researcher xlsform` from "+commentSafe(s.source)+".")
	w.line(0, "# Edit the form and convert it again (or edit this file, and the form no")
	w.line(0, "# longer matches it). The study id is bound into every envelope: never")
	w.line(0, "# change it once answers arrive, nor give a question id or a choice value")
	w.line(0, "# another meaning.")
	w.line(0, "id: "+scalar(s.id))
	w.blank()
	langs := make([]string, len(s.langs))
	for i, l := range s.langs {
		langs[i] = scalar(l)
	}
	w.line(0, "languages: ["+strings.Join(langs, ", ")+"]")
	w.blank()
	w.text(0, "title", s.title, s.langs)
	w.blank()
	w.text(0, "introduction", s.intro, s.langs)
	w.blank()
	w.line(0, "recipients:")
	for _, r := range s.recipients {
		w.line(2, "- name: "+quoted(r.Name))
		w.line(4, "public_key: "+scalar(r.PublicKey))
	}
	if s.limits != (config.Limits{}) {
		w.blank()
		w.line(0, "limits:")
		if n := s.limits.MaxSubmissionBytes; n != 0 {
			w.line(2, fmt.Sprintf("max_submission_bytes: %d", n))
		}
		if n := s.limits.MaxTextLength; n != 0 {
			w.line(2, fmt.Sprintf("max_text_length: %d", n))
		}
	}
	if s.browserEnc {
		w.blank()
		w.line(0, "require_browser_encryption: true")
	}
	if len(s.sections) > 0 {
		w.blank()
		w.line(0, "sections:")
		for i, sec := range s.sections {
			if i > 0 {
				w.blank()
			}
			w.line(2, "- id: "+scalar(sec.id))
			w.text(4, "label", sec.label, s.langs)
			w.text(4, "help", sec.help, s.langs)
			if conditions && sec.relevant != "" {
				w.line(4, "relevant: "+quoted(sec.relevant))
			}
			ids := make([]string, len(sec.questions))
			for j, id := range sec.questions {
				ids[j] = scalar(id)
			}
			w.line(4, "questions: ["+strings.Join(ids, ", ")+"]")
		}
	}
	w.blank()
	w.line(0, "questions:")
	for i, q := range s.questions {
		if i > 0 {
			w.blank()
		}
		w.line(2, "- id: "+scalar(q.id))
		w.line(4, "type: "+scalar(string(q.typ)))
		if q.required != nil {
			w.line(4, fmt.Sprintf("required: %t", *q.required))
		}
		if q.min != "" {
			w.line(4, "min: "+q.min)
		}
		if q.max != "" {
			w.line(4, "max: "+q.max)
		}
		if q.decimals != 0 {
			w.line(4, fmt.Sprintf("decimals: %d", q.decimals))
		}
		if q.maxLength != 0 {
			w.line(4, fmt.Sprintf("max_length: %d", q.maxLength))
		}
		if conditions {
			if q.relevant != "" {
				w.line(4, "relevant: "+quoted(q.relevant))
			}
			if q.constraint != "" {
				w.line(4, "constraint: "+quoted(q.constraint))
			}
			w.text(4, "constraint_message", q.constraintMsg, s.langs)
		}
		w.text(4, "label", q.label, s.langs)
		w.text(4, "help", q.help, s.langs)
		if len(q.choices) > 0 {
			w.line(4, "choices:")
			for _, ch := range q.choices {
				w.line(6, "- value: "+scalar(ch.value))
				if ch.exclusive {
					w.line(8, "exclusive: true")
				}
				w.text(8, "label", ch.label, s.langs)
			}
		}
	}
	return []byte(w.b.String())
}

type yamlWriter struct {
	b strings.Builder
}

func (w *yamlWriter) line(indent int, s string) {
	w.b.WriteString(strings.Repeat(" ", indent))
	w.b.WriteString(s)
	w.b.WriteByte('\n')
}

func (w *yamlWriter) blank() { w.b.WriteByte('\n') }

// text writes a text field, its languages in the study's order, or
// nothing for a text in no language.
func (w *yamlWriter) text(indent int, key string, t text, langs []string) {
	if len(t) == 0 {
		return
	}
	w.line(indent, key+":")
	for _, l := range langs {
		v, ok := t[l]
		if !ok {
			continue
		}
		if block, ok := literal(v, indent+4); ok {
			w.line(indent+2, scalar(l)+": "+block)
			continue
		}
		w.line(indent+2, scalar(l)+": "+quoted(v))
	}
}

// plainRE matches the strings scalar writes unquoted: names and tags that
// YAML can read as nothing but a string.
var plainRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)

// scalar writes s plainly if it can only be read as that string, else
// between double quotes.
func scalar(s string) string {
	switch s {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf":
		return quoted(s)
	}
	if plainRE.MatchString(s) {
		return s
	}
	return quoted(s)
}

// quoted writes s as a YAML double-quoted string on one line: backslash
// and double quote escaped, and every control, format or line-breaking
// character written as an escape, so that nothing in a cell can end the
// string or add to the file.
func quoted(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == unicode.ReplacementChar:
			b.WriteString(`\uFFFD`)
		case r < 0x20 || r == 0x7f || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08X`, r)
			} else {
				fmt.Fprintf(&b, `\u%04X`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// literal writes s as a literal block scalar ("|" and its lines indented
// by indent), as people read and edit paragraphs, if s has several lines
// and reads back exactly; else it reports false.
func literal(s string, indent int) (string, bool) {
	body, final := strings.CutSuffix(s, "\n")
	if !strings.Contains(body, "\n") || strings.HasSuffix(body, "\n") || strings.HasPrefix(body, "\n") {
		return "", false
	}
	lines := strings.Split(body, "\n")
	for _, l := range lines {
		if l != strings.TrimSpace(l) {
			return "", false
		}
		for _, r := range l {
			if r < 0x20 || r == 0x7f || r == unicode.ReplacementChar || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
				return "", false
			}
		}
	}
	var b strings.Builder
	b.WriteString("|")
	if !final {
		b.WriteString("-")
	}
	pad := strings.Repeat(" ", indent)
	for _, l := range lines {
		b.WriteByte('\n')
		if l != "" {
			b.WriteString(pad)
			b.WriteString(l)
		}
	}
	// Check that the YAML library reads the block back as s.
	var back map[string]string
	if err := yaml.Unmarshal([]byte("k: "+b.String()+"\n"), &back); err != nil || back["k"] != s {
		return "", false
	}
	return b.String(), true
}

// commentSafe returns s with everything but printable characters removed,
// for a YAML comment.
func commentSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "an XLSForm"
	}
	return s
}
