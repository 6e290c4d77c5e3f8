package returnkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

// argon2SHA256 is the SHA-256 of intake/static/argon2id.min.js, the
// browser's KDF, as web/argon2/build.sh makes it from @noble/hashes 2.4.0
// (web/VENDOR.md).
const argon2SHA256 = "c0048c04526ee28935b77e393af22e318ec6d9188e48c3e85626ddd996a55258"

// TestVendoredArgon2id fails if the browser's KDF is not the file
// web/VENDOR.md records.
func TestVendoredArgon2id(t *testing.T) {
	b, err := os.ReadFile("../../intake/static/argon2id.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != argon2SHA256 {
		t.Fatalf("intake/static/argon2id.min.js has SHA-256 %x, want %s (@noble/hashes 2.4.0 built by web/argon2/build.sh): see web/VENDOR.md", sum, argon2SHA256)
	}
	doc, err := os.ReadFile("../../web/VENDOR.md")
	if err != nil || !bytes.Contains(doc, []byte(argon2SHA256)) {
		t.Fatalf("web/VENDOR.md must record the hash %s (%v)", argon2SHA256, err)
	}
}
