package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/examples"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/response"
)

// buildIntake builds cmd/intake into the test's temporary directory.
func buildIntake(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "intake")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/testimony-project/testimony/cmd/intake").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/intake: %v\n%s", err, out)
	}
	return bin
}

// served is a running `intake serve`.
type served struct {
	cmd    *exec.Cmd
	stdout string // what it printed about the study and its versions
	exited chan error
}

// serveStudy runs `intake serve` on addr until it serves, and returns it.
func serveStudy(t *testing.T, bin, study, data, addr string) *served {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", study, "--data", data, "--listen", addr, "--stop-grace", "2s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, exited: make(chan error, 1)}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	var printed []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited:\n%s\n%s", strings.Join(printed, "\n"), stderr.String())
			}
			printed = append(printed, l)
			if strings.HasPrefix(l, "study ") {
				// The lines about versions follow at once.
				time.Sleep(100 * time.Millisecond)
				for more := true; more; {
					select {
					case l, ok := <-lines:
						if ok {
							printed = append(printed, l)
						}
						more = ok
					default:
						more = false
					}
				}
				s.stdout = strings.Join(printed, "\n")
				go func() {
					for range lines {
					}
				}()
				return s
			}
		case <-timeout:
			t.Fatalf("serve did not start:\n%s\n%s", strings.Join(printed, "\n"), stderr.String())
		}
	}
}

// stop stops the server with SIGTERM, as an operator restarting it does.
func (s *served) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve still runs 30 s after SIGTERM")
	}
}

var (
	hiddenRE   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	checkedRE  = regexp.MustCompile(`<input type="(?:radio|checkbox)" name="([^"]+)" value="([^"]*)" checked`)
	textRE     = regexp.MustCompile(`<input type="text"[^>]* name="([^"]+)" value="([^"]*)"`)
	textareaRE = regexp.MustCompile(`(?s)<textarea name="([^"]+)"[^>]*>(.*?)</textarea>`)
	unescape   = strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&", "&#43;", "+", "&#10;", "\n", "&#13;", "\r")
)

// pageFields returns what a page's form posts as it is shown, as a browser
// without JavaScript sends it.
func pageFields(body string) url.Values {
	v := url.Values{}
	for _, re := range []*regexp.Regexp{hiddenRE, checkedRE, textRE, textareaRE} {
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			if m[2] != "" || re == hiddenRE || re == checkedRE {
				v.Add(m[1], unescape.Replace(m[2]))
			}
		}
	}
	return v
}

// person is someone answering without JavaScript: the page their browser
// shows, and the answers they type, each on the step that asks it.
type person struct {
	page    string
	answers url.Values
}

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

