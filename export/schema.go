package export

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/testimony-project/testimony/config"
)

// Schema is what the writers know of a study: every version of its
// questionnaire, their questions merged in export order, and the columns
// they make. Make one with [NewSchema]; it is read-only afterwards and safe
// to share between writers.
type Schema struct {
	current   *config.Study
	versions  []*version // oldest first; the last is current
	byID      map[string]*version
	questions []*question // export order
	columns   []column    // answer columns, after the fixed ones
	langs     []string
}

type version struct {
	id    string // lowercase hex SHA-256 of the study file
	short string // its first 12 digits, as people see it
	study *config.Study
	qs    map[string]*config.Question
}

// question is one question id across every version that asks it.
type question struct {
	id       string
	q        *config.Question // as the newest version that has it asks it
	study    *config.Study    // that version
	versions []*version       // oldest first
	choices  []*choice        // merged, export order
	byValue  map[string]*choice
	columns  []string
}

type choice struct {
	value    string
	label    config.Text // from the newest version that has it
	versions []*version
}

// part is which piece of an answer a column holds.
type part uint8

const (
	whole  part = iota
	year        // the year of a date_approx answer
	period      // its month (01–12) or season, or nothing
)

type column struct {
	name string
	q    *question
	part part
}

// Fixed columns, before the answers.
var fixedColumns = []string{"pseudonym", "pseudonym_roman", "lang", "version"}

// NewSchema merges the versions of a study's questionnaire, oldest first:
// the last is the current one. Every version must have been read by
// [config.Load] or [config.Parse] (which set its SHA-256, the version id)
// and have the current version's study id.
//
// Questions come in the current version's order; a question that later
// versions removed comes right after the question it followed in the last
// version that asked it. Choices are merged the same way. Labels are the
// newest version's.
func NewSchema(versions []*config.Study) (*Schema, error) {
	if len(versions) == 0 {
		return nil, errors.New("no questionnaire version given")
	}
	cur := versions[len(versions)-1]
	s := &Schema{current: cur, byID: map[string]*version{}, langs: languages(cur)}
	for _, st := range versions {
		if st.SHA256 == [32]byte{} {
			return nil, fmt.Errorf("study %q has no version id: read it with config.Load or config.Parse", st.ID)
		}
		if st.ID != cur.ID {
			return nil, fmt.Errorf("questionnaire version of study %q given for study %q", st.ID, cur.ID)
		}
		v := &version{id: hex.EncodeToString(st.SHA256[:]), study: st, qs: map[string]*config.Question{}}
		v.short = v.id[:12]
		if s.byID[v.id] != nil {
			return nil, fmt.Errorf("questionnaire version %s given twice", v.short)
		}
		for i := range st.Questions {
			v.qs[st.Questions[i].ID] = &st.Questions[i]
		}
		s.byID[v.id] = v
		s.versions = append(s.versions, v)
	}

	// Merge questions, newest version first, so that a removed question
	// sits where it last was.
	byID := map[string]*question{}
	for k := len(s.versions) - 1; k >= 0; k-- {
		v := s.versions[k]
		at := -1 // index in s.questions of the last question of v placed
		for i := range v.study.Questions {
			cq := &v.study.Questions[i]
			q := byID[cq.ID]
			if q == nil {
				q = &question{id: cq.ID, q: cq, study: v.study, byValue: map[string]*choice{}}
				byID[cq.ID] = q
				s.questions = slices.Insert(s.questions, at+1, q)
				at++
			} else {
				if q.q.Type != cq.Type {
					return nil, fmt.Errorf("question %q is a %s in version %s but a %s in a later one: a question id never changes type", cq.ID, cq.Type, v.short, q.q.Type)
				}
				at = slices.Index(s.questions, q)
			}
			q.versions = append(q.versions, v)
			q.mergeChoices(cq, v)
		}
	}
	for _, q := range s.questions {
		slices.Reverse(q.versions)
		for _, c := range q.choices {
			slices.Reverse(c.versions)
		}
	}

	taken := map[string]bool{}
	for _, n := range fixedColumns {
		taken[n] = true
	}
	for _, q := range s.questions {
		if !hasColumn(q.q) {
			continue
		}
		parts := []part{whole}
		if q.q.Type == config.DateApprox {
			parts = []part{year, period}
		}
		for _, p := range parts {
			name := q.id + [...]string{"", "_year", "_period"}[p]
			for taken[name] {
				name += "_"
			}
			taken[name] = true
			q.columns = append(q.columns, name)
			s.columns = append(s.columns, column{name: name, q: q, part: p})
		}
	}
	return s, nil
}

// mergeChoices adds the choices of cq, asked in version v, to q. Versions
// are visited newest first.
func (q *question) mergeChoices(cq *config.Question, v *version) {
	at := -1
	for _, cc := range cq.Choices {
		c := q.byValue[cc.Value]
		if c == nil {
			c = &choice{value: cc.Value, label: cc.Label}
			q.byValue[cc.Value] = c
			q.choices = slices.Insert(q.choices, at+1, c)
			at++
		} else {
			at = slices.Index(q.choices, c)
		}
		c.versions = append(c.versions, v)
	}
}

// Header returns the names of the columns of a CSV file or a sheet of
// values or labels: pseudonym, pseudonym_roman, lang, version, then one
// column per question (two for date_approx: <id>_year and <id>_period). A
// name that is already taken gets a trailing underscore.
func (s *Schema) Header() []string {
	h := slices.Clone(fixedColumns)
	for _, c := range s.columns {
		h = append(h, c.name)
	}
	return h
}

