package expr

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

var study = Schema{
	"birth_year": {Kind: Number},
	"left_year":  {Kind: Number},
	"phone_use":  {Kind: Choice, Values: []string{"own", "borrowed", "never"}},
	"activities": {Kind: Multi, Values: []string{"calls", "texts", "internet"}},
	"consent":    {Kind: Choice, Values: []string{"yes"}},
	"name":       {Kind: Text},
}

func Example() {
	e, err := Parse("${left_year} - ${birth_year} >= 18 and selected(${activities}, 'internet')")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := e.Check(study, ""); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Refs())
	for _, answers := range []map[string][]string{
		{"birth_year": {"1990"}, "left_year": {"2010"}, "activities": {"calls", "internet"}},
		{"birth_year": {"1990"}, "left_year": {"2005"}, "activities": {"internet"}},
		{"activities": {"internet"}},
	} {
		ok, _ := e.Eval(Env{Answers: answers})
		fmt.Println(ok)
	}
	// Output:
	// [activities birth_year left_year]
	// true
	// false
	// false
}

func ExampleExpr_Check() {
	for _, src := range []string{
		"${phone_use} = 'maybe'",
		"${phone_use} = 1",
		"${left_year} = '2000'",
		"selected(${activities}, 'tv')",
		"${activities} = 'calls'",
		"${Name} != ''",
		". = 'yes'",
	} {
		e, err := Parse(src)
		if err == nil {
			err = e.Check(study, "")
		}
		fmt.Println(err)
	}
	// Output:
	// column 16: 'maybe' is not a choice of ${phone_use}; its choices are own, borrowed, never
	// column 16: ${phone_use} is a choice question and its values are texts: quote the value, '1'
	// column 16: ${left_year} is a number question: write 2000, not '2000'
	// column 25: 'tv' is not a choice of ${activities}; its choices are calls, texts, internet
	// column 1: ${activities} can hold several choices: test them with selected(${activities}, 'value') or count-selected(${activities})
	// column 1: there is no question Name (did you mean ${name}?)
	// column 1: . stands for the answer being checked and can only be used in a constraint: refer to questions as ${name}
}

func ExampleExpr_Eval_constraint() {
	e, _ := Parse("string-length(.) <= 5")
	for _, name := range []string{"다섯글자요", "여섯글자예요"} {
		ok, _ := e.Eval(Env{Answers: map[string][]string{"name": {name}}, Self: "name"})
		fmt.Println(name, ok)
	}
	// Output:
	// 다섯글자요 true
	// 여섯글자예요 false
}

func ExampleParse_errors() {
	for _, src := range []string{
		"${age} >= 18 AND ${age} < 65",
		"${consent} == 'yes'",
		"regex(., '^[0-9]+$')",
		"${name} = “Kim”",
		"${age}",
	} {
		_, err := Parse(src)
		fmt.Println(err)
	}
	// Output:
	// column 14: write and in lowercase
	// column 12: write = instead of == to test equality
	// column 1: regex() is not supported: regular expressions do not behave alike in every browser and on the server; bound answers with string-length() or a number question instead
	// column 11: unexpected character U+201C (“): write texts between straight quotes ' or " (a spreadsheet may have curled them)
	// column 1: ${age} is an answer, not a condition: write ${age} != '' to test that it was answered
}

func TestErrorType(t *testing.T) {
	_, err := Parse("${a} = = 1")
	var e *Error
	if !errors.As(err, &e) || e.Column != 8 || e.Msg != "expected a value, found =" {
		t.Fatalf("Parse error = %#v", err)
	}
	x, _ := Parse("${a} = 1")
	if err := x.Check(Schema{}, ""); !errors.As(err, &e) || e.Column != 1 {
		t.Fatalf("Check error = %#v", err)
	}
}

func TestInvalidUTF8(t *testing.T) {
	for src, col := range map[string]int{"\xff = 1": 1, "'가\xc0' = ''": 3, "1 = 1 and '\xed\xa0\x80' = ''": 12} {
		_, err := Parse(src)
		var e *Error
		if !errors.As(err, &e) || e.Column != col || e.Msg != "the expression is not valid UTF-8" {
			t.Errorf("Parse(%q) = %v, want column %d: not valid UTF-8", src, err, col)
		}
	}
}

func TestRefsIsACopy(t *testing.T) {
	e, _ := Parse("${b} = '' or ${a} = '' or ${b} = ''")
	r := e.Refs()
	r[0] = "x"
	if got := e.Refs(); got[0] != "a" || len(got) != 2 {
		t.Fatalf("Refs() = %q after changing an earlier result", got)
	}
}

func TestNoSelf(t *testing.T) {
	e, _ := Parse(". >= 0")
	if !e.UsesSelf() {
		t.Fatal("UsesSelf() = false")
	}
	if _, err := e.Eval(Env{Answers: map[string][]string{"a": {"1"}}}); err != ErrNoSelf {
		t.Fatalf("Eval without Self: %v, want ErrNoSelf", err)
	}
	if ok, err := e.Eval(Env{Answers: map[string][]string{"a": {"1"}}, Self: "a"}); !ok || err != nil {
		t.Fatalf("Eval = %v, %v", ok, err)
	}
}

// TestConcurrentEval evaluates one expression from many goroutines (run
// with -race): an Expr is immutable.
func TestConcurrentEval(t *testing.T) {
	e, _ := Parse(typical)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				year := fmt.Sprint(1990 + (i+j)%40)
				want := (i+j)%40 <= 2
				ok, _ := e.Eval(Env{Answers: map[string][]string{"left_year": {"2010"}, "birth_year": {year}, "phone_use": {"own"}}})
				if ok != want {
					t.Errorf("born %s: %v", year, ok)
				}
			}
		}()
	}
	wg.Wait()
}

// TestLimits checks the limits at their edges, in bytes and in depth.
func TestLimits(t *testing.T) {
	long := "${name} = '" + strings.Repeat("x", MaxLength-12) + "'"
	if _, err := Parse(long); err != nil {
		t.Errorf("%d bytes: %v", len(long), err)
	}
	if _, err := Parse(long + " "); err == nil {
		t.Errorf("%d bytes parsed", len(long)+1)
	}
	nested := strings.Repeat("(", MaxDepth) + "1 = 1" + strings.Repeat(")", MaxDepth)
	if _, err := Parse(nested); err != nil {
		t.Errorf("%d parentheses: %v", MaxDepth, err)
	}
	if _, err := Parse("(" + nested + ")"); err == nil {
		t.Errorf("%d parentheses parsed", MaxDepth+1)
	}
	// A chain of or is one level however long.
	chain := strings.Repeat("${a} = 'x' or ", 290) + "${a} = 'y'"
	e, err := Parse(chain)
	if err != nil || e.root.depth != 3 || len(e.root.args) != 291 {
		t.Fatalf("a chain of 291 or: %v", err)
	}
}

const typical = "${left_year} - ${birth_year} >= 18 and (selected(${phone_use}, 'own') or ${phone_use} = 'borrowed')"

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(typical); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	e, _ := Parse(typical)
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Check(study, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	e, _ := Parse(typical)
	env := Env{Answers: map[string][]string{"left_year": {"2010"}, "birth_year": {"1990"}, "phone_use": {"borrowed"}}}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := e.Eval(env); !ok {
			b.Fatal("false")
		}
	}
}
