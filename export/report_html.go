package export

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/testimony-project/testimony/config"
)

// reportView is what the template shows. Every string in it is plain text
// (made Visible where it comes from the study or the testimonies); the
// template escapes it for where it goes.
type reportView struct {
	Lang, Title, StudyID, Day string
	W                         *reportWords
	Total                     string
	NVersions                 int
	FreeText                  bool
	Codes                     []codeView
	Languages                 []*barChart
	LanguagesTable            *table
	Versions                  []*barChart
	VersionsTable             *table
	Questions                 []*questionView
	People                    []personView
}

type codeView struct{ Code, Meaning string }

type questionView struct {
	N               int
	ID, Label, Type string
	AskedIn         string
	Multi           bool
	Bars            []*barChart
	Hist            *histChart
	Summary         string
	Counts          []countView // answered and codes, when there are no bars
	Table           *table
	Periods         *table
	Texts           []textView
}

type countView struct {
	Name, Code, Count, Share string
}

type table struct {
	Head []string
	Rows []tableRow
}

type tableRow struct {
	Code  bool
	Cells []tableCell
}

type tableCell struct {
	Text string
	Num  bool
}

type textView struct{ Pseudonym, Roman, Text string }

type personView struct{ Pseudonym, Roman, Lang, Version, Link string }

func (a *reportAgg) view(lang string, opt ReportOptions, link func(Row) string) *reportView {
	w, chrome := wordsFor(lang)
	s := a.s
	v := &reportView{
		Lang: lang, W: w, StudyID: Visible(s.current.ID), Total: formatCount(a.n),
		NVersions: len(s.versions), FreeText: opt.FreeText,
	}
	v.Title = opt.Title
	if v.Title == "" {
		v.Title = label(s.current.Title, lang) + " — " + w.Report
	}
	v.Title = oneLine(v.Title)
	if !opt.Day.IsZero() {
		v.Day = opt.Day.UTC().Format("2006-01-02")
	}
	for _, c := range []string{NotAsked, Skipped, NotInVersion} {
		v.Codes = append(v.Codes, codeView{Code: c, Meaning: meaning(c, chrome)})
	}

	// Languages and versions.
	var bars []bar
	lt := &table{Head: []string{w.Language, w.Count, w.Share}}
	for i, l := range append(slices.Clone(a.langs), "") {
		n := a.byLang[i]
		if n == 0 && (l == "" || !slices.Contains(s.langs, l)) {
			continue
		}
		name := w.OtherLanguage
		if l != "" {
			name = languageName(l, chrome)
		}
		bars = append(bars, bar{label: name, count: n, share: share(n, a.n)})
		lt.Rows = append(lt.Rows, tableRow{Cells: []tableCell{{Text: name}, num(n), pct(n, a.n)}})
	}
	v.Languages = barCharts("c-languages", w.ByLanguage, barsDesc(w.Testimonies+": "+v.Total, bars), bars, partFormat(w))
	v.LanguagesTable = lt

	bars = nil
	vt := &table{Head: []string{w.Version, w.Title, w.Count, w.Share}}
	for i := len(s.versions) - 1; i >= 0; i-- {
		ver := s.versions[i]
		n := a.byVersion[ver]
		title := oneLine(label(ver.study.Title, lang))
		which := w.Earlier
		if ver.study == s.current {
			which = w.Current
		}
		bars = append(bars, bar{label: ver.short + " · " + title + " (" + which + ")", count: n, share: share(n, a.n)})
		vt.Rows = append(vt.Rows, tableRow{Cells: []tableCell{{Text: ver.short + " (" + which + ")"}, {Text: title}, num(n), pct(n, a.n)}})
	}
	v.Versions = barCharts("c-versions", w.ByVersion, barsDesc(w.Testimonies+": "+v.Total, bars), bars, partFormat(w))
	v.VersionsTable = vt

	for i, qa := range a.qs {
		v.Questions = append(v.Questions, a.questionView(i+1, qa, lang, w))
	}

	// Pseudonyms, in the order of their names (not of arrival).
	people := a.people
	slices.SortStableFunc(people, func(x, y person) int {
		if c := strings.Compare(x.pseudonym, y.pseudonym); c != 0 {
			return c
		}
		return strings.Compare(x.roman, y.roman)
	})
	v.People = make([]personView, len(people))
	for i, p := range people {
		pv := personView{Pseudonym: oneLine(p.pseudonym), Roman: oneLine(p.roman), Lang: oneLine(p.lang), Version: p.version.short}
		if link != nil {
			pv.Link = link(Row{Pseudonym: p.pseudonym, PseudonymRoman: p.roman})
		}
		v.People[i] = pv
	}
	return v
}