// Languages returns the languages labels can be written in.
func (s *Schema) Languages() []string { return slices.Clone(s.langs) }

// checkLanguage returns lang, or the study's default language if lang is
// empty, or an error if the study is not written in lang.
func (s *Schema) checkLanguage(lang string) (string, error) {
	if lang == "" {
		return defaultLanguage(s.current), nil
	}
	if !slices.Contains(s.langs, lang) {
		return "", fmt.Errorf("the study has no labels in %q: use one of %s", lang, strings.Join(s.langs, ", "))
	}
	return lang, nil
}

// versionOf returns the questionnaire version a row answered.
func (s *Schema) versionOf(r *Row) (*version, error) {
	if r.Version == "" && len(s.versions) == 1 {
		return s.versions[0], nil
	}
	if v := s.byID[r.Version]; v != nil {
		return v, nil
	}
	return nil, fmt.Errorf("testimony %s answered questionnaire version %.12q, which the export was not given", r.Pseudonym, r.Version)
}

// kind is what a cell holds.
type kind uint8

const (
	text kind = iota
	integer
	decimal
	code // NotAsked, Skipped or NotInVersion
)

// cell is one answer cell, before a format writes it. text holds the value
// as the plaintext has it (or the label), not yet made visible or escaped.
type cell struct {
	kind kind
	text string
	num  float64
}

// cells fills dst with the answer cells of r, in column order, with choice
// labels in lang if labels is set, else values. It checks that every
// answer is to a question of r's version.
func (s *Schema) cells(dst []cell, r *Row, labels bool, lang string) ([]cell, *version, error) {
	v, err := s.versionOf(r)
	if err != nil {
		return nil, nil, err
	}
	for id := range r.Answers {
		if v.qs[id] == nil {
			return nil, nil, fmt.Errorf("testimony %s answers question %q, which its questionnaire version %s does not have", r.Pseudonym, id, v.short)
		}
	}
	dst = dst[:0]
	for _, c := range s.columns {
		vq := v.qs[c.q.id]
		vals, answered := r.Answers[c.q.id]
		answered = answered && len(vals) > 0
		switch {
		case vq == nil:
			dst = append(dst, cell{kind: code, text: NotInVersion})
		case !answered && !relevant(v.study, vq, r.Answers):
			dst = append(dst, cell{kind: code, text: NotAsked})
		case !answered:
			dst = append(dst, cell{kind: code, text: Skipped})
		default:
			dst = append(dst, c.q.cell(c.part, vals, labels, lang))
		}
	}
	return dst, v, nil
}

// MultiSeparator joins the values of a multi_choice answer in a cell;
// LabelSeparator joins their labels.
const (
	MultiSeparator = ";"
	LabelSeparator = "; "
)

func (q *question) cell(p part, vals []string, labels bool, lang string) cell {
	switch {
	case p == year:
		y, _, _ := strings.Cut(vals[0], "-")
		return number(y, false)
	case p == period:
		_, per, _ := strings.Cut(vals[0], "-")
		if labels {
			per = periodLabel(per, lang)
		}
		return cell{kind: text, text: per}
	case isNumber(q.q):
		return number(vals[0], q.q.Type == typeDecimal)
	case isChoice(q.q) && labels:
		ls := make([]string, len(vals))
		for i, v := range vals {
			ls[i] = v
			if c := q.byValue[v]; c != nil {
				ls[i] = label(c.label, lang)
			}
		}
		return cell{kind: text, text: strings.Join(ls, LabelSeparator)}
	case len(vals) == 1:
		return cell{kind: text, text: vals[0]}
	}
	return cell{kind: text, text: strings.Join(vals, MultiSeparator)}
}

// number returns a number cell for s, or a text cell if s is not a number
// as the plaintext writes them.
func number(s string, dec bool) cell {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > -1<<53 && n < 1<<53 {
		return cell{kind: integer, text: s, num: float64(n)}
	}
	if dec && plainDecimal(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return cell{kind: decimal, text: s, num: f}
		}
	}
	return cell{kind: text, text: s}
}

// plainDecimal reports whether s is digits with an optional sign and
// decimal point, as a person types a number (not "1e9", "Inf" or "0x1p3",
// which ParseFloat also reads).
func plainDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	digits := func(t string) bool { return t != "" && strings.Trim(t, "0123456789") == "" }
	return digits(whole) && (!dot || digits(frac))
}

// Months and seasons of date_approx answers, in the languages this package
// has words for; others get the value.
var periodLabels = map[string]map[string]string{
	"ko": {"spring": "봄", "summer": "여름", "autumn": "가을", "winter": "겨울"},
	"en": {"spring": "spring", "summer": "summer", "autumn": "autumn", "winter": "winter",
		"01": "January", "02": "February", "03": "March", "04": "April", "05": "May", "06": "June",
		"07": "July", "08": "August", "09": "September", "10": "October", "11": "November", "12": "December"},
	"zh": {"spring": "春", "summer": "夏", "autumn": "秋", "winter": "冬"},
}

func periodLabel(p, lang string) string {
	if l, ok := periodLabels[lang][p]; ok {
		return l
	}
	if m, err := strconv.Atoi(p); err == nil && len(p) == 2 && m >= 1 && m <= 12 && (lang == "ko" || lang == "zh") {
		return strconv.Itoa(m) + map[string]string{"ko": "월", "zh": "月"}[lang]
	}
	return p
}
