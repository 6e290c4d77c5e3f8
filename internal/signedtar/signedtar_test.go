package signedtar

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"
)

// entry is one entry of a test archive.
type entry struct {
	name string
	data []byte
	hdr  *tar.Header // if not nil, written instead of the usual header
}

var (
	manifest = entry{name: ManifestName, data: []byte("the manifest")}
	entries  = []entry{
		{name: "a", data: []byte("first")},
		{name: "b/c", data: bytes.Repeat([]byte("second "), 100)},
		{name: "d", data: []byte("third")},
	}
)

// list is the List a manifest of es gives, with an Index if indexed.
func list(es []entry, indexed bool) List {
	l := List{Len: len(es), Entry: func(i int) Entry {
		return Entry{Name: es[i].name, Min: 1, Max: 1000, SHA256: sha256.Sum256(es[i].data)}
	}}
	if indexed {
		l.Index = func(name string) (int, bool) {
			i := slices.IndexFunc(es, func(e entry) bool { return e.name == name })
			return i, i >= 0
		}
	}
	return l
}

// archive writes es with archive/tar, headers as Writer writes them
// unless given, then tail.
func archive(t testing.TB, es []entry, tail []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := e.hdr
		if hdr == nil {
			hdr = &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o600, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
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
	return append(buf.Bytes(), tail...)
}

// write writes es with a Writer.
func write(t testing.TB, es []entry) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf, "test archive", time.Unix(0, 0))
	for _, e := range es {
		if err := w.WriteEntry(e.name, int64(len(e.data)), bytes.NewReader(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads b as an archive of the entries of l, with ReadData, or with
// Read if streaming.
func readAll(b []byte, l List, streaming bool) ([][]byte, error) {
	r := NewReader(bytes.NewReader(b), "test archive")
	if _, err := r.ReadManifest(100); err != nil {
		return nil, err
	}
	r.Expect(l)
	var got [][]byte
	for {
		i, size, err := r.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return nil, err
		}
		if i != len(got) || size != int64(len(entries[i].data)) {
			return nil, errors.New("Next returned the wrong position or size")
		}
		var data []byte
		if streaming {
			data, err = io.ReadAll(r)
		} else {
			data, err = r.ReadData()
		}
		if err != nil {
			return nil, err
		}
		got = append(got, data)
	}
}

func TestRoundTrip(t *testing.T) {
	good := write(t, append([]entry{manifest}, entries...))
	for _, streaming := range []bool{false, true} {
		for _, indexed := range []bool{false, true} {
			got, err := readAll(good, list(entries, indexed), streaming)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range entries {
				if !bytes.Equal(got[i], e.data) {
					t.Fatalf("entry %d read back as %q", i, got[i])
				}
			}
		}
	}
	// The format: ustar headers, mode 0600, time 0, no owner; the same
	// entries make the same bytes.
	tr := tar.NewReader(bytes.NewReader(good))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Format != tar.FormatUSTAR || hdr.Mode != 0o600 || hdr.ModTime.Unix() != 0 || hdr.Uid != 0 || hdr.Uname != "" || hdr.Typeflag != tar.TypeReg {
			t.Errorf("entry %q: header %+v", hdr.Name, hdr)
		}
	}
	if again := write(t, append([]entry{manifest}, entries...)); !bytes.Equal(again, good) {
		t.Error("the same entries made other bytes")
	}
	if plain := archive(t, append([]entry{manifest}, entries...), nil); !bytes.Equal(plain, good) {
		t.Error("Writer does not write what archive/tar writes of the same headers")
	}
}

// TestTruncated cuts a small archive at every byte: each cut is refused
// as truncated, io.ErrUnexpectedEOF wrapped as "<noun> truncated".
func TestTruncated(t *testing.T) {
	good := archive(t, append([]entry{manifest}, entries...), nil)
	for _, streaming := range []bool{false, true} {
		for n := range len(good) {
			_, err := readAll(good[:n], list(entries, true), streaming)
			if err == nil {
				t.Fatalf("archive cut to %d of %d bytes was read", n, len(good))
			}
			if n > 0 && !strings.Contains(err.Error(), "test archive truncated") && !strings.Contains(err.Error(), "test archive is truncated") {
				t.Fatalf("archive cut to %d bytes: %v, want it to say the test archive is truncated", n, err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != strings.Contains(err.Error(), "test archive truncated: unexpected EOF") {
				t.Fatalf("archive cut to %d bytes: %v", n, err)
			}
		}
	}
}

func TestRefuses(t *testing.T) {
	a, bc, d := entries[0], entries[1], entries[2]
	good := append([]entry{manifest}, entries...)
	with := func(i int, e entry) []entry {
		es := slices.Clone(good)
		es[i] = e
		return es
	}
	altered := entry{name: bc.name, data: bytes.Clone(bc.data)}
	altered.data[7] ^= 1
	pax := with(1, entry{name: a.name, data: a.data, hdr: &tar.Header{Typeflag: tar.TypeReg, Name: a.name, Size: int64(len(a.data)), Mode: 0o600, Format: tar.FormatPAX, PAXRecords: map[string]string{"comment": "x"}}})
	goodBytes := archive(t, good, nil)
	for _, tc := range []struct {
		name    string
		archive []byte
		want    string // with an Index
		plain   string // without, if different
	}{
		{"empty input", nil, "empty test archive: no manifest", ""},
		{"empty archive", archive(t, nil, nil), "empty test archive: no manifest", ""},
		{"not a tar", bytes.Repeat([]byte("testimony\n"), 100), "failed to read test archive", ""},
		{"no manifest", archive(t, entries, nil), `does not start with a manifest (first entry is "a")`, ""},
		{"manifest too large", archive(t, with(0, entry{name: ManifestName, data: make([]byte, 101)}), nil), `entry "manifest" is 101 bytes: want 1 to 100`, ""},
		{"manifest twice", archive(t, slices.Insert(slices.Clone(good), 1, manifest), nil), `duplicate test archive entry "manifest"`, ""},
		{"manifest at the end", archive(t, append(slices.Clone(good), manifest), nil), `duplicate test archive entry "manifest"`, ""},
		{"unlisted", archive(t, slices.Insert(slices.Clone(good), 2, entry{name: "x", data: []byte("x")}), nil), `entry "x" is not listed in the signed manifest`, `entry "x" found where the manifest lists "b/c"`},
		{"unlisted at the end", archive(t, append(slices.Clone(good), entry{name: "x", data: []byte("x")}), nil), `entry "x" is not listed in the signed manifest`, ""},
		{"duplicate", archive(t, slices.Insert(slices.Clone(good), 2, a), nil), `duplicate test archive entry "a"`, `entry "a" found where the manifest lists "b/c"`},
		{"duplicate at the end", archive(t, append(slices.Clone(good), a), nil), `duplicate test archive entry "a"`, `entry "a" is not listed`},
		{"reordered", archive(t, []entry{manifest, bc, a, d}, nil), `entry "a" is missing (found "b/c" in its place)`, `entry "b/c" found where the manifest lists "a"`},
		{"removed", archive(t, []entry{manifest, a, d}, nil), `entry "b/c" is missing (found "d" in its place)`, `entry "d" found where the manifest lists "b/c"`},
		{"last missing", archive(t, good[:3], nil), `entry "d" is missing: test archive truncated`, ""},
		{"two missing", archive(t, good[:2], nil), `entry "b/c" and 1 after it are missing: test archive truncated`, ""},
		{"altered", archive(t, with(2, altered), nil), `entry "b/c" does not match the SHA-256 in the signed manifest`, ""},
		{"symlink", archive(t, with(1, entry{hdr: &tar.Header{Typeflag: tar.TypeSymlink, Name: "a", Linkname: "/etc/passwd", Format: tar.FormatUSTAR}}), nil), `entry "a" is not a regular file`, ""},
		{"directory", archive(t, with(1, entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: "a", Mode: 0o700, Format: tar.FormatUSTAR}}), nil), `entry "a" is not a regular file`, ""},
		{"too large", archive(t, with(1, entry{name: "a", data: make([]byte, 1001)}), nil), `entry "a" is 1001 bytes: want 1 to 1000`, ""},
		{"empty entry", archive(t, with(1, entry{name: "a"}), nil), `entry "a" is 0 bytes: want 1 to 1000`, ""},
		{"pax header", archive(t, pax, nil), "unexpected tar headers", ""},
		{"no end marker", goodBytes[:len(goodBytes)-2*blockSize], "end-of-archive marker missing", ""},
		{"half an end marker", goodBytes[:len(goodBytes)-blockSize], "end-of-archive marker missing", ""},
		{"padding and end marker missing", goodBytes[:len(goodBytes)-2*blockSize-int(padded(int64(len(d.data))))+len(d.data)], "end-of-archive marker missing or unexpected tar headers", ""},
		{"data after the end", archive(t, good, []byte("x")), "data after its end-of-archive marker", ""},
		{"zeros after the end", archive(t, good, make([]byte, 8192)), "data after its end-of-archive marker", ""},
		{"long name", archive(t, slices.Insert(slices.Clone(good), 1, entry{hdr: &tar.Header{Typeflag: tar.TypeReg, Name: strings.Repeat("\x1b[2J", 1000), Format: tar.FormatPAX}}), nil), `\x1b[2J`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, indexed := range []bool{true, false} {
				want := tc.want
				if !indexed && tc.plain != "" {
					want = tc.plain
				}
				for _, streaming := range []bool{false, true} {
					got, err := readAll(tc.archive, list(entries, indexed), streaming)
					if err == nil || got != nil {
						t.Fatalf("indexed %v, streaming %v: read %d entries, error %v; want an error with %q", indexed, streaming, len(got), err, want)
					}
					if !strings.Contains(err.Error(), want) {
						t.Errorf("indexed %v, streaming %v: %v\nwant an error with %q", indexed, streaming, err, want)
					}
					if len(err.Error()) > 600 {
						t.Errorf("error of %d bytes: %.80s…", len(err.Error()), err)
					}
				}
			}
		})
	}
}

