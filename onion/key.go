package onion

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cretz/bine/torutil"
	bed25519 "github.com/cretz/bine/torutil/ed25519"

	"github.com/testimony-project/testimony/internal/atomicfile"
)

// keyFileName is the onion key inside Config.DataDir. The file has tor's own
// hs_ed25519_secret_key format, so it can be moved to or from a torrc
// HiddenServiceDir without changing the address.
const keyFileName = "hs_ed25519_secret_key"

// keyHeader starts tor's hs_ed25519_secret_key file; the 64-byte expanded
// ed25519 private key follows it.
var keyHeader = []byte("== ed25519v1-secret: type0 ==\x00\x00\x00")

const keyFileSize = 32 + 64

// Address returns the onion address, "xxxx.onion", of the key stored in
// dataDir (the directory given as [Config.DataDir]), without starting
// anything. It fails if no key has been created yet: [Start] creates it.
func Address(dataDir string) (string, error) {
	return KeyAddress(filepath.Join(dataDir, keyFileName))
}

// addressOf returns the "xxxx.onion" address of an expanded private key.
func addressOf(key bed25519.PrivateKey) string {
	return torutil.OnionServiceIDFromV3PublicKey(key.PublicKey()) + ".onion"
}

// readKey reads and checks a key file, refusing one that other users can
// read.
func readKey(path string) (bed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no onion key at %s yet: start the service once to create it: %w", path, err)
	} else if err != nil {
		return nil, fmt.Errorf("failed to read onion key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("onion key %s is accessible by other users (mode %04o): run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read onion key: %w", err)
	}
	key, err := parseKey(b)
	if err != nil {
		return nil, fmt.Errorf("malformed onion key %s: %w", path, err)
	}
	return key, nil
}

// parseKey parses tor's hs_ed25519_secret_key format.
func parseKey(b []byte) (bed25519.PrivateKey, error) {
	if len(b) != keyFileSize {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), keyFileSize)
	}
	if !bytes.Equal(b[:32], keyHeader) {
		return nil, errors.New("not a tor ed25519v1-secret key (wrong header)")
	}
	k := b[32:]
	// An expanded ed25519 secret scalar is clamped: low three bits clear,
	// top bit clear, second-highest bit set.
	if k[0]&7 != 0 || k[31]&0xc0 != 0x40 {
		return nil, errors.New("secret scalar is not clamped")
	}
	return bed25519.PrivateKey(bytes.Clone(k)), nil
}

// loadOrCreateKey returns the key in dir, creating it first if there is
// none.
func loadOrCreateKey(dir string) (bed25519.PrivateKey, error) {
	path := filepath.Join(dir, keyFileName)
	key, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	return createKey(path)
}

// CreateKey makes a new onion key and writes it to path (mode 0600), in
// tor's hs_ed25519_secret_key format, which tor's HiddenServiceDir and
// Onionbalance's config.yaml both read; it returns the key's address. It
// never replaces an existing file.
func CreateKey(path string) (string, error) {
	key, err := createKey(path)
	if err != nil {
		return "", err
	}
	return addressOf(key), nil
}

// KeyAddress returns the onion address, "xxxx.onion", of the key file at
// path (in tor's hs_ed25519_secret_key format), refusing one that other
// users can read.
func KeyAddress(path string) (string, error) {
	key, err := readKey(path)
	if err != nil {
		return "", err
	}
	return addressOf(key), nil
}

// WriteKey checks that b is an onion key in tor's hs_ed25519_secret_key
// format (as a backup holds it), writes it to path (mode 0600), as
// CreateKey does, and returns its address. It never replaces an existing
// file.
func WriteKey(path string, b []byte) (string, error) {
	key, err := parseKey(b)
	if err != nil {
		return "", fmt.Errorf("malformed onion key: %w", err)
	}
	if err := writeKey(path, key); err != nil {
		return "", err
	}
	return addressOf(key), nil
}

// createKey writes a new key to path.
func createKey(path string) (bed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("failed to generate onion key: %w", err)
	}
	key := bed25519.FromCryptoPrivateKey(priv).PrivateKey()
	return key, writeKey(path, key)
}

// writeKey writes key to path. The key is written completely and synced
// before it is linked into place, so a crash never leaves a partial key,
// and an existing file is never replaced.
func writeKey(path string, key bed25519.PrivateKey) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("failed to create onion key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(bytes.Clone(keyHeader), key...))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err == nil {
		err = atomicfile.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("failed to write onion key: %w", err)
	}
	return nil
}

// checkPathForTor rejects paths that tor's configuration and control
// protocol cannot carry unquoted.
func checkPathForTor(p string) error {
	if i := strings.IndexFunc(p, func(r rune) bool {
		return r <= ' ' || r == '"' || r == '\'' || r == '\\' || r == 0x7f
	}); i >= 0 {
		return fmt.Errorf("path %q contains a space, quote, backslash or control character, which tor cannot use: choose another", p)
	}
	return nil
}

// ParseAddress checks that s is a v3 onion address, "xxxx.onion" or the 56
// characters without ".onion", in lower case, with a valid checksum and
// version, and returns it with ".onion".
func ParseAddress(s string) (string, error) {
	id := strings.TrimSuffix(s, ".onion")
	if len(id) != 56 || strings.ToLower(id) != id {
		return "", fmt.Errorf("%q is not a v3 onion address (56 lower-case letters and digits, then .onion)", s)
	}
	if _, err := torutil.PublicKeyFromV3OnionServiceID(id); err != nil {
		return "", fmt.Errorf("%q is not a v3 onion address (%v): check it for typos", s, strings.ToLower(err.Error()))
	}
	return id + ".onion", nil
}
