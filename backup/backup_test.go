package backup

import (
	"archive/tar"
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"
	"github.com/testimony-project/testimony/crypto/envelope"
	"golang.org/x/mod/sumdb/note"
)

const testOnion = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"

func testKey(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "testimony-server")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// testFiles returns the contents of a small backup, by path.
func testFiles() map[string][]byte {
	big := bytes.Repeat([]byte("testimony-audit/1 2026-03-04 submission-stored\n"), 3000)
	return map[string][]byte{
		"study":                       []byte("nk-study\n"),
		"keys/server.key":             []byte("PRIVATE+KEY+testimony-server+x\n"),
		"audit/records":               big,
		"audit/checkpoints/empty-ish": {},
		"versions/" + strings.Repeat("ab", 32) + ".yaml": []byte("id: nk-study\n"),
	}
}

func manifestOf(files map[string][]byte) *Manifest {
	m := &Manifest{StudyID: "nk-study", Day: "2026-03-04", Onion: testOnion, AuditRecords: 3000}
	for p, b := range files {
		m.Files = append(m.Files, File{Path: p, Size: int64(len(b)), SHA256: sha256.Sum256(b)})
	}
	SortFiles(m.Files)
	return m
}

func writeBackup(t testing.TB, files map[string][]byte, signer note.Signer, rs ...age.Recipient) ([]byte, *Manifest) {
	t.Helper()
	m := manifestOf(files)
	signed, err := Sign(m, signer)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, rs, signed, func(f File) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(files[f.Path])), nil
	}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), m
}

// readAll reads every file of a backup and returns them by path.
func readAll(br *Reader) (map[string][]byte, error) {
	got := map[string][]byte{}
	for {
		f, r, err := br.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return got, err
		}
		got[f.Path] = b
	}
}

