package intake

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/smallfs"
	"github.com/testimony-project/testimony/receipt"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/mod/sumdb/note"
)

const dataStudy = "data-test"

var studyVersions = [][]byte{[]byte("id: data-test\n# version 1\n"), []byte("id: data-test\n# version 2\n")}

// newData opens a data directory that serves dataStudy, with two versions
// of its study file kept.
func newData(t testing.TB, dir string) *Data {
	t.Helper()
	d, err := OpenData(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.BindStudy(dataStudy); err != nil {
		t.Fatal(err)
	}
	for _, v := range studyVersions {
		if err := d.SaveVersion(v); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// submit stores n envelopes of size bytes and records them, as the server
// does, and returns their hashes.
func submit(t testing.TB, d *Data, n, size int) map[[32]byte]bool {
	t.Helper()
	sums := map[[32]byte]bool{}
	for i := range n {
		env := make([]byte, size+i%7)
		rand.Read(env)
		if _, err := d.Store.Put(env, time.Now().AddDate(0, 0, -i%3)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(env)
		if err := d.Record(audit.SubmissionStored(sum, time.Now())); err != nil {
			t.Fatal(err)
		}
		sums[sum] = true
	}
	return sums
}

// batches reads every batch file in dir, checking each against the server
// key, and returns the envelopes' hashes (counted) and the manifests.
func batches(t testing.TB, d *Data, dir string) (map[[32]byte]int, []*batch.Manifest) {
	t.Helper()
	v, err := note.NewVerifier(d.ServerKey())
	if err != nil {
		t.Fatal(err)
	}
	got := map[[32]byte]int{}
	var ms []*batch.Manifest
	files, _ := filepath.Glob(filepath.Join(dir, "*.tar"))
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := batch.ReadAll(f, v)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(b.Versions) != len(studyVersions) {
			t.Errorf("%s carries %d study versions, want %d", path, len(b.Versions), len(studyVersions))
		}
		for _, e := range b.Envelopes {
			got[sha256.Sum256(e.Data)]++
		}
		ms = append(ms, b.Manifest)
	}
	return got, ms
}

// auditEvents verifies the audit log and returns its records.
func auditEvents(t testing.TB, d *Data) []audit.Record {
	t.Helper()
	key, err := d.AuditKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(filepath.Join(d.Dir, "audit"), key, nil); err != nil {
		t.Fatalf("audit log does not verify: %v", err)
	}
	var rs []audit.Record
	l, _ := d.Audit()
	if err := l.Scan(func(_ int64, r audit.Record) error { rs = append(rs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return rs
}

func count(rs []audit.Record, ev audit.Event) (n, total int) {
	for _, r := range rs {
		if r.Event == ev {
			n++
			total += r.Count
		}
	}
	return n, total
}

// inStore returns the hashes of the envelopes in the store, counted, by
// place: "inbox" or "exported".
func inStore(t testing.TB, d *Data) map[string]map[[32]byte]int {
	t.Helper()
	got := map[string]map[[32]byte]int{"inbox": {}, "exported": {}, "interrupted": {}}
	err := store.Walk(d.Store.Dir(), func(w store.Where, _ store.Entry, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		place := "inbox"
		switch {
		case w.Export != "" && w.Committed:
			place = "exported"
		case w.Export != "":
			place = "interrupted"
		}
		got[place][sha256.Sum256(b)]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestExportParts(t *testing.T) {
	d := newData(t, t.TempDir())
	sums := submit(t, d, 25, 1000)
	out := t.TempDir()
	var lastDone, lastTotal int64
	res, err := d.ExportParts(ExportOptions{Out: out, MaxEnvelopes: 10, Progress: func(done, total int64) {
		if done < lastDone || total <= 0 {
			t.Errorf("progress went from %d to %d of %d", lastDone, done, total)
		}
		lastDone, lastTotal = done, total
	}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if lastDone != lastTotal || lastTotal == 0 {
		t.Errorf("progress ended at %d of %d", lastDone, lastTotal)
	}
	if len(res.Parts) != 3 || res.Envelopes != 25 {
		t.Fatalf("exported %d envelopes in %d parts, want 25 in 3", res.Envelopes, len(res.Parts))
	}
	got, ms := batches(t, d, out)
	if len(got) != 25 {
		t.Fatalf("batches hold %d envelopes, want 25", len(got))
	}
	for h, n := range got {
		if !sums[h] || n != 1 {
			t.Errorf("envelope in batches %d times, stored: %v", n, sums[h])
		}
	}
	parts := map[int]bool{}
	for _, m := range ms {
		if m.ExportID != res.ExportID || m.Parts != 3 || m.StudyID != dataStudy || len(m.Entries) > 10 {
			t.Errorf("manifest %+v", m)
		}
		parts[m.Part] = true
	}
	if len(parts) != 3 {
		t.Errorf("parts %v", parts)
	}
	for i, p := range res.Parts {
		want := fmt.Sprintf("%s-%s-%s-part%03d.tar", dataStudy, time.Now().UTC().Format(time.DateOnly), res.ExportID, i+1)
		if filepath.Base(p.Path) != want {
			t.Errorf("part %d is %s, want %s", i+1, filepath.Base(p.Path), want)
		}
		if fi, err := os.Stat(p.Path); err != nil || fi.ModTime().UTC().Format(time.TimeOnly) != "00:00:00" {
			t.Errorf("part %d's file tells the time of the export: %v", i+1, fi.ModTime())
		}
	}
	rs := auditEvents(t, d)
	if n, total := count(rs, audit.EventBatchExported); n != 3 || total != 25 {
		t.Errorf("%d batch-exported records for %d envelopes, want 3 for 25", n, total)
	}
	for _, m := range ms {
		if !slices.ContainsFunc(rs, func(r audit.Record) bool { return r.Event == audit.EventBatchExported && r.SHA256 == m.Hash }) {
			t.Errorf("part %d's manifest hash is not in the audit log", m.Part)
		}
	}
	if st := inStore(t, d); len(st["inbox"]) != 0 || len(st["exported"]) != 25 {
		t.Errorf("store after export: %d pending, %d exported", len(st["inbox"]), len(st["exported"]))
	}
	if res, err := d.ExportParts(ExportOptions{Out: out}, time.Now()); !errors.Is(err, ErrNothingToExport) || len(res.Recovered) != 0 {
		t.Fatalf("second export: %v", err)
	}

	// By size: each part's file stays under the bound.
	submit(t, d, 30, 4000)
	out2 := t.TempDir()
	res, err = d.ExportParts(ExportOptions{Out: out2, MaxBytes: 40 << 10}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) < 3 {
		t.Errorf("30 envelopes of 4 KB in parts of 40 KiB: %d parts", len(res.Parts))
	}
	for _, p := range res.Parts {
		if p.Bytes > 40<<10 {
			t.Errorf("%s is %d bytes, over the 40 KiB bound", p.Path, p.Bytes)
		}
	}
	if got, _ := batches(t, d, out2); len(got) != 30 {
		t.Errorf("size-bound parts hold %d envelopes, want 30", len(got))
	}
}

// TestExportToOneFile: --out FILE takes an export of one part, and refuses
// one that needs more, leaving everything as it was.
func TestExportToOneFile(t *testing.T) {
	d := newData(t, t.TempDir())
	submit(t, d, 12, 100)
	out := t.TempDir()
	file := filepath.Join(out, "batch.tar")
	if _, err := d.ExportParts(ExportOptions{Out: file, MaxEnvelopes: 5}, time.Now()); err == nil || !strings.Contains(err.Error(), "needs 3 parts") {
		t.Fatalf("export of 3 parts to one file: %v", err)
	}
	if files, _ := os.ReadDir(out); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if st := inStore(t, d); len(st["inbox"]) != 12 {
		t.Errorf("%d pending after a refused export, want 12", len(st["inbox"]))
	}
	res, err := d.ExportParts(ExportOptions{Out: file}, time.Now())
	if err != nil || len(res.Parts) != 1 || res.Parts[0].Path != file {
		t.Fatalf("export to one file: %+v, %v", res, err)
	}
	submit(t, d, 1, 100)
	if _, err := d.ExportParts(ExportOptions{Out: file}, time.Now()); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("export over an existing file: %v", err)
	}
	if n, _ := count(auditEvents(t, d), audit.EventExportRolledBack); n != 1 {
		t.Errorf("%d export-rolled-back records, want 1 (the refused export)", n)
	}
}

// TestExportOutputFull writes an export to a disk that fills up half-way:
// nothing of it remains, every envelope is pending again, and the audit log
// says so.
func TestExportOutputFull(t *testing.T) {
	mnt := smallfs.Mount(t, "tmpfs", 256<<10)
	d := newData(t, t.TempDir())
	submit(t, d, 40, 20<<10)
	_, err := d.ExportParts(ExportOptions{Out: mnt, MaxEnvelopes: 5}, time.Now())
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "40 envelopes are pending again") {
		t.Fatalf("export to a full disk: %v", err)
	}
	if files, _ := os.ReadDir(mnt); len(files) != 0 {
		t.Errorf("files left on the full disk: %v", files)
	}
	if st := inStore(t, d); len(st["inbox"]) != 40 || len(st["exported"])+len(st["interrupted"]) != 0 {
		t.Errorf("store: %d pending, %d exported, %d interrupted", len(st["inbox"]), len(st["exported"]), len(st["interrupted"]))
	}
	if n, total := count(auditEvents(t, d), audit.EventExportRolledBack); n != 1 || total != 40 {
		t.Errorf("export-rolled-back: %d records for %d envelopes", n, total)
	}
}

// TestDataDiskFull fills the data disk (envelopes up to the watermark,
// then another program to the last byte): export, to another disk, and
// purge still work, and the audit log records them.
func TestDataDiskFull(t *testing.T) {
	for _, kind := range smallfs.Kinds {
		t.Run(kind, func(t *testing.T) {
			mnt := smallfs.Mount(t, kind, 8<<20)
			d, err := OpenDataWith(filepath.Join(mnt, "data"), store.Options{MinFree: 1 << 20, Reserve: 512 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			d.BindStudy(dataStudy)
			d.SaveVersion(studyVersions[0])
			if ok, err := d.Store.EnsureReserve(); !ok || err != nil {
				t.Fatal("no reserve", err)
			}
			stored := 0
			for {
				env := make([]byte, 50<<10)
				rand.Read(env)
				if _, err := d.Store.Put(env, time.Now()); err != nil {
					if !errors.Is(err, store.ErrLowDisk) {
						t.Fatal(err)
					}
					break
				}
				if err := d.Record(audit.SubmissionStored(sha256.Sum256(env), time.Now())); err != nil {
					t.Fatal(err)
				}
				stored++
			}
			smallfs.Fill(t, mnt)
			d.Close()

			d, err = OpenData(filepath.Join(mnt, "data"))
			if err != nil {
				t.Fatalf("open on a full disk: %v", err)
			}
			defer d.Close()
			out := t.TempDir()
			res, err := d.ExportParts(ExportOptions{Out: out}, time.Now())
			if err != nil || res.Envelopes != stored {
				t.Fatalf("export from a full disk: %v (%d of %d envelopes)", err, res.Envelopes, stored)
			}
			pr, err := d.Purge(PurgeOptions{WithoutReceipt: true}, time.Now())
			if err != nil || pr.PurgedWithoutReceipt != stored {
				t.Fatalf("purge on a full disk: %v", err)
			}
			rs := auditEvents(t, d)
			if n, _ := count(rs, audit.EventBatchExported); n != 1 {
				t.Errorf("%d batch-exported records", n)
			}
			if _, total := count(rs, audit.EventEnvelopesPurgedWithoutReceipt); total != stored {
				t.Errorf("envelopes-purged-without-receipt counts %d, want %d", total, stored)
			}
			if ok, _ := d.Store.EnsureReserve(); !ok {
				t.Error("the reserve is not back after the purge freed space")
			}
		})
	}
}

func TestVersions(t *testing.T) {
	d := newData(t, t.TempDir())
	sums, err := d.Versions()
	if err != nil || len(sums) != 2 {
		t.Fatalf("Versions = %x, %v", sums, err)
	}
	for _, v := range studyVersions {
		b, err := os.ReadFile(d.versionPath(sha256.Sum256(v)))
		if err != nil || !bytes.Equal(b, v) {
			t.Errorf("version not kept byte for byte: %v", err)
		}
	}
	if err := d.SaveVersion(studyVersions[0]); err != nil {
		t.Errorf("saving a version again: %v", err)
	}
	os.WriteFile(d.versionPath(sha256.Sum256(studyVersions[0])), []byte("tampered"), 0o600)
	if err := d.SaveVersion(studyVersions[0]); err == nil {
		t.Error("a damaged version file went unnoticed")
	}
	study := filepath.Join(t.TempDir(), "study.yaml")
	os.WriteFile(study, []byte("id: data-test\n# version 3\n"), 0o600)
	if err := d.SaveVersionFile(study, sha256.Sum256([]byte("id: data-test\n# version 3\n"))); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveVersionFile(study, sha256.Sum256([]byte("other"))); err == nil {
		t.Error("SaveVersionFile accepted a file that changed")
	}
	os.WriteFile(filepath.Join(d.Dir, "versions", "notes.txt"), nil, 0o600)
	if _, err := d.Versions(); err == nil {
		t.Error("Versions accepted a stray file")
	}
}

// TestRecoverSubmissions: envelopes stored without their record (the
// server crashed in between) get one when the next server starts, with
// the day of their folder, and one submissions-recovered record.
func TestRecoverSubmissions(t *testing.T) {
	dir := t.TempDir()
	d := newData(t, dir)
	if err := d.LockServe(); err != nil { // d is the server
		t.Fatal(err)
	}
	recorded := submit(t, d, 5, 100)
	old := time.Now().AddDate(0, 0, -3)
	var lost [][32]byte
	for range 3 {
		env := make([]byte, 200)
		rand.Read(env)
		if _, err := d.Store.Put(env, old); err != nil {
			t.Fatal(err)
		}
		lost = append(lost, sha256.Sum256(env))
	}
	// The unrecorded envelopes are exported meanwhile, by the operator:
	// the server is running, so the export leaves recovery to it.
	op := newData(t, dir)
	if res, err := op.ExportParts(ExportOptions{Out: t.TempDir()}, time.Now()); err != nil || len(res.Recovered) != 0 {
		t.Fatal(err, res.Recovered)
	}
	op.Close()
	lostPending := make([]byte, 300)
	rand.Read(lostPending)
	d.Store.Put(lostPending, old)
	lost = append(lost, sha256.Sum256(lostPending))
	d.Close() // the server dies with 4 envelopes unrecorded: the store stays unconfirmed

	d2, err := OpenData(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if !d2.Store.Unconfirmed() {
		t.Fatal("a server that stored envelopes without records left the store confirmed")
	}
	if err := d2.LockServe(); err != nil {
		t.Fatal(err)
	}
	rs := auditEvents(t, d2)
	for _, h := range lost {
		if !slices.ContainsFunc(rs, func(r audit.Record) bool {
			return r.Event == audit.EventSubmissionStored && r.SHA256 == h && r.Day == old.UTC().Format(time.DateOnly)
		}) {
			t.Errorf("unrecorded envelope still has no record with its day")
		}
	}
	if n, total := count(rs, audit.EventSubmissionsRecovered); n != 1 || total != 4 {
		t.Errorf("submissions-recovered: %d records, count %d; want 1, 4", n, total)
	}
	if n, _ := count(rs, audit.EventSubmissionStored); n != len(recorded)+4 {
		t.Errorf("%d submission-stored records, want %d", n, len(recorded)+4)
	}
	if d2.Store.Unconfirmed() {
		t.Error("the store is still unconfirmed after recovery")
	}
	d2.Close()

	// A clean stop leaves nothing to recover.
	d3, _ := OpenData(dir)
	defer d3.Close()
	if err := d3.LockServe(); err != nil {
		t.Fatal(err)
	}
	submit(t, d3, 2, 10)
	d3.Close()
	d4, _ := OpenData(dir)
	defer d4.Close()
	if d4.Store.Unconfirmed() {
		t.Error("a clean stop left the store unconfirmed")
	}
}

// TestExportRecoversCrashedServer: with no server running, an export first
// records the envelopes a crashed server stored without a record, so it
// never carries one away unrecorded.
func TestExportRecoversCrashedServer(t *testing.T) {
	dir := t.TempDir()
	d := newData(t, dir)
	env := make([]byte, 100)
	rand.Read(env)
	d.Store.Put(env, time.Now())
	d.Close()
	d = newData(t, dir)
	res, err := d.ExportParts(ExportOptions{Out: t.TempDir()}, time.Now())
	if err != nil || len(res.Recovered) != 1 || !strings.Contains(res.Recovered[0], "recorded 1 envelopes") {
		t.Fatalf("export after a crashed server: %v, %q", err, res.Recovered)
	}
	rs := auditEvents(t, d)
	if !slices.ContainsFunc(rs, func(r audit.Record) bool {
		return r.Event == audit.EventSubmissionStored && r.SHA256 == sha256.Sum256(env)
	}) {
		t.Error("the exported envelope has no submission-stored record")
	}
}

// researcherKey makes a researcher signing key named as receipts require.
func researcherKey(t testing.TB, fp string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, envelope.NoteKeyName(fp))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

func signReceipt(t testing.TB, s note.Signer, fp, study string, ms ...*batch.Manifest) []byte {
	t.Helper()
	r := &receipt.Receipt{StudyID: study, Researcher: fp}
	for _, m := range ms {
		r.Batches = append(r.Batches, m.Hash)
	}
	msg, err := receipt.Sign(r, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestPurgeWithReceipts(t *testing.T) {
	d := newData(t, t.TempDir())
	submit(t, d, 25, 100)
	out := t.TempDir()
	if _, err := d.ExportParts(ExportOptions{Out: out, MaxEnvelopes: 10}, time.Now()); err != nil {
		t.Fatal(err)
	}
	submit(t, d, 2, 100) // not exported
	_, ms := batches(t, d, out)
	slices.SortFunc(ms, func(a, b *batch.Manifest) int { return a.Part - b.Part })
	const alice, mallory = "0123-4567-89AB-CDEF-0123", "AAAA-BBBB-CCCC-DDDD-EEEE"
	as, av := researcherKey(t, alice)
	msk, _ := researcherKey(t, mallory)
	foreign := &batch.Manifest{Hash: sha256.Sum256([]byte("another server's batch"))}
	o := PurgeOptions{Verifiers: []note.Verifier{av}, Receipts: []ReceiptFile{
		{"alice", signReceipt(t, as, alice, dataStudy, ms[0], ms[2], foreign)},
		{"mallory", signReceipt(t, msk, mallory, dataStudy, ms[1])},
		{"other-study", signReceipt(t, as, alice, "other-study", ms[1])},
	}}
	res, err := d.Purge(o, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := len(ms[0].Entries) + len(ms[2].Entries)
	if res.Purged != want || res.PurgedWithoutReceipt != 0 || res.Batches != 2 {
		t.Fatalf("purged %d (%d without receipt) of %d batches; want %d of 2", res.Purged, res.PurgedWithoutReceipt, res.Batches, want)
	}
	if c := res.Receipts[0]; c.Err != nil || c.Batches != 2 || c.Unknown != 1 {
		t.Errorf("alice's receipt: %+v", c)
	}
	if c := res.Receipts[1]; !errors.Is(c.Err, receipt.ErrUnknownKey) {
		t.Errorf("mallory's receipt: %v", c.Err)
	}
	if c := res.Receipts[2]; c.Err == nil || !strings.Contains(c.Err.Error(), "other-study") {
		t.Errorf("receipt for another study: %v", c.Err)
	}
	wantKept := []Kept{{KeptNoReceipt, len(ms[1].Entries), 1}, {KeptNotExported, 2, 0}}
	if !slices.Equal(res.Kept, wantKept) {
		t.Errorf("kept %+v, want %+v", res.Kept, wantKept)
	}
	st := inStore(t, d)
	if len(st["exported"]) != len(ms[1].Entries) || len(st["inbox"]) != 2 {
		t.Errorf("store: %d exported, %d pending", len(st["exported"]), len(st["inbox"]))
	}
	for _, e := range ms[1].Entries {
		if st["exported"][e.SHA256] != 1 {
			t.Error("an envelope no receipt covers was deleted")
		}
	}
	rs := auditEvents(t, d)
	if n, total := count(rs, audit.EventEnvelopesPurged); n != 1 || total != want {
		t.Errorf("envelopes-purged: %d records, %d envelopes", n, total)
	}
	if n, _ := count(rs, audit.EventReceiptAccepted); n != 1 || !slices.ContainsFunc(rs, func(r audit.Record) bool {
		return r.Event == audit.EventReceiptAccepted && r.SHA256 == sha256.Sum256(o.Receipts[0].Data) && r.ResearcherKey == alice
	}) {
		t.Errorf("receipt-accepted records: %d", n)
	}
	// The same receipt again: nothing more to delete, nothing recorded.
	res, err = d.Purge(PurgeOptions{Verifiers: o.Verifiers, Receipts: o.Receipts[:1]}, time.Now())
	if err != nil || res.Purged != 0 || res.Receipts[0].Batches != 0 {
		t.Fatalf("purging again: %+v, %v", res, err)
	}
	if n, _ := count(auditEvents(t, d), audit.EventReceiptAccepted); n != 1 {
		t.Errorf("a receipt that covered nothing new was recorded again")
	}
	// The manifests stay.
	parts, _ := d.unpurgedParts(mustLock(t, d))
	if len(parts) != 1 {
		t.Errorf("%d unpurged parts, want 1", len(parts))
	}
}

func mustLock(t testing.TB, d *Data) *store.Exports {
	t.Helper()
	x, err := d.Store.LockExports()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func TestPurgeWithoutReceipt(t *testing.T) {
	d := newData(t, t.TempDir())
	submit(t, d, 7, 100)
	if _, err := d.ExportParts(ExportOptions{Out: t.TempDir()}, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := d.Purge(PurgeOptions{}, time.Now())
	if err != nil || res.Purged+res.PurgedWithoutReceipt != 0 || len(res.Kept) != 1 || res.Kept[0].Envelopes != 7 {
		t.Fatalf("purge with nothing to show: %+v, %v", res, err)
	}
	res, err = d.Purge(PurgeOptions{WithoutReceipt: true}, time.Now())
	if err != nil || res.PurgedWithoutReceipt != 7 {
		t.Fatalf("purge without receipt: %+v, %v", res, err)
	}
	if n, total := count(auditEvents(t, d), audit.EventEnvelopesPurgedWithoutReceipt); n != 1 || total != 7 {
		t.Errorf("envelopes-purged-without-receipt: %d records, %d", n, total)
	}
	if st := inStore(t, d); len(st["exported"]) != 0 {
		t.Error("exported envelopes left")
	}
}

// The crash tests run this test binary as a child that dies (SIGKILL) at a
// chosen point of an export or purge, then check what the next command
// makes of it.
const (
	crashDirEnv   = "INTAKE_TEST_CRASH_DIR"
	crashOutEnv   = "INTAKE_TEST_CRASH_OUT"
	crashStageEnv = "INTAKE_TEST_CRASH_STAGE"
	crashOpEnv    = "INTAKE_TEST_CRASH_OP"
)

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by the crash tests")
	}
	stage := os.Getenv(crashStageEnv)
	crashPoint = func(s string) {
		if s == stage {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	d, err := OpenData(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	switch os.Getenv(crashOpEnv) {
	case "export":
		_, err = d.ExportParts(ExportOptions{Out: os.Getenv(crashOutEnv), MaxEnvelopes: 10}, time.Now())
	case "purge":
		_, err = d.Purge(PurgeOptions{WithoutReceipt: true}, time.Now())
	}
	fmt.Fprintln(os.Stderr, "not killed:", err)
	os.Exit(4)
}

// runCrashChild runs op in a child that kills itself at stage, and checks
// it died there.
func runCrashChild(t *testing.T, dir, out, op, stage string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashOutEnv+"="+out, crashOpEnv+"="+op, crashStageEnv+"="+stage)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child %s at %s: %v\n%s", op, stage, err, stderr.Bytes())
	}
}

// TestExportCrash kills an export at every point where it leaves something
// to repair. The next export must say what it repaired, and then the store,
// the batch files and the audit log agree: every envelope is stored once,
// the batch files on disk are exactly those of committed exports, each
// recorded once, and a rolled-back export is recorded as such.
func TestExportCrash(t *testing.T) {
	for _, tc := range []struct {
		stage      string
		rolledBack bool
	}{
		{"taken", true},
		{"part", true},
		{"renamed", true},
		{"committed", false},
		{"recorded", false},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			dir, out := t.TempDir(), t.TempDir()
			d := newData(t, dir)
			sums := submit(t, d, 25, 500)
			d.Close()
			runCrashChild(t, dir, out, "export", tc.stage)

			d = newData(t, dir)
			res, err := d.ExportParts(ExportOptions{Out: out, MaxEnvelopes: 10}, time.Now())
			wantLine := "completed the audit records"
			if tc.rolledBack {
				wantLine = "rolled back export"
			}
			if len(res.Recovered) != 1 || !strings.Contains(res.Recovered[0], wantLine) {
				t.Fatalf("recovery said %q, want a line with %q", res.Recovered, wantLine)
			}
			if tc.rolledBack != (err == nil) {
				t.Fatalf("the export after the crash: %v", err)
			}
			got, ms := batches(t, d, out)
			if len(got) != 25 || len(ms) != 3 {
				t.Fatalf("batch files hold %d envelopes in %d parts, want 25 in 3", len(got), len(ms))
			}
			for h, n := range got {
				if !sums[h] || n != 1 {
					t.Fatal("batch files do not hold each stored envelope once")
				}
			}
			if leftovers, _ := filepath.Glob(filepath.Join(out, ".*")); len(leftovers) != 0 {
				t.Errorf("partial files left: %v", leftovers)
			}
			st := inStore(t, d)
			if len(st["exported"]) != 25 || len(st["inbox"])+len(st["interrupted"]) != 0 {
				t.Errorf("store: %d exported, %d pending, %d interrupted", len(st["exported"]), len(st["inbox"]), len(st["interrupted"]))
			}
			rs := auditEvents(t, d)
			if n, total := count(rs, audit.EventBatchExported); n != 3 || total != 25 {
				t.Errorf("%d batch-exported records for %d envelopes, want 3 for 25", n, total)
			}
			for _, m := range ms {
				if !slices.ContainsFunc(rs, func(r audit.Record) bool { return r.Event == audit.EventBatchExported && r.SHA256 == m.Hash }) {
					t.Error("a batch file on disk has no batch-exported record")
				}
			}
			wantRB := 0
			if tc.rolledBack {
				wantRB = 1
			}
			if n, _ := count(rs, audit.EventExportRolledBack); n != wantRB {
				t.Errorf("%d export-rolled-back records, want %d", n, wantRB)
			}
		})
	}
}

// TestRollBackCrash kills the export that rolls back an interrupted one,
// just after it recorded the rollback: the rollback is finished by the
// next command and recorded once.
func TestRollBackCrash(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	d := newData(t, dir)
	submit(t, d, 15, 500)
	d.Close()
	runCrashChild(t, dir, out, "export", "part")
	runCrashChild(t, dir, out, "export", "rollback-recorded")
	d = newData(t, dir)
	res, err := d.ExportParts(ExportOptions{Out: out, MaxEnvelopes: 10}, time.Now())
	if err != nil || len(res.Recovered) != 1 {
		t.Fatalf("export: %v, recovered %q", err, res.Recovered)
	}
	if got, _ := batches(t, d, out); len(got) != 15 {
		t.Fatalf("%d envelopes in batch files, want 15", len(got))
	}
	if n, total := count(auditEvents(t, d), audit.EventExportRolledBack); n != 1 || total != 15 {
		t.Errorf("export-rolled-back: %d records, %d envelopes; want 1, 15", n, total)
	}
}

// TestPurgeCrash kills a purge at each point: the next command completes
// it, and the audit log records it once.
func TestPurgeCrash(t *testing.T) {
	for _, stage := range []string{"journaled", "purge-recorded", "purged-part"} {
		t.Run(stage, func(t *testing.T) {
			dir, out := t.TempDir(), t.TempDir()
			d := newData(t, dir)
			submit(t, d, 25, 500)
			if _, err := d.ExportParts(ExportOptions{Out: out, MaxEnvelopes: 10}, time.Now()); err != nil {
				t.Fatal(err)
			}
			d.Close()
			runCrashChild(t, dir, out, "purge", stage)
			d = newData(t, dir)
			res, err := d.Purge(PurgeOptions{}, time.Now())
			if err != nil || len(res.Recovered) != 1 || !strings.Contains(res.Recovered[0], "completed an interrupted purge: 25 envelopes") {
				t.Fatalf("purge after the crash: %v, %q", err, res.Recovered)
			}
			if st := inStore(t, d); len(st["exported"]) != 0 {
				t.Errorf("%d exported envelopes left", len(st["exported"]))
			}
			if n, total := count(auditEvents(t, d), audit.EventEnvelopesPurgedWithoutReceipt); n != 1 || total != 25 {
				t.Errorf("envelopes-purged-without-receipt: %d records, %d envelopes; want 1, 25", n, total)
			}
		})
	}
}

// TestServeLockKeepsNoTime: the serve lock, created or rewritten (with the
// watermark) at each start, carries the day, not the second, of the start;
// and a start that changes nothing does not rewrite it.
func TestServeLockKeepsNoTime(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		d, err := OpenData(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.LockServe(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, "serve.lock"))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.ModTime().UTC(); !m.Equal(m.Truncate(24 * time.Hour)) {
			t.Errorf("serve.lock was modified at %v: finer than the day", m)
		}
		if !readServeHints(dir).hasMinFree {
			t.Error("serve.lock holds no watermark")
		}
		d.Close()
	}
}
