package onion

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cretz/bine/control"
	"github.com/cretz/bine/process"
	"github.com/cretz/bine/tor"
)

// testTorrc, if set by a test, adds lines to the torrc of every tor the
// package starts.
var testTorrc func(torDir string) []string

// incarnation is one tor in use by a Service, from start to loss or Close.
type incarnation struct {
	ctrl   *control.Conn
	t      *tor.Tor      // nil with ControlAddr
	proc   *torProcess   // nil with ControlAddr
	cancel func()        // ends the incarnation's goroutines and kills its tor
	id     string        // service ID once added, without ".onion"
	added  bool          // the service was added with ADD_ONION (DEL_ONION removes it)
	lost   chan struct{} // closed when tor exits or the control connection fails
	watch  context.CancelFunc
}

// startIncarnation starts (or connects to) tor, adds the onion service and
// waits for its descriptor to be uploaded, for at most PublishTimeout and
// until ctx ends. On error it leaves nothing running.
func (s *Service) startIncarnation(ctx context.Context) (inc *incarnation, err error) {
	begin := time.Now()
	incCtx, cancel := context.WithCancel(s.procCtx)
	inc = &incarnation{cancel: cancel, lost: make(chan struct{})}
	defer func() {
		if err != nil {
			s.stopIncarnation(inc)
		}
	}()
	if s.c.ControlAddr != "" {
		if inc.ctrl, err = dialControl(s.c.ControlAddr, s.c.ControlCookie); err != nil {
			return inc, err
		}
	} else if err = s.startTor(incCtx, inc); err != nil {
		return inc, err
	}

	waitCtx, waitCancel := context.WithTimeout(ctx, s.c.PublishTimeout)
	defer waitCancel()
	st := &publishState{svc: s, published: make(chan struct{}), cancel: waitCancel}
	events := make(chan control.Event, 64)
	// The consumer drains events until the incarnation ends: bine delivers
	// events with a blocking send, so a full channel would stall the
	// control connection.
	go func() {
		for {
			select {
			case ev := <-events:
				st.handle(ev)
			case <-incCtx.Done():
				return
			}
		}
	}()
	codes := []control.EventCode{control.EventCodeStatusClient, control.EventCodeHSDesc}
	if err = inc.ctrl.AddEventListener(events, codes...); err != nil {
		return inc, fmt.Errorf("failed to subscribe to tor events: %w", err)
	}
	if s.c.OnionbalanceFrontend != "" {
		// tor read the service from its torrc.
		if err = s.checkTorrcService(); err != nil {
			return inc, err
		}
		inc.id = strings.TrimSuffix(s.addr, ".onion")
	} else {
		if inc.id, err = s.addOnion(inc.ctrl); err != nil {
			return inc, err
		}
		inc.added = true
	}
	st.setID(inc.id)
	if inc.t != nil {
		if err = inc.ctrl.SetConf(control.KeyVals("DisableNetwork", "0")...); err != nil {
			return inc, fmt.Errorf("failed to enable tor's network: %w", err)
		}
	}
	// Progress reached before the subscription took effect.
	if kv, err := inc.ctrl.GetInfo("status/bootstrap-phase"); err == nil && len(kv) == 1 {
		events <- control.ParseStatusEvent(control.EventCodeStatusClient, kv[0].Val)
	}
	herr := inc.ctrl.HandleEvents(waitCtx)
	select {
	case <-st.published:
	default:
		if ctx.Err() != nil {
			return inc, fmt.Errorf("onion service start cancelled: %w", ctx.Err())
		}
		if waitCtx.Err() != nil {
			return inc, fmt.Errorf("onion service not published within %v (tor bootstrap at %d%%): see %s",
				s.c.PublishTimeout, st.progress(), filepath.Join(s.torDir, "notice.log"))
		}
		return inc, fmt.Errorf("lost tor while publishing the onion service: %w%s", herr, inc.exitDetail())
	}
	if err = inc.ctrl.RemoveEventListener(events, codes...); err != nil {
		return inc, fmt.Errorf("failed to unsubscribe from tor events: %w", err)
	}

	// Watch for the end of tor: the control connection fails when tor exits.
	watchCtx, watchCancel := context.WithCancel(incCtx)
	inc.watch = watchCancel
	var once sync.Once
	lose := func() { once.Do(func() { close(inc.lost) }) }
	go func() {
		if inc.ctrl.HandleEvents(watchCtx); watchCtx.Err() == nil {
			lose()
		}
	}()
	if inc.proc != nil {
		go func() {
			select {
			case <-inc.proc.done:
				lose()
			case <-watchCtx.Done():
			}
		}()
	}
	s.log.Info().Dur("elapsed", time.Since(begin)).Msg("onion service published")
	if s.c.Published != nil {
		s.c.Published()
	}
	return inc, nil
}

