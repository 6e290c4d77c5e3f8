package intake

import (
	"bytes"
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
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/oplog"
	"github.com/testimony-project/testimony/store"
)

func testStudy(t testing.TB) *config.Study {
	t.Helper()
	s, _ := testStudyAndKey(t)
	return s
}

// testStudyAndKey returns a small study with every kind of question and a
// follow-up, and the private key of its one researcher.
func testStudyAndKey(t testing.TB) (*config.Study, *envelope.Identity) {
	t.Helper()
	id, _ := envelope.GenerateIdentity()
	y := fmt.Sprintf(testStudyYAML, id.Recipient())
	s, err := config.Parse("intake-test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s, id
}

// testStudyYAML is the test study, %s its researcher's public key.
const testStudyYAML = `id: intake-test
title: {ko: 시험 조사, en: Test study, zh: 测试调查}
introduction: {ko: 소개, en: Intro, zh: 介绍}
recipients: [{name: 연구자, public_key: %s}]
questions:
  - id: used
    type: single_choice
    required: true
    label: {ko: 썼습니까, en: Did you use it, zh: 用过吗}
    choices:
      - {value: "yes", label: {ko: 예, en: "Yes", zh: 是}}
      - {value: "no", label: {ko: 아니오, en: "No", zh: 否}}
  - id: where
    type: multi_choice
    relevant: "${used} = 'yes'"
    label: {ko: 어디서, en: Where, zh: 哪里}
    choices:
      - {value: home, label: {ko: 집, en: Home, zh: 家}}
      - {value: work, label: {ko: 직장, en: Work, zh: 单位}}
  - id: when
    type: date_approx
    label: {ko: 언제, en: When, zh: 何时}
  - id: story
    type: long_text
    label: {ko: 이야기, en: Story, zh: 故事}
  - id: consent
    type: consent
    label: {ko: 동의, en: Consent, zh: 同意}
`

type testServer struct {
	base  string
	store *store.Store
	logs  *bytes.Buffer
	mu    *sync.Mutex
	srv   *Server
	hs    *http.Server
	log   oplog.Logger
}

// logText returns what the server has written to its log.
func (ts *testServer) logText() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.logs.String()
}

func startServer(t testing.TB, s *config.Study, dir string) *testServer {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return serveTest(t, Config{Study: s, Store: st})
}

