package reply

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
	"golang.org/x/mod/sumdb/note"
)

// records returns n records for distinct people from the researcher.
func someRecords(t testing.TB, id *envelope.Identity, n int) [][]byte {
	var recs [][]byte
	for k := range n {
		rec, err := Seal(person(byte(k+10)).Address(), uint32(k%3), id, content(t, "reply"))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func verifiers(ids ...*envelope.Identity) []note.Verifier {
	var vs []note.Verifier
	for _, id := range ids {
		vs = append(vs, id.Recipient().Verifier())
	}
	return vs
}

func TestBatchRoundTrip(t *testing.T) {
	r0, r1 := researcher(t, 0), researcher(t, 1)
	recs := someRecords(t, r0, 5)
	var buf bytes.Buffer
	m, err := Write(&buf, r0.Signer(), study, recs)
	if err != nil {
		t.Fatal(err)
	}
	if m.StudyID != study || m.Researcher != r0.Recipient().Fingerprint() || len(m.Records) != 5 {
		t.Fatalf("manifest %+v", m)
	}
	got, read, err := ReadAll(bytes.NewReader(buf.Bytes()), verifiers(r1, r0))
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != m.Hash || got.Researcher != m.Researcher || !slices.Equal(got.Records, m.Records) {
		t.Fatalf("read manifest %+v, wrote %+v", got, m)
	}
	if len(read) != 5 {
		t.Fatalf("read %d records", len(read))
	}
	for _, rec := range read {
		if sha256.Sum256(rec.Data) != rec.SHA256 || !slices.ContainsFunc(recs, func(r []byte) bool { return bytes.Equal(r, rec.Data) }) {
			t.Fatal("a record read is not one written")
		}
	}
	// The manifest's hash is the SHA-256 of the first entry.
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	hdr, _ := tr.Next()
	first, _ := io.ReadAll(tr)
	if hdr.Name != "manifest" || sha256.Sum256(first) != m.Hash {
		t.Fatal("Hash is not the SHA-256 of the signed manifest")
	}
	want := fmt.Sprintf("testimony reply batch v1\nstudy %s\nresearcher %s\ncount 5\n", study, m.Researcher)
	if !strings.HasPrefix(string(first), want) {
		t.Fatalf("manifest:\n%s", first)
	}
	// Writing the same records again gives the same bytes: Ed25519 is
	// deterministic and the format canonical.
	var again bytes.Buffer
	slices.Reverse(recs)
	if _, err := Write(&again, r0.Signer(), study, recs); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("the same records wrote another batch (%v)", err)
	}
}

func TestWriteRefuses(t *testing.T) {
	r0 := researcher(t, 0)
	recs := someRecords(t, r0, 2)
	sameTag, _ := Seal(person(10).Address(), 0, r0, content(t, "again"))
	server, _, _ := note.GenerateKey(nil, "testimony-server")
	ss, _ := note.NewSigner(server)
	for name, c := range map[string]struct {
		signer note.Signer
		study  string
		recs   [][]byte
	}{
		"no records":       {r0.Signer(), study, nil},
		"short record":     {r0.Signer(), study, [][]byte{recs[0][:100]}},
		"record twice":     {r0.Signer(), study, [][]byte{recs[0], recs[1], recs[0]}},
		"tag twice":        {r0.Signer(), study, [][]byte{recs[0], sameTag}},
		"bad study":        {r0.Signer(), "X", recs},
		"not a researcher": {ss, study, recs},
	} {
		if _, err := Write(io.Discard, c.signer, c.study, c.recs); err == nil {
			t.Errorf("%s: Write accepted it", name)
		}
	}
}

type entry struct {
	name string
	data []byte
	typ  byte
}

// craft writes a tar of the entries, as an attacker could.
func craft(entries []entry, tail []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Typeflag: typ, Name: e.name, Size: int64(len(e.data)), Mode: 0o600, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
		if typ != tar.TypeReg {
			hdr.Size, hdr.Linkname = 0, "manifest"
		}
		tw.WriteHeader(hdr)
		tw.Write(e.data)
	}
	tw.Close()
	return append(buf.Bytes(), tail...)
}