// startTor starts a tor of our own with bine and records its PID.
func (s *Service) startTor(ctx context.Context, inc *incarnation) error {
	if err := os.MkdirAll(s.torDir, 0o700); err != nil {
		return fmt.Errorf("failed to create tor data directory: %w", err)
	}
	if err := os.Chmod(s.torDir, 0o700); err != nil {
		return fmt.Errorf("failed to restrict tor data directory: %w", err)
	}
	torrc := filepath.Join(s.torDir, "torrc")
	lines := []string{
		"SocksPort 0",
		"SafeLogging 1",
		"Log notice file " + filepath.Join(s.torDir, "notice.log"),
		// tor exits if this process dies without closing it.
		"__OwningControllerProcess " + strconv.Itoa(os.Getpid()),
	}
	if s.c.OnionbalanceFrontend != "" {
		hs, err := ServiceTorrc(s.c, s.c.DataDir, s.sockPath)
		if err != nil {
			return err
		}
		lines = append(lines, hs...)
	}
	if testTorrc != nil {
		lines = append(lines, testTorrc(s.torDir)...)
	}
	conf := strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(torrc, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("failed to write torrc: %w", err)
	}
	defaults := torrc + "-defaults"
	if err := os.WriteFile(defaults, nil, 0o600); err != nil {
		return fmt.Errorf("failed to write torrc: %w", err)
	}
	creator := &torCreator{path: s.c.TorPath}
	s.log.Info().Msg("tor starting")
	t, err := tor.Start(ctx, &tor.StartConf{
		ProcessCreator:  creator,
		DataDir:         s.torDir,
		TorrcFile:       torrc,
		NoAutoSocksPort: true,
		ExtraArgs:       append([]string{"--defaults-torrc", defaults}, s.c.TestNetwork...),
	})
	inc.proc = creator.last
	// bine leaves a control-port-NNN file behind on every start.
	if old, _ := filepath.Glob(filepath.Join(s.torDir, "control-port-*")); len(old) > 0 {
		for _, f := range old {
			os.Remove(f)
		}
	}
	if err != nil {
		return fmt.Errorf("failed to start tor: %w%s", err, inc.exitDetail())
	}
	inc.t, inc.ctrl = t, t.Control
	// tor exits as soon as this control connection closes.
	if err := t.Control.TakeOwnership(); err != nil {
		return fmt.Errorf("failed to take ownership of tor: %w", err)
	}
	s.setPID(inc.proc.cmd.Process.Pid)
	return nil
}