func (a *reportAgg) questionView(n int, qa *qAgg, lang string, w *reportWords) *questionView {
	q := qa.q
	qv := &questionView{N: n, ID: q.id, Label: oneLine(label(q.q.Label, lang)), Type: string(q.q.Type),
		Multi: q.q.Type == config.MultiChoice}
	if len(q.versions) < len(a.s.versions) {
		qv.AskedIn = shorts(q.versions)
	}
	title := strconv.Itoa(n) + ". " + qv.Label
	codeNames := [nCodes]string{w.NotAsked + " (" + NotAsked + ")", w.Skipped + " (" + Skipped + ")", w.NotInVersion + " (" + NotInVersion + ")"}
	codeRows := func(t *table, cols int) {
		for i, c := range qa.codes {
			cells := []tableCell{{Text: codeNames[i]}}
			for range cols - 4 {
				cells = append(cells, tableCell{})
			}
			t.Rows = append(t.Rows, tableRow{Code: true, Cells: append(cells, num(c), tableCell{}, pct(c, a.n))})
		}
	}
	switch {
	case qa.choiceIdx != nil:
		var bars []bar
		t := &table{Head: []string{w.Choice, w.Value, w.Count, w.Share, w.ShareOfAll}}
		add := func(label, value string, c int) {
			bars = append(bars, bar{label: label, count: c, share: share(c, qa.answered)})
			t.Rows = append(t.Rows, tableRow{Cells: []tableCell{{Text: label}, {Text: value}, num(c), pct(c, qa.answered), pct(c, a.n)}})
		}
		if q.q.Type == config.Consent {
			add(w.Agreed, config.ConsentValue, qa.choices[0])
		} else {
			for i, c := range q.choices {
				add(oneLine(label(c.label, lang)), c.value, qa.choices[i])
			}
		}
		if qa.other > 0 {
			add(w.OtherValue, "", qa.other)
		}
		for i, c := range qa.codes {
			if c > 0 {
				bars = append(bars, bar{label: codeNames[i], count: c, share: share(c, a.n), code: true})
			}
		}
		codeRows(t, 5)
		qv.Bars = barCharts("c-q-"+q.id, title, barsDesc(fmt.Sprintf(w.AnsweredOf, formatCount(qa.answered), formatCount(a.n)), bars), bars, partFormat(w))
		qv.Table = t
	case qa.nums != nil:
		bins, width := qa.nums.bins()
		whole := qa.nums.integer
		t := &table{Head: []string{w.Range, w.Count, w.Share, w.ShareOfAll}}
		var desc []string
		for _, b := range bins {
			l := binLabel(b.lo, width, whole)
			t.Rows = append(t.Rows, tableRow{Cells: []tableCell{{Text: l}, num(b.count), pct(b.count, qa.answered), pct(b.count, a.n)}})
			if b.count > 0 {
				desc = append(desc, l+": "+formatCount(b.count))
			}
		}
		if qa.other > 0 {
			t.Rows = append(t.Rows, tableRow{Cells: []tableCell{{Text: w.OtherValue}, num(qa.other), pct(qa.other, qa.answered), pct(qa.other, a.n)}})
		}
		codeRows(t, 4)
		qv.Table = t
		htitle := title
		if q.q.Type == config.DateApprox {
			htitle += " — " + w.Year
		}
		if qa.nums.n > 0 {
			d := fmt.Sprintf(w.HistDesc, formatCount(qa.nums.n), formatNumber(qa.nums.min), formatNumber(qa.nums.max)) + " " + strings.Join(desc, "; ")
			qv.Hist = histogram("h-q-"+q.id, htitle, d, bins, width, whole)
			qv.Summary = w.Min + " " + formatNumber(qa.nums.min) + " · " + w.Max + " " + formatNumber(qa.nums.max)
			if q.q.Type == config.Integer || q.q.Type == typeDecimal {
				qv.Summary += " · " + w.Mean + " " + formatMean(qa.nums.sum/float64(qa.nums.n))
			}
		}
		if q.q.Type == config.DateApprox && qa.answered > 0 {
			pt := &table{Head: []string{w.Period, w.Count, w.Share}}
			for i, c := range qa.periods {
				if c == 0 {
					continue
				}
				var l string
				switch {
				case i < 12:
					l = periodLabel(strconv.Itoa(101 + i)[1:], lang)
				case i < 16:
					l = periodLabel(seasons[i-12], lang)
				default:
					l = w.YearOnly
				}
				pt.Rows = append(pt.Rows, tableRow{Cells: []tableCell{{Text: l}, num(c), pct(c, qa.answered)}})
			}
			qv.Periods = pt
		}
		qv.Counts = a.counts(qa, w)
	default:
		qv.Counts = a.counts(qa, w)
		for _, t := range qa.texts {
			qv.Texts = append(qv.Texts, textView{Pseudonym: oneLine(t.pseudonym), Roman: oneLine(t.roman), Text: Visible(t.text)})
		}
	}
	return qv
}

