package audit

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// buildVariedLog appends n records of every server event, over several days,
// signing a checkpoint each day and one at the end, as the server does. Every
// record is distinct.
func buildVariedLog(t testing.TB, dir string, k testKey, n int) {
	t.Helper()
	l := openTestLog(t, dir, k)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		day := start.Add(time.Duration(i/40) * 24 * time.Hour)
		h := sha256.Sum256(fmt.Appendf(nil, "%d", i))
		var r Record
		switch {
		case i%50 == 0:
			r = ServiceStarted(h, day)
		case i%50 == 49:
			r = ServiceStopped(day)
		case i%37 == 5:
			r = BatchExported(h, i, day)
		case i%41 == 7:
			r = EnvelopesPurged(i, day)
		case i%43 == 3:
			r = OnionPublished(day)
		default:
			r = SubmissionStored(h, day)
		}
		mustAppend(t, l, r)
		if i%40 == 39 {
			if _, err := l.Checkpoint(day, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := l.Checkpoint(start.Add(time.Duration(n/40)*24*time.Hour), true); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func joinLines(lines [][]byte) []byte { return bytes.Join(lines, nil) }

func hasDamage(rep *Report, kind DamageKind, record int64) bool {
	for _, d := range rep.Damage {
		if d.Kind == kind && d.Record == record {
			return true
		}
	}
	return false
}

// TestMutationsAreDetected changes a signed log of a few hundred records in
// every way listed in the issue and counts that Verify catches each change.
func TestMutationsAreDetected(t *testing.T) {
	const n = 250
	dir := t.TempDir()
	k := newTestKey(t, testOrigin)
	buildVariedLog(t, dir, k, n)
	base, err := readLogFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	known := []note.Verifier{mustVerifier(t, k.vkey)}
	rep, err := verifyFiles(base, known, nil)
	if err != nil || !rep.OK() || rep.Signed != n || rep.Checkpoints != 7 || len(rep.Notes) != 0 {
		t.Fatalf("unmodified log: signed %d, %d checkpoints, notes %q, damage %v, %v", rep.Signed, rep.Checkpoints, rep.Notes, rep.Damage, err)
	}
	lines, _ := splitRecords(base.records)
	distinct := map[string]bool{}
	for _, l := range lines {
		distinct[string(l)] = true
	}
	if len(lines) != n || len(distinct) != n {
		t.Fatalf("%d lines, %d distinct; want %d", len(lines), len(distinct), n)
	}

	// The checkpoint files are the same for every mutation of the records
	// or hashes, so their signatures are checked once.
	list := note.VerifierList(known...)
	cc := checkCheckpoints(base.checkpoints, list)
	verify := func(records []byte) *Report {
		f := base
		f.records = records
		rep, err := verifyRecords(f, cc, list, nil)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	type tally struct{ tried, detected int }
	counts := map[string]*tally{}
	check := func(kind string, ok bool, format string, args ...any) {
		c := counts[kind]
		if c == nil {
			c = &tally{}
			counts[kind] = c
		}
		c.tried++
		if ok {
			c.detected++
		} else {
			t.Errorf("%s not detected: %s", kind, fmt.Sprintf(format, args...))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Some mutations are tried at a random 1/sample of the positions; under
	// the race detector, which makes this test 10x slower, all byte flips
	// are.
	sample := 8
	if raceEnabled {
		sample = 24
	}

	// Byte flips: every byte of the records file with its low bit flipped
	// (which mostly keeps the record well-formed: the hard case), and a
	// sample with a random flip.
	for p := range base.records {
		if raceEnabled && rng.IntN(sample) != 0 {
			continue
		}
		masks := []byte{1}
		if rng.IntN(sample) == 0 {
			masks = append(masks, byte(2+rng.IntN(254)))
		}
		for _, mask := range masks {
			b := bytes.Clone(base.records)
			b[p] ^= mask
			rep := verify(b)
			check("records byte flip", !rep.OK(), "byte %d ^ %#x", p, mask)
		}
	}
	// Deletions of each record.
	for i := range lines {
		rep := verify(joinLines(slices.Delete(slices.Clone(lines), i, i+1)))
		want := Removed
		if i == n-1 {
			want = Truncated
		}
		check("deletion", hasDamage(rep, want, int64(i)), "record %d: %v", i, rep.Damage)
	}
	// Reorderings: every adjacent swap, and 300 random moves.
	for i := 0; i+1 < n; i++ {
		ls := slices.Clone(lines)
		ls[i], ls[i+1] = ls[i+1], ls[i]
		rep := verify(joinLines(ls))
		check("reordering", hasDamage(rep, Reordered, int64(i)), "swap %d, %d: %v", i, i+1, rep.Damage)
	}
	for range 300 {
		i, j := rng.IntN(n), rng.IntN(n)
		if i == j || i == j+1 || j == i+1 {
			continue
		}
		ls := slices.Clone(lines)
		l := ls[i]
		ls = slices.Insert(slices.Delete(ls, i, i+1), j, l)
		rep := verify(joinLines(ls))
		check("reordering", hasDamage(rep, Reordered, int64(min(i, j))), "move %d to %d: %v", i, j, rep.Damage)
	}
	// Insertions of a new record before each record, and of copies of
	// existing records (replays) at random places.
	for i := range n {
		text, _ := SubmissionStored(sha256.Sum256([]byte("forged")), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)).MarshalText()
		rep := verify(joinLines(slices.Insert(slices.Clone(lines), i, text)))
		check("insertion", hasDamage(rep, Inserted, int64(i)), "before record %d: %v", i, rep.Damage)
	}
	for range 100 {
		i, j := rng.IntN(n), rng.IntN(n)
		rep := verify(joinLines(slices.Insert(slices.Clone(lines), i, lines[j])))
		check("insertion", !rep.OK(), "copy of %d before %d: %v", j, i, rep.Damage)
	}
	// A record added at the end is an append: it verifies, but as not
	// signed yet.
	{
		text, _ := submission(1000).MarshalText()
		rep := verify(joinLines(append(slices.Clone(lines), text)))
		check("append after the last checkpoint shown as unsigned", rep.OK() && rep.Records == n+1 && rep.Signed == n, "%v", rep.Damage)
	}
	// Truncation after every record, and inside a sample of records.
	for size := range len(base.records) {
		if size > 0 && base.records[size-1] != '\n' && rng.IntN(sample) != 0 {
			continue
		}
		rep := verify(base.records[:size])
		d := int64(bytes.Count(base.records[:size], []byte("\n")))
		check("truncation", hasDamage(rep, Truncated, d), "to %d bytes: %v", size, rep.Damage)
	}

	// Every byte of every checkpoint, with its low and (except under the
	// race detector) high bit flipped.
	for c := range base.checkpoints {
		for p := range base.checkpoints[c].data {
			masks := []byte{1, 0x80}
			if raceEnabled {
				masks = masks[:1]
			}
			for _, mask := range masks {
				f := base
				f.checkpoints = slices.Clone(base.checkpoints)
				f.checkpoints[c].data = bytes.Clone(base.checkpoints[c].data)
				f.checkpoints[c].data[p] ^= mask
				rep, err := verifyFiles(f, known, nil)
				check("checkpoint byte flip", err == nil && !rep.OK(), "%s byte %d ^ %#x: %v", f.checkpoints[c].name, p, mask, err)
			}
		}
	}
	// One byte of every stored hash in the hashes file, flipped.
	for h := 0; h < len(base.hashes); h += tlog.HashSize {
		p := h + rng.IntN(tlog.HashSize)
		f := base
		f.hashes = bytes.Clone(base.hashes)
		f.hashes[p] ^= 1
		rep, err := verifyRecords(f, cc, list, nil)
		check("hashes byte flip", err == nil && !rep.OK(), "byte %d", p)
	}

	// Re-signing: a record is edited and the whole log rebuilt and signed
	// with another key, under the same name.
	{
		other := newTestKey(t, testOrigin)
		forged := filepath.Join(t.TempDir(), "forged")
		l := openTestLog(t, forged, other)
		for i, line := range lines {
			r, _ := ParseRecord(line)
			if i == 101 {
				r.SHA256[0] ^= 1
			}
			mustAppend(t, l, r)
			if i%40 == 39 {
				l.Checkpoint(time.Date(2026, 3, 1+i/40, 0, 0, 0, 0, time.UTC), false)
			}
		}
		l.Checkpoint(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), true)
		l.Close()
		rep, err := Verify(forged, k.vkey, nil)
		ok := err != nil && len(rep.Damage) == 7
		for _, d := range rep.Damage {
			ok = ok && d.Kind == SignedByAnotherKey
		}
		check("re-signing with another key", ok, "%v", rep.Damage)
		// The forger's checkpoints mixed into the genuine log.
		ff, _ := readLogFiles(forged)
		f := base
		f.checkpoints = append(slices.Clone(base.checkpoints), ff.checkpoints...)
		rep, _ = verifyFiles(f, known, nil)
		check("re-signing with another key", !rep.OK() && rep.Damage[0].Kind == SignedByAnotherKey, "%v", rep.Damage)
	}

	total := 0
	for kind, c := range counts {
		t.Logf("%-55s %6d tried, %6d detected", kind, c.tried, c.detected)
		total += c.tried
	}
	t.Logf("%d mutations in all", total)
}
