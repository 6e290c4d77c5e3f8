package tornet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireTor skips in -short mode and fails, not skips, when tor is missing:
// these tests are the proof that the network works.
func requireTor(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a private Tor network; skipped with -short")
	}
	for _, p := range []string{"tor", "tor-gencert"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is not installed: install it (apt-get install -y tor) or run go test -short: %v", p, err)
		}
	}
}

func TestNetwork(t *testing.T) {
	requireTor(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	n, err := Start(ctx, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dir := n.Dir()

	if pids := n.PIDs(); len(pids) != numAuthorities+defaultRelays+1 {
		t.Errorf("got %d running tors, want %d", len(pids), numAuthorities+defaultRelays+1)
	}
	host, _, err := net.SplitHostPort(n.SocksAddr())
	if err != nil || host != "127.0.0.1" {
		t.Errorf("SocksAddr() = %q, want 127.0.0.1:PORT", n.SocksAddr())
	}
	if c, err := net.Dial("tcp", n.SocksAddr()); err != nil {
		t.Errorf("client SOCKS port not listening: %v", err)
	} else {
		c.Close()
	}
	auths := 0
	for _, l := range n.TorrcLines() {
		if strings.HasPrefix(l, "DirAuthority ") {
			auths++
			if !strings.Contains(l, " 127.0.0.1:") {
				t.Errorf("DirAuthority line not on loopback: %q", l)
			}
		}
	}
	if auths != numAuthorities || !slices.Contains(n.TorrcLines(), "TestingTorNetwork 1") {
		t.Errorf("TorrcLines() = %q, want TestingTorNetwork 1 and %d DirAuthority lines", n.TorrcLines(), numAuthorities)
	}

	// New Identity: tor confirms it has forgotten circuits and descriptors.
	nctx, ncancel := context.WithTimeout(t.Context(), 30*time.Second)
	if err := n.NewIdentity(nctx); err != nil {
		t.Errorf("NewIdentity: %v", err)
	}
	ncancel()

	// Another tor joins with the command-line arguments, a third with the
	// torrc lines; both must bootstrap from this network alone.
	t.Run("join", func(t *testing.T) {
		a := joinTor(t, "args", n.ExtraArgs(), nil)
		b := joinTor(t, "torrc", nil, n.TorrcLines())
		for _, j := range []*joiner{a, b} {
			if err := j.waitBootstrapped(90 * time.Second); err != nil {
				t.Error(err)
			}
		}
	})

	pids := n.PIDs()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("tor %d still running after Close", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary network directory not removed: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestStartDeadline checks that a Start cut short by its context leaves no
// tor running and keeps a directory it did not create.
func TestStartDeadline(t *testing.T) {
	requireTor(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
	defer cancel()
	n, err := Start(ctx, Options{Dir: dir})
	if err == nil {
		n.Close()
		t.Fatal("Start succeeded in 6 s; the test needs a deadline that cuts it short")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if left := torsUsing(t, dir); len(left) > 0 {
		t.Errorf("tors left running after a failed Start: %v", left)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("caller's directory not kept: %v", err)
	}
}

func TestBadDir(t *testing.T) {
	requireTor(t)
	_, err := Start(t.Context(), Options{Dir: filepath.Join(t.TempDir(), "with space")})
	if err == nil || !strings.Contains(err.Error(), "spaces") {
		t.Errorf("Start with a space in Dir: err = %v, want one naming the spaces", err)
	}
}

// BenchmarkStart measures how long the network takes to become usable and
// the memory of its tors once it is.
func BenchmarkStart(b *testing.B) {
	requireTor(b)
	var rss float64
	for b.Loop() {
		n, err := Start(b.Context(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		rss += float64(RSS(n.PIDs())) / (1 << 20)
		n.Close()
		b.StartTimer()
	}
	b.ReportMetric(rss/float64(b.N), "MiB-rss")
}

type joiner struct {
	name, log string
	done      chan struct{}
}

func joinTor(t *testing.T, name string, args, lines []string) *joiner {
	t.Helper()
	dir := t.TempDir()
	torrc := filepath.Join(dir, "torrc")
	lines = append(lines, "DataDirectory "+dir, "SocksPort 0", "Log notice file "+filepath.Join(dir, "notice.log"))
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tor", append([]string{"-f", torrc, "--defaults-torrc", torrc + "-defaults"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	j := &joiner{name: name, log: filepath.Join(dir, "notice.log"), done: make(chan struct{})}
	go func() { cmd.Wait(); close(j.done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-j.done })
	return j
}

func (j *joiner) waitBootstrapped(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(j.log)
		if bytes.Contains(b, []byte("Bootstrapped 100%")) {
			return nil
		}
		select {
		case <-j.done:
			return errors.New("joining tor (" + j.name + ") exited: " + lastLines(b, 3))
		case <-time.After(200 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(j.log)
	return errors.New("joining tor (" + j.name + ") not bootstrapped after " + d.String() + ": " + lastLines(b, 3))
}

// torsUsing returns the PIDs of processes whose command line mentions dir.
func torsUsing(t *testing.T, dir string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestOnionbalanceConfig checks, without starting tor, that the options
// Onionbalance needs make 7 HSDirs that are directory caches and a 20 s
// voting schedule, and that the default network keeps 3 HSDirs, relays
// that are not caches, and 10 s voting. (make test-onionbalance runs such a
// network for real.)
func TestOnionbalanceConfig(t *testing.T) {
	for _, tc := range []struct {
		opts            Options
		hsdirs, relays  int
		voting          string
		relaysAreCaches bool
	}{
		{Options{}, 3, 3, "10", false},
		{OnionbalanceOptions(Options{}), 7, 4, "20", true},
	} {
		tc.opts.Dir = t.TempDir()
		n, err := configure(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := n.layout()
		if err != nil {
			t.Fatal(err)
		}
		for i, nd := range nodes {
			nd.fingerprint = fmt.Sprintf("%040X", i+1)
			nd.v3ident = fmt.Sprintf("%040X", 100+i)
		}
		if err := n.writeConfig(nodes); err != nil {
			t.Fatal(err)
		}
		if n.HSDirs() != tc.hsdirs || len(nodes) != numAuthorities+tc.relays+1 {
			t.Errorf("%+v: %d HSDirs, %d nodes; want %d and %d", tc.opts, n.HSDirs(), len(nodes), tc.hsdirs, numAuthorities+tc.relays+1)
		}
		auth, _ := os.ReadFile(filepath.Join(n.dir, "auth0", "torrc"))
		var listed []string
		for l := range strings.Lines(string(auth)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "TestingDirAuthVoteHSDir "); ok {
				listed = strings.Split(v, ",")
			}
		}
		if len(listed) != tc.hsdirs {
			t.Errorf("%+v: authorities vote HSDir for %d relays, want %d", tc.opts, len(listed), tc.hsdirs)
		}
		for _, want := range []string{"V3AuthVotingInterval " + tc.voting + "\n", "TestingV3AuthInitialVotingInterval " + tc.voting + "\n"} {
			if !strings.Contains(string(auth), want) {
				t.Errorf("%+v: authority torrc lacks %q", tc.opts, want)
			}
		}
		relay, _ := os.ReadFile(filepath.Join(n.dir, "relay0", "torrc"))
		if cache := !strings.Contains(string(relay), "DirCache 0\n"); cache != tc.relaysAreCaches {
			t.Errorf("%+v: relays are directory caches: %v, want %v", tc.opts, cache, tc.relaysAreCaches)
		}
	}
	for _, bad := range []Options{{HSDirs: 2}, {HSDirs: 13}, {VotingInterval: 5 * time.Second}, {VotingInterval: 15500 * time.Millisecond}} {
		if _, err := Start(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "want") {
			t.Errorf("Start(%+v): err = %v", bad, err)
		}
	}
}
