package intake

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/reply"
	"golang.org/x/mod/sumdb/note"
)

// MaxStoredReplies bounds the reply records a server holds: everyone who
// comes back downloads all of them (2 KiB each: 32 MiB at this bound,
// minutes over a slow Tor circuit). An import that would pass it is
// refused, naming the purge that makes room.
const MaxStoredReplies = 16384

// Replies are the researchers' reply records the server holds for people
// who come back, in the data directory:
//
//	DIR/replies/YYYY-MM-DD   the records imported on that UTC day, each
//	                         reply.RecordSize bytes, sorted by their bytes
//	                         (so by tag), concatenated; mode 0600, times
//	                         set to that day's midnight (UTC)
//	DIR/replies/lock         held (flock) by an import or a purge
//	DIR/replies/purge        a purge under way: the files it deletes
//
// A record is ciphertext for one person (package reply): nothing in it
// says who it is for, from which submission, or which other records go
// to the same person. What the directory tells beyond the records is the
// UTC day each was imported — which the audit log's reply-batch-imported
// records tell as counts — and, from the inode change time no program can
// set, the moment of the last import into each day's file. It keeps no
// batch manifest: which records came in one batch is not kept, beyond
// that day.
//
// [Data.ImportReplies] adds records, [Data.PurgeReplies] deletes those
// past their retention, [Replies.Load] reads them all for serving. An
// import and a purge exclude each other; a server reads while they run
// and sees each day's file whole, before or after.
type Replies struct {
	dir string
}

// Replies returns the data directory's reply records.
func (d *Data) Replies() *Replies { return &Replies{dir: filepath.Join(d.Dir, "replies")} }

// OpenReplies returns the reply records kept in dir (DIR/replies of a
// data directory). It touches nothing.
func OpenReplies(dir string) *Replies { return &Replies{dir: dir} }

const (
	repliesLock    = "lock"
	repliesJournal = "purge"
)

// dayFile reports whether name is a day's file, and its day.
func dayFile(name string) (time.Time, bool) {
	if len(name) != len(time.DateOnly) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, name)
	return t, err == nil && t.Format(time.DateOnly) == name
}

// Signature returns what changes whenever the stored records change: the
// name and size of each day's file. Records are only ever added to a day's
// file or deleted with it, so equal signatures mean equal records. It is
// cheap: one directory listing.
func (r *Replies) Signature() (string, error) {
	des, err := os.ReadDir(r.dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("failed to list reply records: %w", err)
	}
	var b strings.Builder
	for _, de := range des {
		if _, ok := dayFile(de.Name()); !ok {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			return "", fmt.Errorf("failed to list reply records: %w", err)
		}
		fmt.Fprintf(&b, "%s %d\n", de.Name(), fi.Size())
	}
	return b.String(), nil
}

// Load returns every stored record, concatenated and sorted by their
// bytes, and the signature they were read at (see [Replies.Signature]).
// It refuses a directory holding anything it does not write, a file that
// is not whole records, or a record stored twice.
func (r *Replies) Load() (records []byte, signature string, err error) {
	days, err := r.days()
	if err != nil {
		return nil, "", err
	}
	var sig strings.Builder
	var all []byte
	for _, day := range days {
		data, err := os.ReadFile(filepath.Join(r.dir, day))
		if err != nil {
			return nil, "", fmt.Errorf("failed to read reply records: %w", err)
		}
		if len(data)%reply.RecordSize != 0 {
			return nil, "", fmt.Errorf("%s is %d bytes, not whole reply records of %d: damaged; restore it, or move it aside and import its batches again", filepath.Join(r.dir, day), len(data), reply.RecordSize)
		}
		fmt.Fprintf(&sig, "%s %d\n", day, len(data))
		if all == nil {
			all = data // most often the only one
		} else {
			all = append(all, data...)
		}
	}
	n := len(all) / reply.RecordSize
	if n > MaxStoredReplies {
		return nil, "", fmt.Errorf("%s holds %d reply records, more than %d: purge old ones (intake replies purge)", r.dir, n, MaxStoredReplies)
	}
	records = sortRecords(all)
	for i := 1; i < n; i++ {
		if bytes.Equal(records[(i-1)*reply.RecordSize : i*reply.RecordSize][:reply.TagSize], records[i*reply.RecordSize:][:reply.TagSize]) {
			return nil, "", fmt.Errorf("%s holds two reply records with the same tag: damaged; restore it from the researchers' reply batches", r.dir)
		}
	}
	return records, sig.String(), nil
}

