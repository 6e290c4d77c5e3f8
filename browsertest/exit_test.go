package browsertest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/testimony-project/testimony/config"
)

// TestQuickExitLeavesNothingOnBack presses the quick exit, then Back once,
// as someone would who must hide the screen and is then asked "what were
// you looking at?", and checks what Chromium shows: with JavaScript,
// nothing of the study, whether the questionnaire was reached from the
// landing page or the site is reached again from a later page; without
// JavaScript, nothing of the study after a step that was posted, and in
// any case no page title naming it (the tab, the history and Back's menu
// show the same neutral word on every page).
func TestQuickExitLeavesNothingOnBack(t *testing.T) {
	chromiumPath(t)
	st, _ := study(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, st, ln, "http://"+ln.Addr().String())

	t.Run("JavaScript on, from the questionnaire", func(t *testing.T) {
		ctx, _ := browser(t, true, "")
		do(t, ctx, "landing page", chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(chromedp.CSS(`#js-note`)))
		do(t, ctx, "start", click(`#start`), waitFor(`#tf[data-mode="all"]`), chromedp.WaitVisible(chromedp.CSS(`#js-note`)))
		do(t, ctx, "an answer", choose("phone_use", "own"))
		exitThenBack(t, ctx, s)
		checkNothingOfTheStudy(t, ctx, st, true)
	})

	t.Run("JavaScript on, back to the site from a later page", func(t *testing.T) {
		ctx, _ := browser(t, true, "")
		do(t, ctx, "landing page", chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(chromedp.CSS(`#js-note`)))
		// Somewhere else, by the address bar.
		do(t, ctx, "elsewhere", chromedp.Navigate(s.base+"/exit"), waitFor(`body`))
		do(t, ctx, "back", back(), chromedp.Sleep(time.Second))
		checkNothingOfTheStudy(t, ctx, st, true)
	})

	t.Run("JavaScript off, after a posted step", func(t *testing.T) {
		ctx, _ := browser(t, false, "")
		do(t, ctx, "landing page", chromedp.Navigate(s.base+"/"), waitFor(`#start`))
		do(t, ctx, "start", click(`#start`), waitFor(`input[name="step"][value="1"]`))
		do(t, ctx, "step 1", typeIn("departure_year", "2019"), choose("departure_province", "north_hamgyong"), choose("phone_use", "own"),
			click(`button[value="next"]`), waitFor(`input[name="step"][value="2"]`))
		exitThenBack(t, ctx, s)
		checkNothingOfTheStudy(t, ctx, st, true)
	})

	t.Run("JavaScript off, from the landing page", func(t *testing.T) {
		// The page comes back from the server (nothing is cached), and
		// shows the study: only its title is neutral. SECURITY.md says so.
		ctx, _ := browser(t, false, "")
		do(t, ctx, "landing page", chromedp.Navigate(s.base+"/"), waitFor(`#start`))
		exitThenBack(t, ctx, s)
		checkNothingOfTheStudy(t, ctx, st, false)
	})
}

// exitThenBack presses the quick exit, waits for its page, and presses
// Back once.
func exitThenBack(t *testing.T, ctx context.Context, s *site) {
	t.Helper()
	do(t, ctx, "quick exit", click(`#exit`), chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Cloudy")]`)))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.base+"/exit" {
		t.Fatalf("quick exit led to %s", loc)
	}
	do(t, ctx, "back", back(), chromedp.Sleep(time.Second))
}

// back goes one entry back in the history, as the Back button does,
// without waiting for a page to load: the entry may be restored from the
// back-forward cache, or be an error page (a posted page that is not
// posted again without asking).
func back() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		h, err := cdp.Call(ctx, t, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		if h.CurrentIndex < 1 {
			return errors.New("no page to go back to")
		}
		_, err = cdp.Call(ctx, t, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[h.CurrentIndex-1].ID})
		return err
	})
}

// checkNothingOfTheStudy checks that the tab's title, and with body the
// page itself, show nothing of the study.
func checkNothingOfTheStudy(t *testing.T, ctx context.Context, st *config.Study, body bool) {
	t.Helper()
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	for _, lang := range st.Langs() {
		name := st.Title.In(lang)
		if strings.Contains(title, name) {
			t.Errorf("after Back, at %s, the title %q names the study", loc, title)
		}
		if body && strings.Contains(text, name) {
			t.Errorf("after Back, at %s, the page shows the study's title %q:\n%.300s", loc, name, text)
		}
	}
	t.Logf("after Back: %s, title %q", loc, title)
}
