package reply

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// BenchmarkChromiumFind10000 is the come-back page's work in the browser
// (reply.js in headless Chromium): among 10,000 stored records, 3 are the
// person's, from three researchers; ms/find is the time the page measures
// for finding, opening and reading them, the keys already derived.
func BenchmarkChromiumFind10000(b *testing.B) {
	ctx := chromium(b, "nacl.min.js", "argon2id.min.js", "returnkey.js", "reply.js")
	var seed [32]byte
	for i := range seed {
		seed[i] = 1 + byte(i)*3 // person(1)
	}
	var recs, pubs []string
	for k := range 3 {
		id := researcher(b, k)
		rec, err := Seal(person(1).Address(), uint32(k), id, content(b, "reply"))
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, "'"+base64.StdEncoding.EncodeToString(rec)+"'")
		pubs = append(pubs, "'"+id.Recipient().String()+"'")
	}
	setup := fmt.Sprintf(`(function () {
		var n = 10000, size = testimonyReply.RECORD_SIZE, all = new Uint8Array(n * size);
		for (var off = 0; off < all.length; off += 65536) crypto.getRandomValues(all.subarray(off, Math.min(all.length, off + 65536)));
		[%s].forEach(function (b64, k) {
			var s = atob(b64), rec = new Uint8Array(s.length);
			for (var i = 0; i < s.length; i++) rec[i] = s.charCodeAt(i);
			all.set(rec, (k * 3333 + 17) * size);
		});
		var seed = new Uint8Array(32);
		'%s'.match(/../g).forEach(function (h, i) { seed[i] = parseInt(h, 16); });
		window.bench = { records: all, keys: testimonyReturnKey.keys(seed), researchers: [%s].map(testimonyReturnKey.researcher) };
		return all.length;
	})()`, strings.Join(recs, ","), hex.EncodeToString(seed[:]), strings.Join(pubs, ","))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[float64](setup)); err != nil {
		b.Fatal(err)
	}
	var total float64
	b.ResetTimer()
	for b.Loop() {
		res, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(function () {
			var t = performance.now();
			var r = testimonyReply.find(bench.records, bench.keys, 'nk-internet-2026', bench.researchers);
			return [performance.now() - t, r.found.length];
		})()`))
		if err != nil {
			b.Fatal(err)
		}
		if res[1] != 3 {
			b.Fatalf("found %v replies, want 3", res[1])
		}
		total += res[0]
	}
	b.ReportMetric(total/float64(b.N), "ms/find")
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
		src, err := os.ReadFile("../intake/static/" + s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[float64](string(src)+"\n;0")); err != nil {
			b.Fatalf("failed to load %s: %v", s, err)
		}
	}
	return ctx
}
