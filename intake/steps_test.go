package intake

import (
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/examples"
	"github.com/testimony-project/testimony/response"
)

// TestCatalogComplete fails when a message is missing in any language, is
// empty, or when a template or the code uses a message id that is not in
// the catalog.
func TestCatalogComplete(t *testing.T) {
	cats := map[string]map[string]string{}
	for _, l := range config.ChromeLanguages {
		b, err := files.ReadFile("locales/" + l + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("locales/%s.yaml: %v", l, err)
		}
		cats[l] = m
	}
	var used []string
	tmpls, _ := fs.Glob(files, "templates/*.html")
	for _, f := range tmpls {
		b, _ := files.ReadFile(f)
		for _, m := range regexp.MustCompile(`\bt \$?\.L "([a-z_]+)"`).FindAllSubmatch(b, -1) {
			used = append(used, string(m[1]))
		}
	}
	if len(used) < 20 {
		t.Fatalf("found only %d message ids in templates: is the pattern out of date?", len(used))
	}
	srcs, _ := filepath.Glob("*.go")
	for _, f := range srcs {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range regexp.MustCompile(`(?:localize\([a-zA-Z.]+, |s\.text\([a-zA-Z.]+, |"error_title", |"receipt_title", |message\(w, r, [a-zA-Z]+, [a-zA-Z.]+, )"([a-z_]+)"`).FindAllSubmatch(b, -1) {
			used = append(used, string(m[1]))
		}
		for _, m := range regexp.MustCompile(`"((?:error|receipt|encryption_required)_[a-z_]+)"`).FindAllSubmatch(b, -1) {
			used = append(used, string(m[1]))
		}
	}
	for _, c := range problemCodes {
		used = append(used, "problem_"+string(c))
	}
	for _, s := range response.Seasons {
		used = append(used, "season_"+s)
	}
	for _, id := range used {
		if strings.HasSuffix(id, "_") {
			continue // a prefix of ids made in code: problem codes and seasons, added above
		}
		for _, l := range config.ChromeLanguages {
			if _, ok := cats[l][id]; !ok {
				t.Errorf("message %q is used but missing in locales/%s.yaml", id, l)
			}
		}
	}
	for _, l := range config.ChromeLanguages {
		for id, text := range cats[l] {
			if strings.TrimSpace(text) == "" {
				t.Errorf("locales/%s.yaml: %q is empty", l, id)
			}
			for _, o := range config.ChromeLanguages {
				if _, ok := cats[o][id]; !ok {
					t.Errorf("message %q is in locales/%s.yaml but missing in locales/%s.yaml", id, l, o)
				}
			}
		}
	}
}