// addOnion adds the service with a raw ADD_ONION command, since bine's
// ListenConf cannot ask for the proof-of-work defence. It returns the
// service ID tor reports, which must match the key's.
func (s *Service) addOnion(ctrl *control.Conn) (string, error) {
	args := []string{
		"ADD_ONION",
		"ED25519-V3:" + base64.StdEncoding.EncodeToString(s.key),
		"Flags=MaxStreamsCloseCircuit",
		"MaxStreams=" + strconv.Itoa(s.c.MaxStreams),
	}
	if !s.c.PoWDisabled {
		args = append(args,
			"PoWDefensesEnabled=1",
			"PoWQueueRate="+strconv.Itoa(s.c.PoWQueueRate),
			"PoWQueueBurst="+strconv.Itoa(s.c.PoWQueueBurst))
	}
	args = append(args, fmt.Sprintf("Port=%d,unix:%s", virtualPort, s.sockPath))
	// The command holds the private key: it goes through "%s" (SendRequest
	// is printf-style) and never into an error or a log.
	resp, err := ctrl.SendRequest("%s", strings.Join(args, " "))
	if err != nil {
		hint := ""
		if !s.c.PoWDisabled {
			hint = " (the proof-of-work defence needs tor 0.4.8 or later with the pow module; see tor --list-modules)"
		}
		return "", fmt.Errorf("tor refused the onion service%s: %w", hint, err)
	}
	want := strings.TrimSuffix(s.addr, ".onion")
	for _, line := range resp.Data {
		if id, ok := strings.CutPrefix(line, "ServiceID="); ok {
			if id != want {
				return id, fmt.Errorf("tor published onion service %s.onion for key of %s", id, s.addr)
			}
			return id, nil
		}
	}
	return "", errors.New("tor accepted the onion service but reported no service ID")
}

// checkTorrcService checks that the tor just started serves the key in
// DataDir: tor writes the address of the HiddenServiceDir's key to its
// hostname file when it loads the service.
func (s *Service) checkTorrcService() error {
	b, err := os.ReadFile(filepath.Join(s.c.DataDir, "hostname"))
	if err != nil {
		return fmt.Errorf("tor did not load the onion service from its torrc: %w", err)
	}
	if got := strings.TrimSpace(string(b)); got != s.addr {
		return fmt.Errorf("tor loaded onion service %s from %s, but its key is for %s", got, s.c.DataDir, s.addr)
	}
	return nil
}

// stopIncarnation removes the service and stops tor, gently first. It
// handles partly started incarnations.
func (s *Service) stopIncarnation(inc *incarnation) {
	if inc.watch != nil {
		inc.watch()
	}
	// The control commands below wait for tor's replies without a
	// deadline: if tor is stuck, stop it anyway after stopWait, which also
	// ends those waits.
	force := time.AfterFunc(stopWait, inc.cancel)
	defer force.Stop()
	if inc.ctrl != nil {
		if inc.added {
			inc.ctrl.DelOnion(inc.id)
		}
		if inc.t != nil {
			inc.t.Close() // SIGNAL HALT, then closes the control connection
		} else {
			inc.ctrl.Close()
		}
	}
	if inc.proc != nil {
		select {
		case <-inc.proc.done:
		case <-time.After(stopWait):
		}
	}
	inc.cancel() // SIGTERM, then SIGKILL after stopWait
	if inc.proc != nil {
		<-inc.proc.done
		s.setPID(0)
		s.log.Info().Msg("tor stopped")
	}
}

func (inc *incarnation) exitDetail() string {
	if inc.proc == nil {
		return ""
	}
	select {
	case <-inc.proc.done:
		return fmt.Sprintf(" (tor exited: %v: %s)", inc.proc.err, inc.proc.out.String())
	default:
		return ""
	}
}

// publishState follows bootstrap progress and descriptor uploads.
type publishState struct {
	svc       *Service
	cancel    context.CancelFunc
	published chan struct{}

	mu       sync.Mutex
	id       string
	last     int
	sawFirst bool
}

func (p *publishState) setID(id string) {
	p.mu.Lock()
	p.id = id
	p.mu.Unlock()
}

func (p *publishState) progress() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *publishState) handle(ev control.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *control.StatusEvent:
		if ev.Action != "BOOTSTRAP" {
			return
		}
		n, err := strconv.Atoi(ev.Arguments["PROGRESS"])
		if err != nil || (p.sawFirst && n <= p.last) {
			return
		}
		p.last, p.sawFirst = n, true
		p.svc.log.Info().Int("progress", n).Str("phase", ev.Arguments["TAG"]).Msg("tor bootstrap")
	case *control.HSDescEvent:
		if p.id == "" || ev.Address != p.id {
			return
		}
		switch ev.Action {
		case "UPLOADED":
			select {
			case <-p.published:
			default:
				close(p.published)
				p.cancel()
			}
		case "FAILED":
			p.svc.log.Warn().Str("reason", ev.Reason).Msg("onion descriptor upload failed")
		}
	}
}

