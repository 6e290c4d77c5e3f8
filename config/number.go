package config

import (
	"errors"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// MaxDecimalDigits bounds the digits of a decimal number: of a decimal
// answer, and of a min or max. Numbers of at most 15 digits are held
// exactly by a spreadsheet (an IEEE 754 double), so exports never round
// them.
const MaxDecimalDigits = 15

// CanonicalDecimal reads a decimal number as a person may type it — an
// optional "-", digits with at most one ".", leading zeros, trailing zeros
// after the point, nothing before or after the point ("5.", ".5") — and
// returns its canonical text. It reports false for anything else, and for
// a number of more than MaxDecimalDigits digits once canonical.
func CanonicalDecimal(s string) (string, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" && fp == "" || !allDigits(ip) || !allDigits(fp) {
		return "", false
	}
	ip = strings.TrimLeft(ip, "0")
	fp = strings.TrimRight(fp, "0")
	if len(ip)+len(fp) > MaxDecimalDigits {
		return "", false
	}
	if ip == "" {
		ip = "0"
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out, true
}

// IsCanonicalDecimal reports whether s is the canonical text of a decimal
// number.
func IsCanonicalDecimal(s string) bool {
	c, ok := CanonicalDecimal(s)
	return ok && c == s
}

// DecimalPlaces returns the number of digits after the point of the
// canonical decimal s.
func DecimalPlaces(s string) int {
	_, fp, _ := strings.Cut(s, ".")
	return len(fp)
}

// CompareDecimal compares the canonical decimals a and b exactly, with no
// rounding: -1 if a < b, 0 if a == b, +1 if a > b.
func CompareDecimal(a, b string) int {
	an, bn := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	switch {
	case an && !bn:
		return -1
	case !an && bn:
		return 1
	case an && bn:
		return compareMagnitude(b[1:], a[1:])
	}
	return compareMagnitude(a, b)
}

func compareMagnitude(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	if len(ai) != len(bi) {
		if len(ai) < len(bi) {
			return -1
		}
		return 1
	}
	// Equal lengths of integer part without leading zeros compare as
	// text; fractions without trailing zeros compare as text too.
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	return strings.Compare(af, bf)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Number is a bound written in a study file (min, max): a whole number, or
// for a decimal question a decimal number, held exactly. The zero value
// is 0.
type Number struct {
	text string // canonical decimal; "" means "0"
}

// IntNumber returns n as a Number.
func IntNumber(n int) Number { return Number{text: strconv.Itoa(n)} }

// ParseNumber reads a number written in a study file, in canonical decimal
// text. It returns an error saying how to write it otherwise.
func ParseNumber(s string) (Number, error) {
	if s == "" {
		return Number{}, errors.New("must be a number, such as 10 or 2.5")
	}
	c, ok := CanonicalDecimal(s)
	if !ok {
		if _, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXoObB_") {
			if strings.ContainsAny(s, "eE") {
				return Number{}, errors.New("write the number out in digits, without an exponent")
			}
			digits := strings.Trim(strings.TrimLeft(s, "+-0"), ".")
			if len(strings.ReplaceAll(digits, ".", "")) > MaxDecimalDigits {
				return Number{}, errors.New("too many digits; a number has at most 15")
			}
		}
		return Number{}, errors.New("must be a number written with digits 0-9, such as 10 or 2.5")
	}
	if c != s {
		return Number{}, errors.New("write " + c + " instead")
	}
	return Number{text: c}, nil
}

// String returns the canonical decimal text of n.
func (n Number) String() string {
	if n.text == "" {
		return "0"
	}
	return n.text
}

// IsWhole reports whether n has no digits after the point.
func (n Number) IsWhole() bool { return !strings.Contains(n.text, ".") }

// Int returns n as an int, and whether it is a whole number that fits.
func (n Number) Int() (int, bool) {
	if !n.IsWhole() {
		return 0, false
	}
	v, err := strconv.Atoi(n.String())
	return v, err == nil
}

// Cmp compares n and m exactly: -1 if n < m, 0 if equal, +1 if n > m.
func (n Number) Cmp(m Number) int { return CompareDecimal(n.String(), m.String()) }

// UnmarshalYAML reads a number; the scanner of Parse has already refused
// anything else with a clear message.
func (n *Number) UnmarshalYAML(node ast.Node) error {
	tk := node.GetToken()
	if tk == nil {
		return errors.New("must be a number, such as 10 or 2.5")
	}
	v, err := ParseNumber(tk.Value)
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// MarshalYAML writes n as a plain YAML number.
func (n Number) MarshalYAML() ([]byte, error) { return []byte(n.String()), nil }