// counts is the line under a histogram or a text question: how many
// answered, and how many have each code.
func (a *reportAgg) counts(qa *qAgg, w *reportWords) []countView {
	out := []countView{{Name: w.Answered, Count: formatCount(qa.answered), Share: formatShare(share(qa.answered, a.n))}}
	names := [nCodes]string{w.NotAsked, w.Skipped, w.NotInVersion}
	codes := [nCodes]string{NotAsked, Skipped, NotInVersion}
	for i, c := range qa.codes {
		if c > 0 {
			out = append(out, countView{Name: names[i], Code: codes[i], Count: formatCount(c), Share: formatShare(share(c, a.n))})
		}
	}
	return out
}

// barsDesc describes a bar chart in words, for screen readers: lead (how
// many testimonies, or how many answered), then each bar's count and
// share.
func barsDesc(lead string, bars []bar) string {
	parts := []string{lead}
	for _, b := range bars {
		parts = append(parts, b.label+": "+formatCount(b.count)+" ("+formatShare(b.share)+")")
	}
	return strings.Join(parts, "; ")
}

func partFormat(w *reportWords) func(i, n int) string {
	return func(i, n int) string { return fmt.Sprintf(w.Part, i, n) }
}

// binLabel names a bin of width w starting at lo: "2015", "1990–1994",
// "0.5–<1.0".
func binLabel(lo, w float64, whole bool) string {
	switch {
	case whole && w == 1:
		return formatNumber(lo)
	case whole:
		return formatNumber(lo) + "–" + formatNumber(lo+w-1)
	}
	return formatEdge(lo, w) + "–<" + formatEdge(lo+w, w)
}

// formatMean writes a mean with at most two decimals.
func formatMean(m float64) string {
	return formatNumber(math.Round(m*100) / 100)
}

func num(n int) tableCell     { return tableCell{Text: formatCount(n), Num: true} }
func pct(n, of int) tableCell { return tableCell{Text: formatShare(share(n, of)), Num: true} }
func oneLine(s string) string { return strings.Join(strings.Fields(Visible(s)), " ") }

