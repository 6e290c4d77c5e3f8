package researcher

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/internal/atomicfile"
)

// MultiSeparator joins the values of a multi_choice answer in a CSV cell.
const MultiSeparator = ";"

// exportFormat changes whenever the layout of an export changes, so that
// exports made by an earlier version are made again.
const exportFormat = 1

// exportStamp, in the file .exports, says what the exports were made from.
// Close compares it with the workspace to rewrite only what is out of date:
// with the same study, language, format and names, testimonies.jsonl,
// testimonies.csv and testimonies/ only need the rows added since.
type exportStamp struct {
	Format         int    `json:"format"`
	Study          string `json:"study"` // hex SHA-256 of the study file
	Lang           string `json:"lang"`
	Epoch          int64  `json:"epoch"` // renames
	Rows           int    `json:"rows"`
	JSONL          int64  `json:"jsonl"` // size of testimonies.jsonl
	CSV            int64  `json:"csv"`   // size of testimonies.csv
	Quarantine     int    `json:"quarantine"`
	QuarantineData int64  `json:"quarantine_data"`
}

// export brings the exports up to date with the saved workspace.
func (w *Workspace) export() error {
	want := exportStamp{
		Format: exportFormat, Study: hex.EncodeToString(w.study.SHA256[:]), Lang: w.lang, Epoch: w.st.Epoch,
		Rows: len(w.rows), Quarantine: len(w.quar), QuarantineData: w.st.QuarantineData,
	}
	path := func(name string) string { return filepath.Join(w.dir, name) }
	old, haveStamp := readStamp(path(stampFile))
	same := haveStamp && old.Format == want.Format && old.Study == want.Study && old.Lang == want.Lang
	from := -1 // rewrite every row
	if same && old.Epoch == want.Epoch && old.Rows <= want.Rows &&
		sizeOf(path(jsonlFile)) == old.JSONL && sizeOf(path(csvFile)) == old.CSV && countMarkdown(path(markdownDir)) == old.Rows {
		from = old.Rows
	}
	quarDone := same && old.Quarantine == want.Quarantine && old.QuarantineData == want.QuarantineData && sizeOf(path(quarantineFile)) >= 0
	codebookDone := same && sizeOf(path(codebookFile)) >= 0
	if from == want.Rows && quarDone && codebookDone {
		return nil
	}

	// From here until the new stamp is written, the exports may be half
	// made: without a stamp, the next Close makes them all again.
	if err := os.Remove(path(stampFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to update exports: %w", err)
	}
	if err := atomicfile.SyncDir(w.dir); err != nil {
		return err
	}
	var err error
	want.JSONL, want.CSV, err = w.exportTestimonies(from)
	if err != nil {
		return err
	}
	crashPoint("exporting")
	if !quarDone {
		if err := atomicfile.Write(path(quarantineFile), 0o600, w.writeQuarantine); err != nil {
			return err
		}
	}
	if !codebookDone {
		if err := atomicfile.Write(path(codebookFile), 0o600, w.writeCodebook); err != nil {
			return err
		}
	}
	stamp, _ := json.Marshal(want)
	return atomicfile.WriteBytes(path(stampFile), 0o600, append(stamp, '\n'))
}

func readStamp(path string) (exportStamp, bool) {
	var s exportStamp
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &s) != nil {
		return s, false
	}
	return s, true
}

// sizeOf returns the size of the file at path, or -1 if there is none.
func sizeOf(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return info.Size()
}

// countMarkdown returns the number of Markdown files in dir, or -1.
func countMarkdown(dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		return -1
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return -1
	}
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, ".md") {
			n++
		}
	}
	return n
}

// exportRow is one testimony: its pseudonym and language (Answers unset),
// its decoded answers and its line in data/testimonies. answers and line
// are valid until the next row.
type exportRow struct {
	Testimony
	answers map[string]answer
	line    []byte
}

