package response

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/testimony-project/testimony/config"
	"golang.org/x/text/unicode/norm"
)

// formSeeds are raw form bodies for testStudy, as browsers send them.
func formSeeds() []string {
	full := with(minimalForm(),
		"q.left_when", "2019", "q.left_when.when", "autumn",
		"q.phone_years", "12",
		"q.phone_uses", "intranet", "q.phone_uses", "texts",
		"q.intranet_where", "library",
		"q.intranet_watch", "도서관 사서가\r\n뒤에서 봤습니다",
		"q.nickname", "김석한",
		"q.remark", "中文 😀 \"quote\", comma",
		"q.testimony", "5분마다 화면이 멈추고\r\n지문 인증을 다시 해야 했습니다.\r\n\r\n손전화는 화면을 찍었습니다.",
		"q.age", "34",
		"q.usb", "music", "q.usb", "", "q.usb", "dramas",
		"lang", "ko", "csrf", "x")
	seeds := []string{
		minimalForm().Encode(),
		full.Encode(),
		with(minimalForm(), "q.left_when.when", "05").Encode(),
		with(minimalForm(), "q.testimony", "\u1112\u1161\u11ab\u1100\u1173\u11af").Encode(),
		with(minimalForm(), "q.usb", "films", "q.usb", "films").Encode(),
		with(minimalForm(), "q.phone_years", "3").Encode(),
		"",
		"q.consent=yes&q.consent=yes",
		"q.unknown=1",
		"q.remark=%ff%fe",
		"q.testimony=a%00b",
		"q.left_year=2019&q.left_year.when=05",
		"q.left_when=2019-05&q.left_when.when=13",
		"q.nickname=" + url.QueryEscape(strings.Repeat("한", 11)),
		"q.consent=yes&q.left_year=2019&q.province=pyongyang&q.phone=yes&q.phone_uses=calls&q.phone_uses=texts&q.phone_uses=photos&q.phone_uses=intranet",
		"%zz=1",
		"q.consent=yes;q.phone=no",
	}
	return seeds
}

// FuzzFromForm feeds raw form bodies to FromForm. It never panics; a form
// it accepts holds only answers to relevant questions, normalized; and the
// response survives Marshal and Unmarshal with the same answers and the
// same problems.
func FuzzFromForm(f *testing.F) {
	for _, s := range formSeeds() {
		f.Add(s)
	}
	s := testStudy()
	f.Fuzz(func(t *testing.T, body string) { checkFromForm(t, s, "ko", body) })
}

// FuzzFromFormRich is FuzzFromForm on testdata/rich.yaml: sections, notes,
// decimals, exclusive choices, an optional consent, languages en, ko, ru.
func FuzzFromFormRich(f *testing.F) {
	s := richStudy(f)
	full := with(richForm(), "q.hours", "02.50", "q.tools", "computer", "q.tools", "none", "q.where", "work",
		"q.where_other", "한 공장", "q.constructor", "7", "q.price", "-10.5", "q.quote", "yes", "lang", "ru")
	for _, seed := range []string{
		richForm().Encode(), full.Encode(),
		set(richForm(), "q.online", "no").Encode(),
		set(richForm(), "q.intro_note", "x").Encode(),
		"q.hours=1e3&q.price=.5&q.constructor=-0",
		"q.tools=none&q.tools=dont_know&q.tools=phone",
		// Compound conditions and constraints.
		with(richForm(), "q.tools", "phone", "q.born", "1960", "q.left", "1990", "q.phone_years", "20").Encode(),
		with(richForm(), "q.tools", "phone", "q.born", "1960", "q.left", "1969", "q.phone_years", "19").Encode(),
		with(set(richForm(), "q.online", "no"), "q.hours", "1.5", "q.born", "1960", "q.left", "x").Encode(),
		with(richForm(), "q.where", "work", "q.where_other", "ab", "q.price", "0.1").Encode(),
		"q.online=yes&q.where=library&q.agree=yes&q.price=-0.25&q.tools=computer&q.tools=tablet&q.left=1990",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) { checkFromForm(t, s, "ru", body) })
}

