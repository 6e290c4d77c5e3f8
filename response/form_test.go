package response

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFromFormMinimal(t *testing.T) {
	s := testStudy()
	r, ps := mustFromForm(t, s, with(minimalForm(), "lang", "en", "submit", "보내기"))
	if ps != nil {
		t.Fatalf("problems: %v", ps)
	}
	if r.Study != s.ID || r.Language != "ko" {
		t.Errorf("Study, Language = %q, %q; want %q, %q", r.Study, r.Language, s.ID, "ko")
	}
	if !reflect.DeepEqual(r.Answers, minimalAnswers()) {
		t.Errorf("answers = %v; want %v", r.Answers, minimalAnswers())
	}
}

func TestFromFormLanguages(t *testing.T) {
	s := testStudy()
	for _, lang := range []string{"ko", "en", "zh"} {
		r, ps, err := FromForm(s, lang, minimalForm())
		if err != nil || ps != nil {
			t.Fatalf("FromForm(%q) = %v, %v", lang, ps, err)
		}
		if r.Language != lang {
			t.Errorf("Language = %q; want %q", r.Language, lang)
		}
	}
	for _, lang := range []string{"", "KO", "fr", "ko-KR", "en ", "kr"} {
		_, _, err := FromForm(s, lang, minimalForm())
		if !errors.Is(err, ErrMalformedForm) {
			t.Errorf("FromForm(lang %q) error = %v; want ErrMalformedForm", lang, err)
		}
	}
}

