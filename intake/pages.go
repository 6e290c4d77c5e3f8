package intake

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/response"
)

// localize is the templates' "t" function.
func localize(l *i18n.Localizer, id string) string {
	return l.MustLocalize(&i18n.LocalizeConfig{MessageID: id})
}

func (s *Server) text(l *i18n.Localizer, id string, data map[string]any) string {
	return l.MustLocalize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data})
}

type langLink struct {
	Code, Name, Href string
	Current          bool
}

type page struct {
	Lang  string
	L     *i18n.Localizer
	Title string
	Langs []langLink
}

func (s *Server) page(lang, title string) page {
	l := i18n.NewLocalizer(s.bundle, lang)
	p := page{Lang: lang, L: l, Title: title}
	for _, c := range config.Languages {
		ll := i18n.NewLocalizer(s.bundle, c)
		p.Langs = append(p.Langs, langLink{Code: c, Name: localize(ll, "lang_name"), Href: "/?lang=" + c, Current: c == lang})
	}
	return p
}

type choiceView struct {
	Q, Value, Label string
	Checked         bool
}

type questionView struct {
	ID, Type, Label, Help, Value, Problem, RelevantNote string
	Number, MaxLength                                   int
	Required                                            bool
	Choices, WhenOptions                                []choiceView
}

type formPage struct {
	page
	Intro      string
	Recipients []string
	Questions  []questionView
	Problems   bool
	Prefix     string
	When       string
}

func (s *Server) renderForm(w http.ResponseWriter, r *http.Request, lang string, status int, form url.Values, problems response.Problems) {
	st := s.c.Study
	p := formPage{
		page:       s.page(lang, st.Title.In(lang)),
		Intro:      st.Introduction.In(lang),
		Recipients: s.names,
		Problems:   len(problems) > 0,
		Prefix:     response.FieldPrefix,
		When:       response.WhenSuffix,
	}
	for i := range st.Questions {
		q := &st.Questions[i]
		v := questionView{
			ID: q.ID, Type: string(q.Type), Number: i + 1,
			Label: q.Label.In(lang), Help: q.Help.In(lang),
			Required:  q.Required || q.Type == config.Consent,
			MaxLength: response.MaxLength(st, q),
			Value:     form.Get(response.FieldPrefix + q.ID),
		}
		if pr, ok := problems[q.ID]; ok {
			v.Problem = s.text(p.L, "problem_"+string(pr.Code), map[string]any{"Limit": pr.Limit})
		}
		if c := q.Relevant; c != nil {
			if dep := st.Question(c.Question); dep != nil {
				var labels []string
				for _, a := range c.AnyOf {
					if ch := dep.Choice(a); ch != nil {
						labels = append(labels, ch.Label.In(lang))
					} else {
						labels = append(labels, localize(p.L, "consent_yes"))
					}
				}
				v.RelevantNote = s.text(p.L, "relevant_note", map[string]any{"Question": dep.Label.In(lang), "Answers": strings.Join(labels, " / ")})
			}
		}
		selected := form[response.FieldPrefix+q.ID]
		for _, c := range q.Choices {
			v.Choices = append(v.Choices, choiceView{Q: q.ID, Value: c.Value, Label: c.Label.In(lang), Checked: contains(selected, c.Value)})
		}
		if q.Type == config.DateApprox {
			when := form.Get(response.FieldPrefix + q.ID + response.WhenSuffix)
			v.WhenOptions = append(v.WhenOptions, choiceView{Value: "", Label: localize(p.L, "when_unknown"), Checked: when == ""})
			for _, season := range response.Seasons {
				v.WhenOptions = append(v.WhenOptions, choiceView{Value: season, Label: localize(p.L, "season_"+season), Checked: when == season})
			}
			for m := 1; m <= 12; m++ {
				val := fmt.Sprintf("%02d", m)
				v.WhenOptions = append(v.WhenOptions, choiceView{Value: val, Label: s.text(p.L, "month", map[string]any{"Month": m}), Checked: when == val})
			}
		}
		p.Questions = append(p.Questions, v)
	}
	s.render(w, status, "form.html", p)
}

func contains(vals []string, v string) bool {
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}

type messagePage struct {
	page
	Heading    string
	Paragraphs []string
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, lang string, status int, heading string, paragraphs ...string) {
	p := messagePage{page: s.page(lang, "")}
	p.Heading = localize(p.L, heading)
	p.Title = p.Heading
	for _, id := range paragraphs {
		p.Paragraphs = append(p.Paragraphs, localize(p.L, id))
	}
	s.render(w, status, "message.html", p)
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		// Templates are fixed at build time; a failure is a bug, and
		// the error text is not shown: it could hold answers.
		panic("intake: failed to render " + name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
