package receipt

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/crypto/envelope"
	"golang.org/x/mod/sumdb/note"
)

const fp = "0123-4567-89AB-CDEF-0123"

type key struct {
	signer   note.Signer
	verifier note.Verifier
}

func newKey(t testing.TB, name string) key {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return key{s, v}
}

func hashes(names ...string) [][32]byte {
	var hs [][32]byte
	for _, n := range names {
		hs = append(hs, sha256.Sum256([]byte(n)))
	}
	return hs
}

func sign(t testing.TB, r *Receipt, k key) []byte {
	t.Helper()
	msg, err := Sign(r, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestSignVerify(t *testing.T) {
	alice := newKey(t, envelope.NoteKeyName(fp))
	bob := newKey(t, envelope.NoteKeyName("AAAA-BBBB-CCCC-DDDD-EEEE"))
	r := &Receipt{StudyID: "nk-study", Researcher: fp, Batches: hashes("b", "a", "c")}
	msg := sign(t, r, alice)
	got, err := Verify(msg, []note.Verifier{bob.verifier, alice.verifier})
	if err != nil {
		t.Fatal(err)
	}
	if got.StudyID != "nk-study" || got.Researcher != fp || len(got.Batches) != 3 || got.Hash != sha256.Sum256(msg) || got.Hash != r.Hash {
		t.Fatalf("Verify = %+v", got)
	}
	for i := 1; i < 3; i++ {
		if bytes.Compare(got.Batches[i-1][:], got.Batches[i][:]) >= 0 {
			t.Fatal("batches not sorted")
		}
	}
	text, _, _ := strings.Cut(string(msg), "\n\n")
	want := fmt.Sprintf("testimony import receipt v1\nstudy nk-study\nresearcher %s\nbatches 3\n%x\n%x\n%x", fp, got.Batches[0], got.Batches[1], got.Batches[2])
	if text != want {
		t.Errorf("receipt text:\n%s\nwant:\n%s", text, want)
	}
	if !strings.HasSuffix(string(msg), "\n") || !strings.Contains(string(msg), "\n\n— testimony-researcher-0123456789ABCDEF0123 ") {
		t.Errorf("signature line: %q", msg)
	}

	// Signing someone else's receipt is refused.
	if _, err := Sign(&Receipt{StudyID: "nk-study", Researcher: fp, Batches: hashes("a")}, bob.signer); err == nil {
		t.Error("Sign accepted a key other than the named researcher's")
	}
}

func TestVerifyRefuses(t *testing.T) {
	alice := newKey(t, envelope.NoteKeyName(fp))
	mallory := newKey(t, envelope.NoteKeyName("AAAA-BBBB-CCCC-DDDD-EEEE"))
	r := &Receipt{StudyID: "nk-study", Researcher: fp, Batches: hashes("a", "b")}
	good := sign(t, r, alice)
	text, _, _ := strings.Cut(string(good), "\n\n")
	text += "\n"

	// Mallory, a recipient, signs a receipt claiming to be Alice.
	claimed, err := note.Sign(&note.Note{Text: text}, mallory.signer)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := note.Sign(&note.Note{Text: text}, alice.signer, mallory.signer)
	if err != nil {
		t.Fatal(err)
	}
	evil := newKey(t, "evil\u202eyek")
	byEvil, _ := note.Sign(&note.Note{Text: text}, evil.signer)
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
		text string
	}{
		{"not a recipient", good, ErrUnknownKey, "testimony-researcher-0123456789ABCDEF0123"},
		{"another's name", claimed, ErrInvalid, "names researcher " + fp},
		{"two signatures", twice, ErrInvalid, "other signatures"},
		{"altered", bytes.Replace(good, []byte("batches 2"), []byte("batches 1"), 1), ErrInvalid, "does not verify"},
		{"unsigned", []byte(text), ErrInvalid, "receipt is not a signed note"},
		{"trailing text", append(bytes.Clone(good), "x\n"...), ErrInvalid, ""},
		{"empty", nil, ErrInvalid, ""},
		{"evil name", byEvil, ErrUnknownKey, `\u202e`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := []note.Verifier{alice.verifier, mallory.verifier}
			if tc.name == "not a recipient" {
				vs = []note.Verifier{mallory.verifier}
			}
			r, err := Verify(tc.msg, vs)
			if r != nil || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Verify = %v, %v; want %v containing %q", r, err, tc.want, tc.text)
			}
			if strings.ContainsRune(err.Error(), '\u202e') {
				t.Errorf("error repeats a bidi override: %q", err)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	h := hashes("a", "b")
	if bytes.Compare(h[0][:], h[1][:]) > 0 {
		h[0], h[1] = h[1], h[0]
	}
	a, b := fmt.Sprintf("%x", h[0]), fmt.Sprintf("%x", h[1])
	ok := "testimony import receipt v1\nstudy nk-study\nresearcher " + fp + "\nbatches 2\n" + a + "\n" + b + "\n"
	if r, err := Parse([]byte(ok)); err != nil || len(r.Batches) != 2 {
		t.Fatalf("Parse(valid) = %v, %v", r, err)
	}
	for _, tc := range []struct{ text, want string }{
		{"", "line 0"},
		{strings.Replace(ok, "v1", "v2", 1), "line 1: not a"},
		{strings.ReplaceAll(ok, "\n", "\r\n"), "line 1: not a"},
		{strings.Replace(ok, "nk-study", "NK", 1), "line 2: malformed study id"},
		{strings.Replace(ok, "study ", "studies ", 1), `line 2: want "study"`},
		{strings.Replace(ok, fp, strings.ToLower(fp), 1), "line 3: malformed researcher fingerprint"},
		{strings.Replace(ok, fp, strings.ReplaceAll(fp, "-", ""), 1), "line 3: malformed researcher fingerprint"},
		{strings.Replace(ok, fp, fp+"-0000", 1), "line 3: malformed researcher fingerprint"},
		{strings.Replace(ok, "batches 2", "batches 02", 1), "line 4: malformed batch count"},
		{strings.Replace(ok, "batches 2", "batches 0", 1), "line 4: malformed batch count"},
		{strings.Replace(ok, "batches 2", "batches 100001", 1), "line 4: malformed batch count"},
		{strings.Replace(ok, "batches 2", "batches 3", 1), "ends after 2 of 3"},
		{strings.Replace(ok, "batches 2", "batches 1", 1), "line 6: unexpected text"},
		{strings.Replace(ok, a, strings.ToUpper(a), 1), "line 5: malformed batch SHA-256"},
		{strings.Replace(ok, a, a[:63], 1), "line 5: malformed batch SHA-256"},
		{strings.Replace(ok, a+"\n"+b, b+"\n"+a, 1), "line 6: batch " + a + " listed out of order"},
		{strings.Replace(ok, b, a, 1), "line 6: batch " + a + " listed out of order or twice"},
		{ok + "\n", "unexpected text"},
	} {
		if _, err := Parse([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q):\n  got %v\n  want %q", tc.text, err, tc.want)
		}
	}
}

// TestVector verifies the receipt kept in testdata, the example of the
// package documentation, so that a change breaking receipts researchers
// already signed fails.
func TestVector(t *testing.T) {
	vkey, err := os.ReadFile("testdata/receipt.vkey")
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := os.ReadFile("testdata/receipt.txt")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Verify(msg, []note.Verifier{v})
	if err != nil {
		t.Fatal(err)
	}
	if r.StudyID != "nk-internet-access" || r.Researcher != fp || len(r.Batches) != 2 {
		t.Fatalf("vector = %+v", r)
	}
}

// TestMakeVector writes testdata/receipt.txt and receipt.vkey anew when
// TESTIMONY_MAKE_RECEIPT_VECTOR is set.
func TestMakeVector(t *testing.T) {
	if os.Getenv("TESTIMONY_MAKE_RECEIPT_VECTOR") == "" {
		t.Skip("set TESTIMONY_MAKE_RECEIPT_VECTOR=1 to write a new test vector")
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, envelope.NoteKeyName(fp))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	msg := sign(t, &Receipt{StudyID: "nk-internet-access", Researcher: fp, Batches: hashes("manifest 1", "manifest 2")}, key{signer: s})
	os.MkdirAll("testdata", 0o755)
	os.WriteFile("testdata/receipt.txt", msg, 0o644)
	os.WriteFile("testdata/receipt.vkey", []byte(vkey+"\n"), 0o644)
}

func FuzzParse(f *testing.F) {
	for _, n := range []int{1, 2, 5} {
		r := &Receipt{StudyID: "nk-study", Researcher: fp}
		for i := range n {
			r.Batches = append(r.Batches, sha256.Sum256([]byte{byte(i)}))
		}
		Sign(r, newKey(f, envelope.NoteKeyName(fp)).signer)
		text, _ := r.MarshalText()
		f.Add(text)
	}
	f.Add([]byte("testimony import receipt v1\nstudy abc\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		r, err := Parse(text)
		if err != nil {
			return
		}
		again, err := r.MarshalText()
		if err != nil || !bytes.Equal(again, text) {
			t.Fatalf("parse then format changed the receipt (%v):\n%q\n%q", err, text, again)
		}
	})
}

func FuzzVerify(f *testing.F) {
	alice := newKey(f, envelope.NoteKeyName(fp))
	good := sign(f, &Receipt{StudyID: "nk-study", Researcher: fp, Batches: hashes("a", "b")}, alice)
	f.Add(good)
	f.Add(good[:len(good)-10])
	if b, err := os.ReadFile("testdata/receipt.txt"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := Verify(msg, []note.Verifier{alice.verifier})
		if err != nil {
			if r != nil || !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("Verify = %v, %v", r, err)
			}
			return
		}
		// Whatever verifies is canonical: signing it again gives it back.
		again := sign(t, &Receipt{StudyID: r.StudyID, Researcher: r.Researcher, Batches: r.Batches}, alice)
		if !bytes.Equal(again, msg) {
			t.Fatalf("a verified receipt is not canonical:\n%q\n%q", msg, again)
		}
	})
}
