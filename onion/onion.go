// Package onion serves an HTTP server as a Tor v3 onion service, and only
// as one.
//
// Use [Start] with a [Config] naming a data directory: it starts the system
// tor (or uses one already running, through its control port), publishes
// the onion service with a key kept in that directory, and returns a
// [Service] whose [Service.Listener] the HTTP server serves on. The listener
// is a Unix domain socket inside the data directory: there is no TCP
// listener. [Address] prints the address without starting anything.
//
// The service keeps its address for the life of the key file, across
// restarts and crashes. If the tor process dies, the Service starts a new one
// and republishes the same address on the same socket; the listener stays
// open throughout, so the HTTP server never notices. Tor's proof-of-work
// defence against introduction floods is on by default, and a rendezvous
// circuit that opens more than MaxStreams streams is closed.
//
// # Three ways to publish
//
// By default the service is added to tor over its control port
// (ADD_ONION): the key goes to tor over that connection and never into a
// tor file. This is the simplest and the default.
//
// As an Onionbalance backend ([Config.OnionbalanceFrontend]), the service
// is one "instance" of an Onionbalance frontend: several servers publish
// their own descriptors, and the frontend (Debian's onionbalance, holding
// the frontend's key on another machine) publishes one descriptor for the
// frontend address that lists their introduction points, so people reach
// any of them at that one address. tor supports this only for services it
// reads from its torrc, not for ADD_ONION ones, so in this mode the Service
// writes into the tor's torrc (see [ServiceTorrc]):
//
//	HiddenServiceDir <DataDir>                  the same key file as above
//	HiddenServicePort 80 unix:<DataDir>/http.sock
//	HiddenServiceOnionbalanceInstance 1
//	HiddenServiceMaxStreams, HiddenServiceMaxStreamsCloseCircuit 1
//	HiddenServicePoWDefensesEnabled, HiddenServicePoWQueueRate, …Burst
//
// and writes DataDir/ob_config ("MasterOnionAddress <frontend>"), which
// tor reads with it. Everything else is as by default: the tor is the
// Service's own child, supervised and restarted, with SafeLogging; Start
// returns once tor uploaded the backend's descriptor; Published is called
// on each publication. The backend still answers at its own address too
// (that is how the frontend learns its introduction points); people are
// given only the frontend's. It needs a tor of its own: ControlAddr is
// refused, since configuring a shared tor's torrc services is its
// operator's business (see below).
//
// With a tor that is not this process's at all (such as Debian's
// tor@default service running as its own user), use [ListenExternal] for
// the socket and give that tor the lines [ServiceTorrc] returns: the
// process then starts no tor, holds no onion key and needs no Internet
// socket. The onion address is then that tor's business (its
// HiddenServiceDir/hostname), and nothing tells this process when it is
// published.
//
// Layout of the data directory (mode 0700):
//
//	hs_ed25519_secret_key  the onion key (0600), in tor's own format
//	http.sock              the socket tor forwards onion port 80 to
//	tor/                   tor's data directory; tor/notice.log is tor's log
//	ob_config              Onionbalance backends only: the frontend's address
//	hostname, hs_ed25519_public_key
//	                       Onionbalance backends only: written by tor
package onion

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	bed25519 "github.com/cretz/bine/torutil/ed25519"
	"github.com/rs/zerolog"
)

// Defaults for the zero values of [Config].
const (
	// DefaultPoWQueueRate and DefaultPoWQueueBurst are tor's own defaults
	// for HiddenServicePoWQueueRate and HiddenServicePoWQueueBurst: when
	// under attack, tor serves at most this many introduction requests per
	// second, highest proof-of-work first, with this much queued at most.
	DefaultPoWQueueRate  = 250
	DefaultPoWQueueBurst = 2500

	// DefaultMaxStreams is the default limit of simultaneous streams on one
	// rendezvous circuit. A browser opens about six at once per site; a
	// circuit that asks for more than this is closed.
	DefaultMaxStreams = 32

	// DefaultPublishTimeout bounds start-up: bootstrap plus the first
	// descriptor upload.
	DefaultPublishTimeout = 3 * time.Minute
)

