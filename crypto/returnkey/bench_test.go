package returnkey

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// BenchmarkSeed is the KDF in Go: what the server does, in memory, for a
// person without JavaScript.
func BenchmarkSeed(b *testing.B) {
	p, _ := Generate()
	for b.Loop() {
		if _, err := Seed(p, "nk-internet-2026"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChromiumSeed is the KDF in the browser: returnkey.js with the
// vendored argon2id.min.js in headless Chromium. ms/seed is the time the
// page measures for one derivation.
func BenchmarkChromiumSeed(b *testing.B) {
	ctx := chromium(b, "nacl.min.js", "argon2id.min.js", "returnkey.js")
	var total float64
	for b.Loop() {
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(function () {
			var s = testimonyReturnKey.generate(), t = performance.now();
			testimonyReturnKey.seed(s, 'nk-internet-2026');
			return performance.now() - t;
		})()`))
		if err != nil {
			b.Fatal(err)
		}
		total += ms
	}
	b.ReportMetric(total/float64(b.N), "ms/seed")
}

// chromium starts headless Chromium on a blank page with the scripts of
// intake/static loaded, in order.
func chromium(b *testing.B, scripts ...string) context.Context {
	b.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		b.Skip("chromium is not installed (scripts/deps installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(b.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatalf("failed to start chromium: %v", err)
	}
	for _, s := range scripts {
		src, err := os.ReadFile("../../intake/static/" + s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[float64](string(src)+"\n;0")); err != nil {
			b.Fatalf("failed to load %s: %v", s, err)
		}
	}
	return ctx
}