// checkFromForm reads body with FromForm and checks what it makes of it.
func checkFromForm(t *testing.T, s *config.Study, lang, body string) {
	form, err := url.ParseQuery(body)
	if err != nil {
		return
	}
	{
		r, ps, err := FromForm(s, lang, form)
		if err != nil {
			if !errors.Is(err, ErrMalformedForm) {
				t.Fatalf("error %v does not wrap ErrMalformedForm", err)
			}
			if r != nil || ps != nil {
				t.Fatal("response returned with an error")
			}
			return
		}
		for id, vals := range r.Answers {
			q := s.Question(id)
			if q == nil {
				t.Fatalf("answer to unknown question %q", id)
			}
			if !Relevant(s, q, r.Answers) {
				t.Fatalf("answer to hidden question %q kept", id)
			}
			if len(vals) == 0 {
				t.Fatalf("empty answer to %q", id)
			}
			for _, v := range vals {
				if !utf8.ValidString(v) {
					t.Fatalf("answer to %q not UTF-8: %q", id, v)
				}
				isText := q.Type == config.ShortText || q.Type == config.LongText
				if isText && (strings.Contains(v, "\r") || !norm.NFC.IsNormalString(v) || strings.TrimSpace(v) == "") {
					t.Fatalf("text answer to %q not normalized: %q", id, v)
				}
			}
		}
		if p := Validate(s, r); !reflect.DeepEqual(p, ps) {
			t.Fatalf("Validate = %v; FromForm said %v", p, ps)
		}
		// A constraint problem is exactly a well-formed answer whose
		// constraint, read on the answers kept (to questions shown; a
		// constraint reads no later question), fails.
		for i := range s.Questions {
			q := &s.Questions[i]
			vals, answered := r.Answers[q.ID]
			wellFormed := false
			if answered {
				_, wellFormed = check(s, q, vals)
			}
			broken := answered && wellFormed && !q.Constraint.Accepts(q.ID, r.Answers)
			if got := ps[q.ID].Code == Constraint; got != broken {
				t.Fatalf("question %q: constraint problem %v, want %v (answers %q)", q.ID, got, broken, r.Answers)
			}
		}
		b, err := Marshal(s, r)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		got, err := Unmarshal(s, b)
		if ps == nil {
			if err != nil {
				t.Fatalf("Unmarshal(Marshal(FromForm)): %v\n%s", err, b)
			}
		} else {
			var ups Problems
			if !errors.As(err, &ups) || !reflect.DeepEqual(ups, ps) {
				t.Fatalf("Unmarshal problems = %v; FromForm said %v", err, ps)
			}
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\n%+v\n%+v", got, r)
		}
		for id, vals := range r.Answers {
			if q := s.Question(id); q.Type == config.Decimal && !config.IsCanonicalDecimal(vals[0]) && ps[id].Code != NotANumber {
				t.Fatalf("decimal answer to %q not canonical: %q", id, vals[0])
			}
		}
	}
}

// FuzzUnmarshal feeds plaintexts to Unmarshal. It never panics; what it
// reads (with or without problems) Marshal writes back to a plaintext that
// reads the same, with the same problems.
func FuzzUnmarshal(f *testing.F) {
	s := testStudy()
	for _, r := range []*Response{fullResponse(), {Study: s.ID, Language: "en", Answers: minimalAnswers()}} {
		b, err := Marshal(s, r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		`{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"ko","answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","testimony":"사서가 지켜봤다\n\"정말\""}}`,
		`{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"zh","answers":{"consent":"yes","left_year":"2019","phone":"yes","province":"pyongyang","phone_uses":["calls","intranet"],"intranet_where":["library"],"intranet_watch":"中文"}}`,
		`{"answers":{"consent":"yes"},"lang":"en","study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","v":3}`,
		`{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"ko","answers":{"phone_years":"3","usb":["music","films"],"remark":"\ud800"}}`,
		`{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"ko","answers":{}}` + "\n",
		`{"v":1,"v":1}`,
		`{"v":3,"study":"other","lang":"ko","answers":{}}`,
		`{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"ko","answers":{"usb":[]}}}`,
		`[1,2,3]`,
		`{"v":1e9999}`,
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkUnmarshal(t, s, data) })
}

