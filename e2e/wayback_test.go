package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/response"
)

// TestWayBackTeam runs the way back with the real intake, researcher and
// auditor commands on loopback, as a team meets it: people with return
// passphrases post what their browsers post (testimonies, then
// follow-ups, an addition and a withdrawal, sealed to the researchers),
// and download the replies as their browsers do. One researcher decrypts
// batch by batch and writes replies; the other decrypts everything in one
// run with the first one's team copy. Both get identical exports, threads
// and withdrawal included; auditor reconcile names the reply batch until
// the operator imports it, then passes.
func TestWayBackTeam(t *testing.T) {
	bin := buildCommands(t)
	auditor := filepath.Join(bin, "auditor")
	c := exec.Command("go", "build", "-o", auditor, "./cmd/auditor")
	c.Dir = ".."
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/auditor: %v\n%s", err, out)
	}
	dir := t.TempDir()
	run := func(name string, want int, args ...string) string {
		t.Helper()
		out, code := command(t, bin, name, args...)
		if code != want {
			t.Fatalf("%s %s: exit %d, want %d\n%s", name, strings.Join(args, " "), code, want, out)
		}
		return out
	}
	var keys, passes []string
	var rs []*envelope.Recipient
	for _, who := range []string{"a", "b"} {
		pass := filepath.Join(dir, who+".pass")
		os.WriteFile(pass, []byte("passphrase of "+who), 0o600)
		key := filepath.Join(dir, who+".key")
		out := run("researcher", 0, "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests")
		for _, l := range strings.Split(out, "\n") {
			if pub, ok := strings.CutPrefix(l, "public key:"); ok {
				r, err := envelope.ParseRecipient(strings.TrimSpace(pub))
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, r)
			}
		}
		keys, passes = append(keys, key), append(passes, pass)
	}
	study, studyYAML := loadStudy(t, "wayback-team", rs...)
	studyPath := filepath.Join(dir, "study.yaml")
	os.WriteFile(studyPath, []byte(studyYAML), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	data := filepath.Join(dir, "data")
	srv := serveStudy(t, filepath.Join(bin, "intake"), studyPath, data, addr)
	defer srv.stop(t)

	seal := func(pt []byte) {
		t.Helper()
		env, err := envelope.Seal(study.ID, pt, rs)
		if err != nil {
			t.Fatal(err)
		}
		status, body := postPage(t, base, "/sealed", url.Values{"envelope": {base64.StdEncoding.EncodeToString(env)}, "lang": {"ko"}})
		if status != http.StatusOK {
			t.Fatalf("POST /sealed: %d\n%s", status, body)
		}
	}
	var people []*returnkey.Keys
	for i := range 4 {
		var seed [returnkey.SeedSize]byte
		seed[0] = byte(i + 1)
		k := returnkey.NewKeys(seed)
		people = append(people, k)
		pt, err := response.Marshal(study, &response.Response{Study: study.ID, Language: "ko", Return: k.Address(),
			Answers: map[string][]string{"left_year": {"2019"}, "phone": {"no"}, "consent": {"yes"}, "story": {fmt.Sprint("사람 ", i+1, "의 이야기")}}})
		if err != nil {
			t.Fatal(err)
		}
		seal(pt)
	}
	noReturn, _ := response.Marshal(study, &response.Response{Study: study.ID, Language: "en", Answers: map[string][]string{"left_year": {"2010"}, "phone": {"no"}, "consent": {"yes"}}})
	seal(noReturn)

	exports := filepath.Join(dir, "exports")
	os.MkdirAll(exports, 0o700)
	var batches []string
	export := func() string {
		t.Helper()
		run("intake", 0, "export", "--data", data, "--out", exports)
		all, _ := filepath.Glob(filepath.Join(exports, "*.tar"))
		for _, b := range all {
			if !slices.Contains(batches, b) {
				batches = append(batches, b)
				return b
			}
		}
		t.Fatal("export wrote no batch")
		return ""
	}
	serverKey := strings.TrimSpace(run("intake", 0, "server-key", "--data", data))
	wa, wb := filepath.Join(dir, "ws-a"), filepath.Join(dir, "ws-b")
	decrypt := func(who int, ws string, args ...string) string {
		return run("researcher", 0, append([]string{"decrypt", "--key", keys[who], "--passphrase-file", passes[who], "--study", studyPath, "--server-key", serverKey, "--out", ws}, args...)...)
	}
	b1 := export()
	decrypt(0, wa, b1)

	// A replies to persons 1 and 2, with a question.
	text := filepath.Join(dir, "reply.txt")
	os.WriteFile(text, []byte("고맙습니다. 하나만 더 묻겠습니다."), 0o600)
	questions := filepath.Join(dir, "q.yaml")
	os.WriteFile(questions, []byte("questions:\n  - {id: year, type: year, label: {ko: 몇 년이었습니까?, en: Which year?}, required: true}\n"), 0o600)
	for _, story := range []string{"사람 1의 이야기", "사람 2의 이야기"} {
		run("researcher", 0, "reply", "--key", keys[0], "--passphrase-file", passes[0], "--workspace", wa, "--to", pseudonymOf(t, wa, story), "--text", text, "--questions", questions)
	}
	replies := filepath.Join(dir, "replies-1.tar")
	run("researcher", 0, "reply-batch", "--key", keys[0], "--passphrase-file", passes[0], "--workspace", wa, "--out", replies)
	auditKey := func(ws string) string { return strings.TrimSpace(run("researcher", 0, "audit-key", "--workspace", ws)) }
	serverAudit := strings.TrimSpace(run("intake", 0, "audit-key", "--data", data))
	reconcile := func(want int, ws ...string) string {
		args := []string{"reconcile", "--server-log", filepath.Join(data, "audit"), "--server-key", serverAudit}
		for _, w := range ws {
			args = append(args, "--researcher-log", filepath.Join(w, "audit"), "--researcher-key", auditKey(w))
		}
		out, code := command(t, bin, "auditor", args...)
		if code != want {
			t.Fatalf("auditor reconcile: exit %d, want %d\n%s", code, want, out)
		}
		return out
	}
	if out := reconcile(1, wa); !strings.Contains(out, "reply-batch-not-imported") {
		t.Fatalf("reconcile before the reply batch is imported:\n%s", out)
	}
	run("intake", 0, "replies", "import", "--data", data, "--config", studyPath, replies)

	// Persons 1 and 2 download the replies, as a browser does, and answer;
	// person 3 adds to their testimony; person 4 withdraws it.
	var download []byte
	for try := 0; ; try++ {
		resp, err := client.Get(base + "/back/replies")
		if err != nil {
			t.Fatal(err)
		}
		download, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if found, _, _ := reply.Find(download, people[0], study.ID, rs); len(found) == 1 || try == 30 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the server looks again within a second
	}
	send := func(k *returnkey.Keys, m *response.Message) {
		t.Helper()
		m.Language, m.Thread = "ko", k.Address()
		if m.Lists == nil {
			m.Lists = map[string]bool{}
		}
		pt, err := response.SignThread(study, m, k)
		if err != nil {
			t.Fatal(err)
		}
		seal(pt)
	}
	for i, k := range people[:2] {
		found, unreadable, err := reply.Find(download, k, study.ID, rs)
		if err != nil || unreadable != 0 || len(found) != 1 {
			t.Fatalf("person %d finds %d replies (%d unreadable, %v)", i+1, len(found), unreadable, err)
		}
		send(k, &response.Message{Kind: response.Followup, Reply: found[0].Content.ID, Answers: map[string][]string{"year": {fmt.Sprint(2015 + i)}}})
	}
	if found, _, _ := reply.Find(download, people[2], study.ID, rs); len(found) != 0 {
		t.Fatalf("person 3 finds replies written to others: %+v", found)
	}
	send(people[2], &response.Message{Kind: response.Addition, Answers: map[string][]string{"text": {"사람 3이 보탠 말"}}})
	send(people[3], &response.Message{Kind: response.Withdrawal, Answers: map[string][]string{}})
	b2 := export()

	// A decrypts batch by batch; B everything at once, with A's team copy.
	outA := decrypt(0, wa, b2)
	outB := decrypt(1, wb, b1, b2, "--replies", strings.TrimSuffix(replies, ".tar")+".team")
	for _, out := range []string{outA, outB} {
		for _, want := range []string{"4 testimonies in", "1 withdrawn by the people who gave them", "2 follow-ups and 1 additions on the threads of 3 testimonies"} {
			if !strings.Contains(out, want) {
				t.Errorf("decrypt says:\n%s\nwant %q", out, want)
			}
		}
	}
	for _, f := range []string{"testimonies.csv", "testimonies.jsonl", "codebook.csv", "followups.csv", "thread.jsonl", "quarantine.jsonl"} {
		a, _ := os.ReadFile(filepath.Join(wa, f))
		b, _ := os.ReadFile(filepath.Join(wb, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the researchers:\n%s\n---\n%s", f, a, b)
		}
	}
	fu, _ := os.ReadFile(filepath.Join(wa, "followups.csv"))
	for _, want := range []string{pseudonymOf(t, wa, "사람 1의 이야기") + `","`, `"2015"`, `"2016"`, "사람 3이 보탠 말"} {
		if !bytes.Contains(fu, []byte(want)) {
			t.Errorf("followups.csv lacks %q:\n%s", want, fu)
		}
	}
	for _, f := range []string{"testimonies.csv", "data/testimonies"} {
		if b, _ := os.ReadFile(filepath.Join(wa, f)); bytes.Contains(b, []byte("사람 4의 이야기")) {
			t.Errorf("%s holds the withdrawn testimony", f)
		}
	}
	out := reconcile(0, wa, wb)
	if !strings.Contains(out, "reply batches written by the researchers: 1") {
		t.Errorf("reconcile:\n%s", out)
	}
}

// pseudonymOf returns the pseudonym of the testimony of the workspace ws
// whose Markdown file holds text.
func pseudonymOf(t *testing.T, ws, text string) string {
	t.Helper()
	md, _ := filepath.Glob(filepath.Join(ws, "testimonies", "*.md"))
	for _, p := range md {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(text)) {
			return strings.Fields(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "# "))[0]
		}
	}
	t.Fatalf("no testimony of %s says %q", ws, text)
	return ""
}
