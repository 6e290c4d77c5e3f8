// Package config loads and checks a study file: the questionnaire, its
// translations, its recipients and its limits.
//
// Use [Load] to read a study file from disk, or [Parse] for bytes already in
// memory. Both return a [Study] that has passed every check, or an [Errors]
// listing every problem, each naming the file, the line, the question and
// the field, and saying how to fix it. examples/nk-internet-access.yaml is a
// complete study file.
//
// # Languages
//
// A study is written in the languages it lists (BCP 47 tags, checked with
// golang.org/x/text/language), the first being its default; every text is
// given in every one of them ([Text]). Answers say which of them the
// person read. intake's own pages (buttons, advice, messages) exist in
// Korean, English and Chinese only ([ChromeLanguages]); a study in another
// language shows its own texts in it and the rest in English.
//
// # Questions, sections and steps
//
// Questions are asked in order. A condition ([Condition]) shows a
// question, or every question of a [Section], only for some answers to
// earlier questions. Notes (type note) are text to read and are never
// answered. Without JavaScript the questionnaire is shown in steps
// ([Study.Steps]): each section, and runs of questions in no section, so
// that a condition never reads an answer on its own step.
//
// # Conditions
//
// Conditions are expressions of package expr, the subset of XLSForm's
// XPath that its documentation specifies, written as strings:
//
//	relevant: "${phone_use} = 'own' or ${phone_use} = 'borrowed'"
//	relevant: "selected(${tools}, 'phone') and ${left_year} - ${birth_year} >= 18"
//	constraint: "${birth_year} = '' or . >= ${birth_year} + 10"
//	constraint_message: {ko: …, en: At least ten years after you were born, zh: …}
//
// A question's or a section's relevant decides whether it is shown; a
// question is shown when its section's condition and its own hold. A
// question's constraint is what its answer must satisfy, "." standing
// for it; constraint_message is what the person is told when it does
// not (a general message when the study gives none). Package response
// evaluates them, and intake's script in the browser evaluates them
// alike (intake/static/expr.js):
//
//   - in questionnaire order, on the answers to the questions shown:
//     an answer to a question that is not shown reads as empty, as in
//     XLSForm, so a follow-up of a hidden question is hidden too;
//   - a constraint only on a question that is shown and answered with a
//     well-formed answer (a number that is a number, within its bounds…).
//
// Parse checks each condition against the questions before it, with
// their kinds as expr sees them: a consent question is a choice whose
// only value is "yes" (${agree} = 'yes'); year, integer and decimal
// questions are numbers; short_text, long_text and date_approx
// questions are texts; single_choice is a choice and multi_choice
// several (selected, count-selected). It refuses, naming the file, line
// and column (of the expression's fault where the value is written on
// one line without escapes, else of the value) and the column in the
// expression, a condition that
//
//   - is not a string (a mapping such as the {question, any_of} of
//     earlier study files, a number, true, an empty value);
//   - does not parse, or fails expr's checks (an unknown question, a
//     value that is not a choice, a comparison of the wrong kinds…);
//   - reads this question itself (relevant), a question after it, a
//     note, or, for a section, a question in the section or after it;
//   - is a relevance condition using ".", or a constraint that never
//     reads the answer it constrains;
//   - is a constraint of a note or of a consent question.
//
// A constraint_message is written in every study language, and only on a
// question with a constraint.
//
// # Decimal numbers
//
// Decimal answers, and the min and max of decimal questions, are exact:
// never floating point. Their canonical text, as the plaintext holds it, is
// an optional "-" (never before zero), the integer part ("0", or digits
// without leading zeros), and optionally "." and digits of which the last is
// not 0; at most [MaxDecimalDigits] (15) digits, not counting a lone "0"
// integer part. No "+", exponent, spaces, grouping or non-ASCII digits:
// "0", "12", "-3.5", "0.25", not "012", "1.50", "1.", ".5", "-0" or "1e3".
// [CanonicalDecimal] reads what people type into it; [CompareDecimal]
// compares canonical texts.
//
// # Revising a study
//
// A study may be revised while answers arrive: each version is a study
// file, named by its SHA-256 ([Study.Version]), and every answer names the
// version it was given to. A revision may add, remove, reorder and reword
// questions, choices, sections and notes; add or remove a language or
// change the default one; change conditions, constraints, limits, bounds, whether a
// question is required, which choices are exclusive, and the recipients.
// [CheckRevision] refuses a revision that would make earlier answers mean
// something else:
//
//   - the study id never changes;
//   - a question id, in any earlier version, never comes back with another
//     type (single_choice and multi_choice are different types, as are
//     short_text and long_text): give a changed question a new id;
//   - a choice value keeps its meaning: a choice is refused whose label, in
//     some language, is the label another value of the same question had
//     in an earlier version (values shifted between labels).
//
// What no program can check is the researcher's to keep: rewording a
// question or choice may fix, clarify or translate it, never ask something
// else under the same id or value.
//
// # Serving
//
// [Study.CheckServable] refuses a study whose recipients include the
// example study's placeholder keys, which nobody can decrypt with.
package config