// readRows returns the saved testimonies from row from on, in the order of
// the exports, read one at a time from data/testimonies.
func (w *Workspace) readRows(from int) iter.Seq2[exportRow, error] {
	return func(yield func(exportRow, error) bool) {
		if from >= len(w.rows) {
			return
		}
		f, err := os.Open(filepath.Join(w.dir, dataFile))
		if err != nil {
			yield(exportRow{}, fmt.Errorf("failed to read testimonies: %w", err))
			return
		}
		defer f.Close()
		var buf []byte
		for _, r := range w.rows[from:] {
			if int64(cap(buf)) < r.n {
				buf = make([]byte, r.n)
			}
			buf = buf[:r.n]
			if _, err := f.ReadAt(buf, r.off); err != nil {
				yield(exportRow{}, fmt.Errorf("failed to read testimonies: %w", err))
				return
			}
			d, err := parseDataLine(buf)
			if err != nil {
				yield(exportRow{}, fmt.Errorf("%s is damaged at byte %d: restore the workspace from a backup", dataFile, r.off))
				return
			}
			name, _ := w.reg.Lookup(hexKey(r.key))
			t := Testimony{Pseudonym: name.Hangul, PseudonymRoman: name.Roman, Version: d.version, Language: d.lang}
			if !yield(exportRow{Testimony: t, answers: d.answers, line: buf}, nil) {
				return
			}
		}
	}
}

// exportTestimonies writes the testimonies from row from on to
// testimonies.jsonl, testimonies.csv and testimonies/, appending to the
// files as they are; with from < 0, it makes them all again. It returns the
// sizes of the two files.
func (w *Workspace) exportTestimonies(from int) (jsonlSize, csvSize int64, err error) {
	full := from < 0
	files := make([]*exportFile, 2)
	for i, name := range []string{jsonlFile, csvFile} {
		if files[i], err = openExport(filepath.Join(w.dir, name), full); err != nil {
			for _, f := range files[:i] {
				f.abort()
			}
			return 0, 0, err
		}
	}
	defer func() {
		for _, f := range files {
			f.abort()
		}
	}()
	mdDir := filepath.Join(w.dir, markdownDir)
	if err := os.MkdirAll(mdDir, 0o700); err != nil {
		return 0, 0, fmt.Errorf("failed to write exports: %w", err)
	}
	// Rewriting every file compares each Markdown file with what is there,
	// unless nothing is.
	compare := full && countMarkdown(mdDir) > 0
	out := exportSinks{jsonl: files[0].bw, csv: files[1].bw, header: full, mdDir: mdDir, mdCompare: compare, versions: w.versions,
		progress: w.exportProgress, total: len(w.rows) - max(from, 0)}
	if full {
		out.mdNames = map[string]bool{}
	}
	if err := writeExports(w.study, w.lang, w.readRows(max(from, 0)), out); err != nil {
		return 0, 0, err
	}
	if full {
		if err := removeStaleMarkdown(mdDir, out.mdNames); err != nil {
			return 0, 0, err
		}
	}
	// Markdown files are many and small: one sync of the file system
	// makes them durable before the stamp says they are there.
	if err := syncFS(mdDir); err != nil {
		return 0, 0, fmt.Errorf("failed to write exports: %w", err)
	}
	for _, f := range files {
		if err := f.commit(); err != nil {
			return 0, 0, err
		}
	}
	if err := atomicfile.SyncDir(w.dir); err != nil {
		return 0, 0, err
	}
	return files[0].size, files[1].size, nil
}

// exportSinks are where writeExports writes.
type exportSinks struct {
	jsonl, csv io.Writer
	header     bool   // the files are new: write the CSV's header first
	mdDir      string // one Markdown file per testimony
	mdCompare  bool   // write a Markdown file only if it differs
	mdNames    map[string]bool
	versions   map[string]*config.Study // study versions by id, for Markdown labels
	progress   func(done, total int)    // if not nil, called as rows are written
	total      int                      // rows to write, for progress
}

