// Package config loads and checks a study file: the questionnaire, its
// translations, its recipients and its limits.
//
// Use [Load] to read a study file from disk, or [Parse] for bytes already in
// memory. Both return a [Study] that has passed every check, or an [Errors]
// listing every problem, each naming the file, the line, the question and
// the field, and saying how to fix it. examples/nk-internet-access.yaml is a
// complete study file.
package config

import (
	"fmt"
	"math"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
)

// Languages are the languages every study must be written in, default first.
var Languages = []string{"ko", "en", "zh"}

// DefaultLanguage is the language pages are shown in when none is chosen.
const DefaultLanguage = "ko"

// Study is a questionnaire and everything the server and the researchers need
// to collect answers to it.
type Study struct {
	// ID names the study. It is bound into every envelope, so an envelope
	// sealed for one study cannot be opened as another. Required: 3 to 64
	// characters of lowercase ASCII letters, digits and '-'.
	ID string `yaml:"id" validate:"studyid"`

	// Title and Introduction are shown on the first page. Required in every
	// language.
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

	// Questions are asked in this order. Required: 1 to 500.
	Questions []Question `yaml:"questions" validate:"min=1,max=500,dive"`

	// SHA256 is the SHA-256 of the study file's bytes, set by Load and Parse.
	SHA256 [32]byte `yaml:"-"`
}

// Text is a piece of text in every supported language. A text that is set
// has every language set to valid UTF-8 that is not only white space and
// holds no control characters other than tab and newline.
type Text struct {
	KO string `yaml:"ko"`
	EN string `yaml:"en"`
	ZH string `yaml:"zh"`
}

// In returns the text in lang, or in [DefaultLanguage] if lang is unknown.
func (t Text) In(lang string) string {
	switch lang {
	case "en":
		return t.EN
	case "zh":
		return t.ZH
	default:
		return t.KO
	}
}

// IsZero reports whether t has no text in any language.
func (t Text) IsZero() bool { return t.KO == "" && t.EN == "" && t.ZH == "" }

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
	Consent      QuestionType = "consent"       // a box that must be ticked to agree
	DateApprox   QuestionType = "date_approx"   // a year, optionally with a season or a month
)

// Question is one item of the questionnaire.
type Question struct {
	// ID names the question in forms, exports and errors. Required: 1 to 48
	// characters of lowercase ASCII letters, digits and '_', starting with a
	// letter; unique within the study.
	ID string `yaml:"id" validate:"questionid"`
	// Type is the kind of answer. Required.
	Type QuestionType `yaml:"type" validate:"questiontype"`
	// Label is the question as shown. Required in every language.
	Label Text `yaml:"label"`
	// Help is shown under the label. The zero value shows nothing; if set,
	// it must be set in every language.
	Help Text `yaml:"help"`
	// Choices are the possible answers of single_choice and multi_choice
	// questions (2 to 100, values unique); other types must have none.
	Choices []Choice `yaml:"choices" validate:"max=100,dive"`
	// Required, if true, means the question must be answered whenever it is
	// relevant. The zero value (false) makes it optional. A consent
	// question is always required: Load and Parse set Required on it.
	Required bool `yaml:"required"`
	// Min and Max bound year, date_approx and integer answers (inclusive),
	// and the number of selected choices of multi_choice questions; other
	// types must leave them nil. Nil means no bound for integer; 1900 and
	// the current year's next year for year and date_approx (whose bounds
	// must be four-digit years); zero and the number of choices for
	// multi_choice. [Question.Range] applies these defaults.
	Min *int `yaml:"min"`
	Max *int `yaml:"max"`
	// MaxLength bounds short_text and long_text answers, in characters
	// (Unicode code points); other types must leave it zero. Zero means 200
	// for short_text and the study's MaxTextLength for long_text, whichever
	// is smaller; it may not exceed MaxTextLength. [Question.MaxLen]
	// applies these defaults.
	MaxLength int `yaml:"max_length" validate:"min=0"`
	// Relevant, if set, shows the question only when an earlier question
	// was answered with one of the given values. Nil means always shown.
	Relevant *Condition `yaml:"relevant"`
}

// Choice is one possible answer to a choice question.
type Choice struct {
	// Value is what is stored and exported. Required: 1 to 48 characters of
	// lowercase ASCII letters, digits and '_'; unique within the question.
	Value string `yaml:"value" validate:"choicevalue"`
	// Label is the choice as shown. Required in every language.
	Label Text `yaml:"label"`
}

// Condition makes a question relevant only for some answers to an earlier
// question.
type Condition struct {
	// Question is the ID of an earlier single_choice, multi_choice or
	// consent question. Required.
	Question string `yaml:"question" validate:"required"`
	// AnyOf lists choice values (or "yes" for consent); the condition holds
	// when the earlier answer is, or for multi_choice includes, any of them.
	// Required: 1 to 100 distinct values.
	AnyOf []string `yaml:"any_of" validate:"min=1,max=100,dive,choicevalue"`
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

// Question returns the question with the given id, or nil if there is none.
func (s *Study) Question(id string) *Question {
	for i := range s.Questions {
		if s.Questions[i].ID == id {
			return &s.Questions[i]
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
// Other types return 0, 0.
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
	if q.Min != nil {
		lo = *q.Min
	}
	if q.Max != nil {
		hi = *q.Max
	}
	return lo, hi
}
