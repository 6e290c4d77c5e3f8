package returnkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/crypto/envelope"
	"golang.org/x/text/unicode/norm"
)

// The vectors in testdata/ are shared with the browser code
// (web/test/returnkey.test.js):
//
//   - keys.json: secrets, their words in each list, and for a study the
//     seed (the KDF), the keys, the address, tags for researchers, and a
//     signature;
//   - parse.json: what a person may type, and what Parse makes of it: the
//     secret, or the error (with the word's position or the count).
//
// Regenerate with: go test ./crypto/returnkey -run TestVectors -update

var update = flag.Bool("update", false, "regenerate testdata/*.json")

type keyVector struct {
	Description string            `json:"description"`
	Secret      string            `json:"secret"`
	Indices     [Words]int        `json:"indices"`
	Words       map[string]string `json:"words"`
	Study       string            `json:"study"`
	Seed        string            `json:"seed"`
	X25519      string            `json:"x25519"`
	Ed25519     string            `json:"ed25519"`
	TagKey      string            `json:"tag key"`
	Address     string            `json:"address"`
	Tags        []tagVector       `json:"tags"`
	Message     string            `json:"message"`
	Signature   string            `json:"signature"`
}

type tagVector struct {
	Researcher  string `json:"researcher"`
	Fingerprint string `json:"fingerprint"`
	I           uint32 `json:"i"`
	Tag         string `json:"tag"`
}

type parseVector struct {
	Description string `json:"description"`
	Input       string `json:"input"`
	Secret      string `json:"secret,omitempty"`
	Error       string `json:"error,omitempty"` // unknown word, word count, checksum, too long
	Position    int    `json:"position,omitempty"`
	Got         *int   `json:"got,omitempty"`
}

// researcherKey returns a fixed researcher identity for vectors.
func researcherKey(t testing.TB, n int) *envelope.Identity {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(n*31 + i*7)
	}
	id, err := envelope.NewIdentity(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func makeKeyVectors(t *testing.T) []keyVector {
	cases := []struct {
		desc, study string
		secret      []byte
	}{
		{"the zero secret", "nk-internet-2026", make([]byte, SecretSize)},
		{"the all-ones secret, another study", "abc", bytes.Repeat([]byte{0xff}, SecretSize)},
		{"a secret with every word different", "nk-internet-2026", []byte{0x5b, 0x9e, 0x04, 0xc3, 0x71, 0xaa, 0x28, 0xd6, 0x3f}},
	}
	var vs []keyVector
	for _, c := range cases {
		p, _ := FromSecret(c.secret)
		k, err := Derive(p, c.study)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := Seed(p, c.study)
		a := k.Address()
		x := a.X25519()
		v := keyVector{
			Description: c.desc,
			Secret:      hex.EncodeToString(c.secret),
			Indices:     p.Indices(),
			Words:       map[string]string{"ko": p.Format("ko"), "zh": p.Format("zh"), "en": p.Format("en")},
			Study:       c.study,
			Seed:        hex.EncodeToString(seed[:]),
			X25519:      hex.EncodeToString(x[:]),
			Ed25519:     hex.EncodeToString(a.Ed25519()),
			TagKey:      hex.EncodeToString(a.tagKey[:]),
			Address:     a.String(),
			Message:     hex.EncodeToString([]byte("withdraw " + c.study)),
		}
		v.Signature = hex.EncodeToString(k.Sign([]byte("withdraw " + c.study)))
		for n := range 2 {
			r := researcherKey(t, n).Recipient()
			for _, i := range []uint32{0, 1, MaxReplies - 1} {
				tg := k.Tag(i, r)
				v.Tags = append(v.Tags, tagVector{Researcher: r.String(), Fingerprint: r.Fingerprint(), I: i, Tag: hex.EncodeToString(tg[:])})
			}
		}
		vs = append(vs, v)
	}
	return vs
}

func makeParseVectors() []parseVector {
	p, _ := FromSecret([]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x0f})
	secret := hex.EncodeToString([]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x0f})
	ko, zh, en := p.Words(Korean), p.Words(Chinese), p.Words(English)
	join := strings.Join
	var prefixes []string
	for _, w := range en {
		if len(w) > 4 {
			w = w[:4]
		}
		prefixes = append(prefixes, w)
	}
	fullwidth := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r >= 'a' && r <= 'z' {
				r += 0xFF41 - 'a'
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	mixed := []string{ko[0], zh[1], en[2], ko[3], zh[4], en[5], ko[6]}
	swapped := append([]string(nil), en...)
	swapped[2], swapped[3] = swapped[3], swapped[2]
	n := func(i int) *int { return &i }
	ok := func(desc, in string) parseVector { return parseVector{Description: desc, Input: in, Secret: secret} }
	return []parseVector{
		ok("Korean, as shown", join(ko, " ")),
		ok("Chinese, as shown", join(zh, " ")),
		ok("English, as shown", join(en, " ")),
		ok("Korean, decomposed (NFKD) as the list stores it", norm.NFKD.String(join(ko, " "))),
		ok("one word from each list in turn", join(mixed, " ")),
		ok("English in capitals", strings.ToUpper(join(en, " "))),
		ok("English, first four letters", join(prefixes, " ")),
		ok("English, full-width letters from a CJK keyboard", fullwidth(join(en, " "))),
		ok("Chinese without spaces", join(zh, "")),
		ok("Chinese with ideographic commas", join(zh, "、")),
		ok("Korean with ideographic spaces, tabs, new lines and no-break spaces", "\u3000"+join(ko[:3], "\t")+"\n"+join(ko[3:], "\u00a0 ")+"\n"),
		ok("a numbered list", "1. "+en[0]+" 2. "+en[1]+" 3) "+en[2]+"\n4- "+join(en[3:], ", ")),
		{Description: "nothing", Input: "", Error: "word count", Got: n(0)},
		{Description: "six words", Input: join(en[:6], " "), Error: "word count", Got: n(6)},
		{Description: "eight words", Input: join(append(en, en[0]), " "), Error: "word count", Got: n(8)},
		{Description: "a word in no list, third", Input: join(en[:2], " ") + " secretword " + join(en[3:], " "), Error: "unknown word", Position: 3},
		{Description: "four letters that start no English word", Input: en[0][:3] + "x " + join(en[1:], " "), Error: "unknown word", Position: 1},
		{Description: "an English word with a letter too many", Input: join(en[:6], " ") + " " + en[6] + "s", Error: "unknown word", Position: 7},
		{Description: "a Korean word with a syllable missing", Input: join(ko[:4], " ") + " " + string([]rune(ko[4])[1:]) + " " + join(ko[5:], " "), Error: "unknown word", Position: 5},
		{Description: "Chinese and a Latin letter run together", Input: zh[0] + zh[1] + "x " + join(zh[2:], " "), Error: "unknown word", Position: 1},
		{Description: "two words swapped", Input: join(swapped, " "), Error: "checksum"},
		{Description: "too long", Input: strings.Repeat(en[0]+" ", MaxInputSize/len(en[0]+" ")+1), Error: "too long"},
	}
}

