package browsertest

import (
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/reply"
)

// BenchmarkChromiumComeBack is the come-back page in Chromium with
// JavaScript, with 10,000 replies stored (3 of them to the person, the
// rest records the browser cannot tell from replies): from pressing
// "Open" with the words typed to the replies shown, which is the KDF
// (Argon2id, 64 MiB), the download of every record over loopback, and
// finding and opening the person's. ms/open is that time; MiB is the
// download.
func BenchmarkChromiumComeBack(b *testing.B) {
	const n = 10000
	_, st, ids := studyFile(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := startSite(b, st, ln, "http://"+ln.Addr().String())
	p, _ := returnkey.Generate()
	k, err := returnkey.Derive(p, st.ID)
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]byte, 0, n*reply.RecordSize)
	for i := range 3 {
		c := &reply.Content{Study: st.ID, ID: reply.NewID(), Lang: "ko", Text: strings.Repeat("답장 ", 100)}
		data, _ := c.Marshal()
		rec, err := reply.Seal(k.Address(), uint32(i), ids[0], data)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec...)
	}
	junk := make([]byte, (n-3)*reply.RecordSize)
	rand.Read(junk)
	recs = append(recs, junk...)
	dir := filepath.Join(s.data.Dir, "replies")
	os.MkdirAll(dir, 0o700)
	if err := os.WriteFile(filepath.Join(dir, time.Now().UTC().Format(time.DateOnly)), recs, 0o600); err != nil {
		b.Fatal(err)
	}
	resp, err := http.Get(s.base + "/back/replies")
	if err != nil {
		b.Fatal(err)
	}
	size, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ctx, nl := browser(b, true, "")
	var total time.Duration
	for b.Loop() {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/back?lang=ko"), chromedp.WaitVisible(chromedp.CSS(`#js-note`)),
			chromedp.SendKeys(chromedp.CSS(`#pp`), p.Format("ko"))); err != nil {
			b.Fatal(err)
		}
		nl.reset()
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#bf button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`section.reply:nth-of-type(3)`))); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if _, urls := nl.weight(); len(urls) != 1 {
			b.Fatalf("opening made requests %v, want one download", urls)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/open")
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}
