package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
	"github.com/testimony-project/testimony/crypto/envelope"
)

var (
	questionIDRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	choiceValueRE = regexp.MustCompile(`^[a-z0-9_]{1,48}$`)
)

// questionTypes lists the question types in the order error messages name
// them.
var questionTypes = []QuestionType{SingleChoice, MultiChoice, ShortText, LongText, Year, Integer, Consent, DateApprox}

// ConsentValue is the answer a ticked consent question gives, the value a
// [Condition] names to depend on it.
const ConsentValue = "yes"

// Defaults of question fields; [Question.MaxLen] and [Question.Range]
// apply them.
const (
	DefaultShortTextLength = 200  // max_length of a short_text question
	DefaultMinYear         = 1900 // min of a year or date_approx question
)

// Bounds of question fields.
const (
	maxQuestions     = 500
	minYear, maxYear = 1000, 9999 // of year and date_approx min and max
)

var languageNames = map[string]string{"ko": "Korean", "en": "English", "zh": "Chinese (Simplified)"}

// structValidator checks the `validate` tags of [Study] and the types it
// holds. It is safe for concurrent use.
var structValidator = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	for tag, fn := range map[string]validator.Func{
		"studyid":      func(fl validator.FieldLevel) bool { return envelope.CheckStudyID(fl.Field().String()) == nil },
		"questionid":   func(fl validator.FieldLevel) bool { return questionIDRE.MatchString(fl.Field().String()) },
		"choicevalue":  func(fl validator.FieldLevel) bool { return choiceValueRE.MatchString(fl.Field().String()) },
		"questiontype": func(fl validator.FieldLevel) bool { return knownType(QuestionType(fl.Field().String())) },
		"line":         func(fl validator.FieldLevel) bool { return textProblem(fl.Field().String(), false) == "" },
		"publickey": func(fl validator.FieldLevel) bool {
			_, err := envelope.ParseRecipient(fl.Field().String())
			return err == nil
		},
	} {
		if err := v.RegisterValidation(tag, fn); err != nil {
			panic(err)
		}
	}
	return v
})

func knownType(t QuestionType) bool {
	for _, k := range questionTypes {
		if t == k {
			return true
		}
	}
	return false
}

