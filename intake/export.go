package intake

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/sys/unix"
)

// Defaults of [ExportOptions].
const (
	// DefaultMaxEnvelopes bounds the envelopes of one part: a manifest of
	// 10,000 envelopes is under 1 MiB, and a flood of junk is split into
	// parts a researcher can triage one at a time.
	DefaultMaxEnvelopes = 10_000
	// DefaultMaxBytes bounds the size of one part file: 1 GiB, well under
	// the 4 GiB a FAT32 USB stick takes in one file.
	DefaultMaxBytes = 1 << 30
)

// ExportOptions says where and how to write an export.
type ExportOptions struct {
	// Out is an existing folder, where each part is written as
	// <study>-<YYYY-MM-DD>-<export id>-partNNN.tar; or the name of a new
	// file, for an export that fits one part.
	Out string
	// MaxEnvelopes and MaxBytes bound each part: its number of envelopes,
	// and the size of its file (a part holds at least one envelope, so an
	// envelope larger than MaxBytes gets a part of its own). Zero means
	// [DefaultMaxEnvelopes] and [DefaultMaxBytes].
	MaxEnvelopes int
	MaxBytes     int64
	// Progress, if not nil, is called as the export reads envelopes and
	// study files: done out of total bytes, counting both passes over the
	// envelopes (hash, then copy).
	Progress func(done, total int64)
}

// An ExportedPart is one batch file an export wrote.
type ExportedPart struct {
	Path      string
	BatchID   string
	Hash      [32]byte // of its signed manifest: what the audit log records
	Envelopes int
	Bytes     int64 // file size
}

// ExportResult says what an export did.
type ExportResult struct {
	ExportID  string
	Parts     []ExportedPart
	Envelopes int
	// Recovered says, one line each, what the export first repaired of an
	// earlier command that crashed (see [Data]).
	Recovered []string
}

// Notes in an export's folder in the store.
const (
	intentNote   = "intent"   // "part <i> <path>" lines: the batch files the export writes
	rollbackNote = "rollback" // "count <n> log <size>": a rollback in progress
	recordedNote = "recorded" // the audit log holds the export's batch-exported records
)

func partNote(i int) string   { return fmt.Sprintf("part-%06d.manifest", i) }
func purgedNote(i int) string { return fmt.Sprintf("part-%06d.purged", i) }
func partOfNote(name string) int {
	s, ok := strings.CutPrefix(name, "part-")
	if !ok {
		return 0
	}
	s, ok = strings.CutSuffix(s, ".manifest")
	n, err := strconv.Atoi(s)
	if !ok || err != nil || len(s) != 6 || n < 1 {
		return 0
	}
	return n
}

// Export writes every pending envelope into one batch file at path, as
// [Data.ExportParts] does with no limit on the part's size, and returns its
// manifest (read back into memory: for small exports and tests).
func (d *Data) Export(path string, now time.Time) (*batch.Manifest, error) {
	res, err := d.ExportParts(ExportOptions{Out: path, MaxEnvelopes: batch.MaxEnvelopes, MaxBytes: math.MaxInt64}, now)
	if err != nil {
		return nil, err
	}
	x, err := d.Store.LockExports()
	if err != nil {
		return nil, err
	}
	defer x.Close()
	e, err := x.Get(res.ExportID)
	if err != nil {
		return nil, err
	}
	msg, err := e.ReadNote(partNote(1))
	if err != nil {
		return nil, err
	}
	return batch.ParseUnverifiedManifest(msg)
}

