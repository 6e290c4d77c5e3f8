package export

// What this package reads from config and response, in one place: the study
// model is growing (language-keyed texts, expressions for conditions,
// constraints, notes and decimals), and these small accessors are all that
// has to follow it.

import (
	"fmt"
	"strings"
	"time"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/response"
)

// languages returns the languages of the study, its default first.
func languages(s *config.Study) []string { return s.Langs() }

// defaultLanguage returns the language labels are written in when none is
// chosen.
func defaultLanguage(s *config.Study) string { return s.DefaultLanguage() }

// label returns a text in lang.
func label(t config.Text, lang string) string { return t.In(lang) }

// Question types this package treats specially.
const (
	typeDecimal = config.Decimal
	typeNote    = config.Note
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

// condition returns q's condition as the codebook shows it, its
// section's and its own joined by "and", or "". s is the study version q
// is from.
func condition(s *config.Study, q *config.Question) string {
	var parts []string
	if sec := s.SectionOf(q.ID); sec != nil && sec.Relevant != nil {
		parts = append(parts, "("+sec.Relevant.String()+")")
	}
	if q.Relevant != nil {
		parts = append(parts, "("+q.Relevant.String()+")")
	}
	if len(parts) == 1 {
		return strings.TrimSuffix(strings.TrimPrefix(parts[0], "("), ")")
	}
	return strings.Join(parts, " and ")
}

// constraint returns q's constraint as the codebook shows it, or "".
func constraint(q *config.Question) string {
	if q.Constraint == nil {
		return ""
	}
	return q.Constraint.String()
}

// rangeText returns the bounds of q's answers as the codebook shows them:
// "1980..2027", "0..", "..10" or "0.5..2.5" (inclusive), or "" when
// unbounded or not applicable. For multi_choice it is the number of
// choices ticked.
func rangeText(q *config.Question, now time.Time) string {
	lo, hi := q.Bounds(now)
	if q.Type == config.MultiChoice && hi == "" {
		hi = fmt.Sprint(len(q.Choices))
		if lo == "" {
			lo = "0"
		}
	}
	if lo == "" && hi == "" {
		return ""
	}
	return lo + ".." + hi
}