// TestSticky: after an error, every call returns it.
func TestSticky(t *testing.T) {
	b := archive(t, []entry{manifest, entries[1], entries[0]}, nil)
	r := NewReader(bytes.NewReader(b), "test archive")
	if _, err := r.ReadManifest(100); err != nil {
		t.Fatal(err)
	}
	r.Expect(list(entries, true))
	_, _, err1 := r.Next()
	_, _, err2 := r.Next()
	_, err3 := r.ReadData()
	if err1 == nil || err2 != err1 || err3 != err1 {
		t.Fatalf("errors %v, %v, %v; want the same error thrice", err1, err2, err3)
	}
}

// TestUnreadChecked: an entry left unread is read and checked by Next.
func TestUnreadChecked(t *testing.T) {
	altered := slices.Clone(entries[0].data)
	altered[0] ^= 1
	b := archive(t, []entry{manifest, {name: "a", data: altered}, entries[1], entries[2]}, nil)
	r := NewReader(bytes.NewReader(b), "test archive")
	if _, err := r.ReadManifest(100); err != nil {
		t.Fatal(err)
	}
	r.Expect(list(entries, true))
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Next(); err == nil || !strings.Contains(err.Error(), `"a" does not match`) {
		t.Fatalf("Next after an altered entry left unread: %v", err)
	}
}

