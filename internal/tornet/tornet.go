// Package tornet runs a private Tor network on the loopback interface, for
// tests and the offline demo.
//
// Use [Start] to bring up three directory authorities, three relays and a
// client with a SOCKS port (and a control port, for [Network.NewIdentity]),
// all on 127.0.0.1 with free ports, and
// [Network.ExtraArgs] or [Network.TorrcLines] to point another tor (for
// example the one that serves an onion service) at it. [Network.Close] stops
// every tor it started.
//
// The authorities vote every 10 seconds and are the only HSDirs (the relays
// are not directory caches, which keeps fresh clients from stalling on
// them). An onion service's time period, and so the lifetime of its
// descriptors, is 24 voting intervals: 4 minutes.
//
// Onionbalance run with --is-testnet assumes more: a 20-second voting
// interval (its 8-minute time period must be tor's) and at least 5 HSDirs
// for which its tor has a current microdescriptor (with fewer, it loops
// forever filling its hash ring, at full CPU, deaf to SIGTERM). Right after
// each consensus of a young network some microdescriptors are new and not
// yet fetched, so [OnionbalanceOptions] asks for 7. [Options.HSDirs] and
// [Options.VotingInterval] give that, at the cost of a slower start; the
// default network stays as it was for every other test.
//
// The network never touches the public Tor network: every tor runs with
// TestingTorNetwork 1, UseDefaultFallbackDirs 0 and only this network's
// DirAuthority lines. The tors run in the foreground as children of this
// process and are killed by the kernel if it dies (Pdeathsig), and tor itself
// exits within about 15 seconds once its owning process is gone
// (__OwningControllerProcess), so none outlives a crashed test.
package tornet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/proxy"
)

const (
	numAuthorities = 3
	// defaultRelays is the number of relays besides the authorities,
	// unless Options.HSDirs asks for more.
	defaultRelays = 3
	maxHSDirs     = 12

	defaultVotingInterval = 10 * time.Second

	// killAfter is how long Close waits after SIGTERM before SIGKILL. One
	// authority occasionally ignores SIGTERM on such a network.
	killAfter = 5 * time.Second
)

// Options configures [Start].
type Options struct {
	// Dir is the directory that holds every tor's data directory, torrc and
	// logs. The zero value means a new temporary directory, removed by
	// [Network.Close]; a directory given here is kept, so its logs can be read
	// after a failure.
	Dir string

	// TorPath and TorGencertPath are the tor and tor-gencert programs. The
	// zero value means "tor" and "tor-gencert" from PATH.
	TorPath, TorGencertPath string

	// Logf receives progress messages. The zero value discards them.
	Logf func(format string, args ...any)

	// HSDirs is the number of relays that store onion service descriptors
	// (the HSDir flag): 3 to 12, or 0 for 3. The three authorities are
	// HSDirs; above 3, the other relays are directory caches and HSDirs too
	// (fresh clients then sometimes stall for about 10 seconds while
	// bootstrapping), and there are max(3, HSDirs-3) of them
	// ([Network.HSDirs] gives the number there are).
	// Onionbalance needs at least 5.
	HSDirs int

	// VotingInterval is how often the authorities make a consensus; an
	// onion service's time period is 24 of them. A whole number of seconds
	// from 10 s to 60 s. The zero value means 10 s. Onionbalance's
	// --is-testnet assumes 20 s. The first consensus comes one to two
	// intervals after the start, so a longer one starts the network more
	// slowly.
	VotingInterval time.Duration
}

// OnionbalanceOptions returns opts with what `onionbalance --is-testnet`
// needs of a test network: 7 HSDirs (5 at least, and room for two its tor
// lacks a fresh microdescriptor for) and a 20-second voting interval. Such
// a network takes about 35 to 55 seconds to start instead of 15 to 25 (90
// on a loaded machine).
func OnionbalanceOptions(opts Options) Options {
	opts.HSDirs = 7
	opts.VotingInterval = 20 * time.Second
	return opts
}

