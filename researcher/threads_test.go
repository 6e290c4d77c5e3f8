package researcher

import (
	"bytes"
	"encoding/csv"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/replycopy"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

// person is someone who testified with a return passphrase.
type person struct {
	keys *returnkey.Keys
}

func newPerson(n byte) *person {
	var seed [returnkey.SeedSize]byte
	seed[0], seed[1] = 0x70, n
	return &person{returnkey.NewKeys(seed)}
}

func (f *fixture) seal(t testing.TB, pt []byte) batch.Envelope {
	t.Helper()
	env, err := envelope.Seal(f.study.ID, pt, []*envelope.Recipient{f.ids[0].Recipient(), f.ids[1].Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	return batch.Envelope{ID: randomID(t), Data: env}
}

// testimony is a first testimony by p, with p's return address (none if
// p is nil).
func (f *fixture) testimony(t testing.TB, p *person, story string) batch.Envelope {
	t.Helper()
	r := &response.Response{Study: f.study.ID, Language: "ko", Answers: map[string][]string{"story": {story}, "consent": {"yes"}}}
	if p != nil {
		r.Return = p.keys.Address()
	}
	pt, err := response.Marshal(f.study, r)
	if err != nil {
		t.Fatal(err)
	}
	return f.seal(t, pt)
}

// message is a message on p's thread, signed by signer's keys (p's own,
// or a forger's: then signed on the forger's thread, which the plaintext
// then names as p's).
func (f *fixture) message(t testing.TB, p, signer *person, m *response.Message) batch.Envelope {
	t.Helper()
	m.Language, m.Thread = "ko", signer.keys.Address()
	if m.Lists == nil {
		m.Lists = map[string]bool{}
	}
	pt, err := response.SignThread(f.study, m, signer.keys)
	if err != nil {
		t.Fatal(err)
	}
	pt = bytes.Replace(pt, []byte(signer.keys.Address().String()), []byte(p.keys.Address().String()), 1)
	return f.seal(t, pt)
}

func followup(replyID string, answers map[string][]string) *response.Message {
	return &response.Message{Kind: response.Followup, Reply: replyID, Answers: answers}
}

func addition(text string) *response.Message {
	return &response.Message{Kind: response.Addition, Answers: map[string][]string{response.AdditionField: {text}}}
}

func withdrawal() *response.Message {
	return &response.Message{Kind: response.Withdrawal, Answers: map[string][]string{}}
}

var replyQuestions = []reply.Question{
	{ID: "year", Type: config.Year, Label: "그 일은 몇 년에 있었습니까?", Required: true},
	{ID: "where", Type: config.SingleChoice, Label: "어디서였습니까?", Choices: []reply.Choice{{Value: "home", Label: "집"}, {Value: "work", Label: "일터"}}},
}

// nameOf returns the pseudonym of the testimony whose story is story.
func nameOf(t testing.TB, ws *Workspace, story string) string {
	t.Helper()
	for _, tm := range testimonies(t, ws) {
		if Cell(tm.Answers["story"]) == story {
			return tm.Pseudonym
		}
	}
	t.Fatalf("no testimony says %q", story)
	return ""
}

// sendReplies queues a reply to each testimony named, writes the reply
// batch, saves the run and returns the batch and its team copy.
func sendReplies(t testing.TB, f *fixture, dir string, id *envelope.Identity, names ...string) (*ReplyBatch, []byte, []string) {
	t.Helper()
	ws := f.open(t, dir, id)
	defer ws.Abort()
	var ids []string
	for _, n := range names {
		q, err := ws.QueueReply(n, "증언을 고맙게 받았습니다.", replyQuestions, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, q.ID)
	}
	rb, err := ws.WriteReplyBatch()
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(rb.Path)
	if err != nil {
		t.Fatal(err)
	}
	return rb, data, ids
}

// TestThreads is the way back in the workspace: a reply to a testimony
// with a return address (none to one without), the reply batch the person
// finds their reply in, follow-ups, additions and withdrawals brought in
// under the same pseudonym, what is quarantined and why, a teammate who
// gets identical exports with the team copy, and a withdrawal that takes
// a testimony and its thread out of every export, for both.
func TestThreads(t *testing.T) {
	f := newFixture(t)
	alice, bob := t.TempDir(), t.TempDir()
	p1, p3, p4, mallory := newPerson(1), newPerson(3), newPerson(4), newPerson(9)
	b1 := f.batch(t, f.testimony(t, p1, "하나: 도서관"), f.testimony(t, nil, "둘: 돌려받을 길 없음"), f.testimony(t, p3, "셋"))
	if err := decryptRun(alice, f.study, f.ids[0], f.verifier, b1); err != nil {
		t.Fatal(err)
	}

	// A reply to a testimony without a return address is refused, saying why.
	ws := f.open(t, alice, f.ids[0])
	if _, err := ws.QueueReply(nameOf(t, ws, "둘: 돌려받을 길 없음"), "고맙습니다.", nil, ""); err == nil || !strings.Contains(err.Error(), "no return address") {
		t.Fatalf("a reply to a testimony without a return address: %v", err)
	}
	ws.Abort()
	ws = f.open(t, alice, f.ids[0])
	one, three := nameOf(t, ws, "하나: 도서관"), nameOf(t, ws, "셋")
	ws.Abort()
	rb, records, ids := sendReplies(t, f, alice, f.ids[0], one, three)
	if rb.Replies != 2 || len(rb.TeamCopy) == 0 {
		t.Fatalf("reply batch %+v", rb)
	}

	// The person finds their reply in the batch, from this researcher.
	_, recs, err := reply.ReadAll(bytes.NewReader(records), []note.Verifier{f.ids[0].Recipient().Verifier()})
	if err != nil || len(recs) != 2 {
		t.Fatalf("the reply batch: %v, %d records", err, len(recs))
	}
	var all []byte
	for _, r := range recs {
		all = append(all, r.Data...)
	}
	found, unreadable, err := reply.Find(all, p1.keys, f.study.ID, []*envelope.Recipient{f.ids[1].Recipient(), f.ids[0].Recipient()})
	if err != nil || unreadable != 0 || len(found) != 1 || found[0].Number != 0 || found[0].Content.ID != ids[0] || found[0].Content.Lang != "ko" ||
		found[0].Content.Questions[1].Choices[1].Label != "일터" || found[0].Researcher.Fingerprint() != f.ids[0].Recipient().Fingerprint() {
		t.Fatalf("person 1 finds %+v (%d unreadable, %v)", found, unreadable, err)
	}
	c1 := found[0].Content

	// The person comes back: a follow-up answering the reply, an addition,
	// a follow-up whose answers break the reply's rules; others write a
	// message on their thread they cannot sign, and a follow-up to a
	// testimony not here yet.
	b2 := f.batch(t,
		f.message(t, p1, p1, followup(c1.ID, map[string][]string{"year": {"2019"}, "where": {"work"}})),
		f.message(t, p1, p1, addition("하나 더: 검열원은 두 명이었습니다.")),
		f.message(t, p1, p1, followup(c1.ID, map[string][]string{"year": {"1800"}})),
		f.message(t, p1, mallory, withdrawal()),
		f.message(t, p4, p4, addition("넷의 보탬")),
	)
	if err := decryptRun(alice, f.study, f.ids[0], f.verifier, b2); err != nil {
		t.Fatal(err)
	}
	ws = f.open(t, alice, f.ids[0])
	if tc := ws.Threads(); tc.Followups != 1 || tc.Additions != 1 || tc.Threads != 1 {
		t.Errorf("threads %+v", tc)
	}
	wantQuarantine(t, ws, map[string]int{"thread-unverified": 1, "thread-unknown": 1, "answers-break-rules": 1})
	ws.Abort()
	// Within a batch, messages are in the batch's order, which says
	// nothing of when they came (the server's ids are random).
	md := readMarkdown(t, alice, one)
	for _, want := range []string{"## Thread", ". Follow-up\n\nAnswers reply " + c1.ID, "증언을 고맙게 받았습니다.", "#### 그 일은 몇 년에 있었습니까?\n\n```\n2019\n```", "일터 (work)", ". Addition\n\n```\n하나 더: 검열원은 두 명이었습니다."} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown file of %s lacks %q:\n%s", one, want, md)
		}
	}
	fu := readCSVFile(t, filepath.Join(alice, followupsFile))
	var rows []string
	for _, r := range fu[1:] {
		rows = append(rows, strings.Join([]string{r[0], r[3], r[7], r[10], r[11]}, "|"))
	}
	slices.Sort(rows)
	if want := []string{one + "|addition|text|하나 더: 검열원은 두 명이었습니다.|", one + "|followup|where|work|일터", one + "|followup|year|2019|"}; !slices.Equal(rows, want) {
		t.Errorf("followups.csv: %q", fu)
	}
	q, _ := os.ReadFile(filepath.Join(alice, quarantineFile))
	if !strings.Contains(string(q), `"message":{"version":"`) || !strings.Contains(string(q), `"year":"too_small (1900)"`) || strings.Contains(string(q), "testimony-return-a") ||
		strings.Contains(string(q), "testimony-return-b") {
		t.Errorf("quarantine.jsonl does not show the held messages, or shows an address:\n%s", q)
	}
	for _, name := range []string{jsonlFile, csvFile, threadFile, followupsFile} {
		b, _ := os.ReadFile(filepath.Join(alice, name))
		if bytes.Contains(b, []byte(returnkey.AddressPrefix)) {
			t.Errorf("%s holds a return address", name)
		}
	}

	// Bob imports the same batches: without Alice's team copy, her
	// reply's follow-up waits; with it, his exports are Alice's.
	if err := decryptRun(bob, f.study, f.ids[1], f.verifier, b1, b2); err != nil {
		t.Fatal(err)
	}
	ws = f.open(t, bob, f.ids[1])
	wantQuarantine(t, ws, map[string]int{"thread-unverified": 1, "thread-unknown": 1, "reply-unknown": 2})
	imp, err := ws.ImportTeamCopy(rb.TeamCopy)
	if err != nil || imp.New != 2 || imp.From != f.ids[0].Recipient().Fingerprint() {
		t.Fatalf("team copy: %+v, %v", imp, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	sameExports(t, "Bob, with Alice's team copy", exports(t, bob), exports(t, alice))
	ws = f.open(t, bob, f.ids[1])
	if imp, err := ws.ImportTeamCopy(rb.TeamCopy); err != nil || imp.New != 0 {
		t.Fatalf("the team copy again: %+v, %v", imp, err)
	}
	ws.Abort()

	// Person 4's testimony arrives, and person 1 withdraws: theirs leaves
	// every export, with its thread; person 4's addition is attached.
	ws = f.open(t, alice, f.ids[0])
	if _, err := ws.QueueReply(one, "또 하나 묻습니다.", nil, ""); err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	b3 := f.batch(t, f.message(t, p1, p1, withdrawal()), f.testimony(t, p4, "넷"))
	for _, dir := range []string{alice, bob} {
		id := f.ids[0]
		if dir == bob {
			id = f.ids[1]
		}
		if err := decryptRun(dir, f.study, id, f.verifier, b3); err != nil {
			t.Fatal(err)
		}
	}
	sameExports(t, "Bob after the withdrawal", exports(t, bob), exports(t, alice))
	ws = f.open(t, alice, f.ids[0])
	if ws.Len() != 3 || ws.Withdrawn() != 1 {
		t.Errorf("%d testimonies, %d withdrawn; want 3 and 1", ws.Len(), ws.Withdrawn())
	}
	wantQuarantine(t, ws, map[string]int{"thread-unverified": 1})
	if c := ws.Replies(); c.Queued != 0 || c.Sent != 2 {
		t.Errorf("the reply queued to a testimony withdrawn since is still queued: %+v", c)
	}
	if _, err := ws.QueueReply(one, "또 묻습니다.", nil, ""); err == nil || !strings.Contains(err.Error(), "withdrawn") {
		t.Errorf("a reply to a withdrawn testimony: %v", err)
	}
	if err := ws.Rename(one, "남궁민"); err == nil {
		t.Error("a withdrawn testimony was renamed")
	}
	ws.Abort()
	for name, content := range exports(t, alice) {
		for _, gone := range []string{"하나: 도서관", "하나 더", one} {
			if strings.Contains(name, gone) || strings.Contains(content, gone) {
				t.Errorf("%s still holds %q", name, gone)
			}
		}
	}
	for _, data := range []string{dataFile, messagesFile} {
		b, _ := os.ReadFile(filepath.Join(alice, data))
		if bytes.Contains(b, []byte("하나")) || bytes.Contains(b, []byte("2019")) {
			t.Errorf("%s still holds what person 1 wrote", data)
		}
	}
	ws = f.open(t, alice, f.ids[0])
	four := nameOf(t, ws, "넷")
	ws.Abort()
	if md := readMarkdown(t, alice, four); !strings.Contains(md, "넷의 보탬") {
		t.Errorf("person 4's addition, which came before the testimony, is not on its thread:\n%s", md)
	}
	counts := auditCounts(t, alice)
	if counts["testimonies-withdrawn"] != 1 || counts["followups-imported"] != 3 || counts["reply-batch-written"] != 2 {
		t.Errorf("audit counts %v", counts)
	}
	if c := auditCounts(t, bob); c["team-copy-imported"] != 2 || c["testimonies-withdrawn"] != 1 {
		t.Errorf("Bob's audit counts %v", c)
	}

	// A follow-up after the withdrawal goes nowhere, and leaves no trace.
	b4 := f.batch(t, f.message(t, p1, p1, addition("철회한 뒤의 말")))
	if err := decryptRun(alice, f.study, f.ids[0], f.verifier, b4); err != nil {
		t.Fatal(err)
	}
	before := exports(t, alice)
	for name, content := range before {
		if strings.Contains(content, "철회한 뒤의 말") {
			t.Errorf("%s holds a message on a withdrawn thread", name)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(alice, messagesFile)); bytes.Contains(b, []byte("철회한")) {
		t.Error("data/messages holds a message on a withdrawn thread")
	}
}

// TestWithdrawalBeforeTestimony: a withdrawal that arrives before its
// testimony (another batch order, a handover later) withdraws it on
// arrival; the pseudonym it draws stays taken, so the names of the others
// are those of a researcher who met them in another order.
func TestWithdrawalBeforeTestimony(t *testing.T) {
	f := newFixture(t)
	p := newPerson(5)
	early := f.batch(t, f.message(t, p, p, withdrawal()), f.testimony(t, nil, "다른 이"))
	late := f.batch(t, f.testimony(t, p, "철회될 증언"))
	dir := t.TempDir()
	if err := decryptRun(dir, f.study, f.ids[0], f.verifier, early); err != nil {
		t.Fatal(err)
	}
	ws := f.open(t, dir, f.ids[0])
	if tc := ws.Threads(); tc.Waiting != 1 {
		t.Errorf("a withdrawal waiting for its testimony: %+v", tc)
	}
	if len(ws.Quarantined()) != 0 {
		t.Errorf("a verified withdrawal is quarantined: %v", ws.Quarantined())
	}
	ws.Abort()
	if err := decryptRun(dir, f.study, f.ids[0], f.verifier, late); err != nil {
		t.Fatal(err)
	}
	ws = f.open(t, dir, f.ids[0])
	defer ws.Abort()
	if ws.Len() != 1 || ws.Withdrawn() != 1 || ws.Threads().Waiting != 0 {
		t.Fatalf("%d testimonies, %d withdrawn, %+v", ws.Len(), ws.Withdrawn(), ws.Threads())
	}
	if c := auditCounts(t, dir); c["testimonies-withdrawn"] != 1 {
		t.Errorf("audit counts %v", c)
	}
	for name, content := range exports(t, dir) {
		if strings.Contains(content, "철회될 증언") {
			t.Errorf("%s holds a withdrawn testimony", name)
		}
	}
}

// TestReplyNumbersNeverReused: a reply batch written by a run that did not
// complete is removed when the workspace is opened again, and its numbers
// used again (it never left the workspace); once a run is saved, its
// numbers are never used again, and the last batch can be written out
// again, byte for byte.
func TestReplyNumbersNeverReused(t *testing.T) {
	f := newFixture(t)
	p := newPerson(6)
	dir := t.TempDir()
	if err := decryptRun(dir, f.study, f.ids[0], f.verifier, f.batch(t, f.testimony(t, p, "여섯"))); err != nil {
		t.Fatal(err)
	}
	ws := f.open(t, dir, f.ids[0])
	name := nameOf(t, ws, "여섯")
	if _, err := ws.QueueReply(name, "첫 답장", nil, "en"); err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	// A run that writes the batch, then dies before saving.
	ws = f.open(t, dir, f.ids[0])
	rb, err := ws.WriteReplyBatch()
	if err != nil {
		t.Fatal(err)
	}
	lost := rb.Path
	ws.unlock() // the process died
	ws = f.open(t, dir, f.ids[0])
	if _, err := os.Stat(lost); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the batch of a run that did not complete is still there: %v", err)
	}
	if c := ws.Replies(); c.Queued != 1 || c.Sent != 0 {
		t.Fatalf("replies after the crash: %+v", c)
	}
	numbers := func(rb *ReplyBatch) []uint32 {
		var all []byte
		data, _ := os.ReadFile(rb.Path)
		_, recs, err := reply.ReadAll(bytes.NewReader(data), []note.Verifier{f.ids[0].Recipient().Verifier()})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			all = append(all, r.Data...)
		}
		found, _, _ := reply.Find(all, p.keys, f.study.ID, []*envelope.Recipient{f.ids[0].Recipient()})
		var ns []uint32
		for _, fd := range found {
			ns = append(ns, fd.Number)
		}
		return ns
	}
	rb, err = ws.WriteReplyBatch()
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if got := numbers(rb); !slices.Equal(got, []uint32{0}) {
		t.Fatalf("first batch numbers %v", got)
	}
	first, _ := os.ReadFile(rb.Path)
	// The next reply to the same person is number 1.
	ws = f.open(t, dir, f.ids[0])
	if _, err := ws.QueueReply(name, "둘째 답장", nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.WriteReplyBatch(); err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	ws = f.open(t, dir, f.ids[0])
	defer ws.Abort()
	last, err := ws.LastReplyBatch()
	if err != nil {
		t.Fatal(err)
	}
	if got := numbers(last); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("the second batch holds numbers %v, want 1", got)
	}
	if c := ws.Replies(); c.Queued != 0 || c.Sent != 2 {
		t.Errorf("replies %+v", c)
	}
	if _, err := ws.WriteReplyBatch(); err == nil || !strings.Contains(err.Error(), "no reply is queued") {
		t.Errorf("a batch with nothing queued: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, replyBatchesDir, f.hashOf(t, first)+".tar")); !bytes.Equal(data, first) {
		t.Error("the first reply batch is not kept in the workspace")
	}
	if c := auditCounts(t, dir); c["reply-batch-written"] != 2 {
		t.Errorf("audit counts %v", c)
	}
}

// hashOf returns the hex SHA-256 of a reply batch's signed manifest.
func (f *fixture) hashOf(t testing.TB, data []byte) string {
	m, _, err := reply.ReadAll(bytes.NewReader(data), []note.Verifier{f.ids[0].Recipient().Verifier(), f.ids[1].Recipient().Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	return hexKey(m.Hash)
}

// TestTeamCopyRefused: a team copy signed by someone outside the study, or
// that disagrees with a reply the workspace holds, is refused.
func TestTeamCopyRefused(t *testing.T) {
	f := newFixture(t)
	p := newPerson(7)
	alice := t.TempDir()
	if err := decryptRun(alice, f.study, f.ids[0], f.verifier, f.batch(t, f.testimony(t, p, "일곱"))); err != nil {
		t.Fatal(err)
	}
	ws := f.open(t, alice, f.ids[0])
	name := nameOf(t, ws, "일곱")
	ws.Abort()
	rb, _, _ := sendReplies(t, f, alice, f.ids[0], name)

	stranger, _ := envelope.GenerateIdentity()
	c, _ := replycopy.Verify(rb.TeamCopy, []note.Verifier{f.ids[0].Recipient().Verifier()})
	c.Researcher = stranger.Recipient().Fingerprint()
	forged, err := replycopy.Sign(c, stranger.Signer())
	if err != nil {
		t.Fatal(err)
	}
	bob := t.TempDir()
	if err := decryptRun(bob, f.study, f.ids[1], f.verifier, f.batch(t, f.testimony(t, p, "일곱"))); err != nil {
		t.Fatal(err)
	}
	ws = f.open(t, bob, f.ids[1])
	defer ws.Abort()
	if _, err := ws.ImportTeamCopy(forged); !errors.Is(err, replycopy.ErrUnknownKey) {
		t.Errorf("a copy by someone outside the study: %v", err)
	}
	if _, err := ws.ImportTeamCopy(rb.TeamCopy); err != nil {
		t.Fatal(err)
	}
	// Alice signs another content under the same id: refused.
	c, _ = replycopy.Verify(rb.TeamCopy, []note.Verifier{f.ids[0].Recipient().Verifier()})
	other := &reply.Content{Study: f.study.ID, ID: c.Replies[0].Parsed.ID, Lang: "ko", Text: "다른 말"}
	c.Replies[0].Content, _ = other.Marshal()
	c.Replies[0].Parsed = nil
	twisted, err := replycopy.Sign(c, f.ids[0].Signer())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.ImportTeamCopy(twisted); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("a copy at odds with a reply held: %v", err)
	}
}

func TestParseQuestions(t *testing.T) {
	good := `questions:
  - id: year
    type: year
    label: 그 일은 몇 년에 있었습니까?
    required: true
  - id: where
    type: single_choice
    label: {ko: 어디서였습니까?, en: Where was it?}
    choices:
      - value: home
        label: {ko: 집, en: At home}
      - {value: work, label: 일터}
`
	qs, err := ParseQuestions("q.yaml", []byte(good), "ko")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 2 || qs[0].ID != "year" || !qs[0].Required || qs[1].Label != "어디서였습니까?" || qs[1].Choices[0].Label != "집" || qs[1].Choices[1].Label != "일터" {
		t.Fatalf("questions %+v", qs)
	}
	if _, err := ParseQuestions("q.yaml", []byte(good), "zh"); err == nil || !strings.Contains(err.Error(), "line 8") || !strings.Contains(err.Error(), "no text in zh") {
		t.Errorf("a label without the reply's language: %v", err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"- id: x\n", "questions:"},
		{"questions:\n  - id: x\n    type: date_approx\n    label: x\n", "line 3: question \"x\": type \"date_approx\" cannot be asked"},
		{"questions:\n  - id: x\n    type: year\n    label: x\n    min: 1990\n", "line 5: question \"x\": a reply's question takes only"},
		{"questions:\n  - id: x\n    type: year\n", "has no label"},
		{"questions:\n  - id: x\n    type: single_choice\n    label: x\n    choices:\n      - {value: a, label: A}\n", "line 2: question \"x\" has 1 choices"},
		{"questions:\n  - id: x\n    type: year\n    label: x\n  - id: x\n    type: year\n    label: y\n", "line 5: question \"x\": the id is used by question 1"},
		{"questions:\n  - id: X\n    type: year\n    label: x\n", "line 2"},
		{"questions:\n  - id: x\n    type: year\n    label: x\n    required: yes please\n", "true or false"},
		{"questions: [\n", "not YAML"},
		{"\xff", "UTF-8"},
	} {
		if _, err := ParseQuestions("q.yaml", []byte(tc.yaml), "ko"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}

func FuzzParseQuestions(f *testing.F) {
	f.Add([]byte("questions:\n  - id: x\n    type: single_choice\n    label: {ko: 가}\n    choices:\n      - {value: a, label: A}\n      - {value: b, label: B}\n"))
	f.Add([]byte("questions: []"))
	f.Fuzz(func(t *testing.T, data []byte) {
		qs, err := ParseQuestions("q.yaml", data, "ko")
		if err != nil {
			return
		}
		c := &reply.Content{Study: "fuzz-study", ID: strings.Repeat("b", 26), Lang: "ko", Questions: qs}
		if _, err := c.Marshal(); err != nil && !strings.Contains(err.Error(), "more than a record holds") {
			t.Fatalf("questions read but not a reply's: %v", err)
		}
	})
}

func TestReplyText(t *testing.T) {
	got, err := ReplyText("r.txt", []byte("\uFEFF고맙습니다.\r\n한 가지 더.\r\n\r\n"))
	if err != nil || got != "고맙습니다.\n한 가지 더." {
		t.Fatalf("ReplyText = %q, %v", got, err)
	}
	for _, bad := range []string{"\xff", "a\nb\x1b[31m", "  \n"} {
		if _, err := ReplyText("r.txt", []byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func wantQuarantine(t testing.TB, ws *Workspace, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, q := range ws.Quarantined() {
		got[q.Reason] = q.Count
	}
	if !maps.Equal(got, want) {
		t.Errorf("quarantined %v, want %v", got, want)
	}
}

func readMarkdown(t testing.TB, dir, name string) string {
	t.Helper()
	md, _ := filepath.Glob(filepath.Join(dir, markdownDir, name+" *.md"))
	if len(md) != 1 {
		t.Fatalf("Markdown files of %s: %v", name, md)
	}
	b, _ := os.ReadFile(md[0])
	return string(b)
}

func readCSVFile(t testing.TB, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF"))))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// auditCounts sums the counts of the records of the workspace's audit
// log, by event (records without a count count 1).
func auditCounts(t testing.TB, dir string) map[string]int {
	out := map[string]int{}
	for _, l := range auditLines(t, dir) {
		r, err := audit.ParseRecord([]byte(l + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		n := r.Count
		if n == 0 {
			n = 1
		}
		out[string(r.Event)] += n
	}
	return out
}

// TestHandoverCarriesThreads: a researcher who joined later gets, with
// the testimonies sealed before, the messages on their threads and every
// withdrawal; a withdrawn testimony is handed over to nobody. Their
// exports are then the teammate's.
func TestHandoverCarriesThreads(t *testing.T) {
	f := newFixture(t)
	v1yaml := f.yaml
	c, v2, v2yaml := f.newcomer(t)
	p, q := newPerson(1), newPerson(2)
	var b1 bytes.Buffer
	if _, err := batch.Write(&b1, f.signer, f.study.ID, []batch.Envelope{
		f.testimony(t, p, "보탤 사람"), f.testimony(t, q, "철회할 사람"), f.testimony(t, nil, "조용한 사람"),
		f.message(t, p, p, addition("보탠 말")), f.message(t, q, q, withdrawal()),
	}, v1yaml); err != nil {
		t.Fatal(err)
	}
	f.study, f.yaml = v2, v2yaml
	a, newDir := t.TempDir(), t.TempDir()
	if err := decryptRun(a, v2, f.ids[0], f.verifier, b1.Bytes()); err != nil {
		t.Fatal(err)
	}
	ws := f.open(t, a, f.ids[0])
	var file bytes.Buffer
	hs, err := ws.WriteHandover(&file, c.Recipient(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	// Two testimonies, the addition and the withdrawal; not the withdrawn testimony.
	if hs.Envelopes != 4 {
		t.Fatalf("handover written: %+v", hs)
	}
	ws = f.open(t, newDir, c)
	if err := ws.SetStudyFile(v2yaml); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Import(bytes.NewReader(b1.Bytes()), []note.Verifier{f.verifier}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	ws = f.open(t, newDir, c)
	sum, err := ws.ImportHandover(bytes.NewReader(file.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Imported != 2 || sum.Messages != 2 {
		t.Fatalf("handover imported: %+v", sum)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if ws.Len() != 2 || ws.Threads().Waiting != 1 {
		t.Fatalf("the newcomer holds %d testimonies, %+v", ws.Len(), ws.Threads())
	}
	got, want := exports(t, newDir), exports(t, a)
	delete(got, quarantineFile)
	delete(want, quarantineFile)
	sameExports(t, "the newcomer's", got, want)
}
