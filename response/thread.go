package response

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/returnkey"
)

// Kind says what a plaintext is: a first testimony, or a message on the
// thread a first testimony with a return address started.
type Kind string

// Kinds of plaintext.
const (
	// Testimony is a first testimony. Its plaintext has no "kind" member.
	Testimony Kind = "testimony"
	// Followup answers the questions of a researcher's reply.
	Followup Kind = "followup"
	// Addition adds a text to the person's testimony.
	Addition Kind = "addition"
	// Withdrawal asks that the person's testimony and everything on its
	// thread be withdrawn.
	Withdrawal Kind = "withdrawal"
)

// IsMessage reports whether k is the kind of a message on a thread.
func (k Kind) IsMessage() bool { return k == Followup || k == Addition || k == Withdrawal }

// AdditionField is the one answer of an addition: its text.
const AdditionField = "text"

// threadLabel starts what a person signs: see [SignThread].
const threadLabel = "testimony-thread-v1\x00"

// ErrThreadUnverified is wrapped by [UnmarshalMessage] and [VerifyThread]
// when a message's signature is not by the key of the thread it names:
// it was not written by whoever holds that thread's passphrase.
var ErrThreadUnverified = errors.New("message on a thread is not signed by the thread's key")

// ErrThreadMessage is what [Unmarshal] returns, wrapped, for a plaintext
// that is a message on a thread (it has a "kind") rather than a first
// testimony: a reader that expects mostly testimonies tries [Unmarshal]
// first and reads the few messages with [PeekHeader] and
// [UnmarshalMessage] when it gets this.
var ErrThreadMessage = errors.New("plaintext is a message on a thread")

// Message is a message on a thread: what a person who came back with the
// return passphrase sends, sealed in an ordinary envelope.
//
// Its plaintext has exactly these members, written in this order:
//
//	{"v":3,"study":"<id>","version":"<64 hex>","lang":"<tag>","kind":"followup|addition|withdrawal",
//	 "thread":"<address>","reply":"<reply id>","answers":{…},"sig":"<base64>"}
//
// "version" and "lang" are the version of the study file the page the
// person used was made from, and its language. "thread" is the return
// address of the person's first testimony (the address the passphrase
// gives; see package crypto/returnkey): it names the thread, and its
// Ed25519 key checks the signature. "reply", for a followup only, is the
// id of the reply whose questions it answers (26 characters of a–z and
// 2–7, package reply). "answers" holds, for a followup, the answers to the
// reply's questions by question id (a string, or an array of strings for
// a multi_choice question; at least one answer, at most
// reply.MaxQuestions); for an addition, exactly {"text": "<text>"} (a
// long text of at most the study's max_text_length characters); for a
// withdrawal, nothing ({}). "sig" is the signature (see [SignThread]), in
// standard base64 with padding: 88 characters.
type Message struct {
	// Study and Version name the study and the version of its study
	// file; Language is the language of the page, one of that version's.
	Study, Version, Language string
	// Kind is Followup, Addition or Withdrawal.
	Kind Kind
	// Thread is the return address of the person's first testimony.
	Thread *returnkey.Address
	// Reply is the id of the reply a followup answers; "" otherwise.
	Reply string
	// Answers are the message's answers: see the type's documentation.
	Answers map[string][]string
	// Lists holds the ids of the answers written as arrays of strings:
	// the answers to multi_choice questions of a followup.
	Lists map[string]bool
	// Sig is the person's signature, 64 bytes; nil before signing.
	Sig []byte
}

var (
	replyIDRE    = regexp.MustCompile(`^[a-z2-7]{26}$`)
	answerIDRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	maxFollowups = 10 // reply.MaxQuestions
)

// MarshalMessage writes m as the version 3 plaintext of a message on a
// thread of study s (the version its page was made from): members in the
// order above, "reply" for a followup only, "sig" only if m.Sig is set,
// answers sorted by id, no insignificant white space, and no escapes but
// those JSON requires (and U+2028, U+2029). It refuses a message that
// breaks the format or whose addition text breaks its limits.
func MarshalMessage(s *config.Study, m *Message) ([]byte, error) {
	if m.Study != "" && m.Study != s.ID {
		return nil, fmt.Errorf("message is for study %q, not %q", m.Study, s.ID)
	}
	if m.Version != "" && m.Version != s.Version() {
		return nil, fmt.Errorf("message is from version %s of the study, not %s", config.ShortVersion(m.Version), s.ShortVersion())
	}
	if !s.HasLanguage(m.Language) {
		return nil, fmt.Errorf("language %q is not one of the study's", m.Language)
	}
	c := *m
	c.Study, c.Version = s.ID, s.Version()
	if err := checkMessage(&c); err != nil {
		return nil, err
	}
	if ps := checkAddition(s, &c); ps != nil {
		return nil, ps
	}
	return marshalMessage(&c, c.Sig != nil)
}

