package researcher

import (
	"bytes"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/crypto/envelope"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// BenchmarkImport compares the whole decrypt pipeline (signature and hash
// checks, opening, validation, pseudonyms, exports) on 10,000 envelopes of
// about 8 KiB with the raw NaCl work alone on the same data: one
// crypto_box_open of the key slot and one crypto_secretbox_open of the body
// per envelope, on one core. Goal: the pipeline at ≥ 0.5 of raw.
func BenchmarkImport(b *testing.B) {
	const n = 10000
	f := newFixture(b)
	story := strings.Repeat("도서관 관리원이 옆에서 지켜보았다. 5분마다 화면이 멈췄다. ", 200)[:7900]
	for !strings.HasSuffix(story, ".") && !strings.HasSuffix(story, " ") {
		story = story[:len(story)-1] // keep it valid UTF-8
	}
	envs := make([]batch.Envelope, n)
	for i := range envs {
		envs[i] = f.envelope(b, story)
	}
	if len(envs[0].Data) < 8000 || len(envs[0].Data) > 9000 {
		b.Fatalf("envelope is %d bytes, want about 8 KiB", len(envs[0].Data))
	}
	data := f.batch(b, envs...)

	b.Run("raw", func(b *testing.B) {
		var sk [32]byte
		copy(sk[:], f.ids[0].Bytes())
		hdr := len(envelope.Label) + 1 + len(f.study.ID)
		for b.Loop() {
			for _, e := range envs {
				var eph [32]byte
				copy(eph[:], e.Data[hdr:hdr+32])
				slot := e.Data[hdr+65+32 : hdr+65+32+48] // R_1 || W_1
				var nonce [24]byte
				k, ok := box.Open(nil, slot, &nonce, &eph, &sk)
				if !ok {
					b.Fatal("slot did not open")
				}
				var key [32]byte
				copy(key[:], k) // the real body key is derived from k; the cost is the same
				secretbox.Open(nil, e.Data[hdr+65+2*80:], &nonce, &key)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "envelopes/s")
	})
	pipeline := func(b *testing.B, exports bool) {
		for b.Loop() {
			ws, err := Open(b.TempDir(), f.study, f.ids[0], "ko")
			if err != nil {
				b.Fatal(err)
			}
			sum, err := ws.Import(bytes.NewReader(data), f.verifier, nil)
			if err != nil || sum.Imported != n {
				b.Fatalf("imported %v, %v", sum, err)
			}
			if exports {
				if err := ws.Close(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "envelopes/s")
	}
	// Verify, open, validate and assign pseudonyms.
	b.Run("pipeline", func(b *testing.B) { pipeline(b, false) })
	// The same, then write the registry, CSV, JSONL, codebook and 10,000
	// Markdown files.
	b.Run("pipeline+exports", func(b *testing.B) { pipeline(b, true) })
}
