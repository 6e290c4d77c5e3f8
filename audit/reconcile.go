package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A ProblemKind says how the server logs and the researcher logs disagree.
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
	// ExportedTwice: the server logs record the export of one batch twice,
	// in one log or in two.
	ExportedTwice ProblemKind = "exported-twice"
	// ReplyBatchNotImported: a researcher wrote a reply batch a server
	// never imported (the people it answers cannot read it there).
	ReplyBatchNotImported ProblemKind = "reply-batch-not-imported"
	// ReplyBatchNotWritten: a server imported a reply batch no researcher
	// log shows as written.
	ReplyBatchNotWritten ProblemKind = "reply-batch-not-written"
	// ReplyCountMismatch: a server imported a reply batch with another
	// number of records than the researcher wrote in it.
	ReplyCountMismatch ProblemKind = "reply-count-mismatch"
)

// A Problem is one finding of [Reconcile].
type Problem struct {
	Kind ProblemKind `json:"kind"`
	// Log is the directory of the log the record is in, or "" for a
	// finding about no one log (a manifest no server log records).
	Log string `json:"log"`
	// Record is the index of the record concerned, or -1.
	Record int64 `json:"record"`
	// Manifest is the SHA-256 of the batch manifest, in hex, if any.
	Manifest string `json:"manifest_sha256,omitempty"`
	Detail   string `json:"detail"`
}

