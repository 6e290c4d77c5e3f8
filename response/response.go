// Package response is one person's answers to a study: how they are read
// from a form post, checked against the questionnaire, and written as the
// plaintext that is sealed in an envelope.
//
// The server uses [FromForm] on a plain form post; the researcher uses
// [Unmarshal] on an opened envelope, which checks the answers again with the
// same rules ([Validate]), against the version of the study they name
// ([Peek] reads which, [PeekHeader] also whether it is a first testimony
// or a message on a thread). [Marshal] writes the plaintext the browser and the
// server both seal. A person who comes back signs messages on the thread
// of their testimony ([SignThread], [FollowupFromForm]); the researcher
// reads them with [UnmarshalMessage], which checks the signature, and
// checks a follow-up against the reply it answers ([ValidateFollowup]). intake/static/testimony.js implements the same rules
// and plaintext in the browser; tests hold both to shared vectors.
//
// # Plaintext, version 3
//
// The sealed plaintext is a JSON object, UTF-8. A first testimony has
// exactly these members, written in this order:
//
//	{"v":3,"study":"<study id>","version":"<64 lowercase hex>","lang":"<tag>","return":"<address>","answers":{...}}
//
// "version" is the version id of the study file the answers were given to
// ([config.Study.Version]): the lowercase hex SHA-256 of its bytes. "lang"
// is the language the person read, one of that version's languages (a
// BCP 47 tag). "return", present when the person was given a return
// passphrase (the default; a person may decline), is the person's return
// address (returnkey.Address.String: "testimony-return-" and 154
// characters), which researchers reply to and which names the person's
// thread. "answers" maps question ids to answers, ids sorted.
// Unanswered questions, questions not shown, and notes are absent. A
// multi_choice answer is an array of choice values in questionnaire order;
// every other answer is a string:
//
//	single_choice      the choice value
//	short_text         one line, NFC-normalized, no control characters
//	long_text          NFC-normalized, line breaks as "\n", no other control characters but tab
//	year, integer      decimal digits, "-" allowed for integer, no leading zeros, at most 9 digits
//	decimal            canonical decimal text: "-" if negative, no leading zeros, no trailing
//	                   zeros after the point, no exponent or "+", at most 15 digits
//	                   (see [config.CanonicalDecimal]); for example "0", "12", "-3.5", "0.25"
//	consent            "yes"
//	date_approx        "YYYY", "YYYY-MM" (01–12), or "YYYY-spring|summer|autumn|winter"
//
// A person who comes back with the passphrase sends messages on the
// thread of their first testimony: a follow-up (answers to a reply's
// questions), an addition, or a withdrawal. They travel in ordinary
// envelopes, so the server cannot tell them from first testimonies, and
// carry "kind", "thread" and "sig" members: see [Message] for the
// members, [SignThread] for the signature.
//
// No time, network address or other metadata is part of a plaintext.
// Versions 1 and 2 are no longer read.
//
// # Rules
//
// A question is shown when its section's condition and its own condition
// hold ([Shown]), evaluated in questionnaire order on the answers to the
// earlier questions that are shown: an answer to a question that is not
// shown reads as empty, as in XLSForm (conditions are expressions of
// package expr; see package config). An answer to a question not shown
// is a problem (not_relevant); so is an unanswered required question
// (required, or consent_missing for consent), and an answer that breaks
// its question's rules: a value that is not a choice, several values or
// an exclusive choice with others (exclusive_choice), a number out of
// bounds or with too many digits after the point (too_many_decimals),
// text too long or with forbidden characters. A well-formed answer to a
// question shown must then satisfy the question's constraint, if it has
// one (constraint, with the study's message for it). [Code] lists them.
package response

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/internal/jsontoken"
	"golang.org/x/text/unicode/norm"
)

// Version is the plaintext format version written by Marshal and
// MarshalMessage, the only one Unmarshal and UnmarshalMessage read.
const Version = 3

// Seasons are the values a date_approx answer may give instead of a month.
var Seasons = []string{"spring", "summer", "autumn", "winter"}

