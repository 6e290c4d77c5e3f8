package researcher

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/handover"
	"github.com/testimony-project/testimony/receipt"
)

// Record adds audit records to the run, appended to the researcher's audit
// log when Close saves it: for acts outside the workspace that belong in
// its log, such as a change to the team (researcher-added,
// researcher-removed) or to the key (passphrase-changed).
func (w *Workspace) Record(records ...audit.Record) error {
	if err := w.usable(); err != nil {
		return err
	}
	run := w.begin()
	run.records = append(run.records, records...)
	return nil
}

// Receipt returns an import receipt (package receipt) signed by the
// researcher, listing every batch the workspace imported completely: every
// envelope imported, or quarantined with its ciphertext kept in batches/
// (so that the server may delete them), and how many it lists. It fails if
// there is none. Close records it in the audit log (receipt-issued).
func (w *Workspace) Receipt() ([]byte, *receipt.Receipt, error) {
	if err := w.usable(); err != nil {
		return nil, nil, err
	}
	missing := map[int]bool{} // batch index → its ciphertexts are needed but gone
	for _, q := range w.quar {
		if !q.src.handover() && !missing[q.src.index()] {
			if _, err := os.Stat(w.sourcePath(q.src)); err != nil {
				missing[q.src.index()] = true
			}
		}
	}
	r := &receipt.Receipt{StudyID: w.study.ID, Researcher: w.id.Recipient().Fingerprint()}
	for i, h := range w.st.Batches {
		if !missing[i] {
			r.Batches = append(r.Batches, hexDecode32(h))
		}
	}
	if len(r.Batches) == 0 {
		if len(w.st.Batches) == 0 {
			return nil, nil, errors.New("this workspace has imported no batch yet: decrypt the batches first")
		}
		return nil, nil, fmt.Errorf("none of the %d batches imported can be receipted: their quarantined envelopes are no longer kept in %s; put the batches back there", len(w.st.Batches), filepath.Join(w.dir, batchesDir))
	}
	msg, err := receipt.Sign(r, w.id.Signer())
	if err != nil {
		return nil, nil, err
	}
	run := w.begin()
	run.records = append(run.records, audit.ReceiptIssued(r.Hash, len(r.Batches), timeNow()))
	return msg, r, nil
}

// HandoverSummary says what writing or importing a handover file did.
type HandoverSummary struct {
	// From is the fingerprint of the researcher who signed the file, and
	// To that of the one it is for.
	From, To string
	// Envelopes is the number of envelopes in the file.
	Envelopes int
	// Written only: OpenedByThem counts testimonies left out because the
	// new researcher can open them already, and Missing those whose
	// envelope is no longer in the workspace's batches (an earlier version
	// of researcher imported them, or batches/ was pruned).
	OpenedByThem, Missing int
	// Imported only: Imported counts testimonies brought in (new, or from
	// the envelopes kept as sealed before the researcher joined), Skipped
	// those already here, Quarantined those that failed.
	Imported, Skipped, Quarantined int
	Reasons                        []QuarantineCount
}

