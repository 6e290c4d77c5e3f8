package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxFileSize bounds the size of a study file.
const MaxFileSize = 1 << 20

// maxDepth bounds the nesting of a study file; a valid one nests at most
// four levels (questions[i].choices[j].label.ko).
const maxDepth = 16

// Load reads the study file at path and returns it, checked and with
// defaults applied, or an [Errors] listing every problem found.
func Load(path string) (*Study, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read study file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read study file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and checks the study file data, named name in errors, and
// returns it with defaults applied, or an [Errors] listing every problem
// found.
//
// The file is YAML: one document, a mapping with the fields of [Study].
// Unknown fields, duplicate keys, anchors, aliases, tags and files larger
// than [MaxFileSize] are rejected. A YAML syntax error stops parsing, so it
// is reported alone; every other problem is reported at once.
//
// Defaults: Languages is set to [DefaultLanguages] if the file has none, a
// consent question without "required" has Required set, and every Text
// falls back to the study's default language. Other defaults are applied
// when asked for, by [Study.MaxSubmissionBytes], [Study.MaxTextLength],
// [Question.MaxLen], [Question.Range] and [Question.Bounds], so that the
// fields keep the values written in the file.
func Parse(name string, data []byte) (*Study, error) {
	fail := func(line, col int, problem string) error {
		return Errors{{File: name, Line: line, Column: col, Problem: problem}}
	}
	if len(data) > MaxFileSize {
		return nil, fail(0, 0, fmt.Sprintf("the file is larger than %d bytes; a study file is tens of kilobytes, check that this is the right file", MaxFileSize))
	}
	if !utf8.Valid(data) {
		line, col := invalidUTF8(data)
		return nil, fail(line, col, "the file is not valid UTF-8; save it as UTF-8 text")
	}
	src := bytes.TrimPrefix(data, []byte("\uFEFF")) // a byte order mark, as Windows editors write
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, fail(0, 0, "the file is empty; start from examples/nk-internet-access.yaml")
	}

	// The parser slows down sharply on deep nesting, which no study file
	// has: refuse it from the tokens, before parsing.
	tokens := lexer.Tokenize(string(src))
	if tk := tooDeep(tokens); tk != nil {
		return nil, fail(tk.Position.Line, tk.Position.Column, "nested too deeply; check the indentation and brackets")
	}
	file, err := parser.Parse(tokens, 0)
	if err != nil {
		return nil, Errors{yamlError(name, err)}
	}
	var docs []*ast.DocumentNode
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, fail(0, 0, "the file holds no fields; start from examples/nk-internet-access.yaml")
	case len(docs) > 1:
		line, col := position(docs[1].Body)
		return nil, fail(line, col, "the file holds more than one YAML document; remove the second \"---\" and what follows it")
	}
	body := docs[0].Body
	switch body.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
	default:
		line, col := position(body)
		return nil, fail(line, col, "the file must be a mapping of fields (id:, title:, questions: …); start from examples/nk-internet-access.yaml")
	}

	sc := &scanner{source: &source{file: name, pos: make(map[string][2]int), ids: make(map[string]string)}, vpos: make(map[string][2]int), exprs: make(map[string]exprPos)}
	sc.node(body, "", 0)
	if len(sc.errs) > 0 {
		return nil, sc.finish(sc.errs)
	}

	if n := sc.questions; n > maxQuestions {
		line, col := sc.lookup("questions")
		return nil, fail(line, col, fmt.Sprintf("%d questions; a study has at most %d, split it into several studies", n, maxQuestions))
	}

	s := new(Study)
	dec := yaml.NewDecoder(bytes.NewReader(nil), yaml.Strict())
	if err := dec.DecodeFromNode(body, s); err != nil {
		e := yamlError(name, err)
		var typ *yaml.TypeError
		var unexpected *yaml.UnexpectedNodeTypeError
		e.Field = sc.at(e.Line, e.Column, errors.As(err, &typ) || errors.As(err, &unexpected))
		if e.Field != "" {
			var unknown *yaml.UnknownFieldError
			if errors.As(err, &unknown) {
				e.Problem = "unknown field; remove it or correct its spelling (fields are lowercase, words joined by '_')"
			}
		}
		return nil, sc.finish([]*Error{e})
	}

	applyDefaults(s, sc.written)
	if errs := check(s, sc.written); len(errs) > 0 {
		for _, e := range errs {
			e.File = name
			e.Line, e.Column = sc.lookup(e.Field)
			if p, ok := sc.exprs[e.Field]; ok && e.exprColumn > 0 {
				e.Line, e.Column = p.at(e.exprColumn)
			}
		}
		return nil, sc.finish(errs)
	}
	normalize(s)
	s.SHA256 = sha256.Sum256(data)
	s.src = sc.source
	return s, nil
}