func (p Problem) String() string {
	if p.Log == "" {
		return fmt.Sprintf("%s: %s", p.Kind, p.Detail)
	}
	if p.Record >= 0 {
		return fmt.Sprintf("%s: record %d: %s: %s", p.Log, p.Record, p.Kind, p.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", p.Log, p.Kind, p.Detail)
}

// A Batch is a batch a server exported and where it was imported.
type Batch struct {
	// Server is the directory of the log of the server that exported it.
	Server   string `json:"server"`
	Manifest string `json:"manifest_sha256"`
	Count    int    `json:"count"`
	Day      string `json:"day"`
	Record   int64  `json:"record"`
	// Imports lists where the batch was imported; for a batch exported
	// again (see [ExportedTwice]), they are listed under its first export
	// only.
	Imports []Import `json:"imports"`
}

// An Import is a record of a researcher importing a batch.
type Import struct {
	Log           string `json:"log"`
	Record        int64  `json:"record"`
	Day           string `json:"day"`
	Count         int    `json:"count"`
	ResearcherKey string `json:"researcher_key"`
}

// A ReplyBatch is a reply batch a researcher wrote, and where the servers
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
	// Imports are the servers' reply-batch-imported records of it.
	Imports []ReplyImport `json:"imports"`
}

// A ReplyImport is a record of a server importing a reply batch.
type ReplyImport struct {
	// Server is the directory of the log of the server that imported it.
	Server string `json:"server"`
	Record int64  `json:"record"`
	Day    string `json:"day"`
	Count  int    `json:"count"`
}

// A Reconciliation is what [Reconcile] and [ReconcileServers] found.
type Reconciliation struct {
	// Servers holds a report of each server log, in the order given.
	Servers     []*Report `json:"servers"`
	Researchers []*Report `json:"researchers"`
	// Batches lists every batch the servers exported, server by server,
	// each in log order.
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

	// For CheckManifest: the first record of each hash in each server log.
	stored   []map[[32]byte]int64
	exported map[[32]byte]exportRecord
}

// exportRecord locates a batch-exported record: server index and record.
type exportRecord struct {
	server int
	record int64
}

// OK reports whether the logs reconcile.
func (r *Reconciliation) OK() bool { return len(r.Problems) == 0 }

// A ServerLog is an intake server's audit log and the verifier key its
// auditors pinned for it.
type ServerLog struct {
	Dir string // the log's directory (DATA/audit on the server)
	Key string // its verifier key, as `intake audit-key` printed it
}

// Reconcile is [ReconcileServers] for one server: the log in serverDir,
// signed by serverKey.
func Reconcile(serverDir, serverKey string, researcherDirs, researcherKeys []string) (*Reconciliation, error) {
	return ReconcileServers([]ServerLog{{serverDir, serverKey}}, researcherDirs, researcherKeys)
}

// ReconcileServers checks that every batch any of the servers exported
// (each [EventBatchExported] record in a server's log, signed by that
// server's key) was imported by a researcher with the same manifest hash
// and count (an [EventBatchImported] record in one of the logs in
// researcherDirs, each signed by one of researcherKeys), and that nothing
// else was imported; and, the other way, that every reply batch a
// researcher wrote ([EventReplyBatchWritten]) was imported by every server
// with the same manifest hash and count ([EventReplyBatchImported]), and
// that no server imported a reply batch no researcher wrote. Several servers are the backends of one study behind
// Onionbalance: each keeps its own log and key, and the researchers import
// the batches of all of them; a person coming back may reach any of them,
// so each must hold every reply. A manifest recorded as exported by two
// servers is a problem too ([ExportedTwice]): each batch is signed by the
// one server that made it. Every record it relies on must be proven, by an
// inclusion proof, to be in the tree of its log's latest signed
// checkpoint; every log must pass [Verify].
//
// It returns an error wrapping [ErrDamaged] naming the first problem if it
// found any, and a nil result only if it could not read a log or a key, or
// if a server log or key is given twice.
func ReconcileServers(servers []ServerLog, researcherDirs, researcherKeys []string) (*Reconciliation, error) {
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
	rec, err := reconcileServers(servers)
	if err != nil {
		return nil, err
	}
	for _, dir := range researcherDirs {
		rep, err := rec.checked(dir, rvs)
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

// ReconcileServer is [ReconcileServerLogs] for one server.
func ReconcileServer(serverDir, serverKey string) (*Reconciliation, error) {
	return ReconcileServerLogs([]ServerLog{{serverDir, serverKey}})
}

// ReconcileServerLogs verifies each server log against its key and returns
// a Reconciliation without researcher logs: for checking the servers'
// exported batches with [Reconciliation.CheckManifest] alone. It returns an
// error wrapping [ErrDamaged] if a log is damaged or a batch is recorded
// by two servers, and a nil result only if it could not read a log or a
// key, or if a server log or key is given twice.
func ReconcileServerLogs(servers []ServerLog) (*Reconciliation, error) {
	rec, err := reconcileServers(servers)
	if err != nil {
		return nil, err
	}
	rec.Researchers = []*Report{}
	rec.listExports()
	if !rec.OK() {
		return rec, fmt.Errorf("%w: %s", ErrDamaged, rec.Problems[0])
	}
	return rec, nil
}

// reconcileServers verifies the server logs.
func reconcileServers(servers []ServerLog) (*Reconciliation, error) {
	if len(servers) == 0 {
		return nil, errors.New("reconcile needs at least one server log and its key")
	}
	rec := &Reconciliation{Batches: []Batch{}, ReplyBatches: []ReplyBatch{}, Problems: []Problem{}}
	dirs, keys := map[string]bool{}, map[string]bool{}
	for _, s := range servers {
		sv, err := newVerifier(s.Key)
		if err != nil {
			return nil, fmt.Errorf("server key: %w", err)
		}
		dir := filepath.Clean(s.Dir)
		if dirs[dir] {
			return nil, fmt.Errorf("server log %s is given twice: give each server's log once, with its own key", s.Dir)
		}
		if keys[s.Key] {
			return nil, fmt.Errorf("server key %s is given twice: every server has a key of its own (intake audit-key on each)", sv.Name())
		}
		dirs[dir], keys[s.Key] = true, true
		rep, err := rec.checked(s.Dir, []note.Verifier{sv})
		if err != nil {
			return nil, err
		}
		rec.Servers = append(rec.Servers, rep)
	}
	return rec, nil
}

// checked verifies the log in dir against known and records its damage as
// problems.
func (rec *Reconciliation) checked(dir string, known []note.Verifier) (*Report, error) {
	rep, err := verifyDir(dir, known, nil)
	if err != nil && !errors.Is(err, ErrDamaged) {
		return nil, err
	}
	for _, d := range rep.Damage {
		rec.Problems = append(rec.Problems, Problem{LogDamaged, dir, d.Record, "", "failed verification: " + d.String()})
	}
	return rep, nil
}

// listExports fills rec.Batches with every batch-exported record of every
// server log, proving each, and returns the batches by manifest hash.
func (rec *Reconciliation) listExports() map[[32]byte]int {
	byManifest := map[[32]byte]int{} // index into rec.Batches of the first export
	for _, srv := range rec.Servers {
		for i, r := range srv.records {
			if r.Event != EventBatchExported {
				continue
			}
			m := hex.EncodeToString(r.SHA256[:])
			if err := proveIncluded(srv, int64(i)); err != nil {
				rec.Problems = append(rec.Problems, Problem{Unproven, srv.Dir, int64(i), m, err.Error()})
			}
			if first, ok := byManifest[r.SHA256]; !ok {
				byManifest[r.SHA256] = len(rec.Batches)
			} else if b := rec.Batches[first]; b.Server != srv.Dir {
				rec.Problems = append(rec.Problems, Problem{ExportedTwice, srv.Dir, int64(i), m,
					fmt.Sprintf("the server log %s records the export of this same batch (record %d): a batch is made and signed by one server", b.Server, b.Record)})
			} else {
				rec.Problems = append(rec.Problems, Problem{ExportedTwice, srv.Dir, int64(i), m,
					fmt.Sprintf("this log already records the export of this batch (record %d)", b.Record)})
			}
			rec.Batches = append(rec.Batches, Batch{Server: srv.Dir, Manifest: m, Count: r.Count, Day: r.Day, Record: int64(i), Imports: []Import{}})
		}
	}
	return byManifest
}

// reconcile matches exports and imports of verified logs.
func reconcile(rec *Reconciliation) {
	problem := func(p Problem) { rec.Problems = append(rec.Problems, p) }
	byManifest := rec.listExports()
	for _, rep := range rec.Researchers {
		for i, r := range rep.records {
			if r.Event != EventBatchImported {
				continue
			}
			m := hex.EncodeToString(r.SHA256[:])
			if err := proveIncluded(rep, int64(i)); err != nil {
				problem(Problem{Unproven, rep.Dir, int64(i), m, err.Error()})
			}
			bi, ok := byManifest[r.SHA256]
			if !ok {
				problem(Problem{NotExported, rep.Dir, int64(i), m, fmt.Sprintf("imported a batch of %d envelopes that no server log shows as exported", r.Count)})
				continue
			}
			b := &rec.Batches[bi]
			b.Imports = append(b.Imports, Import{rep.Dir, int64(i), r.Day, r.Count, r.ResearcherKey})
			if r.Count != b.Count {
				problem(Problem{CountMismatch, rep.Dir, int64(i), m, fmt.Sprintf("imported %d envelopes, but the server exported %d in this batch (record %d of %s)", r.Count, b.Count, b.Record, b.Server)})
			}
		}
	}
	for i, b := range rec.Batches {
		if first := byManifest[hexSum(b.Manifest)]; first != i {
			continue // exported again: its imports are the first export's
		}
		if len(b.Imports) == 0 {
			problem(Problem{NotImported, b.Server, b.Record, b.Manifest, fmt.Sprintf("the server exported a batch of %d envelopes on %s that no researcher log shows as imported", b.Count, b.Day)})
		}
	}
	reconcileReplies(rec)
}

// reconcileReplies matches the reply batches researchers wrote with those
// each server imported.
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
	for _, srv := range rec.Servers {
		for i, r := range srv.records {
			if r.Event != EventReplyBatchImported {
				continue
			}
			m := hex.EncodeToString(r.SHA256[:])
			if err := proveIncluded(srv, int64(i)); err != nil {
				problem(Problem{Unproven, srv.Dir, int64(i), m, err.Error()})
			}
			ws := written[r.SHA256]
			if len(ws) == 0 {
				problem(Problem{ReplyBatchNotWritten, srv.Dir, int64(i), m, fmt.Sprintf("the server imported a reply batch of %d records that no researcher log shows as written", r.Count)})
				continue
			}
			for _, j := range ws {
				b := &rec.ReplyBatches[j]
				b.Imports = append(b.Imports, ReplyImport{srv.Dir, int64(i), r.Day, r.Count})
				if r.Count != b.Count {
					problem(Problem{ReplyCountMismatch, srv.Dir, int64(i), m, fmt.Sprintf("the server imported %d reply records, but the researcher wrote %d in this batch (%s record %d)", r.Count, b.Count, b.Log, b.Record)})
				}
			}
		}
	}
	for _, b := range rec.ReplyBatches {
		for _, srv := range rec.Servers {
			imported := false
			for _, im := range b.Imports {
				imported = imported || im.Server == srv.Dir
			}
			if imported {
				continue
			}
			where := "the server log"
			if len(rec.Servers) > 1 {
				where = "the log of server " + srv.Dir
			}
			problem(Problem{ReplyBatchNotImported, b.Log, b.Record, b.Manifest, fmt.Sprintf("a reply batch of %d records written on %s that %s does not show as imported: the people it answers cannot read it there; give it to the operator (intake replies import)", b.Count, b.Day, where)})
		}
	}
}

// hexSum decodes a hash encoded by hex.EncodeToString.
func hexSum(s string) [32]byte {
	var h [32]byte
	hex.Decode(h[:], []byte(s))
	return h
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