func TestPassphraseRoundTrip(t *testing.T) {
	signer, verifier := testKey(t)
	rcpt, err := Passphrase([]byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	rcpt.(*age.ScryptRecipient).SetWorkFactor(10)
	files := testFiles()
	sealed, m := writeBackup(t, files, signer, rcpt)
	if bytes.Contains(sealed, []byte("nk-study")) || bytes.Contains(sealed, []byte("PRIVATE")) {
		t.Fatal("the sealed backup shows its contents")
	}

	id, _ := PassphraseIdentity([]byte("wrong"))
	if _, err := NewReader(bytes.NewReader(sealed), id); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	id, _ = PassphraseIdentity([]byte("correct horse battery staple"))
	br, err := NewReader(bytes.NewReader(sealed), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Verify(verifier); err != nil {
		t.Fatal(err)
	}
	_, other := testKey(t)
	if err := br.Verify(other); err == nil {
		t.Fatal("manifest verified with another server's key")
	}
	if br.Manifest().Hash != m.Hash || br.Manifest().Onion != testOnion || br.Manifest().AuditRecords != 3000 {
		t.Fatalf("manifest read back as %+v, want %+v", br.Manifest(), m)
	}
	got, err := readAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(files) {
		t.Fatalf("read %d files, want %d", len(got), len(files))
	}
	for p, b := range files {
		if !bytes.Equal(got[p], b) {
			t.Errorf("%s read back differently", p)
		}
	}
}

func TestResearchersAndReseal(t *testing.T) {
	signer, verifier := testKey(t)
	alice, _ := envelope.GenerateIdentity()
	bob, _ := envelope.GenerateIdentity()
	eve, _ := envelope.GenerateIdentity()
	rs, err := Researchers([]*envelope.Recipient{alice.Recipient(), bob.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	files := testFiles()
	sealed, m := writeBackup(t, files, signer, rs...)

	// The operator cannot open it with a passphrase: it names the way out.
	pid, _ := PassphraseIdentity([]byte("anything"))
	if _, err := NewReader(bytes.NewReader(sealed), pid); !errors.Is(err, ErrSealedToResearchers) || !strings.Contains(err.Error(), "researcher backup reseal") {
		t.Fatalf("researcher-sealed backup opened with a passphrase: %v", err)
	}
	// Each researcher opens it; someone else cannot.
	for _, who := range []*envelope.Identity{alice, bob} {
		id, err := X25519Identity(who)
		if err != nil {
			t.Fatal(err)
		}
		br, err := NewReader(bytes.NewReader(sealed), id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(br); err != nil {
			t.Fatal(err)
		}
	}
	eid, _ := X25519Identity(eve)
	if _, err := NewReader(bytes.NewReader(sealed), eid); err == nil {
		t.Fatal("a key that is not a recipient opened the backup")
	}

	// Reseal by Bob to a passphrase: the same backup inside.
	bid, _ := X25519Identity(bob)
	pass, _ := Passphrase([]byte("for the operator"))
	pass.(*age.ScryptRecipient).SetWorkFactor(10)
	var out bytes.Buffer
	got, err := Reseal(&out, bytes.NewReader(sealed), bid, verifier, pass)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != m.Hash {
		t.Fatal("resealing changed the manifest")
	}
	pid, _ = PassphraseIdentity([]byte("for the operator"))
	br, err := NewReader(bytes.NewReader(out.Bytes()), pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Verify(verifier); err != nil {
		t.Fatal(err)
	}
	back, err := readAll(br)
	if err != nil || len(back) != len(files) {
		t.Fatalf("resealed backup: %d files, %v", len(back), err)
	}

	// A backup sealed to the researchers' public keys by someone other than
	// the server is refused at resealing: its manifest is not signed by the
	// key the researchers pinned.
	forger, _ := testKey(t)
	forged, _ := writeBackup(t, files, forger, rs...)
	if _, err := Reseal(io.Discard, bytes.NewReader(forged), bid, verifier, pass); err == nil || !strings.Contains(err.Error(), "not signed by") {
		t.Fatalf("forged backup resealed: %v", err)
	}
	// A backup already sealed to a passphrase needs no resealing.
	if _, err := Reseal(io.Discard, bytes.NewReader(out.Bytes()), bid, verifier, pass); err == nil || !strings.Contains(err.Error(), "needs no resealing") {
		t.Fatalf("passphrase backup resealed: %v", err)
	}
}

// TestBech32MatchesAge checks the identity encoding against age's own
// encoder of the matching recipient, for many keys.
func TestBech32MatchesAge(t *testing.T) {
	for i := 0; i < 200; i++ {
		id, _ := envelope.GenerateIdentity()
		ai, err := X25519Identity(id)
		if err != nil {
			t.Fatal(err)
		}
		x := id.Recipient().X25519()
		pk, _ := ecdh.X25519().NewPublicKey(x[:])
		want, _ := plugin.EncodeX25519Recipient(pk)
		if got := ai.(*age.X25519Identity).Recipient().String(); got != want {
			t.Fatalf("identity's recipient %s, want %s", got, want)
		}
		if got := bech32Encode("age", x[:]); got != want {
			t.Fatalf("bech32Encode = %s, want age's %s", got, want)
		}
	}
}

// sealPlain seals a hand-made plaintext, for tests of what readers refuse.
func sealPlain(t testing.TB, plain []byte) ([]byte, age.Identity) {
	t.Helper()
	id, _ := age.GenerateX25519Identity()
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, id.Recipient())
	w.Write(plain)
	w.Close()
	return buf.Bytes(), id
}

// plainOf builds a backup's tar with entries (name, data) as given.
func plainOf(entries ...[2][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: string(e[0]), Size: int64(len(e[1])), Mode: 0o600, Format: tar.FormatUSTAR})
		tw.Write(e[1])
	}
	tw.Close()
	return buf.Bytes()
}

func TestReaderRefusesAlteredBackups(t *testing.T) {
	signer, verifier := testKey(t)
	files := map[string][]byte{"a": []byte("one"), "b/c": []byte("two")}
	m := manifestOf(files)
	signed, err := Sign(m, signer)
	if err != nil {
		t.Fatal(err)
	}
	e := func(name, data string) [2][]byte { return [2][]byte{[]byte(name), []byte(data)} }
	man := [2][]byte{[]byte("manifest"), signed}
	good := plainOf(man, e("a", "one"), e("b/c", "two"))
	for _, tc := range []struct {
		name  string
		plain []byte
		want  string
	}{
		{"good", good, ""},
		{"altered file", plainOf(man, e("a", "one"), e("b/c", "twO")), "does not match the SHA-256"},
		{"missing file", plainOf(man, e("a", "one")), "truncated"},
		{"extra file", plainOf(man, e("a", "one"), e("b/c", "two"), e("d", "x")), "not listed"},
		{"reordered", plainOf(man, e("b/c", "two"), e("a", "one")), "found where the manifest lists"},
		{"second manifest", plainOf(man, man, e("a", "one"), e("b/c", "two")), "second \"manifest\""},
		{"no manifest", plainOf(e("a", "one")), "first entry"},
		{"cut end", good[:len(good)-1024], "end-of-archive"},
		{"trailing data", append(bytes.Clone(good), 1), "after its end-of-archive"},
		{"size differs", plainOf(man, e("a", "onee"), e("b/c", "two")), "manifest says"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed, id := sealPlain(t, tc.plain)
			br, err := NewReader(bytes.NewReader(sealed), id)
			if err == nil {
				if err = br.Verify(verifier); err == nil {
					_, err = readAll(br)
				}
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A truncated age file fails even where the tar would look complete.
	sealed, id := sealPlain(t, good)
	for _, cut := range []int{1, 17, len(sealed) / 2} {
		br, err := NewReader(bytes.NewReader(sealed[:len(sealed)-cut]), id)
		if err == nil {
			_, err = readAll(br)
		}
		if err == nil {
			t.Fatalf("backup cut by %d bytes read without error", cut)
		}
	}
}

func TestManifestCanonical(t *testing.T) {
	signer, _ := testKey(t)
	m := manifestOf(testFiles())
	signed, err := Sign(m, signer)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseUnverifiedManifest(signed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(format(back), format(m)) || back.Hash != m.Hash {
		t.Fatal("manifest does not round-trip")
	}
	text := string(format(m))
	for _, bad := range []string{
		strings.Replace(text, "files 5", "files 05", 1),
		strings.Replace(text, "files 5", "files 4", 1),
		strings.Replace(text, "audit-records 3000", "audit-records -1", 1),
		strings.Replace(text, "day 2026-03-04", "day 2026-03-04T10:00", 1),
		strings.Replace(text, "study nk-study", "study NK", 1),
		strings.Replace(text, "keys/server.key", "../server.key", 1),
		strings.Replace(text, "keys/server.key", "keys/.server.key", 1),
		strings.Replace(text, "keys/server.key", "/keys/server.key", 1),
		strings.Replace(text, "testimony backup v1", "testimony backup v2", 1),
		text + "extra\n",
	} {
		if _, err := parse([]byte(bad)); err == nil {
			t.Errorf("parse accepted:\n%s", bad)
		}
	}
	// Unsorted or duplicate paths.
	m2 := manifestOf(testFiles())
	m2.Files[0], m2.Files[1] = m2.Files[1], m2.Files[0]
	if _, err := Sign(m2, signer); err == nil {
		t.Error("Sign accepted unsorted files")
	}
}

// TestOpenManifestOneSignature checks that a manifest opens only as the
// server signed it: one signature line, by the server's key, nothing after
// it. note.Open alone would accept the repeated line.
func TestOpenManifestOneSignature(t *testing.T) {
	signer, verifier := testKey(t)
	m := manifestOf(testFiles())
	signed, err := Sign(m, signer)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenManifest(signed, verifier); err != nil || got.Hash != m.Hash {
		t.Fatalf("OpenManifest = %+v, %v", got, err)
	}
	text := format(m)
	sigLine := signed[len(text)+1:]
	for name, msg := range map[string][]byte{
		"repeated signature line":  append(bytes.Clone(signed), sigLine...),
		"text after the signature": append(bytes.Clone(signed), "x\n"...),
		"unsigned":                 text,
	} {
		if _, err := OpenManifest(msg, verifier); err == nil || !strings.HasPrefix(err.Error(), "backup manifest ") {
			t.Errorf("%s: OpenManifest = %v, want a backup manifest error", name, err)
		}
	}
}

func TestWriteRefusesChangedFile(t *testing.T) {
	signer, _ := testKey(t)
	files := testFiles()
	m := manifestOf(files)
	signed, _ := Sign(m, signer)
	rcpt, _ := age.GenerateX25519Identity()
	err := Write(io.Discard, []age.Recipient{rcpt.Recipient()}, signed, func(f File) (io.ReadCloser, error) {
		b := bytes.Clone(files[f.Path])
		if f.Path == "study" {
			b[0] ^= 1
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	if err == nil || !strings.Contains(err.Error(), "study changed") {
		t.Fatalf("Write of a changed file: %v", err)
	}
}

func TestManifestDayOnly(t *testing.T) {
	if DayOf(time.Date(2026, 3, 4, 23, 30, 0, 0, time.FixedZone("KST", 9*3600))) != "2026-03-04" {
		t.Fatal("DayOf is not the UTC day")
	}
	signer, _ := testKey(t)
	sealedFiles := map[string][]byte{"a": []byte("x")}
	rcpt, _ := age.GenerateX25519Identity()
	sealed, _ := writeBackup(t, sealedFiles, signer, rcpt.Recipient())
	pt, err := age.Decrypt(bytes.NewReader(sealed), rcpt)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(pt)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) || hdr.Uname != "" || hdr.Uid != 0 {
			t.Errorf("entry %s: time %v, owner %q/%d: want midnight of the backup's day and no owner", hdr.Name, hdr.ModTime, hdr.Uname, hdr.Uid)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	signer, _ := testKey(f)
	m := manifestOf(testFiles())
	signed, _ := Sign(m, signer)
	f.Add(signed)
	f.Add(format(m))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseUnverifiedManifest(b)
		if err != nil {
			return
		}
		if err := m.check(); err != nil {
			t.Fatalf("parsed manifest fails its own check: %v", err)
		}
		for _, f := range m.Files {
			if CheckPath(f.Path) != nil || strings.Contains(f.Path, "..") {
				t.Fatalf("parsed path %q", f.Path)
			}
		}
	})
}

// FuzzReader feeds arbitrary plaintext to the reader: it must never panic,
// and whatever it returns without error matches the manifest.
func FuzzReader(f *testing.F) {
	signer, _ := testKey(f)
	files := map[string][]byte{"a": []byte("one"), "b/c": []byte("two")}
	m := manifestOf(files)
	signed, _ := Sign(m, signer)
	e := func(name, data string) [2][]byte { return [2][]byte{[]byte(name), []byte(data)} }
	f.Add(plainOf([2][]byte{[]byte("manifest"), signed}, e("a", "one"), e("b/c", "two")))
	f.Add(plainOf([2][]byte{[]byte("manifest"), signed}, e("a", "one")))
	f.Fuzz(func(t *testing.T, plain []byte) {
		br, err := newPlainReader(bytes.NewReader(plain))
		if err != nil {
			return
		}
		got, err := readAll(br)
		if err != nil {
			return
		}
		for _, f := range br.Manifest().Files {
			if sha256.Sum256(got[f.Path]) != f.SHA256 {
				panic(fmt.Sprintf("%s returned without matching the manifest", f.Path))
			}
		}
	})
}
