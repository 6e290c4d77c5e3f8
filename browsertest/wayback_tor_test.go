package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/testimony-project/testimony/internal/tornet"
)

// TestWayBackOverTor is the way back end to end, as issue 9 asks, with the
// real commands: intake serve publishes the study as an onion service on a
// private Tor network, and two people answer it in Chromium through Tor,
// one with JavaScript and one without. Then:
//
//   - each receipt shows a return passphrase; the operator exports; two
//     researchers decrypt;
//   - the first researcher replies to both with a follow-up question
//     (researcher reply, reply-batch); the operator imports the reply
//     batch (intake replies import) while the server runs;
//   - each person comes back with the words, reads the reply and answers;
//     export, decrypt: the answer is under the same pseudonym, for both
//     researchers alike (the second with the first one's team copy);
//   - each person comes back again and withdraws; export, decrypt: the
//     testimonies and their follow-ups are in no export of either
//     researcher, nor in data/;
//   - auditor verify passes on all three logs, and auditor reconcile on
//     them together: every batch exported was imported, every reply batch
//     written was imported.
func TestWayBackOverTor(t *testing.T) {
	chromiumPath(t)
	if _, err := exec.LookPath("tor"); err != nil {
		t.Fatal("tor is not installed: run scripts/deps (apt-get install tor), or use go test -short")
	}
	start := time.Now()
	trail := &wayBackTrail{start: start}
	lap := func(what string) {
		t.Logf("%s after %v", what, time.Since(start).Round(100*time.Millisecond))
		trail.add("%s", what)
	}
	dir := t.TempDir()
	bin := buildCommands(t, dir)
	cmd := func(name string, want int, args ...string) string {
		t.Helper()
		c := exec.Command(filepath.Join(bin, name), args...)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("%s %s: exit %d, want %d\n%s", name, strings.Join(args, " "), code, want, out.String())
		}
		return out.String()
	}

	// Two researchers, and a small study in three languages.
	var keys, passes, pubs []string
	for _, who := range []string{"a", "b"} {
		pass := filepath.Join(dir, who+".pass")
		os.WriteFile(pass, []byte("passphrase of researcher "+who), 0o600)
		key := filepath.Join(dir, who+".key")
		out := cmd("researcher", 0, "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests")
		keys, passes = append(keys, key), append(passes, pass)
		for _, l := range strings.Split(out, "\n") {
			if pub, ok := strings.CutPrefix(l, "public key:"); ok {
				pubs = append(pubs, strings.TrimSpace(pub))
			}
		}
	}
	studyPath := filepath.Join(dir, "study.yaml")
	os.WriteFile(studyPath, []byte(`id: wayback-tor
title: {ko: 조사, en: Survey, zh: 调查}
introduction: {ko: 소개, en: Introduction, zh: 介绍}
recipients:
  - {name: Researcher A, public_key: `+pubs[0]+`}
  - {name: Researcher B, public_key: `+pubs[1]+`}
questions:
  - id: story
    type: long_text
    label: {ko: 이야기, en: Story, zh: 故事}
  - id: consent
    type: consent
    label: {ko: 동의합니다, en: I agree, zh: 我同意}
`), 0o600)

	if len(pubs) != 2 {
		t.Fatalf("keygen printed no public key")
	}

	// The private Tor network and the onion service.
	netw, err := tornet.Start(context.Background(), tornet.Options{})
	if err != nil {
		t.Fatalf("private Tor network: %v", err)
	}
	t.Cleanup(func() { netw.Close() })
	lap("private Tor network up")
	torrc := filepath.Join(dir, "network.torrc")
	os.WriteFile(torrc, []byte(strings.Join(netw.TorrcLines(), "\n")+"\n"), 0o600)
	data := filepath.Join(dir, "data")
	serve, onion, serverLog := serveOnion(t, filepath.Join(bin, "intake"), "--config", studyPath, "--data", data, "--private-tor-network", torrc)
	lap("onion service published")
	t.Cleanup(func() {
		if t.Failed() {
			trail.log(t, netw.Dir(), serverLog)
		}
	})
	base := "http://" + onion
	people := []*wayBackPerson{{js: true, story: "자바스크립트로 쓴 이야기: 도서관에서"}, {js: false, story: "자바스크립트 없이 쓴 이야기: 장마당에서"}}
	for _, p := range people {
		p.ctx, _ = browser(t, p.js, "socks5://"+netw.SocksAddr())
		p.trail = trail
		if err := chromedp.Listen(p.ctx, trail.listen(p.who())); err != nil {
			t.Fatal(err)
		}
	}
	// The descriptor may need a moment to reach every directory.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, cancel := context.WithTimeout(people[0].ctx, 30*time.Second)
		err := chromedp.Do(c, chromedp.Navigate(base+"/exit"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the onion service is not reachable through Tor: %v", err)
		}
		time.Sleep(time.Second)
	}
	lap("first page through Tor")

	// Both testify; each receipt shows the words.
	for _, p := range people {
		p.testify(t, base)
	}
	lap("two testimonies sent")

	exports := filepath.Join(dir, "exports")
	os.MkdirAll(exports, 0o700)
	serverKey := strings.TrimSpace(cmd("intake", 0, "server-key", "--data", data))
	var exported []string
	export := func() []string {
		t.Helper()
		cmd("intake", 0, "export", "--data", data, "--out", exports)
		all, _ := filepath.Glob(filepath.Join(exports, "*.tar"))
		slices.Sort(all)
		var fresh []string
		for _, b := range all {
			if !slices.Contains(exported, b) {
				fresh = append(fresh, b)
			}
		}
		exported = all
		return fresh
	}
	ws := []string{filepath.Join(dir, "ws-a"), filepath.Join(dir, "ws-b")}
	decrypt := func(who int, extra ...string) string {
		t.Helper()
		args := append([]string{"decrypt", "--key", keys[who], "--passphrase-file", passes[who], "--study", studyPath, "--server-key", serverKey, "--out", ws[who]}, extra...)
		return cmd("researcher", 0, args...)
	}
	b1 := export()
	for who := range ws {
		if out := decrypt(who, b1...); !strings.Contains(out, "2 testimonies in") {
			t.Fatalf("decrypt: %s", out)
		}
	}
	names := namesByText(t, ws[0], people[0].story, people[1].story)
	for i, p := range people {
		p.name = names[i]
	}

	// A replies to both, with a follow-up question.
	text := filepath.Join(dir, "reply.txt")
	os.WriteFile(text, []byte("증언을 고맙게 받았습니다.\n한 가지만 더 묻겠습니다.\n"), 0o600)
	questions := filepath.Join(dir, "questions.yaml")
	os.WriteFile(questions, []byte(`questions:
  - id: year
    type: year
    label: {ko: 그 일은 몇 년에 있었습니까?, en: In what year was that?, zh: 那是哪一年？}
    required: true
  - id: where
    type: single_choice
    label: {ko: 어디서였습니까?, en: Where was it?, zh: 在哪里？}
    choices:
      - {value: home, label: {ko: 집, en: At home, zh: 在家}}
      - {value: work, label: {ko: 일터, en: At work, zh: 在工作}}
`), 0o600)
	for _, p := range people {
		cmd("researcher", 0, "reply", "--key", keys[0], "--passphrase-file", passes[0], "--workspace", ws[0], "--to", p.name, "--text", text, "--questions", questions)
	}
	replies := filepath.Join(dir, "usb", "replies-1.tar")
	os.MkdirAll(filepath.Dir(replies), 0o700)
	cmd("researcher", 0, "reply-batch", "--key", keys[0], "--passphrase-file", passes[0], "--workspace", ws[0], "--out", replies)
	if out := cmd("intake", 0, "replies", "import", "--data", data, "--config", studyPath, replies); !strings.Contains(out, "imported 2 reply records") {
		t.Fatalf("intake replies import: %s", out)
	}
	time.Sleep(1100 * time.Millisecond) // the server looks again within a second
	lap("reply batch imported")

	// Each comes back, reads the reply and answers.
	for _, p := range people {
		p.answer(t, base)
	}
	lap("two follow-ups sent")
	b2 := export()
	decrypt(0, b2...)
	// B gets A's replies with the team copy, in the same run.
	decrypt(1, append(b2, "--replies", strings.TrimSuffix(replies, ".tar")+".team")...)
	for who, w := range ws {
		fu := readCSVRecords(t, filepath.Join(w, "followups.csv"))
		for _, p := range people {
			if !slices.ContainsFunc(fu, func(r []string) bool { return r[0] == p.name && r[7] == "year" && r[10] == "2019" }) ||
				!slices.ContainsFunc(fu, func(r []string) bool {
					return r[0] == p.name && r[7] == "where" && r[10] == "work" && r[11] == "일터"
				}) {
				t.Errorf("researcher %d: the answers of %s (JavaScript %v) are not under their pseudonym in followups.csv: %q", who, p.name, p.js, fu)
			}
			md := markdownOf(t, w, p.name)
			if !strings.Contains(md, p.story) || !strings.Contains(md, "## Thread") || !strings.Contains(md, "#### 그 일은 몇 년에 있었습니까?\n\n```\n2019\n```") {
				t.Errorf("researcher %d: the Markdown file of %s lacks the testimony or the answer:\n%s", who, p.name, md)
			}
		}
	}
	sameFiles(t, ws[0], ws[1], "after the follow-ups")
	lap("follow-ups decrypted")

	// Each comes back and withdraws.
	for _, p := range people {
		p.withdraw(t, base)
	}
	lap("two withdrawals sent")
	b3 := export()
	for who := range ws {
		out := decrypt(who, b3...)
		if !strings.Contains(out, "0 testimonies in") || !strings.Contains(out, "2 withdrawn by the people who gave them") {
			t.Fatalf("decrypt of the withdrawals:\n%s", out)
		}
		for _, f := range []string{"testimonies.csv", "testimonies.jsonl", "followups.csv", "thread.jsonl", "quarantine.jsonl", "data/testimonies", "data/messages"} {
			b, err := os.ReadFile(filepath.Join(ws[who], f))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range people {
				for _, gone := range []string{p.name, p.story, "2019"} {
					if bytes.Contains(b, []byte(gone)) {
						t.Errorf("researcher %d: %s still holds %q", who, f, gone)
					}
				}
			}
		}
		if md, _ := filepath.Glob(filepath.Join(ws[who], "testimonies", "*.md")); len(md) != 0 {
			t.Errorf("researcher %d: Markdown files of withdrawn testimonies: %v", who, md)
		}
	}
	sameFiles(t, ws[0], ws[1], "after the withdrawals")
	lap("withdrawals decrypted")

	// The auditor.
	serve.Process.Signal(syscall.SIGTERM)
	serve.Wait()
	serverAudit := strings.TrimSpace(cmd("intake", 0, "audit-key", "--data", data))
	var rargs []string
	for who, w := range ws {
		key := strings.TrimSpace(cmd("researcher", 0, "audit-key", "--workspace", w))
		cmd("auditor", 0, "verify", "--log", filepath.Join(w, "audit"), "--key", key)
		rargs = append(rargs, "--researcher-log", filepath.Join(w, "audit"), "--researcher-key", key)
		log, _ := os.ReadFile(filepath.Join(w, "audit", "records"))
		for _, want := range []string{"testimonies-withdrawn count=2", "followups-imported count=2"} {
			if !bytes.Contains(log, []byte(want)) {
				t.Errorf("researcher %d's audit log lacks %q:\n%s", who, want, log)
			}
		}
	}
	cmd("auditor", 0, "verify", "--log", filepath.Join(data, "audit"), "--key", serverAudit)
	out := cmd("auditor", 0, append([]string{"reconcile", "--server-log", filepath.Join(data, "audit"), "--server-key", serverAudit}, rargs...)...)
	if !strings.Contains(out, "reply batches written by the researchers: 1") || !strings.Contains(out, "result: OK") {
		t.Errorf("auditor reconcile:\n%s", out)
	}
	lap("audit logs verified and reconciled")
}

