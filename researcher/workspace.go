package researcher

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/notekey"
	"github.com/testimony-project/testimony/pseudonym"
	"golang.org/x/crypto/nacl/box"
)

const (
	registryFile    = "registry.sealed"
	registryLabel   = "testimony-workspace-v2\n"
	lockFile        = "lock"
	batchesDir      = "batches"
	handoversDir    = "handovers"
	handoverSuffix  = ".handover"
	studyFile       = "study.yaml"
	tmpDir          = ".tmp"
	versionsDir     = "versions"
	dataDir         = "data"
	dataFile        = "data/testimonies"
	quarDataFile    = "data/quarantined"
	messagesFile    = "data/messages"
	replyBatchesDir = "reply-batches"
	stampFile       = ".exports"
	jsonlFile       = "testimonies.jsonl"
	xlsxFile        = "testimonies.xlsx"
	csvFile         = "testimonies.csv"
	codebookFile    = "codebook.csv"
	markdownDir     = "testimonies"
	quarantineFile  = "quarantine.jsonl"
	threadFile      = "thread.jsonl"
	followupsFile   = "followups.csv"
	auditDir        = "audit"
	// incomingPrefix names a batch being copied into batches/ before its
	// run is saved.
	incomingPrefix = ".incoming-"
)

// ownNames are the entries a workspace folder may hold before its first
// Close (left by a run that never completed).
var ownNames = []string{lockFile, batchesDir, handoversDir, dataDir, versionsDir, tmpDir, replyBatchesDir}

// Workspace is a folder on the researcher's offline machine holding the
// testimonies of one study.
type Workspace struct {
	dir     string
	study   *config.Study
	id      *envelope.Identity
	lang    string
	lock    *os.File
	created bool // this Open made the folder
	exists  bool // a registry has been sealed
	st      state
	reg     *pseudonym.Registry
	// names are the drawn names with every rename known applied, and
	// outcomes what became of each rename.
	names    *pseudonym.Names
	outcomes map[claim]pseudonym.Result
	// studyData is the study file given to Open, kept as study.yaml.
	studyData []byte
	rows      []row
	quar      []qentry
	qindex    map[[32]byte]int // envelope hash → index in quar
	// msgs are the messages on threads, msgIndex their index by envelope
	// hash, and view what became of them and of the rows (resolve).
	msgs     []msgEntry
	msgIndex map[[32]byte]int
	view     *threadView
	// touched, after a Close saved a run, holds the rows whose thread it
	// changed, and digestBefore the threads' digest before it: the
	// exports then make only their Markdown files again.
	touched      map[int]bool
	digestBefore string
	// droppedReplies counts the queued replies the last Close dropped:
	// their testimonies were withdrawn.
	droppedReplies int
	run            *run
	// versions are the study files the workspace holds, by version id:
	// the current study and every version a batch brought.
	versions map[string]*config.Study
	// keptVersions are the version ids in versions/.
	keptVersions map[string]bool
	failed       error // set when an Import of this run failed
	closed       bool
	saved        bool // the run's registry was sealed: see RunSaved
	// exportProgress, if set, is called as Close writes testimonies to
	// the exports.
	exportProgress func(done, total int)
	// labels is the language of testimonies-labels-<lang>.csv, or "";
	// rewrite makes Close write every export again.
	labels  string
	rewrite bool
}

// Testimony is one imported testimony, as written to testimonies.jsonl.
type Testimony struct {
	Pseudonym      string                     `json:"pseudonym"`
	PseudonymRoman string                     `json:"pseudonym_roman"`
	Version        string                     `json:"version"` // of the study the answers were given to
	Language       string                     `json:"lang"`
	Answers        map[string]json.RawMessage `json:"answers"`
}

// newRegistry makes the empty pseudonym registry of a workspace; tests
// replace it to force collisions.
var newRegistry = pseudonym.NewRegistry

// timeNow is the clock of audit records; only their day is kept.
var timeNow = time.Now

