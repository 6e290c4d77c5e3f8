package researcher

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/testimony-project/testimony/response"
)

func TestParseDataLine(t *testing.T) {
	f := newFixture(t)
	for _, story := range []string{"plain", "줄\n바꿈\t탭 \"따옴표\" \\ / <b>&amp;</b>", "\u2028\u2029", "😀 이모지 \x7f", ""} {
		a := map[string][]string{"seen": {"a", "b"}, "consent": {"yes"}}
		if story != "" {
			a["story"] = []string{story}
		}
		line, err := dataLine(f.study, &response.Response{Study: f.study.ID, Version: f.study.Version(), Language: "zh", Answers: a})
		if err != nil {
			t.Fatal(err)
		}
		p := lineParser{b: line}
		d := p.parse()
		lang, answers := d.lang, d.answers
		if p.err != nil {
			t.Fatalf("fast path refused %q: %v", line, p.err)
		}
		if d.version != f.study.Version() || lang != "zh" || answers["story"].text != story || !slices.Equal(answers["seen"].values, []string{"a", "b"}) ||
			answers["seen"].text != "a;b" || string(answers["seen"].raw) != `["a","b"]` {
			t.Fatalf("parsed %q as %q %+v", line, lang, answers)
		}
	}
}

// FuzzParseDataLine checks that the fast reader of data lines agrees with
// encoding/json on everything it accepts.
func FuzzParseDataLine(f *testing.F) {
	for _, s := range []string{
		`{"version":"v","lang":"ko","answers":{"consent":"yes","seen":["a","b"],"story":"x\ny"}}` + "\n",
		`{"version":"v","lang":"ko","answers":{}}`,
		`{"version":"v","lang":"ko","answers":{"a":"\u00e9\ud83d\ude00"}}`,
		`{"version":"v","lang":"ko","answers":{"a":"x","a":"y"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		p := lineParser{b: line}
		fast := p.parse()
		lang, answers := fast.lang, fast.answers
		if p.err != nil {
			return
		}
		var d struct {
			Version string                     `json:"version"`
			Lang    string                     `json:"lang"`
			Answers map[string]json.RawMessage `json:"answers"`
		}
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", line, err)
		}
		if d.Version != fast.version || d.Lang != lang || len(d.Answers) != len(answers) {
			t.Fatalf("%q: fast path %q %v, encoding/json %q %v", line, lang, answers, d.Lang, d.Answers)
		}
		for id, raw := range d.Answers {
			a := answers[id]
			var text string
			var values []string
			if json.Unmarshal(raw, &text) != nil {
				if err := json.Unmarshal(raw, &values); err != nil {
					t.Fatalf("%q: answer %s is neither a string nor strings", line, raw)
				}
				if !slices.Equal(values, a.values) {
					t.Fatalf("%q: answer %s: fast path %q, encoding/json %q", line, id, a.values, values)
				}
			} else if text != a.text || a.values != nil {
				t.Fatalf("%q: answer %s: fast path %q, encoding/json %q", line, id, a.text, text)
			}
			if string(a.raw) != string(raw) {
				t.Fatalf("%q: raw answer %s: %q, encoding/json %q", line, id, a.raw, raw)
			}
		}
	})
}

// FuzzAppendJSONString checks that appendJSONString writes exactly what
// encoding/json writes with HTML escaping off.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "줄\n바꿈\t\"\\/<>&", "\x00\x01\x1f\x7f\b\f\r", "\u2028\u2029", "\xff\xfe 😀", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}
