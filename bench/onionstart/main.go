// Command onionstart measures how long `intake serve` takes, from start to
// the questionnaire answering through Tor, on a private Tor network on
// 127.0.0.1, and the memory of the server and its tor.
//
//	go run ./bench/onionstart -runs 5
//
// It builds cmd/intake, starts a private network once, then runs the
// server RUNS times with a fresh data directory (a new onion address, the
// cold case) and once more with the last directory (a restart).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/tornet"
)

func main() {
	runs := flag.Int("runs", 5, "number of cold starts")
	flag.Parse()
	if err := run(*runs); err != nil {
		log.Fatal(err)
	}
}

func run(runs int) error {
	dir, err := os.MkdirTemp("", "onionstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "intake")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/intake").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	ctx := context.Background()
	t0 := time.Now()
	n, err := tornet.Start(ctx, tornet.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Printf("private network ready in %.1f s\n", time.Since(t0).Seconds())
	netFile := filepath.Join(dir, "private-network")
	if err := os.WriteFile(netFile, []byte(strings.Join(n.TorrcLines(), "\n")+"\n"), 0o600); err != nil {
		return err
	}
	client := n.HTTPClient(30 * time.Second)

	var times []float64
	var data string
	for i := 0; i <= runs; i++ {
		restart := i == runs
		if !restart {
			data = filepath.Join(dir, fmt.Sprintf("data-%d", i))
		}
		secs, rss, err := serveOnce(bin, data, netFile, client)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("cold start %d", i+1)
		if restart {
			label = "restart, same address"
		} else {
			times = append(times, secs)
		}
		fmt.Printf("%-22s %5.1f s to answer through Tor; RSS server %d MiB, its tor %d MiB\n", label, secs, rss[0]>>20, rss[1]>>20)
	}
	slices.Sort(times)
	fmt.Printf("median cold start: %.1f s (min %.1f, max %.1f) over %d runs\n", times[len(times)/2], times[0], times[len(times)-1], len(times))
	return nil
}

// serveOnce starts `intake serve`, waits until the questionnaire answers
// through Tor, measures memory, and stops the server with SIGTERM.
func serveOnce(bin, data, netFile string, client *http.Client) (float64, [2]int64, error) {
	var rss [2]int64
	study, err := servableStudy(filepath.Dir(data))
	if err != nil {
		return 0, rss, err
	}
	cmd := exec.Command(bin, "serve", "--config", study, "--data", data, "--private-tor-network", netFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, rss, err
	}
	cmd.Stderr = io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, rss, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	line, _ := bufio.NewReader(out).ReadString('\n')
	addr := strings.TrimSpace(strings.TrimPrefix(line, "serving on "))
	if !strings.HasSuffix(addr, ".onion") {
		return 0, rss, fmt.Errorf("serve printed %q", line)
	}
	for {
		resp, err := client.Get(addr + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 3*time.Minute {
			return 0, rss, fmt.Errorf("%s did not answer within 3 minutes", addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	secs := time.Since(start).Seconds()
	rss[0] = tornet.RSS([]int{cmd.Process.Pid})
	// tor is a child of whichever thread of the server started it.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cmd.Process.Pid))
	for _, t := range tasks {
		kids, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(kids)) {
			if pid, err := strconv.Atoi(f); err == nil {
				rss[1] += tornet.RSS([]int{pid})
			}
		}
	}
	return secs, rss, nil
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
