// Package browsertest drives the questionnaire in a real browser, Debian's
// Chromium, with JavaScript on and off, and checks what people and
// researchers rely on: the Korean questionnaire can be filled in, a
// follow-up appears for the answer it depends on, a mistake is shown and
// corrected, the receipt comes, what was stored decrypts to exactly what was
// typed, no plaintext leaves the browser when JavaScript is on, no request
// leaves the site, every response carries the security headers, and the
// questionnaire page is light.
//
// The tests skip under -short. Otherwise they need chromium (scripts/deps
// installs it). Screenshots and page weights are written to the folder the
// tests print (BROWSERTEST_OUT, or a folder under the temporary directory).
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/examples"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/response"
	"github.com/testimony-project/testimony/store"
)

// Budgets of the questionnaire page, from issue 4.
const (
	maxBytesNoJS    = 30 << 10
	maxRequestsNoJS = 3
	maxBytesJS      = 80 << 10
)

// requiredHeaders must be on every response.
var requiredHeaders = map[string]string{
	"Content-Security-Policy":      "default-src 'none'; script-src 'self'; style-src 'self'",
	"Referrer-Policy":              "no-referrer",
	"X-Content-Type-Options":       "nosniff",
	"Cache-Control":                "no-store",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "camera=()",
}

func chromiumPath(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests are skipped under -short")
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run scripts/deps (apt-get install chromium fonts-noto-cjk), or use go test -short")
	return ""
}

// outDir is where screenshots and weights go.
func outDir(t *testing.T) string {
	dir := os.Getenv("BROWSERTEST_OUT")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "testimony-browsertest")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// study is the example study with fresh researcher keys.
func study(t *testing.T) (*config.Study, []*envelope.Identity) {
	t.Helper()
	_, s, ids := studyFile(t)
	return s, ids
}

// studyFile is study, with the study file.
func studyFile(t testing.TB) ([]byte, *config.Study, []*envelope.Identity) {
	t.Helper()
	var ids []*envelope.Identity
	y := regexp.MustCompile(`public_key: testimony-pub-[a-z2-7]+`).ReplaceAllStringFunc(string(examples.NKInternetAccess), func(string) string {
		id, err := envelope.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		return "public_key: " + id.Recipient().String()
	})
	s, err := config.Parse("nk-internet-access.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) < 2 {
		t.Fatalf("expected the example study to have at least two researchers, got %d", len(ids))
	}
	return []byte(y), s, ids
}

// exchange is one request the server saw and the headers it answered with.
type exchange struct {
	Method, Path, ContentType string
	Body                      []byte
	Status                    int
	Header                    http.Header
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.ResponseWriter.Write(b)
}

// site is an intake server for the study with a record of every exchange,
// serving from a data directory as intake serve does: envelopes recorded
// in its audit log, replies read from DATA/replies.
type site struct {
	base  string
	study *config.Study
	data  *intake.Data
	store *store.Store
	hs    *http.Server
	mu    sync.Mutex
	seen  []exchange
}

func (s *site) exchanges() []exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// handler wraps the server's handler to record what crossed the wire, as a
// proxy in front of it would see it.
func (s *site) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(r.Body, 8<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		s.mu.Lock()
		s.seen = append(s.seen, exchange{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), body, rec.status, w.Header().Clone()})
		s.mu.Unlock()
	})
}

// startSite serves the study on ln (a loopback listener, or the onion
// service's) and returns it.
func startSite(t testing.TB, st *config.Study, ln net.Listener, base string) *site {
	t.Helper()
	d, err := intake.OpenData(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.BindStudy(st.ID); err != nil {
		t.Fatal(err)
	}
	srv, err := intake.New(intake.Config{Study: st, Store: d.Store, Replies: d.Replies(),
		Stored: func(sum [32]byte, day time.Time) error { return d.Record(audit.SubmissionStored(sum, day)) }})
	if err != nil {
		t.Fatal(err)
	}
	s := &site{base: base, study: st, data: d, store: d.Store}
	s.serve(t, srv, ln)
	return s
}

// serve serves srv on ln for the site.
func (s *site) serve(t testing.TB, srv *intake.Server, ln net.Listener) {
	hs := srv.HTTPServer()
	hs.Handler = s.handler(hs.Handler)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	s.hs = hs
}

// netlog keeps what the browser's network domain reported.
type netlog struct {
	mu       sync.Mutex
	urls     []string
	requests map[network.RequestID]string
	bytes    map[network.RequestID]float64
	headers  map[string]network.Headers
}

func (n *netlog) listen(ev any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		n.urls = append(n.urls, e.Request.URL)
		n.requests[e.RequestID] = e.Request.URL
	case *network.EventResponseReceived:
		n.headers[e.Response.URL] = e.Response.Headers
	case *network.EventLoadingFinished:
		n.bytes[e.RequestID] = e.EncodedDataLength
	}
}