// FuzzUnmarshalRich is FuzzUnmarshal on testdata/rich.yaml.
func FuzzUnmarshalRich(f *testing.F) {
	s := richStudy(f)
	r, _, err := FromForm(s, "ko", with(richForm(), "q.hours", "2.5", "q.tools", "phone", "q.where", "work", "q.where_other", "공장",
		"q.constructor", "7", "q.price", "-10.5", "q.quote", "yes"))
	if err != nil {
		f.Fatal(err)
	}
	pt, err := Marshal(s, r)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pt)
	v := `{"v":3,"study":"rich-study","version":"` + s.Version() + `","lang":"ru","answers":`
	for _, answers := range []string{
		`{"agree":"yes","online":"no","constructor":"3"}`,
		`{"agree":"yes","online":"yes","where":["nowhere","work"],"hours":"2.50"}`,
		`{"agree":"yes","intro_note":"x"}`,
		`{"agree":"yes","online":"yes","where":["library"],"tools":["none"],"quote":"no","price":"-0"}`,
	} {
		f.Add([]byte(v + answers + "}"))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkUnmarshal(t, s, data) })
}

// checkUnmarshal reads data with Unmarshal and checks that what it reads
// survives Marshal, and that Peek agrees.
func checkUnmarshal(t *testing.T, s *config.Study, data []byte) {
	{
		r, err := Unmarshal(s, data)
		var ps Problems
		if err != nil && !errors.As(err, &ps) {
			if r != nil {
				t.Fatal("response returned with a format error")
			}
			return
		}
		if r == nil {
			t.Fatal("no response and no format error")
		}
		b, err := Marshal(s, r)
		if err != nil {
			t.Fatalf("Marshal(Unmarshal(x)): %v", err)
		}
		r2, err := Unmarshal(s, b)
		var ps2 Problems
		if err != nil && !errors.As(err, &ps2) {
			t.Fatalf("Unmarshal(Marshal(Unmarshal(x))): %v\n%s", err, b)
		}
		if !reflect.DeepEqual(r2, r) || !reflect.DeepEqual(ps2, ps) {
			t.Fatalf("round trip:\n%+v %v\n%+v %v", r, ps, r2, ps2)
		}
		if b2, _ := Marshal(s, r2); string(b2) != string(b) {
			t.Fatalf("Marshal not stable:\n%s\n%s", b, b2)
		}
		if study, version, err := Peek(data); err != nil || study != s.ID || version != s.Version() {
			t.Fatalf("Peek = %q, %q, %v of a plaintext Unmarshal read", study, version, err)
		}
	}
}

// BenchmarkFromFormMarshal reads a typical 20-question form post and writes
// its plaintext, as the server does for each plain-form submission.
func BenchmarkFromFormMarshal(b *testing.B) {
	s := benchStudy()
	body := benchForm().Encode()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		form, err := url.ParseQuery(body)
		if err != nil {
			b.Fatal(err)
		}
		r, ps, err := FromForm(s, "ko", form)
		if err != nil || ps != nil {
			b.Fatal(ps, err)
		}
		if _, err := Marshal(s, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshal reads and checks the plaintext of a typical 20-question
// response, as the researcher does for each decrypted envelope.
func BenchmarkUnmarshal(b *testing.B) {
	s := benchStudy()
	r, _, err := FromForm(s, "ko", benchForm())
	if err != nil {
		b.Fatal(err)
	}
	data, err := Marshal(s, r)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(s, data); err != nil {
			b.Fatal(err)
		}
	}
}
