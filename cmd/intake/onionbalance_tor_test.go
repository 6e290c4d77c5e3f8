package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/testimony-project/testimony/internal/clitest"
	"github.com/testimony-project/testimony/internal/tornet"
	"github.com/testimony-project/testimony/onion"
	"golang.org/x/net/proxy"
)

// onionbalanceTestEnv enables TestOnionbalanceOverTor, which takes a few
// minutes and a private Tor network of its own: `make test-onionbalance`
// (run by `make test`) sets it.
const onionbalanceTestEnv = "TESTIMONY_TEST_ONIONBALANCE"

// onionbalanceKeepEnv keeps the test's directory, with the log of every
// tor and of onionbalance, for a look after a failure.
const onionbalanceKeepEnv = "TESTIMONY_KEEP"

// TestOnionbalanceOverTor runs a study on two servers behind one onion
// address, with real tor, real onionbalance and the real intake, researcher
// and auditor binaries, on a private Tor network with the 7 HSDirs and 20 s
// voting Onionbalance's testnet mode needs:
//
//   - backend 1 is `intake serve --onionbalance-frontend` (its own tor, the
//     service published from a torrc HiddenServiceDir);
//   - backend 2 is `intake serve --external-tor` behind a tor the test
//     starts as an operator would start Debian's, with `intake torrc`'s lines;
//   - the frontend is Debian's onionbalance with the key and config.yaml of
//     `intake onionbalance-config`, and a tor of its own.
//
// Submissions through the frontend's address, each on new circuits, reach
// both backends; after SIGTERM to backend 1 the frontend's address still
// answers (the time it takes is the failover time the README quotes);
// batches exported from both decrypt into one workspace with every
// testimony exactly once; `auditor reconcile` over both servers passes.
func TestOnionbalanceOverTor(t *testing.T) {
	if os.Getenv(onionbalanceTestEnv) == "" {
		t.Skipf("takes minutes and a Tor network of its own: run make test-onionbalance (or set %s=1)", onionbalanceTestEnv)
	}
	for _, p := range []string{"tor", "tor-gencert", "onionbalance", "go"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is not installed: run scripts/deps (apt-get install tor onionbalance): %v", p, err)
		}
	}
	begin := time.Now()
	// Registered first, so it runs last: a CI log's tail shows it.
	tr := &trail{t: t}
	t.Cleanup(tr.report)
	bin := buildBinaries(t)
	dir, err := os.MkdirTemp("", "ob-") // short: socket paths must fit 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv(onionbalanceKeepEnv) != "" {
			t.Logf("kept %s", dir)
			return
		}
		os.RemoveAll(dir)
	})

	netw, err := tornet.Start(t.Context(), tornet.OnionbalanceOptions(tornet.Options{Dir: filepath.Join(dir, "net"), Logf: t.Logf}))
	if err != nil {
		t.Fatalf("private Tor network: %v", err)
	}
	t.Cleanup(func() { netw.Close() })
	if netw.HSDirs() < 5 || netw.VotingInterval() != 20*time.Second {
		t.Fatalf("network has %d HSDirs, voting every %v: not what onionbalance --is-testnet needs", netw.HSDirs(), netw.VotingInterval())
	}
	networkReady := time.Since(begin)
	tr.logf("private Tor network ready after %.1f s: %d HSDirs", networkReady.Seconds(), netw.HSDirs())
	netTorrc := filepath.Join(dir, "network.torrc")
	os.WriteFile(netTorrc, []byte(strings.Join(netw.TorrcLines(), "\n")+"\n"), 0o600)

	// The researcher's key and the study.
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("a passphrase for this test and nothing else\n"), 0o600)
	keyFile := filepath.Join(dir, "researcher.key")
	out := mustRun(t, bin, "researcher", "keygen", "--out", keyFile, "--passphrase-file", pass)
	pub := regexp.MustCompile(`testimony-pub-[a-z2-7]+`).FindString(out)
	if pub == "" {
		t.Fatalf("keygen printed no public key:\n%s", out)
	}
	study := filepath.Join(dir, "study.yaml")
	os.WriteFile(study, []byte(storyStudyYAML("scale-out", pub)), 0o600)

	// The frontend's key, then the backends that name it.
	front := filepath.Join(dir, "front")
	out = mustRun(t, bin, "intake", "onionbalance-config", "--dir", front)
	frontAddr := regexp.MustCompile(`frontend address: ([a-z2-7]{56}\.onion)`).FindStringSubmatch(out)
	if frontAddr == nil {
		t.Fatalf("onionbalance-config printed no address:\n%s", out)
	}
	frontend := frontAddr[1]

	data1 := filepath.Join(dir, "data1")
	backend1, line := startProcess(t, "backend1", bin, "intake", "serve", "--config", study, "--data", data1,
		"--private-tor-network", netTorrc, "--onionbalance-frontend", frontend)
	addr1 := strings.TrimPrefix(strings.Fields(line)[2], "http://")
	if !strings.Contains(line, "backend of the Onionbalance frontend "+frontend) {
		t.Errorf("backend 1 says: %s", line)
	}
	if a, _ := onion.Address(filepath.Join(data1, "onion")); a != addr1 {
		t.Fatalf("backend 1 serves %s, its key is for %s", addr1, a)
	}

	// Backend 2: an operator's tor, as Debian's tor@default would run it,
	// configured with `intake torrc`, and intake with no tor at all.
	data2 := filepath.Join(dir, "data2")
	run2 := filepath.Join(dir, "run2")
	os.Mkdir(run2, 0o750)
	sock2 := filepath.Join(run2, "http.sock")
	hs2 := filepath.Join(dir, "tor2", "hs")
	os.MkdirAll(hs2, 0o700)
	// With HiddenServiceOnionbalanceInstance, tor needs the key before it
	// starts (an operator starts it once without, or copies a key in).
	addr2, err := onion.CreateKey(filepath.Join(hs2, "hs_ed25519_secret_key"))
	if err != nil {
		t.Fatal(err)
	}
	torrcOut := mustRun(t, bin, "intake", "torrc", "--socket", sock2, "--service-dir", hs2, "--onionbalance-frontend", frontend)
	obConfig := regexp.MustCompile(`(?m)^# (MasterOnionAddress \S+)$`).FindStringSubmatch(torrcOut)
	if obConfig == nil {
		t.Fatalf("intake torrc printed no ob_config line:\n%s", torrcOut)
	}
	os.WriteFile(filepath.Join(hs2, "ob_config"), []byte(obConfig[1]+"\n"), 0o600)
	_, line = startProcess(t, "backend2", bin, "intake", "serve", "--config", study, "--data", data2, "--external-tor", sock2)
	if !strings.HasPrefix(line, "serving on unix:"+sock2) {
		t.Fatalf("backend 2 says: %s", line)
	}
	startTor(t, filepath.Join(dir, "tor2"), append(netw.TorrcLines(), torrcOut))

	// The frontend: its tor, then onionbalance once that tor has a
	// consensus (onionbalance exits without one).
	ctrl := filepath.Join(dir, "front-tor", "control")
	frontTor := startTor(t, filepath.Join(dir, "front-tor"), append(netw.TorrcLines(), "ControlPort unix:"+ctrl, "CookieAuthentication 0"))
	waitLog(t, frontTor, "Bootstrapped 100%", 2*time.Minute)
	out = mustRun(t, bin, "intake", "onionbalance-config", "--dir", front, "--backend", addr1, "--backend", addr2)
	if !strings.Contains(out, "frontend address: "+frontend) {
		t.Fatalf("onionbalance-config changed the frontend:\n%s", out)
	}
	obStart := time.Now()
	obLog := filepath.Join(dir, "onionbalance.log")
	ob := exec.Command("onionbalance", "--is-testnet", "-v", "info", "-s", ctrl, "-c", filepath.Join(front, "config.yaml"))
	obOut, _ := os.Create(obLog)
	ob.Stdout, ob.Stderr = obOut, obOut
	ob.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := ob.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ob.Process.Kill()
		ob.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(obLog)
			t.Logf("onionbalance log (last lines):\n%s", lastLinesOf(b, 40))
		}
	})

	// onionbalance publishes as soon as it has one backend's descriptor; a
	// client keeps the descriptor it fetched for its lifetime. Wait for one
	// with both backends' introduction points, as people arriving later
	// would get.
	tr.logf("backends serving; onionbalance started")
	waitLog(t, obLog, "intros from 2 instances", 5*time.Minute)
	tr.logf("onionbalance published both backends' introduction points %.1f s after it started", time.Since(obStart).Seconds())

	// Submissions through the frontend, each on circuits of its own, until
	// both backends have some. A submission whose outcome is unknown (its
	// stream opened, then broke before the answer) may or may not be
	// stored: like a person, the test does not send it again, and counts
	// it as stored at most once.
	stories := map[string]int{}
	uncertain := map[string]bool{}
	submitted := 0
	firstAnswer := time.Duration(0)
	for attempts := 0; submitted < 40 && attempts < 60; attempts++ {
		s := fmt.Sprintf("through the frontend %d", attempts)
		if err := submitVia(netw, frontend, s, fmt.Sprint("before-", attempts)); err != nil {
			var u uncertainError
			if errors.As(err, &u) {
				tr.logf("submission %d: %v", attempts, err)
				uncertain[s] = true
				continue
			}
			if time.Since(obStart) > 5*time.Minute {
				tr.fatalf("the frontend %s does not take submissions 5 minutes after onionbalance started: %v", frontend, err)
			}
			time.Sleep(time.Second)
			continue
		}
		if firstAnswer == 0 {
			firstAnswer = time.Since(obStart)
		}
		stories[s] = 0
		submitted++
		n1, n2 := envelopesIn(t, data1), envelopesIn(t, data2)
		if submitted >= 6 && n1 > 0 && n2 > 0 {
			break
		}
		// On this network onionbalance counts a backend whose descriptor
		// it fetched more than 20 s ago as down, and may publish without
		// it for a while; a client keeps the descriptor it has while it
		// works. A person who comes back later has a new one: so does the
		// client, after New Identity.
		if submitted%8 == 0 {
			tr.logf("after %d submissions, backend 1 holds %d and backend 2 %d: New Identity", submitted, n1, n2)
			if err := netw.NewIdentity(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	n1, n2 := envelopesIn(t, data1), envelopesIn(t, data2)
	tr.logf("%d submissions through the frontend answered, %d of unknown outcome (answered %.1f s after onionbalance started): %d reached backend 1, %d backend 2",
		submitted, len(uncertain), firstAnswer.Seconds(), n1, n2)
	if n1 == 0 || n2 == 0 || n1+n2 < submitted || n1+n2 > submitted+len(uncertain) {
		tr.fatalf("after %d submissions through the frontend (and %d of unknown outcome), backend 1 holds %d and backend 2 %d envelopes: want some on each, %d to %d in all",
			submitted, len(uncertain), n1, n2, submitted, submitted+len(uncertain))
	}

	// The monitor: backend 1's tor is intake's and published the service;
	// backend 2's tor is the operator's, which publishes where intake
	// cannot see: status says so, and does not warn that nothing was
	// published (README says so). Both warn that no backup was made yet.
	if out, code := runStatus(t, bin, data1); code > 1 || !strings.Contains(out, "tor:                   running") || !strings.Contains(out, "onion service:         yes") {
		tr.errorf("intake status of backend 1: exit %d\n%s", code, out)
	}
	if out, code := runStatus(t, bin, data2); code > 1 || !strings.Contains(out, "tor:                   the operator's") ||
		!strings.Contains(out, "onion service:         the operator's tor publishes it") || strings.Contains(out, "not been published") {
		tr.errorf("intake status of backend 2 (--external-tor): exit %d\n%s", code, out)
	}

	// Failover: SIGTERM to backend 1 while people keep arriving through
	// the frontend, one every half second, each on circuits of its own (a
	// person whose Tor Browser fetched the frontend's descriptor before,
	// with the stopped backend's introduction points in it). An
	// introduction point that has not yet noticed that backend 1 is gone
	// accepts an introduction for it, and tor gives up on that rendezvous
	// only after about 12 s (once, in an earlier run, only at its 2-minute
	// SOCKS timeout); so visits in the first seconds may be slow or fail.
	// Every later one must be answered, at worst after one reload when
	// Tor itself failed (on this network introduction points last 10 to
	// 30 s, not a day, so a descriptor goes stale within a minute): an
	// answer other than 200 is never retried.
	type visit struct {
		at, took time.Duration
		reloaded error
		err      error
	}
	sigterm := time.Now()
	backend1.Process.Signal(syscall.SIGTERM)
	const visitors = 40
	visits := make(chan visit, visitors)
	for i := range visitors {
		go func() {
			time.Sleep(time.Until(sigterm.Add(time.Duration(i) * 500 * time.Millisecond)))
			start := time.Now()
			v := visit{at: start.Sub(sigterm)}
			isolation := fmt.Sprint("after-", i)
			v.err = fetchVia(netw, frontend, isolation)
			var s statusError
			if v.err != nil && !errors.As(v.err, &s) {
				v.reloaded, v.err = v.err, fetchVia(netw, frontend, isolation)
			}
			v.took = time.Since(start)
			visits <- v
		}()
	}
	var all []visit
	for range visitors {
		all = append(all, <-visits)
	}
	slices.SortFunc(all, func(a, b visit) int { return cmp.Compare(a.at, b.at) })
	const settle = 5 * time.Second
	failover, failed, reloads := time.Duration(-1), 0, 0
	var slowest, slowestEarly time.Duration
	for _, v := range all {
		if v.reloaded != nil {
			reloads++
			tr.logf("visit at +%.1f s: %v, after a reload (the first attempt: %v) in %.1f s", v.at.Seconds(), v.err, v.reloaded, v.took.Seconds())
		} else {
			t.Logf("visit at +%.1f s: %v in %.1f s", v.at.Seconds(), v.err, v.took.Seconds())
		}
		switch {
		case v.err != nil && v.at >= settle:
			tr.errorf("a visit %.1f s after backend 1 stopped failed: %v", v.at.Seconds(), v.err)
		case v.err != nil:
			failed++
			failover = -1
		case v.at < settle:
			slowestEarly = max(slowestEarly, v.took)
			if failover < 0 {
				failover = v.at
			}
		default:
			slowest = max(slowest, v.took)
			if failover < 0 {
				failover = v.at
			}
		}
	}
	tr.logf("after SIGTERM of backend 1: every visit from +%.1f s on answered; in the first %v %d failed and the slowest answer took %.1f s, later the slowest took %.1f s; %d of %d needed a reload",
		failover.Seconds(), settle, failed, slowestEarly.Seconds(), slowest.Seconds(), reloads, visitors)
	if err := backend1.Wait(); err != nil {
		tr.errorf("backend 1 after SIGTERM: %v", err)
	}
	after := 0
	for i := 0; after < 3 && i < 6; i++ {
		s := fmt.Sprintf("after the failover %d", i)
		err := submitVia(netw, frontend, s, fmt.Sprint("failover-", i))
		var u uncertainError
		switch {
		case errors.As(err, &u):
			tr.logf("submission after the failover: %v", err)
			uncertain[s] = true
		case err != nil:
			tr.fatalf("submission after the failover: %v", err)
		default:
			stories[s] = 0
			after++
		}
	}
	got, lo := envelopesIn(t, data2), n2+after
	if after < 3 || got < lo || got > lo+len(uncertain) {
		tr.fatalf("backend 2 holds %d envelopes after %d submissions answered after the failover: want %d to %d", got, after, lo, lo+len(uncertain))
	}

	// Each backend exports its own batches, signed by its own key.
	batches := filepath.Join(dir, "batches")
	os.Mkdir(batches, 0o700)
	var serverKeys, auditArgs []string
	for _, d := range []string{data1, data2} {
		mustRun(t, bin, "intake", "export", "--data", d, "--out", batches)
		serverKeys = append(serverKeys, "--server-key", strings.TrimSpace(mustRun(t, bin, "intake", "server-key", "--data", d)))
		auditArgs = append(auditArgs, "--server-log", filepath.Join(d, "audit"), "--server-key", strings.TrimSpace(mustRun(t, bin, "intake", "audit-key", "--data", d)))
	}
	files, _ := filepath.Glob(filepath.Join(batches, "*.tar"))
	if len(files) != 2 {
		t.Fatalf("%d batch files, want one from each backend", len(files))
	}

	// One workspace: every testimony exactly once.
	ws := filepath.Join(dir, "workspace")
	args := append([]string{"decrypt", "--key", keyFile, "--passphrase-file", pass, "--study", study, "--out", ws}, serverKeys...)
	mustRun(t, bin, "researcher", append(args, files...)...)
	jsonl, err := os.ReadFile(filepath.Join(ws, "testimonies.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// Each testimony once; one of unknown outcome once or not at all.
	for s := range uncertain {
		stories[s] = 0
	}
	for l := range strings.Lines(string(jsonl)) {
		for s := range stories {
			if strings.Contains(l, `"`+s+`"`) {
				stories[s]++
			}
		}
	}
	for s, n := range stories {
		if n != 1 && !(uncertain[s] && n == 0) {
			tr.errorf("testimony %q decrypted %d times, want once", s, n)
		}
	}

	// The auditor: every batch of both servers imported, nothing else.
	researcherKey := strings.TrimSpace(mustRun(t, bin, "researcher", "audit-key", "--workspace", ws))
	rec := mustRun(t, bin, "auditor", append(append([]string{"reconcile"}, auditArgs...),
		"--researcher-log", filepath.Join(ws, "audit"), "--researcher-key", researcherKey, "--exports", batches)...)
	if !strings.Contains(rec, "batches exported by the 2 servers: 2") || !strings.Contains(rec, "result: OK") {
		tr.fatalf("auditor reconcile:\n%s", rec)
	}

	tr.logf("network ready %.1f s; frontend answering %.1f s after onionbalance started; %.0f s in all",
		networkReady.Seconds(), firstAnswer.Seconds(), time.Since(begin).Seconds())
}

// buildBinaries builds intake, researcher and auditor, as make install
// would, into a temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin+"/", "./cmd/intake", "./cmd/researcher", "./cmd/auditor")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// mustRun runs a built command and returns its standard output.
func mustRun(t *testing.T, bin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// runStatus runs intake status on a data directory and returns what it
// printed and its exit code.
func runStatus(t *testing.T, bin, data string) (string, int) {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "intake"), "status", "--data", data).Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatal(err)
	return "", 0
}

// startProcess starts a built command that serves, and returns it with the
// first line it prints ("serving on …"), once it has printed it.
func startProcess(t *testing.T, what, bin, name string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr clitest.Buffer
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", what, lastLinesOf([]byte(stderr.String()), 20))
		}
	})
	return cmd, startServing(t, cmd, &stderr, what, 4*time.Minute)
}

