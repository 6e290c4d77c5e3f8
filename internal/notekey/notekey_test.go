package notekey

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func generate(name string) func() (string, string, error) {
	return func() (string, string, error) { return note.GenerateKey(rand.Reader, name) }
}

func TestMadeOnceThenReused(t *testing.T) {
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	s1, v1, err := LoadOrCreate(key, pub, generate("test"))
	if err != nil {
		t.Fatal(err)
	}
	s2, v2, err := LoadOrCreate(key, pub, func() (string, string, error) { t.Fatal("made a second key"); return "", "", nil })
	if err != nil || v1 != v2 || s1.KeyHash() != s2.KeyHash() {
		t.Fatalf("reload: %v, %q vs %q", err, v1, v2)
	}
	if info, _ := os.Stat(key); info.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", info.Mode().Perm())
	}
	// A verifier key of another pair is refused.
	_, other, _ := note.GenerateKey(rand.Reader, "test")
	os.WriteFile(pub, []byte(other+"\n"), 0o644)
	if _, _, err := LoadOrCreate(key, pub, generate("test")); err == nil {
		t.Fatal("accepted a verifier key that does not match")
	}
}