// startServerWithAudit serves s from a data directory as `intake serve`
// does: the envelopes in its store, a submission-stored record appended to
// its audit log for each.
func startServerWithAudit(t testing.TB, s *config.Study, dir string) *testServer {
	t.Helper()
	d, err := OpenData(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.BindStudy(s.ID); err != nil {
		t.Fatal(err)
	}
	return serveTest(t, Config{Study: s, Store: d.Store,
		Stored: func(sum [32]byte, day time.Time) error { return d.Record(audit.SubmissionStored(sum, day)) }})
}

// serveTest serves c on a loopback port, logging to a buffer.
func serveTest(t testing.TB, c Config) *testServer { return serveTestWith(t, c, nil, nil) }

// serveTestWith is serveTest logging to like's log if not nil, with a
// chance to tune the server (its timing) before it serves.
func serveTestWith(t testing.TB, c Config, like *testServer, tune func(*Server)) *testServer {
	t.Helper()
	ts := &testServer{store: c.Store, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	if like != nil {
		ts.logs, ts.mu, ts.log = like.logs, like.mu, like.log
	} else {
		ts.log = oplog.New(lockedWriter{ts.mu, ts.logs})
	}
	c.Log = ts.log
	srv, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.HTTPServer()
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	ts.base = "http://" + ln.Addr().String()
	ts.srv, ts.hs = srv, hs
	return ts
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func postForm(t testing.TB, c *http.Client, u string, v url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.Post(u, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	ts := startServer(t, testStudy(t), t.TempDir())
	checks := map[string]string{
		"Content-Security-Policy":      "default-src 'none'",
		"Referrer-Policy":              "no-referrer",
		"X-Content-Type-Options":       "nosniff",
		"Cache-Control":                "no-store",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Permissions-Policy":           "camera=()",
	}
	for _, path := range []string{"/", "/?lang=en", "/form", "/form?all=1&lang=zh", "/static/style.css", "/static/testimony.js", "/static/nacl.min.js", "/static/nope.js", "/nope", "/exit",
		"/back", "/back?lang=zh", "/back/replies", "/static/form.js", "/static/back.js", "/static/words-ko.txt"} {
		resp, _ := get(t, ts.base+path)
		for h, want := range checks {
			if !strings.Contains(resp.Header.Get(h), want) {
				t.Errorf("%s: %s = %q, want it to contain %q", path, h, resp.Header.Get(h), want)
			}
		}
		for _, h := range []string{"Server", "ETag", "Last-Modified", "Set-Cookie", "Date"} {
			if resp.Header.Get(h) != "" {
				t.Errorf("%s: response carries %s: %q", path, h, resp.Header.Get(h))
			}
		}
	}
	resp, _ := postForm(t, http.DefaultClient, ts.base+"/submit", url.Values{"x": {"1"}})
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("error responses lack the security headers")
	}
}

func TestPagesInEveryLanguage(t *testing.T) {
	s := testStudy(t)
	ts := startServer(t, s, t.TempDir())
	for _, lang := range s.Languages {
		resp, body := get(t, ts.base+"/?lang="+lang)
		if resp.StatusCode != 200 || !strings.Contains(body, s.Title.In(lang)) || !strings.Contains(body, "연구자") {
			t.Fatalf("%s: landing page: status %d, or title or researcher missing", lang, resp.StatusCode)
		}
		if !strings.Contains(body, `href="/form?lang=`+lang+`"`) || !strings.Contains(body, `href="/exit"`) || !strings.Contains(body, `href="/back?lang=`+lang+`"`) {
			t.Errorf("%s: landing page lacks the start, come-back or quick exit link", lang)
		}
		resp, back := get(t, ts.base+"/back?lang="+lang)
		if resp.StatusCode != 200 || !strings.Contains(back, `name="passphrase"`) || !strings.Contains(back, `lang="`+lang+`"`) || !strings.Contains(back, `action="/back"`) {
			t.Fatalf("%s: come-back page: status %d", lang, resp.StatusCode)
		}
		checkFreeTextFields(t, back)
		resp, body = get(t, ts.base+"/form?all=1&lang="+lang)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", lang, resp.StatusCode)
		}
		for _, q := range s.Questions {
			if !strings.Contains(body, q.Label.In(lang)) {
				t.Errorf("%s: label %q missing", lang, q.Label.In(lang))
			}
		}
		if !strings.Contains(body, `lang="`+lang+`"`) {
			t.Errorf("%s: page language not set", lang)
		}
		checkFreeTextFields(t, body)
		for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
			if !regexp.MustCompile(`^<script src="/static/[a-z.]+\.js" defer>$`).MatchString(m) {
				t.Errorf("%s: script that is not a file of this site: %s", lang, m)
			}
		}
		if strings.Contains(body, "<script>") || regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
			t.Errorf("%s: inline script", lang)
		}
	}
	// Accept-Language is ignored: Tor Browser sends en-US for everyone.
	for _, path := range []string{"/", "/form"} {
		req, _ := http.NewRequest("GET", ts.base+path, nil)
		req.Header.Set("Accept-Language", "en-US")
		resp, _ := http.DefaultClient.Do(req)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `lang="ko"`) {
			t.Errorf("%s: Accept-Language changed the page language", path)
		}
	}
}

// checkFreeTextFields checks that every field a person types in has
// autocomplete off, so the browser keeps no record of it.
func checkFreeTextFields(t *testing.T, body string) {
	t.Helper()
	fields := regexp.MustCompile(`<(input type="text"|textarea)[^>]*>`).FindAllString(body, -1)
	if len(fields) == 0 {
		t.Error("no free text field")
	}
	for _, f := range fields {
		if !strings.Contains(f, `autocomplete="off"`) {
			t.Errorf("free text field without autocomplete=off: %s", f)
		}
	}
}