// days lists the day files, oldest first, refusing anything else but the
// lock, a purge journal and temporary files of a write (".name.*").
func (r *Replies) days() ([]string, error) {
	des, err := os.ReadDir(r.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to list reply records: %w", err)
	}
	var days []string
	for _, de := range des {
		name := de.Name()
		switch _, ok := dayFile(name); {
		case ok && de.Type().IsRegular():
			days = append(days, name)
		case name == repliesLock || name == repliesJournal || strings.HasPrefix(name, "."):
		default:
			return nil, fmt.Errorf("unexpected file %q in %s: it only keeps one file of reply records per UTC day (YYYY-MM-DD)", name, r.dir)
		}
	}
	slices.Sort(days)
	return days, nil
}

// sortRecords returns concatenated records sorted by their bytes, in a
// new slice.
func sortRecords(records []byte) []byte {
	n := len(records) / reply.RecordSize
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	at := func(i int) []byte { return records[i*reply.RecordSize : (i+1)*reply.RecordSize] }
	slices.SortFunc(idx, func(a, b int) int { return bytes.Compare(at(a), at(b)) })
	sorted := make([]byte, 0, len(records))
	for _, j := range idx {
		sorted = append(sorted, at(j)...)
	}
	return sorted
}

// mergeRecords returns the records of a and b, each sorted, sorted, in a
// new slice.
func mergeRecords(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if bytes.Compare(a[:reply.RecordSize], b[:reply.RecordSize]) <= 0 {
			out, a = append(out, a[:reply.RecordSize]...), a[reply.RecordSize:]
		} else {
			out, b = append(out, b[:reply.RecordSize]...), b[reply.RecordSize:]
		}
	}
	return append(append(out, a...), b...)
}

// lock takes the lock of imports and purges, creating the directory.
func (r *Replies) lock() (unlock func(), err error) {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", r.dir, err)
	}
	f, err := os.OpenFile(filepath.Join(r.dir, repliesLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another intake replies import or purge is running on %s: wait for it to finish", r.dir)
	}
	return func() { f.Close() }, nil
}

// ImportedBatch is what [Data.ImportReplies] did with one batch.
type ImportedBatch struct {
	// Path is the batch file.
	Path string
	// Manifest is its verified manifest.
	Manifest *reply.Manifest
	// Added is how many of its records were stored; the others were
	// already (a batch imported before, or in part before a crash).
	Added int
	// Recorded is whether its reply-batch-imported record was appended
	// now: false if the audit log already held one.
	Recorded bool
}