// reportCSS is the report's only style sheet; the Content-Security-Policy
// allows it by its hash, and nothing else.
const reportCSS = `
:root{color-scheme:light}
html{font-family:"Noto Sans CJK KR","Noto Sans KR","Source Han Sans KR","Apple SD Gothic Neo","Malgun Gothic","NanumGothic","Noto Sans","DejaVu Sans",sans-serif;color:#1b1b1b;background:#fff;line-height:1.5;-webkit-text-size-adjust:100%;print-color-adjust:exact;-webkit-print-color-adjust:exact}
html:lang(zh){font-family:"Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","PingFang SC","Microsoft YaHei","Noto Sans CJK KR",sans-serif}
html:lang(zh-Hant),html:lang(zh-TW),html:lang(zh-HK){font-family:"Noto Sans CJK TC","Noto Sans TC","Source Han Sans TC","PingFang TC","Microsoft JhengHei","Noto Sans CJK KR",sans-serif}
html:lang(ja){font-family:"Noto Sans CJK JP","Noto Sans JP","Source Han Sans","Hiragino Sans","Yu Gothic","Noto Sans CJK KR",sans-serif}
[lang=ko]{font-family:"Noto Sans CJK KR","Noto Sans KR","Source Han Sans KR","Apple SD Gothic Neo","Malgun Gothic","NanumGothic",sans-serif}
body{margin:0 auto;max-width:46rem;padding:1.5rem 1rem 3rem}
h1{font-size:1.7rem;line-height:1.25;margin:0 0 .5rem}
h2{font-size:1.3rem;margin:2.5rem 0 .75rem;padding-bottom:.2rem;border-bottom:2px solid #d6dbe3;break-after:avoid;page-break-after:avoid}
h3{font-size:1.05rem;margin:2rem 0 .4rem;break-after:avoid;page-break-after:avoid}
h3 small,.meta,.note,.codes{color:#4f4f4f}
h3 small{font-weight:normal;font-size:.8rem}
code{font-family:"Noto Sans Mono","DejaVu Sans Mono",monospace;font-size:.9em}
p{margin:.4rem 0}
.warn{border:2px solid #b3261e;color:#7a1610;padding:.5rem .75rem;font-weight:bold}
figure{margin:.5rem 0;break-inside:avoid;page-break-inside:avoid}
svg{display:block;max-width:100%;height:auto}
svg text{font-size:13px;fill:#1b1b1b}
svg .track{fill:#eef1f6}
svg .bar,svg .hbar{fill:#2f6db5}
svg .code .bar{fill:#a3a3a3}
svg .code text{fill:#5f5f5f;font-style:italic}
svg text.v{font-size:12px;fill:#333;font-style:normal}
svg .sep,svg .axis{stroke:#8a8a8a;stroke-width:1}
svg .grid{stroke:#d0d0d0;stroke-width:1;stroke-dasharray:3 3}
svg text.xl{font-size:11px;text-anchor:middle;fill:#333}
svg text.yl{font-size:11px;text-anchor:end;fill:#333}
svg text.hc{font-size:10px;text-anchor:middle;fill:#333}
.codes{font-size:.92rem}
.sw{display:inline-block;width:.8em;height:.8em;background:#a3a3a3;margin-right:.3em;vertical-align:-.05em}
ul.legend{list-style:none;padding-left:0}
details{margin:.25rem 0 1rem}
summary{color:#1f4f8f;cursor:pointer}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{padding:.15rem .6rem;border-bottom:1px solid #dfe3ea;text-align:left;vertical-align:top}
th{font-weight:600;border-bottom-width:2px}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.code td{color:#5f5f5f;font-style:italic}
ol.answers{list-style:none;padding:0}
ol.answers li{margin:.75rem 0}
.who{font-weight:600}
.answer{white-space:pre-wrap;overflow-wrap:anywhere;border-left:3px solid #c9d2df;padding:.1rem 0 .1rem .6rem;margin:.2rem 0 0}
nav ol{columns:2 18rem;padding-left:1.6rem}
@page{size:A4;margin:15mm}
@media print{body{max-width:none;padding:0}nav{display:none}a{color:inherit;text-decoration:none}summary{display:none}details::details-content{content-visibility:visible;display:contents}ol.answers li{break-inside:avoid}}
`

