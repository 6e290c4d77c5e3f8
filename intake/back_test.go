package intake

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
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
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/response"
)

// backSite is a server of the test study from a data directory, as
// `intake serve` runs it: envelopes recorded in the audit log, replies
// read from DATA/replies, the replies served counted into the audit log.
type backSite struct {
	*testServer
	d     *Data
	study *config.Study
	id    *envelope.Identity
	mu    sync.Mutex
	days  map[string]int // replies-served handed over, by day
}

func startBackSite(t testing.TB, tune func(*Config)) *backSite {
	t.Helper()
	st, id := testStudyAndKey(t)
	d, err := OpenData(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.BindStudy(st.ID); err != nil {
		t.Fatal(err)
	}
	b := &backSite{d: d, study: st, id: id, days: map[string]int{}}
	c := Config{Study: st, Store: d.Store, Replies: d.Replies(),
		Stored: func(sum [32]byte, day time.Time) error { return d.Record(audit.SubmissionStored(sum, day)) },
		RepliesServed: func(n int, day time.Time) error {
			b.mu.Lock()
			b.days[day.Format(time.DateOnly)] += n
			b.mu.Unlock()
			return d.Record(audit.RepliesServed(n, day))
		}}
	if tune != nil {
		tune(&c)
	}
	b.study = c.Study
	b.testServer = serveTest(t, c)
	return b
}

var wordsRE = regexp.MustCompile(`(?s)<ol id="pp-words" class="words" lang="([a-z]+)">(.*?)</ol>`)
var liRE = regexp.MustCompile(`<li>(.*?)</li>`)

// receiptWords returns the words of the return passphrase a receipt shows.
func receiptWords(t testing.TB, page string) (string, []string) {
	t.Helper()
	m := wordsRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the receipt has no words:\n%s", page)
	}
	var words []string
	for _, li := range liRE.FindAllStringSubmatch(m[2], -1) {
		words = append(words, html.UnescapeString(li[1]))
	}
	return m[1], words
}

// submit answers the test study without JavaScript and returns the
// passphrase the receipt shows ("" if declined).
func (b *backSite) submit(t testing.TB, lang string, declined bool) string {
	t.Helper()
	form := url.Values{"lang": {lang}, "q.used": {"no"}, "q.story": {"도서관 관리원"}, "q.consent": {"yes"}}
	if declined {
		form.Set(NoReturnField, "1")
	}
	resp, body := postForm(t, http.DefaultClient, b.base+"/submit", form)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("submit: status %d, Cache-Control %q:\n%s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	if declined {
		if strings.Contains(body, "<li>") || !strings.Contains(body, `id="pp" class="pp" hidden`) {
			t.Fatalf("a person who declined was shown words:\n%s", body)
		}
		return ""
	}
	list, words := receiptWords(t, body)
	if len(words) != returnkey.Words || list != returnkey.ListFor(lang).Language {
		t.Fatalf("receipt shows %d words of list %q, want %d of %q", len(words), list, returnkey.Words, returnkey.ListFor(lang).Language)
	}
	return strings.Join(words, " ")
}

// opened returns the plaintexts of the pending envelopes, opened with the
// researcher's key, in the order of their ids.
func (b *backSite) opened(t testing.TB) [][]byte {
	t.Helper()
	ids, err := b.d.Store.Pending()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, id := range ids {
		env, err := b.d.Store.Read(id)
		if err != nil {
			t.Fatal(err)
		}
		o, err := envelope.Open(b.study.ID, env, b.id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Plaintext)
	}
	return out
}

// addressOf returns the return address the words give.
func addressOf(t testing.TB, study, words string) *returnkey.Address {
	t.Helper()
	p, err := returnkey.Parse(words)
	if err != nil {
		t.Fatal(err)
	}
	k, err := returnkey.Derive(p, study)
	if err != nil {
		t.Fatal(err)
	}
	return k.Address()
}

