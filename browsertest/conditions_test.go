package browsertest

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
)

// TestConditionsJavaScriptOn fills a study with compound conditions and a
// constraint in Chromium: a section and a question appear for the answers
// they are for, and a broken constraint is explained with the study's
// message, in Korean, before anything is sent.
func TestConditionsJavaScriptOn(t *testing.T) {
	chromiumPath(t)
	id, err := envelope.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	st, err := config.Parse("conditions.yaml", fmt.Appendf(nil, `id: browser-conditions
title: {ko: 조건, en: Conditions, zh: 条件}
introduction: {ko: 소개, en: Intro, zh: 介绍}
recipients: [{name: 연구자, public_key: %s}]
sections:
  - id: phone
    label: {ko: 손전화, en: Phone, zh: 手机}
    relevant: "${born} >= 1970 and (selected(${tools}, 'phone') or count-selected(${tools}) >= 2)"
    questions: [phone_since]
questions:
  - {id: born, type: year, label: {ko: 난 해, en: Born, zh: 出生}}
  - id: tools
    type: multi_choice
    label: {ko: 도구, en: Tools, zh: 工具}
    choices:
      - {value: phone, label: {ko: 손전화, en: Phone, zh: 手机}}
      - {value: computer, label: {ko: 콤퓨터, en: Computer, zh: 电脑}}
      - {value: radio, label: {ko: 라지오, en: Radio, zh: 收音机}}
  - id: phone_since
    type: year
    constraint: . >= ${born} + 10
    constraint_message: {ko: 난 해보다 10년 뒤여야 합니다, en: Ten years after you were born, zh: 出生十年后}
    label: {ko: 언제부터, en: Since, zh: 从何时}
  - {id: consent, type: consent, label: {ko: 동의합니다, en: I agree, zh: 我同意}}
`, id.Recipient()))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, st, ln, "http://"+ln.Addr().String())
	ctx, _ := browser(t, true, "")
	hidden := func(q string) bool {
		_, h := attr(t, ctx, "#q-"+q, "hidden")
		return h
	}
	do(t, ctx, "form", chromedp.Navigate(s.base+"/form?lang=ko&all=1"), chromedp.WaitVisible(chromedp.CSS(`#js-note`)))
	if !hidden("phone_since") {
		t.Fatal("a question in a section shows before the answers it is for")
	}
	do(t, ctx, "born", typeIn("born", "1980"), choose("tools", "computer"))
	if !hidden("phone_since") {
		t.Fatal("the section shows for one tool that is not a phone")
	}
	do(t, ctx, "two tools", choose("tools", "radio"), chromedp.WaitVisible(chromedp.CSS(`#q-phone_since`)))
	do(t, ctx, "broken constraint", typeIn("phone_since", "1985"), click(`input[name="q.consent"]`),
		click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#q-phone_since p.problem`)))
	if p := html(t, ctx, "#q-phone_since p.problem"); !strings.Contains(p, "난 해보다 10년 뒤여야 합니다") {
		t.Fatalf("the constraint is not explained with the study's message:\n%s", p)
	}
	screenshot(t, ctx, "ko-js-constraint.png")
	do(t, ctx, "corrected", click(`input[name="q.phone_since"]`), chromedp.KeyEvent("\b\b\b\b"), typeIn("phone_since", "1990"),
		click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#review`)))
	if countPosts(s) != 0 {
		t.Fatal("the browser posted something before the person pressed send")
	}
}
