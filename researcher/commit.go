package researcher

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/internal/atomicfile"
)

// Close saves the run and releases the workspace: it gives the run's new
// testimonies their pseudonyms (batch by batch in the order the workspace
// met them, by seed within a batch), seals the registry
// (from then on the run counts), brings the exports up to date, and appends
// what changed to the researcher's audit log. If an Import of the run
// failed, Close saves nothing and says so.
func (w *Workspace) Close() error {
	if w.closed {
		return nil
	}
	if w.failed != nil {
		w.Abort()
		return fmt.Errorf("nothing of this run was saved: %w", w.failed)
	}
	w.closed = true
	defer w.unlock()
	if w.exists && (w.lang != w.st.Lang || w.labels != w.st.Labels) {
		w.begin().settings = true
	}
	if w.run != nil && w.run.changed() {
		if err := w.commit(); err != nil {
			w.discard()
			return err
		}
	} else if err := w.discard(); err != nil {
		return err
	}
	if !w.exists {
		return nil
	}
	if err := w.keepStudyFile(); err != nil {
		return err
	}
	if err := w.export(); err != nil {
		return err
	}
	crashPoint("exported")
	return w.appendSealedAudit()
}

// RunSaved reports whether Close saved this run, even if it then failed
// (writing the exports, say): the run's registry is sealed, so the run
// counts, and its audit records are in the audit log, or are appended to
// it when the workspace is next opened.
func (w *Workspace) RunSaved() bool { return w.saved }

// commit saves the run: data made durable, batches kept, pseudonyms given,
// registry sealed.
func (w *Workspace) commit() error {
	run := w.run
	for _, a := range []*appender{run.data, run.qdata, run.mdata} {
		if a != nil {
			if err := a.sync(); err != nil {
				return err
			}
		}
	}
	run.closeFiles()
	if err := atomicfile.SyncDir(filepath.Join(w.dir, dataDir)); err != nil {
		return err
	}
	crashPoint("synced")
	batches := slices.Clone(w.st.Batches)
	var imported []runBatch
	kept := false
	for i, b := range run.batches {
		if b.tmp != "" {
			if err := os.Rename(b.tmp, filepath.Join(w.dir, batchesDir, b.hash+".tar")); err != nil {
				return fmt.Errorf("failed to keep batch: %w", err)
			}
			run.batches[i].tmp, kept = "", true
		}
		if !slices.Contains(batches, b.hash) {
			batches = append(batches, b.hash)
			imported = append(imported, b)
		}
	}
	if kept {
		if err := atomicfile.SyncDir(filepath.Join(w.dir, batchesDir)); err != nil {
			return err
		}
	}
	handovers := slices.Clone(w.st.Handovers)
	var handedOver []runBatch
	kept = false
	for i, h := range run.handovers {
		if h.tmp != "" {
			if err := os.Rename(h.tmp, filepath.Join(w.dir, handoversDir, h.hash+handoverSuffix)); err != nil {
				return fmt.Errorf("failed to keep handover: %w", err)
			}
			run.handovers[i].tmp, kept = "", true
		}
		if !slices.Contains(handovers, h.hash) {
			handovers = append(handovers, h.hash)
		}
		handedOver = append(handedOver, h)
	}
	if kept {
		if err := atomicfile.SyncDir(filepath.Join(w.dir, handoversDir)); err != nil {
			return err
		}
	}
	for _, id := range slices.Sorted(maps.Keys(run.versions)) {
		if err := atomicfile.WriteBytes(filepath.Join(w.dir, versionsDir, id+".yaml"), 0o600, run.versions[id]); err != nil {
			return err
		}
		w.keptVersions[id] = true
	}
	crashPoint("kept")

	run.seen = nil // not needed any more: let the collector have it
	// Pseudonyms batch by batch, in the order the workspace met the
	// batches (handovers after them), and within a batch in order of seed:
	// the order in which the parallel workers finished changes nothing, and
	// two researchers who import the same batches in the same order get the
	// same names however they group them into runs.
	rank := func(src srcRef) int {
		if i := slices.Index(batches, src.hash); i >= 0 && !src.handover {
			return i
		}
		if i := slices.Index(handovers, src.hash); i >= 0 {
			return len(batches) + i
		}
		return len(batches) + len(handovers)
	}
	slices.SortFunc(run.rows, func(a, b pendingRow) int {
		if c := rank(a.src) - rank(b.src); c != 0 {
			return c
		}
		if c := bytes.Compare(a.seed[:], b.seed[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.key[:], b.key[:])
	})
	rows := slices.Grow(slices.Clone(w.rows), len(run.rows))
	for _, p := range run.rows {
		if _, err := w.reg.Assign(hexKey(p.key), p.seed); err != nil {
			return err
		}
		rows = append(rows, row{key: p.key, ref: p.ref, off: p.off, n: p.n, ret: p.ret})
	}

	sourceOf := map[srcRef]source{}
	for i, h := range batches {
		sourceOf[srcRef{hash: h}] = batchSource(i)
	}
	for i, h := range handovers {
		sourceOf[srcRef{handover: true, hash: h}] = handoverAt(i)
	}
	var quar []qentry
	for i, q := range w.quar {
		if run.recovered[i] {
			continue
		}
		if p, ok := run.requar[i]; ok {
			q.reason, q.off, q.n, q.src = p.reason, p.off, p.n, sourceOf[p.src]
		}
		quar = append(quar, q)
	}
	slices.SortFunc(run.quar, func(a, b pendingQ) int { return bytes.Compare(a.key[:], b.key[:]) })
	for _, p := range run.quar {
		quar = append(quar, qentry{key: p.key, src: sourceOf[p.src], reason: p.reason, off: p.off, n: p.n})
	}
	quarantined := 0
	for _, p := range run.quar {
		if p.reason != reasonSealedBefore {
			quarantined++
		}
	}

	// Messages on threads, the replies known, and what they come to.
	msgs := slices.Grow(slices.Clone(w.msgs), len(run.msgs))
	slices.SortFunc(run.msgs, func(a, b pendingMsg) int { return bytes.Compare(a.key[:], b.key[:]) })
	for _, p := range run.msgs {
		m := msgEntry{key: p.key, addr: p.addr, kind: p.kind, src: sourceOf[p.src], pos: p.pos, off: p.off, n: p.n}
		copy(m.reply[:], p.reply)
		msgs = append(msgs, m)
	}
	replies := w.replies()
	if err := w.checkFollowups(msgs, replies); err != nil {
		return err
	}
	view := w.resolve(rows, msgs, replies, batches, handovers)
	// A reply still queued to a testimony now withdrawn is never sent.
	if view.withdrawn > 0 && slices.ContainsFunc(replies, func(e replyEntry) bool { return e.queued() }) {
		live := map[string]bool{}
		for i, r := range rows {
			if !view.out[i] {
				live[hex.EncodeToString(r.ref[:])] = true
			}
		}
		replies = slices.DeleteFunc(replies, func(e replyEntry) bool {
			if !e.queued() || live[e.Ref] {
				return false
			}
			w.droppedReplies++
			return true
		})
	}
	counts := w.threadChanges(view, msgs)
	quarantined += counts.quarantined

	st := w.st
	st.Batches, st.Handovers = batches, handovers
	st.Replies = replies
	st.ReplyBatches = slices.Concat(st.ReplyBatches, run.replyBatches)
	st.Lang, st.Labels = w.lang, w.labels
	for _, c := range run.claims {
		if !slices.Contains(st.Renames, c) {
			st.Renames = append(st.Renames, c)
		}
	}
	if run.data != nil {
		st.Data = run.data.off
	}
	if run.qdata != nil {
		st.QuarantineData = run.qdata.off
	}
	if run.mdata != nil {
		st.MessageData = run.mdata.off
	}
	if run.reexamined || len(w.quar) == 0 {
		st.ExaminedStudy, st.ExaminedRules = w.examinationContext(), examinationRules
	}
	var err error
	others := run.records
	if counts.attached > 0 {
		others = append(others, audit.FollowupsImported(counts.attached, timeNow()))
	}
	if counts.withdrawn > 0 {
		others = append(others, audit.TestimoniesWithdrawn(counts.withdrawn, timeNow()))
	}
	if st.Audit, st.AuditBase, err = w.auditRecords(imported, handedOver, quarantined, len(run.recovered), run.made, others); err != nil {
		return err
	}
	plain, err := encodeState(&st, w.reg, rows, quar, msgs)
	if err != nil {
		return err
	}
	sealed, err := seal(plain, w.id.Recipient())
	clear(plain)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(w.dir, registryFile), 0o600, sealed); err != nil {
		return err
	}
	w.saved = true
	crashPoint("sealed")

	before := w.view
	w.digestBefore = w.threadsDigest()
	w.st, w.rows, w.quar, w.msgs, w.view, w.exists, w.run = st, rows, quar, msgs, view, true, nil
	w.qindex = make(map[[32]byte]int, len(quar))
	for i, q := range quar {
		w.qindex[q.key] = i
	}
	w.msgIndex = make(map[[32]byte]int, len(msgs))
	for i, m := range msgs {
		w.msgIndex[m.key] = i
	}
	w.touched = counts.touched
	w.applyRenames()
	// What the people who withdrew wrote leaves data/ now that the
	// registry says they withdrew.
	return w.scrubWithdrawn(before)
}

