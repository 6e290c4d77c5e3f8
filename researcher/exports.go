package researcher

import (
	"bufio"
	"bytes"
	"cmp"
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
	"time"
	"unicode/utf8"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/export"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/pseudonym"
)

// MultiSeparator joins the values of a multi_choice answer in a CSV cell.
const MultiSeparator = export.MultiSeparator

// exportFormat changes whenever the layout of an export changes, so that
// exports made by an earlier version are made again.
const exportFormat = 2

// exportStamp, in the file .exports, says what the exports were made from.
// Close compares it with the workspace to write only what is out of date:
// nothing if no testimony, name, study version or language changed; with
// the same study versions, languages and names, only the Markdown files of
// the testimonies added since. The other files hold every testimony in
// the order of their pseudonyms, so they are written whole.
type exportStamp struct {
	Format   int    `json:"format"`
	Study    string `json:"study"`    // version id of the study given to Open
	Versions string `json:"versions"` // SHA-256 of the version ids of the schema, in order
	Lang     string `json:"lang"`     // of Markdown files and the XLSX labels sheet
	Labels   string `json:"labels"`   // of testimonies-labels-<lang>.csv, or ""
	Names    string `json:"names"`    // renamesDigest
	Rows     int    `json:"rows"`
	// Sizes are those of the files holding every testimony, by name: one
	// that changed (edited in a spreadsheet and saved) is made again.
	Sizes          map[string]int64 `json:"sizes"`
	Quarantine     int              `json:"quarantine"`
	QuarantineData int64            `json:"quarantine_data"`
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
	files := []string{jsonlFile, csvFile, xlsxFile}
	if want.Labels != "" {
		files = append(files, labelsCSVName(want.Labels))
	}
	testimoniesDone := same && old.Rows == want.Rows && old.Labels == want.Labels && countMarkdown(path(markdownDir)) == old.Rows &&
		!slices.ContainsFunc(files, func(f string) bool { size, ok := old.Sizes[f]; return !ok || sizeOf(path(f)) != size })
	want.Sizes = old.Sizes
	mdFrom := -1 // every Markdown file
	if same && old.Rows <= want.Rows && countMarkdown(path(markdownDir)) == old.Rows {
		mdFrom = old.Rows
	}
	quarDone := same && old.Quarantine == want.Quarantine && old.QuarantineData == want.QuarantineData && sizeOf(path(quarantineFile)) >= 0
	codebookDone := same && sizeOf(path(codebookFile)) >= 0
	if testimoniesDone && quarDone && codebookDone {
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
	if !testimoniesDone {
		if err := w.exportTestimonies(schema, want.Labels, mdFrom); err != nil {
			return err
		}
		want.Sizes = map[string]int64{}
		for _, f := range files {
			want.Sizes[f] = sizeOf(path(f))
		}
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
// unset), and its decoded answers, valid until the next row. added is its
// position in the order testimonies were saved.
type storedRow struct {
	Testimony
	answers map[string]answer
	added   int
}

// exportOrder returns the indices of w.rows in the order of the exports:
// by pseudonym, Hangul (가나다 order) then romanized form, so that every
// researcher holding the same testimonies under the same names writes the
// same files, however the testimonies reached them.
func (w *Workspace) exportOrder() []int {
	type entry struct {
		name pseudonym.Name
		i    int
	}
	es := make([]entry, len(w.rows))
	for i, r := range w.rows {
		es[i].name, _ = w.names.Lookup(hexKey(r.key))
		es[i].i = i
	}
	slices.SortFunc(es, func(a, b entry) int {
		return cmp.Or(strings.Compare(a.name.Hangul, b.name.Hangul), strings.Compare(a.name.Roman, b.name.Roman), cmp.Compare(a.i, b.i))
	})
	out := make([]int, len(es))
	for i, e := range es {
		out[i] = e.i
	}
	return out
}

// readRows returns the saved testimonies in the order of the exports, read
// one at a time from data/testimonies.
func (w *Workspace) readRows() iter.Seq2[storedRow, error] {
	return func(yield func(storedRow, error) bool) {
		if len(w.rows) == 0 {
			return
		}
		f, err := os.Open(filepath.Join(w.dir, dataFile))
		if err != nil {
			yield(storedRow{}, fmt.Errorf("failed to read testimonies: %w", err))
			return
		}
		defer f.Close()
		var buf []byte
		for _, i := range w.exportOrder() {
			r := w.rows[i]
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
			if !yield(storedRow{Testimony: t, answers: d.answers, added: i}, nil) {
				return
			}
		}
	}
}

// exportRow is a testimony as the export package takes it, with its
// position in the order testimonies were saved.
type exportRow struct {
	export.Row
	added int
}

// exportRows returns the saved testimonies as the export package takes
// them, in the order of the exports. The rows are independent of one
// another and of the data read after them, so that several writers can
// hold them at once.
func (w *Workspace) exportRows() iter.Seq2[exportRow, error] {
	return func(yield func(exportRow, error) bool) {
		for r, err := range w.readRows() {
			if err != nil {
				yield(exportRow{}, err)
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
			row := export.Row{Pseudonym: r.Pseudonym, PseudonymRoman: r.PseudonymRoman, Language: r.Language, Version: r.Version, Answers: answers}
			if !yield(exportRow{Row: row, added: r.added}, nil) {
				return
			}
		}
	}
}

// exportTestimonies writes every testimony to testimonies.jsonl,
// testimonies.csv, the CSV of labels in labels (if not ""),
// testimonies.xlsx and testimonies/, in one pass over data/testimonies,
// each file by its own writer of package export, in parallel. Markdown
// files are written for the testimonies saved from mdFrom on (the others
// are there already), or for all with mdFrom -1.
func (w *Workspace) exportTestimonies(schema *export.Schema, labels string, mdFrom int) error {
	path := func(name string) string { return filepath.Join(w.dir, name) }
	var files []*exportFile
	defer func() {
		for _, f := range files {
			f.abort()
		}
	}()
	var sinks []sink
	newFile := func(name string, write func(out io.Writer, rows export.Rows) error) error {
		f, err := openExport(path(name))
		if err != nil {
			return err
		}
		files = append(files, f)
		sinks = append(sinks, func(rows iter.Seq2[exportRow, error]) error { return write(f.bw, plain(rows)) })
		return nil
	}
	if err := newFile(jsonlFile, func(out io.Writer, rows export.Rows) error { return export.WriteJSONL(out, schema, rows) }); err != nil {
		return err
	}
	if err := newFile(csvFile, func(out io.Writer, rows export.Rows) error {
		return export.WriteCSV(out, schema, rows, export.CSVOptions{})
	}); err != nil {
		return err
	}
	if labels != "" {
		if err := newFile(labelsCSVName(labels), func(out io.Writer, rows export.Rows) error {
			return export.WriteCSV(out, schema, rows, export.CSVOptions{Labels: labels})
		}); err != nil {
			return err
		}
	}
	tmp := path(tmpDir)
	sinks = append(sinks, func(rows iter.Seq2[exportRow, error]) error {
		// Sheets beyond 16 MiB spill to disk, in plaintext: into the
		// workspace, which repair empties after a crash.
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			return fmt.Errorf("failed to write exports: %w", err)
		}
		defer os.RemoveAll(tmp)
		return atomicfile.Write(path(xlsxFile), 0o600, func(out io.Writer) error {
			return export.WriteXLSX(out, schema, plain(rows), export.XLSXOptions{Labels: w.lang, TempDir: tmp})
		})
	})
	mdDir := path(markdownDir)
	if err := os.MkdirAll(mdDir, 0o700); err != nil {
		return fmt.Errorf("failed to write exports: %w", err)
	}
	// Writing every file compares each with what is there, unless nothing
	// is.
	full := mdFrom < 0
	compare := full && countMarkdown(mdDir) > 0
	var mdNames map[string]bool
	if full {
		mdNames = map[string]bool{}
	}
	sinks = append(sinks, func(rows iter.Seq2[exportRow, error]) error {
		return w.writeMarkdown(mdDir, schema, func(yield func(export.Row, error) bool) {
			for r, err := range rows {
				if err == nil && r.added < mdFrom {
					continue
				}
				if !yield(r.Row, err) {
					return
				}
			}
		}, compare, mdNames)
	})

	total := len(w.rows)
	progress := func(done int) {
		if w.exportProgress != nil {
			w.exportProgress(done, total)
		}
	}
	progress(0)
	if err := fanOut(w.exportRows(), sinks, progress); err != nil {
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
	return atomicfile.SyncDir(w.dir)
}

// plain returns the rows without their positions.
func plain(rows iter.Seq2[exportRow, error]) export.Rows {
	return func(yield func(export.Row, error) bool) {
		for r, err := range rows {
			if !yield(r.Row, err) {
				return
			}
		}
	}
}

// sink is one writer of rows.
type sink func(iter.Seq2[exportRow, error]) error

// fanOut reads rows once and gives each to every sink, each writing in its
// own goroutine, a few rows behind at most: memory does not grow with the
// rows. It returns the first error of the rows or of a sink; a sink that
// fails stops the others, whose rows then end in an error, so that no
// writer completes a file.
func fanOut(rows iter.Seq2[exportRow, error], sinks []sink, progress func(done int)) error {
	type item struct {
		r   exportRow
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
			err := s(func(yield func(exportRow, error) bool) {
				for it := range ch {
					if !yield(it.r, it.err) {
						return
					}
				}
				select {
				case <-stop: // the rows ended early: write nothing
					yield(exportRow{}, errStopped)
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
	done := 0
	stopped := false
feed:
	for r, err := range rows {
		for _, ch := range chans {
			select {
			case ch <- item{r: r, err: err}:
			case <-stop:
				stopped = true
				break feed
			}
		}
		if err != nil {
			break
		}
		done++
		progress(done)
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
// temporary file renamed over the old one.
type exportFile struct {
	path string
	f    *os.File
	bw   *bufio.Writer
	done bool
}

func openExport(path string) (*exportFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err != nil {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
		return nil, fmt.Errorf("failed to write %s: %w", path, err)
	}
	return &exportFile{path: path, f: f, bw: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (e *exportFile) commit() error {
	err := e.bw.Flush()
	if err == nil {
		err = e.f.Sync()
	}
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
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
	os.Remove(e.f.Name())
}

// ReportOptions change what [Workspace.WriteReport] writes.
type ReportOptions struct {
	// Language of labels and of the report's words; empty means the
	// language of the exports.
	Language string
	// FreeText includes every free-text answer, with its pseudonym: the
	// report then holds testimony.
	FreeText bool
}

// WriteReport writes to path the report of package export (one offline
// HTML file of counts and charts, readable only by its owner) of the
// testimonies the last Close saved, with every version of the study, each
// pseudonym linked to its Markdown file in the workspace. It shows the
// current UTC day, nothing finer.
func (w *Workspace) WriteReport(path string, opt ReportOptions) error {
	if err := w.usable(); err != nil {
		return err
	}
	lang := opt.Language
	if lang == "" {
		lang = w.lang
	}
	schema, err := export.NewSchema(w.schemaVersions())
	if err != nil {
		return fmt.Errorf("failed to write the report: %w", err)
	}
	md, err := filepath.Abs(filepath.Join(w.dir, markdownDir))
	if err != nil {
		return err
	}
	rows := func(yield func(export.Row, error) bool) {
		for r, err := range w.exportRows() {
			if !yield(r.Row, err) {
				return
			}
		}
	}
	day := timeNow().UTC().Truncate(24 * time.Hour)
	return export.WriteReportFile(path, schema, rows, export.ReportOptions{Language: lang, FreeText: opt.FreeText, MarkdownDir: md, Day: day})
}
