package researcher

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/pseudonym"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

// decryptRun runs what `researcher decrypt` runs with one server key (or
// none, nil): Open, Resume, Reexamine, Import of each batch, Close.
func decryptRun(dir string, study *config.Study, id *envelope.Identity, v note.Verifier, batches ...[]byte) error {
	var servers []note.Verifier
	if v != nil {
		servers = append(servers, v)
	}
	return decryptRunServers(dir, study, id, servers, batches...)
}

// decryptRunServers is decryptRun with the keys of several servers.
func decryptRunServers(dir string, study *config.Study, id *envelope.Identity, servers []note.Verifier, batches ...[]byte) error {
	ws, err := Open(dir, study, id, "en")
	if err != nil {
		return err
	}
	defer ws.Abort()
	if _, err := ws.Resume(servers, nil); err != nil {
		return err
	}
	if _, err := ws.Reexamine(nil); err != nil {
		return err
	}
	for _, b := range batches {
		if _, err := ws.Import(bytes.NewReader(b), servers, nil); err != nil {
			return err
		}
	}
	return ws.Close()
}

// exports returns the contents of the exports and the names of the
// Markdown files of the workspace in dir.
func exports(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	labels, _ := filepath.Glob(filepath.Join(dir, labelsCSVName("*")))
	for _, l := range labels {
		b, _ := os.ReadFile(l)
		out[filepath.Base(l)] = string(b)
	}
	for _, f := range []string{jsonlFile, csvFile, xlsxFile, codebookFile, quarantineFile, threadFile, followupsFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(b)
	}
	out[xlsxFile] = unzipped(t, filepath.Join(dir, xlsxFile))
	md, _ := filepath.Glob(filepath.Join(dir, markdownDir, "*.md"))
	for _, p := range md {
		b, _ := os.ReadFile(p)
		out[filepath.Base(p)] = string(b)
	}
	return out
}

// unzipped returns the entries of the zip archive at path (an XLSX file),
// by name: excelize writes them in no fixed order.
func unzipped(t testing.TB, path string) string {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var parts []string
	for _, e := range z.File {
		r, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		parts = append(parts, e.Name+"\n"+string(b))
	}
	slices.Sort(parts)
	return strings.Join(parts, "\n\n")
}

func sameExports(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s differs:\n%s\n--- want ---\n%s", what, k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s", what, k)
		}
	}
}

// auditLines returns the records of the workspace's audit log, sorted.
func auditLines(t testing.TB, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, auditDir, "records"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	slices.Sort(lines)
	return lines
}

