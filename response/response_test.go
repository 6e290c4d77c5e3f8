package response

import (
	"errors"
	"fmt"
	"golang.org/x/text/unicode/norm"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/config"
)

func answers(extra ...any) map[string][]string {
	a := minimalAnswers()
	for i := 0; i < len(extra); i += 2 {
		switch v := extra[i+1].(type) {
		case string:
			a[extra[i].(string)] = []string{v}
		case []string:
			a[extra[i].(string)] = v
		case nil:
			delete(a, extra[i].(string))
		}
	}
	return a
}

// TestValidate covers answers that a form post cannot produce but a
// plaintext sealed by a browser can.
func TestValidate(t *testing.T) {
	s := testStudy()
	phoneYes := []any{"phone", "yes", "phone_uses", []string{"calls"}}
	tests := []struct {
		name    string
		answers map[string][]string
		want    Problems
	}{
		{"minimal", answers(), nil},
		{"no answers", map[string][]string{}, Problems{
			"consent": {Code: ConsentMissing}, "left_year": {Code: Required},
			"province": {Code: Required}, "phone": {Code: Required}}},
		{"nil answers", nil, Problems{
			"consent": {Code: ConsentMissing}, "left_year": {Code: Required},
			"province": {Code: Required}, "phone": {Code: Required}}},
		{"empty values are unanswered", answers("age", []string{}, "usb", []string{}), nil},
		{"empty required", answers("province", []string{}), Problems{"province": {Code: Required}}},
		{"unknown question", answers("colour", "blue"), Problems{"colour": {Code: Unknown}}},
		{"two values", answers("province", []string{"ryanggang", "pyongyang"}), Problems{"province": {Code: TooMany, Limit: "1"}}},
		{"two consents", answers("consent", []string{"yes", "yes"}), Problems{"consent": {Code: TooMany, Limit: "1"}}},
		{"consent empty string", answers("consent", ""), Problems{"consent": {Code: ConsentMissing}}},
		{"single empty string", answers("province", ""), Problems{"province": {Code: NotAChoice}}},
		{"single spaced", answers("province", " ryanggang"), Problems{"province": {Code: NotAChoice}}},
		{"year spaced", answers("left_year", "2019 "), Problems{"left_year": {Code: NotANumber}}},

		// text that FromForm would have normalized or dropped
		{"text CR", answers("testimony", "a\r\nb"), Problems{"testimony": {Code: BadCharacters}}},
		{"text not NFC", answers("testimony", "e\u0301"), Problems{"testimony": {Code: BadCharacters}}},
		{"text blank", answers("testimony", " \n\t"), Problems{"testimony": {Code: Required}}},
		{"text empty", answers("remark", ""), Problems{"remark": {Code: Required}}},
		{"text NUL", answers("remark", "\x00"), Problems{"remark": {Code: BadCharacters}}},
		{"text U+FFFD", answers("remark", "\ufffd"), Problems{"remark": {Code: BadCharacters}}},
		{"short text LF", answers("remark", "a\nb"), Problems{"remark": {Code: NotOneLine}}},
		{"long text LF and tab", answers("testimony", "a\n\tb"), nil},

		// multi_choice order and duplicates
		{"multi in order", answers("usb", []string{"films", "music"}), nil},
		{"multi out of order", answers("usb", []string{"music", "films"}), Problems{"usb": {Code: NotAChoice}}},
		{"multi duplicate", answers("usb", []string{"films", "films"}), Problems{"usb": {Code: NotAChoice}}},
		{"multi empty value", answers("usb", []string{""}), Problems{"usb": {Code: NotAChoice}}},
		{"multi too many", answers(append(phoneYes, "phone_uses", []string{"calls", "texts", "photos", "intranet"})...),
			Problems{"phone_uses": {Code: TooMany, Limit: "3"}}},

		// date_approx
		{"date", answers("left_when", "2019-spring"), nil},
		{"date month", answers("left_when", "2019-11"), nil},
		{"date trailing dash", answers("left_when", "2019-"), Problems{"left_when": {Code: BadDate}}},
		{"date two parts", answers("left_when", "2019-05-spring"), Problems{"left_when": {Code: BadDate}}},
		{"date day", answers("left_when", "2019-05-01"), Problems{"left_when": {Code: BadDate}}},
		{"date month without year", answers("left_when", "-05"), Problems{"left_when": {Code: BadDate}}},
		{"date leading zero year", answers("left_when", "0999"), Problems{"left_when": {Code: BadDate}}},
		{"date spaced", answers("left_when", "2019 -05"), Problems{"left_when": {Code: BadDate}}},

		// relevance
		{"follow-up while hidden", answers("phone_years", "3"), Problems{"phone_years": {Code: NotRelevant}}},
		{"follow-up with parent unanswered", answers("phone", nil, "phone_years", "3"),
			Problems{"phone": {Code: Required}, "phone_years": {Code: NotRelevant}}},
		{"chain hidden at root", answers("phone_uses", []string{"intranet"}, "intranet_where", []string{"library"}, "intranet_watch", "x"),
			Problems{"phone_uses": {Code: NotRelevant}, "intranet_where": {Code: NotRelevant}, "intranet_watch": {Code: NotRelevant}}},
		{"chain hidden at step 2", answers(append(phoneYes, "intranet_where", []string{"library"}, "intranet_watch", "x")...),
			Problems{"intranet_where": {Code: NotRelevant}, "intranet_watch": {Code: NotRelevant}}},
		{"chain hidden at step 3", answers(append(phoneYes, "phone_uses", []string{"intranet"}, "intranet_where", []string{"work"}, "intranet_watch", "x")...),
			Problems{"intranet_watch": {Code: NotRelevant}}},
		{"chain shown", answers(append(phoneYes, "phone_uses", []string{"intranet"}, "intranet_where", []string{"library"}, "intranet_watch", "x")...), nil},
		// The condition holds through the chain even if the parent's
		// answer has a problem: the problem is the parent's alone.
		{"chain through bad parent", answers(append(phoneYes, "phone_uses", []string{"intranet", "calls"}, "intranet_where", []string{"library"})...),
			Problems{"phone_uses": {Code: NotAChoice}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Response{Study: s.ID, Language: "ko", Answers: tt.answers}
			if got := Validate(s, r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestValidateMultiChoiceMin(t *testing.T) {
	s := testStudy()
	q := s.Question("usb")
	q.Min, q.Max = intp(2), intp(2)
	for _, tt := range []struct {
		vals []string
		want Problems
	}{
		{nil, nil}, // optional: unanswered is no problem
		{[]string{"films"}, Problems{"usb": {Code: TooFew, Limit: "2"}}},
		{[]string{"films", "music"}, nil},
		{[]string{"films", "dramas", "music"}, Problems{"usb": {Code: TooMany, Limit: "2"}}},
	} {
		a := answers()
		if tt.vals != nil {
			a["usb"] = tt.vals
		}
		if got := Validate(s, &Response{Study: s.ID, Language: "ko", Answers: a}); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: Validate = %v; want %v", tt.vals, got, tt.want)
		}
	}
	q.Required = true
	if got := Validate(s, &Response{Study: s.ID, Language: "ko", Answers: answers()}); !reflect.DeepEqual(got, Problems{"usb": {Code: Required}}) {
		t.Errorf("required, unanswered: Validate = %v", got)
	}
}

func TestValidateYearBounds(t *testing.T) {
	s := testStudy()
	q := s.Question("left_year")
	q.Min, q.Max = intp(2000), intp(2010)
	for v, want := range map[string]Problems{
		"1999": {"left_year": {Code: TooSmall, Limit: "2000"}},
		"2000": nil,
		"2010": nil,
		"2011": {"left_year": {Code: TooLarge, Limit: "2010"}},
	} {
		if got := Validate(s, &Response{Study: s.ID, Language: "ko", Answers: answers("left_year", v)}); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Validate = %v; want %v", v, got, want)
		}
	}
	lo, hi := Bounds(s.Question("left_when"))
	if lo != "1900" || hi != fmt.Sprint(time.Now().UTC().Year()+1) {
		t.Errorf("Bounds(date_approx) = %s, %s; want 1900, next year", lo, hi)
	}
	if lo, hi := Bounds(s.Question("age")); lo != "" || hi != "" {
		t.Errorf("Bounds(unbounded integer) = %q, %q; want none", lo, hi)
	}
}

// TestRelevantLoop checks that a loop of conditions (which Load rejects)
// does not hang.
func TestRelevantLoop(t *testing.T) {
	s := &config.Study{ID: "loop", Questions: []config.Question{
		{ID: "a", Type: config.SingleChoice, Choices: choices("x", "y"), Relevant: when("b", "x")},
		{ID: "b", Type: config.SingleChoice, Choices: choices("x", "y"), Relevant: when("a", "x")},
		{ID: "c", Type: config.SingleChoice, Choices: choices("x", "y"), Relevant: when("c", "x")},
	}}
	a := map[string][]string{"a": {"x"}, "b": {"x"}, "c": {"x"}}
	for i := range s.Questions {
		if Relevant(s, &s.Questions[i], a) {
			t.Errorf("question %q in a loop is relevant", s.Questions[i].ID)
		}
	}
	if _, _, err := FromForm(s, "ko", mapToForm(a)); err != nil {
		t.Fatal(err)
	}
}

func mapToForm(a map[string][]string) map[string][]string {
	f := map[string][]string{}
	for k, v := range a {
		f[FieldPrefix+k] = v
	}
	return f
}

func TestMaxLength(t *testing.T) {
	s := testStudy()
	for id, want := range map[string]int{"nickname": 10, "remark": 200, "testimony": 300, "intranet_watch": 50} {
		if got := s.Question(id).MaxLen(s); got != want {
			t.Errorf("MaxLength(%s) = %d; want %d", id, got, want)
		}
	}
	s.Limits.MaxTextLength = 0
	if got := s.Question("testimony").MaxLen(s); got != config.DefaultMaxTextLength {
		t.Errorf("MaxLength with default limit = %d; want %d", got, config.DefaultMaxTextLength)
	}
	s.Limits.MaxTextLength = 100
	if got := s.Question("remark").MaxLen(s); got != 100 {
		t.Errorf("MaxLength(short_text) under a limit of 100 = %d; want 100", got)
	}
}

// fullResponse answers every question of testStudy, with tricky text.
func fullResponse() *Response {
	return &Response{Study: "test-study", Version: testStudy().Version(), Language: "zh", Answers: answers(
		"left_when", "2019-spring",
		"phone", "yes",
		"phone_years", "0",
		"phone_uses", []string{"calls", "intranet"},
		"intranet_where", []string{"home", "library"},
		"intranet_watch", "사서가 \"뒤에서\" 봤다,\n5분마다 😀",
		"nickname", "김석한",
		"remark", "<b>&amp;</b> \\ \u2028 '",
		"testimony", "第一行\n\t두 번째 줄, \"인용\"\n\n👨‍👩‍👧 end",
		"age", "-12",
		"usb", []string{"films", "dramas", "music"},
	)}
}

func TestMarshalRoundTrip(t *testing.T) {
	s := testStudy()
	for _, r := range []*Response{fullResponse(), {Study: s.ID, Version: s.Version(), Language: "en", Answers: minimalAnswers()}} {
		if ps := Validate(s, r); ps != nil {
			t.Fatalf("test response has problems: %v", ps)
		}
		b, err := Marshal(s, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(s, b)
		if err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip = %+v; want %+v", got, r)
		}
		b2, err := Marshal(s, got)
		if err != nil || string(b2) != string(b) {
			t.Errorf("Marshal is not deterministic:\n%s\n%s", b, b2)
		}
	}
}

// TestMarshalFormat pins the exact bytes, which the browser must produce
// too: members in this order, answers sorted by id, no HTML escaping, no
// trailing newline.
func TestMarshalFormat(t *testing.T) {
	s := testStudy()
	r := &Response{Study: s.ID, Language: "ko", Answers: map[string][]string{
		"usb": {"films", "music"}, "remark": {"<a&b> \"q\" 한"}, "consent": {"yes"}, "left_when": {"2019-05"},
		"age": {}, // empty: unanswered
	}}
	b, err := Marshal(s, r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"ko","answers":{"consent":"yes","left_when":"2019-05","remark":"<a&b> \"q\" 한","usb":["films","music"]}}`
	if string(b) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", b, want)
	}
	if _, err := Marshal(s, &Response{Study: s.ID, Language: "ko", Answers: map[string][]string{"province": {"a", "b"}}}); err == nil {
		t.Errorf("Marshal of two values for a single_choice question succeeded")
	}
	_, err = Marshal(s, &Response{Study: s.ID, Language: "ko", Answers: map[string][]string{"remark": {"SECRET\xff"}}})
	if err == nil {
		t.Errorf("Marshal of text that is not UTF-8 succeeded")
	} else if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("Marshal error %q contains the answer", err)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	s := testStudy()
	good := `{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"ko","answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang"}}`
	if _, err := Unmarshal(s, []byte(good)); err != nil {
		t.Fatalf("good plaintext: %v", err)
	}
	ans := `"answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang"}`
	ver := `"version":"0000000000000000000000000000000000000000000000000000000000000000",`
	head := `{"v":3,"study":"test-study",` + ver + `"lang":"ko",`
	tests := []struct {
		name string
		in   string
		want string // in the error
	}{
		{"empty", ``, "malformed"},
		{"white space", "  \n", "malformed"},
		{"null", `null`, "malformed"},
		{"array", `[]`, "malformed"},
		{"string", `"v"`, "malformed"},
		{"empty object", `{}`, "missing"},
		{"truncated", good[:len(good)-1], "malformed"},
		{"truncated in answers", good[:60], "malformed"},
		{"trailing object", good + `{}`, "after"},
		{"trailing brace", good + `}`, "after"},
		{"trailing bracket", good + `]`, "after"},
		{"trailing text", good + ` x`, "after"},
		{"trailing NUL", good + "\x00", "after"},
		{"unknown member", head + ans + `,"time":"2024-01-01"}`, "unknown member"},
		{"member case", `{"V":2,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "unknown member"},
		{"member case study", `{"v":3,"Study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "unknown member"},
		{"duplicate member", head + `"v":3,` + ans + `}`, "repeated"},
		{"duplicate study", head + `"study":"other",` + ans + `}`, "repeated"},
		{"duplicate version", head + ver + ans + `}`, "repeated"},
		{"duplicate answer", head + `"answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","province":"pyongyang"}}`, "twice"},
		{"missing v", `{"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "missing"},
		{"missing study", `{"v":3,` + ver + `"lang":"ko",` + ans + `}`, "missing"},
		{"missing version", `{"v":3,"study":"test-study","lang":"ko",` + ans + `}`, `missing member "version"`},
		{"missing lang", `{"v":3,"study":"test-study",` + ver + ans + `}`, "missing"},
		{"missing answers", `{"v":3,"study":"test-study",` + ver + `"lang":"ko"}`, "missing"},
		{"version 1", `{"v":1,"study":"test-study","lang":"ko",` + ans + `}`, "missing member"},
		{"version 1 with version", `{"v":1,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "version 1"},
		{"version 2", `{"v":2,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "version 2"},
		{"version 4", `{"v":4,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "version 4"},
		{"return empty", head + `"return":"",` + ans + `}`, `member "return"`},
		{"return number", head + `"return":1,` + ans + `}`, `member "return"`},
		{"return not an address", head + `"return":"testimony-return-abc",` + ans + `}`, `member "return"`},
		{"return a public key", head + `"return":"testimony-pub-aaaa",` + ans + `}`, `member "return"`},
		{"a message", head + `"kind":"addition",` + ans + `}`, "message on a thread"},
		{"thread in a testimony", head + `"thread":"x",` + ans + `}`, `member "thread"`},
		{"sig in a testimony", head + `"sig":"x",` + ans + `}`, `member "sig"`},
		{"reply in a testimony", head + `"reply":"x",` + ans + `}`, `member "reply"`},
		{"version 0", `{"v":0,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "version 0"},
		{"version 2.0", `{"v":3.0,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "whole number"},
		{"version 2e0", `{"v":3e0,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "whole number"},
		{"version -1", `{"v":-1,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "version -1"},
		{"version huge", `{"v":1e999,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "whole number"},
		{"version string", `{"v":"2","study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "want a number"},
		{"version null", `{"v":null,"study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "want a number"},
		{"wrong study", `{"v":3,"study":"other-study",` + ver + `"lang":"ko",` + ans + `}`, `for study "other-study"`},
		{"study number", `{"v":3,"study":1,` + ver + `"lang":"ko",` + ans + `}`, "malformed"},
		{"study null", `{"v":3,"study":null,` + ver + `"lang":"ko",` + ans + `}`, "malformed"},
		{"other study version", `{"v":3,"study":"test-study","version":"` + strings.Repeat("ab", 32) + `","lang":"ko",` + ans + `}`, "version abababababab of the study, not 000000000000"},
		{"version upper case", `{"v":3,"study":"test-study","version":"` + strings.Repeat("AB", 32) + `","lang":"ko",` + ans + `}`, "64 lowercase hex"},
		{"version short", `{"v":3,"study":"test-study","version":"` + strings.Repeat("0", 63) + `","lang":"ko",` + ans + `}`, "64 lowercase hex"},
		{"version number", `{"v":3,"study":"test-study","version":0,"lang":"ko",` + ans + `}`, "malformed"},
		{"unknown language", `{"v":3,"study":"test-study",` + ver + `"lang":"fr",` + ans + `}`, "language"},
		{"empty language", `{"v":3,"study":"test-study",` + ver + `"lang":"",` + ans + `}`, "language"},
		{"answers null", head + `"answers":null}`, "malformed"},
		{"answers array", head + `"answers":[]}`, "malformed"},
		{"answer number", head + `"answers":{"consent":"yes","left_year":2019,"phone":"no","province":"ryanggang"}}`, "want a string"},
		{"answer null", head + `"answers":{"consent":"yes","left_year":null,"phone":"no","province":"ryanggang"}}`, "want a string"},
		{"answer bool", head + `"answers":{"consent":true,"left_year":"2019","phone":"no","province":"ryanggang"}}`, "want a string"},
		{"answer object", head + `"answers":{"consent":{},"left_year":"2019","phone":"no","province":"ryanggang"}}`, "object"},
		{"answer array for single", head + `"answers":{"consent":"yes","left_year":"2019","phone":"no","province":["ryanggang"]}}`, "not an array"},
		{"answer string for multi", head + `"answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","usb":"films"}}`, "array"},
		{"answer empty array", head + `"answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","usb":[]}}`, "empty array"},
		{"answer array with null", head + `"answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","usb":["films",null]}}`, "array of strings"},
		{"answer nested array", head + `"answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","usb":[["films"]]}}`, "array of strings"},
		{"unknown question", head + `"answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","colour":"blue"}}`, "unknown question"},
		{"not UTF-8", head + `"answers":{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","remark":"caf` + "\xe9" + `"}}`, "UTF-8"},
		{"missing comma", `{"v":3 "study":"test-study",` + ver + `"lang":"ko",` + ans + `}`, "malformed"},
		{"trailing comma", head + ans + `,}`, "malformed"},
		{"single quotes", `{'v':1}`, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Unmarshal(s, []byte(tt.in))
			if err == nil {
				t.Fatalf("Unmarshal accepted %q", tt.in)
			}
			var ps Problems
			if errors.As(err, &ps) {
				t.Fatalf("Unmarshal(%q) = problems %v; want a format error", tt.in, ps)
			}
			if r != nil {
				t.Errorf("Unmarshal returned a response with a format error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q; want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestUnmarshalWhiteSpace accepts the JSON white space another encoder
// may write.
func TestUnmarshalWhiteSpace(t *testing.T) {
	s := testStudy()
	in := "{\n  \"answers\": {\"province\": \"ryanggang\", \"phone\": \"no\", \"left_year\": \"2019\", \"consent\": \"yes\"},\n  \"lang\": \"ko\", \"study\": \"test-study\", \"v\": 3,\n  \"version\": \"0000000000000000000000000000000000000000000000000000000000000000\"\n}\n"
	r, err := Unmarshal(s, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Answers, minimalAnswers()) {
		t.Errorf("answers = %v", r.Answers)
	}
	// Escapes decode as JSON says.
	in = `{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"ko","answers":{"consent":"y\u0065s","left_year":"2019","phone":"no","province":"ryanggang","remark":"\ud55c\/\"","testimony":"a\nb"}}`
	r, err = Unmarshal(s, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if r.Answers["remark"][0] != `한/"` || r.Answers["testimony"][0] != "a\nb" {
		t.Errorf("answers = %q", r.Answers)
	}
}

// TestUnmarshalProblems: a well-formed plaintext whose answers break the
// rules comes back with the problems, for the researcher's quarantine.
func TestUnmarshalProblems(t *testing.T) {
	s := testStudy()
	tests := []struct {
		name    string
		answers string
		want    Problems
	}{
		{"consent missing", `{"left_year":"2019","phone":"no","province":"ryanggang"}`, Problems{"consent": {Code: ConsentMissing}}},
		{"lone surrogate", `{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","remark":"\ud800"}`, Problems{"remark": {Code: BadCharacters}}},
		{"control", `{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","remark":"\u0007"}`, Problems{"remark": {Code: BadCharacters}}},
		{"not relevant", `{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","phone_years":"3"}`, Problems{"phone_years": {Code: NotRelevant}}},
		{"too long", `{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","nickname":"` + strings.Repeat("😀", 11) + `"}`, Problems{"nickname": {Code: TooLong, Limit: "10"}}},
		{"empty choice", `{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","usb":[""]}`, Problems{"usb": {Code: NotAChoice}}},
		{"unordered", `{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","usb":["music","films"]}`, Problems{"usb": {Code: NotAChoice}}},
		{"bad date", `{"consent":"yes","left_year":"2019","phone":"no","province":"ryanggang","left_when":"2019-13"}`, Problems{"left_when": {Code: BadDate}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := `{"v":3,"study":"test-study","version":"0000000000000000000000000000000000000000000000000000000000000000","lang":"en","answers":` + tt.answers + `}`
			r, err := Unmarshal(s, []byte(in))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Unmarshal error = %v; want Problems", err)
			}
			if !reflect.DeepEqual(ps, tt.want) {
				t.Errorf("problems = %v; want %v", ps, tt.want)
			}
			if r == nil || r.Study != s.ID || r.Language != "en" {
				t.Fatalf("response = %+v; want it returned with the problems", r)
			}
		})
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{"b": {Code: TooLong, Limit: "10"}, "a": {Code: Required}}
	if got, want := ps.Error(), `question "a": required; question "b": too_long (10)`; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

// TestFromFormRoundTrip sends the form a page with every answer filled in
// would send, and checks it survives Marshal and Unmarshal unchanged.
func TestFromFormRoundTrip(t *testing.T) {
	s := benchStudy()
	r, ps, err := FromForm(s, "ko", benchForm())
	if err != nil || ps != nil {
		t.Fatalf("FromForm = %v, %v", ps, err)
	}
	if got, want := r.Answers["phone_uses"], []string{"calls", "texts", "dictionary", "intranet"}; !reflect.DeepEqual(got, want) {
		t.Errorf("phone_uses = %q; want %q", got, want)
	}
	if got := r.Answers["usb_since"]; !reflect.DeepEqual(got, []string{"2015-08"}) {
		t.Errorf("usb_since = %q", got)
	}
	if len(r.Answers) != 20 {
		t.Errorf("%d answers; want 20", len(r.Answers))
	}
	b, err := Marshal(s, r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\r") || strings.Contains(string(b), "csrf") {
		t.Errorf("plaintext holds a CR or a field that is not an answer: %s", b)
	}
	got, err := Unmarshal(s, b)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got.Answers, r.Answers, func(a, b []string) bool { return reflect.DeepEqual(a, b) }) {
		t.Errorf("round trip changed the answers")
	}
}

// TestIsNFCAgreesWithNorm checks the fast path against the full check on
// text at the edges of its ranges.
func TestIsNFCAgreesWithNorm(t *testing.T) {
	for _, s := range []string{
		"", "plain ASCII", "도서관 관리원", "中文，标点。", "ㄱㄴㄷ", "ＡＢＣ",
		"가\u11a8",      // syllable + conjoining final jamo: composes
		"\u1100\u1161", // conjoining jamo: composes
		"e\u0301",      // combining accent
		"\u3000\u3029\u302a", "\u212b", "Å", "\uac00\u302e",
	} {
		if got, want := isNFC(s), norm.NFC.IsNormalString(s); got != want {
			t.Errorf("isNFC(%q) = %v, norm says %v", s, got, want)
		}
	}
}

func FuzzIsNFC(f *testing.F) {
	f.Add("도서관 관리원 中文 abc")
	f.Add("가\u11a8")
	f.Fuzz(func(t *testing.T, s string) {
		if isNFC(s) != norm.NFC.IsNormalString(s) {
			t.Fatalf("isNFC(%q) disagrees with norm", s)
		}
	})
}
