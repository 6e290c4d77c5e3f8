package xlsform

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/testimony-project/testimony/config"
)

// checkResult checks what Convert returned for any input: a study file
// that config reads, within its size limit, or problems each on one line.
func checkResult(t *testing.T, res *Result, err error) {
	t.Helper()
	if err != nil {
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("the error is not an Errors: %v", err)
		}
		if len(errs) > maxErrors+1 {
			t.Fatalf("%d problems listed", len(errs))
		}
		for _, e := range errs {
			if line := e.Error(); strings.ContainsAny(line, "\n\r") || !utf8.ValidString(line) {
				t.Fatalf("a problem is not one line of text: %q", line)
			}
		}
		return
	}
	if res.Study == nil || len(res.YAML) == 0 {
		t.Fatal("no study")
	}
	if len(res.YAML) > config.MaxFileSize {
		t.Fatalf("the study file is %d bytes", len(res.YAML))
	}
	if res.Conditions {
		if _, err := config.Parse("fuzz.yaml", res.YAML); err != nil {
			t.Fatalf("the study file does not parse:\n%v\n%s", err, res.YAML)
		}
	}
	var any map[string]any
	if err := yaml.Unmarshal(res.YAML, &any); err != nil {
		t.Fatalf("the study file is not YAML: %v\n%s", err, res.YAML)
	}
	for _, w := range res.Warnings {
		if line := w.Error(); strings.ContainsAny(line, "\n\r") {
			t.Fatalf("a warning is not one line: %q", line)
		}
	}
}

// FuzzImport converts any bytes as an .xlsx file, from a corpus of the
// test forms and the example: it never panics, and returns a study file
// config reads or problems one a line. The limits of the package bound
// the memory any input can take.
func FuzzImport(f *testing.F) {
	forms, _ := filepath.Glob("testdata/forms/*.xlsx")
	forms = append(forms, exampleXLSX)
	for _, path := range forms {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(storedUnchecked(f, data))
	}
	recipients := testRecipients(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := ConvertBytes(data, Options{Name: "fuzz.xlsx", Recipients: recipients})
		checkResult(t, res, err)
	})
}

