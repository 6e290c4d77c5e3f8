package main

import (
	"bytes"
	"crypto/sha512"
	"encoding/base32"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/crypto/keyfile"
)

const strongPass = "gravel ninja tundra pocket lumen"

// newKey makes a key file under passphrase and returns its path and what
// keygen printed.
func newKey(t *testing.T, dir, pass string) (string, string) {
	t.Helper()
	pf := writeSecret(t, dir, "pass-"+pass, pass+"\n")
	key := filepath.Join(dir, "key")
	out, _, err := run(t, "keygen", "--out", key, "--passphrase-file", pf, "--weak-kdf-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	return key, out
}

func writeSecret(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func opens(t *testing.T, key, pass string) error {
	t.Helper()
	data, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = keyfile.Decrypt(data, []byte(pass))
	return err
}

func TestPassphraseChange(t *testing.T) {
	dir := t.TempDir()
	key, printed := newKey(t, dir, "old passphrase one two")
	oldFile := writeSecret(t, dir, "old", "old passphrase one two\n")
	newFile := writeSecret(t, dir, "new", strongPass+"\n")
	out, stderr, err := run(t, "passphrase", "--key", key, "--passphrase-file", oldFile, "--new-passphrase-file", newFile, "--weak-kdf-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "passphrase changed") || !strings.Contains(out, strings.TrimSpace(printed)) {
		t.Fatalf("passphrase printed:\n%s\nkeygen printed:\n%s", out, printed)
	}
	if strings.Contains(stderr, "weak") {
		t.Fatalf("a strong passphrase was called weak: %s", stderr)
	}
	if err := opens(t, key, strongPass); err != nil {
		t.Fatalf("the new passphrase does not open the key: %v", err)
	}
	if err := opens(t, key, "old passphrase one two"); !errors.Is(err, keyfile.ErrWrongPassphrase) {
		t.Fatalf("the old passphrase still opens the key: %v", err)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v after the change", fi.Mode().Perm())
	}
	pub, _, err := run(t, "pubkey", "--key", key)
	if err != nil || pub != printed {
		t.Fatalf("the public key changed: %q, was %q (%v)", pub, printed, err)
	}
	// No temporary file left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

func TestPassphraseKeepsCostOrRaisesIt(t *testing.T) {
	dir := t.TempDir()
	key, _ := newKey(t, dir, strongPass)
	// A file at more than the minimum cost keeps it.
	data, _ := os.ReadFile(key)
	id, err := keyfile.Decrypt(data, []byte(strongPass))
	if err != nil {
		t.Fatal(err)
	}
	costly := keyfile.Params{Time: 2, MemoryKiB: keyfile.MinMemoryKiB, Threads: 2}
	data, _ = keyfile.Encrypt(id, []byte(strongPass), costly)
	os.WriteFile(key, data, 0o600)
	pf := writeSecret(t, dir, "p", strongPass)
	if _, _, err := run(t, "passphrase", "--key", key, "--passphrase-file", pf, "--new-passphrase-file", pf, "--weak-kdf-for-tests"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(key)
	if p, _ := keyfile.FileParams(data); p != costly {
		t.Fatalf("parameters %+v after the change, want %+v", p, costly)
	}
}

func TestPassphraseRefusals(t *testing.T) {
	dir := t.TempDir()
	key, _ := newKey(t, dir, strongPass)
	before, _ := os.ReadFile(key)
	good := writeSecret(t, dir, "good", strongPass)
	wrong := writeSecret(t, dir, "wrong", "not it at all, sorry")
	empty := writeSecret(t, dir, "empty", "\n")
	open := writeSecret(t, dir, "open", "another fine long passphrase here")
	os.Chmod(open, 0o644)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong passphrase", []string{"--passphrase-file", wrong, "--new-passphrase-file", good}, "wrong passphrase"},
		{"empty new passphrase", []string{"--passphrase-file", good, "--new-passphrase-file", empty}, "empty"},
		{"new passphrase file open to others", []string{"--passphrase-file", good, "--new-passphrase-file", open}, "chmod 600 " + open},
		{"old passphrase file open to others", []string{"--passphrase-file", open, "--new-passphrase-file", good}, "chmod 600 " + open},
		{"no terminal", []string{"--passphrase-file", good}, "--passphrase-file"},
	}
	for _, c := range cases {
		_, _, err := run(t, append([]string{"passphrase", "--key", key, "--weak-kdf-for-tests"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line mentioning %q", c.name, err, c.want)
		}
		if after, _ := os.ReadFile(key); !bytes.Equal(after, before) {
			t.Fatalf("%s: the key file changed", c.name)
		}
	}
	// A key file others can read is refused, with the fix, by passphrase
	// and by every command that decrypts.
	os.Chmod(key, 0o640)
	for _, args := range [][]string{
		{"passphrase", "--key", key, "--passphrase-file", good, "--new-passphrase-file", good},
		{"decrypt", "--key", key, "--passphrase-file", good, "--study", "../../examples/nk-internet-access.yaml", "--server-key", "testimony-server+25a21965+ARVLuxApjAPKJ6lGzG4+EKk03ePxGIQgtg5/CGLpwOj8", "--out", filepath.Join(dir, "ws"), "b.tar"},
	} {
		_, _, err := run(t, args...)
		if err == nil || !strings.HasSuffix(err.Error(), "run `chmod 600 "+key+"`") {
			t.Errorf("%s with a key file of mode 0640: %v", args[0], err)
		}
	}
}

func TestPassphraseWarnsWhenWeak(t *testing.T) {
	dir := t.TempDir()
	key, _ := newKey(t, dir, strongPass)
	good := writeSecret(t, dir, "good", strongPass)
	weak := writeSecret(t, dir, "weak", "a")
	_, stderr, err := run(t, "passphrase", "--key", key, "--passphrase-file", good, "--new-passphrase-file", weak, "--weak-kdf-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "weak passphrase") || !strings.Contains(stderr, "longer") {
		t.Fatalf("no warning for the passphrase \"a\":\n%s", stderr)
	}
	if err := opens(t, key, "a"); err != nil {
		t.Fatal(err)
	}
}

// TestPassphraseFollowsSymlink rewrites the file a link names and keeps the
// link.
func TestPassphraseFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	key, _ := newKey(t, dir, strongPass)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(key, link); err != nil {
		t.Skip(err)
	}
	pf := writeSecret(t, dir, "p", strongPass)
	nf := writeSecret(t, dir, "n", "quartz lantern meadow violet cobalt")
	if _, _, err := run(t, "passphrase", "--key", link, "--passphrase-file", pf, "--new-passphrase-file", nf, "--weak-kdf-for-tests"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced by a file")
	}
	if err := opens(t, key, "quartz lantern meadow violet cobalt"); err != nil {
		t.Fatal(err)
	}
}

// TestPassphraseFailsSafe makes the write fail and checks the key still
// opens with the old passphrase. The key file's name is as long as a name
// can be, less a few bytes, so that the temporary file next to it cannot be
// made (even by root).
func TestPassphraseFailsSafe(t *testing.T) {
	dir := t.TempDir()
	made, _ := newKey(t, dir, strongPass)
	key := filepath.Join(dir, strings.Repeat("k", 250))
	if err := os.Rename(made, key); err != nil {
		t.Skip(err)
	}
	before, _ := os.ReadFile(key)
	pf := writeSecret(t, dir, "p", strongPass)
	nf := writeSecret(t, dir, "n", "quartz lantern meadow violet cobalt")
	_, _, err := run(t, "passphrase", "--key", key, "--passphrase-file", pf, "--new-passphrase-file", nf, "--weak-kdf-for-tests")
	if err == nil || !strings.Contains(err.Error(), "is unchanged") {
		t.Fatalf("a write that cannot happen: %v", err)
	}
	if after, _ := os.ReadFile(key); !bytes.Equal(after, before) {
		t.Fatal("the key file changed")
	}
	if err := opens(t, key, strongPass); err != nil {
		t.Fatalf("the key no longer opens with the old passphrase: %v", err)
	}
}

// TestPassphraseUpgradesOldPublicLine rewrites a key file whose public line
// is in the format of version 1.
func TestPassphraseUpgradesOldPublicLine(t *testing.T) {
	dir := t.TempDir()
	key, printed := newKey(t, dir, strongPass)
	data, _ := os.ReadFile(key)
	id, _ := keyfile.Decrypt(data, []byte(strongPass))
	x := id.Recipient().X25519()
	h := sha512.Sum512(append([]byte("testimony-pub"), x[:]...))
	old := "testimony-pub-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(append(x[:], h[:4]...)))
	os.WriteFile(key, []byte(strings.Replace(string(data), id.Recipient().String(), old, 1)), 0o600)
	if _, _, err := run(t, "pubkey", "--key", key); err == nil || !strings.Contains(err.Error(), "researcher passphrase --key") {
		t.Fatalf("pubkey of an old key file: %v", err)
	}
	pf := writeSecret(t, dir, "p", strongPass)
	if _, _, err := run(t, "passphrase", "--key", key, "--passphrase-file", pf, "--new-passphrase-file", pf, "--weak-kdf-for-tests"); err != nil {
		t.Fatal(err)
	}
	if pub, _, err := run(t, "pubkey", "--key", key); err != nil || pub != printed {
		t.Fatalf("pubkey after the rewrite: %q, %v; want %q", pub, err, printed)
	}
}
