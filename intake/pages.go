package intake

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
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

// problemCodes are every code response can report; each has a message
// "problem_<code>" in every language.
var problemCodes = response.Codes

type langLink struct {
	Code, Name, Href string
	Current          bool
}

type page struct {
	Lang string
	L    *i18n.Localizer
	// Title heads the page (h1). TabTitle is the document's title, the
	// same neutral word on every page: it is what the tab, the window
	// list, the history and the Back button's menu show, and it must not
	// name the study (see the quick exit).
	Title, TabTitle string
	Langs           []langLink
	Scripts         []string
}

// page returns the parts every page shares. langPath is where the language
// links lead ("" for none: a page holding answers cannot be left by a link
// without losing them).
func (s *Server) page(lang, title, langPath string) page {
	l := i18n.NewLocalizer(s.bundle, config.ChromeLanguage(lang))
	p := page{Lang: lang, L: l, Title: title, TabTitle: localize(l, "page_title"), Scripts: []string{"/static/testimony.js"}}
	if langPath == "" {
		return p
	}
	for _, c := range s.c.Study.Languages {
		name := config.Endonym(c)
		if config.ChromeLanguage(c) == c {
			name = localize(i18n.NewLocalizer(s.bundle, c), "lang_name")
		}
		href := langPath + "lang=" + c
		p.Langs = append(p.Langs, langLink{Code: c, Name: name, Href: href, Current: c == lang})
	}
	return p
}

type choiceView struct {
	Q, Value, Label    string
	Checked, Exclusive bool
}

type questionView struct {
	ID, Type, Label, Help, Value, Problem, RelevantNote string
	// Hint is a line on how to write the answer (decimal questions).
	Hint              string
	Number, MaxLength int
	// Optional marks a consent question that need not be ticked: consent
	// is otherwise taken to be required.
	Required, Optional   bool
	Choices, WhenOptions []choiceView
	// Data attributes for the browser's checks: bounds as response
	// applies them ("" for none), the digits after the point of a
	// decimal, the condition, the section's condition and the
	// constraint, as the study file writes them, and the constraint's
	// message in the page's language ("" for the general one).
	Min, Max, Rel, SecRel, Con, ConMsg string
	Decimals                           int
}

// sectionView is a section's heading on a page.
type sectionView struct{ ID, Label, Help string }

// blockView is a run of questions on a page: those of one section, under
// its heading, or in none.
type blockView struct {
	Section   *sectionView
	Questions []questionView
}

type hiddenField struct{ Name, Value string }

type formPage struct {
	page
	All        bool // every question on one page, for browsers with JavaScript
	Step       int  // 1-based, when not All
	Steps      int
	First      bool
	Blocks     []blockView
	Hidden     []hiddenField
	Problems   bool
	Updated    bool // the answers were carried from another version
	OnePage    string
	SealedOnly bool // the study refuses answers not sealed in the browser
	Version    string
	Study      string
	Recipients string
	Messages   []template.HTMLAttr
	StepLabel  string
}

type landingPage struct {
	page
	Intro      []string
	Recipients []string
	Start      string
	StartJS    string
}

func (s *Server) renderLanding(w http.ResponseWriter, lang string) {
	st := s.c.Study
	p := landingPage{page: s.page(lang, st.Title.In(lang), "/?"), Recipients: s.names}
	for _, para := range strings.Split(st.Introduction.In(lang), "\n\n") {
		if para = strings.TrimSpace(para); para != "" {
			p.Intro = append(p.Intro, para)
		}
	}
	p.Start = "/form?lang=" + lang
	p.StartJS = "/form?lang=" + lang + "&all=1"
	s.render(w, http.StatusOK, "landing.html", p)
}

