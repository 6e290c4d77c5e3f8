package expr

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// vectors is testdata/vectors.json, the cases Go and JavaScript share.
type vectors struct {
	Schemas map[string]map[string]struct {
		Kind   string   `json:"kind"`
		Values []string `json:"values"`
	} `json:"schemas"`
	Cases []vector `json:"cases"`
}

type vector struct {
	Expr   json.RawMessage `json:"expr"`
	Error  *string         `json:"error"`
	String *string         `json:"string"`
	Refs   []string        `json:"refs"`
	Schema string          `json:"schema"`
	Self   string          `json:"self"`
	Check  *string         `json:"check"`
	Evals  [][2]json.RawMessage
}

func (v *vector) UnmarshalJSON(b []byte) error {
	type plain vector
	var p struct {
		plain
		Evals [][2]json.RawMessage `json:"evals"`
		Error json.RawMessage      `json:"error"`
		Check json.RawMessage      `json:"check"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*v = vector(p.plain)
	v.Evals = p.Evals
	// "error": null and "check": null mean "must fail" without a message
	// yet: they are errors in the vectors, reported by the test.
	for _, f := range []struct {
		raw json.RawMessage
		dst **string
	}{{p.Error, &v.Error}, {p.Check, &v.Check}} {
		switch {
		case f.raw == nil:
		case string(f.raw) == "null":
			s := "\x00"
			*f.dst = &s
		default:
			var s string
			if err := json.Unmarshal(f.raw, &s); err != nil {
				return err
			}
			*f.dst = &s
		}
	}
	return nil
}

// source expands a vector's expr: a string, or [piece, count] pairs.
func (v *vector) source() (string, error) {
	var s string
	if err := json.Unmarshal(v.Expr, &s); err == nil {
		return s, nil
	}
	var parts [][2]any
	if err := json.Unmarshal(v.Expr, &parts); err != nil {
		return "", fmt.Errorf("expr is neither a string nor [piece, count] pairs: %s", v.Expr)
	}
	var b strings.Builder
	for _, p := range parts {
		piece, ok1 := p[0].(string)
		n, ok2 := p[1].(float64)
		if !ok1 || !ok2 {
			return "", fmt.Errorf("bad piece %v", p)
		}
		b.WriteString(strings.Repeat(piece, int(n)))
	}
	return b.String(), nil
}

func loadVectors(t testing.TB) *vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs vectors
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("testdata/vectors.json: %v", err)
	}
	return &vs
}

func (vs *vectors) schema(t testing.TB, name string) Schema {
	s, ok := vs.Schemas[name]
	if !ok {
		t.Fatalf("no schema %q", name)
	}
	kinds := map[string]Kind{"text": Text, "number": Number, "choice": Choice, "multi": Multi}
	out := Schema{}
	for id, q := range s {
		out[id] = Question{Kind: kinds[q.Kind], Values: q.Values}
	}
	return out
}

func short(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%.60q…(%d bytes)", s, len(s))
	}
	return fmt.Sprintf("%q", s)
}

// TestVectors runs every case of testdata/vectors.json.
func TestVectors(t *testing.T) {
	vs := loadVectors(t)
	var parsed, checked, evals int
	for i, v := range vs.Cases {
		src, err := v.source()
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		name := fmt.Sprintf("case %d %s", i, short(src))
		e, err := Parse(src)
		if v.Error != nil {
			if err == nil {
				t.Errorf("%s: Parse succeeded (%s), want error %q", name, e, *v.Error)
			} else if err.Error() != *v.Error {
				t.Errorf("%s: Parse error\n  got  %q\n  want %q", name, err, *v.Error)
			} else if _, ok := err.(*Error); !ok {
				t.Errorf("%s: error is a %T, not an *Error", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		parsed++
		s := e.String()
		if v.String != nil && s != *v.String {
			t.Errorf("%s: String() = %q, want %q", name, s, *v.String)
		}
		if e2, err := Parse(s); err != nil || !equal(e.root, e2.root) {
			t.Errorf("%s: canonical form %q does not parse back to the same expression: %v", name, s, err)
		}
		if v.Refs != nil && !reflect.DeepEqual(e.Refs(), v.Refs) && !(len(v.Refs) == 0 && len(e.Refs()) == 0) {
			t.Errorf("%s: Refs() = %q, want %q", name, e.Refs(), v.Refs)
		}
		if v.Schema != "" {
			err := e.Check(vs.schema(t, v.Schema), v.Self)
			switch {
			case v.Check == nil && err != nil:
				t.Errorf("%s: Check: %v", name, err)
			case v.Check != nil && err == nil:
				t.Errorf("%s: Check succeeded, want %q", name, *v.Check)
			case v.Check != nil && err.Error() != *v.Check:
				t.Errorf("%s: Check error\n  got  %q\n  want %q", name, err, *v.Check)
			}
			if v.Check != nil {
				continue
			}
			checked++
		}
		for j, ev := range v.Evals {
			var answers map[string][]string
			var want bool
			if err := json.Unmarshal(ev[0], &answers); err != nil {
				t.Fatalf("%s: eval %d: %v", name, j, err)
			}
			if err := json.Unmarshal(ev[1], &want); err != nil {
				t.Fatalf("%s: eval %d: %v", name, j, err)
			}
			got, err := e.Eval(Env{Answers: answers, Self: v.Self})
			if err != nil || got != want {
				t.Errorf("%s: eval %d with %q = %v, %v; want %v", name, j, answers, got, err, want)
			}
			evals++
		}
	}
	t.Logf("%d cases: %d parsed, %d checked, %d evaluations", len(vs.Cases), parsed, checked, evals)
	if len(vs.Cases) < 300 || evals < 300 {
		t.Errorf("only %d cases and %d evaluations: the vectors are too thin", len(vs.Cases), evals)
	}
}
