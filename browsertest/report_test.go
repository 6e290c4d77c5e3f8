package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/examples"
	"github.com/testimony-project/testimony/export"
	"github.com/testimony-project/testimony/response"
)

// offlineBrowser starts Chromium with every way out closed: host names
// resolve to nothing, and a proxy on a closed loopback port takes every
// connection, loopback included; with blockURLs, the DevTools network
// domain also refuses http, https, ws, wss and ftp URLs (Chromium checks
// that before a page's Content-Security-Policy, so a test of the policy
// goes without). Every request the page makes (refused or not) is still
// reported, and so is every console or security message. JavaScript is
// on, so that it is the report's Content-Security-Policy that keeps a
// script from running.
func offlineBrowser(t *testing.T, blockURLs bool) (context.Context, *pageLog) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.Flag("lang", "ko-KR"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 1200),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	l := &pageLog{}
	l.reset()
	if err := chromedp.Listen(ctx, l.listen); err != nil {
		t.Fatalf("failed to start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if blockURLs {
		var block []*network.BlockPattern
		for _, scheme := range []string{"http", "https", "ws", "wss", "ftp"} {
			block = append(block, &network.BlockPattern{URLPattern: scheme + "://*:*/*", Block: true})
		}
		if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: block}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return ctx, l
}

// pageLog keeps the URLs the page requested, why any was blocked, and
// the messages it logged.
type pageLog struct {
	mu       sync.Mutex
	requests []network.RequestID
	urls     map[network.RequestID]string
	blocked  map[network.RequestID]network.BlockedReason
	messages []string
}

func (l *pageLog) listen(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		l.requests = append(l.requests, e.RequestID)
		l.urls[e.RequestID] = e.Request.URL
	case *network.EventLoadingFailed:
		l.blocked[e.RequestID] = e.BlockedReason
	case *cdplog.EventEntryAdded:
		l.messages = append(l.messages, string(e.Entry.Source)+": "+e.Entry.Text)
	}
}

func (l *pageLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests, l.messages = nil, nil
	l.urls = map[network.RequestID]string{}
	l.blocked = map[network.RequestID]network.BlockedReason{}
}

// seen returns the URLs the page asked for (Chromium reports a request
// its Content-Security-Policy then refuses too), those of them that the
// policy did not refuse, and what the page logged.
func (l *pageLog) seen() (requests, notRefused, messages []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range l.requests {
		requests = append(requests, l.urls[id])
		if l.blocked[id] != network.BlockedReasonCsp {
			notRefused = append(notRefused, l.urls[id])
		}
	}
	return requests, notRefused, slices.Clone(l.messages)
}

// reportTestimonies answers the example study n times, as people would:
// each question shown is answered nine times in ten, with choices, years
// and numbers drawn at random (seeded, so the report is the same on every
// run); Hangul pseudonyms of three syllables.
func reportTestimonies(t *testing.T, st *config.Study, n int) []export.Row {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	family := []rune("김이박최정강조윤장임한오서신권황안송류홍")
	given := []rune("석영철민수진혜성현우준서지은하연주경희")
	var rows []export.Row
	taken := map[string]bool{}
	for len(rows) < n {
		name := string([]rune{family[rng.IntN(len(family))], given[rng.IntN(len(given))], given[rng.IntN(len(given))]})
		if taken[name] {
			continue
		}
		taken[name] = true
		a := map[string][]string{}
		for i := range st.Questions {
			q := &st.Questions[i]
			if q.Type == config.Note || !response.Relevant(st, q, a) || rng.IntN(10) == 0 {
				continue
			}
			switch q.Type {
			case config.SingleChoice:
				a[q.ID] = []string{q.Choices[rng.IntN(len(q.Choices))].Value}
			case config.MultiChoice:
				for _, c := range q.Choices {
					if rng.IntN(3) == 0 {
						a[q.ID] = append(a[q.ID], c.Value)
					}
				}
			case config.Year:
				a[q.ID] = []string{fmt.Sprint(1995 + rng.IntN(25))}
			case config.DateApprox:
				a[q.ID] = []string{fmt.Sprint(2000+rng.IntN(20)) + []string{"", "-spring", "-07", "-winter"}[rng.IntN(4)]}
			case config.Decimal:
				a[q.ID] = []string{fmt.Sprintf("%.1f", rng.Float64()*12)}
			case config.Integer:
				a[q.ID] = []string{fmt.Sprint(rng.IntN(100))}
			case config.Consent:
				a[q.ID] = []string{config.ConsentValue}
			default:
				a[q.ID] = []string{"자유 기술 RPTMARKER " + name}
			}
		}
		rows = append(rows, export.Row{Pseudonym: name, PseudonymRoman: fmt.Sprint("Romanized ", len(rows)), Language: []string{"ko", "ko", "en", "zh"}[rng.IntN(4)], Version: st.Version(), Answers: a})
	}
	return rows
}

