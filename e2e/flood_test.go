package e2e

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/researcher"
	"golang.org/x/mod/sumdb/note"
)

// junk returns an envelope the server must accept — well formed, for the
// study, sealed to its researchers' keys — whose slots no researcher can
// use: what a flood made with the study's public keys looks like. Every
// researcher quarantines it alike.
func (h *harness) junk() []byte {
	env := h.sealLikeBrowser("ko", map[string][]string{"left_year": {"2019"}, "phone": {"no"}, "consent": {"yes"}})
	// The first slot follows the label, the study id, E, C, the count and
	// the first recipient key.
	slot := len(envelope.Label) + 1 + len(h.study.ID) + 32 + 32 + 1 + 32
	rand.Read(env[slot : slot+48])
	return env
}

// TestFloodThenExportInParts floods /sealed with junk between real
// testimonies, exports in parts, and imports every part: the real
// testimonies come in whatever the flood, and the junk is set aside with a
// count, alike for both researchers.
func TestFloodThenExportInParts(t *testing.T) {
	const junk, real, perPart = 1500, 4, 400
	h := newHarness(t)
	for i := range junk + real {
		if i%(junk/real) == 0 && i/(junk/real) < real {
			answers := map[string][]string{"left_year": {"2019"}, "phone": {"no"}, "consent": {"yes"}}
			if code, body := h.postForm(form("ko", answers)); code != http.StatusOK {
				t.Fatalf("real submission: status %d\n%s", code, body)
			}
			continue
		}
		if code, body := h.postEnvelope(h.junk()); code != http.StatusOK {
			t.Fatalf("junk envelope: status %d (the server cannot tell junk from a testimony)\n%s", code, body)
		}
	}

	out := filepath.Join(h.dir, "usb")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	res, err := h.data.ExportParts(intake.ExportOptions{Out: out, MaxEnvelopes: perPart}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := (junk + real + perPart - 1) / perPart; len(res.Parts) != want {
		t.Fatalf("export wrote %d parts, want %d", len(res.Parts), want)
	}
	verifier, err := note.NewVerifier(h.data.ServerKey())
	if err != nil {
		t.Fatal(err)
	}
	for r, id := range h.ids {
		ws, err := researcher.Open(filepath.Join(h.dir, "workspace", string(rune('a'+r))), h.study, id, "ko")
		if err != nil {
			t.Fatal(err)
		}
		imported, quarantined := 0, 0
		for _, p := range res.Parts {
			f, err := os.Open(p.Path)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := ws.Import(f, []note.Verifier{verifier}, nil)
			f.Close()
			if err != nil {
				t.Fatalf("researcher %d, %s: %v", r+1, filepath.Base(p.Path), err)
			}
			imported += sum.Imported
			quarantined += sum.Quarantined
			for _, c := range sum.Reasons {
				if c.Reason != "not-sealed-alike" {
					t.Errorf("researcher %d: junk quarantined as %q, want not-sealed-alike", r+1, c.Reason)
				}
			}
		}
		if err := ws.Close(); err != nil {
			t.Fatal(err)
		}
		if imported != real || quarantined != junk || ws.Len() != real {
			t.Errorf("researcher %d: %d imported and %d quarantined (%d in the workspace), want %d and %d", r+1, imported, quarantined, ws.Len(), real, junk)
		}
	}
}