// Network is a running private Tor network. Its methods are safe for
// concurrent use.
type Network struct {
	dir, removeDir string
	logf           func(string, ...any)
	procs          []*proc
	dirAuthorities []string // "auth0 orport=… v3ident=… 127.0.0.1:… FP"
	socksAddr      string
	controlAddr    string // the client's control port
	cookieFile     string // its authentication cookie
	relays         int
	relayHSDirs    bool // relays are directory caches and HSDirs
	voting         time.Duration

	closeOnce sync.Once
	closeErr  error
}

// node is one tor of the network before it starts.
type node struct {
	name             string // auth0, relay0, client0
	dir              string
	orPort, dirPort  int
	socksPort        int
	controlPort      int    // the client's, for NewIdentity
	fingerprint      string // relay identity, 40 upper-case hex digits
	v3ident          string // authorities only
	isAuth, isClient bool
}

// Start creates the keys and configuration of a private network in
// opts.Dir and starts its tors. It returns once an authority's consensus
// lists every authority and relay and the client reports "Bootstrapped 100%";
// on this kind of machine that takes 15 to 25 seconds. On any error, and if
// ctx ends first, it stops every tor it started before returning.
func Start(ctx context.Context, opts Options) (*Network, error) {
	n, err := configure(opts)
	if err != nil {
		return nil, err
	}
	torPath, err := lookPath(opts.TorPath, "tor")
	if err != nil {
		return nil, err
	}
	gencertPath, err := lookPath(opts.TorGencertPath, "tor-gencert")
	if err != nil {
		return nil, err
	}
	if n.logf == nil {
		n.logf = func(string, ...any) {}
	}
	if n.dir == "" {
		if n.dir, err = os.MkdirTemp("", "tornet-"); err != nil {
			return nil, fmt.Errorf("failed to create network directory: %w", err)
		}
		n.removeDir = n.dir
	} else if n.dir, err = filepath.Abs(n.dir); err != nil {
		return nil, fmt.Errorf("failed to resolve network directory: %w", err)
	}
	if strings.ContainsAny(n.dir, " \t\n\"'\\") {
		n.Close()
		return nil, fmt.Errorf("network directory %q contains spaces, quotes or backslashes, which torrc cannot express: choose another", n.dir)
	}
	// Tear down on every exit path, panics included.
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()

	begin := time.Now()
	nodes, err := n.layout()
	if err != nil {
		return nil, err
	}
	if err := makeKeys(ctx, torPath, gencertPath, nodes); err != nil {
		return nil, err
	}
	n.logf("tornet: keys ready after %v", time.Since(begin).Round(time.Millisecond))
	if err := n.writeConfig(nodes); err != nil {
		return nil, err
	}
	for _, nd := range nodes {
		p, err := startTor(torPath, nd)
		if err != nil {
			return nil, err
		}
		n.procs = append(n.procs, p)
	}
	n.logf("tornet: %d tors started in %s", len(nodes), n.dir)
	if err := n.waitReady(ctx, nodes, begin); err != nil {
		return nil, err
	}
	ok = true
	return n, nil
}

// configure checks opts and returns the network they describe, not
// started.
func configure(opts Options) (*Network, error) {
	n := &Network{dir: opts.Dir, logf: opts.Logf, relays: defaultRelays, voting: defaultVotingInterval}
	switch h := opts.HSDirs; {
	case h == 0 || h == numAuthorities:
	case h > numAuthorities && h <= maxHSDirs:
		n.relays, n.relayHSDirs = max(defaultRelays, h-numAuthorities), true
	default:
		return nil, fmt.Errorf("tornet: %d HSDirs asked for: want 3 to %d, or 0 for 3", h, maxHSDirs)
	}
	switch v := opts.VotingInterval; {
	case v == 0:
	case v >= 10*time.Second && v <= time.Minute && v%time.Second == 0:
		n.voting = v
	default:
		return nil, fmt.Errorf("tornet: voting interval %v: want whole seconds from 10s to 1m, or 0 for 10s", v)
	}
	return n, nil
}

func lookPath(given, name string) (string, error) {
	if given == "" {
		given = name
	}
	p, err := exec.LookPath(given)
	if err != nil {
		return "", fmt.Errorf("failed to find %s (on Debian: apt-get install tor): %w", name, err)
	}
	return p, nil
}

