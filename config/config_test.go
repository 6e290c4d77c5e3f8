package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/testimony-project/testimony/crypto/envelope"
)

const examplePath = "../examples/nk-internet-access.yaml"

var update = flag.Bool("update", false, "rewrite the # want: lines of testdata/broken/*.yaml")

func TestLoadExample(t *testing.T) {
	s, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if s.SHA256 != sha256.Sum256(data) {
		t.Errorf("SHA256 is not the hash of the file")
	}
	if s.ID != "nk-internet-2026" {
		t.Errorf("ID = %q", s.ID)
	}
	// Short enough for people at risk, over Tor.
	answerable := 0
	for i := range s.Questions {
		if s.Questions[i].Answerable() {
			answerable++
		}
	}
	if answerable < 15 || answerable > 24 {
		t.Errorf("%d questions, want 15 to 24", answerable)
	}
	if !reflect.DeepEqual(s.Languages, []string{"ko", "en", "zh"}) {
		t.Errorf("languages %v, want Korean first, then English and Chinese", s.Languages)
	}
	keys, err := s.RecipientKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Equal(keys[1]) {
		t.Errorf("want two distinct recipient keys, got %d", len(keys))
	}

	// The questions the study is about, with the types the issue asks for.
	for id, typ := range map[string]QuestionType{
		"departure_year":      Year,
		"departure_province":  SingleChoice,
		"phone_use":           SingleChoice,
		"intranet_use":        SingleChoice,
		"internet_use":        SingleChoice,
		"internet_where":      MultiChoice,
		"access_approval":     MultiChoice,
		"approval_time":       SingleChoice,
		"monitoring_seen":     MultiChoice,
		"foreign_media":       SingleChoice,
		"internet_first_used": DateApprox,
		"testimony":           LongText,
		"consent":             Consent,
	} {
		q := s.Question(id)
		if q == nil {
			t.Errorf("no question %q", id)
			continue
		}
		if q.Type != typ {
			t.Errorf("question %q is %s, want %s", id, q.Type, typ)
		}
	}
	if q := s.Question("consent"); q == nil || !q.Required {
		t.Errorf("consent question is not required")
	}
	// What the model offers, where this study's researchers want it: an
	// optional permission to quote, "none of these" that cannot be ticked
	// with another answer, a note, a section with a condition, a decimal.
	if q := s.Question("quote_consent"); q == nil || q.Type != Consent || q.Required {
		t.Errorf("no optional quote_consent question")
	}
	for _, qc := range [][2]string{{"phone_monitoring", "none"}, {"monitoring_seen", "none"}, {"media_crackdown", "none"}, {"access_approval", "dont_know"}} {
		if q := s.Question(qc[0]); q == nil || q.Choice(qc[1]) == nil || !q.Choice(qc[1]).Exclusive {
			t.Errorf("%s: choice %s is not exclusive", qc[0], qc[1])
		}
	}
	if q := s.Question("internet_inside_note"); q == nil || q.Type != Note {
		t.Errorf("no note internet_inside_note")
	}
	if sec := s.SectionOf("access_approval"); sec == nil || !slices.Equal(sec.Relevant.Refs(), []string{"internet_use"}) {
		t.Errorf("access_approval is not in a section shown for internet use inside the country")
	}
	if q := s.Question("phone_hours"); q == nil || q.Type != Decimal || q.Decimals != 1 {
		t.Errorf("no decimal phone_hours with one digit after the point")
	}
	if q := s.Question("monitoring_seen"); q != nil {
		for _, v := range []string{"supervisor_beside", "screen_freeze_fingerprint", "auto_screenshots", "security_officer", "logs_checked"} {
			if q.Choice(v) == nil {
				t.Errorf("monitoring_seen has no choice %q", v)
			}
		}
	}
	if q := s.Question("internet_where"); q != nil && q.Choice("academy_of_sciences") == nil {
		t.Errorf("internet_where has no choice academy_of_sciences")
	}
	if q := s.Question("testimony"); q != nil {
		if !strings.Contains(q.Help.In("ko"), "이름") || !strings.Contains(q.Help.In("en"), "names") || !strings.Contains(q.Help.In("zh"), "人名") {
			t.Errorf("testimony help does not ask to leave out names: %+v", q.Help)
		}
	}
}

