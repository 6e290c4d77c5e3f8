package response

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/testimony-project/testimony/config"
	"golang.org/x/text/unicode/norm"
)

// FieldPrefix starts the name of every answer field in a form: the answer
// to question "age" is posted as "q.age", and the month or season of a
// date_approx question "left" as "q.left.when".
const FieldPrefix = "q."

// WhenSuffix ends the name of a date_approx question's month or season
// field.
const WhenSuffix = ".when"

// ErrMalformedForm wraps every error about a form post that the
// questionnaire page could not have produced.
var ErrMalformedForm = errors.New("malformed form")

// FromForm reads the answers of a form post. Fields not starting with
// [FieldPrefix] are ignored: they are the caller's. It returns an error
// wrapping [ErrMalformedForm] for a post no questionnaire page would send
// (an unknown question, a repeated single-valued field, text that is not
// UTF-8), and otherwise the response with the problems found, if any.
//
// Text is normalized as the plaintext format requires (line breaks to
// "\n", Unicode NFC), and a decimal number to its canonical text ("02.50"
// becomes "2.5"); answers to questions that are not shown given the other
// answers are dropped, as a page with JavaScript would hide them. lang must
// be one of the study's languages.
func FromForm(s *config.Study, lang string, form url.Values) (*Response, Problems, error) {
	if !s.HasLanguage(lang) {
		return nil, nil, fmt.Errorf("%w: unknown language %q", ErrMalformedForm, lang)
	}
	r := &Response{Study: s.ID, Version: s.Version(), Language: lang, Answers: map[string][]string{}}
	byID := questions(s)
	for key, vals := range form {
		name, ok := strings.CutPrefix(key, FieldPrefix)
		if !ok {
			continue
		}
		id, when := strings.CutSuffix(name, WhenSuffix)
		q := byID[id]
		if q == nil || !q.Answerable() || (when && q.Type != config.DateApprox) {
			return nil, nil, fmt.Errorf("%w: unknown field %q", ErrMalformedForm, key)
		}
		if len(vals) > 1 && (q.Type != config.MultiChoice || when) {
			return nil, nil, fmt.Errorf("%w: field %q sent %d times", ErrMalformedForm, key, len(vals))
		}
		if len(vals) > len(q.Choices)+1 {
			return nil, nil, fmt.Errorf("%w: field %q sent %d times", ErrMalformedForm, key, len(vals))
		}
		for _, v := range vals {
			if !utf8.ValidString(v) {
				return nil, nil, fmt.Errorf("%w: field %q is not UTF-8 text", ErrMalformedForm, key)
			}
		}
	}
	// Answers are read in questionnaire order, so that whether a question
	// is shown is decided on the answers kept before it: r.Answers holds
	// only answers to questions shown.
	secs := sectionConditions(s)
	for i := range s.Questions {
		q := &s.Questions[i]
		vals := form[FieldPrefix+q.ID]
		var answer []string
		switch q.Type {
		case config.Note:
			continue
		case config.MultiChoice:
			for _, v := range vals {
				if v == "" {
					continue
				}
				if slices.Contains(answer, v) {
					// The value is an answer: it stays out of the error.
					return nil, nil, fmt.Errorf("%w: field %q sent the same choice twice", ErrMalformedForm, FieldPrefix+q.ID)
				}
				answer = append(answer, v)
			}
			slices.SortStableFunc(answer, func(a, b string) int { return choiceIndex(q, a) - choiceIndex(q, b) })
		case config.ShortText, config.LongText:
			if len(vals) == 1 && strings.TrimSpace(vals[0]) != "" {
				answer = []string{NormalizeText(vals[0])}
			}
		case config.DateApprox:
			year := ""
			if len(vals) == 1 {
				year = strings.TrimSpace(vals[0])
			}
			when := strings.TrimSpace(form.Get(FieldPrefix + q.ID + WhenSuffix))
			switch {
			case year != "" && when != "":
				answer = []string{year + "-" + when}
			case year != "":
				answer = []string{year}
			case when != "":
				answer = []string{"-" + when} // a month without a year: reported as a bad date
			}
		case config.Decimal:
			if len(vals) == 1 && strings.TrimSpace(vals[0]) != "" {
				v := strings.TrimSpace(vals[0])
				if c, ok := config.CanonicalDecimal(v); ok {
					v = c
				}
				answer = []string{v}
			}
		default:
			if len(vals) == 1 && strings.TrimSpace(vals[0]) != "" {
				answer = []string{strings.TrimSpace(vals[0])}
			}
		}
		if len(answer) > 0 && secs[i].Holds(r.Answers) && q.Relevant.Holds(r.Answers) {
			r.Answers[q.ID] = answer
		}
	}
	return r, Validate(s, r), nil
}

// NormalizeText returns text as the plaintext format stores it: "\r\n" and
// "\r" become "\n", and the text is in Unicode NFC (so Hangul typed as
// separate jamo compares equal to Hangul typed as syllables).
func NormalizeText(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "\n")
	v = strings.ReplaceAll(v, "\r", "\n")
	return norm.NFC.String(v)
}
