package researcher

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/export"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

type fixture struct {
	yaml     []byte // the study file
	vkey     string // the server's verifier key
	study    *config.Study
	ids      []*envelope.Identity
	signer   note.Signer
	verifier note.Verifier
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{}
	var keys []string
	for range 2 {
		id, _ := envelope.GenerateIdentity()
		f.ids = append(f.ids, id)
		keys = append(keys, id.Recipient().String())
	}
	y := fmt.Sprintf(`id: ws-study
title: {ko: 시험, en: Test, zh: 测试}
introduction: {ko: 시험, en: Test, zh: 测试}
recipients:
  - {name: A, public_key: %s}
  - {name: B, public_key: %s}
questions:
  - id: story
    type: long_text
    label: {ko: 이야기, en: Story, zh: 故事}
  - id: seen
    type: multi_choice
    label: {ko: 본 것, en: Seen, zh: 看到}
    choices:
      - {value: a, label: {ko: 가, en: A, zh: 甲}}
      - {value: b, label: {ko: 나, en: B, zh: 乙}}
  - id: consent
    type: consent
    label: {ko: 동의, en: Consent, zh: 同意}
`, keys[0], keys[1])
	var err error
	f.yaml = []byte(y)
	if f.study, err = config.Parse("ws.yaml", []byte(y)); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := batch.GenerateKey("test-server")
	if err != nil {
		t.Fatal(err)
	}
	f.signer, _ = note.NewSigner(skey)
	f.verifier, _ = note.NewVerifier(vkey)
	f.vkey = vkey
	return f
}