// ExportParts writes every pending envelope into batch files, in parts of
// at most o.MaxEnvelopes envelopes and o.MaxBytes bytes, each carrying
// every study version kept with [Data.SaveVersion], signed by the server's
// key; it commits the export in the store and records each part in the
// audit log (batch-exported), then signs a checkpoint. It refuses to
// overwrite a file.
//
// It is all-or-nothing: if it fails, it removes what it wrote, puts the
// envelopes back, records export-rolled-back and says so in its error; if
// the process dies, the next export or purge does the same. Memory does not
// grow with the number of envelopes: it streams them twice (hash, then
// copy) and holds one part's manifest at a time.
//
// It first repairs what an earlier command left after a crash (see
// [ExportResult.Recovered]), and returns [ErrNothingToExport], with the
// result, if no envelope is pending.
func (d *Data) ExportParts(o ExportOptions, now time.Time) (*ExportResult, error) {
	res := &ExportResult{}
	maxN, maxB := o.MaxEnvelopes, o.MaxBytes
	if maxN == 0 {
		maxN = DefaultMaxEnvelopes
	}
	if maxB == 0 {
		maxB = DefaultMaxBytes
	}
	if maxN < 1 || maxN > batch.MaxEnvelopes {
		return nil, fmt.Errorf("--max-envelopes %d: want 1 to %d", maxN, batch.MaxEnvelopes)
	}
	studyID, err := d.StudyID()
	if err != nil {
		return nil, err
	}
	versions, err := d.versionFiles()
	if err != nil {
		return nil, err
	}
	if o.Out == "" {
		return nil, errors.New("no output given: pass a folder, or a new file name")
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(out)
	dirMode := err == nil && fi.IsDir()
	switch {
	case err == nil && !dirMode:
		return nil, fmt.Errorf("%s already exists: choose a new file name, an earlier batch must not be overwritten", o.Out)
	case !dirMode && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("failed to check %s: %w", o.Out, err)
	case !dirMode:
		if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("folder %s does not exist: create it, or give another --out", filepath.Dir(out))
		}
	}
	base := int64(2*1024 + 1024) // manifest header and signature, end-of-archive marker
	for _, v := range versions {
		base += 512 + padded(v.size) + 65
	}
	if base+512+512+92 > maxB {
		return nil, fmt.Errorf("--max-bytes %d cannot hold the study files (%d bytes) and one envelope", maxB, base)
	}

	x, err := d.Store.LockExports()
	if err != nil {
		return nil, err
	}
	defer x.Close()
	if res.Recovered, err = d.recoverCommands(x, now); err != nil {
		return res, err
	}
	if _, err := d.Store.ReleaseReserve(); err != nil {
		return res, err
	}
	if ok, err := d.Store.HasPending(); err != nil || !ok {
		if err == nil {
			err = ErrNothingToExport
		}
		return res, err
	}
	e, err := x.Begin()
	if err != nil {
		return res, err
	}
	res.ExportID = e.ID
	ex := &exporter{d: d, e: e, studyID: studyID, versions: versions, maxN: maxN, maxB: maxB, base: base, progress: o.Progress, res: res}
	if err := ex.run(out, dirMode, now); err != nil {
		_, msg, rerr := d.rollBack(e, now)
		if rerr != nil {
			return res, fmt.Errorf("%w; and rolling the export back failed: %w (the next export or purge will try again)", err, rerr)
		}
		return res, fmt.Errorf("%w (%s)", err, msg)
	}
	if err := e.Commit(); err != nil {
		_, msg, rerr := d.rollBack(e, now)
		if rerr != nil {
			return res, fmt.Errorf("%w; and rolling the export back failed: %w (the next export or purge will try again)", err, rerr)
		}
		return res, fmt.Errorf("%w (%s)", err, msg)
	}
	// Committed: the export happened. What follows can be completed later.
	crashPoint("committed")
	if err := d.recordExport(e, nil, now); err != nil {
		return res, fmt.Errorf("exported %d envelopes, but %w; the next export or purge will record them", res.Envelopes, err)
	}
	return res, nil
}

// versionFile is a study version kept in the data directory.
type versionFile struct {
	sum  [32]byte
	path string
	size int64
}

