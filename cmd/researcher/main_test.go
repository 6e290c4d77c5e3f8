package main

import (
	"bytes"
	"fmt"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/keyfile"
	"github.com/testimony-project/testimony/internal/clitest"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs the command line args as main does and returns its output and
// exit status.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(args, &out, &errb)
	return out.String(), errb.String(), code
}

// run runs args and returns the command's error, as cobra returns it.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return clitest.Run(t, newRoot, args...)
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	clitest.CheckExamples(t, newRoot(nil, nil))
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	key := filepath.Join(dir, "k")
	out, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "public key:  testimony-pub-") || !strings.Contains(out, "fingerprint: ") {
		t.Fatalf("keygen printed:\n%s", out)
	}
	info, err := os.Stat(key)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	pub, _, err := run(t, "pubkey", "--key", key)
	if err != nil || pub != out {
		t.Fatalf("pubkey printed %q, keygen %q (%v)", pub, out, err)
	}
	if _, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pass); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("keygen over an existing key: %v", err)
	}
	// Without a terminal and without --passphrase-file, a clear error.
	if _, _, err := run(t, "keygen", "--out", filepath.Join(dir, "k2")); err == nil || !strings.Contains(err.Error(), "--passphrase-file") {
		t.Fatalf("keygen without terminal: %v", err)
	}
}

func TestDecryptErrorsAreOneClearLine(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("right"), 0o600)
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("wrong"), 0o600)
	key := filepath.Join(dir, "k")
	if _, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests"); err != nil {
		t.Fatal(err)
	}
	study := filepath.Join(dir, "s.yaml")
	os.WriteFile(study, []byte("id: x\n"), 0o600)
	batchFile := filepath.Join(dir, "batch.tar")
	os.WriteFile(batchFile, []byte("not a batch"), 0o600)
	example := "../../examples/nk-internet-access.yaml"
	serverKey := "testimony-server+25a21965+ARVLuxApjAPKJ6lGzG4+EKk03ePxGIQgtg5/CGLpwOj8"
	cases := []struct {
		name  string
		args  []string
		batch string
		want  string
		code  int
	}{
		{"broken study", []string{"--study", study, "--server-key", "a+b+c", "--passphrase-file", pass}, batchFile, "s.yaml", exitUsage},
		{"bad server key", []string{"--study", example, "--server-key", "nonsense", "--passphrase-file", pass}, batchFile, "--server-key", exitUsage},
		{"missing batch", []string{"--study", example, "--server-key", serverKey, "--passphrase-file", pass}, filepath.Join(dir, "missing.tar"), "missing.tar", exitUsage},
		{"missing key", []string{"--study", example, "--server-key", serverKey, "--passphrase-file", pass, "--key", filepath.Join(dir, "nokey")}, batchFile, "nokey", exitUsage},
		{"wrong passphrase", []string{"--study", example, "--server-key", serverKey, "--passphrase-file", wrong}, batchFile, "wrong passphrase", exitFailure},
		{"unknown flag", []string{"--study", example, "--server-key", serverKey, "--passphrase-file", pass, "--frobnicate"}, batchFile, "frobnicate", exitUsage},
		{"missing flag", []string{"--server-key", serverKey, "--passphrase-file", pass}, batchFile, "study", exitUsage},
		{"unknown language", []string{"--study", example, "--server-key", serverKey, "--passphrase-file", pass, "--lang", "xx"}, batchFile, "--lang", exitUsage},
	}
	for _, c := range cases {
		args := append([]string{"decrypt", "--key", key, "--out", filepath.Join(dir, "ws-"+c.name)}, c.args...)
		args = append(args, c.batch)
		_, stderr, code := cli(t, args...)
		oneLine := strings.Count(stderr, "\n") == 1 || c.name == "broken study" // a line per mistake in the file
		if code != c.code || !strings.Contains(stderr, c.want) || !oneLine {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line mentioning %q", c.name, code, stderr, c.code, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "ws-"+c.name)); !os.IsNotExist(err) {
			t.Errorf("%s: the workspace folder was made: %v", c.name, err)
		}
	}
	if _, _, code := cli(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := cli(t, "pubkey"); code != exitUsage {
		t.Errorf("pubkey without --key: exit %d, want %d", code, exitUsage)
	}
}

// team is a study with two researchers' keys, made by keygen, and a
// server key.
type team struct {
	dir        string
	keys, pass []string
	ids        []*envelope.Identity
	studyPath  string
	study      *config.Study
	signer     note.Signer
	serverKey  string
}

