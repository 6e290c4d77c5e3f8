package expr

import "strconv"

// Kind is the kind of answer a question takes, as far as expressions are
// concerned.
type Kind uint8

// Kinds of questions.
const (
	// Text answers are texts: they are compared with = and != only.
	Text Kind = iota + 1
	// Number answers are numbers (integers, decimals, years).
	Number
	// Choice answers are one of Values.
	Choice
	// Multi answers are any number of Values.
	Multi
)

func (k Kind) String() string {
	switch k {
	case Text:
		return "text"
	case Number:
		return "number"
	case Choice:
		return "choice"
	case Multi:
		return "multi"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// phrase is how messages name a question of kind k.
func (k Kind) phrase() string {
	switch k {
	case Text:
		return "a text question"
	case Number:
		return "a number question"
	case Choice:
		return "a choice question"
	case Multi:
		return "a multiple-choice question"
	}
	return "a question of unknown kind"
}

// Question is what [Expr.Check] knows of a question.
type Question struct {
	Kind Kind
	// Values are the choice values of a Choice or Multi question.
	Values []string
}

// Schema maps question ids to questions.
type Schema map[string]Question

// Check checks e against the questions of a study: that every question it
// refers to exists, that choice values it names are choices of their
// question, and that it compares and computes with answers of the right
// kinds (see the package documentation). self is the id of the question
// whose constraint e is, which "." stands for; it is "" for a relevance
// condition, where "." is an error. The error, if any, is an *[Error]
// naming the first problem in the source.
func (e *Expr) Check(s Schema, self string) error {
	if self != "" {
		if _, ok := s[self]; !ok {
			return errAt(1, "the question being checked, "+show(self)+", is not in the schema")
		}
	}
	c := &checker{s: s, self: self}
	return c.check(e.root)
}

type checker struct {
	s    Schema
	self string
}

// kind is the kind of the question an answer node refers to, or 0 if n is
// not an answer.
func (c *checker) kind(n *node) Kind {
	switch n.op {
	case opRef:
		return c.s[n.text].Kind
	case opSelf:
		return c.s[c.self].Kind
	}
	return 0
}

func (c *checker) question(n *node) Question {
	if n.op == opSelf {
		return c.s[c.self]
	}
	return c.s[n.text]
}

func (c *checker) check(n *node) error {
	for _, a := range n.args {
		if err := c.check(a); err != nil {
			return err
		}
	}
	switch n.op {
	case opRef:
		q, ok := c.s[n.text]
		if !ok {
			msg := "there is no question " + show(n.text)
			if alt := c.similar(n.text); alt != "" {
				msg += " (did you mean ${" + alt + "}?)"
			}
			return errAt(n.col, msg)
		}
		if q.Kind < Text || q.Kind > Multi {
			return errAt(n.col, "question "+show(n.text)+" has no kind in the schema")
		}
	case opSelf:
		if c.self == "" {
			return errAt(n.col, ". stands for the answer being checked and can only be used in a constraint: refer to questions as ${name}")
		}
	case opEq, opNe:
		return c.comparison(n)
	case opLt, opLe, opGt, opGe, opAdd, opSub, opMul, opDiv, opMod, opNeg:
		for _, a := range n.args {
			if err := c.number(a); err != nil {
				return err
			}
		}
	case opCall:
		return c.call(n)
	}
	return nil
}

// similar returns a question id that differs from id only in case, if
// there is one (the smallest, to be deterministic).
func (c *checker) similar(id string) string {
	best := ""
	for k := range c.s {
		if asciiLower(k) == asciiLower(id) && (best == "" || k < best) {
			best = k
		}
	}
	return best
}

// number checks an operand used as a number.
func (c *checker) number(n *node) error {
	r := refText(n)
	switch c.kind(n) {
	case Text:
		return errAt(n.col, r+" is a text question, not a number")
	case Choice:
		return errAt(n.col, r+" is a choice question and its values are texts: use number("+r+") if they are numbers")
	case Multi:
		return errAt(n.col, r+" can hold several choices: count them with count-selected("+r+")")
	}
	return nil
}

func (c *checker) comparison(n *node) error {
	l, r := n.args[0], n.args[1]
	for _, a := range []*node{l, r} {
		other := r
		if a == r {
			other = l
		}
		if c.kind(a) == Multi && !(other.op == opStr && other.text == "") {
			ra := refText(a)
			return errAt(a.col, ra+" can hold several choices: test them with selected("+ra+", 'value') or count-selected("+ra+")")
		}
	}
	if err := c.compare(n, l, r); err != nil {
		return err
	}
	return c.compare(n, r, l)
}

// compare checks a, an operand of the comparison n, against the other
// operand b.
func (c *checker) compare(n, a, b *node) error {
	ra := refText(a)
	switch c.kind(a) {
	case Number:
		switch {
		case b.op == opStr && b.text != "":
			if _, ok := numeral(b.text); ok {
				return errAt(b.col, ra+" is a number question: write "+show(b.text)+", not "+lit(b.text))
			}
			return errAt(b.col, ra+" is a number question: compare it with a number, not with "+lit(b.text))
		case c.kind(b) == Number:
			return errAt(n.col, ra+" and "+refText(b)+" are number questions, compared as texts: compare them as numbers with number("+ra+") "+opText[n.op]+" "+refText(b))
		case c.kind(b) != 0:
			return errAt(n.col, "cannot compare "+ra+", "+Number.phrase()+", with "+refText(b)+", "+c.kind(b).phrase())
		}
	case Choice:
		switch {
		case b.op == opStr && b.text != "":
			q := c.question(a)
			if !contains(q.Values, b.text) {
				return errAt(b.col, notAChoice(b.text, ra, q.Values))
			}
		case b.typ == tNum && b.op == opNum:
			return errAt(b.col, ra+" is a choice question and its values are texts: quote the value, '"+b.text+"'")
		case b.typ == tNum:
			return errAt(a.col, ra+" is a choice question and its values are texts: use number("+ra+") if they are numbers")
		}
	case Text:
		if b.typ == tNum {
			return errAt(a.col, ra+" is a text question: compare it with a text in quotes, not with a number")
		}
	}
	return nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func notAChoice(v, ref string, values []string) string {
	msg := lit(v) + " is not a choice of " + ref
	if len(values) == 0 {
		return msg + ", which has no choices"
	}
	msg += "; its choices are "
	for i, x := range values {
		if i == 10 {
			msg += ", …"
			break
		}
		if i > 0 {
			msg += ", "
		}
		msg += show(x)
	}
	return msg
}

func (c *checker) call(n *node) error {
	if len(n.args) == 0 || n.args[0].typ != tAns {
		return nil
	}
	a := n.args[0]
	ra, k := refText(a), c.kind(a)
	switch n.text {
	case "selected", "count-selected":
		if k != Choice && k != Multi {
			return errAt(a.col, n.text+"() needs a choice question; "+ra+" is "+k.phrase())
		}
		if n.text == "selected" {
			q := c.question(a)
			if v := n.args[1].text; !contains(q.Values, v) {
				return errAt(n.args[1].col, notAChoice(v, ra, q.Values))
			}
		}
	case "string-length":
		if k != Text && k != Number {
			return errAt(a.col, "string-length() needs a text or number question; "+ra+" is "+k.phrase())
		}
	case "number", "int":
		switch k {
		case Multi:
			return errAt(a.col, ra+" can hold several choices: count them with count-selected("+ra+")")
		case Choice:
			for _, v := range c.question(a).Values {
				if _, ok := numeral(v); !ok {
					return errAt(a.col, n.text+"() needs numbers, but "+ra+" has the choice "+lit(v))
				}
			}
		}
	}
	return nil
}
