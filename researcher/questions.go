package researcher

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/reply"
	"golang.org/x/text/unicode/norm"
)

// ParseQuestions reads the follow-up questions of a reply from a small
// YAML file written in the question syntax of a study file:
//
//	questions:
//	  - id: year
//	    type: year
//	    label: 그 일은 몇 년에 있었습니까?
//	    required: true
//	  - id: where
//	    type: single_choice
//	    label: {ko: 어디서였습니까?, en: Where was it?}
//	    choices:
//	      - value: home
//	        label: {ko: 집, en: At home}
//	      - value: work
//	        label: 일터
//
// A question has an id, a type (single_choice, multi_choice, short_text,
// long_text, year or integer), a label, choices for the choice types (a
// value and a label each), and may be required; nothing else of a study
// file's questions (no help, bounds, conditions or constraints: a reply's
// questions have none). A label is one line of text in the reply's
// language lang, or, as in a study file, a mapping of languages to texts
// that holds lang — so one file can serve replies in every language. name
// is the file's name, for errors, which give its line and say how to fix
// it. The reply's own rules (package reply: at most reply.MaxQuestions
// questions, 2 to reply.MaxChoices choices, labels of at most
// reply.MaxLabelLength characters) are checked too.
func ParseQuestions(name string, data []byte, lang string) ([]reply.Question, error) {
	fail := func(n ast.Node, format string, args ...any) error {
		line := 0
		if n != nil && n.GetToken() != nil && n.GetToken().Position != nil {
			line = n.GetToken().Position.Line
		}
		msg := fmt.Sprintf(format, args...)
		if line > 0 {
			return fmt.Errorf("%s line %d: %s", name, line, msg)
		}
		return fmt.Errorf("%s: %s", name, msg)
	}
	if !utf8.Valid(data) {
		return nil, fail(nil, "not UTF-8 text: save it as UTF-8")
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: not YAML: %v", name, yaml.FormatError(err, false, false))
	}
	shape := "the file must hold \"questions:\" followed by a list of questions, as in a study file"
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, fail(nil, "%s", shape)
	}
	top, ok := mappingOf(f.Docs[0].Body)
	if !ok || len(top) != 1 || keyOf(top[0]) != "questions" {
		return nil, fail(f.Docs[0].Body, "%s", shape)
	}
	seq, ok := top[0].Value.(*ast.SequenceNode)
	if !ok || len(seq.Values) == 0 {
		return nil, fail(top[0], "\"questions:\" must be followed by a list of questions (\"- id: …\")")
	}
	if len(seq.Values) > reply.MaxQuestions {
		return nil, fail(top[0], "%d questions: a reply asks at most %d", len(seq.Values), reply.MaxQuestions)
	}
	var out []reply.Question
	ids := map[string]int{}
	for qi, item := range seq.Values {
		fields, ok := mappingOf(item)
		if !ok {
			return nil, fail(item, "question %d is not a mapping of fields (id:, type:, label: …)", qi+1)
		}
		var q reply.Question
		what := fmt.Sprintf("question %d", qi+1)
		seen := map[string]bool{}
		var choices *ast.MappingValueNode
		for _, fv := range fields {
			k := keyOf(fv)
			if seen[k] {
				return nil, fail(fv, "%s: %q is given twice", what, k)
			}
			seen[k] = true
			switch k {
			case "id":
				if q.ID, err = scalarString(fv.Value); err != nil {
					return nil, fail(fv, "%s: id %v", what, err)
				}
				what = fmt.Sprintf("question %q", q.ID)
			case "type":
				s, err := scalarString(fv.Value)
				if err != nil {
					return nil, fail(fv, "%s: type %v", what, err)
				}
				q.Type = config.QuestionType(s)
				if !slices.Contains(reply.QuestionTypes, q.Type) {
					return nil, fail(fv, "%s: type %q cannot be asked in a reply: use single_choice, multi_choice, short_text, long_text, year or integer", what, s)
				}
			case "label":
				if q.Label, err = labelIn(fv.Value, lang); err != nil {
					return nil, fail(fv, "%s: label %v", what, err)
				}
			case "required":
				var b any
				if err := yaml.NodeToValue(fv.Value, &b); err != nil {
					return nil, fail(fv, "%s: required must be true or false", what)
				}
				v, ok := b.(bool)
				if !ok {
					return nil, fail(fv, "%s: required must be true or false", what)
				}
				q.Required = v
			case "choices":
				choices = fv
			default:
				return nil, fail(fv, "%s: a reply's question takes only id, type, label, required and choices, not %q (no help, bounds, conditions or constraints)", what, k)
			}
		}
		for _, need := range []string{"id", "type", "label"} {
			if !seen[need] {
				return nil, fail(item, "%s has no %s", what, need)
			}
		}
		if choices != nil {
			cs, ok := choices.Value.(*ast.SequenceNode)
			if !ok {
				return nil, fail(choices, "%s: choices must be a list (\"- value: …\")", what)
			}
			for ci, cn := range cs.Values {
				cf, ok := mappingOf(cn)
				if !ok {
					return nil, fail(cn, "%s: choice %d is not a mapping of value: and label:", what, ci+1)
				}
				var c reply.Choice
				got := map[string]bool{}
				for _, fv := range cf {
					switch k := keyOf(fv); k {
					case "value":
						if c.Value, err = scalarString(fv.Value); err != nil {
							return nil, fail(fv, "%s: choice %d: value %v", what, ci+1, err)
						}
					case "label":
						if c.Label, err = labelIn(fv.Value, lang); err != nil {
							return nil, fail(fv, "%s: choice %d: label %v", what, ci+1, err)
						}
					default:
						return nil, fail(fv, "%s: choice %d: a reply's choice takes only value and label, not %q", what, ci+1, k)
					}
					got[keyOf(fv)] = true
				}
				if !got["value"] || !got["label"] {
					return nil, fail(cn, "%s: choice %d needs a value and a label", what, ci+1)
				}
				q.Choices = append(q.Choices, c)
			}
		}
		if prev, dup := ids[q.ID]; dup {
			return nil, fail(item, "%s: the id is used by question %d too: give each question its own id", what, prev)
		}
		ids[q.ID] = qi + 1
		// The reply's own rules for one question, with its line.
		probe := &reply.Content{Study: "reply-check", ID: strings.Repeat("a", 26), Lang: "en", Questions: []reply.Question{q}}
		if _, err := probe.Marshal(); err != nil {
			return nil, fail(item, "%s", strings.TrimPrefix(err.Error(), "malformed reply: "))
		}
		out = append(out, q)
	}
	return out, nil
}