// TestExampleInEveryLanguage walks every Text of the example by reflection,
// independently of Parse's own check, and fails if any is missing a
// language.
func TestExampleInEveryLanguage(t *testing.T) {
	s, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	walkTexts(reflect.ValueOf(s).Elem(), "study", func(path string, txt Text) {
		n++
		if txt.IsZero() && (strings.HasSuffix(path, ".Help") || strings.HasSuffix(path, ".ConstraintMessage")) {
			return
		}
		for _, lang := range s.Languages {
			if v, _ := txt.Lookup(lang); strings.TrimSpace(v) == "" {
				t.Errorf("%s: no %s text", path, lang)
			}
		}
	})
	if n < 100 {
		t.Errorf("walked only %d texts; the walk is broken", n)
	}
}

func walkTexts(v reflect.Value, path string, f func(string, Text)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkTexts(v.Elem(), path, f)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkTexts(v.Index(i), fmt.Sprintf("%s[%d]", path, i), f)
		}
	case reflect.Struct:
		if t, ok := v.Interface().(Text); ok {
			f(path, t)
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walkTexts(v.Field(i), path+"."+v.Type().Field(i).Name, f)
			}
		}
	}
}

// TestExampleWording checks that the Korean uses the words and spellings
// of the North, which is what its readers know.
func TestExampleWording(t *testing.T) {
	s, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var ko strings.Builder
	walkTexts(reflect.ValueOf(s).Elem(), "study", func(_ string, txt Text) {
		v, _ := txt.Lookup("ko")
		ko.WriteString(v + "\n")
	})
	all := ko.String()
	for _, w := range []string{"손전화", "콤퓨터", "인터네트", "광명망", "량강도", "라선시", "평양시", "함경북도", "자강도", "황해남도"} {
		if !strings.Contains(all, w) {
			t.Errorf("Korean text never uses %q", w)
		}
	}
	for _, w := range []string{"휴대폰", "핸드폰", "컴퓨터", "인터넷", "양강도", "나선시", "네트워크", "숫자", "서버"} {
		if strings.Contains(all, w) {
			t.Errorf("Korean text uses the South Korean %q", w)
		}
	}
}

