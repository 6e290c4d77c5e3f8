package export

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/response"
)

// ReportOptions change what [WriteReport] writes.
type ReportOptions struct {
	// Language is the language of labels and of the report's own words
	// (which exist in Korean, English and Chinese; another language gets
	// those of its base language, or English). Empty means the study's
	// default language.
	Language string
	// FreeText, if set, includes every answer to a short_text or
	// long_text question, under its question, with the pseudonym. The
	// report then holds testimony and must be kept as safely. Without
	// it no free-text answer is written, only how many there are.
	FreeText bool
	// Title heads the report. Empty means the current version's title
	// in Language.
	Title string
	// MarkdownDir is the folder of the testimonies' Markdown files
	// ([WriteMarkdownDir]), relative to the folder the report is written
	// in; each pseudonym links to MarkdownDir/[MarkdownName]. Empty means
	// no links. [WriteReportFile] also takes an absolute path.
	MarkdownDir string
	// Day is the UTC day the report shows as its date; the zero value
	// shows none. Nothing finer than the day is shown.
	Day time.Time
}

// WriteReport writes a report of the testimonies to w: one HTML file to
// look at in a browser or print (A4), that loads nothing and runs nothing.
// It shows the number of testimonies by language and by questionnaire
// version; for each question of any version, in export order, a bar chart
// of its choices (single_choice, multi_choice, consent) or a histogram of
// its values (year, the year of date_approx, integer, decimal), with the
// numbers in a table under it, and how many testimonies have no answer to
// it and why (the codes .n, .s and .v, explained once); and the list of
// pseudonyms, each linking to its Markdown file. Free-text answers are
// left out unless opt.FreeText is set.
//
// It reads rows once. Its memory grows with the number of questions,
// choices and distinct values (at most 1,024 kept per question; more are
// counted in bins), and with the number of testimonies only by the list
// of pseudonyms — and by the free-text answers, when included.
//
// The file is safe to open whatever the testimonies hold: everything from
// the study or the testimonies is escaped (HTML, and SVG text) and made
// [Visible]; there is no script; a Content-Security-Policy forbids
// loading anything (fonts and images included) and allows only the
// report's own style sheet, by its hash. Charts are inline SVG with a
// title and a description, and a table of their numbers. Labels in
// Korean and Chinese use the system's CJK fonts (Noto Sans CJK on
// Debian: fonts-noto-cjk).
//
// Counts of one can point to a person: share the report as carefully as
// the data.
func WriteReport(w io.Writer, s *Schema, rows Rows, opt ReportOptions) error {
	lang, err := s.checkLanguage(opt.Language)
	if err != nil {
		return err
	}
	link, err := markdownLinker(opt.MarkdownDir)
	if err != nil {
		return err
	}
	a := newReportAgg(s, opt.FreeText)
	for r, err := range rows {
		if err != nil {
			return err
		}
		if err := a.add(&r); err != nil {
			return err
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := reportTemplate.Execute(bw, a.view(lang, opt, link)); err != nil {
		return fmt.Errorf("failed to write the report: %w", err)
	}
	return bw.Flush()
}

// WriteReportFile writes the report to path as [WriteReport] does, through
// a temporary file renamed on success and readable only by its owner
// (0600). An absolute opt.MarkdownDir is made relative to path's folder.
// This is what `researcher report` calls.
func WriteReportFile(path string, s *Schema, rows Rows, opt ReportOptions) error {
	if filepath.IsAbs(opt.MarkdownDir) {
		base, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, opt.MarkdownDir)
		if err != nil {
			return fmt.Errorf("cannot link %s from %s: %w", opt.MarkdownDir, path, err)
		}
		opt.MarkdownDir = rel
	}
	return atomicfile.Write(path, 0o600, func(w io.Writer) error { return WriteReport(w, s, rows, opt) })
}

// markdownLinker returns the function that makes the relative URL of a
// testimony's Markdown file, or nil for no links.
func markdownLinker(dir string) (func(Row) string, error) {
	if dir == "" {
		return nil, nil
	}
	dir = filepath.ToSlash(dir)
	if strings.HasPrefix(dir, "/") || filepath.IsAbs(dir) {
		return nil, fmt.Errorf("the Markdown folder %s must be relative to the report's folder", dir)
	}
	var segs []string
	for _, seg := range strings.Split(dir, "/") {
		if seg != "" && seg != "." {
			segs = append(segs, pathEscape(seg))
		}
	}
	// "./" first: a first segment with a colon is never read as a scheme.
	prefix := "./" + strings.Join(segs, "/")
	if len(segs) > 0 {
		prefix += "/"
	}
	return func(r Row) string { return prefix + pathEscape(MarkdownName(r)) }, nil
}

// pathEscape escapes a path segment for a URL: every byte but unreserved
// ASCII is percent-encoded, so the browser reads the name back exactly.
func pathEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Indices of the codes in counts.
const (
	codeNotAsked = iota
	codeSkipped
	codeNotInVersion
	nCodes
)

// reportAgg is what WriteReport counts while reading the rows.
type reportAgg struct {
	s         *Schema
	freeText  bool
	n         int
	byVersion map[*version]int
	langs     []string // the languages of every version, the current's first
	byLang    []int    // by langs, then one for any other language
	qs        []*qAgg
	people    []person
	index     map[*version]map[string]int // question id → index in its version
	shown     []bool                      // of the current row, if computed
}

type person struct {
	pseudonym, roman, lang string
	version                *version
}

type qAgg struct {
	q        *question
	n        int // testimonies whose version asks q
	codes    [nCodes]int
	answered int
	// Choice questions (consent has one choice: agreed).
	choiceIdx map[string]int
	choices   []int
	other     int // answers not among the choices, or not numbers
	// Numbers and the year of date_approx.
	nums *numHist
	// date_approx: months 01–12, then the seasons, then year only.
	periods [17]int
	// Free text, if asked for: the answers, in row order.
	texts []textAnswer
}

type textAnswer struct {
	pseudonym, roman, text string
}

var seasons = []string{"spring", "summer", "autumn", "winter"}

func newReportAgg(s *Schema, freeText bool) *reportAgg {
	a := &reportAgg{s: s, freeText: freeText, byVersion: map[*version]int{}, index: map[*version]map[string]int{}}
	a.langs = slices.Clone(s.langs)
	for i := len(s.versions) - 1; i >= 0; i-- {
		for _, l := range languages(s.versions[i].study) {
			if !slices.Contains(a.langs, l) {
				a.langs = append(a.langs, l)
			}
		}
	}
	a.byLang = make([]int, len(a.langs)+1)
	for _, v := range s.versions {
		idx := make(map[string]int, len(v.study.Questions))
		for i := range v.study.Questions {
			idx[v.study.Questions[i].ID] = i
		}
		a.index[v] = idx
	}
	for _, q := range s.questions {
		if !hasColumn(q.q) {
			continue
		}
		qa := &qAgg{q: q}
		switch {
		case isChoice(q.q):
			qa.choiceIdx = make(map[string]int, len(q.choices))
			for i, c := range q.choices {
				qa.choiceIdx[c.value] = i
			}
			qa.choices = make([]int, len(q.choices))
		case q.q.Type == config.Consent:
			qa.choiceIdx = map[string]int{config.ConsentValue: 0}
			qa.choices = make([]int, 1)
		case isNumber(q.q) || q.q.Type == config.DateApprox:
			qa.nums = newNumHist()
		}
		a.qs = append(a.qs, qa)
	}
	return a
}

func (a *reportAgg) add(r *Row) error {
	v, err := a.s.versionOf(r)
	if err != nil {
		return err
	}
	for id := range r.Answers {
		if v.qs[id] == nil {
			return fmt.Errorf("testimony %s answers question %q, which its questionnaire version %s does not have", r.Pseudonym, id, v.short)
		}
	}
	a.n++
	a.byVersion[v]++
	if i := slices.Index(a.langs, r.Language); i >= 0 {
		a.byLang[i]++
	} else {
		a.byLang[len(a.langs)]++
	}
	a.people = append(a.people, person{pseudonym: r.Pseudonym, roman: r.PseudonymRoman, lang: r.Language, version: v})
	a.shown = nil
	for _, qa := range a.qs {
		if v.qs[qa.q.id] == nil {
			qa.codes[codeNotInVersion]++
			continue
		}
		qa.n++
		vals := r.Answers[qa.q.id]
		if len(vals) == 0 {
			if a.shown == nil {
				a.shown = response.Shown(v.study, r.Answers)
			}
			if a.shown[a.index[v][qa.q.id]] {
				qa.codes[codeSkipped]++
			} else {
				qa.codes[codeNotAsked]++
			}
			continue
		}
		qa.answered++
		qa.count(r, vals, a.freeText)
	}
	return nil
}

func (qa *qAgg) count(r *Row, vals []string, freeText bool) {
	switch {
	case qa.choiceIdx != nil:
		for _, v := range vals {
			if i, ok := qa.choiceIdx[v]; ok {
				qa.choices[i]++
			} else {
				qa.other++
			}
		}
	case qa.q.q.Type == config.DateApprox:
		y, p, _ := strings.Cut(vals[0], "-")
		c := number(y, false)
		if c.kind != integer {
			qa.other++
			return
		}
		qa.nums.add(c.num)
		switch m, err := strconv.Atoi(p); {
		case p == "":
			qa.periods[16]++
		case err == nil && len(p) == 2 && m >= 1 && m <= 12:
			qa.periods[m-1]++
		case slices.Contains(seasons, p):
			qa.periods[12+slices.Index(seasons, p)]++
		}
	case qa.nums != nil:
		c := number(vals[0], qa.q.q.Type == typeDecimal)
		if c.kind != integer && c.kind != decimal {
			qa.other++
			return
		}
		qa.nums.add(c.num)
	case freeText:
		qa.texts = append(qa.texts, textAnswer{pseudonym: r.Pseudonym, roman: r.PseudonymRoman, text: strings.Join(vals, "\n")})
	}
}
