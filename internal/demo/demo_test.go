package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/crypto/keyfile"
	"github.com/testimony-project/testimony/response"
)

var fastKDF = keyfile.Params{Time: 1, MemoryKiB: keyfile.MinMemoryKiB, Threads: 1}

// checkResult checks the researcher got back exactly the demo's answers.
func checkResult(t *testing.T, res *Result) {
	t.Helper()
	all := append(slices.Clone(samples), sealedSamples...)
	if res.Submitted != len(all) || len(res.Testimonies) != len(all) {
		t.Fatalf("submitted %d, decrypted %d, want %d", res.Submitted, len(res.Testimonies), len(all))
	}
	want := map[string]bool{}
	for _, s := range all {
		want[key(s.lang, s.answers)] = true
	}
	for _, tm := range res.Testimonies {
		got := map[string][]string{}
		for id, raw := range tm.Answers {
			var one string
			if json.Unmarshal(raw, &one) == nil {
				got[id] = []string{one}
			} else {
				var many []string
				json.Unmarshal(raw, &many)
				got[id] = many
			}
		}
		if !want[key(tm.Language, got)] {
			t.Errorf("decrypted testimony %s does not match any submitted: %v", tm.Pseudonym, got)
		}
	}
}

func key(lang string, answers map[string][]string) string {
	var b strings.Builder
	b.WriteString(lang)
	for _, k := range slices.Sorted(maps.Keys(answers)) {
		v := answers[k]
		if k == "testimony" {
			v = []string{response.NormalizeText(v[0])}
		}
		b.WriteString("\x00" + k + "=" + strings.Join(v, "\x01"))
	}
	return b.String()
}

func TestDemoLoopback(t *testing.T) {
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Out: &out, Dir: t.TempDir(), Loopback: true, KDF: fastKDF})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	checkResult(t, res)
	if !strings.Contains(out.String(), "pseudonym") {
		t.Fatalf("no table printed:\n%s", out.String())
	}
}

// TestDemoTor runs the demo as users run it: on a private Tor network, the
// server reachable only as an onion service, every submission through the
// client's SOCKS port.
func TestDemoTor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private Tor network (about 30 s)")
	}
	if _, err := exec.LookPath("tor"); err != nil {
		t.Fatal("tor is not installed: run `make deps` (apt-get install tor)")
	}
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Out: &out, Dir: t.TempDir(), KDF: fastKDF})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(res.Address, ".onion") {
		t.Fatalf("served on %s, want an onion address", res.Address)
	}
	checkResult(t, res)
}