// crashHook, set only by tests, is called at each step of a run that a
// crash could interrupt; the tests kill the process there.
var crashHook func(step string)

func crashPoint(step string) {
	if crashHook != nil {
		crashHook(step)
	}
}

// Open opens the workspace in dir for the study, creating the folder if
// needed, and locks it until Close or Abort. lang is the language of
// question labels in Markdown files and of the XLSX file's sheet of labels
// (one of the study's; empty means the language the exports are in, or the
// study's default). A nil study means the study file the exports were last
// made with (study.yaml).
//
// A new workspace is refused unless id is one of the study's recipients, so
// that no registry is ever sealed to another key. The study must be a
// valid revision of every version of it the workspace holds
// (config.CheckRevision). Open repairs what an interrupted run left (see
// the package documentation).
func Open(dir string, study *config.Study, id *envelope.Identity, lang string) (*Workspace, error) {
	if study == nil {
		var err error
		if study, err = StudyOf(dir); err != nil {
			return nil, err
		}
	}
	if lang != "" && !study.HasLanguage(lang) {
		return nil, fmt.Errorf("unknown language %q: use one of the study's, %s", lang, strings.Join(study.Langs(), ", "))
	}
	w := &Workspace{dir: dir, study: study, id: id, lang: lang, reg: newRegistry(), qindex: map[[32]byte]int{}, msgIndex: map[[32]byte]int{}}
	defaults := func() {
		// The languages of the exports stay as they were, unless the
		// study has lost one.
		if w.lang == "" {
			w.lang = study.DefaultLanguage()
			if study.HasLanguage(w.st.Lang) {
				w.lang = w.st.Lang
			}
		}
		if study.HasLanguage(w.st.Labels) {
			w.labels = w.st.Labels
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, registryFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := checkRecipient(study, id); err != nil {
			return nil, err
		}
		if err := w.create(); err != nil {
			return nil, err
		}
		w.st = state{Version: stateVersion, Study: study.ID}
		w.applyRenames()
		w.view = w.resolve(nil, nil, nil, nil, nil)
		defaults()
		return w, nil
	case err != nil:
		return nil, fmt.Errorf("failed to read workspace: %w", err)
	}
	w.exists = true
	if err := w.lockDir(); err != nil {
		return nil, err
	}
	if err := w.load(data); err != nil {
		w.unlock()
		return nil, err
	}
	if err := w.repair(); err != nil {
		w.unlock()
		return nil, err
	}
	if err := w.checkRevision(); err != nil {
		w.unlock()
		return nil, err
	}
	if err := w.scrubWithdrawn(nil); err != nil {
		w.unlock()
		return nil, err
	}
	defaults()
	return w, nil
}

// StudyOf returns the study file the exports of the workspace in dir were
// last made with, which it keeps as study.yaml.
func StudyOf(dir string) (*config.Study, error) {
	path := filepath.Join(dir, studyFile)
	s, err := config.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, registryFile)); err != nil {
			return nil, fmt.Errorf("%s is not a workspace made by researcher decrypt", dir)
		}
		return nil, fmt.Errorf("%s keeps no study file: give the study file with --study", dir)
	}
	return s, err
}

// SetStudyFile gives the bytes of the study file given to Open, which
// Close keeps in the workspace (study.yaml) so that later commands can
// open it without being given the study again.
func (w *Workspace) SetStudyFile(data []byte) error {
	if sha256.Sum256(data) != w.study.SHA256 {
		return errors.New("the study file changed since it was read: run the command again")
	}
	w.studyData = data
	return nil
}

// checkRevision refuses a study that is not a valid revision of the
// versions the workspace holds.
func (w *Workspace) checkRevision() error {
	var earlier []*config.Study
	for _, id := range slices.Sorted(maps.Keys(w.versions)) {
		earlier = append(earlier, w.versions[id])
	}
	if err := config.CheckRevision(earlier, w.study); err != nil {
		return fmt.Errorf("the study file is not a valid revision of the versions this workspace holds (%s): %w", filepath.Join(w.dir, versionsDir), err)
	}
	return nil
}

