package xlsform

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/examples"
)

const exampleXLSX = "../examples/nk-internet-access.xlsx"

// exStudy is a study file read as written, whichever form its conditions
// take (an expression, or the mapping {question, any_of} of config before
// it read expressions).
type exStudy struct {
	ID           string            `yaml:"id"`
	Languages    []string          `yaml:"languages"`
	Title        map[string]string `yaml:"title"`
	Introduction map[string]string `yaml:"introduction"`
	Sections     []struct {
		ID        string            `yaml:"id"`
		Label     map[string]string `yaml:"label"`
		Help      map[string]string `yaml:"help"`
		Relevant  any               `yaml:"relevant"`
		Questions []string          `yaml:"questions"`
	} `yaml:"sections"`
	Questions []exQuestion `yaml:"questions"`
}

type exQuestion struct {
	ID                string            `yaml:"id"`
	Type              string            `yaml:"type"`
	Label             map[string]string `yaml:"label"`
	Help              map[string]string `yaml:"help"`
	Required          *bool             `yaml:"required"`
	Min               any               `yaml:"min"`
	Max               any               `yaml:"max"`
	Decimals          int               `yaml:"decimals"`
	MaxLength         int               `yaml:"max_length"`
	Relevant          any               `yaml:"relevant"`
	Constraint        string            `yaml:"constraint"`
	ConstraintMessage map[string]string `yaml:"constraint_message"`
	Choices           []struct {
		Value     string            `yaml:"value"`
		Label     map[string]string `yaml:"label"`
		Exclusive bool              `yaml:"exclusive"`
	} `yaml:"choices"`
}