import (
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
)

// Study is a questionnaire and everything the server and the researchers need
// to collect answers to it.
type Study struct {
	// ID names the study. It is bound into every envelope, so an envelope
	// sealed for one study cannot be opened as another. Required: 3 to 64
	// characters of lowercase ASCII letters, digits and '-'. It never
	// changes between versions of a study ([CheckRevision]).
	ID string `yaml:"id" validate:"studyid"`

	// Languages are the languages the study is written in, as BCP 47 tags
	// (ko, en, zh, zh-Hant, ru …), the default first: pages open in it,
	// and a text missing in the language asked for is shown in it. Every
	// text of the study is written in every one of them. At most 20,
	// distinct. Parse sets [DefaultLanguages] (ko, en, zh) when the file
	// leaves it out. intake's own pages exist in ko, en and zh only;
	// pages in another language show the study's texts in it and the
	// rest in English ([ChromeLanguage]).
	Languages []string `yaml:"languages"`

	// Title and Introduction are shown on the first page. Required.
	Title        Text `yaml:"title"`
	Introduction Text `yaml:"introduction"`

	// Recipients are the researchers who can read the answers. Required: one
	// to 16, each with a distinct public key.
	Recipients []Recipient `yaml:"recipients" validate:"min=1,max=16,dive"`

	// Limits bound what a submitter can send. The zero value of each field
	// means the default documented on it.
	Limits Limits `yaml:"limits"`

	// RequireBrowserEncryption, if true, refuses answers that were not sealed
	// in the browser. The zero value (false) accepts plain form posts and
	// seals them on the server as they arrive.
	RequireBrowserEncryption bool `yaml:"require_browser_encryption"`

	// Sections group consecutive questions under a heading; each is shown
	// as one step to browsers without JavaScript (see [Study.Steps]).
	// Optional: questions in no section are split into steps by the
	// server.
	Sections []Section `yaml:"sections" validate:"max=500,dive"`

	// Questions are asked in this order. Required: 1 to 500.
	Questions []Question `yaml:"questions" validate:"min=1,max=500,dive"`

	// SHA256 is the SHA-256 of the study file's bytes, set by Load and
	// Parse. Its hex form is the version id ([Study.Version]).
	SHA256 [32]byte `yaml:"-"`

	// src is where the study was read from, for errors found after Parse
	// (CheckRevision, CheckServable); nil for a study built in code.
	src *source
}

// Recipient is a researcher who can decrypt answers.
type Recipient struct {
	// Name is how the researcher is shown to submitters. Required: one
	// line of at most 100 characters.
	Name string `yaml:"name" validate:"line,max=100"`
	// PublicKey is the researcher's public key as printed by
	// `researcher keygen` (a "testimony-pub-" string). Required.
	PublicKey string `yaml:"public_key" validate:"publickey"`
}

