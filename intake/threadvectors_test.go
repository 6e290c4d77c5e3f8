package intake

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/response"
)

// threadVectorsPath holds the vectors of the way back that the browser
// code is held to: plaintexts of first testimonies with a return address
// and of signed messages on a thread (testimony.js's marshal and
// marshalThread, back.js's signThread), and follow-up forms read as
// response.FollowupFromForm reads them (back.js's followupFromForm).
const threadVectorsPath = "../web/test/thread-vectors.json"

type threadVectors struct {
	Study     string            `json:"study"`
	Version   string            `json:"version"`
	Limits    map[string]int    `json:"limits"`
	Seeds     []threadSeed      `json:"seeds"`
	Testimony []threadTestimony `json:"testimonies"`
	Messages  []threadMessage   `json:"messages"`
	Followups []threadFollowup  `json:"followups"`
}

type threadSeed struct {
	Seed    string `json:"seed"`
	Address string `json:"address"`
}

type threadTestimony struct {
	Seed      int                 `json:"seed"`
	Lang      string              `json:"lang"`
	Answers   map[string][]string `json:"answers"`
	Plaintext string              `json:"plaintext"`
}

type threadMessage struct {
	Seed      int                 `json:"seed"`
	Lang      string              `json:"lang"`
	Kind      string              `json:"kind"`
	Reply     string              `json:"reply,omitempty"`
	Answers   map[string][]string `json:"answers"`
	Lists     map[string]bool     `json:"lists"`
	Plaintext string              `json:"plaintext"`
}

type threadFollowup struct {
	Content  string               `json:"content"`
	Form     url.Values           `json:"form"`
	Answers  map[string][]string  `json:"answers"`
	Lists    map[string]bool      `json:"lists"`
	Problems map[string]jsProblem `json:"problems"`
}

// jsProblem is a problem as testimony.js reports it.
type jsProblem struct {
	Code  string `json:"code"`
	Limit string `json:"limit"`
}