const (
	socketName = "http.sock"
	torDirName = "tor"
	// virtualPort is the port of the onion address that reaches the socket.
	virtualPort = 80
	// stopWait is how long Close waits for tor to exit before SIGKILL.
	stopWait = 5 * time.Second
	// maxBackoff bounds the wait between attempts to restart a dead tor.
	maxBackoff = 30 * time.Second
)

// Config configures [Start]. The zero value of every field but DataDir
// means the default documented on it.
type Config struct {
	// DataDir is the directory for the onion key, the Unix socket and tor's
	// data directory. Required. Created with mode 0700 if missing; refused if
	// other users can access it. It must not contain spaces or quotes, and
	// the socket path in it must fit the 107 bytes Unix sockets allow.
	DataDir string

	// TorPath is the tor program to start. The zero value means "tor" from
	// PATH. Unused with ControlAddr.
	TorPath string

	// ControlAddr, if set, is the control port of a tor that is already
	// running, as 127.0.0.1:PORT; the service is added to it instead of
	// starting a tor of its own. That tor must run as the same user as this
	// process, since it connects to the socket in DataDir. The zero value
	// starts a tor of our own.
	ControlAddr string

	// ControlCookie is the control authentication cookie file of the tor at
	// ControlAddr. The zero value means the file that tor names itself.
	ControlCookie string

	// PoWDisabled turns off tor's proof-of-work defence. The zero value
	// (false) turns it on.
	PoWDisabled bool

	// PoWQueueRate and PoWQueueBurst tune the proof-of-work defence. The
	// zero values mean DefaultPoWQueueRate and DefaultPoWQueueBurst.
	PoWQueueRate, PoWQueueBurst int

	// MaxStreams limits simultaneous streams per rendezvous circuit; tor
	// closes a circuit that exceeds it (MaxStreamsCloseCircuit). The zero
	// value means DefaultMaxStreams.
	MaxStreams int

	// TestNetwork, if set, are extra tor command-line arguments that make tor
	// join a private Tor network instead of the real one (for example
	// tornet's ExtraArgs). For tests and demos only. The zero value means the
	// real Tor network.
	TestNetwork []string

	// PublishTimeout bounds how long Start and each restart wait for tor to
	// bootstrap and upload the descriptor. The zero value means
	// DefaultPublishTimeout.
	PublishTimeout time.Duration

	// Published, if not nil, is called each time the service is published:
	// once by Start, and again after every restart of tor (for the audit
	// log). It must not block. The zero value calls nothing.
	Published func()

	// OnionbalanceFrontend, if set, makes the service a backend of the
	// Onionbalance frontend at this address ("xxxx.onion"; the ".onion"
	// may be left out): tor publishes it from its torrc with
	// HiddenServiceOnionbalanceInstance 1 (see the package documentation).
	// It cannot be combined with ControlAddr, nor be the service's own
	// address. The zero value publishes an ordinary service with
	// ADD_ONION.
	OnionbalanceFrontend string

	// Logger receives the service's events: tor starting, bootstrap
	// progress, publication, tor exiting and restarting, stopping. Entries
	// carry no IP addresses or other identifying detail. The zero value
	// discards them.
	Logger zerolog.Logger
}

// Service is a published onion service. Its methods are safe for concurrent
// use.
type Service struct {
	c        Config
	key      bed25519.PrivateKey
	addr     string // xxxx.onion
	ln       *net.UnixListener
	sockPath string
	torDir   string
	log      zerolog.Logger

	// stopCtx ends when Close begins; it aborts waits. procCtx ends when
	// Close ends; it kills any tor still running.
	stopCtx    context.Context
	stopCancel context.CancelFunc
	procCtx    context.Context
	procCancel context.CancelFunc
	done       chan struct{} // closed when the supervisor has stopped

	mu     sync.Mutex
	torPID int // of the current tor, 0 if none or not ours

	closeOnce sync.Once
	closeErr  error
}