func typeList() string {
	names := make([]string, len(questionTypes))
	for i, t := range questionTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// checker collects the problems of a decoded study. Fields are full YAML
// paths; Parse adds file and position.
type checker struct {
	errs []*Error
}

func (c *checker) add(field, value, problem string) {
	c.errs = append(c.errs, &Error{Field: field, Value: shorten(value), Problem: problem})
}

// check returns every problem of s: those its `validate` tags find, then
// those that involve several fields.
func check(s *Study) []*Error {
	c := new(checker)
	if err := structValidator().Struct(s); err != nil {
		verrs, ok := err.(validator.ValidationErrors)
		if !ok {
			c.add("", "", err.Error())
			return c.errs
		}
		for _, fe := range verrs {
			c.fieldError(fe)
		}
	}
	c.crossCheck(s)
	return c.errs
}

// fieldError turns a failed `validate` tag into a problem that says how to
// fix it.
func (c *checker) fieldError(fe validator.FieldError) {
	_, path, _ := strings.Cut(fe.Namespace(), ".") // drop "Study."
	value := ""
	if fe.Kind() == reflect.String {
		value, _ = fe.Value().(string)
		if s, ok := fe.Value().(QuestionType); ok {
			value = string(s)
		}
	}
	n := 0
	if fe.Kind() == reflect.Slice {
		n = reflect.ValueOf(fe.Value()).Len()
	}
	missing := value == "" && fe.Kind() == reflect.String
	var problem string
	switch fe.Tag() {
	case "studyid":
		problem = "must be 3 to 64 characters of lowercase letters a-z, digits 0-9 and '-'; for example nk-internet-2026"
		if missing {
			problem = "missing; add an id such as nk-internet-2026 (it is bound into every envelope, so never change it once answers arrive)"
		}
	case "questionid":
		problem = "must be 1 to 48 characters of lowercase letters a-z, digits 0-9 and '_', starting with a letter; for example phone_use"
		if missing {
			problem = "missing; give the question an id such as phone_use"
		}
	case "choicevalue":
		problem = "must be 1 to 48 characters of lowercase letters a-z, digits 0-9 and '_'; for example daily"
		if missing {
			problem = "missing; write a value such as daily"
		}
	case "questiontype":
		problem = "unknown type; use one of " + typeList()
		if missing {
			problem = "missing; set type to one of " + typeList()
		}
	case "line":
		problem = textProblem(value, false) + "; write the name on one line"
	case "publickey":
		if missing {
			problem = "missing; paste the researcher's public key as `researcher keygen` printed it"
		} else {
			_, err := envelope.ParseRecipient(value)
			problem = err.Error()
			value = ""
		}
	case "required":
		problem = "missing; name the earlier question this one depends on"
	case "min", "max":
		problem = limitProblem(fe, path, n)
		if fe.Kind() == reflect.Slice {
			value = ""
		}
	default:
		problem = fmt.Sprintf("fails the check %q", fe.Tag())
	}
	if fe.Kind() != reflect.String {
		if fe.Kind() == reflect.Int {
			value = fmt.Sprint(fe.Value())
		}
	}
	c.add(path, value, problem)
}

func limitProblem(fe validator.FieldError, path string, n int) string {
	field := path[strings.LastIndex(path, ".")+1:]
	switch field {
	case "recipients":
		return fmt.Sprintf("%d researchers listed; list 1 to %d, each with a name and public_key", n, envelope.MaxRecipients)
	case "questions":
		if n == 0 {
			return "no questions; add at least one"
		}
		return fmt.Sprintf("%d questions; a study has at most %s, split it into several studies", n, fe.Param())
	case "choices":
		return fmt.Sprintf("%d choices; a question has at most %s, use a short_text question instead", n, fe.Param())
	case "any_of":
		if n == 0 {
			return "empty; list the values of the earlier question that make this one shown"
		}
		return fmt.Sprintf("%d values; list at most %s", n, fe.Param())
	case "max_submission_bytes":
		if fe.Tag() == "min" {
			return "must not be negative; leave it out for the default of 262144 (256 KiB)"
		}
		return fmt.Sprintf("must be at most %d (4 MiB), the largest envelope", MaxMaxSubmissionBytes)
	case "max_text_length":
		if fe.Tag() == "min" {
			return "must not be negative; leave it out for the default of 5000"
		}
		return fmt.Sprintf("must be at most %d characters", MaxMaxTextLength)
	case "max_length":
		return "must not be negative; leave it out for the default"
	case "name":
		return fmt.Sprintf("longer than %s characters; shorten it", fe.Param())
	}
	return fmt.Sprintf("fails the check %s=%s", fe.Tag(), fe.Param())
}

// textProblem returns what is wrong with one language of a text, or "".
// Multi-line text may hold newlines and tabs.
func textProblem(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	if strings.TrimSpace(s) == "" {
		return "missing"
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Sprintf("holds the control character %U", r)
		}
	}
	return ""
}

// text checks that t is set in every language, or, if optional, in none.
func (c *checker) text(path string, t Text, optional bool) {
	if optional && t.IsZero() {
		return
	}
	for _, lang := range Languages {
		v := t.In(lang)
		switch p := textProblem(v, true); p {
		case "":
		case "missing":
			how := "write the " + languageNames[lang] + " text"
			if optional {
				how += ", or remove the text in every language"
			}
			c.add(path+"."+lang, "", "missing; "+how)
		default:
			c.add(path+"."+lang, "", p+"; correct the "+languageNames[lang]+" text")
		}
	}
}