// TestReturnPassphraseWithoutJavaScript: after a submission without
// JavaScript the receipt shows seven words of the page's language, which
// give the return address the sealed plaintext carries; a person who
// declines gets none, and their plaintext carries no address.
func TestReturnPassphraseWithoutJavaScript(t *testing.T) {
	b := startBackSite(t, nil)
	words := map[string]string{}
	for _, lang := range []string{"ko", "en", "zh"} {
		words[lang] = b.submit(t, lang, false)
	}
	b.submit(t, "en", true)
	var returns []*returnkey.Address
	declined := 0
	for _, pt := range b.opened(t) {
		r, err := response.Unmarshal(b.study, pt)
		if err != nil {
			t.Fatal(err)
		}
		if r.Return == nil {
			declined++
			if bytes.Contains(pt, []byte("return")) {
				t.Fatalf("a declined passphrase left a return member: %s", pt)
			}
			continue
		}
		returns = append(returns, r.Return)
	}
	if declined != 1 || len(returns) != 3 {
		t.Fatalf("%d plaintexts with a return address and %d without, want 3 and 1", len(returns), declined)
	}
	for lang, w := range words {
		a := addressOf(t, b.study.ID, w)
		found := false
		for _, r := range returns {
			found = found || r.Equal(a)
		}
		if !found {
			t.Errorf("the words shown in %s give an address no plaintext carries", lang)
		}
	}
	// The review offers it, and keeps the choice.
	_, page := postForm(t, http.DefaultClient, b.base+"/next", url.Values{"lang": {"en"}, "step": {"all"}, "q.used": {"no"}, "q.consent": {"yes"}, NoReturnField: {"1"}})
	if !strings.Contains(page, `name="noreturn" value="1" checked`) || !strings.Contains(page, "return passphrase") {
		t.Errorf("the review does not offer the way back or forgot the choice:\n%s", page)
	}
}

