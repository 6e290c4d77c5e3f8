package xlsform

import (
	"archive/zip"
	"bytes"
	"fmt"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Limits on a workbook, checked before its sheets are read, so that a
// malicious or broken file costs bounded memory and time.
const (
	// MaxFileSize bounds the size of an .xlsx file. An XLSForm of 500
	// questions in five languages is well under a megabyte.
	MaxFileSize = 8 << 20
	// MaxUnzippedSize bounds the total size of the parts of the file once
	// decompressed (worksheets, shared strings, styles …).
	MaxUnzippedSize = 16 << 20
	// MaxRows bounds the rows of a sheet: a value in a later row refuses
	// the sheet.
	MaxRows = 10000
	// MaxColumns bounds the columns of a sheet: a value in a later column
	// refuses the sheet.
	MaxColumns = 256
	// maxParts bounds the number of files in the .xlsx archive.
	maxParts = 1000
)

// Sheet names, as XLSForm spells them.
const (
	sheetSurvey   = "survey"
	sheetChoices  = "choices"
	sheetSettings = "settings"
)

// sheet is a worksheet read into memory: its header row and the rows
// below it that hold a value.
type sheet struct {
	name   string // canonical: survey, choices or settings
	title  string // as the workbook spells it
	header []string
	rows   []row
}

// row is a row of a sheet with at least one value.
type row struct {
	num   int      // from 1
	cells []string // by column from 0; may be shorter than the header
}

// cell returns the value in column col (from 0), or "".
func (r row) cell(col int) string {
	if col < 0 || col >= len(r.cells) {
		return ""
	}
	return r.cells[col]
}

// cellName names the cell at row and col (from 1), as "F12".
func cellName(rowNum, col int) string {
	name, err := excelize.ColumnNumberToName(col)
	if err != nil {
		return fmt.Sprintf("R%dC%d", rowNum, col)
	}
	return fmt.Sprintf("%s%d", name, rowNum)
}

// workbook is the sheets of an XLSForm that the conversion reads.
type workbook struct {
	sheets map[string]*sheet
}

// problems collects errors and warnings.
type problems struct {
	errs, warns []*Error
}

func (p *problems) at(list *[]*Error, sheet string, rowNum, col int, column, problem string) {
	e := &Error{Sheet: sheet, Column: column, Problem: problem, row: rowNum, col: col}
	if rowNum > 0 && col > 0 {
		e.Cell = cellName(rowNum, col)
	}
	*list = append(*list, e)
}

// errorf records a problem; rowNum and col count from 1, zero for none.
func (p *problems) errorf(sheet string, rowNum, col int, column, format string, args ...any) {
	p.at(&p.errs, sheet, rowNum, col, column, fmt.Sprintf(format, args...))
}

// warnf records a warning.
func (p *problems) warnf(sheet string, rowNum, col int, column, format string, args ...any) {
	p.at(&p.warns, sheet, rowNum, col, column, fmt.Sprintf(format, args...))
}

var (
	zipMagic = []byte("PK\x03\x04")
	oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
)

// readWorkbook reads the survey, choices and settings sheets of the .xlsx
// file data. It checks the archive's declared sizes before reading any
// part: Go's archive/zip refuses a part that decompresses to more than it
// declares, so the declared sizes bound the memory used.
func readWorkbook(data []byte, p *problems) *workbook {
	fail := func(format string, args ...any) *workbook {
		p.errorf("", 0, 0, "", format, args...)
		return nil
	}
	switch {
	case len(data) == 0:
		return fail("the file is empty; save the form from your spreadsheet program as an Excel workbook (.xlsx)")
	case len(data) > MaxFileSize:
		return fail("the file is larger than %d MiB; an XLSForm is a few hundred kilobytes: check that this is the form, and remove pictures and other sheets", MaxFileSize>>20)
	case bytes.HasPrefix(data, oleMagic):
		return fail("this is an old Excel 97-2003 workbook (.xls) or a workbook protected by a password; save it as an Excel workbook (.xlsx) without a password")
	case !bytes.HasPrefix(data, zipMagic):
		return fail("not an .xlsx file; save the form from your spreadsheet program as an Excel workbook (.xlsx)")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fail("the .xlsx file is damaged (%v); save it again from your spreadsheet program", err)
	}
	if len(zr.File) > maxParts {
		return fail("the .xlsx file holds %d parts; an XLSForm holds a few dozen: save the form alone in a new workbook", len(zr.File))
	}
	var total uint64
	ods, workbookPart := false, false
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > MaxUnzippedSize {
			return fail("the .xlsx file decompresses to more than %d MiB; an XLSForm is far smaller: save the form alone in a new workbook", MaxUnzippedSize>>20)
		}
		switch strings.ToLower(strings.ReplaceAll(f.Name, "\\", "/")) {
		case "mimetype":
			ods = true
		case "xl/workbook.xml":
			workbookPart = true
		}
	}
	if !workbookPart {
		if ods {
			return fail("this is an OpenDocument spreadsheet (.ods); save it as an Excel workbook (.xlsx)")
		}
		return fail("not an .xlsx file (it has no workbook); save the form from your spreadsheet program as an Excel workbook (.xlsx)")
	}

	f, err := openExcelize(data)
	if err != nil {
		return fail("the .xlsx file cannot be read (%v); save it again from your spreadsheet program as an Excel workbook (.xlsx)", err)
	}
	defer f.Close()

	wb := &workbook{sheets: make(map[string]*sheet)}
	for _, title := range f.GetSheetList() {
		name := strings.ToLower(strings.TrimSpace(title))
		shown := strings.TrimSpace(title)
		switch name {
		case sheetSurvey, sheetChoices, sheetSettings:
		case "external_choices":
			p.errorf(shown, 0, 0, "", "choices from an external file are not supported: testimony shows every choice of a question; move the choices to the choices sheet")
			continue
		case "entities":
			p.errorf(shown, 0, 0, "", "entities are not supported: testimony never keeps records about people between testimonies; remove this sheet")
			continue
		default:
			p.warnf(shown, 0, 0, "", "not an XLSForm sheet (survey, choices, settings); ignored")
			continue
		}
		if prev, ok := wb.sheets[name]; ok {
			p.errorf(shown, 0, 0, "", "a second %s sheet (the first is %q); keep one", name, prev.title)
			continue
		}
		s := readSheet(f, title, name, p)
		if s != nil {
			wb.sheets[name] = s
		}
	}
	return wb
}

