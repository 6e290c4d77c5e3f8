package keyfile

import (
	"bytes"
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
