package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/examples"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/internal/clitest"
)

// servableExample writes the example study with fresh researcher keys in
// place of its placeholders, and returns its path and the keys.
func servableExample(t testing.TB) (string, []*envelope.Identity) {
	t.Helper()
	var ids []*envelope.Identity
	y := regexp.MustCompile(`public_key: testimony-pub-[a-z2-7]+`).ReplaceAllStringFunc(string(examples.NKInternetAccess), func(string) string {
		id, err := envelope.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		return "public_key: " + id.Recipient().String()
	})
	p := filepath.Join(t.TempDir(), "study.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, ids
}

// TestServeRefusesThePlaceholderKeys serves the example study as shipped:
// nobody could read what would be sealed to its keys. serve says so, and
// how to fix it, before it writes anything.
func TestServeRefusesThePlaceholderKeys(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	_, _, err := run(t, "serve", "--config", "../../examples/nk-internet-access.yaml", "--data", data, "--listen", "127.0.0.1:0")
	if err == nil {
		t.Fatal("serve accepted the example's placeholder keys")
	}
	for _, want := range []string{"nk-internet-access.yaml:", "recipients[0].public_key", "recipients[1].public_key", "placeholder", "researcher keygen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("serve refused the study but made its data directory (%v)", err)
	}
}

// serveUntilStarted runs serve with o until it prints its address, and
// returns what it printed and a function stopping it.
func serveUntilStarted(t *testing.T, o serveOptions) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out clitest.Buffer
	go func() { done <- runServe(ctx, o, &out, io.Discard) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "serving on") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the lines about versions follow
	return out.String(), func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeRevisions serves a study, then revisions of it: a revision
// that changes a question's type is refused and never kept as a version;
// one that keeps the researchers accepts answers to the earlier version
// for the grace period; one that removes a researcher retires the earlier
// versions at once, in the audit log.
func TestServeRevisions(t *testing.T) {
	v1, _ := servableExample(t)
	data := t.TempDir()
	o := serveOptions{study: v1, data: data, listen: "127.0.0.1:0", grace: daysFlag(intake.DefaultGrace)}
	out, stop := serveUntilStarted(t, o)
	stop()
	if !strings.Contains(out, "study nk-internet-2026, version ") || strings.Contains(out, "also accepting") {
		t.Errorf("first start printed:\n%s", out)
	}
	b, _ := os.ReadFile(v1)
	revise := func(old, new string) string {
		t.Helper()
		if !strings.Contains(string(b), old) {
			t.Fatalf("the example lacks %q", old)
		}
		p := filepath.Join(t.TempDir(), "study.yaml")
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	versions := func() int {
		des, _ := os.ReadDir(filepath.Join(data, "versions"))
		return len(des)
	}

	// A year asked as an integer: refused, with the line and the fix.
	bad := revise("  - id: departure_year\n    type: year", "  - id: departure_year\n    type: integer")
	o.study = bad
	err := runServe(context.Background(), o, io.Discard, io.Discard)
	t.Logf("refused: %v", err)
	if err == nil || !strings.Contains(err.Error(), `question "departure_year": type "integer"`) || !strings.Contains(err.Error(), "new id") {
		t.Fatalf("a revision changing a question's type: %v", err)
	}
	if n := versions(); n != 1 {
		t.Fatalf("%d versions kept after a refused revision, want 1", n)
	}

	// A reworded question: version 1 is accepted for two weeks.
	v2 := revise("In what year did you leave North Korea?", "What year did you leave North Korea?")
	o.study = v2
	out, stop = serveUntilStarted(t, o)
	stop()
	t.Logf("revision served:\n%s", out)
	until := time.Now().UTC().AddDate(0, 0, 14).Format(time.DateOnly)
	if !strings.Contains(out, "also accepting answers to version ") || !strings.Contains(out, "until "+until+" (UTC)") {
		t.Errorf("the revision's start printed:\n%s\nwant version 1 accepted until %s", out, until)
	}

	// One researcher removed: both earlier versions retired at once.
	y, _ := os.ReadFile(v2)
	keys := regexp.MustCompile(`(?m)^  - name: Researcher 2.*\n    public_key: .*\n`)
	v3 := filepath.Join(t.TempDir(), "study.yaml")
	os.WriteFile(v3, keys.ReplaceAll(y, nil), 0o600)
	o.study = v3
	out, stop = serveUntilStarted(t, o)
	stop()
	if strings.Contains(out, "also accepting") || !strings.Contains(out, "earlier versions no longer accepted: 2") {
		t.Errorf("after a researcher was removed, serve printed:\n%s", out)
	}
	// A restart records nothing more.
	_, stop = serveUntilStarted(t, o)
	stop()
	key, _, _ := run(t, "audit-key", "--data", data)
	rep, err := audit.Verify(filepath.Join(data, "audit"), strings.TrimSpace(key), nil)
	if err != nil || len(rep.Damage) != 0 {
		t.Fatalf("audit log: %v %v", err, rep.Damage)
	}
	retired := 0
	for _, d := range rep.Days {
		retired += d.Events[audit.EventStudyVersionRetired]
	}
	if retired != 2 {
		t.Errorf("%d study-version-retired records, want 2", retired)
	}
}

func TestAcceptEarlierVersionsFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "0": 0, "0d": 0, "336h": 14 * 24 * time.Hour, "30d": 30 * 24 * time.Hour} {
		var f daysFlag
		if err := f.Set(in); err != nil || time.Duration(f) != want {
			t.Errorf("%q: %v, %v; want %v", in, time.Duration(f), err, want)
		}
	}
	for _, in := range []string{"12h", "1.5d", "-1d", "d", "forever", "5000d", "-24h"} {
		var f daysFlag
		if err := f.Set(in); err == nil {
			t.Errorf("%q accepted as %v", in, time.Duration(f))
		}
	}
	if _, _, err := run(t, "serve", "--config", "x.yaml", "--data", t.TempDir(), "--accept-earlier-versions", "36h"); err == nil || !strings.Contains(err.Error(), "whole days") {
		t.Errorf("--accept-earlier-versions 36h: %v", err)
	}
}
