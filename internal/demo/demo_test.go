package demo

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/crypto/keyfile"
	"github.com/testimony-project/testimony/researcher"
	"github.com/testimony-project/testimony/response"
	"github.com/testimony-project/testimony/store"
)

var fastKDF = keyfile.Params{Time: 1, MemoryKiB: keyfile.MinMemoryKiB, Threads: 1}

// checkResult checks what a newcomer watching the demo is told happened,
// from the files the run left: the decrypted exports, the server's store,
// the batches, and the auditor's reconciliation.
func checkResult(t *testing.T, res *Result, out string) {
	t.Helper()
	first := append(slices.Clone(samples), sealedSamples...)
	if res.Submitted != len(first)+1 {
		t.Errorf("the server stored %d testimonies, want %d", res.Submitted, len(first)+1)
	}
	// The first decrypt gives back exactly what was sent before the export.
	sameTestimonies(t, "first decrypt", res.Imported, first)

	// The way back: the answer to the follow-up question is on the thread
	// of the first person's testimony, under its pseudonym.
	asked := pseudonymOf(t, res.Imported, samples[0])
	if res.RepliedTo != asked {
		t.Errorf("the researcher replied to %q, want %q (the testimony of the person who took a passphrase)", res.RepliedTo, asked)
	}
	fu := readCSVFile(t, filepath.Join(res.Workspace, "followups.csv"))
	var answers [][]string
	for _, row := range fu[1:] {
		if row[0] == asked && row[3] == "followup" && row[7] == followupQuestion {
			answers = append(answers, row)
		}
	}
	if len(fu) != 2 || len(answers) != 1 || answers[0][10] != followupAnswer {
		t.Errorf("followups.csv holds %d rows, want the one answer %s to %s under %s:\n%q", len(fu)-1, followupAnswer, followupQuestion, asked, fu)
	}
	md := markdownOf(t, res.Workspace, asked)
	if !strings.Contains(md, "## Thread") || !strings.Contains(md, followupAnswer) {
		t.Errorf("the Markdown file of %s lacks the thread with the answer:\n%s", asked, md)
	}

	// The withdrawal: the testimony of the person who withdrew is in no
	// export, every other one is.
	leaver := sealedSamples[0]
	gone := pseudonymOf(t, res.Imported, leaver)
	if res.Withdrawn != gone {
		t.Errorf("withdrawn: %q, want %q", res.Withdrawn, gone)
	}
	var left []sample
	for _, s := range first {
		if key(s.lang, s.answers) != key(leaver.lang, leaver.answers) {
			left = append(left, s)
		}
	}
	sameTestimonies(t, "last decrypt", res.Testimonies, left)
	csvRows := readCSVFile(t, filepath.Join(res.Workspace, "testimonies.csv"))
	if len(csvRows) != len(left)+1 {
		t.Errorf("testimonies.csv holds %d testimonies, want %d", len(csvRows)-1, len(left))
	}
	raw, _ := os.ReadFile(filepath.Join(res.Workspace, "testimonies.csv"))
	if bytes.Contains(raw, []byte(gone)) || bytes.Contains(raw, []byte(string([]rune(leaver.answers["testimony"][0])[:10]))) {
		t.Errorf("testimonies.csv still holds the withdrawn testimony of %s", gone)
	}
	if !bytes.Contains(raw, []byte(asked)) {
		t.Errorf("testimonies.csv lacks %s", asked)
	}

	// The report and the workbook.
	for _, f := range []struct{ name, starts string }{{"report.html", "<!DOCTYPE html>"}, {"testimonies.xlsx", "PK\x03\x04"}} {
		b, err := os.ReadFile(filepath.Join(res.Workspace, f.name))
		if err != nil || !bytes.HasPrefix(b, []byte(f.starts)) || len(b) < 1024 {
			t.Errorf("%s: %d bytes, starting %q (%v); want a whole file starting %q", f.name, len(b), b[:min(len(b), 16)], err, f.starts)
		}
	}
	if res.Report != filepath.Join(res.Workspace, "report.html") {
		t.Errorf("report written to %s", res.Report)
	}

	// The purge deleted exactly the envelopes of the receipted batches.
	if res.Receipt == nil || len(res.Receipt.Batches) != len(res.Batches) || len(res.Batches) != 2 {
		t.Fatalf("the receipt covers %v, want the 2 batches exported: %v", res.Receipt, res.Batches)
	}
	receipted := map[string]bool{}
	for _, path := range res.Batches {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := batch.ReadUnverifiedManifest(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(res.Receipt.Batches, m.Hash) {
			t.Errorf("the receipt does not cover %s", path)
		}
		for _, e := range m.Entries {
			receipted[e.ID] = true
		}
	}
	if len(receipted) != len(first)+2 || res.Purge.Purged != len(receipted) || res.Purge.PurgedWithoutReceipt != 0 {
		t.Errorf("purged %d envelopes (%d without a receipt); the receipted batches hold %d, want %d", res.Purge.Purged, res.Purge.PurgedWithoutReceipt, len(receipted), len(first)+2)
	}
	var kept []string
	if err := store.Walk(filepath.Join(res.ServerDir, "store"), func(w store.Where, e store.Entry, _ string) error {
		if receipted[e.ID] {
			t.Errorf("envelope %s of a receipted batch is still on the server", e.ID)
		}
		if w.Export != "" {
			t.Errorf("envelope %s, exported, was kept", e.ID)
		}
		kept = append(kept, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || len(res.Purge.Kept) != 1 || res.Purge.Kept[0].Envelopes != 1 {
		t.Errorf("the server keeps %v (the purge says %+v), want the one envelope sent after the last export", kept, res.Purge.Kept)
	}

	// The auditor saw both batches imported, and the reply batch.
	rec := res.Reconciliation
	if rec == nil || !rec.OK() || len(rec.Batches) != 2 || len(rec.ReplyBatches) != 1 {
		t.Fatalf("reconciliation: %+v", rec)
	}
	rb := rec.ReplyBatches[0]
	if rb.Manifest != hex.EncodeToString(res.ReplyBatch.Hash[:]) || rb.Count != 1 || len(rb.Imports) != 1 || rb.Imports[0].Count != 1 {
		t.Errorf("the reconciliation does not show the reply batch %x imported: %+v", res.ReplyBatch.Hash, rb)
	}
	for _, b := range rec.Batches {
		if len(b.Imports) != 1 {
			t.Errorf("batch %s imported %d times", b.Manifest, len(b.Imports))
		}
	}
	for _, p := range narrationProblems(out) {
		t.Error(p)
	}
}

// clock matches a time of day, such as 14:05 or T14:05.
var clock = regexp.MustCompile(`(^|[^0-9.:])[0-9]{1,2}:[0-9]{2}([^0-9]|$)`)

// narrationProblems says where the demo's output breaks the project's
// rules: a time finer than the day, an answer printed by a step of the
// server's operator; or where it is too long to read, or leaves out what
// the workspace holds.
func narrationProblems(out string) []string {
	var problems []string
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) > 60 {
		problems = append(problems, fmt.Sprintf("the narration takes %d lines, want at most 60", len(lines)))
	}
	var texts []string
	for _, s := range append(append(slices.Clone(samples), sealedSamples...), lateSample) {
		texts = append(texts, string([]rune(s.answers["testimony"][0])[:12]))
	}
	texts = append(texts, string([]rune(replyText)[:12]))
	for _, l := range lines {
		if clock.MatchString(l) {
			problems = append(problems, fmt.Sprintf("the narration shows a time of day: %q", l))
		}
		if strings.HasPrefix(l, "[operator]") {
			for _, x := range texts {
				if strings.Contains(l, x) {
					problems = append(problems, fmt.Sprintf("an operator's step shows %q: %q", x, l))
				}
			}
		}
	}
	for _, want := range []string{"pseudonym", "testimonies.csv", "testimonies.xlsx", "testimonies.jsonl", "codebook.csv", "report.html", "followups.csv", "Markdown", "kept 1 envelope: not exported yet"} {
		if !strings.Contains(out, want) {
			problems = append(problems, fmt.Sprintf("the narration does not mention %q", want))
		}
	}
	return problems
}

func TestNarrationRules(t *testing.T) {
	const good = "[researcher] pseudonym testimonies.csv testimonies.xlsx testimonies.jsonl codebook.csv report.html followups.csv Markdown\n  kept 1 envelope: not exported yet\n"
	if p := narrationProblems(good); len(p) != 0 {
		t.Fatalf("narrationProblems(%q) = %q", good, p)
	}
	for _, bad := range []string{
		"[people] sent at 14:05\n",
		"[operator] stamp 2026-11-30T09:12:00Z\n",
		"[operator] Exported 도서관 관리원이 두 사람 사이에\n",
		"[operator] imported: 증언을 고맙게 받았습니다\n",
		strings.Repeat("[people] line\n", 60),
	} {
		if p := narrationProblems(bad + good); len(p) == 0 {
			t.Errorf("narrationProblems accepts %q", bad)
		}
	}
	if p := narrationProblems(strings.Replace(good, "testimonies.xlsx", "", 1)); len(p) == 0 {
		t.Error("narrationProblems accepts a list of files without testimonies.xlsx")
	}
}

// answersOf returns a testimony's answers as the form sent them.
func answersOf(tm researcher.Testimony) map[string][]string {
	got := map[string][]string{}
	for id, raw := range tm.Answers {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			got[id] = []string{one}
		} else {
			var many []string
			json.Unmarshal(raw, &many)
			got[id] = many
		}
	}
	return got
}

// sameTestimonies checks that got holds exactly the answers of want.
func sameTestimonies(t *testing.T, when string, got []researcher.Testimony, want []sample) {
	t.Helper()
	var g, w []string
	for _, tm := range got {
		g = append(g, key(tm.Language, answersOf(tm)))
	}
	for _, s := range want {
		w = append(w, key(s.lang, s.answers))
	}
	slices.Sort(g)
	slices.Sort(w)
	if slices.Equal(g, w) {
		return
	}
	short := func(k string) string { return string([]rune(strings.ReplaceAll(k, "\x00", " "))[:60]) + "…" }
	seen := map[string]int{}
	for _, k := range g {
		if seen[k]++; !slices.Contains(w, k) || seen[k] == 2 {
			t.Errorf("%s: a testimony not sent, or twice: %q", when, short(k))
		}
	}
	for _, k := range w {
		if !slices.Contains(g, k) {
			t.Errorf("%s: a testimony sent is missing: %q", when, short(k))
		}
	}
	t.Errorf("%s: got %d testimonies, want %d", when, len(g), len(w))
}

// pseudonymOf returns the pseudonym of the testimony of ts holding s's
// answers.
func pseudonymOf(t *testing.T, ts []researcher.Testimony, s sample) string {
	t.Helper()
	for _, tm := range ts {
		if key(tm.Language, answersOf(tm)) == key(s.lang, s.answers) {
			return tm.Pseudonym
		}
	}
	t.Fatalf("no testimony holds the answers of the %s sample", s.lang)
	return ""
}

func key(lang string, answers map[string][]string) string {
	var b strings.Builder
	b.WriteString(lang)
	for _, k := range slices.Sorted(maps.Keys(answers)) {
		v := answers[k]
		if k == "testimony" {
			v = []string{response.NormalizeText(v[0])}
		}
		b.WriteString("\x00" + k + "=" + strings.Join(v, "\x01"))
	}
	return b.String()
}

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	rows, err := readCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func markdownOf(t *testing.T, ws, name string) string {
	t.Helper()
	md, _ := filepath.Glob(filepath.Join(ws, "testimonies", name+" *.md"))
	if len(md) != 1 {
		t.Fatalf("Markdown files of %s: %v", name, md)
	}
	b, err := os.ReadFile(md[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDemoLoopback(t *testing.T) {
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Out: &out, Dir: t.TempDir(), Loopback: true, KDF: fastKDF})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	checkResult(t, res, out.String())
	if t.Failed() {
		t.Log(out.String())
	}
}

// TestDemoTor runs the demo as users run it: on a private Tor network, the
// server reachable only as an onion service, every request of the people
// (testimonies, coming back, the download of replies) through the client's
// SOCKS port.
func TestDemoTor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private Tor network (about 30 s)")
	}
	if _, err := exec.LookPath("tor"); err != nil {
		t.Fatal("tor is not installed: run `make deps` (apt-get install tor)")
	}
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Out: &out, Dir: t.TempDir(), KDF: fastKDF})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(res.Address, ".onion") {
		t.Fatalf("served on %s, want an onion address", res.Address)
	}
	checkResult(t, res, out.String())
}
