package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/crypto/internal/keycheck"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

func newIDs(t testing.TB, n int) ([]*Identity, []*Recipient) {
	t.Helper()
	var ids []*Identity
	var rs []*Recipient
	for range n {
		id, err := GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		rs = append(rs, id.Recipient())
	}
	return ids, rs
}

func TestRoundTripEveryRecipient(t *testing.T) {
	ids, rs := newIDs(t, 4)
	pt := []byte("손전화로 찍은 화면이 5분마다 저장되였다")
	env, err := Seal("study-a", pt, rs)
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	for i, id := range ids {
		got, err := Open("study-a", env, id)
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
		if !bytes.Equal(got.Plaintext, pt) {
			t.Fatalf("recipient %d got %q", i, got.Plaintext)
		}
		if i == 0 {
			key = got.Key
		} else if got.Key != key {
			t.Fatalf("recipient %d got another content key", i)
		}
	}
	if key == [32]byte{} {
		t.Fatal("content key is zero")
	}
	// A researcher added later, handed the content key, reads the same.
	got, err := OpenWithKey("study-a", env, key)
	if err != nil || !bytes.Equal(got.Plaintext, pt) || got.Key != key {
		t.Fatalf("OpenWithKey = %v, %v", got, err)
	}
	key[0] ^= 1
	if _, err := OpenWithKey("study-a", env, key); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("OpenWithKey with a wrong key = %v, want ErrInconsistent", err)
	}
	keys, err := Recipients(env)
	if err != nil || len(keys) != len(rs) {
		t.Fatalf("Recipients = %d keys, %v", len(keys), err)
	}
	for i := range rs {
		if keys[i] != rs[i].X25519() {
			t.Fatalf("Recipients lists key %d out of order", i)
		}
	}
	if err := Check("study-a", env, len(env), [][]*Recipient{rs[:1], rs}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := Check("study-b", env, len(env), [][]*Recipient{rs}); !errors.Is(err, ErrWrongStudy) {
		t.Fatalf("Check for another study = %v, want ErrWrongStudy", err)
	}
	if err := Check("study-a", env, len(env)-1, [][]*Recipient{rs}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Check over the size limit = %v, want ErrMalformed", err)
	}
	reordered := []*Recipient{rs[1], rs[0], rs[2], rs[3]}
	for _, accepted := range [][][]*Recipient{nil, {rs[:3]}, {reordered}, {append(rs[:4:4], rs[0])}} {
		if err := Check("study-a", env, len(env), accepted); !errors.Is(err, ErrWrongRecipients) {
			t.Fatalf("Check with accepted lists %v = %v, want ErrWrongRecipients", accepted, err)
		}
	}
}

func TestNotRecipient(t *testing.T) {
	ids, rs := newIDs(t, 3)
	env, _ := Seal("study-a", []byte("x"), rs[:2])
	if _, err := Open("study-a", env, ids[2]); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("Open by a key not listed = %v, want ErrNotRecipient", err)
	}
}

