package researcher

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/export"
	"github.com/testimony-project/testimony/internal/atomicfile"
)

// MultiSeparator joins the values of a multi_choice answer in a CSV cell.
const MultiSeparator = export.MultiSeparator

// exportFormat changes whenever the layout of an export changes, so that
// exports made by an earlier version are made again.
const exportFormat = 2

// exportStamp, in the file .exports, says what the exports were made from.
// Close compares it with the workspace to rewrite only what is out of date:
// with the same study versions, languages and names, testimonies.jsonl, the
// CSV files and testimonies/ only need the rows added since; the XLSX file,
// a zip archive, is written again whenever a row was added.
type exportStamp struct {
	Format         int    `json:"format"`
	Study          string `json:"study"`    // version id of the study given to Open
	Versions       string `json:"versions"` // SHA-256 of the sorted version ids of the schema
	Lang           string `json:"lang"`     // of Markdown files and the XLSX labels sheet
	Labels         string `json:"labels"`   // of testimonies-labels-<lang>.csv, or ""
	Names          string `json:"names"`    // renamesDigest
	Rows           int    `json:"rows"`
	JSONL          int64  `json:"jsonl"`      // size of testimonies.jsonl
	CSV            int64  `json:"csv"`        // size of testimonies.csv
	LabelsCSV      int64  `json:"labels_csv"` // size of the labels CSV
	Quarantine     int    `json:"quarantine"`
	QuarantineData int64  `json:"quarantine_data"`
}

// labelsCSVName returns the name of the CSV file of labels in lang.
func labelsCSVName(lang string) string { return "testimonies-labels-" + lang + ".csv" }

// SetLabels makes Close write testimonies-labels-<lang>.csv, the CSV file
// with choice labels (and months and seasons as words) in lang instead of
// values, and keep it up to date on every later run; "none" stops that and
// removes the file. Without a call, the exports keep the language they had.
func (w *Workspace) SetLabels(lang string) error {
	if lang == "none" {
		w.labels = ""
		return nil
	}
	if !w.study.HasLanguage(lang) {
		return fmt.Errorf("unknown language %q for labels: use one of the study's, %s", lang, strings.Join(w.study.Langs(), ", "))
	}
	w.labels = lang
	return nil
}

// RewriteExports makes Close write every export again, whatever the
// stamp says.
func (w *Workspace) RewriteExports() { w.rewrite = true }

// schemaVersions returns the study versions the exports show, oldest
// first as export.NewSchema takes them: every version the workspace holds
// but the study given to Open, sorted by version id (study files carry no
// date, and the order must be the same for every researcher), then the
// study given to Open.
func (w *Workspace) schemaVersions() []*config.Study {
	var out []*config.Study
	for _, id := range slices.Sorted(maps.Keys(w.versions)) {
		if v := w.versions[id]; v != w.study {
			out = append(out, v)
		}
	}
	return append(out, w.study)
}

