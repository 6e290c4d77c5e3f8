package batch

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

const study = "nk-internet-access"

type keys struct {
	signer   note.Signer
	verifier note.Verifier
}

func TestGenerateKey(t *testing.T) {
	skey, vkey, err := GenerateKey("testimony-server")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(vkey, "PRIVATE") || !strings.HasPrefix(skey, "PRIVATE+KEY+testimony-server+") {
		t.Fatalf("GenerateKey returned keys in the wrong order or form: %q", vkey)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Write(&buf, s, study, envelopes(1, 1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(&buf, v); err != nil {
		t.Fatalf("batch signed with a generated key does not verify with its verifier: %v", err)
	}
	if _, _, err := GenerateKey("bad name"); err == nil {
		t.Errorf("GenerateKey accepted a name with a space")
	}
}

var serverKeys, otherKeys keys

func init() {
	for _, k := range []struct {
		k    *keys
		name string
	}{{&serverKeys, "testimony-server"}, {&otherKeys, "testimony-server"}} {
		skey, vkey, err := GenerateKey(k.name)
		if err != nil {
			panic(err)
		}
		k.k.signer, _ = note.NewSigner(skey)
		k.k.verifier, _ = note.NewVerifier(vkey)
	}
}

func newID() string { return strings.ToLower(rand.Text()) }

func envelopes(n, size int) []Envelope {
	envs := make([]Envelope, n)
	for i := range envs {
		envs[i] = Envelope{ID: newID(), Data: make([]byte, size+i)}
		rand.Read(envs[i].Data)
	}
	return envs
}

// studyFiles are two versions of a study file.
var studyFiles = [][]byte{[]byte("id: nk-internet-access\n# version 1\n"), []byte("id: nk-internet-access\n# version 2\n")}

func write(t testing.TB, envs []Envelope, versions ...[]byte) ([]byte, *Manifest) {
	t.Helper()
	var buf bytes.Buffer
	m, err := Write(&buf, serverKeys.signer, study, envs, versions...)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes(), m
}

func sortedByID(envs []Envelope) []Envelope {
	s := slices.Clone(envs)
	slices.SortFunc(s, func(a, b Envelope) int { return strings.Compare(a.ID, b.ID) })
	return s
}

func TestRoundTrip(t *testing.T) {
	envs := envelopes(50, 100)
	b, wm := write(t, envs)
	m, got, err := Read(bytes.NewReader(b), serverKeys.verifier)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if m.StudyID != study || m.BatchID != wm.BatchID || m.Hash != wm.Hash || !slices.Equal(m.Entries, wm.Entries) {
		t.Errorf("Read manifest %+v differs from Write manifest %+v", m, wm)
	}
	want := sortedByID(envs)
	if len(got) != len(want) {
		t.Fatalf("Read returned %d envelopes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("envelope %d: got %s, want %s (sorted by id)", i, got[i].ID, want[i].ID)
		}
		if m.Entries[i].ID != want[i].ID || m.Entries[i].SHA256 != sha256.Sum256(want[i].Data) {
			t.Errorf("manifest entry %d wrong", i)
		}
	}

	// Hash is the SHA-256 of the manifest entry as stored.
	entries := untar(t, b)
	if entries[0].name != "manifest" || sha256.Sum256(entries[0].data) != m.Hash {
		t.Errorf("Manifest.Hash is not the SHA-256 of the manifest entry")
	}

	// Batch ids are random.
	_, wm2 := write(t, envs)
	if wm2.BatchID == wm.BatchID || !validID(wm.BatchID) {
		t.Errorf("batch ids %q, %q: want fresh random ids", wm.BatchID, wm2.BatchID)
	}
}

func TestManifestText(t *testing.T) {
	envs := []Envelope{
		{ID: strings.Repeat("b", 26), Data: []byte("second")},
		{ID: strings.Repeat("a", 26), Data: []byte("first")},
	}
	b, m := write(t, envs, studyFiles...)
	msg := untar(t, b)[0].data
	v := []string{fmt.Sprintf("%x", sha256.Sum256(studyFiles[0])), fmt.Sprintf("%x", sha256.Sum256(studyFiles[1]))}
	slices.Sort(v)
	want := fmt.Sprintf("testimony batch v2\nstudy %s\nbatch %s\nexport %s\npart 1 of 1\nversions 2\n%s\n%s\ncount 2\n%s %x\n%s %x\n\n— testimony-server ",
		study, m.BatchID, m.ExportID, v[0], v[1], envs[1].ID, sha256.Sum256(envs[1].Data), envs[0].ID, sha256.Sum256(envs[0].Data))
	if !strings.HasPrefix(string(msg), want) {
		t.Errorf("manifest:\n%s\nwant prefix:\n%s", msg, want)
	}
	if strings.Count(string(msg), "\n") != 13 {
		t.Errorf("manifest has other lines than the header, versions, entries and one signature:\n%s", msg)
	}
	var names []string
	for _, e := range untar(t, b) {
		names = append(names, e.name)
	}
	wantNames := []string{"manifest", "versions/" + v[0], "versions/" + v[1], "envelopes/" + envs[1].ID, "envelopes/" + envs[0].ID}
	if !slices.Equal(names, wantNames) {
		t.Errorf("entries %q, want %q", names, wantNames)
	}
}

// TestNoArrivalOrder checks a batch records no time and keeps no trace of
// the order envelopes arrived in.
func TestNoArrivalOrder(t *testing.T) {
	envs := envelopes(20, 10)
	b1, _ := write(t, envs)
	b2, _ := write(t, slices.Collect(func(yield func(Envelope) bool) {
		for _, e := range slices.Backward(envs) {
			yield(e)
		}
	}))
	e1, e2 := untar(t, b1), untar(t, b2)
	for i := range e1 {
		if e1[i].name != e2[i].name {
			t.Fatalf("entry %d is %s or %s depending on input order", i, e1[i].name, e2[i].name)
		}
		h := e1[i].hdr
		if !h.ModTime.Equal(time.Unix(0, 0)) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() ||
			h.Uname != "" || h.Gname != "" || h.Uid != 0 || h.Gid != 0 || h.Mode != 0o600 || len(h.PAXRecords) != 0 {
			t.Errorf("entry %s header carries metadata: %+v", h.Name, h)
		}
	}
}

func TestWriteRefuses(t *testing.T) {
	good := envelopes(2, 10)
	for _, tc := range []struct {
		name, study string
		envs        []Envelope
		want        string
	}{
		{"bad study", "NK Study", good, "malformed study id"},
		{"short study", "nk", good, "malformed study id"},
		{"study with newline", "nk\nbatch x", good, "malformed study id"},
		{"no envelopes", study, nil, "no envelopes"},
		{"duplicate", study, []Envelope{good[0], good[1], good[0]}, "duplicate envelope id"},
		{"bad id", study, []Envelope{{ID: "../../etc/passwd", Data: []byte("x")}}, "malformed envelope id"},
		{"upper id", study, []Envelope{{ID: strings.ToUpper(good[0].ID), Data: []byte("x")}}, "malformed envelope id"},
		{"empty", study, []Envelope{{ID: good[0].ID}}, "is 0 bytes"},
		{"oversize", study, []Envelope{{ID: good[0].ID, Data: make([]byte, MaxEnvelopeSize+1)}}, "is 8388609 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := Write(&buf, serverKeys.signer, tc.study, tc.envs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Write: got %v, want %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before refusing", buf.Len())
			}
		})
	}
}

