package browsertest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// eval returns the value of a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// checked reports whether the choice value of question q is ticked.
func checked(t *testing.T, ctx context.Context, q, value string) bool {
	return eval[bool](t, ctx, `document.querySelector('input[name="q.`+q+`"][value="`+value+`"]').checked`)
}

func hiddenEl(t *testing.T, ctx context.Context, sel string) bool {
	_, h := attr(t, ctx, sel, "hidden")
	return h
}

// TestRicherModelJavaScriptOn fills the example study's sections, note,
// decimal question, exclusive choices and optional consent with
// JavaScript on: a section shows, heading and note included, only for
// the answers it is for; ticking "none of these" unticks the other
// choices and the reverse; a decimal written with a comma is explained
// as a decimal; the optional consent says it is optional.
func TestRicherModelJavaScriptOn(t *testing.T) {
	chromiumPath(t)
	st, _ := study(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, st, ln, "http://"+ln.Addr().String())
	ctx, _ := browser(t, true, "")
	do(t, ctx, "form", chromedp.Navigate(s.base+"/form?lang=ko&all=1"), chromedp.WaitVisible(chromedp.CSS(`#js-note`)))

	// A section: hidden with its heading and note until it applies.
	if !hiddenEl(t, ctx, "#s-internet_inside") {
		t.Fatal("the section about the internet inside the country shows before it applies")
	}
	do(t, ctx, "inside", choose("internet_use", "inside"), chromedp.WaitVisible(chromedp.CSS(`#s-internet_inside`)),
		chromedp.WaitVisible(chromedp.CSS(`#q-internet_inside_note`)), chromedp.ScrollIntoView(chromedp.CSS(`#s-internet_inside`)))
	if sec := html(t, ctx, "#s-internet_inside"); !strings.Contains(sec, "<h2>북 안에서 인터네트를 쓸 때</h2>") || strings.Contains(sec, `name="q.internet_inside_note"`) {
		t.Fatalf("the section lacks its heading, or its note has a field:\n%s", sec)
	}
	screenshot(t, ctx, "ko-js-section.png")
	do(t, ctx, "abroad", choose("internet_use", "abroad"), chromedp.WaitNotVisible(chromedp.CSS(`#s-internet_inside`)))
	if !hiddenEl(t, ctx, "#s-internet_inside") || !checked(t, ctx, "internet_use", "abroad") {
		t.Fatal("the section still shows after the answer changed")
	}

	// Exclusive choices.
	do(t, ctx, "phone", choose("phone_use", "own"), chromedp.WaitVisible(chromedp.CSS(`#q-phone_monitoring`)),
		choose("phone_monitoring", "calls_listened"), choose("phone_monitoring", "street_inspection"))
	if !checked(t, ctx, "phone_monitoring", "calls_listened") || !checked(t, ctx, "phone_monitoring", "street_inspection") {
		t.Fatal("two ordinary choices do not stay ticked together")
	}
	do(t, ctx, "none", choose("phone_monitoring", "none"))
	if !checked(t, ctx, "phone_monitoring", "none") || checked(t, ctx, "phone_monitoring", "calls_listened") || checked(t, ctx, "phone_monitoring", "street_inspection") {
		t.Fatal("ticking “none of these” did not untick the other choices")
	}
	do(t, ctx, "another", choose("phone_monitoring", "calls_listened"))
	if checked(t, ctx, "phone_monitoring", "none") || !checked(t, ctx, "phone_monitoring", "calls_listened") {
		t.Fatal("ticking a choice did not untick “none of these”")
	}

	// A decimal with a comma, explained as such before anything is sent.
	if q := html(t, ctx, "#q-phone_hours"); !strings.Contains(q, `inputmode="decimal"`) || !strings.Contains(q, "소수점 아래는 1자리까지") {
		t.Errorf("the decimal question lacks its keyboard or its hint:\n%s", q)
	}
	if q := html(t, ctx, "#q-quote_consent"); !strings.Contains(q, "(표시하지 않아도 됨)") {
		t.Errorf("the optional consent does not say it is optional:\n%s", q)
	}
	do(t, ctx, "decimal", typeIn("phone_hours", "1,5"), click(`input[name="q.consent"]`), click(`#tf button[value="next"]`),
		chromedp.WaitVisible(chromedp.CSS(`#q-phone_hours p.problem`)), chromedp.ScrollIntoView(chromedp.CSS(`#q-phone_hours`)))
	if p := html(t, ctx, "#q-phone_hours p.problem"); !strings.Contains(p, "소수는 점을 찍어 쓰고") {
		t.Fatalf("the decimal mistake is not explained as one:\n%s", p)
	}
	screenshot(t, ctx, "ko-js-decimal-mistake.png")
	do(t, ctx, "corrected", click(`input[name="q.phone_hours"]`), chromedp.KeyEvent("\b\b\b"), typeIn("phone_hours", "1.5"),
		click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#review`)))
	if r := html(t, ctx, "#review"); !strings.Contains(r, "1.5") || strings.Contains(r, "겪거나 본 적이 없습니다") {
		t.Errorf("the review lacks the decimal, or shows the unticked exclusive choice:\n%s", r)
	}
	if countPosts(s) != 0 {
		t.Fatal("the browser posted something before the person pressed send")
	}
}

// TestRicherModelJavaScriptOff walks the example study's steps without
// JavaScript: the section is a step with its heading and note, and an
// exclusive choice ticked with another and a decimal written with a comma
// are explained by the server in Korean, answers kept.
func TestRicherModelJavaScriptOff(t *testing.T) {
	chromiumPath(t)
	st, _ := study(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, st, ln, "http://"+ln.Addr().String())
	ctx, _ := browser(t, false, "")
	do(t, ctx, "step 1", chromedp.Navigate(s.base+"/form?lang=ko"), waitFor(`input[name="step"][value="1"]`),
		choose("phone_use", "own"), click(`button[value="next"]`), waitFor(`input[name="step"][value="2"]`))
	if q := html(t, ctx, "#q-phone_hours"); !strings.Contains(q, "소수점 아래는 1자리까지") {
		t.Errorf("the decimal question lacks its hint:\n%s", q)
	}
	do(t, ctx, "step 2", typeIn("phone_hours", "1,5"), choose("phone_monitoring", "calls_listened"), choose("phone_monitoring", "none"),
		choose("intranet_use", "never"), click(`button[value="next"]`), waitFor(`#q-phone_monitoring p.problem`))
	page := html(t, ctx, "main")
	for _, want := range []string{"다른 대답과 함께 고를 수 없는 대답이 있습니다: 「겪거나 본 적이 없습니다」.", "소수는 점을 찍어 쓰고", `value="none" checked`, `value="1,5"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the step lacks %q", want)
		}
	}
	screenshot(t, ctx, "ko-nojs-exclusive-decimal.png")
	do(t, ctx, "corrected", click(`input[name="q.phone_monitoring"][value="calls_listened"]`), click(`input[name="q.phone_hours"]`),
		chromedp.KeyEvent("\b\b\b"), typeIn("phone_hours", "1.5"), click(`button[value="next"]`), waitFor(`input[name="step"][value="3"]`),
		choose("internet_use", "inside"), click(`button[value="next"]`), waitFor(`input[name="step"][value="4"]`))
	page = html(t, ctx, "main")
	for _, want := range []string{"<h2>북 안에서 인터네트를 쓸 때</h2>", `class="text"`, "북 안의 여러 곳에서 인터네트를 썼다면"} {
		if !strings.Contains(page, want) {
			t.Errorf("the section's step lacks %q", want)
		}
	}
	screenshot(t, ctx, "ko-nojs-section.png")
	if p, _ := s.store.Pending(); len(p) != 0 {
		t.Fatal("something was stored before the person sent it")
	}
}
