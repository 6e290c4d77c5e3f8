package export

import (
	"bufio"
	"io"
	"strings"
	"time"
)

// CSVOptions change what [WriteCSV] writes.
type CSVOptions struct {
	// Labels, if set, is a language of the study: choice answers are
	// written as their labels in it, and months and seasons as words,
	// instead of values.
	Labels string
}

// WriteCSV writes one row per testimony to w: the header of
// [Schema.Header], then the rows in the order rows yields them. The
// format is described in the package documentation, "CSV".
func WriteCSV(w io.Writer, s *Schema, rows Rows, opt CSVOptions) error {
	lang, err := s.checkLanguage(opt.Labels)
	if err != nil {
		return err
	}
	cw := newCSVWriter(w)
	cw.row(s.Header())
	var cells []cell
	fields := make([]string, 0, len(fixedColumns)+len(s.columns))
	for r, err := range rows {
		if err != nil {
			return err
		}
		var v *version
		cells, v, err = s.cells(cells, &r, opt.Labels != "", lang)
		if err != nil {
			return err
		}
		fields = append(fields[:0], r.Pseudonym, r.PseudonymRoman, r.Language, v.short)
		for _, c := range cells {
			if c.kind == code {
				fields = append(fields, c.text)
			} else {
				fields = append(fields, escapeCode(c.text))
			}
		}
		if err := cw.row(fields); err != nil {
			return err
		}
	}
	return cw.flush()
}

// WriteCodebook writes the codebook as CSV to w: every code, every
// questionnaire version, and every column with its question's type,
// labels in every language, whether it is required, its condition, range
// and constraint, and the versions that ask it, followed by its choices.
func WriteCodebook(w io.Writer, s *Schema) error {
	cw := newCSVWriter(w)
	cw.row(s.codebookHeader())
	for _, r := range s.codebook(time.Now()) {
		if err := cw.row(r); err != nil {
			return err
		}
	}
	return cw.flush()
}

// csvWriter writes UTF-8 with a byte order mark, every field quoted,
// made Visible and defused, CRLF after every record.
type csvWriter struct {
	w   *bufio.Writer
	err error
}

func newCSVWriter(w io.Writer) *csvWriter {
	cw := &csvWriter{w: bufio.NewWriterSize(w, 64<<10)}
	_, cw.err = cw.w.WriteString("\uFEFF")
	return cw
}

func (cw *csvWriter) row(fields []string) error {
	if cw.err != nil {
		return cw.err
	}
	for i, f := range fields {
		if i > 0 {
			cw.w.WriteByte(',')
		}
		cw.w.WriteByte('"')
		f = defuse(Visible(f))
		for {
			j := strings.IndexByte(f, '"')
			if j < 0 {
				break
			}
			cw.w.WriteString(f[:j+1])
			cw.w.WriteByte('"')
			f = f[j+1:]
		}
		cw.w.WriteString(f)
		cw.w.WriteByte('"')
	}
	_, cw.err = cw.w.WriteString("\r\n")
	return cw.err
}

func (cw *csvWriter) flush() error {
	if cw.err != nil {
		return cw.err
	}
	return cw.w.Flush()
}
