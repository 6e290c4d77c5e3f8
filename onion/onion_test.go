package onion

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
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

	"github.com/rs/zerolog"
	"golang.org/x/net/proxy"

	"github.com/testimony-project/testimony/internal/tornet"
)

// One private Tor network serves every test of the package; it starts with
// the first test that needs it.
var (
	netOnce sync.Once
	testNet *tornet.Network
	netErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Tor logs the proof-of-work set-up only at info level.
	testTorrc = func(torDir string) []string {
		return []string{"Log info file " + filepath.Join(torDir, "info.log")}
	}
	code := m.Run()
	if testNet != nil {
		testNet.Close()
	}
	os.Exit(code)
}

// network returns the shared private network. It skips in -short mode and
// fails, not skips, when tor is missing.
func network(t testing.TB) *tornet.Network {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a private Tor network; skipped with -short")
	}
	if _, err := exec.LookPath("tor"); err != nil {
		t.Fatalf("tor is not installed: install it (apt-get install -y tor) or run go test -short: %v", err)
	}
	netOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		testNet, netErr = tornet.Start(ctx, tornet.Options{})
	})
	if netErr != nil {
		t.Fatalf("failed to start private Tor network: %v", netErr)
	}
	return testNet
}

// logBuffer collects a Service's log for inspection.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// served is a Service with an HTTP server on it that answers every request
// with token.
type served struct {
	*Service
	token    string
	serveErr chan error
	log      *logBuffer
}

// shortDir returns a fresh directory with a path short enough for a Unix
// socket (t.TempDir paths can exceed 107 bytes).
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "onion-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func serve(t testing.TB, c Config) *served {
	t.Helper()
	n := network(t)
	c.TestNetwork = n.ExtraArgs()
	lb := &logBuffer{}
	c.Logger = zerolog.New(lb)
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 2 * time.Minute
	}
	s, err := Start(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	tok := make([]byte, 8)
	rand.Read(tok)
	sv := &served{Service: s, token: hex.EncodeToString(tok), serveErr: make(chan error, 1), log: lb}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sv.token)
	})}
	go func() { sv.serveErr <- srv.Serve(s.Listener()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkLog(t, lb.String())
		if t.Failed() {
			torLog, _ := os.ReadFile(filepath.Join(c.DataDir, "tor", "notice.log"))
			clientLog, _ := os.ReadFile(filepath.Join(testNet.Dir(), "client0", "notice.log"))
			t.Logf("service log:\n%s\ntor log:\n%s\nclient log:\n%s", lb.String(), torLog, clientLog)
		}
	})
	return sv
}

