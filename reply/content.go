package reply

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/jsontoken"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// Limits of a reply's content, besides [MaxContentSize].
const (
	// ContentVersion is the version of the content format.
	ContentVersion = 1
	// MaxQuestions is the largest number of follow-up questions in a reply.
	MaxQuestions = 10
	// MaxChoices is the largest number of choices of a question.
	MaxChoices = 20
	// MaxLabelLength bounds a label, in characters.
	MaxLabelLength = 500
)

// QuestionTypes are the types a follow-up question may have: those of
// package config that make sense without the study's rules.
var QuestionTypes = []config.QuestionType{config.SingleChoice, config.MultiChoice, config.ShortText, config.LongText, config.Year, config.Integer}

// Content is what a reply says: a text, follow-up questions, or both, in
// one language, the person's.
type Content struct {
	// Study is the study id.
	Study string
	// ID is the reply's random id, 26 characters of a–z and 2–7
	// ([NewID]): a follow-up that answers the reply's questions names it.
	ID string
	// Lang is the language of the text and labels, a BCP 47 tag.
	Lang string
	// Text is the reply's text: NFC, lines separated by "\n", no control
	// characters other than "\n" and "\t". It may be empty if there are
	// questions.
	Text string
	// Questions are follow-up questions, at most [MaxQuestions].
	Questions []Question
}

// Question is a follow-up question: the fields of a study file's question
// (config.Question) that a reply may use, its texts in the reply's one
// language.
type Question struct {
	// ID names the answer: 1 to 48 characters of a–z, 0–9 and '_',
	// starting with a letter, unique in the reply.
	ID string
	// Type is one of [QuestionTypes].
	Type config.QuestionType
	// Label is the question: one line, NFC, not blank, at most
	// [MaxLabelLength] characters.
	Label string
	// Choices are the possible answers of single_choice and multi_choice
	// questions, 2 to [MaxChoices], values unique; other types have none.
	Choices []Choice
	// Required means the question must be answered.
	Required bool
}

// Choice is one possible answer to a choice question.
type Choice struct {
	// Value is what is sent back: 1 to 48 characters of a–z, 0–9 and '_'.
	Value string
	// Label is the choice as shown, like a question's label.
	Label string
}

var (
	questionIDRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	choiceValueRE = regexp.MustCompile(`^[a-z0-9_]{1,48}$`)
	replyIDRE     = regexp.MustCompile(`^[a-z2-7]{26}$`)
)

// NewID returns a fresh random reply id: 26 characters of a–z and 2–7
// (130 bits from crypto/rand).
func NewID() string { return strings.ToLower(rand.Text()) }

type wireChoice struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

type wireQuestion struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Label    string       `json:"label"`
	Choices  []wireChoice `json:"choices,omitempty"`
	Required bool         `json:"required,omitempty"`
}

type wireContent struct {
	V         int            `json:"v"`
	Study     string         `json:"study"`
	ID        string         `json:"id"`
	Lang      string         `json:"lang"`
	Text      string         `json:"text"`
	Questions []wireQuestion `json:"questions,omitempty"`
}