// Limits bound the size of what a submitter can send.
type Limits struct {
	// MaxSubmissionBytes bounds the size of one submission: a form post
	// body, or an envelope. Zero means 256 KiB; at most 4 MiB. It must
	// leave room for an envelope holding every free-text answer at its
	// maximum length, at four bytes a character.
	MaxSubmissionBytes int `yaml:"max_submission_bytes" validate:"min=0,max=4194304"`
	// MaxTextLength bounds, in characters, any free-text answer whose
	// question sets no max_length. Zero means 5,000; at most 100,000.
	MaxTextLength int `yaml:"max_text_length" validate:"min=0,max=100000"`
}

// Defaults for [Limits].
const (
	DefaultMaxSubmissionBytes = 256 << 10
	MaxMaxSubmissionBytes     = 4 << 20
	DefaultMaxTextLength      = 5000
	MaxMaxTextLength          = 100000
)

// QuestionType is the kind of answer a question takes.
type QuestionType string

// Question types.
const (
	SingleChoice QuestionType = "single_choice" // one of Choices
	MultiChoice  QuestionType = "multi_choice"  // any number of Choices
	ShortText    QuestionType = "short_text"    // one line
	LongText     QuestionType = "long_text"     // several paragraphs
	Year         QuestionType = "year"          // a year, e.g. 2019
	Integer      QuestionType = "integer"       // a whole number
	Decimal      QuestionType = "decimal"       // a decimal number, e.g. 2.5
	Consent      QuestionType = "consent"       // a box ticked to agree
	DateApprox   QuestionType = "date_approx"   // a year, optionally with a season or a month
	Note         QuestionType = "note"          // text to read, never answered
)

// Question is one item of the questionnaire.
type Question struct {
	// ID names the question in forms, exports and errors. Required: 1 to 48
	// characters of lowercase ASCII letters, digits and '_', starting with a
	// letter; unique within the study, sections included. Across versions
	// of a study an id keeps its meaning ([CheckRevision]).
	ID string `yaml:"id" validate:"questionid"`
	// Type is the kind of answer. Required.
	Type QuestionType `yaml:"type" validate:"questiontype"`
	// Label is the question as shown; for a note, its text. Required.
	Label Text `yaml:"label"`
	// Help is shown under the label. The zero value shows nothing.
	Help Text `yaml:"help"`
	// Choices are the possible answers of single_choice and multi_choice
	// questions (2 to 100, values unique); other types must have none.
	Choices []Choice `yaml:"choices" validate:"max=100,dive"`
	// Required, if true, means the question must be answered whenever it is
	// relevant. The zero value (false) makes it optional, except for a
	// consent question, which is required unless the file says
	// "required: false" (an optional permission, such as to quote the
	// answers): Parse sets Required on a consent question that leaves
	// it out. A note is never answered and cannot be required.
	Required bool `yaml:"required"`
	// Min and Max bound year, date_approx, integer and decimal answers
	// (inclusive), and the number of selected choices of multi_choice
	// questions; other types must leave them nil. They are whole numbers
	// but for decimal questions. Nil means no bound for integer and
	// decimal; 1900 and the current year's next year for year and
	// date_approx (whose bounds must be four-digit years); zero and the
	// number of choices for multi_choice. [Question.Range] and
	// [Question.Bounds] apply these defaults.
	Min *Number `yaml:"min"`
	Max *Number `yaml:"max"`
	// Decimals bounds the digits after the point of a decimal answer: 1 to
	// 15. Zero means no bound but that of [MaxDecimalDigits]. Only decimal
	// questions have it.
	Decimals int `yaml:"decimals,omitempty"`
	// MaxLength bounds short_text and long_text answers, in characters
	// (Unicode code points); other types must leave it zero. Zero means 200
	// for short_text and the study's MaxTextLength for long_text, whichever
	// is smaller; it may not exceed MaxTextLength. [Question.MaxLen]
	// applies these defaults.
	MaxLength int `yaml:"max_length" validate:"min=0"`
	// Relevant, if set, shows the question only when it holds, given the
	// answers to the questions before it that are shown (an answer to a
	// question not shown reads as empty). It may read only questions
	// before this one, and no note. Nil means always shown (when its
	// section is).
	Relevant *Condition `yaml:"relevant,omitempty"`
	// Constraint, if set, is what an answer to the question must satisfy,
	// "." standing for it: for example ". >= ${birth_year}". It is checked
	// only when the question is shown and answered with a well-formed
	// answer, against the answers to the questions before it that are
	// shown. It may read only this question and questions before it, and
	// must read this one. Notes and consent questions have none.
	Constraint *Condition `yaml:"constraint,omitempty"`
	// ConstraintMessage is shown to the person whose answer breaks the
	// constraint, in every study language (or none: a general message is
	// shown). Only a question with a constraint has one.
	ConstraintMessage Text `yaml:"constraint_message"`
}

