package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/keyfile"
	"github.com/testimony-project/testimony/receipt"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

// newKey makes a researcher key with keygen and returns its file, its
// passphrase file and the identity.
func newResearcherKey(t *testing.T, dir, name string) (string, string, *envelope.Identity) {
	t.Helper()
	pass := filepath.Join(dir, name+".pass")
	os.WriteFile(pass, []byte("passphrase of "+name), 0o600)
	key := filepath.Join(dir, name+".key")
	if _, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(key)
	id, err := keyfile.Decrypt(data, []byte("passphrase of "+name))
	if err != nil {
		t.Fatal(err)
	}
	return key, pass, id
}

// versionedBatch writes a batch carrying the given study files, of
// envelopes answering study, sealed to its recipients.
func (tm *team) versionedBatch(t *testing.T, name string, study *config.Study, stories []string, versions ...string) string {
	t.Helper()
	to, err := study.RecipientKeys()
	if err != nil {
		t.Fatal(err)
	}
	var envs []batch.Envelope
	for i, s := range stories {
		pt, err := response.Marshal(study, &response.Response{Study: study.ID, Language: "ko", Answers: map[string][]string{"story": {s}}})
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Seal(study.ID, pt, to)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, batch.Envelope{ID: strings.Repeat("a", 25) + string("abcdefghijklmnopqrstuvwxyz"[i]), Data: env})
	}
	var files [][]byte
	for _, v := range versions {
		b, _ := os.ReadFile(v)
		files = append(files, b)
	}
	path := filepath.Join(tm.dir, name)
	var b bytes.Buffer
	if _, err := batch.Write(&b, tm.signer, study.ID, envs, files...); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b.Bytes(), 0o600)
	return path
}