// startTor starts a tor with the given torrc lines in dir, which holds its
// data and its log (notice.log), and returns the log's path.
func startTor(t *testing.T, dir string, lines []string) string {
	t.Helper()
	os.MkdirAll(dir, 0o700)
	logFile := filepath.Join(dir, "notice.log")
	torrc := filepath.Join(dir, "torrc")
	lines = append(lines, "DataDirectory "+filepath.Join(dir, "data"), "SocksPort 0", "SafeLogging 1", "Log notice file "+logFile)
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(torrc+"-defaults", nil, 0o600)
	cmd := exec.Command("tor", "-f", torrc, "--defaults-torrc", torrc+"-defaults")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out clitest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	time.Sleep(time.Second)
	select {
	case <-exited:
		t.Fatalf("tor in %s exited: %s", dir, out.String())
	default:
	}
	return logFile
}

func waitLog(t *testing.T, path, want string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(200 * time.Millisecond) {
		if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(want)) {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(path)
			t.Fatalf("no %q in %s after %v:\n%s", want, path, d, lastLinesOf(b, 10))
		}
	}
}

// clientVia returns an HTTP client whose connections go through the
// network's client tor on circuits of their own (tor isolates streams by
// SOCKS credentials), as a new visitor's would. It sets *opened once tor
// has opened a stream to the service: from then on a request may have
// reached it.
func clientVia(n *tornet.Network, isolation string, opened *atomic.Bool) *http.Client {
	d, _ := proxy.SOCKS5("tcp", n.SocksAddr(), &proxy.Auth{User: isolation, Password: "x"}, proxy.Direct)
	dial := d.(proxy.ContextDialer).DialContext
	return &http.Client{Timeout: 150 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err == nil {
				opened.Store(true)
			}
			return c, err
		},
		DisableKeepAlives: true,
	}}
}