// versionFiles returns the study versions, checked against their names.
func (d *Data) versionFiles() ([]versionFile, error) {
	sums, err := d.Versions()
	if err != nil {
		return nil, err
	}
	var vs []versionFile
	for _, sum := range sums {
		path := d.versionPath(sum)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read study version: %w", err)
		}
		if sha256.Sum256(b) != sum || len(b) == 0 || len(b) > batch.MaxVersionSize {
			return nil, fmt.Errorf("%s does not hold the study file its name says: restore it from a backup", path)
		}
		vs = append(vs, versionFile{sum, path, int64(len(b))})
	}
	if len(vs) > batch.MaxVersions {
		return nil, fmt.Errorf("%d study versions, more than a batch holds (%d)", len(vs), batch.MaxVersions)
	}
	return vs, nil
}

// exporter writes one export.
type exporter struct {
	d        *Data
	e        *store.Export
	studyID  string
	versions []versionFile
	maxN     int
	maxB     int64
	base     int64 // bytes of a part besides its envelopes
	progress func(done, total int64)
	res      *ExportResult

	plan        []partPlan
	paths       []string // final path of each part
	done, total int64
}

type partPlan struct {
	n     int
	bytes int64 // estimated file size
}

type partEntry struct {
	store.Entry
	size int64
	sum  [32]byte
}

// cost is what an envelope of size bytes adds to a part's file.
func cost(size int64) int64 { return 512 + padded(size) + 92 }

func padded(n int64) int64 { return (n + 511) / 512 * 512 }

func (ex *exporter) run(out string, dirMode bool, now time.Time) error {
	if err := ex.e.TakeInbox(); err != nil {
		return err
	}
	crashPoint("taken")
	// Pass 0: plan the parts from the sizes alone.
	cur := partPlan{bytes: ex.base}
	var envBytes int64
	err := ex.e.Walk(func(_ store.Entry, size int64) error {
		if cur.n > 0 && (cur.n == ex.maxN || cur.bytes+cost(size) > ex.maxB) {
			ex.plan = append(ex.plan, cur)
			cur = partPlan{bytes: ex.base}
		}
		cur.n++
		cur.bytes += cost(size)
		envBytes += size
		return nil
	})
	if err != nil {
		return err
	}
	if cur.n > 0 {
		ex.plan = append(ex.plan, cur)
	}
	if len(ex.plan) == 0 {
		return ErrNothingToExport
	}
	if len(ex.plan) > batch.MaxParts {
		return fmt.Errorf("the export would need %d parts, more than %d: raise --max-envelopes or --max-bytes", len(ex.plan), batch.MaxParts)
	}
	if !dirMode && len(ex.plan) > 1 {
		return fmt.Errorf("the export needs %d parts (at most %d envelopes and %d bytes each): pass an existing folder as --out", len(ex.plan), ex.maxN, ex.maxB)
	}
	var vBytes int64
	for _, v := range ex.versions {
		vBytes += v.size
	}
	ex.total = 2*envBytes + int64(len(ex.plan))*vBytes

	// Name the parts, and say where they go before writing any.
	width := max(3, len(strconv.Itoa(len(ex.plan))))
	var intent bytes.Buffer
	for i := range ex.plan {
		p := out
		if dirMode {
			p = filepath.Join(out, fmt.Sprintf("%s-%s-%s-part%0*d.tar", ex.studyID, now.UTC().Format(time.DateOnly), ex.e.ID, width, i+1))
		}
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: an earlier batch must not be overwritten", p)
		}
		ex.paths = append(ex.paths, p)
		fmt.Fprintf(&intent, "part %d %s\n", i+1, p)
	}
	if err := ex.e.WriteNote(intentNote, intent.Bytes()); err != nil {
		return err
	}

	// Passes 1 and 2, a part at a time.
	var entries []partEntry
	part := 0
	err = ex.e.Walk(func(en store.Entry, size int64) error {
		if part >= len(ex.plan) {
			return errors.New("the export's envelopes changed while it ran")
		}
		entries = append(entries, partEntry{Entry: en, size: size})
		if len(entries) < ex.plan[part].n {
			return nil
		}
		if err := ex.writePart(part, entries); err != nil {
			return err
		}
		crashPoint("part")
		part++
		entries = entries[:0]
		return nil
	})
	if err == nil && (part != len(ex.plan) || len(entries) != 0) {
		err = errors.New("the export's envelopes changed while it ran")
	}
	if err != nil {
		return err
	}

	// Into place, without overwriting anything.
	dirs := map[string]bool{}
	for _, p := range ex.paths {
		if err := renameNoReplace(tempPath(p, ex.e.ID), p); err != nil {
			return fmt.Errorf("failed to move batch %s into place: %w", p, err)
		}
		dirs[filepath.Dir(p)] = true
	}
	for dir := range dirs {
		if err := atomicfile.SyncDir(dir); err != nil {
			return err
		}
	}
	crashPoint("renamed")
	return nil
}