func mustCLI(t *testing.T, want int, args ...string) string {
	t.Helper()
	out, stderr, code := cli(t, args...)
	if code != want {
		t.Fatalf("researcher %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, stderr)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTeamLifecycle runs a team's life with the commands: a researcher
// joins (team add), decrypts batches holding envelopes sealed before they
// joined (counted, exit 0), gets them from a teammate (handover), renames
// travel both ways, both workspaces' exports end identical; a researcher
// leaves (team remove); passphrases change; each act is in the audit log.
func TestTeamLifecycle(t *testing.T) {
	tm := newTeam(t)
	v1Path := tm.studyPath
	v1 := tm.study
	b1 := tm.versionedBatch(t, "b1.tar", v1, []string{"이야기 0", "이야기 1", "이야기 2"}, v1Path)
	w0, wc := filepath.Join(tm.dir, "w0"), filepath.Join(tm.dir, "wc")
	mustCLI(t, exitOK, "decrypt", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--study", v1Path, "--server-key", tm.serverKey, "--out", w0, b1)

	// Carol joins.
	ck, cp, cid := newResearcherKey(t, tm.dir, "carol")
	v2Path := filepath.Join(tm.dir, "study-v2.yaml")
	out := mustCLI(t, exitOK, "team", "add", "--study", v1Path, "--name", "Carol (survey team)", "--public-key", cid.Recipient().String(),
		"--out", v2Path, "--workspace", w0, "--key", tm.keys[0], "--passphrase-file", tm.pass[0])
	if !strings.Contains(out, "3 researchers") {
		t.Fatalf("team add: %s", out)
	}
	v2, err := config.Load(v2Path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Replace(readFile(t, v2Path), "  - name: \"Carol (survey team)\"\n    public_key: "+cid.Recipient().String()+"\n", "", 1) != readFile(t, v1Path) {
		t.Fatalf("team add changed more than the recipients:\n%s", readFile(t, v2Path))
	}
	if _, _, code := cli(t, "team", "add", "--study", v1Path, "--name", "Carol", "--public-key", cid.Recipient().String(), "--out", v2Path); code != exitUsage {
		t.Errorf("team add over an existing file: exit %d", code)
	}
	b2 := tm.versionedBatch(t, "b2.tar", v2, []string{"이야기 3", "이야기 4"}, v1Path, v2Path)
	mustCLI(t, exitOK, "decrypt", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--study", v2Path, "--server-key", tm.serverKey, "--out", w0, b2)

	// Carol decrypts both batches: three envelopes predate her.
	out = mustCLI(t, exitOK, "decrypt", "--key", ck, "--passphrase-file", cp, "--study", v2Path, "--server-key", tm.serverKey, "--out", wc, b1, b2)
	if !strings.Contains(out, "2 testimonies in") || !strings.Contains(out, "3 sealed before you joined the team") || strings.Contains(out, "quarantined in") {
		t.Fatalf("newcomer's decrypt:\n%s", out)
	}

	// A handover from researcher 0.
	hand := filepath.Join(tm.dir, "for-carol.handover")
	out = mustCLI(t, exitOK, "handover", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", w0, "--to", cid.Recipient().String(), "--out", hand)
	if !strings.Contains(out, "3 testimonies handed over") || !strings.Contains(out, "2 they can open themselves") {
		t.Fatalf("handover: %s", out)
	}
	out = mustCLI(t, exitOK, "decrypt", "--key", ck, "--passphrase-file", cp, "--study", v2Path, "--out", wc, "--handover", hand)
	if !strings.Contains(out, "3 testimonies brought in") || !strings.Contains(out, "5 testimonies in") || strings.Contains(out, "sealed before") {
		t.Fatalf("decrypt --handover:\n%s", out)
	}

	// Renames both ways.
	list := func(key, pass, ws string) []string {
		var hangul []string
		for _, l := range strings.Split(strings.TrimSpace(mustCLI(t, exitOK, "pseudonym", "list", "--key", key, "--passphrase-file", pass, "--workspace", ws)), "\n") {
			hangul = append(hangul, strings.Split(l, "\t")[0])
		}
		return hangul
	}
	names := list(tm.keys[0], tm.pass[0], w0)
	if len(names) != 5 {
		t.Fatalf("pseudonym list: %v", names)
	}
	mustCLI(t, exitOK, "pseudonym", "rename", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", w0, names[0], "남궁민/Namgung Min")
	mustCLI(t, exitOK, "pseudonym", "rename", "--key", ck, "--passphrase-file", cp, "--workspace", wc, names[2], "선우진")
	r0, rc := filepath.Join(tm.dir, "r0.renames"), filepath.Join(tm.dir, "rc.renames")
	mustCLI(t, exitOK, "pseudonym", "export-renames", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", w0, "--out", r0)
	mustCLI(t, exitOK, "pseudonym", "export-renames", "--key", ck, "--passphrase-file", cp, "--workspace", wc, "--out", rc)
	out = mustCLI(t, exitOK, "pseudonym", "import-renames", "--key", ck, "--passphrase-file", cp, "--workspace", wc, r0, r0)
	if !strings.Contains(out, "1 renames by "+tm.ids[0].Recipient().Fingerprint()+", 1 new (1 applied)") {
		t.Fatalf("import-renames: %s", out)
	}
	mustCLI(t, exitOK, "pseudonym", "import-renames", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", w0, rc)
	for _, f := range []string{"testimonies.csv", "testimonies.jsonl", "codebook.csv"} {
		a, c := readFile(t, filepath.Join(w0, f)), readFile(t, filepath.Join(wc, f))
		if a != c {
			t.Errorf("%s differs between the two researchers:\n%s\n---\n%s", f, a, c)
		}
	}
	csv := readFile(t, filepath.Join(w0, "testimonies.csv"))
	if !strings.Contains(csv, `"남궁민","Namgung Min"`) || !strings.Contains(csv, `"선우진"`) || strings.Count(csv, "\r\n") != 6 {
		t.Fatalf("testimonies.csv after the renames:\n%s", csv)
	}

	// A receipt from the newcomer covers both batches.
	rcpt := filepath.Join(tm.dir, "carol.receipt")
	mustCLI(t, exitOK, "receipt", "--key", ck, "--passphrase-file", cp, "--workspace", wc, "--out", rcpt)
	rb, _ := os.ReadFile(rcpt)
	if r, err := receipt.Verify(rb, []note.Verifier{cid.Recipient().Verifier()}); err != nil || len(r.Batches) != 2 {
		t.Fatalf("receipt: %v, %v", r, err)
	}

	// Researcher 1's key is lost: removed.
	v3Path := filepath.Join(tm.dir, "study-v3.yaml")
	fp1 := tm.ids[1].Recipient().Fingerprint()
	mustCLI(t, exitOK, "team", "remove", "--study", v2Path, "--fingerprint", fp1, "--out", v3Path, "--workspace", wc, "--key", ck, "--passphrase-file", cp)
	v3, err := config.Load(v3Path)
	if err != nil || len(v3.Recipients) != 2 || strings.Contains(readFile(t, v3Path), tm.ids[1].Recipient().String()) {
		t.Fatalf("team remove: %v\n%s", err, readFile(t, v3Path))
	}
	if _, stderr, code := cli(t, "team", "remove", "--study", v3Path, "--fingerprint", fp1, "--out", filepath.Join(tm.dir, "v4.yaml")); code != exitFailure || !strings.Contains(stderr, "no recipient") {
		t.Errorf("removing a key that is not there: exit %d %s", code, stderr)
	}

	// Carol changes her passphrase.
	newPass := filepath.Join(tm.dir, "carol.newpass")
	os.WriteFile(newPass, []byte("a new and much longer passphrase for carol's key"), 0o600)
	mustCLI(t, exitOK, "passphrase", "--key", ck, "--passphrase-file", cp, "--new-passphrase-file", newPass, "--workspace", wc, "--weak-kdf-for-tests")

	for _, tc := range []struct {
		ws   string
		want []string
	}{
		{w0, []string{"researcher-added researcher-key=" + cid.Recipient().Fingerprint(), "handover-written count=3", "renames-signed count=1",
			"renames-applied count=1 researcher-key=" + cid.Recipient().Fingerprint(), "pseudonym-renamed"}},
		{wc, []string{"handover-imported count=3 researcher-key=" + tm.ids[0].Recipient().Fingerprint(), "receipt-issued", "researcher-removed researcher-key=" + fp1,
			"passphrase-changed researcher-key=" + cid.Recipient().Fingerprint(), "renames-signed count=1"}},
	} {
		log := readFile(t, filepath.Join(tc.ws, "audit", "records"))
		for _, w := range tc.want {
			if !strings.Contains(log, w) {
				t.Errorf("audit log of %s lacks %q:\n%s", filepath.Base(tc.ws), w, log)
			}
		}
	}
}

// TestExportLabels checks export --labels and --lang, and that the choice
// persists over later decrypt runs.
func TestExportLabels(t *testing.T) {
	tm := newTeam(t)
	b := tm.batch(t, "b.tar", stories(2, nil))
	ws := filepath.Join(tm.dir, "ws")
	mustCLI(t, exitOK, "decrypt", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--study", tm.studyPath, "--server-key", tm.serverKey, "--out", ws, "--labels", "en", b)
	for _, f := range []string{"testimonies.csv", "testimonies-labels-en.csv", "testimonies.xlsx", "testimonies.jsonl", "codebook.csv", "study.yaml"} {
		if _, err := os.Stat(filepath.Join(ws, f)); err != nil {
			t.Errorf("decrypt --labels en: %v", err)
		}
	}
	b2 := tm.batch(t, "b2.tar", stories(3, map[string][]string{"age": {"20"}}))
	mustCLI(t, exitOK, "decrypt", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--study", tm.studyPath, "--server-key", tm.serverKey, "--out", ws, b2)
	if n := strings.Count(readFile(t, filepath.Join(ws, "testimonies-labels-en.csv")), "\r\n"); n != 6 {
		t.Errorf("the labels CSV was not kept up to date: %d lines", n)
	}
	mustCLI(t, exitOK, "export", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", ws, "--labels", "zh", "--lang", "en")
	if _, err := os.Stat(filepath.Join(ws, "testimonies-labels-en.csv")); !os.IsNotExist(err) {
		t.Errorf("the labels CSV in the earlier language is still there: %v", err)
	}
	md, _ := filepath.Glob(filepath.Join(ws, "testimonies", "*.md"))
	if len(md) != 5 || !strings.Contains(readFile(t, md[0]), "Story") {
		t.Errorf("Markdown files after --lang en: %v", md)
	}
	mustCLI(t, exitOK, "export", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", ws, "--labels", "none")
	if m, _ := filepath.Glob(filepath.Join(ws, "testimonies-labels-*.csv")); len(m) != 0 {
		t.Errorf("--labels none left %v", m)
	}
	if _, stderr, code := cli(t, "export", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", ws, "--labels", "xx"); code != exitUsage || !strings.Contains(stderr, "xx") {
		t.Errorf("export --labels xx: exit %d %s", code, stderr)
	}
}

// TestDecryptRefusesAnInvalidRevision: a study file that gives a question
// of an earlier version another type is refused, saying which.
func TestDecryptRefusesAnInvalidRevision(t *testing.T) {
	tm := newTeam(t)
	b := tm.versionedBatch(t, "b.tar", tm.study, []string{"x"}, tm.studyPath)
	ws := filepath.Join(tm.dir, "ws")
	mustCLI(t, exitOK, "decrypt", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--study", tm.studyPath, "--server-key", tm.serverKey, "--out", ws, b)
	bad := filepath.Join(tm.dir, "bad.yaml")
	os.WriteFile(bad, bytes.Replace([]byte(readFile(t, tm.studyPath)), []byte("id: age, type: integer"), []byte("id: age, type: short_text"), 1), 0o600)
	_, stderr, code := cli(t, "decrypt", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--study", bad, "--server-key", tm.serverKey, "--out", ws)
	if code != exitFailure || !strings.Contains(stderr, "not a valid revision") || !strings.Contains(stderr, "age") {
		t.Fatalf("decrypt with an invalid revision: exit %d\n%s", code, stderr)
	}
}

// TestReport: the report holds the pseudonyms, and free text only when
// asked.
func TestReport(t *testing.T) {
	tm := newTeam(t)
	b := tm.batch(t, "b.tar", stories(3, map[string][]string{"age": {"33"}}))
	ws := filepath.Join(tm.dir, "ws")
	mustCLI(t, exitOK, "decrypt", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--study", tm.studyPath, "--server-key", tm.serverKey, "--out", ws, b)
	names := strings.Split(strings.TrimSpace(mustCLI(t, exitOK, "pseudonym", "list", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", ws)), "\n")
	report := filepath.Join(ws, "report.html")
	mustCLI(t, exitOK, "report", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", ws, "--out", report, "--lang", "en")
	html := readFile(t, report)
	if !strings.Contains(html, strings.Split(names[0], "\t")[0]) || strings.Contains(html, "이야기 1") {
		t.Fatalf("report without --include-text:\n%s", html)
	}
	mustCLI(t, exitOK, "report", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", ws, "--out", report, "--include-text")
	if !strings.Contains(readFile(t, report), "이야기 1") {
		t.Fatal("report with --include-text lacks the stories")
	}
	if _, stderr, code := cli(t, "report", "--key", tm.keys[0], "--passphrase-file", tm.pass[0], "--workspace", ws, "--out", report, "--lang", "xx"); code != exitUsage {
		t.Errorf("report --lang xx: exit %d %s", code, stderr)
	}
}
