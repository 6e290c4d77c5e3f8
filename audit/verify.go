package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrDamaged is wrapped by the error [Verify] and [Reconcile] return when
// they find damage: tampering, or loss of data.
var ErrDamaged = errors.New("audit log is damaged")

// A DamageKind says how a log differs from what its signatures vouch for.
type DamageKind string

// The kinds of damage [Verify] reports.
const (
	// Edited: a record (or a checkpoint, or the hashes file) was changed.
	Edited DamageKind = "edited"
	// Removed: a record was removed from the middle of the log, or newer
	// checkpoints were removed.
	Removed DamageKind = "removed"
	// Reordered: records were moved.
	Reordered DamageKind = "reordered"
	// Inserted: a record was inserted before the end of the log.
	Inserted DamageKind = "inserted"
	// Truncated: records were removed from the end of the log.
	Truncated DamageKind = "truncated"
	// SignedByAnotherKey: a checkpoint was signed by a key other than the
	// one the auditor pinned.
	SignedByAnotherKey DamageKind = "signed-by-another-key"
	// ForkedFromTrusted: the log does not extend the checkpoint the auditor
	// saved earlier: it was rewritten and re-signed.
	ForkedFromTrusted DamageKind = "forked-from-trusted"
)

// A Damage is one finding of [Verify].
type Damage struct {
	// Kind says what happened.
	Kind DamageKind `json:"kind"`
	// File is the damaged file, relative to the log directory ("records",
	// "hashes", "checkpoints/<name>"), or "trusted" for the checkpoint the
	// auditor passed.
	File string `json:"file"`
	// Record is the index (from 0) of the first record concerned, or -1.
	Record int64 `json:"record"`
	// Detail explains the finding in a sentence.
	Detail string `json:"detail"`
}

