package xlsform

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// An Error is one problem in a workbook, or, in [Result.Warnings], one
// thing the conversion left out or changed that the researcher should
// know about.
type Error struct {
	// File is [Options.Name], or "" if it is unset.
	File string
	// Sheet is the worksheet ("survey", "choices", "settings"), or "" for
	// a problem of the whole workbook.
	Sheet string
	// Cell is the cell, such as "F12", or "" for a problem of the whole
	// sheet.
	Cell string
	// Column is the header of the cell's column, such as "relevant" or
	// "label::Korean (ko)", or "" if the cell has none.
	Column string
	// Problem says what is wrong and how to fix it.
	Problem string

	row, col int // for sorting: row and column numbers from 1, 0 if unknown
}

// Error returns the problem as one line, for example
//
//	form.xlsx: survey!F12 (relevant): column 9: 'maybe' is not a choice of ${phone_use}; its choices are own, borrowed, no
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Sheet != "" {
		b.WriteString(e.Sheet)
		if e.Cell != "" {
			b.WriteString("!")
			b.WriteString(e.Cell)
		}
		if e.Column != "" {
			fmt.Fprintf(&b, " (%s)", e.Column)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return oneLine(b.String())
}

// oneLine escapes the control and format characters of s (which cells
// can hold, and messages may quote), so that a problem is one line of
// text that shows what the cell holds.
func oneLine(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

// shown returns a value of a cell for a message: at most 60 characters.
func shown(s string) string {
	const n = 60
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// Errors is every problem found in a workbook, sheet by sheet in the
// order survey, choices, settings, then row by row and column by column.
// [Convert] returns an Errors with at least one element.
type Errors []*Error

// Error lists the problems, one a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that [errors.As] finds an [*Error].
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// maxErrors bounds how many problems Errors lists; the rest are counted.
const maxErrors = 100

// sheetOrder orders problems by sheet.
func sheetOrder(s string) int {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return 0
	case sheetSurvey:
		return 1
	case sheetChoices:
		return 2
	case sheetSettings:
		return 3
	}
	return 4
}

// sortProblems orders problems by sheet, row and column, keeping the order
// of problems found in one cell, drops repeats, and bounds their number.
func sortProblems(es []*Error, file string) Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if sa, sb := sheetOrder(a.Sheet), sheetOrder(b.Sheet); sa != sb {
			return sa < sb
		}
		if a.Sheet != b.Sheet {
			return a.Sheet < b.Sheet
		}
		if a.row != b.row {
			return a.row < b.row
		}
		return a.col < b.col
	})
	out := es[:0]
	seen := make(map[string]bool, len(es))
	for _, e := range es {
		e.File = file
		if k := e.Error(); !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	if len(out) > maxErrors {
		more := &Error{File: file, Problem: fmt.Sprintf("and %d more problems; fix the ones above first", len(out)-maxErrors)}
		out = append(out[:maxErrors:maxErrors], more)
	}
	return Errors(out)
}