// layout picks free ports and names directories for every node.
func (n *Network) layout() ([]*node, error) {
	ports, err := freePorts(2*numAuthorities + n.relays + 2)
	if err != nil {
		return nil, err
	}
	var nodes []*node
	for i := range numAuthorities {
		nodes = append(nodes, &node{name: "auth" + strconv.Itoa(i), isAuth: true, orPort: ports[0], dirPort: ports[1]})
		ports = ports[2:]
	}
	for i := range n.relays {
		nodes = append(nodes, &node{name: "relay" + strconv.Itoa(i), orPort: ports[0]})
		ports = ports[1:]
	}
	nodes = append(nodes, &node{name: "client0", isClient: true, socksPort: ports[0], controlPort: ports[1]})
	for _, nd := range nodes {
		nd.dir = filepath.Join(n.dir, nd.name)
		if err := os.MkdirAll(nd.dir, 0o700); err != nil {
			return nil, fmt.Errorf("failed to create %s directory: %w", nd.name, err)
		}
	}
	client := nodes[len(nodes)-1]
	n.socksAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(client.socksPort))
	n.controlAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(client.controlPort))
	n.cookieFile = filepath.Join(client.dir, "control_auth_cookie")
	return nodes, nil
}

// freePorts returns count distinct TCP ports that were free on 127.0.0.1 a
// moment ago. They are all held open together so none repeats.
func freePorts(count int) ([]int, error) {
	var ports []int
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("failed to find a free port on 127.0.0.1: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// makeKeys creates the authorities' keys and every relay's identity, in
// parallel, and records fingerprints and v3idents.
func makeKeys(ctx context.Context, torPath, gencertPath string, nodes []*node) error {
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, nd := range nodes {
		if nd.isClient {
			continue
		}
		wg.Go(func() {
			if nd.isAuth {
				if errs[i] = authorityKeys(ctx, gencertPath, nd); errs[i] != nil {
					return
				}
			}
			errs[i] = relayFingerprint(ctx, torPath, nd)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func authorityKeys(ctx context.Context, gencertPath string, nd *node) error {
	keys := filepath.Join(nd.dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return fmt.Errorf("failed to create %s keys directory: %w", nd.name, err)
	}
	cert := filepath.Join(keys, "authority_certificate")
	cmd := exec.CommandContext(ctx, gencertPath, "--create-identity-key", "--passphrase-fd", "0",
		"-i", filepath.Join(keys, "authority_identity_key"),
		"-s", filepath.Join(keys, "authority_signing_key"),
		"-c", cert, "-m", "12", "-a", net.JoinHostPort("127.0.0.1", strconv.Itoa(nd.dirPort)))
	cmd.Stdin = strings.NewReader("\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err() // killed because the caller's deadline passed
		}
		return fmt.Errorf("failed to create %s authority keys: %w: %s", nd.name, err, bytes.TrimSpace(out))
	}
	b, err := os.ReadFile(cert)
	if err != nil {
		return fmt.Errorf("failed to read %s authority certificate: %w", nd.name, err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "fingerprint" {
			nd.v3ident = f[1]
		}
	}
	if !isFingerprint(nd.v3ident) {
		return fmt.Errorf("malformed %s authority certificate: no fingerprint line", nd.name)
	}
	return nil
}

func relayFingerprint(ctx context.Context, torPath string, nd *node) error {
	empty := filepath.Join(nd.dir, "empty-torrc")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return fmt.Errorf("failed to write %s: %w", empty, err)
	}
	cmd := exec.CommandContext(ctx, torPath, "--ignore-missing-torrc", "-f", empty, "--defaults-torrc", empty,
		"--list-fingerprint", "--orport", "1", "--datadirectory", nd.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("failed to create %s identity key: %w: %s", nd.name, err, lastLines(out, 3))
	}
	b, err := os.ReadFile(filepath.Join(nd.dir, "fingerprint"))
	if err != nil {
		return fmt.Errorf("failed to read %s fingerprint: %w", nd.name, err)
	}
	if f := strings.Fields(string(b)); len(f) == 2 && isFingerprint(f[1]) {
		nd.fingerprint = f[1]
		return nil
	}
	return fmt.Errorf("malformed %s fingerprint file %q", nd.name, b)
}

func isFingerprint(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 20 && strings.ToUpper(s) == s
}

// writeConfig writes every node's torrc and the authorities' bandwidth file.
func (n *Network) writeConfig(nodes []*node) error {
	var hsdirs []string
	for _, nd := range nodes {
		if nd.isAuth {
			n.dirAuthorities = append(n.dirAuthorities, fmt.Sprintf("%s orport=%d v3ident=%s 127.0.0.1:%d %s",
				nd.name, nd.orPort, nd.v3ident, nd.dirPort, nd.fingerprint))
		}
		if nd.isAuth || (n.relayHSDirs && !nd.isClient) {
			hsdirs = append(hsdirs, nd.fingerprint)
		}
	}

	// Equal weights from the first consensus on: relays advertise almost no
	// bandwidth for their first minute, and without this file new tors sit
	// at "Bootstrapped 95%" with "No available nodes".
	bwfile := filepath.Join(n.dir, "bwfile")
	bw := fmt.Sprintf("%d\n", time.Now().Unix())
	for _, nd := range nodes {
		if !nd.isClient {
			bw += fmt.Sprintf("node_id=$%s bw=20\n", nd.fingerprint)
		}
	}
	if err := os.WriteFile(bwfile, []byte(bw), 0o600); err != nil {
		return fmt.Errorf("failed to write bandwidth file: %w", err)
	}

	for _, nd := range nodes {
		c := []string{
			"DataDirectory " + nd.dir,
			"Nickname " + nd.name,
			"Log notice file " + filepath.Join(nd.dir, "notice.log"),
			"SafeLogging 1",
			"ShutdownWaitLength 0",
			"__OwningControllerProcess " + strconv.Itoa(os.Getpid()),
		}
		c = append(c, n.TorrcLines()...)
		switch {
		case nd.isClient:
			c = append(c, fmt.Sprintf("SocksPort 127.0.0.1:%d ExtendedErrors", nd.socksPort),
				fmt.Sprintf("ControlPort 127.0.0.1:%d", nd.controlPort),
				"CookieAuthentication 1",
				// For diagnosing onion service connections.
				"Log info file "+filepath.Join(nd.dir, "info.log"))
		default:
			c = append(c,
				"SocksPort 0",
				fmt.Sprintf("ORPort 127.0.0.1:%d", nd.orPort),
				"Address 127.0.0.1",
				"ExitRelay 0",
				"ExitPolicy reject *:*",
				"AssumeReachable 1",
				"ContactInfo test@test.invalid",
			)
		}
		if nd.isAuth {
			// Vote and distribution delays of a fifth of the interval:
			// 2 s for 10 s, 4 s for 20 s, as Onionbalance's testnet
			// mode expects.
			vi := int(n.voting / time.Second)
			delay := strconv.Itoa(vi / 5)
			c = append(c,
				fmt.Sprintf("DirPort 127.0.0.1:%d", nd.dirPort),
				"AuthoritativeDirectory 1",
				"V3AuthoritativeDirectory 1",
				"TestingV3AuthInitialVotingInterval "+strconv.Itoa(vi),
				"TestingV3AuthInitialVoteDelay "+delay,
				"TestingV3AuthInitialDistDelay "+delay,
				"V3AuthVotingInterval "+strconv.Itoa(vi),
				"V3AuthVoteDelay "+delay,
				"V3AuthDistDelay "+delay,
				"V3AuthNIntervalsValid 2",
				"TestingDirAuthVoteGuard *",
				"TestingDirAuthVoteHSDir "+strings.Join(hsdirs, ","),
				"TestingDirAuthVoteHSDirIsStrict 1",
				"TestingMinExitFlagThreshold 0",
				"V3BandwidthsFile "+bwfile,
			)
		} else if !nd.isClient && !n.relayHSDirs {
			// Relays are not directory caches, so clients fetch directory
			// data only from the always up-to-date authorities; otherwise a
			// fresh client often stalls asking a fresh relay. HSDirs must
			// be directory caches (descriptors are uploaded and fetched
			// over BEGIN_DIR), so with more HSDirs than authorities the
			// relays are caches, stalls and all.
			c = append(c, "DirCache 0")
		}
		torrc := filepath.Join(nd.dir, "torrc")
		if err := os.WriteFile(torrc, []byte(strings.Join(c, "\n")+"\n"), 0o600); err != nil {
			return fmt.Errorf("failed to write %s torrc: %w", nd.name, err)
		}
		if err := os.WriteFile(filepath.Join(nd.dir, "empty-torrc"), nil, 0o600); err != nil {
			return fmt.Errorf("failed to write %s defaults torrc: %w", nd.name, err)
		}
	}
	return nil
}

// TorrcLines returns the options another tor needs to join the network, one
// "Key value" line each: TestingTorNetwork 1, the DirAuthority lines and the
// client settings the network was measured with.
func (n *Network) TorrcLines() []string {
	lines := []string{
		"TestingTorNetwork 1",
		"UseDefaultFallbackDirs 0",
		"ClientUseIPv6 0",
		"PathsNeededToBuildCircuits 0.67",
	}
	for _, d := range n.dirAuthorities {
		lines = append(lines, "DirAuthority "+d)
	}
	return lines
}

// ExtraArgs returns [Network.TorrcLines] as tor command-line arguments:
// "--Key", "value" for each line.
func (n *Network) ExtraArgs() []string {
	var args []string
	for _, l := range n.TorrcLines() {
		k, v, _ := strings.Cut(l, " ")
		args = append(args, "--"+k, v)
	}
	return args
}

// HSDirs returns the number of relays that store onion service
// descriptors.
func (n *Network) HSDirs() int {
	if n.relayHSDirs {
		return numAuthorities + n.relays
	}
	return numAuthorities
}

// VotingInterval returns how often the authorities make a consensus.
func (n *Network) VotingInterval() time.Duration { return n.voting }

// SocksAddr returns the address of the client's SOCKS5 port,
// "127.0.0.1:PORT". It accepts .onion names and, with ExtendedErrors, reports
// an unknown or not yet published onion service as SOCKS error 0xF0.
func (n *Network) SocksAddr() string { return n.socksAddr }

// NewIdentity makes the client forget what a person's Tor Browser forgets on
// "New Identity": its circuits and the onion service descriptors it
// fetched, so that the next request to an onion service fetches the
// current descriptor and picks an introduction point from it afresh (the
// client otherwise keeps a descriptor while it works). It returns once tor
// has done it: tor does it at most once every 10 seconds, so a second call
// within 10 seconds waits.
func (n *Network) NewIdentity(ctx context.Context) error {
	cookie, err := os.ReadFile(n.cookieFile)
	if err != nil {
		return fmt.Errorf("failed to read the client's control cookie: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.controlAddr)
	if err != nil {
		return fmt.Errorf("failed to reach the client's control port: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	tc := textproto.NewConn(conn)
	for _, cmd := range []string{"AUTHENTICATE " + hex.EncodeToString(cookie), "SETEVENTS SIGNAL", "SIGNAL NEWNYM"} {
		if err := tc.PrintfLine("%s", cmd); err != nil {
			return fmt.Errorf("tor control: %w", err)
		}
		if _, _, err := tc.ReadResponse(250); err != nil {
			return fmt.Errorf("tor control: %s: %w", strings.Fields(cmd)[0], err)
		}
	}
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return fmt.Errorf("tor control: waiting for NEWNYM: %w", err)
		}
		if line == "650 SIGNAL NEWNYM" {
			return nil
		}
	}
}

// HTTPClient returns an HTTP client whose connections go through the
// network's client tor, which resolves .onion names itself, as Tor Browser
// does. Requests time out after timeout.
func (n *Network) HTTPClient(timeout time.Duration) *http.Client {
	d, _ := proxy.SOCKS5("tcp", n.socksAddr, nil, proxy.Direct) // fails only for a nil forward dialer
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: d.(proxy.ContextDialer).DialContext,
	}}
}

// Dir returns the directory that holds the tors' data directories and logs
// (each tor's log is NAME/notice.log).
func (n *Network) Dir() string { return n.dir }

// PIDs returns the process IDs of the network's tors that are still
// running.
func (n *Network) PIDs() []int {
	var pids []int
	for _, p := range n.procs {
		if !p.exited() {
			pids = append(pids, p.cmd.Process.Pid)
		}
	}
	return pids
}

// Close stops every tor of the network: SIGTERM, then SIGKILL for any still
// running after 5 seconds. It returns once all have exited, and removes the
// directory if [Start] created it. Close is idempotent.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		var wg sync.WaitGroup
		for _, p := range n.procs {
			wg.Go(p.stop)
		}
		wg.Wait()
		if n.removeDir != "" {
			if err := os.RemoveAll(n.removeDir); err != nil {
				n.closeErr = fmt.Errorf("failed to remove network directory: %w", err)
			}
		}
		n.logf("tornet: stopped")
	})
	return n.closeErr
}

// waitReady polls the authorities' consensus and the client's log.
func (n *Network) waitReady(ctx context.Context, nodes []*node, begin time.Time) error {
	var relays []string
	for _, nd := range nodes {
		if !nd.isClient {
			relays = append(relays, nd.fingerprint)
		}
	}
	client := nodes[len(nodes)-1]
	consensusOK, clientOK := false, false
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, p := range n.procs {
			if p.exited() {
				return fmt.Errorf("tor %s exited while the network was starting (%v): %s",
					p.name, p.waitErr, p.logTail())
			}
		}
		if !consensusOK {
			for _, nd := range nodes {
				if nd.isAuth && consensusLists(filepath.Join(nd.dir, "cached-microdesc-consensus"), relays) {
					consensusOK = true
					n.logf("tornet: consensus lists all %d relays after %v", len(relays), time.Since(begin).Round(time.Millisecond))
					break
				}
			}
		}
		if !clientOK {
			if b, err := os.ReadFile(filepath.Join(client.dir, "notice.log")); err == nil && bytes.Contains(b, []byte("Bootstrapped 100%")) {
				clientOK = true
				n.logf("tornet: client bootstrapped after %v", time.Since(begin).Round(time.Millisecond))
			}
		}
		if consensusOK && clientOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("private Tor network not ready after %v (consensus complete: %v, client bootstrapped: %v; logs in %s): %w",
				time.Since(begin).Round(time.Second), consensusOK, clientOK, n.dir, ctx.Err())
		case <-tick.C:
		}
	}
}

