package browsertest

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/response"
)

// restart stops the site's server and serves the study st, with its
// earlier versions, at the same address and on the same store, as an
// operator restarting intake serve with a revised study does.
func (s *site) restart(t *testing.T, st *config.Study, earlier ...intake.EarlierVersion) {
	t.Helper()
	s.hs.Close()
	addr := strings.TrimPrefix(s.base, "http://")
	var ln net.Listener
	var err error
	for try := 0; try < 50; try++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	srv, err := intake.New(intake.Config{Study: st, Earlier: earlier, Store: s.store})
	if err != nil {
		t.Fatal(err)
	}
	s.serve(t, srv, ln)
	s.study = st
}

// TestResealAfterRecipientRemoved: a person fills the one-page form
// while version 1, sealed to two researchers, is served; before they
// press send, the server is restarted with version 2, which removes the
// second researcher. The envelope their browser seals is refused (409)
// with the current researchers, and the script seals the same answers
// to them and sends again, once, without the person doing anything: the
// receipt comes, the envelope stored opens for the first researcher
// only, and its plaintext still names version 1, whose questions the
// answers were given to.
func TestResealAfterRecipientRemoved(t *testing.T) {
	chromiumPath(t)
	file, v1, ids := studyFile(t)
	y := regexp.MustCompile(`(?m)^  - name: Researcher 2.*\n    public_key: .*\n`).ReplaceAllString(string(file), "")
	y = strings.Replace(y, "In what year did you leave North Korea?", "What year did you leave North Korea?", 1)
	v2, err := config.Parse("v2.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if len(v2.Recipients) != len(v1.Recipients)-1 {
		t.Fatalf("version 2 has %d researchers, want %d", len(v2.Recipients), len(v1.Recipients)-1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, v1, ln, "http://"+ln.Addr().String())
	ctx, n := browser(t, true, "")
	do(t, ctx, "form", chromedp.Navigate(s.base+"/form?lang=ko&all=1"), chromedp.WaitVisible(chromedp.CSS(`#js-note`)),
		typeIn("departure_year", "2019"), choose("phone_use", "own"), chromedp.WaitVisible(chromedp.CSS(`#q-phone_hours`)),
		typeIn("phone_hours", "2.5"), typeIn("testimony", story), click(`input[name="q.consent"]`),
		click(`#tf button[value="next"]`), chromedp.WaitVisible(chromedp.CSS(`#review`)))

	s.restart(t, v2, intake.EarlierVersion{Study: v1, Until: time.Now().Add(24 * time.Hour)})
	do(t, ctx, "send", click(`#review-send`), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "잘 받았습니다")]`)))
	screenshot(t, ctx, "ko-js-resealed-receipt.png")

	var statuses []int
	for _, e := range s.exchanges() {
		if e.Method == "POST" {
			if e.Path != "/sealed" {
				t.Errorf("the browser posted to %s", e.Path)
			}
			statuses = append(statuses, e.Status)
			for _, marker := range []string{"도서관", url.QueryEscape("도서관"), "answers"} {
				if strings.Contains(string(e.Body), marker) {
					t.Errorf("a post carried plaintext %q", marker)
				}
			}
		}
	}
	if !slices.Equal(statuses, []int{409, 200}) {
		t.Fatalf("posts to /sealed answered %v, want [409 200]: refused, then resealed and stored", statuses)
	}
	pending, _ := s.store.Pending()
	if len(pending) != 1 {
		t.Fatalf("%d envelopes stored, want 1", len(pending))
	}
	env, _ := s.store.Read(pending[0])
	keys, err := envelope.Recipients(env)
	if err != nil || len(keys) != 1 || keys[0] != ids[0].Recipient().X25519() {
		t.Fatalf("the stored envelope is sealed to %d keys (%v), want the first researcher's alone", len(keys), err)
	}
	if _, err := envelope.Open(v1.ID, env, ids[1]); !errors.Is(err, envelope.ErrNotRecipient) {
		t.Errorf("the removed researcher: %v, want ErrNotRecipient", err)
	}
	o, err := envelope.Open(v1.ID, env, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	r, err := response.Unmarshal(v1, o.Plaintext)
	if err != nil {
		t.Fatalf("the plaintext does not pass version 1's checks: %v", err)
	}
	if r.Version != v1.Version() || r.Answers["testimony"][0] != story || r.Answers["phone_hours"][0] != "2.5" {
		t.Errorf("stored %q for version %s", r.Answers, config.ShortVersion(r.Version))
	}
	checkSite(t, s, n)
}