// tempPath is where the part that goes to path is written first.
func tempPath(path, exportID string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+exportID+".partial")
}

// writePart hashes the envelopes of part i (pass 1), then writes its batch
// file under its temporary name (pass 2), synced, and keeps its signed
// manifest in the export's folder.
func (ex *exporter) writePart(i int, entries []partEntry) error {
	m := &batch.Manifest{StudyID: ex.studyID, ExportID: ex.e.ID, Part: i + 1, Parts: len(ex.plan)}
	for _, v := range ex.versions {
		m.Versions = append(m.Versions, v.sum)
	}
	for j := range entries {
		en := &entries[j]
		f, err := ex.e.Open(en.Entry)
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, ex.counting(f))
		f.Close()
		if err != nil {
			return fmt.Errorf("failed to read envelope %s/%s: %w", en.Day, en.ID, err)
		}
		if n != en.size {
			return fmt.Errorf("envelope %s/%s changed while the export ran", en.Day, en.ID)
		}
		en.sum = [32]byte(h.Sum(nil))
		m.Entries = append(m.Entries, batch.ManifestEntry{ID: en.ID, SHA256: en.sum})
	}
	slices.SortFunc(entries, func(a, b partEntry) int { return strings.Compare(a.ID, b.ID) })

	path := ex.paths[i]
	tmp, err := os.OpenFile(tempPath(path, ex.e.ID), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("failed to write batch %s: %w", path, err)
	}
	defer tmp.Close()
	bufw := bufio.NewWriterSize(tmp, 1<<20)
	bw, err := batch.NewWriter(bufw, ex.d.signer, m)
	if err != nil {
		return err
	}
	for _, v := range ex.versions {
		f, err := os.Open(v.path)
		if err != nil {
			return fmt.Errorf("failed to read study version: %w", err)
		}
		err = bw.WriteVersion(v.sum, v.size, ex.counting(f))
		f.Close()
		if err != nil {
			return err
		}
	}
	for _, en := range entries {
		f, err := ex.e.Open(en.Entry)
		if err != nil {
			return err
		}
		err = bw.WriteEnvelope(en.ID, en.size, ex.counting(f))
		f.Close()
		if err != nil {
			return err
		}
	}
	if err := bw.Close(); err != nil {
		return err
	}
	if err := bufw.Flush(); err != nil {
		return fmt.Errorf("failed to write batch %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("failed to write batch %s: %w", path, err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to write batch %s: %w", path, err)
	}
	// The file's times would tell when the export ran: keep the day.
	y, mo, dd := time.Now().UTC().Date()
	midnight := time.Date(y, mo, dd, 0, 0, 0, 0, time.UTC)
	os.Chtimes(tempPath(path, ex.e.ID), midnight, midnight)
	if err := ex.e.WriteNote(partNote(i+1), bw.SignedManifest()); err != nil {
		return err
	}
	ex.res.Parts = append(ex.res.Parts, ExportedPart{Path: path, BatchID: m.BatchID, Hash: m.Hash, Envelopes: len(entries), Bytes: fi.Size()})
	ex.res.Envelopes += len(entries)
	return nil
}

