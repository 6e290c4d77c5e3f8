package researcher

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

// Summary says what importing one batch did.
type Summary struct {
	ManifestSHA256 [32]byte // of the batch's signed manifest, for the audit log
	BatchID        string   // the batch's random id, from its manifest
	Envelopes      int      // in the batch
	Imported       int      // new testimonies (named when Close saves the run)
	// Messages counts the new messages on threads: follow-ups, additions
	// and withdrawals (attached when Close saves the run).
	Messages    int
	Skipped     int // already imported or quarantined, or met earlier in this run
	Quarantined int // newly quarantined
	// SealedBefore counts envelopes sealed to a version of the study
	// whose recipients did not include the researcher yet: kept, not
	// quarantined, and brought in by a teammate's handover.
	SealedBefore int
	// Reasons counts the newly quarantined envelopes by reason.
	Reasons []QuarantineCount
	// Earlier is true when an earlier run imported the whole batch and
	// kept it, and Again when this run already imported it: either way it
	// was not read again.
	Earlier, Again bool
}

// Reexamination says what examining the quarantine again did.
type Reexamination struct {
	Examined  int // quarantined envelopes examined again
	Recovered int // of them, testimonies brought in
	// Reasons counts those still quarantined by reason.
	Reasons []QuarantineCount
	// Missing counts quarantined envelopes that could not be examined again
	// because their batch is no longer in batches/; importing the batch
	// again puts it back.
	Missing int
}

// run is what a run has done so far, none of it saved until Close.
type run struct {
	rows      []pendingRow
	quar      []pendingQ       // newly quarantined
	requar    map[int]pendingQ // index in w.quar → a new examination, still quarantined
	recovered map[int]bool     // index in w.quar → brought in
	seen      map[[32]byte]bool
	batches   []runBatch
	handovers []runBatch
	// claims are the renames made or received in this run; made counts
	// those made here.
	claims []claim
	made   int
	// records are audit records of the run's other acts (receipts,
	// renames signed, team changes, handovers).
	records []audit.Record
	// reexamined is set once every quarantined envelope was examined
	// against the current study.
	reexamined bool
	// settings is set when the languages of the exports changed.
	settings bool
	// versions are the study files new to the workspace that the run's
	// batches brought, by version id, to be kept when the run is saved.
	versions map[string][]byte
	// msgs are the new messages on threads.
	msgs []pendingMsg
	// replies are the replies new to the workspace (queued here, or from
	// team copies), written those of its replies the run wrote in a reply
	// batch, by id, and replyBatches the reply batches it wrote, kept in
	// reply-batches/.
	replies      []replyEntry
	written      map[string]replyEntry
	replyBatches []string
	// dropped are the ids of queued replies dropped: their testimony was
	// withdrawn.
	dropped     []string
	data, qdata *appender
	mdata       *appender
}

type pendingRow struct {
	key, seed [32]byte
	ref       [16]byte
	ret       address
	src       srcRef // the batch or handover it came in
	off, n    int64
}

type pendingMsg struct {
	key    [32]byte
	addr   address
	kind   msgKind
	reply  string
	src    srcRef
	pos    uint32
	off, n int64
}

type pendingQ struct {
	key    [32]byte
	src    srcRef
	reason reason
	off, n int64
}

// srcRef names a file the workspace keeps (or is keeping) ciphertexts in:
// a batch by the SHA-256 of its manifest, or a handover file by its own
// SHA-256.
type srcRef struct {
	handover bool
	hash     string
}

type runBatch struct {
	hash  string // hex SHA-256 of the manifest (of the file, for a handover)
	count int
	// tmp is the copy of the file being kept, renamed to
	// batches/<hash>.tar (handovers/<hash>.handover) when the run is saved;
	// empty if already kept.
	tmp string
	// from is the fingerprint of the researcher who gave a handover.
	from string
}

func (r *run) changed() bool {
	return len(r.rows) > 0 || len(r.quar) > 0 || len(r.requar) > 0 || len(r.recovered) > 0 ||
		len(r.batches) > 0 || len(r.handovers) > 0 || len(r.claims) > 0 || len(r.records) > 0 || r.reexamined || len(r.versions) > 0 || r.settings ||
		len(r.msgs) > 0 || len(r.replies) > 0 || len(r.written) > 0 || len(r.replyBatches) > 0 || len(r.dropped) > 0
}

func (r *run) closeFiles() {
	for _, a := range []*appender{r.data, r.qdata, r.mdata} {
		if a != nil {
			a.f.Close()
		}
	}
}

// begin returns the current run, starting one if needed.
func (w *Workspace) begin() *run {
	if w.run == nil {
		w.run = &run{requar: map[int]pendingQ{}, recovered: map[int]bool{}, seen: map[[32]byte]bool{}, versions: map[string][]byte{}, written: map[string]replyEntry{}}
	}
	return w.run
}

// appender appends lines to one of the data files.
type appender struct {
	f   *os.File
	bw  *bufio.Writer
	off int64
}