func TestSealIsRandomized(t *testing.T) {
	_, rs := newIDs(t, 1)
	a, _ := Seal("study-a", []byte("same"), rs)
	b, _ := Seal("study-a", []byte("same"), rs)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestSizeRevealsOnlyBucket(t *testing.T) {
	_, rs := newIDs(t, 2)
	sizes := map[int]bool{}
	for n := 0; n <= 1020; n += 17 {
		env, err := Seal("study-a", bytes.Repeat([]byte{'x'}, n), rs)
		if err != nil {
			t.Fatal(err)
		}
		sizes[len(env)] = true
		if len(env) != Size(n, len("study-a"), 2) {
			t.Fatalf("Size(%d) = %d, envelope is %d", n, Size(n, 7, 2), len(env))
		}
	}
	if len(sizes) != 1 {
		t.Fatalf("plaintexts of 0 to 1020 bytes gave %d envelope sizes, want 1", len(sizes))
	}
	for _, c := range []struct{ n, bucket int }{{0, 1024}, {1020, 1024}, {1021, 2048}, {MaxPlaintextSize, MaxBucket}} {
		if got := BucketSize(c.n); got != c.bucket {
			t.Errorf("BucketSize(%d) = %d, want %d", c.n, got, c.bucket)
		}
	}
	if _, err := Seal("study-a", make([]byte, MaxPlaintextSize+1), rs); err == nil {
		t.Fatal("sealed a plaintext over the maximum")
	}
}

func TestSealRejectsBadInput(t *testing.T) {
	_, rs := newIDs(t, MaxRecipients+1)
	for _, c := range []struct {
		study string
		rs    []*Recipient
	}{
		{"ab", rs[:1]}, {"Study", rs[:1]}, {strings.Repeat("a", 65), rs[:1]}, {"study", nil}, {"study", rs},
		{"study", []*Recipient{rs[0], rs[1], rs[0]}},
	} {
		if _, err := Seal(c.study, nil, c.rs); err == nil {
			t.Errorf("Seal(%q, %d recipients) succeeded", c.study, len(c.rs))
		}
	}
}

// TestEphemeralPublic checks the Edwards shortcut for X25519(e, 9) against
// crypto/ecdh.
func TestEphemeralPublic(t *testing.T) {
	for i := range 200 {
		var e [32]byte
		rand.Read(e[:])
		if i < 8 { // edge scalars: all zeros, all ones, …
			for j := range e {
				e[j] = byte(0xff * (i & 1))
			}
			e[0] ^= byte(i)
		}
		priv, err := ecdh.X25519().NewPrivateKey(e[:])
		if err != nil {
			t.Fatal(err)
		}
		if got := ephemeralPublic(&e); !bytes.Equal(got[:], priv.PublicKey().Bytes()) {
			t.Fatalf("ephemeralPublic(%x) = %x, crypto/ecdh says %x", e, got, priv.PublicKey().Bytes())
		}
	}
}

// TestSmallOrderList checks that the list of keys of small order is the
// right one: every secret key multiplies each to zero.
func TestSmallOrderList(t *testing.T) {
	priv, _ := ecdh.X25519().GenerateKey(rand.Reader)
	for _, k := range keycheck.SmallOrder() {
		pub, err := ecdh.X25519().NewPublicKey(k[:])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := priv.ECDH(pub); err == nil {
			t.Errorf("%x is not of small order", k)
		}
		if keycheck.X25519(&k) == nil {
			t.Errorf("%x accepted", k)
		}
	}
	// p and p+1 are 0 and 1 again; anything with the top bit set is
	// another encoding of a point below 2^255.
	for _, k := range [][32]byte{{0xed}, {0xee}, {0xff}} {
		for i := 1; i < 31; i++ {
			k[i] = 0xff
		}
		k[31] = 0x7f
		if keycheck.X25519(&k) == nil {
			t.Errorf("non-canonical key %x accepted", k)
		}
	}
	var top [32]byte
	top[0], top[31] = 9, 0x80
	if keycheck.X25519(&top) == nil {
		t.Error("key with the top bit set accepted")
	}
	if _, rs := newIDs(t, 1); keycheck.X25519(&rs[0].x) != nil {
		t.Error("a fresh key is refused")
	}
}

// sealedParts seals to rs from a known content key and returns the parts,
// for the tests that change one.
func sealedParts(t testing.TB, rs []*Recipient, pt []byte) *parts {
	var k [32]byte
	rand.Read(k[:])
	return honest(t, "study-a", k[:], rs, pad(pt, BucketSize(len(pt))))
}

// outcome returns, for each listed identity, the class of Open's result:
// "success:<plaintext>:<key>" or the error it wraps.
func outcome(env []byte, id *Identity) string {
	o, err := Open("study-a", env, id)
	if err == nil {
		return "success:" + string(o.Plaintext) + ":" + string(o.Key[:])
	}
	for name, e := range outcomes {
		if e != nil && errors.Is(err, e) {
			return name
		}
	}
	return "unknown error: " + err.Error()
}

// TestAllOrNone builds the envelopes a dishonest submitter could build to
// be read by some researchers only, with fresh keys (the vectors have
// fixed ones), and checks every listed researcher gets the same outcome.
func TestAllOrNone(t *testing.T) {
	ids, rs := newIDs(t, 3)
	stranger, _ := GenerateIdentity()
	var k2 [32]byte
	rand.Read(k2[:])
	cases := map[string]func(p *parts) (string, []*Identity){
		"honest":      func(p *parts) (string, []*Identity) { return "success", ids },
		"garbage":     func(p *parts) (string, []*Identity) { rand.Read(p.slots[1]); return "inconsistent", ids },
		"no slot for": func(p *parts) (string, []*Identity) { p.slots[2] = p.slots[0]; return "inconsistent", ids },
		"sealed to a stranger": func(p *parts) (string, []*Identity) {
			e := ephemeral(&p.bodyK)
			p.slots[2] = slot(t, p.bodyK[:], 2, stranger.pub.x[:], e[:])
			return "inconsistent", ids
		},
		"other key in one slot": func(p *parts) (string, []*Identity) {
			e := ephemeral(&p.bodyK)
			p.slots[0] = slot(t, k2[:], 0, rs[0].x[:], e[:])
			return "inconsistent", ids
		},
		"slot for a stranger, listed": func(p *parts) (string, []*Identity) {
			p.keys[1] = stranger.pub.x[:]
			return "inconsistent", []*Identity{ids[0], stranger, ids[2]}
		},
		"fresh ephemeral": func(p *parts) (string, []*Identity) {
			var e [32]byte
			rand.Read(e[:])
			p.eph = x25519(t, e[:], nil)
			for i := range p.slots {
				p.slots[i] = slot(t, p.bodyK[:], i, p.keys[i], e[:])
			}
			return "inconsistent", ids
		},
		"commitment": func(p *parts) (string, []*Identity) {
			p.commit[5] ^= 1
			return "damaged", ids
		},
		"commitment and garbage": func(p *parts) (string, []*Identity) {
			p.commit[5] ^= 1
			rand.Read(p.slots[1])
			return "inconsistent", ids
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			p := sealedParts(t, rs, []byte("같은 답"))
			want, who := change(p)
			env := p.bytes()
			for i, id := range who {
				got := outcome(env, id)
				if !strings.HasPrefix(got, want) {
					t.Fatalf("listed identity %d: %q, want %s", i, got, want)
				}
			}
		})
	}
}