// Response is one person's answers.
type Response struct {
	// Study is the study id, and Version the version id of the study
	// file the answers were given to. Marshal writes those of the study
	// it is given, and refuses others.
	Study, Version string
	// Language is the language the person read, one of the study's.
	Language string
	// Return is the person's return address, or nil if the person
	// declined a return passphrase.
	Return *returnkey.Address
	// Answers maps question ids to values: one value for every type but
	// multi_choice, which has one or more.
	Answers map[string][]string
}

// Problem is why one answer was not accepted, in a form that pages can
// translate: a fixed Code and, for some codes, a Limit or a Message.
type Problem struct {
	Code Code
	// Limit is the bound that was crossed, as text (a number), for
	// TooLong, TooSmall, TooLarge, TooFew, TooMany and TooManyDecimals;
	// "" for other codes.
	Limit string
	// Message is, for Constraint, the question's constraint_message in
	// the study's languages, or the zero Text if it has none (pages then
	// show a general message); zero for other codes.
	Message config.Text
}

// Code names a kind of problem with an answer.
type Code string

// Problem codes.
const (
	Required        Code = "required"
	TooLong         Code = "too_long"
	NotAChoice      Code = "not_a_choice"
	NotANumber      Code = "not_a_number"
	TooSmall        Code = "too_small"
	TooLarge        Code = "too_large"
	TooFew          Code = "too_few"
	TooMany         Code = "too_many"
	TooManyDecimals Code = "too_many_decimals" // more digits after the point than the question's decimals
	ExclusiveChoice Code = "exclusive_choice"  // an exclusive choice ticked with another
	NotOneLine      Code = "not_one_line"
	BadCharacters   Code = "bad_characters"
	BadDate         Code = "bad_date"
	NotRelevant     Code = "not_relevant"
	ConsentMissing  Code = "consent_missing"
	Unknown         Code = "unknown_question"
	Constraint      Code = "constraint" // the answer breaks its question's constraint
)

// Codes are every code a Problem can have: pages need a message for each.
var Codes = []Code{
	Required, TooLong, NotAChoice, NotANumber, TooSmall, TooLarge, TooFew, TooMany, TooManyDecimals,
	ExclusiveChoice, NotOneLine, BadCharacters, BadDate, NotRelevant, ConsentMissing, Unknown, Constraint,
}

// String returns the code, with the limit or the message (in the study's
// default language) if there is one: "too_small (1980)".
func (p Problem) String() string {
	switch {
	case p.Limit != "":
		return fmt.Sprintf("%s (%s)", p.Code, p.Limit)
	case !p.Message.IsZero():
		return fmt.Sprintf("%s (%s)", p.Code, p.Message.In(""))
	}
	return string(p.Code)
}

// Problems maps question ids to the problem with their answer.
type Problems map[string]Problem

