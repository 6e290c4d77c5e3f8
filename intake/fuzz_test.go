package intake

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzStepForm posts arbitrary bodies to the step, submit and sealed
// handlers, and to the come-back page's send: the answer is a page, never
// a server error, and nothing but a valid submission is stored. (Posts to
// /submit decline a return passphrase, and /back is left out: each would
// cost a derivation, 0.3 s; returnkey's fuzzers read passphrases.)
func FuzzStepForm(f *testing.F) {
	s, _ := testStudyAndKey(f)
	st := tempStoreTB(f)
	srv, err := New(Config{Study: s, Store: st})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	for _, seed := range []string{
		"lang=ko&step=1&q.used=yes",
		"lang=en&step=2&nav=back&q.used=yes&q.where=home&q.when=2019&q.when.when=05",
		"lang=zh&step=all&q.used=no&q.consent=yes",
		"lang=ko&step=1&nav=2&v=00",
		"step=1&step=2",
		"lang=ko&step=2&q.story=%E4%B8%AD%0D%0A&q.consent=yes&q.used=no",
		"q.where=home&q.where=home&step=2",
		"%zz",
		"step=-1&nav=0",
	} {
		f.Add("/next", seed)
	}
	f.Add("/submit", "lang=ko&q.used=no&q.consent=yes")
	f.Add("/sealed", "lang=ko&envelope=AAAA")
	key := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	f.Add("/back/send", "lang=ko&key="+key+"&kind=addition&text=%EB%8D%94")
	f.Add("/back/send", "lang=en&key="+key+"&kind=withdrawal")
	f.Add("/back/send", "lang=en&key="+key+"&kind=withdrawal&confirm=yes")
	f.Add("/back/send", "lang=zh&key="+key+"&kind=followup&reply=abcdefghijklmnopqrstuvwxyz&q.year=2019")
	f.Add("/back/send", "lang=ko&key="+key+"&nav=cancel")
	f.Fuzz(func(t *testing.T, path, body string) {
		switch path {
		case "/next", "/sealed", "/back/send":
		case "/submit":
			body += "&" + NoReturnField + "=1"
		default:
			path = "/next"
		}
		before, _ := st.Pending()
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("POST %s %q: status %d", path, body, w.Code)
		}
		if !strings.Contains(w.Body.String(), "<html") {
			t.Fatalf("POST %s %q: not a page", path, body)
		}
		after, _ := st.Pending()
		if len(after) != len(before) && (path != "/submit" && path != "/back/send" || w.Code != http.StatusOK) {
			t.Fatalf("POST %s %q stored an envelope with status %d", path, body, w.Code)
		}
	})
}
