package intake

import (
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/reply"
)

// storeReplies writes n reply records into the day's file of dir: three
// real replies to the person whose passphrase it returns, and n-3 records
// of random bytes, which the server cannot tell from replies.
func storeReplies(b *testing.B, dir string, id *envelope.Identity, study string, n int) *returnkey.Passphrase {
	b.Helper()
	p, _ := returnkey.Generate()
	k, err := returnkey.Derive(p, study)
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]byte, 0, n*reply.RecordSize)
	for i := range 3 {
		c := &reply.Content{Study: study, ID: reply.NewID(), Lang: "ko", Text: strings.Repeat("답장 ", 100)}
		data, _ := c.Marshal()
		rec, err := reply.Seal(k.Address(), uint32(i), id, data)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec...)
	}
	junk := make([]byte, (n-3)*reply.RecordSize)
	rand.Read(junk)
	recs = append(recs, junk...)
	recs = sortRecords(recs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, time.Now().UTC().Format(time.DateOnly)), recs, 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkBack is the come-back page's cost on the server with 10,000
// stored replies: "build" makes the download again after the records
// changed (read, pad, sort); "download" serves it, from memory, as
// /back/replies does for each person with JavaScript; "open" is one post
// of a passphrase without JavaScript (the words read, the KDF, the
// person's 3 replies found among the records, the page written).
func BenchmarkBack(b *testing.B) {
	const n = 10000
	st, id := testStudyAndKey(b)
	dir := filepath.Join(b.TempDir(), "replies")
	p := storeReplies(b, dir, id, st.ID, n)
	words := p.Format("ko")

	b.Run("build", func(b *testing.B) {
		c := &replyCache{src: OpenReplies(dir)}
		b.ReportAllocs()
		for b.Loop() {
			c.ok = false
			if _, body, err := c.get(); err != nil || len(body) < n*reply.RecordSize {
				b.Fatal(err)
			}
		}
	})

	ts := serveTest(b, Config{Study: st, Store: tempStoreTB(b), Replies: OpenReplies(dir)})
	b.Run("download", func(b *testing.B) {
		var size int64
		for b.Loop() {
			resp, err := http.Get(ts.base + "/back/replies")
			if err != nil {
				b.Fatal(err)
			}
			size, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.SetBytes(size)
		b.ReportMetric(float64(size)/(1<<20), "MiB")
	})
	b.Run("open", func(b *testing.B) {
		form := url.Values{"lang": {"ko"}, "passphrase": {words}}.Encode()
		for b.Loop() {
			resp, err := http.Post(ts.base+"/back", "application/x-www-form-urlencoded", strings.NewReader(form))
			if err != nil {
				b.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || strings.Count(string(page), `class="reply"`) != 3 {
				b.Fatalf("status %d, not 3 replies", resp.StatusCode)
			}
		}
	})
}

// BenchmarkComeBackFlood sends testimonies without JavaScript, each
// taking a return passphrase, one after another, while 16 clients post
// passphrases to the come-back page as fast as the server answers, with
// one derivation slot (the default on 2 cores). It reports the share of
// testimonies answered 200 with their words, and the time each took.
func BenchmarkComeBackFlood(b *testing.B) {
	st, _ := testStudyAndKey(b)
	ts := serveTest(b, Config{Study: st, Store: tempStoreTB(b), Limits: Limits{KDFs: 1}})
	stop := make(chan struct{})
	done := make(chan struct{})
	const flooders = 16
	for range flooders {
		go func() {
			defer func() { done <- struct{}{} }()
			p, _ := returnkey.Generate()
			form := url.Values{"lang": {"en"}, "passphrase": {p.Format("en")}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if resp, err := http.PostForm(ts.base+"/back", form); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	time.Sleep(time.Second) // the flood under way
	var took []time.Duration
	ok := 0
	for b.Loop() {
		start := time.Now()
		resp, err := http.PostForm(ts.base+"/submit", url.Values{"lang": {"en"}, "q.used": {"no"}, "q.consent": {"yes"}})
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took = append(took, time.Since(start))
		if resp.StatusCode == http.StatusOK && wordsRE.Match(body) {
			ok++
		}
	}
	close(stop)
	for range flooders {
		<-done
	}
	slices.Sort(took)
	b.ReportMetric(float64(ok)/float64(len(took)), "answered")
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
}