// writeReport writes the report of 300 testimonies to the example study,
// in Korean, with their Markdown files beside it.
func writeReport(t *testing.T) (path string, doc []byte) {
	t.Helper()
	st, err := config.Parse("nk-internet-access.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	s, err := export.NewSchema([]*config.Study{st})
	if err != nil {
		t.Fatal(err)
	}
	rows := reportTestimonies(t, st, 300)
	dir := t.TempDir()
	if err := export.WriteMarkdownDir(filepath.Join(dir, "testimonies"), s, export.Slice(rows), "ko"); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "report.html")
	err = export.WriteReportFile(path, s, export.Slice(rows), export.ReportOptions{Language: "ko", MarkdownDir: filepath.Join(dir, "testimonies"), Day: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	doc, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(doc, []byte("RPTMARKER")) {
		t.Fatal("the report holds free text it was not asked for")
	}
	return path, doc
}

func fileURL(path string) string { return (&url.URL{Scheme: "file", Path: path}).String() }

func openPage(t *testing.T, ctx context.Context, l *pageLog, u string) {
	t.Helper()
	l.reset()
	do(t, ctx, "open "+u, chromedp.Navigate(u), waitFor(`body`), chromedp.Sleep(700*time.Millisecond))
}

// TestReportOffline opens the report of 300 testimonies from its file in
// Chromium, network closed, and checks what a researcher relies on: it
// makes no request and breaks no rule of its policy, its style sheet
// applies, Hangul is drawn with Noto Sans CJK glyphs (not boxes), the
// links lead to the Markdown files, and every chart fits on an A4 page.
// The screenshot and the A4 PDF go to the output folder.
func TestReportOffline(t *testing.T) {
	path, _ := writeReport(t)
	ctx, l := offlineBrowser(t, true)
	u := fileURL(path)
	openPage(t, ctx, l, u)
	requests, _, messages := l.seen()
	if !slices.Equal(requests, []string{u}) {
		t.Errorf("the report made requests %q; want only its own file", requests)
	}
	if len(messages) > 0 {
		t.Errorf("the browser logged %q", messages)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Title()); !strings.Contains(title, "보고서") {
		t.Errorf("title %q", title)
	}

	// The style sheet applies: its hash is the one the policy allows.
	styles, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS(`#questions svg rect.bar`)))
	if err != nil {
		t.Fatal(err)
	}
	fill := ""
	for _, p := range styles {
		if p.Name == "fill" {
			fill = p.Value
		}
	}
	if fill != "rgb(47, 109, 181)" {
		t.Errorf("a bar is filled %q: the style sheet was not applied", fill)
	}

	checkHangul(t, ctx)

	// Links lead to the Markdown files.
	href, _ := attr(t, ctx, `#pseudonyms tbody a`, "href")
	abs, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := abs.Parse(href)
	if err != nil || ref.Scheme != "file" {
		t.Fatalf("link %q: %v", href, err)
	}
	if _, err := os.Stat(ref.Path); err != nil {
		t.Errorf("link %q does not lead to a Markdown file: %v", href, err)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir(t), "report.jpg")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)

	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("printing to PDF: %v", err)
	}
	out = filepath.Join(outDir(t), "report-a4.pdf")
	if err := os.WriteFile(out, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("A4 PDF: %s", out)

	// In print, on the width of A4 within its margins (180 mm), no chart
	// is wider than the page or taller than it, and none may be broken
	// across pages.
	const mm = 96.0 / 25.4 // CSS px
	mmf := mm
	width, height := int64(180*mmf), 267*mmf
	do(t, ctx, "emulate print",
		chromedp.EmulateViewport(width, 1200),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
			return err
		}),
		chromedp.Sleep(300*time.Millisecond))
	ids, err := chromedp.Run(ctx, chromedp.QueryNodeIDs(chromedp.CSSAll(`figure`), chromedp.AtLeast(10)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		box, err := chromedp.Call(ctx, dom.GetBoxModel, dom.GetBoxModelParams{NodeID: id})
		if err != nil {
			t.Fatal(err)
		}
		if box.Model.Width > width || float64(box.Model.Height) > height {
			t.Errorf("a chart is %d×%d px in print, more than an A4 page's %d×%.0f", box.Model.Width, box.Model.Height, width, height)
		}
	}
	styles, err = chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS(`figure`)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(styles, func(p *css.ComputedStyleProperty) bool { return p.Name == "break-inside" && p.Value == "avoid" }) {
		t.Error("a chart may be broken across pages in print")
	}
	t.Logf("%d charts checked in print", len(ids))
	// The numbers under the charts, folded away on screen, are printed.
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if box, err := chromedp.Run(c, chromedp.Dimensions(chromedp.CSS(`#questions details`))); err != nil || box.Height < 60 {
		t.Errorf("the tables of numbers are not printed (%v): %+v", err, box)
	}
}

