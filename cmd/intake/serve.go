package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
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
	noPoW                       bool
	powQueueRate, powQueueBurst int
	maxStreams                  int
	testNetwork                 string
	minFree                     sizeFlag
	limits                      intake.Limits
	uploadMiB                   int
	stopGrace                   time.Duration
}

// runServe serves until ctx is done: on the onion service by default, on a
// loopback address with --listen.
func runServe(ctx context.Context, o serveOptions, stdout, stderr io.Writer) error {
	if o.listen != "" {
		if err := checkLoopback(o.listen); err != nil {
			return err
		}
	}
	study, err := config.Load(o.study)
	if err != nil {
		return err
	}
	d, err := intake.OpenDataWith(o.data, storeOptions(o.minFree))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.LockServe(); err != nil {
		return err
	}
	if err := d.BindStudy(study.ID); err != nil {
		return err
	}
	if err := d.SaveVersionFile(o.study, study.SHA256); err != nil {
		return err
	}
	log := oplog.New(stderr)
	if err := d.Record(audit.ServiceStarted(study.SHA256, time.Now())); err != nil {
		return err
	}
	defer func() {
		now := time.Now()
		d.Record(audit.ServiceStopped(now))
		if l, err := d.Audit(); err == nil {
			l.Checkpoint(now, false)
		}
	}()
	limits := o.limits
	limits.UploadMemory = int64(o.uploadMiB) << 20
	srv, err := intake.New(intake.Config{
		Study: study, Store: d.Store, Log: log, Limits: limits,
		Stored: func(sum [32]byte, day time.Time) error { return d.Record(audit.SubmissionStored(sum, day)) },
	})
	if err != nil {
		return err
	}
	// The limits bound what clients can make the server hold; the garbage
	// collector is told, so that it collects before going beyond (unless
	// the operator set GOMEMLIMIT).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(srv.MemoryBound())
	}
	hs := srv.HTTPServer()
	go dailyCheckpoints(ctx, d)

	if o.listen != "" {
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %w", o.listen, err)
		}
		log.Addr(oplog.ListenerDevWarning, ln.Addr().String())
		fmt.Fprintf(stdout, "serving on http://%s (development only: not an onion service)\n", ln.Addr())
		return serve(ctx, srv, hs, ln, o.stopGrace, log)
	}

	var extra []string
	if o.testNetwork != "" {
		if extra, err = readTorrcLines(o.testNetwork); err != nil {
			return err
		}
	}
	svc, err := onion.Start(ctx, onion.Config{
		DataDir:       filepath.Join(o.data, "onion"),
		ControlAddr:   o.torControl,
		ControlCookie: o.torCookie,
		PoWDisabled:   o.noPoW,
		PoWQueueRate:  o.powQueueRate,
		PoWQueueBurst: o.powQueueBurst,
		MaxStreams:    o.maxStreams,
		TestNetwork:   extra,
		Published:     func() { d.Record(audit.OnionPublished(time.Now())) },
		Logger:        log.Zerolog(),
	})
	if err != nil {
		return fmt.Errorf("failed to start the onion service: %w", err)
	}
	defer svc.Close()
	fmt.Fprintf(stdout, "serving on http://%s\n", svc.Address())
	return serve(ctx, srv, hs, svc.Listener(), o.stopGrace, log)
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

// dailyCheckpoints asks the audit log every hour to sign a checkpoint; it
// signs at most one a day, so signatures do not reveal when single
// submissions arrived.
func dailyCheckpoints(ctx context.Context, d *intake.Data) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if l, err := d.Audit(); err == nil {
				l.Checkpoint(now, false)
			}
		}
	}
}