func TestOpenedPlaintextHoldsNoPadding(t *testing.T) {
	ids, rs := newIDs(t, 1)
	env, _ := Seal("study-a", []byte("abc"), rs)
	o, err := Open("study-a", env, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if cap(o.Plaintext) != 3 {
		t.Fatalf("plaintext has capacity %d: appending to it would reveal the padding's memory", cap(o.Plaintext))
	}
}

func FuzzOpen(f *testing.F) {
	for _, v := range readVectors(f) {
		env, _ := base64.StdEncoding.DecodeString(v.fields["envelope"])
		f.Add(env)
	}
	ids := researchers(f)[:3]
	f.Fuzz(func(t *testing.T, env []byte) {
		var first string
		for i, id := range ids {
			got := outcome(env, id)
			if strings.HasPrefix(got, "unknown") {
				t.Fatal(got)
			}
			if got == "not recipient" {
				continue
			}
			if first == "" {
				first = got
			} else if got != first {
				t.Fatalf("listed recipients disagree: %q, then identity %d: %q", first, i, got)
			}
			if !strings.HasPrefix(got, "success") {
				continue
			}
			// Whatever opens is exactly what Seal would produce.
			o, _ := Open("nk-internet-2026", env, id)
			h, _ := parse(env)
			if len(env) != Size(len(o.Plaintext), len(h.studyID), len(h.slots)) {
				t.Fatalf("opened an envelope of non-canonical size %d", len(env))
			}
			keys, _ := Recipients(env)
			var rs []*Recipient
			for _, k := range keys {
				rs = append(rs, &Recipient{x: k})
			}
			again, err := seal(&o.Key, h.studyID, o.Plaintext, rs)
			if err != nil || !bytes.Equal(again, env) {
				t.Fatalf("an envelope Seal would not produce opens (%v)", err)
			}
		}
	})
}

// FuzzRecipientsAgree changes a valid envelope in the ways that matter to
// the recipients (slots sealed with other keys, other ephemeral keys, keys
// swapped, bits flipped) and checks that every listed recipient gets the
// same outcome.
func FuzzRecipientsAgree(f *testing.F) {
	ids := researchers(f)[:3]
	stranger := fixedIdentity(f, "not a recipient")
	all := append(ids[:3:3], stranger)
	k := (*[32]byte)(fixedKey("content key"))
	k2 := (*[32]byte)(fixedKey("second content key"))
	other := fixedKey("ephemeral secret")
	f.Add([]byte{})
	f.Add([]byte{0, 2, 1, 0, 0})
	f.Add([]byte{0, 0, 0, 3, 1, 1, 2})
	f.Add([]byte{1, 3, 2, 2, 4, 9})
	f.Add([]byte{2, 0, 3, 0, 40, 5, 5})
	// Everything an operation can put in place, made once: the fuzzer then
	// spends its time opening.
	rs := []*Recipient{ids[0].Recipient(), ids[1].Recipient(), ids[2].Recipient()}
	base := honest(f, "study-a", k[:], rs, pad([]byte("같은 답"), 1024))
	keys := [][32]byte{*k, *k2}
	e1, e2 := ephemeral(k), ephemeral(k2)
	es := [][]byte{e1[:], e2[:], other}
	var slots [2][3][4][3][]byte // content key, nonce, recipient, ephemeral
	for a := range slots {
		for n := range slots[a] {
			for r := range slots[a][n] {
				for e := range slots[a][n][r] {
					slots[a][n][r][e] = slot(f, keys[a][:], n, all[r].pub.x[:], es[e])
				}
			}
		}
	}
	var ephs [3][]byte
	for i := range ephs {
		ephs[i] = x25519(f, es[i], nil)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		p := *base
		p.keys = slices.Clone(base.keys)
		p.slots = slices.Clone(base.slots)
		for len(ops) >= 4 {
			op, a, b, c := ops[0]%6, int(ops[1]), int(ops[2]), int(ops[3])
			ops = ops[4:]
			j := a % len(p.slots)
			switch op {
			case 0: // slot j: a content key, a nonce, a recipient, an ephemeral key
				p.slots[j] = slots[b&1][c%3][(b>>1)%4][(c/3)%3]
			case 1: // the ephemeral public key of ephemeral secret b
				p.eph = ephs[b%3]
			case 2: // the commitment to content key b
				p.commit = commitment(p.study, &keys[b%2])
			case 3: // the body under content key b
				p.bodyK = keys[b%2]
			case 4: // recipient j's key replaced by identity b's
				p.keys[j] = all[b%4].pub.x[:]
			case 5: // flip bit c of byte b*4 of slot j
				p.slots[j] = bytes.Clone(p.slots[j])
				p.slots[j][(b*4)%slotSize] ^= 1 << (c % 8)
			}
		}
		env := p.bytes()
		var first string
		for i, id := range all {
			got := outcome(env, id)
			if got == "not recipient" {
				continue
			}
			if strings.HasPrefix(got, "unknown") {
				t.Fatal(got)
			}
			if first == "" {
				first = got
			} else if got != first {
				t.Fatalf("listed recipients disagree: %q, then identity %d: %q", first, i, got)
			}
		}
	})
}

