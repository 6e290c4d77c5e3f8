// Package notekey keeps a signing key of golang.org/x/mod/sumdb/note in a
// file (0600) and its verifier key, the line others pin, in another
// (0644), making both on first use.
package notekey

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/testimony-project/testimony/internal/atomicfile"
	"golang.org/x/mod/sumdb/note"
)

// LoadOrCreate returns the signer in keyPath and the verifier key in
// pubPath. If keyPath does not exist, it makes a pair with generate and
// writes both, each synced, the verifier first, so that a signing key is
// never without its verifier key. It refuses files that do not belong
// together.
func LoadOrCreate(keyPath, pubPath string, generate func() (skey, vkey string, err error)) (note.Signer, string, error) {
	b, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		skey, vkey, err := generate()
		if err != nil {
			return nil, "", err
		}
		if err := atomicfile.WriteBytes(pubPath, 0o644, []byte(vkey+"\n")); err != nil {
			return nil, "", err
		}
		if err := atomicfile.WriteBytes(keyPath, 0o600, []byte(skey+"\n")); err != nil {
			return nil, "", err
		}
		b = []byte(skey)
	} else if err != nil {
		return nil, "", fmt.Errorf("failed to read key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", fmt.Errorf("malformed key %s: %w", keyPath, err)
	}
	pub, err := os.ReadFile(pubPath)
	if err != nil {
		return nil, "", fmt.Errorf("failed to read verifier key: %w", err)
	}
	vkey := strings.TrimSpace(string(pub))
	if v, err := note.NewVerifier(vkey); err != nil || v.KeyHash() != signer.KeyHash() || v.Name() != signer.Name() {
		return nil, "", fmt.Errorf("%s does not match %s", pubPath, keyPath)
	}
	return signer, vkey, nil
}