// wayBackPerson is someone who testifies, with JavaScript or without.
type wayBackPerson struct {
	js          bool
	ctx         context.Context
	trail       *wayBackTrail
	story       string
	words, name string
}

// do runs one step of the person's; when it fails, the trail gets what the
// page showed then.
func (p *wayBackPerson) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	err := chromedp.Do(c, append([]chromedp.Action[chromedp.Void]{p.trail.settled(p.who()), loaded()}, steps...)...)
	if err == nil {
		return
	}
	c, cancel2 := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel2()
	shown, serr := chromedp.Run(c, chromedp.Evaluate[string](`location.href + ' | status: ' + ((document.getElementById('seal-status') || {}).textContent || '-') + ' | h1: ' + ((document.querySelector('h1') || {}).textContent || '-')`))
	if serr != nil {
		// Scripts are off: the address, from the history.
		h, herr := chromedp.Run(c, chromedp.NavigationEntries())
		if herr == nil && h.CurrentIndex >= 0 && int(h.CurrentIndex) < len(h.Entries) {
			shown = h.Entries[h.CurrentIndex].URL + " (" + h.Entries[h.CurrentIndex].Title + ")"
		} else {
			shown = fmt.Sprint(serr, herr)
		}
	}
	p.trail.add("%s: %s failed (%v); the page: %s", p.who(), what, err, shown)
	t.Fatalf("%s: %v", what, err)
}

