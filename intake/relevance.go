package intake

import (
	"slices"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/testimony-project/testimony/config"
)

// maxNoteChoices bounds the choices of a multiple-choice question whose
// every combination relevantNote tries, to describe a condition on it.
const maxNoteChoices = 8

// relevantNote returns the note shown above a question of st with a
// condition (its section's, sec, and its own, own) on the one-page form, for a
// browser that runs no script and so shows every question: whom the
// question is for. It names the answers that show it when that can be
// known for certain: the conditions read one choice or consent question,
// are false when it is unanswered, and hold exactly when it was answered
// with one of some choices (for a multiple-choice question, with one of
// them among others: every combination is tried, up to maxNoteChoices
// choices). Otherwise it names the questions whose answers decide. It
// returns "" for a question shown to everyone.
func (s *Server) relevantNote(st *config.Study, l *i18n.Localizer, lang string, sec, own *config.Condition) string {
	if sec == nil && own == nil {
		return ""
	}
	holds := func(answers map[string][]string) bool { return sec.Holds(answers) && own.Holds(answers) }
	var deps []*config.Question
	for _, id := range append(sec.Refs(), own.Refs()...) {
		if q := st.Question(id); q != nil && !slices.Contains(deps, q) {
			deps = append(deps, q)
		}
	}
	slices.SortFunc(deps, func(a, b *config.Question) int { return st.QuestionIndex(a.ID) - st.QuestionIndex(b.ID) })
	if len(deps) == 1 {
		if labels := answersThatShow(deps[0], holds, lang, localize(l, "consent_yes")); labels != nil {
			return s.text(l, "relevant_note", map[string]any{"Question": deps[0].Label.In(lang), "Answers": strings.Join(labels, " / ")})
		}
	}
	if len(deps) == 0 {
		return ""
	}
	var names []string
	for _, q := range deps {
		names = append(names, s.text(l, "quoted", map[string]any{"Text": q.Label.In(lang)}))
	}
	return s.text(l, "relevant_note_depends", map[string]any{"Questions": strings.Join(names, localize(l, "list_separator"))})
}

// answersThatShow returns the labels of the answers to q that make holds
// true, if holds is true exactly when q is answered with one of them (see
// relevantNote), or nil.
func answersThatShow(q *config.Question, holds func(map[string][]string) bool, lang, yes string) []string {
	var values, labels []string
	switch q.Type {
	case config.Consent:
		values, labels = []string{config.ConsentValue}, []string{yes}
	case config.SingleChoice, config.MultiChoice:
		for _, c := range q.Choices {
			values = append(values, c.Value)
			labels = append(labels, c.Label.In(lang))
		}
	default:
		return nil
	}
	if holds(map[string][]string{}) {
		return nil // shown to those who leave it unanswered too
	}
	var show []int
	for i, v := range values {
		if holds(map[string][]string{q.ID: {v}}) {
			show = append(show, i)
		}
	}
	if len(show) == 0 {
		return nil
	}
	if q.Type == config.MultiChoice {
		if len(values) > maxNoteChoices {
			return nil
		}
		// Every combination: shown exactly when one of show is ticked.
		for set := 1; set < 1<<len(values); set++ {
			var ticked []string
			want := false
			for i, v := range values {
				if set&(1<<i) != 0 {
					ticked = append(ticked, v)
					want = want || slices.Contains(show, i)
				}
			}
			if holds(map[string][]string{q.ID: ticked}) != want {
				return nil
			}
		}
	}
	out := make([]string, len(show))
	for i, j := range show {
		out[i] = labels[j]
	}
	return out
}
