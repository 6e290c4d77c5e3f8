package response

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/reply"
)

// testKeys returns the return keys of a seed made from name (no KDF).
func testKeys(name string) *returnkey.Keys {
	var seed [returnkey.SeedSize]byte
	sum := sha512.Sum512([]byte(name))
	copy(seed[:], sum[:])
	return returnkey.NewKeys(seed)
}

// testReply is a reply with a question of every type.
func testReply() *reply.Content {
	return &reply.Content{Study: "test-study", ID: "abcdefghijklmnopqrstuvwxyz", Lang: "ko", Text: "고맙습니다.",
		Questions: []reply.Question{
			{ID: "year", Type: config.Year, Label: "몇 년?", Required: true},
			{ID: "where", Type: config.MultiChoice, Label: "어디?", Choices: []reply.Choice{{Value: "home", Label: "집"}, {Value: "work", Label: "일터"}}},
			{ID: "how", Type: config.SingleChoice, Label: "어떻게?", Choices: []reply.Choice{{Value: "a", Label: "ㄱ"}, {Value: "b", Label: "ㄴ"}}},
			{ID: "note", Type: config.ShortText, Label: "한 줄"},
			{ID: "story", Type: config.LongText, Label: "더"},
			{ID: "count", Type: config.Integer, Label: "몇 번?"},
		}}
}