func TestWriteMax(t *testing.T) {
	if testing.Short() {
		t.Skip("writes an 8 MiB envelope")
	}
	envs := []Envelope{{ID: newID(), Data: make([]byte, MaxEnvelopeSize)}}
	b, _ := write(t, envs)
	if _, got, err := Read(bytes.NewReader(b), serverKeys.verifier); err != nil || len(got[0].Data) != MaxEnvelopeSize {
		t.Fatalf("Read of largest envelope: %v", err)
	}
}

type entry struct {
	name string
	data []byte
	hdr  *tar.Header
}

func untar(t testing.TB, b []byte) []entry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var es []entry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, entry{hdr.Name, data, hdr})
	}
}

// retar writes es as a tar file the way Write does, except where an
// entry's hdr says otherwise.
func retar(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o600, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
		if e.hdr != nil {
			hdr = e.hdr
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func signManifest(t testing.TB, text string, signers ...note.Signer) []byte {
	t.Helper()
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestReadRefuses(t *testing.T) {
	envs := envelopes(5, 300)
	good, m := write(t, envs)
	es := untar(t, good)
	man, e1, e2, e3 := es[0], es[1], es[2], es[3]
	text, _, _ := strings.Cut(string(man.data), "\n\n")
	text += "\n"
	name := func(i int) string { return "envelopes/" + m.Entries[i].ID }

	tampered := slices.Clone(es)
	tampered[3] = entry{name: e3.name, data: bytes.Clone(e3.data)}
	tampered[3].data[17] ^= 1

	twoSigs := signManifest(t, text, serverKeys.signer, otherKeys.signer)
	unsignedDup := append(bytes.Clone(man.data), man.data[len(text)+1:]...)
	badHash := strings.Replace(text, fmt.Sprintf("%x", m.Entries[1].SHA256), fmt.Sprintf("%x", sha256.Sum256(nil)), 1)
	big := retar(t, append(slices.Clone(es[:1]), entry{name: name(0), data: make([]byte, MaxEnvelopeSize+1)}))
	pax := slices.Clone(es)
	pax[1] = entry{name: e1.name, data: e1.data, hdr: &tar.Header{Typeflag: tar.TypeReg, Name: e1.name, Size: int64(len(e1.data)), Mode: 0o600, Format: tar.FormatPAX, PAXRecords: map[string]string{"comment": "x"}}}

	for _, tc := range []struct {
		name  string
		batch []byte
		want  string
	}{
		{"wrong key", func() []byte {
			var buf bytes.Buffer
			if _, err := Write(&buf, otherKeys.signer, study, envs); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}(), "not signed by the pinned server key"},
		{"unsigned", retar(t, append([]entry{{name: "manifest", data: []byte(text)}}, es[1:]...)), `"manifest" is not a signed note`},
		{"manifest altered", retar(t, append([]entry{{name: "manifest", data: []byte(strings.Replace(string(man.data), "count 5", "count 4", 1))}}, es[1:]...)), `"manifest" has an invalid signature`},
		{"manifest hash altered", retar(t, append([]entry{{name: "manifest", data: append([]byte(badHash), man.data[len(text):]...)}}, es[1:]...)), `"manifest" has an invalid signature`},
		{"second signature", retar(t, append([]entry{{name: "manifest", data: twoSigs}}, es[1:]...)), "other signatures besides one by the pinned server key"},
		{"repeated signature", retar(t, append([]entry{{name: "manifest", data: unsignedDup}}, es[1:]...)), "other signatures besides one by the pinned server key"},
		{"envelope altered", retar(t, tampered), name(2) + `" does not match the SHA-256`},
		{"envelope missing", retar(t, slices.Delete(slices.Clone(es), 2, 3)), name(1) + `" is missing (found "` + name(2)},
		{"last envelope missing", retar(t, es[:len(es)-1]), name(4) + `" is missing: batch truncated`},
		{"envelopes missing", retar(t, es[:3]), name(2) + `" and 2 after it are missing`},
		{"extra envelope", retar(t, append(slices.Clone(es), entry{name: "envelopes/" + newID(), data: []byte("x")})), "is not listed in the signed manifest"},
		{"extra file", retar(t, slices.Insert(slices.Clone(es), 2, entry{name: "README", data: []byte("x")})), `"README" is not listed in the signed manifest`},
		{"duplicate envelope", retar(t, slices.Insert(slices.Clone(es), 2, e1)), `duplicate batch entry "` + name(0) + `"`},
		{"duplicate at end", retar(t, append(slices.Clone(es), e1)), "duplicate batch entry " + `"` + name(0)},
		{"duplicate manifest", retar(t, slices.Insert(slices.Clone(es), 1, man)), `duplicate batch entry "manifest"`},
		{"reordered", retar(t, append([]entry{man, e2, e1}, es[3:]...)), name(0) + `" is missing (found "` + name(1)},
		{"manifest not first", retar(t, append([]entry{e1, man}, es[2:]...)), "does not start with a manifest"},
		{"no manifest", retar(t, es[1:]), "does not start with a manifest"},
		{"empty", nil, "empty batch"},
		{"empty tar", retar(t, nil), "empty batch"},
		{"not a tar", []byte(strings.Repeat("testimony\n", 200)), "failed to read batch"},
		{"symlink", retar(t, slices.Replace(slices.Clone(es), 1, 2, entry{hdr: &tar.Header{Typeflag: tar.TypeSymlink, Name: e1.name, Linkname: "/etc/passwd", Format: tar.FormatUSTAR}})), name(0) + `" is not a regular file`},
		{"oversize envelope", big[:512+padded(int64(len(man.data)))+512+100], name(0) + `" is 8388609 bytes`},
		{"empty envelope", retar(t, slices.Replace(slices.Clone(es), 1, 2, entry{name: e1.name})), name(0) + `" is 0 bytes`},
		{"pax header", retar(t, pax), "unexpected tar headers"},
		{"trailing data", append(bytes.Clone(good), 0), "data after its end-of-archive marker"},
		{"trailing zeros", append(bytes.Clone(good), make([]byte, 8192)...), "data after its end-of-archive marker"},
		{"no end marker", good[:len(good)-1024], "end-of-archive marker missing"},
		{"half end marker", good[:len(good)-512], "end-of-archive marker missing"},
		{"truncated in envelope", good[:len(good)-1024-512-100], name(4) + `": batch truncated`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, envs, err := Read(bytes.NewReader(tc.batch), serverKeys.verifier)
			if err == nil {
				t.Fatalf("Read accepted a bad batch")
			}
			if m != nil || envs != nil {
				t.Errorf("Read returned a manifest or envelopes with an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read error:\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
}

// TestReadSeveralKeys: a study served by several servers (Onionbalance
// backends) has a pinned key per server, each signing its own batches; a
// batch is read with all of them, and refused, naming them, if none signed
// it. A manifest signed by two of them is refused as with one key.
func TestReadSeveralKeys(t *testing.T) {
	envs := envelopes(3, 100)
	var byOther bytes.Buffer
	if _, err := Write(&byOther, otherKeys.signer, study, envs); err != nil {
		t.Fatal(err)
	}
	good, _ := write(t, envs)
	for _, b := range [][]byte{good, byOther.Bytes()} {
		m, got, err := Read(bytes.NewReader(b), serverKeys.verifier, otherKeys.verifier)
		if err != nil || len(got) != 3 || m.Hash != sha256.Sum256(untar(t, b)[0].data) {
			t.Fatalf("Read with both keys: %d envelopes, %v", len(got), err)
		}
	}

	skey, vkey, err := GenerateKey("third-server")
	if err != nil {
		t.Fatal(err)
	}
	third, _ := note.NewVerifier(vkey)
	thirdSigner, _ := note.NewSigner(skey)
	_, _, err = Read(bytes.NewReader(byOther.Bytes()), serverKeys.verifier, third)
	want := fmt.Sprintf(`not signed by one of the 2 pinned server keys ("testimony-server"+%08x, "third-server"+%08x) (signed by "testimony-server"+%08x): check --server-key, or the batch is not from a server of this study`,
		serverKeys.verifier.KeyHash(), third.KeyHash(), otherKeys.verifier.KeyHash())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a batch signed by neither key: err = %v\nwant it to contain %s", err, want)
	}
	if _, _, err := Read(bytes.NewReader(good)); err == nil || !strings.Contains(err.Error(), "none was given") {
		t.Errorf("Read with no key: err = %v", err)
	}

	es := untar(t, good)
	text, _, _ := strings.Cut(string(es[0].data), "\n\n")
	two := retar(t, append([]entry{{name: "manifest", data: signManifest(t, text+"\n", serverKeys.signer, thirdSigner)}}, es[1:]...))
	if _, _, err := Read(bytes.NewReader(two), serverKeys.verifier, third); err == nil || !strings.Contains(err.Error(), "other signatures besides one by one of the 2 pinned server keys") {
		t.Errorf("a manifest signed by both pinned keys: err = %v", err)
	}
}

// TestReadRefusesVersions: study files are checked like envelopes.
func TestReadRefusesVersions(t *testing.T) {
	good, m := write(t, envelopes(2, 100), studyFiles...)
	es := untar(t, good)
	man, v1, v2, e1 := es[0], es[1], es[2], es[3]
	vname := func(i int) string { return fmt.Sprintf("versions/%x", m.Versions[i]) }
	altered := entry{name: v1.name, data: bytes.Clone(v1.data)}
	altered.data[3] ^= 1
	big := make([]byte, MaxVersionSize+1)
	for _, tc := range []struct {
		name  string
		batch []byte
		want  string
	}{
		{"version altered", retar(t, slices.Replace(slices.Clone(es), 1, 2, altered)), vname(0) + `" does not match the SHA-256`},
		{"version missing", retar(t, slices.Delete(slices.Clone(es), 1, 2)), vname(0) + `" is missing (found "` + vname(1)},
		{"versions missing", retar(t, append([]entry{man}, es[3:]...)), vname(0) + `" is missing (found "envelopes/`},
		{"versions after envelopes", retar(t, []entry{man, e1, es[4], v1, v2}), vname(0) + `" is missing (found "envelopes/`},
		{"versions swapped", retar(t, append([]entry{man, v2, v1}, es[3:]...)), vname(0) + `" is missing (found "` + vname(1)},
		{"version twice", retar(t, append([]entry{man, v1, v1}, es[2:]...)), `duplicate batch entry "` + vname(0)},
		{"unlisted version", retar(t, slices.Insert(slices.Clone(es), 3, entry{name: fmt.Sprintf("versions/%x", sha256.Sum256([]byte("v3"))), data: []byte("v3")})), "is not listed in the signed manifest"},
		{"upper-case version name", retar(t, slices.Replace(slices.Clone(es), 1, 2, entry{name: strings.ToUpper(v1.name), data: v1.data})), "is not listed in the signed manifest"},
		{"oversize version", retar(t, slices.Replace(slices.Clone(es), 1, 2, entry{name: v1.name, data: big})), vname(0) + `" is 1048577 bytes`},
		{"truncated in versions", good[:512+int(padded(int64(len(man.data))))+512+10], vname(0) + `": batch truncated`},
		{"truncated after versions", retar(t, es[:3]), `"envelopes/` + m.Entries[0].ID + `" and 1 after it are missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := ReadAll(bytes.NewReader(tc.batch), serverKeys.verifier); err == nil || b != nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadAll error:\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
}

// TestWriterStreams writes a batch from readers, as the server does from
// its files, and checks what the Writer refuses.
func TestWriterStreams(t *testing.T) {
	envs := envelopes(3, 200)
	manifest := func() *Manifest {
		m := &Manifest{StudyID: study, ExportID: NewID(), Part: 2, Parts: 2}
		for _, e := range envs {
			m.Entries = append(m.Entries, ManifestEntry{ID: e.ID, SHA256: sha256.Sum256(e.Data)})
		}
		for _, v := range studyFiles {
			m.Versions = append(m.Versions, sha256.Sum256(v))
		}
		return m
	}
	byID := map[string][]byte{}
	for _, e := range envs {
		byID[e.ID] = e.Data
	}
	byHash := map[[32]byte][]byte{}
	for _, v := range studyFiles {
		byHash[sha256.Sum256(v)] = v
	}
	writeAll := func(bw *Writer, change func(id string, data []byte) []byte) error {
		for _, v := range bw.Manifest().Versions {
			if err := bw.WriteVersion(v, int64(len(byHash[v])), bytes.NewReader(byHash[v])); err != nil {
				return err
			}
		}
		for _, e := range bw.Manifest().Entries {
			data := change(e.ID, byID[e.ID])
			if err := bw.WriteEnvelope(e.ID, int64(len(byID[e.ID])), bytes.NewReader(data)); err != nil {
				return err
			}
		}
		return bw.Close()
	}

	var buf bytes.Buffer
	bw, err := NewWriter(&buf, serverKeys.signer, manifest())
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAll(bw, func(_ string, d []byte) []byte { return d }); err != nil {
		t.Fatal(err)
	}
	b, err := ReadAll(bytes.NewReader(buf.Bytes()), serverKeys.verifier)
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Part != 2 || b.Manifest.Parts != 2 || b.Manifest.Hash != bw.Manifest().Hash || len(b.Versions) != 2 || len(b.Envelopes) != 3 {
		t.Fatalf("read back %+v", b.Manifest)
	}

	for _, tc := range []struct {
		name   string
		change func(id string, data []byte) []byte
		want   string
	}{
		{"changed between passes", func(id string, d []byte) []byte {
			if id == bw.Manifest().Entries[1].ID {
				d = bytes.Clone(d)
				d[0] ^= 1
			}
			return d
		}, "changed after it was hashed"},
		{"shorter than hashed", func(id string, d []byte) []byte { return d[:len(d)-1] }, "is shorter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bw, err := NewWriter(io.Discard, serverKeys.signer, manifest())
			if err != nil {
				t.Fatal(err)
			}
			if err := writeAll(bw, tc.change); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if err2 := bw.Close(); err2 == nil {
				t.Errorf("Close after a failed write succeeded")
			}
		})
	}

	t.Run("order", func(t *testing.T) {
		m := manifest()
		bw, err := NewWriter(io.Discard, serverKeys.signer, m)
		if err != nil {
			t.Fatal(err)
		}
		e := m.Entries[0]
		if err := bw.WriteEnvelope(e.ID, int64(len(byID[e.ID])), bytes.NewReader(byID[e.ID])); err == nil || !strings.Contains(err.Error(), "before study version") {
			t.Errorf("envelope before versions: %v", err)
		}
		bw, _ = NewWriter(io.Discard, serverKeys.signer, manifest())
		v := bw.Manifest().Versions[1]
		if err := bw.WriteVersion(v, int64(len(byHash[v])), bytes.NewReader(byHash[v])); err == nil || !strings.Contains(err.Error(), "lists") {
			t.Errorf("versions out of order: %v", err)
		}
		bw, _ = NewWriter(io.Discard, serverKeys.signer, manifest())
		if err := bw.Close(); err == nil || !strings.Contains(err.Error(), "after 0 of its 5 entries") {
			t.Errorf("Close before the entries: %v", err)
		}
	})

	t.Run("refused before writing", func(t *testing.T) {
		for _, tc := range []struct {
			change func(*Manifest)
			want   string
		}{
			{func(m *Manifest) { m.ExportID = "x" }, "malformed export id"},
			{func(m *Manifest) { m.Part = 3 }, "malformed part 3 of 2"},
			{func(m *Manifest) { m.Parts = 0; m.Part = 0 }, "malformed part"},
			{func(m *Manifest) { m.Versions = append(m.Versions, m.Versions[0]) }, "duplicate study version"},
			{func(m *Manifest) { m.Versions = make([][32]byte, MaxVersions+1) }, "too many study versions"},
			{func(m *Manifest) { m.Entries = nil }, "no envelopes"},
		} {
			m := manifest()
			tc.change(m)
			var buf bytes.Buffer
			if _, err := NewWriter(&buf, serverKeys.signer, m); err == nil || !strings.Contains(err.Error(), tc.want) || buf.Len() != 0 {
				t.Errorf("got %v after writing %d bytes, want %q before writing", err, buf.Len(), tc.want)
			}
		}
	})
}

func TestReaderVersions(t *testing.T) {
	envs := envelopes(2, 50)
	good, _ := write(t, envs, studyFiles...)
	br, err := NewReader(bytes.NewReader(good), serverKeys.verifier)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for {
		v, err := br.NextVersion()
		if err == io.EOF {
			break
		}
		if err != nil || sha256.Sum256(v.Data) != v.SHA256 {
			t.Fatal(err)
		}
		got = append(got, v.Data)
	}
	if len(got) != 2 || !slices.ContainsFunc(got, func(b []byte) bool { return bytes.Equal(b, studyFiles[0]) }) {
		t.Fatalf("versions %q", got)
	}
	// Next skips the versions nobody asked for.
	br, _ = NewReader(bytes.NewReader(good), serverKeys.verifier)
	n := 0
	for {
		_, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if _, err := br.NextVersion(); n != 2 || err != io.EOF {
		t.Fatalf("read %d envelopes; NextVersion after them: %v", n, err)
	}
}

func TestParseUnverifiedManifest(t *testing.T) {
	good, m := write(t, envelopes(2, 10), studyFiles[0])
	msg := untar(t, good)[0].data
	um, err := ParseUnverifiedManifest(msg)
	if err != nil || um.Hash != m.Hash || !slices.Equal(um.Entries, m.Entries) || !slices.Equal(um.Versions, m.Versions) {
		t.Fatalf("ParseUnverifiedManifest = %+v, %v", um, err)
	}
	if um, err := ReadUnverifiedManifest(bytes.NewReader(good)); err != nil || um.Hash != m.Hash {
		t.Fatalf("ReadUnverifiedManifest = %+v, %v", um, err)
	}
	text, _, _ := bytes.Cut(msg, []byte("\n\n"))
	for _, bad := range [][]byte{
		append(text, '\n'),
		append(bytes.Clone(msg), msg[len(text)+2:]...),
		bytes.TrimSuffix(msg, []byte("\n")),
		bytes.Replace(msg, []byte("count 2"), []byte("count 3"), 1),
	} {
		if _, err := ParseUnverifiedManifest(bad); err == nil {
			t.Errorf("ParseUnverifiedManifest accepted %q", bad)
		}
	}
}

// TestReadTruncatedAnywhere cuts a batch at every block and in the middle
// of every block: Read must refuse each.
func TestReadTruncatedAnywhere(t *testing.T) {
	good, _ := write(t, envelopes(4, 700))
	for n := 0; n < len(good); n += 256 {
		if _, _, err := Read(bytes.NewReader(good[:n]), serverKeys.verifier); err == nil {
			t.Errorf("Read accepted the batch cut to %d of %d bytes", n, len(good))
		}
	}
}

// TestReadEveryByte flips each byte of a small batch in turn: Read must
// refuse each, or return exactly the original envelopes (a flip in tar
// header padding or unused header fields may go unnoticed, harmlessly).
func TestReadEveryByte(t *testing.T) {
	envs := envelopes(2, 40)
	good, _ := write(t, envs)
	want := sortedByID(envs)
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x20
		_, got, err := Read(bytes.NewReader(b), serverKeys.verifier)
		if err != nil {
			continue
		}
		for j := range want {
			if got[j].ID != want[j].ID || !bytes.Equal(got[j].Data, want[j].Data) {
				t.Fatalf("flipping byte %d changed envelope %d without error", i, j)
			}
		}
	}
}

func TestReaderStreams(t *testing.T) {
	envs := envelopes(3, 50)
	good, wm := write(t, envs)
	br, err := NewReader(bytes.NewReader(good), serverKeys.verifier)
	if err != nil {
		t.Fatal(err)
	}
	if br.Manifest().BatchID != wm.BatchID {
		t.Errorf("Manifest() differs from the written one")
	}
	for i, want := range sortedByID(envs) {
		e, err := br.Next()
		if err != nil || e.ID != want.ID || !bytes.Equal(e.Data, want.Data) {
			t.Fatalf("Next %d = %s, %v; want %s", i, e.ID, err, want.ID)
		}
	}
	for range 2 {
		if _, err := br.Next(); err != io.EOF {
			t.Fatalf("Next after the last envelope: got %v, want io.EOF", err)
		}
	}

	// Errors are sticky.
	br, err = NewReader(bytes.NewReader(good[:len(good)-1024]), serverKeys.verifier)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		br.Next()
	}
	_, err1 := br.Next()
	_, err2 := br.Next()
	if err1 == nil || err1 == io.EOF || err2 != err1 {
		t.Errorf("Next on a batch without end marker: %v, then %v; want the same error twice", err1, err2)
	}
}

func TestParseManifestRefuses(t *testing.T) {
	id1, id2 := strings.Repeat("a", 26), strings.Repeat("b", 26)
	h := fmt.Sprintf("%x", sha256.Sum256([]byte("x")))
	v1, v2 := fmt.Sprintf("%x", sha256.Sum256([]byte("v1"))), fmt.Sprintf("%x", sha256.Sum256([]byte("v2")))
	if v1 > v2 {
		v1, v2 = v2, v1
	}
	head := "testimony batch v2\nstudy nk-study\nbatch " + strings.Repeat("c", 26) + "\nexport " + strings.Repeat("d", 26) + "\npart 2 of 3\n"
	vs := "versions 2\n" + v1 + "\n" + v2 + "\n"
	ok := head + vs + "count 2\n" + id1 + " " + h + "\n" + id2 + " " + h + "\n"
	if m, err := parseManifest([]byte(ok)); err != nil || len(m.Entries) != 2 || len(m.Versions) != 2 || m.Part != 2 || m.Parts != 3 {
		t.Fatalf("parseManifest(valid) = %v, %v", m, err)
	}
	noVersions := head + "versions 0\ncount 1\n" + id1 + " " + h + "\n"
	if m, err := parseManifest([]byte(noVersions)); err != nil || len(m.Versions) != 0 {
		t.Fatalf("parseManifest(no versions) = %v, %v", m, err)
	}
	for _, tc := range []struct{ text, want string }{
		{"", "line 0: not a"},
		{strings.Replace(ok, "v2", "v1", 1), "line 1: not a"},
		{strings.Replace(ok, "v2", "v3", 1), "line 1: not a"},
		{strings.ReplaceAll(ok, "\n", "\r\n"), "line 1: not a"},
		{strings.Replace(ok, "study nk-study", "study NK", 1), "line 2: malformed study id"},
		{strings.Replace(ok, "study nk-study", "study  nk-study", 1), "line 2: malformed study id"},
		{strings.Replace(ok, "study nk-study", "studies nk-study", 1), `line 2: want "study" line`},
		{strings.Replace(ok, "batch ccc", "batch cc", 1), "line 3: malformed batch id"},
		{strings.Replace(ok, "export ddd", "export dd", 1), "line 4: malformed export id"},
		{strings.Replace(ok, "\nexport ", "\nexports ", 1), `line 4: want "export" line`},
		{strings.Replace(ok, "export "+strings.Repeat("d", 26)+"\n", "", 1), `line 4: want "export" line`},
		{strings.Replace(ok, "part 2 of 3", "part 4 of 3", 1), "line 5: malformed part"},
		{strings.Replace(ok, "part 2 of 3", "part 0 of 3", 1), "line 5: malformed part"},
		{strings.Replace(ok, "part 2 of 3", "part 02 of 3", 1), "line 5: malformed part"},
		{strings.Replace(ok, "part 2 of 3", "part 2 of  3", 1), "line 5: malformed part"},
		{strings.Replace(ok, "part 2 of 3", "part 2/3", 1), "line 5: malformed part"},
		{strings.Replace(ok, "part 2 of 3", "part 2 of 1000001", 1), "line 5: malformed part"},
		{strings.Replace(ok, "versions 2", "versions 02", 1), "line 6: malformed versions count"},
		{strings.Replace(ok, "versions 2", "versions 1001", 1), "line 6: malformed versions count"},
		{strings.Replace(ok, "versions 2", "versions 3", 1), "line 9: malformed study version"},
		{strings.Replace(ok, "versions 2", "versions 1", 1), `line 8: want "count" line`},
		{head + "versions 2\n" + v2 + "\n" + v1 + "\n" + "count 1\n" + id1 + " " + h + "\n", "line 8: study version " + v1 + " listed out of order"},
		{head + "versions 2\n" + v1 + "\n" + v1 + "\n" + "count 1\n" + id1 + " " + h + "\n", "line 8: study version " + v1 + " listed out of order or twice"},
		{strings.Replace(ok, v1, strings.ToUpper(v1), 1), "line 7: malformed study version"},
		{strings.Replace(ok, v1, v1[:62], 1), "line 7: malformed study version"},
		{strings.Replace(ok, v1, v1+" ", 1), "line 7: malformed study version"},
		{strings.Replace(ok, "count 2", "count 02", 1), "line 9: malformed count"},
		{strings.Replace(ok, "count 2", "count +2", 1), "line 9: malformed count"},
		{strings.Replace(ok, "count 2", "count 0", 1), "line 9: malformed count"},
		{strings.Replace(ok, "count 2", "count 1000001", 1), "line 9: malformed count"},
		{strings.Replace(ok, "count 2", "count 3", 1), "ends after 2 of 3"},
		{strings.Replace(ok, "count 2", "count 1", 1), "line 11: unexpected text"},
		{head + vs + "count 2\n" + id2 + " " + h + "\n" + id1 + " " + h + "\n", "line 11: envelope " + id1 + " listed out of order"},
		{head + vs + "count 2\n" + id1 + " " + h + "\n" + id1 + " " + h + "\n", "line 11: envelope " + id1 + " listed out of order or twice"},
		{strings.Replace(ok, " "+h, " "+strings.ToUpper(h), 1), "line 10: malformed SHA-256"},
		{strings.Replace(ok, " "+h, " "+h[:62], 1), "line 10: malformed SHA-256"},
		{strings.Replace(ok, " "+h, " "+h[:63]+"g", 1), "line 10: malformed SHA-256"},
		{strings.Replace(ok, id1+" ", id1+"  ", 1), "line 10: malformed SHA-256"},
		{strings.Replace(ok, id1, "../../../../../../etc/pass", 1), "line 10: malformed envelope line"},
		{strings.TrimSuffix(ok, "\n"), "ends after 1 of 2"},
		{ok + "\n", "unexpected text"},
	} {
		_, err := parseManifest([]byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseManifest(%q):\n  got %v\n  want %q", tc.text, err, tc.want)
		}
	}
}

func TestManifestSizeBound(t *testing.T) {
	// The largest manifest Write can produce fits the bound Read enforces.
	m := &Manifest{StudyID: strings.Repeat("s", 64), BatchID: newID(), ExportID: newID(), Part: MaxParts, Parts: MaxParts,
		Versions: make([][32]byte, MaxVersions), Entries: []ManifestEntry{{ID: newID()}}}
	text := len(formatManifest(m)) + (MaxEnvelopes-1)*(26+1+64+1) + len("count 1000000") - len("count 1")
	sigLine := len("— ") + 500 + 1 + 92 + 1 // a long key name, base64 of 4+64 bytes
	if n := text + 1 + sigLine; n > maxManifestSize {
		t.Errorf("largest manifest is %d bytes, over the %d bound", n, maxManifestSize)
	}
}

func FuzzParseManifest(f *testing.F) {
	for _, n := range []int{1, 2, 7} {
		envs := envelopes(n, 5)
		m := &Manifest{StudyID: study, BatchID: newID(), ExportID: newID(), Part: n, Parts: 7}
		for _, e := range envs {
			m.Entries = append(m.Entries, ManifestEntry{ID: e.ID, SHA256: sha256.Sum256(e.Data)})
		}
		for _, v := range studyFiles[:n%3] {
			m.Versions = append(m.Versions, sha256.Sum256(v))
		}
		if _, err := Sign(m, serverKeys.signer); err != nil {
			f.Fatal(err)
		}
		f.Add(formatManifest(m))
	}
	if b, err := os.ReadFile("testdata/manifest.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("testimony batch v2\nstudy x\n"))
	f.Add([]byte("testimony batch v2\nstudy abc\nbatch aaaaaaaaaaaaaaaaaaaaaaaaaa\nexport aaaaaaaaaaaaaaaaaaaaaaaaaa\npart 1 of 1\nversions 0\ncount 1\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		m, err := parseManifest(text)
		if err != nil {
			return
		}
		if again := formatManifest(m); !bytes.Equal(again, text) {
			t.Fatalf("parse then format changed the manifest:\n%q\n%q", text, again)
		}
		if err := m.check(); err != nil {
			t.Fatalf("parsed a manifest Sign would refuse: %v", err)
		}
	})
}

func FuzzRead(f *testing.F) {
	good, _ := write(f, envelopes(2, 30), studyFiles...)
	f.Add(good)
	f.Add(good[:len(good)-1024])
	f.Add(append(bytes.Clone(good), good...))
	one, _ := write(f, envelopes(1, 1))
	f.Add(one)
	f.Add([]byte{})
	if b, err := os.ReadFile("testdata/v2.batch"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ReadAll(bytes.NewReader(b), serverKeys.verifier)
		if err != nil {
			if got != nil {
				t.Fatal("ReadAll returned data with an error")
			}
			return
		}
		m := got.Manifest
		if len(got.Envelopes) != len(m.Entries) || len(got.Envelopes) == 0 || len(got.Versions) != len(m.Versions) {
			t.Fatalf("ReadAll returned %d envelopes and %d versions for %d and %d manifest entries", len(got.Envelopes), len(got.Versions), len(m.Entries), len(m.Versions))
		}
		var versions [][]byte
		for i, v := range got.Versions {
			if v.SHA256 != m.Versions[i] || sha256.Sum256(v.Data) != v.SHA256 {
				t.Fatalf("version %d does not match the manifest", i)
			}
			versions = append(versions, v.Data)
		}
		for i, e := range got.Envelopes {
			if e.ID != m.Entries[i].ID || sha256.Sum256(e.Data) != m.Entries[i].SHA256 {
				t.Fatalf("envelope %d does not match the manifest", i)
			}
		}
		// Whatever ReadAll accepts, Write must be able to produce again.
		var buf bytes.Buffer
		if _, err := Write(&buf, serverKeys.signer, m.StudyID, got.Envelopes, versions...); err != nil {
			t.Fatalf("Write refuses what Read accepted: %v", err)
		}
		// And the streaming reader agrees, read in any way.
		br, err := NewReader(bytes.NewReader(b), serverKeys.verifier)
		if err != nil {
			t.Fatalf("NewReader refuses what ReadAll accepted: %v", err)
		}
		for {
			_, err := br.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next refuses what ReadAll accepted: %v", err)
			}
		}
		if um, err := ReadUnverifiedManifest(bytes.NewReader(b)); err != nil || um.Hash != m.Hash || !slices.Equal(um.Entries, m.Entries) {
			t.Fatalf("ReadUnverifiedManifest disagrees with ReadAll: %v", err)
		}
	})
}

func benchmarkEnvelopes(b *testing.B) []byte {
	envs := envelopes(10_000, 8<<10)
	buf, _ := write(b, envs)
	return buf
}

// BenchmarkRead reads and checks a batch of 10,000 envelopes of 8 KiB.
func BenchmarkRead(b *testing.B) {
	buf := benchmarkEnvelopes(b)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, _, err := Read(bytes.NewReader(buf), serverKeys.verifier); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10_000)/b.Elapsed().Seconds(), "envelopes/s")
}

// BenchmarkWrite writes and signs a batch of 10,000 envelopes of 8 KiB.
func BenchmarkWrite(b *testing.B) {
	envs := envelopes(10_000, 8<<10)
	b.SetBytes(int64(10_000 * 8 << 10))
	for b.Loop() {
		if _, err := Write(io.Discard, serverKeys.signer, study, envs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10_000)/b.Elapsed().Seconds(), "envelopes/s")
}

// BenchmarkStream writes a batch of n envelopes of 8 KiB with NewWriter
// into a pipe and reads it back with NewReader, as the server and a
// researcher would, and reports the peak heap: it must not grow with n
// beyond the manifest (92 bytes an envelope).
func BenchmarkStream(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			data := make([]byte, 8<<10)
			rand.Read(data)
			sum := sha256.Sum256(data)
			var peak uint64
			for b.Loop() {
				m := &Manifest{StudyID: study, ExportID: NewID(), Part: 1, Parts: 1}
				for range n {
					m.Entries = append(m.Entries, ManifestEntry{ID: NewID(), SHA256: sum})
				}
				runtime.GC()
				stop := sampleHeap(&peak)
				pr, pw := io.Pipe()
				go func() {
					bw, err := NewWriter(pw, serverKeys.signer, m)
					if err == nil {
						for _, e := range bw.Manifest().Entries {
							if err = bw.WriteEnvelope(e.ID, int64(len(data)), bytes.NewReader(data)); err != nil {
								break
							}
						}
					}
					if err == nil {
						err = bw.Close()
					}
					pw.CloseWithError(err)
				}()
				br, err := NewReader(pr, serverKeys.verifier)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := br.Next(); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				stop()
			}
			b.SetBytes(int64(n) * int64(len(data)))
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "envelopes/s")
		})
	}
}

// sampleHeap records the largest live heap into peak until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		for {
			metrics.Read(sample)
			*peak = max(*peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

// TestVector reads a batch written by this package at format v2 and kept in
// testdata, so a change that breaks reading batches already exported fails.
// (testdata/manifest.txt is its manifest's text, for reading.)
func TestVector(t *testing.T) {
	vkey, err := os.ReadFile("testdata/v2.vkey")
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/v2.batch")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll(bytes.NewReader(b), v)
	if err != nil {
		t.Fatalf("Read of v2 test vector: %v", err)
	}
	m := got.Manifest
	if got := fmt.Sprintf("%s %s %s %d/%d %x", m.StudyID, m.BatchID, m.ExportID, m.Part, m.Parts, m.Hash); got != vectorManifest {
		t.Errorf("manifest = %s", got)
	}
	text, err := os.ReadFile("testdata/manifest.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(formatManifest(m), text) {
		t.Errorf("manifest text differs from testdata/manifest.txt:\n%s", formatManifest(m))
	}
	if len(got.Versions) != len(vectorVersions) {
		t.Fatalf("got %d versions, want %d", len(got.Versions), len(vectorVersions))
	}
	for _, want := range vectorVersions {
		if !slices.ContainsFunc(got.Versions, func(v Version) bool { return bytes.Equal(v.Data, want) }) {
			t.Errorf("version %q missing", want)
		}
	}
	if len(got.Envelopes) != len(vectorEnvelopes) {
		t.Fatalf("got %d envelopes, want %d", len(got.Envelopes), len(vectorEnvelopes))
	}
	for i, want := range vectorEnvelopes {
		if e := got.Envelopes[i]; e.ID != want.ID || !bytes.Equal(e.Data, want.Data) {
			t.Errorf("envelope %d = %s, want %s", i, e.ID, want.ID)
		}
	}
	if _, err := ReadAll(bytes.NewReader(b), serverKeys.verifier); err == nil {
		t.Errorf("test vector verified under an unrelated key")
	}
}

const vectorManifest = "nk-internet-access rptq6bzayh7eavpe4ea3jruhbz mx6kfd5k5h2zx3fycvosxzngu4 1/1 398e145f9c13de0c0d0ddeec679daf090b08ae0b5feb16f25041109eb5d3a2b8"

var vectorVersions = [][]byte{
	[]byte("id: nk-internet-access\ntitle: {ko: 조사, en: Survey, zh: 调查}\n"),
	[]byte("id: nk-internet-access\ntitle: {ko: 조사 2, en: Survey 2, zh: 调查 2}\n"),
}

var vectorEnvelopes = []Envelope{
	{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Data: []byte("first envelope\n")},
	{ID: "m2m3m4m5m6m7m2m3m4m5m6m7mm", Data: []byte("x")},
	{ID: "zzzzzzzzzzzzzzzzzzzzzzzzzz", Data: bytes.Repeat([]byte{0, 1, 2, 255}, 300)},
}

// TestMakeVector writes testdata/v2.batch, v2.vkey and manifest.txt anew
// when TESTIMONY_MAKE_BATCH_VECTOR is set; then set vectorManifest.
func TestMakeVector(t *testing.T) {
	if os.Getenv("TESTIMONY_MAKE_BATCH_VECTOR") == "" {
		t.Skip("set TESTIMONY_MAKE_BATCH_VECTOR=1 to write a new test vector")
	}
	skey, vkey, err := GenerateKey("testimony-server")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	var buf bytes.Buffer
	m, err := Write(&buf, signer, study, vectorEnvelopes, vectorVersions...)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("testdata/v2.batch", buf.Bytes(), 0o644)
	os.WriteFile("testdata/v2.vkey", []byte(vkey+"\n"), 0o644)
	os.WriteFile("testdata/manifest.txt", formatManifest(m), 0o644)
	t.Logf("vectorManifest = %q", fmt.Sprintf("%s %s %s %d/%d %x", m.StudyID, m.BatchID, m.ExportID, m.Part, m.Parts, m.Hash))
}

// FuzzParseUnverifiedManifest: auditors parse manifests from batch files
// and export records they did not make.
func FuzzParseUnverifiedManifest(f *testing.F) {
	good, _ := write(f, envelopes(2, 30), studyFiles...)
	f.Add(untar(f, good)[0].data)
	f.Add([]byte("testimony batch v2\n\n— x y\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := ParseUnverifiedManifest(msg)
		if err != nil {
			return
		}
		if m.Hash != sha256.Sum256(msg) || m.check() != nil {
			t.Fatalf("accepted a manifest it should not: %+v", m)
		}
		text := formatManifest(m)
		if !bytes.HasPrefix(msg, append(text, "\n— "...)) {
			t.Fatalf("the parsed manifest is not the text of the message")
		}
	})
}

// padded returns n rounded up to whole tar blocks.
func padded(n int64) int64 { return (n + 511) / 512 * 512 }