// TestFromFormAnswers checks what each kind of answer becomes, for answers
// with no problems.
func TestFromFormAnswers(t *testing.T) {
	s := testStudy()
	tests := []struct {
		name  string
		form  url.Values
		field string // question id
		want  []string
	}{
		{"year trimmed", set(minimalForm(), "q.left_year", " 2019 "), "left_year", []string{"2019"}},
		{"year lowest", set(minimalForm(), "q.left_year", "1900"), "left_year", []string{"1900"}},
		{"date year", with(minimalForm(), "q.left_when", "2019"), "left_when", []string{"2019"}},
		{"date month", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "05"), "left_when", []string{"2019-05"}},
		{"date january", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "01"), "left_when", []string{"2019-01"}},
		{"date december", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "12"), "left_when", []string{"2019-12"}},
		{"date season", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "spring"), "left_when", []string{"2019-spring"}},
		{"date winter", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "winter"), "left_when", []string{"2019-winter"}},
		{"date empty when", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", ""), "left_when", []string{"2019"}},
		{"date empty", with(minimalForm(), "q.left_when", "", "q.left_when.when", ""), "left_when", nil},
		{"integer negative", with(minimalForm(), "q.age", "-3"), "age", []string{"-3"}},
		{"integer zero", with(minimalForm(), "q.age", "0"), "age", []string{"0"}},
		{"integer big unbounded", with(minimalForm(), "q.age", "999999999"), "age", []string{"999999999"}},
		{"integer empty", with(minimalForm(), "q.age", ""), "age", nil},
		{"integer blank", with(minimalForm(), "q.age", "  "), "age", nil},
		{"short text Korean", with(minimalForm(), "q.remark", "김 씨"), "remark", []string{"김 씨"}},
		{"short text keeps inner and outer spaces", with(minimalForm(), "q.remark", " a  b "), "remark", []string{" a  b "}},
		{"short text tab", with(minimalForm(), "q.remark", "a\tb"), "remark", []string{"a\tb"}},
		{"short text blank", with(minimalForm(), "q.remark", " \t "), "remark", nil},
		{"short text ideographic space", with(minimalForm(), "q.remark", "\u3000"), "remark", nil},
		{"long text CRLF", with(minimalForm(), "q.testimony", "하나\r\n둘\r\n"), "testimony", []string{"하나\n둘\n"}},
		{"long text CR", with(minimalForm(), "q.testimony", "하나\r둘"), "testimony", []string{"하나\n둘"}},
		{"long text CRCRLF", with(minimalForm(), "q.testimony", "a\r\r\nb"), "testimony", []string{"a\n\nb"}},
		{"long text blank lines", with(minimalForm(), "q.testimony", "\r\n\r\n"), "testimony", nil},
		{"long text quotes commas", with(minimalForm(), "q.testimony", `"a", 'b'; <c> & d`), "testimony", []string{`"a", 'b'; <c> & d`}},
		{"long text NFC", with(minimalForm(), "q.testimony", "\u1112\u1161\u11ab"), "testimony", []string{"한"}},
		{"long text NFC e acute", with(minimalForm(), "q.testimony", "e\u0301"), "testimony", []string{"é"}},
		{"multi empty values ignored", with(minimalForm(), "q.usb", "", "q.usb", "music", "q.usb", ""), "usb", []string{"music"}},
		{"multi only empty", with(minimalForm(), "q.usb", ""), "usb", nil},
		{"multi order", with(minimalForm(), "q.usb", "music", "q.usb", "films", "q.usb", "dramas"), "usb", []string{"films", "dramas", "music"}},
		{"multi all", with(minimalForm(), "q.usb", "dramas", "q.usb", "music", "q.usb", "films"), "usb", []string{"films", "dramas", "music"}},
		{"single trimmed", set(minimalForm(), "q.province", " pyongyang\n"), "province", []string{"pyongyang"}},
		{"consent trimmed", set(minimalForm(), "q.consent", "yes "), "consent", []string{"yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ps := mustFromForm(t, s, tt.form)
			if ps != nil {
				t.Fatalf("problems: %v", ps)
			}
			got, ok := r.Answers[tt.field]
			if tt.want == nil {
				if ok {
					t.Fatalf("answer %q = %q; want none", tt.field, got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("answer %q = %q; want %q", tt.field, got, tt.want)
			}
		})
	}
}

// TestFromFormProblems checks that each bad answer is reported, with the
// right code and limit, against its question only.
func TestFromFormProblems(t *testing.T) {
	s := testStudy()
	nextYear := strconv.Itoa(time.Now().UTC().Year() + 1)
	afterNext := strconv.Itoa(time.Now().UTC().Year() + 2)
	phoneYes := set(minimalForm(), "q.phone", "yes")
	tests := []struct {
		name string
		form url.Values
		want Problems // nil: no problem
	}{
		// required and consent
		{"consent missing", without(minimalForm(), "q.consent"), Problems{"consent": {Code: ConsentMissing}}},
		{"consent empty", set(minimalForm(), "q.consent", ""), Problems{"consent": {Code: ConsentMissing}}},
		{"consent no", set(minimalForm(), "q.consent", "no"), Problems{"consent": {Code: ConsentMissing}}},
		{"consent on", set(minimalForm(), "q.consent", "on"), Problems{"consent": {Code: ConsentMissing}}},
		{"consent YES", set(minimalForm(), "q.consent", "YES"), Problems{"consent": {Code: ConsentMissing}}},
		{"required year missing", without(minimalForm(), "q.left_year"), Problems{"left_year": {Code: Required}}},
		{"required year blank", set(minimalForm(), "q.left_year", " "), Problems{"left_year": {Code: Required}}},
		{"required choice missing", without(minimalForm(), "q.province"), Problems{"province": {Code: Required}}},
		{"everything missing", url.Values{}, Problems{
			"consent": {Code: ConsentMissing}, "left_year": {Code: Required},
			"province": {Code: Required}, "phone": {Code: Required}}},
		{"required follow-up", phoneYes, Problems{"phone_uses": {Code: Required}}},

		// year
		{"year too small", set(minimalForm(), "q.left_year", "1899"), Problems{"left_year": {Code: TooSmall, Limit: "1900"}}},
		{"year next", set(minimalForm(), "q.left_year", nextYear), nil},
		{"year too large", set(minimalForm(), "q.left_year", afterNext), Problems{"left_year": {Code: TooLarge, Limit: fmt.Sprint(time.Now().UTC().Year() + 1)}}},
		{"year text", set(minimalForm(), "q.left_year", "작년"), Problems{"left_year": {Code: NotANumber}}},
		{"year leading zero", set(minimalForm(), "q.left_year", "02019"), Problems{"left_year": {Code: NotANumber}}},
		{"year negative", set(minimalForm(), "q.left_year", "-2019"), Problems{"left_year": {Code: NotANumber}}},
		{"year plus", set(minimalForm(), "q.left_year", "+2019"), Problems{"left_year": {Code: NotANumber}}},
		{"year decimal", set(minimalForm(), "q.left_year", "2019.0"), Problems{"left_year": {Code: NotANumber}}},
		{"year fullwidth", set(minimalForm(), "q.left_year", "２０１９"), Problems{"left_year": {Code: NotANumber}}},
		{"year inner space", set(minimalForm(), "q.left_year", "20 19"), Problems{"left_year": {Code: NotANumber}}},
		{"year huge", set(minimalForm(), "q.left_year", "99999999999999999999"), Problems{"left_year": {Code: NotANumber}}},

		// integer
		{"integer min", with(phoneYes, "q.phone_uses", "calls", "q.phone_years", "0"), nil},
		{"integer max", with(phoneYes, "q.phone_uses", "calls", "q.phone_years", "50"), nil},
		{"integer above max", with(phoneYes, "q.phone_uses", "calls", "q.phone_years", "51"), Problems{"phone_years": {Code: TooLarge, Limit: "50"}}},
		{"integer below min", with(phoneYes, "q.phone_uses", "calls", "q.phone_years", "-1"), Problems{"phone_years": {Code: TooSmall, Limit: "0"}}},
		{"integer minus zero", with(minimalForm(), "q.age", "-0"), Problems{"age": {Code: NotANumber}}},
		{"integer minus", with(minimalForm(), "q.age", "-"), Problems{"age": {Code: NotANumber}}},
		{"integer leading zero", with(minimalForm(), "q.age", "07"), Problems{"age": {Code: NotANumber}}},
		{"integer hex", with(minimalForm(), "q.age", "0x10"), Problems{"age": {Code: NotANumber}}},
		{"integer exponent", with(minimalForm(), "q.age", "1e3"), Problems{"age": {Code: NotANumber}}},
		{"integer too many digits", with(minimalForm(), "q.age", "1234567890"), Problems{"age": {Code: NotANumber}}},

		// date_approx
		{"date bad month 13", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "13"), Problems{"left_when": {Code: BadDate}}},
		{"date bad month 00", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "00"), Problems{"left_when": {Code: BadDate}}},
		{"date month one digit", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "5"), Problems{"left_when": {Code: BadDate}}},
		{"date season capital", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "Spring"), Problems{"left_when": {Code: BadDate}}},
		{"date fall", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "fall"), Problems{"left_when": {Code: BadDate}}},
		{"date month without year", with(minimalForm(), "q.left_when.when", "05"), Problems{"left_when": {Code: BadDate}}},
		{"date season without year", with(minimalForm(), "q.left_when", " ", "q.left_when.when", "winter"), Problems{"left_when": {Code: BadDate}}},
		{"date two digit year", with(minimalForm(), "q.left_when", "19"), Problems{"left_when": {Code: BadDate}}},
		{"date five digit year", with(minimalForm(), "q.left_when", "20190"), Problems{"left_when": {Code: BadDate}}},
		{"date year text", with(minimalForm(), "q.left_when", "봄"), Problems{"left_when": {Code: BadDate}}},
		{"date year with month", with(minimalForm(), "q.left_when", "2019-05", "q.left_when.when", "spring"), Problems{"left_when": {Code: BadDate}}},
		{"date too early", with(minimalForm(), "q.left_when", "1899", "q.left_when.when", "05"), Problems{"left_when": {Code: TooSmall, Limit: "1900"}}},
		{"date too late", with(minimalForm(), "q.left_when", afterNext), Problems{"left_when": {Code: TooLarge, Limit: fmt.Sprint(time.Now().UTC().Year() + 1)}}},

		// choices
		{"single not a choice", set(minimalForm(), "q.province", "seoul"), Problems{"province": {Code: NotAChoice}}},
		{"single case", set(minimalForm(), "q.province", "Ryanggang"), Problems{"province": {Code: NotAChoice}}},
		{"single two choices in one", set(minimalForm(), "q.province", "ryanggang pyongyang"), Problems{"province": {Code: NotAChoice}}},
		{"multi not a choice", with(minimalForm(), "q.usb", "films", "q.usb", "games"), Problems{"usb": {Code: NotAChoice}}},
		{"multi too few", with(phoneYes, "q.phone_uses", ""), Problems{"phone_uses": {Code: Required}}},
		{"multi max", with(phoneYes, "q.phone_uses", "calls", "q.phone_uses", "texts", "q.phone_uses", "photos"), nil},
		{"multi too many", with(phoneYes, "q.phone_uses", "calls", "q.phone_uses", "texts", "q.phone_uses", "photos", "q.phone_uses", "intranet"),
			Problems{"phone_uses": {Code: TooMany, Limit: "3"}}},

		// text
		{"short text newline", with(minimalForm(), "q.remark", "a\r\nb"), Problems{"remark": {Code: NotOneLine}}},
		{"short text NUL", with(minimalForm(), "q.remark", "a\x00b"), Problems{"remark": {Code: BadCharacters}}},
		{"long text escape", with(minimalForm(), "q.testimony", "a\x1b[31mb"), Problems{"testimony": {Code: BadCharacters}}},
		{"long text DEL", with(minimalForm(), "q.testimony", "a\x7fb"), Problems{"testimony": {Code: BadCharacters}}},
		{"long text C1", with(minimalForm(), "q.testimony", "a\u0085b"), Problems{"testimony": {Code: BadCharacters}}},
		{"long text vertical tab", with(minimalForm(), "q.testimony", "a\vb"), Problems{"testimony": {Code: BadCharacters}}},
		{"long text replacement char", with(minimalForm(), "q.testimony", "a\ufffdb"), Problems{"testimony": {Code: BadCharacters}}},
		{"text too long", with(minimalForm(), "q.nickname", "12345678901"), Problems{"nickname": {Code: TooLong, Limit: "10"}}},
		{"default short max", with(minimalForm(), "q.remark", strings.Repeat("가", 201)), Problems{"remark": {Code: TooLong, Limit: "200"}}},
		{"study long max", with(minimalForm(), "q.testimony", strings.Repeat("가", 301)), Problems{"testimony": {Code: TooLong, Limit: "300"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := mustFromForm(t, s, tt.form)
			if !reflect.DeepEqual(ps, tt.want) {
				t.Errorf("problems = %v; want %v", ps, tt.want)
			}
		})
	}
}