// mappingOf returns the key-value pairs of a mapping node.
func mappingOf(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, true
	}
	return nil, false
}

func keyOf(mv *ast.MappingValueNode) string {
	if t := mv.Key.GetToken(); t != nil {
		return t.Value
	}
	return ""
}

// scalarString returns the text of a scalar node that YAML reads as a
// string.
func scalarString(n ast.Node) (string, error) {
	var v any
	if err := yaml.NodeToValue(n, &v); err != nil {
		return "", errors.New("is not text")
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("must be text, not %v", v)
	}
	return s, nil
}

// labelIn returns a label's text in lang: the label is text, or a mapping
// of languages to texts holding lang. Line breaks at its end are dropped
// (a YAML block ends in one); the text is put in NFC.
func labelIn(n ast.Node, lang string) (string, error) {
	var v any
	if err := yaml.NodeToValue(n, &v); err != nil {
		return "", errors.New("is not text")
	}
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case map[string]any:
		x, ok := t[lang]
		if !ok {
			langs := make([]string, 0, len(t))
			for l := range t {
				langs = append(langs, l)
			}
			slices.Sort(langs)
			return "", fmt.Errorf("has no text in %s, the reply's language (it has %s): add \"%s: …\", or write the reply in another language with --lang", lang, strings.Join(langs, ", "), lang)
		}
		if s, ok = x.(string); !ok {
			return "", fmt.Errorf("in %s must be text", lang)
		}
	default:
		return "", errors.New("must be text, or a mapping of languages to texts (ko: …, en: …)")
	}
	return norm.NFC.String(strings.TrimRight(s, "\r\n")), nil
}

// ReplyText reads the text of a reply from a file's bytes: UTF-8, line
// breaks written "\n" (a "\r\n" or "\r" becomes one), in NFC, without the
// blank lines and spaces at its end. name is the file's name, for errors.
func ReplyText(name string, data []byte) (string, error) {
	if !utf8.Valid(data) {
		return "", fmt.Errorf("%s is not UTF-8 text: save it as UTF-8", name)
	}
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimPrefix(s, "\uFEFF")
	s = norm.NFC.String(strings.TrimRight(s, " \t\n"))
	for i, r := range s {
		if r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029') {
			line := strings.Count(s[:i], "\n") + 1
			return "", fmt.Errorf("%s line %d holds the control character %U: remove it", name, line, r)
		}
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s is empty: write the reply's text in it", name)
	}
	return s, nil
}
