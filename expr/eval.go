package expr

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Env is what an expression is evaluated against.
type Env struct {
	// Answers maps question ids to answers, as response.Response.Answers
	// does: one value, or for a multiple-choice question, any number. An
	// id that is absent, an empty list and empty strings in a list all
	// mean "not answered".
	Answers map[string][]string
	// Self is the id of the question whose constraint is evaluated: "."
	// stands for its answer. Eval fails if the expression uses "." and
	// Self is "".
	Self string
}

// ErrNoSelf is returned by Eval for an expression that uses "." when
// Env.Self is "".
var ErrNoSelf = errors.New("the expression uses '.', which needs the question being checked (Env.Self)")

// Eval evaluates e. Every expression Parse returns has a value for every
// Env: the only error is [ErrNoSelf].
func (e *Expr) Eval(env Env) (bool, error) {
	if e.self && env.Self == "" {
		return false, ErrNoSelf
	}
	return evalBool(e.root, &env), nil
}

// answer is the non-empty values of the answer n refers to.
func answer(n *node, env *Env) []string {
	id := n.text
	if n.op == opSelf {
		id = env.Self
	}
	vals := env.Answers[id]
	for _, v := range vals {
		if v == "" {
			out := make([]string, 0, len(vals))
			for _, v := range vals {
				if v != "" {
					out = append(out, v)
				}
			}
			return out
		}
	}
	return vals
}

func evalBool(n *node, env *Env) bool {
	switch n.op {
	case opOr:
		for _, a := range n.args {
			if evalBool(a, env) {
				return true
			}
		}
		return false
	case opAnd:
		for _, a := range n.args {
			if !evalBool(a, env) {
				return false
			}
		}
		return true
	case opEq, opNe:
		l, r := n.args[0], n.args[1]
		var eq bool
		if l.typ == tNum || r.typ == tNum {
			eq = evalNum(l, env) == evalNum(r, env)
		} else {
			eq = evalStr(l, env) == evalStr(r, env)
		}
		return eq == (n.op == opEq)
	case opLt:
		return evalNum(n.args[0], env) < evalNum(n.args[1], env)
	case opLe:
		return evalNum(n.args[0], env) <= evalNum(n.args[1], env)
	case opGt:
		return evalNum(n.args[0], env) > evalNum(n.args[1], env)
	case opGe:
		return evalNum(n.args[0], env) >= evalNum(n.args[1], env)
	case opCall:
		switch n.text {
		case "true":
			return true
		case "not":
			return !evalBool(n.args[0], env)
		case "selected":
			return contains(answer(n.args[0], env), n.args[1].text)
		}
	}
	return false // false(), and nothing else: Parse typed the tree
}

// evalNum evaluates a number, or an answer or text as a number. Each
// arithmetic result is converted to float64 explicitly, which forbids the
// compiler to fuse operations (as in a*b+c): every operation is rounded
// once, as in JavaScript.
func evalNum(n *node, env *Env) float64 {
	switch n.op {
	case opNum:
		return n.num
	case opStr, opRef, opSelf:
		v, _ := numeral(evalStr(n, env))
		return v
	case opAdd:
		return float64(evalNum(n.args[0], env) + evalNum(n.args[1], env))
	case opSub:
		return float64(evalNum(n.args[0], env) - evalNum(n.args[1], env))
	case opMul:
		return float64(evalNum(n.args[0], env) * evalNum(n.args[1], env))
	case opDiv:
		return float64(evalNum(n.args[0], env) / evalNum(n.args[1], env))
	case opMod:
		return math.Mod(evalNum(n.args[0], env), evalNum(n.args[1], env))
	case opNeg:
		return -evalNum(n.args[0], env)
	case opCall:
		a := n.args[0]
		switch n.text {
		case "count-selected":
			return float64(len(answer(a, env)))
		case "string-length":
			return float64(utf8.RuneCountInString(evalStr(a, env)))
		case "number":
			return evalNum(a, env)
		case "int":
			return math.Trunc(evalNum(a, env))
		}
	}
	return math.NaN()
}

// evalStr evaluates a text or an answer as a text: the values of an
// answer joined by single spaces.
func evalStr(n *node, env *Env) string {
	if n.op == opStr {
		return n.text
	}
	vals := answer(n, env)
	if len(vals) == 1 {
		return vals[0]
	}
	return strings.Join(vals, " ")
}

// numeral reads s as a number: optional spaces, tabs and line breaks, an
// optional minus sign, decimal digits with an optional decimal point (at
// least one digit), optional spaces, tabs and line breaks; and at most
// MaxDigits significant digits. Anything else is not a number (NaN).
func numeral(s string) (float64, bool) {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	s = s[i:j]
	k := 0
	if k < len(s) && s[k] == '-' {
		k++
	}
	digits, dot := 0, false
	for ; k < len(s); k++ {
		switch c := s[k]; {
		case isDigit(c):
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return math.NaN(), false
		}
	}
	if digits == 0 || digits > MaxDigits && significantDigits(strings.Map(dropDot, strings.TrimPrefix(s, "-"))) > MaxDigits {
		return math.NaN(), false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return math.NaN(), false
	}
	return v, true
}

func dropDot(r rune) rune {
	if r == '.' {
		return -1
	}
	return r
}
