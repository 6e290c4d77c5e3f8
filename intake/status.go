package intake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/sys/unix"
)

// Level is a status's severity, numbered as monitoring plugins exit
// (Nagios, Icinga, Sensu): the exit code of intake status.
type Level int

// Levels of [Status].
const (
	OK Level = iota
	Warning
	Critical
	Unknown
)

func (l Level) String() string {
	switch l {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// StatusOptions are the thresholds of [ReadStatus].
type StatusOptions struct {
	// MinFree is the low-disk watermark intake serve was given (its
	// --min-free), as in store.Options: negative for none; 0 for the one
	// the last intake serve recorded in its serve lock, else the
	// default.
	MinFree int64
	// WarnPending warns when at least this many envelopes wait for export
	// (0: never).
	WarnPending int
	// WarnDays warns when an envelope has waited for export more than this
	// many days (0: never).
	WarnDays int
	// WarnBackupDays warns when no backup was made in this many days
	// (0: never).
	WarnBackupDays int
}

// Defaults of [StatusOptions] for intake status.
const (
	DefaultWarnPending    = 10_000
	DefaultWarnDays       = 7
	DefaultWarnBackupDays = 7
)

// Status is the health of a data directory and of the server holding it,
// as [ReadStatus] found it. It holds nothing finer than the UTC day: the
// envelope and audit record counts are those of the days before Day
// (envelopes and records of Day itself are left out, so that a monitor
// that polls every minute does not learn when they arrived), the free
// space is rounded down to a hundredth of the disk, and every date is a
// day.
type Status struct {
	Level    Level    `json:"-"`
	State    string   `json:"state"`
	Problems []string `json:"problems"`

	// Day is the UTC day the counts are taken at the start of.
	Day   string `json:"day"`
	Study string `json:"study"`

	// Serving says whether an intake serve holds the data directory.
	Serving bool `json:"serving"`
	// Tor is "running" or "stopped" for the tor intake serve starts,
	// "the operator's" when the server said it serves a tor of the
	// operator's (intake serve --external-tor), and "not started by
	// intake" otherwise (another tor it reaches by its control port, or
	// --listen); "" when it is not serving.
	Tor string `json:"tor,omitempty"`
	// OnionByOperator says that the server serves a tor of the operator's,
	// which publishes the onion service: intake can neither see nor record
	// that, and Published stays false without a warning.
	OnionByOperator bool `json:"onion_by_operator,omitempty"`
	// Published says whether the onion service was published since the
	// server last started; LastPublished is the day it last was.
	Published     bool   `json:"published"`
	LastPublished string `json:"last_published,omitempty"`

	Pending       int    `json:"pending"`
	PendingBytes  int64  `json:"pending_bytes"`
	OldestPending string `json:"oldest_pending,omitempty"`
	// Exported counts envelopes exported and not yet purged.
	Exported      int   `json:"exported_not_purged"`
	ExportedBytes int64 `json:"exported_not_purged_bytes"`

	ExportRunning      bool `json:"export_running"`
	InterruptedExports int  `json:"interrupted_exports"`
	PurgeInterrupted   bool `json:"purge_interrupted"`
	// Unconfirmed says a server stopped without confirming that the audit
	// log records every envelope it stored (it crashed); the next start,
	// export or purge recovers the records.
	Unconfirmed bool `json:"unconfirmed"`

	DiskSize int64 `json:"disk_size"`
	DiskFree int64 `json:"disk_free"`
	MinFree  int64 `json:"min_free"`
	Reserve  bool  `json:"reserve"`

	LastExport string `json:"last_export,omitempty"`
	LastBackup string `json:"last_backup,omitempty"`

	AuditRecords int64 `json:"audit_records"`
	AuditBytes   int64 `json:"audit_bytes"`
}

func (s *Status) raise(l Level, format string, args ...any) {
	s.Level = max(s.Level, l)
	s.Problems = append(s.Problems, l.String()+": "+fmt.Sprintf(format, args...))
}

// ReadStatus reports the health of the data directory dir and of the server
// holding it, at now. It only reads: it takes no lock (it reads the kernel's
// list of locks in /proc/locks to tell whether a server, a tor or an export
// holds theirs) and writes nothing, so it works while the server runs and on
// a full disk. A status it cannot read at all is returned with Level
// Unknown and the reason.
func ReadStatus(dir string, o StatusOptions, now time.Time) *Status {
	s := &Status{Day: now.UTC().Format(time.DateOnly)}
	if err := s.read(dir, o, now); err != nil {
		s.raise(Unknown, "%v", err)
	}
	s.State = s.Level.String()
	if s.Problems == nil {
		s.Problems = []string{}
	}
	return s
}

func (s *Status) read(dir string, o StatusOptions, now time.Time) error {
	b, err := os.ReadFile(filepath.Join(dir, "study"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s is not a data directory that has served a study (no %s)", dir, filepath.Join(dir, "study"))
		}
		return err
	}
	s.Study = strings.TrimSpace(string(b))
	today := s.Day
	locks, err := readLocks()
	if err != nil {
		return err
	}

	// What the last intake serve recorded in its lock: read once.
	hints := readServeHints(dir)

	// The server and its tor.
	var serverPID int
	s.Serving, serverPID = locks.held(filepath.Join(dir, "serve.lock"))
	if s.Serving {
		torrc := filepath.Join(dir, "onion", "tor", "torrc")
		owner, ownErr := torOwner(torrc)
		torHeld, _ := locks.held(filepath.Join(dir, "onion", "tor", "lock"))
		s.OnionByOperator = hints.onionByOperator
		switch {
		case s.OnionByOperator:
			s.Tor = "the operator's"
		case ownErr != nil:
			s.Tor = "not started by intake"
		case torHeld:
			s.Tor = "running"
		case serverPID != 0 && owner != 0 && owner != serverPID:
			s.Tor = "not started by intake" // left by an earlier run with its own tor
		default:
			s.Tor = "stopped"
		}
	}

	// The audit log: read directly, every complete record.
	if err := s.readAudit(filepath.Join(dir, "audit", "records"), today); err != nil {
		return err
	}

	// The store.
	storeDir := filepath.Join(dir, "store")
	s.ExportRunning, _ = locks.held(filepath.Join(storeDir, "exports.lock"))
	if des, err := os.ReadDir(filepath.Join(storeDir, "exports")); err == nil {
		for _, de := range des {
			if strings.HasPrefix(de.Name(), ".") {
				s.InterruptedExports++
			}
		}
	}
	_, err = os.Lstat(filepath.Join(storeDir, "journal"))
	s.PurgeInterrupted = err == nil
	_, err = os.Lstat(filepath.Join(storeDir, "unconfirmed"))
	s.Unconfirmed = err == nil && !s.Serving
	_, err = os.Lstat(filepath.Join(storeDir, "reserve"))
	s.Reserve = err == nil
	if err := store.Walk(storeDir, func(w store.Where, e store.Entry, path string) error {
		if e.Day >= today {
			return nil // arrived today: not counted
		}
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // exported or purged meanwhile
		}
		if err != nil {
			return err
		}
		switch {
		case w.Export == "":
			s.Pending++
			s.PendingBytes += fi.Size()
			if s.OldestPending == "" || e.Day < s.OldestPending {
				s.OldestPending = e.Day
			}
		case w.Committed:
			s.Exported++
			s.ExportedBytes += fi.Size()
		}
		return nil
	}); err != nil && !s.ExportRunning {
		return err
	}

	// The disk.
	sp, err := store.SpaceOf(storeDir)
	if err != nil {
		return err
	}
	s.DiskSize = sp.Size
	switch {
	case o.MinFree < 0:
	case o.MinFree > 0:
		s.MinFree = o.MinFree
	case hints.hasMinFree:
		s.MinFree = hints.minFree
	default:
		s.MinFree = store.DefaultMinFree(sp.Size)
	}
	step := max(sp.Size/100, 1<<20)
	s.DiskFree = sp.Free / step * step

	// What it all means.
	if !s.Serving {
		s.raise(Critical, "not serving: no intake serve holds %s", dir)
	} else {
		if s.Tor == "stopped" {
			s.raise(Critical, "tor is not running (intake serve restarts it; if this lasts, see %s)", filepath.Join(dir, "onion", "tor", "notice.log"))
		}
		if !s.Published && !s.OnionByOperator {
			s.raise(Warning, "the onion service has not been published since the server started")
		}
	}
	if s.MinFree > 0 && sp.Free < s.MinFree {
		s.raise(Critical, "the data disk is below the low-disk watermark: submissions are refused; export and purge")
	} else if s.MinFree > 0 && sp.Free < 2*s.MinFree {
		s.raise(Warning, "the data disk is near the low-disk watermark: export and purge")
	}
	if s.InterruptedExports > 0 && !s.ExportRunning {
		s.raise(Critical, "%d interrupted export(s): run intake export or purge to roll back", s.InterruptedExports)
	}
	if s.PurgeInterrupted && !s.ExportRunning {
		s.raise(Warning, "a purge was interrupted: run intake export or purge to complete it")
	}
	if s.Unconfirmed {
		s.raise(Warning, "the last server stopped without confirming its audit records (a crash): the next serve, export or purge recovers them")
	}
	if o.WarnPending > 0 && s.Pending >= o.WarnPending {
		s.raise(Warning, "%d envelopes wait for export", s.Pending)
	}
	if o.WarnDays > 0 && s.OldestPending != "" && daysBetween(s.OldestPending, today) > o.WarnDays {
		s.raise(Warning, "envelopes have waited for export since %s", s.OldestPending)
	}
	if o.WarnBackupDays > 0 {
		if s.LastBackup == "" {
			s.raise(Warning, "no backup was ever made: intake backup")
		} else if daysBetween(s.LastBackup, today) > o.WarnBackupDays {
			s.raise(Warning, "the last backup is from %s: intake backup", s.LastBackup)
		}
	}
	return nil
}

// readAudit reads the audit log's records file: the counts of the records
// of days before today, and the latest starts, publications, exports and
// backups. A partial last record (a crash, or an append in progress) is
// left out.
func (s *Status) readAudit(path string, today string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read the audit log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	lastStart, lastPub := int64(-1), int64(-1)
	for i := int64(0); ; i++ {
		line, err := br.ReadSlice('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("failed to read the audit log: %w", err)
		}
		r, err := audit.ParseRecord(line)
		if err != nil {
			return fmt.Errorf("the audit log is damaged at record %d (run auditor verify): %w", i, err)
		}
		if r.Day < today {
			s.AuditRecords++
			s.AuditBytes += int64(len(line))
		}
		switch r.Event {
		case audit.EventServiceStarted:
			lastStart = i
		case audit.EventOnionPublished:
			lastPub, s.LastPublished = i, r.Day
		case audit.EventBatchExported:
			s.LastExport = r.Day
		case audit.EventBackupMade:
			s.LastBackup = r.Day
		}
	}
	s.Published = lastPub > lastStart && lastStart >= 0
	return nil
}

func daysBetween(from, to string) int {
	a, err1 := time.Parse(time.DateOnly, from)
	b, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		return 0
	}
	return int(b.Sub(a).Hours() / 24)
}