// threadStudy is rich.yaml, which the answers vectors use too.
func threadStudy(t *testing.T) *config.Study {
	t.Helper()
	data, err := os.ReadFile("../response/testdata/rich.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := config.Parse("rich.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func vectorSeed(i int) [returnkey.SeedSize]byte {
	var seed [returnkey.SeedSize]byte
	sum := sha512.Sum512([]byte{'t', 'h', 'r', 'e', 'a', 'd', byte(i)})
	copy(seed[:], sum[:])
	return seed
}

// followupReply is a reply with a question of every type.
func followupReply() *reply.Content {
	return &reply.Content{Study: "rich-study", ID: "abcdefghijklmnopqrstuvwxyz", Lang: "ko", Text: "고맙습니다.\n두 가지만 더 묻겠습니다.",
		Questions: []reply.Question{
			{ID: "year", Type: config.Year, Label: "몇 년이였습니까?", Required: true},
			{ID: "where", Type: config.MultiChoice, Label: "어디서?", Choices: []reply.Choice{{Value: "home", Label: "집"}, {Value: "work", Label: "일터"}, {Value: "constructor", Label: "기타"}}},
			{ID: "how", Type: config.SingleChoice, Label: "어떻게?", Choices: []reply.Choice{{Value: "a", Label: "ㄱ"}, {Value: "b", Label: "ㄴ"}}},
			{ID: "note", Type: config.ShortText, Label: "한 줄로"},
			{ID: "story", Type: config.LongText, Label: "더 이야기해 주십시오"},
			{ID: "count", Type: config.Integer, Label: "몇 번?"},
		}}
}

func makeThreadVectors(t *testing.T) threadVectors {
	st := threadStudy(t)
	short := &config.Question{Type: config.ShortText}
	v := threadVectors{Study: st.ID, Version: st.Version(),
		Limits: map[string]int{"yearMin": config.DefaultMinYear, "shortMax": short.MaxLen(st), "longMax": st.MaxTextLength(), "addMax": response.AdditionLimit(st)}}
	var keys []*returnkey.Keys
	for i := range 3 {
		seed := vectorSeed(i)
		k := returnkey.NewKeys(seed)
		keys = append(keys, k)
		v.Seeds = append(v.Seeds, threadSeed{Seed: hex.EncodeToString(seed[:]), Address: k.Address().String()})
	}
	for i, tc := range []threadTestimony{
		{Lang: "ko", Answers: map[string][]string{"online": {"yes"}, "where": {"library", "work"}, "where_other": {"공장 \"안\" </script>"}, "agree": {"yes"}}},
		{Lang: "en", Answers: map[string][]string{"online": {"no"}, "agree": {"yes"}}},
	} {
		tc.Seed = i
		pt, err := response.Marshal(st, &response.Response{Study: st.ID, Language: tc.Lang, Return: keys[i].Address(), Answers: tc.Answers})
		if err != nil {
			t.Fatal(err)
		}
		tc.Plaintext = string(pt)
		v.Testimony = append(v.Testimony, tc)
	}
	c := followupReply()
	for i, tc := range []threadMessage{
		{Lang: "ko", Kind: "followup", Reply: c.ID, Answers: map[string][]string{"year": {"2019"}, "where": {"home", "constructor"}, "story": {"첫 줄\n\t둘째 줄 \u2028 🙂 \"인용\" \\"}}, Lists: map[string]bool{"where": true}},
		{Lang: "en", Kind: "addition", Answers: map[string][]string{"text": {"I forgot: it was <b>2018</b> & later."}}},
		{Lang: "ru", Kind: "withdrawal", Answers: map[string][]string{}},
		{Lang: "ko", Kind: "followup", Reply: c.ID, Answers: map[string][]string{"how": {"b"}}},
	} {
		tc.Seed = i % len(keys)
		m := &response.Message{Language: tc.Lang, Kind: response.Kind(tc.Kind), Reply: tc.Reply, Answers: tc.Answers, Lists: tc.Lists}
		pt, err := response.SignThread(st, m, keys[tc.Seed])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := response.UnmarshalMessage(st, pt); err != nil {
			t.Fatal(err)
		}
		tc.Plaintext = string(pt)
		v.Messages = append(v.Messages, tc)
	}
	content, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []url.Values{
		{"q.year": {" 2019 "}, "q.where": {"constructor", "home"}, "q.story": {"줄\r\n줄"}},
		{"q.how": {"a"}},
		{},
		{"q.year": {"1899"}, "q.how": {"c"}, "q.note": {"a\nb"}, "q.count": {"-0"}},
		{"q.year": {"02019"}, "q.where": {"moon"}, "q.count": {"-12"}},
		{"q.note": {"\u1100\u1161 가"}, "q.year": {"2000"}},
		{"q.where": {"home", ""}, "q.year": {"2000"}, "q.count": {"1234567890"}},
	} {
		m, ps, err := response.FollowupFromForm(st, c, "ko", form)
		if err != nil {
			t.Fatal(err)
		}
		f := threadFollowup{Content: string(content), Form: form, Answers: m.Answers, Lists: m.Lists}
		for id, p := range ps {
			if f.Problems == nil {
				f.Problems = map[string]jsProblem{}
			}
			f.Problems[id] = jsProblem{Code: string(p.Code), Limit: p.Limit}
		}
		if f.Lists == nil {
			f.Lists = map[string]bool{}
		}
		v.Followups = append(v.Followups, f)
	}
	return v
}

// TestJSThreadVectors writes (with -update-vectors) and checks the
// vectors of the way back; web/test/back.test.js holds the browser code
// to them.
func TestJSThreadVectors(t *testing.T) {
	v := makeThreadVectors(t)
	want, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *updateVectors {
		if err := os.WriteFile(threadVectorsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(threadVectorsPath)
	if err != nil || !bytes.Equal(have, want) {
		t.Fatalf("%s is not what Go makes (%v): run go test ./intake -run TestJSThreadVectors -update-vectors and review the diff", threadVectorsPath, err)
	}
}