func (p *wayBackPerson) mode() string { return map[bool]string{true: "on", false: "off"}[p.js] }

// who names the person in the trail.
func (p *wayBackPerson) who() string { return "JavaScript " + p.mode() }

// testify answers the questionnaire and keeps the words the receipt shows.
func (p *wayBackPerson) testify(t *testing.T, base string) {
	t.Helper()
	if p.js {
		p.do(t, "form", chromedp.Navigate(base+"/form?lang=ko&all=1"), chromedp.WaitVisible(chromedp.CSS(`#js-note`)),
			typeIn("story", p.story), click(`input[name="q.consent"]`), click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#review`)))
		p.do(t, "send", click(`#review-send`), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "잘 받았습니다")]`)), chromedp.WaitVisible(chromedp.CSS(`#pp`)))
	} else {
		p.do(t, "form", chromedp.Navigate(base+"/form?lang=ko"), waitFor(`textarea[name="q.story"]`),
			typeIn("story", p.story), click(`input[name="q.consent"]`), click(`button[value="next"]`), waitFor(`button[formaction="/submit"]`))
		p.do(t, "send", click(`button[formaction="/submit"]`), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "잘 받았습니다")]`)))
	}
	p.words = receiptWords(t, p.ctx)
	screenshot(t, p.ctx, "tor-"+p.mode()+"-receipt.png")
}

// comeBack opens the come-back page, from the first page, and types the
// words.
func (p *wayBackPerson) comeBack(t *testing.T, base string) {
	t.Helper()
	// The come-back page's own form first: #js-note is on every page,
	// the first page's too, and waiting for it alone let the words be
	// typed while the come-back page was still replacing it.
	ready := []chromedp.Action[chromedp.Void]{waitFor(`#bf`)}
	if p.js {
		ready = append(ready, chromedp.WaitVisible(chromedp.CSS(`#js-note`)))
	}
	p.do(t, "first page", chromedp.Navigate(base+"/?lang=ko"), waitFor(`#back`))
	p.do(t, "come back", append([]chromedp.Action[chromedp.Void]{click(`#back`)}, ready...)...)
	p.do(t, "the words", chromedp.SendKeys(chromedp.CSS(`#pp`), p.words), click(`#bf button[type="submit"]`),
		chromedp.WaitVisible(chromedp.CSS(`section.reply`)))
	page := html(t, p.ctx, "main")
	for _, want := range []string{"증언을 고맙게 받았습니다.", "그 일은 몇 년에 있었습니까?", "Researcher A"} {
		if !strings.Contains(page, want) {
			t.Errorf("JavaScript %s: the replies page lacks %q", p.mode(), want)
		}
	}
}

