package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
)

// TestSchemaMergesVersions checks the export order: the current version's
// questions, and a removed question after the one it followed; choices
// likewise; labels from the newest version.
func TestSchemaMergesVersions(t *testing.T) {
	s := schema(t)
	want := []string{"pseudonym", "pseudonym_roman", "lang", "version",
		"left", "phone", "media", "media_other", "count", "first_year", "first_period", "story", "consent"}
	if got := s.Header(); !slices.Equal(got, want) {
		t.Errorf("header %v, want %v", got, want)
	}
	var media *question
	for _, q := range s.questions {
		if q.id == "media" {
			media = q
		}
	}
	var values []string
	for _, c := range media.choices {
		values = append(values, c.value)
	}
	if want := []string{"tv", "usb", "radio", "sd"}; !slices.Equal(values, want) {
		t.Errorf("media choices %v, want %v", values, want)
	}
	if got := label(s.questions[0].q.Label, "en"); got != "Year you left" {
		t.Errorf("label of left %q, want the current version's", got)
	}
}

func TestSchemaRefusesMismatchedVersions(t *testing.T) {
	vs := versions(t)
	other := *vs[0]
	other.ID = "another-study"
	if _, err := NewSchema([]*config.Study{&other, vs[1]}); err == nil {
		t.Error("NewSchema accepted a version of another study")
	}
	if _, err := NewSchema([]*config.Study{vs[1], vs[1]}); err == nil {
		t.Error("NewSchema accepted a version twice")
	}
	retyped := *vs[0]
	retyped.SHA256[0] ^= 1
	retyped.Questions = slices.Clone(retyped.Questions)
	retyped.Questions[0].Type = config.Integer
	if _, err := NewSchema([]*config.Study{&retyped, vs[1]}); err == nil || !strings.Contains(err.Error(), "never changes type") {
		t.Errorf("NewSchema with a question that changed type: %v", err)
	}
	if _, err := NewSchema(nil); err == nil {
		t.Error("NewSchema accepted no version")
	}
}

// A column name that a question id already takes gets an underscore.
func TestSchemaColumnNamesAreUnique(t *testing.T) {
	st, err := config.Parse("clash.yaml", []byte(strings.ReplaceAll(string(readFile(t, "testdata/v2.yaml")), "id: count", "id: first_year")))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSchema([]*config.Study{st})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Header()
	if !slices.Contains(h, "first_year") || !slices.Contains(h, "first_year_") {
		t.Errorf("header %v: want first_year and first_year_", h)
	}
}

