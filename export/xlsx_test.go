package export

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func writeXLSX(t *testing.T, rows []Row, opt XLSXOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteXLSX(&b, schema(t), Slice(rows), opt); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "testimonies.xlsx")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mixedRows are the nasty answers, and a testimony of version 1 of the
// questionnaire.
func mixedRows(t testing.TB) []Row {
	v1 := versionID(versions(t)[0])
	return append(nastyRows(t), Row{
		Pseudonym: "이영희", PseudonymRoman: "Yi Yeong-hui", Language: "en", Version: v1,
		Answers: map[string][]string{"left": {"1999"}, "phone": {"no"}, "media": {"usb", "radio"}, "story": {"=1+1 typed in version 1"}},
	})
}

// TestXLSXHasNoFormula reads the workbook's XML: no cell is a formula,
// text is inline text, numbers are numbers, the header row is frozen.
func TestXLSXHasNoFormula(t *testing.T) {
	path := writeXLSX(t, mixedRows(t), XLSXOptions{Labels: "en"})
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	sheets := 0
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "xl/worksheets/") {
			continue
		}
		sheets++
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		x, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(x, []byte("<f>")) || bytes.Contains(x, []byte("<f ")) {
			t.Errorf("%s has a formula", f.Name)
		}
		if !(regexp.MustCompile(`<pane [^>]*state="frozen"`).Match(x) && regexp.MustCompile(`<pane [^>]*ySplit="1"`).Match(x)) {
			t.Errorf("%s: header row is not frozen", f.Name)
		}
		for _, c := range regexp.MustCompile(`<c [^>]*>`).FindAll(x, -1) {
			if !bytes.Contains(c, []byte(`t="inlineStr"`)) && bytes.Contains(c, []byte(` t="`)) {
				t.Errorf("%s: cell %s is neither inline text nor a number", f.Name, c)
			}
		}
	}
	if sheets != 3 {
		t.Errorf("workbook has %d sheets, want 3", sheets)
	}
}

// TestXLSXInLibreOffice opens the workbook in LibreOffice and checks every
// sheet: no formula, numbers are numbers, text as written (made Visible,
// never defused), the codes where answers are missing, labels in the
// chosen language.
func TestXLSXInLibreOffice(t *testing.T) {
	rows := mixedRows(t)
	path := writeXLSX(t, rows, XLSXOptions{Labels: "en", TempDir: t.TempDir()})
	sheets := readFODS(t, soffice(t, path, "fods", ""))
	for _, f := range formulas(sheets) {
		t.Errorf("formula in %s", f)
	}
	// LibreOffice sees what excelize, another reader, sees.
	xf, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer xf.Close()
	for _, name := range []string{ValuesSheet, LabelsSheet("en"), CodebookSheet} {
		want, err := xf.GetRows(name)
		if err != nil {
			t.Fatal(err)
		}
		got := sheets[name]
		if len(got) != len(want) || len(want) < 2 {
			t.Fatalf("sheet %s: LibreOffice read %d rows, excelize %d", name, len(got), len(want))
		}
		for i := range want {
			for j := range want[i] {
				if g := got[i][j]; g.text != want[i][j] || g.formula != "" {
					t.Errorf("sheet %s row %d column %d: LibreOffice reads %q, excelize %q", name, i+1, j+1, g.text, want[i][j])
				}
			}
		}
	}

	header := schema(t).Header()
	col := func(name string) int {
		for i, h := range header {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	values, labels := sheets[ValuesSheet], sheets[LabelsSheet("en")]
	for i, r := range rows {
		vrow := values[i+1]
		story := vrow[col("story")]
		if want := Visible(escapeCode(r.Answers["story"][0])); story.text != want || story.valueType != "string" {
			t.Errorf("row %d: story %q (%s), want text %q", i+2, story.text, story.valueType, want)
		}
		if left := vrow[col("left")]; left.valueType != "float" || left.value != r.Answers["left"][0] {
			t.Errorf("row %d: left %+v, want the number %s", i+2, left, r.Answers["left"][0])
		}
	}
	// The nasty rows answered version 2; the last, version 1.
	last := len(rows)
	checks := []struct {
		row    int
		column string
		sheet  [][]odsCell
		text   string
		typ    string
	}{
		{1, "phone", values, NotInVersion, "string"},
		{1, "count", values, Skipped, "string"},
		{1, "first_year", values, "2010", "float"},
		{1, "first_period", values, "winter", "string"},
		{1, "first_period", labels, "winter", "string"},
		{1, "media", labels, "USB stick", "string"},
		{1, "version", values, versionID(versions(t)[1])[:12], "string"},
		{last, "media_other", values, NotInVersion, "string"},
		{last, "phone", values, "no", "string"},
		{last, "phone", labels, "No", "string"},
		{last, "media", values, "usb;radio", "string"},
		{last, "media", labels, "USB stick; Radio", "string"},
		{last, "lang", values, "en", "string"},
	}
	for _, c := range checks {
		got := c.sheet[c.row][col(c.column)]
		if got.text != c.text || got.valueType != c.typ {
			t.Errorf("row %d %s: %q (%s), want %q (%s)", c.row+1, c.column, got.text, got.valueType, c.text, c.typ)
		}
	}
}

// TestXLSXKoreanRenders prints the labels sheet in Korean to PDF with
// LibreOffice and checks that a CJK font drew it.
func TestXLSXKoreanRenders(t *testing.T) {
	path := writeXLSX(t, mixedRows(t)[:3], XLSXOptions{Labels: "ko"})
	pdf, err := os.ReadFile(soffice(t, path, "pdf", ""))
	if err != nil {
		t.Fatal(err)
	}
	fonts := regexp.MustCompile(`/BaseFont\s*/([A-Za-z0-9+\-_]+)`).FindAllSubmatch(pdf, -1)
	var names []string
	for _, f := range fonts {
		names = append(names, string(f[1]))
	}
	if !regexp.MustCompile(`(?i)cjk|gothic|hangul|nanum|unbatang|undotum|baekmuk`).MatchString(strings.Join(names, " ")) {
		t.Errorf("no font with Hangul in the PDF LibreOffice made of the workbook (fonts: %v); install fonts-noto-cjk", names)
	}
}

// TestXLSXCutsLongAnswers checks that an answer longer than a cell holds
// is cut, visibly, to Excel's limit, counting UTF-16 code units.
func TestXLSXCutsLongAnswers(t *testing.T) {
	long := strings.Repeat("가", MaxCellChars-5) + strings.Repeat("😀", 10)
	if got := xlsxText(long); utf16Len(got) > MaxCellChars || !strings.HasSuffix(got, TruncatedMark) {
		t.Errorf("xlsxText of %d UTF-16 units: %d units, ends %q", utf16Len(long), utf16Len(got), got[len(got)-20:])
	}
	exact := strings.Repeat("가", MaxCellChars)
	if got := xlsxText(exact); got != exact {
		t.Error("xlsxText cut an answer that fits")
	}
	path := writeXLSX(t, []Row{{Pseudonym: "김석한", PseudonymRoman: "Kim Seok-han", Language: "ko", Version: current(t),
		Answers: map[string][]string{"story": {long}}}}, XLSXOptions{})
	xf, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer xf.Close()
	rows, err := xf.GetRows(ValuesSheet)
	if err != nil {
		t.Fatal(err)
	}
	if got := rows[1][len(rows[1])-2]; !strings.HasSuffix(got, TruncatedMark) {
		t.Errorf("story cell ends %q, want the mark", got[len(got)-30:])
	}
}