// reset starts a new page-weight measurement.
func (n *netlog) reset() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.requests = map[network.RequestID]string{}
	n.bytes = map[network.RequestID]float64{}
}

func (n *netlog) weight() (total int64, urls []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, u := range n.requests {
		total += int64(n.bytes[id])
		urls = append(urls, u)
	}
	slices.Sort(urls)
	return total, urls
}

// browser starts Chromium with the flags of issue 4 and returns a context
// for one tab, with the network domain on and scripts on or off.
func browser(t testing.TB, js bool, proxy string) (context.Context, *netlog) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		// Chromium first tries https:// for a navigation to a host name
		// (not an IP address); Tor Browser does not for .onion names, and
		// the service has no port 443.
		chromedp.Flag("disable-features", "HttpsUpgrades"),
		chromedp.Flag("lang", "ko-KR"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 1200),
	}
	if proxy != "" {
		opts = append(opts, chromedp.ProxyServer(proxy))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	n := &netlog{headers: map[string]network.Headers{}}
	n.reset()
	if err := chromedp.Listen(ctx, n.listen); err != nil {
		t.Fatalf("failed to start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if !js {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
	}
	return ctx, n
}

// do runs the steps of one thing a person does, once the page they act on
// has loaded (see loaded).
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(c, append([]chromedp.Action[chromedp.Void]{loaded()}, steps...)...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// loaded waits until the page has loaded, its stylesheet and scripts in
// (document.readyState "complete"), as a person waits for a page to
// appear before acting on it. A page that came from a form is in the DOM
// before its stylesheet: Chromium may drop input that comes before its
// first paint, and a click at a button's place before the stylesheet
// applies lands where the styled page has no button. After 10 s it lets
// the step go on, to fail or not on its own.
func loaded() chromedp.Action[chromedp.Void] {
	readyState := chromedp.Evaluate[string](`document.readyState`)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := pollFor(ctx, 10*time.Second, 50*time.Millisecond, func() bool {
			// Evaluation works with the page's scripts off too; it
			// fails while one page replaces another: ask again.
			state, err := readyState(ctx, t)
			return err == nil && state == "complete"
		})
		return err
	})
}

// pollFor asks done every interval until it holds, for at most limit. It
// reports whether done held, and fails only when ctx is done.
func pollFor(ctx context.Context, limit, every time.Duration, done func() bool) (bool, error) {
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(every):
		}
	}
	return true, nil
}

func html(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.OuterHTML(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func attr(t *testing.T, ctx context.Context, sel, name string) (string, bool) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := chromedp.Run(c, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		t.Fatalf("reading %s[%s]: %v", sel, name, err)
	}
	return r.Value, r.Exists
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	for try := 0; err != nil && try < 5; try++ {
		// A page that has just arrived may not be laid out yet.
		time.Sleep(300 * time.Millisecond)
		png, err = chromedp.Run(c, chromedp.FullScreenshot(100))
	}
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(outDir(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// What the person types, and what the researchers must read.
const (
	storyLine1 = "도서관 관리원이 옆에 앉아 있었고, 5분마다 화면이 멎어 지문으로 다시 인증했습니다."
	storyLine2 = "\"손전화\"는 검열원이 길에서 검사했습니다 🙂 中文"
)

var story = storyLine1 + "\n" + storyLine2

func wantAnswers() map[string][]string {
	return map[string][]string{
		"departure_year":      {"2019"},
		"departure_province":  {"north_hamgyong"},
		"phone_use":           {"own"},
		"phone_activities":    {"calls", "chinese_phone"},
		"phone_monitoring":    {"auto_screenshots"},
		"intranet_use":        {"a_few_times"},
		"intranet_where":      {"library"},
		"internet_use":        {"inside"},
		"internet_where":      {"university"},
		"internet_first_used": {"2015-spring"},
		"monitoring_seen":     {"supervisor_beside", "screen_freeze_fingerprint"},
		"foreign_media":       {"never"},
		"testimony":           {story},
		"consent":             {"yes"},
	}
}

func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }

func choose(q, v string) chromedp.Action[chromedp.Void] {
	return click(fmt.Sprintf(`input[name="q.%s"][value="%s"]`, q, v))
}

func typeIn(q, text string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`[name="q.%s"]`, q)), text)
}

