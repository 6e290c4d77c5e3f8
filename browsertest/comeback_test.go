package browsertest

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/response"
)

// writeStudy writes the study file the site serves, for the commands.
func writeStudy(t *testing.T, file []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "study.yaml")
	if err := os.WriteFile(p, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// intakeBinary builds cmd/intake once for the tests that run it.
var intakeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "browsertest-intake")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "intake")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/intake").CombinedOutput()
	if err != nil {
		return "", &buildError{string(out)}
	}
	return bin, nil
})

type buildError struct{ out string }

func (e *buildError) Error() string { return "go build ./cmd/intake: " + e.out }

// runIntake runs the intake command and returns its output.
func runIntake(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := intakeBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("intake %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// receiptWords returns the return passphrase the receipt shows.
func receiptWords(t *testing.T, ctx context.Context) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	words, err := chromedp.Run(c, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#pp-words li')).map(function (l) { return l.textContent; }).join(' ')`))
	if err != nil {
		// Scripts are off: read the page.
		page := html(t, ctx, "#pp-words")
		var ws []string
		for _, part := range strings.Split(page, "<li>")[1:] {
			ws = append(ws, strings.Split(part, "</li>")[0])
		}
		words = strings.Join(ws, " ")
	}
	if len(strings.Fields(words)) != returnkey.Words {
		t.Fatalf("the receipt shows %q, not seven words", words)
	}
	if _, err := returnkey.Parse(words); err != nil {
		t.Fatalf("the words shown are not a return passphrase: %v", err)
	}
	if _, hidden := attr(t, ctx, "#pp", "hidden"); hidden {
		t.Fatal("the passphrase is hidden")
	}
	return words
}

func countGets(s *site, path string) int {
	n := 0
	for _, e := range s.exchanges() {
		if e.Method == "GET" && e.Path == path {
			n++
		}
	}
	return n
}

// pageWeight checks what the browser loaded since n was reset against a
// budget, and records it.
func pageWeight(t *testing.T, n *netlog, mode, page string, maxBytes int64, maxRequests int) weight {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	total, urls := n.weight()
	w := weight{Mode: mode + "-" + page, Bytes: total, Requests: len(urls), URLs: urls}
	t.Logf("%s, JavaScript %s: %d bytes transferred in %d requests: %v", page, mode, total, len(urls), urls)
	if total > maxBytes || maxRequests > 0 && len(urls) > maxRequests {
		t.Errorf("%s, JavaScript %s: %d bytes in %d requests, budget %d bytes in %d", page, mode, total, len(urls), maxBytes, maxRequests)
	}
	recordWeight(t, w)
	return w
}

// comeBack is the way back, after a testimony with the words shown: the
// researcher opens it and replies with a question; the operator imports
// the reply batch with intake replies import; the person comes back with
// the words, reads the reply, answers (a mistake first), adds to the
// testimony and withdraws it. Each message the researcher opens is
// signed on the testimony's thread.
func comeBack(t *testing.T, ctx context.Context, n *netlog, s *site, ids []*envelope.Identity, studyPath, words string, js bool) {
	mode := map[bool]string{true: "on", false: "off"}[js]
	// The researcher's side.
	addr := testimonyAddress(t, s, ids[0])
	c := &reply.Content{Study: s.study.ID, ID: reply.NewID(), Lang: "ko", Text: "증언을 고맙게 받았습니다.\n한 가지만 더 묻겠습니다.",
		Questions: []reply.Question{
			{ID: "year", Type: config.Year, Label: "그 일은 몇 년에 있었습니까?", Required: true},
			{ID: "where", Type: config.MultiChoice, Label: "어디서였습니까?", Choices: []reply.Choice{{Value: "home", Label: "집"}, {Value: "work", Label: "일터"}}},
		}}
	batch := replyBatchFile(t, ids[0], s.study.ID, append([]replyTo{{addr, 0, c}}, strangers(t, s.study.ID, 40)...))
	out := runIntake(t, "replies", "import", "--data", s.data.Dir, "--config", studyPath, batch)
	if !strings.Contains(out, "imported 41 reply records") {
		t.Fatalf("intake replies import: %s", out)
	}
	time.Sleep(1100 * time.Millisecond) // the server looks again within a second

	// The come-back page, from the landing page.
	do(t, ctx, "landing page", chromedp.Navigate(s.base+"/?lang=ko"), waitFor(`#back`))
	n.reset()
	// The come-back page's own form first: #js-note is on every page.
	ready := []chromedp.Action[chromedp.Void]{waitFor(`#bf`)}
	if js {
		ready = append(ready, chromedp.WaitVisible(chromedp.CSS(`#js-note`)))
	}
	do(t, ctx, "come back", append([]chromedp.Action[chromedp.Void]{click(`#back`)}, ready...)...)
	if js {
		pageWeight(t, n, mode, "back", maxBytesJS, 0)
	} else {
		pageWeight(t, n, mode, "back", maxBytesNoJS, maxRequestsNoJS)
	}
	screenshot(t, ctx, "ko-"+mode+"-back.png")

	// A mistyped word is named by position; the words typed stay.
	ws := strings.Fields(words)
	typo := strings.Join(append(append([]string{}, ws[:3]...), append([]string{"없는말"}, ws[4:]...)...), " ")
	do(t, ctx, "a typo", chromedp.SendKeys(chromedp.CSS(`#pp`), typo), click(`#bf button[type="submit"]`),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="pp-problem"][contains(., "4번째 단어는")]`)))
	screenshot(t, ctx, "ko-"+mode+"-back-typo.png")
	// The words, as a person might type them: the English words of the
	// same indices, in capitals, on two lines.
	p, _ := returnkey.Parse(words)
	english := p.Words(returnkey.English)
	typed := strings.ToUpper(strings.Join(english[:3], " ")) + "\n" + strings.Join(english[3:], "  ")
	do(t, ctx, "the page again", append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(s.base + "/back?lang=ko")}, ready...)...)
	n.reset()
	do(t, ctx, "the words", chromedp.SendKeys(chromedp.CSS(`#pp`), typed), click(`#bf button[type="submit"]`),
		chromedp.WaitVisible(chromedp.CSS(`section.reply`)))
	if js {
		if _, hidden := attr(t, ctx, "#bf", "hidden"); !hidden {
			t.Error("the passphrase field is still shown")
		}
		got := pageWeight(t, n, mode, "replies", replyBucketBytes+8<<10, 0)
		if got.Requests != 1 || !strings.HasSuffix(got.URLs[0], "/back/replies") {
			t.Errorf("opening the replies made requests %v, want one download", got.URLs)
		}
	} else {
		pageWeight(t, n, mode, "replies", maxBytesNoJS, maxRequestsNoJS)
	}
	page := html(t, ctx, "main")
	for _, want := range []string{"증언을 고맙게 받았습니다.", "그 일은 몇 년에 있었습니까?", "Researcher 1 (internet freedom team)의 답장", "증언에 보태기", "증언 철회하기"} {
		if !strings.Contains(page, want) {
			t.Errorf("the replies page lacks %q", want)
		}
	}
	// Two words in a row: one alone may be in the page by chance (the
	// English list has "team", and a researcher is the "internet freedom
	// team").
	if strings.Contains(page, ws[0]+" "+ws[1]) || strings.Contains(strings.ToLower(page), english[0]+" "+english[1]) {
		t.Error("the replies page shows the words")
	}
	screenshot(t, ctx, "ko-"+mode+"-reply.png")

	// Answer the question: a year too early first.
	before := len(stored(t, s, ids[0]))
	year := `section.reply input[name="q.year"]`
	do(t, ctx, "answer", chromedp.SendKeys(chromedp.CSS(year), "1800"), click(`section.reply input[value="work"]`),
		click(`section.reply button[type="submit"]`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "1900보다 작은")]`)))
	if len(stored(t, s, ids[0])) != before {
		t.Fatal("an answer with a problem was stored")
	}
	screenshot(t, ctx, "ko-"+mode+"-followup-problem.png")
	do(t, ctx, "answer again", click(year), chromedp.KeyEvent("\b\b\b\b\b\b"), chromedp.SendKeys(chromedp.CSS(year), "2019"),
		click(`section.reply button[type="submit"]`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "대답을 보냈습니다")]`)))
	screenshot(t, ctx, "ko-"+mode+"-followup-sent.png")
	do(t, ctx, "add", chromedp.SendKeys(chromedp.CSS(`section.addition textarea`), "하나 더: 검열원은 두 명이였습니다."),
		click(`section.addition button[type="submit"]`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "보탠 내용을 보냈습니다")]`)))
	if js {
		do(t, ctx, "withdraw", click(`#withdraw`), chromedp.WaitVisible(chromedp.CSS(`#withdraw-confirm`)))
		screenshot(t, ctx, "ko-"+mode+"-withdraw-confirm.png")
		do(t, ctx, "confirm", click(`#withdraw-yes`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "철회 요청을 보냈습니다")]`)))
	} else {
		do(t, ctx, "withdraw", click(`section.withdraw button[type="submit"]`), chromedp.WaitVisible(chromedp.Search(`//b[contains(., "정말 증언을 철회하겠습니까?")]`)))
		screenshot(t, ctx, "ko-"+mode+"-withdraw-confirm.png")
		do(t, ctx, "confirm", click(`button[name="confirm"]`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "철회 요청을 보냈습니다")]`)))
	}
	screenshot(t, ctx, "ko-"+mode+"-withdrawn.png")

	// What the researchers open: the testimony, and three messages on
	// its thread, signed, the follow-up answering the reply.
	kinds := map[response.Kind]*response.Message{}
	for _, pt := range stored(t, s, ids[0]) {
		h, err := response.PeekHeader(pt)
		if err != nil {
			t.Fatal(err)
		}
		if h.Kind == response.Testimony {
			continue
		}
		m, err := response.UnmarshalMessage(s.study, pt)
		if err != nil {
			t.Fatalf("%s: %v", h.Kind, err)
		}
		if !m.Thread.Equal(addr) || m.Language != "ko" {
			t.Fatalf("%s: on another thread, or in %s", h.Kind, m.Language)
		}
		if kinds[m.Kind] != nil {
			t.Fatalf("two %s messages", m.Kind)
		}
		kinds[m.Kind] = m
	}
	if len(kinds) != 3 {
		t.Fatalf("messages %v, want a followup, an addition and a withdrawal", kinds)
	}
	if err := response.ValidateFollowup(s.study, c, kinds[response.Followup]); err != nil {
		t.Fatal(err)
	}
	if got := kinds[response.Followup].Answers; got["year"][0] != "2019" || got["where"][0] != "work" {
		t.Errorf("the followup answers %v", got)
	}
	if got := kinds[response.Addition].Answers["text"][0]; got != "하나 더: 검열원은 두 명이였습니다." {
		t.Errorf("the addition says %q", got)
	}

	// What crossed the wire: the words only in the post of the page
	// without JavaScript; with it, only envelopes and one download.
	var secrets []string
	for _, w := range append(ws, english...) {
		secrets = append(secrets, w, url.QueryEscape(w))
	}
	for _, e := range s.exchanges() {
		if e.Method != "POST" {
			continue
		}
		switch {
		case js && e.Path != "/sealed":
			t.Errorf("with JavaScript, the come-back page posted to %s", e.Path)
		case !js && e.Path != "/back" && e.Path != "/back/send" && e.Path != "/submit" && e.Path != "/next":
			t.Errorf("without JavaScript, a post to %s", e.Path)
		}
		// /back carries the words by design (without JavaScript);
		// /next and /submit come before the words exist, and carry
		// answers (such as "never") that may be words of the list.
		if e.Path == "/back" || e.Path == "/next" || e.Path == "/submit" {
			continue
		}
		// (Words of five bytes or more: shorter ones, like "add",
		// turn up in other text and in base64 by chance.)
		for _, w := range secrets {
			if len(w) >= 5 && bytes.Contains(e.Body, []byte(w)) {
				t.Errorf("a post to %s carried a word of the passphrase", e.Path)
			}
		}
	}
	if js && countGets(s, "/back/replies") != 1 {
		t.Errorf("the replies were downloaded %d times, want once", countGets(s, "/back/replies"))
	}
	checkSite(t, s, n)
}

// replyBucketBytes is one bucket of the download of replies.
const replyBucketBytes = intake.ReplyBucket * reply.RecordSize

// testimonyAddress opens the site's one testimony as the researcher does
// and returns its return address.
func testimonyAddress(t *testing.T, s *site, id *envelope.Identity) *returnkey.Address {
	t.Helper()
	for _, pt := range stored(t, s, id) {
		if h, err := response.PeekHeader(pt); err != nil || h.Kind != response.Testimony {
			continue
		}
		r, err := response.Unmarshal(s.study, pt)
		if err != nil {
			t.Fatal(err)
		}
		if r.Return == nil {
			t.Fatal("the testimony carries no return address")
		}
		return r.Return
	}
	t.Fatal("no testimony stored")
	return nil
}

// stored returns the plaintexts of every stored envelope, opened by the
// researcher id.
func stored(t *testing.T, s *site, id *envelope.Identity) [][]byte {
	t.Helper()
	pending, err := s.store.Pending()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, p := range pending {
		env, err := s.store.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		o, err := envelope.Open(s.study.ID, env, id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Plaintext)
	}
	return out
}

type replyTo struct {
	to      *returnkey.Address
	i       uint32
	content *reply.Content
}

// strangers are replies to other people, so that the person's is one
// among many.
func strangers(t *testing.T, study string, n int) []replyTo {
	var out []replyTo
	for i := range n {
		var seed [returnkey.SeedSize]byte
		seed[0], seed[1] = 0xee, byte(i)
		out = append(out, replyTo{returnkey.NewKeys(seed).Address(), 0, &reply.Content{Study: study, ID: reply.NewID(), Lang: "en", Text: "Thank you."}})
	}
	return out
}

// replyBatchFile writes a reply batch signed by id, as the researcher's
// tools would, and returns its path.
func replyBatchFile(t *testing.T, id *envelope.Identity, study string, rs []replyTo) string {
	t.Helper()
	var recs [][]byte
	for _, r := range rs {
		data, err := r.content.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		rec, err := reply.Seal(r.to, r.i, id, data)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	path := filepath.Join(t.TempDir(), "replies.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := reply.Write(f, id.Signer(), study, recs); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDeclineReturnJavaScriptOn: a person who ticks "I do not want a
// return passphrase" gets none: no derivation, no word list fetched, a
// receipt saying so, and a testimony without a return address.
func TestDeclineReturnJavaScriptOn(t *testing.T) {
	chromiumPath(t)
	id, _ := envelope.GenerateIdentity()
	st, err := config.Parse("decline.yaml", []byte(`id: decline-test
