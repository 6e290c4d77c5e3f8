package expr

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzEnvs are answers FuzzParse evaluates every expression against.
var fuzzEnvs = []Env{
	{},
	{Answers: map[string][]string{"n1": {"18"}, "t1": {"가"}, "c1": {"yes"}, "m1": {"a", "", "c"}, "a": {"1e3"}, "b": {"-0"}}, Self: "n1"},
	{Answers: map[string][]string{"n1": {"0"}, "n2": {"-0"}, "year": {"1" + strings.Repeat("0", 400)}, "t1": {""}, "c2": {"03"}}, Self: "t1"},
}

// FuzzParse checks that Parse never panics and fails only with an *Error
// whose column is in the source; and that whatever it accepts has a
// canonical form that parses back to the same expression, can be checked
// and evaluated, and evaluates alike in both forms.
func FuzzParse(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs.Cases {
		if src, err := v.source(); err == nil && len(src) < 512 {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): error %v is a %T, not an *Error", src, err, err)
			}
			if pe.Column < 1 || pe.Column > utf8.RuneCountInString(src)+1 || pe.Msg == "" {
				t.Fatalf("Parse(%q): %v: column outside the source, or no message", src, err)
			}
			return
		}
		s := e.String()
		e2, err := parse(s) // the canonical form may be longer than MaxLength
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", src, s, err)
		}
		if !equal(e.root, e2.root) || e2.String() != s {
			t.Fatalf("Parse(%q) = %q, which parses to %q", src, s, e2)
		}
		if len(s) <= MaxLength {
			if _, err := Parse(s); err != nil {
				t.Fatalf("Parse(%q): %v", s, err)
			}
		}
		if !slices.IsSorted(e.Refs()) || len(slices.Compact(e.Refs())) != len(e.Refs()) {
			t.Fatalf("Parse(%q).Refs() = %q, not sorted and unique", src, e.Refs())
		}
		for _, id := range e.Refs() {
			if !strings.Contains(s, "${"+id+"}") {
				t.Fatalf("Parse(%q).Refs() has %q, not in %q", src, id, s)
			}
		}
		for _, self := range []string{"", "n1", "m1"} {
			if err := e.Check(genSchema, self); err != nil {
				var pe *Error
				if !errors.As(err, &pe) || pe.Column < 1 || pe.Column > utf8.RuneCountInString(src)+1 {
					t.Fatalf("Parse(%q).Check: %v", src, err)
				}
			}
		}
		for _, env := range fuzzEnvs {
			r1, err1 := e.Eval(env)
			r2, err2 := e2.Eval(env)
			if r1 != r2 || err1 != err2 {
				t.Fatalf("%q = %v, %v but its canonical form %q = %v, %v", src, r1, err1, s, r2, err2)
			}
			if (err1 != nil) != (e.UsesSelf() && env.Self == "") {
				t.Fatalf("%q: Eval: %v", src, err1)
			}
		}
	})
}

// FuzzEval generates expressions and answers from the fuzzer's bytes. Every
// generated expression is valid and checks against genSchema; evaluating
// it never fails; not(e) is its negation; a != b is not(a = b); and its
// canonical form evaluates alike.
func FuzzEval(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add([]byte("\x03\x00\x05\x07\x01\x02\x09"), []byte("\x01\x02\x03\x04"))
	f.Add([]byte("\x00\x01\x00\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d"), []byte("\xff\xfe\xfd"))
	f.Fuzz(func(t *testing.T, shape, answers []byte) {
		g := &gen{c: &byteChooser{shape}}
		if len(shape) > 0 && shape[0]%4 == 0 {
			g.self = "n1"
		}
		src := g.cond(4)
		e, err := Parse(src)
		if err != nil {
			t.Fatalf("generated %q: %v", src, err)
		}
		if err := e.Check(genSchema, g.self); err != nil {
			t.Fatalf("generated %q: Check: %v", src, err)
		}
		env := Env{Answers: (&gen{c: &byteChooser{answers}}).answers(), Self: g.self}
		r, err := e.Eval(env)
		if err != nil {
			t.Fatalf("%q: Eval: %v", src, err)
		}
		for _, variant := range []struct {
			src  string
			want bool
		}{
			{"not(" + src + ")", !r},
			{e.String(), r},
			{"(" + src + ") and true()", r},
			{"(" + src + ") or false()", r},
		} {
			v, err := Parse(variant.src)
			if err != nil {
				if len(variant.src) > MaxLength {
					continue
				}
				t.Fatalf("%q: %v", variant.src, err)
			}
			if got, _ := v.Eval(env); got != variant.want {
				t.Fatalf("%q = %v, but %q = %v with %q", src, r, variant.src, got, env.Answers)
			}
		}
		// a != b is not(a = b), whatever a and b are.
		if e.root.op == opEq || e.root.op == opNe {
			flip := *e.root
			flip.op = opEq + opNe - e.root.op
			if evalBool(&flip, &env) == r {
				t.Fatalf("%q: = and != agree with %q", src, env.Answers)
			}
		}
	})
}
