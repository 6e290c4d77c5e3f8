package envelope

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
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

// The test vectors in testdata/ are shared by this package and the browser
// code (web/test/envelope.test.js). They are text files of "key: value"
// lines:
//
//	description: what the vector checks
//	expect: success | not recipient | inconsistent | damaged | malformed | wrong study
//	study: the study id to open the envelope as
//	identities: hex of 32-byte secret keys, space-separated: Open must give
//	    every one of them the outcome expect names (for an envelope, every
//	    recipient its header lists, or keys it does not list)
//	plaintext: hex (success only)
//	content key: hex of K, where the envelope was built from one:
//	    OpenWithKey with it gives the outcome expect names, and on success
//	    Open returns it as Opened.Key
//	recipients: public keys in slot order, for envelopes Seal produces:
//	    sealing the plaintext to them with the content key gives the
//	    envelope byte for byte
//	envelope: base64 (standard, padded) of the envelope
//
// Regenerate with: go test ./crypto/envelope -run TestVectors -update

var update = flag.Bool("update", false, "regenerate testdata/*.txt")

// outcomes maps the names vectors use to the errors Open returns.
var outcomes = map[string]error{
	"success":       nil,
	"not recipient": ErrNotRecipient,
	"inconsistent":  ErrInconsistent,
	"damaged":       ErrDamaged,
	"malformed":     ErrMalformed,
	"wrong study":   ErrWrongStudy,
}

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

// String writes the fields in the order they were set, the envelope (the
// long line) last.
func (v *vector) String() string {
	var b strings.Builder
	for _, k := range v.order {
		if k != "envelope" {
			fmt.Fprintf(&b, "%s: %s\n", k, v.fields[k])
		}
	}
	fmt.Fprintf(&b, "envelope: %s\n", v.fields["envelope"])
	return b.String()
}

func parseVector(name string, data []byte) (*vector, error) {
	v := &vector{name: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			k, ok = strings.CutSuffix(sc.Text(), ":")
			if !ok {
				return nil, fmt.Errorf("%s: malformed line %q", name, sc.Text())
			}
		}
		v.set(k, val)
	}
	return v, sc.Err()
}

func readVectors(t testing.TB) []*vector {
	t.Helper()
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	var vs []*vector
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := parseVector(filepath.Base(f), data)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixedKey(label string) []byte {
	h := make([]byte, 32)
	copy(h, label)
	for i := range h {
		h[i] ^= byte(i * 7)
	}
	return h
}

func fixedIdentity(t testing.TB, label string) *Identity {
	t.Helper()
	id, err := NewIdentity(fixedKey(label))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// researchers are the identities of the vectors: "researcher 0" … "researcher 15".
func researchers(t testing.TB) []*Identity {
	ids := make([]*Identity, MaxRecipients)
	for i := range ids {
		ids[i] = fixedIdentity(t, fmt.Sprintf("researcher %d", i))
	}
	return ids
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	vs := readVectors(t)
	if len(vs) < 30 {
		t.Fatalf("found %d vectors in testdata, want at least 30", len(vs))
	}
	seen := map[string]int{}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			want, ok := outcomes[v.fields["expect"]]
			if !ok {
				t.Fatalf("unknown expect %q", v.fields["expect"])
			}
			seen[v.fields["expect"]]++
			env, err := base64.StdEncoding.Strict().DecodeString(v.fields["envelope"])
			if err != nil {
				t.Fatal(err)
			}
			var key *[32]byte
			if s, ok := v.fields["content key"]; ok {
				key = (*[32]byte)(mustHex(t, s))
			}
			check := func(who string, o *Opened, err error) {
				t.Helper()
				if !errors.Is(err, want) || (want == nil) != (err == nil) {
					t.Fatalf("%s: error %v, want %v", who, err, want)
				}
				if err != nil {
					if o != nil {
						t.Fatalf("%s: result returned with an error", who)
					}
					return
				}
				if pt := mustHex(t, v.fields["plaintext"]); !bytes.Equal(o.Plaintext, pt) {
					t.Fatalf("%s: plaintext %x, want %x", who, o.Plaintext, pt)
				}
				if key != nil && o.Key != *key {
					t.Fatalf("%s: content key %x, want %x", who, o.Key, *key)
				}
			}
			ids := strings.Fields(v.fields["identities"])
			if len(ids) == 0 {
				t.Fatal("no identities")
			}
			for i, s := range ids {
				id, err := NewIdentity(mustHex(t, s))
				if err != nil {
					t.Fatal(err)
				}
				o, err := Open(v.fields["study"], env, id)
				check(fmt.Sprintf("identity %d", i+1), o, err)
			}
			if key != nil {
				if want == ErrNotRecipient {
					t.Fatal("a not-recipient vector has a content key")
				}
				o, err := OpenWithKey(v.fields["study"], env, *key)
				check("OpenWithKey", o, err)
			}
			if s, ok := v.fields["recipients"]; ok {
				var rs []*Recipient
				for _, s := range strings.Fields(s) {
					r, err := ParseRecipient(s)
					if err != nil {
						t.Fatal(err)
					}
					rs = append(rs, r)
				}
				again, err := seal(key, v.fields["study"], mustHex(t, v.fields["plaintext"]), rs)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, env) {
					t.Fatal("sealing the vector's inputs gives a different envelope")
				}
			}
			// The server's check agrees with Open on what it can see.
			var listed []*Recipient
			if keys, err := Recipients(env); err == nil {
				for _, k := range keys {
					listed = append(listed, &Recipient{x: k})
				}
			}
			err = Check(v.fields["study"], env, len(env), [][]*Recipient{listed})
			_, structure := parse(env)
			switch {
			case structure != nil:
				if want != ErrMalformed || !errors.Is(err, ErrMalformed) {
					t.Fatalf("Check: %v, Open: %v", err, want)
				}
			case want == ErrWrongStudy:
				if !errors.Is(err, ErrWrongStudy) {
					t.Fatalf("Check: %v, want %v", err, want)
				}
			default: // Check cannot see inside the ciphertext
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
			}
		})
	}
	for want := range outcomes {
		if seen[want] == 0 {
			t.Errorf("no vector expects %q", want)
		}
	}
}