// Choice is one possible answer to a choice question.
type Choice struct {
	// Value is what is stored and exported. Required: 1 to 48 characters of
	// lowercase ASCII letters, digits and '_'; unique within the question.
	// Across versions of a study, a value of a question keeps its meaning.
	Value string `yaml:"value" validate:"choicevalue"`
	// Label is the choice as shown. Required.
	Label Text `yaml:"label"`
	// Exclusive, in a multi_choice question, means the choice is ticked
	// alone or not at all: "none of these", "I do not know". The zero
	// value (false) combines with any other choice.
	Exclusive bool `yaml:"exclusive"`
}

// Section is a run of consecutive questions shown under one heading, and
// as one step (or, where a question depends on another of the section,
// several) to browsers without JavaScript.
type Section struct {
	// ID names the section in errors and pages. Required: the syntax of a
	// question id, unique among sections and questions.
	ID string `yaml:"id" validate:"questionid"`
	// Label is the section's heading. Required.
	Label Text `yaml:"label"`
	// Help is shown under the heading. The zero value shows nothing.
	Help Text `yaml:"help"`
	// Relevant, if set, shows the section, and so each of its questions,
	// only when it holds, given the answers to the questions before the
	// section that are shown. It may read only questions before the
	// section. A question's own condition applies as well.
	Relevant *Condition `yaml:"relevant,omitempty"`
	// Questions are the ids of the section's questions: at least one, each
	// in no other section, consecutive and in the questionnaire's order.
	Questions []string `yaml:"questions" validate:"min=1,max=500"`
}

// MaxSubmissionBytes returns Limits.MaxSubmissionBytes, or its default if
// it is zero.
func (s *Study) MaxSubmissionBytes() int {
	if s.Limits.MaxSubmissionBytes == 0 {
		return DefaultMaxSubmissionBytes
	}
	return s.Limits.MaxSubmissionBytes
}

// MaxTextLength returns Limits.MaxTextLength, or its default if it is zero.
func (s *Study) MaxTextLength() int {
	if s.Limits.MaxTextLength == 0 {
		return DefaultMaxTextLength
	}
	return s.Limits.MaxTextLength
}

// Version returns the study's version id: the SHA-256 of the study file,
// as 64 lowercase hex digits. Every plaintext names the version its
// answers were given to.
func (s *Study) Version() string { return hex.EncodeToString(s.SHA256[:]) }

// ShortVersion returns the first 12 hex digits of the version id, the
// form shown to people.
func (s *Study) ShortVersion() string { return ShortVersion(s.Version()) }

// ShortVersion returns the first 12 hex digits of a version id.
func ShortVersion(version string) string {
	if len(version) > 12 {
		return version[:12]
	}
	return version
}

// IsVersion reports whether v is written as a version id: 64 lowercase
// hex digits.
func IsVersion(v string) bool {
	if len(v) != 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !('0' <= v[i] && v[i] <= '9' || 'a' <= v[i] && v[i] <= 'f') {
			return false
		}
	}
	return true
}

// Langs returns the study's languages, default first, with the defaults for a study built
// in code without any.
func (s *Study) Langs() []string {
	if len(s.Languages) == 0 {
		return DefaultLanguages
	}
	return s.Languages
}

// DefaultLanguage returns the study's default language, the first of
// Languages.
func (s *Study) DefaultLanguage() string { return s.Langs()[0] }

// HasLanguage reports whether lang is one of the study's languages.
func (s *Study) HasLanguage(lang string) bool { return slices.Contains(s.Langs(), lang) }