// auditRecords returns the audit records of the run, encoded, and the
// size of the audit log they will follow.
func (w *Workspace) auditRecords(imported, handedOver []runBatch, quarantined, recovered, renames int, others []audit.Record) ([]string, int64, error) {
	now := time.Now()
	var recs []audit.Record
	for _, b := range imported {
		recs = append(recs, audit.BatchImported(hexDecode32(b.hash), b.count, w.id.Recipient().Fingerprint(), now))
	}
	for _, h := range handedOver {
		recs = append(recs, audit.HandoverImported(h.count, h.from, now))
	}
	if quarantined > 0 {
		recs = append(recs, audit.TestimoniesQuarantined(quarantined, now))
	}
	if recovered > 0 {
		recs = append(recs, audit.TestimoniesRecovered(recovered, now))
	}
	for range renames {
		recs = append(recs, audit.PseudonymRenamed(now))
	}
	recs = append(recs, others...)
	if len(recs) == 0 {
		return nil, 0, nil
	}
	l, err := w.openAudit()
	if err != nil {
		return nil, 0, err
	}
	defer l.Close()
	out := make([]string, len(recs))
	for i, r := range recs {
		text, err := r.MarshalText()
		if err != nil {
			return nil, 0, err
		}
		out[i] = string(text)
	}
	return out, l.Size(), nil
}

func hexDecode32(s string) [32]byte {
	var h [32]byte
	hex.Decode(h[:], []byte(s))
	return h
}

// keepStudyFile writes the study file given to Open to study.yaml, if it
// was given (SetStudyFile) and differs.
func (w *Workspace) keepStudyFile() error {
	if w.studyData == nil {
		return nil
	}
	path := filepath.Join(w.dir, studyFile)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, w.studyData) {
		return nil
	}
	return atomicfile.WriteBytes(path, 0o600, w.studyData)
}