// applyDefaults sets the defaults Parse documents as set: the languages,
// and Required on consent questions that do not say.
func applyDefaults(s *Study, written func(string) bool) {
	if s.Languages == nil {
		s.Languages = slices.Clone(DefaultLanguages)
	}
	for i := range s.Questions {
		if s.Questions[i].Type == Consent && !written(fmt.Sprintf("questions[%d].required", i)) {
			s.Questions[i].Required = true
		}
	}
}

// normalize makes empty lists of choices and sections nil, however the
// file wrote them (other lists are never empty in a valid study), and makes every text
// fall back to the study's default language.
func normalize(s *Study) {
	if len(s.Sections) == 0 {
		s.Sections = nil
	}
	def := s.DefaultLanguage()
	s.Title = s.Title.withFallback(def)
	s.Introduction = s.Introduction.withFallback(def)
	for i := range s.Sections {
		sec := &s.Sections[i]
		sec.Label = sec.Label.withFallback(def)
		sec.Help = sec.Help.withFallback(def)
	}
	for i := range s.Questions {
		q := &s.Questions[i]
		if len(q.Choices) == 0 {
			q.Choices = nil
		}
		q.Label = q.Label.withFallback(def)
		q.Help = q.Help.withFallback(def)
		q.ConstraintMessage = q.ConstraintMessage.withFallback(def)
		for j := range q.Choices {
			q.Choices[j].Label = q.Choices[j].Label.withFallback(def)
		}
	}
}

// finish sorts errs by position, keeping the order of problems on one
// line, makes fields relative to their question, and bounds their number.
func (sc *scanner) finish(errs []*Error) Errors {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].Column < errs[j].Column
	})
	for _, e := range errs {
		e.Question, e.Field = sc.splitQuestion(e.Field)
	}
	return bound(errs)
}

// bound cuts errs to maxErrors, counting the rest.
func bound(errs []*Error) Errors {
	if len(errs) > maxErrors {
		more := &Error{File: errs[0].File, Problem: fmt.Sprintf("and %d more problems; fix the ones above first", len(errs)-maxErrors)}
		errs = append(errs[:maxErrors:maxErrors], more)
	}
	return Errors(errs)
}

// splitQuestion turns a path such as "questions[3].choices[1].value" into
// the id of question 3 and "choices[1].value". The path of a question
// without an id, and that of an id itself, are left whole.
func (src *source) splitQuestion(path string) (question, field string) {
	rest, ok := strings.CutPrefix(path, "questions[")
	if !ok {
		return "", path
	}
	n, rest, ok := strings.Cut(rest, "]")
	if !ok {
		return "", path
	}
	rest, ok = strings.CutPrefix(rest, ".")
	if !ok || rest == "id" {
		return "", path
	}
	id := src.ids["questions["+n+"].id"]
	if id == "" {
		return "", path
	}
	return id, rest
}

// scanner walks the YAML tree before decoding: it rejects what a study file
// has no use for and that the decoder would accept silently (anchors,
// aliases, tags, fractions where whole numbers go, deep nesting), and it
// records where each field is written, for error messages.
type scanner struct {
	*source
	vpos map[string][2]int // path → line, column of its value
	// exprs are where the conditions are written, by path.
	exprs map[string]exprPos
	// questions is the number of questions, counted before decoding so
	// that a file with far too many is refused at once.
	questions int
	errs      []*Error
}

// source is where a study was read from: its name and where each field is
// written, to locate problems found after Parse.
type source struct {
	file string
	pos  map[string][2]int // path → line, column of the field
	ids  map[string]string // "questions[i].id" → the id written
}

// locate sets the file, line, column and question of e from its Field, a
// full path. A nil source (a study built in code) leaves e as it is.
func (src *source) locate(e *Error) {
	if src == nil {
		return
	}
	e.File = src.file
	e.Line, e.Column = src.lookup(e.Field)
	e.Question, e.Field = src.splitQuestion(e.Field)
}

// written reports whether the field at path is written in the file.
func (src *source) written(path string) bool {
	_, ok := src.pos[path]
	return ok
}