// marshalMessage writes m, checked, with or without its signature.
func marshalMessage(m *Message, signed bool) ([]byte, error) {
	answers := make(map[string]any, len(m.Answers))
	for id, vals := range m.Answers {
		if m.Lists[id] {
			answers[id] = vals
		} else {
			answers[id] = vals[0]
		}
	}
	w := struct {
		V       int            `json:"v"`
		Study   string         `json:"study"`
		Version string         `json:"version"`
		Lang    string         `json:"lang"`
		Kind    Kind           `json:"kind"`
		Thread  string         `json:"thread"`
		Reply   string         `json:"reply,omitempty"`
		Answers map[string]any `json:"answers"`
		Sig     string         `json:"sig,omitempty"`
	}{V: Version, Study: m.Study, Version: m.Version, Lang: m.Language, Kind: m.Kind, Thread: m.Thread.String(), Reply: m.Reply, Answers: answers}
	if signed {
		w.Sig = base64.StdEncoding.EncodeToString(m.Sig)
	}
	return encode(w)
}

// checkMessage checks m's form: its kind, thread, reply id, answers and
// signature's size, but not the signature itself. The text of answers
// stays out of its errors.
func checkMessage(m *Message) error {
	if !m.Kind.IsMessage() {
		return fmt.Errorf("malformed message: unknown kind %.20q", m.Kind)
	}
	if m.Thread == nil {
		return errors.New("malformed message: no thread")
	}
	if (m.Kind == Followup) != (m.Reply != "") {
		if m.Kind == Followup {
			return errors.New("malformed message: a followup names the reply it answers")
		}
		return fmt.Errorf("malformed message: a %s names no reply", m.Kind)
	}
	if m.Kind == Followup && !replyIDRE.MatchString(m.Reply) {
		return errors.New("malformed message: a reply id is 26 characters of a-z and 2-7")
	}
	if m.Sig != nil && len(m.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("malformed message: a signature is %d bytes, not %d", ed25519.SignatureSize, len(m.Sig))
	}
	for id := range m.Lists {
		if _, ok := m.Answers[id]; !ok {
			return fmt.Errorf("malformed message: %q is marked a list but not answered", id)
		}
	}
	for id, vals := range m.Answers {
		if !utf8.ValidString(id) || !answerIDRE.MatchString(id) {
			return fmt.Errorf("malformed message: answer id %.50q: want a question id ([a-z][a-z0-9_]*, at most 48)", id)
		}
		if len(vals) == 0 || !m.Lists[id] && len(vals) != 1 {
			return fmt.Errorf("malformed message: answer %q: want one string, or an array of one or more", id)
		}
		for _, v := range vals {
			if !utf8.ValidString(v) {
				return fmt.Errorf("malformed message: answer %q is not UTF-8", id)
			}
		}
	}
	switch m.Kind {
	case Followup:
		if len(m.Answers) == 0 || len(m.Answers) > maxFollowups {
			return fmt.Errorf("malformed message: a followup answers 1 to %d questions, not %d", maxFollowups, len(m.Answers))
		}
	case Addition:
		if len(m.Answers) != 1 || len(m.Answers[AdditionField]) != 1 || m.Lists[AdditionField] {
			return fmt.Errorf("malformed message: an addition's answers are {%q: text}", AdditionField)
		}
	case Withdrawal:
		if len(m.Answers) != 0 {
			return errors.New("malformed message: a withdrawal has no answers")
		}
	}
	return nil
}

// AdditionLimit returns the most characters an addition's text may have
// in study s: its max_text_length.
func AdditionLimit(s *config.Study) int { return s.MaxTextLength() }

// checkAddition returns the problem with an addition's text, if any: the
// rules of a long_text answer with the study's max_text_length. It returns
// nil for other kinds.
func checkAddition(s *config.Study, m *Message) Problems {
	if m.Kind != Addition {
		return nil
	}
	q := &config.Question{ID: AdditionField, Type: config.LongText, MaxLength: AdditionLimit(s)}
	if p, ok := check(s, q, m.Answers[AdditionField]); !ok {
		return Problems{AdditionField: p}
	}
	return nil
}