// storedUnchecked rewrites an .xlsx file with its parts stored, not
// compressed, and without CRC-32 (which Go's zip reader then does not
// check), so that the fuzzer's changes to its bytes are changes to the
// XML of the sheets, not broken compressed data.
func storedUnchecked(t testing.TB, data []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		part, err := w.CreateRaw(&zip.FileHeader{Name: f.Name, Method: zip.Store, CompressedSize64: uint64(len(body)), UncompressedSize64: uint64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		part.Write(body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzForm writes forms whose cells are fuzzed — types, names, labels in
// two languages, conditions, constraints, choices, settings — as .xlsx
// files and converts them, which reaches far more of the conversion than
// mutating the bytes of a zip file.
func FuzzForm(f *testing.F) {
	f.Add("select_one yn", "phone", "손전화?", "Phone?", "", "", "", "yes", "no", "예", "nk-2026", "Korean (ko)")
	f.Add("integer", "age", "나이", "Age", "", ". >= 0 and . <= 120", "yes", "yes", "no", "예", "nk-2026", "")
	f.Add("select_multiple yn", "uses", "a", "b", "${uses} != ''", "not(selected(., 'no') and count-selected(.) > 1)", "", "yes", "no", "c", "x", "English (en)")
	f.Add("date", "left", "a\nb", "c\r\nd", "", ". >= 1990", "", "1", "2", "\x00", "NK_2026", "ko")
	f.Add("begin group", "g", "a", "b", "${q} = 'x'", "", "", "yes", "no", "예", "abc", "ko")
	f.Add("begin group", "g", "a", "b", "${q} = 'x'", "", "yes", "", "", "", "id", "zh-Hant")
	f.Add("text", "Name-1", "${x}", "\"quoted\" \\", "", "string-length(.) <= 10", "true()", "a", "a", "\u2028", "abc", "Kor")
	f.Fuzz(func(t *testing.T, typ, name, ko, en, relevant, constraint, required, v1, v2, label, id, def string) {
		res, err := convertFuzzedForm(t, typ, name, ko, en, relevant, constraint, required, v1, v2, label, id, def)
		checkResult(t, res, err)
	})
}

// convertFuzzedForm writes a form around the cells given and converts it.
func convertFuzzedForm(t *testing.T, typ, name, ko, en, relevant, constraint, required, v1, v2, label, id, def string) (*Result, error) {
	survey := [][]string{
		{"type", "name", "label::Korean (ko)", "label::English (en)", "relevant", "constraint", "required"},
		{"text", "q", "질문", "Question", "", "", ""},
		{typ, name, ko, en, relevant, constraint, required},
	}
	if t := parseType(typ); t.kind == kindBeginGroup {
		survey = append(survey, []string{"text", "in_group", "안", "In", "", "", ""}, []string{"end group"})
	}
	survey = append(survey, []string{"acknowledge", "consent", "동의", "I agree", "", "", "yes"})
	choices := [][]string{
		{"list_name", "name", "label::Korean (ko)", "label::English (en)"},
		{"yn", v1, label, en},
		{"yn", v2, ko, label},
	}
	settings := [][]string{
		{"form_id", "form_title::Korean (ko)", "form_title::English (en)", "introduction::Korean (ko)", "introduction::English (en)", "default_language"},
		{id, ko, en, label, en, def},
	}
	for _, rows := range [][][]string{survey, choices, settings} {
		for _, r := range rows {
			for i, c := range r {
				// Cells hold XML text: the characters XML 1.0 allows.
				r[i] = strings.Map(func(r rune) rune {
					if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF || r >= 0xD800 && r < 0xE000 {
						return -1
					}
					return r
				}, strings.ToValidUTF8(c, ""))
			}
		}
	}
	data := minimalXLSX(t, []sheetSpec{{"survey", survey}, {"choices", choices}, {"settings", settings}})
	return ConvertBytes(data, Options{Name: "fuzz.xlsx", Recipients: testRecipients(t)})
}

// TestFuzzFormSeeds checks that forms of FuzzForm's seeds convert, so that
// the fuzzer explores around forms that pass as well as ones that fail.
func TestFuzzFormSeeds(t *testing.T) {
	for _, s := range [][12]string{
		{"select_one yn", "phone", "손전화?", "Phone?", "", "", "", "yes", "no", "예", "nk-2026", "Korean (ko)"},
		{"integer", "age", "나이", "Age", "", ". >= 0 and . <= 120", "yes", "yes", "no", "예", "nk-2026", ""},
		{"begin group", "g", "a", "b", "${q} = 'x'", "", "", "yes", "no", "예", "abc", "ko"},
	} {
		res, err := convertFuzzedForm(t, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11])
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		checkResult(t, res, err)
	}
}

// FuzzQuoted checks that every text the study file writes reads back as
// itself: between double quotes, and as a literal block.
func FuzzQuoted(f *testing.F) {
	for _, s := range []string{"", "yes", "no", "a: b", "- x", "#c", "\"'\\", "a\nb\n", "a\n\nb", " a\nb", "a\tb", "\u2028\u2029\ufeff\u0085", "\x00\x1f\x7f", "😀", "%TAG", "&a *b !c", "a\n", "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		timer := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("hang on %q", s)) })
		defer timer.Stop()
		var back map[string]string
		q := quoted(s)
		if strings.ContainsAny(q, "\n\r") {
			t.Fatalf("quoted(%q) = %q spans lines", s, q)
		}
		if err := yaml.Unmarshal([]byte("k: "+q+"\n"), &back); err != nil || back["k"] != s {
			t.Fatalf("quoted(%q) = %s reads back as %q (%v)", s, q, back["k"], err)
		}
		if block, ok := literal(s, 4); ok {
			var nested map[string]map[string]string
			if err := yaml.Unmarshal([]byte("a:\n  k: "+block+"\n"), &nested); err != nil || nested["a"]["k"] != s {
				t.Fatalf("literal(%q) = %q reads back as %q (%v)", s, block, nested["a"]["k"], err)
			}
		}
		if sc := scalar(s); sc != q {
			var v map[string]any
			if err := yaml.Unmarshal([]byte("k: "+sc+"\n"), &v); err != nil || v["k"] != s {
				t.Fatalf("scalar(%q) = %s reads back as %#v (%v)", s, sc, v["k"], err)
			}
		}
	})
}