// TestTextLengthInCharacters checks that max length counts characters
// (code points) after normalization, not bytes or UTF-16 units.
func TestTextLengthInCharacters(t *testing.T) {
	s := testStudy() // nickname: 10, remark: 200, testimony: 300 (study limit)
	for _, tt := range []struct {
		field string
		unit  string
		max   int
	}{
		{"nickname", "한", 10},
		{"nickname", "中", 10},
		{"nickname", "😀", 10},
		{"nickname", "a", 10},
		{"remark", "평", 200},
		{"testimony", "😀", 300},
		{"testimony", "\n", 300},
		{"intranet_watch", "감", 50},
	} {
		base := with(minimalForm(), "q.phone", "yes", "q.phone_uses", "intranet", "q.intranet_where", "library")
		base = set(base, "q.phone", "yes")
		// "x" first so that "\n" repeated is not blank.
		exact := "x" + strings.Repeat(tt.unit, tt.max-1)
		r, ps := mustFromForm(t, s, set(base, "q."+tt.field, exact))
		if ps != nil {
			t.Errorf("%s: %d × %q: problems %v", tt.field, tt.max, tt.unit, ps)
		} else if r.Answers[tt.field][0] != exact {
			t.Errorf("%s: answer changed", tt.field)
		}
		_, ps = mustFromForm(t, s, set(base, "q."+tt.field, exact+tt.unit))
		want := Problems{tt.field: {Code: TooLong, Limit: fmt.Sprint(tt.max)}}
		if !reflect.DeepEqual(ps, want) {
			t.Errorf("%s: %d × %q: problems %v; want %v", tt.field, tt.max+1, tt.unit, ps, want)
		}
	}

	// CRLF counts as one character once normalized; decomposed Hangul
	// (three jamo) counts as the one syllable it composes.
	_, ps := mustFromForm(t, s, with(minimalForm(), "q.testimony", "x"+strings.Repeat("\r\n", 299)))
	if ps != nil {
		t.Errorf("299 CRLF: problems %v", ps)
	}
	jamo := "\u1112\u1161\u11ab" // 한, decomposed
	r, ps := mustFromForm(t, s, with(minimalForm(), "q.nickname", strings.Repeat(jamo, 10)))
	if ps != nil {
		t.Errorf("10 decomposed syllables: problems %v", ps)
	} else if got := r.Answers["nickname"][0]; got != strings.Repeat("한", 10) {
		t.Errorf("nickname = %q; want NFC", got)
	}
}

