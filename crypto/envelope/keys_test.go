package envelope

import (
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"regexp"
	"strings"
	"testing"

	"filippo.io/edwards25519"
	"github.com/testimony-project/testimony/crypto/internal/keycheck"
	"golang.org/x/mod/sumdb/note"
)

func TestRecipientString(t *testing.T) {
	_, rs := newIDs(t, 1)
	s := rs[0].String()
	if !regexp.MustCompile(`^testimony-pub-[a-z2-7]{109}$`).MatchString(s) {
		t.Fatalf("public key %q has an unexpected form", s)
	}
	r, err := ParseRecipient(s)
	if err != nil || !r.Equal(rs[0]) {
		t.Fatalf("ParseRecipient(%q) = %v, %v", s, r, err)
	}
	// Every single-character change is caught.
	alphabet := "abcdefghijklmnopqrstuvwxyz234567"
	for i := len(RecipientPrefix); i < len(s); i++ {
		for _, c := range alphabet {
			if byte(c) == s[i] {
				continue
			}
			mut := s[:i] + string(c) + s[i+1:]
			if _, err := ParseRecipient(mut); err == nil {
				t.Fatalf("mutated key %q accepted", mut)
			}
		}
	}
	for _, bad := range []string{"", "testimony-pub-", "age1xyz", strings.ToUpper(s), s + "a", s[:len(s)-1], " " + s, s + "\n"} {
		if _, err := ParseRecipient(bad); err == nil {
			t.Errorf("ParseRecipient(%q) succeeded", bad)
		}
	}
	fp := rs[0].Fingerprint()
	if !regexp.MustCompile(`^[0-9A-F]{4}(-[0-9A-F]{4}){4}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q has an unexpected form", fp)
	}
	if !IsFingerprint(fp) {
		t.Fatalf("IsFingerprint(%q) = false", fp)
	}
	for _, bad := range []string{"", "abcd-0123-4567-89ab-cdef", fp + "-", fp[1:], " " + fp[1:], strings.ReplaceAll(fp, "-", ":"), fp[:4] + "G" + fp[5:], fp[:23] + "g", strings.Replace(fp, "-", "", 1) + "0"} {
		if IsFingerprint(bad) {
			t.Errorf("IsFingerprint(%q) = true", bad)
		}
	}
}

// keyString encodes x and ed with a valid checksum, whatever they are.
func keyString(x, ed [32]byte) string {
	return (&Recipient{x: x, ed: ed}).String()
}

func TestParseRecipientRefusals(t *testing.T) {
	id := fixedIdentity(t, "researcher 0")
	good := id.pub
	// The old format: 32 bytes of X25519 key and a checksum.
	h := sha512.Sum512(append([]byte("testimony-pub"), good.x[:]...))
	old := RecipientPrefix + b32.EncodeToString(append(good.x[:], h[:4]...))
	_, err := ParseRecipient(old)
	if !errors.Is(err, ErrOldPublicKey) || !strings.Contains(err.Error(), "researcher pubkey --key FILE") {
		t.Fatalf("old-format key: %v, want ErrOldPublicKey with the fix", err)
	}
	var smallEd [32]byte
	smallEd[0] = 1 // the Edwards identity point
	var notPoint [32]byte
	notPoint[0] = 2 // y = 2 is not on the curve
	var nonCanonicalEd [32]byte
	copy(nonCanonicalEd[:], good.ed[:])
	nonCanonicalEd[31] ^= 0x80 // the other x sign: still a point, so check it is refused only if non-canonical
	cases := map[string]string{
		"X of small order":   keyString(keycheck.SmallOrder()[2], good.ed),
		"X zero":             keyString([32]byte{}, good.ed),
		"X top bit":          keyString([32]byte{9, 31: 0x80}, good.ed),
		"Ed identity":        keyString(good.x, smallEd),
		"Ed not a point":     keyString(good.x, notPoint),
		"Ed of small order":  keyString(good.x, [32]byte(edwards25519.NewIdentityPoint().Bytes())),
		"Ed y not canonical": keyString(good.x, [32]byte{0xee, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff, 16: 0xff, 17: 0xff, 18: 0xff, 19: 0xff, 20: 0xff, 21: 0xff, 22: 0xff, 23: 0xff, 24: 0xff, 25: 0xff, 26: 0xff, 27: 0xff, 28: 0xff, 29: 0xff, 30: 0xff, 31: 0x7f}),
	}
	for name, s := range cases {
		if _, err := ParseRecipient(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseRecipient(keyString(good.x, nonCanonicalEd)); err != nil {
		t.Errorf("the negated Ed25519 key (a valid point) refused: %v", err)
	}
}

// TestKeysDerivation pins the derivation of both keys from the secret, as
// DESIGN and the package documentation state it.
func TestKeysDerivation(t *testing.T) {
	id := fixedIdentity(t, "researcher 0")
	seed := sha512.Sum512(append([]byte("testimony-signing-key\x00"), id.Bytes()...))
	want := ed25519.NewKeyFromSeed(seed[:32]).Public().(ed25519.PublicKey)
	if string(id.pub.ed[:]) != string(want) {
		t.Fatal("Ed25519 key is not derived from H(\"testimony-signing-key\" || 0x00 || s)")
	}
	if got := x25519(t, id.Bytes(), nil); string(got) != string(id.pub.x[:]) {
		t.Fatal("X25519 key is not X25519(s, 9)")
	}
	h := sha512.Sum512(append(append([]byte("testimony-fingerprint"), id.pub.x[:]...), id.pub.ed[:]...))
	if fp := strings.ReplaceAll(id.pub.Fingerprint(), "-", ""); fp != strings.ToUpper(string(hexString(h[:10]))) {
		t.Fatalf("fingerprint %s is not H(\"testimony-fingerprint\" || X || Ed)[0:10]", fp)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	var s []byte
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

// TestNoteSignerVerifier checks the signer and verifier against the note
// package's own key format: same name, same key hash, signatures that
// verify both ways.
func TestNoteSignerVerifier(t *testing.T) {
	ids, rs := newIDs(t, 2)
	s, v := ids[0].Signer(), rs[0].Verifier()
	if s.Name() != "testimony-researcher-"+strings.ReplaceAll(rs[0].Fingerprint(), "-", "") || v.Name() != s.Name() {
		t.Fatalf("names %q, %q", s.Name(), v.Name())
	}
	vkey, err := note.NewEd25519VerifierKey(s.Name(), ed25519.PublicKey(rs[0].ed[:]))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if theirs.KeyHash() != s.KeyHash() || theirs.KeyHash() != v.KeyHash() {
		t.Fatalf("key hash %08x (signer), %08x (verifier), note says %08x", s.KeyHash(), v.KeyHash(), theirs.KeyHash())
	}
	msg, err := note.Sign(&note.Note{Text: "testimony import receipt v1\nstudy a-b-c\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, ver := range []note.Verifier{v, theirs} {
		if _, err := note.Open(msg, note.VerifierList(ver)); err != nil {
			t.Fatalf("note does not verify: %v", err)
		}
	}
	if _, err := note.Open(msg, note.VerifierList(rs[1].Verifier())); err == nil {
		t.Fatal("another researcher's verifier accepted the note")
	}
	tampered := []byte(strings.Replace(string(msg), "a-b-c", "a-b-d", 1))
	if _, err := note.Open(tampered, note.VerifierList(v)); err == nil {
		t.Fatal("a changed note verified")
	}
}

func FuzzParseRecipient(f *testing.F) {
	f.Add(fixedIdentity(f, "researcher 0").Recipient().String())
	f.Add("testimony-pub-")
	f.Add("testimony-pub-ckt6tblsyuzvhlzjt6y2kvhgjec4pwcs3shz4dvfqohtkned3yl4r3gtwv6hdj77ljoskymg5sshjghmnziwrjpgkftdyqpmjwkq3bpfkj7b2")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecipient(s)
		if err != nil {
			return
		}
		// One key, one string: what parses prints back the same.
		if r.String() != s {
			t.Fatalf("ParseRecipient(%q) prints as %q", s, r.String())
		}
		if keycheck.X25519(&r.x) != nil || keycheck.Ed25519(&r.ed) != nil {
			t.Fatal("a weak key parsed")
		}
	})
}