// checkHangul checks that Korean text is drawn with glyphs: the fonts
// Chromium used for the title are Noto Sans CJK for every Hangul
// syllable, and a pseudonym's pixels differ from another pseudonym's and
// from code points no font has, which are drawn as boxes (if Hangul were
// drawn as boxes, all three would look alike).
func checkHangul(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, dom.Enable, dom.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, css.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h1`)))
	if err != nil {
		t.Fatal(err)
	}
	hangul := 0
	for _, r := range title {
		if unicode.Is(unicode.Hangul, r) {
			hangul++
		}
	}
	ids, err := chromedp.Run(ctx, chromedp.QueryNodeIDs(chromedp.CSS(`h1`)))
	if err != nil {
		t.Fatal(err)
	}
	fonts, err := chromedp.Call(ctx, css.GetPlatformFontsForNode, css.GetPlatformFontsForNodeParams{NodeID: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	cjk := 0.0
	var used []string
	for _, f := range fonts.Fonts {
		used = append(used, fmt.Sprintf("%s (%v glyphs)", f.FamilyName, f.GlyphCount))
		if strings.Contains(f.FamilyName, "Noto Sans CJK") {
			cjk += f.GlyphCount
		}
	}
	if hangul == 0 || cjk < float64(hangul) {
		t.Errorf("title %q (%d Hangul syllables) drawn with %v: want Noto Sans CJK for every syllable (fonts-noto-cjk)", title, hangul, used)
	}
	t.Logf("title %q drawn with %v", title, used)

	// Three renderings of a cell of three characters: a pseudonym,
	// another pseudonym, and three unassigned code points (boxes).
	const cell = `#pseudonyms tbody tr:first-child td:first-child a`
	shot := func(text string) image.Image {
		t.Helper()
		ids, err := chromedp.Run(ctx, chromedp.QueryNodeIDs(chromedp.CSS(cell)))
		if err != nil {
			t.Fatal(err)
		}
		if text != "" {
			if _, err := chromedp.Call(ctx, dom.SetOuterHTML, dom.SetOuterHTMLParams{NodeID: ids[0], OuterHTML: `<a href="#">` + text + `</a>`}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(cell)))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(cell)))
	if err != nil {
		t.Fatal(err)
	}
	first := shot("")
	other := shot("한글꼴")
	boxes := shot("\u0378\u0379\u0380")
	for i, img := range []image.Image{first, other, boxes} {
		f, err := os.Create(filepath.Join(outDir(t), fmt.Sprintf("report-hangul-%d.png", i)))
		if err == nil {
			png.Encode(f, img)
			f.Close()
		}
	}
	if ink(first) < 0.05 {
		t.Errorf("pseudonym %q has almost no ink (%.3f)", name, ink(first))
	}
	if d := differ(first, other); d < 0.02 {
		t.Errorf("pseudonyms %q and 한글꼴 look alike (%.3f of pixels differ): drawn as boxes?", name, d)
	}
	if d := differ(first, boxes); d < 0.02 {
		t.Errorf("pseudonym %q looks like unassigned code points (%.3f of pixels differ): drawn as boxes", name, d)
	}
}

// dark reports whether a pixel is ink: darker than mid-grey.
func dark(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return (r+g+b)/3 < 0x8000
}

// ink returns the share of an image's pixels that are ink.
func ink(img image.Image) float64 {
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if dark(img, x, y) {
				n++
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy())
}

