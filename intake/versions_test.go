package intake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/response"
)

// versionYAML is a study in three sections (three steps without
// JavaScript), written in ko, en and ru.
const versionYAML = `id: versions-test
languages: [ko, en, ru]
title: {ko: 조사, en: Survey, ru: Опрос}
introduction: {ko: 소개, en: Introduction, ru: Введение}
recipients:
%s
sections:
  - {id: first, label: {ko: 처음, en: First, ru: Начало}, questions: [used]}
  - id: second
    label: {ko: 둘째, en: Second, ru: Второй}
    help: {ko: 도움말, en: Section help, ru: Помощь}
    questions: [where, hours, %s]
  - {id: last, label: {ko: 끝, en: Last, ru: Конец}, questions: [story, consent]}
questions:
  - id: used
    type: single_choice
    required: true
    label: {ko: 썼습니까, en: %s, ru: Пользовались}
    choices:
      - {value: "yes", label: {ko: 예, en: "Yes", ru: Да}}
      - {value: "no", label: {ko: 아니오, en: "No", ru: Нет}}
  - id: where
    type: multi_choice
    relevant: "${used} = 'yes'"
    label: {ko: 어디서, en: Where, ru: Где}
    choices:
      - {value: home, label: {ko: 집, en: Home, ru: Дом}}
      - {value: work, label: {ko: 직장, en: Work, ru: Работа}}
%s
  - {id: hours, type: decimal, decimals: 1, label: {ko: 몇 시간, en: Hours, ru: Часы}}
%s
  - {id: story, type: long_text, max_length: %d, label: {ko: 이야기, en: Story, ru: История}}
  - {id: consent, type: consent, label: {ko: 동의, en: Consent, ru: Согласие}}
`