// SignThread signs m as the person holding keys, the keys of m's thread,
// and returns its plaintext, setting m.Sig, m.Study and m.Version.
//
// The signature is the person's (returnkey.Keys.Sign: Ed25519 with the
// key the passphrase gives, over "testimony-return-v1 signature" || 0x00
// || message) of the message
//
//	"testimony-thread-v1" || 0x00 || P
//
// where P is the plaintext [MarshalMessage] writes without the "sig"
// member: every other member, in order, exactly. So the Ed25519 signature
// is over "testimony-return-v1 signature" || 0x00 || "testimony-thread-v1"
// || 0x00 || P.
func SignThread(s *config.Study, m *Message, keys *returnkey.Keys) ([]byte, error) {
	if m.Thread == nil {
		m.Thread = keys.Address()
	}
	if !m.Thread.Equal(keys.Address()) {
		return nil, errors.New("message names another thread than these keys'")
	}
	m.Sig = nil
	unsigned, err := MarshalMessage(s, m)
	if err != nil {
		return nil, err
	}
	m.Study, m.Version = s.ID, s.Version()
	m.Sig = keys.Sign(append([]byte(threadLabel), unsigned...))
	return marshalMessage(m, true)
}

// VerifyThread checks that m's signature is by the key of the thread it
// names (see [SignThread]). It does not check that the thread is one the
// caller knows: a researcher attaches a message only to the testimony
// whose return address is m.Thread.
func VerifyThread(m *Message) error {
	if err := checkMessage(m); err != nil {
		return err
	}
	return verifyThread(m)
}

// verifyThread is VerifyThread for a message checkMessage accepted.
func verifyThread(m *Message) error {
	if m.Sig == nil {
		return fmt.Errorf("%w: it is not signed", ErrThreadUnverified)
	}
	unsigned, err := marshalMessage(m, false)
	if err != nil {
		return err
	}
	if !m.Thread.Verify(append([]byte(threadLabel), unsigned...), m.Sig) {
		return ErrThreadUnverified
	}
	return nil
}

// UnmarshalMessage reads a version 3 plaintext of a message on a thread
// for the study s, which must be the version it names, checks its form
// and its signature ([VerifyThread]: an error wrapping
// [ErrThreadUnverified] if it fails), and, for an addition, its text. An
// error that wraps [Problems] means the message is well formed and signed
// but its text breaks the study's limits; the message is returned with
// it. A followup's answers are checked against the reply they answer by
// [ValidateFollowup]. A first testimony is refused: read it with
// [Unmarshal].
//
// Like Unmarshal, it accepts only what MarshalMessage writes, up to the
// order of members and JSON white space: the signature covers the bytes
// MarshalMessage writes of what was read.
func UnmarshalMessage(s *config.Study, data []byte) (*Message, error) {
	w, err := parseWire(data)
	if err != nil {
		return nil, fmt.Errorf("malformed plaintext: %w", err)
	}
	if err := w.checkHeader(s); err != nil {
		return nil, err
	}
	if !w.has("kind") {
		return nil, errors.New("plaintext is a first testimony, not a message on a thread")
	}
	if w.has("return") {
		return nil, errors.New(`malformed plaintext: member "return" belongs to first testimonies`)
	}
	for _, member := range []string{"thread", "sig"} {
		if !w.has(member) {
			return nil, fmt.Errorf("malformed plaintext: missing member %q", member)
		}
	}
	m := &Message{Study: w.study, Version: w.version, Language: w.lang, Kind: Kind(w.kind), Reply: w.reply,
		Answers: make(map[string][]string, len(w.answers))}
	if !m.Kind.IsMessage() {
		return nil, fmt.Errorf("malformed plaintext: member \"kind\": unknown kind %.20q", w.kind)
	}
	if w.has("reply") && w.reply == "" {
		return nil, errors.New(`malformed plaintext: member "reply" is empty`)
	}
	if m.Thread, err = returnkey.ParseAddress(w.thread); err != nil {
		return nil, fmt.Errorf("malformed plaintext: member \"thread\": %w", err)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(w.sig)
	if err != nil || base64.StdEncoding.EncodeToString(sig) != w.sig {
		return nil, errors.New(`malformed plaintext: member "sig": want standard base64 with padding`)
	}
	m.Sig = sig
	for _, a := range w.answers {
		m.Answers[a.id] = a.vals
		if a.array {
			if m.Lists == nil {
				m.Lists = map[string]bool{}
			}
			m.Lists[a.id] = true
		}
	}
	if err := checkMessage(m); err != nil {
		return nil, fmt.Errorf("malformed plaintext: %w", err)
	}
	if err := verifyThread(m); err != nil {
		return nil, err
	}
	if ps := checkAddition(s, m); ps != nil {
		return m, ps
	}
	return m, nil
}