func TestVectors(t *testing.T) {
	if *update {
		for name, v := range map[string]any{"keys.json": makeKeyVectors(t), "parse.json": makeParseVectors()} {
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile("testdata/"+name, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var keys []keyVector
	var parses []parseVector
	for name, v := range map[string]any{"keys.json": &keys, "parse.json": &parses} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("testdata/%s: %v", name, err)
		}
	}
	if len(keys) < 3 || len(parses) < 20 {
		t.Fatalf("%d key vectors and %d parse vectors", len(keys), len(parses))
	}
	for _, v := range keys {
		t.Run("keys "+v.Description, func(t *testing.T) { checkKeyVector(t, v) })
	}
	for _, v := range parses {
		t.Run("parse "+v.Description, func(t *testing.T) {
			p, err := Parse(v.Input)
			got := parseVector{Description: v.Description, Input: v.Input}
			var uw *UnknownWordError
			var wc *WordCountError
			switch {
			case err == nil:
				s := p.Secret()
				got.Secret = hex.EncodeToString(s[:])
			case errors.As(err, &uw):
				got.Error, got.Position = "unknown word", uw.Position
			case errors.As(err, &wc):
				got.Error, got.Got = "word count", &wc.Got
			case errors.Is(err, ErrChecksum):
				got.Error = "checksum"
			case errors.Is(err, ErrTooLong):
				got.Error = "too long"
			default:
				t.Fatal(err)
			}
			if a, b := fmt.Sprint(got.Secret, got.Error, got.Position, deref(got.Got)), fmt.Sprint(v.Secret, v.Error, v.Position, deref(v.Got)); a != b {
				t.Fatalf("got %s, want %s", a, b)
			}
		})
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func checkKeyVector(t *testing.T, v keyVector) {
	secret, _ := hex.DecodeString(v.Secret)
	p, err := FromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Indices() != v.Indices {
		t.Errorf("indices %v, want %v", p.Indices(), v.Indices)
	}
	for lang, words := range v.Words {
		if got := p.Format(lang); got != words {
			t.Errorf("%s words %q, want %q", lang, got, words)
		}
		q, err := Parse(words)
		if err != nil || q.Secret() != p.Secret() {
			t.Errorf("%s words do not parse back: %v", lang, err)
		}
	}
	seed, err := Seed(p, v.Study)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(seed[:]) != v.Seed {
		t.Fatalf("seed %x, want %s", seed, v.Seed)
	}
	k := NewKeys(seed)
	a := k.Address()
	x := a.X25519()
	for _, c := range [][2]string{
		{hex.EncodeToString(x[:]), v.X25519},
		{hex.EncodeToString(a.Ed25519()), v.Ed25519},
		{hex.EncodeToString(a.tagKey[:]), v.TagKey},
		{a.String(), v.Address},
	} {
		if c[0] != c[1] {
			t.Errorf("got %s, want %s", c[0], c[1])
		}
	}
	b, err := ParseAddress(v.Address)
	if err != nil || !b.Equal(a) {
		t.Errorf("address does not parse back: %v", err)
	}
	for _, tv := range v.Tags {
		r, err := envelope.ParseRecipient(tv.Researcher)
		if err != nil {
			t.Fatal(err)
		}
		if r.Fingerprint() != tv.Fingerprint {
			t.Errorf("fingerprint %s, want %s", r.Fingerprint(), tv.Fingerprint)
		}
		t1, t2 := k.Tag(tv.I, r), a.Tag(tv.I, r)
		if hex.EncodeToString(t1[:]) != tv.Tag || t1 != t2 {
			t.Errorf("tag(%d, %s) = %x (address: %x), want %s", tv.I, tv.Fingerprint, t1, t2, tv.Tag)
		}
		if tv.I < MaxReplies && k.Tags(r, MaxReplies)[tv.I] != t1 {
			t.Errorf("Tags(%d) differs from Tag", tv.I)
		}
	}
	msg, _ := hex.DecodeString(v.Message)
	sig, _ := hex.DecodeString(v.Signature)
	if got := k.Sign(msg); !bytes.Equal(got, sig) {
		t.Errorf("signature %x, want %s", got, v.Signature)
	}
	if !a.Verify(msg, sig) || a.Verify(append(msg, 0), sig) || ed25519.Verify(a.Ed25519(), msg, sig) {
		t.Error("the signature verifies wrongly: it must cover the domain and the message, and only them")
	}
}