// versionStudy returns a version of the study sealed to ids. Version 1
// (second false) asks "removed", has a choice "cafe" and takes stories of
// 200 characters; version 2 asks "added" instead, rewords "used", drops
// "cafe" and Russian, and takes stories of 10 characters.
func versionStudy(t testing.TB, second bool, ids ...*envelope.Identity) (*config.Study, []byte) {
	t.Helper()
	var rs strings.Builder
	for i, id := range ids {
		fmt.Fprintf(&rs, "  - {name: Researcher %d, public_key: %s}\n", i+1, id.Recipient())
	}
	q, label, choice, extra, story := "removed", "Did you use it", "      - {value: cafe, label: {ko: 다방, en: Café, ru: Кафе}}",
		"  - {id: removed, type: short_text, label: {ko: 없어질 물음, en: Removed, ru: Удалён}}", 200
	if second {
		q, label, choice, extra, story = "added", "Did you ever use it", "",
			"  - {id: added, type: short_text, label: {ko: 새 물음, en: Added, ru: Новый}}", 10
	}
	y := fmt.Sprintf(versionYAML, strings.TrimSuffix(rs.String(), "\n"), q, label, choice, extra, story)
	y = strings.ReplaceAll(y, "\n\n", "\n")
	if second {
		// Version 2 is no longer written in Russian.
		y = regexp.MustCompile(`, ru: [^,}]+`).ReplaceAllString(strings.Replace(y, "[ko, en, ru]", "[ko, en]", 1), "")
	}
	st, err := config.Parse(fmt.Sprintf("v%d.yaml", map[bool]int{false: 1, true: 2}[second]), []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return st, []byte(y)
}

func identities(t testing.TB, n int) []*envelope.Identity {
	t.Helper()
	var ids []*envelope.Identity
	for range n {
		id, err := envelope.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// clock is a Config.Now a test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// walk posts the form to path and checks the status and that the page
// holds every want; it returns the page and its form's fields.
func walk(t *testing.T, base, path string, f url.Values, status int, want ...string) (string, url.Values) {
	t.Helper()
	resp, body := postForm(t, http.DefaultClient, base+path, f)
	if resp.StatusCode != status {
		t.Fatalf("POST %s %v: status %d, want %d\n%s", path, f, resp.StatusCode, status, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("POST %s %v: the page lacks %q", path, f, w)
		}
	}
	return body, pageFields(body)
}

var (
	checkedRE  = regexp.MustCompile(`<input type="(?:radio|checkbox)" name="([^"]+)" value="([^"]*)" checked`)
	textRE     = regexp.MustCompile(`<input type="text"[^>]* name="([^"]+)" value="([^"]*)"`)
	textareaRE = regexp.MustCompile(`(?s)<textarea name="([^"]+)"[^>]*>(.*?)</textarea>`)
	selectRE   = regexp.MustCompile(`(?s)<select name="([^"]+)">(.*?)</select>`)
	selectedRE = regexp.MustCompile(`<option value="([^"]*)" selected>`)
)

// pageFields returns what the form of a page posts as it is, as a
// browser without JavaScript sends it (but for the button pressed).
func pageFields(body string) url.Values {
	v := formFields(body)
	for _, re := range []*regexp.Regexp{checkedRE, textRE, textareaRE} {
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			if m[2] != "" || re != checkedRE {
				v.Add(m[1], htmlUnescape(m[2]))
			}
		}
	}
	for _, m := range selectRE.FindAllStringSubmatch(body, -1) {
		if o := selectedRE.FindStringSubmatch(m[2]); o != nil {
			v.Add(m[1], htmlUnescape(o[1]))
		}
	}
	return v
}

// openStored opens the one envelope stored with every id, checks that it is
// sealed to exactly ids, and returns its plaintext read against the
// version it names, of those given.
func openStored(t *testing.T, ts *testServer, ids []*envelope.Identity, versions ...*config.Study) *response.Response {
	t.Helper()
	pending, err := ts.store.Pending()
	if err != nil || len(pending) != 1 {
		t.Fatalf("%d envelopes stored (%v), want 1", len(pending), err)
	}
	env, err := ts.store.Read(pending[0])
	if err != nil {
		t.Fatal(err)
	}
	keys, err := envelope.Recipients(env)
	if err != nil {
		t.Fatal(err)
	}
	var want [][32]byte
	for _, id := range ids {
		want = append(want, id.Recipient().X25519())
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("the envelope is sealed to %d keys, not to the current researchers", len(keys))
	}
	var r *response.Response
	for _, id := range ids {
		o, err := envelope.Open(versions[0].ID, env, id)
		if err != nil {
			t.Fatal(err)
		}
		_, v, err := response.Peek(o.Plaintext)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(versions, func(s *config.Study) bool { return s.Version() == v })
		if i < 0 {
			t.Fatalf("the plaintext names version %s, none of those served", config.ShortVersion(v))
		}
		if r, err = response.Unmarshal(versions[i], o.Plaintext); err != nil {
			t.Fatalf("the plaintext does not pass the checks of its version: %v", err)
		}
	}
	return r
}

// TestEarlierVersionGoesOn: a person who began version 1 without
// JavaScript goes on after the server was restarted with version 2 (a
// question removed, one added, a label reworded, a choice removed): the
// steps, questions and choices of version 1, every answer kept, and the
// plaintext names version 1, sealed to the current researchers.
func TestEarlierVersionGoesOn(t *testing.T) {
	ids := identities(t, 2)
	v1, _ := versionStudy(t, false, ids...)
	v2, _ := versionStudy(t, true, ids...)
	ts := startVersions(t, v2, &clock{t: time.Now()}, EarlierVersion{Study: v1, Until: time.Now().Add(24 * time.Hour)})

	// The step 1 page of version 1, as the person's browser holds it.
	f := url.Values{"lang": {"en"}, "v": {v1.Version()}, "step": {"1"}, "q.used": {"yes"}}
	_, f = walk(t, ts.base, "/next", f, 200, `name="v" value="`+v1.Version()+`"`, `name="q.removed"`, `value="cafe"`, "<h2>Second</h2>", `<p class="help">Section help</p>`)
	f.Add("q.where", "cafe")
	f.Add("q.where", "home")
	f.Set("q.hours", "1.5")
	f.Set("q.removed", "still asked")
	f.Set("nav", "next")
	body, f := walk(t, ts.base, "/next", f, 200, `name="q.story"`, "Step 3 of 3")
	if strings.Contains(body, "updated") {
		t.Error("an accepted version's page says the questionnaire was updated")
	}
	f.Set("q.story", "a story longer than ten characters")
	f.Set("q.consent", "yes")
	_, f = walk(t, ts.base, "/next", f, 200, "Check before you send", "Café", "Did you use it", `name="v" value="`+v1.Version()+`"`)
	walk(t, ts.base, "/submit", f, 200, "Received")
	r := openStored(t, ts, ids, v1, v2)
	want := map[string][]string{"used": {"yes"}, "where": {"home", "cafe"}, "hours": {"1.5"}, "removed": {"still asked"},
		"story": {"a story longer than ten characters"}, "consent": {"yes"}}
	if r.Version != v1.Version() || !mapsEqual(r.Answers, want) {
		t.Fatalf("stored %q for version %s, want %q for version 1", r.Answers, config.ShortVersion(r.Version), want)
	}
}

// startVersions serves current and earlier versions with clock c.
func startVersions(t *testing.T, current *config.Study, c *clock, earlier ...EarlierVersion) *testServer {
	t.Helper()
	return serveTest(t, Config{Study: current, Earlier: earlier, Store: tempStore(t), Now: c.now})
}

// TestVersionNoLongerAcceptedIsCarried: a form of a version retired
// because a researcher was removed, past its grace period, or unknown,
// is carried to the current version: answers to questions that still
// exist kept (a choice that no longer exists dropped), the first step
// with a problem in them, or else the first, shown with a note; the page
// language kept if the current version has it; nothing stored; and the
// person finishes on the current version.
func TestVersionNoLongerAcceptedIsCarried(t *testing.T) {
	ids := identities(t, 2)
	v1, _ := versionStudy(t, false, ids...)
	v1Kept, _ := versionStudy(t, false, ids[0]) // same researchers as the current version
	v2, _ := versionStudy(t, true, ids[0])      // the second researcher removed
	c := &clock{t: time.Now()}
	ts := startVersions(t, v2, c,
		EarlierVersion{Study: v1, Until: time.Now().Add(24 * time.Hour)},
		EarlierVersion{Study: v1Kept, Until: time.Now().Add(time.Hour)})
	updated := "The questionnaire was updated while you were answering"
	ver := func(st *config.Study) string { return `name="v" value="` + st.Version() + `"` }

	step2 := url.Values{"lang": {"en"}, "step": {"2"}, "q.used": {"yes"}, "q.where": {"home", "cafe"}, "q.hours": {"1.5"}, "q.removed": {"gone"}}
	for name, v := range map[string]string{"retired by its keys": v1.Version(), "unknown": "0000", "empty": "", "twice": "x"} {
		f := url.Values{}
		for k, vals := range step2 {
			f[k] = vals
		}
		f.Set("v", v)
		if name == "twice" {
			f["v"] = []string{v1Kept.Version(), v1Kept.Version()}
		}
		body, kept := walk(t, ts.base, "/next", f, 200, updated, ver(v2), "Step 1 of 3", `value="yes" checked`, "Did you ever use it")
		if strings.Contains(body, `class="problem"`) || strings.Contains(body, "q.removed") || strings.Contains(body, "cafe") {
			t.Errorf("%s: the carried page shows a problem, or an answer to a question or choice version 2 lacks:\n%s", name, body)
		}
		if kept.Get("q.hours") != "1.5" || !slices.Equal(kept["q.where"], []string{"home"}) {
			t.Errorf("%s: answers not carried: %v", name, kept)
		}
	}

	// Past its grace period, version 1 (same researchers) is carried too;
	// within it, it goes on.
	f := url.Values{"lang": {"en"}, "v": {v1Kept.Version()}, "step": {"1"}, "q.used": {"yes"}}
	walk(t, ts.base, "/next", f, 200, ver(v1Kept), "Step 2 of 3", `name="q.removed"`)
	c.set(time.Now().Add(2 * time.Hour))
	walk(t, ts.base, "/next", f, 200, updated, ver(v2), "Step 1 of 3")

	// An answer that no longer passes (stories of 10 characters at most)
	// is kept and shown with its problem, on its step; Russian, which
	// version 2 lacks, becomes Korean, its default language.
	f = url.Values{"lang": {"ru"}, "v": {v1.Version()}, "step": {"3"}, "q.used": {"no"}, "q.story": {"a story of more than ten characters"}}
	body, f := walk(t, ts.base, "/next", f, 200, "대답하는 사이에 설문이 바뀌였습니다", `lang="ko"`, "3단계", "10자까지만 쓸 수 있습니다", "a story of more than ten characters")
	if strings.Count(body, `class="problem"`) != 1 {
		t.Errorf("the carried page shows %d problems, want the story's alone", strings.Count(body, `class="problem"`))
	}
	// Sending version 1's review stores nothing: the answers are shown
	// again on version 2, to check.
	review := url.Values{"lang": {"en"}, "v": {v1.Version()}, "q.used": {"no"}, "q.story": {"short"}, "q.consent": {"yes"}}
	_, carried := walk(t, ts.base, "/submit", review, http.StatusConflict, updated, ver(v2), "Step 1 of 3", `value="no" checked`)
	if p, _ := ts.store.Pending(); len(p) != 0 {
		t.Fatal("answers to a retired version were stored")
	}
	// From there the person goes on with version 2 and sends.
	carried.Set("nav", "next")
	for range 3 {
		var body string
		body, carried = walk(t, ts.base, "/next", carried, 200)
		if strings.Contains(body, "Check before you send") {
			break
		}
		carried.Set("nav", "next")
	}
	walk(t, ts.base, "/submit", carried, 200, "Received")
	r := openStored(t, ts, ids[:1], v2)
	if want := map[string][]string{"used": {"no"}, "story": {"short"}, "consent": {"yes"}}; r.Version != v2.Version() || !mapsEqual(r.Answers, want) {
		t.Fatalf("stored %q for version %s, want %q for version 2", r.Answers, config.ShortVersion(r.Version), want)
	}
}

// TestSealedAcceptsVersions: /sealed takes envelopes sealed to the
// researchers of the current version or of an accepted earlier one, in
// their order; any other list, or that of a version retired or past its
// grace period, gets 409 with the current researchers and version, and
// nothing is stored. Sealed again to those, the answers are stored.
func TestSealedAcceptsVersions(t *testing.T) {
	ids := identities(t, 3)
	a, b, c := ids[0], ids[1], ids[2]
	v0, _ := versionStudy(t, false, a, b) // b was removed since: retired
	v1, _ := versionStudy(t, false, a)    // accepted for an hour
	v2, _ := versionStudy(t, true, a, c)  // current: c was added
	clk := &clock{t: time.Now()}
	ts := startVersions(t, v2, clk,
		EarlierVersion{Study: v0, Until: time.Now().Add(24 * time.Hour)},
		EarlierVersion{Study: v1, Until: time.Now().Add(time.Hour)})
	post := func(status int, to ...*envelope.Identity) *http.Response {
		t.Helper()
		var rs []*envelope.Recipient
		for _, id := range to {
			rs = append(rs, id.Recipient())
		}
		env, err := envelope.Seal(v2.ID, []byte("answers"), rs)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := ts.store.Pending()
		resp, body := postForm(t, http.DefaultClient, ts.base+"/sealed", url.Values{"lang": {"en"}, "envelope": {base64.StdEncoding.EncodeToString(env)}})
		after, _ := ts.store.Pending()
		if resp.StatusCode != status || (status == 200) != (len(after) == len(before)+1) {
			t.Fatalf("envelope to %d keys: status %d, want %d; %d stored before, %d after\n%s", len(to), resp.StatusCode, status, len(before), len(after), body)
		}
		if status == http.StatusConflict && !strings.Contains(body, "The researchers of this study changed") {
			t.Errorf("409 page lacks its message:\n%s", body)
		}
		return resp
	}
	post(200, a, c)
	post(200, a)
	resp := post(http.StatusConflict, a, b)
	if got, want := resp.Header.Get(RecipientsHeader), a.Recipient().String()+" "+c.Recipient().String(); got != want {
		t.Errorf("%s: %q, want %q", RecipientsHeader, got, want)
	}
	if got := resp.Header.Get(VersionHeader); got != v2.Version() {
		t.Errorf("%s: %q, want %q", VersionHeader, got, v2.Version())
	}
	post(http.StatusConflict, c, a) // another order
	post(http.StatusConflict, c)
	clk.set(time.Now().Add(2 * time.Hour))
	post(http.StatusConflict, a) // version 1's grace is over
	post(200, a, c)
	if resp, _ := get(t, ts.base+"/"); resp.Header.Get(RecipientsHeader) != "" {
		t.Error("a page other than a 409 from /sealed names the researchers' keys in a header")
	}
}

// TestLoadVersions decides, from a data directory's versions and audit
// log, until when each earlier version is accepted, refuses a bad
// revision, and records each retirement once.
func TestLoadVersions(t *testing.T) {
	ids := identities(t, 2)
	today := midnight(time.Now())
	day := func(n int) time.Time { return today.AddDate(0, 0, n).Add(13 * time.Hour) }
	v1, y1 := versionStudy(t, false, ids...)
	v1b, y1b := versionStudy(t, false, ids[1], ids[0]) // another file: the keys in another order
	v2, _ := versionStudy(t, true, ids...)
	type rec struct {
		ev  audit.Event
		st  *config.Study
		day int
	}
	setup := func(t *testing.T, saved [][]byte, recs ...rec) *Data {
		t.Helper()
		d, err := OpenData(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.BindStudy(v1.ID); err != nil {
			t.Fatal(err)
		}
		for _, y := range saved {
			if err := d.SaveVersion(y); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range recs {
			var a audit.Record
			switch r.ev {
			case audit.EventServiceStarted:
				a = audit.ServiceStarted(r.st.SHA256, day(r.day))
			case audit.EventServiceStopped:
				a = audit.ServiceStopped(day(r.day))
			case audit.EventSubmissionStored:
				a = audit.SubmissionStored([32]byte{1}, day(r.day))
			case audit.EventStudyVersionRetired:
				a = audit.StudyVersionRetired(r.st.SHA256, day(r.day))
			}
			if err := d.Record(a); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	until := func(t *testing.T, vs *Versions, st *config.Study) time.Time {
		t.Helper()
		for _, e := range vs.Earlier {
			if e.Study.SHA256 == st.SHA256 {
				return e.Until
			}
		}
		t.Fatalf("version %s is not among the earlier ones", st.ShortVersion())
		return time.Time{}
	}
	started, stopped, stored := audit.EventServiceStarted, audit.EventServiceStopped, audit.EventSubmissionStored
	const grace = 14 * 24 * time.Hour
	for _, c := range []struct {
		name  string
		recs  []rec
		grace time.Duration
		cur   *config.Study
		want  map[*config.Study]int // days from today of Until; absent: zero (not accepted)
	}{
		{"stopped 3 days ago", []rec{{started, v1, -10}, {stored, nil, -4}, {stopped, nil, -3}}, grace, v2, map[*config.Study]int{v1: -3 + 1 + 14}},
		{"stopped long ago", []rec{{started, v1, -40}, {stopped, nil, -30}}, grace, v2, map[*config.Study]int{v1: -30 + 15}},
		{"crashed, then another version", []rec{{started, v1, -10}, {stored, nil, -8}, {started, v1b, -5}, {stopped, nil, -2}}, grace, v2,
			map[*config.Study]int{v1: -5 + 15, v1b: -2 + 15}},
		{"crashed, then this one", []rec{{started, v1, -10}}, grace, v2, map[*config.Study]int{v1: 15}},
		{"served again later", []rec{{started, v1, -20}, {stopped, nil, -20}, {started, v1b, -19}, {stopped, nil, -2}, {started, v1, -1}, {stopped, nil, -1}}, grace, v2,
			map[*config.Study]int{v1: -1 + 15, v1b: -2 + 15}},
		{"grace of a day and a bit", []rec{{started, v1, -3}, {stopped, nil, -3}}, 25 * time.Hour, v2, map[*config.Study]int{v1: -3 + 1 + 2}},
		{"no grace", []rec{{started, v1, -1}, {stopped, nil, 0}}, 0, v2, nil},
		{"never served", nil, grace, v2, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := setup(t, [][]byte{y1, y1b}, c.recs...)
			vs, err := LoadVersions(d, c.cur, c.grace, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range []*config.Study{v1, v1b} {
				got := until(t, vs, st)
				n, ok := c.want[st]
				if want := today.AddDate(0, 0, n); ok && !got.Equal(want) || !ok && !got.IsZero() {
					t.Errorf("version %s accepted until %v, want %v (accepted: %v)", st.ShortVersion(), got, want, ok)
				}
			}
		})
	}

	// A researcher removed: every version with the key retired, however
	// recent, and recorded once, even over restarts; a version served
	// again is recorded again when it is retired again.
	v3, y3 := versionStudy(t, true, ids[0])
	d := setup(t, [][]byte{y1, y1b}, rec{started, v1, -1}, rec{stopped, nil, 0})
	vs, err := LoadVersions(d, v3, grace, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !until(t, vs, v1).IsZero() || !until(t, vs, v1b).IsZero() {
		t.Error("a version listing a removed researcher is accepted")
	}
	retirements := func() int {
		n := 0
		for _, r := range auditEvents(t, d) {
			if r.Event == audit.EventStudyVersionRetired {
				n++
			}
		}
		return n
	}
	for range 2 {
		if err := vs.RecordRetired(d, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := retirements(); n != 2 {
		t.Fatalf("%d retirements recorded, want 2", n)
	}
	if err := d.SaveVersion(y3); err != nil {
		t.Fatal(err)
	}
	d.Record(audit.ServiceStarted(v3.SHA256, time.Now()))
	vs, _ = LoadVersions(d, v3, grace, time.Now())
	vs.RecordRetired(d, time.Now())
	if n := retirements(); n != 2 {
		t.Fatalf("after a restart, %d retirements recorded, want still 2", n)
	}
	// v1 served again, then a version without the second researcher
	// again: v1 is retired again, and recorded.
	d.Record(audit.ServiceStarted(v1.SHA256, time.Now()))
	d.Record(audit.ServiceStopped(time.Now()))
	vs, _ = LoadVersions(d, v3, grace, time.Now())
	vs.RecordRetired(d, time.Now())
	if n := retirements(); n != 3 {
		t.Fatalf("%d retirements recorded, want 3", n)
	}

	// Expiry is recorded the first time RecordRetired runs after it.
	d = setup(t, [][]byte{y1}, rec{started, v1, 0}, rec{stopped, nil, 0})
	vs, _ = LoadVersions(d, v2, 24*time.Hour, time.Now())
	vs.RecordRetired(d, time.Now())
	if n := retirements(); n != 0 {
		t.Fatalf("a version within its grace period was recorded retired")
	}
	vs.RecordRetired(d, time.Now().Add(72*time.Hour))
	if n := retirements(); n != 1 {
		t.Fatalf("%d retirements recorded after the grace period, want 1", n)
	}

	// A revision that changes a question's type, and one of another
	// study, are refused; a version that no longer loads is named.
	d = setup(t, [][]byte{y1})
	bad, err := config.Parse("bad.yaml", []byte(strings.Replace(string(y1), "type: decimal, decimals: 1", "type: integer", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVersions(d, bad, grace, time.Now()); err == nil || !strings.Contains(err.Error(), `bad.yaml:`) || !strings.Contains(err.Error(), `question "hours"`) {
		t.Errorf("a question's type changed: %v", err)
	}
	other, err := config.Parse("other.yaml", []byte(strings.Replace(string(y1), "id: versions-test", "id: another-study", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVersions(d, other, grace, time.Now()); err == nil || !strings.Contains(err.Error(), "id: versions-test") {
		t.Errorf("another study id: %v", err)
	}
	broken := []byte("id: versions-test\nquestions: nope\n")
	if err := d.SaveVersion(broken); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVersions(d, v2, grace, time.Now()); err == nil || !strings.Contains(err.Error(), "no longer loads") || !strings.Contains(err.Error(), filepath.Join(d.Dir, "versions")) {
		t.Errorf("a version that does not load: %v", err)
	}
}

// FuzzVersionForms posts arbitrary bodies, with the version ids the
// server knows, to a server with an accepted earlier version and a
// retired one: the answer is a page, never a server error; nothing is
// stored but by a send that says so; a page carried to the current
// version posts only fields of the current version's questions.
func FuzzVersionForms(f *testing.F) {
	ids := identities(f, 2)
	v1, _ := versionStudy(f, false, ids...)
	old, _ := versionStudy(f, false, ids[1], ids[0])
	v2, _ := versionStudy(f, true, ids[0], ids[1])
	st := tempStoreTB(f)
	srv, err := New(Config{Study: v2, Store: st, Earlier: []EarlierVersion{
		{Study: v1, Until: time.Now().Add(time.Hour)},
		{Study: old}, // retired
	}})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	vs := []string{v1.Version(), old.Version(), v2.Version(), "", "0000"}
	for i, seed := range []string{
		"lang=en&step=2&q.used=yes&q.where=home&q.where=cafe&q.hours=1.5&q.removed=x",
		"lang=ru&step=3&q.used=no&q.story=%E4%B8%AD%0D%0A&q.consent=yes",
		"lang=ko&step=all&q.used=yes&q.used=no&q.where=cafe&q.where=cafe&q.added=y",
		"lang=en&q.used=no&q.consent=yes&q.story=short",
		"lang=en&step=1&nav=back&q.hours=1%2C5&q.story=" + strings.Repeat("x", 300),
	} {
		for j, v := range vs {
			path := []string{"/next", "/submit"}[(i+j)%2]
			f.Add(path, seed+"&v="+v)
		}
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		if path != "/next" && path != "/submit" {
			path = "/next"
		}
		before, _ := st.Pending()
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		page := w.Body.String()
		if w.Code >= 500 || !strings.Contains(page, "<html") {
			t.Fatalf("POST %s %q: status %d", path, body, w.Code)
		}
		after, _ := st.Pending()
		if len(after) != len(before) && (path != "/submit" || w.Code != http.StatusOK) {
			t.Fatalf("POST %s %q stored an envelope with status %d", path, body, w.Code)
		}
		if strings.Contains(page, "The questionnaire was updated") || strings.Contains(page, "설문이 바뀌였습니다") {
			if versionOfPage(page) != v2.Version() {
				t.Fatalf("POST %s %q: a carried page of version %q", path, body, versionOfPage(page))
			}
			for name := range pageFields(page) {
				id, ok := strings.CutPrefix(name, response.FieldPrefix)
				if ok && v2.Question(strings.TrimSuffix(id, response.WhenSuffix)) == nil {
					t.Fatalf("POST %s %q: the carried page posts %s, no question of version 2", path, body, name)
				}
			}
		}
	})
}

func versionOfPage(page string) string {
	m := regexp.MustCompile(`name="v" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}