func TestCSVCodesLabelsAndDates(t *testing.T) {
	s := schema(t)
	v1, v2 := versionID(versions(t)[0]), current(t)
	rows := []Row{
		// Shown media_other (usb) and left it blank; no count.
		{Pseudonym: "김석한", PseudonymRoman: "Kim Seok-han", Language: "ko", Version: v2,
			Answers: map[string][]string{"left": {"2012"}, "media": {"tv", "usb"}, "first": {"2010-07"}, "story": {".s"}, "consent": {"yes"}}},
		// media_other not asked (tv only); date with a season; year only.
		{Pseudonym: "이영희", PseudonymRoman: "Yi Yeong-hui", Language: "zh", Version: v2,
			Answers: map[string][]string{"media": {"tv"}, "count": {"-3"}, "first": {"2001"}, "story": {`\.n`}, "consent": {"yes"}}},
		{Pseudonym: "박철", PseudonymRoman: "Pak Cheol", Language: "en", Version: v1,
			Answers: map[string][]string{"left": {"1999"}, "phone": {"yes"}, "media": {"radio"}, "story": {"+82 (0)10-1234-5678"}}},
	}
	want := map[string][][]string{
		"": {
			{"김석한", "Kim Seok-han", "ko", v2[:12], "2012", ".v", "tv;usb", ".s", ".s", "2010", "07", `\.s`, "yes"},
			{"이영희", "Yi Yeong-hui", "zh", v2[:12], ".s", ".v", "tv", ".n", "-3", "2001", "", `\\.n`, "yes"},
			{"박철", "Pak Cheol", "en", v1[:12], "1999", "yes", "radio", ".v", ".v", ".v", ".v", "+82 (0)10-1234-5678", ".v"},
		},
		"en": {
			{"김석한", "Kim Seok-han", "ko", v2[:12], "2012", ".v", "TV; USB stick", ".s", ".s", "2010", "July", `\.s`, "yes"},
			{"이영희", "Yi Yeong-hui", "zh", v2[:12], ".s", ".v", "TV", ".n", "-3", "2001", "", `\\.n`, "yes"},
			{"박철", "Pak Cheol", "en", v1[:12], "1999", "Yes", "Radio", ".v", ".v", ".v", ".v", "+82 (0)10-1234-5678", ".v"},
		},
		"ko": {
			{"김석한", "Kim Seok-han", "ko", v2[:12], "2012", ".v", "텔레비죤; USB", ".s", ".s", "2010", "7월", `\.s`, "yes"},
			{"이영희", "Yi Yeong-hui", "zh", v2[:12], ".s", ".v", "텔레비죤", ".n", "-3", "2001", "", `\\.n`, "yes"},
			{"박철", "Pak Cheol", "en", v1[:12], "1999", "예", "라디오", ".v", ".v", ".v", ".v", "+82 (0)10-1234-5678", ".v"},
		},
	}
	for labels, want := range want {
		var b bytes.Buffer
		if err := WriteCSV(&b, s, Slice(rows), CSVOptions{Labels: labels}); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b.Bytes(), []byte("\uFEFF\"pseudonym\",\"pseudonym_roman\"")) || !bytes.HasSuffix(b.Bytes(), []byte("\"\r\n")) {
			t.Errorf("labels %q: CSV does not start with a BOM and quoted header, or end with CRLF: %q…", labels, b.Bytes()[:40])
		}
		got := readCSV(t, b.Bytes())
		if !slices.Equal(got[0], s.Header()) {
			t.Errorf("header %v", got[0])
		}
		for i := range want {
			if !slices.Equal(got[i+1], want[i]) {
				t.Errorf("labels %q row %d:\n got %q\nwant %q", labels, i+1, got[i+1], want[i])
			}
		}
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, s, Slice(rows), CSVOptions{Labels: "fr"}); err == nil {
		t.Error("WriteCSV accepted labels in a language the study lacks")
	}
}

func TestWritersRefuseBadRows(t *testing.T) {
	s := schema(t)
	bad := []Row{
		{Pseudonym: "김석한", Version: current(t), Answers: map[string][]string{"phone": {"yes"}}}, // not in v2
		{Pseudonym: "김석한", Version: strings.Repeat("0", 64)},
		{Pseudonym: "김석한"}, // no version, and the schema has two
	}
	for i, r := range bad {
		var b bytes.Buffer
		if err := WriteCSV(&b, s, Slice([]Row{r}), CSVOptions{}); err == nil {
			t.Errorf("WriteCSV accepted bad row %d", i)
		}
		if err := WriteJSONL(&b, s, Slice([]Row{r})); err == nil {
			t.Errorf("WriteJSONL accepted bad row %d", i)
		}
		if err := WriteXLSX(&b, s, Slice([]Row{r}), XLSXOptions{}); err == nil {
			t.Errorf("WriteXLSX accepted bad row %d", i)
		}
		if err := WriteMarkdown(&b, s, r, ""); err == nil {
			t.Errorf("WriteMarkdown accepted bad row %d", i)
		}
	}
	// An error from the rows stops the writer and comes back.
	boom := errors.New("disk read failed")
	failing := func(yield func(Row, error) bool) { yield(Row{}, boom) }
	var b bytes.Buffer
	for name, err := range map[string]error{
		"csv":      WriteCSV(&b, s, failing, CSVOptions{}),
		"jsonl":    WriteJSONL(&b, s, failing),
		"xlsx":     WriteXLSX(&b, s, failing, XLSXOptions{}),
		"markdown": WriteMarkdownDir(t.TempDir(), s, failing, ""),
	} {
		if !errors.Is(err, boom) {
			t.Errorf("%s: error %v, want the rows' error", name, err)
		}
	}
}