// WriteHandover writes to out a handover file (package handover), signed
// by the researcher, for the researcher to: the original envelope and the
// content key, sealed to them, of every testimony of the workspace that
// they cannot open themselves, or only of those named (current
// pseudonyms, in either script). Envelopes come from the batches and
// handover files the workspace keeps. Close records it in the audit log
// (handover-written). It fails, writing nothing usable, if there is
// nothing to hand over.
func (w *Workspace) WriteHandover(out io.Writer, to *envelope.Recipient, names []string) (*HandoverSummary, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	if to.Equal(w.id.Recipient()) {
		return nil, errors.New("the handover is for your own key: give the new researcher's public key")
	}
	want := map[[32]byte]bool{}
	if len(names) > 0 {
		for _, n := range names {
			key, err := w.names.Find(n)
			if err != nil {
				return nil, err
			}
			want[hexDecode32(key)] = true
		}
	} else {
		for _, r := range w.rows {
			want[r.key] = true
		}
	}
	sum := &HandoverSummary{From: w.id.Recipient().Fingerprint(), To: to.Fingerprint()}
	if len(want) == 0 {
		return nil, errors.New("this workspace holds no testimony to hand over")
	}
	sealer, err := handover.NewSealer(to)
	if err != nil {
		return nil, err
	}
	defer sealer.Close()
	mine := to.X25519()

	// First pass: the entries, in the order the sources hold them.
	// (An envelope may be in several: the first that gives its content
	// key, a batch sealed to the researcher or a handover, is used.)
	var entries []handover.Entry
	found := map[[32]byte]int{} // envelope → the source it is taken from
	err = w.eachKept(func(src int, key [32]byte, data []byte, k *[32]byte) error {
		if _, done := found[key]; !want[key] || done {
			return nil
		}
		if xs, err := envelope.Recipients(data); err == nil && slices.Contains(xs, mine) {
			found[key] = src
			sum.OpenedByThem++
			return nil
		}
		if k == nil {
			o, err := envelope.Open(w.study.ID, data, w.id)
			if errors.Is(err, envelope.ErrNotRecipient) {
				return nil // sealed before this researcher joined: a handover they keep has it
			}
			if err != nil {
				return fmt.Errorf("envelope %x no longer opens: %w", key, err)
			}
			k = &o.Key
		}
		found[key] = src
		entries = append(entries, sealer.Entry(data, *k))
		clear(k[:])
		return nil
	})
	if err != nil {
		return nil, err
	}
	sum.Missing = len(want) - len(found)
	sum.Envelopes = len(entries)
	if len(entries) == 0 {
		return nil, fmt.Errorf("nothing to hand over: %d testimonies the new researcher can open already, %d whose envelopes this workspace no longer keeps", sum.OpenedByThem, sum.Missing)
	}
	if len(entries) > handover.MaxEntries {
		return nil, fmt.Errorf("%d testimonies to hand over, more than one file holds (%d): name a part of them", len(entries), handover.MaxEntries)
	}

	// Every version of the study the workspace holds: the new researcher
	// may never see the batches that carried them.
	var versions [][]byte
	for _, id := range slices.Sorted(maps.Keys(w.keptVersions)) {
		data, err := os.ReadFile(filepath.Join(w.dir, versionsDir, id+".yaml"))
		if err != nil {
			return nil, fmt.Errorf("failed to read workspace: %w", err)
		}
		versions = append(versions, data)
	}
	if w.studyData != nil && !w.keptVersions[w.study.Version()] {
		versions = append(versions, w.studyData)
	} else if data, err := os.ReadFile(filepath.Join(w.dir, studyFile)); err == nil && sha256.Sum256(data) == w.study.SHA256 && !w.keptVersions[w.study.Version()] {
		versions = append(versions, data)
	}

	// Second pass: the envelopes, in the same order.
	hw, err := handover.NewWriter(out, sealer.Manifest(w.study.ID, sum.From, versions, entries), w.id.Signer(), versions)
	if err != nil {
		return nil, err
	}
	listed := make(map[[32]byte]bool, len(entries))
	for _, e := range entries {
		listed[e.SHA256] = true
	}
	err = w.eachKept(func(src int, key [32]byte, data []byte, k *[32]byte) error {
		if k != nil {
			clear(k[:])
		}
		if !listed[key] || found[key] != src {
			return nil
		}
		delete(listed, key)
		return hw.Add(data)
	})
	if err == nil {
		err = hw.Close()
	}
	if err != nil {
		return nil, err
	}
	run := w.begin()
	run.records = append(run.records, audit.HandoverWritten(len(entries), sum.To, timeNow()))
	return sum, nil
}

