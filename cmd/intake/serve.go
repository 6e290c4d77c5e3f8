package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/onion"
	"github.com/testimony-project/testimony/oplog"
)

type serveOptions struct {
	study, data, listen         string
	torControl, torCookie       string
	onionbalanceFrontend        string // --onionbalance-frontend
	externalTor                 string // --external-tor SOCKET
	noPoW                       bool
	powQueueRate, powQueueBurst int
	maxStreams                  int
	testNetwork                 string
	minFree                     sizeFlag
	limits                      intake.Limits
	uploadMiB                   int
	stopGrace                   time.Duration
	grace                       daysFlag // --accept-earlier-versions
}

// runServe serves until ctx is done: on the onion service by default, on a
// loopback address with --listen.
func runServe(ctx context.Context, o serveOptions, stdout, stderr io.Writer) error {
	if err := checkOnionOptions(o); err != nil {
		return err
	}
	if o.listen != "" {
		if err := checkLoopback(o.listen); err != nil {
			return err
		}
	}
	study, err := config.Load(o.study)
	if err != nil {
		return err
	}
	// Placeholder keys: every answer would be sealed to nobody; refused
	// before the data directory is opened.
	if err := study.CheckServable(); err != nil {
		return err
	}
	d, err := intake.OpenDataWith(o.data, storeOptions(o.minFree))
	if err != nil {
		return err
	}
	defer d.Close()
	// Behind a tor of the operator's, intake status must not wait for
	// intake to publish the service. (--listen is for development: there
	// status still says that nothing was published.)
	d.OnionByOperator = o.externalTor != ""
	log := oplog.New(stderr)
	limits := o.limits
	limits.UploadMemory = int64(o.uploadMiB) << 20
	// The limits bound what clients can make the server hold; the garbage
	// collector is told what the server may hold at the moment, so that it
	// collects before going beyond (unless the operator set GOMEMLIMIT).
	var memoryLimit func(int64)
	if os.Getenv("GOMEMLIMIT") == "" {
		memoryLimit = func(n int64) { debug.SetMemoryLimit(n) }
	}
	serving, err := d.StartServing(study, o.study, time.Duration(o.grace),
		intake.Config{Log: log, Limits: limits, MemoryLimit: memoryLimit}, time.Now())
	if err != nil {
		return err
	}
	defer func() { serving.Stop(time.Now()) }()
	srv, versions := serving.Server, serving.Versions
	hs := srv.HTTPServer()
	go serving.RunHourly(ctx)

	if o.listen != "" {
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %w", o.listen, err)
		}
		log.Addr(oplog.ListenerDevWarning, ln.Addr().String())
		fmt.Fprintf(stdout, "serving on http://%s (development only: not an onion service)\n", ln.Addr())
		describeVersions(stdout, study, versions.Earlier, time.Now())
		return serve(ctx, srv, hs, ln, o.stopGrace, log)
	}

	ln, closeOnion, err := publish(ctx, o, d, log, stdout)
	if err != nil {
		return err
	}
	defer closeOnion()
	describeVersions(stdout, study, versions.Earlier, time.Now())
	return serve(ctx, srv, hs, ln, o.stopGrace, log)
}

