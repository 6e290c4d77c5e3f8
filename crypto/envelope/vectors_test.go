package envelope

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// The test vectors in testdata/ are text files of "key: value" lines:
//
//	description: what the vector checks
//	expect: success | no match | damaged | malformed | wrong study
//	study: the study id to open the envelope as
//	identity: hex of the recipient's 32-byte secret key
//	plaintext: hex (success only)
//	envelope: base64 (standard, padded) of the envelope
//
// Vectors that Seal can produce also carry what it drew, so that another
// implementation can reproduce the envelope byte for byte:
//
//	recipients: space-separated public keys, in slot order
//	content key: hex of K
//	ephemeral secret: hex of e
//
// Regenerate with: go test ./crypto/envelope -run TestVectors -update

var update = flag.Bool("update", false, "regenerate testdata/*.txt")

type vector struct {
	name   string
	fields map[string]string
	order  []string
}

func (v *vector) set(k, val string) {
	if v.fields == nil {
		v.fields = map[string]string{}
	}
	if _, ok := v.fields[k]; !ok {
		v.order = append(v.order, k)
	}
	v.fields[k] = val
}

func (v *vector) String() string {
	var b strings.Builder
	for _, k := range v.order {
		fmt.Fprintf(&b, "%s: %s\n", k, v.fields[k])
	}
	return b.String()
}

func parseVector(name string, data []byte) (*vector, error) {
	v := &vector{name: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			return nil, fmt.Errorf("%s: malformed line %q", name, sc.Text())
		}
		v.set(k, val)
	}
	return v, sc.Err()
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seq is a fixed reader for deterministic sealing: K, then e.
type seq struct{ b []byte }

func (s *seq) Read(p []byte) (int, error) {
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func fixedKey(label string) []byte {
	h := make([]byte, 32)
	copy(h, label)
	for i := range h {
		h[i] ^= byte(i * 7)
	}
	return h
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d vectors in testdata, want at least 10", len(files))
	}
	seen := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := parseVector(f, data)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			seen[v.fields["expect"]]++
			id, err := NewIdentity(mustHex(t, v.fields["identity"]))
			if err != nil {
				t.Fatal(err)
			}
			env, err := base64.StdEncoding.DecodeString(v.fields["envelope"])
			if err != nil {
				t.Fatal(err)
			}
			got, err := Open(v.fields["study"], env, id)
			switch v.fields["expect"] {
			case "success":
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if want := mustHex(t, v.fields["plaintext"]); !bytes.Equal(got, want) {
					t.Fatalf("plaintext = %x, want %x", got, want)
				}
			case "no match":
				expectErr(t, err, ErrNoIdentity)
			case "damaged":
				expectErr(t, err, ErrDamaged)
			case "malformed":
				expectErr(t, err, ErrMalformed)
			case "wrong study":
				expectErr(t, err, ErrWrongStudy)
			default:
				t.Fatalf("unknown expect %q", v.fields["expect"])
			}
			if k, ok := v.fields["content key"]; ok {
				var rs []*Recipient
				for _, s := range strings.Fields(v.fields["recipients"]) {
					r, err := ParseRecipient(s)
					if err != nil {
						t.Fatal(err)
					}
					rs = append(rs, r)
				}
				rnd := &seq{append(mustHex(t, k), mustHex(t, v.fields["ephemeral secret"])...)}
				pt := mustHex(t, v.fields["plaintext"])
				again, err := seal(rnd, v.fields["study"], pt, rs)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, env) {
					t.Fatalf("sealing the vector's inputs gives a different envelope")
				}
			}
		})
	}
	for _, want := range []string{"success", "no match", "damaged", "malformed", "wrong study"} {
		if seen[want] == 0 {
			t.Errorf("no vector expects %q", want)
		}
	}
}

func expectErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("Open error = %v, want %v", err, want)
	}
}

// craft builds an envelope from explicit parts, for vectors Seal cannot
// produce. slotKeys[i] is the content key placed in slot i; commitKey is
// committed to; q is the padded plaintext.
func craft(study string, e []byte, recipients []*Recipient, slotKeys [][]byte, commitKey, q []byte) []byte {
	var es [32]byte
	copy(es[:], e)
	pub, _, _ := box.GenerateKey(bytes.NewReader(e))
	hd := []byte(Label)
	hd = append(hd, byte(len(study)))
	hd = append(hd, study...)
	hd = append(hd, pub[:]...)
	var ck [32]byte
	copy(ck[:], commitKey)
	c := commitment(study, &ck)
	hd = append(hd, c[:]...)
	hd = append(hd, byte(len(recipients)))
	for i, r := range recipients {
		n := slotNonce(i)
		hd = box.Seal(hd, slotKeys[i], &n, &r.key, &es)
	}
	var k0 [32]byte
	copy(k0[:], slotKeys[0])
	bk := bodyKey(hd, &k0)
	var zero [24]byte
	return secretbox.Seal(hd, q, &zero, &bk)
}

func pad(p []byte, bucket int) []byte {
	q := make([]byte, bucket)
	binary.BigEndian.PutUint32(q, uint32(len(p)))
	copy(q[4:], p)
	return q
}

