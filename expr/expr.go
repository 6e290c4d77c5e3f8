// Package expr implements the conditions of a study: when a question is
// shown (relevance) and what its answer must satisfy (constraint), written
// in a small subset of the XPath that XLSForm uses, such as
//
//	${left_year} - ${birth_year} >= 18 and selected(${phone_use}, 'own')
//
// [Parse] reads an expression, [Expr.Check] checks it against the questions
// of a study when the study is loaded, and [Expr.Eval] evaluates it against
// a person's answers. The browser evaluates the same expressions with
// intake/static/expr.js, which follows this specification to the bit: both
// accept the same expressions, give the same errors and compute the same
// results (testdata/vectors.json holds the cases both must pass).
// Nothing is ever evaluated as code.
//
// # Syntax
//
// An expression is at most [MaxLength] bytes of UTF-8:
//
//	Expr      = Or
//	Or        = And { "or" And }
//	And       = Compare { "and" Compare }
//	Compare   = Order { ( "=" | "!=" ) Order }
//	Order     = Sum { ( "<" | "<=" | ">" | ">=" ) Sum }
//	Sum       = Product { ( "+" | "-" ) Product }
//	Product   = Unary { ( "*" | "div" | "mod" ) Unary }
//	Unary     = "-" Unary | Primary
//	Primary   = Number | Text | "${" Name "}" | "." | Function "(" [ Expr { "," Expr } ] ")" | "(" Expr ")"
//	Number    = Digits [ "." [ Digits ] ] | "." Digits
//	Text      = "'" { any character but ' } "'" | '"' { any character but " } '"'
//	Name      = ( Letter | "_" ) { Letter | Digit | "_" | "-" | "." }
//	Function  = "not" | "true" | "false" | "selected" | "count-selected" | "string-length" | "number" | "int"
//
// Operators are listed from the loosest to the tightest; all are
// left-associative. Tokens may be separated by spaces, tabs and line
// breaks (U+0020, U+0009, U+000D, U+000A), but a number may not be
// followed directly by a letter. Letters are ASCII; words are
// case-sensitive. A number has at most [MaxDigits] significant digits (from
// its first non-zero digit to its last) and no exponent. Texts have no
// escapes: a text holding ' is written between double quotes. ${name}
// stands for the answer to the question with that id, and "." for the
// answer being checked by a constraint.
//
// Nesting is bounded: parentheses, function calls and minus signs may be
// open at most [MaxDepth] deep, and the expression's tree may be at most
// MaxDepth levels deep (a literal or reference is one level; each operator
// and function call adds one; a chain of and, or of or, is one operator).
// Evaluation visits each part of the tree once, so its cost is bounded by
// the length of the expression and of the answers it reads.
//
// Left out on purpose, with an error saying so: paths (/data/q, ..),
// predicates, unions, exponents, regex() (regular expressions do not behave
// alike in every browser and on the server), today() and now() (a condition
// must not depend on a clock), random(), if() and every other XPath or
// XLSForm function not listed below. Common slips get a message with the
// fix: ==, <>, &, |, !, AND, curly quotes, full-width characters and
// no-break spaces that spreadsheets and input methods put in.
//
// # Types
//
// Every part of an expression has one of four types, known when it is
// parsed: a condition (true or false), a number, a text (a quoted literal)
// or an answer (${name} or .). Parse rejects an expression unless it is a
// condition and every operator and function gets the types it takes:
//
//	and, or            conditions
//	=, !=              two values that are not conditions, and not a number with a text
//	<, <=, >, >=       numbers or answers
//	+, -, *, div, mod  numbers or answers; the result is a number
//	not(c)             a condition
//	true(), false()    no argument
//	selected(a, t)     an answer and a text literal: true if t is one of the answer's values
//	count-selected(a)  an answer: the number of its values
//	string-length(x)   an answer or a text: its length in Unicode code points
//	number(x), int(x)  a number or an answer: as a number; int truncates toward zero
//
// An answer written where a condition is expected is an error that
// suggests ${name} != ” (XPath would test that it is not empty).
//
// # Values
//
// Answers are lists of strings, as package response holds them: one value
// for most questions, any number for a multiple-choice question. Empty
// strings in the list are ignored; a question with no value is unanswered
// (so is a question not in [Env.Answers]). As a text, an answer is its
// values joined by single spaces ("" when unanswered), as XPath sees a
// multiple-choice answer.
//
// Numbers are IEEE 754 double-precision, as in JavaScript. A number literal
// is rounded to the nearest double (ties to even). An answer or text used
// as a number is read as a numeral: optional white space (the four
// characters above), an optional "-", digits with at most one ".", at least
// one digit, at most MaxDigits significant digits, optional white space.
// So "007" is 7, "-0" is negative zero, ".5" and "5." are numbers; "",
// "1e3", "+1", "0x10", "1,5", "Infinity", "２" and anything else are NaN.
// (The limit of 20 significant digits is where ECMAScript stops requiring
// engines to round correctly.) Every arithmetic operation is rounded once,
// as IEEE 754 and JavaScript define it: x div 0 is ±Infinity or NaN, x mod
// y has the sign of x (fmod), and NaN propagates. Go and JavaScript compute
// every operation bit for bit alike; operations are never fused.
//
// Comparisons:
//
//   - = and != compare as numbers if either side is a number (a literal, an
//     operation or a function giving a number; the other side is read as a
//     numeral), else as texts, code point by code point with no
//     normalization (package response stores answers in NFC). a != b is
//     always not(a = b).
//   - <, <=, >, >= compare as numbers.
//   - A comparison of numbers involving NaN is false, except != which is
//     true: so an unanswered number question is neither >= 18 nor < 18,
//     and "${age} = ”" (a comparison of texts) tests that it is empty.
//
// These follow XPath 1.0 and ODK wherever the subset overlaps them, except
// that two answers are compared as texts even when both are numbers (XPath
// does the same for untyped nodes; [Expr.Check] asks for number() there)
// and selected() compares whole values rather than splitting an answer at
// spaces.
//
// and and or evaluate their operands from left to right and stop at the
// first that decides the result; nothing has side effects, so this only
// saves work.
//
// # Checking against a study
//
// [Expr.Check] is given a [Schema], the kind of every question ([Text],
// [Number], [Choice] or [Multi], with the choice values; a consent question
// is a Choice whose only value is "yes"; a year, integer or decimal
// question is a Number; an approximate date is a Text), and the question a
// constraint belongs to. It fails, naming the column and the fix, when the
// expression
//
//   - refers to a question the study does not have, or uses "." in a
//     relevance condition;
//   - names a value that is not a choice of the question, in selected() or
//     compared with a choice question;
//   - compares a choice question with a number (choice values are texts:
//     ${q} = '1', or number(${q}) = 1 when every value is a numeral), a
//     number question with a quoted text other than ”, a text question with
//     a number, a number question with another kind of question, or two
//     number questions with each other (compared as texts, so number(${a})
//     = ${b} is asked for);
//   - uses a multiple-choice question other than in selected(),
//     count-selected() or a comparison with ”;
//   - computes or orders with a text, choice or multiple-choice question
//     (number() of a choice question is allowed when every value is a
//     numeral), or uses selected() or count-selected() on a question without
//     choices, or string-length() on a choice question.
//
// # Canonical form
//
// [Expr.String] writes an expression in canonical form: single spaces
// around binary operators, ", " between arguments, parentheses only where
// precedence needs them, minus signs together ("--x"), numbers without
// leading or trailing zeros (".50" is "0.5"), texts between single quotes
// unless they hold one. Parse of the canonical form gives back an equal
// expression, provided the canonical form, which may have more spaces than
// the source, is within MaxLength.
//
// # Errors
//
// Every error of Parse and Check is an *[Error]: a column (counted in
// Unicode code points from 1) and a message that says what is wrong and,
// where it can, how to fix it, such as
//
//	column 9: 'maybe' is not a choice of ${phone_use}; its choices are own, borrowed, never
package expr

import (
	"strconv"
	"strings"
)

// Limits.
const (
	// MaxLength bounds the length of an expression, in bytes.
	MaxLength = 4096
	// MaxDepth bounds the nesting of an expression.
	MaxDepth = 64
	// MaxDigits bounds the significant digits of numbers.
	MaxDigits = 20
)

// Expr is a parsed expression. It is immutable and safe for concurrent
// use.
type Expr struct {
	root *node
	refs []string
	self bool
}

// Error is a problem with an expression.
type Error struct {
	// Column is where the problem is in the expression's source, counted
	// in Unicode code points from 1.
	Column int
	// Msg says what is wrong and how to fix it.
	Msg string
}

func (e *Error) Error() string { return "column " + strconv.Itoa(e.Column) + ": " + e.Msg }

// String returns e in canonical form.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.write(&b)
	return b.String()
}

// Refs returns the ids of the questions e refers to with ${…}, sorted,
// each once. "." is not among them.
func (e *Expr) Refs() []string { return append([]string(nil), e.refs...) }

// UsesSelf reports whether e uses ".", the answer being checked.
func (e *Expr) UsesSelf() bool { return e.self }