// torOwner returns the process that owns the tor intake serve started, as
// its torrc names it.
func torOwner(torrc string) (int, error) {
	b, err := os.ReadFile(torrc)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "__OwningControllerProcess "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, nil
}

// locks are the flock locks the kernel lists in /proc/locks.
type locks []lockEntry

type lockEntry struct {
	major, minor uint32
	inode        uint64
	pid          int
}

// readLocks reads /proc/locks: every lock held, without taking any (a
// probe that took the serve lock even for a moment could make a server
// that starts at that moment fail).
func readLocks() (locks, error) {
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return nil, fmt.Errorf("failed to read the kernel's list of locks: %w", err)
	}
	var ls locks
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// "1: FLOCK  ADVISORY  WRITE 4807 fe:00:9997953 0 EOF"; a process
		// waiting for a lock is listed as "1: -> FLOCK …".
		if len(f) < 6 || f[1] != "FLOCK" {
			continue
		}
		pid, _ := strconv.Atoi(f[4])
		dev := strings.Split(f[5], ":")
		if len(dev) != 3 {
			continue
		}
		maj, err1 := strconv.ParseUint(dev[0], 16, 32)
		mnr, err2 := strconv.ParseUint(dev[1], 16, 32)
		ino, err3 := strconv.ParseUint(dev[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		ls = append(ls, lockEntry{uint32(maj), uint32(mnr), ino, pid})
	}
	return ls, nil
}