// parts are the pieces of an envelope, for vectors Seal cannot produce.
type parts struct {
	label  string
	study  string
	eph    []byte
	commit [32]byte
	keys   [][]byte
	slots  [][]byte
	bodyK  [32]byte // the content key the body key is derived from
	q      []byte   // padded plaintext
}

// honest returns the parts Seal makes from the content key k.
func honest(t testing.TB, study string, k []byte, rs []*Recipient, q []byte) *parts {
	p := &parts{label: Label, study: study, q: q}
	kk := (*[32]byte)(k)
	e := ephemeral(kk)
	p.eph = x25519(t, e[:], nil)
	p.commit = commitment(study, kk)
	for i, r := range rs {
		p.keys = append(p.keys, bytes.Clone(r.x[:]))
		p.slots = append(p.slots, slot(t, k, i, r.x[:], e[:]))
	}
	p.bodyK = *kk
	return p
}

func (p *parts) bytes() []byte {
	hd := []byte(p.label)
	hd = append(hd, byte(len(p.study)))
	hd = append(hd, p.study...)
	hd = append(hd, p.eph...)
	hd = append(hd, p.commit[:]...)
	hd = append(hd, byte(len(p.keys)))
	for i := range p.keys {
		hd = append(hd, p.keys[i]...)
		hd = append(hd, p.slots[i]...)
	}
	bk := bodyKey(hd, &p.bodyK)
	var zero [24]byte
	return secretbox.Seal(hd, p.q, &zero, &bk)
}