// counting reports the bytes read from r as progress.
func (ex *exporter) counting(r io.Reader) io.Reader {
	if ex.progress == nil {
		return r
	}
	return &progressReader{r: r, ex: ex}
}

type progressReader struct {
	r  io.Reader
	ex *exporter
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.ex.done += int64(n)
		p.ex.progress(p.ex.done, p.ex.total)
	}
	return n, err
}

// renameNoReplace renames from to to, failing if to exists.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// File systems without it (some FUSE ones): nothing else writes
		// there under the export's random name.
		if _, serr := os.Lstat(to); serr == nil {
			return fs.ErrExist
		}
		err = os.Rename(from, to)
	}
	return err
}

// crashPoint is called at the points of an export or purge where a crash
// leaves the most to repair; tests make it kill the process.
var crashPoint = func(stage string) {}

// recordExport appends a batch-exported record for each part of the
// committed export e that the log lacks (have: the manifest hashes it
// holds, or nil to append them all), signs a checkpoint, and notes that the
// export is recorded.
func (d *Data) recordExport(e *store.Export, have map[[32]byte]bool, now time.Time) error {
	notes, err := e.Notes()
	if err != nil {
		return err
	}
	for _, name := range notes {
		if partOfNote(name) == 0 {
			continue
		}
		msg, err := e.ReadNote(name)
		if err != nil {
			return err
		}
		m, err := batch.ParseUnverifiedManifest(msg)
		if err != nil {
			return fmt.Errorf("export %s, %s: %w", e.ID, name, err)
		}
		if have[m.Hash] {
			continue
		}
		if err := d.Record(audit.BatchExported(m.Hash, len(m.Entries), now)); err != nil {
			return err
		}
		crashPoint("recorded")
	}
	if err := d.checkpoint(now); err != nil {
		return err
	}
	return e.WriteNote(recordedNote, nil)
}

// rollBack undoes the uncommitted export e: it removes the batch files its
// intent names (only files that are batches of this export), records
// export-rolled-back once, and moves the envelopes back into the inbox. It
// returns the number of envelopes and a one-line account.
func (d *Data) rollBack(e *store.Export, now time.Time) (int, string, error) {
	removed, kept := d.removeBatchFiles(e)
	count, since := -1, int64(0)
	if b, err := e.ReadNote(rollbackNote); err == nil {
		fmt.Sscanf(string(b), "count %d log %d\n", &count, &since)
	}
	if count < 0 {
		n, err := e.Count()
		if err != nil {
			return 0, "", err
		}
		l, err := d.Audit()
		if err != nil {
			return 0, "", err
		}
		if since, err = l.Len(); err != nil {
			return 0, "", err
		}
		count = n
		if err := e.WriteNote(rollbackNote, fmt.Appendf(nil, "count %d log %d\n", count, since)); err != nil {
			return 0, "", err
		}
	}
	if count > 0 {
		found, err := d.findRecord(since, func(r audit.Record) bool { return r.Event == audit.EventExportRolledBack && r.Count == count })
		if err != nil {
			return 0, "", err
		}
		if !found {
			if err := d.Record(audit.ExportRolledBack(count, now)); err != nil {
				return 0, "", err
			}
		}
	}
	crashPoint("rollback-recorded")
	if _, err := e.RollBack(); err != nil {
		return 0, "", err
	}
	msg := fmt.Sprintf("rolled back export %s: its %d envelopes are pending again", e.ID, count)
	if removed > 0 {
		msg += fmt.Sprintf(", %d partial batch files removed", removed)
	}
	if len(kept) > 0 {
		msg += "; delete " + strings.Join(kept, ", ") + " if you find them: they are not exported"
	}
	return count, msg, nil
}

