package researcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/handover"
	"github.com/testimony-project/testimony/receipt"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

// open opens the workspace in dir with the fixture's study, failing t.
func (f *fixture) open(t testing.TB, dir string, id *envelope.Identity) *Workspace {
	t.Helper()
	ws, err := Open(dir, f.study, id, "en")
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// names returns the pseudonyms of the workspace in dir, by story.
func namesByStory(t testing.TB, dir string, f *fixture, id *envelope.Identity) map[string]string {
	t.Helper()
	ws := f.open(t, dir, id)
	defer ws.Close()
	out := map[string]string{}
	for _, tm := range testimonies(t, ws) {
		out[Cell(tm.Answers["story"])] = tm.Pseudonym + "/" + tm.PseudonymRoman
	}
	return out
}

// TestRenamesTravel checks that renames made in two workspaces, exchanged
// as signed files and imported in different orders, give identical
// exports, with conflicts resolved alike.
func TestRenamesTravel(t *testing.T) {
	f := newFixture(t)
	var envs []batch.Envelope
	for i := range 6 {
		envs = append(envs, f.envelope(t, fmt.Sprint("story ", i)))
	}
	b := f.batch(t, envs...)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	ids := []*envelope.Identity{f.ids[0], f.ids[1], f.ids[0]}
	for i, dir := range dirs {
		if err := decryptRun(dir, f.study, ids[i], f.verifier, b); err != nil {
			t.Fatal(err)
		}
	}
	drawn := namesByStory(t, dirs[0], f, ids[0])
	name := func(story string) string { return strings.SplitN(drawn[story], "/", 2)[0] }
	rename := func(dir string, id *envelope.Identity, old, new string) {
		t.Helper()
		ws := f.open(t, dir, id)
		if err := ws.Rename(old, new); err != nil {
			t.Fatalf("Rename(%s, %s): %v", old, new, err)
		}
		if err := ws.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Researcher A renames story 0 and story 2; B renames story 1, story 2
	// (a conflict: same clock, the later signer wins), and story 3 to the
	// name A gave story 0 (void: A's claim comes first).
	rename(dirs[0], ids[0], name("story 0"), "남궁민/Namgung Min")
	rename(dirs[0], ids[0], name("story 2"), "김영철/Kim Young-chul")
	rename(dirs[1], ids[1], name("story 1"), "리설향/Ri Seol-hyang")
	rename(dirs[1], ids[1], name("story 2"), "박서나/Park Seo-na")
	rename(dirs[1], ids[1], name("story 3"), "선우진")
	rename(dirs[1], ids[1], "선우진", "남궁민/Namgung Min")

	export := func(dir string, id *envelope.Identity) []byte {
		t.Helper()
		ws := f.open(t, dir, id)
		msg, n, err := ws.ExportRenames()
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.Close(); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no renames exported")
		}
		return msg
	}
	fromA, fromB := export(dirs[0], ids[0]), export(dirs[1], ids[1])
	importAll := func(dir string, id *envelope.Identity, files ...[]byte) {
		t.Helper()
		ws := f.open(t, dir, id)
		for _, msg := range files {
			if _, err := ws.ImportRenames(msg); err != nil {
				t.Fatal(err)
			}
		}
		if err := ws.Close(); err != nil {
			t.Fatal(err)
		}
	}
	importAll(dirs[0], ids[0], fromB)
	importAll(dirs[1], ids[1], fromA, fromA) // twice: no change
	importAll(dirs[2], ids[2], fromB, fromA) // a third copy, other order
	want := exports(t, dirs[0])
	sameExports(t, "B", exports(t, dirs[1]), want)
	sameExports(t, "A's second workspace", exports(t, dirs[2]), want)

	got := namesByStory(t, dirs[0], f, ids[0])
	winner, loser := "박서나/Park Seo-na", "김영철/Kim Young-chul"
	if f.ids[0].Recipient().Fingerprint() > f.ids[1].Recipient().Fingerprint() {
		winner, loser = loser, winner
	}
	for story, n := range map[string]string{"story 0": "남궁민/Namgung Min", "story 1": "리설향/Ri Seol-hyang", "story 2": winner} {
		if got[story] != n {
			t.Errorf("%s is %s, want %s", story, got[story], n)
		}
	}
	// The loser's name stays reserved for story 2; B's second rename of
	// story 3, to the name A gave story 0 earlier, is void everywhere.
	if !strings.HasPrefix(got["story 3"], "선우진/") {
		t.Errorf("story 3 is %s, want 선우진 (its rename to 남궁민 is void)", got["story 3"])
	}
	ws := f.open(t, dirs[0], ids[0])
	if err := ws.Rename(name("story 4"), loser); err == nil || !strings.Contains(err.Error(), "was a pseudonym of another testimony") {
		t.Errorf("renaming to the losing name of a conflict: %v", err)
	}
	ws.Abort()
	if l := auditLines(t, dirs[1]); !slices.ContainsFunc(l, func(s string) bool { return strings.Contains(s, "renames-applied count=2") }) ||
		!slices.ContainsFunc(l, func(s string) bool { return strings.Contains(s, "renames-signed count=4") }) {
		t.Errorf("audit log of B lacks renames-signed or renames-applied:\n%s", strings.Join(l, "\n"))
	}

	// A renames file is refused when altered, or signed by a key that is
	// not the study's.
	ws = f.open(t, dirs[0], ids[0])
	defer ws.Abort()
	altered := bytes.Replace(fromA, []byte("남궁민"), []byte("남궁만"), 1)
	if _, err := ws.ImportRenames(altered); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("altered renames file: %v", err)
	}
	stranger, _ := envelope.GenerateIdentity()
	other := &renamesFile{study: f.study.ID, by: stranger.Recipient().Fingerprint(), claims: []claim{{By: stranger.Recipient().Fingerprint(), Clock: 9, Ref: strings.Repeat("ab", 16), Hangul: "김가나", Roman: "Kim Ga-na"}}}
	text, _ := other.marshal()
	forged, _ := note.Sign(&note.Note{Text: string(text)}, stranger.Signer())
	if _, err := ws.ImportRenames(forged); err == nil || !strings.Contains(err.Error(), "not signed by a researcher of the study") {
		t.Errorf("renames by a stranger: %v", err)
	}
}

