package audit

import (
	"encoding/hex"
	"fmt"
	"iter"
)

// Unrecorded is the [DamageKind] of an envelope the server holds without a
// submission-stored record of its own: the log left it out.
const Unrecorded DamageKind = "unrecorded-envelope"

// CheckEnvelopes checks that the server log of r holds a submission-stored
// record for every envelope of envelopes (where it was found, and its
// SHA-256): one record each, so that two envelopes alike need two records.
// It adds a [Damage] of kind [Unrecorded] for each envelope without one,
// naming where it was found, and counts the envelopes in r.Envelopes.
//
// Use it with the server's store ([auditor verify --store]): an envelope
// the store holds and the log does not mention is one the log hid, or one
// stored as the server crashed that its next start has not yet recorded.
func (r *Report) CheckEnvelopes(envelopes iter.Seq2[string, [32]byte]) {
	have := map[[32]byte]int{}
	for _, rec := range r.records {
		if rec.Event == EventSubmissionStored {
			have[rec.SHA256]++
		}
	}
	for where, sum := range envelopes {
		r.Envelopes++
		if have[sum] > 0 {
			have[sum]--
			continue
		}
		r.Damage = append(r.Damage, Damage{Unrecorded, where, -1,
			fmt.Sprintf("envelope %x has no submission-stored record in the log", sum)})
	}
}

// A Manifest is what [Reconciliation.CheckManifest] needs of an exported
// batch's manifest, read from a batch file or from the server's export
// records (package batch reads it).
type Manifest struct {
	// Source says where it was read, for the report.
	Source string
	// SHA256 is the SHA-256 of the signed manifest.
	SHA256 [32]byte
	// Envelopes lists the envelopes the batch holds.
	Envelopes []ManifestEnvelope
}

// A ManifestEnvelope is one envelope of a [Manifest].
type ManifestEnvelope struct {
	ID     string
	SHA256 [32]byte
}

// Problems [Reconciliation.CheckManifest] reports.
const (
	// ManifestNotRecorded: a batch manifest that the server log does not
	// show as exported, or with another count.
	ManifestNotRecorded ProblemKind = "manifest-not-recorded"
	// EnvelopeNotRecorded: a batch holds an envelope that the server log
	// never recorded as stored.
	EnvelopeNotRecorded ProblemKind = "envelope-not-recorded"
)

// CheckManifest checks an exported batch's manifest against the server
// logs: a batch-exported record of one of them must carry its hash and
// count, and every envelope it lists must have a submission-stored record
// in that same server's log; each record it relies on must be proven, by
// an inclusion proof, to be in the tree of that log's latest signed
// checkpoint. Problems are added to rec.Problems. Call it once per
// manifest; it holds only the one manifest.
func (rec *Reconciliation) CheckManifest(m Manifest) {
	if rec.stored == nil {
		rec.exported = map[[32]byte]exportRecord{}
		for s, srv := range rec.Servers {
			stored := map[[32]byte]int64{}
			for i, r := range srv.records {
				switch r.Event {
				case EventSubmissionStored:
					if _, ok := stored[r.SHA256]; !ok {
						stored[r.SHA256] = int64(i)
					}
				case EventBatchExported:
					if _, ok := rec.exported[r.SHA256]; !ok {
						rec.exported[r.SHA256] = exportRecord{s, int64(i)}
					}
				}
			}
			rec.stored = append(rec.stored, stored)
		}
	}
	problem := func(p Problem) { rec.Problems = append(rec.Problems, p) }
	hash := hex.EncodeToString(m.SHA256[:])
	rec.Manifests++
	x, ok := rec.exported[m.SHA256]
	if !ok {
		if len(rec.Servers) > 1 {
			// Which server's records would its envelopes be in? None is
			// checked, and no one log is at fault.
			problem(Problem{ManifestNotRecorded, "", -1, hash, fmt.Sprintf("%s: no server log has a batch-exported record of this manifest", m.Source)})
			return
		}
		problem(Problem{ManifestNotRecorded, rec.Servers[0].Dir, -1, hash, fmt.Sprintf("%s: the server log has no batch-exported record of this manifest", m.Source)})
	}
	srv := rec.Servers[x.server] // the only one if !ok
	if ok {
		if c := srv.records[x.record].Count; c != len(m.Envelopes) {
			problem(Problem{ManifestNotRecorded, srv.Dir, x.record, hash, fmt.Sprintf("%s lists %d envelopes, the server log's batch-exported record %d", m.Source, len(m.Envelopes), c)})
		}
	}
	unproven := 0
	for _, e := range m.Envelopes {
		rec.EnvelopesChecked++
		i, ok := rec.stored[x.server][e.SHA256]
		if !ok {
			problem(Problem{EnvelopeNotRecorded, srv.Dir, -1, hash, fmt.Sprintf("%s: envelope %s (%x) has no submission-stored record", m.Source, e.ID, e.SHA256)})
			continue
		}
		if err := proveIncluded(srv, i); err != nil {
			unproven++
		}
	}
	if unproven > 0 {
		problem(Problem{Unproven, srv.Dir, -1, hash, fmt.Sprintf("%s: the submission-stored records of %d of its envelopes are not covered by a signed checkpoint", m.Source, unproven)})
	}
}
