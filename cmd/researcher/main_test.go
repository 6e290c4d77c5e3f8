package main

import (
	"github.com/testimony-project/testimony/internal/clitest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return clitest.Run(t, newRoot, args...)
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	clitest.CheckExamples(t, newRoot(nil, nil))
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	key := filepath.Join(dir, "k")
	out, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "public key:  testimony-pub-") || !strings.Contains(out, "fingerprint: ") {
		t.Fatalf("keygen printed:\n%s", out)
	}
	info, err := os.Stat(key)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	pub, _, err := run(t, "pubkey", "--key", key)
	if err != nil || pub != out {
		t.Fatalf("pubkey printed %q, keygen %q (%v)", pub, out, err)
	}
	if _, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pass); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("keygen over an existing key: %v", err)
	}
	// Without a terminal and without --passphrase-file, a clear error.
	if _, _, err := run(t, "keygen", "--out", filepath.Join(dir, "k2")); err == nil || !strings.Contains(err.Error(), "--passphrase-file") {
		t.Fatalf("keygen without terminal: %v", err)
	}
}

func TestDecryptErrorsAreOneClearLine(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("right"), 0o600)
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("wrong"), 0o600)
	key := filepath.Join(dir, "k")
	if _, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests"); err != nil {
		t.Fatal(err)
	}
	study := filepath.Join(dir, "s.yaml")
	os.WriteFile(study, []byte("id: x\n"), 0o600)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"broken study", []string{"--study", study, "--server-key", "a+b+c", "--passphrase-file", pass}, "s.yaml"},
		{"bad server key", []string{"--study", "../../examples/nk-internet-access.yaml", "--server-key", "nonsense", "--passphrase-file", pass}, "--server-key"},
		{"wrong passphrase", []string{"--study", "../../examples/nk-internet-access.yaml", "--server-key", "testimony-server+25a21965+ARVLuxApjAPKJ6lGzG4+EKk03ePxGIQgtg5/CGLpwOj8", "--passphrase-file", wrong}, "wrong passphrase"},
	}
	for _, c := range cases {
		args := append([]string{"decrypt", "--key", key, "--out", filepath.Join(dir, "ws-"+c.name)}, c.args...)
		args = append(args, filepath.Join(dir, "missing.tar"))
		_, _, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}
