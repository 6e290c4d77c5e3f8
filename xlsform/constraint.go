package xlsform

import (
	"regexp"
	"strconv"

	"github.com/testimony-project/testimony/config"
)

// bounds are the fields of a question a constraint can be written as.
type bounds struct {
	min, max  string
	maxLength int
	exclusive []string
}

var (
	numRE          = `(-?[0-9]+(?:\.[0-9]+)?)`
	selfLowerRE    = regexp.MustCompile(`^\. >= ` + numRE + `$`)
	selfUpperRE    = regexp.MustCompile(`^\. <= ` + numRE + `$`)
	lowerSelfRE    = regexp.MustCompile(`^` + numRE + ` <= \.$`)
	upperSelfRE    = regexp.MustCompile(`^` + numRE + ` >= \.$`)
	lengthRE       = regexp.MustCompile(`^string-length\(\.\) <= ([0-9]+)$`)
	countLowerRE   = regexp.MustCompile(`^count-selected\(\.\) >= ([0-9]+)$`)
	countUpperRE   = regexp.MustCompile(`^count-selected\(\.\) <= ([0-9]+)$`)
	exclusiveRE    = regexp.MustCompile(`^not\(selected\(\., '([a-z0-9_]+)'\) and count-selected\(\.\) (?:> 1|>= 2)\)$`)
	exclusiveRevRE = regexp.MustCompile(`^not\(count-selected\(\.\) (?:> 1|>= 2) and selected\(\., '([a-z0-9_]+)'\)\)$`)
)

// asBounds reads a constraint, in the canonical form of package expr, as
// the bounds of a question of type typ, if it is nothing more: a
// conjunction of
//
//	. >= N and . <= N (or N <= ., N >= .)    year, date, integer, decimal
//	string-length(.) <= N                     text
//	count-selected(.) >= N, <= N              select_multiple
//	not(selected(., 'v') and count-selected(.) > 1)
//	                                          select_multiple: v is exclusive
//
// each bound at most once. Such a constraint becomes min, max, max_length
// and exclusive choices, which testimony checks and explains by itself in
// every language, and lists in the codebook.
func asBounds(canonical string, typ config.QuestionType) (bounds, bool) {
	var b bounds
	for _, clause := range splitAnd(canonical) {
		if !b.add(clause, typ) {
			return bounds{}, false
		}
	}
	return b, true
}

func (b *bounds) add(clause string, typ config.QuestionType) bool {
	number := typ == config.Year || typ == config.DateApprox || typ == config.Integer || typ == config.Decimal
	setNum := func(dst *string, n string) bool {
		if *dst != "" {
			return false
		}
		v, err := config.ParseNumber(n)
		if err != nil || typ != config.Decimal && !v.IsWhole() {
			return false
		}
		*dst = v.String()
		return true
	}
	setCount := func(dst *string, n string) bool {
		if *dst != "" {
			return false
		}
		*dst = n
		_, err := config.ParseNumber(n)
		return err == nil
	}
	if m := selfLowerRE.FindStringSubmatch(clause); m != nil && number {
		return setNum(&b.min, m[1])
	}
	if m := lowerSelfRE.FindStringSubmatch(clause); m != nil && number {
		return setNum(&b.min, m[1])
	}
	if m := selfUpperRE.FindStringSubmatch(clause); m != nil && number {
		return setNum(&b.max, m[1])
	}
	if m := upperSelfRE.FindStringSubmatch(clause); m != nil && number {
		return setNum(&b.max, m[1])
	}
	if m := lengthRE.FindStringSubmatch(clause); m != nil && (typ == config.ShortText || typ == config.LongText) && b.maxLength == 0 {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 || n > config.MaxMaxTextLength {
			return false
		}
		b.maxLength = n
		return true
	}
	if typ != config.MultiChoice {
		return false
	}
	if m := countLowerRE.FindStringSubmatch(clause); m != nil {
		return setCount(&b.min, m[1])
	}
	if m := countUpperRE.FindStringSubmatch(clause); m != nil {
		return setCount(&b.max, m[1])
	}
	if m := exclusiveRE.FindStringSubmatch(clause); m != nil {
		b.exclusive = append(b.exclusive, m[1])
		return true
	}
	if m := exclusiveRevRE.FindStringSubmatch(clause); m != nil {
		b.exclusive = append(b.exclusive, m[1])
		return true
	}
	return false
}

// splitAnd splits an expression in canonical form at its top-level "and"s:
// outside parentheses and quoted texts.
func splitAnd(s string) []string {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && c == ' ' && len(s)-i > 5 && s[i:i+5] == " and ":
			parts = append(parts, s[start:i])
			start = i + 5
			i += 4
		}
	}
	return append(parts, s[start:])
}