// selectWhen picks a month or season without a script, as the parser
// would for an option marked selected.
func selectWhen(q, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SetAttributeValue(chromedp.CSS(fmt.Sprintf(`select[name="q.%s.when"] option[value="%s"]`, q, v)), "selected", "")
}

func waitFor(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitReady(chromedp.CSS(sel)) }

type weight struct {
	Mode     string   `json:"mode"`
	URL      string   `json:"url"`
	Bytes    int64    `json:"bytes"`
	Requests int      `json:"requests"`
	URLs     []string `json:"urls"`
}

// measure loads the questionnaire page afresh and returns what it cost.
func measure(t *testing.T, ctx context.Context, n *netlog, mode, u string) weight {
	t.Helper()
	n.reset()
	ready := waitFor(`#tf`)
	if mode != "off" {
		ready = chromedp.WaitVisible(chromedp.CSS(`#js-note`)) // the scripts ran
	}
	do(t, ctx, "load "+u, chromedp.Navigate(u), ready, chromedp.Sleep(500*time.Millisecond))
	total, urls := n.weight()
	w := weight{Mode: mode, URL: u, Bytes: total, Requests: len(urls), URLs: urls}
	t.Logf("questionnaire page, JavaScript %s: %d bytes transferred in %d requests: %v", mode, total, len(urls), urls)
	return w
}

func recordWeight(t *testing.T, w weight) {
	p := filepath.Join(outDir(t), "weight-"+w.Mode+".json")
	b, _ := json.MarshalIndent(w, "", "  ")
	if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("page weight written to %s", p)
}