func (f *fixture) envelope(t testing.TB, story string) batch.Envelope {
	t.Helper()
	r := &response.Response{Study: f.study.ID, Language: "ko", Answers: map[string][]string{"story": {story}, "consent": {"yes"}}}
	pt, err := response.Marshal(f.study, r)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(f.study.ID, pt, []*envelope.Recipient{f.ids[0].Recipient(), f.ids[1].Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	return batch.Envelope{ID: randomID(t), Data: env}
}

// randomID returns a store-style id: 26 characters of a–z and 2–7.
func randomID(t testing.TB) string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func (f *fixture) batch(t testing.TB, envs ...batch.Envelope) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := batch.Write(&b, f.signer, f.study.ID, envs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func importInto(t *testing.T, dir string, f *fixture, id *envelope.Identity, data []byte) (*Summary, *Workspace) {
	t.Helper()
	ws, err := Open(dir, f.study, id, "en")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := ws.Import(bytes.NewReader(data), []note.Verifier{f.verifier}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	return sum, ws
}

func testimonies(t testing.TB, ws *Workspace) []Testimony {
	t.Helper()
	rows, err := ws.Testimonies()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestOverlappingBatchesNeverDuplicate(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	e1, e2, e3 := f.envelope(t, "one"), f.envelope(t, "two"), f.envelope(t, "three")
	sum, ws := importInto(t, dir, f, f.ids[0], f.batch(t, e1, e2))
	if sum.Imported != 2 {
		t.Fatalf("imported %d, want 2", sum.Imported)
	}
	first := testimonies(t, ws)
	sum, ws = importInto(t, dir, f, f.ids[0], f.batch(t, e2, e3))
	if sum.Imported != 1 || sum.Skipped != 1 {
		t.Fatalf("overlapping batch: imported %d skipped %d, want 1 and 1", sum.Imported, sum.Skipped)
	}
	got := testimonies(t, ws)
	names := map[string]string{}
	for _, tm := range got {
		names[Cell(tm.Answers["story"])] = tm.Pseudonym
	}
	if len(got) != 3 || len(names) != 3 || names[Cell(first[0].Answers["story"])] != first[0].Pseudonym || names[Cell(first[1].Answers["story"])] != first[1].Pseudonym {
		t.Fatalf("pseudonyms changed or testimonies duplicated: %v then %v", first, got)
	}
	// The other researcher decrypts the same batches into their own
	// workspace and gets the same testimonies.
	_, ws2 := importInto(t, t.TempDir(), f, f.ids[1], f.batch(t, e1, e2, e3))
	if ws2.Len() != 3 {
		t.Fatalf("second researcher got %d testimonies", ws2.Len())
	}
}

func TestRefusesTamperedBatchWhole(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "ws")
	data := f.batch(t, f.envelope(t, "one"), f.envelope(t, "two"))
	i := bytes.LastIndex(data, []byte(envelope.Label))
	bad := bytes.Clone(data)
	bad[i+200] ^= 1
	ws, err := Open(dir, f.study, f.ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Import(bytes.NewReader(bad), []note.Verifier{f.verifier}, nil); err == nil || !strings.Contains(err.Error(), "envelopes/") {
		t.Fatalf("tampered batch: err = %v, want an error naming the envelope", err)
	}
	if err := ws.Close(); err == nil || !strings.Contains(err.Error(), "nothing of this run was saved") {
		t.Fatalf("Close after a refused batch: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a refused first batch left the workspace folder behind: %v", err)
	}
	ws, err = Open(dir, f.study, f.ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Abort()
	_, other, _ := batch.GenerateKey("impostor")
	ov, _ := note.NewVerifier(other)
	if _, err := ws.Import(bytes.NewReader(data), []note.Verifier{ov}, nil); err == nil {
		t.Fatal("batch accepted under another server key")
	}
}

func TestQuarantine(t *testing.T) {
	f := newFixture(t)
	// Answers that break the rules (a consent that is not "yes"), sealed
	// by a client that skipped validation.
	pt := []byte(`{"v":3,"study":"ws-study","version":"` + f.study.Version() + `","lang":"ko","answers":{"consent":"no"}}`)
	env, _ := envelope.Seal(f.study.ID, pt, []*envelope.Recipient{f.ids[0].Recipient()})
	stranger, _ := envelope.GenerateIdentity()
	foreign, _ := envelope.Seal(f.study.ID, pt, []*envelope.Recipient{stranger.Recipient()})
	data := f.batch(t, f.envelope(t, "good"), batch.Envelope{ID: randomID(t), Data: env}, batch.Envelope{ID: randomID(t), Data: foreign})
	dir := t.TempDir()
	sum, _ := importInto(t, dir, f, f.ids[0], data)
	if sum.Imported != 1 || sum.Quarantined != 2 {
		t.Fatalf("imported %d quarantined %d, want 1 and 2", sum.Imported, sum.Quarantined)
	}
	q, err := os.ReadFile(filepath.Join(dir, quarantineFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(q), "consent_missing") || !strings.Contains(string(q), "not sealed to this researcher's key") {
		t.Fatalf("quarantine.jsonl lacks reasons:\n%s", q)
	}
	// Quarantined envelopes are not quarantined twice.
	sum, _ = importInto(t, dir, f, f.ids[0], data)
	if sum.Quarantined != 0 || sum.Skipped != 3 {
		t.Fatalf("re-import: quarantined %d skipped %d", sum.Quarantined, sum.Skipped)
	}
}

func TestRename(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	_, ws := importInto(t, dir, f, f.ids[0], f.batch(t, f.envelope(t, "one"), f.envelope(t, "two")))
	old := testimonies(t, ws)[0]
	ws, err := Open(dir, f.study, f.ids[0], "en")
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Rename(old.Pseudonym, "김영철/Kim Young-chul"); err != nil {
		t.Fatal(err)
	}
	if err := ws.Rename(testimonies(t, ws)[1].Pseudonym, "김영철"); err == nil {
		t.Fatal("renamed a second testimony to a name in use")
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{jsonlFile, csvFile} {
		b, _ := os.ReadFile(filepath.Join(dir, file))
		if !strings.Contains(string(b), "김영철") || strings.Contains(string(b), old.Pseudonym) {
			t.Fatalf("%s not updated by rename", file)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, markdownDir, "김영철 Kim Young-chul.md")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, markdownDir, mdName(old))); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Markdown file of the old pseudonym remains")
	}
	// The new name survives reopening.
	ws, err = Open(dir, f.study, f.ids[0], "en")
	if err != nil {
		t.Fatal(err)
	}
	if testimonies(t, ws)[0].Pseudonym != "김영철" {
		t.Fatal("rename lost on reopen")
	}
}

func TestWorkspaceGuards(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	importInto(t, dir, f, f.ids[0], f.batch(t, f.envelope(t, "one")))
	stranger, _ := envelope.GenerateIdentity()
	if _, err := Open(dir, f.study, stranger, ""); err == nil {
		t.Fatal("workspace opened with another researcher's key")
	}
	g := newFixture(t)
	g.study.ID = "other-study"
	if _, err := Open(dir, g.study, f.ids[0], ""); err == nil {
		t.Fatal("workspace opened for another study")
	}
	reg, _ := os.ReadFile(filepath.Join(dir, registryFile))
	if bytes.Contains(reg, []byte("one")) || bytes.Contains(reg, []byte("pseudonym")) {
		t.Fatal("registry is not encrypted")
	}
	notEmpty := t.TempDir()
	os.WriteFile(filepath.Join(notEmpty, "x"), nil, 0o600)
	if _, err := Open(notEmpty, f.study, f.ids[0], ""); err == nil {
		t.Fatal("made a workspace in a folder holding other files")
	}
}

func TestMarkdownIsNotRendered(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	evil := "```\n<img src=\"http://tracker.invalid/x.png\">\n![x](http://tracker.invalid/y)"
	_, ws := importInto(t, dir, f, f.ids[0], f.batch(t, f.envelope(t, evil)))
	md, err := os.ReadFile(filepath.Join(dir, markdownDir, mdName(testimonies(t, ws)[0])))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "````\n"+evil+"\n````") {
		t.Fatalf("testimony not fenced with a longer fence:\n%s", md)
	}
	var row Testimony
	b, _ := os.ReadFile(filepath.Join(dir, jsonlFile))
	json.Unmarshal(bytes.TrimSpace(b), &row)
	if Cell(row.Answers["story"]) != evil {
		t.Fatal("JSONL does not hold the text exactly")
	}
}

// mdName returns the name of a testimony's Markdown file.
func mdName(t Testimony) string {
	return export.MarkdownName(export.Row{Pseudonym: t.Pseudonym, PseudonymRoman: t.PseudonymRoman})
}