func TestInvalidFormKeepsAnswersAndMarksErrors(t *testing.T) {
	ts := startServer(t, testStudy(t), t.TempDir())
	story := "긴 이야기 <b>\"따옴표\"</b> & 끝"
	resp, body := postForm(t, http.DefaultClient, ts.base+"/submit", url.Values{
		"lang": {"en"}, "q.used": {"yes"}, "q.where": {"work"}, "q.when": {"19"}, "q.when.when": {"spring"}, "q.story": {story},
	})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", resp.StatusCode)
	}
	for _, want := range []string{
		"To send, tick the box",                    // consent missing, in English
		"Write the year with four digits",          // bad date
		`value="work" checked`,                     // multi choice kept
		`name="q.used" value="yes"`,                // the earlier step's answer, carried
		`value="spring" selected`,                  // season kept
		"&lt;b&gt;&#34;따옴표&#34;&lt;/b&gt; &amp; 끝", // text kept, escaped
	} {
		if !strings.Contains(body, want) {
			t.Errorf("re-shown form lacks %q", want)
		}
	}
	if p, _ := ts.store.Pending(); len(p) != 0 {
		t.Fatal("an invalid form was stored")
	}
}

func TestRequireBrowserEncryption(t *testing.T) {
	s := testStudy(t)
	s.RequireBrowserEncryption = true
	ts := startServer(t, s, t.TempDir())
	resp, body := postForm(t, http.DefaultClient, ts.base+"/submit?lang=en", url.Values{"q.used": {"no"}, "q.consent": {"yes"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "JavaScript") {
		t.Fatalf("status %d, want 403 with an explanation:\n%s", resp.StatusCode, body)
	}
}

// TestDiskFull fills a tiny tmpfs: the submitter gets a clear page, and no
// partial envelope remains. It needs root to mount the tmpfs.
func TestDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	ts := startServer(t, testStudy(t), filepath.Join(mnt, "store"))
	filler, _ := os.Create(filepath.Join(mnt, "filler"))
	io.Copy(filler, io.LimitReader(zeros{}, 1<<20))
	filler.Close()
	form := url.Values{"lang": {"en"}, "q.used": {"no"}, "q.consent": {"yes"}, "q.story": {strings.Repeat("x", 3000)}}
	resp, body := postForm(t, http.DefaultClient, ts.base+"/submit", form)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "could not be saved right now") {
		t.Fatalf("status %d, want 503 with a clear page:\n%s", resp.StatusCode, body)
	}
	var files []string
	filepath.Walk(filepath.Join(mnt, "store"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(p) != "lock" {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("partial files remain after a failed write: %v", files)
	}
	// Space freed: the same submission goes through.
	os.Remove(filepath.Join(mnt, "filler"))
	if resp, _ := postForm(t, http.DefaultClient, ts.base+"/submit", form); resp.StatusCode != 200 {
		t.Fatalf("after freeing space: status %d", resp.StatusCode)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestNoStackTraceOnGarbage(t *testing.T) {
	ts := startServer(t, testStudy(t), t.TempDir())
	for _, c := range []struct{ method, path, ctype, body string }{
		{"PUT", "/submit", "application/x-www-form-urlencoded", "x=1"},
		{"POST", "/submit", "application/x-www-form-urlencoded", "%zz"},
		{"POST", "/submit", "application/x-www-form-urlencoded", "lang=xx&q.used=no"},
		{"POST", "/submit", "text/plain", "hello"},
		{"POST", "/sealed", "application/x-www-form-urlencoded", "envelope="},
		{"DELETE", "/", "", ""},
		{"GET", "/../../etc/passwd", "", ""},
	} {
		req, _ := http.NewRequest(c.method, ts.base+c.path, strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s %s: status %d, want 4xx", c.method, c.path, resp.StatusCode)
		}
		if strings.Contains(string(b), "goroutine") || !strings.Contains(string(b), "<html") {
			t.Errorf("%s %s: not a plain page:\n%s", c.method, c.path, b)
		}
	}
}

func TestHugeHeaderRefused(t *testing.T) {
	ts := startServer(t, testStudy(t), t.TempDir())
	req, _ := http.NewRequest("GET", ts.base+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// BenchmarkFormSubmissions posts valid forms from 64 concurrent clients on
// loopback; every submission is validated, sealed, fsynced and appended to
// the audit log (fsynced too) before the receipt, as `intake serve` does.
// The forms decline a return passphrase: its derivation (0.2 to 0.3 s of
// a core, Limits.KDFs at once) is measured by BenchmarkBack. "max" sends as fast as the server answers (the throughput);
// "paced-1000" sends 1,000 submissions a second in all (the latency at the
// goal's rate). Each reports submissions per second and the 99th percentile
// latency. The clients run in the same process, on the same 2 cores.
func BenchmarkFormSubmissions(b *testing.B) {
	b.Run("max", func(b *testing.B) { benchmarkSubmissions(b, 0) })
	b.Run("paced-1000", func(b *testing.B) { benchmarkSubmissions(b, 1000) })
}

func benchmarkSubmissions(b *testing.B, rate int) {
	s := testStudy(b)
	ts := startServerWithAudit(b, s, b.TempDir())
	form := url.Values{"lang": {"ko"}, "q.used": {"yes"}, "q.where": {"home", "work"}, "q.when": {"2015"}, "q.when.when": {"spring"},
		"q.story": {strings.Repeat("도서관 관리원이 옆에서 지켜보았다. ", 60)}, "q.consent": {"yes"}, NoReturnField: {"1"}}
	body := form.Encode()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const clients = 64
	tokens := make(chan struct{}, clients)
	go func() {
		defer close(tokens)
		var tick <-chan time.Time
		if rate > 0 {
			t := time.NewTicker(time.Second / time.Duration(rate))
			defer t.Stop()
			tick = t.C
		}
		for range b.N {
			if tick != nil {
				<-tick
			}
			tokens <- struct{}{}
		}
	}()
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tokens {
				t0 := time.Now()
				resp, err := c.Post(ts.base+"/submit", "application/x-www-form-urlencoded", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "submissions/s")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	}
}

// TestSealedOnlyPageNeedsItsScript: where a study accepts only answers
// sealed in the browser, the one-page form cannot be sent until its script
// has run, so a script that failed to load never lets answers go out in
// the clear.
func TestSealedOnlyPageNeedsItsScript(t *testing.T) {
	s := testStudy(t)
	s.RequireBrowserEncryption = true
	ts := startServer(t, s, t.TempDir())
	_, body := get(t, ts.base+"/form?all=1")
	if !strings.Contains(body, `value="next" disabled data-needs-js`) {
		t.Fatalf("send button of a sealed-only study is not disabled until the script runs:\n%s", body)
	}
	_, js := get(t, ts.base+"/static/testimony.js")
	if !strings.Contains(js, "button[data-needs-js]") {
		t.Fatal("the script does not enable the send button")
	}
	plain := testStudy(t)
	ts2 := startServer(t, plain, t.TempDir())
	if _, body := get(t, ts2.base+"/form?all=1"); strings.Contains(body, "data-needs-js") {
		t.Fatal("the send button is disabled in a study that takes plain posts too")
	}
}

// TestNoTitleNamesTheStudy: the document title — what the tab, the window
// list, the history and the Back button's menu show — is the same neutral
// word on every page, never the study's title or a heading.
func TestNoTitleNamesTheStudy(t *testing.T) {
	s := testStudy(t)
	ts := startServer(t, s, t.TempDir())
	neutral := map[string]string{"ko": "수첩", "en": "Notes", "zh": "笔记"}
	title := regexp.MustCompile(`<title>([^<]*)</title>`)
	for _, lang := range s.Langs() {
		pages := map[string]string{}
		for _, path := range []string{"/?lang=" + lang, "/form?lang=" + lang, "/form?all=1&lang=" + lang, "/nope?lang=" + lang} {
			_, pages["GET "+path] = get(t, ts.base+path)
		}
		step := url.Values{"lang": {lang}, "step": {"1"}, "q.used": {"yes"}}
		_, pages["step 2"] = postForm(t, http.DefaultClient, ts.base+"/next", step)
		_, pages["review"] = postForm(t, http.DefaultClient, ts.base+"/next", url.Values{"lang": {lang}, "step": {"all"}, "q.used": {"no"}, "q.consent": {"yes"}})
		_, pages["receipt"] = postForm(t, http.DefaultClient, ts.base+"/submit", url.Values{"lang": {lang}, "q.used": {"no"}, "q.consent": {"yes"}})
		_, pages["error"] = postForm(t, http.DefaultClient, ts.base+"/submit", url.Values{"lang": {lang}, "q.nope": {"1"}})
		for name, body := range pages {
			m := title.FindStringSubmatch(body)
			if m == nil || m[1] != neutral[lang] {
				t.Errorf("%s, %s: title %q, want %q", lang, name, m, neutral[lang])
			}
		}
		if !strings.Contains(pages["GET /?lang="+lang], "<h1>"+s.Title.In(lang)+"</h1>") {
			t.Errorf("%s: the landing page no longer heads with the study's title", lang)
		}
	}
}
