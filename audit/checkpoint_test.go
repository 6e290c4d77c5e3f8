package audit

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestCheckpointEncoding(t *testing.T) {
	c := Checkpoint{Origin: "testimony/server/study-1", Size: 42, Hash: tlog.RecordHash([]byte("x")), Day: "2026-03-04"}
	text, err := c.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	if len(lines) != 5 || lines[0] != c.Origin || lines[1] != "42" || lines[3] != "day 2026-03-04" || lines[4] != "" {
		t.Fatalf("MarshalText = %q, not the C2SP layout", text)
	}
	if h, err := tlog.ParseHash(lines[2]); err != nil || h != c.Hash {
		t.Fatalf("root hash line %q does not decode to the hash: %v", lines[2], err)
	}
	back, err := ParseCheckpoint(text)
	if err != nil || back != c {
		t.Fatalf("ParseCheckpoint(MarshalText(c)) = %+v, %v; want %+v", back, err, c)
	}
	c.Day = ""
	text, _ = c.MarshalText()
	if back, err := ParseCheckpoint(text); err != nil || back != c {
		t.Fatalf("checkpoint without day: %+v, %v", back, err)
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	h := "LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE="
	for _, text := range []string{
		"",
		"o\n1\n" + h,
		"\n1\n" + h + "\n",
		"o o\n1\n" + h + "\n",
		"o\n01\n" + h + "\n",
		"o\n-1\n" + h + "\n",
		"o\n+1\n" + h + "\n",
		"o\n99999999999999999999\n" + h + "\n",
		"o\n1\n" + h[:43] + "\n",
		"o\n1\n" + strings.TrimSuffix(h, "=") + "\n",
		"o\n1\nLXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIF=\n",
		"o\n1\n" + h + "\n\n",
		"o\n1\n" + h + "\nday 2026-3-4\n",
		"o\n1\n" + h + "\ntime 10:00\n",
		"o\n1\n" + h + "\nday 2026-03-04\nday 2026-03-04\n",
		"o\n1\n" + h[:20] + "\r" + h[20:] + "\n", // base64 decoding skips '\r'
	} {
		if c, err := ParseCheckpoint([]byte(text)); err == nil {
			t.Errorf("ParseCheckpoint(%q) = %+v, want an error", text, c)
		}
	}
}

func TestOpenCheckpointKeys(t *testing.T) {
	skey, vkey, err := GenerateKey("testimony/server/study-1")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	other, _, _ := GenerateKey("testimony/server/study-1")
	otherSigner, _ := note.NewSigner(other)
	text, _ := Checkpoint{Origin: "testimony/server/study-1", Size: 1, Day: "2026-03-04"}.MarshalText()
	msg, _ := note.Sign(&note.Note{Text: string(text)}, signer)
	if _, _, err := openCheckpoint(msg, note.VerifierList(verifier)); err != nil {
		t.Fatalf("openCheckpoint: %v", err)
	}
	if _, _, err := openCheckpoint(msg, signerVerifiers{signer}); err != nil {
		t.Fatalf("openCheckpoint with the signer as verifier: %v", err)
	}
	// A signature with a '\r' in its base64 (which the base64 decoder
	// skips) would be another byte form: refused (by note.Open already).
	sigAt := bytes.LastIndex(msg, []byte(" ")) + 1
	cr := append(append(append([]byte{}, msg[:sigAt+10]...), '\r'), msg[sigAt+10:]...)
	if _, _, err := openCheckpoint(cr, note.VerifierList(verifier)); err == nil {
		t.Fatalf("a signature with a carriage return in its base64: err = %v", err)
	}
	forged, _ := note.Sign(&note.Note{Text: string(text)}, otherSigner)
	var unverified *note.UnverifiedNoteError
	if _, _, err := openCheckpoint(forged, note.VerifierList(verifier)); !errors.As(err, &unverified) {
		t.Fatalf("checkpoint signed by another key: err = %v, want UnverifiedNoteError", err)
	}
	if _, _, err := openCheckpoint(forged, signerVerifiers{signer}); !errors.As(err, &unverified) {
		t.Fatalf("checkpoint signed by another key, checked by signer: err = %v, want UnverifiedNoteError", err)
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("testimony/server/study-1\n42\nLXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=\nday 2026-03-04\n"))
	f.Add([]byte("o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Add([]byte("o\n9223372036854775807\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			return
		}
		again, err := c.MarshalText()
		if err != nil {
			t.Fatalf("ParseCheckpoint(%q) = %+v, which does not encode: %v", text, c, err)
		}
		if string(again) != string(text) {
			t.Fatalf("ParseCheckpoint(%q) re-encodes as %q", text, again)
		}
	})
}

// FuzzOpenCheckpoint feeds arbitrary signed notes to the code that reads
// checkpoint files and trusted checkpoints.
func FuzzOpenCheckpoint(f *testing.F) {
	skey, _, err := GenerateKey("testimony/server/fuzz")
	if err != nil {
		f.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		f.Fatal(err)
	}
	text, _ := Checkpoint{Origin: "testimony/server/fuzz", Size: 3, Day: "2026-03-04"}.MarshalText()
	msg, _ := note.Sign(&note.Note{Text: string(text)}, signer)
	f.Add(msg)
	f.Add([]byte("testimony/server/fuzz\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— testimony/server/fuzz AAAAAAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, n, err := openCheckpoint(msg, signerVerifiers{signer})
		if err != nil {
			return
		}
		if len(n.Sigs) == 0 {
			t.Fatalf("openCheckpoint(%q) accepted a note without a verified signature", msg)
		}
		again, _ := c.MarshalText()
		if string(again) != n.Text {
			t.Fatalf("openCheckpoint(%q): text does not round-trip", msg)
		}
	})
}