// checkRecipient refuses a key that is not one of the study's recipients.
func checkRecipient(study *config.Study, id *envelope.Identity) error {
	keys, err := study.RecipientKeys()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Equal(id.Recipient()) {
			return nil
		}
	}
	return fmt.Errorf("your key %s is not a recipient of study %q (its recipients are %s): decrypt with the key of one of them; `researcher pubkey --key FILE` prints a key's fingerprint",
		id.Recipient().Fingerprint(), study.ID, recipientList(study))
}

// recipientList names the study's recipients with their fingerprints.
func recipientList(study *config.Study) string {
	var parts []string
	for _, r := range study.Recipients {
		fp := "unreadable key"
		if k, err := envelope.ParseRecipient(r.PublicKey); err == nil {
			fp = k.Fingerprint()
		}
		parts = append(parts, fmt.Sprintf("%q %s", r.Name, fp))
	}
	return strings.Join(parts, ", ")
}

// create makes and locks the folder of a new workspace. A folder left by a
// run that never completed (holding only a workspace's own entries) is
// taken over; any other non-empty folder is refused.
func (w *Workspace) create() error {
	entries, err := os.ReadDir(w.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(w.dir, 0o700); err != nil {
			return fmt.Errorf("failed to create workspace: %w", err)
		}
		w.created = true
	case err != nil:
		return fmt.Errorf("failed to read workspace: %w", err)
	}
	for _, e := range entries {
		if !slices.Contains(ownNames, e.Name()) {
			return fmt.Errorf("workspace %s is not empty but has no %s: choose an empty or new folder", w.dir, registryFile)
		}
	}
	if err := w.lockDir(); err != nil {
		return err
	}
	if err := w.repair(); err != nil {
		w.unlock()
		return err
	}
	return nil
}

// lockDir takes the workspace's lock, or fails at once if another command
// holds it.
func (w *Workspace) lockDir() error {
	f, err := os.OpenFile(filepath.Join(w.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("failed to lock workspace: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("workspace %s is in use by another researcher command: wait for it to finish", w.dir)
		}
		return fmt.Errorf("failed to lock workspace: %w", err)
	}
	w.lock = f
	return nil
}

func (w *Workspace) unlock() {
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
	}
}

// repair brings the folder back to the state the registry records: data
// files cut back to their sealed length, batches half-copied removed, audit
// records the last Close sealed but did not append appended.
func (w *Workspace) repair() error {
	if err := os.MkdirAll(filepath.Join(w.dir, dataDir), 0o700); err != nil {
		return fmt.Errorf("failed to create workspace: %w", err)
	}
	for _, d := range []string{batchesDir, handoversDir, versionsDir, replyBatchesDir} {
		if err := os.MkdirAll(filepath.Join(w.dir, d), 0o700); err != nil {
			return fmt.Errorf("failed to create workspace: %w", err)
		}
	}
	// What writing the XLSX file spilled (plaintext) before a crash.
	if err := os.RemoveAll(filepath.Join(w.dir, tmpDir)); err != nil {
		return fmt.Errorf("failed to undo an interrupted run: %w", err)
	}
	if err := w.loadVersions(); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		size int64
	}{{dataFile, w.st.Data}, {quarDataFile, w.st.QuarantineData}, {messagesFile, w.st.MessageData}} {
		if err := cutBack(filepath.Join(w.dir, f.name), f.size); err != nil {
			return err
		}
	}
	if err := w.removeIncoming(); err != nil {
		return err
	}
	if err := w.removeUnsavedReplyBatches(); err != nil {
		return err
	}
	return w.appendSealedAudit()
}