// differ returns the share of pixels that are ink in one image and not
// in the other, over the larger of the two.
func differ(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	w, h := max(ab.Dx(), bb.Dx()), max(ab.Dy(), bb.Dy())
	in := func(img image.Image, x, y int) bool {
		r := img.Bounds()
		return x < r.Dx() && y < r.Dy() && dark(img, r.Min.X+x, r.Min.Y+y)
	}
	n := 0
	for y := range h {
		for x := range w {
			if in(a, x, y) != in(b, x, y) {
				n++
			}
		}
	}
	return float64(n) / float64(w*h)
}

// injected is markup that would load or run something, as if a label or
// an answer had reached the report unescaped.
const injected = `<script>document.title = "ran"</script>` +
	`<img src="http://203.0.113.1/img.png">` +
	`<link rel="stylesheet" href="https://203.0.113.1/sheet.css">` +
	`<style>@import url("http://203.0.113.1/import.css"); body{background:url(http://203.0.113.1/bg.png)}</style>` +
	`<div style="background-image:url(http://203.0.113.1/attr.png)">x</div>` +
	`<iframe src="http://203.0.113.1/frame"></iframe>` +
	`<object data="http://203.0.113.1/object"></object>` +
	`<svg><image href="http://203.0.113.1/svg.png" width="9" height="9"/></svg>` +
	`<video poster="http://203.0.113.1/poster.png"></video>` +
	`<style>@font-face{font-family:x;src:url(http://203.0.113.1/font.woff)} body{font-family:x}</style>`

// TestReportPolicyHoldsInjectedMarkup puts markup that loads and runs
// things into the report, as if escaping had failed, and opens it: its
// Content-Security-Policy must stop all of it. The same markup in the
// report without its policy is opened first, to show that the test sees
// the requests and the script when they happen.
func TestReportPolicyHoldsInjectedMarkup(t *testing.T) {
	path, doc := writeReport(t)
	i := bytes.Index(doc, []byte("<body>")) + len("<body>")
	crafted := slices.Concat(doc[:i], []byte(injected), doc[i:])
	ctx, l := offlineBrowser(t, false)

	// Without the policy, the page asks for everything and runs the
	// script (the network is closed: nothing leaves).
	start, end := bytes.Index(crafted, []byte(`<meta http-equiv="Content-Security-Policy"`)), 0
	if start < 0 {
		t.Fatal("the report has no Content-Security-Policy")
	}
	end = start + bytes.IndexByte(crafted[start:], '>') + 1
	bare := slices.Concat(crafted[:start], crafted[end:])
	barePath := filepath.Join(filepath.Dir(path), "bare.html")
	if err := os.WriteFile(barePath, bare, 0o600); err != nil {
		t.Fatal(err)
	}
	openPage(t, ctx, l, fileURL(barePath))
	requests, _, _ := l.seen()
	if title, _ := chromedp.Run(ctx, chromedp.Title()); title != "ran" || !slices.ContainsFunc(requests, func(u string) bool { return strings.Contains(u, "203.0.113.1") }) {
		t.Fatalf("without the policy the injected markup did not run (title %q) or request anything (%q): the test cannot see what it checks", title, requests)
	}

	// With it, nothing.
	craftedPath := filepath.Join(filepath.Dir(path), "crafted.html")
	if err := os.WriteFile(craftedPath, crafted, 0o600); err != nil {
		t.Fatal(err)
	}
	u := fileURL(craftedPath)
	openPage(t, ctx, l, u)
	requests, notRefused, messages := l.seen()
	// data: URLs are Chromium's own icons for a broken image or a video.
	notRefused = slices.DeleteFunc(notRefused, func(s string) bool { return strings.HasPrefix(s, "data:") })
	if !slices.Equal(notRefused, []string{u}) {
		t.Errorf("the report with injected markup made requests its policy did not refuse: %q", notRefused)
	}
	if n := len(slices.DeleteFunc(requests, func(s string) bool { return !strings.Contains(s, "203.0.113.1") })); n < 4 {
		t.Errorf("only %d requests of the injected markup were refused: the test did not see them", n)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Title()); title == "ran" {
		t.Error("an injected script ran")
	}
	violations := 0
	for _, m := range messages {
		if strings.Contains(m, "Content Security Policy") {
			violations++
		}
	}
	if violations == 0 {
		t.Errorf("no Content-Security-Policy violation reported: %q", messages)
	}
	t.Logf("%d violations of the policy reported", violations)
}
