package onion

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// someAddress returns the address of a fresh key, as a frontend's.
func someAddress(t testing.TB) string {
	t.Helper()
	a, err := CreateKey(filepath.Join(t.TempDir(), "frontend.key"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseAddress(t *testing.T) {
	a := someAddress(t)
	for _, in := range []string{a, strings.TrimSuffix(a, ".onion")} {
		if got, err := ParseAddress(in); err != nil || got != a {
			t.Errorf("ParseAddress(%q) = %q, %v; want %q", in, got, err, a)
		}
	}
	id := strings.TrimSuffix(a, ".onion")
	typo := []byte(id)
	typo[10] = map[bool]byte{true: 'a', false: 'b'}[typo[10] != 'a']
	for _, in := range []string{
		"", "x.onion", strings.ToUpper(id) + ".onion", id + ".onion.onion", id[:55] + ".onion",
		string(typo) + ".onion",         // checksum
		id[:55] + "a" + ".onion",        // version byte
		"facebookcorewwwi.onion",        // v2
		"http://" + a, a + "/", " " + a, // not bare
	} {
		if got, err := ParseAddress(in); err == nil {
			t.Errorf("ParseAddress(%q) = %q, want an error", in, got)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	f.Add(someAddress(f))
	f.Add("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaad.onion")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if a != strings.TrimSuffix(s, ".onion")+".onion" {
			t.Fatalf("ParseAddress(%q) = %q: not the input with .onion", s, a)
		}
		if b, err := ParseAddress(a); err != nil || b != a {
			t.Fatalf("ParseAddress(%q) = %q, %v: not canonical", a, b, err)
		}
	})
}

func TestServiceTorrc(t *testing.T) {
	front := someAddress(t)
	lines, err := ServiceTorrc(Config{}, "/var/lib/tor/testimony", "/run/testimony/http.sock")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"HiddenServiceDir /var/lib/tor/testimony",
		"HiddenServicePort 80 unix:/run/testimony/http.sock",
		"HiddenServiceMaxStreams 32",
		"HiddenServiceMaxStreamsCloseCircuit 1",
		"HiddenServicePoWDefensesEnabled 1",
		"HiddenServicePoWQueueRate 250",
		"HiddenServicePoWQueueBurst 2500",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("default lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	lines, err = ServiceTorrc(Config{PoWDisabled: true, MaxStreams: 8, OnionbalanceFrontend: strings.TrimSuffix(front, ".onion")}, "/hs/", "/s.sock")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		"HiddenServiceDir /hs",
		"HiddenServicePort 80 unix:/s.sock",
		"HiddenServiceMaxStreams 8",
		"HiddenServiceMaxStreamsCloseCircuit 1",
		"HiddenServicePoWDefensesEnabled 0",
		"HiddenServiceOnionbalanceInstance 1",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("backend lines without PoW:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if b, err := OBConfig(strings.TrimSuffix(front, ".onion")); err != nil || string(b) != "MasterOnionAddress "+front+"\n" {
		t.Errorf("OBConfig = %q, %v", b, err)
	}
	for _, tc := range []struct {
		c        Config
		dir, soc string
		want     string
	}{
		{Config{}, "hs", "/s.sock", "not absolute"},
		{Config{}, "/hs", "s.sock", "not absolute"},
		{Config{}, "/h s", "/s.sock", "space"},
		{Config{}, "/hs", "/s\".sock", "quote"},
		{Config{}, "/hs", "/" + strings.Repeat("s", 110), "107 bytes"},
		{Config{OnionbalanceFrontend: "nope.onion"}, "/hs", "/s.sock", "not a v3 onion address"},
		{Config{MaxStreams: -1}, "/hs", "/s.sock", "out of range"},
		{Config{PoWQueueBurst: -1}, "/hs", "/s.sock", "negative"},
	} {
		if _, err := ServiceTorrc(tc.c, tc.dir, tc.soc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ServiceTorrc(%+v, %q, %q): err = %v, want one containing %q", tc.c, tc.dir, tc.soc, err, tc.want)
		}
	}
}

func TestListenExternal(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "http.sock")
	ln, err := ListenExternal(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket: %v, mode %v; want a socket with mode 0660 (tor reaches it through the group)", err, fi.Mode())
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	if resp, err := c.Get("http://x/"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if _, err := ListenExternal(path); err == nil || !strings.Contains(err.Error(), "another process is serving") {
		t.Errorf("second ListenExternal on a live socket: err = %v", err)
	}
	ln.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}

	// A socket left by a process that died is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	ln, err = ListenExternal(path)
	if err != nil {
		t.Fatalf("ListenExternal over a stale socket: %v", err)
	}
	ln.Close()

	// A file that is not a socket is never removed.
	os.WriteFile(path, []byte("mine"), 0o600)
	if _, err := ListenExternal(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("ListenExternal over a regular file: err = %v", err)
	}
	os.Remove(path)

	// A directory others can write to could have the socket replaced.
	os.Chmod(dir, 0o770)
	if _, err := ListenExternal(path); err == nil || !strings.Contains(err.Error(), "chmod 750") {
		t.Errorf("ListenExternal in a group-writable directory: err = %v", err)
	}
	os.Chmod(dir, 0o750)
	for _, p := range []string{"http.sock", "/tmp/a b/http.sock", "/nonexistent-dir-x/http.sock"} {
		if _, err := ListenExternal(p); err == nil {
			t.Errorf("ListenExternal(%q) succeeded", p)
		}
	}
}

// TestOnionbalanceBackend serves as an Onionbalance backend: tor publishes
// the service from its torrc, with the defences of the default mode, and
// it answers at its own address (as it must for the frontend to learn its
// introduction points); if tor dies, a new one publishes it again.
func TestOnionbalanceBackend(t *testing.T) {
	network(t)
	t.Parallel()
	dir := shortDir(t)
	front := someAddress(t)
	var published atomic.Int32
	s := serve(t, Config{DataDir: dir, OnionbalanceFrontend: front, MaxStreams: 9, Published: func() { published.Add(1) }})
	checkServed(t, s, dir)
	if got := get(t, s.Address(), 2*time.Minute); got != s.token {
		t.Fatalf("got %q, want %q", got, s.token)
	}
	if n := published.Load(); n != 1 {
		t.Errorf("Published called %d times by Start, want 1", n)
	}
	torrc, _ := os.ReadFile(filepath.Join(dir, "tor", "torrc"))
	for _, want := range []string{
		"HiddenServiceDir " + dir + "\n",
		"HiddenServicePort 80 unix:" + filepath.Join(dir, socketName) + "\n",
		"HiddenServiceOnionbalanceInstance 1\n",
		"HiddenServiceMaxStreams 9\n",
		"HiddenServiceMaxStreamsCloseCircuit 1\n",
		"HiddenServicePoWDefensesEnabled 1\n",
		"SafeLogging 1\n",
	} {
		if !bytes.Contains(torrc, []byte(want)) {
			t.Errorf("torrc lacks %q:\n%s", want, torrc)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, obConfigName)); err != nil || string(b) != "MasterOnionAddress "+front+"\n" {
		t.Errorf("ob_config = %q, %v", b, err)
	}
	torLog, _ := os.ReadFile(filepath.Join(dir, "tor", "info.log"))
	if !bytes.Contains(torLog, []byte("Generating both PoW seeds")) {
		t.Error("tor did not set up the proof-of-work defence for the backend")
	}
	if !bytes.Contains(torLog, []byte("OnionBalance: MasterOnionAddress "+front+" registered")) {
		t.Errorf("tor did not register the frontend address %s", front)
	}

	// Supervision: the torrc service comes back with a new tor.
	old := s.TorPID()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); published.Load() < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("backend not republished within 2 minutes of killing tor %d", old)
		}
	}
	if got := get(t, s.Address(), 2*time.Minute); got != s.token {
		t.Fatalf("after restart got %q, want %q", got, s.token)
	}

	// Served again as an ordinary service, the directory drops its
	// Onionbalance role.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := serve(t, Config{DataDir: dir})
	if s2.Address() != s.Address() {
		t.Errorf("address changed from backend to ordinary service: %s, then %s", s.Address(), s2.Address())
	}
	if _, err := os.Stat(filepath.Join(dir, obConfigName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ob_config left after serving as an ordinary service: %v", err)
	}
}

// TestExternalTor runs a tor of its own, as an operator's tor@default
// would, with the lines ServiceTorrc gives and a key this package never
// sees, and serves on ListenExternal's socket.
func TestExternalTor(t *testing.T) {
	n := network(t)
	t.Parallel()
	torDir := shortDir(t)
	hsDir := filepath.Join(torDir, "hs")
	sockDir := filepath.Join(shortDir(t), "run")
	os.Mkdir(sockDir, 0o750)
	sock := filepath.Join(sockDir, "http.sock")
	ln, err := ListenExternal(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "external") }))
	service, err := ServiceTorrc(Config{}, hsDir, sock)
	if err != nil {
		t.Fatal(err)
	}
	torrc := filepath.Join(torDir, "torrc")
	lines := append(n.TorrcLines(), "DataDirectory "+torDir, "SocksPort 0", "Log notice file "+filepath.Join(torDir, "notice.log"))
	lines = append(lines, service...)
	os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	cmd := exec.Command("tor", "-f", torrc, "--defaults-torrc", torrc+"-none")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	var addr string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(hsDir, "hostname")); err == nil {
			addr = strings.TrimSpace(string(b))
			break
		}
		select {
		case <-exited:
			t.Fatalf("tor refused the lines ServiceTorrc gives:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("tor wrote no hostname")
		}
	}
	if got := get(t, addr, 2*time.Minute); got != "external" {
		t.Fatalf("got %q through the external tor", got)
	}
	if _, err := os.Stat(filepath.Join(hsDir, keyFileName)); err != nil {
		t.Error(err)
	}
}
