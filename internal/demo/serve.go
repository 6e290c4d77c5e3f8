package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/testimony-project/testimony/internal/tornet"
	"github.com/testimony-project/testimony/onion"
)

// startServing serves hs on loopback or as an onion service on a new
// private Tor network (calling published at each publication), and returns the server's base URL and a client that
// reaches it. stop tears everything down.
func startServing(ctx context.Context, o Options, dir string, hs *http.Server, published func(), step func(who, format string, args ...any)) (base string, client *http.Client, stop func(), err error) {
	var cleanups []func()
	stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if o.Loopback {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, stop, err
		}
		go hs.Serve(ln)
		cleanups = append(cleanups, func() { hs.Close() })
		base = "http://" + ln.Addr().String()
		step("operator", "Server listening on %s (loopback, development mode)", base)
		return base, &http.Client{Timeout: time.Minute}, stop, nil
	}

	step("network", "Starting a private Tor network on 127.0.0.1: 3 directory authorities, 3 relays, 1 client (about 20–30 s) …")
	t0 := time.Now()
	tn, err := tornet.Start(ctx, tornet.Options{Dir: filepath.Join(dir, "tornet")})
	if err != nil {
		return "", nil, stop, fmt.Errorf("failed to start the private Tor network: %w", err)
	}
	cleanups = append(cleanups, func() { tn.Close() })
	fmt.Fprintf(o.Out, "  consensus lists every relay, client bootstrapped: %.1f s\n", time.Since(t0).Seconds())

	step("operator", "Starting tor with the onion service (key kept in the data directory, proof-of-work defence on) …")
	t1 := time.Now()
	svc, err := onion.Start(ctx, onion.Config{
		DataDir:     filepath.Join(dir, "server", "onion"),
		TestNetwork: tn.ExtraArgs(),
		Published:   published,
	})
	if err != nil {
		return "", nil, stop, fmt.Errorf("failed to start the onion service: %w", err)
	}
	go hs.Serve(svc.Listener())
	cleanups = append(cleanups, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		svc.Close()
	})
	base = "http://" + svc.Address()
	fmt.Fprintf(o.Out, "  published %s in %.1f s; the server has no TCP listener, only a Unix socket for tor\n", svc.Address(), time.Since(t1).Seconds())

	client = tn.HTTPClient(2 * time.Minute)
	// The descriptor may take a moment to reach the directories.
	t2 := time.Now()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if ctx.Err() != nil {
			return "", nil, stop, ctx.Err()
		}
		if time.Since(t2) > 2*time.Minute {
			return "", nil, stop, errors.New("the onion service did not answer through Tor within 2 minutes")
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintf(o.Out, "  the questionnaire answers through Tor after %.1f s\n", time.Since(t2).Seconds())
	return base, client, stop, nil
}
