package intake

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
)

// DefaultGrace is how long the server goes on accepting answers to an
// earlier version of its study after it last served it: two weeks, time
// for a person who began the questionnaire before a revision to finish,
// or to come back to a page left open.
const DefaultGrace = 14 * 24 * time.Hour

// EarlierVersion is a version of the study that the server served before
// its current one (see "Versions" in the package doc).
type EarlierVersion struct {
	Study *config.Study
	// Until is the first instant, midnight UTC, at which answers to the
	// version are no longer accepted. The zero Time means never: the
	// version is retired.
	Until time.Time
}

// RetiredByKeys reports whether answers to the earlier version may no
// longer be accepted at all, whatever its grace period, because one of its
// recipients is no longer a recipient of the current version: a key
// removed from a study may have been lost or compromised, and nothing
// more may be sealed to it.
func RetiredByKeys(earlier, current *config.Study) bool {
	for _, r := range earlier.Recipients {
		if !slices.ContainsFunc(current.Recipients, func(c config.Recipient) bool { return sameKey(c.PublicKey, r.PublicKey) }) {
			return true
		}
	}
	return false
}

// sameKey reports whether two public key strings are the same key.
func sameKey(a, b string) bool {
	if a == b {
		return true
	}
	ra, err := envelope.ParseRecipient(a)
	if err != nil {
		return false
	}
	rb, err := envelope.ParseRecipient(b)
	return err == nil && ra.Equal(rb)
}

// Versions is what the server knows of the versions of its study: every
// earlier version kept in the data directory, and until when it accepts
// answers to each. Make it with [LoadVersions].
type Versions struct {
	// Earlier are the earlier versions, for [Config.Earlier].
	Earlier []EarlierVersion

	mu       sync.Mutex
	recorded map[[32]byte]bool // retirements the audit log holds since the version was last served
}

// LoadVersions reads every version of the study kept in d
// (DIR/versions, see [Data.SaveVersion]) and checks that current may
// follow them all ([config.CheckRevision]): it returns the checker's
// errors, which name current's file, for a revision that changes the study
// id or the meaning of a question or a choice. Call it before keeping
// current, so that a refused revision is never kept as a version served.
//
// It then decides until when the server accepts answers to each earlier
// version: grace after the end of the last UTC day it was served, as the
// audit log tells (from service-started to service-stopped, or to the
// next service-started of another version when the server stopped
// without recording it, to the start of now's day); never if grace is zero or less, if the log never
// recorded it served, or if one of its recipients is not a recipient of
// current ([RetiredByKeys]).
func LoadVersions(d *Data, current *config.Study, grace time.Duration, now time.Time) (*Versions, error) {
	sums, err := d.Versions()
	if err != nil {
		return nil, err
	}
	var earlier []*config.Study
	for _, sum := range sums {
		if sum == current.SHA256 {
			continue
		}
		st, err := loadVersion(d, sum)
		if err != nil {
			return nil, err
		}
		earlier = append(earlier, st)
	}
	if err := config.CheckRevision(earlier, current); err != nil {
		return nil, fmt.Errorf("the study file is not a revision of the versions served before (kept in %s): fix it, or serve a new study with a new --data directory:\n%w", filepath.Join(d.Dir, "versions"), err)
	}
	last, recorded, err := servedDays(d, now)
	if err != nil {
		return nil, err
	}
	vs := &Versions{recorded: recorded}
	for _, st := range earlier {
		ev := EarlierVersion{Study: st}
		if day, ok := last[st.SHA256]; ok && grace > 0 && !RetiredByKeys(st, current) {
			// Whole days: from the end of the day last served, grace
			// rounded up to a day.
			u := day.AddDate(0, 0, 1).Add(grace)
			if m := midnight(u); !m.Equal(u) {
				u = m.AddDate(0, 0, 1)
			}
			ev.Until = u
		}
		vs.Earlier = append(vs.Earlier, ev)
	}
	return vs, nil
}

