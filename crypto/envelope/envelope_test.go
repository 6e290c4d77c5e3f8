package envelope

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func newIDs(t testing.TB, n int) ([]*Identity, []*Recipient) {
	t.Helper()
	var ids []*Identity
	var rs []*Recipient
	for i := 0; i < n; i++ {
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
	for i, id := range ids {
		got, err := Open("study-a", env, id)
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("recipient %d got %q", i, got)
		}
	}
	if err := Check("study-a", env, len(env)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := Check("study-b", env, len(env)); !errors.Is(err, ErrWrongStudy) {
		t.Fatalf("Check for another study = %v, want ErrWrongStudy", err)
	}
	if err := Check("study-a", env, len(env)-1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Check over the size limit = %v, want ErrMalformed", err)
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
	} {
		if _, err := Seal(c.study, nil, c.rs); err == nil {
			t.Errorf("Seal(%q, %d recipients) succeeded", c.study, len(c.rs))
		}
	}
}

func TestRecipientString(t *testing.T) {
	_, rs := newIDs(t, 1)
	s := rs[0].String()
	if !regexp.MustCompile(`^testimony-pub-[a-z2-7]{58}$`).MatchString(s) {
		t.Fatalf("public key %q has an unexpected form", s)
	}
	r, err := ParseRecipient(s)
	if err != nil || !r.Equal(rs[0]) {
		t.Fatalf("ParseRecipient(%q) = %v, %v", s, r, err)
	}
	// Every single-character change is caught by the checksum or the
	// encoding.
	alphabet := "abcdefghijklmnopqrstuvwxyz234567"
	for i := len(RecipientPrefix); i < len(s); i++ {
		for _, c := range alphabet {
			if byte(c) == s[i] {
				continue
			}
			mut := s[:i] + string(c) + s[i+1:]
			if _, err := ParseRecipient(mut); err == nil {
				// The last character carries padding bits that the
				// decoder ignores; anything else is a failure.
				if i != len(s)-1 {
					t.Fatalf("mutated key %q accepted", mut)
				}
			}
		}
	}
	for _, bad := range []string{"", "testimony-pub-", "age1xyz", strings.ToUpper(s), s + "a", s[:len(s)-1]} {
		if _, err := ParseRecipient(bad); err == nil {
			t.Errorf("ParseRecipient(%q) succeeded", bad)
		}
	}
	fp := rs[0].Fingerprint()
	if !regexp.MustCompile(`^[0-9A-F]{4}(-[0-9A-F]{4}){4}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q has an unexpected form", fp)
	}
}

func FuzzOpen(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		v, err := parseVector(file, data)
		if err != nil {
			f.Fatal(err)
		}
		env, _ := base64.StdEncoding.DecodeString(v.fields["envelope"])
		f.Add(env)
	}
	id, err := NewIdentity(fixedKey("researcher 0"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, env []byte) {
		pt, err := Open("nk-internet-2026", env, id)
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			return
		}
		// Whatever opens must be exactly what Seal would produce for
		// the same inputs: reseal with the same size and compare lengths.
		h, _ := parse(env)
		if len(env) != Size(len(pt), len(h.studyID), len(h.slots)) {
			t.Fatalf("opened an envelope of non-canonical size %d", len(env))
		}
		if Check("nk-internet-2026", env, len(env)) != nil {
			t.Fatal("Check rejects an envelope that Open accepts")
		}
	})
}

func FuzzSealOpen(f *testing.F) {
	f.Add([]byte("answers"), "study-a")
	f.Add([]byte{}, "abc")
	ids, rs := newIDs(f, 2)
	f.Fuzz(func(t *testing.T, pt []byte, study string) {
		env, err := Seal(study, pt, rs)
		if err != nil {
			return
		}
		for _, id := range ids {
			got, err := Open(study, env, id)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("round trip failed: %v", err)
			}
		}
	})
}

func BenchmarkOpen8KiB(b *testing.B) {
	ids, rs := newIDs(b, 2)
	env, _ := Seal("study-a", bytes.Repeat([]byte("x"), 8000), rs)
	b.SetBytes(int64(len(env)))
	for b.Loop() {
		if _, err := Open("study-a", env, ids[1]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal8KiB(b *testing.B) {
	_, rs := newIDs(b, 2)
	pt := bytes.Repeat([]byte("x"), 8000)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := Seal("study-a", pt, rs); err != nil {
			b.Fatal(err)
		}
	}
}