func TestNormalizeText(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"a\r\nb":                   "a\nb",
		"a\rb":                     "a\nb",
		"a\n\rb":                   "a\n\nb",
		"\r\n\r\n":                 "\n\n",
		"\u1100\u1161":             "가",
		"\u1112\u1161\u11ab\uAE00": "한글",
		"e\u0301\r\n":              "é\n",
		"👨‍👩‍👧":                    "👨‍👩‍👧",
		"\u212b":                   "\u00c5", // angstrom sign → Å
	} {
		if got := NormalizeText(in); got != want {
			t.Errorf("NormalizeText(%q) = %q; want %q", in, got, want)
		}
		if got := NormalizeText(want); got != want {
			t.Errorf("NormalizeText(%q) = %q; not idempotent", want, got)
		}
	}
}

func TestFromFormMultiChoiceDuplicate(t *testing.T) {
	s := testStudy()
	_, _, err := FromForm(s, "ko", with(minimalForm(), "q.usb", "films", "q.usb", "music", "q.usb", "films"))
	if !errors.Is(err, ErrMalformedForm) {
		t.Fatalf("error = %v; want ErrMalformedForm", err)
	}
	if strings.Contains(err.Error(), "films") {
		t.Errorf("error %q repeats the answer", err)
	}
}

func TestFromFormMalformed(t *testing.T) {
	s := testStudy()
	tests := []struct {
		name string
		form url.Values
	}{
		{"unknown question", with(minimalForm(), "q.colour", "blue")},
		{"unknown empty question", with(minimalForm(), "q.", "x")},
		{"case", with(minimalForm(), "q.Province", "ryanggang")},
		{"when of a year", with(minimalForm(), "q.left_year.when", "05")},
		{"when of a choice", with(minimalForm(), "q.province.when", "05")},
		{"when of nothing", with(minimalForm(), "q.nothing.when", "05")},
		{"when when", with(minimalForm(), "q.left_when.when.when", "05")},
		{"repeated single choice", with(minimalForm(), "q.province", "pyongyang")},
		{"repeated consent", with(minimalForm(), "q.consent", "yes")},
		{"repeated year", with(minimalForm(), "q.left_year", "2019")},
		{"repeated empty year", with(minimalForm(), "q.age", "", "q.age", "")},
		{"repeated text", with(minimalForm(), "q.remark", "a", "q.remark", "b")},
		{"repeated date", with(minimalForm(), "q.left_when", "2019", "q.left_when", "2018")},
		{"repeated when", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "05", "q.left_when.when", "06")},
		{"multi too many fields", with(minimalForm(), "q.usb", "", "q.usb", "", "q.usb", "", "q.usb", "", "q.usb", "")},
		{"multi duplicate", with(minimalForm(), "q.usb", "music", "q.usb", "music")},
		{"non-UTF-8 text", with(minimalForm(), "q.testimony", "\xed\xa0\x80")},
		{"non-UTF-8 short text", with(minimalForm(), "q.remark", "caf\xe9")},
		{"non-UTF-8 when", with(minimalForm(), "q.left_when", "2019", "q.left_when.when", "\xff")},
		{"non-UTF-8 choice", with(minimalForm(), "q.usb", "films", "q.usb", "\xc0\xaf")},
		{"non-UTF-8 name", with(minimalForm(), "q.\xff", "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ps, err := FromForm(s, "ko", tt.form)
			if !errors.Is(err, ErrMalformedForm) {
				t.Fatalf("FromForm = %v, %v, %v; want ErrMalformedForm", r, ps, err)
			}
			if r != nil || ps != nil {
				t.Errorf("FromForm returned a response with the error")
			}
		})
	}
}