func newTeam(t *testing.T) *team {
	t.Helper()
	tm := &team{dir: t.TempDir()}
	var recipients []string
	for i := range 2 {
		pass := filepath.Join(tm.dir, fmt.Sprint("pass", i))
		os.WriteFile(pass, []byte(fmt.Sprint("passphrase of researcher ", i)), 0o600)
		key := filepath.Join(tm.dir, fmt.Sprint("key", i))
		out, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests")
		if err != nil {
			t.Fatal(err)
		}
		pub := strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "public key:  ")
		recipients = append(recipients, fmt.Sprintf("  - {name: R%d, public_key: %s}\n", i, pub))
		data, _ := os.ReadFile(key)
		id, err := keyfile.Decrypt(data, []byte(fmt.Sprint("passphrase of researcher ", i)))
		if err != nil {
			t.Fatal(err)
		}
		tm.keys, tm.pass, tm.ids = append(tm.keys, key), append(tm.pass, pass), append(tm.ids, id)
	}
	tm.studyPath = filepath.Join(tm.dir, "study.yaml")
	tm.writeStudy(t, recipients, true)
	skey, vkey, err := batch.GenerateKey("test-server")
	if err != nil {
		t.Fatal(err)
	}
	tm.signer, _ = note.NewSigner(skey)
	tm.serverKey = vkey
	return tm
}

// writeStudy writes the study file, with or without its "age" question.
func (tm *team) writeStudy(t *testing.T, recipients []string, withAge bool) {
	t.Helper()
	y := "id: cli-study\ntitle: {ko: 시험, en: Test, zh: 测试}\nintroduction: {ko: 시험, en: Test, zh: 测试}\nrecipients:\n" + strings.Join(recipients, "") +
		"questions:\n  - {id: story, type: long_text, label: {ko: 이야기, en: Story, zh: 故事}}\n"
	if withAge {
		y += "  - {id: age, type: integer, label: {ko: 나이, en: Age, zh: 年龄}}\n"
	}
	os.WriteFile(tm.studyPath, []byte(y), 0o600)
	var err error
	if tm.study, err = config.Load(tm.studyPath); err != nil {
		t.Fatal(err)
	}
}

// batch writes a batch of envelopes of the given answers, sealed to
// recipients (all the team's keys if none), and returns its path.
func (tm *team) batch(t *testing.T, name string, answers []map[string][]string, to ...*envelope.Recipient) string {
	t.Helper()
	if len(to) == 0 {
		for _, id := range tm.ids {
			to = append(to, id.Recipient())
		}
	}
	var envs []batch.Envelope
	for i, a := range answers {
		pt, err := response.Marshal(tm.study, &response.Response{Study: tm.study.ID, Language: "ko", Answers: a})
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Seal(tm.study.ID, pt, to)
		if err != nil {
			t.Fatal(err)
		}
		id := []byte(strings.Repeat("a", 26))
		for j, n := 25, i; n > 0; j, n = j-1, n/32 {
			id[j] = "abcdefghijklmnopqrstuvwxyz234567"[n%32]
		}
		envs = append(envs, batch.Envelope{ID: string(id), Data: env})
	}
	path := filepath.Join(tm.dir, name)
	f, _ := os.Create(path)
	defer f.Close()
	if _, err := batch.Write(f, tm.signer, tm.study.ID, envs); err != nil {
		t.Fatal(err)
	}
	return path
}

func (tm *team) decrypt(t *testing.T, who int, ws string, batches ...string) (string, string, int) {
	t.Helper()
	args := []string{"decrypt", "--key", tm.keys[who], "--passphrase-file", tm.pass[who], "--study", tm.studyPath,
		"--server-key", tm.serverKey, "--out", ws}
	return cli(t, append(args, batches...)...)
}

func stories(n int, extra map[string][]string) []map[string][]string {
	var out []map[string][]string
	for i := range n {
		a := map[string][]string{"story": {fmt.Sprint("이야기 ", i)}}
		for k, v := range extra {
			a[k] = v
		}
		out = append(out, a)
	}
	return out
}

