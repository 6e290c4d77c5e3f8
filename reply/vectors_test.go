package reply

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
)

// testdata/vectors.json is shared with the browser code
// (web/test/reply.test.js):
//
//   - researchers and people: the keys (researcher secrets, person seeds)
//     the vectors use;
//   - records: records sealed with a given ephemeral key e, and the
//     outcome of opening each as each person from each researcher;
//   - contents: record contents and whether ParseContent accepts them;
//   - finds: downloads made of records, and what Find finds in them for a
//     person.
//
// Regenerate with: go test ./reply -run TestVectors -update

var update = flag.Bool("update", false, "regenerate testdata/vectors.json")

type vectors struct {
	Study       string          `json:"study"`
	Researchers []researcherVec `json:"researchers"`
	People      []personVec     `json:"people"`
	Records     []recordVec     `json:"records"`
	Contents    []contentVec    `json:"contents"`
	Finds       []findVec       `json:"finds"`
}

type researcherVec struct {
	Secret string `json:"secret"`
	Public string `json:"public"`
}

type personVec struct {
	Seed    string `json:"seed"`
	Address string `json:"address"`
}

type recordVec struct {
	Description string   `json:"description"`
	Person      int      `json:"person"`
	Researcher  int      `json:"researcher"`
	Number      uint32   `json:"number"`
	Ephemeral   string   `json:"ephemeral,omitempty"`
	Content     string   `json:"content,omitempty"`
	Record      string   `json:"record"`
	Outcomes    [][3]any `json:"outcomes"` // person, researcher, outcome
}

type contentVec struct {
	Description string `json:"description"`
	Content     string `json:"content"`
	Valid       bool   `json:"valid"`
}

type findVec struct {
	Description string     `json:"description"`
	Records     []int      `json:"records"`
	Person      int        `json:"person"`
	Found       []foundVec `json:"found"`
	Unreadable  int        `json:"unreadable"`
}

type foundVec struct {
	Researcher int    `json:"researcher"`
	Number     uint32 `json:"number"`
	Position   int    `json:"position"`
	ID         string `json:"id"`
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrNotOpened):
		return "not opened"
	}
	return err.Error()
}

