package replycopy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/reply"
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

func content(t testing.TB, study, id, text string) []byte {
	t.Helper()
	c := &reply.Content{Study: study, ID: id, Lang: "ko", Text: text}
	if text == "" {
		c.Questions = []reply.Question{{ID: "year", Type: config.Year, Label: "몇 년이었습니까?", Required: true},
			{ID: "where", Type: config.SingleChoice, Label: "어디서?", Choices: []reply.Choice{{Value: "home", Label: "집"}, {Value: "work", Label: "일터"}}}}
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func ref(s string) [16]byte {
	var r [16]byte
	h := sha256.Sum256([]byte(s))
	copy(r[:], h[:])
	return r
}

func sample(t testing.TB) *Copy {
	return &Copy{StudyID: "nk-study", Researcher: fp, Batch: sha256.Sum256([]byte("batch")), Replies: []Reply{
		{Ref: ref("a"), Number: 0, Content: content(t, "nk-study", "zzzzzzzzzzzzzzzzzzzzzzzzzz", "고맙습니다.\n한 가지 더.")},
		{Ref: ref("b"), Number: 3, Content: content(t, "nk-study", "aaaaaaaaaaaaaaaaaaaaaaaaaa", "")},
		{Ref: ref("a"), Number: 1, Content: content(t, "nk-study", "mmmmmmmmmmmmmmmmmmmmmmmmmm", "Thank you.")},
	}}
}

func TestSignVerify(t *testing.T) {
	alice := newKey(t, envelope.NoteKeyName(fp))
	bob := newKey(t, envelope.NoteKeyName("AAAA-BBBB-CCCC-DDDD-EEEE"))
	c := sample(t)
	msg, err := Sign(c, alice.signer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(msg, []note.Verifier{bob.verifier, alice.verifier})
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != sha256.Sum256(msg) || got.Hash != c.Hash || got.Researcher != fp || got.Batch != c.Batch || len(got.Replies) != 3 {
		t.Fatalf("Verify = %+v", got)
	}
	// Sorted by id; each content read and exact.
	ids := []string{"aaaaaaaaaaaaaaaaaaaaaaaaaa", "mmmmmmmmmmmmmmmmmmmmmmmmmm", "zzzzzzzzzzzzzzzzzzzzzzzzzz"}
	for i, r := range got.Replies {
		if r.Parsed.ID != ids[i] || !bytes.Equal(r.Content, c.Replies[i].Content) || r.Ref != c.Replies[i].Ref || r.Number != c.Replies[i].Number {
			t.Errorf("reply %d = %+v", i, r)
		}
	}
	if got.Replies[0].Parsed.Questions[1].Choices[1].Label != "일터" || got.Replies[2].Parsed.Text != "고맙습니다.\n한 가지 더." {
		t.Errorf("contents read back wrong: %+v", got.Replies)
	}
	text := string(msg)
	if !strings.HasPrefix(text, "testimony team copy of replies v1\nstudy nk-study\nresearcher "+fp+"\nbatch ") || !strings.Contains(text, "\nreplies 3\nreply ") {
		t.Errorf("copy text:\n%s", text)
	}
	if strings.Contains(text, "testimony-return-") {
		t.Error("a team copy holds a return address")
	}

	// Bob cannot sign Alice's replies.
	if _, err := Sign(sample(t), bob.signer); err == nil {
		t.Error("signed with another researcher's key")
	}
}

func TestVerifyRefuses(t *testing.T) {
	alice := newKey(t, envelope.NoteKeyName(fp))
	mallory := newKey(t, envelope.NoteKeyName(fp)) // claims Alice's name
	good, err := Sign(sample(t), alice.signer)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := Sign(sample(t), mallory.signer)
	altered := bytes.Replace(good, []byte("replies 3"), []byte("replies 2"), 1)
	twice, _ := note.Sign(&note.Note{Text: strings.SplitN(string(good), "\n— ", 2)[0] + "\n"}, alice.signer, newKey(t, "other").signer)
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"another key under the same name", forged, ErrUnknownKey},
		{"altered", altered, ErrInvalid},
		{"two signatures", twice, ErrInvalid},
		{"text after the signature", append(bytes.Clone(good), "more\n"...), ErrInvalid},
		{"truncated", good[:len(good)-20], ErrInvalid},
		{"empty", nil, ErrInvalid},
	} {
		if c, err := Verify(tc.msg, []note.Verifier{alice.verifier}); c != nil || !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, %v; want %v", tc.name, c, err, tc.want)
		}
	}
	// Signed by a key named for another researcher than the text names.
	bob := newKey(t, envelope.NoteKeyName("AAAA-BBBB-CCCC-DDDD-EEEE"))
	c := sample(t)
	Sign(c, alice.signer)
	text, err := c.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := note.Sign(&note.Note{Text: string(text)}, bob.signer)
	if _, err := Verify(msg, []note.Verifier{bob.verifier}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "names researcher") {
		t.Errorf("a copy signed by another researcher than it names: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	c := sample(t)
	if _, err := Sign(c, newKey(t, envelope.NoteKeyName(fp)).signer); err != nil {
		t.Fatal(err)
	}
	good, _ := c.MarshalText()
	lines := strings.SplitAfter(string(good), "\n")
	with := func(i int, l string) []byte {
		ls := append([]string{}, lines...)
		ls[i] = l
		return []byte(strings.Join(ls, ""))
	}
	replyLine := func(ref string, n string, data []byte) string {
		return "reply " + ref + " " + n + " " + base64.StdEncoding.EncodeToString(data) + "\n"
	}
	parts := strings.Fields(lines[5])
	otherStudy := content(t, "other-study", "bbbbbbbbbbbbbbbbbbbbbbbbbb", "x")
	for _, tc := range []struct {
		name string
		text []byte
		want string
	}{
		{"version", with(0, "testimony team copy of replies v2\n"), "line 1"},
		{"study", with(1, "study NK\n"), "study id"},
		{"fingerprint", with(2, "researcher 0123-4567-89ab-cdef-0123\n"), "fingerprint"},
		{"batch", with(3, "batch 00\n"), "batch"},
		{"count leading zero", with(4, "replies 03\n"), "count"},
		{"count too large", with(4, "replies 4\n"), "line 8: it ends after 3 of 4 reply lines"},
		{"count too small", with(4, "replies 2\n"), "unexpected text"},
		{"reference", with(5, "reply "+strings.ToUpper(parts[1])+" "+parts[2]+" "+parts[3]+"\n"), "reference"},
		{"number", with(5, "reply "+parts[1]+" 01 "+parts[3]+"\n"), "number"},
		{"number too large", with(5, replyLine(parts[1], "256", []byte(strings.TrimSpace(mustDecode(parts[3]))))), "number"},
		{"base64 unpadded", with(5, "reply "+parts[1]+" "+parts[2]+" "+strings.TrimRight(parts[3], "=")+"\n"), "base64"},
		{"content not canonical", with(5, replyLine(parts[1], parts[2], bytes.Replace([]byte(mustDecode(parts[3])), []byte(`{"v":1,`), []byte(`{"v":1, `), 1))), "malformed reply"},
		{"content of another study", with(5, replyLine(parts[1], parts[2], otherStudy)), "study"},
		{"out of order", []byte(strings.Join([]string{lines[0], lines[1], lines[2], lines[3], lines[4], lines[6], lines[5], lines[7]}, "")), "out of order"},
		{"twice", []byte(strings.Join([]string{lines[0], lines[1], lines[2], lines[3], lines[4], lines[5], lines[5], lines[7]}, "")), "out of order or twice"},
		{"CRLF", bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")), "line 1"},
		{"extra space", with(5, strings.Replace(lines[5], " ", "  ", 1)), "want"},
	} {
		if _, err := Parse(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	// Two replies to one testimony with one number would share a tag.
	c2 := &Copy{StudyID: "nk-study", Researcher: fp, Replies: []Reply{
		{Ref: ref("a"), Number: 2, Content: content(t, "nk-study", "aaaaaaaaaaaaaaaaaaaaaaaaaa", "x")},
		{Ref: ref("a"), Number: 2, Content: content(t, "nk-study", "bbbbbbbbbbbbbbbbbbbbbbbbbb", "y")},
	}}
	if _, err := Sign(c2, newKey(t, envelope.NoteKeyName(fp)).signer); err == nil || !strings.Contains(err.Error(), "number 2") {
		t.Errorf("two replies numbered alike: %v", err)
	}
}

func mustDecode(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func FuzzParse(f *testing.F) {
	c := sample(f)
	Sign(c, newKey(f, envelope.NoteKeyName(fp)).signer)
	text, _ := c.MarshalText()
	f.Add(text)
	f.Add([]byte("testimony team copy of replies v1\nstudy abc\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := Parse(text)
		if err != nil {
			return
		}
		again, err := c.MarshalText()
		if err != nil || !bytes.Equal(again, text) {
			t.Fatalf("parse then format changed the copy (%v):\n%q\n%q", err, text, again)
		}
	})
}

func FuzzVerify(f *testing.F) {
	alice := newKey(f, envelope.NoteKeyName(fp))
	good, _ := Sign(sample(f), alice.signer)
	f.Add(good)
	f.Add(good[:len(good)-10])
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := Verify(msg, []note.Verifier{alice.verifier})
		if err != nil {
			if c != nil || !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("Verify = %v, %v", c, err)
			}
			return
		}
		// Whatever verifies is canonical: signing it again gives it back.
		again, err := Sign(&Copy{StudyID: c.StudyID, Researcher: c.Researcher, Batch: c.Batch, Replies: c.Replies}, alice.signer)
		if err != nil || !bytes.Equal(again, msg) {
			t.Fatalf("a verified copy is not canonical (%v):\n%q\n%q", err, msg, again)
		}
	})
}
