package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	lap := func(what string) { t.Logf("%s after %v", what, time.Since(start).Round(100*time.Millisecond)) }
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
	serve, onion := serveOnion(t, filepath.Join(bin, "intake"), "--config", studyPath, "--data", data, "--private-tor-network", torrc)
	lap("onion service published")
	base := "http://" + onion
	people := []*wayBackPerson{{js: true, story: "자바스크립트로 쓴 이야기: 도서관에서"}, {js: false, story: "자바스크립트 없이 쓴 이야기: 장마당에서"}}
	for _, p := range people {
		p.ctx, _ = browser(t, p.js, "socks5://"+netw.SocksAddr())
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
	story       string
	words, name string
}

func (p *wayBackPerson) mode() string { return map[bool]string{true: "on", false: "off"}[p.js] }

// testify answers the questionnaire and keeps the words the receipt shows.
func (p *wayBackPerson) testify(t *testing.T, base string) {
	t.Helper()
	if p.js {
		do(t, p.ctx, "form", chromedp.Navigate(base+"/form?lang=ko&all=1"), chromedp.WaitVisible(chromedp.CSS(`#js-note`)),
			typeIn("story", p.story), click(`input[name="q.consent"]`), click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#review`)))
		do(t, p.ctx, "send", click(`#review-send`), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "잘 받았습니다")]`)), chromedp.WaitVisible(chromedp.CSS(`#pp`)))
	} else {
		do(t, p.ctx, "form", chromedp.Navigate(base+"/form?lang=ko"), waitFor(`textarea[name="q.story"]`),
			typeIn("story", p.story), click(`input[name="q.consent"]`), click(`button[value="next"]`), waitFor(`button[formaction="/submit"]`))
		do(t, p.ctx, "send", click(`button[formaction="/submit"]`), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "잘 받았습니다")]`)))
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
	do(t, p.ctx, "first page", chromedp.Navigate(base+"/?lang=ko"), waitFor(`#back`))
	do(t, p.ctx, "come back", append([]chromedp.Action[chromedp.Void]{click(`#back`)}, ready...)...)
	do(t, p.ctx, "the words", chromedp.SendKeys(chromedp.CSS(`#pp`), p.words), click(`#bf button[type="submit"]`),
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
	do(t, p.ctx, "answer", chromedp.SendKeys(chromedp.CSS(`section.reply input[name="q.year"]`), "2019"), click(`section.reply input[value="work"]`),
		click(`section.reply button[type="submit"]`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "대답을 보냈습니다")]`)))
	screenshot(t, p.ctx, "tor-"+p.mode()+"-answered.png")
}

// withdraw comes back and withdraws the testimony.
func (p *wayBackPerson) withdraw(t *testing.T, base string) {
	t.Helper()
	p.comeBack(t, base)
	if p.js {
		do(t, p.ctx, "withdraw", click(`#withdraw`), chromedp.WaitVisible(chromedp.CSS(`#withdraw-confirm`)))
		do(t, p.ctx, "confirm", click(`#withdraw-yes`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "철회 요청을 보냈습니다")]`)))
	} else {
		do(t, p.ctx, "withdraw", click(`section.withdraw button[type="submit"]`), chromedp.WaitVisible(chromedp.Search(`//b[contains(., "정말 증언을 철회하겠습니까?")]`)))
		do(t, p.ctx, "confirm", click(`button[name="confirm"]`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "철회 요청을 보냈습니다")]`)))
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
// serves, and returns it and the onion address.
func serveOnion(t *testing.T, intake string, args ...string) (*exec.Cmd, string) {
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
		return c, a
	case <-time.After(4 * time.Minute):
		sw.mu.Lock()
		defer sw.mu.Unlock()
		t.Fatalf("intake serve did not publish in 4 minutes:\n%s", stderr.String())
	}
	return nil, ""
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
