package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/expr"
)

var (
	questionIDRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	choiceValueRE = regexp.MustCompile(`^[a-z0-9_]{1,48}$`)
)

// questionTypes lists the question types in the order error messages name
// them.
var questionTypes = []QuestionType{SingleChoice, MultiChoice, ShortText, LongText, Year, Integer, Decimal, Consent, DateApprox, Note}

// ConsentValue is the answer a ticked consent question gives, the value a
// [Condition] compares it with: ${agree} = 'yes'.
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
	maxInteger       = 999999999  // an integer answer has at most nine digits
)

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
	// written reports whether a field is written in the file, for the
	// fields whose zero value is also a value one can write.
	written func(path string) bool
	// langs are the study's valid languages, which every text is checked
	// against; langsOK is whether every one listed is valid.
	langs   []string
	langsOK bool
}

func (c *checker) add(field, value, problem string) {
	c.errs = append(c.errs, &Error{Field: field, Value: shorten(value), Problem: problem})
}

// check returns every problem of s: those its `validate` tags find, then
// those that involve several fields. written reports whether a field is
// written in the file.
func check(s *Study, written func(string) bool) []*Error {
	c := &checker{written: written}
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
		if missing && strings.HasPrefix(path, "sections[") {
			problem = "missing; give the section an id such as phones"
		} else if missing {
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
	case "sections":
		return fmt.Sprintf("%d sections; a study has at most %s", n, fe.Param())
	case "questions":
		if strings.HasPrefix(path, "sections[") {
			return "empty; list the ids of the section's questions, at least one"
		}
		if n == 0 {
			return "no questions; add at least one"
		}
		return fmt.Sprintf("%d questions; a study has at most %s, split it into several studies", n, fe.Param())
	case "choices":
		return fmt.Sprintf("%d choices; a question has at most %s, use a short_text question instead", n, fe.Param())
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

// languages checks the study's languages and keeps the valid ones.
func (c *checker) languages(s *Study) {
	switch n := len(s.Languages); {
	case n == 0:
		c.add("languages", "", "empty; list the study's languages, the default first, such as [ko, en, zh]")
	case n > maxLanguages:
		c.add("languages", "", fmt.Sprintf("%d languages; a study has at most %d", n, maxLanguages))
	}
	seen := map[string]int{}
	for i, l := range s.Languages {
		p := fmt.Sprintf("languages[%d]", i)
		if j, ok := seen[l]; ok {
			c.add(p, l, fmt.Sprintf("listed twice, also languages[%d]; remove one", j))
			continue
		}
		seen[l] = i
		if problem := languageProblem(l); problem != "" {
			c.add(p, l, problem)
			continue
		}
		c.langs = append(c.langs, l)
	}
	c.langsOK = len(c.langs) == len(s.Languages)
}

// text checks that t is set in every study language and no other, or, if
// optional, in none.
func (c *checker) text(path string, t Text, optional bool) {
	if optional && t.IsZero() || len(c.langs) == 0 {
		return
	}
	for _, lang := range c.langs {
		v, _ := t.Lookup(lang)
		switch p := textProblem(v, true); p {
		case "":
		case "missing":
			how := "write the " + languageName(lang) + " text"
			if optional {
				how += ", or remove the text in every language"
			}
			c.add(path+"."+lang, "", "missing; "+how)
		default:
			c.add(path+"."+lang, "", p+"; correct the "+languageName(lang)+" text")
		}
	}
	for _, lang := range t.Languages() {
		if !slices.Contains(c.langs, lang) && c.langsOK {
			c.add(path+"."+lang, "", "not one of the study's languages ("+strings.Join(c.langs, ", ")+"); add it to languages, or remove this text")
		}
	}
}

// crossCheck finds the problems that involve more than one field, or that
// a tag cannot express.
func (c *checker) crossCheck(s *Study) {
	c.languages(s)
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
		exclusive := 0
		for j, ch := range q.Choices {
			cp := fmt.Sprintf("%s.choices[%d]", qp, j)
			if k, ok := values[ch.Value]; ok && ch.Value != "" {
				c.add(cp+".value", ch.Value, fmt.Sprintf("duplicate value, also choices[%d]; give every choice a different value", k))
			} else {
				values[ch.Value] = j
			}
			c.text(cp+".label", ch.Label, false)
			if ch.Exclusive {
				exclusive++
				if q.Type != MultiChoice {
					c.add(cp+".exclusive", "", fmt.Sprintf("only choices of a multi_choice question can be exclusive; one choice of a %s question is always ticked alone, remove exclusive", q.Type))
				}
			}
		}
		if q.Type == MultiChoice && exclusive > 0 && exclusive == len(q.Choices) && len(q.Choices) >= 2 {
			c.add(qp+".choices", "", "every choice is exclusive, so only one can be ticked; make it a single_choice question, or keep exclusive for choices such as \"none of these\" only")
		}

		c.bounds(qp, q, exclusive > 0)

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
		if q.Type == Note && q.Required {
			c.add(qp+".required", "", "a note is text to read and is never answered; remove required")
		}

	}

	c.sections(s, index)
	c.conditions(s)

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

// bounds checks Min, Max and Decimals. exclusive is whether a choice of
// the question is exclusive.
func (c *checker) bounds(qp string, q *Question, exclusive bool) {
	bs := []struct {
		name string
		v    *Number
	}{{"min", q.Min}, {"max", q.Max}}
	if q.Decimals != 0 || c.written(qp+".decimals") {
		switch {
		case q.Type != Decimal && knownType(q.Type):
			c.add(qp+".decimals", fmt.Sprint(q.Decimals), fmt.Sprintf("only decimal questions have decimals; remove it from this %s question", q.Type))
		case q.Decimals < 1 || q.Decimals > MaxDecimalDigits:
			c.add(qp+".decimals", fmt.Sprint(q.Decimals), fmt.Sprintf("must be 1 to %d, the most digits after the point; for whole numbers use an integer question", MaxDecimalDigits))
		}
	}
	if q.Min == nil && q.Max == nil {
		return
	}
	switch q.Type {
	case Year, DateApprox, Integer, MultiChoice:
		for _, b := range bs {
			if b.v != nil && !b.v.IsWhole() {
				c.add(qp+"."+b.name, b.v.String(), fmt.Sprintf("must be a whole number for %s questions; only decimal questions take decimal bounds", q.Type))
				return
			}
		}
	}
	switch q.Type {
	case Year, DateApprox:
		for _, b := range bs {
			if n, ok := intOf(b.v); b.v != nil && (!ok || n < minYear || n > maxYear) {
				c.add(qp+"."+b.name, b.v.String(), "must be a four-digit year, such as 2012")
			}
		}
	case Integer:
		for _, b := range bs {
			if n, ok := intOf(b.v); b.v != nil && (!ok || n < -maxInteger || n > maxInteger) {
				c.add(qp+"."+b.name, b.v.String(), fmt.Sprintf("an integer answer has at most 9 digits; use a bound from %d to %d", -maxInteger, maxInteger))
			}
		}
	case Decimal:
		for _, b := range bs {
			if b.v != nil && q.Decimals > 0 && DecimalPlaces(b.v.String()) > q.Decimals {
				c.add(qp+"."+b.name, b.v.String(), fmt.Sprintf("has more digits after the point than decimals allows (%d); round it, or raise decimals", q.Decimals))
			}
		}
	case MultiChoice:
		n := len(q.Choices)
		if lo, ok := intOf(q.Min); ok && lo < 0 {
			c.add(qp+".min", q.Min.String(), "must not be negative; it is the fewest choices a submitter must tick")
		} else if ok && lo > n {
			c.add(qp+".min", q.Min.String(), fmt.Sprintf("more than the number of choices, %d; it is the fewest choices a submitter must tick", n))
		} else if ok && lo > 1 && exclusive {
			c.add(qp+".min", q.Min.String(), "an exclusive choice is ticked alone, so it could never be ticked with min above 1; lower min to 1, or make no choice exclusive")
		}
		if hi, ok := intOf(q.Max); ok && (hi < 1 || hi > n) {
			c.add(qp+".max", q.Max.String(), fmt.Sprintf("must be between 1 and the number of choices, %d; it is the most choices a submitter may tick", n))
		}
	default:
		if !knownType(q.Type) {
			return
		}
		for _, b := range bs {
			if b.v != nil {
				c.add(qp+"."+b.name, b.v.String(), fmt.Sprintf("only year, date_approx, integer, decimal and multi_choice questions have a %s; remove it from this %s question", b.name, q.Type))
			}
		}
		return
	}
	if q.Min != nil && q.Max != nil && q.Min.Cmp(*q.Max) > 0 {
		c.add(qp+".min", q.Min.String(), fmt.Sprintf("more than max (%s); swap them", q.Max.String()))
	}
}

// sections checks the sections, given the index of the questions.
func (c *checker) sections(s *Study, index map[string]int) {
	ids := map[string]int{}
	in := map[string]int{} // question id → the section that holds it
	for i := range s.Sections {
		sec := &s.Sections[i]
		sp := fmt.Sprintf("sections[%d]", i)
		switch j, dup := ids[sec.ID]; {
		case sec.ID == "":
		case dup:
			c.add(sp+".id", sec.ID, fmt.Sprintf("already used by sections[%d]; give every section a different id", j))
		case s.Question(sec.ID) != nil:
			c.add(sp+".id", sec.ID, "already the id of a question; give the section an id no question has")
		default:
			ids[sec.ID] = i
		}
		c.text(sp+".label", sec.Label, false)
		c.text(sp+".help", sec.Help, true)
		prev := -1
		for k, id := range sec.Questions {
			qp := fmt.Sprintf("%s.questions[%d]", sp, k)
			qi, ok := index[id]
			switch {
			case !ok:
				c.add(qp, id, "no question has this id; list the ids of the section's questions")
				continue
			case in[id] == i+1:
				c.add(qp, id, "listed twice; remove one")
				continue
			case in[id] != 0:
				c.add(qp, id, fmt.Sprintf("already in sections[%d]; a question is in one section at most", in[id]-1))
				continue
			}
			in[id] = i + 1
			if prev >= 0 && qi != prev+1 {
				c.add(qp, id, fmt.Sprintf("does not come right after %q in the questionnaire; a section holds consecutive questions: list them in questionnaire order, or move the questions", s.Questions[prev].ID))
			}
			prev = qi
		}
	}
}

// schemaKind is what package expr knows of q, and whether a condition
// may read it at all (a note has no answer).
func schemaKind(q *Question) (expr.Question, bool) {
	values := func() []string {
		vs := make([]string, len(q.Choices))
		for i, ch := range q.Choices {
			vs[i] = ch.Value
		}
		return vs
	}
	switch q.Type {
	case Note:
		return expr.Question{}, false
	case Consent:
		return expr.Question{Kind: expr.Choice, Values: []string{ConsentValue}}, true
	case Year, Integer, Decimal:
		return expr.Question{Kind: expr.Number}, true
	case SingleChoice:
		return expr.Question{Kind: expr.Choice, Values: values()}, true
	case MultiChoice:
		return expr.Question{Kind: expr.Multi, Values: values()}, true
	}
	// short_text, long_text, date_approx, and a type that is reported
	// elsewhere as unknown.
	return expr.Question{Kind: expr.Text}, true
}

// conditions checks the conditions of the questions and sections of s.
// A condition is checked against the schema of the questions before it:
// a question's relevance against those before the question, a section's
// against those before the section, a constraint against those before
// the question and the question itself.
func (c *checker) conditions(s *Study) {
	first := make(map[string]int, len(s.Questions)) // id → index of its first question
	for i := range s.Questions {
		if _, ok := first[s.Questions[i].ID]; !ok {
			first[s.Questions[i].ID] = i
		}
	}
	starts := map[int][]int{} // question index → the sections whose first question it is
	for si := range s.Sections {
		for _, id := range s.Sections[si].Questions {
			if qi, ok := first[id]; ok {
				starts[qi] = append(starts[qi], si)
				break
			}
		}
	}
	schema := make(expr.Schema, len(s.Questions))
	for i := range s.Questions {
		q := &s.Questions[i]
		qp := fmt.Sprintf("questions[%d]", i)
		for _, si := range starts[i] {
			if r := s.Sections[si].Relevant; r != nil {
				c.condition(s, fmt.Sprintf("sections[%d].relevant", si), r, schema, first, i, "", "the section")
			}
		}
		if q.Relevant != nil {
			c.condition(s, qp+".relevant", q.Relevant, schema, first, i, "", "this question")
		}
		k, answerable := schemaKind(q)
		_, seen := schema[q.ID]
		if q.Constraint != nil {
			switch {
			case q.Type == Note:
				c.add(qp+".constraint", "", "a note takes no answer, so it has no constraint; remove it")
			case q.Type == Consent:
				c.add(qp+".constraint", "", "a consent question is only ticked or not, so it has no constraint; remove it")
			case q.ID != "" && !seen:
				schema[q.ID] = k
				c.condition(s, qp+".constraint", q.Constraint, schema, first, i, q.ID, "this question")
				delete(schema, q.ID)
			}
		}
		if !q.ConstraintMessage.IsZero() && q.Constraint == nil {
			c.add(qp+".constraint_message", "", "there is no constraint for this message; add one, or remove constraint_message")
		}
		c.text(qp+".constraint_message", q.ConstraintMessage, true)
		if answerable && q.ID != "" && !seen {
			schema[q.ID] = k
		}
	}
}

// condition checks cond, found at path, against schema, the questions
// before question i. self is the question whose constraint cond is, or
// "" for a relevance condition, whose subject ("this question", "the
// section") the messages name.
func (c *checker) condition(s *Study, path string, cond *Condition, schema expr.Schema, first map[string]int, i int, self, subject string) {
	fail := func(col int, problem string) {
		c.errs = append(c.errs, &Error{Field: path, Value: shorten(cond.src), Problem: fmt.Sprintf("column %d: %s", col, problem), exprColumn: col})
	}
	var xe *expr.Error
	if cond.err != nil {
		if errors.As(cond.err, &xe) {
			fail(xe.Column, xe.Msg)
		} else {
			fail(1, cond.err.Error())
		}
		return
	}
	if self != "" && !cond.e.UsesSelf() && !slices.Contains(cond.Refs(), self) {
		fail(1, "never reads the answer it constrains: write . for it, as in . >= 1990 or string-length(.) <= 100")
		return
	}
	// A reference to a question that exists but cannot be read: the
	// first one in the source.
	col, problem := 0, ""
	for _, ref := range cond.Refs() {
		if _, ok := schema[ref]; ok {
			continue
		}
		j, exists := first[ref]
		if !exists {
			continue // expr's Check says there is no such question
		}
		var p string
		switch {
		case s.Questions[j].Type == Note:
			p = "${" + ref + "} is a note, which takes no answer: a condition can read only questions"
		case j == i && self == "" && subject == "this question":
			p = "${" + ref + "} is this question itself: a condition reads answers to earlier questions; to check this question's answer, write a constraint"
		case subject == "the section":
			p = "${" + ref + "} is in the section or after it: a section's condition can read only answers to questions before the section"
		default:
			p = "${" + ref + "} comes after this question: a condition can read only answers to questions before it; move the question, or change the condition"
		}
		if at := refColumn(cond.src, ref); col == 0 || at < col {
			col, problem = at, p
		}
	}
	if problem != "" {
		fail(col, problem)
		return
	}
	if err := cond.e.Check(schema, self); err != nil {
		if errors.As(err, &xe) {
			fail(xe.Column, xe.Msg)
		} else {
			fail(1, err.Error())
		}
	}
}

// refColumn returns the column (in Unicode code points, from 1) where
// ${ref} is first written in src.
func refColumn(src, ref string) int {
	off := strings.Index(src, "${"+ref+"}")
	if off < 0 {
		return 1
	}
	return utf8.RuneCountInString(src[:off]) + 1
}
