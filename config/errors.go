package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// An Error is one problem in a study file.
type Error struct {
	// File is the name given to Parse, or the path given to Load.
	File string
	// Line and Column locate the problem in the file, counting from 1.
	// Zero means unknown.
	Line, Column int
	// Question is the id of the question the problem is in, or "" for a
	// problem outside the questions.
	Question string
	// Field is the YAML path of the field, relative to the question when
	// Question is set: for example "choices[2].value" or
	// "recipients[0].public_key". It is "" for syntax errors.
	Field string
	// Value is the offending value as written, shortened, or "" when it
	// would not help.
	Value string
	// Problem says what is wrong and how to fix it.
	Problem string

	// exprColumn, for a problem in a condition, is its column in the
	// expression, which Parse turns into one in the file where it can.
	exprColumn int
}

// Error returns the problem as one line, for example
//
//	examples/x.yaml:40: question "phone_use": choices[2].value "yes": duplicate value; give every choice a different value
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Question != "" {
		fmt.Fprintf(&b, "question %q: ", e.Question)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		if e.Value != "" {
			fmt.Fprintf(&b, " %q", e.Value)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Errors is every problem found in a study file, in the order they appear
// in it. Load and Parse return an Errors with at least one element.
type Errors []*Error

// maxErrors bounds how many problems Errors lists; the rest are counted.
const maxErrors = 100

// Error lists the problems, one a line.
func (es Errors) Error() string {
	lines := make([]string, 0, len(es))
	for _, e := range es {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

// shorten returns s cut to at most 40 characters, for showing a value in an
// error message.
func shorten(s string) string {
	const n = 40
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// Unwrap returns the problems, so that [errors.As] finds an [*Error].
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}