// ImportReplies imports the reply batches at paths for the study, the
// current version of the study the directory serves: each must be a reply
// batch for the study signed by one of its researchers (reply.NewReader
// with their verifiers). It is all or nothing: if any batch is bad, it
// stores nothing and says which file and which entry. A record already
// stored is already imported; a record with the tag of a stored record
// but other bytes is refused (the researcher's tools numbered two replies
// to one person alike, which would link them). New records go into
// today's file; then each batch not recorded before gets a
// reply-batch-imported record in the audit log, so that an import cut
// short is completed by running it again.
func (d *Data) ImportReplies(study *config.Study, paths []string, now time.Time) ([]ImportedBatch, error) {
	id, err := d.StudyID()
	if err != nil {
		return nil, err
	}
	if id != study.ID {
		return nil, fmt.Errorf("data directory %s serves study %q, not %q: give the study file it serves", d.Dir, id, study.ID)
	}
	if len(paths) == 0 {
		return nil, errors.New("no reply batch to import")
	}
	keys, err := study.RecipientKeys()
	if err != nil {
		return nil, err
	}
	var verifiers []note.Verifier
	for _, k := range keys {
		verifiers = append(verifiers, k.Verifier())
	}
	r := d.Replies()
	unlock, err := r.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := r.finishPurge(); err != nil {
		return nil, err
	}
	stored, _, err := r.Load()
	if err != nil {
		return nil, err
	}
	byTag := make(map[[reply.TagSize]byte][]byte, len(stored)/reply.RecordSize)
	for p := 0; p < len(stored); p += reply.RecordSize {
		byTag[[reply.TagSize]byte(stored[p:])] = stored[p : p+reply.RecordSize]
	}
	var out []ImportedBatch
	var added [][]byte
	for _, path := range paths {
		b, recs, err := readReplyBatch(path, verifiers, study.ID)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			t := [reply.TagSize]byte(rec.Data)
			if old, ok := byTag[t]; ok {
				if !bytes.Equal(old, rec.Data) {
					return nil, fmt.Errorf("%s: reply batch entry \"records/%x\" has the tag of a reply record already stored or in another batch, with other bytes: the researcher's tools gave two replies to one person the same number, which would link them; refused, nothing was imported", path, rec.SHA256)
				}
				continue
			}
			byTag[t] = rec.Data
			added = append(added, rec.Data)
			b.Added++
		}
		out = append(out, b)
	}
	if n := len(stored)/reply.RecordSize + len(added); n > MaxStoredReplies {
		return nil, fmt.Errorf("the server would hold %d reply records, more than %d (everyone who comes back downloads all of them): purge old ones first (intake replies purge --older-than DAYS); nothing was imported", n, MaxStoredReplies)
	}
	if len(added) > 0 {
		if err := r.add(added, now); err != nil {
			return nil, err
		}
	}
	recorded, err := d.recordedReplyBatches()
	if err != nil {
		return nil, err
	}
	for i := range out {
		h := out[i].Manifest.Hash
		// Recorded since the last purge and nothing stored now: the same
		// import again. Records stored again after a purge are recorded
		// again, so that the audit log never shows purged what the server
		// serves.
		if recorded[h] && out[i].Added == 0 {
			continue
		}
		if err := d.Record(audit.ReplyBatchImported(h, len(out[i].Manifest.Records), now)); err != nil {
			return out, fmt.Errorf("the reply records were stored, but %w: run the same import again to record it", err)
		}
		recorded[h] = true
		out[i].Recorded = true
	}
	return out, nil
}

// readReplyBatch reads and checks a whole reply batch file.
func readReplyBatch(path string, verifiers []note.Verifier, studyID string) (ImportedBatch, []reply.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return ImportedBatch{}, nil, fmt.Errorf("failed to read reply batch: %w", err)
	}
	defer f.Close()
	br, err := reply.NewReader(bufio.NewReaderSize(f, 64<<10), verifiers)
	if err != nil {
		return ImportedBatch{}, nil, fmt.Errorf("%s: %w; nothing was imported", path, err)
	}
	m := br.Manifest()
	if m.StudyID != studyID {
		return ImportedBatch{}, nil, fmt.Errorf("%s: reply batch is for study %q, not %q; nothing was imported", path, m.StudyID, studyID)
	}
	if len(m.Records) > MaxStoredReplies {
		return ImportedBatch{}, nil, fmt.Errorf("%s: reply batch lists %d records, more than a server holds (%d); nothing was imported", path, len(m.Records), MaxStoredReplies)
	}
	var recs []reply.Record
	for {
		rec, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ImportedBatch{}, nil, fmt.Errorf("%s: %w; nothing was imported", path, err)
		}
		recs = append(recs, rec)
	}
	return ImportedBatch{Path: path, Manifest: m}, recs, nil
}

// add writes records into today's file, with those it holds, sorted.
func (r *Replies) add(records [][]byte, now time.Time) error {
	day := now.UTC().Format(time.DateOnly)
	path := filepath.Join(r.dir, day)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to read reply records: %w", err)
	}
	all := sortRecords(append(old, slices.Concat(records...)...))
	if err := atomicfile.WriteBytes(path, 0o600, all); err != nil {
		return fmt.Errorf("failed to store reply records: %w", err)
	}
	midnight, _ := dayFile(day)
	os.Chtimes(path, midnight, midnight)
	coarsen(r.dir)
	return nil
}