// get fetches http://ADDRESS/ through the network's client until it
// succeeds or d passes. Errors such as SOCKS 0xF0 (descriptor not found yet)
// are expected for a while after publication or a restart. Each attempt uses
// new SOCKS credentials, so tor builds it new circuits (IsolateSOCKSAuth)
// instead of queueing it behind a stalled rendezvous.
func get(t testing.TB, addr string, d time.Duration) string {
	t.Helper()
	socks := network(t).SocksAddr()
	deadline := time.Now().Add(d)
	for attempt := 0; ; attempt++ {
		dialer, err := proxy.SOCKS5("tcp", socks, &proxy.Auth{User: fmt.Sprintf("attempt%d", attempt), Password: "x"}, proxy.Direct)
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{
			Transport: &http.Transport{
				DialContext:       dialer.(proxy.ContextDialer).DialContext,
				DisableKeepAlives: true,
			},
			Timeout: 20 * time.Second,
		}
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("status %s, read error %v", resp.Status, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within %v: %v", addr, d, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

var ipPattern = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)

// checkLog asserts the log carries no IP address and only known events.
func checkLog(t testing.TB, log string) {
	t.Helper()
	if ip := ipPattern.FindString(log); ip != "" {
		t.Errorf("service log contains an IP address %q:\n%s", ip, log)
	}
	known := []string{"tor starting", "tor bootstrap", "onion service published", "onion descriptor upload failed",
		"tor lost, restarting", "tor restart failed", "tor stopped", "onion service stopped"}
	for line := range strings.Lines(log) {
		ok := false
		for _, k := range known {
			if strings.Contains(line, `"message":"`+k+`"`) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("unknown log event: %s", line)
		}
	}
}

func TestServe(t *testing.T) {
	network(t)
	t.Run("pow-on", func(t *testing.T) {
		t.Parallel()
		dir := shortDir(t)
		s := serve(t, Config{DataDir: dir})
		checkServed(t, s, dir)
		if got := get(t, s.Address(), 2*time.Minute); got != s.token {
			t.Fatalf("got %q, want %q", got, s.token)
		}
		if torLog, _ := os.ReadFile(filepath.Join(dir, "tor", "info.log")); !bytes.Contains(torLog, []byte("Generating both PoW seeds")) {
			t.Error("tor did not set up the proof-of-work defence (no \"Generating both PoW seeds\" in its info log)")
		}
	})
	t.Run("pow-off", func(t *testing.T) {
		t.Parallel()
		dir := shortDir(t)
		s := serve(t, Config{DataDir: dir, PoWDisabled: true, MaxStreams: 8})
		if got := get(t, s.Address(), 2*time.Minute); got != s.token {
			t.Fatalf("got %q, want %q", got, s.token)
		}
		if torLog, _ := os.ReadFile(filepath.Join(dir, "tor", "info.log")); bytes.Contains(torLog, []byte("PoW seeds")) {
			t.Error("tor set up the proof-of-work defence with PoWDisabled")
		}
	})
	t.Run("control-port", func(t *testing.T) {
		t.Parallel()
		testControlAddr(t)
	})
}

// checkServed checks the files and listener a started Service promises.
func checkServed(t *testing.T, s *served, dir string) {
	t.Helper()
	addr, err := Address(dir)
	if err != nil || addr != s.Address() {
		t.Errorf("Address(dir) = %q, %v; Service.Address() = %q", addr, err, s.Address())
	}
	if !regexp.MustCompile(`^[a-z2-7]{56}\.onion$`).MatchString(s.Address()) {
		t.Errorf("Address() = %q, want a v3 onion address", s.Address())
	}
	if n := s.Listener().Addr().Network(); n != "unix" {
		t.Errorf("listener network = %q, want unix", n)
	}
	for path, want := range map[string]fs.FileMode{
		dir:                             0o700,
		filepath.Join(dir, keyFileName): 0o600,
		filepath.Join(dir, "tor"):       0o700,
		filepath.Join(dir, socketName):  0o600,
	} {
		if fi, err := os.Stat(path); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
	torrc, err := os.ReadFile(filepath.Join(dir, "tor", "torrc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SocksPort 0", "SafeLogging 1", "Log notice file "} {
		if !bytes.Contains(torrc, []byte(want)) {
			t.Errorf("torrc lacks %q:\n%s", want, torrc)
		}
	}
	if pid := s.TorPID(); pid == 0 {
		t.Error("TorPID() = 0 for a tor of our own")
	} else if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !bytes.Contains(cmdline, []byte(dir)) {
		t.Errorf("TorPID() = %d is not our tor: %q", pid, cmdline)
	}
}

// TestRestartSameAddress checks that a Service started again on the same
// directory serves the same address.
func TestRestartSameAddress(t *testing.T) {
	network(t)
	t.Parallel()
	dir := shortDir(t)
	first, err := Start(t.Context(), Config{DataDir: dir, TestNetwork: network(t).ExtraArgs()})
	if err != nil {
		t.Fatal(err)
	}
	addr := first.Address()
	pid := first.TorPID()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("tor %d still running after Close", pid)
	}
	if _, err := os.Stat(filepath.Join(dir, socketName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s := serve(t, Config{DataDir: dir})
	if s.Address() != addr {
		t.Fatalf("address changed across restart: %s, then %s", addr, s.Address())
	}
	if got := get(t, s.Address(), 2*time.Minute); got != s.token {
		t.Fatalf("got %q, want %q", got, s.token)
	}
}

// TestTorKilled checks that the Service recovers from its tor dying: a new
// tor republishes the same address on the same socket, and the HTTP server
// keeps running.
func TestTorKilled(t *testing.T) {
	network(t)
	t.Parallel()
	var published atomic.Int32
	s := serve(t, Config{DataDir: shortDir(t), Published: func() { published.Add(1) }})
	if got := get(t, s.Address(), 2*time.Minute); got != s.token {
		t.Fatalf("got %q, want %q", got, s.token)
	}
	if n := published.Load(); n != 1 {
		t.Fatalf("Published called %d times by Start, want 1", n)
	}
	ln := s.Listener()
	old := s.TorPID()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A client that asks while the service is down may be refused for a
	// while (tor does not re-ask the same directory within minutes), so wait
	// for the republication, as a visitor arriving after the crash would.
	killed := time.Now()
	for published.Load() < 2 {
		if time.Since(killed) > 2*time.Minute {
			t.Fatalf("not republished within 2 minutes of killing tor %d", old)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := published.Load(); n != 2 {
		t.Errorf("Published called %d times after the restart, want 2 (the audit log records each)", n)
	}
	if pid := s.TorPID(); pid == 0 || pid == old {
		t.Errorf("TorPID() = %d after the restart, want a new tor (old %d)", pid, old)
	}
	if err := syscall.Kill(old, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("killed tor %d not reaped: %v", old, err)
	}
	t.Logf("republished %v after the kill", time.Since(killed).Round(time.Millisecond))
	if got := get(t, s.Address(), 2*time.Minute); got != s.token {
		t.Fatalf("after restart got %q, want %q", got, s.token)
	}
	t.Logf("answering again %v after the kill", time.Since(killed).Round(time.Millisecond))
	if s.Listener() != ln {
		t.Error("listener replaced across a tor restart")
	}
	select {
	case err := <-s.serveErr:
		t.Errorf("HTTP server stopped during the tor restart: %v", err)
	default:
	}
	if !strings.Contains(s.log.String(), "tor lost, restarting") {
		t.Errorf("restart not logged:\n%s", s.log.String())
	}
}

// testControlAddr runs a tor of its own with a control port and cookie,
// and checks that a Service added to it serves, and that Close removes the
// service but leaves that tor running.
func testControlAddr(t *testing.T) {
	n := network(t)
	torDir := shortDir(t)
	torrc := filepath.Join(torDir, "torrc")
	portFile := filepath.Join(torDir, "control-port")
	lines := append(n.TorrcLines(),
		"DataDirectory "+torDir,
		"SocksPort 0",
		"ControlPort 127.0.0.1:auto",
		"ControlPortWriteToFile "+portFile,
		"CookieAuthentication 1",
		"Log notice file "+filepath.Join(torDir, "notice.log"))
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tor", "-f", torrc, "--defaults-torrc", torrc+"-none")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	var ctrlAddr string
	for deadline := time.Now().Add(30 * time.Second); ctrlAddr == ""; time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(portFile)
		if a, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "PORT="); ok {
			ctrlAddr = a
		} else if time.Now().After(deadline) {
			t.Fatal("tor wrote no control port file")
		}
	}

	dir := shortDir(t)
	s := serve(t, Config{DataDir: dir, ControlAddr: ctrlAddr, ControlCookie: filepath.Join(torDir, "control_auth_cookie")})
	if pid := s.TorPID(); pid != 0 {
		t.Errorf("TorPID() = %d with ControlAddr, want 0", pid)
	}
	if got := get(t, s.Address(), 2*time.Minute); got != s.token {
		t.Fatalf("got %q, want %q", got, s.token)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		t.Error("Close stopped the tor it did not start")
	case <-time.After(time.Second):
	}

	// A wrong cookie is refused before anything is revealed.
	wrong := filepath.Join(dir, "wrong-cookie")
	os.WriteFile(wrong, make([]byte, 32), 0o600)
	_, err := Start(t.Context(), Config{DataDir: dir, ControlAddr: ctrlAddr, ControlCookie: wrong})
	if err == nil || !strings.Contains(err.Error(), "does not know the cookie") {
		t.Errorf("Start with a wrong cookie: err = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	private := shortDir(t)
	open := shortDir(t)
	os.Chmod(open, 0o755)
	long := "/tmp/" + strings.Repeat("x", 100)
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no data dir", Config{}, "Config.DataDir"},
		{"space", Config{DataDir: "/tmp/a b"}, "space"},
		{"too long", Config{DataDir: long}, "too long"},
		{"not loopback", Config{DataDir: private, ControlAddr: "10.0.0.1:9051"}, "127.0.0.1:PORT"},
		{"no port", Config{DataDir: private, ControlAddr: "127.0.0.1"}, "127.0.0.1:PORT"},
		{"cookie alone", Config{DataDir: private, ControlCookie: "/x", TorPath: "/bin/true"}, "control address"},
		{"negative pow", Config{DataDir: private, ControlAddr: "127.0.0.1:1", PoWQueueRate: -1}, "negative"},
		{"max streams", Config{DataDir: private, ControlAddr: "127.0.0.1:1", MaxStreams: 70000}, "out of range"},
		{"open dir", Config{DataDir: open, ControlAddr: "127.0.0.1:1"}, "chmod 700"},
		{"no tor", Config{DataDir: private, TorPath: "/nonexistent/tor"}, "apt-get install tor"},
		{"bad frontend", Config{DataDir: private, TorPath: "/bin/true", OnionbalanceFrontend: "example.onion"}, "not a v3 onion address"},
		{"frontend with control port", Config{DataDir: private, ControlAddr: "127.0.0.1:1", OnionbalanceFrontend: someAddress(t)}, "needs a tor of its own"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(t.Context(), tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(private, keyFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a rejected configuration created a key: %v", err)
	}

	// A backend of itself is refused before tor starts.
	own := shortDir(t)
	if _, err := loadOrCreateKey(own); err != nil {
		t.Fatal(err)
	}
	addr, _ := Address(own)
	if _, err := Start(t.Context(), Config{DataDir: own, TorPath: "/bin/false", OnionbalanceFrontend: addr}); err == nil || !strings.Contains(err.Error(), "this backend's own") {
		t.Errorf("Start as a backend of its own address: err = %v", err)
	}
}

// BenchmarkStartToAnswer measures the time from Start to the onion service
// answering its first request through the private network, and the memory
// of the service's tor.
func BenchmarkStartToAnswer(b *testing.B) {
	n := network(b)
	var rss float64
	var times []time.Duration
	for b.Loop() {
		begin := time.Now()
		dir := shortDir(b)
		s, err := Start(b.Context(), Config{DataDir: dir, TestNetwork: n.ExtraArgs(), PublishTimeout: 2 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
		go srv.Serve(s.Listener())
		get(b, s.Address(), 2*time.Minute)
		times = append(times, time.Since(begin))
		b.StopTimer()
		rss += float64(tornet.RSS([]int{s.TorPID()})) / (1 << 20)
		srv.Close()
		s.Close()
		b.StartTimer()
	}
	slices.Sort(times)
	b.ReportMetric(times[len(times)/2].Seconds(), "s-median")
	b.ReportMetric(rss/float64(b.N), "MiB-tor-rss")
	b.ReportMetric(float64(tornet.RSS(n.PIDs()))/(1<<20), "MiB-network-rss")
}
