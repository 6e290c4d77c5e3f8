package xlsform

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// convertErr converts data and returns the error lines, failing if it
// converts.
func convertErr(t *testing.T, data []byte) string {
	t.Helper()
	res, err := ConvertBytes(data, Options{Name: "f.xlsx", Recipients: testRecipients(t)})
	if err == nil {
		t.Fatalf("converted:\n%s", res.YAML)
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("not an Errors: %v", err)
	}
	return err.Error()
}

func minimalSheets() []sheetSpec {
	return []sheetSpec{
		{"survey", [][]string{{"type", "name", "label::English (en)", "required"}, {"text", "q", "Q?"}, {"acknowledge", "consent", "I agree.", "yes"}}},
		{"settings", [][]string{{"form_id", "form_title::English (en)", "introduction::English (en)"}, {"min-form", "Title", "Intro"}}},
	}
}

// zipOf writes an archive of the given files.
func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, data := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestNotAWorkbook(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"csv", []byte("type,name,label\ntext,q,Q?\n"), "not an .xlsx file; save the form"},
		{"xls", append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 512)...), "old Excel 97-2003 workbook (.xls) or a workbook protected by a password"},
		{"ods", zipOf(t, map[string][]byte{"mimetype": []byte("application/vnd.oasis.opendocument.spreadsheet"), "content.xml": []byte("<x/>")}), "OpenDocument spreadsheet (.ods)"},
		{"zip", zipOf(t, map[string][]byte{"a.txt": []byte("a")}), "it has no workbook"},
		{"truncated", buildXLSX(t, minimalSheets())[:2000], "the .xlsx file is damaged"},
		{"too large", append([]byte("PK\x03\x04"), make([]byte, MaxFileSize)...), "larger than 8 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := convertErr(t, c.data); !strings.Contains(got, c.want) {
				t.Errorf("got %q, want it to say %q", got, c.want)
			}
		})
	}
}