func (d Damage) String() string {
	if d.Record >= 0 {
		return fmt.Sprintf("%s: record %d (line %d): %s: %s", d.File, d.Record, d.Record+1, d.Kind, d.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", d.File, d.Kind, d.Detail)
}

// A DaySummary counts the records of one UTC day by event.
type DaySummary struct {
	Day    string        `json:"day"`
	Events map[Event]int `json:"events"`
}

// A Report is what [Verify] found in one log.
type Report struct {
	// Dir is the log directory.
	Dir string `json:"dir"`
	// Origin is the origin line of the log's checkpoints.
	Origin string `json:"origin"`
	// Key names the key that signed the checkpoints, as "<name>"+<hash>:
	// the name quoted with Go escapes, since it comes from the log files.
	Key string `json:"key"`
	// Records is the number of complete records.
	Records int64 `json:"records"`
	// Signed is the number of records covered by the latest checkpoint that
	// is validly signed and matches the records. Records after it are not
	// vouched for by any signature yet.
	Signed int64 `json:"signed"`
	// Checkpoints is the number of validly signed checkpoints that match
	// the records.
	Checkpoints int `json:"checkpoints"`
	// Latest is that latest checkpoint, verbatim (save it to pass as the
	// trusted checkpoint next time), and LatestDay the day it was signed.
	Latest    string `json:"latest_checkpoint,omitempty"`
	LatestDay string `json:"latest_day,omitempty"`
	// Trusted is the size of the trusted checkpoint the log was proven
	// consistent with, or 0.
	Trusted int64 `json:"trusted,omitempty"`
	// Days counts the records by day and event.
	Days []DaySummary `json:"days"`
	// Notes are observations that are not damage, such as a partial last
	// record left by a crash.
	Notes []string `json:"notes,omitempty"`
	// Damage lists everything that is wrong. The log verifies if it is
	// empty.
	Damage []Damage `json:"damage"`
	// Envelopes counts the envelopes [Report.CheckEnvelopes] checked.
	Envelopes int `json:"envelopes_checked,omitempty"`

	records []Record // parsed records; zero Record where a line does not parse
	tree    *tree
	latest  Checkpoint
}

// OK reports whether the log verified: no damage was found.
func (r *Report) OK() bool { return len(r.Damage) == 0 }

// Verify checks the log in dir against the verifier key vkey (the key the
// auditor pinned: "<name>+<hash>+<keydata>", see [note.NewVerifier]) and,
// if trusted is not nil, against trusted: a signed checkpoint of the same
// log saved earlier.
//
// Verify replays every record, recomputes the Merkle tree, checks the
// signature of every checkpoint and that each matches the tree, and proves
// that the tree is consistent with trusted. It returns a report, and an
// error wrapping [ErrDamaged] that names the first damage if it found any.
// It returns a nil report only if it could not read the log or the key.
// Verify only reads dir; it holds the log's lock (shared) while it reads the
// files, so that it can check a log that a writer has open.
func Verify(dir string, vkey string, trusted []byte) (*Report, error) {
	v, err := newVerifier(vkey)
	if err != nil {
		return nil, err
	}
	return verifyDir(dir, []note.Verifier{v}, trusted)
}

// newVerifier parses a verifier key, taking care not to repeat a signing
// key passed by mistake.
func newVerifier(vkey string) (note.Verifier, error) {
	if strings.HasPrefix(vkey, "PRIVATE+KEY+") {
		return nil, errors.New("malformed verifier key: this is a private signing key, which must stay on the machine that writes the log; pass its verifier key (<name>+<hash>+<keydata>) instead")
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("malformed verifier key %q: %w (want <name>+<hash>+<keydata>, as printed by intake audit-key)", vkey, err)
	}
	return v, nil
}

func verifyDir(dir string, known []note.Verifier, trusted []byte) (*Report, error) {
	files, err := readLogFiles(dir)
	if err != nil {
		return nil, err
	}
	rep, err := verifyFiles(files, known, trusted)
	if rep != nil {
		rep.Dir = dir
	}
	if err != nil {
		return rep, err
	}
	if !rep.OK() {
		return rep, fmt.Errorf("%w: %s: %s", ErrDamaged, dir, rep.Damage[0])
	}
	return rep, nil
}

// logFiles is the content of a log directory.
type logFiles struct {
	records     []byte
	hashes      []byte // nil if the file is missing
	checkpoints []namedFile
	ignored     []string
}

type namedFile struct {
	name string // relative to the log directory
	data []byte
}

func readLogFiles(dir string) (logFiles, error) {
	var f logFiles
	// Writers hold the lock while they change the files: with it held
	// shared, an append in progress is not mistaken for damage. A copy of a
	// log may have no lock file, or one this process may not open.
	path := filepath.Join(dir, lockName)
	lock, err := lockFile(path, os.O_RDONLY, false, time.Now().Add(lockTimeout))
	switch {
	case err == nil:
		defer lock.Close()
	case errors.Is(err, errLockTimeout):
		return f, fmt.Errorf("another process has held the audit log in %s for over %v; if it is stuck, find it with `fuser %s` and stop it", dir, lockTimeout, path)
	}
	f.records, err = readRegular(filepath.Join(dir, recordsFile), MaxLogFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return f, fmt.Errorf("no audit log in %s: it has no %s file", dir, recordsFile)
	}
	if err != nil {
		return f, fmt.Errorf("failed to read audit log: %w", err)
	}
	f.hashes, err = readRegular(filepath.Join(dir, hashesFile), MaxLogFileSize)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return f, fmt.Errorf("failed to read audit log: %w", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, checkpointsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return f, fmt.Errorf("failed to read audit log: %w", err)
	}
	for _, e := range entries {
		name := checkpointsDir + "/" + e.Name()
		if _, ok := checkpointFileSize(e.Name()); !ok || !e.Type().IsRegular() {
			f.ignored = append(f.ignored, name)
			continue
		}
		data, err := readLimited(filepath.Join(dir, checkpointsDir, e.Name()), MaxCheckpointSize)
		if errors.Is(err, errTooLarge) {
			// Too large to be a checkpoint: it fails to verify and is
			// reported as damage.
			data = []byte("oversized")
		} else if err != nil {
			return f, fmt.Errorf("failed to read audit log: %w", err)
		}
		f.checkpoints = append(f.checkpoints, namedFile{name, data})
	}
	return f, nil
}

// verifyFiles is Verify without I/O.
func verifyFiles(f logFiles, known []note.Verifier, trusted []byte) (*Report, error) {
	list := note.VerifierList(known...)
	return verifyRecords(f, checkCheckpoints(f.checkpoints, list), list, trusted)
}

// A signedCheckpoint is a checkpoint file whose signature verified.
type signedCheckpoint struct {
	file string
	c    Checkpoint
	msg  []byte
}

// checkedCheckpoints is what checkCheckpoints found.
type checkedCheckpoints struct {
	valid       []signedCheckpoint
	damage      []Damage
	key, origin string
	files       int
}

// checkCheckpoints checks the signatures of checkpoint files, and that all
// were signed by one key for one log.
func checkCheckpoints(files []namedFile, list note.Verifiers) checkedCheckpoints {
	var cc checkedCheckpoints
	cc.files = len(files)
	add := func(d Damage) { cc.damage = append(cc.damage, d) }
	for _, cf := range files {
		c, nt, err := openCheckpoint(cf.data, list)
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			add(Damage{SignedByAnotherKey, cf.name, -1, "signed by " + sigNames(unverified.Note.UnverifiedSigs) + ", not by the pinned key"})
			continue
		case errors.As(err, &invalid):
			add(Damage{Edited, cf.name, -1, "its signature by the pinned key does not verify: the checkpoint was edited"})
			continue
		case err != nil:
			add(Damage{Edited, cf.name, -1, "not a valid signed checkpoint: " + err.Error()})
			continue
		}
		key := keyName(nt.Sigs[0].Name, nt.Sigs[0].Hash)
		if cc.key == "" {
			cc.key, cc.origin = key, c.Origin
		}
		size, _ := checkpointFileSize(strings.TrimPrefix(cf.name, checkpointsDir+"/"))
		switch {
		case key != cc.key:
			add(Damage{SignedByAnotherKey, cf.name, -1, fmt.Sprintf("signed by %s, while earlier checkpoints are signed by %s", key, cc.key)})
		case c.Origin != cc.origin:
			add(Damage{Edited, cf.name, -1, fmt.Sprintf("origin %q, while earlier checkpoints have %q: it belongs to another log", c.Origin, cc.origin)})
		case c.Size != size:
			add(Damage{Edited, cf.name, -1, fmt.Sprintf("the file name says %d records, the signed checkpoint %d", size, c.Size)})
		case c.Size == 0:
			add(Damage{Edited, cf.name, -1, "a checkpoint of an empty log, which a log never signs"})
		default:
			cc.valid = append(cc.valid, signedCheckpoint{cf.name, c, cf.data})
		}
	}
	return cc
}

// verifyRecords replays the records and checks them against the checked
// checkpoints cc of the same log.
func verifyRecords(f logFiles, cc checkedCheckpoints, list note.Verifiers, trusted []byte) (*Report, error) {
	rep := &Report{Damage: []Damage{}}
	add := func(d Damage) {
		for _, o := range rep.Damage {
			if o.Kind == d.Kind && o.File == d.File && o.Record == d.Record {
				return
			}
		}
		rep.Damage = append(rep.Damage, d)
	}
	for _, name := range f.ignored {
		rep.Notes = append(rep.Notes, fmt.Sprintf("ignored %q: not a checkpoint file name", name))
	}

	// Replay the records.
	lines, tail := splitRecords(f.records)
	if len(tail) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("ignored %d bytes after the last complete record (a record cut short by a crash; the writer removes it when it next opens the log)", len(tail)))
	}
	n := int64(len(lines))
	rep.Records = n
	rep.records = make([]Record, n)
	leaves := make([]tlog.Hash, n)
	days := map[string]map[Event]int{}
	for i, line := range lines {
		leaves[i] = tlog.RecordHash(line)
		r, err := ParseRecord(line)
		if err != nil {
			add(Damage{Edited, recordsFile, int64(i), err.Error()})
			continue
		}
		rep.records[i] = r
		if days[r.Day] == nil {
			days[r.Day] = map[Event]int{}
		}
		days[r.Day][r.Event]++
	}
	for day, ev := range days {
		rep.Days = append(rep.Days, DaySummary{day, ev})
	}
	sort.Slice(rep.Days, func(i, j int) bool { return rep.Days[i].Day < rep.Days[j].Day })
	t := buildTree(leaves)
	rep.tree = t

	rep.Key, rep.Origin = cc.key, cc.origin
	for _, d := range cc.damage {
		add(d)
	}
	valid := cc.valid
	var bad []signedCheckpoint
	for _, s := range valid {
		if s.c.Size <= n && t.root(s.c.Size) == s.c.Hash {
			rep.Checkpoints++
			if s.c.Size >= rep.Signed {
				rep.Signed, rep.Latest, rep.LatestDay, rep.latest = s.c.Size, string(s.msg), s.c.Day, s.c
			}
		} else {
			bad = append(bad, s)
		}
	}

	if len(bad) > 0 {
		// The records differ from what a signature vouches for. Name the
		// damage using the largest such checkpoint and, if the hashes file
		// still matches it, the record hashes it lists.
		worst := bad[0]
		for _, s := range bad {
			if s.c.Size > worst.c.Size {
				worst = s
			}
		}
		s := worst.c.Size
		var found []Damage
		if m, old := hashesLeaves(f.hashes); m >= s {
			if ot := buildTree(old[:s]); ot.root(s) == worst.c.Hash {
				found = diffLeaves(leaves, old[:s], "checkpoint "+worst.file, "")
			}
		}
		if len(found) == 0 {
			// The hashes file was rewritten too: bound the damage with the
			// checkpoints that still match.
			if n < s && rep.Signed <= n {
				found = []Damage{{Truncated, recordsFile, n, fmt.Sprintf("the log has %d records, but checkpoint %s signed %d: records were removed", n, worst.file, s)}}
			} else {
				found = []Damage{{Edited, recordsFile, rep.Signed, fmt.Sprintf("records %d to %d differ from those checkpoint %s signed", rep.Signed, s-1, worst.file)}}
			}
		}
		for _, d := range found {
			add(d)
		}
	} else {
		for _, d := range checkHashesFile(f.hashes, t, leaves, rep) {
			add(d)
		}
	}
	if u := n - rep.Signed; u > 0 && rep.OK() {
		if rep.Signed == 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("no checkpoint signs any of the %d records yet, so none of them is verified: a log just started, or one whose checkpoints were deleted (pass --trusted to tell)", u))
		} else {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d records after the latest checkpoint are not signed yet; the next checkpoint will cover them", u))
		}
	}

	if trusted != nil {
		ds, err := checkTrusted(trusted, list, rep)
		if err != nil {
			return rep, err
		}
		for _, d := range ds {
			add(d)
		}
	}
	return rep, nil
}