title: {ko: 조사, en: Survey, zh: 调查}
introduction: {ko: 소개, en: Introduction, zh: 介绍}
recipients:
  - name: Researcher
    public_key: `+id.Recipient().String()+`
questions:
  - id: story
    type: long_text
    label: {ko: 이야기, en: Story, zh: 故事}
  - id: consent
    type: consent
    required: true
    label: {ko: 동의합니다, en: I agree, zh: 我同意}
`))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, st, ln, "http://"+ln.Addr().String())
	ctx, _ := browser(t, true, "")
	do(t, ctx, "form", chromedp.Navigate(s.base+"/form?lang=en&all=1"), chromedp.WaitVisible(chromedp.CSS(`#js-note`)),
		typeIn("story", "A line."), click(`input[name="q.consent"]`), click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#review`)))
	do(t, ctx, "decline and send", click(`#noreturn`), click(`#review-send`),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="no-pp"][contains(., "You chose no return passphrase")]`)))
	if _, hidden := attr(t, ctx, "#pp", "hidden"); !hidden {
		t.Error("a passphrase block shows to a person who declined")
	}
	screenshot(t, ctx, "en-js-declined.png")
	if n := countGets(s, "/static/words-en.txt"); n != 0 {
		t.Errorf("the word list was fetched %d times", n)
	}
	pts := stored(t, s, id)
	if len(pts) != 1 {
		t.Fatalf("%d envelopes stored", len(pts))
	}
	r, err := response.Unmarshal(st, pts[0])
	if err != nil || r.Return != nil {
		t.Fatalf("the testimony: %v, return %v", err, r.Return)
	}
}
