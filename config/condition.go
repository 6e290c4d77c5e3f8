package config

import (
	"encoding/json"

	"github.com/testimony-project/testimony/expr"
)

// Condition is an expression of package expr over the answers to a
// study's questions: a question's or a section's relevance (when it is
// shown), or a question's constraint (what its answer must satisfy, "."
// standing for that answer). A study file writes it as a string:
//
//	relevant: "${phone_use} = 'own' or ${phone_use} = 'borrowed'"
//	constraint: ". >= ${birth_year} + 10"
//
// Parse parses every condition of a study and checks it against the
// questions before it (see the package documentation); [Condition.Holds]
// and [Condition.Accepts] evaluate one. A nil *Condition is no condition:
// it holds and accepts everything. Conditions are immutable and safe for
// concurrent use.
type Condition struct {
	src string
	e   *expr.Expr
	// err is why src does not parse, for Parse to report with the
	// file's line; e is nil then.
	err error
}

// NewCondition parses src as a condition, for a study built in code. It
// does not check it against the study's questions: Parse does that for
// study files.
func NewCondition(src string) (*Condition, error) {
	c := newCondition(src)
	if c.err != nil {
		return nil, c.err
	}
	return c, nil
}

func newCondition(src string) *Condition {
	c := &Condition{src: src}
	c.e, c.err = expr.Parse(src)
	return c
}

// String returns the condition as the study file writes it.
func (c *Condition) String() string {
	if c == nil {
		return ""
	}
	return c.src
}

// Expr returns the parsed expression, or nil for a nil Condition.
func (c *Condition) Expr() *expr.Expr {
	if c == nil {
		return nil
	}
	return c.e
}

// Refs returns the ids of the questions c reads with ${…}, sorted, each
// once. A nil Condition reads none.
func (c *Condition) Refs() []string {
	if c == nil || c.e == nil {
		return nil
	}
	return c.e.Refs()
}

// Holds evaluates c as a relevance condition on answers (question id →
// values), which should hold only the answers to the questions that are
// shown: an answer to a question that is not shown reads as empty, as in
// XLSForm. A nil Condition holds; a condition that did not parse (only
// possible for one not made by Parse or NewCondition) does not.
func (c *Condition) Holds(answers map[string][]string) bool {
	if c == nil {
		return true
	}
	if c.e == nil {
		return false
	}
	ok, err := c.e.Eval(expr.Env{Answers: answers})
	return err == nil && ok
}

// Accepts evaluates c as the constraint of question self, whose answer
// answers[self] holds and "." stands for; the other answers are read as
// by Holds. A nil Condition accepts every answer.
func (c *Condition) Accepts(self string, answers map[string][]string) bool {
	if c == nil {
		return true
	}
	if c.e == nil || self == "" {
		return false
	}
	ok, err := c.e.Eval(expr.Env{Answers: answers, Self: self})
	return err == nil && ok
}

// UnmarshalYAML reads a condition from a string. It never fails on the
// expression: Parse reports a condition that does not parse, with its
// place in the file.
func (c *Condition) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	*c = *newCondition(s)
	return nil
}

// MarshalYAML writes the condition as its source.
func (c *Condition) MarshalYAML() (any, error) { return c.String(), nil }

// MarshalJSON writes the condition as a JSON string of its source.
func (c *Condition) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// UnmarshalJSON reads a condition from a JSON string, which must parse.
func (c *Condition) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	nc, err := NewCondition(s)
	if err != nil {
		return err
	}
	*c = *nc
	return nil
}