// quarantinedEnvelope returns an envelope that opens but whose answers
// break the rules (a consent that is not "yes").
func (f *fixture) quarantinedEnvelope(t testing.TB) batch.Envelope {
	pt := []byte(`{"v":3,"study":"ws-study","version":"` + f.study.Version() + `","lang":"ko","answers":{"consent":"no"}}`)
	env, err := envelope.Seal(f.study.ID, pt, []*envelope.Recipient{f.ids[0].Recipient(), f.ids[1].Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	return batch.Envelope{ID: randomID(t), Data: env}
}

// TestSameBatchesSameExports checks that researchers importing the same
// batches in the same order get identical exports, pseudonyms included,
// however they split them into runs (and whatever batch they import again),
// with collisions forced by a space of 18 names.
func TestSameBatchesSameExports(t *testing.T) {
	small := func() *pseudonym.Registry {
		return pseudonym.NewSmallRegistry([]string{"김", "박"}, []string{"가", "나", "다"})
	}
	defer func(old func() *pseudonym.Registry) { newRegistry = old }(newRegistry)
	newRegistry = small
	f := newFixture(t)
	var e1, e2 []batch.Envelope
	for i := range 7 {
		e1 = append(e1, f.envelope(t, strings.Repeat("가", i+1)))
	}
	for i := range 5 {
		e2 = append(e2, f.envelope(t, strings.Repeat("나", i+1)))
	}
	e2 = append(e2, e1[0]) // overlapping batches
	b1, b2 := f.batch(t, e1...), f.batch(t, e2...)

	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	if err := decryptRun(a, f.study, f.ids[0], f.verifier, b1, b2); err != nil {
		t.Fatal(err)
	}
	if err := decryptRun(b, f.study, f.ids[1], f.verifier, b1); err != nil {
		t.Fatal(err)
	}
	if err := decryptRun(b, f.study, f.ids[1], f.verifier, b1, b2, b1); err != nil {
		t.Fatal(err)
	}
	got := exports(t, a)
	sameExports(t, "two researchers", exports(t, b), got)
	if n := strings.Count(got[csvFile], "\r\n"); n != 13 {
		t.Fatalf("testimonies.csv has %d lines, want 13", n)
	}

	// Count the testimonies that did not get their first candidate.
	seeds := map[string][32]byte{} // story → seed
	for _, e := range append(e1, e2[:5]...) {
		o, err := envelope.Open(f.study.ID, e.Data, f.ids[0])
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Answers map[string]string }
		json.Unmarshal(o.Plaintext, &p)
		seeds[p.Answers["story"]] = pseudonymSeed(f.study.ID, o.Key)
	}
	ws, err := Open(a, f.study, f.ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	rows := testimonies(t, ws)
	ws.Close()
	collisions := 0
	for _, r := range rows {
		first, _ := small().Assign("k", seeds[Cell(r.Answers["story"])])
		if first.Hangul != r.Pseudonym {
			collisions++
		}
	}
	if collisions == 0 {
		t.Fatal("no collision among 12 names drawn from 18: the test does not test collisions")
	}
	t.Logf("%d of 12 testimonies did not get their first candidate", collisions)

	// The same batches in two runs, in both workspaces.
	c, d := filepath.Join(base, "c"), filepath.Join(base, "d")
	for _, dir := range []string{c, d} {
		if err := decryptRun(dir, f.study, f.ids[0], f.verifier, b1); err != nil {
			t.Fatal(err)
		}
		if err := decryptRun(dir, f.study, f.ids[0], f.verifier, b2); err != nil {
			t.Fatal(err)
		}
	}
	sameExports(t, "two runs", exports(t, d), exports(t, c))
}

var crashSteps = []string{"collecting", "synced", "kept", "sealed", "exporting", "exported", "audit-appending"}

// TestCrashHelper is the process TestSIGKILL kills.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("RESEARCHER_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestSIGKILL")
	}
	step := os.Getenv("RESEARCHER_CRASH_STEP")
	crashHook = func(s string) {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	study, v, id, batches := loadCrashFixture(t, dir)
	if err := decryptRun(filepath.Join(dir, "ws-"+step), study, id, v, batches...); err != nil {
		t.Fatal(err)
	}
}

func loadCrashFixture(t *testing.T, dir string) (*config.Study, note.Verifier, *envelope.Identity, [][]byte) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	study, err := config.Parse("study.yaml", read("study.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(string(read("server.pub")))
	if err != nil {
		t.Fatal(err)
	}
	id, err := envelope.NewIdentity(read("id"))
	if err != nil {
		t.Fatal(err)
	}
	return study, v, id, [][]byte{read("b1.tar"), read("b2.tar")}
}

// TestSIGKILL kills a decrypt run at every step where a crash could leave
// the workspace half-written, then runs it again: no testimony is lost or
// duplicated, the exports are those of a run never interrupted (pseudonyms
// included), and the audit log holds every record exactly once.
func TestSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process per step")
	}
	f := newFixture(t)
	dir := t.TempDir()
	var e1, e2 []batch.Envelope
	for i := range 40 {
		e1 = append(e1, f.envelope(t, strings.Repeat("이야기 ", i+1)))
	}
	e1 = append(e1, f.quarantinedEnvelope(t))
	// Two people with a return passphrase: one adds to their testimony,
	// the other withdraws it.
	p, q := newPerson(1), newPerson(2)
	e1 = append(e1, f.testimony(t, p, "보탤 사람"), f.testimony(t, q, "철회할 사람"))
	for i := range 30 {
		e2 = append(e2, f.envelope(t, strings.Repeat("증언 ", i+1)))
	}
	e2 = append(e2, e1[3], f.message(t, p, p, addition("보탠 말")), f.message(t, q, q, withdrawal()))
	for name, data := range map[string][]byte{
		"study.yaml": f.yaml, "server.pub": []byte(f.vkey), "id": f.ids[0].Bytes(),
		"b1.tar": f.batch(t, e1...), "b2.tar": f.batch(t, e2...),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	study, v, id, batches := loadCrashFixture(t, dir)
	ref := filepath.Join(dir, "reference")
	if err := decryptRun(ref, study, id, v, batches...); err != nil {
		t.Fatal(err)
	}
	want, wantAudit := exports(t, ref), auditLines(t, ref)
	if n := strings.Count(want[jsonlFile], "\n"); n != 71 || !strings.Contains(want[threadFile], "보탠 말") || strings.Contains(want[jsonlFile], "철회할 사람") {
		t.Fatalf("reference has %d testimonies, want 71 and a thread:\n%s", n, want[threadFile])
	}

	for _, step := range crashSteps {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RESEARCHER_CRASH_DIR="+dir, "RESEARCHER_CRASH_STEP="+step)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("step %s: the run was not killed there (%v):\n%s", step, err, out)
		}
		ws := filepath.Join(dir, "ws-"+step)
		if err := decryptRun(ws, study, id, v, batches...); err != nil {
			t.Fatalf("step %s: run after the crash: %v", step, err)
		}
		sameExports(t, "after a crash at "+step, exports(t, ws), want)
		if b, _ := os.ReadFile(filepath.Join(ws, dataFile)); bytes.Contains(b, []byte("철회할 사람")) {
			t.Errorf("after a crash at %s: %s still holds a withdrawn testimony", step, dataFile)
		}
		if got := auditLines(t, ws); !slices.Equal(got, wantAudit) {
			t.Errorf("after a crash at %s: audit log\n%s\nwant\n%s", step, strings.Join(got, "\n"), strings.Join(wantAudit, "\n"))
		}
		// And once more: nothing changes.
		if err := decryptRun(ws, study, id, v, batches...); err != nil {
			t.Fatal(err)
		}
		sameExports(t, "re-run after a crash at "+step, exports(t, ws), want)
		if got := auditLines(t, ws); !slices.Equal(got, wantAudit) {
			t.Errorf("re-run after a crash at %s changed the audit log", step)
		}
	}
}

