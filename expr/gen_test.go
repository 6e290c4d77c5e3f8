package expr

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// source of choices for the generator: a PRNG, or the bytes of a fuzz
// input (then zeros once they run out).
type chooser interface{ intn(n int) int }

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }

type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	x := int(c.b[0])
	if n > 256 && len(c.b) > 1 {
		x = x<<8 | int(c.b[1])
		c.b = c.b[1:]
	}
	c.b = c.b[1:]
	return x % n
}

// genSchema is the study the generator writes expressions for.
var genSchema = Schema{
	"n1":   {Kind: Number},
	"n2":   {Kind: Number},
	"year": {Kind: Number},
	"t1":   {Kind: Text},
	"t2":   {Kind: Text},
	"c1":   {Kind: Choice, Values: []string{"yes", "no", "x y"}},
	"c2":   {Kind: Choice, Values: []string{"1", "2", "03"}},
	"m1":   {Kind: Multi, Values: []string{"a", "b", "c", "d"}},
}

// gen writes random expressions that Parse accepts and, against genSchema,
// Check accepts, with random spacing and parentheses; and random answers.
type gen struct {
	c    chooser
	self string // the question "." stands for, or ""
}

func (g *gen) pick(list ...string) string { return list[g.c.intn(len(list))] }

func (g *gen) sp() string {
	switch g.c.intn(8) {
	case 0:
		return ""
	case 1:
		return "  "
	case 2:
		return "\n\t"
	}
	return " "
}

// paren puts s in parentheses, sometimes, or always if must.
func (g *gen) paren(s string, must bool) string {
	if must || g.c.intn(6) == 0 {
		return "(" + g.sp() + s + g.sp() + ")"
	}
	return s
}

var genNumbers = []string{"0", "1", "2", "3", "7", "10", "18", "100", "2019", "007", ".5", "5.", "0.1", "0.2", "0.3", "1.5",
	"9007199254740993", "12345678901234567890", "0.10000000000000000555", "99999999999999999999",
	"1" + strings.Repeat("0", 308), "1" + strings.Repeat("0", 309), "0." + strings.Repeat("0", 322) + "5", "4.35"}

func (g *gen) number() string {
	if g.c.intn(3) == 0 {
		// A random numeral of up to 20 significant digits.
		n := 1 + g.c.intn(20)
		var b strings.Builder
		dot := g.c.intn(n + 2)
		for i := 0; i < n; i++ {
			if i == dot {
				b.WriteByte('.')
			}
			b.WriteByte(byte('0' + g.c.intn(10)))
		}
		return b.String()
	}
	return genNumbers[g.c.intn(len(genNumbers))]
}

func isRef(s string) bool {
	return s == "." || strings.HasPrefix(s, "${") && strings.Count(s, "}") == 1 && strings.HasSuffix(s, "}")
}

func (g *gen) numRef() string {
	if g.self != "" && genSchema[g.self].Kind == Number && g.c.intn(3) == 0 {
		return "."
	}
	return "${" + g.pick("n1", "n2", "year") + "}"
}

// num writes an expression of type number.
func (g *gen) num(depth int) string {
	k := g.c.intn(12)
	if depth <= 0 {
		k %= 3
	}
	switch k {
	case 0:
		return g.number()
	case 1, 2:
		return g.numRef()
	case 3, 4, 5:
		op := g.pick("+", "-", "*", " div ", " mod ")
		l := g.num(depth - 1)
		r := g.num(depth - 1)
		// The right operand of an operator of the same or lower
		// precedence needs parentheses; always paren compound operands
		// for simplicity, sometimes more.
		return g.paren(l, strings.ContainsAny(l, "+-*") || strings.Contains(l, "div") || strings.Contains(l, "mod")) + g.sp() + op + g.sp() +
			g.paren(r, strings.ContainsAny(r, "+-*") || strings.Contains(r, "div") || strings.Contains(r, "mod"))
	case 6:
		x := g.num(depth - 1)
		return "-" + g.paren(x, strings.ContainsAny(x, "+-*") || strings.Contains(x, "div") || strings.Contains(x, "mod"))
	case 7:
		return "count-selected(" + g.sp() + "${" + g.pick("m1", "c1", "c2") + "}" + g.sp() + ")"
	case 8:
		return "string-length(" + g.pick("${t1}", "${t2}", "${n1}", g.text()) + ")"
	case 9:
		return "number(" + g.pick("${c2}", g.numRef()) + ")"
	case 10:
		return "int(" + g.num(depth-1) + ")"
	}
	return "number(" + g.num(depth-1) + ")"
}

var genTexts = []string{"", "yes", "no", "x y", "a", "A", "가", "김영철", "中文", "🙂", "e\u0301", "\u00e9", "it's", "\"q\"", " ", "1", "01", "line\nbreak", "\t"}

func (g *gen) text() string { return quote(genTexts[g.c.intn(len(genTexts))]) }

