package response

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
)

// lifeForm answers rich.yaml so that the section "life" is shown: online,
// with a phone.
func lifeForm(kv ...string) url.Values {
	f := with(richForm(), "q.tools", "phone")
	for i := 0; i < len(kv); i += 2 {
		f = set(f, kv[i], kv[i+1])
	}
	return f
}

// TestCompoundRelevance checks conditions with and, or, not, arithmetic
// on years and decimals, selected and count-selected, on a section and
// on questions, on both paths (FromForm and Validate).
func TestCompoundRelevance(t *testing.T) {
	s := richStudy(t)
	ids := func(shown []bool) string {
		var out []string
		for i, ok := range shown {
			if ok && s.Questions[i].Answerable() {
				out = append(out, s.Questions[i].ID)
			}
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct {
		name    string
		answers map[string][]string
		want    string
	}{
		// life: not(selected(${tools}, 'none')) and (${online} = 'yes' or ${hours} >= 1.5)
		{"nothing answered: only what has no condition",
			map[string][]string{}, "hours tools online price quote agree"},
		{"online: both sections",
			map[string][]string{"online": {"yes"}}, "hours tools online where constructor born left price quote agree"},
		{"offline, 1.5 hours a day: the section by its other branch",
			map[string][]string{"online": {"no"}, "hours": {"1.5"}}, "hours tools online born left price quote agree"},
		{"offline, 1.4 hours a day: not",
			map[string][]string{"online": {"no"}, "hours": {"1.4"}}, "hours tools online price quote agree"},
		{"an hour count that is no number reads as NaN: not",
			map[string][]string{"online": {"no"}, "hours": {"x"}}, "hours tools online price quote agree"},
		{"none of these tools: not(selected(…)) hides the section",
			map[string][]string{"online": {"yes"}, "tools": {"none"}}, "hours tools online where constructor price quote agree"},
		{"phone_years: a phone and 18 years between birth and leaving",
			map[string][]string{"online": {"yes"}, "tools": {"phone"}, "born": {"1970"}, "left": {"1988"}},
			"hours tools online where constructor born left phone_years price quote agree"},
		{"phone_years: 17 years is not enough",
			map[string][]string{"online": {"yes"}, "tools": {"phone"}, "born": {"1970"}, "left": {"1987"}},
			"hours tools online where constructor born left price quote agree"},
		{"phone_years: no phone",
			map[string][]string{"online": {"yes"}, "tools": {"computer"}, "born": {"1970"}, "left": {"1990"}},
			"hours tools online where constructor born left price quote agree"},
		{"where_other: selected(${where}, 'work') with another choice",
			map[string][]string{"online": {"yes"}, "where": {"library", "work"}},
			"hours tools online where where_other constructor born left price quote agree"},
		// An answer to a question not shown reads as empty: where is in
		// the hidden section, so where_other is hidden too; born and left
		// are hidden with their section, so phone_years reads them empty.
		{"answers to hidden questions read as empty",
			map[string][]string{"online": {"no"}, "where": {"work"}, "tools": {"phone"}, "born": {"1950"}, "left": {"2000"}},
			"hours tools online price quote agree"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(Shown(s, tt.answers))
			if got != tt.want {
				t.Errorf("shown: %s\nwant:  %s", got, tt.want)
			}
			for i := range s.Questions {
				if Relevant(s, &s.Questions[i], tt.answers) != Shown(s, tt.answers)[i] {
					t.Errorf("Relevant(%s) disagrees with Shown", s.Questions[i].ID)
				}
			}
		})
	}

	// FromForm keeps only answers to questions shown, decided in order on
	// the answers kept: the same as Shown on what it keeps.
	r, ps := mustFromForm(t, s, lifeForm("q.born", "1970", "q.left", "1988", "q.phone_years", "8", "q.online", "no", "q.hours", "2", "q.where", "work"))
	if ps != nil {
		t.Fatalf("problems %v", ps)
	}
	if want := map[string][]string{"online": {"no"}, "hours": {"2"}, "tools": {"phone"}, "born": {"1970"}, "left": {"1988"}, "phone_years": {"8"}, "agree": {"yes"}}; !reflect.DeepEqual(r.Answers, want) {
		t.Errorf("answers %v, want %v", r.Answers, want)
	}
}

// TestConstraints checks that a constraint is checked when its question
// is shown and answered with a well-formed answer, on the answers to the
// questions shown, and reports the study's message.
func TestConstraints(t *testing.T) {
	s := richStudy(t)
	msg := s.Question("left").ConstraintMessage
	if msg.IsZero() {
		t.Fatal("rich.yaml: left has no constraint_message")
	}
	for _, tt := range []struct {
		name string
		form url.Values
		want Problems
	}{
		{"left ten years after birth", lifeForm("q.born", "1970", "q.left", "1980"), nil},
		{"left nine years after birth", lifeForm("q.born", "1970", "q.left", "1979"), Problems{"left": {Code: Constraint, Message: msg}}},
		{"birth year not given: the constraint allows it", lifeForm("q.left", "1979"), nil},
		{"a malformed answer: its own problem, not the constraint", lifeForm("q.born", "1970", "q.left", "197"), Problems{"left": {Code: TooSmall, Limit: "1950"}}},
		{"a constraint reads answers to hidden questions as empty", lifeForm("q.tools", "none", "q.born", "1970", "q.left", "1979"), nil},
		{"phone_years within left - born - 10, even", lifeForm("q.born", "1960", "q.left", "1990", "q.phone_years", "20"), nil},
		{"phone_years odd: the default message", lifeForm("q.born", "1960", "q.left", "1990", "q.phone_years", "19"), Problems{"phone_years": {Code: Constraint}}},
		{"phone_years too many", lifeForm("q.born", "1960", "q.left", "1990", "q.phone_years", "22"), Problems{"phone_years": {Code: Constraint}}},
		{"price in quarters", lifeForm("q.price", "-10.25"), nil},
		{"price not in quarters: floating point as in JavaScript", lifeForm("q.price", "0.1"), Problems{"price": {Code: Constraint, Message: s.Question("price").ConstraintMessage}}},
		{"price out of bounds: the bound, not the constraint", lifeForm("q.price", "1000.3"), Problems{"price": {Code: TooLarge, Limit: "1000.25"}}},
		{"a text constraint on code points", lifeForm("q.where", "work", "q.where_other", "공장"), Problems{"where_other": {Code: Constraint}}},
		{"a text constraint met", lifeForm("q.where", "work", "q.where_other", "큰 공장"), nil},
		{"an unanswered question is not constrained", lifeForm("q.where", "work"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, ps := mustFromForm(t, s, tt.form)
			if !reflect.DeepEqual(ps, tt.want) {
				t.Fatalf("problems %v, want %v", ps, tt.want)
			}
			// The researcher's check finds the same in the plaintext.
			pt, err := Marshal(s, r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Unmarshal(s, pt)
			var ups Problems
			if tt.want == nil && err != nil || tt.want != nil && (!errors.As(err, &ups) || !reflect.DeepEqual(ups, tt.want)) {
				t.Errorf("Unmarshal: %v, want %v", err, tt.want)
			}
		})
	}
	// A constraint on a question that is not shown is not checked: the
	// answer is refused as not relevant.
	r := &Response{Language: "en", Answers: map[string][]string{"online": {"no"}, "tools": {"none"}, "left": {"1900"}, "agree": {"yes"}}}
	if ps := Validate(s, r); !reflect.DeepEqual(ps, Problems{"left": {Code: NotRelevant}}) {
		t.Errorf("Validate = %v", ps)
	}
	// The message, in the study's default language, is in the problem's
	// text (the researcher's quarantine shows it).
	p := Problem{Code: Constraint, Message: msg}
	if got := p.String(); got != "constraint (At least ten years after the year you were born)" {
		t.Errorf("String = %q", got)
	}
	if got := (Problem{Code: Constraint}).String(); got != "constraint" {
		t.Errorf("String = %q", got)
	}
}

// TestConditionsOfStudiesInCode checks studies built in code, which are
// not checked: a condition on a later question reads it as empty, and a
// condition on the question itself too.
func TestConditionsOfStudiesInCode(t *testing.T) {
	s := &config.Study{ID: "code-study", Languages: []string{"ko"}, Questions: []config.Question{
		{ID: "a", Type: config.Integer, Relevant: cond("${b} = ''")},
		{ID: "b", Type: config.Integer, Relevant: cond("${b} = '' and ${a} >= 1"), Constraint: cond(". > ${a}")},
	}}
	got := Shown(s, map[string][]string{"a": {"1"}, "b": {"5"}})
	if !reflect.DeepEqual(got, []bool{true, true}) {
		t.Errorf("Shown = %v", got)
	}
	if ps := Validate(s, &Response{Answers: map[string][]string{"a": {"2"}, "b": {"1"}}}); !reflect.DeepEqual(ps, Problems{"b": {Code: Constraint}}) {
		t.Errorf("Validate = %v", ps)
	}
}

// chainStudy is n questions, each shown if the one before it was answered
// with a number above the question's position, and constrained by it.
func chainStudy(n int) *config.Study {
	s := &config.Study{ID: "chain-study", Languages: []string{"ko"}}
	for i := range n {
		q := config.Question{ID: fmt.Sprintf("q%d", i), Type: config.Integer}
		if i > 0 {
			q.Relevant = cond(fmt.Sprintf("${q%d} >= 0 or ${q%d} = ''", i-1, i-1))
			q.Constraint = cond(fmt.Sprintf(". >= ${q%d}", i-1))
		}
		s.Questions = append(s.Questions, q)
	}
	return s
}

// BenchmarkValidateChain validates answers to the longest study (500
// questions), every question conditional on the one before: the
// evaluation is linear in the number of questions.
func BenchmarkValidateChain(b *testing.B) {
	for _, n := range []int{50, 500} {
		s := chainStudy(n)
		r := &Response{Answers: map[string][]string{}}
		for i := range n {
			r.Answers[fmt.Sprintf("q%d", i)] = []string{fmt.Sprint(i)}
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if ps := Validate(s, r); ps != nil {
					b.Fatal(ps)
				}
			}
		})
	}
}