func signText(t *testing.T, text string, signers ...note.Signer) []byte {
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func recordEntries(recs [][]byte) ([]entry, string) {
	slices.SortFunc(recs, func(a, b []byte) int {
		ha, hb := sha256.Sum256(a), sha256.Sum256(b)
		return bytes.Compare(ha[:], hb[:])
	})
	var es []entry
	var lines strings.Builder
	for _, r := range recs {
		h := sha256.Sum256(r)
		es = append(es, entry{name: "records/" + hex.EncodeToString(h[:]), data: r})
		lines.WriteString(hex.EncodeToString(h[:]) + "\n")
	}
	return es, lines.String()
}

func TestReaderRefuses(t *testing.T) {
	r0, r1, outsider := researcher(t, 0), researcher(t, 1), researcher(t, 9)
	recs := someRecords(t, r0, 3)
	es, lines := recordEntries(recs)
	fp := r0.Recipient().Fingerprint()
	text := fmt.Sprintf("testimony reply batch v1\nstudy %s\nresearcher %s\ncount 3\n%s", study, fp, lines)
	manifest := signText(t, text, r0.Signer())
	good := append([]entry{{name: "manifest", data: manifest}}, es...)
	if _, _, err := ReadAll(bytes.NewReader(craft(good, nil)), verifiers(r0, r1)); err != nil {
		t.Fatalf("the crafted batch is refused: %v", err)
	}
	with := func(i int, e entry) []entry {
		out := slices.Clone(good)
		out[i] = e
		return out
	}
	altered := bytes.Clone(recs[0])
	altered[100] ^= 1
	dupTag := bytes.Clone(recs[1])
	copy(dupTag, recs[0][:TagSize])
	dupEs, dupLines := recordEntries([][]byte{recs[0], dupTag})
	shortEs, shortLines := recordEntries([][]byte{recs[0][:RecordSize-1]})

	for name, c := range map[string]struct {
		batch []byte
		want  string
	}{
		"signed by an outsider":    {craft(with(0, entry{name: "manifest", data: signText(t, strings.Replace(text, fp, outsider.Recipient().Fingerprint(), 1), outsider.Signer())}), nil), "not signed by a researcher of the study"},
		"named researcher differs": {craft(with(0, entry{name: "manifest", data: signText(t, strings.Replace(text, fp, r1.Recipient().Fingerprint(), 1), r0.Signer())}), nil), "but is signed by"},
		"two signatures":           {craft(with(0, entry{name: "manifest", data: signText(t, text, r0.Signer(), r1.Signer())}), nil), "other signatures"},
		"manifest altered":         {craft(with(0, entry{name: "manifest", data: bytes.Replace(manifest, []byte("count 3"), []byte("count 2"), 1)}), nil), "invalid signature"},
		"unsigned":                 {craft(with(0, entry{name: "manifest", data: []byte(text)}), nil), "not a signed note"},
		"record altered":           {craft(with(1, entry{name: es[0].name, data: altered}), nil), es[0].name + `" does not match`},
		"record missing":           {craft(good[:3], nil), es[2].name + `" is missing`},
		"records missing":          {craft(good[:1], nil), es[0].name + `" and 2 after it are missing`},
		"records reordered":        {craft([]entry{good[0], good[2], good[1], good[3]}, nil), es[0].name + `" is missing (found "` + es[1].name},
		"record twice":             {craft([]entry{good[0], good[1], good[1], good[2], good[3]}, nil), `duplicate reply batch entry "` + es[0].name},
		"record added":             {craft(append(slices.Clone(good), entry{name: "records/" + strings.Repeat("0", 64), data: recs[0]}), nil), "not listed in the signed manifest"},
		"manifest twice":           {craft(append(slices.Clone(good), good[0]), nil), `duplicate reply batch entry "manifest"`},
		"no manifest first":        {craft(good[1:], nil), "does not start with a manifest"},
		"link":                     {craft(with(1, entry{name: es[0].name, typ: tar.TypeSymlink}), nil), "not a regular file"},
		"data after the end":       {craft(good, []byte("x")), "data after its end-of-archive marker"},
		"end marker missing":       {craft(good, nil)[:len(craft(good, nil))-1024], "end-of-archive marker missing"},
		"truncated in a record":    {craft(good, nil)[:3*512], "truncated"},
		"empty":                    {nil, "empty reply batch"},
		"two records with one tag": {craft(append([]entry{{name: "manifest", data: signText(t, fmt.Sprintf("testimony reply batch v1\nstudy %s\nresearcher %s\ncount 2\n%s", study, fp, dupLines), r0.Signer())}}, dupEs...), nil), "has the same tag as"},
		"record of the wrong size": {craft(append([]entry{{name: "manifest", data: signText(t, fmt.Sprintf("testimony reply batch v1\nstudy %s\nresearcher %s\ncount 1\n%s", study, fp, shortLines), r0.Signer())}}, shortEs...), nil), "2047 bytes"},
		"manifest with leading 0":  {craft(with(0, entry{name: "manifest", data: signText(t, strings.Replace(text, "count 3", "count 03", 1), r0.Signer())}), nil), "malformed record count"},
		"manifest of another kind": {craft(with(0, entry{name: "manifest", data: signText(t, strings.Replace(text, "reply batch v1", "reply batch v2", 1), r0.Signer())}), nil), "unsupported version"},
	} {
		_, _, err := ReadAll(bytes.NewReader(c.batch), verifiers(r0, r1))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
	}
	_, _, err := ReadAll(bytes.NewReader(craft(with(0, entry{name: "manifest", data: signText(t, strings.Replace(text, fp, outsider.Recipient().Fingerprint(), 1), outsider.Signer())}), nil)), verifiers(r0, r1))
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("an outsider's batch: %v, want ErrUnknownKey", err)
	}
}

func FuzzReader(f *testing.F) {
	r0 := researcher(f, 0)
	var buf bytes.Buffer
	Write(&buf, r0.Signer(), study, someRecords(f, r0, 2))
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:1024])
	f.Add([]byte{})
	vs := verifiers(r0)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, recs, err := ReadAll(bytes.NewReader(b), vs)
		if err != nil {
			return
		}
		// A batch that reads is the one Write makes of its records.
		var data [][]byte
		for _, r := range recs {
			data = append(data, r.Data)
		}
		var again bytes.Buffer
		m2, err := Write(&again, r0.Signer(), m.StudyID, data)
		if err != nil || !bytes.Equal(again.Bytes(), b) || m2.Hash != m.Hash {
			t.Fatalf("a batch read but is not canonical (%v)", err)
		}
	})
}