// TestStepsDecideFollowUps checks the split of the example study: every
// conditional question comes on a later step than the question it depends
// on, so the server can decide it without JavaScript.
func TestStepsDecideFollowUps(t *testing.T) {
	st, err := config.Parse("nk.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	steps := st.Steps()
	stepOf := map[string]int{}
	n := 0
	for i, step := range steps {
		if len(step.Questions) == 0 || len(step.Questions) > 8 {
			t.Errorf("step %d has %d questions", i+1, len(step.Questions))
		}
		for _, qi := range step.Questions {
			stepOf[st.Questions[qi].ID] = i
			if qi != n {
				t.Fatalf("steps do not keep the questionnaire's order")
			}
			n++
		}
	}
	if n != len(st.Questions) {
		t.Fatalf("steps hold %d questions, want %d", n, len(st.Questions))
	}
	for _, q := range st.Questions {
		for _, dep := range q.Relevant.Refs() {
			if stepOf[dep] >= stepOf[q.ID] {
				t.Errorf("%s is on step %d, not after %s (step %d)", q.ID, stepOf[q.ID]+1, dep, stepOf[dep]+1)
			}
		}
	}
	t.Logf("%d questions in %d steps", n, len(steps))
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formFields returns the hidden fields of a page, unescaped.
func formFields(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		v.Add(m[1], htmlUnescape(m[2]))
	}
	return v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&", "&#43;", "+", "&#10;", "\n", "&#13;", "\r", "&#9;", "\t").Replace(s)
}

// TestStepsWithoutJavaScript walks the questionnaire as a browser without
// JavaScript does: each step posts its answers with the earlier ones,
// which travel in hidden fields; a follow-up appears on the next step only
// for the answer it depends on; a mistake is shown beside its question;
// the review lists every answer; sending stores exactly those answers, and
// nothing is stored before.
func TestStepsWithoutJavaScript(t *testing.T) {
	s, id := testStudyAndKey(t)
	ts := startServer(t, s, t.TempDir())
	next := func(v url.Values, status int) string {
		t.Helper()
		resp, body := postForm(t, http.DefaultClient, ts.base+"/next", v)
		if resp.StatusCode != status {
			t.Fatalf("POST /next %v: status %d, want %d\n%s", v, resp.StatusCode, status, body)
		}
		return body
	}
	_, body := get(t, ts.base+"/form?lang=en")
	if !strings.Contains(body, "Did you use it") || strings.Contains(body, "Where") || !strings.Contains(body, `name="step" value="1"`) {
		t.Fatalf("step 1 is not the first question alone:\n%s", body)
	}
	// "No": the follow-up is never shown.
	f := formFields(body)
	f.Set("q.used", "no")
	body = next(f, 200)
	if strings.Contains(body, "Where") || !strings.Contains(body, "When") || !strings.Contains(body, `name="q.used" value="no"`) {
		t.Fatalf("after 'no', step 2 shows the follow-up or lost the answer:\n%s", body)
	}
	// Back to step 1, change to "yes": the follow-up appears.
	f = formFields(body)
	f.Set("nav", "back")
	body = next(f, 200)
	if !strings.Contains(body, `value="no" checked`) {
		t.Fatalf("back: step 1 lost its answer:\n%s", body)
	}
	f = formFields(body)
	f.Set("q.used", "yes")
	body = next(f, 200)
	if !strings.Contains(body, "Where") {
		t.Fatalf("after 'yes', step 2 lacks the follow-up:\n%s", body)
	}
	// A mistake, then its correction.
	story := "마지막 줄 \"따옴표\" & <b>\r\n中文 🙂 " + strings.Repeat("가", 100)
	f = formFields(body)
	f.Set("q.where", "work")
	f.Set("q.when", "19")
	f.Set("q.story", story)
	f.Set("q.consent", "yes")
	body = next(f, 422)
	if !strings.Contains(body, "Write the year with four digits") || !strings.Contains(body, `value="work" checked`) {
		t.Fatalf("the mistake is not shown beside its question, or answers were lost:\n%s", body)
	}
	f = formFields(body)
	f.Set("q.where", "work")
	f.Set("q.when", "2019")
	f.Set("q.when.when", "05")
	f.Set("q.story", story)
	f.Set("q.consent", "yes")
	body = next(f, 200)
	for _, want := range []string{"Check before you send", "Work", "2019 Month 5", "I agree", "&#34;따옴표&#34; &amp; &lt;b&gt;", `formaction="/submit"`} {
		if !strings.Contains(body, want) {
			t.Errorf("review lacks %q", want)
		}
	}
	if p, _ := ts.store.Pending(); len(p) != 0 {
		t.Fatal("something was stored before the answers were sent")
	}
	// Change from the review goes to the step, keeping every answer.
	f = formFields(body)
	f.Set("nav", "1")
	if b := next(f, 200); !strings.Contains(b, `value="yes" checked`) || !strings.Contains(b, `name="q.story"`) {
		t.Fatalf("change from the review lost answers:\n%s", b)
	}
	// Send.
	f = formFields(body)
	resp, rb := postForm(t, http.DefaultClient, ts.base+"/submit", f)
	if resp.StatusCode != 200 || !strings.Contains(rb, "Received") {
		t.Fatalf("send: status %d\n%s", resp.StatusCode, rb)
	}
	pending, _ := ts.store.Pending()
	if len(pending) != 1 {
		t.Fatalf("%d envelopes stored, want 1", len(pending))
	}
	env, _ := ts.store.Read(pending[0])
	pt, err := envelope.Open(s.ID, env, id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := response.Unmarshal(s, pt.Plaintext)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"used": {"yes"}, "where": {"work"}, "when": {"2019-05"}, "story": {strings.ReplaceAll(story, "\r\n", "\n")}, "consent": {"yes"}}
	if !mapsEqual(r.Answers, want) || r.Language != "en" {
		t.Fatalf("stored %q (%s), want %q", r.Answers, r.Language, want)
	}
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestChangedFollowUpIsDropped: an answer to a follow-up that no longer
// applies (the answer it depends on changed) is not carried on, shown or
// sealed.
func TestChangedFollowUpIsDropped(t *testing.T) {
	s := testStudy(t)
	ts := startServer(t, s, t.TempDir())
	f := url.Values{"lang": {"ko"}, "step": {"1"}, "q.used": {"no"}, "q.where": {"home"}}
	resp, body := postForm(t, http.DefaultClient, ts.base+"/next", f)
	if resp.StatusCode != 200 || strings.Contains(body, `value="home"`) {
		t.Fatalf("status %d; an answer to a question that does not apply was carried:\n%s", resp.StatusCode, body)
	}
}

func TestStepFormsRefuseBadInput(t *testing.T) {
	s := testStudy(t)
	ts := startServer(t, s, t.TempDir())
	for _, c := range []struct {
		form   url.Values
		status int
		want   string
	}{
		{url.Values{"lang": {"en"}, "step": {"99"}}, 400, "could not be read"},
		{url.Values{"lang": {"en"}, "step": {"x"}}, 400, "could not be read"},
		{url.Values{"lang": {"en"}, "step": {"1"}, "nav": {"7"}}, 400, "could not be read"},
		{url.Values{"lang": {"en"}, "step": {"1", "2"}}, 400, "could not be read"},
		{url.Values{"lang": {"en"}, "step": {"1"}, "q.nope": {"1"}}, 400, "could not be read"},
	} {
		path := "/next"
		if c.form.Get("step") == "" {
			path = "/submit"
		}
		resp, body := postForm(t, http.DefaultClient, ts.base+path, c.form)
		if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s %v: status %d, want %d with %q", path, c.form, resp.StatusCode, c.status, c.want)
		}
	}
	if p, _ := ts.store.Pending(); len(p) != 0 {
		t.Fatal("a refused form was stored")
	}
}

func TestRequireBrowserEncryptionPages(t *testing.T) {
	s := testStudy(t)
	s.RequireBrowserEncryption = true
	ts := startServer(t, s, t.TempDir())
	resp, body := get(t, ts.base+"/form?lang=en")
	if resp.StatusCode != 200 || !strings.Contains(body, "Safer") || !strings.Contains(body, "not even this server") {
		t.Fatalf("the questionnaire without JavaScript must explain why and how to allow it: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := get(t, ts.base+"/form?all=1&lang=en"); resp.StatusCode != 200 || !strings.Contains(body, `data-mode="all"`) {
		t.Fatalf("the page for JavaScript is refused: %d", resp.StatusCode)
	}
	if resp, _ := postForm(t, http.DefaultClient, ts.base+"/next", url.Values{"lang": {"en"}, "step": {"1"}}); resp.StatusCode != 403 {
		t.Fatalf("POST /next: status %d, want 403", resp.StatusCode)
	}
}

func TestStaticFilesCompressed(t *testing.T) {
	ts := startServer(t, testStudy(t), t.TempDir())
	// testimony.js is served with expr.js, the conditions' evaluator, first.
	exprJS, _ := files.ReadFile("static/expr.js")
	pageJS, _ := files.ReadFile("static/testimony.js")
	want := string(exprJS) + string(pageJS)
	if !strings.HasSuffix(string(exprJS), "\n") {
		want = string(exprJS) + "\n" + string(pageJS)
	}
	if resp, _ := get(t, ts.base+"/static/expr.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /static/expr.js: status %d, want 404: it is served within testimony.js only", resp.StatusCode)
	}
	tr := &http.Transport{DisableCompression: true}
	for _, ae := range []string{"", "gzip, deflate, br, zstd", "gzip;q=0", "br"} {
		req, _ := http.NewRequest("GET", ts.base+"/static/testimony.js", nil)
		if ae != "" {
			req.Header.Set("Accept-Encoding", ae)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = resp.Body
		gz := resp.Header.Get("Content-Encoding") == "gzip"
		if gz != (ae == "gzip, deflate, br, zstd") {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", ae, resp.Header.Get("Content-Encoding"))
		}
		if gz {
			r, _ = gzip.NewReader(resp.Body)
		}
		got, _ := io.ReadAll(r)
		resp.Body.Close()
		if string(got) != string(want) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("Accept-Encoding %q: wrong body or type %q", ae, resp.Header.Get("Content-Type"))
		}
	}
}

func TestQuickExitOnEveryPage(t *testing.T) {
	s := testStudy(t)
	ts := startServer(t, s, t.TempDir())
	pages := map[string]string{}
	for _, p := range []string{"/", "/form", "/form?all=1", "/nope"} {
		_, pages[p] = get(t, ts.base+p)
	}
	_, pages["review"] = postForm(t, http.DefaultClient, ts.base+"/next", url.Values{"lang": {"ko"}, "step": {"2"}, "q.used": {"no"}, "q.consent": {"yes"}})
	_, pages["receipt"] = postForm(t, http.DefaultClient, ts.base+"/submit", url.Values{"lang": {"ko"}, "q.used": {"no"}, "q.consent": {"yes"}})
	for name, body := range pages {
		if !strings.Contains(body, `<a class="exit" id="exit" href="/exit"`) {
			t.Errorf("%s: no quick exit link", name)
		}
	}
	_, exit := get(t, ts.base+"/exit")
	if strings.Contains(exit, s.Title.In("ko")) || strings.Contains(exit, "testimony") || strings.Contains(exit, "<script") {
		t.Error("the exit page shows a trace of the study")
	}
}

// TestPageWeights keeps every page of the example questionnaire within the
// budgets of issue 4 as the server sends it (the browser tests measure
// what Chromium transfers): the first step without JavaScript, and every
// other, with its style sheet, under 30 KiB in at most 3 requests; the
// one-page form with its style sheet and scripts, compressed as Tor
// Browser asks, under 80 KiB.
func TestPageWeights(t *testing.T) {
	st, err := config.Parse("nk.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, t.TempDir())
	size := func(path string) int {
		req, _ := http.NewRequest("GET", ts.base+path, nil)
		req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: status %d", path, resp.StatusCode)
		}
		return len(b)
	}
	// weight is what a page costs with what it loads: style sheets
	// always, scripts if they run.
	subresources := regexp.MustCompile(`<link rel="stylesheet" href="([^"]+)"|<script src="([^"]+)"`)
	weight := func(page string, bytes int, scripts bool) (int, int) {
		requests := 1
		for _, m := range subresources.FindAllStringSubmatch(page, -1) {
			if m[1] != "" || scripts {
				bytes += size(m[1] + m[2])
				requests++
			}
		}
		return bytes, requests
	}
	budget := func(what string, bytes, requests, maxBytes, maxRequests int) {
		t.Helper()
		if bytes > maxBytes || requests > maxRequests {
			t.Errorf("%s: %d bytes in %d requests, budget %d bytes in %d", what, bytes, requests, maxBytes, maxRequests)
		} else {
			t.Logf("%s: %d bytes in %d requests", what, bytes, requests)
		}
	}
	_, first := get(t, ts.base+"/form?lang=ko")
	n, reqs := weight(first, size("/form?lang=ko"), false)
	budget("first step without JavaScript", n, reqs, 30<<10, 3)

	// Every step, reached with answers that show every follow-up.
	srv, _ := New(Config{Study: st, Store: ts.store})
	all := url.Values{}
	for _, q := range st.Questions {
		if len(q.Choices) > 0 {
			for _, c := range q.Choices {
				all.Add("q."+q.ID, c.Value)
				if q.Type == config.SingleChoice {
					break
				}
			}
		}
	}
	for _, c := range []string{"q.phone_use=own", "q.intranet_use=often", "q.internet_use=both", "q.foreign_media=often"} {
		k, v, _ := strings.Cut(c, "=")
		all.Set(k, v)
	}
	for i := range srv.cur.steps {
		f := url.Values{"lang": {"ko"}, "step": {strconv.Itoa(i + 1)}, "nav": {strconv.Itoa(i + 1)}}
		for k, v := range all {
			f[k] = v
		}
		resp, body := postForm(t, http.DefaultClient, ts.base+"/next", f)
		if resp.StatusCode != 200 || !strings.Contains(body, `name="step" value="`+strconv.Itoa(i+1)+`"`) {
			t.Fatalf("step %d: status %d", i+1, resp.StatusCode)
		}
		n, reqs := weight(body, len(body), false)
		budget(fmt.Sprintf("step %d without JavaScript (uncompressed)", i+1), n, reqs, 30<<10, 3)
	}
	_, page := get(t, ts.base+"/form?all=1&lang=ko")
	n, reqs = weight(page, size("/form?all=1&lang=ko"), true)
	budget("one-page form with JavaScript", n, reqs, 80<<10, 4)
	// The come-back page.
	_, back := get(t, ts.base+"/back?lang=ko")
	n, reqs = weight(back, size("/back?lang=ko"), false)
	budget("come-back page without JavaScript", n, reqs, 30<<10, 3)
	n, reqs = weight(back, size("/back?lang=ko"), true)
	budget("come-back page with JavaScript", n, reqs, 80<<10, 4)
	// The word list the one-page form fetches once the person sends.
	budget("word list, Korean (fetched on sending)", size("/static/words-ko.txt"), 1, 16<<10, 1)
}