// crossCheck finds the problems that involve more than one field, or that
// a tag cannot express.
func (c *checker) crossCheck(s *Study) {
	c.text("title", s.Title, false)
	c.text("introduction", s.Introduction, false)

	seenKey := make(map[[32]byte]int)
	for i, r := range s.Recipients {
		k, err := envelope.ParseRecipient(r.PublicKey)
		if err != nil {
			continue // reported by the publickey tag
		}
		b := k.X25519()
		if j, ok := seenKey[b]; ok {
			c.add(fmt.Sprintf("recipients[%d].public_key", i), "", fmt.Sprintf("the same key as recipients[%d]; every researcher needs their own key", j))
			continue
		}
		seenKey[b] = i
	}

	maxText := s.MaxTextLength()
	// sizesOK is whether every size is in range, so that the envelope size
	// check below means something; the tags report those out of range.
	sizesOK := s.Limits.MaxSubmissionBytes >= 0 && s.Limits.MaxSubmissionBytes <= MaxMaxSubmissionBytes &&
		s.Limits.MaxTextLength >= 0 && s.Limits.MaxTextLength <= MaxMaxTextLength
	index := make(map[string]int, len(s.Questions))
	textBytes := 0
	for i := range s.Questions {
		q := &s.Questions[i]
		qp := fmt.Sprintf("questions[%d]", i)
		if j, ok := index[q.ID]; ok && q.ID != "" {
			c.add(qp+".id", q.ID, fmt.Sprintf("already used by questions[%d]; give every question a different id", j))
		} else if q.ID != "" {
			index[q.ID] = i
		}
		c.text(qp+".label", q.Label, false)
		c.text(qp+".help", q.Help, true)

		choice := q.Type == SingleChoice || q.Type == MultiChoice
		switch {
		case choice && len(q.Choices) < 2:
			c.add(qp+".choices", "", fmt.Sprintf("a %s question needs at least two choices; it has %d", q.Type, len(q.Choices)))
		case !choice && len(q.Choices) > 0 && knownType(q.Type):
			c.add(qp+".choices", "", fmt.Sprintf("a %s question has no choices; remove them, or make it single_choice or multi_choice", q.Type))
		}
		values := make(map[string]int, len(q.Choices))
		for j, ch := range q.Choices {
			cp := fmt.Sprintf("%s.choices[%d]", qp, j)
			if k, ok := values[ch.Value]; ok && ch.Value != "" {
				c.add(cp+".value", ch.Value, fmt.Sprintf("duplicate value, also choices[%d]; give every choice a different value", k))
			} else {
				values[ch.Value] = j
			}
			c.text(cp+".label", ch.Label, false)
		}

		c.bounds(qp, q)

		switch q.Type {
		case ShortText, LongText:
			if q.MaxLength < 0 || q.MaxLength > maxText {
				sizesOK = false
			}
			if q.MaxLength > maxText && maxText >= 0 {
				c.add(qp+".max_length", fmt.Sprint(q.MaxLength), fmt.Sprintf("more than the study's limits.max_text_length of %d; lower it or raise max_text_length", maxText))
			}
			textBytes += q.MaxLen(s) * utf8.UTFMax
		default:
			if q.MaxLength != 0 {
				c.add(qp+".max_length", fmt.Sprint(q.MaxLength), fmt.Sprintf("only short_text and long_text questions have a max_length; remove it from this %s question", q.Type))
			}
		}

		if q.Relevant != nil {
			c.relevant(s, qp, i, q.Relevant, index)
		}
	}

	// Every free-text answer at its longest must fit in one envelope.
	if !sizesOK {
		return
	}
	if textBytes > envelope.MaxPlaintextSize {
		c.add("limits.max_text_length", "", fmt.Sprintf("the free-text answers at their longest take up to %d bytes, more than an envelope holds; lower max_text_length or the questions' max_length", textBytes))
	} else if need := envelope.Size(textBytes, len(s.ID), max(len(s.Recipients), 1)); need > s.MaxSubmissionBytes() && need <= MaxMaxSubmissionBytes {
		c.add("limits.max_submission_bytes", "", fmt.Sprintf("the free-text answers at their longest (four bytes a character) need envelopes of %d bytes, more than %d; raise max_submission_bytes to at least %d, or lower max_text_length or the questions' max_length", need, s.MaxSubmissionBytes(), need))
	} else if need > s.MaxSubmissionBytes() {
		c.add("limits.max_text_length", "", fmt.Sprintf("the free-text answers at their longest (four bytes a character) need envelopes of %d bytes, more than the largest allowed, %d; lower max_text_length or the questions' max_length", need, MaxMaxSubmissionBytes))
	}
}

