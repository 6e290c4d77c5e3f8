package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/testimony-project/testimony/config"
)

// reportRows are three testimonies to the two versions of the test study:
// one skips left and count, one answers media_other's condition false,
// one answered version 1 (phone, radio, no date).
func reportRows(t testing.TB) []Row {
	v1, v2 := versionID(versions(t)[0]), current(t)
	return []Row{
		{Pseudonym: "김석한", PseudonymRoman: "Kim Seok-han", Language: "ko", Version: v2,
			Answers: map[string][]string{"left": {"2012"}, "media": {"tv", "usb"}, "first": {"2010-07"}, "story": {"one"}, "consent": {"yes"}}},
		{Pseudonym: "이영희", PseudonymRoman: "Yi Yeong-hui", Language: "zh", Version: v2,
			Answers: map[string][]string{"media": {"tv"}, "count": {"-3"}, "first": {"2001"}, "story": {"two"}, "consent": {"yes"}}},
		{Pseudonym: "박철", PseudonymRoman: "Pak Cheol", Language: "en", Version: v1,
			Answers: map[string][]string{"left": {"1999"}, "phone": {"yes"}, "media": {"radio"}, "story": {"three"}}},
	}
}

func aggregate(t testing.TB, s *Schema, rows []Row, freeText bool) *reportAgg {
	t.Helper()
	a := newReportAgg(s, freeText)
	for i := range rows {
		if err := a.add(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func (a *reportAgg) question(id string) *qAgg {
	for _, qa := range a.qs {
		if qa.q.id == id {
			return qa
		}
	}
	return nil
}

// TestReportCounts checks what the report counts: testimonies by version
// and language, every question of any version with its codes, choices,
// numbers and periods.
func TestReportCounts(t *testing.T) {
	s := schema(t)
	a := aggregate(t, s, reportRows(t), false)
	if a.n != 3 || a.byVersion[s.versions[0]] != 1 || a.byVersion[s.versions[1]] != 2 {
		t.Errorf("%d testimonies, by version %d and %d; want 3, 1 and 2", a.n, a.byVersion[s.versions[0]], a.byVersion[s.versions[1]])
	}
	if !slices.Equal(a.langs, []string{"ko", "en", "zh"}) || !slices.Equal(a.byLang, []int{1, 1, 1, 0}) {
		t.Errorf("languages %v counted %v", a.langs, a.byLang)
	}
	var ids []string
	for _, qa := range a.qs {
		ids = append(ids, qa.q.id)
	}
	if want := []string{"left", "phone", "media", "media_other", "count", "first", "story", "consent"}; !slices.Equal(ids, want) {
		t.Errorf("questions %v, want the union of both versions %v", ids, want)
	}
	type counts struct {
		answered int
		codes    [nCodes]int
	}
	for id, want := range map[string]counts{
		"left":        {2, [nCodes]int{0, 1, 0}},
		"phone":       {1, [nCodes]int{0, 0, 2}},
		"media":       {3, [nCodes]int{0, 0, 0}},
		"media_other": {0, [nCodes]int{1, 1, 1}}, // tv only: not asked; usb: skipped
		"count":       {1, [nCodes]int{0, 1, 1}},
		"first":       {2, [nCodes]int{0, 0, 1}},
		"story":       {3, [nCodes]int{0, 0, 0}},
		"consent":     {2, [nCodes]int{0, 0, 1}},
	} {
		qa := a.question(id)
		if got := (counts{qa.answered, qa.codes}); got != want {
			t.Errorf("%s: answered %d, codes (.n .s .v) %v; want %d, %v", id, got.answered, got.codes, want.answered, want.codes)
		}
	}
	// media's choices merged across versions: tv, usb, radio, sd.
	if got := a.question("media").choices; !slices.Equal(got, []int{2, 1, 1, 0}) {
		t.Errorf("media counted %v, want tv 2, usb 1, radio 1, sd 0", got)
	}
	if got := a.question("consent").choices; !slices.Equal(got, []int{2}) {
		t.Errorf("consent counted %v", got)
	}
	left := a.question("left").nums
	if left.n != 2 || left.min != 1999 || left.max != 2012 {
		t.Errorf("left: %d years from %v to %v", left.n, left.min, left.max)
	}
	first := a.question("first")
	if first.nums.min != 2001 || first.nums.max != 2010 || first.periods[6] != 1 || first.periods[16] != 1 {
		t.Errorf("first: years %v–%v, periods %v; want July once and year only once", first.nums.min, first.nums.max, first.periods)
	}
	if len(a.question("story").texts) != 0 {
		t.Error("free text kept when not asked for")
	}
	if got := aggregate(t, s, reportRows(t), true).question("story").texts; len(got) != 3 || got[2].text != "three" {
		t.Errorf("free text asked for: %v", got)
	}
}

func cellTexts(r tableRow) []string {
	var out []string
	for _, c := range r.Cells {
		out = append(out, c.Text)
	}
	return out
}

// TestReportShares checks what the report shows for the counts: shares of
// those who answered for choices, of all testimonies for codes; labels in
// the chosen language; versions by short id and title.
func TestReportShares(t *testing.T) {
	s := schema(t)
	a := aggregate(t, s, reportRows(t), false)
	v := a.view("en", ReportOptions{}, nil)
	var media, other, left, first *questionView
	for _, q := range v.Questions {
		switch q.ID {
		case "media":
			media = q
		case "media_other":
			other = q
		case "left":
			left = q
		case "first":
			first = q
		}
	}
	want := [][]string{
		{"TV", "tv", "2", "66.7%", "66.7%"},
		{"USB stick", "usb", "1", "33.3%", "33.3%"},
		{"Radio", "radio", "1", "33.3%", "33.3%"},
		{"SD card", "sd", "0", "0%", "0%"},
		{"not asked (.n)", "", "0", "", "0%"},
		{"skipped (.s)", "", "0", "", "0%"},
		{"not in this version (.v)", "", "0", "", "0%"},
	}
	for i, r := range media.Table.Rows {
		if got := cellTexts(r); i >= len(want) || !slices.Equal(got, want[i]) || r.Code != (i >= 4) {
			t.Errorf("media table row %d: %q (code %v)", i, got, r.Code)
		}
	}
	if !media.Multi || len(media.Bars) != 1 || len(media.Bars[0].Rows) != 4 {
		t.Errorf("media: multi %v, %d charts; want one chart of 4 bars (no code is counted)", media.Multi, len(media.Bars))
	}
	if got := media.Bars[0].Rows[0].Value.Text; got != "2 · 66.7%" {
		t.Errorf("tv bar says %q", got)
	}
	if l := media.Bars[0].Rows[0].Bar.W; l < 333 || l > 334 {
		t.Errorf("tv bar is %v long, want 2/3 of %d", l, barLen)
	}
	wantCounts := []countView{{"answered", "", "0", "0%"}, {"not asked", ".n", "1", "33.3%"}, {"skipped", ".s", "1", "33.3%"}, {"not in this version", ".v", "1", "33.3%"}}
	if !slices.Equal(other.Counts, wantCounts) || other.Bars != nil || other.Hist != nil || len(other.Texts) != 0 {
		t.Errorf("media_other: %+v", other.Counts)
	}
	if len(left.Hist.Bars) != 14 || left.Summary != "lowest 1999 · highest 2012" {
		t.Errorf("left: %d bars (want one a year, 1999–2012), summary %q", len(left.Hist.Bars), left.Summary)
	}
	if got := cellTexts(left.Table.Rows[0]); !slices.Equal(got, []string{"1999", "1", "50%", "33.3%"}) {
		t.Errorf("left's first row %q", got)
	}
	if first.Hist.Title != "6. First time — year" || first.Periods == nil ||
		!slices.Equal(cellTexts(first.Periods.Rows[0]), []string{"July", "1", "50%"}) ||
		!slices.Equal(cellTexts(first.Periods.Rows[1]), []string{"year only", "1", "50%"}) {
		t.Errorf("first: %q, periods %+v", first.Hist.Title, first.Periods)
	}
	if v.Title != "Survey 2 — report" || len(v.Versions[0].Rows) != 2 || !strings.HasPrefix(v.Versions[0].Rows[0].Lines[0].Text, current(t)[:12]+" · Survey 2 (current)") {
		t.Errorf("title %q, versions %+v", v.Title, v.Versions[0].Rows)
	}
	if got := cellTexts(v.LanguagesTable.Rows[0]); !slices.Equal(got, []string{"Korean (ko)", "1", "33.3%"}) {
		t.Errorf("languages: %q", got)
	}
	// In Korean, the report's own words and the labels are Korean.
	kv := a.view("ko", ReportOptions{}, nil)
	if kv.Title != "조사 2 — 보고서" || kv.Questions[2].Table.Rows[0].Cells[0].Text != "텔레비죤" ||
		cellTexts(kv.LanguagesTable.Rows[0])[0] != "한국어 (ko)" {
		t.Errorf("Korean report: %q, %q", kv.Title, kv.Questions[2].Table.Rows[0].Cells[0].Text)
	}
}

func TestReportHistogramStaysBounded(t *testing.T) {
	h := newNumHist()
	for i := range 100000 {
		h.add(float64(i*7 - 300000))
	}
	if h.exact != nil || len(h.binned) > histKeys {
		t.Fatalf("100,000 distinct values kept in %d keys", len(h.binned)+len(h.exact))
	}
	bins, w := h.bins()
	total := 0
	for _, b := range bins {
		total += b.count
		if r := b.lo / w; r != float64(int64(r)) {
			t.Errorf("bin at %v is not a multiple of its width %v", b.lo, w)
		}
	}
	if total != 100000 || len(bins) > histMaxBins || bins[0].lo > -300000 || bins[len(bins)-1].lo+w <= 7*99999-300000 {
		t.Errorf("%d bins of %v from %v hold %d values", len(bins), w, bins[0].lo, total)
	}
}

func TestReportHistogramBins(t *testing.T) {
	h := newNumHist()
	for _, x := range []float64{0.1, 0.2, 0.3, 0.3} {
		h.add(x)
	}
	bins, w := h.bins()
	got := map[string]int{}
	for _, b := range bins {
		if b.count > 0 {
			got[binLabel(b.lo, w, false)] = b.count
		}
	}
	if want := map[string]int{"0.10–<0.11": 1, "0.20–<0.21": 1, "0.30–<0.31": 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decimals binned as %v, want %v", got, want)
	}
	h = newNumHist()
	for y := 1900; y <= 2027; y++ {
		h.add(float64(y))
	}
	bins, w = h.bins()
	if w != 5 || bins[0].lo != 1900 || len(bins) != 26 || binLabel(bins[0].lo, w, true) != "1900–1904" {
		t.Errorf("years 1900–2027: %d bins of %v from %v", len(bins), w, bins[0].lo)
	}
	h = newNumHist()
	for x := -5; x <= 5; x++ {
		h.add(float64(x))
	}
	if bins, w = h.bins(); w != 1 || len(bins) != 11 || binLabel(bins[0].lo, w, true) != "−5" {
		t.Errorf("−5..5: %d bins of %v", len(bins), w)
	}
}

func TestReportWrapsAndSplitsCharts(t *testing.T) {
	long := strings.Repeat("북에서 떠난 해를 적어 주십시오. ", 10)
	lines := wrapText(long, 300, barFont, barLabelLines)
	if len(lines) != barLabelLines || !strings.HasSuffix(lines[len(lines)-1], "…") {
		t.Errorf("long label wrapped into %q", lines)
	}
	for _, l := range lines {
		if w := textWidth(l, barFont); w > 300 {
			t.Errorf("line %q is %v wide", l, w)
		}
	}
	if got := wrapText("Did you use a USB stick at home or at work", 200, barFont, 4); strings.Join(got, " ") != "Did you use a USB stick at home or at work" {
		t.Errorf("Latin label wrapped mid-word: %q", got)
	}
	if got := wrapText(strings.Repeat("x", 100), 200, barFont, 4); len(got) < 2 {
		t.Errorf("a word longer than a line was not broken: %q", got)
	}
	var bars []bar
	for i := range 100 {
		bars = append(bars, bar{label: fmt.Sprint("choice ", i), count: i, share: float64(i) / 100})
	}
	bars = append(bars, bar{label: "skipped (.s)", count: 3, share: 0.03, code: true})
	charts := barCharts("c", "Q", "", bars, func(i, n int) string { return fmt.Sprintf("part %d of %d", i, n) })
	rows := 0
	for _, c := range charts {
		rows += len(c.Rows)
		if c.Height > maxChartHeight {
			t.Errorf("chart %s is %v high", c.ID, c.Height)
		}
	}
	if len(charts) < 2 || rows != 101 || charts[1].ID != "c-2" || charts[1].Title != "Q (part 2 of "+fmt.Sprint(len(charts))+")" {
		t.Errorf("101 bars in %d charts (%d rows), second %q %q", len(charts), rows, charts[1].ID, charts[1].Title)
	}
}

// allowedElements are the elements a report may hold.
var allowedElements = map[string]bool{
	"html": true, "head": true, "body": true, "meta": true, "title": true, "style": true,
	"header": true, "nav": true, "main": true, "section": true, "figure": true, "details": true, "summary": true,
	"h1": true, "h2": true, "h3": true, "p": true, "small": true, "code": true, "span": true, "bdi": true, "div": true,
	"ol": true, "ul": true, "li": true, "a": true, "table": true, "thead": true, "tbody": true, "tr": true, "th": true, "td": true,
	"svg": true, "desc": true, "g": true, "rect": true, "line": true, "text": true,
}

// checkReport parses a report as a browser would and reports anything that
// could run or load: an element or attribute it never writes, an event
// handler, a link out of the file, a second style sheet, the CSP missing
// or not matching the style sheet, or a hidden character.
func checkReport(t testing.TB, doc []byte) *html.Node {
	t.Helper()
	if i := firstHidden(string(doc)); i >= 0 {
		t.Errorf("report holds a hidden character at %d: %q", i, doc[max(0, i-20):min(len(doc), i+20)])
	}
	root, err := html.Parse(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var style, csp string
	styles := 0
	for n := range root.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		if !allowedElements[n.Data] {
			t.Errorf("report holds a <%s> element", n.Data)
		}
		for _, at := range n.Attr {
			switch k := strings.ToLower(at.Key); {
			case strings.HasPrefix(k, "on"), k == "style", k == "src", k == "srcdoc", k == "action", k == "xlink:href", k == "formaction":
				t.Errorf("<%s> has attribute %s=%q", n.Data, at.Key, at.Val)
			case k == "href" && !strings.HasPrefix(at.Val, "#") && !strings.HasPrefix(at.Val, "./"):
				t.Errorf("link to %q", at.Val)
			case n.Data != "meta" && (strings.Contains(strings.ToLower(at.Val), "url(") || strings.Contains(at.Val, "://")):
				t.Errorf("<%s> has a URL in %s=%q", n.Data, at.Key, at.Val)
			case k == "http-equiv":
				if !strings.EqualFold(at.Val, "Content-Security-Policy") {
					t.Errorf("meta http-equiv=%q", at.Val)
				}
			}
		}
		if n.Data == "meta" {
			for _, at := range n.Attr {
				if at.Key == "http-equiv" {
					for _, at := range n.Attr {
						if at.Key == "content" {
							csp = at.Val
						}
					}
				}
			}
		}
		if n.Data == "style" {
			styles++
			if n.FirstChild != nil {
				style = n.FirstChild.Data
			}
		}
	}
	sum := sha256.Sum256([]byte(style))
	if styles != 1 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") || strings.Contains(csp, "unsafe") {
		t.Errorf("%d style elements; CSP %q does not allow only the style sheet", styles, csp)
	}
	if l := strings.ToLower(style); strings.Contains(l, "url(") || strings.Contains(l, "@import") || strings.Contains(l, "image-set(") {
		t.Error("the style sheet loads something")
	}
	return root
}

// textOf returns the text of the document, as a reader sees it.
func textOf(root *html.Node) string {
	var b strings.Builder
	for n := range root.Descendants() {
		if n.Type == html.TextNode && (n.Parent == nil || n.Parent.Data != "style") {
			b.WriteString(n.Data)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestReportEscapes writes a report where the study's labels and title,
// pseudonyms, a language and a free-text answer try to end the SVG, the
// title or the attribute they are in, run a script, load an image or
// reverse text with bidi controls: each must show as text.
func TestReportEscapes(t *testing.T) {
	attack := `</svg></title></desc></text><script>alert(1)</script><img src=x onerror=alert(2)>"'&`
	y := string(readFile(t, "testdata/v2.yaml"))
	y = strings.Replace(y, "en: Survey 2,", "en: \"Survey </title><style>*{background:url(//x)}</style>\",", 1)
	y = strings.Replace(y, "en: Media,", "en: '"+strings.ReplaceAll(attack, "'", "''")+"',", 1)
	y = strings.Replace(y, "en: TV,", "en: '<svg onload=alert(3)> TV',", 1)
	st, err := config.Parse("v2.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSchema([]*config.Study{st})
	if err != nil {
		t.Fatal(err)
	}
	rows := []Row{{
		Pseudonym: "김\u202e" + attack, PseudonymRoman: "Kim\u2066\"><a href=javascript:alert(4)>x</a>", Language: "ko\u200f<b>",
		Answers: map[string][]string{"media": {"tv"}, "story": {"</div><script>alert(5)</script>\u202eevil\u2069 \u0007"}, "media_other": {"<!--"}},
	}}
	var b bytes.Buffer
	if err := WriteReport(&b, s, Slice(rows), ReportOptions{Language: "en", FreeText: true, MarkdownDir: "testimonies"}); err != nil {
		t.Fatal(err)
	}
	root := checkReport(t, b.Bytes())
	text := textOf(root)
	for _, want := range []string{
		attack,                     // question label, and in the pseudonym
		"<svg onload=alert(3)> TV", // a choice label, in SVG text
		"Survey </title><style>*{background:url(//x)}</style>",
		"김<U+202E>" + attack,
		"Kim<U+2066>\"><a href=javascript:alert(4)>x</a>",
		"ko<U+200F><b>",
		"</div><script>alert(5)</script><U+202E>evil<U+2069> <U+0007>",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report does not show %q as text", want)
		}
	}
	if t.Failed() {
		os.WriteFile(filepath.Join(t.TempDir(), "report.html"), b.Bytes(), 0o600)
		t.Logf("report:\n%s", b.String())
	}
}

// TestReportLeavesOutFreeText checks that no answer a person typed, nor a
// value the questionnaire does not have, reaches the report unless free
// text is asked for.
func TestReportLeavesOutFreeText(t *testing.T) {
	s := schema(t)
	rows := reportRows(t)
	rows[0].Answers["story"] = []string{"Q7XMARKER long answer"}
	rows[0].Answers["media"] = []string{"usb", "q7xmarker_choice"}
	rows[0].Answers["media_other"] = []string{"Q7XMARKER short answer"}
	rows[0].Answers["count"] = []string{"Q7XMARKER1"}
	rows[1].Answers["first"] = []string{"Q7XMARKER-winter"}
	for _, free := range []bool{false, true} {
		var b bytes.Buffer
		if err := WriteReport(&b, s, Slice(rows), ReportOptions{FreeText: free, Language: "en"}); err != nil {
			t.Fatal(err)
		}
		checkReport(t, b.Bytes())
		got := strings.Count(strings.ToLower(b.String()), "q7xmarker")
		if want := map[bool]int{false: 0, true: 2}[free]; got != want {
			t.Errorf("free text %v: the marker is in the report %d times, want %d (the long and the short answer, when asked)", free, got, want)
		}
		if free && (!strings.Contains(b.String(), "Q7XMARKER long answer") || !strings.Contains(b.String(), "keep it as safe as the testimonies")) {
			t.Error("free text asked for but not shown with its warning")
		}
		if n := strings.Count(b.String(), "a value the questionnaire does not have"); n != 5 { // media: bar, chart description, table; count and first: table
			t.Errorf("a value that is not in the questionnaire is counted %d times, want 5", n)
		}
	}
}

func TestReportRefusesBadInput(t *testing.T) {
	s := schema(t)
	bad := []Row{
		{Pseudonym: "김석한", Version: current(t), Answers: map[string][]string{"phone": {"yes"}}}, // not in v2
		{Pseudonym: "김석한", Version: strings.Repeat("0", 64)},
		{Pseudonym: "김석한"}, // no version, and the schema has two
	}
	for i, r := range bad {
		if err := WriteReport(io.Discard, s, Slice([]Row{r}), ReportOptions{}); err == nil {
			t.Errorf("WriteReport accepted bad row %d", i)
		}
	}
	boom := errors.New("disk read failed")
	if err := WriteReport(io.Discard, s, func(yield func(Row, error) bool) { yield(Row{}, boom) }, ReportOptions{}); !errors.Is(err, boom) {
		t.Errorf("error %v, want the rows' error", err)
	}
	if err := WriteReport(io.Discard, s, Slice(nil), ReportOptions{Language: "fr"}); err == nil {
		t.Error("WriteReport accepted a language the study lacks")
	}
	if err := WriteReport(io.Discard, s, Slice(nil), ReportOptions{MarkdownDir: "/abs/testimonies"}); err == nil {
		t.Error("WriteReport accepted an absolute Markdown folder")
	}
	// No testimony is still a report.
	var b bytes.Buffer
	if err := WriteReport(&b, s, Slice(nil), ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	checkReport(t, b.Bytes())
}

// TestReportFileLinksMarkdown writes the report as the CLI does, next to
// the Markdown folder, and follows every link to a file that exists.
func TestReportFileLinksMarkdown(t *testing.T) {
	s := schema(t)
	rows := reportRows(t)
	rows[2].PseudonymRoman = "Pak Cheol: #1?/x%"
	dir := t.TempDir()
	md := filepath.Join(dir, "testimonies")
	if err := WriteMarkdownDir(md, s, Slice(rows), "en"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "report.html")
	day := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	if err := WriteReportFile(path, s, Slice(rows), ReportOptions{MarkdownDir: md, Day: day}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("report: %v, mode %v; want 0600", err, fi.Mode())
	}
	doc := readFile(t, path)
	root := checkReport(t, doc)
	var links []string
	for n := range root.Descendants() {
		for _, at := range n.Attr {
			if n.Data == "a" && at.Key == "href" && !strings.HasPrefix(at.Val, "#") {
				links = append(links, at.Val)
			}
		}
	}
	if len(links) != 3 {
		t.Fatalf("%d links to Markdown files, want 3", len(links))
	}
	for _, l := range links {
		u, err := url.Parse(l)
		if err != nil || u.Scheme != "" || u.Host != "" || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("link %q is not a plain relative path", l)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(u.Path))); err != nil {
			t.Errorf("link %q does not lead to a Markdown file: %v", l, err)
		}
	}
	if !bytes.Contains(doc, []byte("2026-03-01")) || bytes.Contains(doc, []byte("23:59")) {
		t.Error("the report does not show its day, or shows a time")
	}
	// The same input makes the same bytes.
	var again bytes.Buffer
	opt := ReportOptions{MarkdownDir: "testimonies", Day: day}
	if err := WriteReport(&again, s, Slice(rows), opt); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), doc) {
		t.Error("the same testimonies made another report")
	}
}

// FuzzReport checks that whatever a pseudonym, a language or an answer
// holds, the report stays inert and shows it.
func FuzzReport(f *testing.F) {
	f.Add("김석한", "Kim Seok-han", "ko", "</svg><script>alert(1)</script>", "2012")
	f.Add("\u202e", "\x00\xff", "<b>", "]]><!--", "-1")
	st, err := config.Load("testdata/small.yaml")
	if err != nil {
		f.Fatal(err)
	}
	s, err := NewSchema([]*config.Study{st})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pseudonym, roman, lang, story, year string) {
		rows := []Row{{Pseudonym: pseudonym, PseudonymRoman: roman, Language: lang,
			Answers: map[string][]string{"story": {story}, "left": {year}, "other": {story}, "phone": {year}}}}
		var b bytes.Buffer
		if err := WriteReport(&b, s, Slice(rows), ReportOptions{FreeText: true, MarkdownDir: "md"}); err != nil {
			t.Fatal(err)
		}
		root := checkReport(t, b.Bytes())
		if text := textOf(root); !strings.Contains(text, oneLine(pseudonym)) || !strings.Contains(text, strings.ReplaceAll(Visible(story), "\r", "")) {
			t.Errorf("pseudonym %q or story %q not shown", pseudonym, story)
		}
	})
}

// BenchmarkReport writes the report of 10,000 and 100,000 testimonies to
// the example study. Goal: 10,000 in < 2 s.
func BenchmarkReport(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			benchExport(b, n, func(f *os.File, s *Schema, rows Rows) error {
				return WriteReport(f, s, rows, ReportOptions{MarkdownDir: "testimonies"})
			})
		})
	}
}