// loadVersions reads the study files in versions/, and adds the current
// study.
func (w *Workspace) loadVersions() error {
	w.versions = map[string]*config.Study{w.study.Version(): w.study}
	w.keptVersions = map[string]bool{}
	entries, err := os.ReadDir(filepath.Join(w.dir, versionsDir))
	if err != nil {
		return fmt.Errorf("failed to read workspace: %w", err)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || !config.IsVersion(id) {
			continue
		}
		w.keptVersions[id] = true
		if w.versions[id] != nil {
			continue
		}
		path := filepath.Join(w.dir, versionsDir, e.Name())
		s, err := config.Load(path)
		if err != nil {
			return err
		}
		if s.Version() != id || s.ID != w.study.ID {
			return fmt.Errorf("%s holds another study file than its name says: the workspace was damaged; restore versions/ from a backup", path)
		}
		w.versions[id] = s
	}
	return nil
}

// cutBack truncates the append-only file at path to size, the length the
// registry sealed: bytes beyond it belong to a run that never completed.
func cutBack(path string, size int64) error {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) && size == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read workspace: %w", err)
	}
	switch {
	case info.Size() < size:
		return fmt.Errorf("%s holds %d bytes but the registry records %d: the workspace was damaged; restore it from a backup", path, info.Size(), size)
	case info.Size() > size:
		if err := os.Truncate(path, size); err != nil {
			return fmt.Errorf("failed to undo an interrupted run: %w", err)
		}
	}
	return nil
}

func (w *Workspace) removeIncoming() error {
	for _, d := range []string{batchesDir, handoversDir} {
		entries, err := os.ReadDir(filepath.Join(w.dir, d))
		if err != nil {
			return fmt.Errorf("failed to read workspace: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), incomingPrefix) {
				if err := os.Remove(filepath.Join(w.dir, d, e.Name())); err != nil {
					return fmt.Errorf("failed to undo an interrupted run: %w", err)
				}
			}
		}
	}
	return nil
}

// appendSealedAudit appends to the audit log the records the last Close
// sealed that are not in it yet: Close seals them in the registry before
// appending them, so a crash between the two loses none and duplicates
// none (nothing else appends to a researcher's log).
func (w *Workspace) appendSealedAudit() error {
	if len(w.st.Audit) == 0 {
		return nil
	}
	l, err := w.openAudit()
	if err != nil {
		return err
	}
	defer l.Close()
	done := l.Size() - w.st.AuditBase
	if done < 0 {
		return fmt.Errorf("the audit log holds %d records but the registry records %d: the log was damaged; run auditor verify on %s", l.Size(), w.st.AuditBase, filepath.Join(w.dir, auditDir))
	}
	if done >= int64(len(w.st.Audit)) {
		return nil
	}
	for i, text := range w.st.Audit[done:] {
		r, err := audit.ParseRecord([]byte(text))
		if err != nil {
			return fmt.Errorf("malformed %s: %w", registryFile, err)
		}
		if _, err := l.Append(r); err != nil {
			return fmt.Errorf("failed to append to the audit log: %w", err)
		}
		if i == 0 {
			crashPoint("audit-appending")
		}
	}
	if _, err := l.Checkpoint(time.Now(), true); err != nil {
		return fmt.Errorf("failed to sign an audit checkpoint: %w", err)
	}
	return nil
}

// SetExportProgress sets a function Close calls as it writes testimonies
// to the exports (all of them when the exports are made again, else the new
// ones).
func (w *Workspace) SetExportProgress(progress func(done, total int)) {
	w.exportProgress = progress
}

// Study returns the study given to Open.
func (w *Workspace) Study() *config.Study { return w.study }

// Saved reports whether a Close ever saved the workspace.
func (w *Workspace) Saved() bool { return w.exists }

// Len returns the number of testimonies in the workspace, as the last
// Close saved them, leaving out those withdrawn.
func (w *Workspace) Len() int { return len(w.rows) - w.view.withdrawn }

// Withdrawn returns the number of testimonies of the workspace that the
// people who gave them withdrew, as the last Close saved them: they are
// in no export.
func (w *Workspace) Withdrawn() int { return w.view.withdrawn }