func TestParseRenames(t *testing.T) {
	fp := "0123-4567-89AB-CDEF-0123"
	good := "testimony renames v1\nstudy ws-study\nresearcher " + fp + "\nrenames 2\n" +
		"rename " + strings.Repeat("ab", 16) + " 1 김영철/Kim Young-chul\n" +
		"rename " + strings.Repeat("0c", 16) + " 2 남궁민/Namgung Min\n"
	f, err := parseRenames([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := f.marshal(); string(out) != good {
		t.Fatalf("marshal after parse:\n%s", out)
	}
	for _, tc := range []struct{ name, text, says string }{
		{"out of order", strings.Replace(good, " 2 남궁민", " 1 남궁민", 1), "out of order"},
		{"non-canonical name", strings.Replace(good, "Kim Young-chul", "kim young-chul", 1), "malformed name"},
		{"uppercase ref", strings.Replace(good, strings.Repeat("ab", 16), strings.Repeat("AB", 16), 1), "reference"},
		{"clock zero", strings.Replace(good, " 1 김영철", " 0 김영철", 1), "clock 0"},
		{"leading zero", strings.Replace(good, " 2 남궁민", " 02 남궁민", 1), "malformed clock"},
		{"count", strings.Replace(good, "renames 2", "renames 3", 1), "missing \"rename\""},
		{"trailing", good + "x\n", "unexpected text"},
		{"no rename word", strings.Replace(good, "rename ab", "renam ab", 1), "want \"rename\""},
	} {
		if _, err := parseRenames([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.says)
		}
	}
}

func FuzzParseRenames(f *testing.F) {
	fp := "0123-4567-89AB-CDEF-0123"
	f.Add([]byte("testimony renames v1\nstudy ws-study\nresearcher " + fp + "\nrenames 1\nrename " + strings.Repeat("ab", 16) + " 1 김영철/Kim Young-chul\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseRenames(data)
		if err != nil {
			return
		}
		out, err := r.marshal()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("parseRenames accepted %q, which marshals as %q (%v)", data, out, err)
		}
	})
}

// newcomer returns a third researcher, and version 2 of the fixture's
// study with them among the recipients.
func (f *fixture) newcomer(t testing.TB) (*envelope.Identity, *config.Study, []byte) {
	t.Helper()
	c, _ := envelope.GenerateIdentity()
	y, _, err := AddRecipient("ws.yaml", f.yaml, "C", c.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	s, err := config.Parse("ws.yaml", y)
	if err != nil {
		t.Fatal(err)
	}
	return c, s, y
}

// TestHandover checks that a researcher added to the team gets, from a
// teammate's handover, the testimonies sealed before they joined, with the
// same plaintext and pseudonyms as the teammate.
func TestHandover(t *testing.T) {
	f := newFixture(t)
	v1, v1yaml := f.study, f.yaml
	c, v2, v2yaml := f.newcomer(t)
	var early []batch.Envelope
	for i := range 3 {
		early = append(early, f.envelopeOf(t, map[string][]string{"story": {fmt.Sprint("early ", i)}, "consent": {"yes"}}))
	}
	var b1 bytes.Buffer
	if _, err := batch.Write(&b1, f.signer, v1.ID, early, v1yaml); err != nil {
		t.Fatal(err)
	}
	var late []batch.Envelope
	for i := range 2 {
		pt, _ := response.Marshal(v2, &response.Response{Study: v2.ID, Language: "en", Answers: map[string][]string{"story": {fmt.Sprint("late ", i)}, "consent": {"yes"}}})
		env, err := envelope.Seal(v2.ID, pt, []*envelope.Recipient{f.ids[0].Recipient(), f.ids[1].Recipient(), c.Recipient()})
		if err != nil {
			t.Fatal(err)
		}
		late = append(late, batch.Envelope{ID: randomID(t), Data: env})
	}
	var b2 bytes.Buffer
	if _, err := batch.Write(&b2, f.signer, v2.ID, late, v1yaml, v2yaml); err != nil {
		t.Fatal(err)
	}
	f.study, f.yaml = v2, v2yaml
	a, newDir := t.TempDir(), t.TempDir()
	if err := decryptRun(a, v2, f.ids[0], f.verifier, b1.Bytes(), b2.Bytes()); err != nil {
		t.Fatal(err)
	}
	// The newcomer is not refused: the earlier envelopes are counted.
	ws := f.open(t, newDir, c)
	sum, err := ws.Import(bytes.NewReader(b1.Bytes()), []note.Verifier{f.verifier}, nil)
	if err != nil {
		t.Fatalf("a batch sealed before the newcomer joined: %v", err)
	}
	if sum.SealedBefore != 3 || sum.Quarantined != 0 {
		t.Fatalf("batch 1 for the newcomer: %+v", sum)
	}
	if _, err := ws.Import(bytes.NewReader(b2.Bytes()), []note.Verifier{f.verifier}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if ws.Len() != 2 || ws.SealedBefore() != 3 || len(ws.Quarantined()) != 0 {
		t.Fatalf("newcomer: %d testimonies, %d sealed before, quarantine %v", ws.Len(), ws.SealedBefore(), ws.Quarantined())
	}

	// A hands over everything the newcomer cannot open.
	ws = f.open(t, a, f.ids[0])
	var file bytes.Buffer
	hs, err := ws.WriteHandover(&file, c.Recipient(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if hs.Envelopes != 3 || hs.OpenedByThem != 2 || hs.Missing != 0 {
		t.Fatalf("handover written: %+v", hs)
	}
	// Or only the testimonies named.
	one := namesByStory(t, a, f, f.ids[0])["early 1"]
	ws = f.open(t, a, f.ids[0])
	if hs, err := ws.WriteHandover(&bytes.Buffer{}, c.Recipient(), []string{strings.Split(one, "/")[1]}); err != nil || hs.Envelopes != 1 {
		t.Errorf("handover of one testimony named: %+v, %v", hs, err)
	}
	if _, err := ws.WriteHandover(&bytes.Buffer{}, c.Recipient(), []string{"김없음"}); err == nil || !strings.Contains(err.Error(), "no testimony is named") {
		t.Errorf("handover of a name no testimony has: %v", err)
	}
	ws.Abort()
	// B can open everything: nothing to hand over.
	ws = f.open(t, a, f.ids[0])
	if _, err := ws.WriteHandover(&bytes.Buffer{}, f.ids[1].Recipient(), nil); err == nil || !strings.Contains(err.Error(), "nothing to hand over") {
		t.Errorf("handover to a researcher who can open everything: %v", err)
	}
	ws.Abort()

	// Tampered, or for another key: refused, nothing saved.
	for _, tc := range []struct {
		name string
		data []byte
		id   *envelope.Identity
		is   error
	}{
		{"tampered", flipLast(file.Bytes()), c, handover.ErrInvalid},
		{"for another key", file.Bytes(), f.ids[1], nil},
	} {
		dir := newDir
		if tc.id != c {
			dir = t.TempDir()
			if err := decryptRun(dir, v2, tc.id, f.verifier, b1.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		ws := f.open(t, dir, tc.id)
		_, err := ws.ImportHandover(bytes.NewReader(tc.data), nil)
		if err == nil || tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s handover: %v", tc.name, err)
		}
		if err := ws.Close(); err == nil {
			t.Errorf("%s handover: Close saved the run", tc.name)
		}
	}
	ws = f.open(t, newDir, c)
	if ws.Len() != 2 {
		t.Fatalf("a refused handover changed the workspace: %d testimonies", ws.Len())
	}
	hsum, err := ws.ImportHandover(bytes.NewReader(file.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if hsum.Imported != 3 || hsum.From != f.ids[0].Recipient().Fingerprint() || ws.Len() != 5 || ws.SealedBefore() != 0 {
		t.Fatalf("handover imported: %+v; %d testimonies, %d sealed before", hsum, ws.Len(), ws.SealedBefore())
	}
	sameExports(t, "newcomer after the handover", exports(t, newDir), exports(t, a))
	// Without any batch (the server purged them), the handover alone
	// brings the testimonies and the versions they answer.
	alone := t.TempDir()
	ws = f.open(t, alone, c)
	if hsum, err := ws.ImportHandover(bytes.NewReader(file.Bytes()), nil); err != nil || hsum.Imported != 3 {
		t.Fatalf("a handover into a new workspace: %+v, %v", hsum, err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if len(ws.Quarantined()) != 0 {
		t.Fatalf("a handover into a new workspace quarantined %v", ws.Quarantined())
	}
	if _, err := os.Stat(filepath.Join(alone, versionsDir, v1.Version()+".yaml")); err != nil {
		t.Errorf("the handover did not bring version 1: %v", err)
	}
	all, handed := namesByStory(t, a, f, f.ids[0]), namesByStory(t, alone, f, c)
	for story, n := range handed {
		if all[story] != n {
			t.Errorf("%s is %s after the handover alone, %s for the giver", story, n, all[story])
		}
	}
	// Again: nothing changes.
	ws = f.open(t, newDir, c)
	if hsum, err := ws.ImportHandover(bytes.NewReader(file.Bytes()), nil); err != nil || hsum.Imported != 0 || hsum.Skipped != 3 {
		t.Fatalf("the same handover again: %+v, %v", hsum, err)
	}
	ws.Close()
	if l := auditLines(t, newDir); !slices.ContainsFunc(l, func(s string) bool {
		return strings.Contains(s, "handover-imported count=3 researcher-key="+f.ids[0].Recipient().Fingerprint())
	}) {
		t.Errorf("no handover-imported record:\n%s", strings.Join(l, "\n"))
	}
	if l := auditLines(t, a); !slices.ContainsFunc(l, func(s string) bool {
		return strings.Contains(s, "handover-written count=3 researcher-key="+c.Recipient().Fingerprint())
	}) {
		t.Errorf("no handover-written record:\n%s", strings.Join(l, "\n"))
	}
	// The newcomer can hand on what they were handed, and receipt both
	// batches.
	ws = f.open(t, newDir, c)
	d, _ := envelope.GenerateIdentity()
	if hs, err := ws.WriteHandover(&bytes.Buffer{}, d.Recipient(), nil); err != nil || hs.Envelopes != 5 {
		t.Fatalf("handing on: %+v, %v", hs, err)
	}
	msg, r, err := ws.Receipt()
	if err != nil || len(r.Batches) != 2 {
		t.Fatalf("receipt: %v, %v", r, err)
	}
	if _, err := receipt.Verify(msg, []note.Verifier{c.Recipient().Verifier()}); err != nil {
		t.Fatal(err)
	}
	ws.Abort()
}

func flipLast(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-3] ^= 1
	return b
}