// bounds checks Min and Max.
func (c *checker) bounds(qp string, q *Question) {
	if q.Min == nil && q.Max == nil {
		return
	}
	switch q.Type {
	case Year, DateApprox:
		for _, b := range []struct {
			name string
			v    *int
		}{{"min", q.Min}, {"max", q.Max}} {
			if b.v != nil && (*b.v < minYear || *b.v > maxYear) {
				c.add(qp+"."+b.name, fmt.Sprint(*b.v), "must be a four-digit year, such as 2012")
			}
		}
	case Integer:
	case MultiChoice:
		if q.Min != nil && *q.Min < 0 {
			c.add(qp+".min", fmt.Sprint(*q.Min), "must not be negative; it is the fewest choices a submitter must tick")
		}
		if q.Max != nil && (*q.Max < 1 || *q.Max > len(q.Choices)) {
			c.add(qp+".max", fmt.Sprint(*q.Max), fmt.Sprintf("must be between 1 and the number of choices, %d; it is the most choices a submitter may tick", len(q.Choices)))
		}
	default:
		if !knownType(q.Type) {
			return
		}
		for _, b := range []struct {
			name string
			v    *int
		}{{"min", q.Min}, {"max", q.Max}} {
			if b.v != nil {
				c.add(qp+"."+b.name, fmt.Sprint(*b.v), fmt.Sprintf("only year, date_approx, integer and multi_choice questions have a %s; remove it from this %s question", b.name, q.Type))
			}
		}
		return
	}
	if q.Min != nil && q.Max != nil && *q.Min > *q.Max {
		c.add(qp+".min", fmt.Sprint(*q.Min), fmt.Sprintf("more than max (%d); swap them", *q.Max))
	}
}

// relevant checks the condition of question i, given the index of the
// questions before it.
func (c *checker) relevant(s *Study, qp string, i int, r *Condition, earlier map[string]int) {
	if r.Question == "" {
		return // reported by the required tag
	}
	j, ok := earlier[r.Question]
	if !ok || j >= i {
		what := "no question has this id"
		switch {
		case r.Question == s.Questions[i].ID:
			what = "is this question itself"
		case s.Question(r.Question) != nil:
			what = "comes after this question"
		}
		c.add(qp+".relevant.question", r.Question, what+"; name a single_choice, multi_choice or consent question asked before this one")
		return
	}
	target := &s.Questions[j]
	switch target.Type {
	case SingleChoice, MultiChoice, Consent:
	default:
		c.add(qp+".relevant.question", r.Question, fmt.Sprintf("is a %s question; a question can only depend on a single_choice, multi_choice or consent question", target.Type))
		return
	}
	seen := make(map[string]bool, len(r.AnyOf))
	for k, v := range r.AnyOf {
		vp := fmt.Sprintf("%s.relevant.any_of[%d]", qp, k)
		switch {
		case seen[v]:
			c.add(vp, v, "listed twice; remove one")
		case target.Type == Consent && v != ConsentValue:
			c.add(vp, v, fmt.Sprintf("question %q is a consent question, whose only value is %q; use that", r.Question, ConsentValue))
		case target.Type != Consent && target.Choice(v) == nil && choiceValueRE.MatchString(v):
			c.add(vp, v, fmt.Sprintf("question %q has no choice with this value; use one of %s", r.Question, choiceList(target)))
		}
		seen[v] = true
	}
}

func choiceList(q *Question) string {
	vs := make([]string, len(q.Choices))
	for i, ch := range q.Choices {
		vs[i] = ch.Value
	}
	return strings.Join(vs, ", ")
}