// statusError is an answer from the service other than 200 OK.
type statusError struct{ status, body string }

func (e statusError) Error() string { return fmt.Sprintf("status %s\n%s", e.status, e.body) }

// uncertainError is a request that failed after tor opened its stream to
// the service: the service may have acted on it.
type uncertainError struct{ err error }

func (e uncertainError) Error() string {
	return fmt.Sprintf("failed after the stream to the service opened (outcome unknown): %v", e.err)
}

// do sends a request through tor on circuits of their own, as a person's
// Tor Browser would, and reads the answer. A request that failed before
// tor opened a stream to the service (no circuit, no introduction, no
// rendezvous) never reached it: that error is returned as it is; one that
// failed later is an uncertainError.
func do(n *tornet.Network, isolation string, req func(*http.Client) (*http.Response, error)) error {
	var opened atomic.Bool
	resp, err := req(clientVia(n, isolation, &opened))
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			return statusError{resp.Status, string(body)}
		}
	}
	if err != nil && opened.Load() {
		return uncertainError{err}
	}
	return err
}

// fetchVia fetches the landing page.
func fetchVia(n *tornet.Network, addr, isolation string) error {
	return do(n, isolation, func(c *http.Client) (*http.Response, error) { return c.Get("http://" + addr + "/") })
}

