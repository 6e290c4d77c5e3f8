package expr

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// typ is the type of a sub-expression, known once it is parsed.
type typ uint8

const (
	tBool typ = iota + 1 // a condition
	tNum                 // a number
	tStr                 // a quoted text
	tAns                 // an answer: ${id} or .
)

// op is what a node does.
type op uint8

const (
	opNum  op = iota + 1 // number literal: text is its canonical form, num its value
	opStr                // quoted text: text is its value
	opRef                // ${text}
	opSelf               // .
	opOr                 // args: two or more conditions
	opAnd
	opEq // args: two operands
	opNe
	opLt
	opLe
	opGt
	opGe
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opNeg  // args: one operand
	opCall // text: the function's name; args: its arguments
)

var opText = map[op]string{
	opOr: "or", opAnd: "and", opEq: "=", opNe: "!=", opLt: "<", opLe: "<=", opGt: ">", opGe: ">=",
	opAdd: "+", opSub: "-", opMul: "*", opDiv: "div", opMod: "mod", opNeg: "-",
}

// prec is the precedence of an operator: higher binds tighter.
func (o op) prec() int {
	switch o {
	case opOr:
		return 1
	case opAnd:
		return 2
	case opEq, opNe:
		return 3
	case opLt, opLe, opGt, opGe:
		return 4
	case opAdd, opSub:
		return 5
	case opMul, opDiv, opMod:
		return 6
	case opNeg:
		return 7
	}
	return 8
}

type node struct {
	op    op
	typ   typ
	col   int // column of the node's operator, function name or literal
	depth int // 1 for a leaf, else 1 + the largest depth of args
	text  string
	num   float64
	args  []*node
}

// start is the column where n's source begins.
func (n *node) start() int {
	for len(n.args) > 0 && n.op != opNeg && n.op != opCall {
		n = n.args[0]
	}
	return n.col
}

type tkind uint8

const (
	kEOF tkind = iota + 1
	kNum
	kStr
	kRef
	kDot
	kName
	kOp // =, !=, <, <=, >, >=, +, -, *
	kLParen
	kRParen
	kComma
)

type token struct {
	kind tkind
	col  int
	text string // kOp: the operator; kName: the name; kRef: the id; kStr: the value; kNum: canonical form
	src  string // the token as written
	num  float64
}

type parser struct {
	src  string
	pos  int // byte offset of the next unread byte
	col  int // column of pos
	tok  token
	nest int // open parentheses, function calls and minus signs
	refs map[string]bool
	self bool
}

func errAt(col int, msg string) *Error { return &Error{Column: col, Msg: msg} }

// Parse parses an expression and checks that it is a condition whose
// parts have the types the functions and operators need. It does not
// check question ids or choice values: [Expr.Check] does, against a
// [Schema]. Errors are *[Error] values.
func Parse(src string) (*Expr, error) {
	if len(src) > MaxLength {
		return nil, errAt(1, "the expression is "+strconv.Itoa(len(src))+" bytes long, more than the limit of "+strconv.Itoa(MaxLength)+": split the condition, or simplify it")
	}
	return parse(src)
}