// reportCSP forbids loading anything — fonts, images, frames, the style
// sheet of a crafted answer — and running anything; it allows the style
// sheet above by its hash.
var reportCSP = func() string {
	sum := sha256.Sum256([]byte(reportCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'none'; font-src 'none'; base-uri 'none'; form-action 'none'"
}()

const reportHTML = `<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="@CSP@">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>@CSS@</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p class="meta">{{.W.Study}}: <code>{{.StudyID}}</code> · {{.W.Testimonies}}: {{.Total}} · {{.W.Versions}}: {{.NVersions}}{{if .Day}} · {{.W.Date}}: {{.Day}}{{end}}</p>
{{if .FreeText}}<p class="warn">{{.W.FreeTextIncluded}}</p>{{else}}<p class="note">{{.W.FreeTextOmitted}}</p>{{end}}
</header>
<nav aria-labelledby="contents"><h2 id="contents">{{.W.Contents}}</h2>
<ol>
<li><a href="#how">{{.W.HowToRead}}</a></li>
<li><a href="#languages">{{.W.ByLanguage}}</a></li>
<li><a href="#versions">{{.W.ByVersion}}</a></li>
{{range .Questions}}<li><a href="#q-{{.ID}}">{{.N}}. {{.Label}}</a></li>
{{end}}<li><a href="#pseudonyms">{{.W.Pseudonyms}}</a></li>
</ol>
</nav>
<main>
<section id="how">
<h2>{{.W.HowToRead}}</h2>
<p>{{.W.ChoiceShares}}</p>
<p>{{.W.CodesIntro}}</p>
<ul class="legend">
{{range .Codes}}<li><span class="sw"></span><code>{{.Code}}</code> {{.Meaning}}</li>
{{end}}</ul>
</section>
<section id="languages">
<h2>{{.W.ByLanguage}}</h2>
{{range .Languages}}{{template "bars" .}}{{end}}
{{template "table" .LanguagesTable}}
</section>
<section id="versions">
<h2>{{.W.ByVersion}}</h2>
{{range .Versions}}{{template "bars" .}}{{end}}
{{template "table" .VersionsTable}}
</section>
<section id="questions">
<h2>{{.W.Questions}}</h2>
{{range .Questions}}<section id="q-{{.ID}}">
<h3>{{.N}}. {{.Label}} <small><code>{{.ID}}</code> · <code>{{.Type}}</code></small></h3>
{{if .AskedIn}}<p class="note">{{$.W.AskedIn}}: {{.AskedIn}}</p>
{{end}}{{if .Multi}}<p class="note">{{$.W.MultiNote}}</p>
{{end}}{{range .Bars}}{{template "bars" .}}{{end}}{{with .Hist}}{{template "hist" .}}{{end}}{{if .Summary}}<p>{{.Summary}}</p>
{{end}}{{if .Counts}}<p class="codes">{{range $i, $c := .Counts}}{{if $i}} · {{end}}{{if .Code}}<span class="sw"></span>{{.Name}} <code>{{.Code}}</code>{{else}}{{.Name}}{{end}} {{.Count}} ({{.Share}}){{end}}</p>
{{end}}{{if .Table}}<details><summary>{{$.W.Numbers}}</summary>
{{template "table" .Table}}{{with .Periods}}{{template "table" .}}{{end}}</details>
{{end}}{{if .Texts}}<ol class="answers" aria-label="{{$.W.FreeTextAnswers}}">
{{range .Texts}}<li><span class="who"><bdi lang="ko">{{.Pseudonym}}</bdi> (<bdi>{{.Roman}}</bdi>)</span><div class="answer" dir="auto">{{.Text}}</div></li>
{{end}}</ol>
{{end}}</section>
{{end}}</section>
<section id="pseudonyms">
<h2>{{.W.Pseudonyms}}</h2>
<table>
<thead><tr><th>{{.W.Pseudonym}}</th><th>{{.W.Romanized}}</th><th>{{.W.Language}}</th><th>{{.W.Version}}</th></tr></thead>
<tbody>
{{range .People}}<tr><td lang="ko">{{if .Link}}<a href="{{.Link}}">{{.Pseudonym}}</a>{{else}}{{.Pseudonym}}{{end}}</td><td><bdi>{{.Roman}}</bdi></td><td><bdi>{{.Lang}}</bdi></td><td><code>{{.Version}}</code></td></tr>
{{end}}</tbody>
</table>
</section>
</main>
</body>
</html>
{{define "bars"}}<figure>
<svg viewBox="0 0 {{.Width}} {{.Height}}" width="{{.Width}}" height="{{.Height}}" role="img" aria-labelledby="{{.ID}}-t {{.ID}}-d">
<title id="{{.ID}}-t">{{.Title}}</title>
<desc id="{{.ID}}-d">{{.Desc}}</desc>
{{if .Sep}}<line class="sep" x1="0" x2="{{.Width}}" y1="{{.Sep}}" y2="{{.Sep}}"/>
{{end}}{{range .Rows}}<g{{if .Code}} class="code"{{end}}>{{range .Lines}}<text x="{{.X}}" y="{{.Y}}">{{.Text}}</text>{{end}}<rect class="track" x="{{.Track.X}}" y="{{.Track.Y}}" width="{{.Track.W}}" height="{{.Track.H}}"/><rect class="bar" x="{{.Bar.X}}" y="{{.Bar.Y}}" width="{{.Bar.W}}" height="{{.Bar.H}}"/><text class="v" x="{{.Value.X}}" y="{{.Value.Y}}">{{.Value.Text}}</text></g>
{{end}}</svg>
</figure>
{{end}}{{define "hist"}}<figure>
<svg viewBox="0 0 {{.Width}} {{.Height}}" width="{{.Width}}" height="{{.Height}}" role="img" aria-labelledby="{{.ID}}-t {{.ID}}-d">
<title id="{{.ID}}-t">{{.Title}}</title>
<desc id="{{.ID}}-d">{{.Desc}}</desc>
<line class="grid" x1="{{.Left}}" x2="{{.Right}}" y1="{{.Top}}" y2="{{.Top}}"/>
{{range .Bars}}<rect class="hbar" x="{{.Rect.X}}" y="{{.Rect.Y}}" width="{{.Rect.W}}" height="{{.Rect.H}}"/>{{with .Count}}{{if .Text}}<text class="hc" x="{{.X}}" y="{{.Y}}">{{.Text}}</text>{{end}}{{end}}
{{end}}<line class="axis" x1="{{.Left}}" x2="{{.Right}}" y1="{{.Base}}" y2="{{.Base}}"/>
{{range .XLabels}}<text class="xl" x="{{.X}}" y="{{.Y}}">{{.Text}}</text>{{end}}
{{range .YLabels}}<text class="yl" x="{{.X}}" y="{{.Y}}">{{.Text}}</text>{{end}}
</svg>
</figure>
{{end}}{{define "table"}}<table>
<thead><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr{{if .Code}} class="code"{{end}}>{{range .Cells}}<td{{if .Num}} class="n"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{end}}`

var reportTemplate = template.Must(template.New("report").Parse(
	strings.NewReplacer("@CSP@", reportCSP, "@CSS@", reportCSS).Replace(reportHTML)))