func postPage(t *testing.T, base, path string, f url.Values) (int, string) {
	t.Helper()
	resp, err := client.PostForm(base+path, f)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// step types the person's answers that the page asks and presses Next.
func (p *person) step(t *testing.T, base string) {
	t.Helper()
	f := pageFields(p.page)
	for name, vals := range p.answers {
		if strings.Contains(p.page, `name="`+name+`"`) && !strings.Contains(p.page, `<input type="hidden" name="`+name+`"`) {
			f[name] = vals
		}
	}
	f.Set("nav", "next")
	status, body := postPage(t, base, "/next", f)
	if status != http.StatusOK {
		t.Fatalf("POST /next: status %d\n%s", status, body)
	}
	p.page = body
}

// finish goes on to the review and sends.
func (p *person) finish(t *testing.T, base string) {
	t.Helper()
	for i := 0; !strings.Contains(p.page, `formaction="/submit"`); i++ {
		if i > 10 {
			t.Fatalf("no review after 10 steps:\n%s", p.page)
		}
		p.step(t, base)
	}
	status, body := postPage(t, base, "/submit", pageFields(p.page))
	if status != http.StatusOK || !strings.Contains(body, "잘 받았습니다") {
		t.Fatalf("POST /submit: status %d\n%s", status, body)
	}
}

func versionOf(page string) string {
	m := regexp.MustCompile(`name="v" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestRevisedStudyWhileAnswering runs the real `intake serve` through
// two revisions of the example study while people answer it:
//
//  1. version 1 is served; two people without JavaScript send step 1,
//     a third seals answers in the browser;
//  2. it is restarted with version 2 (a question removed, one added, a
//     label changed, the same researchers): the first person goes on
//     with version 1's steps and sends; the browser's envelope is
//     accepted;
//  3. it is restarted with version 3, which removes a researcher: both
//     earlier versions are retired (the audit log says so); the second
//     person is carried to version 3 with every answer kept, told so,
//     answers the new question and sends; an envelope sealed to version
//     1's researchers is refused with 409 and the current researchers,
//     sealed again to them and stored.
//
// Every envelope then opens for the current researchers, checks against
// the version its plaintext names (kept in the data directory), and holds
// exactly what was typed, and nothing typed is on the server's disk.
func TestRevisedStudyWhileAnswering(t *testing.T) {
	bin := buildIntake(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ids := []*envelope.Identity{}
	for range 2 {
		id, err := envelope.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	a, b := ids[0], ids[1]

	// The three versions of the study.
	keys := regexp.MustCompile(`public_key: testimony-pub-[a-z2-7]+`)
	i := 0
	v1y := keys.ReplaceAllStringFunc(string(examples.NKInternetAccess), func(string) string {
		i++
		return "public_key: " + ids[i-1].Recipient().String()
	})
	replace := func(s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("the study lacks %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	v2y := regexp.MustCompile(`(?s)\n  - id: departure_province\n.*?\n\n`).ReplaceAllString(v1y, "\n")
	v2y = replace(v2y, "      en: In what year did you leave North Korea?", "      en: Which year did you leave North Korea?")
	v2y = replace(v2y, "      ko: 북에서 떠난 해는 언제입니까?", "      ko: 북을 떠난 해는 언제입니까?")
	v2y = replace(v2y, "  - id: phone_activities\n", `  - id: phone_first_year
    type: year
    relevant: "${phone_use} = 'own' or ${phone_use} = 'borrowed'"
    label:
      ko: 손전화를 처음 쓴 해는 언제입니까?
      en: In what year did you first use a mobile phone?
      zh: 您第一次用手机是哪一年？

  - id: phone_activities
`)
	v3y := regexp.MustCompile(`(?m)^  - name: Researcher 2.*\n    public_key: .*\n`).ReplaceAllString(v2y, "")
	var versions []*config.Study
	var paths []string
	for n, y := range []string{v1y, v2y, v3y} {
		st, err := config.Parse("v.yaml", []byte(y))
		if err != nil {
			t.Fatalf("version %d: %v", n+1, err)
		}
		p := filepath.Join(dir, "study-v"+string(rune('1'+n))+".yaml")
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		versions, paths = append(versions, st), append(paths, p)
	}
	v1, v2, v3 := versions[0], versions[1], versions[2]
	if v2.Question("departure_province") != nil || v2.Question("phone_first_year") == nil || len(v3.Recipients) != 1 {
		t.Fatal("the revisions are not what this test needs")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	marker := "MARKER-" + strings.Repeat("증언", 4)

	// 1. Version 1.
	srv := serveStudy(t, bin, paths[0], data, addr)
	start := func(year, province, phone string, more url.Values) *person {
		t.Helper()
		resp, err := client.Get(base + "/form?lang=ko")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		p := &person{page: string(page), answers: url.Values{"q.departure_year": {year}, "q.departure_province": {province}, "q.phone_use": {phone}}}
		p.step(t, base)
		if versionOf(p.page) != v1.Version() || !strings.Contains(p.page, `name="step" value="2"`) {
			t.Fatalf("step 2 of version 1 expected:\n%s", p.page)
		}
		p.answers = more // typed on step 2 and after, sent after the restart
		return p
	}
	first := start("2018", "north_hamgyong", "own", url.Values{"q.phone_activities": {"calls"}, "q.phone_hours": {"1.5"},
		"q.intranet_use": {"never"}, "q.internet_use": {"never"}, "q.foreign_media": {"never"}, "q.testimony": {marker}, "q.consent": {"yes"}})
	second := start("2015", "pyongyang", "borrowed", url.Values{"q.phone_activities": {"messages", "games"}, "q.intranet_use": {"never"},
		"q.phone_first_year": {"2012"}, "q.internet_use": {"never"}, "q.foreign_media": {"never"}, "q.consent": {"yes"}})
	// The browser's plaintext names version 1, sealed to its researchers.
	jsAnswers := map[string][]string{"departure_province": {"chagang"}, "phone_use": {"no"}, "consent": {"yes"}}
	seal := func(to ...*envelope.Identity) string {
		t.Helper()
		pt, err := response.Marshal(v1, &response.Response{Study: v1.ID, Version: v1.Version(), Language: "ko", Answers: jsAnswers})
		if err != nil {
			t.Fatal(err)
		}
		var rs []*envelope.Recipient
		for _, id := range to {
			rs = append(rs, id.Recipient())
		}
		env, err := envelope.Seal(v1.ID, pt, rs)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(env)
	}
	jsEnvelope := seal(a, b)
	srv.stop(t)

	// 2. Version 2: the same researchers; version 1 is accepted.
	srv = serveStudy(t, bin, paths[1], data, addr)
	if !strings.Contains(srv.stdout, "also accepting answers to version "+v1.ShortVersion()) {
		t.Errorf("serve of version 2 printed:\n%s", srv.stdout)
	}
	resp, err := client.Get(base + "/form?lang=ko")
	if err != nil {
		t.Fatal(err)
	}
	newPage, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(newPage), "북을 떠난 해는 언제입니까?") || strings.Contains(string(newPage), "departure_province") {
		t.Error("a new person is not shown version 2")
	}
	first.step(t, base)
	if versionOf(first.page) != v1.Version() || strings.Contains(first.page, "설문이 바뀌였습니다") {
		t.Fatalf("the first person did not go on with version 1:\n%s", first.page)
	}
	first.finish(t, base)
	if status, body := postPage(t, base, "/sealed", url.Values{"lang": {"ko"}, "envelope": {jsEnvelope}}); status != http.StatusOK {
		t.Fatalf("an envelope to version 1's researchers, the same as version 2's: status %d\n%s", status, body)
	}
	srv.stop(t)

	// 3. Version 3: a researcher removed; versions 1 and 2 retired.
	srv = serveStudy(t, bin, paths[2], data, addr)
	if !strings.Contains(srv.stdout, "earlier versions no longer accepted: 2") || strings.Contains(srv.stdout, "also accepting") {
		t.Errorf("serve of version 3 printed:\n%s", srv.stdout)
	}
	second.step(t, base)
	if versionOf(second.page) != v3.Version() || !strings.Contains(second.page, "대답하는 사이에 설문이 바뀌였습니다") ||
		!strings.Contains(second.page, `name="step" value="1"`) || !strings.Contains(second.page, `value="2015"`) ||
		!strings.Contains(second.page, `value="borrowed" checked`) || strings.Contains(second.page, "departure_province") {
		t.Fatalf("the second person was not carried to version 3 at step 1 with the answers kept:\n%s", second.page)
	}
	second.finish(t, base)

	status, body, header := 0, "", http.Header{}
	{
		resp, err := client.PostForm(base+"/sealed", url.Values{"lang": {"ko"}, "envelope": {seal(a, b)}})
		if err != nil {
			t.Fatal(err)
		}
		bb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status, body, header = resp.StatusCode, string(bb), resp.Header
	}
	if status != http.StatusConflict || header.Get(intake.RecipientsHeader) != a.Recipient().String() || header.Get(intake.VersionHeader) != v3.Version() {
		t.Fatalf("an envelope to a removed researcher: status %d, %s %q, %s %q\n%s", status,
			intake.RecipientsHeader, header.Get(intake.RecipientsHeader), intake.VersionHeader, header.Get(intake.VersionHeader), body)
	}
	// Sealed again, as the page's script does, to the keys the server named.
	var again []*envelope.Identity
	for _, k := range strings.Fields(header.Get(intake.RecipientsHeader)) {
		i := slices.IndexFunc(ids, func(id *envelope.Identity) bool { return id.Recipient().String() == k })
		if i < 0 {
			t.Fatalf("the server named a key that is no researcher's: %s", k)
		}
		again = append(again, ids[i])
	}
	if status, body := postPage(t, base, "/sealed", url.Values{"lang": {"ko"}, "envelope": {seal(again...)}}); status != http.StatusOK {
		t.Fatalf("the resealed envelope: status %d\n%s", status, body)
	}
	srv.stop(t)

	// What the researchers get.
	d, err := intake.OpenData(data)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pending, err := d.Store.Pending()
	if err != nil || len(pending) != 4 {
		t.Fatalf("%d envelopes stored (%v), want 4", len(pending), err)
	}
	type got struct {
		version string
		keys    int
		answers map[string][]string
	}
	var gots []got
	for _, id := range pending {
		env, err := d.Store.Read(id)
		if err != nil {
			t.Fatal(err)
		}
		rs, _ := envelope.Recipients(env)
		if _, err := envelope.Open(v1.ID, env, b); (len(rs) == 1) != errors.Is(err, envelope.ErrNotRecipient) {
			t.Errorf("an envelope sealed to %d researchers: the removed researcher gets %v", len(rs), err)
		}
		o, err := envelope.Open(v1.ID, env, a)
		if err != nil {
			t.Fatal(err)
		}
		_, ver, err := response.Peek(o.Plaintext)
		if err != nil {
			t.Fatal(err)
		}
		// The version file the server kept, as the batch carries it.
		kept, err := config.Load(filepath.Join(data, "versions", ver+".yaml"))
		if err != nil {
			t.Fatalf("the version an envelope names is not kept: %v", err)
		}
		r, err := response.Unmarshal(kept, o.Plaintext)
		if err != nil {
			t.Fatalf("an envelope fails the checks of its version %s: %v", config.ShortVersion(ver), err)
		}
		gots = append(gots, got{ver, len(rs), r.Answers})
	}
	want := []got{
		{v1.Version(), 2, map[string][]string{"departure_year": {"2018"}, "departure_province": {"north_hamgyong"}, "phone_use": {"own"},
			"phone_activities": {"calls"}, "phone_hours": {"1.5"}, "intranet_use": {"never"}, "internet_use": {"never"},
			"foreign_media": {"never"}, "testimony": {marker}, "consent": {"yes"}}},
		{v1.Version(), 2, jsAnswers},
		{v3.Version(), 1, map[string][]string{"departure_year": {"2015"}, "phone_use": {"borrowed"}, "phone_first_year": {"2012"},
			"phone_activities": {"messages", "games"}, "intranet_use": {"never"}, "internet_use": {"never"}, "foreign_media": {"never"}, "consent": {"yes"}}},
		{v1.Version(), 1, jsAnswers},
	}
	for _, w := range want {
		i := slices.IndexFunc(gots, func(g got) bool {
			return g.version == w.version && g.keys == w.keys && canonical("", g.answers) == canonical("", w.answers)
		})
		if i < 0 {
			t.Errorf("no envelope of version %s, sealed to %d researchers, with %q; stored: %+v", config.ShortVersion(w.version), w.keys, w.answers, gots)
			continue
		}
		gots = slices.Delete(gots, i, i+1)
	}

	// The audit log: three starts, two retirements, and it verifies.
	key, err := d.AuditKey()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(filepath.Join(data, "audit"), key, nil)
	if err != nil || len(rep.Damage) != 0 {
		t.Fatalf("audit log: %v %v", err, rep.Damage)
	}
	events := map[audit.Event]int{}
	for _, day := range rep.Days {
		for e, n := range day.Events {
			events[e] += n
		}
	}
	if events[audit.EventServiceStarted] != 3 || events[audit.EventStudyVersionRetired] != 2 || events[audit.EventSubmissionStored] != 4 {
		t.Errorf("audit events %v: want 3 service-started, 2 study-version-retired, 4 submission-stored", events)
	}

	// Nothing typed without JavaScript is on the server's disk.
	filepath.WalkDir(data, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(marker)) {
				t.Errorf("%s holds an answer in the clear", p)
			}
		}
		return nil
	})
}