// tooDeep returns the token at which tokens nest deeper than maxDepth, or
// nil. It counts open brackets, and block lists and mappings that open on
// the same line (as in "- - a: b: c"); nesting by indentation is bounded by
// the file size.
func tooDeep(tokens token.Tokens) *token.Token {
	flow, line, block := 0, 0, 0
	for _, tk := range tokens {
		if tk.Position == nil {
			continue
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
			if flow > maxDepth {
				return tk
			}
		case token.SequenceEndType, token.MappingEndType:
			flow--
		case token.SequenceEntryType, token.MappingValueType:
			if flow > 0 {
				continue
			}
			if tk.Position.Line != line {
				line, block = tk.Position.Line, 0
			}
			block++
			if block > maxDepth {
				return tk
			}
		}
	}
	return nil
}

// intFields, numberFields and boolFields are the fields that hold whole
// numbers, numbers and switches.
var (
	intFields    = map[string]bool{"max_length": true, "max_submission_bytes": true, "max_text_length": true, "decimals": true}
	numberFields = map[string]bool{"min": true, "max": true}
	boolFields   = map[string]bool{"required": true, "require_browser_encryption": true, "exclusive": true}
)

func (sc *scanner) fail(n ast.Node, field, problem string) {
	line, col := position(n)
	sc.errs = append(sc.errs, &Error{File: sc.file, Line: line, Column: col, Field: field, Problem: problem})
}

// failValue is fail, showing the value written.
func (sc *scanner) failValue(n ast.Node, field, problem string) {
	v := n.String()
	if tk := n.GetToken(); tk != nil && isScalar(n) {
		v = tk.Value
	}
	sc.fail(n, field, problem)
	sc.errs[len(sc.errs)-1].Value = shorten(v)
}

func isScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return true
	}
	return false
}

func (sc *scanner) node(n ast.Node, path string, depth int) {
	if n == nil {
		return
	}
	if depth > maxDepth {
		sc.fail(n, path, "nested too deeply; check the indentation")
		return
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, v := range n.Values {
			sc.mappingValue(v, path, depth)
		}
	case *ast.MappingValueNode:
		sc.mappingValue(n, path, depth)
	case *ast.SequenceNode:
		if path == "questions" {
			sc.questions = len(n.Values)
		}
		for i, v := range n.Values {
			p := fmt.Sprintf("%s[%d]", path, i)
			sc.record(p, v)
			sc.node(v, p, depth+1)
		}
	case *ast.AnchorNode:
		sc.fail(n, path, "anchors (&) are not allowed in a study file; write the value out in full")
	case *ast.AliasNode:
		sc.fail(n, path, "aliases (*) are not allowed in a study file; write the value out in full")
	case *ast.TagNode:
		sc.fail(n, path, "tags (!) are not allowed in a study file; remove the tag, and quote the value if it is text")
	case *ast.MergeKeyNode:
		sc.fail(n, path, "merge keys (<<) are not allowed in a study file; write the fields out in full")
	}
}

func (sc *scanner) mappingValue(v *ast.MappingValueNode, path string, depth int) {
	if v == nil || v.Key == nil {
		return
	}
	if _, ok := v.Key.(*ast.MergeKeyNode); ok {
		sc.fail(v.Key, path, "merge keys (<<) are not allowed in a study file; write the fields out in full")
		return
	}
	key := ""
	if tk := v.Key.GetToken(); tk != nil {
		key = tk.Value
	}
	p := key
	if path != "" {
		p = path + "." + key
	}
	sc.record(p, v.Key)
	if line, col := position(v.Value); line > 0 {
		sc.vpos[p] = [2]int{line, col}
	}
	if strings.HasPrefix(p, "questions[") && strings.HasSuffix(p, "].id") && isScalar(v.Value) {
		sc.ids[p] = v.Value.GetToken().Value
	}
	if numberFields[key] {
		sc.number(v.Value, p)
		return
	}
	if conditionFields[key] && conditionOwnerRE.MatchString(path) {
		if !sc.condition(v.Value, p, key) {
			return
		}
	}
	switch val := v.Value.(type) {
	case *ast.NullNode:
	case *ast.IntegerNode:
		if boolFields[key] {
			sc.failValue(val, p, "must be true or false")
		}
	case *ast.BoolNode:
		if intFields[key] {
			sc.failValue(val, p, "must be a whole number, such as 10")
		}
	default:
		if intFields[key] && isScalar(v.Value) && v.Value.GetToken().Type == token.StringType && digitsRE.MatchString(v.Value.GetToken().Value) {
			sc.failValue(v.Value, p, "too large; use a smaller number")
		} else if intFields[key] {
			sc.failValue(v.Value, p, "must be a whole number, such as 10")
		} else if boolFields[key] {
			sc.failValue(v.Value, p, "must be true or false")
		}
	}
	sc.node(v.Value, p, depth+1)
}