func TestQuestionnaireJavaScriptOff(t *testing.T) {
	chromiumPath(t)
	file, st, ids := studyFile(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, st, ln, "http://"+ln.Addr().String())
	ctx, n := browser(t, false, "")

	w := measure(t, ctx, n, "off", s.base+"/form?lang=ko")
	recordWeight(t, w)
	if w.Bytes > maxBytesNoJS || w.Requests > maxRequestsNoJS {
		t.Errorf("questionnaire page without JavaScript: %d bytes in %d requests, budget %d bytes in %d", w.Bytes, w.Requests, maxBytesNoJS, maxRequestsNoJS)
	}

	// The landing page, then its start link as it is, with no script to
	// rewrite it.
	do(t, ctx, "landing page", chromedp.Navigate(s.base+"/"), waitFor(`#start`))
	landing := html(t, ctx, "main")
	for _, want := range []string{"Tor 열람기", "가장 안전한", "이름, 곳", "연구자", "Researcher 1"} {
		if !strings.Contains(landing, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
	if _, shown := attr(t, ctx, "#js-note", "hidden"); !shown {
		t.Error("the note for JavaScript shows although JavaScript is off")
	}
	screenshot(t, ctx, "ko-nojs-landing.png")
	do(t, ctx, "start", click(`#start`), waitFor(`input[name="step"][value="1"]`))

	// Step 1, with a mistake.
	do(t, ctx, "step 1", typeIn("departure_year", "19"), choose("departure_province", "north_hamgyong"), choose("phone_use", "own"))
	screenshot(t, ctx, "ko-nojs-step1.png")
	do(t, ctx, "step 1 next", click(`button[value="next"]`), waitFor(`p.problem`))
	page := html(t, ctx, "main")
	if !strings.Contains(page, "1980보다 작은 수는 쓸 수 없습니다") || !strings.Contains(page, `value="own" checked`) {
		t.Fatalf("the mistake is not explained in Korean beside its question, or an answer was lost:\n%s", page)
	}
	screenshot(t, ctx, "ko-nojs-step1-mistake.png")
	do(t, ctx, "correct", click(`input[name="q.departure_year"]`), chromedp.KeyEvent("\b\b\b\b\b\b"), typeIn("departure_year", "2019"),
		click(`button[value="next"]`), waitFor(`input[name="step"][value="2"]`))

	// Step 2: the follow-ups of "own" are there.
	page = html(t, ctx, "main")
	if !strings.Contains(page, `name="q.phone_activities"`) {
		t.Fatal("step 2 lacks the follow-up question for people who had a phone")
	}
	do(t, ctx, "step 2", choose("phone_activities", "chinese_phone"), choose("phone_activities", "calls"),
		choose("phone_monitoring", "auto_screenshots"), choose("intranet_use", "a_few_times"),
		click(`button[value="next"]`), waitFor(`input[name="step"][value="3"]`))
	do(t, ctx, "step 3", choose("intranet_where", "library"), choose("internet_use", "inside"),
		click(`button[value="next"]`), waitFor(`input[name="step"][value="4"]`))
	page = html(t, ctx, "main")
	if strings.Contains(page, `name="q.internet_abroad"`) || !strings.Contains(page, `name="q.internet_where"`) {
		t.Fatal("step 4 shows the wrong follow-ups for internet use inside the country")
	}
	do(t, ctx, "step 4", choose("internet_where", "university"),
		choose("monitoring_seen", "supervisor_beside"), choose("monitoring_seen", "screen_freeze_fingerprint"),
		click(`button[value="next"]`), waitFor(`input[name="step"][value="5"]`))
	do(t, ctx, "step 5", typeIn("internet_first_used", "2015"), selectWhen("internet_first_used", "spring"), choose("foreign_media", "never"),
		click(`button[value="next"]`), waitFor(`input[name="step"][value="6"]`))
	page = html(t, ctx, "main")
	if strings.Contains(page, `name="q.foreign_media_kind"`) {
		t.Fatal("step 6 shows a follow-up about foreign media to someone who never saw any")
	}
	do(t, ctx, "step 6", typeIn("testimony", story), click(`input[name="q.consent"]`))
	screenshot(t, ctx, "ko-nojs-step6.png")
	n.reset()
	do(t, ctx, "review", click(`button[value="next"]`), waitFor(`button[formaction="/submit"]`))
	pageWeight(t, n, "off", "review", maxBytesNoJS, maxRequestsNoJS)
	page = html(t, ctx, "main")
	for _, want := range []string{storyLine1, "함경북도", "2015 봄", "동의합니다"} {
		if !strings.Contains(page, want) {
			t.Errorf("review lacks %q", want)
		}
	}
	screenshot(t, ctx, "ko-nojs-review.png")
	if p, _ := s.store.Pending(); len(p) != 0 {
		t.Fatal("something was stored before the person pressed send")
	}
	n.reset()
	do(t, ctx, "send", click(`button[formaction="/submit"]`), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "잘 받았습니다")]`)))
	pageWeight(t, n, "off", "receipt", maxBytesNoJS, maxRequestsNoJS)
	screenshot(t, ctx, "ko-nojs-receipt.png")
	words := receiptWords(t, ctx)

	checkStored(t, s, ids)
	checkSite(t, s, n)
	for _, e := range s.exchanges() {
		if e.Method == "POST" && e.Path == "/sealed" {
			t.Error("a browser without JavaScript posted an envelope")
		}
	}
	comeBack(t, ctx, n, s, ids, writeStudy(t, file), words, false)
}

func TestQuestionnaireJavaScriptOn(t *testing.T) {
	chromiumPath(t)
	file, st, ids := studyFile(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, st, ln, "http://"+ln.Addr().String())
	ctx, n := browser(t, true, "")
	words := fillWithJavaScript(t, ctx, n, s, ids, "on")
	comeBack(t, ctx, n, s, ids, writeStudy(t, file), words, true)
}

// fillWithJavaScript fills the questionnaire with JavaScript on, as mode
// names it ("on", or "tor" through the private Tor network), and returns
// the return passphrase the receipt shows.
func fillWithJavaScript(t *testing.T, ctx context.Context, n *netlog, s *site, ids []*envelope.Identity, mode string) string {
	w := measure(t, ctx, n, mode, s.base+"/form?lang=ko&all=1")
	recordWeight(t, w)
	if w.Bytes > maxBytesJS {
		t.Errorf("questionnaire page with JavaScript: %d bytes, budget %d", w.Bytes, maxBytesJS)
	}

	// The first step of the form for browsers without JavaScript sends a
	// browser with JavaScript to the one-page form.
	do(t, ctx, "first step", chromedp.Navigate(s.base+"/form?lang=ko"), waitFor(`#tf[data-mode="all"]`))
	do(t, ctx, "landing page", chromedp.Navigate(s.base+"/"), waitFor(`#start`), chromedp.WaitVisible(chromedp.CSS(`#js-note`)))
	if href, _ := attr(t, ctx, "#start", "href"); !strings.HasSuffix(href, "&all=1") {
		t.Fatalf("the script did not send the start link to the one-page questionnaire: %q", href)
	}
	// Chromium is not Tor Browser: the warning shows.
	if _, hidden := attr(t, ctx, "#js-not-tor", "hidden"); hidden {
		t.Error("no warning that this browser is not Tor Browser")
	}
	screenshot(t, ctx, "ko-js-"+mode+"-landing.png")
	do(t, ctx, "start", click(`#start`), waitFor(`#tf[data-mode="all"]`), chromedp.WaitVisible(chromedp.CSS(`#js-note`)))
	if _, hidden := attr(t, ctx, "#q-phone_activities", "hidden"); !hidden {
		t.Fatal("a follow-up shows before the answer it depends on")
	}
	posts := countPosts(s)
	do(t, ctx, "answers", typeIn("departure_year", "19"), choose("departure_province", "north_hamgyong"), choose("phone_use", "own"),
		chromedp.WaitVisible(chromedp.CSS(`#q-phone_activities`)))
	if _, hidden := attr(t, ctx, "#q-internet_where", "hidden"); !hidden {
		t.Fatal("a follow-up about the internet shows before it applies")
	}
	do(t, ctx, "answers", choose("phone_activities", "chinese_phone"), choose("phone_activities", "calls"),
		choose("phone_monitoring", "auto_screenshots"), choose("intranet_use", "a_few_times"),
		chromedp.WaitVisible(chromedp.CSS(`#q-intranet_where`)), choose("intranet_where", "library"), choose("internet_use", "inside"),
		chromedp.WaitVisible(chromedp.CSS(`#q-internet_where`)), choose("internet_where", "university"),
		typeIn("internet_first_used", "2015"), selectWhen("internet_first_used", "spring"),
		choose("monitoring_seen", "supervisor_beside"), choose("monitoring_seen", "screen_freeze_fingerprint"), choose("foreign_media", "never"),
		typeIn("testimony", story), click(`input[name="q.consent"]`))
	if _, hidden := attr(t, ctx, "#q-internet_abroad", "hidden"); !hidden {
		t.Fatal("the follow-up for internet use abroad shows for use inside the country")
	}
	screenshot(t, ctx, "ko-js-"+mode+"-questionnaire.png")
	do(t, ctx, "check", click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#q-departure_year p.problem`)))
	if p := html(t, ctx, "#q-departure_year"); !strings.Contains(p, "1980보다 작은 수는 쓸 수 없습니다") {
		t.Fatalf("the mistake is not explained in Korean:\n%s", p)
	}
	screenshot(t, ctx, "ko-js-"+mode+"-mistake.png")
	do(t, ctx, "correct", click(`input[name="q.departure_year"]`), chromedp.KeyEvent("\b\b\b\b\b\b"), typeIn("departure_year", "2019"),
		click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#review`)))
	if countPosts(s) != posts {
		t.Fatal("the browser posted something before the person pressed send")
	}
	review := html(t, ctx, "#review")
	for _, want := range []string{storyLine1, "함경북도", "2015 봄", "동의합니다"} {
		if !strings.Contains(review, want) {
			t.Errorf("review lacks %q", want)
		}
	}
	screenshot(t, ctx, "ko-js-"+mode+"-review.png")
	// Change an answer from the review, in place, and come back.
	do(t, ctx, "change", click(`#review-change`), chromedp.WaitVisible(chromedp.CSS(`#tf`)),
		choose("monitoring_seen", "supervisor_beside"), choose("monitoring_seen", "supervisor_beside"),
		click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#review`)))
	if countGets(s, "/static/words-ko.txt") != 0 {
		t.Fatal("the word list was fetched before the person pressed send")
	}
	do(t, ctx, "send", click(`#review-send`), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "잘 받았습니다")]`)),
		chromedp.WaitVisible(chromedp.CSS(`#pp`)))
	screenshot(t, ctx, "ko-js-"+mode+"-receipt.png")
	words := receiptWords(t, ctx)
	if countGets(s, "/static/words-ko.txt") != 1 {
		t.Errorf("the word list was fetched %d times, want once", countGets(s, "/static/words-ko.txt"))
	}

	checkStored(t, s, ids)
	checkSite(t, s, n)
	// Only the envelope left the browser.
	sent := 0
	for _, e := range s.exchanges() {
		if e.Method != "POST" {
			continue
		}
		if e.Path != "/sealed" {
			t.Errorf("with JavaScript on, the browser posted to %s", e.Path)
			continue
		}
		sent++
		form, err := url.ParseQuery(string(e.Body))
		if err != nil {
			t.Fatal(err)
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range form {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(keys, []string{"envelope", "lang"}) {
			t.Errorf("the sealed post carried fields %v, want only envelope and lang", keys)
		}
		for _, marker := range []string{"도서관", url.QueryEscape("도서관"), "supervisor_beside", "north_hamgyong", "answers"} {
			if bytes.Contains(e.Body, []byte(marker)) {
				t.Errorf("the request body carried plaintext %q", marker)
			}
		}
	}
	if sent != 1 {
		t.Errorf("%d envelopes posted, want 1", sent)
	}
	return words
}

func countPosts(s *site) int {
	n := 0
	for _, e := range s.exchanges() {
		if e.Method == "POST" {
			n++
		}
	}
	return n
}

// checkStored opens the one stored envelope with every researcher's key
// and compares it with what was typed.
func checkStored(t *testing.T, s *site, ids []*envelope.Identity) {
	t.Helper()
	pending, err := s.store.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 {
		t.Fatalf("%d envelopes stored, want 1", len(pending))
	}
	env, err := s.store.Read(pending[0])
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		pt, err := envelope.Open(s.study.ID, env, id)
		if err != nil {
			t.Fatalf("researcher %d cannot open the envelope: %v", i+1, err)
		}
		r, err := response.Unmarshal(s.study, pt.Plaintext)
		if err != nil {
			t.Fatalf("the plaintext does not pass the researchers' checks: %v", err)
		}
		want := wantAnswers()
		if r.Language != "ko" || len(r.Answers) != len(want) {
			t.Errorf("stored %d answers in %q, want %d in ko:\n%q", len(r.Answers), r.Language, len(want), r.Answers)
		}
		for q, v := range want {
			if !slices.Equal(r.Answers[q], v) {
				t.Errorf("%s: stored %q, typed %q", q, r.Answers[q], v)
			}
		}
	}
}

// checkSite checks that every request went to the site and every response
// carried the security headers and nothing that identifies the software.
func checkSite(t *testing.T, s *site, n *netlog) {
	t.Helper()
	n.mu.Lock()
	urls := slices.Clone(n.urls)
	headers := map[string]network.Headers{}
	for k, v := range n.headers {
		headers[k] = v
	}
	n.mu.Unlock()
	for _, u := range urls {
		if !strings.HasPrefix(u, s.base+"/") && u != "about:blank" {
			t.Errorf("request left the site: %s", u)
		}
	}
	for u, h := range headers {
		if strings.HasPrefix(u, s.base+"/") {
			if _, ok := h["Content-Security-Policy"]; !ok {
				if _, ok := h["content-security-policy"]; !ok {
					t.Errorf("the browser saw no Content-Security-Policy on %s", u)
				}
			}
		}
	}
	ex := s.exchanges()
	if len(ex) == 0 {
		t.Fatal("the server saw no request")
	}
	for _, e := range ex {
		for h, want := range requiredHeaders {
			if !strings.Contains(e.Header.Get(h), want) {
				t.Errorf("%s %s: %s = %q, want it to contain %q", e.Method, e.Path, h, e.Header.Get(h), want)
			}
		}
		for _, h := range []string{"Server", "ETag", "Last-Modified", "Set-Cookie", "X-Powered-By"} {
			if e.Header.Get(h) != "" {
				t.Errorf("%s %s: response carries %s", e.Method, e.Path, h)
			}
		}
		if e.Status >= 500 {
			t.Errorf("%s %s: status %d", e.Method, e.Path, e.Status)
		}
	}
	t.Logf("%d requests, all to %s, all with the security headers", len(ex), s.base)
}

// TestRequireBrowserEncryption: with require_browser_encryption, a browser
// without JavaScript is told why and how to allow it, before typing
// anything; a browser with JavaScript answers as usual.
func TestRequireBrowserEncryption(t *testing.T) {
	chromiumPath(t)
	st, ids := study(t)
	st.RequireBrowserEncryption = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, st, ln, "http://"+ln.Addr().String())

	ctx, n := browser(t, false, "")
	do(t, ctx, "start without JavaScript", chromedp.Navigate(s.base+"/"), click(`#start`),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "JavaScript를 켜야 합니다")]`)))
	if page := html(t, ctx, "main"); !strings.Contains(page, "더 안전한") || strings.Contains(page, `name="q.`) {
		t.Fatalf("the page does not explain how to allow JavaScript, or shows questions:\n%s", page)
	}
	screenshot(t, ctx, "ko-nojs-required.png")
	checkSite(t, s, n)

	ctx, n = browser(t, true, "")
	fillWithJavaScript(t, ctx, n, s, ids, "required")
}