// Error lists the problems, one per question, in no particular order.
func (ps Problems) Error() string {
	var parts []string
	for id, p := range ps {
		parts = append(parts, fmt.Sprintf("question %q: %s", id, p))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

var validate = validator.New()

// Shown returns, for each question of s in order, whether it is shown
// given answers: whether its section's condition and its own condition
// hold, each evaluated on the answers to the earlier questions that are
// shown (an answer to a question that is not shown reads as empty, as in
// XLSForm). Its cost is linear in the number of questions and the size of
// their conditions.
func Shown(s *config.Study, answers map[string][]string) []bool {
	out := make([]bool, len(s.Questions))
	walk(s, answers, len(s.Questions), func(i int, shown bool, _ map[string][]string) { out[i] = shown })
	return out
}

// walk decides, for each of the first n questions of s in order, whether
// it is shown given answers, and calls fn with that and visible: the
// answers to the questions shown so far, this one's included.
func walk(s *config.Study, answers map[string][]string, n int, fn func(i int, shown bool, visible map[string][]string)) {
	secs := sectionConditions(s)
	visible := make(map[string][]string, len(answers))
	for i := range n {
		q := &s.Questions[i]
		shown := secs[i].Holds(visible) && q.Relevant.Holds(visible)
		if v, ok := answers[q.ID]; ok && shown {
			visible[q.ID] = v
		}
		fn(i, shown, visible)
	}
}

// sectionConditions returns, for each question of s, the condition of
// its section (nil for none).
func sectionConditions(s *config.Study) []*config.Condition {
	out := make([]*config.Condition, len(s.Questions))
	if len(s.Sections) == 0 {
		return out
	}
	index := make(map[string]int, len(s.Questions))
	for i := range s.Questions {
		if _, ok := index[s.Questions[i].ID]; !ok {
			index[s.Questions[i].ID] = i
		}
	}
	for j := range s.Sections {
		sec := &s.Sections[j]
		for _, id := range sec.Questions {
			if i, ok := index[id]; ok && out[i] == nil {
				out[i] = sec.Relevant
			}
		}
	}
	return out
}

// Relevant reports whether q, a question of s, is shown given the answers
// (see [Shown]). Its cost is linear in the number of questions before q:
// to know about every question, call Shown once.
func Relevant(s *config.Study, q *config.Question, answers map[string][]string) bool {
	i := s.QuestionIndex(q.ID)
	if i < 0 {
		return false
	}
	shown := false
	walk(s, answers, i+1, func(j int, sh bool, _ map[string][]string) {
		if j == i {
			shown = sh
		}
	})
	return shown
}

// questions maps the ids of the questions of s to them (the first, if an
// id is repeated in a study built in code), so that reading n answers
// costs O(n), not the O(n²) of looking each up with s.Question.
func questions(s *config.Study) map[string]*config.Question {
	m := make(map[string]*config.Question, len(s.Questions))
	for i := range s.Questions {
		if _, ok := m[s.Questions[i].ID]; !ok {
			m[s.Questions[i].ID] = &s.Questions[i]
		}
	}
	return m
}

// Validate checks every answer of r against the study: that every answer is
// to a question of the study, that required questions are answered, that
// every answer is well formed and within its bounds, that it satisfies its
// question's constraint, and that no question that was not shown was
// answered. A constraint is checked only on a well-formed answer to a
// question that is shown, evaluated on the answers to the questions shown
// up to and including it. It returns nil or the problems found. It does
// not look at r.Study, r.Version and r.Language: FromForm sets them, and
// Unmarshal checks them.
func Validate(s *config.Study, r *Response) Problems {
	ps := Problems{}
	byID := questions(s)
	for id := range r.Answers {
		if q := byID[id]; q == nil || !q.Answerable() {
			ps[id] = Problem{Code: Unknown}
		}
	}
	walk(s, r.Answers, len(s.Questions), func(i int, shown bool, visible map[string][]string) {
		q := &s.Questions[i]
		if !q.Answerable() {
			return
		}
		vals, answered := r.Answers[q.ID]
		if !shown {
			if answered {
				ps[q.ID] = Problem{Code: NotRelevant}
			}
			return
		}
		if !answered || len(vals) == 0 {
			switch {
			case q.Required && q.Type == config.Consent:
				ps[q.ID] = Problem{Code: ConsentMissing}
			case q.Required:
				ps[q.ID] = Problem{Code: Required}
			}
			return
		}
		if p, ok := check(s, q, vals); !ok {
			ps[q.ID] = p
			return
		}
		if !q.Constraint.Accepts(q.ID, visible) {
			p := Problem{Code: Constraint}
			if !q.ConstraintMessage.IsZero() {
				p.Message = q.ConstraintMessage
			}
			ps[q.ID] = p
		}
	})
	if len(ps) == 0 {
		return nil
	}
	return ps
}

func limit(n int) string { return strconv.Itoa(n) }

// check validates one answer with validator rules built from the question.
func check(s *config.Study, q *config.Question, vals []string) (Problem, bool) {
	if q.Type != config.MultiChoice && len(vals) != 1 {
		return Problem{Code: TooMany, Limit: "1"}, false
	}
	v := vals[0]
	switch q.Type {
	case config.SingleChoice:
		if validate.Var(v, "oneof="+choiceList(q)) != nil {
			return Problem{Code: NotAChoice}, false
		}
	case config.MultiChoice:
		exclusive := false
		for i, v := range vals {
			if validate.Var(v, "oneof="+choiceList(q)) != nil {
				return Problem{Code: NotAChoice}, false
			}
			if i > 0 && choiceIndex(q, vals[i-1]) >= choiceIndex(q, v) {
				return Problem{Code: NotAChoice}, false // duplicate or out of order
			}
			exclusive = exclusive || q.Choice(v).Exclusive
		}
		if exclusive && len(vals) > 1 {
			return Problem{Code: ExclusiveChoice}, false
		}
		lo, hi := q.Range(time.Time{})
		if q.Min != nil && validate.Var(vals, fmt.Sprintf("min=%d", lo)) != nil {
			return Problem{Code: TooFew, Limit: limit(lo)}, false
		}
		if q.Max != nil && validate.Var(vals, fmt.Sprintf("max=%d", hi)) != nil {
			return Problem{Code: TooMany, Limit: limit(hi)}, false
		}
	case config.ShortText, config.LongText:
		if !isNFC(v) || strings.Contains(v, "\r") {
			return Problem{Code: BadCharacters}, false
		}
		for _, c := range v {
			if c == '\n' && q.Type == config.ShortText {
				return Problem{Code: NotOneLine}, false
			}
			if unicode.IsControl(c) && c != '\n' && c != '\t' || c == '\ufffd' {
				return Problem{Code: BadCharacters}, false
			}
		}
		if v == "" || strings.TrimSpace(v) == "" {
			return Problem{Code: Required}, false
		}
		max := q.MaxLen(s)
		if validate.Var(v, fmt.Sprintf("max=%d", max)) != nil {
			return Problem{Code: TooLong, Limit: limit(max)}, false
		}
	case config.Year, config.Integer:
		n, ok := parseInt(v, q.Type == config.Integer)
		if !ok {
			return Problem{Code: NotANumber}, false
		}
		if p, ok := inBounds(q, strconv.Itoa(n)); !ok {
			return p, false
		}
	case config.Decimal:
		if !config.IsCanonicalDecimal(v) {
			return Problem{Code: NotANumber}, false
		}
		if q.Decimals > 0 && config.DecimalPlaces(v) > q.Decimals {
			return Problem{Code: TooManyDecimals, Limit: limit(q.Decimals)}, false
		}
		if p, ok := inBounds(q, v); !ok {
			return p, false
		}
	case config.Consent:
		if v != config.ConsentValue {
			if q.Required {
				return Problem{Code: ConsentMissing}, false
			}
			return Problem{Code: NotAChoice}, false
		}
	case config.DateApprox:
		year, part, _ := strings.Cut(v, "-")
		if _, ok := parseInt(year, false); !ok || len(year) != 4 {
			return Problem{Code: BadDate}, false
		}
		if p, ok := inBounds(q, year); !ok {
			return p, false
		}
		if strings.Contains(v, "-") && validate.Var(part, "oneof=01 02 03 04 05 06 07 08 09 10 11 12 "+strings.Join(Seasons, " ")) != nil {
			return Problem{Code: BadDate}, false
		}
	default:
		return Problem{Code: NotAChoice}, false
	}
	return Problem{}, true
}

// inBounds checks the canonical decimal v against the bounds of q.
func inBounds(q *config.Question, v string) (Problem, bool) {
	lo, hi := Bounds(q)
	if lo != "" && config.CompareDecimal(v, lo) < 0 {
		return Problem{Code: TooSmall, Limit: lo}, false
	}
	if hi != "" && config.CompareDecimal(v, hi) > 0 {
		return Problem{Code: TooLarge, Limit: hi}, false
	}
	return Problem{}, true
}

// Bounds returns the inclusive bounds of a year, date_approx, integer,
// decimal or multi_choice answer as canonical decimal text, "" for none,
// with the defaults documented on [config.Question.Min]: for year and
// date_approx, 1900 and the year after the current one (in UTC) when
// unset.
func Bounds(q *config.Question) (lo, hi string) {
	return q.Bounds(time.Now())
}

func parseInt(s string, signed bool) (int, bool) {
	digits := s
	if signed {
		digits = strings.TrimPrefix(s, "-")
	}
	if digits == "" || len(digits) > 9 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && s != "-0"
}

func choiceList(q *config.Question) string {
	vals := make([]string, len(q.Choices))
	for i, c := range q.Choices {
		vals[i] = c.Value
	}
	return strings.Join(vals, " ")
}

func choiceIndex(q *config.Question, v string) int {
	return slices.IndexFunc(q.Choices, func(c config.Choice) bool { return c.Value == v })
}

// Marshal writes r as the version 3 plaintext of a first testimony to
// study s: members in the order above ("return" only if r.Return is set), the study id and version id of s, answers sorted by
// question id, no insignificant white space, and no escapes but those
// JSON requires (and U+2028, U+2029). Answers with no values are left out,
// as unanswered. It does not validate the answers, but refuses a response
// to another study or version, a language the study is not written in,
// and text that is not UTF-8, which JSON would silently alter.
func Marshal(s *config.Study, r *Response) ([]byte, error) {
	if r.Study != "" && r.Study != s.ID {
		return nil, fmt.Errorf("response is for study %q, not %q", r.Study, s.ID)
	}
	if r.Version != "" && r.Version != s.Version() {
		return nil, fmt.Errorf("response is to version %s of the study, not %s", config.ShortVersion(r.Version), s.ShortVersion())
	}
	if !s.HasLanguage(r.Language) {
		return nil, fmt.Errorf("language %q is not one of the study's", r.Language)
	}
	answers, err := Values(s, r)
	if err != nil {
		return nil, err
	}
	w := struct {
		V       int            `json:"v"`
		Study   string         `json:"study"`
		Version string         `json:"version"`
		Lang    string         `json:"lang"`
		Return  string         `json:"return,omitempty"`
		Answers map[string]any `json:"answers"`
	}{V: Version, Study: s.ID, Version: s.Version(), Lang: r.Language, Answers: answers}
	if r.Return != nil {
		w.Return = r.Return.String()
	}
	return encode(w)
}

// encode writes v as JSON with no HTML escaping and no trailing newline.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Values returns r's answers as the plaintext holds them: a string for
// each answered question, or a list of strings for multi_choice. Answers
// with no values are left out, as unanswered. It refuses text that is not
// UTF-8, which JSON would silently alter.
func Values(s *config.Study, r *Response) (map[string]any, error) {
	answers := make(map[string]any, len(r.Answers))
	byID := questions(s)
	for id, vals := range r.Answers {
		if len(vals) == 0 {
			continue // unanswered, as Validate treats it
		}
		if !utf8.ValidString(id) {
			return nil, errors.New("a question id is not UTF-8")
		}
		for _, v := range vals {
			if !utf8.ValidString(v) {
				// The value is an answer: it stays out of the error.
				return nil, fmt.Errorf("question %q: answer is not UTF-8", id)
			}
		}
		q := byID[id]
		if q != nil && q.Type == config.MultiChoice {
			answers[id] = vals
		} else if len(vals) == 1 {
			answers[id] = vals[0]
		} else {
			return nil, fmt.Errorf("question %q has %d values, want 1", id, len(vals))
		}
	}
	return answers, nil
}

// Peek reads the study id and the version id a plaintext names, so that
// the caller can find that version of the study and call Unmarshal (or
// UnmarshalMessage, see [PeekHeader]) with it. It checks the whole
// plaintext's form, not its answers.
func Peek(data []byte) (study, version string, err error) {
	h, err := PeekHeader(data)
	if err != nil {
		return "", "", err
	}
	return h.Study, h.Version, nil
}

// Header is what a plaintext says of itself, read by [PeekHeader].
type Header struct {
	// Study and Version name the study and the version of its study
	// file; Language is the language the person read.
	Study, Version, Language string
	// Kind is [Testimony] for a first testimony, or the kind of a
	// message on a thread: read the first with [Unmarshal], the others
	// with [UnmarshalMessage].
	Kind Kind
}

// PeekHeader reads what a plaintext says of itself, checking the whole
// plaintext's form, not its answers, address or signature.
func PeekHeader(data []byte) (*Header, error) {
	w, err := parseWire(data)
	if err != nil {
		return nil, fmt.Errorf("malformed plaintext: %w", err)
	}
	if w.v != Version {
		return nil, fmt.Errorf("unsupported plaintext version %d", w.v)
	}
	k := Testimony
	if w.has("kind") {
		k = Kind(w.kind)
		if !k.IsMessage() {
			return nil, fmt.Errorf("malformed plaintext: member \"kind\": unknown kind %.20q", w.kind)
		}
	}
	return &Header{Study: w.study, Version: w.version, Language: w.lang, Kind: k}, nil
}

// Unmarshal reads a version 3 plaintext of a first testimony for the
// study s, which must be the version it names, and validates it. A
// message on a thread is refused: read it with [UnmarshalMessage]. An error that wraps [Problems] means
// the plaintext is well formed but its answers break the questionnaire's
// rules; the response is returned with it.
//
// Unmarshal accepts only what Marshal writes, up to the order of members and
// JSON white space: member names are matched exactly, each member must be
// present once, answers must be strings (arrays of one or more strings for
// multi_choice), and nothing may follow the object.
func Unmarshal(s *config.Study, data []byte) (*Response, error) {
	w, err := parseWire(data)
	if err != nil {
		return nil, fmt.Errorf("malformed plaintext: %w", err)
	}
	if err := w.checkHeader(s); err != nil {
		return nil, err
	}
	if w.has("kind") {
		return nil, fmt.Errorf("%w (%.20q), not a first testimony", ErrThreadMessage, w.kind)
	}
	for _, m := range []string{"thread", "reply", "sig"} {
		if w.has(m) {
			return nil, fmt.Errorf("malformed plaintext: member %q belongs to messages on a thread", m)
		}
	}
	r := &Response{Study: w.study, Version: w.version, Language: w.lang, Answers: make(map[string][]string, len(w.answers))}
	if w.has("return") {
		a, err := returnkey.ParseAddress(w.ret)
		if err != nil {
			return nil, fmt.Errorf("malformed plaintext: member \"return\": %w", err)
		}
		r.Return = a
	}
	byID := questions(s)
	for _, a := range w.answers {
		q := byID[a.id]
		if q == nil {
			return nil, fmt.Errorf("plaintext answers unknown question %.40q", a.id)
		}
		if !q.Answerable() {
			return nil, fmt.Errorf("plaintext answers %q, a note, which takes no answer", a.id)
		}
		if (q.Type == config.MultiChoice) != a.array {
			if a.array {
				return nil, fmt.Errorf("malformed plaintext: question %q: want a string, not an array", a.id)
			}
			return nil, fmt.Errorf("malformed plaintext: question %q: want an array of strings", a.id)
		}
		r.Answers[a.id] = a.vals
	}
	if ps := Validate(s, r); ps != nil {
		return r, ps
	}
	return r, nil
}

type wireAnswer struct {
	id    string
	array bool
	vals  []string
}

type wireMessage struct {
	v                    int
	study, version, lang string
	ret                  string
	kind, thread, reply  string
	sig                  string
	answers              []wireAnswer
	seen                 map[string]bool
}

// has reports whether the plaintext had the member m.
func (w *wireMessage) has(m string) bool { return w.seen[m] }

// checkHeader checks the version, study, study version and language
// against s, the version named.
func (w *wireMessage) checkHeader(s *config.Study) error {
	if w.v != Version {
		return fmt.Errorf("unsupported plaintext version %d", w.v)
	}
	if w.study != s.ID {
		return fmt.Errorf("plaintext is for study %q, not %q", w.study, s.ID)
	}
	if w.version != s.Version() {
		return fmt.Errorf("plaintext answers version %s of the study, not %s", config.ShortVersion(w.version), s.ShortVersion())
	}
	if !s.HasLanguage(w.lang) {
		return fmt.Errorf("malformed plaintext: language %q is not one of the study's", w.lang)
	}
	return nil
}

// parseWire reads the plaintext object strictly, without the study.
func parseWire(data []byte) (*wireMessage, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := jsontoken.Delim(dec, '{', "an object"); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	w := &wireMessage{seen: seen}
	for dec.More() {
		key, err := jsontoken.String(dec, "a member name")
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, fmt.Errorf("member %q repeated", key)
		}
		seen[key] = true
		switch key {
		case "v":
			if w.v, err = jsontoken.Int(dec, `member "v"`); err != nil {
				return nil, err
			}
		case "study":
			if w.study, err = jsontoken.String(dec, `member "study"`); err != nil {
				return nil, err
			}
		case "version":
			if w.version, err = jsontoken.String(dec, `member "version"`); err != nil {
				return nil, err
			}
			if !config.IsVersion(w.version) {
				return nil, errors.New("member \"version\": want 64 lowercase hex digits")
			}
		case "lang":
			if w.lang, err = jsontoken.String(dec, `member "lang"`); err != nil {
				return nil, err
			}
		case "return":
			if w.ret, err = jsontoken.String(dec, `member "return"`); err != nil {
				return nil, err
			}
		case "kind":
			if w.kind, err = jsontoken.String(dec, `member "kind"`); err != nil {
				return nil, err
			}
		case "thread":
			if w.thread, err = jsontoken.String(dec, `member "thread"`); err != nil {
				return nil, err
			}
		case "reply":
			if w.reply, err = jsontoken.String(dec, `member "reply"`); err != nil {
				return nil, err
			}
		case "sig":
			if w.sig, err = jsontoken.String(dec, `member "sig"`); err != nil {
				return nil, err
			}
		case "answers":
			if w.answers, err = parseAnswers(dec); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown member %q", key)
		}
	}
	if err := jsontoken.Delim(dec, '}', "the end of the object"); err != nil {
		return nil, err
	}
	for _, m := range []string{"v", "study", "version", "lang", "answers"} {
		if !seen[m] {
			return nil, fmt.Errorf("missing member %q", m)
		}
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, errors.New("data after the object")
	}
	return w, nil
}

func parseAnswers(dec *json.Decoder) ([]wireAnswer, error) {
	if err := jsontoken.Delim(dec, '{', "member \"answers\": an object"); err != nil {
		return nil, err
	}
	var answers []wireAnswer
	seen := map[string]bool{}
	for dec.More() {
		id, err := jsontoken.String(dec, "a question id")
		if err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("question %.40q answered twice", id)
		}
		seen[id] = true
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case string:
			answers = append(answers, wireAnswer{id: id, vals: []string{tok}})
		case json.Delim:
			if tok != '[' {
				return nil, fmt.Errorf("question %.40q: want a string or an array of strings, got an object", id)
			}
			a := wireAnswer{id: id, array: true}
			what := fmt.Sprintf("question %.40q, in an array of strings", id)
			for dec.More() {
				v, err := jsontoken.String(dec, what)
				if err != nil {
					return nil, err
				}
				a.vals = append(a.vals, v)
			}
			if err := jsontoken.Delim(dec, ']', "the end of an array"); err != nil {
				return nil, err
			}
			if len(a.vals) == 0 {
				return nil, fmt.Errorf("question %.40q: empty array; an unanswered question is left out", id)
			}
			answers = append(answers, a)
		default:
			return nil, fmt.Errorf("question %.40q: want a string or an array of strings, got %s", id, jsontoken.Kind(tok))
		}
	}
	return answers, jsontoken.Delim(dec, '}', "the end of the answers")
}

// isNFC reports whether s is in Unicode NFC. Most testimony is ASCII,
// precomposed Hangul and CJK ideographs, which are NFC whatever surrounds
// them; only text with other characters takes the full check.
func isNFC(s string) bool {
	for _, r := range s {
		switch {
		case r < 0x80, // ASCII
			r >= 0xAC00 && r <= 0xD7A3, // Hangul syllables (a following jamo is not in this list)
			r >= 0x4E00 && r <= 0x9FFF, // CJK unified ideographs
			r >= 0x3000 && r <= 0x3029, // CJK symbols and punctuation, before the combining tone marks
			r >= 0x3131 && r <= 0x318E, // Hangul compatibility jamo
			r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
		default:
			return norm.NFC.IsNormalString(s)
		}
	}
	return true
}