// renderStep shows step (0-based) of version v of the questionnaire, or
// every question when step is -1, with the values of form filled in and
// problems beside their questions. Answers to questions shown on other
// steps travel in hidden fields. updated adds the note that the answers
// were carried from another version.
func (s *Server) renderStep(w http.ResponseWriter, v *version, lang string, status int, step int, form url.Values, answers map[string][]string, problems response.Problems, updated bool) {
	st := v.study
	langPath := ""
	if len(form) == 0 && !updated {
		langPath = "/form?"
		if step < 0 {
			langPath = "/form?all=1&"
		}
	}
	p := formPage{
		page:    s.page(lang, st.Title.In(lang), langPath),
		All:     step < 0,
		Step:    step + 1,
		Steps:   len(v.steps),
		First:   step <= 0,
		Version: v.id,
		Updated: updated,
	}
	onPage := make([]bool, len(st.Questions))
	relevant := response.Shown(st, answers)
	if p.All {
		p.SealedOnly = s.c.Study.RequireBrowserEncryption
		p.Scripts = []string{"/static/nacl.min.js", "/static/form.js"}
		p.Study = st.ID
		// Answers are sealed to the current version's researchers,
		// whatever version the page shows.
		var keys []string
		for _, r := range s.recipients {
			keys = append(keys, r.String())
		}
		p.Recipients = strings.Join(keys, " ")
		for _, c := range problemCodes {
			p.Messages = append(p.Messages, dataAttr("data-p-"+string(c), s.text(p.L, "problem_"+string(c), map[string]any{"Limit": "{n}", "Choice": "{choice}"})))
		}
		p.Messages = append(p.Messages, dataAttr("data-p-not_a_decimal", localize(p.L, "problem_not_a_decimal")),
			dataAttr("data-sealing", localize(p.L, "sealing")), dataAttr("data-seal-failed", localize(p.L, "seal_failed")),
			dataAttr("data-send-failed", localize(p.L, "send_failed")),
			dataAttr("data-preparing", s.text(p.L, "return_preparing", map[string]any{"Percent": "{n}"})),
			dataAttr("data-words-failed", localize(p.L, "words_failed")))
		for i := range st.Questions {
			onPage[i] = true
		}
	} else {
		for _, i := range v.steps[step].Questions {
			onPage[i] = relevant[i]
		}
		p.StepLabel = s.text(p.L, "step_of", map[string]any{"Step": step + 1, "Total": len(v.steps)})
		if step == 0 && len(form) == 0 && !updated {
			p.OnePage = "/form?lang=" + lang + "&all=1"
		}
	}
	var cur *config.Section
	for i := range st.Questions {
		q := &st.Questions[i]
		if !onPage[i] {
			if relevant[i] {
				for _, name := range []string{response.FieldPrefix + q.ID, response.FieldPrefix + q.ID + response.WhenSuffix} {
					for _, val := range form[name] {
						p.Hidden = append(p.Hidden, hiddenField{name, val})
					}
				}
			}
			continue
		}
		sec := st.SectionOf(q.ID)
		if len(p.Blocks) == 0 || sec != cur {
			b := blockView{}
			if sec != nil {
				b.Section = &sectionView{ID: sec.ID, Label: sec.Label.In(lang), Help: sec.Help.In(lang)}
			}
			p.Blocks = append(p.Blocks, b)
			cur = sec
		}
		qv := s.questionView(v, p.L, lang, i, form)
		if pr, ok := problems[q.ID]; ok {
			qv.Problem = s.problemText(p.L, lang, q, pr, form[response.FieldPrefix+q.ID])
			p.Problems = true
		}
		b := &p.Blocks[len(p.Blocks)-1]
		b.Questions = append(b.Questions, qv)
	}
	s.render(w, status, "form.html", p)
}

// problemText says what is wrong with an answer to q, in the page's
// language: the study's constraint message, or intake's message for the
// problem, worded for the question where the general one would mislead
// (a decimal number, an exclusive choice named by its label).
func (s *Server) problemText(l *i18n.Localizer, lang string, q *config.Question, pr response.Problem, vals []string) string {
	switch {
	case pr.Code == response.Constraint && !pr.Message.IsZero():
		return pr.Message.In(lang)
	case pr.Code == response.NotANumber && q.Type == config.Decimal:
		return localize(l, "problem_not_a_decimal")
	}
	data := map[string]any{"Limit": pr.Limit, "Choice": ""}
	if pr.Code == response.ExclusiveChoice {
		for _, val := range vals {
			if c := q.Choice(val); c != nil && c.Exclusive {
				data["Choice"] = c.Label.In(lang)
				break
			}
		}
	}
	return s.text(l, "problem_"+string(pr.Code), data)
}

// dataAttr writes a data attribute for the browser's script. name is a
// constant of this package; value is escaped.
func dataAttr(name, value string) template.HTMLAttr {
	return template.HTMLAttr(name + `="` + template.HTMLEscapeString(value) + `"`)
}