// consensusLists reports whether the consensus file at path has an "r" line
// for every fingerprint.
func consensusLists(path string, fingerprints []string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// r nickname identity [digest] date time IP ORPort DirPort
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[0] != "r" {
			continue
		}
		id, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(fields[2], "="))
		if err == nil {
			listed[strings.ToUpper(hex.EncodeToString(id))] = true
		}
	}
	for _, fp := range fingerprints {
		if !listed[fp] {
			return false
		}
	}
	return true
}

// proc is one running tor.
type proc struct {
	name, dir string
	cmd       *exec.Cmd
	done      chan struct{}
	waitErr   error // set before done is closed
}

func startTor(torPath string, nd *node) (*proc, error) {
	out, err := os.Create(filepath.Join(nd.dir, "stdout.log"))
	if err != nil {
		return nil, fmt.Errorf("failed to create %s output file: %w", nd.name, err)
	}
	defer out.Close()
	cmd := exec.Command(torPath, "-f", filepath.Join(nd.dir, "torrc"),
		"--defaults-torrc", filepath.Join(nd.dir, "empty-torrc"))
	cmd.Stdout, cmd.Stderr = out, out
	// The kernel kills the tor if the thread that started it dies, that is,
	// if this process dies before Close.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start tor %s: %w", nd.name, err)
	}
	p := &proc{name: nd.name, dir: nd.dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) stop() {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(killAfter):
	}
	p.cmd.Process.Kill()
	<-p.done
}

// logTail returns the last lines tor wrote, for error messages.
func (p *proc) logTail() string {
	var b []byte
	for _, name := range []string{"notice.log", "stdout.log"} {
		if data, err := os.ReadFile(filepath.Join(p.dir, name)); err == nil {
			b = append(b, data...)
		}
	}
	return lastLines(b, 3)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
