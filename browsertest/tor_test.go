package browsertest

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/testimony-project/testimony/internal/tornet"
	"github.com/testimony-project/testimony/onion"
)

// TestQuestionnaireThroughTor fills the questionnaire with JavaScript on,
// in Chromium going through a private Tor network on loopback to the
// server published as an onion service, as a person with Tor Browser
// would reach it.
func TestQuestionnaireThroughTor(t *testing.T) {
	chromiumPath(t)
	if _, err := exec.LookPath("tor"); err != nil {
		t.Fatal("tor is not installed: run scripts/deps (apt-get install tor), or use go test -short")
	}
	st, ids := study(t)
	// The tors live as long as the test: their context must not time out.
	ctx := context.Background()
	start := time.Now()
	netw, err := tornet.Start(ctx, tornet.Options{})
	if err != nil {
		t.Fatalf("private Tor network: %v", err)
	}
	t.Cleanup(func() { netw.Close() })
	t.Logf("private Tor network up in %v", time.Since(start).Round(time.Second))
	pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	svc, err := onion.Start(pctx, onion.Config{DataDir: filepath.Join(t.TempDir(), "onion"), TestNetwork: netw.ExtraArgs()})
	if err != nil {
		t.Fatalf("onion service: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	t.Logf("onion service %s published after %v", svc.Address(), time.Since(start).Round(time.Second))
	s := startSite(t, st, svc.Listener(), "http://"+svc.Address())

	bctx, n := browser(t, true, "socks5://"+netw.SocksAddr())
	// The descriptor may need a moment to reach every directory.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, cancel := context.WithTimeout(bctx, 30*time.Second)
		err := chromedp.Do(c, chromedp.Navigate(s.base+"/exit"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the onion service is not reachable through Tor: %v", err)
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("first page through Tor after %v", time.Since(start).Round(time.Second))
	fillWithJavaScript(t, bctx, n, s, ids, "tor")
}