func openAppender(path string, size int64) (*appender, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to write workspace: %w", err)
	}
	return &appender{f: f, bw: bufio.NewWriterSize(f, 256<<10), off: size}, nil
}

func (a *appender) append(line []byte) (off, n int64, err error) {
	if _, err := a.bw.Write(line); err != nil {
		return 0, 0, fmt.Errorf("failed to write %s: %w", a.f.Name(), err)
	}
	off, n = a.off, int64(len(line))
	a.off += n
	return off, n, nil
}

func (a *appender) sync() error {
	if err := a.bw.Flush(); err != nil {
		return fmt.Errorf("failed to write %s: %w", a.f.Name(), err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("failed to write %s: %w", a.f.Name(), err)
	}
	return nil
}

func (w *Workspace) appenders() (*run, error) {
	r := w.begin()
	var err error
	if r.data == nil {
		if r.data, err = openAppender(filepath.Join(w.dir, dataFile), w.st.Data); err != nil {
			return nil, err
		}
	}
	if r.qdata == nil {
		if r.qdata, err = openAppender(filepath.Join(w.dir, quarDataFile), w.st.QuarantineData); err != nil {
			return nil, err
		}
	}
	if r.mdata == nil {
		if r.mdata, err = openAppender(filepath.Join(w.dir, messagesFile), w.st.MessageData); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// fail ruins the run: nothing of it will be saved.
func (w *Workspace) fail(err error) {
	w.failed = err
	w.discard()
}

// Import reads a batch, checks it against the servers' verifier keys (the
// server's, or one per server of a study served by several behind
// Onionbalance, each signing its own batches; a key given twice counts
// once), and opens and checks every envelope not seen before, in
// parallel, as the batch streams in. progress, if not nil, is called as
// envelopes are processed.
//
// The batch is refused whole, and the run with it, unless it carries a valid
// signature by one of the server keys and every envelope matches the manifest, or if
// the researcher's key opens none of its new envelopes (they were sealed to
// other keys). The workspace keeps a copy of the batch, so that its
// quarantined envelopes can be examined again.
func (w *Workspace) Import(r io.Reader, servers []note.Verifier, progress func(done, total int)) (*Summary, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	sum, err := w.importBatch(r, servers, progress, "")
	if err != nil {
		w.fail(err)
		return nil, err
	}
	return sum, nil
}

// importBatch imports the batch in r. kept is the path of the batch in
// batches/ when importing a batch the workspace already keeps, and empty
// when r must be copied there.
func (w *Workspace) importBatch(r io.Reader, servers []note.Verifier, progress func(done, total int), kept string) (*Summary, error) {
	run, err := w.appenders()
	if err != nil {
		return nil, err
	}
	var keep *incoming
	if kept == "" {
		if keep, err = newIncoming(filepath.Join(w.dir, batchesDir)); err != nil {
			return nil, err
		}
		defer func() { keep.remove() }() // unless finished
		r = io.TeeReader(r, keep)
	}
	br, err := batch.NewReader(r, servers...)
	if err != nil {
		return nil, err
	}
	m := br.Manifest()
	if m.StudyID != w.study.ID {
		return nil, fmt.Errorf("batch %s is for study %q, not %q: use the study file it was exported for", m.BatchID, m.StudyID, w.study.ID)
	}
	hash := hexKey(m.Hash)
	if kept != "" && filepath.Base(kept) != hash+".tar" {
		return nil, fmt.Errorf("%s holds batch %s: it was renamed or altered; move it out of %s", kept, hash, filepath.Join(w.dir, batchesDir))
	}
	sum := &Summary{ManifestSHA256: m.Hash, BatchID: m.BatchID, Envelopes: len(m.Entries)}
	if err := w.takeVersions(br); err != nil {
		return nil, err
	}
	keptPath := filepath.Join(w.dir, batchesDir, hash+".tar")
	_, statErr := os.Stat(keptPath)
	sum.Again = slices.ContainsFunc(run.batches, func(b runBatch) bool { return b.hash == hash })
	sum.Earlier = !sum.Again && slices.Contains(w.st.Batches, hash) && statErr == nil
	if sum.Again || sum.Earlier {
		sum.Skipped = sum.Envelopes
		if progress != nil {
			progress(sum.Envelopes, sum.Envelopes)
		}
		return sum, nil
	}
	if statErr == nil && keep != nil {
		keep.discard() // kept by a run that did not complete
		keep = nil
	}

	pick := func(key [32]byte) (int, bool) { // called by the reading goroutine only
		if run.seen[key] || w.isQuarantined(key) || w.isMessage(key) {
			return 0, false
		}
		if _, ok := w.reg.Lookup(hexKey(key)); ok {
			return 0, false
		}
		run.seen[key] = true
		return -1, true
	}
	st, err := w.examine(batchEntries(br), srcRef{hash: hash}, pick, progress, 0, len(m.Entries))
	if err != nil {
		return nil, err
	}
	if st.examined > 0 && st.forKey == 0 {
		return nil, w.wrongKeyError(m, st.examined)
	}
	sum.Imported, sum.Messages, sum.Quarantined, sum.Skipped, sum.SealedBefore = st.accepted, st.messages, st.quarantined, st.skipped, st.sealedBefore
	sum.Reasons = sortCounts(st.reasons)
	b := runBatch{hash: hash, count: len(m.Entries)}
	if keep != nil {
		if err := keep.finish(); err != nil {
			return nil, err
		}
		b.tmp = keep.path
		keep = nil
	}
	run.batches = append(run.batches, b)
	return sum, nil
}

// takeVersions reads the study files of the batch in br and takes those
// new to the workspace: testimonies name the version they answer, and are
// checked against it. A study file of another study, or that this version
// of researcher cannot load, is left out (testimonies naming it are
// quarantined as unknown-version). The study file given to Open must be a
// valid revision of every version taken (config.CheckRevision).
func (w *Workspace) takeVersions(br *batch.Reader) error {
	return w.takeStudyFiles(func() ([]byte, [32]byte, error) {
		v, err := br.NextVersion()
		return v.Data, v.SHA256, err
	})
}

// takeStudyFiles takes the study files next returns (until io.EOF), as
// takeVersions does.
func (w *Workspace) takeStudyFiles(next func() ([]byte, [32]byte, error)) error {
	for {
		data, sum, err := next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		id := hex.EncodeToString(sum[:])
		if w.keptVersions[id] || w.run.versions[id] != nil {
			continue
		}
		if w.versions[id] == nil {
			s, err := config.Parse(filepath.Join(versionsDir, id+".yaml"), data)
			if err != nil || s.ID != w.study.ID {
				continue
			}
			if err := config.CheckRevision([]*config.Study{s}, w.study); err != nil {
				return fmt.Errorf("it carries version %s of the study, of which your study file is not a valid revision: %w; use the study file the server serves now", s.ShortVersion(), err)
			}
			w.versions[id] = s
		}
		w.run.versions[id] = data
	}
}

func (w *Workspace) isQuarantined(key [32]byte) bool {
	_, ok := w.qindex[key]
	return ok
}

func (w *Workspace) isMessage(key [32]byte) bool {
	_, ok := w.msgIndex[key]
	return ok
}

// wrongKeyError explains that the researcher's key opens none of a batch's
// envelopes.
func (w *Workspace) wrongKeyError(m *batch.Manifest, n int) error {
	return fmt.Errorf("your key %s opens none of the %d new envelopes of batch %s: they were sealed to other keys, and nothing was imported. The study's recipients are %s: decrypt with the key of one of them (`researcher pubkey --key FILE` prints a key's fingerprint)",
		w.id.Recipient().Fingerprint(), n, m.BatchID, recipientList(w.study))
}

// Resume imports the batches in batches/ that no completed run imported:
// those a run kept just before it was interrupted. progress is called for
// each, as for Import. Call it before importing new batches. Without a
// server key (none given), it fails if there is any such batch.
func (w *Workspace) Resume(servers []note.Verifier, progress func(done, total int)) ([]*Summary, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(w.dir, batchesDir))
	if err != nil {
		return nil, fmt.Errorf("failed to read workspace: %w", err)
	}
	var out []*Summary
	for _, e := range entries {
		hash, ok := strings.CutSuffix(e.Name(), ".tar")
		if !ok || !isHexHash(hash) || slices.Contains(w.st.Batches, hash) {
			continue
		}
		path := filepath.Join(w.dir, batchesDir, e.Name())
		if len(servers) == 0 {
			err := fmt.Errorf("an interrupted run left batches to finish in %s: give the server's key to check them", filepath.Join(w.dir, batchesDir))
			w.fail(err)
			return nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read workspace: %w", err)
		}
		sum, err := w.importBatch(f, servers, progress, path)
		f.Close()
		if err != nil {
			err = fmt.Errorf("%s: %w", path, err)
			w.fail(err)
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

func isHexHash(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && hex.EncodeToString(b) == s
}

// Reexamine examines the quarantine again, from the batches and handover
// files the workspace keeps (pinned by the hashes the registry records, so
// no server key is needed), when what it was examined against changed: if
// the study files differ (the study given to Open, or the versions the
// workspace holds), every envelope that opened but was refused (malformed
// contents, answers that break the questionnaire, an unknown version) is
// examined again against every version, and so is every envelope not
// sealed to the researcher (which versions are known says whether it
// predates them); if this package's rules changed, every quarantined
// envelope is. Other envelopes that did not open are not examined again
// for a new study: with the same key, the same bytes fail the same way.
// Envelopes that now pass are brought in as new testimonies when Close
// saves the run. progress, if not nil, is called as envelopes are
// examined. Call it before importing new batches.
func (w *Workspace) Reexamine(progress func(done, total int)) (*Reexamination, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	if w.run != nil && w.run.reexamined || !slices.ContainsFunc(w.quar, w.stale) {
		return &Reexamination{}, nil
	}
	res, err := w.reexamine(progress)
	if err != nil {
		w.fail(err)
		return nil, err
	}
	return res, nil
}

// examinationRules changes whenever a change to this package or the ones
// it uses could change the result of examining an envelope, so that every
// quarantined envelope is examined again.
const examinationRules = 3

// stale reports whether the quarantined envelope q was examined against
// another study or other rules than the current ones.
func (w *Workspace) stale(q qentry) bool {
	if w.st.ExaminedRules != examinationRules {
		return true
	}
	// An envelope not sealed to the researcher fails at once; which
	// versions the workspace knows says whether it predates them.
	return w.st.ExaminedStudy != w.examinationContext() &&
		(!q.reason.envelope() || q.reason == reasonNotSealed || q.reason == reasonSealedBefore)
}

// examinationContext names the study files envelopes are examined against:
// the SHA-256 of the current study's version id and of every version the
// workspace holds, sorted.
func (w *Workspace) examinationContext() string {
	ids := slices.Sorted(maps.Keys(w.versions))
	h := sha256.New()
	h.Write([]byte(w.study.Version() + "\n"))
	for _, id := range ids {
		h.Write([]byte(id + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (w *Workspace) reexamine(progress func(done, total int)) (*Reexamination, error) {
	if _, err := w.appenders(); err != nil {
		return nil, err
	}
	res := &Reexamination{}
	bySource := map[source]int{}
	stale := make([]bool, len(w.quar))
	total := 0
	for i, q := range w.quar {
		if stale[i] = w.stale(q); stale[i] {
			bySource[q.src]++
			total++
		}
	}
	reasons := map[reason]int{}
	done := 0
	sources := make([]source, 0, len(w.st.Batches)+len(w.st.Handovers))
	for i := range w.st.Batches {
		sources = append(sources, batchSource(i))
	}
	for i := range w.st.Handovers {
		sources = append(sources, handoverAt(i))
	}
	for _, src := range sources {
		if bySource[src] == 0 {
			continue
		}
		path := w.sourcePath(src)
		f, next, ref, err := w.openSource(src)
		if errors.Is(err, os.ErrNotExist) {
			res.Missing += bySource[src]
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w; the workspace was damaged: restore it from a backup", path, err)
		}
		picked := map[int]bool{} // used by the reading goroutine only
		pick := func(key [32]byte) (int, bool) {
			qi, ok := w.qindex[key]
			if !ok || w.quar[qi].src != src || picked[qi] || !stale[qi] {
				return 0, false
			}
			picked[qi] = true
			return qi, true
		}
		st, err := w.examine(next, ref, pick, progress, done, total)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		done += bySource[src]
		res.Examined += st.examined
		res.Recovered += st.accepted
		for r, n := range st.reasons {
			reasons[r] += n
		}
	}
	res.Reasons = sortCounts(reasons)
	w.run.reexamined = res.Missing == 0
	return res, nil
}

// sourcePath returns the path of a kept batch or handover file.
func (w *Workspace) sourcePath(src source) string {
	if src.handover() {
		return filepath.Join(w.dir, handoversDir, w.st.Handovers[src.index()]+handoverSuffix)
	}
	return filepath.Join(w.dir, batchesDir, w.st.Batches[src.index()]+".tar")
}

// openSource starts reading a kept batch or handover file, checking it
// again against the hash the registry records. An error wrapping
// os.ErrNotExist means the file is no longer there.
func (w *Workspace) openSource(src source) (*os.File, entries, srcRef, error) {
	path := w.sourcePath(src)
	if src.handover() {
		hash := w.st.Handovers[src.index()]
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, srcRef{}, err
		}
		next, _, err := w.handoverEntries(f, hash, w.keptVerifiers())
		if err != nil {
			f.Close()
			return nil, nil, srcRef{}, err
		}
		return f, next, srcRef{handover: true, hash: hash}, nil
	}
	hash := w.st.Batches[src.index()]
	if _, err := os.Stat(path); err != nil {
		return nil, nil, srcRef{}, err
	}
	f, br, err := openKeptBatch(path, hash)
	if err == nil && w.run != nil {
		err = w.takeVersions(br)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, nil, srcRef{}, err
	}
	return f, batchEntries(br), srcRef{hash: hash}, nil
}

// entries yields the envelopes of a source in order: each one's SHA-256 as
// the source's signed list gives it (the bytes were checked against it),
// its bytes, and its content key when the source hands it over. It
// returns io.EOF after the last.
type entries func() (key [32]byte, data []byte, k *[32]byte, err error)

// batchEntries returns the envelopes of a batch being read.
func batchEntries(br *batch.Reader) entries {
	m := br.Manifest()
	i := 0
	return func() ([32]byte, []byte, *[32]byte, error) {
		e, err := br.Next()
		if err != nil {
			return [32]byte{}, nil, nil, err
		}
		key := m.Entries[i].SHA256
		i++
		return key, e.Data, nil, nil
	}
}

// job is one envelope to examine.
type job struct {
	key  [32]byte
	data []byte
	k    *[32]byte // its content key, from a handover; nil: open with the researcher's key
	qidx int       // index in w.quar when examining it again, else -1
	src  srcRef    // the file holding it
	pos  uint32    // its position in the file, from 0
	cost int64     // bytes reserved from the budget
}

// result is the examination of one envelope: accepted (reason 0) with the
// line for data/testimonies (or, for a message on a thread, msg set and
// the line for data/messages), or quarantined with the line for
// data/quarantined.
type result struct {
	job
	seed   [32]byte
	ref    [16]byte
	ret    address // a testimony's return address
	msg    *pendingMsg
	line   []byte
	reason reason
}

type examStats struct {
	examined, accepted, messages, quarantined, skipped, sealedBefore int
	// forKey counts envelopes the key opened, or that failed for another
	// reason than being sealed to other keys.
	forKey  int
	reasons map[reason]int
}

// maxInFlight bounds the bytes of envelopes being examined at once (each
// reserves three times its size, for its plaintext and line), so memory
// does not grow with the batch whatever its envelopes' sizes.
const maxInFlight = 48 << 20

// examine reads the rest of a source (a batch or a handover file) and
// examines, in parallel, the envelopes pick selects (pick returns the index
// in w.quar of an envelope examined again, or -1). Results are appended to
// the data files as they come. The stats say what happened; an error means
// the source is not as signed, or the workspace could not be written, and
// the run must be dropped.
func (w *Workspace) examine(next entries, src srcRef, pick func(key [32]byte) (int, bool), progress func(done, total int), base, total int) (examStats, error) {
	st := examStats{reasons: map[reason]int{}}
	before := w.earlierRecipients()
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan job, workers)
	results := make(chan result, workers)
	stop := make(chan struct{})
	budget := newBudget(maxInFlight)
	var skipped atomic.Int64
	var readErr error
	go func() {
		defer close(jobs)
		for pos := uint32(0); ; pos++ {
			key, data, k, err := next()
			if err == io.EOF {
				return
			}
			if err != nil {
				readErr = err
				return
			}
			qi, ok := pick(key)
			if !ok {
				skipped.Add(1)
				continue
			}
			j := job{key: key, data: data, k: k, qidx: qi, src: src, pos: pos, cost: 3 * int64(len(data))}
			if !budget.acquire(j.cost) {
				return
			}
			select {
			case jobs <- j:
			case <-stop:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				results <- w.examineOne(j, before)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	var err error
	half := -1
	if crashHook != nil {
		half = max(1, total/2)
	}
	for r := range results {
		if err == nil {
			err = w.collect(r, &st)
			if err != nil {
				close(stop)
				budget.stop()
			}
		}
		budget.release(r.cost)
		if progress != nil {
			progress(base+st.examined+int(skipped.Load()), base+total)
		}
		if st.examined == half {
			crashPoint("collecting")
		}
	}
	if err != nil {
		return st, err
	}
	if readErr != nil {
		return st, readErr
	}
	st.skipped = int(skipped.Load())
	if progress != nil && base == 0 {
		progress(total, total)
	}
	return st, nil
}

// examineOne opens and checks one envelope, against the version of the
// study its plaintext names. before holds the recipient lists of the
// study's versions that did not include the researcher (see
// earlierRecipients).
func (w *Workspace) examineOne(j job, before map[string]bool) result {
	r := result{job: j}
	r.data = nil
	var opened *envelope.Opened
	var err error
	if j.k != nil {
		opened, err = envelope.OpenWithKey(w.study.ID, j.data, *j.k)
		clear(j.k[:])
	} else {
		opened, err = envelope.Open(w.study.ID, j.data, w.id)
	}
	if err != nil {
		r.reason = reasonOf(err)
		if r.reason == reasonNotSealed && before[recipientSet(j.data)] {
			r.reason = reasonSealedBefore
		}
		r.line = quarantineLine(r.reason, err, nil)
		return r
	}
	plain := opened.Plaintext
	r.seed = pseudonymSeed(w.study.ID, opened.Key)
	r.ref = testimonyRef(opened.Key)
	clear(opened.Key[:])
	defer clear(plain)
	// Testimonies first: a message on a thread is refused by Unmarshal
	// as one (ErrThreadMessage), and read again as a message. This spares
	// every testimony a second parse.
	study, resp, err := w.unmarshal(plain)
	if errors.Is(err, response.ErrThreadMessage) {
		if h, herr := response.PeekHeader(plain); herr == nil && h.Kind.IsMessage() {
			if r.msg, r.line, err = w.unmarshalMessage(h, plain); err != nil {
				r.reason = reasonOf(err)
				r.line = quarantineLine(r.reason, err, plain)
			}
			return r
		}
	}
	if err == nil {
		r.line, err = dataLine(study, resp)
		r.ret = addressOf(resp.Return)
	}
	if err != nil {
		r.reason = reasonOf(err)
		r.line = quarantineLine(r.reason, err, plain)
	}
	return r
}

// unmarshalMessage reads and checks a plaintext of a message on a thread,
// whose header h says what it is, against the version of the study it
// names: its form and its signature by the thread's key (an error
// wrapping response.ErrThreadUnverified if that fails). It returns the
// message as the registry will index it and its line for data/messages.
func (w *Workspace) unmarshalMessage(h *response.Header, plain []byte) (*pendingMsg, []byte, error) {
	study := w.versions[h.Version]
	if study == nil {
		return nil, nil, errUnknownVersion{h.Version}
	}
	m, err := response.UnmarshalMessage(study, plain)
	if err != nil {
		return nil, nil, err
	}
	return &pendingMsg{addr: addressOf(m.Thread), kind: kindOf(m.Kind), reply: m.Reply}, messageLine(study, m), nil
}

// unmarshal reads and checks a plaintext against the version of the study
// it names. It first takes the version from where Marshal and the browser
// put it, which spares reading the plaintext twice; Unmarshal checks the
// guess, and a wrong one costs a Peek and a second Unmarshal.
func (w *Workspace) unmarshal(plain []byte) (*config.Study, *response.Response, error) {
	guess := w.versions[guessVersion(plain, w.study.ID)]
	if guess != nil {
		resp, err := response.Unmarshal(guess, plain)
		if err == nil || errors.As(err, new(response.Problems)) || errors.Is(err, response.ErrThreadMessage) {
			return guess, resp, err
		}
	}
	_, version, err := response.Peek(plain)
	if err != nil {
		return nil, nil, err
	}
	study := w.versions[version]
	if study == nil {
		return nil, nil, errUnknownVersion{version}
	}
	resp, err := response.Unmarshal(study, plain)
	return study, resp, err
}

// guessVersion returns the version id of a plaintext that starts as
// Marshal writes it, {"v":3,"study":"<id>","version":"<64 hex>", or "".
func guessVersion(plain []byte, study string) string {
	prefix := `{"v":3,"study":"` + study + `","version":"`
	if len(plain) < len(prefix)+64 || string(plain[:len(prefix)]) != prefix {
		return ""
	}
	return string(plain[len(prefix) : len(prefix)+64])
}

// errUnknownVersion says a plaintext names a version of the study the
// workspace does not hold.
type errUnknownVersion struct{ version string }

func (e errUnknownVersion) Error() string {
	return fmt.Sprintf("the answers were given to version %s of the study, which no batch and no --study file brought", config.ShortVersion(e.version))
}

// collect appends one result to the data files and the run.
func (w *Workspace) collect(r result, st *examStats) error {
	run := w.run
	st.examined++
	if r.reason != reasonNotSealed {
		st.forKey++ // sealed-before-you-joined is no sign of a wrong key
	}
	if r.reason == 0 && r.msg != nil {
		off, n, err := run.mdata.append(r.line)
		if err != nil {
			return err
		}
		m := *r.msg
		m.key, m.src, m.pos, m.off, m.n = r.key, r.src, r.pos, off, n
		run.msgs = append(run.msgs, m)
		if r.qidx >= 0 {
			run.recovered[r.qidx] = true
		}
		st.messages++
		return nil
	}
	if r.reason == 0 {
		off, n, err := run.data.append(r.line)
		if err != nil {
			return err
		}
		run.rows = append(run.rows, pendingRow{key: r.key, seed: r.seed, ref: r.ref, ret: r.ret, src: r.src, off: off, n: n})
		if r.qidx >= 0 {
			run.recovered[r.qidx] = true
		}
		st.accepted++
		return nil
	}
	off, n, err := run.qdata.append(r.line)
	if err != nil {
		return err
	}
	q := pendingQ{key: r.key, src: r.src, reason: r.reason, off: off, n: n}
	if r.qidx >= 0 {
		run.requar[r.qidx] = q
	} else {
		run.quar = append(run.quar, q)
	}
	if r.reason == reasonSealedBefore {
		st.sealedBefore++
	} else {
		st.quarantined++
		st.reasons[r.reason]++
	}
	return nil
}

// dataLine returns the line of data/testimonies for r: the version of the
// study it answers, its language and its answers as the plaintext holds
// them (response.Values), without escaping <, > and &, so that the files
// show text as it was written.
func dataLine(s *config.Study, r *response.Response) ([]byte, error) {
	vals, err := response.Values(s, r)
	if err != nil {
		return nil, err
	}
	ids := slices.Sorted(maps.Keys(vals))
	b := make([]byte, 0, 64+len(r.Language)+estimateSize(vals))
	b = append(b, `{"version":`...)
	b = appendJSONString(b, s.Version())
	b = append(b, `,"lang":`...)
	b = appendJSONString(b, r.Language)
	b = append(b, `,"answers":{`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, id)
		b = append(b, ':')
		switch v := vals[id].(type) {
		case string:
			b = appendJSONString(b, v)
		case []string:
			b = append(b, '[')
			for j, x := range v {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, x)
			}
			b = append(b, ']')
		default:
			return nil, fmt.Errorf("question %q: unexpected answer type %T", id, v)
		}
	}
	return append(b, "}}\n"...), nil
}

func estimateSize(vals map[string]any) int {
	n := 0
	for id, v := range vals {
		n += len(id) + 8
		switch v := v.(type) {
		case string:
			n += len(v) + len(v)/16
		case []string:
			for _, x := range v {
				n += len(x) + 3
			}
		}
	}
	return n
}

// Quarantined is one line of quarantine.jsonl (and of data/quarantined).
type Quarantined struct {
	// Reason is a stable code, such as "answers-break-rules"; Explanation
	// says it in a sentence.
	Reason      string `json:"reason"`
	Explanation string `json:"explanation"`
	// Problems maps question ids to what is wrong with their answers.
	Problems map[string]string `json:"problems,omitempty"`
	// Detail is the error, for a malformed plaintext.
	Detail string `json:"detail,omitempty"`
	// Plaintext is the opened envelope, empty when it did not open, with
	// every return address in it cut to "testimony-return-…".
	Plaintext string `json:"plaintext,omitempty"`
	// Message is, for a follow-up or an addition held until what it waits
	// for arrives (or whose answers break the rules of the reply it
	// answers), the message as data/messages holds it: its version,
	// language, kind, reply and answers.
	Message json.RawMessage `json:"message,omitempty"`
}

// quarantineLine returns the line of data/quarantined for an envelope
// quarantined for r, because of err, and its plaintext if it opened (with
// every return address in it redacted: it is a key).
func quarantineLine(r reason, err error, plain []byte) []byte {
	q := Quarantined{Reason: r.code(), Explanation: r.explanation(), Plaintext: string(redactAddresses(plain))}
	var ps response.Problems
	switch {
	case errors.As(err, &ps):
		q.Problems = map[string]string{}
		for id, p := range ps {
			q.Problems[id] = p.String()
		}
	case r == reasonMalformedPlaintext || r == reasonUnknownVersion:
		q.Detail = err.Error()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(q) // cannot fail: strings and maps of strings
	return buf.Bytes()
}

// reason is why an envelope was quarantined. The values are stored in the
// registry: never renumber them.
type reason uint8

const (
	reasonNotSealed reason = 1 + iota
	reasonWrongStudy
	reasonDamaged
	reasonMalformedEnvelope
	reasonMalformedPlaintext
	reasonAnswers
	reasonInconsistent
	reasonUnknownVersion
	reasonSealedBefore
	reasonThreadUnverified
	// Messages held by the workspace, not envelopes: never in the
	// registry's quarantine entries.
	reasonThreadUnknown
	reasonReplyUnknown
)

var reasonText = map[reason][2]string{
	reasonNotSealed:          {"not-sealed-to-this-key", "the envelope is not sealed to this researcher's key"},
	reasonWrongStudy:         {"wrong-study", "the envelope was sealed for another study"},
	reasonDamaged:            {"damaged", "the envelope failed authentication: damaged or forged"},
	reasonMalformedEnvelope:  {"malformed-envelope", "the envelope is malformed"},
	reasonInconsistent:       {"not-sealed-alike", "the envelope is not sealed alike to every researcher (every researcher quarantines it)"},
	reasonMalformedPlaintext: {"malformed-plaintext", "the envelope opened but its contents are malformed"},
	reasonAnswers:            {"answers-break-rules", "the answers break the questionnaire's rules (or, for a follow-up, those of the reply's questions)"},
	reasonUnknownVersion:     {"unknown-version", "the answers name a version of the study the workspace does not have"},
	reasonSealedBefore:       {"sealed-before-you-joined", "the envelope was sealed before your key was a recipient of the study: a teammate can hand it over (researcher handover)"},
	reasonThreadUnverified:   {"thread-unverified", "a message on a thread that is not signed by the key of the thread it names: not sent by whoever holds that testimony's return passphrase, so attached to nothing"},
	reasonThreadUnknown:      {"thread-unknown", "a follow-up or addition to a testimony this workspace does not hold (yet): attached when the testimony arrives, in a later batch or a teammate's handover"},
	reasonReplyUnknown:       {"reply-unknown", "a follow-up answering a reply this workspace does not know for that testimony: attached when the team copy of the researcher who wrote it is imported (researcher decrypt --replies)"},
}

func (r reason) code() string        { return reasonText[r][0] }
func (r reason) explanation() string { return reasonText[r][1] }

// envelope reports whether r is about the envelope itself, which did not
// open: the result depends only on the envelope's bytes and the key.
func (r reason) envelope() bool {
	return r != reasonMalformedPlaintext && r != reasonAnswers && r != reasonUnknownVersion && r != reasonThreadUnverified
}

func reasonOf(err error) reason {
	var ps response.Problems
	switch {
	case errors.Is(err, response.ErrThreadUnverified):
		return reasonThreadUnverified
	case errors.Is(err, envelope.ErrNotRecipient):
		return reasonNotSealed
	case errors.Is(err, envelope.ErrWrongStudy):
		return reasonWrongStudy
	case errors.Is(err, envelope.ErrInconsistent):
		return reasonInconsistent
	case errors.Is(err, envelope.ErrDamaged):
		return reasonDamaged
	case errors.Is(err, envelope.ErrMalformed):
		return reasonMalformedEnvelope
	case errors.As(err, &ps):
		return reasonAnswers
	case errors.As(err, new(errUnknownVersion)):
		return reasonUnknownVersion
	default:
		return reasonMalformedPlaintext
	}
}

// earlierRecipients returns the recipient lists (see recipientSet) of the
// study's versions the workspace holds whose recipients do not include the
// researcher: an envelope sealed to one of them was sealed before the
// researcher joined the team, and is no sign of a wrong key.
func (w *Workspace) earlierRecipients() map[string]bool {
	out := map[string]bool{}
	me := w.id.Recipient().X25519()
	for _, v := range w.versions {
		keys, err := v.RecipientKeys()
		if err != nil {
			continue
		}
		var xs [][32]byte
		mine := false
		for _, k := range keys {
			xs = append(xs, k.X25519())
			mine = mine || k.X25519() == me
		}
		if !mine {
			out[setKey(xs)] = true
		}
	}
	return out
}

// recipientSet returns the set of X25519 keys an envelope's header lists,
// as a map key, or "" if it is malformed.
func recipientSet(env []byte) string {
	xs, err := envelope.Recipients(env)
	if err != nil {
		return ""
	}
	return setKey(xs)
}

func setKey(xs [][32]byte) string {
	xs = slices.Clone(xs)
	slices.SortFunc(xs, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	var b []byte
	for _, x := range xs {
		b = append(b, x[:]...)
	}
	return string(b)
}

// testimonyRef returns the reference researchers share for a testimony
// (DESIGN.md §6): SHA-512("testimony-ref-v1" || 0x00 || K)[0:16], K the
// envelope's content key. The server, which never learns K, cannot link it
// to an envelope.
func testimonyRef(k [32]byte) [16]byte {
	h := sha512.New()
	h.Write([]byte("testimony-ref-v1"))
	h.Write([]byte{0})
	h.Write(k[:])
	var ref [16]byte
	copy(ref[:], h.Sum(nil))
	return ref
}

// pseudonymSeed returns the seed of a testimony's team pseudonym (DESIGN.md
// §6): SHA-512("testimony-pseudonym-v1" || 0x00 || S || K)[0:32], with S
// the study id and K the envelope's content key, which every recipient
// learns and nobody else does.
func pseudonymSeed(study string, k [32]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte("testimony-pseudonym-v1"))
	h.Write([]byte{0})
	h.Write([]byte(study))
	h.Write(k[:])
	var seed [32]byte
	copy(seed[:], h.Sum(nil))
	return seed
}

// budget is a weighted semaphore over bytes in flight.
type budget struct {
	mu      sync.Mutex
	cond    sync.Cond
	free    int64
	total   int64
	stopped bool
}

func newBudget(total int64) *budget {
	b := &budget{free: total, total: total}
	b.cond.L = &b.mu
	return b
}

// acquire reserves n bytes (at most the whole budget, so that one large
// envelope always fits), waiting for them; false means stop was called.
func (b *budget) acquire(n int64) bool {
	n = min(n, b.total)
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.free < n && !b.stopped {
		b.cond.Wait()
	}
	if b.stopped {
		return false
	}
	b.free -= n
	return true
}

func (b *budget) release(n int64) {
	n = min(n, b.total)
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *budget) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

// incoming is a batch being copied into batches/ as it is read.
type incoming struct {
	f    *os.File
	bw   *bufio.Writer
	path string
	off  bool // discarding
}

func newIncoming(dir string) (*incoming, error) {
	f, err := os.CreateTemp(dir, incomingPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("failed to keep a copy of the batch: %w", err)
	}
	return &incoming{f: f, bw: bufio.NewWriterSize(f, 1<<20), path: f.Name()}, nil
}

func (c *incoming) Write(p []byte) (int, error) {
	if c == nil || c.off {
		return len(p), nil
	}
	if _, err := c.bw.Write(p); err != nil {
		return 0, fmt.Errorf("failed to keep a copy of the batch: %w", err)
	}
	return len(p), nil
}

// discard stops copying and removes the copy.
func (c *incoming) discard() {
	c.remove()
	c.off = true
}

// finish makes the copy durable.
func (c *incoming) finish() error {
	err := c.bw.Flush()
	if err == nil {
		err = c.f.Sync()
	}
	if e := c.f.Close(); err == nil {
		err = e
	}
	if err != nil {
		os.Remove(c.path)
		return fmt.Errorf("failed to keep a copy of the batch: %w", err)
	}
	return nil
}

// remove removes the copy, if it was not finished.
func (c *incoming) remove() {
	if c == nil || c.off {
		return
	}
	c.f.Close()
	os.Remove(c.path)
}