// conditionFields are the fields of questions and sections that hold a
// condition; conditionOwnerRE matches the paths of questions and sections.
var (
	conditionFields  = map[string]bool{"relevant": true, "constraint": true}
	conditionOwnerRE = regexp.MustCompile(`^(questions|sections)\[[0-9]+\]$`)
)

// exprPos is where a condition is written: the line and column of its
// value and, if the expression is the value's text character for
// character on that one line, the columns before the expression's first
// (1 for a quote).
type exprPos struct {
	line, col, shift int
	exact            bool
}

// at returns the line and column in the file of column col of the
// expression, or of the value if that cannot be known (a value written
// over several lines, or with escapes).
func (p exprPos) at(col int) (int, int) {
	if !p.exact {
		return p.line, p.col
	}
	return p.line, p.col + p.shift + col - 1
}

// condition checks that the value of the condition at path (a relevant
// or a constraint) is written as text, records where, and reports whether
// the scanner should look into the value.
func (sc *scanner) condition(n ast.Node, path, key string) bool {
	example := "\"${phone_use} = 'own'\""
	if key == "constraint" {
		example = "\". >= 1990\""
	}
	switch n := n.(type) {
	case *ast.StringNode:
		tk := n.GetToken()
		line, col := position(n)
		p := exprPos{line: line, col: col}
		origin := strings.TrimSpace(tk.Origin)
		switch tk.Type {
		case token.StringType:
			p.exact = origin == tk.Value
		case token.DoubleQuoteType:
			p.exact, p.shift = origin == `"`+tk.Value+`"`, 1
		case token.SingleQuoteType:
			p.exact, p.shift = origin == "'"+tk.Value+"'", 1
		}
		p.exact = p.exact && !strings.ContainsAny(tk.Value, "\r\n")
		sc.exprs[path] = p
		return false
	case *ast.LiteralNode:
		line, col := position(n)
		sc.exprs[path] = exprPos{line: line, col: col}
		return false
	case *ast.NullNode:
		sc.fail(n, path, "empty; write a condition such as "+example+", or remove "+key)
		return false
	case *ast.AnchorNode, *ast.AliasNode, *ast.TagNode:
		return true // reported by node
	case *ast.MappingNode, *ast.MappingValueNode:
		if key == "relevant" {
			sc.fail(n, path, "a condition is an expression in quotes, not a mapping: write relevant: "+oldCondition(n))
			return false
		}
	}
	if isScalar(n) {
		sc.failValue(n, path, "must be an expression in quotes, such as "+example)
	} else {
		sc.fail(n, path, "must be an expression in quotes, such as "+example)
	}
	return false
}

// oldCondition writes a condition of the form {question: q, any_of:
// [a, b]}, which study files once had, as the expression that means the
// same; or an example if n is not of that form.
func oldCondition(n ast.Node) string {
	var values []*ast.MappingValueNode
	switch n := n.(type) {
	case *ast.MappingNode:
		values = n.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{n}
	}
	question, anyOf := "", []string(nil)
	for _, v := range values {
		if v == nil || v.Key == nil || v.Key.GetToken() == nil {
			continue
		}
		switch v.Key.GetToken().Value {
		case "question":
			if isScalar(v.Value) {
				question = v.Value.GetToken().Value
			}
		case "any_of":
			if seq, ok := v.Value.(*ast.SequenceNode); ok {
				for _, x := range seq.Values {
					if isScalar(x) {
						anyOf = append(anyOf, x.GetToken().Value)
					}
				}
			}
		}
	}
	if !questionIDRE.MatchString(question) || len(anyOf) == 0 || len(anyOf) > 10 {
		return "\"${question} = 'value'\" (see the package documentation of config)"
	}
	var parts []string
	for _, v := range anyOf {
		if !choiceValueRE.MatchString(v) {
			return "\"${" + question + "} = 'value'\" (see the package documentation of config)"
		}
		parts = append(parts, "selected(${"+question+"}, '"+v+"')")
	}
	return "\"" + strings.Join(parts, " or ") + "\""
}