// Marshal checks the content and returns it as a record holds it, text
// and labels in NFC. It refuses content larger than [MaxContentSize],
// saying by how much.
func (c *Content) Marshal() ([]byte, error) {
	w := wireContent{V: ContentVersion, Study: c.Study, ID: c.ID, Lang: c.Lang, Text: norm.NFC.String(c.Text)}
	for _, q := range c.Questions {
		wq := wireQuestion{ID: q.ID, Type: string(q.Type), Label: norm.NFC.String(q.Label), Required: q.Required}
		for _, ch := range q.Choices {
			wq.Choices = append(wq.Choices, wireChoice{Value: ch.Value, Label: norm.NFC.String(ch.Label)})
		}
		w.Questions = append(w.Questions, wq)
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	data := encode(&w)
	if len(data) > MaxContentSize {
		return nil, fmt.Errorf("reply is %d bytes, %d more than a record holds (%d bytes, some 600 Korean or Chinese characters or 1,800 English ones): shorten the text or ask fewer questions", len(data), len(data)-MaxContentSize, MaxContentSize)
	}
	return data, nil
}

func encode(w *wireContent) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		panic("reply: " + err.Error()) // only strings, numbers and booleans
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// check checks everything about the content but its size.
func (w *wireContent) check() error {
	if err := envelope.CheckStudyID(w.Study); err != nil {
		return fmt.Errorf("malformed reply: %v", err)
	}
	if !replyIDRE.MatchString(w.ID) {
		return errors.New("malformed reply: id must be 26 characters of a-z and 2-7")
	}
	if t, err := language.Parse(w.Lang); err != nil || len(w.Lang) > 35 || t.String() != w.Lang {
		return fmt.Errorf("malformed reply: language %.40q is not a BCP 47 tag written in its standard form (ko, en, zh …)", w.Lang)
	}
	if err := checkText(w.Text, true); err != nil {
		return fmt.Errorf("malformed reply: text %v", err)
	}
	if strings.TrimSpace(w.Text) == "" && len(w.Questions) == 0 {
		return errors.New("malformed reply: it has neither text nor questions")
	}
	if len(w.Questions) > MaxQuestions {
		return fmt.Errorf("malformed reply: %d questions, at most %d", len(w.Questions), MaxQuestions)
	}
	ids := map[string]bool{}
	for i, q := range w.Questions {
		if !questionIDRE.MatchString(q.ID) {
			return fmt.Errorf("malformed reply: question %d: id %.60q must be 1 to 48 characters of a-z, 0-9 and _, starting with a letter", i+1, q.ID)
		}
		if ids[q.ID] {
			return fmt.Errorf("malformed reply: question id %q is used twice", q.ID)
		}
		ids[q.ID] = true
		typeOK := false
		for _, t := range QuestionTypes {
			typeOK = typeOK || string(t) == q.Type
		}
		if !typeOK {
			return fmt.Errorf("malformed reply: question %q: type %.40q is not one of single_choice, multi_choice, short_text, long_text, year, integer", q.ID, q.Type)
		}
		if err := checkLabel(q.Label); err != nil {
			return fmt.Errorf("malformed reply: question %q: label %v", q.ID, err)
		}
		choice := q.Type == string(config.SingleChoice) || q.Type == string(config.MultiChoice)
		switch {
		case choice && (len(q.Choices) < 2 || len(q.Choices) > MaxChoices):
			return fmt.Errorf("malformed reply: question %q has %d choices, want 2 to %d", q.ID, len(q.Choices), MaxChoices)
		case !choice && len(q.Choices) > 0:
			return fmt.Errorf("malformed reply: question %q of type %s cannot have choices", q.ID, q.Type)
		}
		values := map[string]bool{}
		for _, ch := range q.Choices {
			if !choiceValueRE.MatchString(ch.Value) {
				return fmt.Errorf("malformed reply: question %q: choice value %.60q must be 1 to 48 characters of a-z, 0-9 and _", q.ID, ch.Value)
			}
			if values[ch.Value] {
				return fmt.Errorf("malformed reply: question %q: choice value %q is used twice", q.ID, ch.Value)
			}
			values[ch.Value] = true
			if err := checkLabel(ch.Label); err != nil {
				return fmt.Errorf("malformed reply: question %q: choice %q: label %v", q.ID, ch.Value, err)
			}
		}
	}
	return nil
}

func checkLabel(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("is empty")
	}
	if n := utf8.RuneCountInString(s); n > MaxLabelLength {
		return fmt.Errorf("has %d characters, at most %d", n, MaxLabelLength)
	}
	return checkText(s, false)
}

// checkText refuses invalid UTF-8, text not in NFC, and control
// characters other than tab and, if lines, newline.
func checkText(s string, lines bool) error {
	if !utf8.ValidString(s) {
		return errors.New("is not UTF-8")
	}
	for _, r := range s {
		if r == '\n' && lines || r == '\t' {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("holds the control character %U", r)
		}
	}
	if !norm.NFC.IsNormalString(s) {
		return errors.New("is not in Unicode NFC")
	}
	return nil
}