// checkTrusted proves that the log extends the trusted checkpoint.
func checkTrusted(trusted []byte, list note.Verifiers, rep *Report) ([]Damage, error) {
	c, _, err := openCheckpoint(trusted, list)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		return []Damage{{SignedByAnotherKey, "trusted", -1, "the trusted checkpoint is signed by " + sigNames(unverified.Note.UnverifiedSigs) + ", not by the pinned key"}}, nil
	case errors.As(err, &invalid):
		return []Damage{{Edited, "trusted", -1, "the trusted checkpoint's signature does not verify: it was edited"}}, nil
	case err != nil:
		return nil, fmt.Errorf("malformed trusted checkpoint: %w (pass a checkpoint file saved from an earlier verify)", err)
	case c.Size == 0:
		return nil, errors.New("malformed trusted checkpoint: it covers no records")
	}
	n, t := rep.Records, rep.tree
	switch {
	case rep.Origin != "" && c.Origin != rep.Origin:
		return []Damage{{ForkedFromTrusted, "trusted", -1, fmt.Sprintf("the trusted checkpoint is for %q, but the log's checkpoints are for %q", c.Origin, rep.Origin)}}, nil
	case c.Size > n:
		return []Damage{{Truncated, recordsFile, n, fmt.Sprintf("the trusted checkpoint covers %d records, but the log has only %d", c.Size, n)}}, nil
	case t.root(c.Size) != c.Hash:
		return []Damage{{ForkedFromTrusted, recordsFile, -1, fmt.Sprintf("the first %d records differ from those the trusted checkpoint signed: the log was rewritten and re-signed", c.Size)}}, nil
	case rep.Signed < c.Size:
		return []Damage{{Removed, checkpointsDir, -1, fmt.Sprintf("the latest checkpoint covers %d records, but the trusted one covers %d: newer checkpoints were removed", rep.Signed, c.Size)}}, nil
	}
	p, err := tlog.ProveTree(rep.Signed, c.Size, t)
	if err == nil {
		err = tlog.CheckTree(p, rep.Signed, rep.latest.Hash, c.Size, c.Hash)
	}
	if err != nil {
		return []Damage{{ForkedFromTrusted, recordsFile, -1, "the latest checkpoint is not consistent with the trusted one: " + err.Error()}}, nil
	}
	rep.Trusted = c.Size
	return nil, nil
}