// cond writes an expression of type condition.
func (g *gen) cond(depth int) string {
	k := g.c.intn(14)
	if depth <= 0 {
		k = k%4 + 10
	}
	switch k {
	case 0, 1:
		op := g.pick(" and ", " or ")
		var parts []string
		for n := 2 + g.c.intn(3); n > 0; n-- {
			c := g.cond(depth - 1)
			parts = append(parts, g.paren(c, strings.Contains(c, " or ") || strings.Contains(c, " and ")))
		}
		return strings.Join(parts, op)
	case 2:
		return "not(" + g.sp() + g.cond(depth-1) + g.sp() + ")"
	case 3, 4, 5:
		l, op, r := g.num(depth-1), g.pick("=", "!=", "<", "<=", ">", ">="), g.num(depth-1)
		if (op == "=" || op == "!=") && isRef(l) && isRef(r) {
			l = "number(" + l + ")" // Check asks for it: two answers compare as texts
		}
		return l + g.sp() + op + g.sp() + r
	case 6, 7:
		// Texts and choices, compared with literals of their own kind.
		switch g.c.intn(4) {
		case 0:
			return g.pick("${t1}", "${t2}") + g.sp() + g.pick("=", "!=") + g.sp() + g.pick(g.text(), "${t1}", "${t2}", "${c1}")
		case 1:
			return "${c1}" + g.sp() + g.pick("=", "!=") + g.sp() + g.pick("'yes'", "'no'", "'x y'", "''", "${c1}", "${t1}")
		case 2:
			return g.pick("${n1}", "${m1}", "${c2}") + g.sp() + g.pick("=", "!=") + g.sp() + "''"
		}
		return g.paren(g.num(depth-1), true) + g.sp() + g.pick("=", "!=") + g.sp() + g.number()
	case 8:
		return "selected(" + g.sp() + "${m1}," + g.sp() + g.pick("'a'", "'b'", "'c'", "'d'") + ")"
	case 9:
		return "selected(${c1}, " + g.pick("'yes'", "'no'", "'x y'") + ")"
	case 10:
		return g.pick("true()", "false()")
	case 11:
		return g.numRef() + g.sp() + g.pick("<", ">=", "=", "!=") + g.sp() + g.number()
	case 12:
		return "count-selected(${m1})" + g.sp() + g.pick(">", "=") + g.sp() + g.pick("0", "1", "2")
	}
	return "${c1} = " + g.pick("'yes'", "'no'")
}

// genNumerals are answers to number questions, of every sort.
var genNumerals = []string{"", "0", "-0", "1", "2", "3", "18", "2019", "007", "-1", "-18", ".5", "5.", "-.5", "0.1", "0.2", "0.3",
	"1.5", " 2 ", "\t3\n", "1e3", "+1", "0x10", "Infinity", "NaN", "abc", "1,5", "١", "9007199254740993", "99999999999999999999",
	"123456789012345678901", "1" + strings.Repeat("0", 400), "0." + strings.Repeat("0", 400) + "1", "4.35", "-", ".", "--1", "1 2"}

// answers draws answers to genSchema's questions.
func (g *gen) answers() map[string][]string {
	a := map[string][]string{}
	for _, id := range []string{"n1", "n2", "year", "t1", "t2", "c1", "c2", "m1"} {
		if g.c.intn(5) == 0 {
			continue // unanswered
		}
		switch q := genSchema[id]; q.Kind {
		case Number:
			v := genNumerals[g.c.intn(len(genNumerals))]
			if g.c.intn(4) == 0 {
				v = g.number()
			}
			a[id] = []string{v}
		case Text:
			a[id] = []string{genTexts[g.c.intn(len(genTexts))]}
		case Choice:
			a[id] = []string{q.Values[g.c.intn(len(q.Values))]}
			if g.c.intn(8) == 0 {
				a[id] = []string{genTexts[g.c.intn(len(genTexts))]}
			}
		case Multi:
			var vs []string
			for _, v := range q.Values {
				if g.c.intn(2) == 0 {
					vs = append(vs, v)
				}
			}
			if g.c.intn(6) == 0 {
				vs = append(vs, "")
			}
			a[id] = vs
		}
	}
	return a
}

// mutate damages a source at the level of characters, so that it stays
// valid UTF-8: it deletes, inserts or duplicates a few characters.
func (g *gen) mutate(src string) string {
	rs := []rune(src)
	inserts := []rune("()$,{}'\".=!<>+-* 0123456789abdnorv\u00a0\u2018\uff08가🙂\t")
	for n := 1 + g.c.intn(3); n > 0; n-- {
		i := 0
		if len(rs) > 0 {
			i = g.c.intn(len(rs) + 1)
		}
		switch g.c.intn(3) {
		case 0:
			if i < len(rs) {
				j := min(len(rs), i+1+g.c.intn(4))
				rs = append(rs[:i], rs[j:]...)
			}
		case 1:
			rs = append(rs[:i], append([]rune{inserts[g.c.intn(len(inserts))]}, rs[i:]...)...)
		default:
			if i < len(rs) {
				j := min(len(rs), i+1+g.c.intn(6))
				chunk := append([]rune(nil), rs[i:j]...)
				rs = append(rs[:j], append(chunk, rs[j:]...)...)
			}
		}
	}
	return string(rs)
}

// numberLiteral writes v, a value a number expression took, as an
// expression that has exactly that value.
func numberLiteral(v float64) string {
	switch {
	case math.IsNaN(v):
		return "0 div 0"
	case math.IsInf(v, 1):
		return "1 div 0"
	case math.IsInf(v, -1):
		return "-1 div 0"
	case v == 0 && math.Signbit(v):
		return "-0"
	case v < 0:
		return "-" + strconv.FormatFloat(-v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