// publish makes the listener people reach through Tor: by default and as an
// Onionbalance backend, an onion service of a tor that intake starts and
// supervises; with --external-tor, only a socket for a tor of the
// operator's. The returned function stops what it started.
func publish(ctx context.Context, o serveOptions, d *intake.Data, log oplog.Logger, stdout io.Writer) (net.Listener, func(), error) {
	if o.externalTor != "" {
		ln, err := onion.ListenExternal(o.externalTor)
		if err != nil {
			return nil, nil, fmt.Errorf("--external-tor: %w", err)
		}
		fmt.Fprintf(stdout, "serving on unix:%s for the tor of the operator's torrc (the onion address is in its HiddenServiceDir/hostname)\n", o.externalTor)
		return ln, func() { ln.Close() }, nil
	}
	var extra []string
	if o.testNetwork != "" {
		var err error
		if extra, err = readTorrcLines(o.testNetwork); err != nil {
			return nil, nil, err
		}
	}
	svc, err := onion.Start(ctx, onion.Config{
		DataDir:              filepath.Join(o.data, "onion"),
		ControlAddr:          o.torControl,
		ControlCookie:        o.torCookie,
		PoWDisabled:          o.noPoW,
		PoWQueueRate:         o.powQueueRate,
		PoWQueueBurst:        o.powQueueBurst,
		MaxStreams:           o.maxStreams,
		OnionbalanceFrontend: o.onionbalanceFrontend,
		TestNetwork:          extra,
		Published:            func() { d.Record(audit.OnionPublished(time.Now())) },
		Logger:               log.Zerolog(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("failed to start the onion service: %w", err)
	}
	if o.onionbalanceFrontend != "" {
		front, _ := onion.ParseAddress(o.onionbalanceFrontend)
		fmt.Fprintf(stdout, "serving on http://%s as a backend of the Onionbalance frontend %s (give people the frontend's address)\n", svc.Address(), front)
	} else {
		fmt.Fprintf(stdout, "serving on http://%s\n", svc.Address())
	}
	return svc.Listener(), func() { svc.Close() }, nil
}

// checkOnionOptions refuses combinations of the options that say how the
// service reaches Tor that cannot work. With --external-tor, the options
// that configure a tor of intake's own belong in that tor's torrc.
func checkOnionOptions(o serveOptions) error {
	if o.onionbalanceFrontend != "" {
		if _, err := onion.ParseAddress(o.onionbalanceFrontend); err != nil {
			return fmt.Errorf("malformed --onionbalance-frontend: %w", err)
		}
		if o.listen != "" {
			return errors.New("--onionbalance-frontend makes an onion service, --listen serves on loopback: give one")
		}
		if o.torControl != "" && o.externalTor == "" {
			return errors.New("--onionbalance-frontend needs a tor of intake's own: tor supports Onionbalance only for services of its torrc; for a tor of yours, use --external-tor and put `intake torrc --onionbalance-frontend` lines in its torrc")
		}
	}
	if o.externalTor == "" {
		return nil
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"--listen", o.listen != ""},
		{"--tor-control", o.torControl != ""},
		{"--tor-cookie", o.torCookie != ""},
		{"--private-tor-network", o.testNetwork != ""},
		{"--onionbalance-frontend", o.onionbalanceFrontend != ""},
		{"--no-pow", o.noPoW},
		{"--pow-queue-rate", o.powQueueRate != 0},
		{"--pow-queue-burst", o.powQueueBurst != 0},
		{"--max-streams", o.maxStreams != 0},
	} {
		if f.set {
			if f.name == "--listen" {
				return errors.New("--external-tor serves on a socket for tor, --listen on loopback: give one")
			}
			return fmt.Errorf("%s has no effect with --external-tor: that tor's torrc decides it; `intake torrc` prints the lines to put there", f.name)
		}
	}
	return nil
}

// readTorrcLines reads "Key value" lines (blank lines and # comments
// skipped) as tor command-line arguments.
func readTorrcLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read --private-tor-network: %w", err)
	}
	defer f.Close()
	var args []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("%s line %d: want \"Key value\", got %q", path, n, line)
		}
		args = append(args, "--"+k, strings.TrimSpace(v))
	}
	return args, sc.Err()
}

// describeVersions tells the operator which versions of the study are
// served: the current one, and the earlier ones whose answers are still
// accepted, until which day.
func describeVersions(w io.Writer, study *config.Study, earlier []intake.EarlierVersion, now time.Time) {
	fmt.Fprintf(w, "study %s, version %s\n", study.ID, study.ShortVersion())
	retired := 0
	for _, e := range earlier {
		if !now.Before(e.Until) {
			retired++
			continue
		}
		fmt.Fprintf(w, "also accepting answers to version %s until %s (UTC)\n", e.Study.ShortVersion(), e.Until.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	if retired > 0 {
		fmt.Fprintf(w, "earlier versions no longer accepted: %d (their answers are carried to this version)\n", retired)
	}
}

// daysFlag is a duration of whole days: 14d, 0, or a Go duration such as
// 336h. Nothing finer than the day is kept about when a version was
// served.
type daysFlag time.Duration

func (f *daysFlag) String() string {
	return fmt.Sprintf("%dd", time.Duration(*f)/(24*time.Hour))
}

func (f *daysFlag) Type() string { return "DURATION" }

func (f *daysFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 3650 {
			return fmt.Errorf("want a number of days from 0 to 3650, such as 14d")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 0 {
			return fmt.Errorf("want whole days, such as 14d")
		}
	}
	if d%(24*time.Hour) != 0 || d > 3650*24*time.Hour {
		return fmt.Errorf("want whole days from 0 to 3650, such as 14d: versions are known to the day only")
	}
	*f = daysFlag(d)
	return nil
}
