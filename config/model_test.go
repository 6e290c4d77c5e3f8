package config

import (
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/testimony-project/testimony/examples"
)

// study parses a study made of the minimal study's head and the given
// YAML for everything from "questions:" on, failing t on an error.
func study(t testing.TB, name, rest string) *Study {
	t.Helper()
	s, err := Parse(name, []byte(head+rest))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

const head = `id: rev-study
title: {ko: 조사, en: Survey, zh: 调查}
introduction: {ko: 소개, en: Introduction, zh: 介绍}
recipients:
  - name: Researcher
    public_key: testimony-pub-ckt6tblsyuzvhlzjt6y2kvhgjec4pwcs3shz4dvfqohtkned3yl4r3gtwv6hdj77ljoskymg5sshjghmnziwrjpgkftdyqpmjwkq3bpfkj7b2
`

const v1 = `questions:
  - id: phone
    type: single_choice
    label: {ko: 손전화, en: Phone, zh: 手机}
    choices:
      - {value: "yes", label: {ko: 예, en: "Yes", zh: 是}}
      - {value: "no", label: {ko: 아니, en: "No", zh: 否}}
  - id: uses
    type: multi_choice
    label: {ko: 용도, en: Uses, zh: 用途}
    choices:
      - {value: calls, label: {ko: 전화, en: Calls, zh: 电话}}
      - {value: often, label: {ko: 자주, en: Often, zh: 经常}}
      - {value: sometimes, label: {ko: 가끔, en: Sometimes, zh: 有时}}
  - id: story
    type: short_text
    label: {ko: 이야기, en: Story, zh: 故事}
  - id: consent
    type: consent
    label: {ko: 동의, en: Agree, zh: 同意}
`

func TestCheckRevisionAllows(t *testing.T) {
	old := study(t, "v1.yaml", v1)
	for name, next := range map[string]string{
		"the same file": v1,
		"reworded, reordered, a choice added and one removed, a question removed and one added, limits changed": `questions:
  - id: uses
    type: multi_choice
    max: 2
    label: {ko: 무엇에 썼습니까, en: What for, zh: 做什么}
    choices:
      - {value: sometimes, label: {ko: 가끔, en: Sometimes, zh: 有时}}
      - {value: calls, label: {ko: 전화 걸기, en: Making calls, zh: 打电话}}
      - {value: none, exclusive: true, label: {ko: 없음, en: None of these, zh: 都没有}}
  - id: phone
    type: single_choice
    required: true
    label: {ko: 손전화를 썼습니까, en: Did you use a phone, zh: 用过手机吗}
    choices:
      - {value: "no", label: {ko: 아니, en: "No", zh: 否}}
      - {value: "yes", label: {ko: 예, en: "Yes", zh: 是}}
  - id: hours
    type: decimal
    label: {ko: 시간, en: Hours, zh: 小时}
  - id: consent
    type: consent
    required: false
    label: {ko: 동의, en: Agree, zh: 同意}
`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := CheckRevision([]*Study{old}, study(t, "next.yaml", next)); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("a language added and made the default", func(t *testing.T) {
		next, err := Parse("next.yaml", []byte(`id: rev-study
languages: [ru, ko, en, zh]
title: {ru: Опрос, ko: 조사, en: Survey, zh: 调查}
introduction: {ru: Введение, ko: 소개, en: Introduction, zh: 介绍}
recipients:
  - name: Researcher
    public_key: testimony-pub-ckt6tblsyuzvhlzjt6y2kvhgjec4pwcs3shz4dvfqohtkned3yl4r3gtwv6hdj77ljoskymg5sshjghmnziwrjpgkftdyqpmjwkq3bpfkj7b2
questions:
  - id: story
    type: short_text
    label: {ru: История, ko: 이야기, en: Story, zh: 故事}
`))
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckRevision([]*Study{old}, next); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCheckRevisionRefuses(t *testing.T) {
	old := study(t, "v1.yaml", v1)
	for _, tt := range []struct {
		name string
		next string
		want string
	}{
		{"another study id", strings.Replace(v1, "questions:", "questions:", 1), ""}, // placeholder, replaced below
		{"single to multi", strings.Replace(v1, "    type: single_choice", "    type: multi_choice", 1),
			`next.yaml:9:5: question "phone": type "multi_choice": version ` + old.ShortVersion() + ` (v1.yaml) asks this question as single_choice; a question id keeps its meaning in every version, so its answers stay comparable: keep type single_choice, or give the changed question a new id (such as phone_2)`},
		{"multi to single", strings.Replace(v1, "    type: multi_choice", "    type: single_choice", 1),
			`question "uses": type "single_choice": version ` + old.ShortVersion() + ` (v1.yaml) asks this question as multi_choice`},
		{"short to long text", strings.Replace(v1, "type: short_text", "type: long_text", 1),
			`question "story": type "long_text": version ` + old.ShortVersion() + ` (v1.yaml) asks this question as short_text`},
		{"consent to note", strings.Replace(v1, "type: consent", "type: note", 1),
			`question "consent": type "note"`},
		{"values swapped", strings.Replace(strings.Replace(strings.Replace(v1, `{value: "yes", label`, `{value: "tmp", label`, 1), `{value: "no", label`, `{value: "yes", label`, 1), `{value: "tmp", label`, `{value: "no", label`, 1),
			`question "phone": choices[0].label.ko "예": in version ` + old.ShortVersion() + ` (v1.yaml) this was the label of choice "yes", not of "no"; a choice value keeps its meaning in every version: if the answer means the same, use the value yes, else reword this label`},
		{"labels shifted to insert a choice", strings.Replace(v1, `      - {value: often, label: {ko: 자주, en: Often, zh: 经常}}
      - {value: sometimes, label: {ko: 가끔, en: Sometimes, zh: 有时}}`, `      - {value: often, label: {ko: 아주 자주, en: Very often, zh: 非常经常}}
      - {value: sometimes, label: {ko: 자주, en: Often, zh: 经常}}
      - {value: rarely, label: {ko: 가끔, en: Sometimes, zh: 有时}}`, 1),
			`question "uses": choices[2].label.ko "자주": in version ` + old.ShortVersion() + ` (v1.yaml) this was the label of choice "often", not of "sometimes"`},
		{"a value renamed", strings.Replace(v1, `{value: calls,`, `{value: phone_calls,`, 1),
			`this was the label of choice "calls", not of "phone_calls"; a choice value keeps its meaning in every version: if the answer means the same, use the value calls`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var next *Study
			if tt.want == "" {
				var err error
				next, err = Parse("next.yaml", []byte(strings.Replace(head, "id: rev-study", "id: rev-study-2", 1)+v1))
				if err != nil {
					t.Fatal(err)
				}
				tt.want = `next.yaml:1:1: id "rev-study-2": version ` + old.ShortVersion() + ` (v1.yaml) is of study "rev-study"; the id is bound into every envelope and never changes: write id: rev-study, or start a new study`
			} else {
				next = study(t, "next.yaml", tt.next)
			}
			err := CheckRevision([]*Study{old}, next)
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 {
				t.Fatalf("CheckRevision = %v, want one problem", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n%v\nwant it to contain\n%s", err, tt.want)
			}
			if es[0].File != "next.yaml" || es[0].Line == 0 || es[0].Field == "" {
				t.Errorf("error %+v does not locate the problem in next.yaml", es[0])
			}
		})
	}
}

// TestCheckRevisionRemembers checks a question id against every earlier
// version, not only the last: an id removed in version 2 cannot come back
// in version 3 with another type.
func TestCheckRevisionRemembers(t *testing.T) {
	v1s := study(t, "v1.yaml", v1)
	v2 := study(t, "v2.yaml", strings.Replace(v1, `  - id: story
    type: short_text
    label: {ko: 이야기, en: Story, zh: 故事}
`, "", 1))
	if err := CheckRevision([]*Study{v1s}, v2); err != nil {
		t.Fatal(err)
	}
	v3 := study(t, "v3.yaml", strings.Replace(v1, "type: short_text", "type: integer", 1))
	err := CheckRevision([]*Study{v1s, v2}, v3)
	if err == nil || !strings.Contains(err.Error(), `question "story": type "integer": version `+v1s.ShortVersion()+" (v1.yaml) asks this question as short_text") {
		t.Fatalf("CheckRevision = %v", err)
	}
	// Every problem at once, in file order.
	v4 := study(t, "v4.yaml", strings.Replace(strings.Replace(v1, "type: short_text", "type: integer", 1), "type: single_choice", "type: multi_choice", 1))
	var es Errors
	if err := CheckRevision([]*Study{v1s, v2}, v4); !errors.As(err, &es) || len(es) != 2 || es[0].Question != "phone" || es[1].Question != "story" {
		t.Fatalf("CheckRevision = %v, want the problems of phone and story", err)
	}
}

func TestPlaceholderRecipients(t *testing.T) {
	ex, err := Parse("examples/nk-internet-access.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	// Every key of the example is a placeholder: the list in this package
	// follows the example.
	if got := ex.PlaceholderRecipients(); !reflect.DeepEqual(got, ex.Recipients) {
		t.Errorf("PlaceholderRecipients of the example = %v, want all of %v: update placeholderKeys", got, ex.Recipients)
	}
	err = ex.CheckServable()
	var es Errors
	if !errors.As(err, &es) || len(es) != len(ex.Recipients) {
		t.Fatalf("CheckServable(example) = %v, want one problem per recipient", err)
	}
	for i, e := range es {
		if e.File != "examples/nk-internet-access.yaml" || e.Line == 0 || e.Field != fmt.Sprintf("recipients[%d].public_key", i) ||
			!strings.Contains(e.Problem, ex.Recipients[i].Name) || !strings.Contains(e.Problem, "researcher keygen") {
			t.Errorf("problem %d = %+v, want it to locate the key, name the researcher and say how to fix it", i, e)
		}
	}

	// A study with one real key and one placeholder names the placeholder.
	s := study(t, "s.yaml", "questions:\n  - {id: q, type: consent, label: {ko: 동의, en: Agree, zh: 同意}}\n")
	s.Recipients = append([]Recipient{{Name: "Real", PublicKey: "testimony-pub-not-a-placeholder"}}, s.Recipients...)
	if got := s.PlaceholderRecipients(); len(got) != 1 || got[0].Name != "Researcher" {
		t.Errorf("PlaceholderRecipients = %v, want Researcher only", got)
	}
	s.Recipients = s.Recipients[:1]
	if s.PlaceholderRecipients() != nil || s.CheckServable() != nil {
		t.Error("a study without placeholder keys is not servable")
	}
}

func TestConsentRequired(t *testing.T) {
	s := study(t, "s.yaml", `questions:
  - {id: plain, type: consent, label: {ko: 동의, en: Agree, zh: 同意}}
  - {id: optional, type: consent, required: false, label: {ko: 인용, en: Quote me, zh: 引用}}
  - {id: explicit, type: consent, required: true, label: {ko: 동의, en: Agree, zh: 同意}}
  - {id: text, type: short_text, label: {ko: 글, en: Text, zh: 文}}
`)
	for id, want := range map[string]bool{"plain": true, "optional": false, "explicit": true, "text": false} {
		if got := s.Question(id).Required; got != want {
			t.Errorf("%s: Required = %v, want %v", id, got, want)
		}
	}
}

func TestLanguages(t *testing.T) {
	s := study(t, "s.yaml", "questions:\n  - {id: q, type: consent, label: {ko: 동의, en: Agree, zh: 同意}}\n")
	if !reflect.DeepEqual(s.Languages, []string{"ko", "en", "zh"}) || s.DefaultLanguage() != "ko" || !s.HasLanguage("zh") || s.HasLanguage("ru") {
		t.Errorf("Languages = %v, default %q: want ko, en, zh by default", s.Languages, s.DefaultLanguage())
	}
	s, err := Parse("ru.yaml", []byte(`id: ru-study
languages: [ru, zh-Hant, en]
title: {ru: Опрос, zh-Hant: 調查, en: Survey}
introduction: {en: Intro, ru: Введение, zh-Hant: 介紹}
recipients: [{name: R, public_key: testimony-pub-ckt6tblsyuzvhlzjt6y2kvhgjec4pwcs3shz4dvfqohtkned3yl4r3gtwv6hdj77ljoskymg5sshjghmnziwrjpgkftdyqpmjwkq3bpfkj7b2}]
questions:
  - {id: q, type: consent, label: {ru: Согласен, en: Agree, zh-Hant: 同意}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.DefaultLanguage() != "ru" || s.Title.In("ko") != "Опрос" || s.Title.In("zh-Hant") != "調查" || s.Questions[0].Label.In("") != "Согласен" {
		t.Errorf("texts do not fall back to the study's default: %q %q", s.Title.In("ko"), s.Questions[0].Label.In(""))
	}
	if got := s.Title.Languages(); !reflect.DeepEqual(got, []string{"en", "ru", "zh-Hant"}) {
		t.Errorf("Languages() = %v", got)
	}
	for lang, want := range map[string]string{"ko": "ko", "en": "en", "zh": "zh", "zh-Hant": "zh", "ko-KP": "ko", "en-GB": "en", "ru": "en", "fr": "en", "": "en", "kr": "en"} {
		if got := ChromeLanguage(lang); got != want {
			t.Errorf("ChromeLanguage(%q) = %q, want %q", lang, got, want)
		}
	}
	if got := Endonym("ru"); got != "русский" && got != "Русский" {
		t.Errorf("Endonym(ru) = %q", got)
	}
}

// TestTextYAML checks that texts marshal back in the study's language
// order, the default first, and parse to the same.
func TestTextYAML(t *testing.T) {
	txt := NewText("ru", map[string]string{"en": "Survey", "ru": "Опрос", "ko": "조사"})
	out, err := yaml.Marshal(map[string]Text{"title": txt, "help": {}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "help: null\ntitle:\n  ru: Опрос\n  en: Survey\n  ko: 조사\n"; string(out) != want {
		t.Errorf("Marshal = %q, want %q", out, want)
	}
	if txt.In("fr") != "Опрос" || txt.In("en") != "Survey" {
		t.Error("In does not fall back")
	}
	if _, ok := txt.Lookup("fr"); ok {
		t.Error("Lookup falls back")
	}
}

func TestSteps(t *testing.T) {
	s := study(t, "s.yaml", `sections:
  - id: phones
    label: {ko: 손전화, en: Phones, zh: 手机}
    relevant: "${a} = 'yes'"
    questions: [p1, p2, p3, p4]
  - id: end
    label: {ko: 끝, en: End, zh: 结束}
    questions: [consent]
questions:
  - id: a
    type: single_choice
    label: {ko: 가, en: A, zh: 甲}
    choices:
      - {value: "yes", label: {ko: 예, en: "Yes", zh: 是}}
      - {value: "no", label: {ko: 아니, en: "No", zh: 否}}
  - {id: b, type: short_text, label: {ko: 나, en: B, zh: 乙}}
  - {id: p1, type: note, label: {ko: 읽기, en: Read, zh: 读}}
  - id: p2
    type: multi_choice
    label: {ko: 가, en: A, zh: 甲}
    choices:
      - {value: x, label: {ko: 예, en: "X", zh: 是}}
      - {value: "none", exclusive: true, label: {ko: 없음, en: None, zh: 无}}
  - {id: p3, type: decimal, relevant: "selected(${p2}, 'x')", label: {ko: 다, en: C, zh: 丙}}
  - {id: p4, type: short_text, label: {ko: 라, en: D, zh: 丁}}
  - {id: c1, type: short_text, label: {ko: 마, en: E, zh: 戊}}
  - {id: c2, type: short_text, relevant: "${a} = 'no' or ${b} != ''", label: {ko: 바, en: F, zh: 己}}
  - {id: c3, type: short_text, label: {ko: 사, en: G, zh: 庚}}
  - {id: c4, type: short_text, label: {ko: 아, en: H, zh: 辛}}
  - {id: c5, type: short_text, label: {ko: 자, en: I, zh: 壬}}
  - {id: c6, type: short_text, label: {ko: 차, en: J, zh: 癸}}
  - {id: c7, type: short_text, label: {ko: 카, en: K, zh: 子}}
  - {id: c8, type: short_text, label: {ko: 타, en: L, zh: 丑}}
  - {id: c9, type: short_text, label: {ko: 파, en: M, zh: 寅}}
  - {id: consent, type: consent, label: {ko: 동의, en: Agree, zh: 同意}}
`)
	var got []string
	for _, st := range s.Steps() {
		sec := "-"
		if st.Section != nil {
			sec = st.Section.ID
		}
		var ids []string
		for _, i := range st.Questions {
			ids = append(ids, s.Questions[i].ID)
		}
		got = append(got, fmt.Sprintf("%s/%d: %s", sec, st.Part, strings.Join(ids, " ")))
	}
	want := []string{
		"-/1: a b",                     // ends before a section
		"phones/1: p1 p2",              // p3 depends on p2: a new part
		"phones/2: p3 p4",              //
		"-/1: c1 c2 c3 c4 c5 c6 c7 c8", // c2's condition is on an earlier step; eight at most
		"-/1: c9",
		"end/1: consent",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Steps =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.SectionOf("p3").ID != "phones" || s.SectionOf("b") != nil || s.Section("end") == nil || s.Section("p1") != nil {
		t.Error("SectionOf or Section is wrong")
	}
}

func TestVersion(t *testing.T) {
	s := study(t, "s.yaml", "questions:\n  - {id: q, type: consent, label: {ko: 동의, en: Agree, zh: 同意}}\n")
	v := s.Version()
	if !IsVersion(v) || v != fmt.Sprintf("%x", s.SHA256) || s.ShortVersion() != v[:12] {
		t.Errorf("Version = %q, ShortVersion = %q", v, s.ShortVersion())
	}
	for _, bad := range []string{"", strings.Repeat("A", 64), strings.Repeat("0", 63), strings.Repeat("0", 65), strings.Repeat("g", 64)} {
		if IsVersion(bad) {
			t.Errorf("IsVersion(%q)", bad)
		}
	}
}

func TestCanonicalDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "-0": "0", "00": "0", "0.0": "0", "-0.000": "0", ".5": "0.5", "5.": "5", "-.5": "-0.5",
		"007.50": "7.5", "12": "12", "-3.5": "-3.5", "123456789012345": "123456789012345", "0.000000000000001": "0.000000000000001",
		"1234567890123456": "", "1.234567890123456": "", "": "", ".": "", "-": "", "--1": "", "+1": "", "1e3": "", "1,5": "",
		"1.2.3": "", " 1": "", "١": "", "0x10": "", "∞": "", "NaN": "",
	} {
		got, ok := CanonicalDecimal(in)
		if ok != (want != "") || got != want {
			t.Errorf("CanonicalDecimal(%q) = %q, %v; want %q", in, got, ok, want)
		}
		if ok && !IsCanonicalDecimal(got) {
			t.Errorf("%q is not canonical", got)
		}
	}
}

// FuzzDecimal checks CanonicalDecimal against math/big: what it accepts is
// the number typed, canonical text is stable, and CompareDecimal orders
// canonical texts as numbers.
func FuzzDecimal(f *testing.F) {
	for _, s := range []string{"0", "-0.5", "007.50", ".5", "1e3", "123456789012345", "-999.999", "1.2.3"} {
		f.Add(s, "1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ca, oka := CanonicalDecimal(a)
		if !oka {
			return
		}
		ra, ok := new(big.Rat).SetString(strings.TrimPrefix(a, "+"))
		if !ok {
			t.Fatalf("CanonicalDecimal accepted %q, which is not a number", a)
		}
		if r, _ := new(big.Rat).SetString(ca); r.Cmp(ra) != 0 || !IsCanonicalDecimal(ca) {
			t.Fatalf("CanonicalDecimal(%q) = %q, another number or not canonical", a, ca)
		}
		if n, err := ParseNumber(ca); err != nil || n.String() != ca {
			t.Fatalf("ParseNumber(%q) = %v, %v", ca, n, err)
		}
		cb, okb := CanonicalDecimal(b)
		if !okb {
			return
		}
		rb, _ := new(big.Rat).SetString(cb)
		if got, want := CompareDecimal(ca, cb), ra.Cmp(rb); got != want {
			t.Fatalf("CompareDecimal(%q, %q) = %d, want %d", ca, cb, got, want)
		}
	})
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]string{
		"10": "10", "-5": "-5", "2.5": "2.5", "0": "0",
		"1.50": "write 1.5 instead", "05": "write 5 instead", ".5": "write 0.5 instead", "-0": "write 0 instead",
		"1e3": "without an exponent", "0x10": "digits 0-9", "": "must be a number", "1234567890123456": "at most 15",
	} {
		n, err := ParseNumber(in)
		got := n.String()
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Errorf("ParseNumber(%q) = %q, want %q", in, got, want)
		}
	}
	if n, ok := IntNumber(-7).Int(); !ok || n != -7 {
		t.Errorf("IntNumber(-7).Int() = %d, %v", n, ok)
	}
	if _, ok := (Number{text: "2.5"}).Int(); ok {
		t.Error("2.5 is whole")
	}
	if got := slices.SortedFunc(slices.Values([]Number{IntNumber(3), {text: "-2.5"}, {}}), Number.Cmp); got[0].String() != "-2.5" || got[1].String() != "0" {
		t.Errorf("Cmp orders %v", got)
	}
}
