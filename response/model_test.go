package response

import (
	"errors"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
)

// richStudy is testdata/rich.yaml, loaded as the server loads a study:
// every feature of the model, in languages en (the default), ko and ru.
func richStudy(t testing.TB) *config.Study {
	t.Helper()
	data, err := os.ReadFile("testdata/rich.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := config.Parse("rich.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// richForm answers rich.yaml's required questions.
func richForm() url.Values {
	return url.Values{"q.online": {"yes"}, "q.where": {"library"}, "q.agree": {"yes"}}
}

func problemsOf(t *testing.T, s *config.Study, form url.Values) (map[string][]string, Problems) {
	t.Helper()
	r, ps, err := FromForm(s, "en", form)
	if err != nil {
		t.Fatalf("FromForm(%v): %v", form, err)
	}
	return r.Answers, ps
}

func TestDecimal(t *testing.T) {
	s := richStudy(t)
	for _, tt := range []struct {
		typed, stored string
		want          Problems
	}{
		{"2.5", "2.5", nil},
		{" 02.50 ", "2.5", nil},
		{".5", "0.5", nil},
		{"24.0", "24", nil},
		{"-0", "0", nil},
		{"2.55", "2.55", Problems{"hours": {Code: TooManyDecimals, Limit: "1"}}},
		{"24.1", "24.1", Problems{"hours": {Code: TooLarge, Limit: "24"}}},
		{"-0.1", "-0.1", Problems{"hours": {Code: TooSmall, Limit: "0"}}},
		{"2,5", "2,5", Problems{"hours": {Code: NotANumber}}},
		{"2e1", "2e1", Problems{"hours": {Code: NotANumber}}},
		{"٢", "٢", Problems{"hours": {Code: NotANumber}}},
		{"1234567890123456", "1234567890123456", Problems{"hours": {Code: NotANumber}}},
	} {
		answers, ps := problemsOf(t, s, set(richForm(), "q.hours", tt.typed))
		if !reflect.DeepEqual(ps, tt.want) || answers["hours"][0] != tt.stored {
			t.Errorf("hours %q: stored %q, problems %v; want %q, %v", tt.typed, answers["hours"], ps, tt.stored, tt.want)
		}
	}
	// Bounds are compared exactly, not as floating point.
	for price, want := range map[string]Problems{
		"1000.25": nil, "1000.25000000001": {"price": {Code: TooLarge, Limit: "1000.25"}},
		"-10.5": nil, "-10.500000000001": {"price": {Code: TooSmall, Limit: "-10.5"}},
	} {
		if _, ps := problemsOf(t, s, set(richForm(), "q.price", price)); !reflect.DeepEqual(ps, want) {
			t.Errorf("price %s: %v, want %v", price, ps, want)
		}
	}
	// The plaintext holds only canonical text: what a browser could not
	// have sent is refused, not silently canonicalized.
	for _, v := range []string{"2.50", "02.5", "+2", " 2", "2."} {
		r := &Response{Language: "en", Answers: map[string][]string{"online": {"no"}, "agree": {"yes"}, "hours": {v}}}
		if ps := Validate(s, r); !reflect.DeepEqual(ps, Problems{"hours": {Code: NotANumber}}) {
			t.Errorf("Validate(hours %q) = %v, want not_a_number", v, ps)
		}
	}
}

func TestExclusiveChoice(t *testing.T) {
	s := richStudy(t)
	for ticks, want := range map[string]Problems{
		"none":                  nil,
		"dont_know":             nil,
		"phone computer":        nil,
		"phone none":            {"tools": {Code: ExclusiveChoice}},
		"none dont_know":        {"tools": {Code: ExclusiveChoice}},
		"tablet phone none":     {"tools": {Code: ExclusiveChoice}}, // before too_many
		"phone computer tablet": {"tools": {Code: TooMany, Limit: "2"}},
	} {
		f := richForm()
		f["q.tools"] = strings.Fields(ticks)
		if _, ps := problemsOf(t, s, f); !reflect.DeepEqual(ps, want) {
			t.Errorf("tools %q: %v, want %v", ticks, ps, want)
		}
	}
}

func TestOptionalConsent(t *testing.T) {
	s := richStudy(t)
	for _, tt := range []struct {
		form url.Values
		want Problems
	}{
		{richForm(), nil}, // quote left unticked: sent
		{set(richForm(), "q.quote", "yes"), nil},
		{without(richForm(), "q.agree"), Problems{"agree": {Code: ConsentMissing}}},
		{set(richForm(), "q.agree", "no"), Problems{"agree": {Code: ConsentMissing}}},
		{set(richForm(), "q.quote", "no"), Problems{"quote": {Code: NotAChoice}}},
	} {
		if _, ps := problemsOf(t, s, tt.form); !reflect.DeepEqual(ps, tt.want) {
			t.Errorf("%v: %v, want %v", tt.form, ps, tt.want)
		}
	}
}

func TestSectionsAndNotes(t *testing.T) {
	s := richStudy(t)
	// The section "internet" is shown only to those online: its answers
	// are dropped otherwise, and refused in a plaintext.
	answers, ps := problemsOf(t, s, set(set(richForm(), "q.online", "no"), "q.constructor", "3"))
	if ps != nil || answers["where"] != nil || answers["constructor"] != nil {
		t.Errorf("hidden section: answers %v, problems %v", answers, ps)
	}
	r := &Response{Language: "en", Answers: map[string][]string{"online": {"no"}, "agree": {"yes"}, "constructor": {"3"}}}
	if ps := Validate(s, r); !reflect.DeepEqual(ps, Problems{"constructor": {Code: NotRelevant}}) {
		t.Errorf("Validate with an answer in a hidden section = %v", ps)
	}
	// Shown, its required question is required.
	if _, ps := problemsOf(t, s, without(richForm(), "q.where")); !reflect.DeepEqual(ps, Problems{"where": {Code: Required}}) {
		t.Errorf("shown section without its required answer: %v", ps)
	}
	// A condition reads only answers to questions shown: where_other
	// depends on where, in the section.
	shown := Shown(s, map[string][]string{"online": {"no"}, "where": {"work"}, "tools": {"computer"}})
	want := map[string]bool{"intro_note": true, "hours": true, "tools": true, "online": true, "internet_note": false, "where": false,
		"where_other": false, "constructor": false, "price": true, "quote": true, "agree": true}
	for i, q := range s.Questions {
		if shown[i] != want[q.ID] {
			t.Errorf("Shown: %s = %v, want %v", q.ID, shown[i], want[q.ID])
		}
		if Relevant(s, &s.Questions[i], map[string][]string{"online": {"no"}, "where": {"work"}, "tools": {"computer"}}) != shown[i] {
			t.Errorf("Relevant(%s) disagrees with Shown", q.ID)
		}
	}
	// Notes take no answer, on either path.
	if _, _, err := FromForm(s, "en", set(richForm(), "q.intro_note", "x")); !errors.Is(err, ErrMalformedForm) {
		t.Errorf("FromForm with an answer to a note: %v, want ErrMalformedForm", err)
	}
	r = &Response{Language: "en", Answers: map[string][]string{"online": {"no"}, "agree": {"yes"}, "intro_note": {"x"}}}
	if ps := Validate(s, r); !reflect.DeepEqual(ps, Problems{"intro_note": {Code: Unknown}}) {
		t.Errorf("Validate with an answer to a note = %v", ps)
	}
	pt := `{"v":3,"study":"rich-study","version":"` + s.Version() + `","lang":"en","answers":{"agree":"yes","intro_note":"x","online":"no"}}`
	if _, err := Unmarshal(s, []byte(pt)); err == nil || !strings.Contains(err.Error(), "note") {
		t.Errorf("Unmarshal of an answer to a note: %v", err)
	}
}

func TestStudyLanguages(t *testing.T) {
	s := richStudy(t)
	for _, lang := range []string{"en", "ko", "ru"} {
		r, ps, err := FromForm(s, lang, richForm())
		if err != nil || ps != nil {
			t.Fatalf("FromForm(%s): %v %v", lang, ps, err)
		}
		pt, err := Marshal(s, r)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Unmarshal(s, pt); err != nil || got.Language != lang {
			t.Errorf("Unmarshal(%s) = %v, %v", pt, got, err)
		}
	}
	// zh is a chrome language, not one of this study's.
	if _, _, err := FromForm(s, "zh", richForm()); !errors.Is(err, ErrMalformedForm) {
		t.Errorf("FromForm(zh) = %v, want ErrMalformedForm", err)
	}
	pt := `{"v":3,"study":"rich-study","version":"` + s.Version() + `","lang":"zh","answers":{"agree":"yes","online":"no"}}`
	if _, err := Unmarshal(s, []byte(pt)); err == nil || !strings.Contains(err.Error(), `language "zh"`) {
		t.Errorf("Unmarshal in zh = %v", err)
	}
	if _, err := Marshal(s, &Response{Language: "zh", Answers: map[string][]string{}}); err == nil {
		t.Error("Marshal in a language the study lacks succeeded")
	}
}

func TestVersions(t *testing.T) {
	s := richStudy(t)
	r, _, err := FromForm(s, "en", richForm())
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != s.Version() {
		t.Errorf("FromForm: Version = %q, want the study's", r.Version)
	}
	pt, err := Marshal(s, r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(pt), `{"v":3,"study":"rich-study","version":"`+s.Version()+`","lang":"en","answers":{`) {
		t.Errorf("plaintext %s", pt)
	}
	study, version, err := Peek(pt)
	if err != nil || study != s.ID || version != s.Version() {
		t.Errorf("Peek = %q, %q, %v", study, version, err)
	}
	if _, _, err := Peek([]byte(`{"v":1,"study":"rich-study","lang":"en","answers":{}}`)); err == nil {
		t.Error("Peek read a version 1 plaintext")
	}

	// Another version of the same study: its plaintexts are not read as
	// answers to this one, and this one's responses are not written as its.
	other, err := config.Parse("other.yaml", append(mustRead(t, "testdata/rich.yaml"), "\n# revised\n"...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unmarshal(other, pt); err == nil || !strings.Contains(err.Error(), "version "+s.ShortVersion()) {
		t.Errorf("Unmarshal against another version = %v", err)
	}
	if _, err := Marshal(other, r); err == nil {
		t.Error("Marshal of a response to another version succeeded")
	}
	if _, err := Marshal(s, &Response{Study: "other-study", Language: "en"}); err == nil {
		t.Error("Marshal of a response to another study succeeded")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
