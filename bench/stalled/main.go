// Command stalled measures `intake serve` under a slow-request attack: many
// uploads to /sealed that send most of a large body and then stall, and
// many connections that never send a request, while one person uses the
// site normally. It reports the server's resident memory and the person's
// latency.
//
//	go run ./bench/stalled                       # 1,000 stalled 700 KB uploads, 5,000 idle connections
//	go run ./bench/stalled -stalled 200 -idle 0  # a smaller attack
//
// It builds cmd/intake and serves the example study on a loopback port
// (`intake serve --listen`; in production the connections come from tor
// through a Unix socket, which the server treats the same way). The
// attacker's connections are opened first; with -reconnect, every one the
// server closes is opened again after 100 ms, so that the attack lasts the
// whole run. Then the
// person visits the site in a loop for -duration: the landing page, the
// one-page questionnaire, an envelope posted to /sealed and a form posted
// to /submit that declines a return passphrase (with -passphrase, one
// that takes it: each then costs the server an Argon2id derivation of 64
// MiB), each request timed. Memory is sampled from /proc every
// 50 ms. At the end the server gets SIGTERM; the time it takes to exit and
// its exit status are reported too.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/intake"
)

type options struct {
	stalled, idle  int
	stallBytes     int
	contentLength  int
	duration       time.Duration
	people         int
	reconnect      bool
	passphrase     bool
	bin, serveArgs string
}

func main() {
	var o options
	flag.IntVar(&o.stalled, "stalled", 1000, "uploads to /sealed that stall")
	flag.IntVar(&o.idle, "idle", 5000, "connections that never send a request")
	flag.IntVar(&o.stallBytes, "stall-bytes", 700_000, "bytes of body each stalled upload sends before it stalls")
	flag.IntVar(&o.contentLength, "content-length", 743_025, "Content-Length the stalled uploads announce")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long the person uses the site during the attack")
	flag.IntVar(&o.people, "people", 1, "people using the site at once")
	flag.BoolVar(&o.reconnect, "reconnect", false, "open every attacking connection the server closes again, 100 ms later")
	flag.BoolVar(&o.passphrase, "passphrase", false, "the person's form posts take a return passphrase (the server derives its keys)")
	flag.StringVar(&o.bin, "bin", "", "intake binary to measure (default: build ./cmd/intake)")
	flag.StringVar(&o.serveArgs, "serve-args", "", "extra arguments for intake serve, space-separated")
	flag.Parse()
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "stalled-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "intake")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/intake").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	studyPath, err := servableStudy(dir)
	if err != nil {
		return err
	}
	study, err := config.Load(studyPath)
	if err != nil {
		return err
	}
	args := []string{"serve", "--config", studyPath, "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0"}
	args = append(args, strings.Fields(o.serveArgs)...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	line, _ := bufio.NewReader(out).ReadString('\n')
	base, ok := strings.CutPrefix(line, "serving on ")
	if f := strings.Fields(base); ok && len(f) > 0 {
		base = f[0]
	} else {
		return fmt.Errorf("serve printed %q; stderr: %s", line, stderr.String())
	}
	addr := strings.TrimPrefix(base, "http://")
	pid := cmd.Process.Pid
	fmt.Printf("server %s (pid %d): RSS %d MiB at start\n", base, pid, rss(pid, "VmRSS:")>>20)

	ctx, stopAttack := context.WithCancel(context.Background())
	defer stopAttack()
	var mem sampler
	go mem.run(ctx, pid)

	// The attack: connections that say nothing, and uploads that stall.
	var a attack
	t0 := time.Now()
	var wg sync.WaitGroup
	opened := make(chan struct{}, o.idle+o.stalled)
	body := stalledBody(o.stallBytes)
	for i := range o.idle + o.stalled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger the first connections a little, as a script would.
			time.Sleep(time.Duration(i%200) * time.Millisecond)
			if i < o.idle {
				a.loop(ctx, addr, nil, 0, o.reconnect, opened)
			} else {
				a.loop(ctx, addr, body, o.contentLength, o.reconnect, opened)
			}
		}()
	}
	for range o.idle + o.stalled {
		select {
		case <-opened:
		case <-time.After(60 * time.Second):
			return fmt.Errorf("the attack's connections did not open within 60 s")
		}
	}
	setup := time.Since(t0)
	// Let the uploads send what they can.
	time.Sleep(3 * time.Second)
	fmt.Printf("attack under way after %.1f s: %d idle connections and %d uploads opened; RSS %d MiB\n",
		setup.Seconds(), o.idle, o.stalled, rss(pid, "VmRSS:")>>20)

	// The person.
	mem.reset()
	lat, failures, err := person(base, study, o)
	if err != nil {
		return err
	}
	during := mem.max()
	snap := a.snapshot()

	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	fmt.Printf("person: %d requests in %s, p50 %.1f ms, p99 %.1f ms, max %.1f ms, failures: %v\n",
		len(lat), o.duration, q(0.50), q(0.99), q(1), failures)
	fmt.Printf("server RSS while the person was served: max %d MiB; peak of the whole run (VmHWM) %d MiB\n",
		during>>20, rss(pid, "VmHWM:")>>20)
	fmt.Printf("attack: %d connections closed by the server, %d upload bodies fully sent, answers to uploads: %v\n",
		snap.closed, snap.sent, snap.statuses)

	// Stop the server while the attack goes on.
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		fmt.Printf("SIGTERM during the attack: server exited in %.1f s with status %d\n", time.Since(start).Seconds(), code)
	case <-time.After(60 * time.Second):
		return errors.New("the server did not exit within 60 s of SIGTERM")
	}
	stopAttack()
	wg.Wait()
	if os.Getenv("STALLED_SHOW_LOG") != "" {
		fmt.Print(stderr.String())
	}
	return nil
}