// recordedReplyBatches returns the manifests the audit log records as
// imported since its last replies-purged record: a batch imported before a
// purge is recorded again when it is imported again, even if an earlier
// run of that import stored its records but failed to record it.
func (d *Data) recordedReplyBatches() (map[[32]byte]bool, error) {
	l, err := d.Audit()
	if err != nil {
		return nil, err
	}
	seen := map[[32]byte]bool{}
	err = l.Scan(func(_ int64, rec audit.Record) error {
		switch rec.Event {
		case audit.EventReplyBatchImported:
			seen[rec.SHA256] = true
		case audit.EventRepliesPurged:
			clear(seen)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read the audit log: %w", err)
	}
	return seen, nil
}

// PurgeReplies deletes the reply records imported olderThan or more UTC
// days before now (0: every one), whole days at a time, and returns how
// many. It journals the files it deletes and records replies-purged in the
// audit log before deleting, so that a purge cut short is completed, not
// recorded twice, by the next import or purge.
func (d *Data) PurgeReplies(olderThan int, now time.Time) (int, error) {
	if olderThan < 0 {
		return 0, fmt.Errorf("--older-than %d: want a number of days, 0 or more", olderThan)
	}
	r := d.Replies()
	unlock, err := r.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	if _, err := r.finishPurge(); err != nil {
		return 0, err
	}
	days, err := r.days()
	if err != nil {
		return 0, err
	}
	y, m, dd := now.UTC().Date()
	cut := time.Date(y, m, dd-olderThan, 0, 0, 0, 0, time.UTC)
	var doomed []string
	n := 0
	for _, day := range days {
		t, _ := dayFile(day)
		if t.After(cut) {
			continue
		}
		fi, err := os.Stat(filepath.Join(r.dir, day))
		if err != nil {
			return 0, err
		}
		doomed = append(doomed, day)
		n += int(fi.Size() / reply.RecordSize)
	}
	if len(doomed) == 0 {
		return 0, nil
	}
	journal := filepath.Join(r.dir, repliesJournal)
	if err := atomicfile.WriteBytes(journal, 0o600, []byte(strings.Join(doomed, "\n")+"\n")); err != nil {
		return 0, fmt.Errorf("failed to start the purge: %w", err)
	}
	if err := d.Record(audit.RepliesPurged(n, now)); err != nil {
		os.Remove(journal)
		return 0, err
	}
	if _, err := r.finishPurge(); err != nil {
		return n, fmt.Errorf("the purge was recorded but not finished (%w): run it again", err)
	}
	return n, nil
}

// finishPurge deletes the files a purge journaled, then the journal, and
// reports whether there was one.
func (r *Replies) finishPurge() (bool, error) {
	journal := filepath.Join(r.dir, repliesJournal)
	data, err := os.ReadFile(journal)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, day := range strings.Fields(string(data)) {
		if _, ok := dayFile(day); !ok {
			return true, fmt.Errorf("%s names %q, not a day's file: remove it by hand once you checked what it deletes", journal, day)
		}
		if err := os.Remove(filepath.Join(r.dir, day)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return true, fmt.Errorf("failed to delete reply records: %w", err)
		}
	}
	if err := atomicfile.SyncDir(r.dir); err != nil {
		return true, err
	}
	if err := os.Remove(journal); err != nil {
		return true, err
	}
	coarsen(r.dir)
	return true, atomicfile.SyncDir(r.dir)
}

// StoredReplies returns how many reply records the directory holds.
func (d *Data) StoredReplies() (int, error) { return d.Replies().count() }

// count returns how many records the day files hold.
func (r *Replies) count() (int, error) {
	days, err := r.days()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, day := range days {
		fi, err := os.Stat(filepath.Join(r.dir, day))
		if err != nil {
			return 0, err
		}
		n += int(fi.Size() / reply.RecordSize)
	}
	return n, nil
}