// dialControl connects to a running tor's control port and authenticates
// with its cookie.
func dialControl(addr, cookieFile string) (*control.Conn, error) {
	tc, err := textproto.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to tor control port: %w", err)
	}
	ctrl := control.NewConn(tc)
	if cookieFile == "" {
		err = ctrl.Authenticate("")
	} else {
		err = safeCookieAuth(ctrl, cookieFile)
	}
	if err != nil {
		ctrl.Close()
		return nil, fmt.Errorf("failed to authenticate to tor control port: %w", err)
	}
	return ctrl, nil
}

// safeCookieAuth authenticates with SAFECOOKIE (control-spec section 3.24)
// using the given cookie file, which proves that the tor on the port can
// read the cookie too before we reveal anything derived from it.
func safeCookieAuth(ctrl *control.Conn, cookieFile string) error {
	cookie, err := os.ReadFile(cookieFile)
	if err != nil {
		return fmt.Errorf("failed to read control cookie: %w", err)
	}
	if len(cookie) != 32 {
		return fmt.Errorf("malformed control cookie %s: %d bytes, want 32", cookieFile, len(cookie))
	}
	clientNonce := make([]byte, 32)
	rand.Read(clientNonce)
	resp, err := ctrl.SendRequest("AUTHCHALLENGE SAFECOOKIE %s", hex.EncodeToString(clientNonce))
	if err != nil {
		return err
	}
	var serverHash, serverNonce []byte
	for _, f := range strings.Fields(resp.Reply) {
		if v, ok := strings.CutPrefix(f, "SERVERHASH="); ok {
			serverHash, _ = hex.DecodeString(v)
		} else if v, ok := strings.CutPrefix(f, "SERVERNONCE="); ok {
			serverNonce, _ = hex.DecodeString(v)
		}
	}
	if len(serverHash) != 32 || len(serverNonce) != 32 {
		return errors.New("malformed AUTHCHALLENGE reply")
	}
	mac := func(key string) []byte {
		h := hmac.New(sha256.New, []byte(key))
		h.Write(cookie)
		h.Write(clientNonce)
		h.Write(serverNonce)
		return h.Sum(nil)
	}
	if !hmac.Equal(serverHash, mac("Tor safe cookie authentication server-to-controller hash")) {
		return errors.New("the tor on the control port does not know the cookie: wrong cookie file or not the expected tor")
	}
	if _, err := ctrl.SendRequest("AUTHENTICATE %s", hex.EncodeToString(mac("Tor safe cookie authentication controller-to-server hash"))); err != nil {
		return err
	}
	ctrl.Authenticated = true
	return nil
}

// torCreator is a bine process.Creator that starts tor so that it dies with
// this process (Pdeathsig), stops it with SIGTERM then SIGKILL when its
// context ends, keeps the end of its output for error messages, and lets
// several goroutines wait for it.
type torCreator struct {
	path string
	last *torProcess
}

func (c *torCreator) New(ctx context.Context, args ...string) (process.Process, error) {
	p := &torProcess{cmd: exec.CommandContext(ctx, c.path, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGTERM) }
	p.cmd.WaitDelay = stopWait
	c.last = p
	return p, nil
}

type torProcess struct {
	cmd  *exec.Cmd
	out  tailBuffer
	done chan struct{}
	err  error // set before done is closed
}

func (p *torProcess) Start() error {
	if err := p.cmd.Start(); err != nil {
		p.err = err
		close(p.done)
		return err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

func (p *torProcess) Wait() error {
	<-p.done
	return p.err
}

func (p *torProcess) EmbeddedControlConn() (net.Conn, error) {
	return nil, process.ErrControlConnUnsupported
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(strings.ReplaceAll(string(t.b), "\n", " | "))
}