func writeVectors(t *testing.T) {
	const study = "nk-internet-2026"
	ids := make([]*Identity, 3)
	for i := range ids {
		id, err := NewIdentity(fixedKey(fmt.Sprintf("researcher %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	other, _ := NewIdentity(fixedKey("not a recipient"))
	rs := []*Recipient{ids[0].Recipient(), ids[1].Recipient(), ids[2].Recipient()}
	k := fixedKey("content key")
	e := fixedKey("ephemeral secret")
	answers := []byte(`{"v":1,"study":"nk-internet-2026","lang":"ko","answers":{"story":"도서관 관리원이 옆에 앉아 5분마다 지문으로 다시 인증했습니다. \"quoted\", comma\r\nnew line 🙂 中文"}}`)

	vectors := map[string]*vector{}
	sealed := func(name, desc string, recipients []*Recipient, pt []byte) (*vector, []byte) {
		env, err := seal(&seq{append(append([]byte{}, k...), e...)}, study, pt, recipients)
		if err != nil {
			t.Fatal(err)
		}
		v := &vector{name: name}
		v.set("description", desc)
		v.set("expect", "success")
		v.set("study", study)
		v.set("identity", hex.EncodeToString(ids[0].Bytes()))
		v.set("plaintext", hex.EncodeToString(pt))
		var names []string
		for _, r := range recipients {
			names = append(names, r.String())
		}
		v.set("recipients", strings.Join(names, " "))
		v.set("content key", hex.EncodeToString(k))
		v.set("ephemeral secret", hex.EncodeToString(e))
		v.set("envelope", base64.StdEncoding.EncodeToString(env))
		vectors[name] = v
		return v, env
	}
	broken := func(name, desc, expect string, env []byte, id *Identity, studyID string) {
		v := &vector{name: name}
		v.set("description", desc)
		v.set("expect", expect)
		v.set("study", studyID)
		v.set("identity", hex.EncodeToString(id.Bytes()))
		v.set("envelope", base64.StdEncoding.EncodeToString(env))
		vectors[name] = v
	}

	_, env := sealed("valid", "answers in Korean sealed to one recipient", rs[:1], answers)
	v, _ := sealed("valid_three_recipients", "sealed to three recipients, opened by the second", rs, answers)
	v.set("identity", hex.EncodeToString(ids[1].Bytes()))
	sealed("valid_empty", "empty plaintext, smallest bucket", rs[:1], nil)
	sealed("valid_bucket_full", "1020 bytes: fills the 1 KiB bucket exactly", rs[:1], bytes.Repeat([]byte("가"), 340))
	sealed("valid_bucket_next", "1021 bytes: needs the 2 KiB bucket", rs[:1], append(bytes.Repeat([]byte("a"), 1020), 'b'))

	broken("wrong_key", "opened with a key it was not sealed to", "no match", env, other, study)
	broken("wrong_study", "opened as another study", "wrong study", env, ids[0], "other-study")
	body := bytes.Clone(env)
	body[len(body)-100] ^= 1
	broken("tampered_body", "one bit of the body flipped", "damaged", body, ids[0], study)

	_, env3 := sealed("tmp", "", rs, answers)
	delete(vectors, "tmp")
	hdr := bytes.Clone(env3)
	slot3 := headerSize(len(study), 3) - 10 // inside the third recipient's slot
	hdr[slot3] ^= 1
	broken("tampered_header_other_slot", "another recipient's key slot changed: the body key covers the whole header", "damaged", hdr, ids[0], study)
	com := bytes.Clone(env)
	com[len(Label)+1+len(study)+32] ^= 1
	broken("tampered_header_commitment", "the key commitment changed", "damaged", com, ids[0], study)
	eph := bytes.Clone(env)
	eph[len(Label)+1+len(study)] ^= 1
	broken("tampered_header_ephemeral", "the ephemeral public key changed", "no match", eph, ids[0], study)
	relabel := bytes.Clone(env)
	relabel[len(Label)-2] = '2'
	broken("unknown_version", "a version this implementation never produces", "malformed", relabel, ids[0], study)
	broken("truncated", "last byte cut off", "malformed", env[:len(env)-1], ids[0], study)
	broken("truncated_header", "cut inside the key slots", "malformed", env[:len(Label)+1+len(study)+70], ids[0], study)
	broken("extended", "one byte appended", "malformed", append(bytes.Clone(env), 0), ids[0], study)
	restudied := bytes.Clone(env)
	copy(restudied[len(Label)+1:], "nk-internet-2027")
	broken("restudied", "study id in the header rewritten to another study", "damaged", restudied, ids[0], "nk-internet-2027")

	// Non-committing attack: two recipients get different content keys.
	k2 := fixedKey("second content key")
	split := craft(study, e, rs[:2], [][]byte{k, k2}, k, pad(answers, 1024))
	broken("split_keys", "the second slot holds another content key than the committed one", "damaged", split, ids[1], study)
	nz := pad([]byte("short"), 1024)
	nz[1000] = 1
	broken("nonzero_padding", "padding byte is not zero", "malformed", craft(study, e, rs[:1], [][]byte{k}, k, nz), ids[0], study)
	broken("oversized_bucket", "a 2 KiB bucket for 5 bytes", "malformed", craft(study, e, rs[:1], [][]byte{k}, k, pad([]byte("short"), 2048)), ids[0], study)
	long := pad([]byte("short"), 1024)
	binary.BigEndian.PutUint32(long, 5000)
	broken("length_past_bucket", "length prefix larger than the bucket", "malformed", craft(study, e, rs[:1], [][]byte{k}, k, long), ids[0], study)

	names := make([]string, 0, len(vectors))
	for n := range vectors {
		names = append(names, n)
	}
	sort.Strings(names)
	old, _ := filepath.Glob("testdata/*.txt")
	for _, f := range old {
		os.Remove(f)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join("testdata", n+".txt"), []byte(vectors[n].String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