// Start publishes the onion service and returns once a descriptor has been
// uploaded to at least one directory, or fails after c.PublishTimeout or when
// ctx ends. ctx bounds only the start: the service runs until
// [Service.Close]. On error nothing is left running.
func Start(ctx context.Context, c Config) (*Service, error) {
	if err := c.normalize(); err != nil {
		return nil, err
	}
	if err := prepareDir(c.DataDir); err != nil {
		return nil, err
	}
	s := &Service{
		c:        c,
		sockPath: filepath.Join(c.DataDir, socketName),
		torDir:   filepath.Join(c.DataDir, torDirName),
		log:      c.Logger,
		done:     make(chan struct{}),
	}
	var err error
	if s.key, err = loadOrCreateKey(c.DataDir); err != nil {
		return nil, err
	}
	s.addr = addressOf(s.key)
	if c.OnionbalanceFrontend == s.addr {
		return nil, fmt.Errorf("the Onionbalance frontend address %s is this backend's own: give the address of the frontend's key (intake onionbalance-config prints it)", s.addr)
	}
	if err := writeOBConfig(c.DataDir, c.OnionbalanceFrontend); err != nil {
		return nil, err
	}
	if s.ln, err = listenUnix(s.sockPath, 0o600); err != nil {
		return nil, err
	}
	s.stopCtx, s.stopCancel = context.WithCancel(context.Background())
	s.procCtx, s.procCancel = context.WithCancel(context.Background())

	inc, err := s.startIncarnation(ctx)
	if err != nil {
		s.stopCancel()
		s.procCancel()
		s.ln.Close()
		return nil, err
	}
	go s.supervise(inc)
	return s, nil
}

func (c *Config) normalize() error {
	if c.DataDir == "" {
		return errors.New("onion data directory not set: set Config.DataDir")
	}
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("failed to resolve onion data directory: %w", err)
	}
	c.DataDir = dir
	if err := checkPathForTor(dir); err != nil {
		return err
	}
	// sun_path holds 108 bytes including the terminating NUL.
	if p := filepath.Join(dir, socketName); len(p) > 107 {
		return fmt.Errorf("onion data directory %q is too long: the socket path %s must be at most 107 bytes; choose a shorter one", dir, p)
	}
	if c.ControlAddr != "" {
		host, port, err := net.SplitHostPort(c.ControlAddr)
		ip := net.ParseIP(host)
		if n, perr := strconv.Atoi(port); err != nil || ip == nil || !ip.IsLoopback() || perr != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("malformed tor control address %q: want 127.0.0.1:PORT", c.ControlAddr)
		}
	} else {
		if c.TorPath == "" {
			c.TorPath = "tor"
		}
		p, err := exec.LookPath(c.TorPath)
		if err != nil {
			return fmt.Errorf("failed to find tor (on Debian: apt-get install tor): %w", err)
		}
		c.TorPath = p
	}
	if c.OnionbalanceFrontend != "" {
		if c.ControlAddr != "" {
			return errors.New("an Onionbalance backend needs a tor of its own, started by this process: tor supports Onionbalance only for services of its torrc, which a shared tor's operator configures (see ServiceTorrc)")
		}
	}
	if c.ControlCookie != "" && c.ControlAddr == "" {
		return errors.New("tor control cookie set without a control address: set both or neither")
	}
	if err := c.normalizeService(); err != nil {
		return err
	}
	if c.PublishTimeout < 0 {
		return fmt.Errorf("publish timeout %v is negative: use 0 for %v", c.PublishTimeout, DefaultPublishTimeout)
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	c.TestNetwork = append([]string(nil), c.TestNetwork...)
	return nil
}