// TestReturnPassphraseBusy: when no derivation slot comes free, the
// review comes back (503) with a note, and nothing is stored.
func TestReturnPassphraseBusy(t *testing.T) {
	b := startBackSite(t, func(c *Config) { c.Limits.KDFs = 1 })
	b.srv.kdf.wait = 50 * time.Millisecond
	if err := b.srv.kdf.acquire(context.Background(), kdfNewReturn); err != nil { // the one slot is taken
		t.Fatal(err)
	}
	resp, body := postForm(t, http.DefaultClient, b.base+"/submit", url.Values{"lang": {"en"}, "q.used": {"no"}, "q.consent": {"yes"}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Too many people") || !strings.Contains(body, `formaction="/submit"`) {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	if p, _ := b.d.Store.Pending(); len(p) != 0 {
		t.Fatal("something was stored")
	}
	// Declining needs no slot.
	if resp, _ := postForm(t, http.DefaultClient, b.base+"/submit", url.Values{"lang": {"en"}, "q.used": {"no"}, "q.consent": {"yes"}, NoReturnField: {"1"}}); resp.StatusCode != 200 {
		t.Fatalf("a submission without a passphrase waited for a slot: %d", resp.StatusCode)
	}
	// The come-back page too.
	p, _ := returnkey.Generate()
	resp, body = postForm(t, http.DefaultClient, b.base+"/back", url.Values{"lang": {"en"}, "passphrase": {p.Format("en")}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Too many people") {
		t.Fatalf("come back while busy: status %d:\n%s", resp.StatusCode, body)
	}
	b.srv.kdf.release()
}

// replyTo is one reply a test researcher writes.
type replyTo struct {
	to      *returnkey.Address
	i       uint32
	content *reply.Content
}

// writeBatch writes a reply batch of the replies, signed by id, and
// returns its path.
func writeBatch(t testing.TB, dir string, id *envelope.Identity, study string, rs ...replyTo) string {
	t.Helper()
	var recs [][]byte
	for _, r := range rs {
		data, err := r.content.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		rec, err := reply.Seal(r.to, r.i, id, data)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	f, err := os.CreateTemp(dir, "replies-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := reply.Write(f, id.Signer(), study, recs); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func question(study string, text string) *reply.Content {
	return &reply.Content{Study: study, ID: reply.NewID(), Lang: "ko", Text: text,
		Questions: []reply.Question{
			{ID: "year", Type: config.Year, Label: "몇 년이였습니까?", Required: true},
			{ID: "where", Type: config.MultiChoice, Label: "어디서?", Choices: []reply.Choice{{Value: "home", Label: "집"}, {Value: "work", Label: "일터"}}},
		}}
}

var keyRE = regexp.MustCompile(`name="key" value="([A-Za-z0-9_-]{43})"`)

// TestComeBackWithoutJavaScript: a person testifies, a researcher replies
// with a question, the operator imports the batch; the person types the
// words, reads the reply, answers (a problem first), adds to the
// testimony and withdraws it; each is an envelope the researcher opens to
// a message signed on the person's thread.
func TestComeBackWithoutJavaScript(t *testing.T) {
	b := startBackSite(t, nil)
	words := b.submit(t, "ko", false)
	addr := addressOf(t, b.study.ID, words)
	c := question(b.study.ID, "고맙습니다.\n한 가지만 더 묻겠습니다. <b>&</b>")
	path := writeBatch(t, t.TempDir(), b.id, b.study.ID, replyTo{addr, 0, c})
	if _, err := b.d.ImportReplies(b.study, []string{path}, time.Now()); err != nil {
		t.Fatal(err)
	}

	// Mistyped words are named by position, and kept to correct.
	ws := strings.Fields(words)
	// Two words swapped: the checksum misses one such mistake in 32 (the
	// words then make another, valid passphrase), so swap the first two
	// neighbours whose swap it catches.
	var swapped string
	for i := range len(ws) - 1 {
		w := slices.Clone(ws)
		w[i], w[i+1] = w[i+1], w[i]
		if _, err := returnkey.Parse(strings.Join(w, " ")); err != nil {
			swapped = strings.Join(w, " ")
			break
		}
	}
	if swapped == "" {
		t.Fatalf("no swap of two neighbouring words of %q breaks the checksum", words)
	}
	for _, tc := range []struct{ typed, want string }{
		{strings.Join(append(ws[:2:2], append([]string{"zzzz"}, ws[3:]...)...), " "), "3번째 단어는"},
		{strings.Join(ws[:6], " "), "6개를 썼습니다"},
		{swapped, "순서를 다시 확인"},
	} {
		resp, body := postForm(t, http.DefaultClient, b.base+"/back", url.Values{"lang": {"ko"}, "passphrase": {tc.typed}})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) || !strings.Contains(body, html.EscapeString(tc.typed)) {
			t.Errorf("typed %q: status %d, want 422 saying %q:\n%s", tc.typed, resp.StatusCode, tc.want, body)
		}
	}

	// The right words, typed with the English words of the same
	// indices, numbered, on two lines: the reply and its questions.
	p, _ := returnkey.Parse(words)
	english := strings.Join(p.Words(returnkey.English), "\n1. ")
	resp, body := postForm(t, http.DefaultClient, b.base+"/back", url.Values{"lang": {"ko"}, "passphrase": {english}})
	if resp.StatusCode != 200 || !strings.Contains(body, html.EscapeString(c.Text)) || !strings.Contains(body, "몇 년이였습니까?") || !strings.Contains(body, "연구자의 답장") {
		t.Fatalf("status %d: the reply is not shown:\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, words) || strings.Contains(body, ws[0]+" "+ws[1]) {
		t.Fatal("the page of replies carries the words")
	}
	key := keyRE.FindStringSubmatch(body)
	if key == nil {
		t.Fatalf("no key field:\n%s", body)
	}
	send := func(v url.Values, status int, want string) string {
		t.Helper()
		v.Set("lang", "ko")
		v.Set("key", key[1])
		resp, body := postForm(t, http.DefaultClient, b.base+"/back/send", v)
		if resp.StatusCode != status || !strings.Contains(body, want) {
			t.Fatalf("send %v: status %d, want %d and %q:\n%s", v, resp.StatusCode, status, want, body)
		}
		return body
	}
	before := len(b.opened(t))
	send(url.Values{"kind": {"followup"}, "reply": {c.ID}, "q.where": {"home"}}, http.StatusUnprocessableEntity, "꼭 대답해야 합니다")
	send(url.Values{"kind": {"followup"}, "reply": {c.ID}, "q.year": {"1800"}}, http.StatusUnprocessableEntity, "1900보다 작은")
	if n := len(b.opened(t)); n != before {
		t.Fatal("answers with problems were stored")
	}
	send(url.Values{"kind": {"followup"}, "reply": {c.ID}, "q.year": {"2019"}, "q.where": {"work", "home"}}, 200, "대답을 보냈습니다")
	send(url.Values{"kind": {"addition"}, "text": {"  "}}, http.StatusUnprocessableEntity, "꼭 대답해야 합니다")
	send(url.Values{"kind": {"addition"}, "text": {"하나 더: 2018년이였습니다."}}, 200, "보탠 내용을 보냈습니다")
	confirm := send(url.Values{"kind": {"withdrawal"}}, 200, "정말 증언을 철회하겠습니까?")
	if !strings.Contains(confirm, `name="confirm" value="yes"`) {
		t.Fatalf("no confirmation:\n%s", confirm)
	}
	send(url.Values{"kind": {"withdrawal"}, "nav": {"cancel"}}, 200, html.EscapeString(c.Text))
	send(url.Values{"kind": {"withdrawal"}, "confirm": {"yes"}}, 200, "철회 요청을 보냈습니다")

	// What the researcher opens: three messages on the thread, signed.
	kinds := map[response.Kind]*response.Message{}
	for _, pt := range b.opened(t) {
		h, err := response.PeekHeader(pt)
		if err != nil {
			t.Fatal(err)
		}
		if h.Kind == response.Testimony {
			continue
		}
		m, err := response.UnmarshalMessage(b.study, pt)
		if err != nil {
			t.Fatalf("%s: %v", h.Kind, err)
		}
		if !m.Thread.Equal(addr) {
			t.Fatalf("%s: on another thread", h.Kind)
		}
		kinds[m.Kind] = m
	}
	if len(kinds) != 3 {
		t.Fatalf("messages of kinds %v, want a followup, an addition and a withdrawal", kinds)
	}
	if err := response.ValidateFollowup(b.study, c, kinds[response.Followup]); err != nil {
		t.Fatalf("the followup does not answer the reply: %v", err)
	}
	if got := kinds[response.Followup].Answers["where"]; len(got) != 2 || got[0] != "home" {
		t.Errorf("followup answers %v", kinds[response.Followup].Answers)
	}
	if got := kinds[response.Addition].Answers["text"][0]; got != "하나 더: 2018년이였습니다." {
		t.Errorf("addition %q", got)
	}

	// A key that is not 32 bytes of base64url, or a reply that is not the
	// person's, is refused; so is a kind that does not exist.
	for _, v := range []url.Values{
		{"lang": {"ko"}, "key": {"x"}, "kind": {"addition"}, "text": {"x"}},
		{"lang": {"ko"}, "key": {key[1]}, "kind": {"followup"}, "reply": {reply.NewID()}, "q.year": {"2019"}},
		{"lang": {"ko"}, "key": {key[1]}, "kind": {"reply"}},
		{"lang": {"ko"}, "key": {key[1], key[1]}, "kind": {"withdrawal"}},
	} {
		if resp, _ := postForm(t, http.DefaultClient, b.base+"/back/send", v); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: status %d, want 400", v, resp.StatusCode)
		}
	}
}

// TestComeBackWithNoReply: a person with no reply yet can still add and
// withdraw; the page says there is no reply.
func TestComeBackWithNoReply(t *testing.T) {
	b := startBackSite(t, nil)
	words := b.submit(t, "en", false)
	resp, body := postForm(t, http.DefaultClient, b.base+"/back", url.Values{"lang": {"en"}, "passphrase": {words}})
	if resp.StatusCode != 200 || !strings.Contains(body, "no reply to you yet") || !strings.Contains(body, `value="addition"`) || !strings.Contains(body, `value="withdrawal"`) {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
}

// TestRepliesDownload: /back/replies serves every stored record with
// padding, sorted, in buckets, the same bytes to everyone until the
// records change; it counts a download per visit, handed to the audit log
// once for the day.
func TestRepliesDownload(t *testing.T) {
	day := time.Date(2026, 3, 4, 15, 4, 5, 0, time.UTC)
	b := startBackSite(t, func(c *Config) { c.Now = func() time.Time { return day } })
	download := func() []byte {
		t.Helper()
		resp, err := http.Get(b.base + "/back/replies")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
		}
		return data
	}
	empty := download()
	if len(empty) != ReplyBucket*reply.RecordSize {
		t.Fatalf("with no replies: %d bytes, want one bucket", len(empty))
	}
	var addrs []*returnkey.Address
	var rs []replyTo
	for i := range 300 {
		var seed [32]byte
		seed[0], seed[1] = byte(i), byte(i>>8)
		a := returnkey.NewKeys(seed).Address()
		addrs = append(addrs, a)
		rs = append(rs, replyTo{a, 0, &reply.Content{Study: b.study.ID, ID: reply.NewID(), Lang: "en", Text: "Thank you."}})
	}
	path := writeBatch(t, t.TempDir(), b.id, b.study.ID, rs...)
	got, err := b.d.ImportReplies(b.study, []string{path}, day)
	if err != nil || len(got) != 1 || got[0].Added != 300 || !got[0].Recorded {
		t.Fatalf("import: %+v, %v", got, err)
	}
	time.Sleep(replyCheckEvery + 100*time.Millisecond)
	one, two := download(), download()
	if !bytes.Equal(one, two) {
		t.Fatal("two downloads differ")
	}
	if len(one) != 2*ReplyBucket*reply.RecordSize {
		t.Fatalf("300 records: %d bytes, want two buckets", len(one))
	}
	stored, _, err := b.d.Replies().Load()
	if err != nil {
		t.Fatal(err)
	}
	for p := 0; p < len(stored); p += reply.RecordSize {
		if !bytes.Contains(one, stored[p:p+reply.RecordSize]) {
			t.Fatal("a stored record is not served")
		}
	}
	for p := reply.RecordSize; p < len(one); p += reply.RecordSize {
		if bytes.Compare(one[p-reply.RecordSize:p], one[p:p+reply.RecordSize]) >= 0 {
			t.Fatal("the download is not sorted")
		}
	}
	// Every person finds their own reply in it.
	for i := range 3 {
		var seed [32]byte
		seed[0] = byte(i)
		found, _, err := reply.Find(one, returnkey.NewKeys(seed), b.study.ID, []*envelope.Recipient{b.id.Recipient()})
		if err != nil || len(found) != 1 {
			t.Fatalf("person %d finds %d replies, %v", i, len(found), err)
		}
	}
	b.mu.Lock()
	counted := len(b.days)
	b.mu.Unlock()
	if counted != 0 {
		t.Fatal("the count was handed over before the day ended")
	}
	b.srv.Shutdown(b.hs, time.Second)
	if b.days["2026-03-04"] != 3 || len(b.days) != 1 {
		t.Fatalf("replies served handed over: %v, want 3 on 2026-03-04", b.days)
	}
	l, _ := b.d.Audit()
	n := 0
	l.Scan(func(_ int64, r audit.Record) error {
		if r.Event == audit.EventRepliesServed && r.Count == 3 && r.Day == "2026-03-04" {
			n++
		}
		return nil
	})
	if n != 1 {
		t.Fatalf("%d replies-served records of 3 on the day, want 1", n)
	}
}

// TestRunDailyHandsOverAtMidnight: the count of a day is handed over once
// the day has ended, not before, and only that day's.
func TestRunDailyHandsOverAtMidnight(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 4, 23, 59, 59, 800_000_000, time.UTC)
	b := startBackSite(t, func(c *Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	if resp, _ := get(t, b.base+"/back/replies"); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.srv.RunDaily(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	now = now.Add(time.Second) // past midnight
	mu.Unlock()
	deadline := time.Now().Add(3 * time.Second)
	for {
		b.mu.Lock()
		n := b.days["2026-03-04"]
		b.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the day's count was not handed over after midnight")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestImportReplies: only whole batches signed by a researcher of the
// study are imported; a batch imported again is already imported; a
// record whose tag is stored with other bytes is refused, naming the
// entry; a refused command stores nothing.
func TestImportReplies(t *testing.T) {
	b := startBackSite(t, nil)
	dir := t.TempDir()
	var seed [32]byte
	a := returnkey.NewKeys(seed).Address()
	seed[0] = 1
	a2 := returnkey.NewKeys(seed).Address()
	text := func(s string) *reply.Content {
		return &reply.Content{Study: b.study.ID, ID: reply.NewID(), Lang: "en", Text: s}
	}
	good := writeBatch(t, dir, b.id, b.study.ID, replyTo{a, 0, text("one")}, replyTo{a2, 0, text("two")})
	stranger, _ := envelope.GenerateIdentity()
	unsigned := writeBatch(t, dir, stranger, b.study.ID, replyTo{a, 1, text("not a researcher")})
	other := writeBatch(t, dir, b.id, "other-study", replyTo{a, 1, text("another study")})
	clash := writeBatch(t, dir, b.id, b.study.ID, replyTo{a, 0, text("the same number again")})
	damaged := filepath.Join(dir, "damaged.tar")
	data, _ := os.ReadFile(good)
	data[len(data)-2048] ^= 1 // in the last record's bytes (before the end-of-archive blocks)
	os.WriteFile(damaged, data, 0o600)

	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{unsigned}, "not signed by a researcher"},
		{[]string{other}, `for study "other-study"`},
		{[]string{good, damaged}, "damaged.tar"},
		{[]string{good, clash}, "records/"},
		{nil, "no reply batch"},
	} {
		_, err := b.d.ImportReplies(b.study, tc.paths, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("import %v: %v, want an error about %q", tc.paths, err, tc.want)
		}
		if n, _ := b.d.Replies().count(); n != 0 {
			t.Fatalf("import %v stored %d records", tc.paths, n)
		}
	}
	got, err := b.d.ImportReplies(b.study, []string{good}, now)
	if err != nil || got[0].Added != 2 || !got[0].Recorded {
		t.Fatalf("import: %+v, %v", got, err)
	}
	got, err = b.d.ImportReplies(b.study, []string{good}, now)
	if err != nil || got[0].Added != 0 || got[0].Recorded {
		t.Fatalf("import again: %+v, %v", got, err)
	}
	if _, err := b.d.ImportReplies(b.study, []string{clash}, now); err == nil || !strings.Contains(err.Error(), "same number") {
		t.Fatalf("a record with a stored tag: %v", err)
	}
	// The day's file: whole records, sorted, its times at midnight.
	fi, err := os.Stat(filepath.Join(b.d.Dir, "replies", "2026-03-04"))
	if err != nil || fi.Size() != 2*reply.RecordSize || !fi.ModTime().Equal(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) || fi.Mode().Perm() != 0o600 {
		t.Fatalf("day file: %v, %v", fi, err)
	}
	// One reply-batch-imported record, with the manifest's hash and count.
	l, _ := b.d.Audit()
	n := 0
	l.Scan(func(_ int64, r audit.Record) error {
		if r.Event == audit.EventReplyBatchImported {
			n++
			if r.SHA256 != got[0].Manifest.Hash || r.Count != 2 {
				t.Errorf("record %+v", r)
			}
		}
		return nil
	})
	if n != 1 {
		t.Fatalf("%d reply-batch-imported records, want 1", n)
	}
	// Another study file than the one the directory serves.
	st2 := *b.study
	st2.ID = "other-study"
	if _, err := b.d.ImportReplies(&st2, []string{good}, now); err == nil || !strings.Contains(err.Error(), "serves study") {
		t.Fatalf("another study: %v", err)
	}
}

// TestPurgeReplies: records imported DAYS or more days ago go, whole days
// at a time, recorded once, even when a purge is cut short.
func TestPurgeReplies(t *testing.T) {
	b := startBackSite(t, nil)
	dir := t.TempDir()
	text := func(s string) *reply.Content {
		return &reply.Content{Study: b.study.ID, ID: reply.NewID(), Lang: "en", Text: s}
	}
	for i, day := range []int{1, 2, 10} {
		var seed [32]byte
		seed[0] = byte(i)
		a := returnkey.NewKeys(seed).Address()
		path := writeBatch(t, dir, b.id, b.study.ID, replyTo{a, 0, text("a")}, replyTo{a, 1, text("b")})
		if _, err := b.d.ImportReplies(b.study, []string{path}, time.Date(2026, 3, day, 12, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	if n, err := b.d.PurgeReplies(11, now); err != nil || n != 2 {
		t.Fatalf("purge 11 days: %d, %v; want the 2 of March 1", n, err)
	}
	if n, err := b.d.PurgeReplies(11, now); err != nil || n != 0 {
		t.Fatalf("purge again: %d, %v", n, err)
	}
	// A purge cut short after its record: the next command finishes it.
	if err := os.WriteFile(filepath.Join(b.d.Dir, "replies", "purge"), []byte("2026-03-02\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := b.d.PurgeReplies(30, now); err != nil || n != 0 {
		t.Fatalf("purge after a cut: %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(b.d.Dir, "replies", "2026-03-02")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the journaled day was not deleted")
	}
	if n, err := b.d.PurgeReplies(0, now); err != nil || n != 2 {
		t.Fatalf("purge all: %d, %v", n, err)
	}
	l, _ := b.d.Audit()
	var counts []int
	l.Scan(func(_ int64, r audit.Record) error {
		if r.Event == audit.EventRepliesPurged {
			counts = append(counts, r.Count)
		}
		return nil
	})
	if len(counts) != 2 || counts[0] != 2 || counts[1] != 2 {
		t.Fatalf("replies-purged records %v, want [2 2]", counts)
	}
	if _, err := b.d.PurgeReplies(-1, now); err == nil {
		t.Fatal("a negative age was accepted")
	}
}

// TestNoStoredByteLinksReplies takes the data directory after several
// people testified, got replies (some two, from two researchers) and
// answered, and checks that nothing stored links a reply to a
// submission, or two replies to each other: every record is 2,048 bytes,
// no record shares a run of 8 bytes with another or with an envelope,
// files are named by day only with times at midnight, and the download is
// the same bytes for every visitor.
func TestNoStoredByteLinksReplies(t *testing.T) {
	second, _ := envelope.GenerateIdentity()
	b := startBackSite(t, func(c *Config) {
		// A second researcher.
		y := strings.Replace(string(mustStudyYAML(t, c.Study)), "recipients: [", "recipients: [{name: 둘째, public_key: "+second.Recipient().String()+"}, ", 1)
		st, err := config.Parse("two.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		c.Study = st
	})
	var rs2 []replyTo
	var rs1 []replyTo
	var words []string
	for i := range 4 {
		w := b.submit(t, []string{"ko", "en", "zh", "ko"}[i], false)
		words = append(words, w)
		a := addressOf(t, b.study.ID, w)
		rs1 = append(rs1, replyTo{a, 0, question(b.study.ID, "첫 답장")})
		if i%2 == 0 {
			rs1 = append(rs1, replyTo{a, 1, &reply.Content{Study: b.study.ID, ID: reply.NewID(), Lang: "ko", Text: "둘째 답장"}})
			rs2 = append(rs2, replyTo{a, 0, &reply.Content{Study: b.study.ID, ID: reply.NewID(), Lang: "ko", Text: "다른 연구자"}})
		}
	}
	dir := t.TempDir()
	if _, err := b.d.ImportReplies(b.study, []string{writeBatch(t, dir, b.id, b.study.ID, rs1...), writeBatch(t, dir, second, b.study.ID, rs2...)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(replyCheckEvery + 100*time.Millisecond)
	var downloads [][]byte
	for _, w := range words {
		resp, body := postForm(t, http.DefaultClient, b.base+"/back", url.Values{"lang": {"ko"}, "passphrase": {w}})
		if resp.StatusCode != 200 || !strings.Contains(body, "첫 답장") {
			t.Fatalf("come back: %d", resp.StatusCode)
		}
		r, err := http.Get(b.base + "/back/replies")
		if err != nil {
			t.Fatal(err)
		}
		d, _ := io.ReadAll(r.Body)
		r.Body.Close()
		downloads = append(downloads, d)
		key := keyRE.FindStringSubmatch(body)
		postForm(t, http.DefaultClient, b.base+"/back/send", url.Values{"lang": {"ko"}, "key": {key[1]}, "kind": {"addition"}, "text": {"더"}})
	}
	for _, d := range downloads[1:] {
		if !bytes.Equal(d, downloads[0]) {
			t.Fatal("two people downloaded different bytes")
		}
	}
	// The records, as stored.
	rdir := filepath.Join(b.d.Dir, "replies")
	des, _ := os.ReadDir(rdir)
	var records [][]byte
	for _, de := range des {
		if de.Name() == "lock" {
			continue
		}
		if _, ok := dayFile(de.Name()); !ok {
			t.Fatalf("unexpected file %s in DATA/replies", de.Name())
		}
		fi, _ := de.Info()
		if y, m, d := fi.ModTime().UTC().Date(); !fi.ModTime().Equal(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s has a time finer than the day: %v", de.Name(), fi.ModTime())
		}
		data, _ := os.ReadFile(filepath.Join(rdir, de.Name()))
		if len(data)%reply.RecordSize != 0 {
			t.Fatalf("%s is not whole records", de.Name())
		}
		for p := 0; p < len(data); p += reply.RecordSize {
			records = append(records, data[p:p+reply.RecordSize])
		}
	}
	if len(records) != len(rs1)+len(rs2) {
		t.Fatalf("%d records stored, want %d", len(records), len(rs1)+len(rs2))
	}
	// Every envelope and every record, as stored.
	var envs [][]byte
	filepath.WalkDir(filepath.Join(b.d.Dir, "store"), func(p string, de os.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() && strings.Contains(p, string(filepath.Separator)+"inbox"+string(filepath.Separator)) {
			data, _ := os.ReadFile(p)
			envs = append(envs, data)
		}
		return nil
	})
	if len(envs) != 8 {
		t.Fatalf("%d envelopes stored, want 4 testimonies and 4 additions", len(envs))
	}
	grams := map[string]int{} // 8-byte runs of each record, by record
	for i, r := range records {
		for p := 0; p+8 <= len(r); p++ {
			g := string(r[p : p+8])
			if j, ok := grams[g]; ok && j != i {
				t.Fatalf("records %d and %d share the bytes %x", j, i, g)
			}
			grams[g] = i
		}
	}
	for _, e := range envs {
		for p := 0; p+8 <= len(e); p++ {
			if _, ok := grams[string(e[p:p+8])]; ok {
				t.Fatalf("an envelope shares 8 bytes with a reply record")
			}
		}
	}
	// Nothing of a person's address in any stored file.
	for _, w := range words {
		a := addressOf(t, b.study.ID, w)
		x, ed := a.X25519(), a.Ed25519()
		filepath.WalkDir(b.d.Dir, func(p string, de os.DirEntry, err error) error {
			if err != nil || !de.Type().IsRegular() {
				return nil
			}
			data, _ := os.ReadFile(p)
			if bytes.Contains(data, x[:8]) || bytes.Contains(data, ed[:8]) || bytes.Contains(data, []byte(a.String()[:40])) {
				t.Errorf("%s holds a person's public key", p)
			}
			return nil
		})
	}
}

// mustStudyYAML rebuilds the YAML of the test study with its researcher.
func mustStudyYAML(t testing.TB, st *config.Study) []byte {
	t.Helper()
	keys, err := st.RecipientKeys()
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.Replace(testStudyYAML, "%s", keys[0].String(), 1))
}

// TestLargestFollowup: a reply with as many choices as a record holds,
// every one ticked, can be posted without JavaScript to a study of few
// questions.
func TestLargestFollowup(t *testing.T) {
	b := startBackSite(t, nil)
	words := b.submit(t, "en", false)
	c := &reply.Content{Study: b.study.ID, ID: reply.NewID(), Lang: "en"}
	form := url.Values{"lang": {"en"}, "kind": {"followup"}, "reply": {c.ID}}
	for i := range 3 {
		q := reply.Question{ID: "q" + string(rune('a'+i)), Type: config.MultiChoice, Label: "Which?"}
		for j := range reply.MaxChoices {
			v := "c" + string(rune('a'+j))
			q.Choices = append(q.Choices, reply.Choice{Value: v, Label: "x"})
			form.Add("q."+q.ID, v)
		}
		c.Questions = append(c.Questions, q)
	}
	path := writeBatch(t, t.TempDir(), b.id, b.study.ID, replyTo{addressOf(t, b.study.ID, words), 0, c})
	if _, err := b.d.ImportReplies(b.study, []string{path}, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, body := postForm(t, http.DefaultClient, b.base+"/back", url.Values{"lang": {"en"}, "passphrase": {words}})
	form.Set("key", keyRE.FindStringSubmatch(body)[1])
	if resp, body := postForm(t, http.DefaultClient, b.base+"/back/send", form); resp.StatusCode != 200 || !strings.Contains(body, "Your answers were sent") {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
}

// TestReplyImportRecordedAgainAfterPurge: an import after a purge that
// stored the records again but failed to record them (simulated by putting
// the records back by hand) is recorded when it is run again, so that the
// audit log does not show purged what the server serves.
func TestReplyImportRecordedAgainAfterPurge(t *testing.T) {
	b := startBackSite(t, nil)
	var seed [32]byte
	a := returnkey.NewKeys(seed).Address()
	path := writeBatch(t, t.TempDir(), b.id, b.study.ID, replyTo{a, 0, &reply.Content{Study: b.study.ID, ID: reply.NewID(), Lang: "en", Text: "a"}})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	out, err := b.d.ImportReplies(b.study, []string{path}, now)
	if err != nil {
		t.Fatal(err)
	}
	h := out[0].Manifest.Hash
	stored, _, err := b.d.Replies().Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.d.PurgeReplies(0, now); err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for p := 0; p < len(stored); p += reply.RecordSize {
		recs = append(recs, stored[p:p+reply.RecordSize])
	}
	if err := b.d.Replies().add(recs, now); err != nil {
		t.Fatal(err)
	}
	out, err = b.d.ImportReplies(b.study, []string{path}, now)
	if err != nil || out[0].Added != 0 || !out[0].Recorded {
		t.Fatalf("import again: %+v, %v; want nothing added, and recorded", out, err)
	}
	n := 0
	l, _ := b.d.Audit()
	l.Scan(func(_ int64, r audit.Record) error {
		if r.Event == audit.EventReplyBatchImported && r.SHA256 == h {
			n++
		}
		return nil
	})
	if n != 2 {
		t.Errorf("%d reply-batch-imported records of the batch, want 2: before and after the purge", n)
	}
}