// TestJSONLIsExact reads the JSONL back: every answer exactly as given,
// hidden characters escaped, not hidden ones not.
func TestJSONLIsExact(t *testing.T) {
	s := schema(t)
	rows := mixedRows(t)
	var b bytes.Buffer
	if err := WriteJSONL(&b, s, Slice(rows)); err != nil {
		t.Fatal(err)
	}
	if firstHidden(b.String()) >= 0 {
		t.Error("JSONL holds a hidden character unescaped")
	}
	if !strings.Contains(b.String(), `\u202e=1+1`) || !strings.Contains(b.String(), "👩‍💻") {
		t.Error("JSONL does not escape U+202E, or escapes an emoji sequence")
	}
	sc := bufio.NewScanner(&b)
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan(); i++ {
		var got struct {
			Pseudonym      string                     `json:"pseudonym"`
			PseudonymRoman string                     `json:"pseudonym_roman"`
			Lang           string                     `json:"lang"`
			Version        string                     `json:"version"`
			Answers        map[string]json.RawMessage `json:"answers"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		answers, err := AnswersFromJSON(got.Answers)
		if err != nil {
			t.Fatal(err)
		}
		r := rows[i]
		wantVersion := r.Version
		if got.Pseudonym != r.Pseudonym || got.PseudonymRoman != r.PseudonymRoman || got.Lang != r.Language || got.Version != wantVersion {
			t.Errorf("line %d: %+v", i+1, got)
		}
		if len(answers) != len(r.Answers) {
			t.Errorf("line %d: %d answers, want %d", i+1, len(answers), len(r.Answers))
		}
		for id, vals := range r.Answers {
			if !slices.Equal(answers[id], vals) {
				t.Errorf("line %d: %s = %q, want %q", i+1, id, answers[id], vals)
			}
		}
		if string(got.Answers["media"])[0] != '[' || string(got.Answers["left"])[0] != '"' {
			t.Errorf("line %d: multi_choice not an array, or year not a string", i+1)
		}
	}
}

// TestMarkdown checks that answers are fenced whatever they hold, labels
// and pseudonyms are escaped, and hidden characters shown.
func TestMarkdown(t *testing.T) {
	s := schema(t)
	r := Row{Pseudonym: "김석한", PseudonymRoman: "Kim <img src=x>", Language: "ko", Version: current(t),
		Answers: map[string][]string{
			"media":       {"tv", "usb"},
			"media_other": {"``` ![x](http://attacker.example/p.png) ````"},
			"story":       {"# not a title\n<img src=http://attacker.example/>\n\u202Eevil"},
		}}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, s, r, "en"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# 김석한 (Kim \\<img src\\=x\\>)\n",
		"- questionnaire version: " + current(t)[:12] + "\n",
		"## 3. Media\n\n```\nTV (tv)\nUSB stick (usb)\n```\n",
		"## 4. Other media\n\n`````\n``` ![x](http://attacker.example/p.png) ````\n`````\n",
		"## 7. Story\n\n```\n# not a title\n<img src=http://attacker.example/>\n<U+202E>evil\n```\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "\u202E") {
		t.Error("Markdown holds U+202E")
	}
}