func number(v any) string {
	switch n := v.(type) {
	case nil:
		return ""
	case uint64:
		return strconv.FormatUint(n, 10)
	case int64:
		return strconv.FormatInt(n, 10)
	case int:
		return strconv.Itoa(n)
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// condition writes a condition of a study file as an expression: as it
// is, or, from the mapping {question, any_of}, as the expression that
// holds for the same answers.
func condition(t testing.TB, v any, s *exStudy) string {
	switch c := v.(type) {
	case nil:
		return ""
	case string:
		return c
	case map[string]any:
		q, _ := c["question"].(string)
		typ := ""
		for _, o := range s.Questions {
			if o.ID == q {
				typ = o.Type
			}
		}
		values, _ := c["any_of"].([]any)
		var parts []string
		for _, v := range values {
			if typ == "multi_choice" {
				parts = append(parts, fmt.Sprintf("selected(${%s}, '%v')", q, v))
			} else {
				parts = append(parts, fmt.Sprintf("${%s} = '%v'", q, v))
			}
		}
		return strings.Join(parts, " or ")
	}
	t.Fatalf("condition %v of unknown form", v)
	return ""
}

// exampleSheets writes the study file src as an XLSForm: the form a
// researcher would write for the same study.
func exampleSheets(t testing.TB, src []byte) []sheetSpec {
	var s exStudy
	if err := yaml.Unmarshal(src, &s); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(s.Languages))
	for i, l := range s.Languages {
		names[i] = describeLanguage(l)
	}
	perLang := func(base string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = base + "::" + n
		}
		return out
	}
	texts := func(m map[string]string) []string {
		out := make([]string, len(s.Languages))
		for i, l := range s.Languages {
			out[i] = m[l]
		}
		return out
	}
	hasMessage, hasExclusive := false, false
	for _, q := range s.Questions {
		hasMessage = hasMessage || len(q.ConstraintMessage) > 0
		for _, ch := range q.Choices {
			hasExclusive = hasExclusive || ch.Exclusive
		}
	}

	header := []string{"type", "name"}
	header = append(header, perLang("label")...)
	header = append(header, perLang("hint")...)
	header = append(header, "required", "relevant", "constraint")
	if hasMessage {
		header = append(header, perLang("constraint_message")...)
	}
	header = append(header, "appearance", "decimals")
	survey := [][]string{header}
	row := func(typ, name string, label, hint map[string]string, required, relevant, constraint string, message map[string]string, appearance, decimals string) {
		r := []string{typ, name}
		r = append(r, texts(label)...)
		r = append(r, texts(hint)...)
		r = append(r, required, relevant, constraint)
		if hasMessage {
			r = append(r, texts(message)...)
		}
		r = append(r, appearance, decimals)
		survey = append(survey, r)
	}

	choices := [][]string{append(append([]string{"list_name", "name"}, perLang("label")...), "exclusive")}
	if !hasExclusive {
		choices[0] = choices[0][:len(choices[0])-1]
	}
	for _, q := range s.Questions {
		for i := range s.Sections {
			sec := &s.Sections[i]
			if sec.Questions[0] == q.ID {
				row("begin group", sec.ID, sec.Label, sec.Help, "", condition(t, sec.Relevant, &s), "", nil, "", "")
			}
		}
		typ, appearance, required := "", "", ""
		var bounds []string
		lower, upper := ". >= ", ". <= "
		switch q.Type {
		case "single_choice":
			typ = "select_one " + q.ID
		case "multi_choice":
			typ = "select_multiple " + q.ID
			lower, upper = "count-selected(.) >= ", "count-selected(.) <= "
		case "short_text":
			typ = "text"
		case "long_text":
			typ, appearance = "text", "multiline"
		case "year":
			typ, appearance = "date", "year"
		case "date_approx":
			typ, appearance = "date", "month-year"
		case "consent":
			typ = "acknowledge"
			if q.Required == nil || *q.Required {
				required = "yes"
			}
		default:
			typ = q.Type
		}
		if q.Type != "consent" && q.Required != nil && *q.Required {
			required = "yes"
		}
		if n := number(q.Min); n != "" {
			bounds = append(bounds, lower+n)
		}
		if n := number(q.Max); n != "" {
			bounds = append(bounds, upper+n)
		}
		if q.MaxLength != 0 {
			bounds = append(bounds, fmt.Sprintf("string-length(.) <= %d", q.MaxLength))
		}
		constraint := q.Constraint
		if constraint == "" {
			constraint = strings.Join(bounds, " and ")
		} else if len(bounds) > 0 {
			t.Fatalf("question %s has both bounds and a constraint: an XLSForm has one constraint", q.ID)
		}
		decimals := ""
		if q.Decimals != 0 {
			decimals = strconv.Itoa(q.Decimals)
		}
		row(typ, q.ID, q.Label, q.Help, required, condition(t, q.Relevant, &s), constraint, q.ConstraintMessage, appearance, decimals)
		for i := range s.Sections {
			sec := &s.Sections[i]
			if sec.Questions[len(sec.Questions)-1] == q.ID {
				row("end group", "", nil, nil, "", "", "", nil, "", "")
			}
		}
		for _, ch := range q.Choices {
			r := append([]string{q.ID, ch.Value}, texts(ch.Label)...)
			if hasExclusive {
				ex := ""
				if ch.Exclusive {
					ex = "yes"
				}
				r = append(r, ex)
			}
			choices = append(choices, r)
		}
	}

	settings := [][]string{
		append(append(append([]string{"form_id"}, perLang("form_title")...), perLang("introduction")...), "default_language"),
		append(append(append([]string{s.ID}, texts(s.Title)...), texts(s.Introduction)...), names[0]),
	}
	return []sheetSpec{{"survey", survey}, {"choices", choices}, {"settings", settings}}
}