// removeBatchFiles removes the batch files, finished or not, that the
// intent of export e names. It removes a finished file only if it is a
// batch of this export. It returns how many it removed, and the paths it
// could not check or remove.
func (d *Data) removeBatchFiles(e *store.Export) (removed int, kept []string) {
	intent, err := e.ReadNote(intentNote)
	if err != nil {
		return 0, nil
	}
	dirs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(intent), "\n"), "\n") {
		var i int
		var path string
		if _, err := fmt.Sscanf(line, "part %d ", &i); err != nil {
			continue
		}
		_, path, _ = strings.Cut(strings.TrimPrefix(line, "part "), " ")
		if !filepath.IsAbs(path) {
			continue
		}
		if err := os.Remove(tempPath(path, e.ID)); err == nil {
			removed++
			dirs[filepath.Dir(path)] = true
		}
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		ours := false
		if err == nil {
			m, merr := batch.ReadUnverifiedManifest(f)
			ours = merr == nil && m.ExportID == e.ID
			f.Close()
		}
		if ours && os.Remove(path) == nil {
			removed++
			dirs[filepath.Dir(path)] = true
		} else {
			kept = append(kept, path)
		}
	}
	for dir := range dirs {
		atomicfile.SyncDir(dir)
	}
	return removed, kept
}

// findRecord reports whether a record at index since or later matches.
func (d *Data) findRecord(since int64, match func(audit.Record) bool) (bool, error) {
	l, err := d.Audit()
	if err != nil {
		return false, err
	}
	found := false
	err = l.Scan(func(i int64, r audit.Record) error {
		if i >= since && match(r) {
			found = true
		}
		return nil
	})
	return found, err
}

// recoverCommands repairs, with the exports lock held, what earlier
// commands left after a crash, and returns a line for each repair: audit
// records of envelopes a crashed server stored, exports interrupted before
// they committed (rolled back), exports committed without their audit
// records (completed), and a purge cut short (completed).
func (d *Data) recoverCommands(x *store.Exports, now time.Time) ([]string, error) {
	var lines []string
	if d.Store.Unconfirmed() && d.serveLock == nil {
		n, err := d.recoverIfNoServer(x, now)
		if err != nil {
			return lines, fmt.Errorf("failed to recover the audit records of envelopes stored before a crash: %w", err)
		}
		if n > 0 {
			lines = append(lines, fmt.Sprintf("recorded %d envelopes a crashed server had stored without an audit record (submissions-recovered)", n))
		}
	}
	committed, interrupted, err := x.List()
	if err != nil {
		return lines, err
	}
	if len(interrupted) > 0 {
		if _, err := d.Store.ReleaseReserve(); err != nil {
			return lines, err
		}
	}
	for _, id := range interrupted {
		e, err := x.Get(id)
		if err != nil {
			return lines, err
		}
		_, msg, err := d.rollBack(e, now)
		if err != nil {
			return lines, fmt.Errorf("failed to roll back interrupted export %s: %w", id, err)
		}
		lines = append(lines, msg+" (export-rolled-back)")
	}
	var have map[[32]byte]bool
	for _, id := range committed {
		e, err := x.Get(id)
		if err != nil {
			return lines, err
		}
		if _, err := e.ReadNote(recordedNote); err == nil {
			continue
		}
		if have == nil {
			if have, err = d.exportedHashes(); err != nil {
				return lines, err
			}
		}
		if err := d.recordExport(e, have, now); err != nil {
			return lines, fmt.Errorf("failed to complete the audit records of export %s: %w", id, err)
		}
		lines = append(lines, fmt.Sprintf("completed the audit records of export %s, interrupted after it was written (batch-exported)", id))
	}
	msg, err := d.completePurge(x, now)
	if err != nil {
		return lines, err
	}
	if msg != "" {
		lines = append(lines, msg)
	}
	return lines, nil
}

// exportedHashes returns the manifest hashes of every batch-exported
// record.
func (d *Data) exportedHashes() (map[[32]byte]bool, error) {
	l, err := d.Audit()
	if err != nil {
		return nil, err
	}
	have := map[[32]byte]bool{}
	err = l.Scan(func(_ int64, r audit.Record) error {
		if r.Event == audit.EventBatchExported {
			have[r.SHA256] = true
		}
		return nil
	})
	return have, err
}
