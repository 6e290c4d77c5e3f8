package intake

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/examples"
)

func exampleStudy(t testing.TB) *config.Study {
	t.Helper()
	st, err := config.Parse("nk.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPagesForTheRicherModel checks how the example study's sections,
// notes, decimal questions, exclusive choices and optional consent are
// shown, on the one-page form and on the steps.
func TestPagesForTheRicherModel(t *testing.T) {
	st := exampleStudy(t)
	ts := startServer(t, st, t.TempDir())
	_, page := get(t, ts.base+"/form?all=1&lang=en")
	for _, want := range []string{
		// A section: its heading, around its questions.
		"<section id=\"s-internet_inside\" class=\"sec\">\n<h2>Using the internet inside North Korea</h2>",
		// A note: text to read, no field.
		`<div id="q-internet_inside_note" class="text" data-q="internet_inside_note" data-type="note" data-srel=`,
		`<p class="label">If you used the internet in more than one place inside North Korea, answer the questions below for the place you used it most.</p>`,
		// A decimal question: the keyboard for decimals, and how to write one.
		`<p class="help">Write a number, with a point for a fraction, as in 2.5. Digits after the point: at most 1.</p>`,
		`<input type="text" inputmode="decimal" name="q.phone_hours"`,
		`data-decimals="1"`,
		// Exclusive choices, for the script.
		`<input type="checkbox" name="q.phone_monitoring" value="none" data-exclusive="1">`,
		// Optional and required consent.
		`<span class="label">You may quote my own words, without my name, in research reports.</span> <span class="req">(optional)</span>`,
		`<span class="label">I agree that my answers may be used for research.</span> <span class="req">(required)</span>`,
		// Messages for the script.
		`data-p-not_a_decimal="Write a number only, with a point for a fraction (for example 2.5): no commas, spaces or units."`,
		`data-p-exclusive_choice="“{choice}” cannot be ticked together with other answers: untick one or the other."`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("one-page form lacks %s", want)
		}
	}
	if strings.Contains(page, `name="q.internet_inside_note"`) {
		t.Error("a note has a field")
	}
	// Notes are not numbered: the question after the note follows the
	// one before it.
	num := func(id string) int {
		m := regexp.MustCompile(`id="q-` + id + `"[^>]*>\n<legend><span class="num">(\d+)\.`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no number for %s", id)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if a, b := num("internet_where"), num("access_approval"); b != a+1 {
		t.Errorf("internet_where is %d, access_approval %d: the note between them took a number", a, b)
	}

	// Without JavaScript, the section's step has its heading and note.
	f := url.Values{"lang": {"ko"}, "step": {"1"}, "q.phone_use": {"no"}, "q.intranet_use": {"never"}, "q.internet_use": {"inside"}}
	var body string
	for i := 0; i < 10 && !strings.Contains(body, `<section id="s-internet_inside"`); i++ {
		body, f = walk(t, ts.base, "/next", f, 200)
		f.Set("nav", "next")
	}
	for _, want := range []string{"<h2>북 안에서 인터네트를 쓸 때</h2>", `class="text"`, "북 안의 여러 곳에서 인터네트를 썼다면"} {
		if !strings.Contains(body, want) {
			t.Errorf("the section's step lacks %s", want)
		}
	}
	if strings.Contains(body, "data-srel") || strings.Contains(body, "data-rel") {
		t.Error("a step carries conditions for a script")
	}

	// A decimal written with a comma, and an exclusive choice ticked with
	// another: each explained in words that fit it.
	f = url.Values{"lang": {"en"}, "step": {"all"}, "q.phone_use": {"own"}, "q.phone_hours": {"1,5"}, "q.phone_monitoring": {"calls_listened", "none"}}
	for lang, want := range map[string][]string{
		"en": {"Write a number only, with a point for a fraction", "“None of these” cannot be ticked together with other answers"},
		"ko": {"소수는 점을 찍어 쓰고", "다른 대답과 함께 고를 수 없는 대답이 있습니다: 「겪거나 본 적이 없습니다」."},
		"zh": {"小数用小数点（例如 2.5）", "“都没有”不能和其他回答同时勾选"},
	} {
		f.Set("lang", lang)
		walk(t, ts.base, "/next", f, http.StatusUnprocessableEntity, want...)
	}
	f.Set("q.phone_hours", "1.25")
	f.Set("lang", "en")
	walk(t, ts.base, "/next", f, http.StatusUnprocessableEntity, "Digits after the decimal point: at most 1.")
}

// TestLanguageWithoutCatalog serves a study written in Korean and
// Russian: pages in Russian show the study's texts in Russian and
// intake's own words in English, and the language links name each
// language in itself.
func TestLanguageWithoutCatalog(t *testing.T) {
	id := identities(t, 1)[0]
	st, err := config.Parse("ru.yaml", fmt.Appendf(nil, `id: ru-test
languages: [ko, ru]
title: {ko: 조사, ru: Опрос}
introduction: {ko: 소개, ru: Введение}
recipients: [{name: Исследователь, public_key: %s}]
questions:
  - {id: story, type: long_text, label: {ko: 이야기, ru: Ваша история}}
  - {id: consent, type: consent, label: {ko: 동의, ru: Согласие}}
`, id.Recipient()))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, t.TempDir())
	for _, path := range []string{"/?lang=ru", "/form?lang=ru", "/form?all=1&lang=ru"} {
		_, body := get(t, ts.base+path)
		for _, want := range []string{`<html lang="ru">`, "Опрос", "Quick exit", `<strong>русский</strong>`, `hreflang="ko" lang="ko">조선말</a>`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
	}
	_, form := get(t, ts.base+"/form?lang=ru")
	if !strings.Contains(form, "Ваша история") || !strings.Contains(form, ">Next</button>") {
		t.Errorf("the Russian step lacks the study's text or English buttons:\n%s", form)
	}
	walk(t, ts.base, "/submit", url.Values{"lang": {"ru"}, "q.story": {"история"}, "q.consent": {"yes"}}, 200, "Received")
}

// BenchmarkStepPosts posts the first step of a questionnaire of 500
// questions, each shown only when the one before was answered "yes",
// answered "no": the server goes through 499 steps, none shown, to the
// review. Which questions are shown is decided once per request, so the
// cost grows with the number of questions, not its square.
func BenchmarkStepPosts(b *testing.B) {
	id := identities(b, 1)[0]
	var y strings.Builder
	fmt.Fprintf(&y, "id: chain\ntitle: {ko: t, en: t, zh: t}\nintroduction: {ko: i, en: i, zh: i}\nrecipients: [{name: r, public_key: %s}]\nquestions:\n", id.Recipient())
	for i := range 500 {
		fmt.Fprintf(&y, "  - id: q%d\n    type: single_choice\n    label: {ko: q, en: q, zh: q}\n    choices: [{value: \"yes\", label: {ko: y, en: y, zh: y}}, {value: \"no\", label: {ko: n, en: n, zh: n}}]\n", i)
		if i > 0 {
			fmt.Fprintf(&y, "    relevant: \"${q%d} = 'yes'\"\n", i-1)
		}
	}
	st, err := config.Parse("chain.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{Study: st, Store: tempStoreTB(b)})
	if err != nil {
		b.Fatal(err)
	}
	if n := len(srv.cur.steps); n != 500 {
		b.Fatalf("%d steps, want 500", n)
	}
	h := srv.Handler()
	body := url.Values{"lang": {"en"}, "step": {"1"}, "q.q0": {"no"}}.Encode()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest("POST", "/next", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Check before you send") {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
