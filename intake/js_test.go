package intake

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/examples"
	"github.com/testimony-project/testimony/response"
	"github.com/testimony-project/testimony/store"
)

// naclSHA256 is the SHA-256 of static/nacl.min.js, tweetnacl 1.0.3 as
// published on npm (see web/VENDOR.md).
const naclSHA256 = "973cc5733cc7432e30ee4682098f413094f494bccf76a567c23908c5035ddbbc"

func TestVendoredNaCl(t *testing.T) {
	b, err := files.ReadFile("static/nacl.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != naclSHA256 {
		t.Fatalf("static/nacl.min.js has SHA-256 %x, want %s (tweetnacl 1.0.3): see web/VENDOR.md", sum, naclSHA256)
	}
	doc, err := os.ReadFile("../web/VENDOR.md")
	if err != nil || !bytes.Contains(doc, []byte(naclSHA256)) {
		t.Fatalf("web/VENDOR.md must record the hash %s (%v)", naclSHA256, err)
	}
}

// TestBrowserCodeKeepsNothing checks the served script for every way of
// keeping or sending data other than the sealed post: one fetch, to the
// action of the page's sealed form.
func TestBrowserCodeKeepsNothing(t *testing.T) {
	b, err := files.ReadFile("static/testimony.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"localStorage", "sessionStorage", "indexedDB", "document.cookie", "XMLHttpRequest", "WebSocket", "sendBeacon", "subtle", "eval(", "innerHTML", "Math.random", "console."} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("static/testimony.js uses %s", bad)
		}
	}
	if n := bytes.Count(b, []byte("fetch(")); n != 1 || !bytes.Contains(b, []byte("fetch(sealed.getAttribute('action'), {")) {
		t.Errorf("static/testimony.js calls fetch %d times, or not only to post the sealed form", n)
	}
}

func node(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the browser code's tests need Node.js 20 or later (apt-get install nodejs)")
	}
	return p
}

// TestNodeTests runs the browser code's own tests (web/test) under Node:
// every envelope test vector reproduced byte for byte, and the rules of
// package response.
func TestNodeTests(t *testing.T) {
	n := node(t)
	tests, _ := filepath.Glob("../web/test/*.test.js")
	if len(tests) == 0 {
		t.Fatal("no tests in web/test")
	}
	cmd := exec.Command(n, append([]string{"--test"}, tests...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test failed: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^# pass (\d+)$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("cannot read node's summary:\n%s", out)
	}
	t.Logf("node --test: %s tests passed", m[1])
}

func runTool(t *testing.T, req any, resp any) {
	t.Helper()
	in, _ := json.Marshal(req)
	cmd := exec.Command(node(t), "../web/tool.js")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node web/tool.js: %v\n%s", err, stderr.Bytes())
	}
	if err := json.Unmarshal(out, resp); err != nil {
		t.Fatalf("node web/tool.js: %v\n%s", err, out)
	}
}

// TestJSSealOpensInGo seals in JavaScript and opens in Go, for every
// recipient, and checks the envelope the way the server checks browser
// posts.
func TestJSSealOpensInGo(t *testing.T) {
	var ids []*envelope.Identity
	var keys []string
	for range 3 {
		id, _ := envelope.GenerateIdentity()
		ids = append(ids, id)
		keys = append(keys, id.Recipient().String())
	}
	for _, pt := range [][]byte{
		nil,
		[]byte(`{"v":1,"study":"js-go","lang":"ko","answers":{"story":"도서관 관리원 \"q\" 🙂\n中文"}}`),
		bytes.Repeat([]byte("가"), 3000),
	} {
		var resp struct{ Envelope string }
		runTool(t, map[string]any{"op": "seal", "study": "js-go", "recipients": keys, "plaintext": base64.StdEncoding.EncodeToString(pt)}, &resp)
		env, err := base64.StdEncoding.Strict().DecodeString(resp.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if err := envelope.Check("js-go", env, envelope.Size(len(pt), 5, 3)); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if len(env) != envelope.Size(len(pt), 5, 3) {
			t.Fatalf("envelope of %d bytes, want %d", len(env), envelope.Size(len(pt), 5, 3))
		}
		for i, id := range ids {
			got, err := envelope.Open("js-go", env, id)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("recipient %d: Open = %q, %v", i, got, err)
			}
		}
	}
}

// jsModel is the study as the browser script reads it from the page's
// data attributes, built by the same code that writes them.
func jsModel(s *Server) map[string]any {
	var qs []map[string]any
	l := i18n.NewLocalizer(s.bundle, "ko")
	for i := range s.c.Study.Questions {
		v := s.questionView(l, "ko", i, nil)
		num := func(x string) any {
			if x == "" {
				return nil
			}
			var n int
			fmt.Sscan(x, &n)
			return n
		}
		choices := []string{}
		for _, c := range v.Choices {
			choices = append(choices, c.Value)
		}
		var rel any
		if v.RelQ != "" {
			rel = map[string]any{"q": v.RelQ, "any": strings.Split(v.RelAny, " ")}
		}
		qs = append(qs, map[string]any{"id": v.ID, "type": v.Type, "required": v.Required, "min": num(v.Min), "max": num(v.Max), "maxLen": v.MaxLength, "choices": choices, "rel": rel})
	}
	return map[string]any{"id": s.c.Study.ID, "questions": qs}
}

