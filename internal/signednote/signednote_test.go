package signednote

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

var (
	errUnknown = errors.New("test note not signed by a known key")
	errInvalid = errors.New("test note invalid")
	testKind   = Kind{What: "test note", Signers: "a key of the test", Hint: "sign it with a test key", UnknownKey: errUnknown, Invalid: errInvalid}
)

type key struct {
	signer   note.Signer
	verifier note.Verifier
}

func newKey(t testing.TB, name string) key {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	s, errS := note.NewSigner(skey)
	v, errV := note.NewVerifier(vkey)
	if err := errors.Join(err, errS, errV); err != nil {
		t.Fatal(err)
	}
	return key{s, v}
}

func sign(t testing.TB, text string, keys ...key) []byte {
	t.Helper()
	var signers []note.Signer
	for _, k := range keys {
		signers = append(signers, k.signer)
	}
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

const text = "testimony test v1\nstudy nk-study\n"

// TestOpen checks that a note signed once by one of the verifiers opens,
// whichever of them signed it, and gives its text and signature.
func TestOpen(t *testing.T) {
	a, b := newKey(t, "alice"), newKey(t, "bob")
	for _, k := range []key{a, b} {
		msg := sign(t, text, k)
		n, err := testKind.Open(msg, a.verifier, b.verifier)
		if err != nil {
			t.Fatalf("signed by %s: %v", k.signer.Name(), err)
		}
		if n.Text != text || len(n.Sigs) != 1 || n.Sigs[0].Name != k.signer.Name() || len(n.UnverifiedSigs) != 0 {
			t.Fatalf("signed by %s: opened as %+v", k.signer.Name(), n)
		}
		if err := testKind.CheckSigner(n, k.signer.Name(), "author "+k.signer.Name()); err != nil {
			t.Fatalf("CheckSigner of the signer: %v", err)
		}
		got, err := testKind.UnverifiedText(msg)
		if err != nil || string(got) != text {
			t.Fatalf("UnverifiedText = %q, %v", got, err)
		}
	}
}

// TestOpenRefuses checks every way a message fails, the class of each
// error and what it says.
func TestOpenRefuses(t *testing.T) {
	a, b, c := newKey(t, "alice"), newKey(t, "bob"), newKey(t, "carol")
	good := sign(t, text, a)
	sig := good[len(text):] // "\n— alice …\n"
	// A second line by alice's key with another, well-formed signature:
	// note.Open verifies only the first line of a key and skips the others.
	name, b64, _ := strings.Cut(strings.TrimSuffix(string(sig), "\n")[len("\n— "):], " ")
	raw, _ := base64.StdEncoding.DecodeString(b64)
	raw[len(raw)-1] ^= 1
	forged := fmt.Appendf(bytes.Clone(good), "— %s %s\n", name, base64.StdEncoding.EncodeToString(raw))
	if n, err := note.Open(forged, note.VerifierList(a.verifier)); err != nil || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 {
		t.Fatalf("note.Open(forged) = %+v, %v: the test no longer tests what Open adds", n, err)
	}

	for _, tc := range []struct {
		name  string
		msg   []byte
		class error
		says  []string
	}{
		{"unknown key", sign(t, text, c), errUnknown, []string{`test note is not signed by a key of the test (signed by "carol"+`, "): sign it with a test key"}},
		{"altered", bytes.Replace(good, []byte("nk-study"), []byte("nk-studz"), 1), errInvalid, []string{`test note has an invalid signature by "alice"+`, "does not verify"}},
		{"unsigned", []byte(text), errInvalid, []string{"test note is not a signed note"}},
		{"empty", nil, errInvalid, []string{"test note is not a signed note"}},
		{"carriage return", bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")), errInvalid, []string{"is not a signed note"}},
		{"no final newline", good[:len(good)-1], errInvalid, []string{"is not a signed note"}},
		{"two known signers", sign(t, text, a, b), errInvalid, []string{"test note carries other signatures besides one by a key of the test"}},
		{"a known and an unknown signer", sign(t, text, a, c), errInvalid, []string{"other signatures besides one"}},
		{"repeated signature line", append(bytes.Clone(good), sig[1:]...), errInvalid, []string{"other signatures besides one"}},
		{"second signature by the same key", forged, errInvalid, []string{"other signatures besides one"}},
		{"blank line after the signature", append(bytes.Clone(good), '\n'), errInvalid, []string{"is not a signed note"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := testKind.Open(tc.msg, a.verifier, b.verifier)
			if n != nil || err == nil {
				t.Fatalf("Open = %+v, %v; want an error", n, err)
			}
			other := errInvalid
			if tc.class == errInvalid {
				other = errUnknown
			}
			if !errors.Is(err, tc.class) || errors.Is(err, other) {
				t.Errorf("error %q: want class %q only", err, tc.class)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), errInvalid.Error()) || strings.Contains(err.Error(), errUnknown.Error()) {
				t.Errorf("error %q repeats the class's text", err)
			}
		})
	}
}

// TestOpenQuotesNames checks that the names an error repeats from the
// message are quoted, cut short and few: a name may be anything but a
// space or '+', bidi overrides included.
func TestOpenQuotesNames(t *testing.T) {
	a := newKey(t, "alice")
	long := strings.Repeat("x", 500)
	var keys []key
	for _, name := range []string{"evil\u202eyek", long, "ca\u200brol", "dave", "erin"} {
		keys = append(keys, newKey(t, name))
	}
	_, err := testKind.Open(sign(t, text, keys...), a.verifier)
	if !errors.Is(err, errUnknown) {
		t.Fatalf("Open = %v, want the unknown-key class", err)
	}
	msg := err.Error()
	for _, want := range []string{`"evil\u202eyek"+`, `"` + long[:64] + `"+`, `"ca\u200brol"+`, "and 2 more"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, long[:65]) || strings.Contains(msg, "dave") || strings.Contains(msg, "erin") {
		t.Errorf("error %q lists too much", msg)
	}
	checkPrintable(t, err)

	// An invalid signature by a known key whose name is odd is quoted too.
	odd := newKey(t, "odd\u202ename")
	altered := bytes.Replace(sign(t, text, odd), []byte("nk-study"), []byte("nk-studz"), 1)
	_, err = testKind.Open(altered, odd.verifier)
	if !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), `"odd\u202ename"+`) {
		t.Errorf("altered note by an odd name: %v", err)
	}
	checkPrintable(t, err)
}

