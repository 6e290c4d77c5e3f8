package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

// threadBatch writes a batch of the plaintexts given, sealed to the team.
func (tm *team) threadBatch(t *testing.T, name string, pts ...[]byte) string {
	t.Helper()
	var to []*envelope.Recipient
	for _, id := range tm.ids {
		to = append(to, id.Recipient())
	}
	var envs []batch.Envelope
	for i, pt := range pts {
		env, err := envelope.Seal(tm.study.ID, pt, to)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, batch.Envelope{ID: strings.Repeat("b", 25) + string("abcdefghijklmnopqrstuvwxyz"[i]), Data: env})
	}
	path := filepath.Join(tm.dir, name)
	var b bytes.Buffer
	if _, err := batch.Write(&b, tm.signer, tm.study.ID, envs); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b.Bytes(), 0o600)
	return path
}

// TestReplies runs the commands of the way back: a reply with questions
// to a testimony with a return address (refused, saying why, to one
// without), the reply batch and its team copy, the follow-up it brings
// back attached under the testimony's pseudonym by both researchers,
// the second with the first one's team copy; then a withdrawal.
func TestReplies(t *testing.T) {
	tm := newTeam(t)
	var seed [returnkey.SeedSize]byte
	seed[0] = 1
	keys := returnkey.NewKeys(seed)
	withReturn, _ := response.Marshal(tm.study, &response.Response{Study: tm.study.ID, Language: "ko", Return: keys.Address(), Answers: map[string][]string{"story": {"돌아올 사람"}}})
	without, _ := response.Marshal(tm.study, &response.Response{Study: tm.study.ID, Language: "en", Answers: map[string][]string{"story": {"no way back"}}})
	b1 := tm.threadBatch(t, "b1.tar", withReturn, without)
	w0, w1 := filepath.Join(tm.dir, "w0"), filepath.Join(tm.dir, "w1")
	for i, w := range []string{w0, w1} {
		if out, errOut, code := tm.decrypt(t, i, w, b1); code != exitOK {
			t.Fatalf("decrypt: %d\n%s%s", code, out, errOut)
		}
	}
	var back, none string
	for _, md := range mdFiles(t, w0) {
		data := readFile(t, md)
		name := strings.Fields(strings.TrimPrefix(strings.SplitN(data, "\n", 2)[0], "# "))[0]
		if strings.Contains(data, "돌아올 사람") {
			back = name
		} else {
			none = name
		}
	}
	text := filepath.Join(tm.dir, "reply.txt")
	os.WriteFile(text, []byte("증언을 고맙게 받았습니다.\r\n한 가지만 더 묻겠습니다.\r\n"), 0o600)
	questions := filepath.Join(tm.dir, "questions.yaml")
	os.WriteFile(questions, []byte("questions:\n  - id: year\n    type: year\n    label: {ko: 그 일은 몇 년에 있었습니까?, en: In what year?}\n    required: true\n"), 0o600)
	bad := filepath.Join(tm.dir, "bad.yaml")
	os.WriteFile(bad, []byte("questions:\n  - id: year\n    type: date_approx\n    label: 언제?\n"), 0o600)
	replyArgs := func(to string, extra ...string) []string {
		return append([]string{"reply", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", w0, "--to", to}, extra...)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{replyArgs(back), exitUsage, "--text"},
		{replyArgs(back, "--questions", bad), exitUsage, "bad.yaml line 3"},
		{replyArgs(back, "--text", filepath.Join(tm.dir, "missing.txt")), exitUsage, "missing.txt"},
		{replyArgs(none, "--text", text), exitFailure, "no return address"},
		{replyArgs("김없음", "--text", text), exitFailure, "김없음"},
	} {
		_, errOut, code := cli(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d, %q; want %d and one line with %q", c.args, code, errOut, c.code, c.want)
		}
	}
	out := mustCLI(t, exitOK, replyArgs(back, "--text", text, "--questions", questions)...)
	if !strings.Contains(out, "queued, in ko (1 queued in all)") {
		t.Fatalf("reply: %s", out)
	}
	out, _, _ = tm.decrypt(t, 0, w0)
	if !strings.Contains(out, "1 replies queued") {
		t.Errorf("decrypt does not say a reply waits to be sealed:\n%s", out)
	}
	replies := filepath.Join(tm.dir, "usb", "replies-1.tar")
	os.MkdirAll(filepath.Dir(replies), 0o700)
	batchArgs := []string{"reply-batch", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", w0, "--out", replies}
	out = mustCLI(t, exitOK, batchArgs...)
	teamCopy := filepath.Join(tm.dir, "usb", "replies-1.team")
	if !strings.Contains(out, "1 replies sealed in "+replies) || !strings.Contains(out, "team copy written to "+teamCopy) {
		t.Fatalf("reply-batch: %s", out)
	}
	if _, errOut, code := cli(t, batchArgs...); code != exitUsage || !strings.Contains(errOut, "already exists") {
		t.Errorf("reply-batch over an existing file: %d %s", code, errOut)
	}
	again := filepath.Join(tm.dir, "again.tar")
	_, errOut, code := cli(t, "reply-batch", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", w0, "--out", again)
	if code != exitFailure || !strings.Contains(errOut, "no reply is queued") || !strings.Contains(errOut, "--again") {
		t.Errorf("reply-batch with nothing queued: %d %s", code, errOut)
	}
	mustCLI(t, exitOK, "reply-batch", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", w0, "--out", again, "--again")
	if !bytes.Equal([]byte(readFile(t, again)), []byte(readFile(t, replies))) || readFile(t, filepath.Join(tm.dir, "again.team")) != readFile(t, teamCopy) {
		t.Error("reply-batch --again wrote other bytes")
	}

	// The person finds the reply and answers it.
	_, recs, err := reply.ReadAll(bytes.NewReader([]byte(readFile(t, replies))), []note.Verifier{tm.ids[0].Recipient().Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	found, _, err := reply.Find(recs[0].Data, keys, tm.study.ID, []*envelope.Recipient{tm.ids[0].Recipient()})
	if err != nil || len(found) != 1 || found[0].Content.Text != "증언을 고맙게 받았습니다.\n한 가지만 더 묻겠습니다." || found[0].Content.Questions[0].Label != "그 일은 몇 년에 있었습니까?" {
		t.Fatalf("the person finds %+v, %v", found, err)
	}
	followup, err := response.SignThread(tm.study, &response.Message{Language: "ko", Kind: response.Followup, Thread: keys.Address(), Reply: found[0].Content.ID,
		Answers: map[string][]string{"year": {"2019"}}, Lists: map[string]bool{}}, keys)
	if err != nil {
		t.Fatal(err)
	}
	b2 := tm.threadBatch(t, "b2.tar", followup)
	out, _, code = tm.decrypt(t, 0, w0, b2)
	if code != exitOK || !strings.Contains(out, "1 follow-ups and 0 additions on the threads of 1 testimonies") {
		t.Fatalf("decrypt of the follow-up: %d\n%s", code, out)
	}
	// Without the team copy, the other researcher holds it; with it, attaches it.
	out, _, code = tm.decrypt(t, 1, w1, b2)
	if code != exitQuarantined || !strings.Contains(out, "reply-unknown") {
		t.Fatalf("decrypt without the team copy: %d\n%s", code, out)
	}
	out, _, code = cli(t, "decrypt", "--key", tm.keys[1], "--passphrase-file", tm.pass[1], "--study", tm.studyPath, "--out", w1, "--replies", teamCopy)
	if code != exitOK || !strings.Contains(out, "team copy of 1 replies by "+tm.ids[0].Recipient().Fingerprint()+", 1 new") || !strings.Contains(out, "1 follow-ups") {
		t.Fatalf("decrypt --replies: %d\n%s", code, out)
	}
	for _, f := range []string{"followups.csv", "thread.jsonl", "testimonies.csv"} {
		if readFile(t, filepath.Join(w0, f)) != readFile(t, filepath.Join(w1, f)) {
			t.Errorf("%s differs between the researchers", f)
		}
	}
	if !strings.Contains(readFile(t, filepath.Join(w1, "followups.csv")), `"year","year","그 일은 몇 년에 있었습니까?","2019"`) {
		t.Errorf("followups.csv:\n%s", readFile(t, filepath.Join(w1, "followups.csv")))
	}

	// The person withdraws.
	withdraw, _ := response.SignThread(tm.study, &response.Message{Language: "ko", Kind: response.Withdrawal, Thread: keys.Address(), Answers: map[string][]string{}}, keys)
	b3 := tm.threadBatch(t, "b3.tar", withdraw)
	out, _, code = tm.decrypt(t, 0, w0, b3)
	if code != exitOK || !strings.Contains(out, "1 testimonies in") || !strings.Contains(out, "1 withdrawn by the people who gave them") {
		t.Fatalf("decrypt of the withdrawal: %d\n%s", code, out)
	}
	for _, f := range []string{"followups.csv", "thread.jsonl", "testimonies.csv", "testimonies.jsonl"} {
		if data := readFile(t, filepath.Join(w0, f)); strings.Contains(data, back) || strings.Contains(data, "돌아올") || strings.Contains(data, "2019") {
			t.Errorf("%s still holds the withdrawn testimony or its thread", f)
		}
	}
	if _, errOut, code := cli(t, replyArgs(back, "--text", text)...); code != exitFailure || !strings.Contains(errOut, "withdrawn") {
		t.Errorf("a reply to a withdrawn testimony: %d %s", code, errOut)
	}
}

func mdFiles(t *testing.T, ws string) []string {
	t.Helper()
	md, _ := filepath.Glob(filepath.Join(ws, "testimonies", "*.md"))
	return md
}
