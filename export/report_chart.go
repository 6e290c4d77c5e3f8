package export

// Geometry of the report's charts, in SVG user units. Everything here is
// numbers and text; the template escapes the text.

import (
	"math"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// px is a coordinate, printed with at most one decimal.
type px float64

func (p px) String() string {
	return strconv.FormatFloat(math.Round(float64(p)*10)/10, 'f', -1, 64)
}

type svgText struct {
	X, Y px
	Text string
}

type rect struct{ X, Y, W, H px }

// Bar charts: one row per choice (its label above its bar), then grey rows
// for the codes. Bar lengths are shares on one 0–100% scale.
const (
	chartWidth    = 640
	barFont       = 13 // px, the label's font size (CSS: svg text)
	barLine       = 17 // px between label lines
	barHeight     = 14
	barGap        = 10  // below a bar
	barLen        = 500 // a bar of 100%
	barLabelLines = 4   // a longer label is cut, whole in the table
	// maxChartHeight keeps a chart within an A4 page (267 mm printable
	// height is about 1,000 CSS px; a chart is drawn at most 680 px
	// wide, so 640 units are at most 680 px): a longer chart is split.
	maxChartHeight = 760
)

type barRow struct {
	Lines []svgText
	Code  bool
	Track rect // the 100% length, faint
	Bar   rect
	Value svgText
}

type barChart struct {
	ID, Title, Desc string
	Width, Height   px
	Rows            []barRow
	Sep             px // y of the line between choices and codes, or 0
}

// bar is one row to draw: a label, a count and its share (0–1).
type bar struct {
	label string
	count int
	share float64
	code  bool
}

// barCharts lays out bars, choices first, and splits them into charts no
// taller than maxChartHeight. id names the charts (id, id-2, …).
func barCharts(id, title, desc string, bars []bar, partFmt func(i, n int) string) []*barChart {
	var charts []*barChart
	c := &barChart{ID: id, Width: chartWidth}
	y := px(4)
	for i, b := range bars {
		lines := wrapText(strings.ReplaceAll(b.label, "\n", " "), chartWidth-4, barFont, barLabelLines)
		h := px(len(lines)*barLine + 4 + barHeight + barGap)
		sep := b.code && i > 0 && !bars[i-1].code // codes follow a line
		if sep {
			h += 8
		}
		if y+h > maxChartHeight && len(c.Rows) > 0 {
			c.Height = y
			charts = append(charts, c)
			c = &barChart{ID: id + "-" + strconv.Itoa(len(charts)+1), Width: chartWidth}
			y = 4
		}
		if sep {
			c.Sep = y + 2
			y += 8
		}
		r := barRow{Code: b.code}
		for j, l := range lines {
			r.Lines = append(r.Lines, svgText{X: 0, Y: y + px(barFont+j*barLine), Text: l})
		}
		by := y + px(len(lines)*barLine+4)
		l := px(b.share * barLen)
		if b.count > 0 && l < 2 {
			l = 2 // a count that is not zero shows
		}
		r.Track = rect{0, by, barLen, barHeight}
		r.Bar = rect{0, by, l, barHeight}
		r.Value = svgText{X: max(l, 0) + 6, Y: by + barHeight - 2.5, Text: formatCount(b.count) + " · " + formatShare(b.share)}
		c.Rows = append(c.Rows, r)
		y += px(len(lines)*barLine + 4 + barHeight + barGap)
	}
	c.Height = y
	charts = append(charts, c)
	for i, c := range charts {
		c.Title, c.Desc = title, desc
		if len(charts) > 1 {
			c.Title += " (" + partFmt(i+1, len(charts)) + ")"
		}
	}
	return charts
}

// Histograms.
const (
	histHeight  = 236
	histLeft    = 48 // room for the count axis
	histRight   = 20 // room for half the last label
	histTop     = 18 // room for counts above bars
	histBottom  = 44 // room for the value axis
	histMaxBins = 40
	histFont    = 11
)

type histBar struct {
	Rect  rect
	Count svgText // Text empty if not drawn
}

type histChart struct {
	ID, Title, Desc string
	Width, Height   px
	Bars            []histBar
	XLabels         []svgText
	YLabels         []svgText
	Base, Top       px // y of the axis and of the highest count's line
	Left, Right     px
}

// numHist counts numbers in memory bounded by histKeys whatever their
// number: values are kept exactly until there are more than histKeys
// distinct ones, then counted in bins of a power of ten, coarsened as
// needed.
type numHist struct {
	exact    map[float64]int // nil once binned
	binned   map[int64]int   // bin k holds [k·10^exp, (k+1)·10^exp)
	exp      int
	n        int
	min, max float64
	sum      float64
	integer  bool // every value is whole
}

const histKeys = 1024

func newNumHist() *numHist { return &numHist{exact: map[float64]int{}, integer: true} }

func (h *numHist) add(x float64) {
	if h.n == 0 {
		h.min, h.max = x, x
	}
	h.min, h.max = min(h.min, x), max(h.max, x)
	h.n++
	h.sum += x
	if x != math.Trunc(x) {
		h.integer = false
	}
	if h.exact != nil {
		h.exact[x]++
		if len(h.exact) > histKeys {
			h.exp = int(math.Ceil(math.Log10((h.max - h.min) / (histKeys / 4))))
			h.binned = map[int64]int{}
			for v, c := range h.exact {
				h.binned[binOf(v, h.exp)] += c
			}
			h.exact = nil
		}
		return
	}
	h.binned[binOf(x, h.exp)]++
	for len(h.binned) > histKeys {
		old := h.binned
		h.binned = make(map[int64]int, len(old)/8)
		h.exp++
		for k, c := range old {
			h.binned[floorDiv(k, 10)] += c
		}
	}
}

// binOf returns the bin of x for bins of 10^exp: floor(x / 10^exp), with
// room for the rounding of decimals (0.3 / 0.1 is 2.9999999999999996).
func binOf(x float64, exp int) int64 {
	return int64(math.Floor(x/math.Pow(10, float64(exp)) + 1e-9))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// histBin is a bin as the report shows it: [lo, lo+w).
type histBin struct {
	lo    float64
	count int
}

// bins returns the histogram's bins: one per whole number when the values
// are whole and span at most histMaxBins, else at most histMaxBins bins of
// a width 1, 2 or 5 times a power of ten, aligned on multiples of it.
func (h *numHist) bins() (bins []histBin, w float64) {
	if h.n == 0 {
		return nil, 1
	}
	stored := 0.0 // width of the stored bins; 0 when exact
	if h.exact == nil {
		stored = math.Pow(10, float64(h.exp))
	}
	w = niceCeil((h.max - h.min) / histMaxBins)
	if h.integer && h.max-h.min+1 <= histMaxBins {
		w = 1
	}
	if h.integer {
		w = max(w, 1)
	}
	// Widen until the bins fit (alignment can add one) and hold whole
	// stored bins.
	for {
		if w >= stored && float64(binOfWidth(h.max, w)-binOfWidth(h.min, w)+1) <= histMaxBins {
			break
		}
		w = niceCeil(w * 1.5)
	}
	first := binOfWidth(h.min, w)
	bins = make([]histBin, binOfWidth(h.max, w)-first+1)
	for i := range bins {
		bins[i].lo = float64(first+int64(i)) * w
	}
	if h.exact != nil {
		for v, c := range h.exact {
			bins[binOfWidth(v, w)-first].count += c
		}
	} else {
		ratio := int64(math.Round(w / stored))
		for k, c := range h.binned {
			i := floorDiv(k, ratio) - first
			i = min(max(i, 0), int64(len(bins)-1))
			bins[i].count += c
		}
	}
	return bins, w
}

func binOfWidth(x, w float64) int64 { return int64(math.Floor(x/w + 1e-9)) }

// niceCeil returns the least of 1, 2 and 5 times a power of ten that is at
// least v (and at least 1e-12).
func niceCeil(v float64) float64 {
	if v <= 1e-12 {
		return 1e-12
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// histogram lays out bins, labelled by label(i), as a chart.
func histogram(id, title, desc string, bins []histBin, w float64, integer bool) *histChart {
	c := &histChart{ID: id, Title: title, Desc: desc, Width: chartWidth, Height: histHeight,
		Left: histLeft, Right: chartWidth - histRight, Base: histHeight - histBottom, Top: histTop}
	if len(bins) == 0 {
		return c
	}
	peak := 0
	for _, b := range bins {
		peak = max(peak, b.count)
	}
	plotW := float64(c.Right - c.Left)
	plotH := float64(c.Base - c.Top)
	bw := plotW / float64(len(bins))
	gap := min(2, bw*0.2)
	for i, b := range bins {
		hb := histBar{}
		h := 0.0
		if peak > 0 {
			h = float64(b.count) / float64(peak) * plotH
		}
		if b.count > 0 && h < 1 {
			h = 1
		}
		x := float64(c.Left) + float64(i)*bw
		hb.Rect = rect{px(x + gap/2), c.Base - px(h), px(bw - gap), px(h)}
		if b.count > 0 && textWidth(formatCount(b.count), histFont-1) <= bw {
			hb.Count = svgText{X: px(x + bw/2), Y: c.Base - px(h) - 3, Text: formatCount(b.count)}
		}
		c.Bars = append(c.Bars, hb)
	}
	// Value axis: a whole number per bar, centred; otherwise bin edges.
	if integer && w == 1 {
		lw := 0.0
		for _, b := range bins {
			lw = max(lw, textWidth(formatNumber(b.lo), histFont))
		}
		step := int(math.Ceil((lw + 6) / bw))
		for i := 0; i < len(bins); i += step {
			c.XLabels = append(c.XLabels, svgText{X: px(float64(c.Left) + (float64(i)+0.5)*bw), Y: c.Base + 16, Text: formatNumber(bins[i].lo)})
		}
	} else {
		edges := make([]float64, len(bins)+1)
		for i := range bins {
			edges[i] = bins[i].lo
		}
		edges[len(bins)] = bins[len(bins)-1].lo + w
		lw := 0.0
		for _, e := range edges {
			lw = max(lw, textWidth(formatEdge(e, w), histFont))
		}
		step := int(math.Ceil((lw + 8) / bw))
		for i := 0; i < len(edges); i += step {
			c.XLabels = append(c.XLabels, svgText{X: px(float64(c.Left) + float64(i)*bw), Y: c.Base + 16, Text: formatEdge(edges[i], w)})
		}
	}
	c.YLabels = []svgText{
		{X: c.Left - 6, Y: c.Base + 4, Text: "0"},
		{X: c.Left - 6, Y: c.Top + 4, Text: formatCount(peak)},
	}
	return c
}

// formatEdge writes a bin edge with the decimals its width needs.
func formatEdge(x, w float64) string {
	d := 0
	if w < 1 {
		d = int(math.Ceil(-math.Log10(w) - 1e-9))
	}
	return strings.Replace(strconv.FormatFloat(x, 'f', d, 64), "-", "−", 1)
}

// formatNumber writes a value as people write it: 2015, −3, 2.5.
func formatNumber(x float64) string {
	return strings.Replace(strconv.FormatFloat(x, 'f', -1, 64), "-", "−", 1)
}

// formatCount writes a count with a comma every three digits.
func formatCount(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatShare writes a share (0–1) as a percentage with at most one
// decimal; a share that is not zero never shows as 0%.
func formatShare(f float64) string {
	p := f * 100
	switch {
	case p == 0:
		return "0%"
	case p < 0.1:
		return "<0.1%"
	case p > 99.9 && p < 100:
		return ">99.9%"
	}
	return strconv.FormatFloat(math.Round(p*10)/10, 'f', -1, 64) + "%"
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// runeWidth estimates the advance of r in ems, erring wide: charts lay
// labels out without knowing the font.
func runeWidth(r rune) float64 {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me):
		return 0
	case r < 0x80:
		if strings.ContainsRune("MWmw@%", r) {
			return 0.9
		}
		if unicode.IsUpper(r) {
			return 0.72
		}
		return 0.62
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 1.0
	}
	if r >= 0x1f000 {
		return 1.2 // emoji
	}
	return 0.72
}

func textWidth(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w * size
}

// wrapText breaks s into lines no wider than maxW at font size size: at
// spaces, or between wide characters, or anywhere in a word too long for
// a line. Past maxLines, the last line ends with "…".
func wrapText(s string, maxW, size float64, maxLines int) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return []string{""}
	}
	var lines []string
	var cur []rune
	curW := 0.0
	lastBreak := -1 // index in cur after which the line may break
	flush := func(upto int) {
		lines = append(lines, strings.TrimRight(string(cur[:upto]), " "))
		rest := cur[upto:]
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		cur = append([]rune(nil), rest...)
		curW = 0
		for _, r := range cur {
			curW += runeWidth(r) * size
		}
		lastBreak = -1
	}
	for _, r := range s {
		rw := runeWidth(r) * size
		if curW+rw > maxW && r != ' ' && len(cur) > 0 {
			if lastBreak > 0 {
				flush(lastBreak)
			} else {
				flush(len(cur))
			}
		}
		wide := runeWidth(r) == 1.0
		if wide && len(cur) > 0 {
			lastBreak = len(cur) // before a wide character
		}
		cur = append(cur, r)
		curW += rw
		if r == ' ' || wide {
			lastBreak = len(cur)
		}
	}
	if len(cur) > 0 {
		lines = append(lines, strings.TrimRight(string(cur), " "))
	}
	if len(lines) > maxLines {
		last := []rune(lines[maxLines-1])
		for len(last) > 0 && textWidth(string(last)+"…", size) > maxW {
			last = last[:len(last)-1]
		}
		lines = append(lines[:maxLines-1], string(last)+"…")
	}
	return lines
}
