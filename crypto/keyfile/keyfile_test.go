package keyfile

import (
	"bytes"
	"crypto/sha512"
	"encoding/base32"
	"errors"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/crypto/envelope"
)

var fast = Params{Time: 1, MemoryKiB: MinMemoryKiB, Threads: 1}

func TestRoundTrip(t *testing.T) {
	id, _ := envelope.GenerateIdentity()
	data, err := Encrypt(id, []byte("correct horse battery staple"), fast)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, id.Bytes()) {
		t.Fatal("key file holds the raw secret")
	}
	got, err := Decrypt(data, []byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), id.Bytes()) {
		t.Fatal("decrypted a different key")
	}
	pub, err := PublicKey(data)
	if err != nil || !pub.Equal(id.Recipient()) {
		t.Fatalf("PublicKey = %v, %v", pub, err)
	}
	if !strings.Contains(string(data), "kdf: argon2id t=1 m=65536 p=1\n") {
		t.Fatalf("parameters not stored in the file:\n%s", data)
	}
	if _, err := Decrypt(data, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func TestRejectsWeakOrBrokenFiles(t *testing.T) {
	id, _ := envelope.GenerateIdentity()
	if _, err := Encrypt(id, []byte("p"), Params{Time: 1, MemoryKiB: 32 << 10, Threads: 1}); err == nil {
		t.Fatal("Encrypt accepted 32 MiB")
	}
	if _, err := Encrypt(id, nil, fast); err == nil {
		t.Fatal("Encrypt accepted an empty passphrase")
	}
	good, _ := Encrypt(id, []byte("p"), fast)
	other, _ := envelope.GenerateIdentity()
	cases := map[string]string{
		"weak kdf":       strings.Replace(string(good), "m=65536", "m=1024", 1),
		"huge kdf":       strings.Replace(string(good), "m=65536", "m=99999999", 1),
		"truncated":      string(good[:len(good)-10]),
		"no newline":     strings.TrimSuffix(string(good), "\n"),
		"other header":   strings.Replace(string(good), "v1", "v2", 1),
		"swapped public": strings.Replace(string(good), id.Recipient().String(), other.Recipient().String(), 1),
		"extra line":     string(good) + "x: y\n",
		"empty":          "",
	}
	for name, data := range cases {
		if _, err := Decrypt([]byte(data), []byte("p")); err == nil {
			t.Errorf("%s: Decrypt succeeded", name)
		}
	}
}

func FuzzDecrypt(f *testing.F) {
	id, _ := envelope.GenerateIdentity()
	good, _ := Encrypt(id, []byte("p"), fast)
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Only parse: deriving keys for every input would be too slow.
		_, _ = PublicKey(data)
	})
}

// oldPublic is the version 1 public key string of id: the X25519 key and a
// checksum.
func oldPublic(id *envelope.Identity) string {
	x := id.Recipient().X25519()
	h := sha512.Sum512(append([]byte("testimony-pub"), x[:]...))
	return "testimony-pub-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(append(x[:], h[:4]...)))
}

func TestOldPublicLine(t *testing.T) {
	id, _ := envelope.GenerateIdentity()
	data, _ := Encrypt(id, []byte("p"), fast)
	old := []byte(strings.Replace(string(data), id.Recipient().String(), oldPublic(id), 1))
	if bytes.Equal(old, data) {
		t.Fatal("public line not replaced")
	}
	if _, err := PublicKey(old); !errors.Is(err, ErrOldPublicLine) || !strings.Contains(err.Error(), "researcher passphrase --key") {
		t.Fatalf("PublicKey of an old file: %v, want ErrOldPublicLine naming the fix", err)
	}
	got, err := Decrypt(old, []byte("p"))
	if err != nil || !got.Recipient().Equal(id.Recipient()) {
		t.Fatalf("Decrypt of an old file: %v", err)
	}
	again, _ := Encrypt(got, []byte("p"), fast)
	if pub, err := PublicKey(again); err != nil || !pub.Equal(id.Recipient()) {
		t.Fatalf("PublicKey after rewriting: %v", err)
	}
}

func TestParams(t *testing.T) {
	id, _ := envelope.GenerateIdentity()
	data, _ := Encrypt(id, []byte("p"), fast)
	p, err := FileParams(data)
	if err != nil || p != fast {
		t.Fatalf("FileParams = %+v, %v", p, err)
	}
	s := Params{Time: 2, MemoryKiB: MinMemoryKiB, Threads: 8}.Stronger(Params{Time: 1, MemoryKiB: 2 * MinMemoryKiB, Threads: 1})
	if s != (Params{Time: 2, MemoryKiB: 2 * MinMemoryKiB, Threads: 8}) {
		t.Fatalf("Stronger = %+v", s)
	}
}