func (s *Server) questionView(v *version, l *i18n.Localizer, lang string, i int, form url.Values) questionView {
	st := v.study
	q := &st.Questions[i]
	qv := questionView{
		ID: q.ID, Type: string(q.Type), Number: v.numbers[i],
		Label: q.Label.In(lang), Help: q.Help.In(lang),
		Required:  q.Required,
		Optional:  q.Type == config.Consent && !q.Required,
		MaxLength: q.MaxLen(st),
		Value:     form.Get(response.FieldPrefix + q.ID),
		Decimals:  q.Decimals,
	}
	qv.Min, qv.Max = response.Bounds(q)
	if q.Type == config.Decimal {
		if q.Decimals > 0 {
			qv.Hint = s.text(l, "decimal_hint_places", map[string]any{"Decimals": q.Decimals})
		} else {
			qv.Hint = localize(l, "decimal_hint")
		}
	}
	var sec *config.Condition
	if in := st.SectionOf(q.ID); in != nil {
		sec = in.Relevant
	}
	qv.SecRel, qv.Rel, qv.Con = sec.String(), q.Relevant.String(), q.Constraint.String()
	if q.Constraint != nil && !q.ConstraintMessage.IsZero() {
		qv.ConMsg = q.ConstraintMessage.In(lang)
	}
	qv.RelevantNote = s.relevantNote(st, l, lang, sec, q.Relevant)
	selected := form[response.FieldPrefix+q.ID]
	for _, c := range q.Choices {
		qv.Choices = append(qv.Choices, choiceView{Q: q.ID, Value: c.Value, Label: c.Label.In(lang), Checked: contains(selected, c.Value), Exclusive: c.Exclusive})
	}
	if q.Type == config.DateApprox {
		when := form.Get(response.FieldPrefix + q.ID + response.WhenSuffix)
		qv.WhenOptions = append(qv.WhenOptions, choiceView{Value: "", Label: localize(l, "when_unknown"), Checked: when == ""})
		for _, season := range response.Seasons {
			qv.WhenOptions = append(qv.WhenOptions, choiceView{Value: season, Label: localize(l, "season_"+season), Checked: when == season})
		}
		for m := 1; m <= 12; m++ {
			val := fmt.Sprintf("%02d", m)
			qv.WhenOptions = append(qv.WhenOptions, choiceView{Value: val, Label: s.text(l, "month", map[string]any{"Month": m}), Checked: when == val})
		}
	}
	return qv
}

func contains(vals []string, v string) bool {
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}

type reviewItem struct{ Label, Answer string }

type reviewStep struct {
	Step  int
	Items []reviewItem
}

type reviewPage struct {
	page
	Steps    []reviewStep
	Hidden   []hiddenField
	Version  string
	Empty    bool
	Note     string // why the review is shown again: nothing was sent
	NoReturn bool   // the person ticked "no return passphrase"
}

// renderReview shows every answer before it is sent, with a button to go
// back to each step of version v; the answers travel in hidden fields.
func (s *Server) renderReview(w http.ResponseWriter, v *version, lang string, form url.Values, answers map[string][]string) {
	s.renderReviewStatus(w, v, lang, http.StatusOK, "", form, answers)
}

// renderReviewStatus is renderReview with the status and a note (the id of
// a message, or "") saying why the review is shown again.
func (s *Server) renderReviewStatus(w http.ResponseWriter, v *version, lang string, status int, note string, form url.Values, answers map[string][]string) {
	st := v.study
	l := i18n.NewLocalizer(s.bundle, config.ChromeLanguage(lang))
	p := reviewPage{page: s.page(lang, localize(l, "review_title"), ""), Version: v.id, Empty: len(answers) == 0, NoReturn: len(form[NoReturnField]) > 0}
	if note != "" {
		p.Note = localize(l, note)
	}
	for si, step := range v.steps {
		rs := reviewStep{Step: si + 1}
		for _, i := range step.Questions {
			q := &st.Questions[i]
			vals, ok := answers[q.ID]
			if !ok {
				continue
			}
			rs.Items = append(rs.Items, reviewItem{Label: q.Label.In(lang), Answer: s.answerText(p.L, lang, q, vals)})
			for _, name := range []string{response.FieldPrefix + q.ID, response.FieldPrefix + q.ID + response.WhenSuffix} {
				for _, v := range form[name] {
					p.Hidden = append(p.Hidden, hiddenField{name, v})
				}
			}
		}
		if len(rs.Items) > 0 {
			p.Steps = append(p.Steps, rs)
		}
	}
	s.render(w, status, "review.html", p)
}

// answerText shows an answer as the submitter chose it: choice labels, not
// values.
func (s *Server) answerText(l *i18n.Localizer, lang string, q *config.Question, vals []string) string {
	switch q.Type {
	case config.SingleChoice, config.MultiChoice:
		var labels []string
		for _, v := range vals {
			if c := q.Choice(v); c != nil {
				labels = append(labels, c.Label.In(lang))
			}
		}
		return strings.Join(labels, " / ")
	case config.Consent:
		return localize(l, "consent_yes")
	case config.DateApprox:
		year, part, ok := strings.Cut(vals[0], "-")
		if !ok {
			return year
		}
		if m, err := strconv.Atoi(part); err == nil {
			return year + " " + s.text(l, "month", map[string]any{"Month": m})
		}
		return year + " " + localize(l, "season_"+part)
	}
	return vals[0]
}

type messagePage struct {
	page
	Heading    string
	Paragraphs []string
	AllURL     string // where the script sends a browser with JavaScript
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, lang string, status int, heading string, paragraphs ...string) {
	s.messageTo(w, lang, status, "", heading, paragraphs...)
}

func (s *Server) messageTo(w http.ResponseWriter, lang string, status int, allURL, heading string, paragraphs ...string) {
	p := messagePage{page: s.page(lang, "", ""), AllURL: allURL}
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
