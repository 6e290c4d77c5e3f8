package intake

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/receipt"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/mod/sumdb/note"
)

// A ReceiptFile is a signed import receipt, as read from a file.
type ReceiptFile struct {
	Name string // for messages
	Data []byte
}

// PurgeOptions says what [Data.Purge] may delete.
type PurgeOptions struct {
	// Receipts are researchers' import receipts; Verifiers the keys of the
	// study's researchers, which must have signed them.
	Receipts  []ReceiptFile
	Verifiers []note.Verifier
	// WithoutReceipt deletes every exported envelope, whether a receipt
	// covers it or not; those no receipt covers are recorded as
	// envelopes-purged-without-receipt.
	WithoutReceipt bool
}

// A ReceiptCheck is what Purge made of one receipt.
type ReceiptCheck struct {
	Name    string
	Receipt *receipt.Receipt // nil if refused
	Err     error            // why it was refused
	// Batches counts the batches it lists that this server exported and
	// that still held envelopes; Unknown those this server never
	// exported (or no longer knows).
	Batches, Unknown int
}

// PurgeResult says what a purge did, and what it kept and why.
type PurgeResult struct {
	// Recovered says, one line each, what the purge first repaired of an
	// earlier command that crashed.
	Recovered []string
	Receipts  []ReceiptCheck
	// Purged counts the envelopes deleted under a receipt, and
	// PurgedWithoutReceipt those deleted without one; Batches the batches
	// they were in.
	Purged, PurgedWithoutReceipt, Batches int
	// Kept lists the envelopes left on the server, by reason.
	Kept []Kept
}

// Kept counts envelopes a purge left, for one reason.
type Kept struct {
	Reason             string
	Envelopes, Batches int
}

// Reasons for [Kept].
const (
	KeptNoReceipt   = "exported, but no valid receipt covers their batch"
	KeptNotExported = "not exported yet"
)

// part is a part of a committed export.
type part struct {
	export string
	i      int
	hash   [32]byte
	count  int
}