func TestMarshalReturn(t *testing.T) {
	s := testStudy()
	k := testKeys("person")
	r := &Response{Study: s.ID, Language: "ko", Return: k.Address(), Answers: minimalAnswers()}
	b, err := Marshal(s, r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":3,"study":"test-study","version":"` + s.Version() + `","lang":"ko","return":"` + k.Address().String() + `","answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang"}}`
	if string(b) != want {
		t.Fatalf("Marshal =\n%s\nwant\n%s", b, want)
	}
	got, err := Unmarshal(s, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Return == nil || !got.Return.Equal(k.Address()) {
		t.Fatal("the return address did not survive")
	}
	h, err := PeekHeader(b)
	if err != nil || h.Kind != Testimony || h.Study != s.ID || h.Version != s.Version() || h.Language != "ko" {
		t.Fatalf("PeekHeader = %+v, %v", h, err)
	}
	// Declined: no member at all.
	b, err = Marshal(s, &Response{Study: s.ID, Language: "ko", Answers: minimalAnswers()})
	if err != nil || bytes.Contains(b, []byte("return")) {
		t.Fatalf("Marshal without a return address = %s, %v", b, err)
	}
}

// message is a signed message of each kind.
func message(t testing.TB, s *config.Study, kind Kind, k *returnkey.Keys) (*Message, []byte) {
	t.Helper()
	m := &Message{Language: "ko", Kind: kind}
	switch kind {
	case Followup:
		m.Reply = testReply().ID
		m.Answers = map[string][]string{"year": {"2019"}, "where": {"home", "work"}, "story": {"긴 이야기 \"인용\"\n둘째 줄 🙂"}}
		m.Lists = map[string]bool{"where": true}
	case Addition:
		m.Answers = map[string][]string{AdditionField: {"덧붙입니다.\n\t그리고 </script> & \u2028"}}
	}
	b, err := SignThread(s, m, k)
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

func TestSignThreadFormat(t *testing.T) {
	s := testStudy()
	k := testKeys("person")
	addr := k.Address().String()
	head := `{"v":3,"study":"test-study","version":"` + s.Version() + `","lang":"ko","kind":`
	for _, tt := range []struct {
		kind Kind
		want string // without the signature
	}{
		{Followup, head + `"followup","thread":"` + addr + `","reply":"abcdefghijklmnopqrstuvwxyz","answers":{"story":"긴 이야기 \"인용\"\n둘째 줄 🙂","where":["home","work"],"year":"2019"}`},
		{Addition, head + `"addition","thread":"` + addr + `","answers":{"text":"덧붙입니다.\n\t그리고 </script> & \u2028"}`},
		{Withdrawal, head + `"withdrawal","thread":"` + addr + `","answers":{}`},
	} {
		m, b := message(t, s, tt.kind, k)
		if !bytes.HasPrefix(b, []byte(tt.want+`,"sig":"`)) || !bytes.HasSuffix(b, []byte(`"}`)) {
			t.Fatalf("%s: plaintext\n%s\nwant it to start\n%s", tt.kind, b, tt.want)
		}
		sig := b[len(tt.want)+len(`,"sig":"`) : len(b)-2]
		if string(sig) != base64.StdEncoding.EncodeToString(m.Sig) || len(sig) != 88 {
			t.Fatalf("%s: sig member %q", tt.kind, sig)
		}
		// The signature is the person's over the label and the
		// plaintext without "sig", exactly.
		if !k.Address().Verify([]byte("testimony-thread-v1\x00"+tt.want+"}"), m.Sig) {
			t.Fatalf("%s: the signature is not over the plaintext without sig", tt.kind)
		}
		got, err := UnmarshalMessage(s, b)
		if err != nil {
			t.Fatalf("%s: %v", tt.kind, err)
		}
		if !got.Thread.Equal(k.Address()) || got.Kind != tt.kind || !(len(got.Answers) == 0 && len(m.Answers) == 0 || reflect.DeepEqual(got.Answers, m.Answers)) || !bytes.Equal(got.Sig, m.Sig) {
			t.Fatalf("%s: round trip %+v, want %+v", tt.kind, got, m)
		}
		if b2, err := MarshalMessage(s, got); err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("%s: MarshalMessage(UnmarshalMessage(x)) = %s, %v", tt.kind, b2, err)
		}
		h, err := PeekHeader(b)
		if err != nil || h.Kind != tt.kind {
			t.Fatalf("%s: PeekHeader = %+v, %v", tt.kind, h, err)
		}
		if _, err := Unmarshal(s, b); err == nil || !strings.Contains(err.Error(), "message on a thread") {
			t.Fatalf("%s: Unmarshal of a message = %v", tt.kind, err)
		}
	}
}

// TestThreadForgery: a message is attached to a thread only if the
// thread's key signed it as it is.
func TestThreadForgery(t *testing.T) {
	s := testStudy()
	k, other := testKeys("person"), testKeys("someone else")
	m, b := message(t, s, Addition, k)

	// Whoever knows a person's address but not their passphrase signs
	// with their own key: it does not verify.
	forged := *m
	forged.Thread = k.Address()
	forged.Sig = nil
	unsigned, err := MarshalMessage(s, &forged)
	if err != nil {
		t.Fatal(err)
	}
	forged.Sig = other.Sign(append([]byte("testimony-thread-v1\x00"), unsigned...))
	fb, err := marshalMessage(&forged, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalMessage(s, fb); !errors.Is(err, ErrThreadUnverified) {
		t.Fatalf("a message signed by another key: %v", err)
	}
	// SignThread refuses keys of another thread.
	if _, err := SignThread(s, &Message{Language: "ko", Kind: Withdrawal, Thread: k.Address()}, other); err == nil {
		t.Fatal("SignThread signed for another thread")
	}
	// Any change to the signed bytes: the text, the kind, the language,
	// the thread (another person's address with this signature).
	for name, edit := range map[string]func([]byte) []byte{
		"text":     func(b []byte) []byte { return bytes.Replace(b, []byte("덧붙입니다"), []byte("덧붙였다"), 1) },
		"language": func(b []byte) []byte { return bytes.Replace(b, []byte(`"lang":"ko"`), []byte(`"lang":"en"`), 1) },
		"thread": func(b []byte) []byte {
			return bytes.Replace(b, []byte(k.Address().String()), []byte(other.Address().String()), 1)
		},
		"sig": func(b []byte) []byte {
			c := bytes.Clone(b)
			i := bytes.Index(c, []byte(`"sig":"`)) + 8
			c[i] ^= 'A' ^ 'B'
			return c
		},
	} {
		c := edit(b)
		if bytes.Equal(c, b) {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		if _, err := UnmarshalMessage(s, c); !errors.Is(err, ErrThreadUnverified) {
			t.Errorf("%s changed: %v, want ErrThreadUnverified", name, err)
		}
	}
	// Another order of members and white space read the same: the
	// signature covers what was read, written as Marshal writes it.
	re := bytes.Replace(b, []byte(`{"v":3,`), []byte("{ \"v\" : 3 ,\n"), 1)
	if _, err := UnmarshalMessage(s, re); err != nil {
		t.Errorf("white space: %v", err)
	}
}

func TestUnmarshalMessageRejects(t *testing.T) {
	s := testStudy()
	k := testKeys("person")
	_, good := message(t, s, Withdrawal, k)
	_, follow := message(t, s, Followup, k)
	head := `{"v":3,"study":"test-study","version":"` + s.Version() + `","lang":"ko",`
	thread := `"thread":"` + k.Address().String() + `",`
	sig := `"sig":"` + strings.Repeat("A", 86) + `=="`
	for _, tt := range []struct{ name, in, want string }{
		{"a testimony", head + `"answers":{}}`, "first testimony"},
		{"unknown kind", head + `"kind":"reply",` + thread + `"answers":{},` + sig + `}`, "unknown kind"},
		{"no thread", head + `"kind":"withdrawal","answers":{},` + sig + `}`, `missing member "thread"`},
		{"no sig", head + `"kind":"withdrawal",` + thread + `"answers":{}}`, `missing member "sig"`},
		{"return", head + `"kind":"withdrawal",` + thread + `"return":"x","answers":{},` + sig + `}`, `"return"`},
		{"bad thread", head + `"kind":"withdrawal","thread":"testimony-return-aaaa","answers":{},` + sig + `}`, `member "thread"`},
		{"sig unpadded", head + `"kind":"withdrawal",` + thread + `"answers":{},"sig":"` + strings.Repeat("A", 86) + `"}`, "base64"},
		{"sig url base64", head + `"kind":"withdrawal",` + thread + `"answers":{},"sig":"` + strings.Repeat("_", 86) + `=="}`, "base64"},
		{"sig short", head + `"kind":"withdrawal",` + thread + `"answers":{},"sig":"AAAA"}`, "64"},
		{"withdrawal with answers", head + `"kind":"withdrawal",` + thread + `"answers":{"text":"x"},` + sig + `}`, "no answers"},
		{"withdrawal with reply", head + `"kind":"withdrawal",` + thread + `"reply":"abcdefghijklmnopqrstuvwxyz","answers":{},` + sig + `}`, "names no reply"},
		{"empty reply", head + `"kind":"withdrawal",` + thread + `"reply":"","answers":{},` + sig + `}`, "empty"},
		{"followup without reply", head + `"kind":"followup",` + thread + `"answers":{"a":"1"},` + sig + `}`, "names the reply"},
		{"followup bad reply", head + `"kind":"followup",` + thread + `"reply":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","answers":{"a":"1"},` + sig + `}`, "reply id"},
		{"followup no answers", head + `"kind":"followup",` + thread + `"reply":"abcdefghijklmnopqrstuvwxyz","answers":{},` + sig + `}`, "1 to 10"},
		{"followup bad id", head + `"kind":"followup",` + thread + `"reply":"abcdefghijklmnopqrstuvwxyz","answers":{"A":"1"},` + sig + `}`, "answer id"},
		{"addition two answers", head + `"kind":"addition",` + thread + `"answers":{"text":"a","more":"b"},` + sig + `}`, "addition"},
		{"addition list", head + `"kind":"addition",` + thread + `"answers":{"text":["a"]},` + sig + `}`, "addition"},
		{"addition other field", head + `"kind":"addition",` + thread + `"answers":{"story":"a"},` + sig + `}`, "addition"},
		{"other study", strings.Replace(string(good), `"test-study"`, `"other-study"`, 1), "for study"},
		{"trailing", string(good) + "x", "after"},
		{"follow-up truncated", string(follow[:len(follow)-3]), "malformed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := UnmarshalMessage(s, []byte(tt.in))
			if err == nil || m != nil {
				t.Fatalf("UnmarshalMessage accepted %s", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q; want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestAdditionLimits: an addition's text keeps the rules of a long text,
// with the study's max_text_length; the text stays out of errors.
func TestAdditionLimits(t *testing.T) {
	s := testStudy()
	s.Limits.MaxTextLength = 10
	k := testKeys("person")
	for _, tt := range []struct {
		text string
		code Code
	}{
		{"열 글자까지 됩니다", ""},
		{"열한 글자는 안 됩니다", TooLong},
		{"   ", Required},
		{"a\x07b", BadCharacters},
		{"\u1100\u1161", BadCharacters}, // not NFC
	} {
		m := &Message{Language: "ko", Kind: Addition, Answers: map[string][]string{AdditionField: {tt.text}}}
		_, err := SignThread(s, m, k)
		var ps Problems
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("%q: %v", tt.text, err)
		case tt.code != "" && (!errors.As(err, &ps) || ps[AdditionField].Code != tt.code):
			t.Errorf("%q: %v, want %s", tt.text, err, tt.code)
		case err != nil && strings.Contains(err.Error(), tt.text) && strings.TrimSpace(tt.text) != "":
			t.Errorf("error %q holds the text", err)
		}
	}
	// A message read with such a text comes back with its problem.
	m := &Message{Study: s.ID, Version: s.Version(), Language: "ko", Kind: Addition, Thread: k.Address(), Answers: map[string][]string{AdditionField: {"열한 글자는 안 됩니다"}}}
	unsigned, _ := marshalMessage(m, false)
	m.Sig = k.Sign(append([]byte(threadLabel), unsigned...))
	b, _ := marshalMessage(m, true)
	got, err := UnmarshalMessage(s, b)
	var ps Problems
	if !errors.As(err, &ps) || got == nil || ps[AdditionField].Code != TooLong {
		t.Fatalf("UnmarshalMessage of a long addition = %v, %v", got, err)
	}
}

func TestFollowupFromForm(t *testing.T) {
	s := testStudy()
	c := testReply()
	for _, tt := range []struct {
		form     url.Values
		answers  map[string][]string
		problems map[string]Code
	}{
		{url.Values{"q.year": {" 2019 "}, "q.where": {"work", "home"}, "seed": {"ignored"}},
			map[string][]string{"year": {"2019"}, "where": {"home", "work"}}, nil},
		{url.Values{"q.where": {"home"}}, map[string][]string{"where": {"home"}}, map[string]Code{"year": Required}},
		{url.Values{}, map[string][]string{}, map[string]Code{"year": Required}},
		{url.Values{"q.year": {"1899"}, "q.how": {"c"}, "q.note": {"a\nb"}, "q.count": {"-0"}},
			map[string][]string{"year": {"1899"}, "how": {"c"}, "note": {"a\nb"}, "count": {"-0"}},
			map[string]Code{"year": TooSmall, "how": NotAChoice, "note": NotOneLine, "count": NotANumber}},
		{url.Values{"q.year": {"2019"}, "q.note": {strings.Repeat("가", 201)}}, map[string][]string{"year": {"2019"}, "note": {strings.Repeat("가", 201)}}, map[string]Code{"note": TooLong}},
	} {
		m, ps, err := FollowupFromForm(s, c, "ko", tt.form)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m.Answers, tt.answers) {
			t.Errorf("%v: answers %v, want %v", tt.form, m.Answers, tt.answers)
		}
		got := map[string]Code{}
		for id, p := range ps {
			got[id] = p.Code
		}
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, tt.problems) {
			t.Errorf("%v: problems %v, want %v", tt.form, got, tt.problems)
		}
		if ps == nil {
			k := testKeys("person")
			b, err := SignThread(s, m, k)
			if err != nil {
				t.Fatal(err)
			}
			read, err := UnmarshalMessage(s, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateFollowup(s, c, read); err != nil {
				t.Errorf("ValidateFollowup of what FollowupFromForm read: %v", err)
			}
		}
	}
	if _, _, err := FollowupFromForm(s, c, "ko", url.Values{"q.colour": {"blue"}}); !errors.Is(err, ErrMalformedForm) {
		t.Errorf("a field of no question: %v", err)
	}
}

func TestValidateFollowup(t *testing.T) {
	s := testStudy()
	c := testReply()
	k := testKeys("person")
	ok := func() *Message {
		return &Message{Language: "ko", Kind: Followup, Reply: c.ID, Thread: k.Address(),
			Answers: map[string][]string{"year": {"2019"}, "where": {"home"}}, Lists: map[string]bool{"where": true}}
	}
	if err := ValidateFollowup(s, c, ok()); err != nil {
		t.Fatal(err)
	}
	m := ok()
	m.Reply = "bbbbbbbbbbbbbbbbbbbbbbbbbb"
	if err := ValidateFollowup(s, c, m); err == nil || errors.As(err, new(Problems)) {
		t.Errorf("a followup of another reply: %v", err)
	}
	for name, tt := range map[string]struct {
		edit func(*Message)
		id   string
		code Code
	}{
		"unknown question": {func(m *Message) { m.Answers["colour"] = []string{"blue"} }, "colour", Unknown},
		"list for a year":  {func(m *Message) { m.Lists["year"] = true }, "year", NotAChoice},
		"string for multi": {func(m *Message) { delete(m.Lists, "where") }, "where", NotAChoice},
		"required missing": {func(m *Message) { delete(m.Answers, "year") }, "year", Required},
		"bad choice":       {func(m *Message) { m.Answers["where"] = []string{"moon"} }, "where", NotAChoice},
		"year too large":   {func(m *Message) { m.Answers["year"] = []string{"3000"} }, "year", TooLarge},
	} {
		m := ok()
		tt.edit(m)
		var ps Problems
		if err := ValidateFollowup(s, c, m); !errors.As(err, &ps) || ps[tt.id].Code != tt.code {
			t.Errorf("%s: %v, want %s on %s", name, err, tt.code, tt.id)
		}
	}
}

// FuzzUnmarshalMessage feeds plaintexts to UnmarshalMessage. It never
// panics; what it reads it writes back to the same message, which
// verifies; PeekHeader agrees.
func FuzzUnmarshalMessage(f *testing.F) {
	s := testStudy()
	k := testKeys("person")
	for _, kind := range []Kind{Followup, Addition, Withdrawal} {
		_, b := message(f, s, kind, k)
		f.Add(b)
	}
	f.Add([]byte(`{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"ko","kind":"withdrawal","thread":"x","answers":{},"sig":""}`))
	f.Add([]byte(`{"v":3,"kind":"followup","kind":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := UnmarshalMessage(s, data)
		var ps Problems
		if err != nil && !errors.As(err, &ps) {
			if m != nil {
				t.Fatal("message returned with a format error")
			}
			return
		}
		if err := VerifyThread(m); err != nil {
			t.Fatalf("a message read does not verify: %v", err)
		}
		b, err := marshalMessage(m, true)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := UnmarshalMessage(s, b)
		var ps2 Problems
		if err != nil && !errors.As(err, &ps2) {
			t.Fatalf("round trip: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(m, m2) || !reflect.DeepEqual(ps, ps2) {
			t.Fatalf("round trip:\n%+v\n%+v", m, m2)
		}
		h, err := PeekHeader(data)
		if err != nil || h.Kind != m.Kind || h.Study != s.ID {
			t.Fatalf("PeekHeader = %+v, %v", h, err)
		}
	})
}