// checkPrintable fails if err's text holds a character a terminal would
// not print as itself.
func checkPrintable(t *testing.T, err error) {
	t.Helper()
	for _, r := range err.Error() {
		if !strconv.IsPrint(r) {
			t.Fatalf("error %q holds %U", err, r)
		}
	}
}

func TestCheckSigner(t *testing.T) {
	a, b := newKey(t, "alice"), newKey(t, "bob")
	n, err := testKind.Open(sign(t, text, b), a.verifier, b.verifier)
	if err != nil {
		t.Fatal(err)
	}
	err = testKind.CheckSigner(n, "alice", "author alice")
	if !errors.Is(err, errInvalid) || err.Error() != fmt.Sprintf(`test note names author alice but is signed by "bob"+%08x`, b.verifier.KeyHash()) {
		t.Errorf("CheckSigner of another key = %v", err)
	}
}

// TestKindWithoutClasses checks that a Kind without sentinel errors still
// refuses, with the same words.
func TestKindWithoutClasses(t *testing.T) {
	a, c := newKey(t, "alice"), newKey(t, "carol")
	k := Kind{What: `batch entry "manifest"`, Signers: "the pinned server key"}
	if _, err := k.Open(sign(t, text, c), a.verifier); err == nil || err.Error() != fmt.Sprintf(`batch entry "manifest" is not signed by the pinned server key (signed by "carol"+%08x)`, c.verifier.KeyHash()) {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := k.Open([]byte(text), a.verifier); err == nil || !strings.HasPrefix(err.Error(), `batch entry "manifest" is not a signed note (unsigned or altered): `) {
		t.Errorf("unsigned: %v", err)
	}
}

func TestUnverifiedText(t *testing.T) {
	a, b := newKey(t, "alice"), newKey(t, "bob")
	good := sign(t, text, a)
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"unsigned", []byte(text)},
		{"two signatures", sign(t, text, a, b)},
		{"no final newline", good[:len(good)-1]},
		{"trailing text", append(bytes.Clone(good), "x\n"...)},
		{"no blank line", bytes.Replace(good, []byte("\n\n"), []byte("\n"), 1)},
	} {
		if got, err := testKind.UnverifiedText(tc.msg); err == nil || !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), "test note is not a signed note") {
			t.Errorf("%s: UnverifiedText = %q, %v", tc.name, got, err)
		}
	}
	// It does not verify: an altered note reads.
	altered := bytes.Replace(good, []byte("nk-study"), []byte("nk-studz"), 1)
	if got, err := testKind.UnverifiedText(altered); err != nil || string(got) != strings.Replace(text, "nk-study", "nk-studz", 1) {
		t.Errorf("altered: UnverifiedText = %q, %v", got, err)
	}
}

// FuzzOpen checks that whatever opens is canonical, the one message its
// signer writes for its text, and that every refusal has one class and
// prints as it reads.
func FuzzOpen(f *testing.F) {
	a, b := newKey(f, "alice"), newKey(f, "bob")
	good := sign(f, text, a)
	f.Add(good)
	f.Add(sign(f, text, b))
	f.Add(sign(f, text, a, b))
	f.Add(sign(f, text, newKey(f, "carol")))
	f.Add(append(bytes.Clone(good), good[len(text)+1:]...))
	f.Add([]byte(text))
	signers := map[string]note.Signer{"alice": a.signer, "bob": b.signer}
	f.Fuzz(func(t *testing.T, msg []byte) {
		n, err := testKind.Open(msg, a.verifier, b.verifier)
		if err != nil {
			if n != nil || errors.Is(err, errInvalid) == errors.Is(err, errUnknown) {
				t.Fatalf("Open = %v, %v: want nothing and one class of error", n, err)
			}
			checkPrintable(t, err)
			return
		}
		again, err := note.Sign(&note.Note{Text: n.Text}, signers[n.Sigs[0].Name])
		if err != nil || !bytes.Equal(again, msg) {
			t.Fatalf("opened %q, which its signer writes as %q (%v)", msg, again, err)
		}
		if got, err := testKind.UnverifiedText(msg); err != nil || string(got) != n.Text {
			t.Fatalf("UnverifiedText = %q, %v; Open read %q", got, err, n.Text)
		}
		if !utf8.ValidString(n.Text) {
			t.Fatalf("opened text %q is not UTF-8", n.Text)
		}
	})
}
