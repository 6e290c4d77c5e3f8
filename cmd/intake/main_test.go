package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			if sub.Runnable() && sub.Example == "" {
				t.Errorf("intake %s has no example in --help", sub.Name())
			}
			walk(sub)
		}
	}
	walk(newRoot(nil, nil))
}

func TestServeRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", "[::]:80", "192.168.1.1:80", "localhost:80", "example.com:80", "8080"} {
		_, _, err := run(t, "serve", "--config", "x.yaml", "--data", t.TempDir(), "--listen", addr)
		if err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("--listen %s: err = %v, want a refusal naming 127.0.0.1", addr, err)
		}
	}
}

func TestServerKeyIsStable(t *testing.T) {
	dir := t.TempDir()
	a, _, err := run(t, "server-key", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := run(t, "server-key", "--data", dir)
	if a != b || !strings.HasPrefix(a, "testimony-server+") {
		t.Fatalf("server key %q then %q", a, b)
	}
}

func TestExportNeedsAStudyAndPurgeNeedsIntent(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := run(t, "export", "--data", dir, "--out", filepath.Join(dir, "b.tar")); err == nil || !strings.Contains(err.Error(), "intake serve") {
		t.Fatalf("export of a fresh data directory: %v", err)
	}
	if _, _, err := run(t, "purge", "--data", dir); err == nil || !strings.Contains(err.Error(), "--exported") {
		t.Fatalf("purge without --exported: %v", err)
	}
}

// TestServerNeverLinksKeyFileCode checks that the packages that serve,
// store and export never import the code that reads a researcher's private
// key file or decrypts testimonies.
func TestServerNeverLinksKeyFileCode(t *testing.T) {
	for _, pkg := range []string{"intake", "store", "batch", "oplog", "config", "response"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/testimony-project/testimony/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, forbidden := range []string{"/crypto/keyfile", "/researcher", "/pseudonym"} {
			if strings.Contains(string(out), "testimony"+forbidden+"\n") {
				t.Errorf("package %s depends on testimony%s", pkg, forbidden)
			}
		}
	}
}