func parse(src string) (*Expr, error) {
	if !utf8.ValidString(src) {
		i := 0
		for i < len(src) {
			r, n := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return nil, errAt(utf8.RuneCountInString(src[:i])+1, "the expression is not valid UTF-8")
	}
	p := &parser{src: src, col: 1, refs: map[string]bool{}}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == kEOF {
		return nil, errAt(1, "the expression is empty: write a condition such as ${age} >= 18")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != kEOF {
		return nil, p.expectedOperator("an operator or the end")
	}
	if err := wantBool(root); err != nil {
		return nil, err
	}
	e := &Expr{root: root, self: p.self}
	for id := range p.refs {
		e.refs = append(e.refs, id)
	}
	slices.Sort(e.refs)
	return e, nil
}

// ---- Lexer ----

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isLetter(c byte) bool   { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }
func isNameChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '-' || c == ':' }
func isRefChar(c byte) bool  { return isLetter(c) || isDigit(c) || c == '-' || c == '.' }
func isSpace(c byte) bool    { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (p *parser) peekByte(i int) byte {
	if p.pos+i < len(p.src) {
		return p.src[p.pos+i]
	}
	return 0
}

// advance moves over n bytes, counting the characters that start in them.
func (p *parser) advance(n int) {
	for end := p.pos + n; p.pos < end; p.pos++ {
		if p.src[p.pos]&0xC0 != 0x80 {
			p.col++
		}
	}
}

func (p *parser) next() error {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.advance(1)
	}
	start, col := p.pos, p.col
	tok := func(k tkind, text string) error {
		p.tok = token{kind: k, col: col, text: text, src: p.src[start:p.pos]}
		return nil
	}
	if p.pos >= len(p.src) {
		return tok(kEOF, "")
	}
	c := p.src[p.pos]
	switch {
	case isDigit(c) || c == '.' && isDigit(p.peekByte(1)):
		return p.number()
	case c == '\'' || c == '"':
		end := strings.IndexByte(p.src[p.pos+1:], c)
		if end < 0 {
			return errAt(col, "this text has no closing "+string(c)+": add one where the text ends")
		}
		p.advance(end + 2)
		return tok(kStr, p.src[start+1:p.pos-1])
	case c == '$':
		if p.peekByte(1) != '{' {
			return errAt(col, "a $ must start a question reference such as ${age}")
		}
		p.advance(2)
		for p.pos < len(p.src) && isRefChar(p.src[p.pos]) {
			p.advance(1)
		}
		id := p.src[start+2 : p.pos]
		switch {
		case p.pos >= len(p.src):
			return errAt(col, "${ has no closing }: write a question as ${name}")
		case p.src[p.pos] != '}':
			return errAt(p.col, "unexpected "+describeChar(p.src[p.pos:])+" in a question reference: write a question as ${name}, its name made of letters, digits, _, - and .")
		case id == "":
			return errAt(col, "${} names no question: write a question as ${name}")
		case !isLetter(id[0]):
			return errAt(col+2, "a question name starts with a letter or _")
		}
		p.advance(1)
		return tok(kRef, id)
	case c == '.':
		if p.peekByte(1) == '.' {
			return errAt(col, "'..' (the parent group) is not supported: refer to questions as ${name}")
		}
		p.advance(1)
		return tok(kDot, ".")
	case isLetter(c):
		for p.pos < len(p.src) && isNameChar(p.src[p.pos]) {
			p.advance(1)
		}
		return tok(kName, p.src[start:p.pos])
	case c == '(':
		p.advance(1)
		return tok(kLParen, "(")
	case c == ')':
		p.advance(1)
		return tok(kRParen, ")")
	case c == ',':
		p.advance(1)
		return tok(kComma, ",")
	case c == '+' || c == '-' || c == '*':
		p.advance(1)
		return tok(kOp, string(c))
	case c == '=':
		if p.peekByte(1) == '=' {
			return errAt(col, "write = instead of == to test equality")
		}
		p.advance(1)
		return tok(kOp, "=")
	case c == '!':
		if p.peekByte(1) != '=' {
			return errAt(col, "write not(…) instead of !")
		}
		p.advance(2)
		return tok(kOp, "!=")
	case c == '<' || c == '>':
		if c == '<' && p.peekByte(1) == '>' {
			return errAt(col, "write != instead of <>")
		}
		if p.peekByte(1) == '=' {
			p.advance(2)
		} else {
			p.advance(1)
		}
		return tok(kOp, p.src[start:p.pos])
	case c == '&':
		return errAt(col, "write and instead of &")
	case c == '|':
		return errAt(col, "write or instead of |")
	case c == '/':
		return errAt(col, "paths such as /data/age are not supported: refer to questions as ${age}; divide with div")
	case c == '[' || c == ']':
		return errAt(col, "predicates [...] are not supported")
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	switch {
	case r >= 0x2018 && r <= 0x201F:
		return errAt(col, "unexpected "+describeChar(p.src[p.pos:])+": write texts between straight quotes ' or \" (a spreadsheet may have curled them)")
	case r >= 0xFF01 && r <= 0xFF5E:
		return errAt(col, "unexpected "+describeChar(p.src[p.pos:])+": write "+string(r-0xFEE0)+" instead (switch the keyboard to half-width)")
	case r == 0xA0 || r == 0x3000 || r >= 0x2000 && r <= 0x200B || r == 0x202F || r == 0x205F || r == 0xFEFF:
		return errAt(col, "unexpected "+describeChar(p.src[p.pos:])+": use a plain space")
	}
	return errAt(col, "unexpected "+describeChar(p.src[p.pos:]))
}

// describeChar names the character s starts with: its code point, and the
// character itself when that is visible and worth showing.
func describeChar(s string) string {
	r, _ := utf8.DecodeRuneInString(s)
	hex := strconv.FormatInt(int64(r), 16)
	for len(hex) < 4 {
		hex = "0" + hex
	}
	d := "character U+" + strings.ToUpper(hex)
	if visible(r) {
		d += " (" + string(r) + ")"
	}
	return d
}

// visible reports whether a character is worth showing in a message: not a
// control, space, format or private-use character.
func visible(r rune) bool {
	return r > 0x20 && r != 0x7F && !(r >= 0x80 && r <= 0xA0) && r != 0xAD &&
		!(r >= 0x2000 && r <= 0x200F) && !(r >= 0x2028 && r <= 0x202F) && !(r >= 0x205F && r <= 0x206F) &&
		r != 0x3000 && !(r >= 0xD800 && r <= 0xF8FF) && !(r >= 0xFE00 && r <= 0xFE0F) && r != 0xFEFF &&
		!(r >= 0xFFF0 && r <= 0xFFFF) && r < 0xE0000
}

func (p *parser) number() error {
	start, col := p.pos, p.col
	for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
		p.advance(1)
	}
	intPart := p.src[start:p.pos]
	frac := ""
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		p.advance(1)
		f := p.pos
		for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			p.advance(1)
		}
		frac = p.src[f:p.pos]
	}
	if p.pos < len(p.src) && isLetter(p.src[p.pos]) {
		c, d := p.src[p.pos], p.peekByte(1)
		if (c == 'e' || c == 'E') && (isDigit(d) || d == '+' || d == '-') {
			return errAt(col, "write numbers in plain digits, without an exponent (1000, not 1e3)")
		}
		return errAt(p.col, "a letter cannot follow a number: put a space or an operator between them")
	}
	if significantDigits(intPart+frac) > MaxDigits {
		return errAt(col, "this number has more than "+strconv.Itoa(MaxDigits)+" significant digits")
	}
	text := canonicalNumber(intPart, frac)
	v, _ := strconv.ParseFloat(text, 64)
	p.tok = token{kind: kNum, col: col, text: text, src: p.src[start:p.pos], num: v}
	return nil
}

