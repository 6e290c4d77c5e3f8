package xlsform

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// update rewrites the generated fixtures: the .xlsx files of testdata and
// examples, and the expected results of the test cases.
var update = flag.Bool("update", false, "rewrite generated .xlsx fixtures and expected results")

// sheetSpec is a sheet to write: its name and its rows of cells.
type sheetSpec struct {
	name string
	rows [][]string
}

// buildXLSX writes sheets as an .xlsx file, as a spreadsheet program
// would: text cells as shared strings, except cells written {num}N (a
// number), {bool}TRUE (a boolean) and {formula}F (a formula without a
// cached value). The file is the same bytes for the same sheets.
func buildXLSX(t testing.TB, sheets []sheetSpec) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetDocProps(&excelize.DocProperties{
		Creator:  "testimony",
		Created:  "2026-01-01T00:00:00Z",
		Modified: "2026-01-01T00:00:00Z",
	}); err != nil {
		t.Fatal(err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		t.Fatal(err)
	}
	wrap, err := f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", s.name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(s.name); err != nil {
			t.Fatal(err)
		}
		widths := map[int]int{}
		for r, cells := range s.rows {
			for c, v := range cells {
				if v == "" {
					continue
				}
				cell, err := excelize.CoordinatesToCellName(c+1, r+1)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case strings.HasPrefix(v, "{num}"):
					n, err := strconv.ParseFloat(v[len("{num}"):], 64)
					if err != nil {
						t.Fatal(err)
					}
					err = f.SetCellFloat(s.name, cell, n, -1, 64)
				case strings.HasPrefix(v, "{bool}"):
					err = f.SetCellBool(s.name, cell, strings.EqualFold(v[len("{bool}"):], "true"))
				case strings.HasPrefix(v, "{formula}"):
					err = f.SetCellFormula(s.name, cell, v[len("{formula}"):])
				default:
					err = f.SetCellStr(s.name, cell, v)
				}
				if err != nil {
					t.Fatal(err)
				}
				style := wrap
				if r == 0 {
					style = bold
				}
				if err := f.SetCellStyle(s.name, cell, cell, style); err != nil {
					t.Fatal(err)
				}
				widths[c] = max(widths[c], min(len([]rune(v)), 60))
			}
		}
		for c, w := range widths {
			name, _ := excelize.ColumnNumberToName(c + 1)
			if err := f.SetColWidth(s.name, name, name, float64(max(w, 8))+2); err != nil {
				t.Fatal(err)
			}
		}
		if len(s.rows) > 0 {
			if err := f.SetPanes(s.name, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// parseTSV reads a sheet written as tab-separated values: a row a line,
// with \n, \t and \\ escapes in cells.
func parseTSV(s string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		var cells []string
		for _, c := range strings.Split(line, "\t") {
			cells = append(cells, unescapeCell(c))
		}
		rows = append(rows, cells)
	}
	return rows
}

func unescapeCell(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// archive is a test case file: a comment, then sections "-- name --".
type archive struct {
	comment  string
	sections []section
}

type section struct {
	name, body string
}

func parseArchive(data string) archive {
	var a archive
	cur := -1
	for _, line := range strings.SplitAfter(data, "\n") {
		trimmed := strings.TrimRight(line, "\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			a.sections = append(a.sections, section{name: trimmed[3 : len(trimmed)-3]})
			cur = len(a.sections) - 1
			continue
		}
		if cur < 0 {
			a.comment += line
		} else {
			a.sections[cur].body += line
		}
	}
	return a
}

func (a archive) get(name string) (string, bool) {
	for _, s := range a.sections {
		if s.name == name {
			return s.body, true
		}
	}
	return "", false
}

func (a *archive) set(name, body string) {
	for i := range a.sections {
		if a.sections[i].name == name {
			a.sections[i].body = body
			return
		}
	}
	a.sections = append(a.sections, section{name: name, body: body})
}

func (a *archive) remove(name string) {
	for i := range a.sections {
		if a.sections[i].name == name {
			a.sections = append(a.sections[:i], a.sections[i+1:]...)
			return
		}
	}
}

func (a archive) format() string {
	var b strings.Builder
	b.WriteString(a.comment)
	for _, s := range a.sections {
		fmt.Fprintf(&b, "-- %s --\n", s.name)
		b.WriteString(s.body)
		if s.body != "" && !strings.HasSuffix(s.body, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// minimalXLSX writes sheets as the smallest .xlsx file spreadsheet
// programs open: a workbook and its worksheets, with inline strings, and
// no styles, theme or shared strings (as some generators write them).
// It is fast enough to build a file for every input of a fuzzer.
func minimalXLSX(t testing.TB, sheets []sheetSpec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	add := func(name, body string) {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(f, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n"+body); err != nil {
			t.Fatal(err)
		}
	}
	var types, wbSheets, rels strings.Builder
	for i := range sheets {
		fmt.Fprintf(&types, `<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, i+1)
		var name bytes.Buffer
		xml.EscapeText(&name, []byte(sheets[i].name))
		fmt.Fprintf(&wbSheets, `<sheet name="%s" sheetId="%d" r:id="rId%d"/>`, strings.ReplaceAll(name.String(), `"`, "&quot;"), i+1, i+1)
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet%d.xml"/>`, i+1, i+1)
	}
	add("[Content_Types].xml", `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>`+types.String()+`</Types>`)
	add("_rels/.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	add("xl/workbook.xml", `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>`+wbSheets.String()+`</sheets></workbook>`)
	add("xl/_rels/workbook.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+rels.String()+`</Relationships>`)
	for i, s := range sheets {
		var b strings.Builder
		b.WriteString(`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
		for r, cells := range s.rows {
			fmt.Fprintf(&b, `<row r="%d">`, r+1)
			for c, v := range cells {
				if v == "" {
					continue
				}
				ref, err := excelize.CoordinatesToCellName(c+1, r+1)
				if err != nil {
					t.Fatal(err)
				}
				var text bytes.Buffer
				xml.EscapeText(&text, []byte(v))
				fmt.Fprintf(&b, `<c r="%s" t="inlineStr"><is><t xml:space="preserve">%s</t></is></c>`, ref, text.String())
			}
			b.WriteString(`</row>`)
		}
		b.WriteString(`</sheetData></worksheet>`)
		add(fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1), b.String())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