// TestFromFormMultiChoiceFieldCount allows the page's hidden empty field
// next to every choice being ticked.
func TestFromFormMultiChoiceFieldCount(t *testing.T) {
	s := testStudy()
	_, ps := mustFromForm(t, s, with(minimalForm(), "q.usb", "", "q.usb", "music", "q.usb", "dramas", "q.usb", "films"))
	if ps != nil {
		t.Errorf("problems: %v", ps)
	}
}

func TestFromFormRelevance(t *testing.T) {
	s := testStudy()
	full := with(minimalForm(),
		"q.phone_years", "7",
		"q.phone_uses", "intranet", "q.phone_uses", "calls",
		"q.intranet_where", "library",
		"q.intranet_watch", "사서가 지켜봄")
	tests := []struct {
		name    string
		phone   string
		uses    []string
		where   []string
		want    []string // follow-ups kept
		missing Problems
	}{
		{"phone no: all follow-ups dropped", "no", nil, nil, nil, nil},
		{"phone unanswered: all follow-ups dropped", "", nil, nil, nil, Problems{"phone": {Code: Required}}},
		{"phone bad: all follow-ups dropped", "maybe", nil, nil, nil, Problems{"phone": {Code: NotAChoice}}},
		{"chain complete", "yes", nil, nil, []string{"phone_years", "phone_uses", "intranet_where", "intranet_watch"}, nil},
		{"chain broken at step 2", "yes", []string{"calls"}, nil, []string{"phone_years", "phone_uses"}, nil},
		{"chain broken at step 3", "yes", nil, []string{"home"}, []string{"phone_years", "phone_uses", "intranet_where"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := with(full)
			if tt.phone == "" {
				delete(form, "q.phone")
			} else {
				form["q.phone"] = []string{tt.phone}
			}
			if tt.uses != nil {
				form["q.phone_uses"] = tt.uses
			}
			if tt.where != nil {
				form["q.intranet_where"] = tt.where
			}
			r, ps := mustFromForm(t, s, form)
			if !reflect.DeepEqual(ps, tt.missing) {
				t.Errorf("problems = %v; want %v", ps, tt.missing)
			}
			for _, id := range []string{"phone_years", "phone_uses", "intranet_where", "intranet_watch"} {
				_, got := r.Answers[id]
				want := strings.Contains(" "+strings.Join(tt.want, " ")+" ", " "+id+" ")
				if got != want {
					t.Errorf("answer %q kept = %v; want %v", id, got, want)
				}
			}
		})
	}

	// A dropped answer is not checked: a bad answer to a hidden question
	// is no problem.
	_, ps := mustFromForm(t, s, with(minimalForm(), "q.phone_years", "9999", "q.intranet_watch", strings.Repeat("x", 1000)))
	if ps != nil {
		t.Errorf("hidden bad answers: problems %v", ps)
	}
	// A hidden required question is not required.
	_, ps = mustFromForm(t, s, minimalForm())
	if ps != nil {
		t.Errorf("hidden required question: problems %v", ps)
	}
}