// TestDecryptQuarantineIsLoudAndRecoverable: a study file that is not the
// version the answers name (a copy that lost a question), with batches that
// do not carry that version, quarantines the testimonies: exit status 3,
// with reasons; once the study is corrected, decrypt without batches brings
// them in.
func TestDecryptQuarantineIsLoudAndRecoverable(t *testing.T) {
	tm := newTeam(t)
	b1 := tm.batch(t, "b1.tar", append(stories(3, nil), stories(2, map[string][]string{"age": {"41"}})...))
	recipients := []string{}
	for i, id := range tm.ids {
		recipients = append(recipients, fmt.Sprintf("  - {name: R%d, public_key: %s}\n", i, id.Recipient()))
	}
	tm.writeStudy(t, recipients, false) // the researcher's copy lost "age"
	ws := filepath.Join(tm.dir, "ws")
	out, stderr, code := tm.decrypt(t, 0, ws, b1)
	if code != exitQuarantined {
		t.Fatalf("decrypt with quarantined envelopes: exit %d, want %d\n%s%s", code, exitQuarantined, out, stderr)
	}
	if !strings.Contains(out, "0 testimonies in") || !strings.Contains(out, "5 envelopes quarantined") || !strings.Contains(out, "unknown-version") {
		t.Fatalf("summary does not name the quarantine and its reasons:\n%s", out)
	}
	if !strings.Contains(stderr, "b1.tar: 5 of 5 envelopes (100%)") {
		t.Errorf("no plain progress line on a non-terminal stderr:\n%s", stderr)
	}
	tm.writeStudy(t, recipients, true)
	out, stderr, code = tm.decrypt(t, 0, ws)
	if code != exitOK {
		t.Fatalf("decrypt after correcting the study: exit %d, want 0\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "5 brought in") || !strings.Contains(out, "5 testimonies in") || strings.Contains(out, "quarantined in") {
		t.Fatalf("quarantine not recovered:\n%s", out)
	}
	csv, _ := os.ReadFile(filepath.Join(ws, "testimonies.csv"))
	if strings.Count(string(csv), "\r\n") != 6 || !strings.Contains(string(csv), `,"41"`+"\r\n") {
		t.Fatalf("testimonies.csv after recovery:\n%s", csv)
	}
	q, _ := os.ReadFile(filepath.Join(ws, "quarantine.jsonl"))
	if len(q) != 0 {
		t.Fatalf("quarantine.jsonl still lists recovered envelopes:\n%s", q)
	}
}

// TestDecryptWrongKeyWritesNothing: a key that is not a recipient of the
// study, or that opens none of a batch's envelopes, is refused with the
// fingerprints involved, and no workspace is made.
func TestDecryptWrongKeyWritesNothing(t *testing.T) {
	tm := newTeam(t)
	b := tm.batch(t, "b.tar", stories(6, nil), tm.ids[0].Recipient())
	ws := filepath.Join(tm.dir, "ws")
	_, stderr, code := tm.decrypt(t, 1, ws, b)
	fp0, fp1 := tm.ids[0].Recipient().Fingerprint(), tm.ids[1].Recipient().Fingerprint()
	if code != exitFailure || !strings.Contains(stderr, "opens none of the 6") || !strings.Contains(stderr, fp0) || !strings.Contains(stderr, fp1) {
		t.Fatalf("decrypt with a key that opens nothing: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(ws); !os.IsNotExist(err) {
		t.Fatalf("a refused run left the workspace behind: %v", err)
	}
	// The right key then makes the workspace as if nothing had happened.
	if out, stderr, code := tm.decrypt(t, 0, ws, b); code != exitOK || !strings.Contains(out, "6 testimonies in") {
		t.Fatalf("decrypt with the right key: exit %d\n%s%s", code, out, stderr)
	}
	// A researcher key absent from the study.
	tm.writeStudy(t, []string{fmt.Sprintf("  - {name: R0, public_key: %s}\n", tm.ids[0].Recipient())}, true)
	ws2 := filepath.Join(tm.dir, "ws2")
	if _, stderr, code := tm.decrypt(t, 1, ws2, b); code != exitFailure || !strings.Contains(stderr, "not a recipient") || !strings.Contains(stderr, fp0) {
		t.Fatalf("decrypt with a key absent from the study: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(ws2); !os.IsNotExist(err) {
		t.Fatalf("a refused run left the workspace behind: %v", err)
	}
}

// TestDecryptTwoResearchersSameExports: two researchers decrypting the same
// batches, given in different orders, get identical exports.
func TestDecryptTwoResearchersSameExports(t *testing.T) {
	tm := newTeam(t)
	b1 := tm.batch(t, "b1.tar", stories(5, nil))
	b2 := tm.batch(t, "b2.tar", stories(4, map[string][]string{"age": {"30"}}))
	w0, w1 := filepath.Join(tm.dir, "w0"), filepath.Join(tm.dir, "w1")
	if _, stderr, code := tm.decrypt(t, 0, w0, b1, b2); code != exitOK {
		t.Fatal(stderr)
	}
	if _, stderr, code := tm.decrypt(t, 1, w1, b2, b1); code != exitOK {
		t.Fatal(stderr)
	}
	for _, f := range []string{"testimonies.csv", "testimonies.jsonl", "codebook.csv"} {
		a, _ := os.ReadFile(filepath.Join(w0, f))
		b, _ := os.ReadFile(filepath.Join(w1, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the two researchers:\n%s\n---\n%s", f, a, b)
		}
	}
	l0, _, _ := run(t, "pseudonym", "list", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--study", tm.studyPath, "--workspace", w0)
	if strings.Count(l0, "\n") != 9 {
		t.Fatalf("pseudonym list:\n%s", l0)
	}
}