// ThreadCounts counts the messages on threads, as the last Close saved
// them.
type ThreadCounts struct {
	// Followups and Additions count the messages attached to testimonies
	// (not withdrawn), on Threads testimonies.
	Followups, Additions, Threads int
	// Waiting counts the withdrawals of a testimony the workspace does not
	// hold (yet): it will be withdrawn when it arrives.
	Waiting int
	// SharedAddress counts the testimonies whose return address another
	// testimony of the workspace also carries (a client that misbehaved,
	// or someone who copied an address): messages on it are shown under
	// each.
	SharedAddress int
}

// Threads counts the messages on threads.
func (w *Workspace) Threads() ThreadCounts {
	var c ThreadCounts
	for k, m := range w.msgs {
		if w.view.state[k] != msgAttached {
			continue
		}
		switch m.kind {
		case kindFollowup:
			c.Followups++
		case kindAddition:
			c.Additions++
		}
	}
	c.Threads = len(w.view.thread)
	c.Waiting = w.view.waiting
	seen := map[address]int{}
	for _, r := range w.rows {
		if !r.ret.isZero() {
			seen[r.ret]++
		}
	}
	for _, n := range seen {
		if n > 1 {
			c.SharedAddress += n
		}
	}
	return c
}

// All returns the workspace's testimonies as the last Close saved them, in
// the order of the exports, reading them one at a time from disk. It may be
// used after Close.
func (w *Workspace) All() iter.Seq2[Testimony, error] {
	return func(yield func(Testimony, error) bool) {
		for r, err := range w.readRows() {
			t := r.Testimony
			if err == nil {
				t.Answers = make(map[string]json.RawMessage, len(r.answers))
				for id, a := range r.answers {
					t.Answers[id] = bytes.Clone(a.raw)
				}
			}
			if !yield(t, err) || err != nil {
				return
			}
		}
	}
}