// TestFromFormProblemsKeepAnswers checks that a form with problems still
// returns every answer, so the page can show them again.
func TestFromFormProblemsKeepAnswers(t *testing.T) {
	s := testStudy()
	form := with(without(minimalForm(), "q.consent"), "q.testimony", "증언\r\n입니다", "q.nickname", "이름이 너무 깁니다 정말로")
	r, ps := mustFromForm(t, s, form)
	want := Problems{"consent": {Code: ConsentMissing}, "nickname": {Code: TooLong, Limit: "10"}}
	if !reflect.DeepEqual(ps, want) {
		t.Errorf("problems = %v; want %v", ps, want)
	}
	if r.Answers["testimony"][0] != "증언\n입니다" || r.Answers["nickname"][0] != "이름이 너무 깁니다 정말로" {
		t.Errorf("answers not kept: %v", r.Answers)
	}
}

// TestErrorsCarryNoAnswers: errors and problems may be logged on the
// server, so they never contain an answer.
func TestErrorsCarryNoAnswers(t *testing.T) {
	s := testStudy()
	const marker = "MARKER비밀증언"
	forms := []url.Values{
		with(minimalForm(), "q.remark", marker+"\n"),
		with(minimalForm(), "q.nickname", marker),
		set(minimalForm(), "q.province", marker),
		set(minimalForm(), "q.left_year", marker),
		with(minimalForm(), "q.left_when", marker, "q.left_when.when", marker),
		with(minimalForm(), "q.usb", marker, "q.usb", marker),
		with(minimalForm(), "q.remark", marker, "q.remark", marker),
		with(minimalForm(), "q.testimony", marker+"\xff"),
		with(minimalForm(), "q.testimony", marker+"\x00"),
	}
	for _, form := range forms {
		_, ps, err := FromForm(s, "ko", form)
		if err != nil && strings.Contains(err.Error(), "MARKER") {
			t.Errorf("error %q contains the answer", err)
		}
		if ps != nil && strings.Contains(ps.Error(), "MARKER") {
			t.Errorf("problems %q contain the answer", ps)
		}
		for _, p := range ps {
			if strings.Contains(p.String(), "MARKER") {
				t.Errorf("problem %q contains the answer", p)
			}
		}
	}
}