// writeExports writes every export of the testimonies in rows: a line of
// testimonies.jsonl, a row of testimonies.csv and a Markdown file each.
//
// It is the one place the formats are written, from rows streamed off disk:
// nothing holds more than one testimony at a time.
func writeExports(study *config.Study, lang string, rows iter.Seq2[exportRow, error], out exportSinks) error {
	var columns []*config.Question
	for i := range study.Questions {
		if q := &study.Questions[i]; q.Answerable() {
			columns = append(columns, q)
		}
	}
	cw := csv.NewWriter(out.csv)
	cw.UseCRLF = true
	if out.header {
		if _, err := io.WriteString(out.csv, "\uFEFF"); err != nil {
			return err
		}
		head := []string{"pseudonym", "pseudonym_roman", "lang"}
		for _, q := range columns {
			head = append(head, q.ID)
		}
		if err := cw.Write(head); err != nil {
			return err
		}
	}
	// Markdown files are written by two goroutines while this one formats
	// the next rows: creating a file costs more than formatting it (more
	// writers only contend for the folder).
	mdw := newFileWriter(2, out.mdCompare)
	defer mdw.close()
	record := make([]string, 3+len(columns))
	var line []byte
	done := 0
	for r, err := range rows {
		if err != nil {
			return err
		}

		// testimonies.jsonl: the names, then the line as stored.
		line = append(line[:0], `{"pseudonym":`...)
		line = appendJSONString(line, r.Pseudonym)
		line = append(line, `,"pseudonym_roman":`...)
		line = appendJSONString(line, r.PseudonymRoman)
		line = append(line, ',')
		line = append(line, r.line[1:]...)
		if _, err := out.jsonl.Write(line); err != nil {
			return err
		}

		record = append(record[:0], r.Pseudonym, r.PseudonymRoman, r.Language)
		for _, q := range columns {
			record = append(record, csvSafe(r.answers[q.ID].text))
		}
		if err := cw.Write(record); err != nil {
			return err
		}

		// The Markdown file follows the version the answers were given to.
		version := study
		if out.versions != nil && out.versions[r.Version] != nil {
			version = out.versions[r.Version]
		}
		var md bytes.Buffer
		writeMarkdown(&md, version, lang, r.Testimony, r.answers)
		name := MarkdownName(r.Testimony)
		if out.mdNames != nil {
			out.mdNames[name] = true
		}
		if err := mdw.write(filepath.Join(out.mdDir, name), md.Bytes()); err != nil {
			return err
		}
		if done++; out.progress != nil {
			out.progress(done, out.total)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return mdw.close()
}

// fileWriter writes files with a few goroutines.
type fileWriter struct {
	jobs    chan fileJob
	wg      sync.WaitGroup
	compare bool
	mu      sync.Mutex
	err     error
	closed  bool
}

type fileJob struct {
	path string
	data []byte
}

func newFileWriter(n int, compare bool) *fileWriter {
	fw := &fileWriter{jobs: make(chan fileJob, 4*n), compare: compare}
	for range n {
		fw.wg.Add(1)
		go func() {
			defer fw.wg.Done()
			for j := range fw.jobs {
				if err := writeMarkdownFile(j.path, j.data, fw.compare); err != nil {
					fw.mu.Lock()
					if fw.err == nil {
						fw.err = err
					}
					fw.mu.Unlock()
				}
			}
		}()
	}
	return fw
}

// write queues a file; it returns the first error any write had so far.
func (fw *fileWriter) write(path string, data []byte) error {
	fw.mu.Lock()
	err := fw.err
	fw.mu.Unlock()
	if err != nil {
		return err
	}
	fw.jobs <- fileJob{path, data}
	return nil
}

// close waits for every queued file and returns the first error.
func (fw *fileWriter) close() error {
	if !fw.closed {
		fw.closed = true
		close(fw.jobs)
		fw.wg.Wait()
	}
	return fw.err
}

// appendJSONString appends s as encoding/json writes it with HTML escaping
// off: quotes, backslashes and control characters escaped (\b \f \n \r \t
// or \u00XX), U+2028 and U+2029 as \u2028 and \u2029, invalid UTF-8 as
// \ufffd, everything else as is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Cell returns the text of an answer for a CSV cell or a Markdown file:
// multi_choice values joined by MultiSeparator, other answers as sent.
func Cell(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	var vals []string
	if json.Unmarshal(raw, &vals) == nil {
		return strings.Join(vals, MultiSeparator)
	}
	return ""
}

// csvSafe defuses a cell that a spreadsheet would run as a formula (one
// starting with =, +, -, @, a tab or a carriage return) by prefixing a single
// quote, as OWASP recommends: a submitter must not be able to make the
// researcher's spreadsheet fetch a URL or run a command. testimonies.jsonl
// keeps the text exactly as sent.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (w *Workspace) writeCodebook(out io.Writer) error {
	if _, err := io.WriteString(out, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(out)
	cw.UseCRLF = true
	head := []string{"question", "type", "value"}
	for _, l := range w.study.Languages {
		head = append(head, "label_"+l)
	}
	cw.Write(head)
	labels := func(t config.Text) []string {
		var out []string
		for _, l := range w.study.Languages {
			out = append(out, t.In(l))
		}
		return out
	}
	for _, q := range w.study.Questions {
		cw.Write(append([]string{q.ID, string(q.Type), ""}, labels(q.Label)...))
		for _, c := range q.Choices {
			cw.Write(append([]string{q.ID, "choice", c.Value}, labels(c.Label)...))
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeQuarantine writes quarantine.jsonl: the line of each quarantined
// envelope's latest examination, in the order they were quarantined.
func (w *Workspace) writeQuarantine(out io.Writer) error {
	if len(w.quar) == 0 {
		return nil
	}
	f, err := os.Open(filepath.Join(w.dir, quarDataFile))
	if err != nil {
		return fmt.Errorf("failed to read quarantine: %w", err)
	}
	defer f.Close()
	var buf []byte
	for _, q := range w.quar {
		if int64(cap(buf)) < q.n {
			buf = make([]byte, q.n)
		}
		buf = buf[:q.n]
		if _, err := f.ReadAt(buf, q.off); err != nil {
			return fmt.Errorf("failed to read quarantine: %w", err)
		}
		if _, err := out.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// fence returns a Markdown code fence longer than any run of backticks in
// s, so that a testimony is shown as typed and never rendered: no link,
// image or HTML a submitter wrote can load anything in a Markdown viewer.
func fence(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// MarkdownName returns the file name of a testimony's Markdown file.
func MarkdownName(t Testimony) string {
	return t.Pseudonym + " " + t.PseudonymRoman + ".md"
}

// writeMarkdown writes the Markdown file of t, whose answers were given to
// study.
func writeMarkdown(b *bytes.Buffer, study *config.Study, lang string, t Testimony, answers map[string]answer) {
	fmt.Fprintf(b, "# %s (%s)\n\n", t.Pseudonym, t.PseudonymRoman)
	for i, q := range study.Questions {
		a, ok := answers[q.ID]
		if !ok {
			continue
		}
		fmt.Fprintf(b, "## %d. %s\n\n", i+1, q.Label.In(lang))
		text := a.text
		if len(q.Choices) > 0 {
			var labels []string
			for _, v := range strings.Split(text, MultiSeparator) {
				if c := q.Choice(v); c != nil {
					labels = append(labels, fmt.Sprintf("%s (%s)", c.Label.In(lang), v))
				}
			}
			text = strings.Join(labels, "\n")
		}
		f := fence(text)
		fmt.Fprintf(b, "%s\n%s\n%s\n\n", f, text, f)
	}
}

// writeMarkdownFile writes a Markdown file; with compare, only if it does
// not already hold data. Markdown files are made again from data/ whenever
// the stamp is missing, so they are not synced one by one.
func writeMarkdownFile(path string, data []byte, compare bool) error {
	if compare {
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			return nil
		}
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("failed to write exports: %w", err)
	}
	return nil
}

// removeStaleMarkdown removes the Markdown files not in want: those of
// pseudonyms that were renamed.
func removeStaleMarkdown(dir string, want map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("failed to write exports: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") && !want[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("failed to write exports: %w", err)
			}
		}
	}
	return nil
}

// exportFile is testimonies.jsonl or testimonies.csv being written: a new
// temporary file renamed over the old one, or the old one appended to.
type exportFile struct {
	path string
	f    *os.File
	bw   *bufio.Writer
	tmp  bool
	size int64
	done bool
}

func openExport(path string, full bool) (*exportFile, error) {
	var f *os.File
	var err error
	if full {
		f, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
		if err == nil {
			err = f.Chmod(0o600)
		}
	} else {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	}
	if err != nil {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
		return nil, fmt.Errorf("failed to write %s: %w", path, err)
	}
	return &exportFile{path: path, f: f, bw: bufio.NewWriterSize(f, 256<<10), tmp: full}, nil
}

func (e *exportFile) commit() error {
	err := e.bw.Flush()
	if err == nil {
		err = e.f.Sync()
	}
	if err == nil {
		var info os.FileInfo
		if info, err = e.f.Stat(); err == nil {
			e.size = info.Size()
		}
	}
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && e.tmp {
		err = os.Rename(e.f.Name(), e.path)
	}
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", e.path, err)
	}
	e.done = true
	return nil
}

func (e *exportFile) abort() {
	if e == nil || e.done {
		return
	}
	e.f.Close()
	if e.tmp {
		os.Remove(e.f.Name())
	}
}
