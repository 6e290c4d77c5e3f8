package audit

import (
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A ProblemKind says how the server log and the researcher logs disagree.
type ProblemKind string

// The problems [Reconcile] reports.
const (
	// NotImported: the server exported a batch no researcher imported.
	NotImported ProblemKind = "not-imported"
	// NotExported: a researcher imported a batch the server never exported.
	NotExported ProblemKind = "not-exported"
	// CountMismatch: a researcher imported a batch with another number of
	// envelopes than the server exported in it.
	CountMismatch ProblemKind = "count-mismatch"
	// Unproven: a record is not covered by a signed checkpoint, so its
	// inclusion in the log cannot be proven.
	Unproven ProblemKind = "unproven"
	// LogDamaged: a log failed [Verify].
	LogDamaged ProblemKind = "log-damaged"
	// ReplyBatchNotImported: a researcher wrote a reply batch the server
	// never imported (the people it answers cannot read it).
	ReplyBatchNotImported ProblemKind = "reply-batch-not-imported"
	// ReplyBatchNotWritten: the server imported a reply batch no
	// researcher log shows as written.
	ReplyBatchNotWritten ProblemKind = "reply-batch-not-written"
	// ReplyCountMismatch: the server imported a reply batch with another
	// number of records than the researcher wrote in it.
	ReplyCountMismatch ProblemKind = "reply-count-mismatch"
)

// A Problem is one finding of [Reconcile].
type Problem struct {
	Kind ProblemKind `json:"kind"`
	// Log is the directory of the log the record is in.
	Log string `json:"log"`
	// Record is the index of the record concerned, or -1.
	Record int64 `json:"record"`
	// Manifest is the SHA-256 of the batch manifest, in hex, if any.
	Manifest string `json:"manifest_sha256,omitempty"`
	Detail   string `json:"detail"`
}

func (p Problem) String() string {
	if p.Record >= 0 {
		return fmt.Sprintf("%s: record %d: %s: %s", p.Log, p.Record, p.Kind, p.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", p.Log, p.Kind, p.Detail)
}

// A Batch is a batch the server exported and where it was imported.
type Batch struct {
	Manifest string   `json:"manifest_sha256"`
	Count    int      `json:"count"`
	Day      string   `json:"day"`
	Record   int64    `json:"record"`
	Imports  []Import `json:"imports"`
}

// An Import is a record of a researcher importing a batch.
type Import struct {
	Log           string `json:"log"`
	Record        int64  `json:"record"`
	Day           string `json:"day"`
	Count         int    `json:"count"`
	ResearcherKey string `json:"researcher_key"`
}

// A ReplyBatch is a reply batch a researcher wrote, and where the server
// imported it.
type ReplyBatch struct {
	Manifest string `json:"manifest_sha256"`
	Count    int    `json:"count"`
	// Log, Record and Day say where the researcher's reply-batch-written
	// record is, and ResearcherKey nothing: the manifest names the
	// researcher, the log is theirs.
	Log    string `json:"log"`
	Record int64  `json:"record"`
	Day    string `json:"day"`
	// Imports are the server's reply-batch-imported records of it.
	Imports []ReplyImport `json:"imports"`
}

// A ReplyImport is a record of the server importing a reply batch.
type ReplyImport struct {
	Record int64  `json:"record"`
	Day    string `json:"day"`
	Count  int    `json:"count"`
}

// A Reconciliation is what [Reconcile] found.
type Reconciliation struct {
	Server      *Report   `json:"server"`
	Researchers []*Report `json:"researchers"`
	// Batches lists every batch the server exported, in log order.
	Batches []Batch `json:"batches"`
	// ReplyBatches lists every reply batch the researchers wrote, in the
	// order of the logs given.
	ReplyBatches []ReplyBatch `json:"reply_batches"`
	// Problems lists everything that does not add up. The logs reconcile
	// if it is empty.
	Problems []Problem `json:"problems"`
	// Manifests and EnvelopesChecked count what
	// [Reconciliation.CheckManifest] checked.
	Manifests        int `json:"manifests_checked,omitempty"`
	EnvelopesChecked int `json:"envelopes_checked,omitempty"`

	stored, exported map[[32]byte]int64 // first record of each hash, for CheckManifest
}

// OK reports whether the logs reconcile.
func (r *Reconciliation) OK() bool { return len(r.Problems) == 0 }

// Reconcile checks that every batch the server exported (each
// [EventBatchExported] record in the log in serverDir, signed by serverKey)
// was imported by a researcher with the same manifest hash and count (an
// [EventBatchImported] record in one of the logs in researcherDirs, each
// signed by one of researcherKeys), and that nothing else was imported;
// and, the other way, that every reply batch a researcher wrote
// ([EventReplyBatchWritten]) was imported by the server with the same
// manifest hash and count ([EventReplyBatchImported]), and that the server
// imported no reply batch no researcher wrote. Every record it relies on
// must be proven, by an inclusion proof, to be in the tree of its log's
// latest signed checkpoint; every log must pass [Verify].
//
// It returns an error wrapping [ErrDamaged] naming the first problem if it
// found any, and a nil result only if it could not read a log or a key.
func Reconcile(serverDir, serverKey string, researcherDirs, researcherKeys []string) (*Reconciliation, error) {
	sv, err := newVerifier(serverKey)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	if len(researcherDirs) == 0 || len(researcherKeys) == 0 {
		return nil, errors.New("reconcile needs at least one researcher log and one researcher key")
	}
	var rvs []note.Verifier
	for _, k := range researcherKeys {
		v, err := newVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("researcher key: %w", err)
		}
		rvs = append(rvs, v)
	}
	rec := &Reconciliation{Batches: []Batch{}, ReplyBatches: []ReplyBatch{}, Problems: []Problem{}}
	checked := func(dir string, known []note.Verifier) (*Report, error) {
		rep, err := verifyDir(dir, known, nil)
		if err != nil && !errors.Is(err, ErrDamaged) {
			return nil, err
		}
		for _, d := range rep.Damage {
			rec.Problems = append(rec.Problems, Problem{LogDamaged, dir, d.Record, "", "failed verification: " + d.String()})
		}
		return rep, nil
	}
	if rec.Server, err = checked(serverDir, []note.Verifier{sv}); err != nil {
		return nil, err
	}
	for _, dir := range researcherDirs {
		rep, err := checked(dir, rvs)
		if err != nil {
			return nil, err
		}
		rec.Researchers = append(rec.Researchers, rep)
	}
	reconcile(rec)
	if !rec.OK() {
		return rec, fmt.Errorf("%w: the logs do not reconcile: %s", ErrDamaged, rec.Problems[0])
	}
	return rec, nil
}

// ReconcileServer verifies the server log in serverDir against serverKey
// and returns a Reconciliation without researcher logs: for checking the
// server's exported batches with [Reconciliation.CheckManifest] alone. It
// returns an error wrapping [ErrDamaged] if the log is damaged, and a nil
// result only if it could not read the log or the key.
func ReconcileServer(serverDir, serverKey string) (*Reconciliation, error) {
	sv, err := newVerifier(serverKey)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	rec := &Reconciliation{Batches: []Batch{}, ReplyBatches: []ReplyBatch{}, Problems: []Problem{}, Researchers: []*Report{}}
	rep, err := verifyDir(serverDir, []note.Verifier{sv}, nil)
	if err != nil && !errors.Is(err, ErrDamaged) {
		return nil, err
	}
	rec.Server = rep
	for _, d := range rep.Damage {
		rec.Problems = append(rec.Problems, Problem{LogDamaged, serverDir, d.Record, "", "failed verification: " + d.String()})
	}
	for i, r := range rep.records {
		if r.Event == EventBatchExported {
			m := hex.EncodeToString(r.SHA256[:])
			if err := proveIncluded(rep, int64(i)); err != nil {
				rec.Problems = append(rec.Problems, Problem{Unproven, serverDir, int64(i), m, err.Error()})
			}
			rec.Batches = append(rec.Batches, Batch{Manifest: m, Count: r.Count, Day: r.Day, Record: int64(i), Imports: []Import{}})
		}
	}
	if !rec.OK() {
		return rec, fmt.Errorf("%w: %s", ErrDamaged, rec.Problems[0])
	}
	return rec, nil
}

// reconcile matches exports and imports of verified logs.
func reconcile(rec *Reconciliation) {
	problem := func(p Problem) { rec.Problems = append(rec.Problems, p) }
	byManifest := map[[32]byte][]int{} // indexes into rec.Batches
	for i, r := range rec.Server.records {
		if r.Event != EventBatchExported {
			continue
		}
		m := hex.EncodeToString(r.SHA256[:])
		if err := proveIncluded(rec.Server, int64(i)); err != nil {
			problem(Problem{Unproven, rec.Server.Dir, int64(i), m, err.Error()})
		}
		byManifest[r.SHA256] = append(byManifest[r.SHA256], len(rec.Batches))
		rec.Batches = append(rec.Batches, Batch{Manifest: m, Count: r.Count, Day: r.Day, Record: int64(i), Imports: []Import{}})
	}
	for _, rep := range rec.Researchers {
		for i, r := range rep.records {
			if r.Event != EventBatchImported {
				continue
			}
			m := hex.EncodeToString(r.SHA256[:])
			if err := proveIncluded(rep, int64(i)); err != nil {
				problem(Problem{Unproven, rep.Dir, int64(i), m, err.Error()})
			}
			bs := byManifest[r.SHA256]
			if len(bs) == 0 {
				problem(Problem{NotExported, rep.Dir, int64(i), m, fmt.Sprintf("imported a batch of %d envelopes that the server log does not show as exported", r.Count)})
				continue
			}
			b := &rec.Batches[bs[0]]
			b.Imports = append(b.Imports, Import{rep.Dir, int64(i), r.Day, r.Count, r.ResearcherKey})
			if r.Count != b.Count {
				problem(Problem{CountMismatch, rep.Dir, int64(i), m, fmt.Sprintf("imported %d envelopes, but the server exported %d in this batch (server record %d)", r.Count, b.Count, b.Record)})
			}
		}
	}
	for _, b := range rec.Batches {
		if len(b.Imports) == 0 {
			problem(Problem{NotImported, rec.Server.Dir, b.Record, b.Manifest, fmt.Sprintf("the server exported a batch of %d envelopes on %s that no researcher log shows as imported", b.Count, b.Day)})
		}
	}
	reconcileReplies(rec)
}

// reconcileReplies matches the reply batches researchers wrote with those
// the server imported.
func reconcileReplies(rec *Reconciliation) {
	problem := func(p Problem) { rec.Problems = append(rec.Problems, p) }
	written := map[[32]byte][]int{} // indexes into rec.ReplyBatches
	for _, rep := range rec.Researchers {
		for i, r := range rep.records {
			if r.Event != EventReplyBatchWritten {
				continue
			}
			m := hex.EncodeToString(r.SHA256[:])
			if err := proveIncluded(rep, int64(i)); err != nil {
				problem(Problem{Unproven, rep.Dir, int64(i), m, err.Error()})
			}
			written[r.SHA256] = append(written[r.SHA256], len(rec.ReplyBatches))
			rec.ReplyBatches = append(rec.ReplyBatches, ReplyBatch{Manifest: m, Count: r.Count, Log: rep.Dir, Record: int64(i), Day: r.Day, Imports: []ReplyImport{}})
		}
	}
	for i, r := range rec.Server.records {
		if r.Event != EventReplyBatchImported {
			continue
		}
		m := hex.EncodeToString(r.SHA256[:])
		if err := proveIncluded(rec.Server, int64(i)); err != nil {
			problem(Problem{Unproven, rec.Server.Dir, int64(i), m, err.Error()})
		}
		ws := written[r.SHA256]
		if len(ws) == 0 {
			problem(Problem{ReplyBatchNotWritten, rec.Server.Dir, int64(i), m, fmt.Sprintf("the server imported a reply batch of %d records that no researcher log shows as written", r.Count)})
			continue
		}
		for _, j := range ws {
			b := &rec.ReplyBatches[j]
			b.Imports = append(b.Imports, ReplyImport{int64(i), r.Day, r.Count})
			if r.Count != b.Count {
				problem(Problem{ReplyCountMismatch, rec.Server.Dir, int64(i), m, fmt.Sprintf("the server imported %d reply records, but the researcher wrote %d in this batch (%s record %d)", r.Count, b.Count, b.Log, b.Record)})
			}
		}
	}
	for _, b := range rec.ReplyBatches {
		if len(b.Imports) == 0 {
			problem(Problem{ReplyBatchNotImported, b.Log, b.Record, b.Manifest, fmt.Sprintf("a reply batch of %d records written on %s that the server log does not show as imported: the people it answers cannot read it; give it to the operator (intake replies import)", b.Count, b.Day)})
		}
	}
}

// proveIncluded proves that record i of a verified log is in the tree of
// its latest signed checkpoint.
func proveIncluded(rep *Report, i int64) error {
	if i >= rep.Signed {
		return fmt.Errorf("the record is not covered by a signed checkpoint (the latest covers %d records); sign one (export does) and try again", rep.Signed)
	}
	text, err := rep.records[i].MarshalText()
	if err != nil {
		return fmt.Errorf("the record does not parse: %w", err)
	}
	p, err := tlog.ProveRecord(rep.Signed, i, rep.tree)
	if err != nil {
		return fmt.Errorf("failed to prove the record is in the log: %w", err)
	}
	if err := tlog.CheckRecord(p, rep.Signed, rep.latest.Hash, i, tlog.RecordHash(text)); err != nil {
		return fmt.Errorf("the record is not in the tree of the latest checkpoint: %w", err)
	}
	return nil
}