// checkHashesFile compares the hashes file with the tree recomputed from
// the records, once the records match every checkpoint.
func checkHashesFile(data []byte, t *tree, leaves []tlog.Hash, rep *Report) []Damage {
	if data == nil {
		rep.Notes = append(rep.Notes, "the hashes file is missing; the writer rebuilds it when it next opens the log")
		return nil
	}
	want := hashBytes(t.hashes)
	if bytes.Equal(data, want) {
		return nil
	}
	n := int64(len(leaves))
	m, old := hashesLeaves(data)
	i := int64(0)
	for i < min(n, m) && leaves[i] == old[i] {
		i++
	}
	switch {
	case i < min(n, m) && i < rep.Signed:
		return []Damage{{Edited, hashesFile, i, "the hashes file disagrees with this record, which a checkpoint signed: the hashes file was edited"}}
	case i < min(n, m):
		ds := diffLeaves(leaves, old, "the hashes file", " (these records are not signed yet, so either file may have been edited)")
		if len(ds) == 0 {
			ds = []Damage{{Edited, recordsFile, i, "the record differs from its hash in the hashes file"}}
		}
		return ds
	case m > n:
		return []Damage{{Truncated, recordsFile, n, fmt.Sprintf("the hashes file lists %d records but the records file has %d: records were removed from the end", m, n)}}
	case bytes.HasPrefix(want, data[:len(data)/tlog.HashSize*tlog.HashSize]):
		rep.Notes = append(rep.Notes, "the hashes file lacks the hashes of the last records (a crash); the writer rebuilds them when it next opens the log")
		return nil
	}
	k := 0
	for k+tlog.HashSize <= len(data) && k+tlog.HashSize <= len(want) && bytes.Equal(data[k:k+tlog.HashSize], want[k:k+tlog.HashSize]) {
		k += tlog.HashSize
	}
	level, idx := tlog.SplitStoredHashIndex(int64(k / tlog.HashSize))
	return []Damage{{Edited, hashesFile, -1, fmt.Sprintf("stored hash %d (level %d, index %d) is wrong: the hashes file was edited", k/tlog.HashSize, level, idx)}}
}

