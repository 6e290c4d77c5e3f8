package reply

import (
	"bytes"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
)

func followUp() *Content {
	return &Content{
		Study: study, ID: "abcdefghijklmnopqrstuvwxyz", Lang: "ko",
		Text: "증언해 주셔서 감사합니다.\n몇 가지만 더 여쭤봐도 될까요?",
		Questions: []Question{
			{ID: "left_year", Type: config.Year, Label: "몇 년에 떠나셨습니까?", Required: true},
			{ID: "phone", Type: config.SingleChoice, Label: "전화가 있었습니까?", Choices: []Choice{{"yes", "예"}, {"no", "아니요"}}},
			{ID: "more", Type: config.LongText, Label: "더 하실 말씀이 있습니까?"},
		},
	}
}

func TestContentRoundTrip(t *testing.T) {
	c := followUp()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"study":"nk-internet-2026","id":"abcdefghijklmnopqrstuvwxyz","lang":"ko","text":"증언해 주셔서 감사합니다.\n몇 가지만 더 여쭤봐도 될까요?","questions":[` +
		`{"id":"left_year","type":"year","label":"몇 년에 떠나셨습니까?","required":true},` +
		`{"id":"phone","type":"single_choice","label":"전화가 있었습니까?","choices":[{"value":"yes","label":"예"},{"value":"no","label":"아니요"}]},` +
		`{"id":"more","type":"long_text","label":"더 하실 말씀이 있습니까?"}]}`
	if string(b) != want {
		t.Fatalf("Marshal:\n%s\nwant\n%s", b, want)
	}
	got, err := ParseContent(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.Marshal()
	if !bytes.Equal(again, b) {
		t.Fatal("content does not read back as written")
	}
	// Text only, and questions only.
	for _, c := range []*Content{{Study: study, ID: NewID(), Lang: "en", Text: "Thank you."}, {Study: study, ID: NewID(), Lang: "zh", Questions: c.Questions[:1]}} {
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseContent(b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestContentRefused(t *testing.T) {
	for name, change := range map[string]func(c *Content){
		"bad study":             func(c *Content) { c.Study = "A" },
		"bad id":                func(c *Content) { c.ID = "short" },
		"bad language":          func(c *Content) { c.Lang = "korean" },
		"non-standard language": func(c *Content) { c.Lang = "ko-kr" },
		"nothing to say":        func(c *Content) { c.Text, c.Questions = " \n", nil },
		"control character":     func(c *Content) { c.Text = "a\x07b" },
		"line separator":        func(c *Content) { c.Text = "a\u2028b" },
		"invalid UTF-8":         func(c *Content) { c.Text = "a\xffb" },
		"too many questions": func(c *Content) {
			for i := range MaxQuestions {
				c.Questions = append(c.Questions, Question{ID: "q" + itoa(uint32(i)), Type: config.ShortText, Label: "?"})
			}
		},
		"question id":          func(c *Content) { c.Questions[0].ID = "Left" },
		"question id twice":    func(c *Content) { c.Questions[1].ID = "left_year" },
		"question type":        func(c *Content) { c.Questions[0].Type = config.DateApprox },
		"blank label":          func(c *Content) { c.Questions[0].Label = " " },
		"label on two lines":   func(c *Content) { c.Questions[0].Label = "a\nb" },
		"label too long":       func(c *Content) { c.Questions[0].Label = strings.Repeat("a", MaxLabelLength+1) },
		"one choice":           func(c *Content) { c.Questions[1].Choices = c.Questions[1].Choices[:1] },
		"choices of a year":    func(c *Content) { c.Questions[0].Choices = c.Questions[1].Choices },
		"choice value":         func(c *Content) { c.Questions[1].Choices[0].Value = "Yes" },
		"choice value twice":   func(c *Content) { c.Questions[1].Choices[1].Value = "yes" },
		"blank choice label":   func(c *Content) { c.Questions[1].Choices[1].Label = "" },
		"too large for record": func(c *Content) { c.Text = strings.Repeat("가", MaxContentSize/3) },
	} {
		c := followUp()
		change(c)
		if _, err := c.Marshal(); err == nil {
			t.Errorf("%s: Marshal accepted it", name)
		}
	}
	c := followUp()
	c.Text = strings.Repeat("가", MaxContentSize/3)
	_, err := c.Marshal()
	if err == nil || !strings.Contains(err.Error(), "more than a record holds") {
		t.Errorf("size error: %v", err)
	}
}

func TestParseContentRefused(t *testing.T) {
	good, _ := followUp().Marshal()
	s := string(good)
	for name, in := range map[string]string{
		"empty":           "",
		"not an object":   "[]",
		"white space":     strings.Replace(s, `"v":1,`, `"v": 1,`, 1),
		"member order":    strings.Replace(s, `"v":1,"study":"nk-internet-2026"`, `"study":"nk-internet-2026","v":1`, 1),
		"repeated member": strings.Replace(s, `"v":1,`, `"v":1,"v":1,`, 1),
		"unknown member":  strings.Replace(s, `"v":1,`, `"v":1,"x":1,`, 1),
		"missing member":  strings.Replace(s, `"lang":"ko",`, ``, 1),
		"version 2":       strings.Replace(s, `"v":1,`, `"v":2,`, 1),
		"v as a string":   strings.Replace(s, `"v":1,`, `"v":"1",`, 1),
		"v as 1.0":        strings.Replace(s, `"v":1,`, `"v":1.0,`, 1),
		"escaped letter":  strings.Replace(s, `"lang":"ko"`, `"lang":"k\u006f"`, 1),
		"required false":  strings.Replace(s, `"label":"더 하실 말씀이 있습니까?"}`, `"label":"더 하실 말씀이 있습니까?","required":false}`, 1),
		"empty questions": strings.Replace(s, s[strings.Index(s, `,"questions"`):len(s)-1], `,"questions":[]`, 1),
		"trailing data":   s + " ",
		"two objects":     s + s,
		"not NFC":         strings.Replace(s, "감사합니다", "\u1100\u1161\u11b7사합니다", 1),
		"invalid UTF-8":   strings.Replace(s, "감사", "\xff", 1),
		"too large":       s[:len(s)-2] + strings.Repeat("a", MaxContentSize) + `"}`,
		"null text":       strings.Replace(s, s[strings.Index(s, `"text":`):strings.Index(s, `,"questions"`)], `"text":null`, 1),
	} {
		if _, err := ParseContent([]byte(in)); err == nil {
			t.Errorf("%s: ParseContent accepted %.80q", name, in)
		}
	}
}

func FuzzParseContent(f *testing.F) {
	good, _ := followUp().Marshal()
	f.Add(good)
	f.Add([]byte(`{"v":1,"study":"abc","id":"abcdefghijklmnopqrstuvwxyz","lang":"en","text":"hi"}`))
	f.Add([]byte(`{"v":1,"questions":[{"choices":[{}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseContent(b)
		if err != nil {
			return
		}
		again, err := c.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%q parsed but writes back as %q (%v)", b, again, err)
		}
	})
}
