package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/testimony-project/testimony/onion"
)

// newAddress returns the address of a fresh onion key, as a backend's.
func newAddress(t *testing.T) string {
	t.Helper()
	a, err := onion.CreateKey(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestOnionbalanceConfigCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ob")
	stdout, _, err := run(t, "onionbalance-config", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, frontendKeyName)
	front, err := onion.KeyAddress(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "frontend address: "+front+"\n") || !strings.Contains(stdout, "--onionbalance-frontend "+front) {
		t.Errorf("first run prints:\n%s\nwant the frontend address %s and what to do next", stdout, front)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("--dir has mode %04o, want 0700", fi.Mode().Perm())
	}

	// With the backends: config.yaml for onionbalance, the key kept.
	b1, b2 := newAddress(t), newAddress(t)
	stdout, _, err = run(t, "onionbalance-config", "--dir", dir, "--backend", b1, "--backend", strings.TrimSuffix(b2, ".onion"))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := onion.KeyAddress(keyPath); again != front || !strings.Contains(stdout, front) {
		t.Fatalf("second run changed the frontend key: %s, then %s", front, again)
	}
	raw, err := os.ReadFile(filepath.Join(dir, obConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, obConfigFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("config.yaml has mode %04o, want 0600", fi.Mode().Perm())
	}
	var conf struct {
		Services []struct {
			Key       string
			Instances []struct{ Address, Name string }
		}
	}
	if err := yaml.Unmarshal(raw, &conf); err != nil {
		t.Fatalf("config.yaml does not parse: %v\n%s", err, raw)
	}
	if len(conf.Services) != 1 || conf.Services[0].Key != frontendKeyName || len(conf.Services[0].Instances) != 2 ||
		conf.Services[0].Instances[0].Address+".onion" != b1 || conf.Services[0].Instances[1].Address+".onion" != b2 {
		t.Errorf("config.yaml:\n%s", raw)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend", front}, "frontend's own address"},
		{[]string{"--backend", b1, "--backend", b1}, "given twice"},
		{[]string{"--backend", "example.onion"}, "not a v3 onion address"},
	} {
		if _, _, err := run(t, append([]string{"onionbalance-config", "--dir", dir}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("onionbalance-config %q: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	if now, _ := os.ReadFile(filepath.Join(dir, obConfigFile)); string(now) != string(raw) {
		t.Error("a refused run changed config.yaml")
	}
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o755)
	if _, _, err := run(t, "onionbalance-config", "--dir", open); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("onionbalance-config in a 0755 directory: err = %v", err)
	}

	// The key sealed to a passphrase and restored on a new frontend.
	pass := writeSecret(t, "correct horse battery staple of the frontend")
	sealed := filepath.Join(t.TempDir(), "frontend-key.age")
	if _, _, err := run(t, "onionbalance-config", "--dir", dir, "--backup-to", sealed, "--passphrase-file", pass, "--insecure-fast-passphrase"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(sealed)
	if !strings.HasPrefix(string(b), "age-encryption.org/v1\n-> scrypt ") {
		t.Errorf("backup is not an age file sealed to a passphrase: %q", b[:min(len(b), 60)])
	}
	key, _ := os.ReadFile(keyPath)
	if strings.Contains(string(b), string(key[32:])) {
		t.Error("backup holds the key in the clear")
	}
	newDir := filepath.Join(t.TempDir(), "new")
	stdout, _, err = run(t, "onionbalance-config", "--dir", newDir, "--restore-from", sealed, "--passphrase-file", pass)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := onion.KeyAddress(filepath.Join(newDir, frontendKeyName)); err != nil || got != front || !strings.Contains(stdout, "frontend address: "+front) {
		t.Errorf("restored key: %s, %v; want %s\n%s", got, err, front, stdout)
	}
	if _, _, err := run(t, "onionbalance-config", "--dir", newDir, "--restore-from", sealed, "--passphrase-file", pass); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("restore over a key: err = %v", err)
	}
	wrong := writeSecret(t, "another passphrase entirely")
	if _, _, err := run(t, "onionbalance-config", "--dir", filepath.Join(t.TempDir(), "x"), "--restore-from", sealed, "--passphrase-file", wrong); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("restore with a wrong passphrase: err = %v", err)
	}
}

func TestTorrcCommand(t *testing.T) {
	front := newAddress(t)
	stdout, _, err := run(t, "torrc", "--socket", "/run/testimony/http.sock", "--onionbalance-frontend", front, "--max-streams", "12")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nHiddenServiceDir /var/lib/tor/testimony\n",
		"\nHiddenServicePort 80 unix:/run/testimony/http.sock\n",
		"\nHiddenServiceMaxStreams 12\n",
		"\nHiddenServicePoWDefensesEnabled 1\n",
		"\nHiddenServiceOnionbalanceInstance 1\n",
		"# MasterOnionAddress " + front + "\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("intake torrc prints:\n%s\nwant %q", stdout, want)
		}
	}
	if _, _, err := run(t, "torrc", "--socket", "relative.sock"); err == nil {
		t.Error("intake torrc accepted a relative socket path")
	}
}

// TestServeOnionOptions checks that serve refuses option combinations that
// cannot work, before it touches the data directory.
func TestServeOnionOptions(t *testing.T) {
	front := newAddress(t)
	for _, tc := range []struct {
		o    serveOptions
		want string
	}{
		{serveOptions{onionbalanceFrontend: "nope"}, "malformed --onionbalance-frontend"},
		{serveOptions{onionbalanceFrontend: front, listen: "127.0.0.1:0"}, "give one"},
		{serveOptions{onionbalanceFrontend: front, torControl: "127.0.0.1:9051"}, "needs a tor of intake's own"},
		{serveOptions{externalTor: "/run/x.sock", listen: "127.0.0.1:0"}, "give one"},
		{serveOptions{externalTor: "/run/x.sock", onionbalanceFrontend: front}, "--onionbalance-frontend has no effect with --external-tor"},
		{serveOptions{externalTor: "/run/x.sock", torControl: "127.0.0.1:9051"}, "--tor-control has no effect"},
		{serveOptions{externalTor: "/run/x.sock", noPoW: true}, "--no-pow has no effect"},
		{serveOptions{externalTor: "/run/x.sock", maxStreams: 3}, "intake torrc"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		tc.o.data, tc.o.study = data, "/nonexistent/study.yaml"
		err := runServe(context.Background(), tc.o, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %+v: err = %v, want one containing %q", tc.o, err, tc.want)
		}
		if _, err := os.Stat(data); err == nil {
			t.Errorf("serve %+v created the data directory before refusing", tc.o)
		}
	}
}
