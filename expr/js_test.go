package expr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func nodeJS(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JavaScript evaluator's tests need Node.js 20 or later (apt-get install nodejs)")
	}
	return p
}

// TestNodeVectors runs web/test/expr.test.js, the JavaScript side of
// testdata/vectors.json. (intake's TestNodeTests runs it too, with every
// other browser test.)
func TestNodeVectors(t *testing.T) {
	out, err := exec.Command(nodeJS(t), "--test", "../web/test/expr.test.js").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test web/test/expr.test.js: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^# pass (\d+)$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("cannot read node's summary:\n%s", out)
	}
	t.Logf("node --test: %s tests passed", m[1])
}

// TestBrowserCodeIsInert checks that expr.js never evaluates code, keeps
// nothing and sends nothing.
func TestBrowserCodeIsInert(t *testing.T) {
	b, err := os.ReadFile("../intake/static/expr.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"eval(", "Function(", "new RegExp", "setTimeout", "setInterval", "import(", "require(",
		"localStorage", "sessionStorage", "indexedDB", "cookie", "fetch(", "XMLHttpRequest", "WebSocket", "sendBeacon",
		"innerHTML", "document.", "window.", "Math.random", "console.", "=>", "let ", "const ", "`"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("intake/static/expr.js uses %q", bad)
		}
	}
}

type jsCase struct {
	Src     string                `json:"src"`
	Self    string                `json:"self"`
	Answers []map[string][]string `json:"answers"`
}

type jsResult struct {
	Error   *string  `json:"error"`
	String  *string  `json:"string"`
	Refs    []string `json:"refs"`
	Check   *string  `json:"check"`
	Results []bool   `json:"results"`
	NoSelf  bool     `json:"noSelf"`
}

// TestJSAgreesWithGo generates thousands of expressions (valid ones, exact
// values of number expressions, damaged ones) with answers, and checks
// that intake/static/expr.js parses, checks and evaluates each exactly as
// package expr does: the same error messages, canonical forms, refs and
// results. It also runs every vector and every saved fuzz input.
func TestJSAgreesWithGo(t *testing.T) {
	n := nodeJS(t)
	count := 3000
	if testing.Short() {
		count = 300
	}
	g := &gen{c: randChooser{rand.New(rand.NewPCG(1, 2))}}
	var cases []jsCase
	add := func(src, self string) {
		var as []map[string][]string
		for range 4 {
			as = append(as, g.answers())
		}
		cases = append(cases, jsCase{Src: src, Self: self, Answers: as})
	}
	exact := 0
	for i := range count {
		g.self = ""
		if i%5 == 0 {
			g.self = g.pick("n1", "t1", "c1", "m1")
		}
		src := g.cond(1 + i%5)
		if e, err := Parse(src); err != nil {
			t.Fatalf("generated %q: %v", src, err)
		} else if err := e.Check(genSchema, g.self); err != nil {
			t.Fatalf("generated %q: Check: %v", src, err)
		}
		add(src, g.self)
		add(g.mutate(src), g.self)
		// The exact value of a number expression: Go's, written as a
		// literal, must equal JavaScript's.
		num := g.num(1 + i%4)
		if e, err := Parse("(" + num + ") = 0"); err == nil {
			as := g.answers()
			v := evalNum(e.root.args[0], &Env{Answers: as, Self: "n1"})
			lit := numberLiteral(v)
			for _, s := range []string{"(" + num + ") = " + lit, "1 div (" + num + ") = 1 div (" + lit + ")"} {
				if e, err := Parse(s); err == nil {
					if ok, _ := e.Eval(Env{Answers: as, Self: "n1"}); ok != (v == v) {
						t.Fatalf("%s is %v in Go, but %s = %s is %v", num, v, num, lit, ok)
					}
					cases = append(cases, jsCase{Src: s, Self: "n1", Answers: []map[string][]string{as}})
					exact++
				}
			}
		}
	}
	vs := loadVectors(t)
	for _, v := range vs.Cases {
		src, _ := v.source()
		add(src, v.Self)
	}
	corpus, _ := filepath.Glob("testdata/fuzz/*/*")
	for _, f := range corpus {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := corpusString(b); ok && !strings.ContainsRune(s, 0xFFFD) && strings.ToValidUTF8(s, "\uFFFD") == s {
			add(s, "")
		}
	}

	in, _ := json.Marshal(map[string]any{"schema": jsSchema(genSchema), "cases": cases})
	cmd := exec.Command(n, "testdata/agree.js")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node testdata/agree.js: %v\n%s", err, stderr.Bytes())
	}
	var got []jsResult
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node answered %d cases, want %d (%v)", len(got), len(cases), err)
	}
	var valid, invalid, results, fails int
	for i, c := range cases {
		want := goResult(c)
		if want.Error == nil {
			valid++
		} else {
			invalid++
		}
		results += len(want.Results)
		if !reflect.DeepEqual(got[i], want) {
			fails++
			if fails <= 20 {
				t.Errorf("case %d %q (self %q):\n  JavaScript %s\n  Go         %s", i, c.Src, c.Self, js(got[i]), js(want))
			}
		}
	}
	t.Logf("%d expressions (%d valid, %d invalid, %d exact numbers), %d evaluations: %d disagreements", len(cases), valid, invalid, exact, results, fails)
	if valid < count || invalid < count/4 || exact < count/2 {
		t.Errorf("the generated cases are too thin: %d valid, %d invalid, %d exact", valid, invalid, exact)
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func goResult(c jsCase) jsResult {
	var r jsResult
	e, err := Parse(c.Src)
	if err != nil {
		s := err.Error()
		r.Error = &s
		return r
	}
	s := e.String()
	r.String = &s
	r.Refs = e.Refs()
	if r.Refs == nil {
		r.Refs = []string{}
	}
	if err := e.Check(genSchema, c.Self); err != nil {
		s := err.Error()
		r.Check = &s
	}
	r.Results = []bool{}
	for _, a := range c.Answers {
		ok, err := e.Eval(Env{Answers: a, Self: c.Self})
		if err == ErrNoSelf {
			r.NoSelf = true
			break
		} else if err != nil {
			panic(fmt.Sprintf("%q: %v", c.Src, err))
		}
		r.Results = append(r.Results, ok)
	}
	return r
}

func jsSchema(s Schema) map[string]any {
	out := map[string]any{}
	for id, q := range s {
		out[id] = map[string]any{"kind": q.Kind.String(), "values": q.Values}
	}
	return out
}

// corpusString reads a saved fuzz input of one string argument.
func corpusString(b []byte) (string, bool) {
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "go test fuzz v1") || !strings.HasPrefix(lines[1], "string(") {
		return "", false
	}
	var s string
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"), "%q", &s); err != nil {
		return "", false
	}
	return s, true
}