// TestEndChecked: a reader that fails after the end-of-archive marker (age
// checking its last chunk, a pipe closed with an error) fails the archive.
func TestEndChecked(t *testing.T) {
	good := archive(t, append([]entry{manifest}, entries...), nil)
	broken := errors.New("the last chunk does not verify")
	_, err := readAllFrom(io.MultiReader(bytes.NewReader(good), iotestErr{broken}), list(entries, true))
	if !errors.Is(err, broken) {
		t.Fatalf("got %v, want %v", err, broken)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

func readAllFrom(in io.Reader, l List) (int, error) {
	r := NewReader(in, "test archive")
	if _, err := r.ReadManifest(100); err != nil {
		return 0, err
	}
	r.Expect(l)
	for n := 0; ; n++ {
		if _, _, err := r.Next(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		if _, err := r.ReadData(); err != nil {
			return n, err
		}
	}
}

// TestHeaderDoesNotAllocate: a header claiming more than MaxPrealloc
// bytes, with little data behind it, makes the reader allocate as the data
// arrives, not what the header claims.
func TestHeaderDoesNotAllocate(t *testing.T) {
	const claimed = 1 << 30
	data := bytes.Repeat([]byte("x"), 1000)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Size: claimed, Mode: 0o600, Format: tar.FormatUSTAR})
	tw.Write(data)
	cut := buf.Bytes()
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	_, err := NewReader(bytes.NewReader(cut), "test archive").ReadManifest(claimed)
	metrics.Read(sample)
	allocated := sample[0].Value.Uint64() - before
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), `"manifest": test archive truncated`) {
		t.Fatalf("got %v, want the manifest truncated", err)
	}
	if allocated > 2*MaxPrealloc {
		t.Fatalf("a header claiming %d bytes, with %d behind it, made the reader allocate %d bytes", claimed, len(data), allocated)
	}
	// Beyond MaxPrealloc, a whole entry still reads.
	big := bytes.Repeat([]byte("0123456789abcdef"), (3*MaxPrealloc+5)/16)
	b := archive(t, []entry{{name: ManifestName, data: big}}, nil)
	r := NewReader(bytes.NewReader(b), "test archive")
	if got, err := r.ReadManifest(int64(len(big))); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("a %d-byte manifest: %v", len(big), err)
	}
}

