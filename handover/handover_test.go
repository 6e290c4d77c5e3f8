package handover

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/crypto/envelope"
	"golang.org/x/mod/sumdb/note"
)

type fixture struct {
	giver, taker, other *envelope.Identity
	envs                [][]byte
	keys                [][32]byte
	versions            [][]byte // study files
}

func newFixture(t testing.TB, n int) *fixture {
	t.Helper()
	f := &fixture{versions: [][]byte{[]byte("id: hand-study\n# version 2\n"), []byte("id: hand-study\n# version 1\n")}}
	for _, p := range []**envelope.Identity{&f.giver, &f.taker, &f.other} {
		id, err := envelope.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		*p = id
	}
	for i := range n {
		env, err := envelope.Seal("hand-study", []byte(strings.Repeat("testimony ", i+1)), []*envelope.Recipient{f.giver.Recipient(), f.other.Recipient()})
		if err != nil {
			t.Fatal(err)
		}
		o, err := envelope.Open("hand-study", env, f.giver)
		if err != nil {
			t.Fatal(err)
		}
		f.envs = append(f.envs, env)
		f.keys = append(f.keys, o.Key)
	}
	return f
}

// file writes a handover of the fixture's envelopes from the giver to the
// taker.
func (f *fixture) file(t testing.TB) []byte {
	t.Helper()
	s, err := NewSealer(f.taker.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var entries []Entry
	for i, env := range f.envs {
		entries = append(entries, s.Entry(env, f.keys[i]))
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, s.Manifest("hand-study", f.giver.Recipient().Fingerprint(), f.versions, entries), f.giver.Signer(), f.versions)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range f.envs {
		if err := w.Add(env); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (f *fixture) verifiers() []note.Verifier {
	return []note.Verifier{f.giver.Recipient().Verifier(), f.taker.Recipient().Verifier()}
}

// readAll reads a handover file whole, returning the plaintexts opened
// with the keys it hands over.
func readAll(data []byte, vs []note.Verifier, id *envelope.Identity) ([]string, error) {
	r, err := NewReader(bytes.NewReader(data), vs)
	if err != nil {
		return nil, err
	}
	o, err := r.Manifest().Opener(id)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	var out []string
	for {
		v, err := r.NextVersion()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, string(v))
	}
	for i := 0; ; i++ {
		env, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		k, err := o.Key(r.Manifest().Entries[i])
		if err != nil {
			return nil, err
		}
		opened, err := envelope.OpenWithKey(r.Manifest().StudyID, env, k)
		if err != nil {
			return nil, err
		}
		out = append(out, string(opened.Plaintext))
	}
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t, 3)
	data := f.file(t)
	got, err := readAll(data, f.verifiers(), f.taker)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || !strings.Contains(got[0]+got[1], "version 1") || got[4] != strings.Repeat("testimony ", 3) {
		t.Fatalf("read %q", got)
	}
	// The taker cannot open the envelopes without the file.
	if _, err := envelope.Open("hand-study", f.envs[0], f.taker); !errors.Is(err, envelope.ErrNotRecipient) {
		t.Fatalf("taker opened an envelope not sealed to them: %v", err)
	}
	// Only the taker can unseal the keys.
	r, err := NewReader(bytes.NewReader(data), f.verifiers())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Manifest().Opener(f.other); err == nil || !strings.Contains(err.Error(), "not yours") {
		t.Fatalf("Opener for another key: %v", err)
	}
	// The file's SHA-256 is known once read whole.
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	if _, ok := r.SHA256(); !ok {
		t.Fatal("no SHA-256 after the last envelope")
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, 2)
	good := f.file(t)
	header := len(Magic) + 4 + int(binary.BigEndian.Uint32(good[len(Magic):]))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		vs   []note.Verifier
		is   error
		says string
	}{
		{"empty", nil, f.verifiers(), ErrInvalid, "not a handover file"},
		{"batch", []byte("manifest\x00\x00\x00"), f.verifiers(), ErrInvalid, "not a handover file"},
		{"cut in the manifest", good[:header-10], f.verifiers(), ErrInvalid, "cut short"},
		{"unknown signer", good, []note.Verifier{f.other.Recipient().Verifier()}, ErrUnknownKey, "testimony-researcher-"},
		{"manifest altered", flip(len(Magic) + 4 + 40), f.verifiers(), ErrInvalid, "does not verify"},
		{"huge manifest", append([]byte(Magic), 0xff, 0xff, 0xff, 0xff), f.verifiers(), ErrInvalid, "larger than"},
		{"envelope altered", flip(len(good) - 5), f.verifiers(), ErrInvalid, "does not match the SHA-256"},
		{"envelope size changed", flip(len(good) - len(f.envs[1]) - 1), f.verifiers(), ErrInvalid, "the manifest says"},
		{"cut in an envelope", good[:len(good)-1], f.verifiers(), ErrInvalid, "cut short"},
		{"last envelope missing", good[:len(good)-4-len(f.envs[1])], f.verifiers(), ErrInvalid, "cut short"},
		{"study file altered", flip(header + 6), f.verifiers(), ErrInvalid, "study file 1 does not match"},
		{"trailing byte", append(bytes.Clone(good), 0), f.verifiers(), ErrInvalid, "follow the last envelope"},
	} {
		_, err := readAll(tc.data, tc.vs, f.taker)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v; want %v saying %q", tc.name, err, tc.is, tc.says)
		}
	}
}

