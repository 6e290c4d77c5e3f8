package intake

import (
	"context"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
)

// Serving is a data directory readied to serve a study, and its server:
// what `intake serve` (and the demo) run between opening the data
// directory and taking connections. Make it with [Data.StartServing]; call
// [Serving.Stop] once the server has stopped.
type Serving struct {
	// Server is the intake server, ready for [Server.HTTPServer].
	Server *Server
	// Versions are the versions of the study the server accepts answers
	// to.
	Versions *Versions

	d *Data
}

// StartServing readies d to serve study, whose file is at studyPath, and
// makes the server. In order, stopping at the first refusal:
//
//   - it refuses a study whose recipients include the example study's
//     placeholder keys (every answer would be sealed to nobody);
//   - it takes d's serve lock (one server per data directory), which also
//     recovers the records of envelopes a crashed server stored and
//     records for intake status the watermark and whether the operator's
//     tor publishes the service ([Data.LockServe]);
//   - it binds d to the study's id, or checks that d serves it;
//   - it checks the revision against every version served from d, with
//     grace for the answers to earlier versions ([LoadVersions]), and keeps
//     the study file as a version (a refused study file is never a version
//     served);
//   - it records in d's audit log that the service started, and the
//     versions retired since (and that it stopped, if it then fails).
//
// A refusal of the study itself (placeholder keys, another study's id, a
// revision that breaks the rules) comes before anything of the study is
// kept or recorded. c's Study, Earlier, Store, Stored, Replies and
// RepliesServed are set from study and d; the caller gives the rest (Log,
// Limits, MemoryLimit). A caller that must not touch the data directory
// for a study with placeholder keys checks study.CheckServable before it
// opens d, as intake serve does.
func (d *Data) StartServing(study *config.Study, studyPath string, grace time.Duration, c Config, now time.Time) (*Serving, error) {
	if err := study.CheckServable(); err != nil {
		return nil, err
	}
	if err := d.LockServe(); err != nil {
		return nil, err
	}
	if err := d.BindStudy(study.ID); err != nil {
		return nil, err
	}
	versions, err := LoadVersions(d, study, grace, now)
	if err != nil {
		return nil, err
	}
	if err := d.SaveVersionFile(studyPath, study.SHA256); err != nil {
		return nil, err
	}
	if err := d.Record(audit.ServiceStarted(study.SHA256, now)); err != nil {
		return nil, err
	}
	s := &Serving{Versions: versions, d: d}
	if err := versions.RecordRetired(d, now); err != nil {
		s.Stop(now)
		return nil, err
	}
	c.Study, c.Earlier, c.Store = study, versions.Earlier, d.Store
	c.Stored = func(sum [32]byte, day time.Time) error { return d.Record(audit.SubmissionStored(sum, day)) }
	c.Replies = d.Replies()
	c.RepliesServed = func(count int, day time.Time) error { return d.Record(audit.RepliesServed(count, day)) }
	if s.Server, err = New(c); err != nil {
		s.Stop(now)
		return nil, err
	}
	return s, nil
}

// RunHourly asks the audit log every hour to sign a checkpoint, which it
// does at most once a day, so that signatures do not reveal when single
// submissions arrived; and records the retirement of earlier versions
// whose grace period ended. It returns when ctx is done.
func (s *Serving) RunHourly(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Versions.RecordRetired(s.d, now)
			if l, err := s.d.Audit(); err == nil {
				l.Checkpoint(now, false)
			}
		}
	}
}

// Stop records in the audit log that the service stopped, and has the log
// sign a checkpoint if none was signed today. Call it once the server has
// stopped, whatever the reason.
func (s *Serving) Stop(now time.Time) {
	s.d.Record(audit.ServiceStopped(now))
	if l, err := s.d.Audit(); err == nil {
		l.Checkpoint(now, false)
	}
}
