package intake

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
)

// conditionsStudy has conditions of every shape a note can describe, and
// some it cannot, and constraints with and without a message.
func conditionsStudy(t testing.TB) *config.Study {
	t.Helper()
	id, _ := envelope.GenerateIdentity()
	y := fmt.Sprintf(`id: conditions-test
title: {ko: 조건, en: Conditions, zh: 条件}
introduction: {ko: 소개, en: Intro, zh: 介绍}
recipients: [{name: 연구자, public_key: %s}]
sections:
  - id: later
    label: {ko: 나중, en: Later, zh: 以后}
    relevant: "${phone} = 'own' or ${phone} = 'borrowed'"
    questions: [in_section, in_section_too]
questions:
  - id: agree
    type: consent
    required: false
    label: {ko: 동의, en: Agree, zh: 同意}
  - id: phone
    type: single_choice
    label: {ko: 손전화, en: Phone, zh: 手机}
    choices:
      - {value: own, label: {ko: 내것, en: My own, zh: 自己的}}
      - {value: borrowed, label: {ko: 빌린것, en: Borrowed, zh: 借的}}
      - {value: "no", label: {ko: 없음, en: None, zh: 没有}}
  - id: uses
    type: multi_choice
    label: {ko: 쓰임, en: Uses, zh: 用途}
    choices:
      - {value: calls, label: {ko: 전화, en: Calls, zh: 电话}}
      - {value: texts, label: {ko: 통보문, en: Texts, zh: 短信}}
      - {value: photos, label: {ko: 사진, en: Photos, zh: 照片}}
  - id: born
    type: year
    label: {ko: 난 해, en: Born, zh: 出生}
  - {id: on_consent, type: short_text, relevant: "${agree} = 'yes'", label: {ko: 가, en: A, zh: 甲}}
  - {id: on_choice, type: short_text, relevant: "${phone} = 'own' or ${phone} = 'borrowed'", label: {ko: 나, en: B, zh: 乙}}
  - {id: on_not, type: short_text, relevant: "not(${phone} = 'no' or ${phone} = '')", label: {ko: 다, en: C, zh: 丙}}
  - {id: on_empty_too, type: short_text, relevant: "${phone} != 'no'", label: {ko: 라, en: D, zh: 丁}}
  - {id: on_multi, type: short_text, relevant: "selected(${uses}, 'texts') or selected(${uses}, 'photos')", label: {ko: 마, en: E, zh: 戊}}
  - {id: on_count, type: short_text, relevant: "count-selected(${uses}) = 1", label: {ko: 바, en: F, zh: 己}}
  - {id: on_two, type: short_text, relevant: "${phone} = 'own' and ${born} >= 1990", label: {ko: 사, en: G, zh: 庚}}
  - {id: in_section, type: short_text, label: {ko: 아, en: H, zh: 辛}}
  - {id: in_section_too, type: short_text, relevant: "${phone} != 'borrowed'", label: {ko: 자, en: I, zh: 壬}}
  - id: left
    type: year
    constraint: ${born} = '' or . >= ${born} + 10
    constraint_message: {ko: 난 해보다 10년 뒤, en: Ten years after you were born, zh: 出生十年后}
    label: {ko: 떠난 해, en: Left, zh: 离开}
  - {id: story, type: short_text, constraint: "string-length(.) > 2", label: {ko: 이야기, en: Story, zh: 故事}}
`, id.Recipient())
	s, err := config.Parse("conditions-test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRelevantNotes checks the notes that say whom a question is for on
// the one-page form read without JavaScript: they name the answers where
// that is certain, and the questions that decide otherwise.
func TestRelevantNotes(t *testing.T) {
	st := conditionsStudy(t)
	srv, err := New(Config{Study: st, Store: tempStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	l := i18n.NewLocalizer(srv.bundle, "en")
	for id, want := range map[string]string{
		"agree":          "",
		"on_consent":     "Answer only if you answered “I agree” to “Agree”.",
		"on_choice":      "Answer only if you answered “My own / Borrowed” to “Phone”.",
		"on_not":         "Answer only if you answered “My own / Borrowed” to “Phone”.",
		"on_empty_too":   "Whether this question is for you depends on your answers to “Phone”.",
		"on_multi":       "Answer only if you answered “Texts / Photos” to “Uses”.",
		"on_count":       "Whether this question is for you depends on your answers to “Uses”.",
		"on_two":         "Whether this question is for you depends on your answers to “Phone”, “Born”.",
		"in_section":     "Answer only if you answered “My own / Borrowed” to “Phone”.",
		"in_section_too": "Answer only if you answered “My own” to “Phone”.",
	} {
		i := st.QuestionIndex(id)
		if got := srv.questionView(srv.cur, l, "en", i, nil).RelevantNote; got != want {
			t.Errorf("%s: note %q\nwant %q", id, got, want)
		}
	}
	// In Korean, in the words of the North, with the study's labels.
	ko := i18n.NewLocalizer(srv.bundle, "ko")
	if got := srv.questionView(srv.cur, ko, "ko", st.QuestionIndex("on_two"), nil).RelevantNote; got != "이 물음에 대답할지는 앞의 물음 「손전화」, 「난 해」에 한 대답에 따라 정해집니다." {
		t.Errorf("Korean note: %q", got)
	}
}

// TestConditionsOnPages checks what the pages carry for the browser's
// script (the conditions as written, only on the one-page form) and how a
// broken constraint is shown without JavaScript: the study's message in
// the page's language, or the general one.
func TestConditionsOnPages(t *testing.T) {
	st := conditionsStudy(t)
	ts := startServer(t, st, t.TempDir())
	_, page := get(t, ts.base+"/form?all=1&lang=en")
	for _, want := range []string{
		`data-rel="${phone} = &#39;own&#39; and ${born} &gt;= 1990"`,
		`data-srel="${phone} = &#39;own&#39; or ${phone} = &#39;borrowed&#39;"`,
		`data-con="${born} = &#39;&#39; or . &gt;= ${born} &#43; 10" data-con-msg="Ten years after you were born"`,
		`data-con="string-length(.) &gt; 2">`,
		`<p class="cond">Answer only if you answered “I agree” to “Agree”.</p>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("one-page form lacks %s", want)
		}
	}
	// The attributes read back as the study file wrote them.
	for _, m := range regexp.MustCompile(`data-rel="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		found := false
		for i := range st.Questions {
			found = found || st.Questions[i].Relevant.String() == html.UnescapeString(m[1])
		}
		if !found {
			t.Errorf("data-rel %q is no condition of the study", html.UnescapeString(m[1]))
		}
	}
	_, step := get(t, ts.base+"/form?lang=en")
	if strings.Contains(step, "data-rel") || strings.Contains(step, "data-con") {
		t.Error("a step for browsers without JavaScript carries conditions it has no use for")
	}

	post := url.Values{"lang": {"en"}, "step": {"all"}, "q.born": {"1980"}, "q.left": {"1985"}, "q.story": {"ab"}}
	resp, body := postForm(t, http.DefaultClient, ts.base+"/next", post)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", resp.StatusCode)
	}
	for _, want := range []string{
		`<p class="problem" role="alert">Ten years after you were born</p>`,
		`<p class="problem" role="alert">This answer does not fit the question, or your earlier answers. Please check it.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	post.Set("lang", "zh")
	if _, body := postForm(t, http.DefaultClient, ts.base+"/next", post); !strings.Contains(body, "出生十年后") {
		t.Error("the constraint's message is not in the page's language")
	}
	post.Set("q.left", "1990")
	post.Set("q.story", "abc")
	post.Set("lang", "en")
	if resp, _ := postForm(t, http.DefaultClient, ts.base+"/next", post); resp.StatusCode != http.StatusOK {
		t.Errorf("answers that meet the constraints: status %d", resp.StatusCode)
	}
}

// TestJSConditionsMatchGo compares the browser's reading of forms with
// Go's on conditionsStudy, whose conditions the rich study lacks.
func TestJSConditionsMatchGo(t *testing.T) {
	node(t)
	st := conditionsStudy(t)
	srv, err := New(Config{Study: st, Store: tempStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	var forms []url.Values
	for _, phone := range []string{"", "own", "borrowed", "no"} {
		for _, uses := range [][]string{nil, {"calls"}, {"texts"}, {"calls", "photos"}, {"calls", "texts", "photos"}} {
			for _, born := range []string{"", "1989", "1990", "x"} {
				f := url.Values{"q.agree": {"yes"}, "q.uses": uses, "q.born": {born}, "q.left": {"2005"}, "q.story": {"abc"}}
				if phone != "" {
					f.Set("q.phone", phone)
				}
				for _, id := range []string{"on_consent", "on_choice", "on_not", "on_empty_too", "on_multi", "on_count", "on_two", "in_section", "in_section_too"} {
					f.Set("q."+id, "x")
				}
				forms = append(forms, f)
			}
		}
	}
	compareJS(t, srv, goAnswers(t, st, st.Languages, forms))
}
