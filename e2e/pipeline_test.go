package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/testimony-project/testimony/internal/clitest"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/oplog"
	"github.com/testimony-project/testimony/researcher"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

type harness struct {
	t     *testing.T
	dir   string
	study *config.Study
	ids   []*envelope.Identity
	data  *intake.Data
	base  string
	logs  *clitest.Buffer
	log   oplog.Logger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), logs: &clitest.Buffer{}}
	h.log = oplog.New(h.logs)
	var rs []*envelope.Recipient
	for range 2 {
		id, err := envelope.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		h.ids = append(h.ids, id)
		rs = append(rs, id.Recipient())
	}
	h.study, _ = loadStudy(t, "e2e-study", rs...)
	var err error
	h.data, err = intake.OpenData(filepath.Join(h.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.data.Close() })
	if err := h.data.BindStudy(h.study.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.data.Record(audit.ServiceStarted(h.study.SHA256, time.Now())); err != nil {
		t.Fatal(err)
	}
	srv, err := intake.New(intake.Config{Study: h.study, Store: h.data.Store, Log: h.log,
		Stored: func(sum [32]byte, day time.Time) error { return h.data.Record(audit.SubmissionStored(sum, day)) }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.HTTPServer()
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	h.base = "http://" + ln.Addr().String()
	return h
}

func (h *harness) post(path, contentType string, body []byte) (int, string) {
	h.t.Helper()
	resp, err := http.Post(h.base+path, contentType, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) postForm(v url.Values) (int, string) {
	return h.post("/submit", "application/x-www-form-urlencoded", []byte(v.Encode()))
}

func (h *harness) postEnvelope(env []byte) (int, string) {
	v := url.Values{"envelope": {base64.StdEncoding.EncodeToString(env)}, "lang": {"ko"}}
	return h.post("/sealed", "application/x-www-form-urlencoded", []byte(v.Encode()))
}

// sealLikeBrowser seals answers as the browser does, without the server.
func (h *harness) sealLikeBrowser(lang string, answers map[string][]string) []byte {
	h.t.Helper()
	r := &response.Response{Study: h.study.ID, Language: lang, Answers: answers}
	if ps := response.Validate(h.study, r); ps != nil {
		h.t.Fatalf("test answers invalid: %v", ps)
	}
	pt, err := response.Marshal(h.study, r)
	if err != nil {
		h.t.Fatal(err)
	}
	var rs []*envelope.Recipient
	for _, id := range h.ids {
		rs = append(rs, id.Recipient())
	}
	env, err := envelope.Seal(h.study.ID, pt, rs)
	if err != nil {
		h.t.Fatal(err)
	}
	return env
}

// form turns expected answers into a form post, as a browser would send it.
func form(lang string, answers map[string][]string) url.Values {
	v := url.Values{"lang": {lang}}
	for id, vals := range answers {
		if id == "first_time" {
			year, when, _ := strings.Cut(vals[0], "-")
			v.Set("q."+id, year)
			v.Set("q."+id+".when", when)
			continue
		}
		v["q."+id] = vals
	}
	return v
}

func uniqueMarker() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "MARKER-" + hex.EncodeToString(b)
}

type submission struct {
	lang    string
	answers map[string][]string
}

func canonical(lang string, answers map[string][]string) string {
	keys := slices.Sorted(maps.Keys(answers))
	var b strings.Builder
	b.WriteString(lang)
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s=%q", k, answers[k])
	}
	return b.String()
}

func TestPipelineEndToEnd(t *testing.T) {
	h := newHarness(t)
	marker := uniqueMarker()
	tricky := "도서관 관리원이 옆에 앉아 \"감시\"했다, 5분마다 화면이 멈췄다\r\n지문으로 다시 인증했다 🙂 中文,\"引号\"\r\n\r\n끝"
	maxAlias := strings.Repeat("평", 40)
	maxStory := strings.Repeat("가🙂中", 1000) // 3000 characters, 10,000 bytes
	if utf8.RuneCountInString(maxStory) != 3000 {
		t.Fatal("bad test data")
	}

	viaForm := []submission{
		{"ko", map[string][]string{"left_year": {"2019"}, "province": {"ryanggang"}, "phone": {"yes"}, "phone_seen": {"screenshots", "fingerprint"}, "alias": {"김, \"별명\""}, "hours": {"3"}, "first_time": {"2015-spring"}, "story": {tricky}, "consent": {"yes"}}},
		{"en", map[string][]string{"left_year": {"1990"}, "phone": {"yes"}, "phone_seen": {"inspection"}, "alias": {maxAlias}, "story": {maxStory}, "consent": {"yes"}}},
		{"zh", map[string][]string{"left_year": {"2026"}, "phone": {"no"}, "hours": {"0"}, "first_time": {"2001-07"}, "consent": {"yes"}}},
		{"ko", map[string][]string{"left_year": {"2012"}, "phone": {"no"}, "story": {"=HYPERLINK(\"http://example.invalid\",\"click\")"}, "consent": {"yes"}}},
		{"ko", map[string][]string{"left_year": {"2020"}, "phone": {"no"}, "story": {"증언 " + marker + " 끝"}, "consent": {"yes"}}},
	}
	viaSealed := []submission{
		{"ko", map[string][]string{"left_year": {"2018"}, "phone": {"yes"}, "phone_seen": {"screenshots", "inspection", "fingerprint"}, "story": {"브라우저에서 잠근 증언\n둘째 줄"}, "consent": {"yes"}}},
		{"en", map[string][]string{"left_year": {"2010"}, "phone": {"no"}, "first_time": {"2009"}, "consent": {"yes"}}},
		{"zh", map[string][]string{"left_year": {"2022"}, "phone": {"yes"}, "phone_seen": {"fingerprint"}, "alias": {"- starts with a dash"}, "consent": {"yes"}}},
	}

	// Without JavaScript the marker travels through every step before the
	// final post: it must not stick anywhere on the way either.
	for _, step := range []string{"1", "2", "all"} {
		f := form("ko", viaForm[4].answers)
		f.Set("step", step)
		code, body := h.post("/next", "application/x-www-form-urlencoded", []byte(f.Encode()))
		if code != http.StatusOK || !strings.Contains(body, marker) {
			t.Fatalf("step %s: status %d, or the answers were not carried to the next page", step, code)
		}
	}
	for i, s := range viaForm {
		code, body := h.postForm(form(s.lang, s.answers))
		if code != http.StatusOK {
			t.Fatalf("form submission %d: status %d\n%s", i, code, body)
		}
	}
	// An irrelevant follow-up is dropped by the server, as the page hides it.
	irrelevant := form("ko", map[string][]string{"left_year": {"2000"}, "phone": {"no"}, "phone_seen": {"screenshots"}, "consent": {"yes"}})
	if code, body := h.postForm(irrelevant); code != http.StatusOK {
		t.Fatalf("irrelevant follow-up: status %d\n%s", code, body)
	}
	viaForm = append(viaForm, submission{"ko", map[string][]string{"left_year": {"2000"}, "phone": {"no"}, "consent": {"yes"}}})
	for i, s := range viaSealed {
		if code, body := h.postEnvelope(h.sealLikeBrowser(s.lang, s.answers)); code != http.StatusOK {
			t.Fatalf("sealed submission %d: status %d\n%s", i, code, body)
		}
	}

	// Invalid submissions: each gets a clear 4xx and stores nothing.
	before, _ := h.data.Store.Pending()
	for _, c := range invalidSubmissions(h) {
		code, body := h.post(c.path, c.ctype, c.body)
		if code != c.status {
			t.Errorf("%s: status %d, want %d\n%s", c.name, code, c.status, body)
		}
		if !strings.Contains(body, "<html") || strings.Contains(body, "goroutine") || strings.Contains(body, "panic") {
			t.Errorf("%s: response is not a plain localized page:\n%s", c.name, body)
		}
	}
	after, _ := h.data.Store.Pending()
	if len(after) != len(before) {
		t.Fatalf("invalid submissions stored %d envelopes", len(after)-len(before))
	}

	// Export, then decrypt offline with the second researcher's key.
	batchPath := filepath.Join(h.dir, "batch.tar")
	m, err := h.data.Export(batchPath, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != len(viaForm)+len(viaSealed) {
		t.Fatalf("batch has %d envelopes, want %d", len(m.Entries), len(viaForm)+len(viaSealed))
	}
	if _, err := h.data.Export(filepath.Join(h.dir, "again.tar"), time.Now()); !errors.Is(err, intake.ErrNothingToExport) {
		t.Fatalf("second export: %v, want ErrNothingToExport", err)
	}
	verifier, err := note.NewVerifier(h.data.ServerKey())
	if err != nil {
		t.Fatal(err)
	}
	wsDir := filepath.Join(h.dir, "workspace")
	rows := importBatch(t, wsDir, h.study, h.ids[1], verifier, batchPath, len(viaForm)+len(viaSealed))

	// The JSONL holds exactly what was submitted, nothing more.
	want := map[string]int{}
	for _, s := range append(slices.Clone(viaForm), viaSealed...) {
		norm := map[string][]string{}
		for k, v := range s.answers {
			if k == "story" || k == "alias" {
				v = []string{response.NormalizeText(v[0])}
			}
			norm[k] = v
		}
		want[canonical(s.lang, norm)]++
	}
	got := map[string]int{}
	names := map[string]bool{}
	for _, r := range rows {
		got[canonical(r.Language, decodeAnswers(t, h.study, r.Answers))]++
		if names[r.Pseudonym] {
			t.Fatalf("pseudonym %s used twice", r.Pseudonym)
		}
		names[r.Pseudonym] = true
	}
	if !maps.Equal(got, want) {
		t.Fatalf("decrypted testimonies differ from what was submitted:\ngot  %v\nwant %v", got, want)
	}
	checkCSV(t, wsDir, h.study, rows)

	// Re-running on the same batch changes nothing.
	again := importBatch(t, wsDir, h.study, h.ids[1], verifier, batchPath, len(rows))
	for i := range rows {
		if rows[i].Pseudonym != again[i].Pseudonym {
			t.Fatalf("pseudonym changed on re-import: %s → %s", rows[i].Pseudonym, again[i].Pseudonym)
		}
	}
	for _, f := range []string{"testimonies.csv", "testimonies.jsonl", "codebook.csv"} {
		data, err := os.ReadFile(filepath.Join(wsDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, forbidden := range append(slices.Collect(func(yield func(string) bool) {
			for _, e := range m.Entries {
				if !yield(e.ID) || !yield(hex.EncodeToString(e.SHA256[:])) {
					return
				}
			}
		}), "2026-") {
			if bytes.Contains(data, []byte(forbidden)) {
				t.Fatalf("%s contains %q: exports must not hold envelope ids, hashes or arrival days", f, forbidden)
			}
		}
	}

	// The marker typed into the plain form is nowhere on the server's disk or in its log
	// (with the day's counts written, as at shutdown).
	h.log.Flush()
	checkNoMarker(t, filepath.Join(h.dir, "data"), h.logs.Bytes(), marker)
}

type badCase struct {
	name, path, ctype string
	body              []byte
	status            int
}

func invalidSubmissions(h *harness) []badCase {
	formType := "application/x-www-form-urlencoded"
	ok := map[string][]string{"left_year": {"2019"}, "phone": {"no"}, "consent": {"yes"}}
	with := func(k string, v ...string) []byte {
		f := form("ko", ok)
		f["q."+k] = v
		return []byte(f.Encode())
	}
	good := h.sealLikeBrowser("ko", ok)
	otherStudy := func() []byte {
		var rs []*envelope.Recipient
		for _, id := range h.ids {
			rs = append(rs, id.Recipient())
		}
		env, _ := envelope.Seal("other-study", []byte("{}"), rs)
		return env
	}()
	sealed := func(env []byte) []byte {
		return []byte(url.Values{"envelope": {base64.StdEncoding.EncodeToString(env)}}.Encode())
	}
	return []badCase{
		{"missing required", "/submit", formType, []byte(form("ko", map[string][]string{"phone": {"no"}, "consent": {"yes"}}).Encode()), 422},
		{"no consent", "/submit", formType, []byte(form("ko", map[string][]string{"left_year": {"2019"}, "phone": {"no"}}).Encode()), 422},
		{"year out of range", "/submit", formType, with("left_year", "1989"), 422},
		{"text too long", "/submit", formType, with("alias", strings.Repeat("가", 41)), 422},
		{"not a choice", "/submit", formType, with("province", "seoul"), 422},
		{"bad date", "/submit", formType, append(with("first_time", "2019"), []byte("&q.first_time.when=13")...), 422},
		{"control character", "/submit", formType, with("alias", "a\x00b"), 422},
		{"not UTF-8", "/submit", formType, []byte(form("ko", ok).Encode() + "&q.alias=%ff%fe"), 400},
		{"duplicate field", "/submit", formType, with("left_year", "2019", "2020"), 400},
		{"unknown field", "/submit", formType, append([]byte(form("ko", ok).Encode()), []byte("&q.nope=1")...), 400},
		{"too many fields", "/submit", formType, []byte(strings.Repeat("x=1&", 600)), 400},
		{"oversize", "/submit", formType, with("story", strings.Repeat("가", 30000)), 413},
		{"multipart", "/submit", "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"q.story\"\r\n\r\nhello\r\n--x--\r\n"), 415},
		{"no content type", "/submit", "", []byte("q.story=x"), 415},
		{"sealed for another study", "/sealed", formType, sealed(otherStudy), 400},
		{"sealed truncated", "/sealed", formType, sealed(good[:len(good)-1]), 400},
		{"sealed garbage", "/sealed", formType, []byte("envelope=%%%"), 400},
		{"sealed not base64", "/sealed", formType, []byte("envelope=not+base64!"), 400},
		{"sealed twice", "/sealed", formType, append(sealed(good), append([]byte("&"), sealed(good)...)...), 400},
		{"sealed oversize", "/sealed", formType, sealed(make([]byte, 8<<20)), 413},
	}
}

func importBatch(t *testing.T, dir string, s *config.Study, id *envelope.Identity, v note.Verifier, path string, want int) []researcher.Testimony {
	t.Helper()
	ws, err := researcher.Open(dir, s, id, "ko")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := ws.Import(f, []note.Verifier{v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Quarantined != 0 {
		t.Fatalf("%d testimonies quarantined", sum.Quarantined)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if ws.Len() != want {
		t.Fatalf("workspace has %d testimonies, want %d", ws.Len(), want)
	}
	rows, err := ws.Testimonies()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func decodeAnswers(t *testing.T, s *config.Study, raw map[string]json.RawMessage) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for id, r := range raw {
		var one string
		if json.Unmarshal(r, &one) == nil {
			out[id] = []string{one}
			continue
		}
		var many []string
		if err := json.Unmarshal(r, &many); err != nil {
			t.Fatalf("answer %s: %s", id, r)
		}
		out[id] = many
	}
	return out
}

func checkCSV(t *testing.T, dir string, s *config.Study, rows []researcher.Testimony) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "testimonies.csv"))
	if err != nil {
		t.Fatal(err)
	}
	body, ok := bytes.CutPrefix(data, []byte("\uFEFF"))
	if !ok {
		t.Fatal("testimonies.csv has no UTF-8 byte order mark: Excel would garble Korean")
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("testimonies.csv is not RFC 4180: %v", err)
	}
	if len(recs) != len(rows)+1 || recs[0][0] != "pseudonym" {
		t.Fatalf("testimonies.csv has %d records, want a header and %d rows", len(recs), len(rows))
	}
	col := map[string]int{}
	for j, h := range recs[0] {
		col[h] = j
	}
	for i, r := range rows {
		rec := recs[i+1]
		if rec[0] != r.Pseudonym || rec[col["version"]] != r.Version[:12] {
			t.Fatalf("row %d: pseudonym %q version %q, want %q and %q first", i, rec[0], rec[col["version"]], r.Pseudonym, r.Version[:12])
		}
		for _, q := range s.Questions {
			if q.Type == config.Note {
				continue
			}
			want := researcher.Cell(r.Answers[q.ID])
			if q.Type == config.DateApprox {
				y, p, _ := strings.Cut(want, "-")
				if want != "" && (rec[col[q.ID+"_year"]] != y || rec[col[q.ID+"_period"]] != p) {
					t.Fatalf("row %d question %s: %q %q, want %q split", i, q.ID, rec[col[q.ID+"_year"]], rec[col[q.ID+"_period"]], want)
				}
				continue
			}
			got := rec[col[q.ID]]
			switch {
			case want == "" && (got == ".n" || got == ".s"):
			case got == want, got == "'"+want: // a formula defused
			default:
				t.Fatalf("row %d column %s: %q, want %q", i, q.ID, got, want)
			}
		}
	}
	md, _ := filepath.Glob(filepath.Join(dir, "testimonies", "*.md"))
	if len(md) != len(rows) {
		t.Fatalf("%d Markdown files, want %d", len(md), len(rows))
	}
}

func checkNoMarker(t *testing.T, dataDir string, logs []byte, marker string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("folder %s has mode %v, want 0700", path, info.Mode().Perm())
			}
			return nil
		}
		files++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(marker)) {
			t.Errorf("%s contains the plaintext marker", path)
		}
		if strings.HasSuffix(path, ".pub") {
			return nil
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("file %s has mode %v, want 0600", path, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("scanned only %d files: the scan is not looking at the store", files)
	}
	if len(logs) == 0 {
		t.Fatal("the server wrote no log: the scan of the log proves nothing")
	}
	if bytes.Contains(logs, []byte(marker)) {
		t.Errorf("the log contains the plaintext marker:\n%s", logs)
	}
	for _, forbidden := range []string{"127.0.0.1", "Go-http-client", "User-Agent"} {
		if bytes.Contains(logs, []byte(forbidden)) && !bytes.Contains(logs, []byte(`"addr"`)) {
			t.Errorf("the log contains %q", forbidden)
		}
	}
}
