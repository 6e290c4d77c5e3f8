package response

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/reply"
)

// FollowupStudy returns the questions of reply c as a study of the rules
// of this package: the study s's id, languages and limits (a short_text
// answer takes at most 200 characters or s's max_text_length, a long_text
// answer s's max_text_length; a year is from 1900 to next year), and the
// reply's questions, with no conditions. A followup's answers follow the
// rules of its questions' types, as the questionnaire's do.
func FollowupStudy(s *config.Study, c *reply.Content) *config.Study {
	fs := &config.Study{ID: s.ID, Languages: s.Languages, Limits: s.Limits}
	for _, q := range c.Questions {
		cq := config.Question{ID: q.ID, Type: q.Type, Required: q.Required}
		for _, ch := range q.Choices {
			cq.Choices = append(cq.Choices, config.Choice{Value: ch.Value})
		}
		fs.Questions = append(fs.Questions, cq)
	}
	return fs
}

// ValidateFollowup checks the answers of m, a followup, against the reply
// c it answers, in study s: that m answers c (m.Reply is c.ID), and that
// every answer is to a question of c, written as an array for a
// multi_choice question and as a string for any other, and keeps the
// rules of its question's type ([FollowupStudy]), required questions
// answered. It returns nil, an error saying m does not answer c, or
// [Problems] (an answer written as an array where a string is due, or
// the reverse, is not_a_choice).
func ValidateFollowup(s *config.Study, c *reply.Content, m *Message) error {
	if m.Kind != Followup {
		return fmt.Errorf("message is a %s, not a followup", m.Kind)
	}
	if m.Reply != c.ID {
		return errors.New("followup answers another reply")
	}
	fs := FollowupStudy(s, c)
	byID := questions(fs)
	ps := Problems{}
	for id := range m.Answers {
		q := byID[id]
		if q == nil {
			ps[id] = Problem{Code: Unknown}
			continue
		}
		if (q.Type == config.MultiChoice) != m.Lists[id] {
			ps[id] = Problem{Code: NotAChoice}
		}
	}
	for id, p := range Validate(fs, &Response{Answers: m.Answers}) {
		if _, ok := ps[id]; !ok {
			ps[id] = p
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// FollowupFromForm reads the answers to the questions of reply c from a
// form post, as [FromForm] reads a questionnaire's (fields "q.<id>"; other
// fields are the caller's), and returns the followup in the language
// lang, one of s's, unsigned and with no thread, with the problems found.
// A followup with no answer at all has the problem required on the
// reply's first question. The error wraps [ErrMalformedForm] for a post no
// page could send.
func FollowupFromForm(s *config.Study, c *reply.Content, lang string, form url.Values) (*Message, Problems, error) {
	fs := FollowupStudy(s, c)
	r, ps, err := FromForm(fs, lang, form)
	if err != nil {
		return nil, nil, err
	}
	m := &Message{Study: s.ID, Version: s.Version(), Language: lang, Kind: Followup, Reply: c.ID, Answers: r.Answers}
	for id := range m.Answers {
		if fs.Question(id).Type == config.MultiChoice {
			if m.Lists == nil {
				m.Lists = map[string]bool{}
			}
			m.Lists[id] = true
		}
	}
	if len(m.Answers) == 0 && ps == nil && len(fs.Questions) > 0 {
		ps = Problems{fs.Questions[0].ID: {Code: Required}}
	}
	return m, ps, nil
}