// hashesLeaves returns the record hashes listed in a hashes file, for as many
// records as it holds all stored hashes of.
func hashesLeaves(data []byte) (int64, []tlog.Hash) {
	total := int64(len(data) / tlog.HashSize)
	// The largest m with StoredHashCount(m) <= total; StoredHashCount(m) >= m.
	lo, hi := int64(0), total
	for lo < hi {
		mid := hi - (hi-lo)/2
		if tlog.StoredHashCount(mid) <= total {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	m := lo
	out := make([]tlog.Hash, m)
	for i := range m {
		copy(out[i][:], data[tlog.StoredHashIndex(0, i)*tlog.HashSize:])
	}
	return m, out
}

// diffLeaves explains how the record hashes got differ from the record
// hashes want, a sequence that by (a checkpoint, or the hashes file) vouches
// for. It appends suffix to each detail.
func diffLeaves(got, want []tlog.Hash, by, suffix string) []Damage {
	n, s := int64(len(got)), int64(len(want))
	i := int64(0)
	for i < min(n, s) && got[i] == want[i] {
		i++
	}
	one := func(kind DamageKind, rec int64, format string, args ...any) []Damage {
		return []Damage{{kind, recordsFile, rec, fmt.Sprintf(format, args...) + suffix}}
	}
	if i == min(n, s) {
		if n < s {
			return one(Truncated, n, "records %d to %d are missing from the end: %s vouches for %d records, the log has %d", n, s-1, by, s, n)
		}
		return nil
	}
	eq := func(a, b []tlog.Hash) bool {
		if len(a) != len(b) {
			return false
		}
		for k := range a {
			if a[k] != b[k] {
				return false
			}
		}
		return true
	}
	indexFrom := func(xs []tlog.Hash, from int64, h tlog.Hash) int64 {
		for k := from; k < int64(len(xs)); k++ {
			if xs[k] == h {
				return k
			}
		}
		return -1
	}
	edited := func() []Damage {
		if n >= s && eq(got[i+1:s], want[i+1:s]) {
			return one(Edited, i, "the record differs from the one %s vouches for", by)
		}
		return nil
	}
	inserted := func() []Damage {
		if j := indexFrom(got, i+1, want[i]); j >= 0 && n >= s+(j-i) && eq(got[j:s+(j-i)], want[i:s]) {
			return one(Inserted, i, "%d record(s) inserted here that %s does not vouch for", j-i, by)
		}
		return nil
	}
	removed := func() []Damage {
		if j := indexFrom(want, i+1, got[i]); j >= 0 && n >= s-(j-i) && eq(got[i:s-(j-i)], want[j:s]) {
			return one(Removed, i, "%d record(s) removed here that %s vouches for", j-i, by)
		}
		return nil
	}
	reordered := func() []Damage {
		if n < s {
			return nil
		}
		count := map[tlog.Hash]int{}
		for k := i; k < s; k++ {
			count[got[k]]++
			count[want[k]]--
		}
		for _, c := range count {
			if c != 0 {
				return nil
			}
		}
		e := s - 1
		for got[e] == want[e] {
			e--
		}
		return one(Reordered, i, "records %d to %d are in another order than %s vouches for", i, e, by)
	}
	tries := []func() []Damage{edited, reordered, inserted, removed}
	if n > s {
		tries = []func() []Damage{inserted, edited, reordered, removed}
	}
	if n < s {
		tries = []func() []Damage{removed, edited, inserted, reordered}
	}
	for _, try := range tries {
		if d := try(); d != nil {
			return d
		}
	}
	return one(Edited, i, "records from %d on differ from those %s vouches for", i, by)
}

// sigNames names the keys of signatures read from a file: quoted, since a
// name may hold anything but spaces and '+' (terminal controls, bidi
// overrides), and only the first few.
func sigNames(sigs []note.Signature) string {
	var names []string
	for i, s := range sigs {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(sigs)-3))
			break
		}
		names = append(names, keyName(s.Name, s.Hash))
	}
	if len(names) == 0 {
		return "no key"
	}
	return strings.Join(names, ", ")
}

// keyName names a key, quoting its name as Go would (%q: every control,
// format or non-printable character escaped) and capping it at 64
// characters.
func keyName(name string, hash uint32) string {
	return fmt.Sprintf("%.64q+%08x", name, hash)
}
