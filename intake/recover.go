package intake

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/store"
)

// RecoverSubmissions makes the audit log hold a submission-stored record for
// every envelope in the store, after a crash: it counts the records the
// log holds by envelope hash, hashes every envelope the store holds
// (pending, exported or in an interrupted export), and appends a record,
// with the day of the envelope's folder, for each envelope beyond the
// count; then one submissions-recovered record with their number, if any.
// It confirms the store (see package store) and returns the number.
//
// It is idempotent: run again after a crash half-way, it appends only what
// is still missing. Call it only when no server is storing envelopes (the
// server calls it as it starts).
func (d *Data) RecoverSubmissions(now time.Time) (int, error) {
	x, err := d.Store.LockExports()
	if err != nil {
		return 0, err
	}
	defer x.Close()
	return d.recoverSubmissions(x, now)
}

// recoverSubmissions is RecoverSubmissions for a caller holding the
// exports lock x, so that no envelope moves meanwhile.
func (d *Data) recoverSubmissions(_ *store.Exports, now time.Time) (int, error) {
	l, err := d.Audit()
	if err != nil {
		return 0, err
	}
	recorded := map[[32]byte]int{}
	if err := l.Scan(func(_ int64, r audit.Record) error {
		if r.Event == audit.EventSubmissionStored {
			recorded[r.SHA256]++
		}
		return nil
	}); err != nil {
		return 0, err
	}
	n := 0
	err = store.Walk(d.Store.Dir(), func(_ store.Where, e store.Entry, path string) error {
		sum, err := hashFile(path)
		if err != nil {
			return err
		}
		if recorded[sum] > 0 {
			recorded[sum]--
			return nil
		}
		day, err := time.Parse(store.DayFormat, e.Day)
		if err != nil {
			return err
		}
		if err := d.record(audit.SubmissionStored(sum, day)); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	if n > 0 {
		if err := d.record(audit.SubmissionsRecovered(n, now)); err != nil {
			return n, err
		}
	}
	return n, d.Store.Confirm()
}

func hashFile(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, fmt.Errorf("failed to read envelope: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, fmt.Errorf("failed to read envelope: %w", err)
	}
	return [32]byte(h.Sum(nil)), nil
}
