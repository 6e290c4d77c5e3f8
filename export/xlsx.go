package export

import (
	"archive/zip"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"
)

// XLSXOptions change what [WriteXLSX] writes.
type XLSXOptions struct {
	// Labels is the language of the sheet of labels. Empty means the
	// study's default language.
	Labels string
	// TempDir is where sheets larger than 16 MiB are spilled while the
	// file is written, in files only the user can read, removed before
	// WriteXLSX returns. They hold testimonies: give a folder on the same
	// protected disk as the workspace. Empty means the system's
	// temporary folder.
	TempDir string
}

// MaxCellChars is the most characters (UTF-16 code units) a cell of an
// XLSX file holds: Excel's limit. A longer answer is cut to fit, ending
// with [TruncatedMark]; it is whole in CSV, JSONL and Markdown.
const MaxCellChars = excelize.TotalCellChars

// TruncatedMark ends an answer that was cut to fit an XLSX cell.
const TruncatedMark = " [… cut: the whole answer is in the CSV, JSONL and Markdown files]"

// Sheet names of the workbook WriteXLSX writes.
const (
	ValuesSheet   = "values"
	CodebookSheet = "codebook"
)

// LabelsSheet returns the name of the sheet of labels in lang.
func LabelsSheet(lang string) string { return "labels_" + lang }

// WriteXLSX writes an Excel workbook to w with three sheets: "values" (as
// [WriteCSV] without labels), "labels_<lang>" (as [WriteCSV] with labels
// in opt.Labels) and "codebook" (as [WriteCodebook]). Cells are typed:
// year, integer and decimal answers are numbers, everything else is text
// — never a formula, whatever it starts with, so no defusing is needed or
// done. Codes are grey italic text. The header row is bold and frozen.
// Memory stays bounded whatever the number of rows: sheets are streamed,
// spilling to opt.TempDir.
func WriteXLSX(w io.Writer, s *Schema, rows Rows, opt XLSXOptions) (err error) {
	lang, err := s.checkLanguage(opt.Labels)
	if err != nil {
		return err
	}
	f := excelize.NewFile(excelize.Options{TmpDir: opt.TempDir})
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("failed to remove temporary files: %w", cerr)
		}
	}()
	if err := f.SetSheetName("Sheet1", ValuesSheet); err != nil {
		return err
	}
	if _, err := f.NewSheet(LabelsSheet(lang)); err != nil {
		return err
	}
	if _, err := f.NewSheet(CodebookSheet); err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	grey, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Italic: true, Color: "808080"}})
	if err != nil {
		return err
	}

	header := s.Header()
	values, err := newSheet(f, ValuesSheet, header, bold)
	if err != nil {
		return err
	}
	labels, err := newSheet(f, LabelsSheet(lang), header, bold)
	if err != nil {
		return err
	}
	var cells []cell
	out := make([]any, 0, len(header))
	lout := make([]any, 0, len(header))
	for r, err := range rows {
		if err != nil {
			return err
		}
		var v *version
		cells, v, err = s.cells(cells, &r, false, lang)
		if err != nil {
			return err
		}
		out = append(out[:0], xlsxText(r.Pseudonym), xlsxText(r.PseudonymRoman), xlsxText(r.Language), v.short)
		for _, c := range cells {
			out = append(out, xlsxCell(c, grey))
		}
		if err := values.add(out); err != nil {
			return err
		}
		// The sheet of labels differs only in choices, months and seasons.
		lout = append(lout[:0], out...)
		for i, col := range s.columns {
			if c := cells[i]; c.kind == text && (col.part == period || isChoice(col.q.q)) {
				lout[len(fixedColumns)+i] = xlsxCell(col.q.cell(col.part, r.Answers[col.q.id], true, lang), grey)
			}
		}
		if err := labels.add(lout); err != nil {
			return err
		}
	}
	if err := values.sw.Flush(); err != nil {
		return err
	}
	if err := labels.sw.Flush(); err != nil {
		return err
	}

	book, err := newSheet(f, CodebookSheet, s.codebookHeader(), bold)
	if err != nil {
		return err
	}
	for _, r := range s.codebook(time.Now()) {
		out = out[:0]
		for _, t := range r {
			out = append(out, xlsxText(t))
		}
		if err := book.add(out); err != nil {
			return err
		}
	}
	if err := book.sw.Flush(); err != nil {
		return err
	}
	// excelize assembles the whole archive in a buffer before writing it
	// out (File.WriteTo), so memory would grow with the workbook. Its zip
	// writer is the one extension point it offers: given one that writes
	// straight to w, the buffer stays empty and memory stays bounded. The
	// sheets are deflated at the fastest level: they are XML, which even
	// that shrinks about tenfold.
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zw })
	var buffered countingWriter
	if err := f.Write(&buffered); err != nil {
		return fmt.Errorf("failed to write the workbook: %w", err)
	}
	if buffered != 0 {
		return errors.New("failed to write the workbook: excelize buffered it instead of streaming it")
	}
	return nil
}

// countingWriter counts what is written to it and keeps nothing.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// xlsxCell returns what the stream writer takes for a cell.
func xlsxCell(c cell, codeStyle int) any {
	switch c.kind {
	case code:
		return excelize.Cell{StyleID: codeStyle, Value: c.text}
	case integer:
		return int64(c.num)
	case decimal:
		return c.num
	}
	return xlsxText(escapeCode(c.text))
}

type sheet struct {
	sw  *excelize.StreamWriter
	row int
}

// newSheet starts streaming a sheet: widths, a frozen header row in bold.
func newSheet(f *excelize.File, name string, header []string, bold int) (*sheet, error) {
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return nil, err
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, err
	}
	if err := sw.SetColWidth(1, len(header), 16); err != nil {
		return nil, err
	}
	h := make([]any, len(header))
	for i, n := range header {
		h[i] = excelize.Cell{StyleID: bold, Value: xlsxText(n)}
	}
	sh := &sheet{sw: sw}
	return sh, sh.add(h)
}

func (sh *sheet) add(cells []any) error {
	sh.row++
	if sh.row > excelize.TotalRows {
		return errors.New("too many testimonies for one XLSX sheet (1,048,575): use the CSV file")
	}
	return sh.sw.SetRow(fmt.Sprintf("A%d", sh.row), cells)
}

// xlsxText makes text Visible and cuts it to fit a cell.
func xlsxText(t string) string {
	t = Visible(t)
	if len(t) <= MaxCellChars || utf16Len(t) <= MaxCellChars { // UTF-16 is never longer than UTF-8
		return t
	}
	limit := MaxCellChars - utf16Len(TruncatedMark)
	n := 0
	for i, r := range t {
		n += utf16.RuneLen(r)
		if n > limit {
			return t[:i] + TruncatedMark
		}
	}
	return t
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