// TestBroken loads every file in testdata/broken and compares the error,
// line by line, with the file's "# want: " comments. Run with -update to
// rewrite them after checking the new messages by eye.
func TestBroken(t *testing.T) {
	files, err := filepath.Glob("testdata/broken/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("found %d broken study files: %v", len(files), err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := Load(path)
			if err == nil {
				t.Fatalf("loaded %+v, want an error", s)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
			}
			for _, e := range es {
				if e.File != path {
					t.Errorf("error names file %q, want %q", e.File, path)
				}
				if e.Problem == "" || strings.Contains(e.Problem, "\n") {
					t.Errorf("problem %q is empty or not one line", e.Problem)
				}
			}
			got := strings.Split(err.Error(), "\n")
			data, _ := os.ReadFile(path)
			if *update {
				writeWants(t, path, data, got)
				return
			}
			var want []string
			for line := range strings.SplitSeq(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want = append(want, w)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func writeWants(t *testing.T, path string, data []byte, got []string) {
	var b bytes.Buffer
	for line := range strings.SplitSeq(strings.TrimRight(string(data), "\n"), "\n") {
		if !strings.HasPrefix(line, "# want: ") {
			b.WriteString(line + "\n")
		}
	}
	for _, g := range got {
		b.WriteString("# want: " + g + "\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEveryProblemAtOnce checks that problems in different parts of a file
// are all reported, in file order, and reachable with errors.As.
func TestEveryProblemAtOnce(t *testing.T) {
	src := strings.NewReplacer(
		"id: min-study", "id: X",
		"name: Researcher", "name: \"\"",
		"label: {ko: 동의합니다, en: I agree, zh: 我同意}", "label: {ko: 동의합니다, en: I agree}",
	).Replace(readFile(t, "testdata/minimal.yaml"))
	_, err := Parse("study.yaml", []byte(src))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %v, want Errors", err)
	}
	var fields []string
	for _, e := range es {
		fields = append(fields, e.Question+"|"+e.Field)
	}
	want := []string{"|id", "|recipients[0].name", "consent|label.zh"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("problems in %q, want %q:\n%v", fields, want, err)
	}
	var one *Error
	if !errors.As(err, &one) || one.Field != "id" || one.Line != 2 {
		t.Errorf("errors.As found %+v, want the id problem on line 2", one)
	}
}

func TestParseInput(t *testing.T) {
	minimal := []byte(readFile(t, "testdata/minimal.yaml"))
	for _, tt := range []struct {
		name string
		data []byte
		want string // "" for success
	}{
		{"minimal", minimal, ""},
		{"byte order mark", append([]byte("\uFEFF"), minimal...), ""},
		{"CRLF", bytes.ReplaceAll(minimal, []byte("\n"), []byte("\r\n")), ""},
		{"not UTF-8", bytes.Replace(minimal, []byte("Survey"), []byte("Surv\xffey"), 1), "f:3:25: the file is not valid UTF-8; save it as UTF-8 text"},
		{"too large", append(minimal, bytes.Repeat([]byte("#"), MaxFileSize)...), "f: the file is larger than 1048576 bytes"},
		{"empty", nil, "f: the file is empty"},
		{"white space", []byte(" \n\t\n"), "f: the file is empty"},
		{"scalar", []byte("hello"), "f:1:1: the file must be a mapping of fields"},
		{"deep", []byte("id: " + strings.Repeat("[", 40) + strings.Repeat("]", 40)), "nested too deeply"},
		{"NUL in text", bytes.Replace(minimal, []byte("Survey"), []byte(`"Sur\0vey"`), 1), `f:3:17: title.en: holds the control character U+0000`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("f", tt.data)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want == "":
				if s.SHA256 != sha256.Sum256(tt.data) {
					t.Error("SHA256 is not the hash of the bytes given")
				}
			case err == nil:
				t.Fatalf("no error, want %q", tt.want)
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := Load(missing); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# x\n"), MaxFileSize/4+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), big+": the file is larger than") {
		t.Errorf("Load(big) = %v, want a size error naming the file", err)
	}
}

func TestDefaults(t *testing.T) {
	s, err := Load("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Limits != (Limits{}) {
		t.Errorf("Limits = %+v, want the zero value kept", s.Limits)
	}
	if got := s.MaxSubmissionBytes(); got != DefaultMaxSubmissionBytes {
		t.Errorf("MaxSubmissionBytes() = %d", got)
	}
	if got := s.MaxTextLength(); got != DefaultMaxTextLength {
		t.Errorf("MaxTextLength() = %d", got)
	}
	if !s.Questions[0].Required {
		t.Errorf("consent question written without required is not Required")
	}

	s, err = Load("testdata/every-type.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxSubmissionBytes() != 1<<20 || s.MaxTextLength() != 20000 {
		t.Errorf("limits = %d, %d; want the file's", s.MaxSubmissionBytes(), s.MaxTextLength())
	}
	now := time.Date(2026, 12, 31, 23, 0, 0, 0, time.FixedZone("KST", 9*3600)) // 2027 in Seoul, 2026 in UTC
	for id, want := range map[string][3]int{                                   // max length, range low, range high
		"agree": {0, 0, 0},
		"one":   {0, 0, 0},
		"many":  {0, 1, 2},
		"short": {50, 0, 0},
		"long":  {20000, 0, 0},
		"born":  {0, 1930, 2010},
		"count": {0, -5, math.MaxInt},
		"when":  {0, DefaultMinYear, 2027},
	} {
		q := s.Question(id)
		lo, hi := q.Range(now)
		if got := [3]int{q.MaxLen(s), lo, hi}; got != want {
			t.Errorf("question %q: MaxLen, Range = %v, want %v", id, got, want)
		}
	}
	s.Limits.MaxTextLength = 100
	if got := s.Question("short").MaxLen(s); got != 50 {
		t.Errorf("short_text with max_length 50: MaxLen = %d", got)
	}
	s.Question("short").MaxLength = 0
	if got := s.Question("short").MaxLen(s); got != 100 {
		t.Errorf("short_text under max_text_length 100: MaxLen = %d, want 100", got)
	}
	s.Limits.MaxTextLength = 0
	if got := s.Question("short").MaxLen(s); got != DefaultShortTextLength {
		t.Errorf("short_text: MaxLen = %d, want %d", got, DefaultShortTextLength)
	}
	if s.Question("nope") != nil || s.Question("one").Choice("c") != nil || s.Question("one").Choice("a") == nil {
		t.Error("Question or Choice finds what is not there, or misses what is")
	}
}

func TestRecipientKeys(t *testing.T) {
	s, err := Load("testdata/every-type.yaml")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.RecipientKeys()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range s.Recipients {
		if keys[i].String() != r.PublicKey {
			t.Errorf("key %d = %s, want %s", i, keys[i], r.PublicKey)
		}
	}
	// The keys are usable: Seal takes them in the study's order.
	if _, err := envelope.Seal(s.ID, []byte("x"), keys); err != nil {
		t.Errorf("cannot seal to the study's keys: %v", err)
	}
	s.Recipients[1].PublicKey = "testimony-pub-bad"
	if _, err := s.RecipientKeys(); err == nil || !strings.Contains(err.Error(), `recipient "Researcher 2"`) {
		t.Errorf("RecipientKeys with a bad key = %v, want an error naming the recipient", err)
	}
}

// TestSealFitsLimit checks the promise of Limits.MaxSubmissionBytes: a
// valid study's envelope holding every text answer at its longest, in
// four-byte characters, fits.
func TestSealFitsLimit(t *testing.T) {
	for _, path := range []string{examplePath, "testdata/every-type.yaml", "testdata/minimal.yaml"} {
		s, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for i := range s.Questions {
			n += s.Questions[i].MaxLen(s)
		}
		keys, err := s.RecipientKeys()
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Seal(s.ID, []byte(strings.Repeat("😀", n)), keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(env) > s.MaxSubmissionBytes() {
			t.Errorf("%s: envelope of %d bytes exceeds max_submission_bytes %d", path, len(env), s.MaxSubmissionBytes())
		}
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseWithin parses data, failing t (so the fuzzer keeps the input) if
// that takes longer than d: a study file must never hang the loader.
func parseWithin(t *testing.T, data []byte, d time.Duration) (*Study, error) {
	type result struct {
		s   *Study
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Parse("fuzz.yaml", data)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-time.After(d):
		t.Fatalf("Parse took over %v on %q", d, data)
		return nil, nil
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	broken, _ := filepath.Glob("testdata/broken/*.yaml")
	for _, path := range append(append(seeds, broken...), examplePath) {
		f.Add([]byte(readFile(f, path)))
	}
	// Small studies whose conditions the fuzzer can reach quickly.
	minimal := readFile(f, "testdata/minimal.yaml")
	for _, conds := range []string{
		`relevant: "${consent} = 'yes'"`,
		`relevant: ${a} >= 18 and (selected(${b}, 'x') or count-selected(${b}) = 2)`,
		`relevant: not(${a} - 1 div 3 mod 2 = -.5) or ${c} != ''`,
		`constraint: . >= ${a} + 10 or ${a} = ''`,
		`constraint: string-length(.) < 3 and int(number(${a})) = 7`,
		`constraint: "selected(${b}, 'y')"`,
	} {
		f.Add([]byte(minimal + `  - {id: a, type: integer, label: {ko: 가, en: A, zh: 甲}}
  - id: b
    type: multi_choice
    label: {ko: 나, en: B, zh: 乙}
    choices: [{value: x, label: {ko: 엑스, en: X, zh: 甲}}, {value: "y", label: {ko: 와이, en: "Y", zh: 乙}}]
  - {id: c, type: short_text, label: {ko: 다, en: C, zh: 丙}}
  - id: d
    type: integer
    ` + conds + `
    label: {ko: 라, en: D, zh: 丁}
`))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseWithin(t, data, 5*time.Second)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 || len(es) > maxErrors+1 {
				t.Fatalf("error is not a bounded, non-empty Errors: %v", err)
			}
			for _, e := range es {
				if e.File != "fuzz.yaml" || e.Problem == "" {
					t.Fatalf("error without file or problem: %#v", e)
				}
			}
			return
		}
		if s.SHA256 != sha256.Sum256(data) {
			t.Fatal("SHA256 is not the hash of the input")
		}
		if _, err := s.RecipientKeys(); err != nil {
			t.Fatalf("accepted study has a bad key: %v", err)
		}
		// Every condition of an accepted study is parsed and reads only
		// questions before it (a constraint, its own question too).
		before := map[string]bool{}
		for i := range s.Questions {
			q := &s.Questions[i]
			for _, c := range []*Condition{q.Relevant, q.Constraint} {
				if c == nil {
					continue
				}
				if c.Expr() == nil {
					t.Fatalf("question %q: accepted condition %q is not parsed", q.ID, c)
				}
				if c == q.Relevant && c.Expr().UsesSelf() {
					t.Fatalf("question %q: relevance %q uses .", q.ID, c)
				}
				for _, ref := range c.Refs() {
					if !before[ref] && !(c == q.Constraint && ref == q.ID) {
						t.Fatalf("question %q: condition %q reads %q, not before it", q.ID, c, ref)
					}
				}
				c.Holds(map[string][]string{})
				c.Accepts(q.ID, map[string][]string{q.ID: {"1"}})
			}
			before[q.ID] = true
		}
		s.Steps()
		// Round trip: what Parse accepted, marshalled, parses to the same.
		out, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("cannot marshal an accepted study: %v", err)
		}
		s2, err := Parse("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("marshalled study does not parse: %v\n%s", err, out)
		}
		s.SHA256, s2.SHA256 = [32]byte{}, [32]byte{}
		s.src, s2.src = nil, nil
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the study:\n%+v\n%+v\n%s", s, s2, out)
		}
	})
}

// TestPathological checks that input the YAML parser handles slowly, or
// that expands, is refused with a clear message; BenchmarkParsePathological
// measures it at the full file size.
func TestPathological(t *testing.T) {
	for _, tt := range pathological(64 << 10) {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %.200q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func pathological(size int) []struct{ name, src, want string } {
	deepBlock := new(strings.Builder)
	for i := 0; deepBlock.Len() < size; i++ {
		deepBlock.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	return []struct{ name, src, want string }{
		{"brackets", "id: " + strings.Repeat("[", size/2) + strings.Repeat("]", size/2), "f:1:21: nested too deeply"},
		{"braces", "id: " + strings.Repeat("{a: ", size/4), "f:1:69: nested too deeply"},
		{"dashes", strings.Repeat("- ", size/2), "f:1:33: nested too deeply"},
		{"indentation", deepBlock.String(), "nested too deeply"},
		{"questions", "questions:\n" + strings.Repeat("- {}\n", size/5), "questions; a study has at most 500"},
		{"anchors", "id: &a x\nquestions: [*a, *a, *a]\n", "anchors (&) are not allowed"},
	}
}

func BenchmarkParseExample(b *testing.B) {
	data := []byte(readFile(b, examplePath))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("example", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePathological(b *testing.B) {
	for _, tt := range pathological(MaxFileSize - 100) {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse("f", []byte(tt.src)); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