// TestWrongKeyChangesNothing checks that a batch none of whose envelopes
// the key opens is refused, and leaves an existing workspace exactly as it
// was.
func TestWrongKeyChangesNothing(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	importInto(t, dir, f, f.ids[0], f.batch(t, f.envelope(t, "one")))
	before := snapshot(t, dir)
	stranger, _ := envelope.GenerateIdentity()
	var envs []batch.Envelope
	for range 3 {
		env, _ := envelope.Seal(f.study.ID, []byte("{}"), []*envelope.Recipient{stranger.Recipient()})
		envs = append(envs, batch.Envelope{ID: randomID(t), Data: env})
	}
	ws, err := Open(dir, f.study, f.ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ws.Import(bytes.NewReader(f.batch(t, envs...)), []note.Verifier{f.verifier}, nil)
	if err == nil || !strings.Contains(err.Error(), "opens none of the 3") || !strings.Contains(err.Error(), f.ids[0].Recipient().Fingerprint()) ||
		!strings.Contains(err.Error(), f.ids[1].Recipient().Fingerprint()) {
		t.Fatalf("batch sealed to another key: %v", err)
	}
	if err := ws.Close(); err == nil {
		t.Fatal("Close saved a run whose batch was refused")
	}
	if after := snapshot(t, dir); !sameFiles(before, after) {
		t.Fatal("a refused batch changed the workspace")
	}
}

// snapshot returns every file of the workspace but its lock, by path.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() && d.Name() != lockFile {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

func sameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRunIsAllOrNothing checks that a run with a refused batch saves none
// of its batches.
func TestRunIsAllOrNothing(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	importInto(t, dir, f, f.ids[0], f.batch(t, f.envelope(t, "one")))
	before := snapshot(t, dir)
	good := f.batch(t, f.envelope(t, "two"), f.envelope(t, "three"))
	bad := f.batch(t, f.envelope(t, "four"))
	bad[len(bad)-2048] ^= 1 // inside the last envelope
	ws, err := Open(dir, f.study, f.ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Import(bytes.NewReader(good), []note.Verifier{f.verifier}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Import(bytes.NewReader(bad), []note.Verifier{f.verifier}, nil); err == nil {
		t.Fatal("tampered batch accepted")
	}
	if _, err := ws.Import(bytes.NewReader(good), []note.Verifier{f.verifier}, nil); err == nil {
		t.Fatal("Import went on in a failed run")
	}
	if err := ws.Close(); err == nil || !strings.Contains(err.Error(), "nothing of this run was saved") {
		t.Fatalf("Close of a failed run: %v", err)
	}
	if after := snapshot(t, dir); !sameFiles(before, after) {
		t.Fatal("a failed run changed the workspace")
	}
}

// TestKeepsBatches checks that the workspace keeps each batch as verified,
// named by its manifest's SHA-256.
func TestKeepsBatches(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	data := f.batch(t, f.envelope(t, "one"), f.quarantinedEnvelope(t))
	sum, _ := importInto(t, dir, f, f.ids[0], data)
	kept, err := os.ReadFile(filepath.Join(dir, batchesDir, hexKey(sum.ManifestSHA256)+".tar"))
	if err != nil || !bytes.Equal(kept, data) {
		t.Fatalf("batch not kept as received (%v)", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, batchesDir))
	if len(entries) != 1 {
		t.Fatalf("batches/ holds %d entries, want 1", len(entries))
	}
	// The same batch again: not read, not kept twice.
	sum, _ = importInto(t, dir, f, f.ids[0], data)
	if !sum.Earlier || sum.Skipped != 2 {
		t.Fatalf("second import of the same batch: %+v", sum)
	}
}

// TestReexamineBringsInQuarantined checks that quarantined envelopes are
// examined again from the kept batch once the study changes, and only then.
func TestReexamineBringsInQuarantined(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	// A study file that is not the version the answers were given to (a
	// local copy without the "seen" question), and a batch that does not
	// carry that version: every testimony is quarantined.
	narrow, err := config.Parse("ws.yaml", bytes.Replace(f.yaml, []byte("  - id: seen"), []byte("  - id: unused"), 1))
	if err != nil {
		t.Fatal(err)
	}
	r := map[string][]string{"story": {"x"}, "seen": {"a", "b"}, "consent": {"yes"}}
	var envs []batch.Envelope
	for range 3 {
		envs = append(envs, f.envelopeOf(t, r))
	}
	stranger, _ := envelope.GenerateIdentity()
	foreign, _ := envelope.Seal(f.study.ID, []byte("{}"), []*envelope.Recipient{stranger.Recipient()})
	envs = append(envs, f.envelope(t, "plain"), f.quarantinedEnvelope(t), batch.Envelope{ID: randomID(t), Data: foreign})
	if err := decryptRun(dir, narrow, f.ids[0], f.verifier, f.batch(t, envs...)); err != nil {
		t.Fatal(err)
	}
	ws, _ := Open(dir, narrow, f.ids[0], "")
	q := ws.Quarantined()
	if ws.Len() != 0 || len(q) != 2 || q[0].Reason != "unknown-version" || q[0].Count != 5 {
		t.Fatalf("with the wrong study: %d testimonies, quarantine %v", ws.Len(), q)
	}
	// The same study: nothing to examine again.
	re, err := ws.Reexamine(nil)
	if err != nil || re.Examined != 0 {
		t.Fatalf("Reexamine with the same study: %+v, %v", re, err)
	}
	ws.Close()

	ws, err = Open(dir, f.study, f.ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	re, err = ws.Reexamine(nil)
	// The envelope sealed to another key is examined again too (it fails
	// at once), as a version could show it was sealed before this key
	// joined the team; it stays quarantined.
	if err != nil || re.Examined != 6 || re.Recovered != 4 || re.Missing != 0 {
		t.Fatalf("Reexamine with the corrected study: %+v, %v", re, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if ws.Len() != 4 || len(ws.Quarantined()) != 2 {
		t.Fatalf("after recovery: %d testimonies, quarantine %v", ws.Len(), ws.Quarantined())
	}
	qf, _ := os.ReadFile(filepath.Join(dir, quarantineFile))
	if strings.Count(string(qf), "\n") != 2 || !strings.Contains(string(qf), "consent_missing") || !strings.Contains(string(qf), "not-sealed-to-this-key") {
		t.Fatalf("quarantine.jsonl after recovery:\n%s", qf)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, csvFile))
	if strings.Count(string(csv), "a;b") != 3 {
		t.Fatalf("recovered testimonies missing from testimonies.csv:\n%s", csv)
	}
	if lines := auditLines(t, dir); !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "testimonies-recovered count=4") }) {
		t.Fatalf("no testimonies-recovered record in the audit log:\n%s", strings.Join(lines, "\n"))
	}
}

// TestVersionsFromBatches checks that testimonies are checked against the
// version of the study they name, which the batch carries, and that the
// workspace keeps every version.
func TestVersionsFromBatches(t *testing.T) {
	f := newFixture(t)
	v1 := f.study
	v2yaml := bytes.Replace(f.yaml, []byte("  - id: seen"), []byte("  - id: heard"), 1)
	v2, err := config.Parse("ws.yaml", v2yaml)
	if err != nil {
		t.Fatal(err)
	}
	old := f.envelopeOf(t, map[string][]string{"story": {"before"}, "seen": {"b"}, "consent": {"yes"}})
	f.study = v2
	cur := f.envelopeOf(t, map[string][]string{"story": {"after"}, "heard": {"a"}, "consent": {"yes"}})
	var b bytes.Buffer
	if _, err := batch.Write(&b, f.signer, v2.ID, []batch.Envelope{old, cur}, f.yaml, v2yaml); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := decryptRun(dir, v2, f.ids[0], f.verifier, b.Bytes()); err != nil {
		t.Fatal(err)
	}
	ws, _ := Open(dir, v2, f.ids[0], "en")
	defer ws.Close()
	if ws.Len() != 2 || len(ws.Quarantined()) != 0 {
		t.Fatalf("%d testimonies, quarantine %v", ws.Len(), ws.Quarantined())
	}
	for _, v := range []*config.Study{v1, v2} {
		if _, err := os.Stat(filepath.Join(dir, versionsDir, v.Version()+".yaml")); err != nil {
			t.Errorf("version %s not kept: %v", v.ShortVersion(), err)
		}
	}
	for _, row := range testimonies(t, ws) {
		md, _ := os.ReadFile(filepath.Join(dir, markdownDir, mdName(row)))
		switch {
		case row.Version == v1.Version() && !strings.Contains(string(md), "Seen\n\n```\nB (b)\n```"):
			t.Errorf("Markdown of a version 1 testimony lacks its question:\n%s", md)
		case row.Version == v2.Version() && !strings.Contains(string(md), "Seen\n\n```\nA (a)\n```"):
			t.Errorf("Markdown of a version 2 testimony lacks its question:\n%s", md)
		}
	}
}

func (f *fixture) envelopeOf(t testing.TB, answers map[string][]string) batch.Envelope {
	t.Helper()
	pt, err := response.Marshal(f.study, &response.Response{Study: f.study.ID, Version: f.study.Version(), Language: "ko", Answers: answers})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(f.study.ID, pt, []*envelope.Recipient{f.ids[0].Recipient(), f.ids[1].Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	return batch.Envelope{ID: randomID(t), Data: env}
}

// TestIncrementalExportsMatchFull checks that exports appended to run by
// run equal exports made from scratch, and that an export a person edited
// is made again.
func TestIncrementalExportsMatchFull(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	for i := range 3 {
		if err := decryptRun(dir, f.study, f.ids[0], f.verifier, f.batch(t, f.envelope(t, strings.Repeat("x", i+1)), f.envelope(t, "y"), f.quarantinedEnvelope(t))); err != nil {
			t.Fatal(err)
		}
	}
	incremental := exports(t, dir)
	if strings.Count(incremental[csvFile], "\r\n") != 7 || strings.Count(incremental[quarantineFile], "\n") != 3 {
		t.Fatalf("exports after three runs:\n%s\n%s", incremental[csvFile], incremental[quarantineFile])
	}
	os.Remove(filepath.Join(dir, stampFile))
	if err := decryptRun(dir, f.study, f.ids[0], f.verifier); err != nil {
		t.Fatal(err)
	}
	sameExports(t, "made from scratch", exports(t, dir), incremental)

	// Edited in a spreadsheet and saved: made again.
	os.WriteFile(filepath.Join(dir, csvFile), []byte("edited"), 0o600)
	if err := decryptRun(dir, f.study, f.ids[0], f.verifier); err != nil {
		t.Fatal(err)
	}
	sameExports(t, "after an edit", exports(t, dir), incremental)
	// A Markdown file deleted: made again.
	os.Remove(filepath.Join(dir, markdownDir, mdName(testimoniesOf(t, dir, f)[0])))
	if err := decryptRun(dir, f.study, f.ids[0], f.verifier); err != nil {
		t.Fatal(err)
	}
	sameExports(t, "after a deletion", exports(t, dir), incremental)
}

func testimoniesOf(t testing.TB, dir string, f *fixture) []Testimony {
	ws, err := Open(dir, f.study, f.ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	return testimonies(t, ws)
}

func TestWorkspaceLock(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	importInto(t, dir, f, f.ids[0], f.batch(t, f.envelope(t, "one")))
	ws, err := Open(dir, f.study, f.ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, f.study, f.ids[0], ""); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open of a workspace in use: %v", err)
	}
	ws.Close()
	ws, err = Open(dir, f.study, f.ids[0], "")
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	ws.Close()
}