// Purge deletes the exported envelopes of every batch that a valid receipt
// covers — signed by one of o.Verifiers, for this study — or, with
// o.WithoutReceipt, of every exported batch. It keeps each batch's signed
// manifest. It records receipt-accepted for each receipt it relied on, and
// envelopes-purged and envelopes-purged-without-receipt with their counts,
// before deleting anything; a crash half-way is completed by the next export
// or purge. The result says what was deleted, and what was kept and why.
func (d *Data) Purge(o PurgeOptions, now time.Time) (*PurgeResult, error) {
	res := &PurgeResult{}
	studyID, err := d.StudyID()
	if err != nil {
		return nil, err
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

	covered := map[[32]byte]int{} // manifest hash → receipt index
	for i, rf := range o.Receipts {
		c := ReceiptCheck{Name: rf.Name}
		r, err := receipt.Verify(rf.Data, o.Verifiers)
		switch {
		case err != nil:
			c.Err = err
		case r.StudyID != studyID:
			c.Err = fmt.Errorf("receipt is for study %q, not %q", r.StudyID, studyID)
		default:
			c.Receipt = r
			for _, h := range r.Batches {
				if _, dup := covered[h]; !dup {
					covered[h] = i
				}
			}
		}
		res.Receipts = append(res.Receipts, c)
	}

	parts, err := d.unpurgedParts(x)
	if err != nil {
		return res, err
	}
	known := map[[32]byte]bool{}
	var j journal
	kept := Kept{Reason: KeptNoReceipt}
	for _, p := range parts {
		known[p.hash] = true
		if i, ok := covered[p.hash]; ok {
			res.Receipts[i].Batches++
			j.parts = append(j.parts, p)
			j.withReceipt += p.count
			continue
		}
		if o.WithoutReceipt {
			j.parts = append(j.parts, p)
			j.without += p.count
			continue
		}
		kept.Envelopes += p.count
		kept.Batches++
	}
	for i := range res.Receipts {
		c := &res.Receipts[i]
		if c.Receipt == nil {
			continue
		}
		for _, h := range c.Receipt.Batches {
			if !known[h] {
				c.Unknown++
			}
		}
		if c.Batches > 0 {
			j.receipts = append(j.receipts, *c.Receipt)
		}
	}
	if kept.Envelopes > 0 {
		res.Kept = append(res.Kept, kept)
	}
	pending := 0
	if err := store.Walk(d.Store.Dir(), func(w store.Where, _ store.Entry, _ string) error {
		if w.Export == "" {
			pending++
		}
		return nil
	}); err != nil {
		return res, err
	}
	if pending > 0 {
		res.Kept = append(res.Kept, Kept{Reason: KeptNotExported, Envelopes: pending})
	}
	if len(j.parts) == 0 {
		return res, nil
	}

	l, err := d.Audit()
	if err != nil {
		return res, err
	}
	if j.since, err = l.Len(); err != nil {
		return res, err
	}
	if err := x.WriteJournal(j.marshal()); err != nil {
		return res, err
	}
	crashPoint("journaled")
	if err := d.runPurge(x, &j, now); err != nil {
		return res, fmt.Errorf("%w (the next export or purge completes it)", err)
	}
	res.Purged, res.PurgedWithoutReceipt, res.Batches = j.withReceipt, j.without, len(j.parts)
	return res, nil
}

// unpurgedParts lists the parts of committed exports whose envelopes were
// not purged.
func (d *Data) unpurgedParts(x *store.Exports) ([]part, error) {
	committed, _, err := x.List()
	if err != nil {
		return nil, err
	}
	var parts []part
	for _, id := range committed {
		e, err := x.Get(id)
		if err != nil {
			return nil, err
		}
		notes, err := e.Notes()
		if err != nil {
			return nil, err
		}
		purged := map[string]bool{}
		for _, n := range notes {
			purged[n] = true
		}
		for _, n := range notes {
			i := partOfNote(n)
			if i == 0 || purged[purgedNote(i)] {
				continue
			}
			msg, err := e.ReadNote(n)
			if err != nil {
				return nil, err
			}
			m, err := batch.ParseUnverifiedManifest(msg)
			if err != nil {
				return nil, fmt.Errorf("export %s, %s: %w", id, n, err)
			}
			parts = append(parts, part{export: id, i: i, hash: m.Hash, count: len(m.Entries)})
		}
	}
	return parts, nil
}

// runPurge records the purge j (what the log lacks of it since j.since),
// deletes its envelopes, and removes the journal.
func (d *Data) runPurge(x *store.Exports, j *journal, now time.Time) error {
	l, err := d.Audit()
	if err != nil {
		return err
	}
	type key struct {
		ev    audit.Event
		hash  [32]byte
		count int
	}
	have := map[key]int{}
	if err := l.Scan(func(i int64, r audit.Record) error {
		if i >= j.since {
			have[key{r.Event, r.SHA256, r.Count}]++
		}
		return nil
	}); err != nil {
		return err
	}
	need := func(r audit.Record) error {
		k := key{r.Event, r.SHA256, r.Count}
		if have[k] > 0 {
			have[k]--
			return nil
		}
		return d.Record(r)
	}
	for _, r := range j.receipts {
		if err := need(audit.ReceiptAccepted(r.Hash, r.Researcher, now)); err != nil {
			return err
		}
	}
	if j.withReceipt > 0 {
		if err := need(audit.EnvelopesPurged(j.withReceipt, now)); err != nil {
			return err
		}
	}
	if j.without > 0 {
		if err := need(audit.EnvelopesPurgedWithoutReceipt(j.without, now)); err != nil {
			return err
		}
	}
	if err := d.checkpoint(now); err != nil {
		return err
	}
	crashPoint("purge-recorded")
	for _, p := range j.parts {
		e, err := x.Get(p.export)
		if err != nil {
			return err
		}
		msg, err := e.ReadNote(partNote(p.i))
		if err != nil {
			return err
		}
		m, err := batch.ParseUnverifiedManifest(msg)
		if err != nil {
			return err
		}
		ids := make(map[string]bool, len(m.Entries))
		for _, en := range m.Entries {
			ids[en.ID] = true
		}
		if _, err := e.Remove(func(id string) bool { return ids[id] }); err != nil {
			return err
		}
		if err := e.WriteNote(purgedNote(p.i), nil); err != nil {
			return err
		}
		crashPoint("purged-part")
	}
	if err := x.RemoveJournal(); err != nil {
		return err
	}
	d.Store.EnsureReserve()
	return nil
}

// completePurge finishes a purge a crash cut short, if any.
func (d *Data) completePurge(x *store.Exports, now time.Time) (string, error) {
	b, err := x.ReadJournal()
	if err != nil || b == nil {
		return "", err
	}
	j, err := parseJournal(b)
	if err != nil {
		return "", fmt.Errorf("the store's purge journal is damaged: %w; move %s aside if you are sure no purge was under way", err, "store/journal")
	}
	if err := d.runPurge(x, j, now); err != nil {
		return "", fmt.Errorf("failed to complete an interrupted purge: %w", err)
	}
	return fmt.Sprintf("completed an interrupted purge: %d envelopes of %d batches deleted", j.withReceipt+j.without, len(j.parts)), nil
}

// journal is a purge in progress, kept in the store's journal:
//
//	purge v1
//	log <audit log size when it began>
//	with-receipt <envelopes> without-receipt <envelopes>
//	receipt <sha256> <fingerprint>      (one per receipt relied on)
//	part <export id> <part number>      (one per batch to delete)
type journal struct {
	since                int64
	withReceipt, without int
	receipts             []receipt.Receipt // Hash and Researcher only
	parts                []part
}

func (j *journal) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "purge v1\nlog %d\nwith-receipt %d without-receipt %d\n", j.since, j.withReceipt, j.without)
	for _, r := range j.receipts {
		fmt.Fprintf(&b, "receipt %x %s\n", r.Hash, r.Researcher)
	}
	for _, p := range j.parts {
		fmt.Fprintf(&b, "part %s %d\n", p.export, p.i)
	}
	return b.Bytes()
}

func parseJournal(b []byte) (*journal, error) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 3 || lines[0] != "purge v1" {
		return nil, errors.New("not a purge journal")
	}
	j := &journal{}
	if _, err := fmt.Sscanf(lines[1], "log %d", &j.since); err != nil {
		return nil, fmt.Errorf("line 2: %w", err)
	}
	if _, err := fmt.Sscanf(lines[2], "with-receipt %d without-receipt %d", &j.withReceipt, &j.without); err != nil {
		return nil, fmt.Errorf("line 3: %w", err)
	}
	for n, l := range lines[3:] {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "receipt":
			var r receipt.Receipt
			if h, err := hex.DecodeString(f[1]); err != nil || len(h) != 32 {
				return nil, fmt.Errorf("line %d: malformed receipt hash", n+4)
			} else {
				r.Hash = [32]byte(h)
			}
			r.Researcher = f[2]
			j.receipts = append(j.receipts, r)
		case len(f) == 3 && f[0] == "part":
			i, err := strconv.Atoi(f[2])
			if err != nil || i < 1 {
				return nil, fmt.Errorf("line %d: malformed part", n+4)
			}
			j.parts = append(j.parts, part{export: f[1], i: i})
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", n+4, l)
		}
	}
	return j, nil
}