// loadVersion reads and parses the version sum kept in d.
func loadVersion(d *Data, sum [32]byte) (*config.Study, error) {
	path := d.versionPath(sum)
	data, err := readLimited(path, config.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("failed to read a version of the study served before: %w", err)
	}
	st, err := config.Parse(path, data)
	if err != nil {
		return nil, fmt.Errorf("a version of the study served before no longer loads, so revisions cannot be checked against it nor its answers read; fix it with the intake that served it, or restore it from a backup:\n%w", err)
	}
	if st.SHA256 != sum {
		return nil, fmt.Errorf("%s does not hold the study file its name says: restore it from a backup", path)
	}
	return st, nil
}

func readLimited(path string, limit int) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// midnight returns the start of t's UTC day.
func midnight(t time.Time) time.Time {
	y, m, dd := t.UTC().Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
}

// servedDays reads the audit log, which no server appends to meanwhile:
// the last UTC day each version was served, and the versions whose retirement it records after they were
// last served.
func servedDays(d *Data, now time.Time) (last map[[32]byte]time.Time, retired map[[32]byte]bool, err error) {
	l, err := d.Audit()
	if err != nil {
		return nil, nil, err
	}
	last, retired = map[[32]byte]time.Time{}, map[[32]byte]bool{}
	var serving [32]byte
	on := false
	err = l.Scan(func(_ int64, r audit.Record) error {
		day, err := time.Parse(time.DateOnly, r.Day)
		if err != nil {
			return fmt.Errorf("audit log record of day %q: %w", r.Day, err)
		}
		switch r.Event {
		case audit.EventServiceStarted:
			// A server that stopped without recording it served its
			// version up to this start, as far as anyone can tell.
			if on && day.After(last[serving]) {
				last[serving] = day
			}
			serving, on = r.SHA256, true
			retired[serving] = false
		case audit.EventStudyVersionRetired:
			retired[r.SHA256] = true
		}
		if on && day.After(last[serving]) {
			last[serving] = day
		}
		if r.Event == audit.EventServiceStopped {
			on = false
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if on {
		// The last server stopped without recording it: it may have
		// served its version until now.
		last[serving] = midnight(now)
	}
	return last, retired, nil
}

// RecordRetired appends a study-version-retired record to d's audit log
// for each earlier version not accepted at now whose retirement the log
// does not hold since the version was last served: at once for a version
// retired by its keys, on the first call after its grace period for the
// others. Call it when the server starts and then now and then (every
// hour, say): never because of a request, so that no record's moment
// tells anything about people's visits.
func (vs *Versions) RecordRetired(d *Data, now time.Time) error {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	var errs []error
	for _, ev := range vs.Earlier {
		if now.Before(ev.Until) || vs.recorded[ev.Study.SHA256] {
			continue
		}
		if err := d.Record(audit.StudyVersionRetired(ev.Study.SHA256, now)); err != nil {
			errs = append(errs, err)
			continue
		}
		vs.recorded[ev.Study.SHA256] = true
	}
	return errors.Join(errs...)
}

// version is a version of the study as the server serves it.
type version struct {
	study      *config.Study
	id         string
	steps      []config.Step
	numbers    []int // for each question, its number on the pages (0 for a note)
	recipients []*envelope.Recipient
	current    bool
	until      time.Time // for an earlier version: see EarlierVersion.Until
}

func newVersion(st *config.Study) (*version, error) {
	v := &version{study: st, id: st.Version(), steps: st.Steps(), numbers: make([]int, len(st.Questions))}
	var err error
	if v.recipients, err = st.RecipientKeys(); err != nil {
		return nil, err
	}
	n := 0
	for i := range st.Questions {
		if st.Questions[i].Answerable() {
			n++
			v.numbers[i] = n
		}
	}
	return v, nil
}

// accepted reports whether the server accepts answers to v at now.
func (v *version) accepted(now time.Time) bool { return v.current || now.Before(v.until) }

// stepShown reports whether step i has a question to show, given which
// questions are shown (response.Shown).
func (v *version) stepShown(i int, shown []bool) bool {
	return slices.ContainsFunc(v.steps[i].Questions, func(qi int) bool { return shown[qi] })
}