// TestZipBomb checks that a file whose parts decompress to more than
// MaxUnzippedSize is refused from the sizes the archive declares, before
// any part is read.
func TestZipBomb(t *testing.T) {
	form := buildXLSX(t, minimalSheets())
	zr, err := zip.NewReader(bytes.NewReader(form), int64(len(form)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		files[f.Name] = b.Bytes()
	}
	// 40 MiB of zeros compress to about 40 KiB.
	files["xl/media/image1.png"] = make([]byte, 40<<20)
	bomb := zipOf(t, files)
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	if got := convertErr(t, bomb); !strings.Contains(got, "decompresses to more than 16 MiB") {
		t.Errorf("got %q", got)
	}
}

// TestSheetLimits checks that a sheet with a value beyond MaxRows or
// MaxColumns is refused at that value.
func TestSheetLimits(t *testing.T) {
	f := excelize.NewFile()
	defer f.Close()
	f.SetSheetName("Sheet1", "survey")
	f.SetSheetRow("survey", "A1", &[]string{"type", "name", "label::English (en)"})
	f.SetSheetRow("survey", "A2", &[]string{"text", "q", "Q?"})
	f.SetCellStr("survey", fmt.Sprintf("A%d", MaxRows+1), "text")
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if got := convertErr(t, buf.Bytes()); !strings.Contains(got, fmt.Sprintf("survey!A%d: a value in row %d; a sheet has at most %d rows", MaxRows+1, MaxRows+1, MaxRows)) {
		t.Errorf("got %q", got)
	}

	// Empty rows far below, as spreadsheets leave with formatting, are
	// not values.
	f.SetCellStr("survey", fmt.Sprintf("A%d", MaxRows+1), "")
	f.SetRowHeight("survey", 100000, 30)
	f.SetCellStr("survey", "IW2", "far right")
	buf.Reset()
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if got := convertErr(t, buf.Bytes()); !strings.Contains(got, "survey!IW2: a value in column 257; a sheet has at most 256 columns") {
		t.Errorf("got %q", got)
	}
}

// TestSpreadsheetCells checks cells as spreadsheets write them: sheet
// names in another case, numbers and booleans, line breaks written as
// CR LF, padding around names and types, a formula with no value.
func TestSpreadsheetCells(t *testing.T) {
	sheets := []sheetSpec{
		{" Survey ", [][]string{
			{"Type", "Name", "Label::English (en)", "Required", "Relevant"},
			{" select_one  nums ", " n ", "Pick\r\none", "{bool}TRUE"},
			{"integer", "x", "{formula}1+1", "", " ${n} = '2' "},
			{"acknowledge", "consent", "OK", "{num}1"},
		}},
		{"CHOICES", [][]string{{"list_name", "name", "label::English (en)"}, {"nums", "{num}1", "{num}1.5"}, {"nums", "{num}2", "Two"}}},
		{"Settings", [][]string{{"form_id", "form_title::English (en)", "introduction::English (en)"}, {"cells", "T", "I"}}},
	}
	data := buildXLSX(t, sheets)
	res, err := ConvertBytes(data, Options{Name: "f.xlsx", Recipients: testRecipients(t)})
	if err == nil {
		t.Fatalf("converted a form with an empty label:\n%s", res.YAML)
	}
	want := "f.xlsx: Survey!C3 (Label::English (en)): empty; write the label in English (en)"
	if err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	sheets[0].rows[2][2] = "Number?"
	res, err = ConvertBytes(buildXLSX(t, sheets), Options{Name: "f.xlsx", Recipients: testRecipients(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"en: |-\n        Pick\n        one\n",
		"type: single_choice\n    required: true",
		`- value: "1"` + "\n        label:\n          en: \"1.5\"",
		`relevant: "${n} = '2'"`,
		"type: consent\n    required: true",
	} {
		if !strings.Contains(string(res.YAML), want) {
			t.Errorf("the study file lacks %q:\n%s", want, res.YAML)
		}
	}
}

// TestDuplicateSheets checks that two sheets of the same name in another
// case are refused.
func TestDuplicateSheets(t *testing.T) {
	sheets := append(minimalSheets(), sheetSpec{"Survey ", [][]string{{"type"}}})
	if got := convertErr(t, buildXLSX(t, sheets)); !strings.Contains(got, `f.xlsx: Survey: a second survey sheet (the first is "survey"); keep one`) {
		t.Errorf("got %q", got)
	}
}

// TestErrorsBounded checks that a form with many problems lists the
// first hundred, and counts the rest.
func TestErrorsBounded(t *testing.T) {
	rows := [][]string{{"type", "name", "label::English (en)"}}
	for i := 0; i < 300; i++ {
		rows = append(rows, []string{"geopoint", fmt.Sprintf("g%d", i), "Where?"})
	}
	got := convertErr(t, buildXLSX(t, []sheetSpec{{"survey", rows}}))
	lines := strings.Split(got, "\n")
	if len(lines) != maxErrors+1 || !strings.HasSuffix(lines[maxErrors], "and 201 more problems; fix the ones above first") {
		t.Errorf("%d lines, the last %q", len(lines), lines[len(lines)-1])
	}
}

// TestTestdataForms checks that the committed forms are there for the
// fuzzer's corpus and LibreOffice.
func TestTestdataForms(t *testing.T) {
	entries, err := os.ReadDir("testdata/forms")
	if err != nil || len(entries) < 20 {
		t.Fatalf("testdata/forms has %d forms (%v)", len(entries), err)
	}
}

// TestMinimalWorkbook converts a form written as the smallest workbook
// (inline strings; no styles, theme or shared strings), as some programs
// write them, to the same study as the same form written by excelize.
func TestMinimalWorkbook(t *testing.T) {
	opt := Options{Name: "f.xlsx", Recipients: testRecipients(t)}
	a, err := ConvertBytes(buildXLSX(t, minimalSheets()), opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ConvertBytes(minimalXLSX(t, minimalSheets()), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.YAML, b.YAML) {
		t.Errorf("excelize:\n%s\nminimal:\n%s", a.YAML, b.YAML)
	}
}

// TestStoredUnchecked checks that the fuzzer's seeds with stored parts
// convert as the forms they were made from.
func TestStoredUnchecked(t *testing.T) {
	data, err := os.ReadFile(exampleXLSX)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Name: "f.xlsx", Recipients: testRecipients(t)}
	a, err := ConvertBytes(data, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ConvertBytes(storedUnchecked(t, data), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.YAML, b.YAML) {
		t.Error("the stored copy converts to another study")
	}
}
