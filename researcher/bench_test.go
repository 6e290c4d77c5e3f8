package researcher

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/mod/sumdb/note"
)

// BenchmarkImport compares the whole decrypt pipeline on 10,000 envelopes
// of about 8 KiB with the NaCl work alone on the same data.
//
// raw is the floor, on one core: per envelope, crypto_box_open of the
// researcher's key slot, then the body key derived from the header and the
// content key as the envelope specification says, and crypto_secretbox_open
// of the body with it (checked to succeed, so that XSalsa20 and Poly1305 run
// over the whole body). pipeline is Import on every core: signature and hash
// checks, keeping the batch, opening, validation, appending to data/.
// pipeline+exports adds Close: pseudonyms, the sealed registry, the CSV,
// JSONL, codebook, 10,000 Markdown files and the audit log. Goal: the whole
// decrypt at ≥ 0.3 of raw.
//
// (The raw floor parses the version 2 header: E, C, n, then R_i || W_i, 80
// bytes per recipient; the researcher is the first.)
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
		hdrStart := len(envelope.Label) + 1 + len(f.study.ID)
		nrec := 2
		hdrEnd := hdrStart + 32 + 32 + 1 + nrec*80
		bodyLabel := strings.TrimSuffix(envelope.Label, "\n") + " body"
		var out []byte
		for b.Loop() {
			for _, e := range envs {
				var eph [32]byte
				copy(eph[:], e.Data[hdrStart:hdrStart+32])
				slot := e.Data[hdrStart+65+32 : hdrStart+65+80] // W_1, after R_1
				var nonce [24]byte
				k, ok := box.Open(nil, slot, &nonce, &eph, &sk)
				if !ok {
					b.Fatal("slot did not open")
				}
				h := sha512.New()
				h.Write([]byte(bodyLabel))
				h.Write([]byte{0})
				h.Write(e.Data[:hdrEnd])
				h.Write(k)
				var key [32]byte
				copy(key[:], h.Sum(nil))
				if out, ok = secretbox.Open(out[:0], e.Data[hdrEnd:], &nonce, &key); !ok {
					b.Fatal("body did not open with the derived body key")
				}
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
			sum, err := ws.Import(bytes.NewReader(data), []note.Verifier{f.verifier}, nil)
			if err != nil || sum.Imported != n {
				b.Fatalf("imported %v, %v", sum, err)
			}
			if exports {
				err = ws.Close()
			} else {
				err = ws.Abort()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "envelopes/s")
	}
	b.Run("pipeline", func(b *testing.B) { pipeline(b, false) })
	b.Run("pipeline+exports", func(b *testing.B) { pipeline(b, true) })
}

// BenchmarkThreads measures a decrypt run that brings messages on
// threads into a workspace of 10,000 testimonies, each with a return
// address: 1,000 additions (the thread files and the 1,000 Markdown files
// they change are written again, the tables are not), and 1,000
// withdrawals (every export is written again, and the withdrawn lines of
// data/ are overwritten).
func BenchmarkThreads(b *testing.B) {
	const n, m = 10000, 1000
	f := newFixture(b)
	people := make([]*person, n)
	envs := make([]batch.Envelope, n)
	for i := range envs {
		var seed [32]byte
		seed[0], seed[1], seed[2] = 0x42, byte(i>>8), byte(i)
		people[i] = &person{returnkey.NewKeys(seed)}
		envs[i] = f.testimony(b, people[i], fmt.Sprintf("이야기 %d: 도서관 관리원이 옆에서 지켜보았다.", i))
	}
	base := b.TempDir()
	if err := decryptRun(base, f.study, f.ids[0], f.verifier, f.batch(b, envs...)); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"additions", "withdrawals"} {
		var msgs []batch.Envelope
		for i := range m {
			p := people[i*(n/m)]
			if kind == "additions" {
				msgs = append(msgs, f.message(b, p, p, addition(fmt.Sprintf("보탠 말 %d", i))))
			} else {
				msgs = append(msgs, f.message(b, p, p, withdrawal()))
			}
		}
		data := f.batch(b, msgs...)
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), "ws")
				if out, err := exec.Command("cp", "-a", base, dir).CombinedOutput(); err != nil {
					b.Fatalf("cp: %v %s", err, out)
				}
				b.StartTimer()
				if err := decryptRun(dir, f.study, f.ids[0], f.verifier, data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m*b.N)/b.Elapsed().Seconds(), "messages/s")
		})
	}
}