// eachKept calls f with every envelope of every batch and handover file
// the workspace keeps, in order, with the number of the source holding it
// and its content key for a handover.
func (w *Workspace) eachKept(f func(src int, key [32]byte, data []byte, k *[32]byte) error) error {
	var sources []source
	for i := range w.st.Batches {
		sources = append(sources, batchSource(i))
	}
	for i := range w.st.Handovers {
		sources = append(sources, handoverAt(i))
	}
	for n, src := range sources {
		file, next, _, err := w.openSource(src)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w; the workspace was damaged: restore it from a backup", w.sourcePath(src), err)
		}
		for {
			key, data, k, err := next()
			if err == io.EOF {
				break
			}
			if err == nil {
				err = f(n, key, data, k)
			}
			if err != nil {
				file.Close()
				return err
			}
		}
		file.Close()
	}
	return nil
}

// ImportHandover reads a handover file, checks its signature against the
// researchers of the study given to Open and that it is for the
// researcher's key, and opens each envelope with the content key it hands
// over (envelope.OpenWithKey, which checks the whole envelope): so the
// researcher reads what every recipient reads, and the testimony gets the
// same pseudonym and reference as everywhere. Each is checked against the
// questionnaire and imported (or quarantined) like an envelope of a batch;
// one already imported is skipped, one kept as sealed before the
// researcher joined is brought in. The workspace keeps the file
// (handovers/), for examining its envelopes again and handing them on.
// Close records it in the audit log (handover-imported, with the giver's
// fingerprint). Like Import, a file refused fails the run.
func (w *Workspace) ImportHandover(r io.Reader, progress func(done, total int)) (*HandoverSummary, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	sum, err := w.importHandover(r, progress)
	if err != nil {
		w.fail(err)
		return nil, err
	}
	return sum, nil
}

func (w *Workspace) importHandover(r io.Reader, progress func(done, total int)) (*HandoverSummary, error) {
	run, err := w.appenders()
	if err != nil {
		return nil, err
	}
	keep, err := newIncoming(filepath.Join(w.dir, handoversDir))
	if err != nil {
		return nil, err
	}
	defer func() { keep.remove() }() // unless finished
	vs, err := studyVerifiers(w.study)
	if err != nil {
		return nil, err
	}
	next, hr, err := w.handoverEntries(io.TeeReader(r, keep), "", vs)
	if err != nil {
		return nil, err
	}
	m := hr.Manifest()
	sum := &HandoverSummary{From: m.From, To: m.To.Fingerprint(), Envelopes: len(m.Entries)}
	if err := w.takeStudyFiles(func() ([]byte, [32]byte, error) {
		data, err := hr.NextVersion()
		return data, sha256.Sum256(data), err
	}); err != nil {
		return nil, err
	}
	pending := srcRef{handover: true, hash: "incoming"}
	recovered := maps.Clone(run.recovered) // by examining the quarantine again
	pick := func(key [32]byte) (int, bool) {
		if run.seen[key] {
			return 0, false
		}
		if _, ok := w.reg.Lookup(hexKey(key)); ok {
			return 0, false
		}
		run.seen[key] = true
		if qi, ok := w.qindex[key]; ok {
			if recovered[qi] {
				return 0, false
			}
			return qi, true
		}
		return -1, true
	}
	st, err := w.examine(next, pending, pick, progress, 0, len(m.Entries))
	if err != nil {
		return nil, err
	}
	hash, _ := hr.SHA256()
	h := runBatch{hash: hexKey(hash), count: st.accepted, from: m.From}
	// What the examination quarantined names this file.
	for i := range run.quar {
		if run.quar[i].src == pending {
			run.quar[i].src.hash = h.hash
		}
	}
	for qi, q := range run.requar {
		if q.src == pending {
			q.src.hash = h.hash
			run.requar[qi] = q
		}
	}
	sum.Imported, sum.Skipped, sum.Quarantined = st.accepted, st.skipped, st.quarantined
	sum.Reasons = sortCounts(st.reasons)
	if err := keep.finish(); err != nil {
		return nil, err
	}
	if slices.Contains(w.st.Handovers, h.hash) || slices.ContainsFunc(run.handovers, func(o runBatch) bool { return o.hash == h.hash }) {
		os.Remove(keep.path) // kept already
	} else {
		h.tmp = keep.path
	}
	keep = nil
	run.handovers = append(run.handovers, h)
	return sum, nil
}