// number checks the value of a min or max: a number written plainly, in
// digits. Whether it must be whole depends on the question's type, which
// check knows.
func (sc *scanner) number(n ast.Node, path string) {
	switch n.(type) {
	case *ast.NullNode:
		return
	case *ast.IntegerNode, *ast.FloatNode:
	case *ast.StringNode:
		// Numbers too large for the parser, and some it does not read
		// as numbers (1e3), come as plain strings; quoted ones are text.
		if tk := n.GetToken(); tk.Type != token.StringType {
			sc.failValue(n, path, "must be a number, such as 10 or 2.5, without quotes")
			return
		}
	default:
		if isScalar(n) {
			sc.failValue(n, path, "must be a number, such as 10 or 2.5")
		} else {
			sc.fail(n, path, "must be a number, such as 10 or 2.5")
		}
		return
	}
	if _, err := ParseNumber(n.GetToken().Value); err != nil {
		sc.failValue(n, path, err.Error())
	}
}

func (sc *scanner) record(path string, n ast.Node) {
	if _, ok := sc.pos[path]; ok {
		return
	}
	line, col := position(n)
	sc.pos[path] = [2]int{line, col}
}

// at returns the path of the field an error at line and col is about: if
// value is set, the field whose value starts there, else the field written
// closest before it on the same line; or "".
func (sc *scanner) at(line, col int, value bool) string {
	if value {
		best := ""
		for p, pos := range sc.vpos {
			if pos == [2]int{line, col} && (best == "" || len(p) < len(best)) {
				best = p
			}
		}
		if best != "" {
			return best
		}
	}
	best, bestCol := "", 0
	for p, pos := range sc.pos {
		if pos[0] != line || pos[1] > col {
			continue
		}
		if pos[1] > bestCol || pos[1] == bestCol && len(p) > len(best) {
			best, bestCol = p, pos[1]
		}
	}
	return best
}

// lookup returns where path, or failing that its closest enclosing field,
// is written.
func (src *source) lookup(path string) (line, col int) {
	for path != "" {
		if p, ok := src.pos[path]; ok {
			return p[0], p[1]
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0, 0
}

func position(n ast.Node) (line, col int) {
	if n == nil {
		return 0, 0
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

// invalidUTF8 returns the line and column (in characters) of the first
// byte of data that is not valid UTF-8.
func invalidUTF8(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return 0, 0
}

// yamlError turns an error of the YAML parser or decoder into an [*Error]
// that says how to fix it.
func yamlError(file string, err error) *Error {
	e := &Error{File: file}
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
	}
	var (
		unknown    *yaml.UnknownFieldError
		duplicate  *yaml.DuplicateKeyError
		typ        *yaml.TypeError
		overflow   *yaml.OverflowError
		syntax     *yaml.SyntaxError
		unexpected *yaml.UnexpectedNodeTypeError
	)
	switch {
	case errors.As(err, &unknown):
		e.Problem = unknown.Message + "; remove it or correct its spelling (fields are lowercase, words joined by '_')"
	case errors.As(err, &duplicate):
		e.Problem = duplicate.Message + "; keep only one of them"
	case errors.As(err, &typ):
		e.Problem = "wrong kind of value here: want " + kindName(typ.DstType)
	case errors.As(err, &overflow):
		e.Problem = fmt.Sprintf("number %s is too large for this field", overflow.SrcNum)
	case errors.As(err, &unexpected):
		e.Problem = "wrong kind of value here: want " + nodeTypeName(unexpected.Expected)
	case errors.As(err, &syntax) && strings.Contains(syntax.Message, "already defined"):
		e.Problem = syntax.Message + "; keep only one of them"
	case errors.As(err, &syntax):
		e.Problem = "YAML syntax error: " + strings.ReplaceAll(syntax.Message, "\t", `\t`) + "; check the indentation (spaces, not tabs), colons and quotes here"
	case ye != nil:
		e.Problem = ye.GetMessage()
	default:
		e.Problem = err.Error()
	}
	return e
}

var digitsRE = regexp.MustCompile(`^[-+]?[0-9]+$`)

func nodeTypeName(t ast.NodeType) string {
	switch t {
	case ast.SequenceType:
		return kindName(reflect.TypeFor[[]string]())
	case ast.MappingType:
		return kindName(reflect.TypeFor[Text]())
	}
	return t.String()
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list (lines starting with \"- \")"
	case reflect.Struct, reflect.Map:
		return "a mapping of fields (lines of \"name: value\")"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return "another kind of value"
}