// answer comes back and answers the reply's questions.
func (p *wayBackPerson) answer(t *testing.T, base string) {
	t.Helper()
	p.comeBack(t, base)
	p.do(t, "answer", chromedp.SendKeys(chromedp.CSS(`section.reply input[name="q.year"]`), "2019"), click(`section.reply input[value="work"]`),
		click(`section.reply button[type="submit"]`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "대답을 보냈습니다")]`)))
	screenshot(t, p.ctx, "tor-"+p.mode()+"-answered.png")
}

// withdraw comes back and withdraws the testimony.
func (p *wayBackPerson) withdraw(t *testing.T, base string) {
	t.Helper()
	p.comeBack(t, base)
	if p.js {
		p.do(t, "withdraw", click(`#withdraw`), chromedp.WaitVisible(chromedp.CSS(`#withdraw-confirm`)))
		p.do(t, "confirm", click(`#withdraw-yes`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "철회 요청을 보냈습니다")]`)))
	} else {
		p.do(t, "withdraw", click(`section.withdraw button[type="submit"]`), chromedp.WaitVisible(chromedp.Search(`//b[contains(., "정말 증언을 철회하겠습니까?")]`)))
		p.do(t, "confirm", click(`button[name="confirm"]`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "철회 요청을 보냈습니다")]`)))
	}
	screenshot(t, p.ctx, "tor-"+p.mode()+"-withdrawn.png")
}

// buildCommands builds intake, researcher and auditor into dir/bin.
func buildCommands(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	c := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/intake", "./cmd/researcher", "./cmd/auditor")
	c.Dir = ".."
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveOnion runs intake serve on an onion service until it says where it
// serves, and returns it, the onion address and a function that returns
// what it has written to its standard error so far.
func serveOnion(t *testing.T, intake string, args ...string) (*exec.Cmd, string, func() string) {
	t.Helper()
	c := exec.Command(intake, append([]string{"serve"}, args...)...)
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	sw := &syncWriter{w: &stderr}
	c.Stderr = sw
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "serving on http://"); ok {
				select {
				case addr <- strings.Fields(l)[0]:
				default:
				}
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			sw.mu.Lock()
			defer sw.mu.Unlock()
			t.Fatalf("intake serve exited:\n%s", stderr.String())
		}
		return c, a, func() string {
			sw.mu.Lock()
			defer sw.mu.Unlock()
			return stderr.String()
		}
	case <-time.After(4 * time.Minute):
		sw.mu.Lock()
		defer sw.mu.Unlock()
		t.Fatalf("intake serve did not publish in 4 minutes:\n%s", stderr.String())
	}
	return nil, "", nil
}

// wayBackTrail is what TestWayBackOverTor saw, in order, with the time
// since it began: its phases, and each person's requests, their answers
// and their failures as Chromium reported them. When the test fails, it is
// logged last, with the last lines of the client tor's and the server's
// logs, where the tail of a CI log shows it.
type wayBackTrail struct {
	start time.Time
	mu    sync.Mutex
	lines []string
	paths map[network.RequestID]string
	// loading holds each person's requests not yet finished.
	loading map[string]map[network.RequestID]bool
}

func (tr *wayBackTrail) add(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lines = append(tr.lines, fmt.Sprintf("+%5.1f s  ", time.Since(tr.start).Seconds())+fmt.Sprintf(format, args...))
}

// listen returns a chromedp listener that adds who's requests to the
// trail. It returns at once, as a listener must.
func (tr *wayBackTrail) listen(who string) func(ev any) {
	return func(ev any) {
		tr.mu.Lock()
		if tr.paths == nil {
			tr.paths, tr.loading = map[network.RequestID]string{}, map[string]map[network.RequestID]bool{}
		}
		if tr.loading[who] == nil {
			tr.loading[who] = map[network.RequestID]bool{}
		}
		var line string
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			path := e.Request.URL
			if u, err := url.Parse(path); err == nil {
				path = u.Path
			}
			tr.paths[e.RequestID] = path
			if e.Type == network.ResourceTypeDocument {
				// A new page: what the last one was loading no longer
				// matters.
				clear(tr.loading[who])
			}
			tr.loading[who][e.RequestID] = true
			line = fmt.Sprintf("%s: %s %s", who, e.Request.Method, path)
		case *network.EventResponseReceived:
			line = fmt.Sprintf("%s: %d %s", who, e.Response.Status, tr.paths[e.RequestID])
		case *network.EventLoadingFinished:
			delete(tr.loading[who], e.RequestID)
		case *network.EventLoadingFailed:
			delete(tr.loading[who], e.RequestID)
			line = fmt.Sprintf("%s: %s failed: %s", who, tr.paths[e.RequestID], e.ErrorText)
		}
		tr.mu.Unlock()
		if line != "" {
			tr.add("%s", line)
		}
	}
}

// settled returns an action that waits until who's browser has loaded
// everything it asked for (a page's stylesheet too) and stayed so for a
// moment, as a person waits for a page to appear before clicking in it:
// Chromium may lay out a page whose stylesheet is still on its way
// through Tor, and a click at the button's place then would land where
// the styled page has no button. After 10 s it reports what is still
// loading to the trail and lets the step go on.
func (tr *wayBackTrail) settled(who string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		var loading []string
		quiet := 0
		ok, err := pollFor(ctx, 10*time.Second, 100*time.Millisecond, func() bool {
			tr.mu.Lock()
			loading = loading[:0]
			for id := range tr.loading[who] {
				loading = append(loading, tr.paths[id])
			}
			tr.mu.Unlock()
			if len(loading) == 0 {
				quiet++
			} else {
				quiet = 0
			}
			return quiet == 3
		})
		if err == nil && !ok {
			tr.add("%s: still loading after 10 s: %v", who, loading)
		}
		return err
	})
}

// log logs the trail, then the last lines of the client tor's log about
// onion services and of the server's.
func (tr *wayBackTrail) log(t *testing.T, netDir string, serverLog func() string) {
	if b, err := os.ReadFile(filepath.Join(netDir, "client0", "info.log")); err == nil {
		var hs []string
		for _, l := range strings.Split(string(b), "\n") {
			// Not the lines of every stream attached to a circuit
			// already joined.
			if (strings.Contains(l, "hs_") || strings.Contains(l, "rend") || strings.Contains(l, "intro") || strings.Contains(l, "[warn]")) &&
				!strings.Contains(l, "pathbias_count_use_attempt") && !strings.Contains(l, "already here. Attaching") {
				hs = append(hs, l)
			}
		}
		t.Logf("the client tor's log about onion services (last lines):\n%s", strings.Join(hs[max(0, len(hs)-40):], "\n"))
	}
	if serverLog != nil {
		lines := strings.Split(strings.TrimSpace(serverLog()), "\n")
		t.Logf("intake serve's log (last lines):\n%s", strings.Join(lines[max(0, len(lines)-20):], "\n"))
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	t.Logf("what the test saw, in order:\n\t%s", strings.Join(tr.lines, "\n\t"))
}

// namesByText returns the pseudonyms of the testimonies whose Markdown
// files hold each text, in order.
func namesByText(t *testing.T, ws string, texts ...string) []string {
	t.Helper()
	md, _ := filepath.Glob(filepath.Join(ws, "testimonies", "*.md"))
	out := make([]string, len(texts))
	for _, p := range md {
		b, _ := os.ReadFile(p)
		for i, text := range texts {
			if bytes.Contains(b, []byte(text)) {
				out[i] = strings.Fields(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "# "))[0]
			}
		}
	}
	for i, n := range out {
		if n == "" {
			t.Fatalf("no testimony says %q", texts[i])
		}
	}
	return out
}

func markdownOf(t *testing.T, ws, name string) string {
	t.Helper()
	md, _ := filepath.Glob(filepath.Join(ws, "testimonies", name+" *.md"))
	if len(md) != 1 {
		t.Fatalf("Markdown files of %s: %v", name, md)
	}
	b, _ := os.ReadFile(md[0])
	return string(b)
}

func readCSVRecords(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF"))))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// sameFiles checks that two researchers' workspaces hold the same exports.
func sameFiles(t *testing.T, a, b, when string) {
	t.Helper()
	for _, f := range []string{"testimonies.csv", "testimonies.jsonl", "codebook.csv", "followups.csv", "thread.jsonl"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s: %s differs between the researchers", when, f)
		}
	}
	ma, _ := filepath.Glob(filepath.Join(a, "testimonies", "*.md"))
	mb, _ := filepath.Glob(filepath.Join(b, "testimonies", "*.md"))
	if len(ma) != len(mb) {
		t.Errorf("%s: %d and %d Markdown files", when, len(ma), len(mb))
	}
	for _, p := range ma {
		x, _ := os.ReadFile(p)
		y, err := os.ReadFile(filepath.Join(b, "testimonies", filepath.Base(p)))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s: %s differs between the researchers (%v)", when, filepath.Base(p), err)
		}
	}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