// submitVia sends a testimony through the form (the path without
// JavaScript), on new circuits up to 3 times while none reached the
// service, as a person would try again. An answer other than 200 is
// returned as a statusError; a failure once the service may have the
// testimony, as an uncertainError, and never sent again.
func submitVia(n *tornet.Network, addr, story, isolation string) error {
	var err error
	for attempt := range 3 {
		err = do(n, fmt.Sprint(isolation, "-", attempt), func(c *http.Client) (*http.Response, error) {
			return c.PostForm("http://"+addr+"/submit", url.Values{"lang": {"en"}, "q.consent": {"yes"}, "q.story": {story}})
		})
		var s statusError
		var u uncertainError
		if err == nil || errors.As(err, &s) || errors.As(err, &u) {
			if err != nil {
				err = fmt.Errorf("submission %q: %w", story, err)
			}
			return err
		}
		time.Sleep(time.Second)
	}
	return err
}

// trail keeps what TestOnionbalanceOverTor saw over the Tor network, and
// its failures, and logs them again at the very end if the test failed,
// where the tail of a CI log shows them.
type trail struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (tr *trail) add(line string) {
	tr.mu.Lock()
	tr.lines = append(tr.lines, line)
	tr.mu.Unlock()
}

func (tr *trail) logf(format string, args ...any) {
	tr.t.Helper()
	tr.add(fmt.Sprintf(format, args...))
	tr.t.Logf(format, args...)
}

func (tr *trail) errorf(format string, args ...any) {
	tr.t.Helper()
	tr.add("FAILED: " + fmt.Sprintf(format, args...))
	tr.t.Errorf(format, args...)
}

func (tr *trail) fatalf(format string, args ...any) {
	tr.t.Helper()
	tr.add("FAILED: " + fmt.Sprintf(format, args...))
	tr.t.Fatalf(format, args...)
}

func (tr *trail) report() {
	if !tr.t.Failed() {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.t.Logf("what the test saw, in order:\n\t%s", strings.Join(tr.lines, "\n\t"))
}

// envelopesIn counts the envelopes a data directory holds, pending or
// exported.
func envelopesIn(t *testing.T, data string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(data, "store"), func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() && envelopePath.MatchString(p) {
			n++
		}
		return nil
	})
	return n
}

var envelopePath = regexp.MustCompile(`/(inbox|envelopes)/\d{4}-\d{2}-\d{2}/[a-z2-7]{26}$`)

func lastLinesOf(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