// Question returns the question with the given id, or nil if there is none.
func (s *Study) Question(id string) *Question {
	if i := s.QuestionIndex(id); i >= 0 {
		return &s.Questions[i]
	}
	return nil
}

// QuestionIndex returns the index in Questions of the question with the
// given id, or -1.
func (s *Study) QuestionIndex(id string) int {
	for i := range s.Questions {
		if s.Questions[i].ID == id {
			return i
		}
	}
	return -1
}

// Section returns the section with the given id, or nil if there is none.
func (s *Study) Section(id string) *Section {
	for i := range s.Sections {
		if s.Sections[i].ID == id {
			return &s.Sections[i]
		}
	}
	return nil
}

// SectionOf returns the section that holds the question with the given
// id, or nil if it is in none.
func (s *Study) SectionOf(id string) *Section {
	for i := range s.Sections {
		if slices.Contains(s.Sections[i].Questions, id) {
			return &s.Sections[i]
		}
	}
	return nil
}

// RecipientKeys returns the public keys of the recipients, in the order
// the study lists them, which is the order [envelope.Seal] takes them in.
func (s *Study) RecipientKeys() ([]*envelope.Recipient, error) {
	keys := make([]*envelope.Recipient, len(s.Recipients))
	for i, r := range s.Recipients {
		k, err := envelope.ParseRecipient(r.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", r.Name, err)
		}
		keys[i] = k
	}
	return keys, nil
}

// Answerable reports whether q takes an answer: every type but note.
func (q *Question) Answerable() bool { return q.Type != Note }

// Choice returns the choice with the given value, or nil if there is none.
func (q *Question) Choice(value string) *Choice {
	for i := range q.Choices {
		if q.Choices[i].Value == value {
			return &q.Choices[i]
		}
	}
	return nil
}

// MaxLen returns the most characters (Unicode code points) a short_text or
// long_text answer to q may have in study s, applying the defaults
// documented on [Question.MaxLength]. It returns 0 for other types.
func (q *Question) MaxLen(s *Study) int {
	switch q.Type {
	case ShortText:
		if q.MaxLength == 0 {
			return min(DefaultShortTextLength, s.MaxTextLength())
		}
		return q.MaxLength
	case LongText:
		if q.MaxLength == 0 {
			return s.MaxTextLength()
		}
		return q.MaxLength
	}
	return 0
}

// Range returns the inclusive bounds of an answer to q, applying the
// defaults documented on [Question.Min]: for year and date_approx, the
// year; for integer, the number (math.MinInt and math.MaxInt when
// unbounded); for multi_choice, the number of choices ticked. year and
// date_approx default their upper bound to the year after now's, in UTC.
// Other types, decimal included ([Question.Bounds]), return 0, 0.
func (q *Question) Range(now time.Time) (lo, hi int) {
	switch q.Type {
	case Year, DateApprox:
		lo, hi = DefaultMinYear, now.UTC().Year()+1
	case Integer:
		lo, hi = math.MinInt, math.MaxInt
	case MultiChoice:
		lo, hi = 0, len(q.Choices)
	default:
		return 0, 0
	}
	if n, ok := intOf(q.Min); ok {
		lo = n
	}
	if n, ok := intOf(q.Max); ok {
		hi = n
	}
	return lo, hi
}

// Bounds returns the inclusive bounds of a year, date_approx, integer,
// decimal or multi_choice answer to q as canonical decimal text, "" for
// none: Min and Max as written, with the defaults of year and date_approx
// applied (see [Question.Range]). Other types return "", "".
func (q *Question) Bounds(now time.Time) (lo, hi string) {
	switch q.Type {
	case Year, DateApprox:
		l, h := q.Range(now)
		return fmt.Sprint(l), fmt.Sprint(h)
	case Integer, Decimal, MultiChoice:
		if q.Min != nil {
			lo = q.Min.String()
		}
		if q.Max != nil {
			hi = q.Max.String()
		}
	}
	return lo, hi
}

func intOf(n *Number) (int, bool) {
	if n == nil {
		return 0, false
	}
	return n.Int()
}
