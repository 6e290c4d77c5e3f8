package audit

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"strings"
	"testing"
)

func TestCheckEnvelopes(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	growLog(t, dir, k, 0, 3)
	rep := mustVerify(t, dir, k.vkey, nil)
	h := func(i int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "envelope %d", i)) }
	rep.CheckEnvelopes(maps.All(map[string][32]byte{"a": h(0), "b": h(2)}))
	if !rep.OK() || rep.Envelopes != 2 {
		t.Fatalf("recorded envelopes reported: %v", rep.Damage)
	}
	// Two envelopes alike need two records; one the log never saw needs one.
	rep = mustVerify(t, dir, k.vkey, nil)
	rep.CheckEnvelopes(maps.All(map[string][32]byte{"a": h(1), "a-again": h(1), "new": h(7)}))
	if len(rep.Damage) != 2 || rep.Damage[0].Kind != Unrecorded {
		t.Fatalf("damage %v, want two unrecorded envelopes", rep.Damage)
	}
}

func TestCheckManifest(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	l := openTestLog(t, dir, k)
	h := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	for _, s := range []string{"e1", "e2"} {
		mustAppend(t, l, SubmissionStored(h(s), testDay))
	}
	mustAppend(t, l, BatchExported(h("m"), 2, testDay))
	if _, err := l.Checkpoint(testDay, true); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, SubmissionStored(h("late"), testDay)) // not signed yet
	rec, err := ReconcileServer(dir, k.vkey)
	if err != nil {
		t.Fatal(err)
	}
	rec.CheckManifest(Manifest{"good", h("m"), []ManifestEnvelope{{"a", h("e1")}, {"b", h("e2")}}})
	if !rec.OK() || rec.Manifests != 1 || rec.EnvelopesChecked != 2 {
		t.Fatalf("problems %v", rec.Problems)
	}
	rec.CheckManifest(Manifest{"bad", h("m"), []ManifestEnvelope{{"a", h("e1")}, {"x", h("unknown")}, {"l", h("late")}}})
	var kinds []string
	for _, p := range rec.Problems {
		kinds = append(kinds, string(p.Kind))
	}
	if got := strings.Join(kinds, " "); got != "manifest-not-recorded envelope-not-recorded unproven" {
		t.Fatalf("problems %s: %v", got, rec.Problems)
	}
}