func makeVectors(t *testing.T) *vectors {
	v := &vectors{Study: study}
	var ids []*envelope.Identity
	for n := range 3 {
		id := researcher(t, n)
		ids = append(ids, id)
		v.Researchers = append(v.Researchers, researcherVec{Secret: hex.EncodeToString(id.Bytes()), Public: id.Recipient().String()})
	}
	var people []*returnkey.Keys
	for n := range 2 {
		var seed [32]byte
		for i := range seed {
			seed[i] = byte(n+1) + byte(i)*3
		}
		k := returnkey.NewKeys(seed)
		people = append(people, k)
		v.People = append(v.People, personVec{Seed: hex.EncodeToString(seed[:]), Address: k.Address().String()})
	}
	marshal := func(c *Content) string {
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	fu := followUp()
	fu.ID = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	long := &Content{Study: study, ID: "bbbbbbbbbbbbbbbbbbbbbbbbbb", Lang: "en"}
	long.Text = strings.Repeat("x", MaxContentSize-len(marshal(&Content{Study: study, ID: long.ID, Lang: "en", Text: "x"}))+1)
	type spec struct {
		desc      string
		person, r int
		number    uint32
		content   string
		e         byte
		change    func([]byte) []byte
	}
	specs := []spec{
		{desc: "a follow-up in Korean", person: 0, r: 0, number: 0, content: marshal(fu), e: 1},
		{desc: "a reply in Chinese from another researcher", person: 0, r: 1, number: 0, content: marshal(&Content{Study: study, ID: "cccccccccccccccccccccccccc", Lang: "zh", Text: "谢谢您的证词。"}), e: 2},
		{desc: "the largest content", person: 0, r: 0, number: 1, content: marshal(long), e: 3},
		{desc: "the last reply number, to another person", person: 1, r: 2, number: returnkey.MaxReplies - 1, content: marshal(&Content{Study: study, ID: "dddddddddddddddddddddddddd", Lang: "en", Text: "Thank you."}), e: 4},
		{desc: "a forgery: the tag of researcher 2's fourth reply, sealed with researcher 1's key", person: 0, r: 1, number: 3, content: marshal(&Content{Study: study, ID: "eeeeeeeeeeeeeeeeeeeeeeeeee", Lang: "ko", Text: "주소를 보내 주십시오."}), e: 5,
			change: func(rec []byte) []byte { tg := people[0].Tag(3, ids[2].Recipient()); copy(rec, tg[:]); return rec }},
		{desc: "a body byte changed", person: 0, r: 0, number: 5, content: marshal(&Content{Study: study, ID: "ffffffffffffffffffffffffff", Lang: "ko", Text: "변경"}), e: 6,
			change: func(rec []byte) []byte { rec[1000] ^= 0x40; return rec }},
		{desc: "an ephemeral key of small order (zero)", person: 0, r: 0, number: 6, content: marshal(&Content{Study: study, ID: "gggggggggggggggggggggggggg", Lang: "ko", Text: "영"}), e: 7,
			change: func(rec []byte) []byte { clear(rec[TagSize : TagSize+32]); return rec }},
		{desc: "one byte short", person: 0, r: 0, number: 7, content: marshal(&Content{Study: study, ID: "hhhhhhhhhhhhhhhhhhhhhhhhhh", Lang: "ko", Text: "짧음"}), e: 8,
			change: func(rec []byte) []byte { return rec[:RecordSize-1] }},
		{desc: "a reply for another study", person: 0, r: 2, number: 0, content: marshal(&Content{Study: "other-study", ID: "iiiiiiiiiiiiiiiiiiiiiiiiii", Lang: "en", Text: "Wrong study."}), e: 9},
		{desc: "content that is not a reply", person: 0, r: 2, number: 1, content: `{"v":1,"text":"no"}`, e: 10},
	}
	for _, s := range specs {
		var e [32]byte
		for i := range e {
			e[i] = s.e*17 + byte(i)
		}
		rec, err := seal(&e, people[s.person].Address(), s.number, ids[s.r], []byte(s.content))
		if err != nil {
			t.Fatal(err)
		}
		if s.change != nil {
			rec = s.change(rec)
		}
		rv := recordVec{Description: s.desc, Person: s.person, Researcher: s.r, Number: s.number, Ephemeral: hex.EncodeToString(e[:]), Content: s.content, Record: base64.StdEncoding.EncodeToString(rec)}
		if s.change != nil {
			rv.Ephemeral = "" // not reproducible by sealing
		}
		for pi, p := range people {
			for ri, id := range ids {
				_, err := Open(rec, p, id.Recipient())
				rv.Outcomes = append(rv.Outcomes, [3]any{pi, ri, outcome(err)})
			}
		}
		v.Records = append(v.Records, rv)
	}
	good := marshal(fu)
	v.Contents = []contentVec{
		{"a follow-up in Korean", good, true},
		{"text only", marshal(&Content{Study: study, ID: "cccccccccccccccccccccccccc", Lang: "zh", Text: "谢谢\t您的\n证词。"}), true},
		{"questions only", marshal(&Content{Study: study, ID: "cccccccccccccccccccccccccc", Lang: "en", Questions: []Question{{ID: "n", Type: config.Integer, Label: "How many?"}}}), true},
		{"white space", strings.Replace(good, `"v":1,`, `"v": 1,`, 1), false},
		{"members out of order", strings.Replace(good, `"v":1,"study":"nk-internet-2026"`, `"study":"nk-internet-2026","v":1`, 1), false},
		{"a member twice", strings.Replace(good, `"v":1,`, `"v":1,"v":1,`, 1), false},
		{"an unknown member", strings.Replace(good, `"v":1,`, `"v":1,"x":1,`, 1), false},
		{"version 2", strings.Replace(good, `"v":1,`, `"v":2,`, 1), false},
		{"required false", strings.Replace(good, `"label":"더 하실 말씀이 있습니까?"}`, `"label":"더 하실 말씀이 있습니까?","required":false}`, 1), false},
		{"no questions in the array", strings.Replace(good, good[strings.Index(good, `,"questions"`):len(good)-1], `,"questions":[]`, 1), false},
		{"a bad reply id", strings.Replace(good, fu.ID, "short", 1), false},
		{"one choice", strings.Replace(good, `,{"value":"no","label":"아니요"}`, ``, 1), false},
		{"a control character", strings.Replace(good, "감사합니다", "감사\u0007합니다", 1), false},
		{"not NFC", strings.Replace(good, "감사합니다", "\u1100\u1161\u11b7사합니다", 1), false},
		{"data after the object", good + " ", false},
		{"choices on a year question", strings.Replace(good, `"type":"year","label":"몇 년에 떠나셨습니까?"`, `"type":"year","label":"몇 년에 떠나셨습니까?","choices":[{"value":"a","label":"a"},{"value":"b","label":"b"}]`, 1), false},
		{"a type not allowed", strings.Replace(good, `"type":"year"`, `"type":"date_approx"`, 1), false},
		{"a language that is not a tag", strings.Replace(good, `"lang":"ko"`, `"lang":"korean"`, 1), false},
		{"an escaped letter", strings.Replace(good, `"lang":"ko"`, `"lang":"k\u006f"`, 1), false},
	}
	v.Finds = []findVec{
		{Description: "person 0 among records for others, a forgery and unreadable ones", Records: []int{3, 0, 4, 1, 2, 8, 9, 5, 6}, Person: 0},
		{Description: "person 1", Records: []int{3, 0, 4, 1, 2, 8, 9, 5, 6}, Person: 1},
		{Description: "no records", Records: []int{}, Person: 0},
	}
	for i := range v.Finds {
		f := &v.Finds[i]
		var rs []*envelope.Recipient
		for _, id := range ids {
			rs = append(rs, id.Recipient())
		}
		found, unreadable, err := Find(download(t, v, f.Records), people[f.Person], study, rs)
		if err != nil {
			t.Fatal(err)
		}
		f.Unreadable = unreadable
		f.Found = []foundVec{}
		for _, x := range found {
			ri := 0
			for k, r := range rs {
				if r == x.Researcher {
					ri = k
				}
			}
			f.Found = append(f.Found, foundVec{Researcher: ri, Number: x.Number, Position: x.Position, ID: x.Content.ID})
		}
	}
	return v
}

func download(t *testing.T, v *vectors, idx []int) []byte {
	var b []byte
	for _, i := range idx {
		rec, err := base64.StdEncoding.DecodeString(v.Records[i].Record)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, rec...)
	}
	return b
}

func TestVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(makeVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/vectors.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	// Everything in the file is what the code computes now: sealing again
	// with the same e gives the same record, every outcome, content
	// verdict and find is the same.
	want, _ := json.Marshal(&v)
	got, _ := json.Marshal(makeVectors(t))
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/vectors.json is not what the code computes: run go test ./reply -run TestVectors -update, and check the difference")
	}
	outcomes := map[string]bool{}
	for _, r := range v.Records {
		for _, o := range r.Outcomes {
			outcomes[o[2].(string)] = true
		}
	}
	if !outcomes["success"] || !outcomes["not opened"] || !outcomes["malformed"] || len(outcomes) != 3 {
		t.Fatalf("outcomes %v", outcomes)
	}
	for _, c := range v.Contents {
		_, err := ParseContent([]byte(c.Content))
		if (err == nil) != c.Valid {
			t.Errorf("content %q: %v, want valid=%v", c.Description, err, c.Valid)
		}
	}
}