// significantDigits counts the digits of a string of digits from its first
// non-zero digit to its last.
func significantDigits(digits string) int {
	i, j := 0, len(digits)
	for i < j && digits[i] == '0' {
		i++
	}
	for j > i && digits[j-1] == '0' {
		j--
	}
	return j - i
}

func canonicalNumber(intPart, frac string) string {
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}

// ---- Parser ----

func (p *parser) isWord(w string) bool { return p.tok.kind == kName && p.tok.text == w }

// show is a token or text as quoted in messages: at most 32 characters,
// control characters replaced.
func show(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 32 {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r >= 0x7F && r < 0xA0 {
			r = 0xFFFD
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func (p *parser) found() string {
	switch p.tok.kind {
	case kEOF:
		return "the end"
	}
	return show(p.tok.src)
}

var keywords = []string{"and", "or", "div", "mod"}

// expectedOperator is the error for a token where an operator, or what
// ends the current construct, was expected.
func (p *parser) expectedOperator(what string) error {
	if p.tok.kind == kName {
		lower := strings.ToLower(p.tok.text)
		for _, k := range keywords {
			if lower == k {
				return errAt(p.tok.col, "write "+k+" in lowercase")
			}
		}
	}
	return errAt(p.tok.col, "expected "+what+", found "+p.found())
}

func (p *parser) enter() error {
	p.nest++
	if p.nest > MaxDepth {
		return p.tooDeep(p.tok.col)
	}
	return nil
}

func (p *parser) tooDeep(col int) error {
	return errAt(col, "the expression is nested more than "+strconv.Itoa(MaxDepth)+" levels deep: simplify it")
}

func (p *parser) make(o op, t typ, col int, args ...*node) (*node, error) {
	n := &node{op: o, typ: t, col: col, args: args, depth: 1}
	for _, a := range args {
		n.depth = max(n.depth, a.depth+1)
	}
	if n.depth > MaxDepth {
		return nil, p.tooDeep(col)
	}
	return n, nil
}

func (p *parser) parseOr() (*node, error)  { return p.parseChain(opOr, "or", (*parser).parseAnd) }
func (p *parser) parseAnd() (*node, error) { return p.parseChain(opAnd, "and", (*parser).parseEq) }

// parseChain parses a chain of and, or of or, as one node.
func (p *parser) parseChain(o op, word string, operand func(*parser) (*node, error)) (*node, error) {
	l, err := operand(p)
	if err != nil || !p.isWord(word) {
		return l, err
	}
	col := p.tok.col
	var args []*node
	add := func(n *node) {
		if n.op == o {
			args = append(args, n.args...)
		} else {
			args = append(args, n)
		}
	}
	if err := wantBool(l); err != nil {
		return nil, err
	}
	add(l)
	for p.isWord(word) {
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := operand(p)
		if err != nil {
			return nil, err
		}
		if err := wantBool(r); err != nil {
			return nil, err
		}
		add(r)
	}
	return p.make(o, tBool, col, args...)
}

func (p *parser) parseEq() (*node, error) {
	l, err := p.parseRel()
	for err == nil && p.tok.kind == kOp && (p.tok.text == "=" || p.tok.text == "!=") {
		o, col := opEq, p.tok.col
		if p.tok.text == "!=" {
			o = opNe
		}
		if l.typ == tBool {
			return nil, errAt(col, "a condition cannot be compared: combine conditions with and, or and not()")
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		r, rerr := p.parseRel()
		if rerr != nil {
			return nil, rerr
		}
		switch {
		case r.typ == tBool:
			return nil, errAt(r.start(), "a condition cannot be compared: combine conditions with and, or and not()")
		case l.typ == tNum && r.typ == tStr || l.typ == tStr && r.typ == tNum:
			return nil, errAt(col, "a number cannot be compared with a text: write numbers without quotes")
		}
		l, err = p.make(o, tBool, col, l, r)
	}
	return l, err
}

func (p *parser) parseRel() (*node, error) {
	l, err := p.parseAdd()
	for err == nil && p.tok.kind == kOp && (p.tok.text[0] == '<' || p.tok.text[0] == '>') {
		o, col := opLt, p.tok.col
		switch p.tok.text {
		case "<=":
			o = opLe
		case ">":
			o = opGt
		case ">=":
			o = opGe
		}
		if l.typ == tBool {
			return nil, errAt(col, "a condition cannot be compared: combine conditions with and, or and not()")
		}
		if err := wantNumber(l); err != nil {
			return nil, err
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		r, rerr := p.parseAdd()
		if rerr != nil {
			return nil, rerr
		}
		if r.typ == tBool {
			return nil, errAt(r.start(), "a condition cannot be compared: combine conditions with and, or and not()")
		}
		if err := wantNumber(r); err != nil {
			return nil, err
		}
		l, err = p.make(o, tBool, col, l, r)
	}
	return l, err
}

func (p *parser) parseAdd() (*node, error) {
	l, err := p.parseMul()
	for err == nil && p.tok.kind == kOp && (p.tok.text == "+" || p.tok.text == "-") {
		o, col := opAdd, p.tok.col
		if p.tok.text == "-" {
			o = opSub
		}
		l, err = p.binaryNumber(o, col, l, (*parser).parseMul)
	}
	return l, err
}

func (p *parser) parseMul() (*node, error) {
	l, err := p.parseUnary()
	for err == nil && (p.tok.kind == kOp && p.tok.text == "*" || p.isWord("div") || p.isWord("mod")) {
		o, col := opMul, p.tok.col
		switch p.tok.text {
		case "div":
			o = opDiv
		case "mod":
			o = opMod
		}
		l, err = p.binaryNumber(o, col, l, (*parser).parseUnary)
	}
	return l, err
}

func (p *parser) binaryNumber(o op, col int, l *node, operand func(*parser) (*node, error)) (*node, error) {
	if err := wantNumber(l); err != nil {
		return nil, err
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	r, err := operand(p)
	if err != nil {
		return nil, err
	}
	if err := wantNumber(r); err != nil {
		return nil, err
	}
	return p.make(o, tNum, col, l, r)
}

func (p *parser) parseUnary() (*node, error) {
	if p.tok.kind != kOp || p.tok.text != "-" {
		return p.parsePrimary()
	}
	col := p.tok.col
	if err := p.enter(); err != nil {
		return nil, err
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if err := wantNumber(x); err != nil {
		return nil, err
	}
	p.nest--
	return p.make(opNeg, tNum, col, x)
}

func (p *parser) parsePrimary() (*node, error) {
	t := p.tok
	switch t.kind {
	case kNum, kStr, kRef, kDot:
		if err := p.next(); err != nil {
			return nil, err
		}
		switch t.kind {
		case kNum:
			return &node{op: opNum, typ: tNum, col: t.col, depth: 1, text: t.text, num: t.num}, nil
		case kStr:
			return &node{op: opStr, typ: tStr, col: t.col, depth: 1, text: t.text}, nil
		case kRef:
			p.refs[t.text] = true
			return &node{op: opRef, typ: tAns, col: t.col, depth: 1, text: t.text}, nil
		}
		p.self = true
		return &node{op: opSelf, typ: tAns, col: t.col, depth: 1, text: "."}, nil
	case kLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != kRParen {
			return nil, p.expectedOperator("an operator or the ) closing the ( at column " + strconv.Itoa(t.col))
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		p.nest--
		return x, nil
	case kName:
		for _, k := range keywords {
			if t.text == k {
				return nil, errAt(t.col, "expected a value before "+k)
			}
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind != kLParen {
			if t.text == "true" || t.text == "false" {
				return nil, errAt(t.col, "write "+t.text+"() with parentheses")
			}
			return nil, errAt(t.col, show(t.text)+" is not a value: write a question as ${"+show(t.text)+"} and a text in quotes, '"+show(t.text)+"'")
		}
		return p.parseCall(t)
	case kEOF:
		return nil, errAt(t.col, "the expression ends where a value is expected")
	}
	return nil, errAt(t.col, "expected a value, found "+p.found())
}

// Functions: what each takes is checked in parseCall.
var functions = map[string]bool{
	"not": true, "true": true, "false": true, "selected": true, "count-selected": true,
	"string-length": true, "number": true, "int": true,
}

const functionList = "not(), true(), false(), selected(), count-selected(), string-length(), number() and int()"

// refused names functions researchers write in XLSForm that this language
// leaves out on purpose, with the reason.
var refused = map[string]string{
	"regex":               "regex() is not supported: regular expressions do not behave alike in every browser and on the server; bound answers with string-length() or a number question instead",
	"if":                  "if() is not supported in conditions: combine conditions with and, or and not()",
	"today":               "today() is not supported: a condition must not depend on the day or on a device's clock",
	"now":                 "now() is not supported: a condition must not depend on the day or on a device's clock",
	"random":              "random() is not supported: a condition must give the same result every time",
	"once":                "once() is not supported: a condition must give the same result every time",
	"position":            "position() is not supported: there are no repeats",
	"indexed-repeat":      "indexed-repeat() is not supported: there are no repeats",
	"jr:choice-name":      "jr:choice-name() is not supported: compare choice values, such as ${q} = 'yes'",
	"selected-at":         "selected-at() is not supported: test choices with selected(${q}, 'value')",
	"boolean-from-string": "boolean-from-string() is not supported: compare the answer, such as ${q} = 'yes'",
}

func (p *parser) parseCall(name token) (*node, error) {
	if why, ok := refused[name.text]; ok {
		return nil, errAt(name.col, why)
	}
	if !functions[name.text] {
		if functions[strings.ToLower(name.text)] {
			return nil, errAt(name.col, "write "+strings.ToLower(name.text)+"() in lowercase")
		}
		return nil, errAt(name.col, show(name.text)+"() is not a function of conditions: they can use "+functionList)
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	if err := p.next(); err != nil { // the (
		return nil, err
	}
	var args []*node
	if p.tok.kind != kRParen {
		for {
			a, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.tok.kind != kComma {
				break
			}
			if err := p.next(); err != nil {
				return nil, err
			}
		}
		if p.tok.kind != kRParen {
			return nil, p.expectedOperator("an operator, a comma or the ) ending " + name.text + "(…)")
		}
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	p.nest--
	f := name.text
	want := 1
	switch f {
	case "true", "false":
		want = 0
	case "selected":
		want = 2
	}
	if len(args) != want {
		switch want {
		case 0:
			return nil, errAt(name.col, f+"() takes no arguments")
		case 1:
			return nil, errAt(name.col, f+"() takes 1 argument, not "+strconv.Itoa(len(args)))
		}
		return nil, errAt(name.col, f+"() takes 2 arguments, a question and a choice value in quotes, not "+strconv.Itoa(len(args)))
	}
	t := tNum
	switch f {
	case "true", "false":
		t = tBool
	case "not":
		if err := wantBool(args[0]); err != nil {
			return nil, err
		}
		t = tBool
	case "selected":
		if args[0].typ != tAns {
			return nil, errAt(args[0].start(), "the first argument of selected() must be a question, such as ${name}")
		}
		if args[1].op != opStr {
			return nil, errAt(args[1].start(), "the second argument of selected() must be a choice value in quotes, such as 'yes'")
		}
		t = tBool
	case "count-selected":
		if args[0].typ != tAns {
			return nil, errAt(args[0].start(), "the argument of count-selected() must be a question, such as ${name}")
		}
	case "string-length":
		if args[0].typ != tAns && args[0].typ != tStr {
			return nil, errAt(args[0].start(), "the argument of string-length() must be an answer, such as ${name} or .")
		}
	case "number", "int":
		if args[0].typ == tStr {
			return nil, errAt(args[0].start(), "write numbers without quotes")
		}
		if err := wantNumber(args[0]); err != nil {
			return nil, err
		}
	}
	n, err := p.make(opCall, t, name.col, args...)
	if n != nil {
		n.text = f
	}
	return n, err
}

// wantBool checks that n is a condition.
func wantBool(n *node) error {
	switch {
	case n.typ == tBool:
		return nil
	case n.op == opRef || n.op == opSelf:
		r := refText(n)
		return errAt(n.col, r+" is an answer, not a condition: write "+r+" != '' to test that it was answered")
	}
	return errAt(n.start(), "expected a condition, found "+typeName(n.typ))
}

// wantNumber checks that n can be used as a number.
func wantNumber(n *node) error {
	switch n.typ {
	case tNum, tAns:
		return nil
	case tStr:
		return errAt(n.col, "expected a number, found the text "+lit(n.text)+": write numbers without quotes")
	}
	return errAt(n.start(), "expected a number, found a condition")
}

func typeName(t typ) string {
	switch t {
	case tNum:
		return "a number"
	case tStr:
		return "a text"
	case tAns:
		return "an answer"
	}
	return "a condition"
}

func refText(n *node) string {
	if n.op == opSelf {
		return "."
	}
	return "${" + n.text + "}"
}

// quote writes a text as a literal: between single quotes, or double
// quotes if it holds a single quote.
func quote(s string) string {
	if strings.IndexByte(s, '\'') >= 0 {
		return `"` + s + `"`
	}
	return "'" + s + "'"
}

// lit is a text as a literal in messages.
func lit(s string) string { return show(quote(s)) }

// ---- Canonical form ----

func (n *node) write(b *strings.Builder) {
	switch n.op {
	case opNum, opSelf:
		b.WriteString(n.text)
	case opStr:
		b.WriteString(quote(n.text))
	case opRef:
		b.WriteString("${" + n.text + "}")
	case opCall:
		b.WriteString(n.text + "(")
		for i, a := range n.args {
			if i > 0 {
				b.WriteString(", ")
			}
			a.write(b)
		}
		b.WriteString(")")
	case opNeg:
		b.WriteString("-")
		n.args[0].writeOperand(b, n.op.prec(), false)
	default:
		for i, a := range n.args {
			if i > 0 {
				b.WriteString(" " + opText[n.op] + " ")
			}
			// Left operands of the same precedence need no parentheses
			// (operators are left-associative); right ones do.
			a.writeOperand(b, n.op.prec(), i > 0)
		}
	}
}

func (n *node) writeOperand(b *strings.Builder, parent int, right bool) {
	pr := n.op.prec()
	if pr < parent || pr == parent && right {
		b.WriteString("(")
		n.write(b)
		b.WriteString(")")
		return
	}
	n.write(b)
}

// equal reports whether two trees are the same expression, columns aside.
func equal(a, b *node) bool {
	if a.op != b.op || a.typ != b.typ || a.text != b.text || len(a.args) != len(b.args) || a.depth != b.depth {
		return false
	}
	if a.op == opNum && (a.num != b.num || (1/a.num > 0) != (1/b.num > 0)) {
		return false
	}
	for i := range a.args {
		if !equal(a.args[i], b.args[i]) {
			return false
		}
	}
	return true
}