func TestMarkdownDir(t *testing.T) {
	s := schema(t)
	dir := filepath.Join(t.TempDir(), "testimonies")
	rows := mixedRows(t)[:3]
	if err := WriteMarkdownDir(dir, s, Slice(rows), "ko"); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "old name.md")
	os.WriteFile(stale, []byte("x"), 0o600)
	keep := filepath.Join(dir, "notes.txt")
	os.WriteFile(keep, []byte("x"), 0o600)
	if err := WriteMarkdownDir(dir, s, Slice(rows), "ko"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{MarkdownName(rows[0]), MarkdownName(rows[1]), MarkdownName(rows[2]), "notes.txt"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
	if got := MarkdownName(Row{Pseudonym: "김/../x", PseudonymRoman: "a\u202Eb"}); got != "김____x a_U_202E_b.md" {
		t.Errorf("MarkdownName = %q", got)
	}
	dup := append(rows, rows[0])
	if err := WriteMarkdownDir(dir, s, Slice(dup), "ko"); err == nil {
		t.Error("WriteMarkdownDir accepted two testimonies of the same name")
	}
}

func TestCodebook(t *testing.T) {
	s := schema(t)
	var b bytes.Buffer
	if err := WriteCodebook(&b, s); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, b.Bytes())
	want := []string{"kind", "column", "question", "type", "value", "label_ko", "label_en", "label_zh", "required", "condition", "range", "constraint", "versions"}
	if !slices.Equal(rows[0], want) {
		t.Fatalf("codebook header %v", rows[0])
	}
	v1, v2 := versionID(versions(t)[0])[:12], current(t)[:12]
	find := func(kind, col, value string) []string {
		for _, r := range rows {
			if r[0] == kind && r[1] == col && r[4] == value {
				return r
			}
		}
		t.Fatalf("codebook has no %s %s %s", kind, col, value)
		return nil
	}
	for _, c := range []string{NotAsked, Skipped, NotInVersion, `\`} {
		if r := find("code", "", c); r[6] == "" || r[5] == "" {
			t.Errorf("code %s has no meaning: %v", c, r)
		}
	}
	if r := find("version", "", v2); r[3] != "current" || r[12] != current(t) || r[6] != "Survey 2" {
		t.Errorf("version row %v", r)
	}
	if r := find("question", "phone", ""); r[3] != "single_choice" || r[12] != v1 || r[6] != "Phone" {
		t.Errorf("phone row %v", r)
	}
	if r := find("question", "left", ""); !strings.HasPrefix(r[10], "1980..") || r[12] != v1+" "+v2 {
		t.Errorf("left row %v", r) // the upper bound of a year is next year
	}
	if r := find("question", "media_other", ""); r[9] != "selected(${media}, 'usb') or selected(${media}, 'sd')" {
		t.Errorf("media_other condition %q", r[9])
	}
	if r := find("question", "consent", ""); r[8] != "yes" {
		t.Errorf("consent row %v", r)
	}
	if r := find("choice", "media", "radio"); r[5] != "라디오" || r[6] != "Radio" || r[7] != "收音机" || r[12] != v1 {
		t.Errorf("radio row %v", r)
	}
	if r := find("choice", "first_period", "winter"); r[5] != "겨울" || r[7] != "冬" {
		t.Errorf("winter row %v", r)
	}
	if r := find("question", "first_period", ""); r[3] != "date_approx month or season" {
		t.Errorf("first_period row %v", r)
	}
}

// TestSchemaOrderOfRemovedQuestions merges three versions: a removed
// question comes after the question it followed in the last version that
// asked it; one removed from the start comes first.
func TestSchemaOrderOfRemovedQuestions(t *testing.T) {
	study := func(n int, ids ...string) *config.Study {
		y := fmt.Sprintf("id: order\ntitle: {ko: 판 %d, en: v%d, zh: 版 %d}\nintroduction: {ko: 가, en: a, zh: 甲}\n", n, n, n) +
			"recipients:\n  - name: R\n    public_key: testimony-pub-ckt6tblsyuzvhlzjt6y2kvhgjec4pwcs3shz4dvfqohtkned3yl4r3gtwv6hdj77ljoskymg5sshjghmnziwrjpgkftdyqpmjwkq3bpfkj7b2\nquestions:\n"
		for _, id := range ids {
			y += "  - {id: " + id + ", type: short_text, label: {ko: 가, en: a, zh: 甲}}\n"
		}
		s, err := config.Parse(fmt.Sprintf("v%d.yaml", n), []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s, err := NewSchema([]*config.Study{study(1, "z", "a", "b", "c", "d"), study(2, "a", "c", "e"), study(3, "e", "a")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pseudonym", "pseudonym_roman", "lang", "version", "z", "e", "a", "b", "c", "d"}
	if got := s.Header(); !slices.Equal(got, want) {
		t.Errorf("header %v, want %v", got, want)
	}
}

func TestNumberCells(t *testing.T) {
	for _, tc := range []struct {
		in   string
		dec  bool
		kind kind
		num  float64
	}{
		{"2012", false, integer, 2012},
		{"-3", false, integer, -3},
		{"1.50", true, decimal, 1.5},
		{"-0.25", true, decimal, -0.25},
		{"1.5", false, text, 0},
		{"1e9", true, text, 0},
		{"Inf", true, text, 0},
		{"0x1p3", true, text, 0},
		{"1.", true, text, 0},
		{"99999999999999999999", false, text, 0},
	} {
		if c := number(tc.in, tc.dec); c.kind != tc.kind || c.num != tc.num || c.text != tc.in {
			t.Errorf("number(%q, %v) = %+v", tc.in, tc.dec, c)
		}
	}
}