func TestWriterRefusesShort(t *testing.T) {
	w := NewWriter(io.Discard, "test archive", time.Unix(0, 0))
	if err := w.WriteEntry("a", 10, strings.NewReader("short")); err == nil || !strings.Contains(err.Error(), `test archive entry "a" is shorter (5 bytes) than its 10 bytes`) {
		t.Fatalf("got %v", err)
	}
}

// FuzzReader: whatever the input, the reader returns the listed entries,
// each matching its hash, and nothing else, or an error; and what reads is
// what Writer writes of it.
func FuzzReader(f *testing.F) {
	good := archive(f, append([]entry{manifest}, entries...), nil)
	f.Add(good, true)
	f.Add(good[:len(good)-1024], false)
	f.Add(archive(f, []entry{manifest, entries[1], entries[0], entries[2]}, nil), true)
	f.Add(archive(f, append([]entry{manifest}, append(entries, entries[0])...), nil), false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, b []byte, indexed bool) {
		for _, streaming := range []bool{false, true} {
			got, err := readAll(b, list(entries, indexed), streaming)
			if err != nil {
				if got != nil {
					t.Fatal("data returned with an error")
				}
				continue
			}
			r := NewReader(bytes.NewReader(b), "test archive")
			m, _ := r.ReadManifest(100)
			es := []entry{{name: ManifestName, data: m}}
			for i, data := range got {
				if !bytes.Equal(data, entries[i].data) {
					t.Fatalf("entry %d read as %q", i, data)
				}
				es = append(es, entry{name: entries[i].name, data: data})
			}
			// Modes, times and owners are ignored: compare the
			// entries, and the size, which the reader fixes.
			if again := write(t, es); len(again) != len(b) {
				t.Fatalf("read an archive of %d bytes, which writes back as %d", len(b), len(again))
			}
		}
	})
}

// TestPaddingZeros: a byte other than zero anywhere in the padding after
// an entry (the manifest and the last entry included) is refused, so an
// archive that reads has one byte form.
func TestPaddingZeros(t *testing.T) {
	all := append([]entry{manifest}, entries...)
	good := archive(t, all, nil)
	if _, err := readAll(good, list(entries, true), false); err != nil {
		t.Fatal(err)
	}
	// The padding after each entry: its header block, its data, then
	// zeros to the block's end.
	off, checked := int64(0), 0
	for _, e := range all {
		data := off + blockSize
		for i := data + int64(len(e.data)); i < data+padded(int64(len(e.data))); i++ {
			for _, streaming := range []bool{false, true} {
				bad := bytes.Clone(good)
				bad[i] = 'x'
				_, err := readAll(bad, list(entries, true), streaming)
				if err == nil || !strings.Contains(err.Error(), "padding that is not zeros") || !strings.Contains(err.Error(), e.name) {
					t.Fatalf("byte %d of the padding after %q made non-zero: %v", i, e.name, err)
				}
			}
			checked++
		}
		off = data + padded(int64(len(e.data)))
	}
	if checked < 4*blockSize-len("the manifest")-len("first")-700-len("third") {
		t.Fatalf("checked %d padding bytes: the layout is not what the test assumes", checked)
	}
}