// normalizeService checks and defaults the fields that say how tor
// publishes the service, whichever tor does it.
func (c *Config) normalizeService() error {
	if c.PoWQueueRate < 0 || c.PoWQueueBurst < 0 {
		return fmt.Errorf("proof-of-work queue rate %d or burst %d is negative: use 0 for the defaults", c.PoWQueueRate, c.PoWQueueBurst)
	}
	if c.PoWQueueRate == 0 {
		c.PoWQueueRate = DefaultPoWQueueRate
	}
	if c.PoWQueueBurst == 0 {
		c.PoWQueueBurst = DefaultPoWQueueBurst
	}
	if c.MaxStreams < 0 || c.MaxStreams > 65535 {
		return fmt.Errorf("max streams %d out of range: want 1 to 65535, or 0 for %d", c.MaxStreams, DefaultMaxStreams)
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.OnionbalanceFrontend != "" {
		a, err := ParseAddress(c.OnionbalanceFrontend)
		if err != nil {
			return fmt.Errorf("malformed Onionbalance frontend address: %w", err)
		}
		c.OnionbalanceFrontend = a
	}
	return nil
}

// prepareDir creates dir 0700, or checks that an existing one is private.
func prepareDir(dir string) error { return PrepareKeyDir(dir, "onion data directory") }

// PrepareKeyDir creates dir, a directory that will hold an onion key, mode
// 0700, or checks that an existing one is not open to other users. what
// names it in errors: "onion data directory", "--dir".
func PrepareKeyDir(dir, what string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create %s: %w", what, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", what, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s %s is not a directory", what, dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s %s is accessible by other users (mode %04o): it will hold an onion key; run chmod 700 %s", what, dir, perm, dir)
	}
	return nil
}

// listenUnix listens on path with the given mode, first removing a socket
// left by a process that is gone. It refuses to remove anything that is not
// a socket, or a socket something still listens on.
func listenUnix(path string, mode fs.FileMode) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket: move it away", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("another process is serving on %s: stop it first", path)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("failed to check old socket %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("failed to remove old socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("failed to restrict socket %s: %w", path, err)
	}
	return ln, nil
}

// Listener returns the Unix socket listener that tor forwards the onion
// service's port 80 to. Serve HTTP on it. It stays open while tor restarts;
// [Service.Close] closes it (closing it earlier, for example through
// http.Server.Shutdown, is fine).
func (s *Service) Listener() net.Listener { return s.ln }

// Address returns the onion address, "xxxx.onion".
func (s *Service) Address() string { return s.addr }

// Close removes the onion service from tor, stops tor (SIGTERM if it has
// not exited 5 seconds after being asked to halt, SIGKILL 5 seconds later)
// and closes the listener. With
// ControlAddr, it removes the service and leaves that tor running. Close is
// idempotent.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.stopCancel()
		<-s.done
		s.procCancel()
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("failed to close onion listener: %w", err)
		}
		s.log.Info().Msg("onion service stopped")
	})
	return s.closeErr
}

// pid returns the process ID of the tor this Service started and currently
// uses, or 0 (between restarts, or with ControlAddr).
func (s *Service) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.torPID
}

func (s *Service) setPID(pid int) {
	s.mu.Lock()
	s.torPID = pid
	s.mu.Unlock()
}

// supervise watches the tor in use and replaces it when it is lost, until
// Close.
func (s *Service) supervise(inc *incarnation) {
	defer close(s.done)
	for {
		select {
		case <-s.stopCtx.Done():
			s.stopIncarnation(inc)
			return
		case <-inc.lost:
		}
		s.log.Warn().Msg("tor lost, restarting")
		s.stopIncarnation(inc)
		backoff := time.Second
		for attempt := 1; ; attempt++ {
			select {
			case <-s.stopCtx.Done():
				return
			case <-time.After(backoff):
			}
			var err error
			if inc, err = s.startIncarnation(s.stopCtx); err == nil {
				break
			}
			if s.stopCtx.Err() != nil {
				return
			}
			s.log.Error().Err(err).Int("attempt", attempt).Msg("tor restart failed")
			backoff = min(2*backoff, maxBackoff)
		}
	}
}
