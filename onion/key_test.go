package onion

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyCreatedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	if _, err := Address(dir); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "start the service once") {
		t.Errorf("Address of an empty directory: err = %v, want one wrapping fs.ErrNotExist that says what to do", err)
	}
	k1, err := loadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second load returned a different key")
	}
	addr, err := Address(dir)
	if err != nil || addr != addressOf(k1) {
		t.Fatalf("Address = %q, %v; want %q", addr, err, addressOf(k1))
	}
	path := filepath.Join(dir, keyFileName)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode())
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, keyHeader) || len(b) != keyFileSize {
		t.Errorf("key file is not in tor's hs_ed25519_secret_key format: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("key creation left extra files: %v", ents)
	}

	// A key readable by others is refused, not used, and not replaced.
	os.Chmod(path, 0o644)
	if _, err := Address(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Address with a 0644 key: err = %v", err)
	}
	if _, err := loadOrCreateKey(dir); err == nil {
		t.Error("loadOrCreateKey accepted a 0644 key")
	}
	// A damaged key is reported, never silently replaced.
	os.Chmod(path, 0o600)
	os.WriteFile(path, b[:50], 0o600)
	if _, err := loadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "malformed onion key") {
		t.Errorf("loadOrCreateKey with a truncated key: err = %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, b[:50]) {
		t.Error("damaged key was overwritten")
	}
}

func TestParseKeyRejects(t *testing.T) {
	good := goodKeyFile(t)
	for name, b := range map[string][]byte{
		"empty":     nil,
		"short":     good[:95],
		"long":      append(bytes.Clone(good), 0),
		"header":    append([]byte("== ed25519v1-public: type0 ==\x00\x00\x00"), good[32:]...),
		"unclamped": func() []byte { c := bytes.Clone(good); c[32] |= 1; return c }(),
	} {
		if _, err := parseKey(b); err == nil {
			t.Errorf("%s: parseKey accepted %q", name, b)
		}
	}
	if _, err := parseKey(good); err != nil {
		t.Errorf("parseKey rejected a good key: %v", err)
	}
}

func goodKeyFile(t testing.TB) []byte {
	dir := t.TempDir()
	if _, err := loadOrCreateKey(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseKey(f *testing.F) {
	good := goodKeyFile(f)
	f.Add(good)
	f.Add(good[:40])
	f.Add(append(bytes.Clone(keyHeader), make([]byte, 64)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseKey(b)
		if err != nil {
			return
		}
		if len(k) != 64 || !bytes.Equal(append(bytes.Clone(keyHeader), k...), b) {
			t.Fatalf("parseKey(%x) = %x does not round-trip", b, k)
		}
		if a := addressOf(k); len(a) != 62 {
			t.Fatalf("address %q has the wrong length", a)
		}
	})
}