// export brings the exports up to date with the saved workspace.
func (w *Workspace) export() error {
	versions := w.schemaVersions()
	schema, err := export.NewSchema(versions)
	if err != nil {
		return fmt.Errorf("failed to export: %w", err)
	}
	vh := sha256.New()
	for _, v := range versions {
		vh.Write([]byte(v.Version() + "\n"))
	}
	want := exportStamp{
		Format: exportFormat, Study: w.study.Version(), Versions: hex.EncodeToString(vh.Sum(nil)), Lang: w.lang, Labels: w.labels,
		Names: w.renamesDigest(), Rows: len(w.rows), Quarantine: len(w.quar), QuarantineData: w.st.QuarantineData,
	}
	path := func(name string) string { return filepath.Join(w.dir, name) }
	old, haveStamp := readStamp(path(stampFile))
	same := haveStamp && !w.rewrite && old.Format == want.Format && old.Study == want.Study && old.Versions == want.Versions &&
		old.Lang == want.Lang && old.Names == want.Names
	from := -1 // rewrite every row
	if same && old.Rows <= want.Rows && sizeOf(path(jsonlFile)) == old.JSONL && sizeOf(path(csvFile)) == old.CSV && countMarkdown(path(markdownDir)) == old.Rows {
		from = old.Rows
	}
	labelsFrom := -1
	if want.Labels != "" && old.Labels == want.Labels && from >= 0 && sizeOf(path(labelsCSVName(want.Labels))) == old.LabelsCSV {
		labelsFrom = from
	}
	xlsxDone := same && from == want.Rows && sizeOf(path(xlsxFile)) >= 0
	quarDone := same && old.Quarantine == want.Quarantine && old.QuarantineData == want.QuarantineData && sizeOf(path(quarantineFile)) >= 0
	codebookDone := same && sizeOf(path(codebookFile)) >= 0
	labelsDone := want.Labels == "" || labelsFrom == want.Rows
	if from == want.Rows && labelsDone && xlsxDone && quarDone && codebookDone && old.Labels == want.Labels {
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
	if err := w.exportTestimonies(schema, &want, from, labelsFrom, !xlsxDone); err != nil {
		return err
	}
	crashPoint("exporting")
	if err := removeOtherLabels(w.dir, want.Labels); err != nil {
		return err
	}
	if !quarDone {
		if err := atomicfile.Write(path(quarantineFile), 0o600, w.writeQuarantine); err != nil {
			return err
		}
	}
	if !codebookDone {
		if err := atomicfile.Write(path(codebookFile), 0o600, func(out io.Writer) error { return export.WriteCodebook(out, schema) }); err != nil {
			return err
		}
	}
	stamp, _ := json.Marshal(want)
	return atomicfile.WriteBytes(path(stampFile), 0o600, append(stamp, '\n'))
}

// removeOtherLabels removes the CSV files of labels in other languages
// than keep ("" keeps none).
func removeOtherLabels(dir, keep string) error {
	names, err := filepath.Glob(filepath.Join(dir, labelsCSVName("*")))
	if err != nil {
		return err
	}
	for _, n := range names {
		if keep == "" || filepath.Base(n) != labelsCSVName(keep) {
			if err := os.Remove(n); err != nil {
				return fmt.Errorf("failed to update exports: %w", err)
			}
		}
	}
	return nil
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

// storedRow is one saved testimony: its pseudonym and language (Answers
// unset), and its decoded answers, valid until the next row.
type storedRow struct {
	Testimony
	answers map[string]answer
}

// readRows returns the saved testimonies from row from on, in the order of
// the exports, read one at a time from data/testimonies.
func (w *Workspace) readRows(from int) iter.Seq2[storedRow, error] {
	return func(yield func(storedRow, error) bool) {
		if from >= len(w.rows) {
			return
		}
		f, err := os.Open(filepath.Join(w.dir, dataFile))
		if err != nil {
			yield(storedRow{}, fmt.Errorf("failed to read testimonies: %w", err))
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
				yield(storedRow{}, fmt.Errorf("failed to read testimonies: %w", err))
				return
			}
			d, err := parseDataLine(buf)
			if err != nil {
				yield(storedRow{}, fmt.Errorf("%s is damaged at byte %d: restore the workspace from a backup", dataFile, r.off))
				return
			}
			name, _ := w.names.Lookup(hexKey(r.key))
			t := Testimony{Pseudonym: name.Hangul, PseudonymRoman: name.Roman, Version: d.version, Language: d.lang}
			if !yield(storedRow{Testimony: t, answers: d.answers}, nil) {
				return
			}
		}
	}
}

// exportRows returns the saved testimonies from row from on as the export
// package takes them. The rows are independent of one another and of the
// data read after them, so that several writers can hold them at once.
func (w *Workspace) exportRows(from int) iter.Seq2[export.Row, error] {
	return func(yield func(export.Row, error) bool) {
		for r, err := range w.readRows(from) {
			if err != nil {
				yield(export.Row{}, err)
				return
			}
			answers := make(map[string][]string, len(r.answers))
			for id, a := range r.answers {
				if a.values != nil {
					answers[id] = a.values
				} else {
					answers[id] = []string{a.text}
				}
			}
			if !yield(export.Row{Pseudonym: r.Pseudonym, PseudonymRoman: r.PseudonymRoman, Language: r.Language, Version: r.Version, Answers: answers}, nil) {
				return
			}
		}
	}
}

// exportTestimonies writes the testimonies to testimonies.jsonl,
// testimonies.csv, the labels CSV, testimonies.xlsx and testimonies/, in
// one pass over data/testimonies, each file by its own writer of package
// export, in parallel. from (labelsFrom for the labels CSV) is the first
// row to append to the files as they are; -1 makes them all again. xlsx
// says whether to write the XLSX file (always whole). It sets the files'
// sizes in st.
func (w *Workspace) exportTestimonies(schema *export.Schema, st *exportStamp, from, labelsFrom int, xlsx bool) error {
	path := func(name string) string { return filepath.Join(w.dir, name) }
	var files []*exportFile
	defer func() {
		for _, f := range files {
			f.abort()
		}
	}()
	open := func(name string, from int) (*exportFile, error) {
		f, err := openExport(path(name), from < 0)
		if err == nil {
			files = append(files, f)
		}
		return f, err
	}
	var sinks []sink
	total := len(w.rows)

	jsonl, err := open(jsonlFile, from)
	if err != nil {
		return err
	}
	sinks = append(sinks, sink{from: max(from, 0), write: func(rows export.Rows) error { return export.WriteJSONL(jsonl.bw, schema, rows) }})
	csvSink := func(name string, from int, opt export.CSVOptions) (*exportFile, error) {
		f, err := open(name, from)
		if err != nil {
			return nil, err
		}
		var out io.Writer = f.bw
		if from >= 0 {
			// WriteCSV starts every file with a byte order mark and
			// the header, which the file already has.
			var head bytes.Buffer
			if err := export.WriteCSV(&head, schema, export.Slice(nil), opt); err != nil {
				return nil, err
			}
			out = &skipWriter{w: f.bw, skip: head.Bytes()}
		}
		sinks = append(sinks, sink{from: max(from, 0), write: func(rows export.Rows) error { return export.WriteCSV(out, schema, rows, opt) }})
		return f, nil
	}
	csvOut, err := csvSink(csvFile, from, export.CSVOptions{})
	if err != nil {
		return err
	}
	var labelsOut *exportFile
	if st.Labels != "" {
		if labelsOut, err = csvSink(labelsCSVName(st.Labels), labelsFrom, export.CSVOptions{Labels: st.Labels}); err != nil {
			return err
		}
	}
	if xlsx {
		tmp := path(tmpDir)
		sinks = append(sinks, sink{from: 0, write: func(rows export.Rows) error {
			if err := os.MkdirAll(tmp, 0o700); err != nil {
				return fmt.Errorf("failed to write exports: %w", err)
			}
			defer os.RemoveAll(tmp)
			return atomicfile.Write(path(xlsxFile), 0o600, func(out io.Writer) error {
				return export.WriteXLSX(out, schema, rows, export.XLSXOptions{Labels: w.lang, TempDir: tmp})
			})
		}})
	}
	mdDir := path(markdownDir)
	if err := os.MkdirAll(mdDir, 0o700); err != nil {
		return fmt.Errorf("failed to write exports: %w", err)
	}
	// Rewriting every file compares each Markdown file with what is there,
	// unless nothing is.
	full := from < 0
	var mdNames map[string]bool
	if full {
		mdNames = map[string]bool{}
	}
	sinks = append(sinks, sink{from: max(from, 0), write: func(rows export.Rows) error {
		return w.writeMarkdown(mdDir, schema, rows, full && countMarkdown(mdDir) > 0, mdNames)
	}})

	start := total
	for _, s := range sinks {
		start = min(start, s.from)
	}
	progress := w.exportProgress
	if progress != nil {
		progress(0, total-start)
	}
	if err := fanOut(w.exportRows(start), start, sinks, func(done int) {
		if progress != nil {
			progress(done, total-start)
		}
	}); err != nil {
		return err
	}
	if full {
		if err := removeStaleMarkdown(mdDir, mdNames); err != nil {
			return err
		}
	}
	// Markdown files are many and small: one sync of the file system
	// makes them durable before the stamp says they are there.
	if err := syncFS(mdDir); err != nil {
		return fmt.Errorf("failed to write exports: %w", err)
	}
	for _, f := range files {
		if err := f.commit(); err != nil {
			return err
		}
	}
	if err := atomicfile.SyncDir(w.dir); err != nil {
		return err
	}
	st.JSONL, st.CSV = jsonl.size, csvOut.size
	if labelsOut != nil {
		st.LabelsCSV = labelsOut.size
	}
	return nil
}

// sink is one writer of rows, taking them from row from on.
type sink struct {
	from  int
	write func(export.Rows) error
}

// fanOut reads rows once (numbered from start) and gives each to every
// sink from its first row on, each sink writing in its own goroutine, a
// few rows behind at most: memory does not grow with the rows. It returns
// the first error of the rows or of a sink; a sink that fails stops the
// others.
func fanOut(rows iter.Seq2[export.Row, error], start int, sinks []sink, progress func(done int)) error {
	type item struct {
		i   int
		r   export.Row
		err error
	}
	stop := make(chan struct{})
	var once sync.Once
	errs := make([]error, len(sinks))
	chans := make([]chan item, len(sinks))
	var wg sync.WaitGroup
	for k, s := range sinks {
		ch := make(chan item, 32)
		chans[k] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.write(func(yield func(export.Row, error) bool) {
				for it := range ch {
					if it.i < s.from && it.err == nil {
						continue
					}
					if !yield(it.r, it.err) {
						return
					}
				}
				select {
				case <-stop: // the rows ended early: write nothing
					yield(export.Row{}, errStopped)
				default:
				}
			})
			if err != nil {
				errs[k] = err
				once.Do(func() { close(stop) })
			}
			for range ch { // what it did not read
			}
		}()
	}
	i := start
	stopped := false
feed:
	for r, err := range rows {
		for _, ch := range chans {
			select {
			case ch <- item{i: i, r: r, err: err}:
			case <-stop:
				stopped = true
				break feed
			}
		}
		if err != nil {
			break
		}
		i++
		progress(i - start)
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if stopped {
		return errStopped
	}
	return nil
}

var errStopped = errors.New("failed to write exports: another export failed")

// skipWriter drops the first len(skip) bytes written through it, which
// must be skip.
type skipWriter struct {
	w    io.Writer
	skip []byte
}

func (s *skipWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(s.skip) > 0 {
		k := min(len(p), len(s.skip))
		if !bytes.Equal(p[:k], s.skip[:k]) {
			return 0, errors.New("the CSV header changed: the exports will be made again")
		}
		p, s.skip = p[k:], s.skip[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if _, err := s.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// writeMarkdown writes one Markdown file per testimony into dir, named
// by export.MarkdownName; with compare, only those that differ from what
// is there. names, if not nil, collects the names written. Markdown files
// are written by two goroutines while this one formats the next rows:
// creating a file costs more than formatting it (more writers only contend
// for the folder).
func (w *Workspace) writeMarkdown(dir string, schema *export.Schema, rows export.Rows, compare bool, names map[string]bool) error {
	mdw := newFileWriter(2, compare)
	defer mdw.close()
	for r, err := range rows {
		if err != nil {
			return err
		}
		var md bytes.Buffer
		if err := export.WriteMarkdown(&md, schema, r, w.lang); err != nil {
			return err
		}
		name := export.MarkdownName(r)
		if names != nil {
			if names[name] {
				return fmt.Errorf("two testimonies are called %s", strings.TrimSuffix(name, ".md"))
			}
			names[name] = true
		}
		if err := mdw.write(filepath.Join(dir, name), md.Bytes()); err != nil {
			return err
		}
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

// Cell returns the text of an answer as testimonies.jsonl holds it, for
// showing one: multi_choice values joined by MultiSeparator, other
// answers as sent.
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

// writeQuarantine writes quarantine.jsonl: the line of each quarantined
// envelope's latest examination, in the order they were quarantined (not
// those sealed before the researcher joined the team, which are not
// quarantined).
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
		if q.reason == reasonSealedBefore {
			continue
		}
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

// exportFile is testimonies.jsonl or a CSV file being written: a new
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