func FuzzSealOpen(f *testing.F) {
	f.Add([]byte("answers"), "study-a", uint8(2))
	f.Add([]byte{}, "abc", uint8(1))
	ids, rs := newIDs(f, 3)
	f.Fuzz(func(t *testing.T, pt []byte, study string, n uint8) {
		n = n%3 + 1
		env, err := Seal(study, pt, rs[:n])
		if err != nil {
			return
		}
		var key *[32]byte
		for _, id := range ids[:n] {
			got, err := Open(study, env, id)
			if err != nil || !bytes.Equal(got.Plaintext, pt) {
				t.Fatalf("round trip failed: %v", err)
			}
			if key != nil && *key != got.Key {
				t.Fatal("recipients got different content keys")
			}
			key = &got.Key
		}
		if got, err := OpenWithKey(study, env, *key); err != nil || !bytes.Equal(got.Plaintext, pt) {
			t.Fatalf("OpenWithKey failed: %v", err)
		}
		if err := Check(study, env, len(env), [][]*Recipient{rs[:n]}); err != nil {
			t.Fatalf("Check: %v", err)
		}
	})
}

const benchPlaintext = 8000 // in the 8 KiB bucket

// BenchmarkOpen opens an envelope sealed to two recipients with an 8 KiB
// bucket ("v2"), against the floor of NaCl doing the least any such format
// must: box.Open of one key slot and secretbox.Open of the body with the
// right key ("raw").
func BenchmarkOpen(b *testing.B) {
	ids, rs := newIDs(b, 2)
	env, _ := Seal("study-a", bytes.Repeat([]byte("x"), benchPlaintext), rs)
	b.Run("v2", func(b *testing.B) {
		b.SetBytes(int64(len(env)))
		for b.Loop() {
			if _, err := Open("study-a", env, ids[1]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("v2-one-recipient", func(b *testing.B) {
		env, _ := Seal("study-a", bytes.Repeat([]byte("x"), benchPlaintext), rs[:1])
		b.SetBytes(int64(len(env)))
		for b.Loop() {
			if _, err := Open("study-a", env, ids[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		// The same sizes, sealed with plain NaCl.
		var k, bk [32]byte
		rand.Read(k[:])
		rand.Read(bk[:])
		var nonce [24]byte
		recipient := (*[32]byte)(rs[1].x[:])
		eph, ephSecret, _ := box.GenerateKey(rand.Reader)
		slot := box.Seal(nil, k[:], &nonce, recipient, ephSecret)
		body := secretbox.Seal(nil, make([]byte, BucketSize(benchPlaintext)), &nonce, &bk)
		secret := (*[32]byte)(ids[1].Bytes())
		b.SetBytes(int64(len(env)))
		for b.Loop() {
			if _, ok := box.Open(nil, slot, &nonce, eph, secret); !ok {
				b.Fatal("slot did not open")
			}
			if _, ok := secretbox.Open(nil, body, &nonce, &bk); !ok {
				b.Fatal("body did not open")
			}
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	_, rs := newIDs(b, 2)
	pt := bytes.Repeat([]byte("x"), benchPlaintext)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := Seal("study-a", pt, rs); err != nil {
			b.Fatal(err)
		}
	}
}