// TestExampleXLSForm checks that examples/nk-internet-access.xlsx is the
// example study written as an XLSForm (-update writes it again from
// examples/nk-internet-access.yaml), and that converting it gives a study
// equivalent to the YAML one: the same ids, types, labels and help in
// every language, choices, bounds, sections and conditions, compared as
// the values config.Parse returns.
func TestExampleXLSForm(t *testing.T) {
	data := buildXLSX(t, exampleSheets(t, examples.NKInternetAccess))
	if *update {
		if err := os.WriteFile(exampleXLSX, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(exampleXLSX)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, data) {
		t.Fatalf("%s is not examples/nk-internet-access.yaml written as an XLSForm: run go test ./xlsform -run TestExampleXLSForm -update", exampleXLSX)
	}

	want, err := config.Parse("examples/nk-internet-access.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ConvertBytes(committed, Options{Name: "nk-internet-access.xlsx", Recipients: want.Recipients, Limits: want.Limits})
	if err != nil {
		t.Fatalf("the example does not convert:\n%v", err)
	}
	for _, w := range res.Warnings {
		if !strings.Contains(w.Problem, "placeholder key") {
			t.Errorf("warning: %v", w)
		}
	}
	if !res.Conditions {
		t.Log("conditions (relevant) not compared: config does not read expressions yet (branch conditions); they are checked by package expr")
	}
	if diff := diffStudies(want, res.Study, res.Conditions); diff != "" {
		t.Errorf("the converted example differs from examples/nk-internet-access.yaml (- yaml, + xlsx):\n%s", diff)
	}
}

// dumpStudy lists the fields of s, one "path = value" a line, through
// its exported fields, so that any two studies can be compared whatever
// types config gives them. Texts are listed in every study language;
// values with a String method (numbers, conditions) as that.
func dumpStudy(s *config.Study, conditions bool) []string {
	var out []string
	textType := reflect.TypeFor[config.Text]()
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if !conditions && (strings.HasSuffix(path, ".Relevant") || strings.HasSuffix(path, ".Constraint") || strings.HasSuffix(path, ".ConstraintMessage")) {
			return
		}
		if v.Type() == textType {
			t := v.Interface().(config.Text)
			for _, l := range s.Languages {
				if x, ok := t.Lookup(l); ok {
					out = append(out, fmt.Sprintf("%s.%s = %q", path, l, x))
				}
			}
			return
		}
		if v.CanInterface() {
			if st, ok := v.Interface().(fmt.Stringer); ok && v.Kind() != reflect.Pointer {
				out = append(out, fmt.Sprintf("%s = %s", path, st.String()))
				return
			}
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				return
			}
			walk(path, v.Elem())
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if !f.IsExported() || f.Name == "SHA256" {
					continue
				}
				walk(path+"."+f.Name, v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Map:
			keys := v.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			for _, k := range keys {
				walk(fmt.Sprintf("%s[%v]", path, k), v.MapIndex(k))
			}
		default:
			if !v.IsZero() {
				out = append(out, fmt.Sprintf("%s = %v", path, v))
			}
		}
	}
	walk("study", reflect.ValueOf(s).Elem())
	return out
}

// diffStudies returns the lines of the dumps of a and b that differ.
func diffStudies(a, b *config.Study, conditions bool) string {
	da, db := dumpStudy(a, conditions), dumpStudy(b, conditions)
	var diff []string
	inB := make(map[string]bool, len(db))
	for _, l := range db {
		inB[l] = true
	}
	inA := make(map[string]bool, len(da))
	for _, l := range da {
		inA[l] = true
		if !inB[l] {
			diff = append(diff, "- "+l)
		}
	}
	for _, l := range db {
		if !inA[l] {
			diff = append(diff, "+ "+l)
		}
	}
	if len(diff) == 0 && !slices.Equal(da, db) {
		diff = append(diff, "the same fields in another order")
	}
	return strings.Join(diff, "\n")
}

// TestDiffStudiesDetects checks that the comparison of TestExampleXLSForm
// sees a change to any kind of field.
func TestDiffStudiesDetects(t *testing.T) {
	base, err := config.Parse("a.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(dumpStudy(base, false)); n < 500 {
		t.Fatalf("the dump of the example has %d lines; it lists every field", n)
	}
	for _, c := range []struct{ from, to string }{
		{"ko: 북에서 떠난 해는 언제입니까?", "ko: 북에서 떠난 해는?"},                      // a label
		{"zh: 都没有\n", "zh: 都没有了\n"},                                     // a choice label
		{"- value: chinese_phone", "- value: chinese_phones"},           // a value
		{"type: long_text", "type: short_text"},                         // a type
		{"min: 1980", "min: 1981"},                                      // a bound
		{"decimals: 1", "decimals: 2"},                                  // decimals
		{"        exclusive: true\n", ""},                               // exclusive
		{"required: false\n", "required: true\n"},                       // required
		{"monitoring_seen]", "monitoring_seen, internet_abroad]"},       // a section
		{"zh: 在朝鲜国内使用互联网", "zh: 在朝鲜国内"},                                 // a section label
		{"en: Mobile phones, the intranet", "en: Phones, the intranet"}, // the title
	} {
		changed := strings.Replace(string(examples.NKInternetAccess), c.from, c.to, 1)
		if changed == string(examples.NKInternetAccess) {
			t.Fatalf("%q is not in the example", c.from)
		}
		s, err := config.Parse("b.yaml", []byte(changed))
		if err != nil {
			t.Fatalf("%q → %q: %v", c.from, c.to, err)
		}
		if diffStudies(base, s, false) == "" {
			t.Errorf("%q → %q: no difference found", c.from, c.to)
		}
	}
}
