// Command decrypt measures `researcher decrypt` on batches of growing size:
// wall time per envelope and peak memory (RSS), every export written, with a
// real key file (argon2id, 256 MiB).
//
//	go run ./bench/decrypt -n 10000,100000
//
// It builds cmd/researcher, makes a key with `researcher keygen`, then for
// each size seals that many envelopes of about 8 KiB to it, writes a signed
// batch, and runs `researcher decrypt` on it into a new workspace in a child
// process. It samples the child's memory every 2 ms from /proc, and
// reports its peak RSS (VmHWM) and the largest RSS once the key was
// unlocked (once the first progress line appeared), with that figure's
// difference from the peak of a run decrypting a single envelope: what
// unlocking the key needs.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	sizes := flag.String("n", "1000,10000,100000", "comma-separated numbers of envelopes")
	keep := flag.Bool("keep", false, "keep the folder with the batches and workspaces, and print it")
	flag.Parse()
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("malformed -n %q: want numbers of envelopes like 10000,100000", *sizes)
		}
		ns = append(ns, n)
	}
	if err := run(ns, *keep); err != nil {
		log.Fatal(err)
	}
}

const story = "도서관 관리원이 옆에서 지켜보았다. 5분마다 화면이 멈췄다. "

func run(ns []int, keep bool) error {
	dir, err := os.MkdirTemp("", "bench-decrypt-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("files in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := filepath.Join(dir, "researcher")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/researcher").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	key, pass := filepath.Join(dir, "researcher.key"), filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("correct horse battery staple"), 0o600); err != nil {
		return err
	}
	out, err := exec.Command(bin, "keygen", "--out", key, "--passphrase-file", pass).Output()
	if err != nil {
		return fmt.Errorf("keygen: %v", err)
	}
	pub := strings.TrimPrefix(strings.SplitN(string(out), "\n", 2)[0], "public key:  ")
	r, err := envelope.ParseRecipient(pub)
	if err != nil {
		return err
	}
	studyPath := filepath.Join(dir, "study.yaml")
	y := fmt.Sprintf(`id: bench-decrypt
title: {ko: 시험, en: Test, zh: 测试}
introduction: {ko: 시험, en: Test, zh: 测试}
recipients:
  - {name: Researcher, public_key: %s}
questions:
  - {id: story, type: long_text, label: {ko: 이야기, en: Story, zh: 故事}}
  - {id: consent, type: consent, label: {ko: 동의, en: Consent, zh: 同意}}
`, pub)
	if err := os.WriteFile(studyPath, []byte(y), 0o600); err != nil {
		return err
	}
	study, err := config.Load(studyPath)
	if err != nil {
		return err
	}
	skey, vkey, err := batch.GenerateKey("bench-server")
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "server.pub"), []byte(vkey), 0o600); err != nil {
		return err
	}
	text := strings.Repeat(story, 1+7900/len(story))[:7900]
	for !strings.HasSuffix(text, " ") {
		text = text[:len(text)-1] // valid UTF-8
	}
	pt, err := response.Marshal(study, &response.Response{Study: study.ID, Language: "ko", Answers: map[string][]string{"story": {text}, "consent": {"yes"}}})
	if err != nil {
		return err
	}

	fmt.Printf("%10s %9s %11s %13s %10s %24s\n", "envelopes", "wall s", "µs/envelope", "envelopes/s", "peak RSS", "RSS decrypting (vs unlock)")
	var unlock int64
	for _, n := range append([]int{1}, ns...) {
		path := filepath.Join(dir, fmt.Sprintf("batch-%d.tar", n))
		if err := writeBatch(path, study.ID, pt, r, signer, n); err != nil {
			return err
		}
		cmd := exec.Command(bin, "decrypt", "--key", key, "--passphrase-file", pass, "--study", studyPath,
			"--server-key", vkey, "--out", filepath.Join(dir, fmt.Sprintf("ws-%d", n)), path)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return err
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		// The first progress line says the key is unlocked: from then
		// on, sample the child's RSS.
		var unlocked atomic.Bool
		var sampled, hwm atomic.Int64
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					rss, peak := memory(cmd.Process.Pid)
					if peak > hwm.Load() {
						hwm.Store(peak)
					}
					if unlocked.Load() && rss > sampled.Load() {
						sampled.Store(rss)
					}
				}
			}
		}()
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			unlocked.Store(true)
			lines = append(lines, sc.Text())
		}
		err = cmd.Wait()
		close(done)
		wall := time.Since(start)
		if err != nil {
			return fmt.Errorf("decrypt of %d envelopes: %v\n%s", n, err, strings.Join(lines, "\n"))
		}
		rss := hwm.Load()
		if n == 1 {
			unlock = rss
			fmt.Printf("%10d %9.2f %11s %13s %7.0f MiB %17s   (key unlock)\n", n, wall.Seconds(), "", "", mib(rss), "")
			continue
		}
		fmt.Printf("%10d %9.2f %11.0f %13.0f %7.0f MiB %10.0f MiB (%+.0f)\n", n, wall.Seconds(),
			float64(wall.Microseconds())/float64(n), float64(n)/wall.Seconds(), mib(rss), mib(sampled.Load()), mib(sampled.Load()-unlock))
		if !keep {
			os.Remove(path)
			os.RemoveAll(filepath.Join(dir, fmt.Sprintf("ws-%d", n)))
		}
	}
	return nil
}

// memory returns the resident set size of process pid and its peak, from
// /proc/PID/status (VmRSS, VmHWM), or zeros. (getrusage would report the
// peak of this process for a child started with vfork, as os/exec does.)
func memory(pid int) (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, _ := strings.Cut(line, ":")
		kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		switch name {
		case "VmRSS":
			rss = kib * 1024
		case "VmHWM":
			peak = kib * 1024
		}
	}
	return rss, peak
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// writeBatch seals n envelopes of pt to r, in parallel, and writes them as
// a signed batch to path.
func writeBatch(path, studyID string, pt []byte, r *envelope.Recipient, signer note.Signer, n int) error {
	envs := make([]batch.Envelope, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				env, err := envelope.Seal(studyID, pt, []*envelope.Recipient{r})
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				envs[i] = batch.Envelope{ID: envelopeID(i), Data: env}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := batch.Write(f, signer, studyID, envs); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// envelopeID returns a store-style id for envelope i: 26 characters of a–z
// and 2–7.
func envelopeID(i int) string {
	id := []byte("aaaaaaaaaaaaaaaaaaaaaaaaaa")
	for j := len(id) - 1; i > 0; j, i = j-1, i/32 {
		id[j] = "abcdefghijklmnopqrstuvwxyz234567"[i%32]
	}
	return string(id)
}