func TestWriterChecks(t *testing.T) {
	f := newFixture(t, 2)
	s, _ := NewSealer(f.taker.Recipient())
	entries := []Entry{s.Entry(f.envs[0], f.keys[0]), s.Entry(f.envs[1], f.keys[1])}
	m := s.Manifest("hand-study", f.giver.Recipient().Fingerprint(), f.versions, entries)
	if _, err := NewWriter(io.Discard, m, f.other.Signer(), f.versions); err == nil || !strings.Contains(err.Error(), "own key") {
		t.Errorf("signed by another researcher than the manifest names: %v", err)
	}
	if _, err := NewWriter(io.Discard, m, f.giver.Signer(), f.versions[:1]); err == nil || !strings.Contains(err.Error(), "study files") {
		t.Errorf("a study file missing: %v", err)
	}
	w, err := NewWriter(io.Discard, m, f.giver.Signer(), f.versions)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(f.envs[1]); err == nil {
		t.Error("Add of envelopes out of order succeeded")
	}
	w, _ = NewWriter(io.Discard, m, f.giver.Signer(), f.versions)
	w.Add(f.envs[0])
	if err := w.Close(); err == nil {
		t.Error("Close with an envelope missing succeeded")
	}
	m.Entries = append(m.Entries, entries[0])
	if _, err := NewWriter(io.Discard, m, f.giver.Signer(), f.versions); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("an envelope twice: %v", err)
	}
	// A key sealed to one envelope does not open as another's.
	wrong := entries[0]
	wrong.SHA256 = entries[1].SHA256
	o, _ := m.Opener(f.taker)
	if _, err := o.Key(wrong); err == nil {
		t.Error("a sealed key opened under another envelope's nonce")
	}
}

func TestParseManifestStrict(t *testing.T) {
	f := newFixture(t, 2)
	s, _ := NewSealer(f.taker.Recipient())
	m := s.Manifest("hand-study", f.giver.Recipient().Fingerprint(), f.versions, []Entry{s.Entry(f.envs[0], f.keys[0]), s.Entry(f.envs[1], f.keys[1])})
	text, err := m.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseManifest(text); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(text), "\n")
	for _, tc := range []struct {
		name, text, says string
	}{
		{"other version", strings.Replace(string(text), "v1", "v2", 1), "unsupported version"},
		{"bad study", strings.Replace(string(text), "hand-study", "Hand_Study", 1), "study id"},
		{"lowercase fingerprint", strings.Replace(string(text), lines[2], strings.ToLower(lines[2]), 1), "fingerprint"},
		{"count with a zero", strings.Replace(string(text), "count 2", "count 02", 1), "count"},
		{"count too high", strings.Replace(string(text), "count 2", "count 3", 1), "ends after 2 of 3"},
		{"count too low", strings.Replace(string(text), "count 2", "count 1", 1), "unexpected text"},
		{"versions unsorted", strings.Replace(string(text), lines[6]+lines[7], lines[7]+lines[6], 1), "out of order"},
		{"versions with a zero", strings.Replace(string(text), "versions 2", "versions 02", 1), "study files"},
		{"uppercase hex", strings.Replace(string(text), lines[9], strings.ToUpper(lines[9][:64])+lines[9][64:], 1), "malformed envelope line"},
		{"size zero", strings.Replace(string(text), lines[9], lines[9][:65]+"0"+lines[9][strings.LastIndexByte(lines[9], ' '):], 1), "size"},
		{"twice", strings.Join(append(lines[:9:9], lines[9], lines[9]), ""), "twice"},
		{"carriage return", strings.Replace(string(text), "\n", "\r\n", 1), "unsupported version"},
		{"no final newline", strings.TrimSuffix(string(text), "\n"), "ends after"},
	} {
		if _, err := ParseManifest([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v; want an error saying %q", tc.name, err, tc.says)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	fx := newFixture(f, 2)
	s, _ := NewSealer(fx.taker.Recipient())
	m := s.Manifest("hand-study", fx.giver.Recipient().Fingerprint(), fx.versions, []Entry{s.Entry(fx.envs[0], fx.keys[0]), s.Entry(fx.envs[1], fx.keys[1])})
	text, _ := m.MarshalText()
	f.Add(text)
	f.Add([]byte(formatLine + "\nstudy a-b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		out, err := m.MarshalText()
		if err != nil {
			t.Fatalf("parsed manifest does not marshal: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("ParseManifest accepted %q, which marshals as %q", data, out)
		}
	})
}

// FuzzReader reads arbitrary files, and files whose signed manifest is
// valid followed by arbitrary bytes: it must never panic, and must accept
// only envelopes that match the manifest, ending exactly after the last.
func FuzzReader(f *testing.F) {
	fx := newFixture(f, 2)
	good := fx.file(f)
	header := len(Magic) + 4 + int(binary.BigEndian.Uint32(good[len(Magic):]))
	f.Add(false, good)
	f.Add(true, good[header:])
	f.Add(true, []byte{0, 0, 0, 1, 0})
	vs := fx.verifiers()
	f.Fuzz(func(t *testing.T, tail bool, data []byte) {
		if tail {
			data = append(bytes.Clone(good[:header]), data...)
		}
		r, err := NewReader(bytes.NewReader(data), vs)
		if err != nil {
			return
		}
		n := 0
		for {
			env, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			if !bytes.Equal(env, fx.envs[n]) {
				t.Fatalf("envelope %d accepted but differs", n)
			}
			n++
		}
		if n != len(fx.envs) || !bytes.Equal(data, good) {
			t.Fatalf("accepted a file other than the one signed (%d envelopes)", n)
		}
	})
}
