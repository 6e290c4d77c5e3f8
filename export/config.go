package export

// What this package reads from config and response, in one place: the study
// model is growing (language-keyed texts, expressions for conditions,
// constraints, notes and decimals), and these small accessors are all that
// has to follow it.

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/response"
)

// languages returns the languages of the study, its default first.
func languages(s *config.Study) []string { return config.Languages }

// defaultLanguage returns the language labels are written in when none is
// chosen.
func defaultLanguage(s *config.Study) string { return config.DefaultLanguage }

// label returns a text in lang.
func label(t config.Text, lang string) string { return t.In(lang) }

// Question types this package treats specially; those the model does not
// have yet are named by their string.
const (
	typeDecimal config.QuestionType = "decimal"
	typeNote    config.QuestionType = "note"
)

// hasColumn reports whether answers to q are exported: every question but
// a note, which only shows text.
func hasColumn(q *config.Question) bool { return q.Type != typeNote }

// isNumber reports whether answers to q are numbers in an XLSX file.
func isNumber(q *config.Question) bool {
	return q.Type == config.Year || q.Type == config.Integer || q.Type == typeDecimal
}

// isChoice reports whether answers to q are choice values.
func isChoice(q *config.Question) bool {
	return q.Type == config.SingleChoice || q.Type == config.MultiChoice
}

// relevant reports whether q was shown to a person who gave answers, in
// study version s.
func relevant(s *config.Study, q *config.Question, answers map[string][]string) bool {
	return response.Relevant(s, q, answers)
}

// condition returns q's condition as the codebook shows it, or "".
func condition(q *config.Question) string {
	if q.Relevant == nil {
		return ""
	}
	return q.Relevant.Question + " in {" + strings.Join(q.Relevant.AnyOf, ", ") + "}"
}

// constraint returns q's constraint as the codebook shows it, or "".
func constraint(q *config.Question) string { return "" }

// rangeText returns the bounds of q's answers as the codebook shows them:
// "1980..2027", "0.." or "..10" (inclusive), or "" when unbounded or not
// applicable. For multi_choice it is the number of choices ticked.
func rangeText(q *config.Question, now time.Time) string {
	lo, hi := q.Range(now)
	if lo == 0 && hi == 0 && q.Type != config.Integer {
		return ""
	}
	var l, h string
	if lo != math.MinInt {
		l = fmt.Sprint(lo)
	}
	if hi != math.MaxInt {
		h = fmt.Sprint(hi)
	}
	if l == "" && h == "" {
		return ""
	}
	return l + ".." + h
}