// held reports whether a process holds a flock on the file at path, and
// its process id where the kernel shows it (0 from another pid namespace).
// On overlayfs the kernel lists a lock under the device of the layer that
// holds the file, not the one stat shows: there, the inode alone matches.
func (ls locks) held(path string) (bool, int) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false, 0
	}
	var sfs unix.Statfs_t
	overlay := unix.Statfs(path, &sfs) == nil && sfs.Type == unix.OVERLAYFS_SUPER_MAGIC
	maj, mnr := unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev))
	for _, l := range ls {
		if l.inode == st.Ino && (overlay || l.major == maj && l.minor == mnr) {
			return true, l.pid
		}
	}
	return false, 0
}

// WriteText writes the status for a person and for a monitoring plugin:
// a first line as Nagios plugins print it ("TESTIMONY OK - summary |
// performance data"), then one line per aspect, then the problems.
func (s *Status) WriteText(w io.Writer, o StatusOptions) error {
	summary := "serving, onion service published"
	if s.OnionByOperator {
		summary = "serving, for the operator's tor to publish"
	}
	if len(s.Problems) > 0 {
		_, summary, _ = strings.Cut(s.Problems[0], ": ")
		if len(s.Problems) > 1 {
			summary += fmt.Sprintf(" (and %d more)", len(s.Problems)-1)
		}
	}
	perf := fmt.Sprintf("pending=%d;%s;;0 pending_bytes=%dB;;;0 exported_not_purged=%d;;;0 disk_free=%dB;%d;%d;0;%d audit_records=%d;;;0",
		s.Pending, threshold(o.WarnPending), s.PendingBytes, s.Exported, s.DiskFree, 2*s.MinFree, s.MinFree, s.DiskSize, s.AuditRecords)
	var b strings.Builder
	fmt.Fprintf(&b, "TESTIMONY %s - %s | %s\n", s.State, oneLine(summary), perf)
	if s.Study == "" {
		_, err := io.WriteString(w, b.String())
		return err
	}
	row := func(k, format string, args ...any) {
		fmt.Fprintf(&b, "%-22s %s\n", k+":", fmt.Sprintf(format, args...))
	}
	row("study", "%s", s.Study)
	if s.Serving {
		row("server", "serving (intake serve holds serve.lock)")
		row("tor", "%s", s.Tor)
	} else {
		row("server", "not serving")
	}
	pub := "not since the server started"
	switch {
	case s.Published:
		pub = "yes"
	case s.OnionByOperator:
		pub = "the operator's tor publishes it: intake cannot see it"
	}
	if s.LastPublished != "" {
		pub += ", last on " + s.LastPublished
	}
	row("onion service", "%s", pub)
	pending := fmt.Sprintf("%d envelopes, %s", s.Pending, humanSize(s.PendingBytes))
	if s.OldestPending != "" {
		pending += ", the oldest from " + s.OldestPending
	}
	row("pending export", "%s", pending)
	row("exported, not purged", "%d envelopes, %s", s.Exported, humanSize(s.ExportedBytes))
	row("last export", "%s", orNever(s.LastExport))
	row("last backup", "%s", orNever(s.LastBackup))
	reserve := "reserve in place"
	if !s.Reserve {
		reserve = "no reserve"
	}
	row("data disk", "%s free of %s, watermark %s, %s", humanSize(s.DiskFree), humanSize(s.DiskSize), humanSize(s.MinFree), reserve)
	row("audit log", "%d records, %s", s.AuditRecords, humanSize(s.AuditBytes))
	state := []string{}
	if s.ExportRunning {
		state = append(state, "an export or purge is running")
	}
	if s.InterruptedExports > 0 {
		state = append(state, fmt.Sprintf("%d interrupted export(s)", s.InterruptedExports))
	}
	if s.PurgeInterrupted {
		state = append(state, "an interrupted purge")
	}
	if s.Unconfirmed {
		state = append(state, "unconfirmed audit records of a crashed server")
	}
	if len(state) > 0 {
		row("in progress", "%s", strings.Join(state, "; "))
	}
	fmt.Fprintf(&b, "Counts are of envelopes and records from before %s (UTC): the status tells nothing finer than the day.\n", s.Day)
	for _, p := range s.Problems {
		fmt.Fprintf(&b, "%s\n", oneLine(p))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func threshold(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func orNever(day string) string {
	if day == "" {
		return "never"
	}
	return day
}

// oneLine keeps a problem on one line, for monitoring plugins.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// WritePrometheus writes the status in the Prometheus text format, for
// node_exporter's textfile collector: gauges only, no timestamps, no
// labels. Days are given as the Unix time of their midnight UTC.
func (s *Status) WritePrometheus(w io.Writer) error {
	var b strings.Builder
	gauge := func(name, help string, v any) {
		fmt.Fprintf(&b, "# HELP testimony_%s %s\n# TYPE testimony_%s gauge\ntestimony_%s %v\n", name, help, name, name, v)
	}
	bit := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	day := func(name, help, d string) {
		if t, err := time.Parse(time.DateOnly, d); err == nil {
			gauge(name, help, t.Unix())
		}
	}
	gauge("status", "Health of the intake server, as monitoring plugins exit: 0 OK, 1 warning, 2 critical, 3 unknown.", int(s.Level))
	if s.Study == "" {
		_, err := io.WriteString(w, b.String())
		return err
	}
	gauge("serving", "Whether an intake serve holds the data directory.", bit(s.Serving))
	gauge("tor_running", "Whether the tor intake serve started is running (0 also when the server uses another tor).", bit(s.Tor == "running"))
	gauge("onion_published", "Whether the onion service was published since the server started.", bit(s.Published))
	gauge("onion_by_operator", "Whether the server serves a tor of the operator's, which publishes the onion service where intake cannot see it (onion_published is then 0).", bit(s.OnionByOperator))
	gauge("envelopes_pending", "Envelopes waiting for export that arrived before today (UTC).", s.Pending)
	gauge("envelopes_pending_bytes", "Size of the envelopes waiting for export that arrived before today (UTC).", s.PendingBytes)
	day("envelopes_pending_oldest_day_timestamp_seconds", "Midnight UTC of the day the oldest envelope waiting for export arrived.", s.OldestPending)
	gauge("envelopes_exported_unpurged", "Exported envelopes not yet purged that arrived before today (UTC).", s.Exported)
	gauge("envelopes_exported_unpurged_bytes", "Size of the exported envelopes not yet purged that arrived before today (UTC).", s.ExportedBytes)
	gauge("export_running", "Whether an export or purge is running.", bit(s.ExportRunning))
	gauge("exports_interrupted", "Exports interrupted before they committed, to be rolled back.", s.InterruptedExports)
	gauge("purge_interrupted", "Whether a purge was interrupted, to be completed.", bit(s.PurgeInterrupted))
	gauge("store_unconfirmed", "Whether a crashed server left envelopes whose audit records must be recovered.", bit(s.Unconfirmed))
	gauge("disk_size_bytes", "Size of the data disk.", s.DiskSize)
	gauge("disk_free_bytes", "Free space on the data disk, rounded down to a hundredth of the disk.", s.DiskFree)
	gauge("disk_min_free_bytes", "The low-disk watermark: submissions are refused below it.", s.MinFree)
	gauge("disk_reserve_present", "Whether the reserve file for exports and purges on a full disk is in place.", bit(s.Reserve))
	day("last_published_day_timestamp_seconds", "Midnight UTC of the day the onion service was last published.", s.LastPublished)
	day("last_export_day_timestamp_seconds", "Midnight UTC of the day of the last export.", s.LastExport)
	day("last_backup_day_timestamp_seconds", "Midnight UTC of the day of the last backup.", s.LastBackup)
	gauge("audit_records", "Records of the audit log from before today (UTC).", s.AuditRecords)
	gauge("audit_records_bytes", "Size of the records of the audit log from before today (UTC).", s.AuditBytes)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTextfile writes the status in the Prometheus text format to path,
// atomically (a temporary file in the same folder, whose name
// node_exporter ignores, synced and renamed), readable by the collector
// (0644), with the times of midnight UTC.
func (s *Status) WriteTextfile(path string, now time.Time) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".testimony-status-*.tmp")
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = s.WritePrometheus(tmp)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	midnight := midnightOf(now)
	os.Chtimes(tmp.Name(), midnight, midnight)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}