// stalledBody returns n bytes of a form body whose envelope field looks
// like base64.
func stalledBody(n int) []byte {
	b := []byte("lang=ko&envelope=")
	for len(b) < n {
		b = append(b, "QUJDRA"...)
	}
	return b[:n]
}

type attack struct {
	mu       sync.Mutex
	closed   int
	sent     int
	statuses map[string]int
}

type attackSnapshot struct {
	closed, sent int
	statuses     map[string]int
}

func (a *attack) snapshot() attackSnapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	return attackSnapshot{a.closed, a.sent, maps.Clone(a.statuses)}
}

// loop keeps one attacking connection open until ctx is done: it connects,
// sends the request head and body (if any) and then nothing more, and,
// with reconnect, connects again 100 ms after the server closes it.
func (a *attack) loop(ctx context.Context, addr string, body []byte, contentLength int, reconnect bool, opened chan<- struct{}) {
	first := true
	for ctx.Err() == nil {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if first {
			opened <- struct{}{}
			first = false
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
			case <-done:
			}
			c.Close()
		}()
		if body != nil {
			go func() {
				head := "POST /sealed HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(contentLength) + "\r\n\r\n"
				if _, err := c.Write(append([]byte(head), body...)); err == nil {
					a.mu.Lock()
					a.sent++
					a.mu.Unlock()
				}
			}()
		}
		// Wait for the server to answer or close.
		status := ""
		if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
			f := strings.Fields(line)
			if len(f) > 1 {
				status = f[1]
			}
			io.Copy(io.Discard, c)
		}
		close(done)
		if ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		a.closed++
		if a.statuses == nil {
			a.statuses = map[string]int{}
		}
		if status == "" {
			status = "closed without an answer"
		}
		a.statuses[status]++
		a.mu.Unlock()
		if !reconnect {
			<-ctx.Done()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// person visits the site in a loop for o.duration, as someone testifying
// would, and returns the latency of every request.
func person(base string, study *config.Study, o options) ([]time.Duration, map[string]int, error) {
	recipients, err := study.RecipientKeys()
	if err != nil {
		return nil, nil, err
	}
	env, err := envelope.Seal(study.ID, []byte(strings.Repeat("증언 ", 700)), recipients)
	if err != nil {
		return nil, nil, err
	}
	sealed := url.Values{"lang": {"ko"}, "envelope": {base64.StdEncoding.EncodeToString(env)}}.Encode()
	fv := url.Values{"lang": {"ko"}, "q.consent": {"yes"}, "q.testimony": {"도서관에서 보았다"}}
	if !o.passphrase {
		fv.Set(intake.NoReturnField, "1")
	}
	form := fv.Encode()
	type req struct{ method, path, body string }
	visit := []req{
		{"GET", "/?lang=ko", ""},
		{"GET", "/form?lang=ko&all=1", ""},
		{"POST", "/sealed", sealed},
		{"POST", "/submit", form},
	}
	var mu sync.Mutex
	var lat []time.Duration
	failures := map[string]int{}
	deadline := time.Now().Add(o.duration)
	var wg sync.WaitGroup
	for range o.people {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One browser: keeps its connections alive, as Tor Browser does.
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 6}}
			for time.Now().Before(deadline) {
				for _, r := range visit {
					req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
					if r.body != "" {
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					}
					t := time.Now()
					resp, err := c.Do(req)
					fail := ""
					if err != nil {
						fail = r.path + ": " + err.Error()
					} else {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							fail = r.path + ": " + resp.Status
						}
					}
					d := time.Since(t)
					mu.Lock()
					lat = append(lat, d)
					if fail != "" {
						failures[fail]++
					}
					mu.Unlock()
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	return lat, failures, nil
}

// sampler keeps the largest resident memory seen since the last reset.
type sampler struct{ peak atomic.Int64 }

func (s *sampler) run(ctx context.Context, pid int) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if r := rss(pid, "VmRSS:"); r > s.peak.Load() {
				s.peak.Store(r)
			}
		}
	}
}

func (s *sampler) reset()     { s.peak.Store(0) }
func (s *sampler) max() int64 { return s.peak.Load() }

// rss reads a memory figure (VmRSS:, VmHWM:) of a process from /proc, in
// bytes.
func rss(pid int, field string) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			if fs := strings.Fields(rest); len(fs) == 2 {
				kb, _ := strconv.ParseInt(fs[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// servableStudy writes the example study into dir with throwaway
// researcher keys in place of its placeholders, which intake serve
// refuses, and returns its path.
func servableStudy(dir string) (string, error) {
	b, err := os.ReadFile("examples/nk-internet-access.yaml")
	if err != nil {
		return "", err
	}
	var genErr error
	b = regexp.MustCompile(`public_key: testimony-pub-[a-z2-7]+`).ReplaceAllFunc(b, func([]byte) []byte {
		id, err := envelope.GenerateIdentity()
		if err != nil {
			genErr = err
			return nil
		}
		return []byte("public_key: " + id.Recipient().String())
	})
	if genErr != nil {
		return "", genErr
	}
	p := filepath.Join(dir, "study.yaml")
	return p, os.WriteFile(p, b, 0o600)
}