// openExcelize opens data with excelize, with limits that keep every part
// in memory (never in temporary files), and turns a panic of the library
// on a malformed file into an error.
func openExcelize(data []byte) (f *excelize.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("malformed workbook: %v", r)
		}
	}()
	return excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit:    MaxUnzippedSize,
		UnzipXMLSizeLimit: MaxUnzippedSize,
	})
}

// readSheet reads the rows of a sheet that hold a value, up to MaxRows
// rows and MaxColumns columns, with values as the spreadsheet shows them
// (numbers formatted, TRUE and FALSE for booleans) and line breaks as
// "\n". The first row is the header.
func readSheet(f *excelize.File, title, name string, p *problems) (s *sheet) {
	sheetTitle := title
	title = strings.TrimSpace(title)
	defer func() {
		if r := recover(); r != nil {
			p.errorf(title, 0, 0, "", "the sheet cannot be read (malformed workbook: %v); save the form again from your spreadsheet program", r)
			s = nil
		}
	}()
	rows, err := f.Rows(sheetTitle)
	if err != nil {
		p.errorf(title, 0, 0, "", "the sheet cannot be read (%v); save the form again from your spreadsheet program", err)
		return nil
	}
	defer rows.Close()
	s = &sheet{name: name, title: title}
	num := 0
	for rows.Next() {
		num++
		cells, err := rows.Columns()
		if err != nil {
			p.errorf(title, num, 0, "", "row %d cannot be read (%v); save the form again from your spreadsheet program", num, err)
			return nil
		}
		first, last := -1, -1
		for i, c := range cells {
			if strings.TrimSpace(c) != "" {
				last = i
				if first < 0 {
					first = i
				}
			}
		}
		if last < 0 {
			continue
		}
		if num > MaxRows {
			p.errorf(title, num, first+1, "", "a value in row %d; a sheet has at most %d rows: remove the rows below the form", num, MaxRows)
			return nil
		}
		if last >= MaxColumns {
			p.errorf(title, num, last+1, "", "a value in column %d; a sheet has at most %d columns: remove the columns right of the form", last+1, MaxColumns)
			return nil
		}
		cells = cells[:last+1]
		for i, c := range cells {
			if strings.Contains(c, "\r") {
				cells[i] = strings.ReplaceAll(strings.ReplaceAll(c, "\r\n", "\n"), "\r", "\n")
			}
		}
		if num == 1 {
			s.header = cells
			continue
		}
		s.rows = append(s.rows, row{num: num, cells: cells})
	}
	if err := rows.Error(); err != nil {
		p.errorf(title, 0, 0, "", "the sheet cannot be read (%v); save the form again from your spreadsheet program", err)
		return nil
	}
	if s.header == nil && len(s.rows) > 0 {
		p.errorf(title, 1, 1, "", "the first row is empty; it must hold the column headers (type, name, label …)")
		return nil
	}
	return s
}