// ParseContent reads a record's content. It accepts only what
// [Content.Marshal] writes, byte for byte: the members in their order,
// no white space, escapes as Marshal writes them, nothing else. It does
// not check the study: the caller compares [Content.Study] with its own.
func ParseContent(data []byte) (*Content, error) {
	if len(data) > MaxContentSize {
		return nil, fmt.Errorf("malformed reply: %d bytes, at most %d", len(data), MaxContentSize)
	}
	if !utf8.Valid(data) {
		return nil, errors.New("malformed reply: not UTF-8")
	}
	w, err := parseWire(data)
	if err != nil {
		return nil, fmt.Errorf("malformed reply: %w", err)
	}
	if w.V != ContentVersion {
		return nil, fmt.Errorf("unsupported reply version %d", w.V)
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	if !bytes.Equal(encode(w), data) {
		return nil, errors.New("malformed reply: not written as Marshal writes it (member order, white space or escapes)")
	}
	c := &Content{Study: w.Study, ID: w.ID, Lang: w.Lang, Text: w.Text}
	for _, q := range w.Questions {
		cq := Question{ID: q.ID, Type: config.QuestionType(q.Type), Label: q.Label, Required: q.Required}
		for _, ch := range q.Choices {
			cq.Choices = append(cq.Choices, Choice(ch))
		}
		c.Questions = append(c.Questions, cq)
	}
	return c, nil
}

// parseWire reads the content object strictly: known members, each once,
// of the right JSON types.
func parseWire(data []byte) (*wireContent, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := &wireContent{}
	err := object(dec, "the reply", []string{"v", "study", "id", "lang", "text"}, func(key string) error {
		var err error
		switch key {
		case "v":
			w.V, err = jsontoken.Int(dec, `member "v"`)
		case "study":
			w.Study, err = jsontoken.String(dec, `member "study"`)
		case "id":
			w.ID, err = jsontoken.String(dec, `member "id"`)
		case "lang":
			w.Lang, err = jsontoken.String(dec, `member "lang"`)
		case "text":
			w.Text, err = jsontoken.String(dec, `member "text"`)
		case "questions":
			w.Questions, err = questions(dec)
		default:
			return fmt.Errorf("unknown member %.40q", key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the object")
	}
	return w, nil
}

func questions(dec *json.Decoder) ([]wireQuestion, error) {
	if err := jsontoken.Delim(dec, '[', `member "questions": an array`); err != nil {
		return nil, err
	}
	var qs []wireQuestion
	for dec.More() {
		if len(qs) == MaxQuestions {
			return nil, fmt.Errorf("more than %d questions", MaxQuestions)
		}
		var q wireQuestion
		err := object(dec, "a question", []string{"id", "type", "label"}, func(key string) error {
			var err error
			switch key {
			case "id":
				q.ID, err = jsontoken.String(dec, `question member "id"`)
			case "type":
				q.Type, err = jsontoken.String(dec, `question member "type"`)
			case "label":
				q.Label, err = jsontoken.String(dec, `question member "label"`)
			case "required":
				q.Required, err = jsontoken.Bool(dec, `question member "required"`)
			case "choices":
				q.Choices, err = choices(dec)
			default:
				return fmt.Errorf("unknown question member %.40q", key)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	return qs, jsontoken.Delim(dec, ']', "the end of the questions")
}

func choices(dec *json.Decoder) ([]wireChoice, error) {
	if err := jsontoken.Delim(dec, '[', `question member "choices": an array`); err != nil {
		return nil, err
	}
	var cs []wireChoice
	for dec.More() {
		if len(cs) == MaxChoices {
			return nil, fmt.Errorf("more than %d choices", MaxChoices)
		}
		var c wireChoice
		err := object(dec, "a choice", []string{"value", "label"}, func(key string) error {
			var err error
			switch key {
			case "value":
				c.Value, err = jsontoken.String(dec, `choice member "value"`)
			case "label":
				c.Label, err = jsontoken.String(dec, `choice member "label"`)
			default:
				return fmt.Errorf("unknown choice member %.40q", key)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, jsontoken.Delim(dec, ']', "the end of the choices")
}

// object reads an object, calling member for each member name after
// checking it is not repeated, and checks the required members are there.
func object(dec *json.Decoder, what string, required []string, member func(string) error) error {
	if err := jsontoken.Delim(dec, '{', what+": an object"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := jsontoken.String(dec, "a member name")
		if err != nil {
			return err
		}
		if seen[key] {
			return fmt.Errorf("member %.40q repeated", key)
		}
		seen[key] = true
		if err := member(key); err != nil {
			return err
		}
	}
	if err := jsontoken.Delim(dec, '}', "the end of "+what); err != nil {
		return err
	}
	for _, m := range required {
		if !seen[m] {
			return fmt.Errorf("%s: missing member %q", what, m)
		}
	}
	return nil
}