// x25519 returns X25519(scalar, point), or X25519(scalar, 9) for a nil point.
func x25519(t testing.TB, scalar, point []byte) []byte {
	priv, err := ecdh.X25519().NewPrivateKey(scalar)
	if err != nil {
		t.Fatal(err)
	}
	if point == nil {
		return priv.PublicKey().Bytes()
	}
	pub, err := ecdh.X25519().NewPublicKey(point)
	if err != nil {
		t.Fatal(err)
	}
	out, err := priv.ECDH(pub)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// slot returns crypto_box(k, N_i, r, e).
func slot(t testing.TB, k []byte, i int, r, e []byte) []byte {
	n := slotNonce(i)
	return box.Seal(nil, k, &n, (*[32]byte)(r), (*[32]byte)(e))
}

func pad(p []byte, bucket int) []byte {
	q := make([]byte, bucket)
	binary.BigEndian.PutUint32(q, uint32(len(p)))
	copy(q[4:], p)
	return q
}

func writeVectors(t *testing.T) {
	const study = "nk-internet-2026"
	ids := researchers(t)
	rs := make([]*Recipient, len(ids))
	for i, id := range ids {
		rs[i] = id.Recipient()
	}
	outsider := fixedIdentity(t, "not a recipient")
	k := fixedKey("content key")
	k2 := fixedKey("second content key")
	answers := []byte(`{"v":2,"study":"nk-internet-2026","version":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","lang":"ko","answers":{"story":"도서관 관리원이 옆에 앉아 5분마다 지문으로 다시 인증했습니다. \"quoted\", comma\r\nnew line 🙂 中文"}}`)
	q := pad(answers, BucketSize(len(answers)))

	secrets := func(ids ...*Identity) string {
		var s []string
		for _, id := range ids {
			s = append(s, hex.EncodeToString(id.Bytes()))
		}
		return strings.Join(s, " ")
	}
	vectors := map[string]*vector{}
	add := func(name, desc, expect, studyID string, env []byte, key []byte, who ...*Identity) *vector {
		if _, dup := vectors[name]; dup {
			t.Fatalf("two vectors named %s", name)
		}
		v := &vector{name: name}
		v.set("description", desc)
		v.set("expect", expect)
		v.set("study", studyID)
		v.set("identities", secrets(who...))
		if key != nil {
			v.set("content key", hex.EncodeToString(key))
		}
		v.set("envelope", base64.StdEncoding.EncodeToString(env))
		vectors[name] = v
		return v
	}
	sealed := func(name, desc string, n int, pt []byte) []byte {
		env, err := seal((*[32]byte)(k), study, pt, rs[:n])
		if err != nil {
			t.Fatal(err)
		}
		if name == "" {
			return env
		}
		v := add(name, desc, "success", study, env, k, ids[:n]...)
		v.set("plaintext", hex.EncodeToString(pt))
		var names []string
		for _, r := range rs[:n] {
			names = append(names, r.String())
		}
		v.set("recipients", strings.Join(names, " "))
		return env
	}
	// success (and a built envelope for the vectors below)
	sealed("valid", "answers in Korean sealed to one recipient", 1, answers)
	env3 := sealed("valid_three_recipients", "sealed to three recipients: each opens it to the same plaintext and content key", 3, answers)
	sealed("valid_sixteen_recipients", "sealed to the most recipients the format allows", MaxRecipients, answers)
	sealed("valid_empty", "empty plaintext, smallest bucket", 1, nil)
	sealed("valid_bucket_full", "1020 bytes: fills the 1 KiB bucket exactly", 1, bytes.Repeat([]byte("가"), 340))
	sealed("valid_bucket_next", "1021 bytes: needs the 2 KiB bucket", 1, append(bytes.Repeat([]byte("a"), 1020), 'b'))

	// not recipient
	add("not_recipient", "opened with a key the header does not list", "not recipient", study, env3, nil, outsider)
	two := honest(t, study, k, []*Recipient{rs[0], rs[2]}, q)
	add("missing_recipient_listed", "researcher 1 left out of the key list: the others open it (Check refuses the list, so everyone refuses it)", "success", study, two.bytes(), k, ids[0], ids[2]).set("plaintext", hex.EncodeToString(answers))
	add("missing_recipient_left_out", "researcher 1 left out of the key list: they cannot open it", "not recipient", study, two.bytes(), nil, ids[1])

	// inconsistent: some recipients could read it and others not
	three := func() *parts { return honest(t, study, k, rs[:3], q) }
	e := ephemeral((*[32]byte)(k))
	p := three()
	p.slots[2] = bytes.Repeat([]byte{0x5a}, slotSize)
	add("slot_garbage", "the third recipient's slot is garbage", "inconsistent", study, p.bytes(), k, ids[:3]...)
	p = three()
	p.slots[2] = slot(t, k, 2, outsider.pub.x[:], e[:])
	add("slot_swapped", "the third recipient's slot is sealed to another key", "inconsistent", study, p.bytes(), k, ids[:3]...)
	p = three()
	p.slots[2] = slot(t, k2, 2, rs[2].x[:], e[:])
	add("slot_other_content_key", "the third recipient's slot holds another content key", "inconsistent", study, p.bytes(), k, ids[:3]...)
	p = three()
	p.slots[1], p.slots[2] = p.slots[2], p.slots[1]
	add("slots_exchanged", "the second and third slots exchanged, keys in place", "inconsistent", study, p.bytes(), k, ids[:3]...)
	p = three()
	p.keys[1], p.keys[2] = p.keys[2], p.keys[1]
	p.slots[1], p.slots[2] = p.slots[2], p.slots[1]
	add("entries_exchanged", "the second and third recipients (key and slot) exchanged: their nonces no longer match", "inconsistent", study, p.bytes(), k, ids[:3]...)
	p = three()
	other := fixedKey("ephemeral secret")
	p.eph = x25519(t, other, nil)
	for i := range p.slots {
		p.slots[i] = slot(t, k, i, rs[i].x[:], other)
	}
	add("ephemeral_not_derived", "every slot holds the content key, sealed from an ephemeral key not derived from it", "inconsistent", study, p.bytes(), k, ids[:3]...)
	p = three()
	p.slots[1] = slot(t, k, 1, rs[1].x[:], other)
	add("slot_other_ephemeral", "the second slot is sealed from another ephemeral key", "inconsistent", study, p.bytes(), k, ids[:3]...)
	t3 := bytes.Clone(env3)
	t3[headerSize(len(study), 3)-10] ^= 1 // inside the third recipient's slot
	add("tampered_header_other_slot", "one bit of the third recipient's slot flipped", "inconsistent", study, t3, k, ids[:3]...)
	t3 = bytes.Clone(env3)
	t3[len(Label)+1+len(study)] ^= 1
	add("tampered_header_ephemeral", "one bit of the ephemeral public key flipped", "inconsistent", study, t3, k, ids[:3]...)
	p = three()
	p.keys[2] = bytes.Clone(outsider.pub.x[:])
	add("tampered_header_recipient_key", "the third recipient's key replaced by another's, slot unchanged: the listed keys all refuse it", "inconsistent", study, p.bytes(), k, ids[0], ids[1], outsider)
	add("tampered_header_recipient_key_left_out", "the third recipient's key replaced by another's: the third recipient is no longer listed", "not recipient", study, p.bytes(), nil, ids[2])

	// damaged: sealed alike to all, but changed
	t3 = bytes.Clone(env3)
	t3[len(t3)-100] ^= 1
	add("tampered_body", "one bit of the body flipped", "damaged", study, t3, k, ids[:3]...)
	t3 = bytes.Clone(env3)
	t3[len(Label)+1+len(study)+32] ^= 1
	add("tampered_header_commitment", "one bit of the key commitment flipped", "damaged", study, t3, k, ids[:3]...)
	p = three()
	p.commit = commitment(study, (*[32]byte)(k2))
	add("commitment_other_key", "the commitment is to another content key", "damaged", study, p.bytes(), k, ids[:3]...)
	p = three()
	copy(p.bodyK[:], k2)
	add("body_other_key", "the body is sealed under a body key from another content key", "damaged", study, p.bytes(), k, ids[:3]...)
	t3 = bytes.Clone(env3)
	copy(t3[len(Label)+1:], "nk-internet-2027")
	add("restudied", "study id in the header rewritten to another study, opened as that study", "damaged", "nk-internet-2027", t3, k, ids[:3]...)

	// malformed
	p = three()
	p.label = "testimony-envelope-v1\n"
	add("unknown_version", "version 1, no longer read", "malformed", study, p.bytes(), k, ids[:3]...)
	add("truncated", "last byte cut off", "malformed", study, env3[:len(env3)-1], k, ids[:3]...)
	add("truncated_header", "cut inside the key slots", "malformed", study, env3[:headerSize(len(study), 2)], k, ids[:3]...)
	add("extended", "one byte appended", "malformed", study, append(bytes.Clone(env3), 0), k, ids[:3]...)
	p = three()
	p.keys[2], p.slots[2] = p.keys[0], slot(t, k, 2, rs[0].x[:], e[:])
	add("duplicate_recipient", "the first recipient's key listed twice, each slot sealed to it", "malformed", study, p.bytes(), k, ids[:2]...)
	p = three()
	p.keys, p.slots = nil, nil
	add("no_recipients", "a key list of zero recipients", "malformed", study, p.bytes(), k, ids[:3]...)
	p = honest(t, study, k, rs, q)
	p.keys = append(p.keys, outsider.pub.x[:])
	p.slots = append(p.slots, slot(t, k, 16, outsider.pub.x[:], e[:]))
	add("too_many_recipients", "17 recipients", "malformed", study, p.bytes(), k, ids...)
	p = three()
	p.keys[1] = make([]byte, 32)
	add("small_order_recipient", "the second recipient's key is the point 0, of small order", "malformed", study, p.bytes(), k, ids[0], ids[2])
	p = three()
	p.keys[0] = bytes.Clone(p.keys[0])
	p.keys[0][31] |= 0x80
	add("noncanonical_recipient", "the first recipient's key with its top bit set: the same point, another encoding", "malformed", study, p.bytes(), k, ids[:3]...)
	p = three()
	p.study = "NK-internet-2026"
	add("bad_study_id", "a study id with capital letters", "malformed", study, p.bytes(), k, ids[:3]...)
	nz := pad([]byte("short"), 1024)
	nz[1000] = 1
	add("nonzero_padding", "padding byte is not zero", "malformed", study, honest(t, study, k, rs[:3], nz).bytes(), k, ids[:3]...)
	add("oversized_bucket", "a 2 KiB bucket for 5 bytes", "malformed", study, honest(t, study, k, rs[:3], pad([]byte("short"), 2048)).bytes(), k, ids[:3]...)
	long := pad([]byte("short"), 1024)
	binary.BigEndian.PutUint32(long, 5000)
	add("length_past_bucket", "length prefix larger than the bucket", "malformed", study, honest(t, study, k, rs[:3], long).bytes(), k, ids[:3]...)

	// wrong study
	add("wrong_study", "opened as another study", "wrong study", "other-study", env3, k, ids[:3]...)

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