// Testimonies returns every testimony of the workspace, in the order of the
// exports. It holds them all in memory: use All for a large workspace.
func (w *Workspace) Testimonies() ([]Testimony, error) {
	var out []Testimony
	for t, err := range w.All() {
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// QuarantineCount is the number of quarantined envelopes with one reason.
type QuarantineCount struct {
	Reason      string // a stable code, such as "not-sealed-to-this-key"
	Explanation string // the reason in a sentence
	Count       int
}

// Quarantined returns the number of envelopes in the workspace's
// quarantine by reason, most frequent first, as the last Close saved it.
// Envelopes sealed before the researcher joined the team are not
// quarantined: see SealedBefore.
func (w *Workspace) Quarantined() []QuarantineCount {
	counts := map[reason]int{}
	for _, q := range w.quar {
		if q.reason != reasonSealedBefore {
			counts[q.reason]++
		}
	}
	for _, st := range w.view.state {
		if st.quarantined() {
			counts[st.reason()]++
		}
	}
	return sortCounts(counts)
}

// SealedBefore returns the number of envelopes the workspace keeps that
// were sealed to a version of the study whose recipients did not include
// the researcher yet: a teammate's handover brings them in.
func (w *Workspace) SealedBefore() int {
	n := 0
	for _, q := range w.quar {
		if q.reason == reasonSealedBefore {
			n++
		}
	}
	return n
}

func sortCounts(counts map[reason]int) []QuarantineCount {
	var out []QuarantineCount
	for r, n := range counts {
		out = append(out, QuarantineCount{Reason: r.code(), Explanation: r.explanation(), Count: n})
	}
	slices.SortFunc(out, func(a, b QuarantineCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	return out
}

// usable fails if the workspace was closed or a failed Import ruined the
// run.
func (w *Workspace) usable() error {
	if w.closed {
		return errors.New("workspace is closed")
	}
	if w.failed != nil {
		return fmt.Errorf("this run failed earlier and will save nothing: %w", w.failed)
	}
	return nil
}

// Abort drops the run: nothing it imported, quarantined or renamed is
// saved, and a workspace this Open created is removed again if nothing else
// was put in it. It is safe to call after Close, and more than once.
func (w *Workspace) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.unlock()
	err := w.discard()
	if !w.exists {
		// Nothing was ever saved here: take away what this run made,
		// keeping anything else (removing a folder fails unless empty).
		for _, name := range []string{dataFile, quarDataFile, messagesFile, dataDir, batchesDir, handoversDir, versionsDir, replyBatchesDir, lockFile} {
			os.Remove(filepath.Join(w.dir, name))
		}
		if w.created {
			os.Remove(w.dir)
		}
	}
	return err
}

// discard undoes the run's writes: data cut back, incoming batches removed.
func (w *Workspace) discard() error {
	if w.run == nil {
		return nil
	}
	w.run.closeFiles()
	for _, b := range slices.Concat(w.run.batches, w.run.handovers) {
		if b.tmp != "" {
			os.Remove(b.tmp)
		}
	}
	for _, h := range w.run.replyBatches {
		os.Remove(filepath.Join(w.dir, replyBatchesDir, h+".tar"))
	}
	w.run = nil
	w.applyRenames()
	err := cutBack(filepath.Join(w.dir, dataFile), w.st.Data)
	if e := cutBack(filepath.Join(w.dir, quarDataFile), w.st.QuarantineData); err == nil {
		err = e
	}
	if e := cutBack(filepath.Join(w.dir, messagesFile), w.st.MessageData); err == nil {
		err = e
	}
	return err
}

// auditOrigin names the researcher's log: the study and the fingerprint of
// the researcher's key.
func (w *Workspace) auditOrigin() string {
	return "testimony/" + w.study.ID + "/researcher/" + w.id.Recipient().Fingerprint()
}

func (w *Workspace) openAudit() (*audit.Log, error) {
	signer, _, err := notekey.LoadOrCreate(filepath.Join(w.dir, "audit.key"), filepath.Join(w.dir, "audit.pub"),
		func() (string, string, error) { return audit.GenerateKey(w.auditOrigin()) })
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	l, err := audit.Open(filepath.Join(w.dir, auditDir), w.auditOrigin(), signer)
	if err != nil {
		return nil, fmt.Errorf("failed to open the audit log: %w", err)
	}
	return l, nil
}

// seal encrypts the registry to the researcher: "testimony-workspace-v2\n"
// || ephemeral public key || nonce || crypto_box(plain).
func seal(plain []byte, to *envelope.Recipient) ([]byte, error) {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	peer := to.X25519()
	out := make([]byte, 0, len(registryLabel)+32+24+len(plain)+box.Overhead)
	out = append(out, registryLabel...)
	out = append(out, pub[:]...)
	out = append(out, nonce[:]...)
	out = box.Seal(out, plain, &nonce, &peer, priv)
	clear(priv[:])
	return out, nil
}

func unseal(data []byte, id *envelope.Identity) ([]byte, error) {
	if bytes.HasPrefix(data, []byte("testimony-workspace-v1\n")) {
		return nil, errors.New("it was made by an earlier version of researcher, for envelopes no server makes any more: decrypt into a new folder")
	}
	rest, ok := bytes.CutPrefix(data, []byte(registryLabel))
	if !ok || len(rest) < 32+24+box.Overhead {
		return nil, errors.New("not a testimony workspace registry")
	}
	var pub, priv [32]byte
	var nonce [24]byte
	copy(pub[:], rest[:32])
	copy(nonce[:], rest[32:56])
	copy(priv[:], id.Bytes())
	plain, ok := box.Open(nil, rest[56:], &nonce, &pub, &priv)
	clear(priv[:])
	if !ok {
		return nil, fmt.Errorf("it is sealed to another key than yours (%s), or damaged: open it with the key that made it", id.Recipient().Fingerprint())
	}
	return plain, nil
}

func hexKey(sum [32]byte) string { return hex.EncodeToString(sum[:]) }