// TestJSAnswersMatchGo runs the browser's checks and plaintext writer on
// many forms and compares them with response.FromForm and response.Marshal:
// the same problems, and for valid answers the same plaintext, byte for byte.
func TestJSAnswersMatchGo(t *testing.T) {
	node(t)
	st, err := config.Parse("nk.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Study: st, Store: tempStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	valid := url.Values{"q.departure_year": {"2019"}, "q.phone_use": {"own"}, "q.phone_activities": {"calls"}, "q.internet_use": {"inside"},
		"q.internet_first_used": {"2015"}, "q.internet_first_used.when": {"spring"}, "q.consent": {"yes"}}
	// Fix the choice values from the study, so the cases follow it.
	if st.Question("phone_activities").Choice("calls") == nil {
		valid.Set("q.phone_activities", st.Question("phone_activities").Choices[0].Value)
	}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range valid {
			v[k] = append([]string(nil), vs...)
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "\x00del" {
				v.Del(kv[i])
			} else {
				v.Add(kv[i], kv[i+1])
				v[kv[i]] = []string{kv[i+1]}
			}
		}
		return v
	}
	texts := []string{"", " ", "한 줄", "줄\r\n바꿈\r끝", "tab\tok", "ctl\x01", "del\x7f", "nel\u0085", "\ufffd", "ᄀ\u1161 jamo", "e\u0301",
		"\"quotes\" \\ </script> & <b>", "\u2028\u2029", "🙂🙂", strings.Repeat("가", 5000), strings.Repeat("가", 5001), "\u00a0", "\ufeff", "\u3000 x \u3000"}
	var forms []url.Values
	forms = append(forms, valid, url.Values{}, with("q.consent", "\x00del"), with("q.consent", "no"))
	for _, y := range []string{"", "19", "1979", "1980", "2027", "2028", "02019", "-2019", "２０１９", " 2019 ", "2019x", "1234567890"} {
		forms = append(forms, with("q.departure_year", y))
	}
	for _, d := range [][2]string{{"2019", ""}, {"", "05"}, {"2019", "13"}, {"2019", "00"}, {"2019", "winter"}, {"1989", ""}, {"201", ""}, {"2019", "Spring"}, {" 2019", " 05 "}} {
		forms = append(forms, with("q.internet_first_used", d[0], "q.internet_first_used.when", d[1]))
	}
	for _, x := range texts {
		forms = append(forms, with("q.testimony", x))
	}
	for _, p := range []string{"own", "borrowed", "never", "nonsense", ""} {
		forms = append(forms, with("q.phone_use", p))
	}
	pa := st.Question("phone_activities").Choices
	forms = append(forms, with("q.phone_activities", "zzz"))
	multi := with()
	multi["q.phone_activities"] = []string{pa[len(pa)-1].Value, pa[0].Value, ""}
	forms = append(forms, multi)
	all := with()
	all.Del("q.phone_activities")
	for _, c := range pa {
		all.Add("q.phone_activities", c.Value)
	}
	forms = append(forms, all)

	var cases []map[string]any
	for _, f := range forms {
		cases = append(cases, map[string]any{"lang": "ko", "form": f})
	}
	var got []struct {
		Answers  map[string][]string
		Problems map[string]struct {
			Code  string
			Limit int
		}
		Plaintext *string
	}
	runTool(t, map[string]any{"op": "answers", "model": jsModel(srv), "cases": cases}, &got)
	if len(got) != len(forms) {
		t.Fatalf("node answered %d cases, want %d", len(got), len(forms))
	}
	valids := 0
	for i, f := range forms {
		resp, problems, err := response.FromForm(st, "ko", f)
		if err != nil {
			t.Fatalf("case %d: FromForm: %v", i, err)
		}
		want := map[string]string{}
		for id, p := range problems {
			want[id] = fmt.Sprintf("%s %d", p.Code, p.Limit)
		}
		have := map[string]string{}
		for id, p := range got[i].Problems {
			have[id] = fmt.Sprintf("%s %d", p.Code, p.Limit)
		}
		if !reflect.DeepEqual(have, want) {
			t.Errorf("case %d %q: JavaScript finds problems %v, Go %v", i, f, have, want)
			continue
		}
		if len(resp.Answers) == 0 && len(got[i].Answers) == 0 {
			continue
		}
		if !reflect.DeepEqual(got[i].Answers, resp.Answers) {
			t.Errorf("case %d %q: JavaScript reads answers %q, Go %q", i, f, got[i].Answers, resp.Answers)
			continue
		}
		if problems == nil {
			valids++
			pt, err := response.Marshal(st, resp)
			if err != nil {
				t.Fatal(err)
			}
			if got[i].Plaintext == nil || *got[i].Plaintext != string(pt) {
				t.Errorf("case %d: JavaScript writes plaintext\n%v\nGo writes\n%s", i, got[i].Plaintext, pt)
			}
		}
	}
	if valids < 5 {
		t.Errorf("only %d valid cases: the comparison of plaintexts is too thin", valids)
	}
	t.Logf("%d forms compared, %d valid", len(forms), valids)
}

func tempStore(t *testing.T) *store.Store { return tempStoreTB(t) }

func tempStoreTB(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
