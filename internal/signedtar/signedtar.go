// Package signedtar reads and writes the tar archives testimony's signed
// files travel in (batches, reply batches, backups), as strictly as their
// formats require and with one vocabulary of errors.
//
// Each of those files is a POSIX (ustar) tar archive whose first entry is a
// signed manifest, named "manifest", listing every entry that follows:
//
//	manifest
//	<entry 0>        each a regular file, in the order the manifest lists,
//	…                of a size within the format's bounds and matching the
//	<entry n-1>      SHA-256 the manifest lists for it
//	<end-of-archive marker: two zero blocks>
//
// and nothing after the marker. Writers give every entry mode 0600, one
// modification time (1970-01-01 unless the format says otherwise) and no
// owner; readers ignore those fields.
//
// # Reading
//
// A [Reader] reads the manifest ([Reader.ReadManifest]) for the caller to
// verify and parse, then each entry the [List] it makes of the manifest
// gives ([Reader.Expect], [Reader.Next]). It refuses, naming the entry:
//
//   - a first entry other than "manifest", and a second "manifest";
//   - an entry other than the one the manifest lists next: one it does not
//     list (added after signing), one it listed earlier (a duplicate), one
//     it lists later (the one expected is missing: removed or reordered);
//   - an entry that is not a regular file (a link, a directory, …), or of a
//     size out of its bounds, checked on the header before anything is
//     allocated; the data is then allocated up front only up to
//     [MaxPrealloc] bytes, and beyond that as it arrives, so a header
//     cannot make a reader hold memory the input does not fill;
//   - data that does not match the SHA-256 the manifest lists;
//   - an archive that ends before the last entry (every entry still
//     missing is counted), or that does not end right after it: after the
//     last entry's data, the end-of-archive marker must be exactly where
//     the bytes counted from the headers put it, and nothing may follow it
//     (not even zeros). archive/tar alone silently accepts a clean end of
//     input instead of the marker or of an entry's padding, and reads
//     extended (PAX, GNU) headers; this count catches both;
//   - anything but zeros in the padding that fills an entry's last block.
//
// What an archive that reads carries (its entries' names, sizes, order and
// bytes, and nothing else) thus has one form. The header fields readers
// ignore (mode, times, owners, how a number or a long name is written)
// may differ from what a [Writer] writes, so two archives that read alike
// may differ as files: the signed manifest, not the archive's hash, names
// what was signed.
//
// Only once [Reader.Next] has returned io.EOF is the archive known to be
// exactly what was signed: the caller discards what it read if any call
// fails. Errors are sticky: after one, every call returns it.
//
// Errors say what was refused in the format's words, with its noun:
// `batch entry "envelopes/…" is missing (found "envelopes/…" in its
// place): removed or reordered after signing`. An input that ends too soon
// is "<noun> truncated"; within an entry's header or data, the error wraps
// io.ErrUnexpectedEOF. Entry names read
// from the archive are quoted with Go escapes and cut to 256 characters.
//
// # Writing
//
// A [Writer] writes entries in that form; the caller writes the manifest
// first and each entry in the manifest's order. Both are deterministic:
// the same entries make the same bytes.
//
// A Reader or Writer may not be used by several goroutines at once.
package signedtar

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"time"
)

const (
	// ManifestName is the name of the first entry.
	ManifestName = "manifest"
	// MaxPrealloc bounds the bytes [Reader.ReadData] and
	// [Reader.ReadManifest] allocate for an entry before its data arrives.
	MaxPrealloc = 8 << 20
	blockSize   = 512
)

// An Entry is what a signed manifest says of one entry.
type Entry struct {
	// Name is the entry's name in the archive.
	Name string
	// Min and Max bound its size in bytes: 0 ≤ Min ≤ Max.
	Min, Max int64
	// SHA256 is the SHA-256 of its data.
	SHA256 [32]byte
}

// A List is a signed manifest's list of the entries that follow it, in
// order.
type List struct {
	// Len is the number of entries.
	Len int
	// Entry returns the entry at position i, 0 ≤ i < Len.
	Entry func(i int) Entry
	// Index, if not nil, returns the position of the entry named name, if
	// the manifest lists it. It lets errors tell an entry not listed, a
	// duplicate and a reordered entry apart; without it, an entry out of
	// place is reported as found where the manifest lists another, and
	// one after the last as not listed.
	Index func(name string) (int, bool)
}

// Reader reads an archive: the manifest, then the entries of a [List].
type Reader struct {
	noun string
	cr   countingReader
	tr   *tar.Reader
	list List
	next int   // position of the next entry
	want int64 // bytes of archive accepted so far, per the headers

	// The current entry, once Next returned it.
	cur    Entry
	size   int64
	h      hash.Hash
	n      int64 // bytes read of it
	unread bool  // its data is not all read and checked

	done bool
	err  error // sticky
}

// NewReader returns a Reader of the archive in r, a <noun> as errors name
// it: "batch", "reply batch", "backup".
func NewReader(r io.Reader, noun string) *Reader {
	sr := &Reader{noun: noun, cr: countingReader{r: r}}
	sr.tr = tar.NewReader(&sr.cr)
	return sr
}

// ReadManifest reads the first entry, which must be "manifest", of 1 to
// max bytes, and returns its data for the caller to verify and parse.
func (r *Reader) ReadManifest(max int64) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.want != 0 {
		return nil, r.fail(errors.New("signedtar: ReadManifest called twice"))
	}
	hdr, err := r.tr.Next()
	if err == io.EOF {
		return nil, r.fail(fmt.Errorf("empty %s: no manifest", r.noun))
	}
	if err != nil {
		return nil, r.fail(fmt.Errorf("failed to read %s: %w", r.noun, r.truncated(err)))
	}
	if hdr.Name != ManifestName {
		return nil, r.fail(fmt.Errorf("%s does not start with a manifest (first entry is %s): not a %s, or altered", r.noun, quote(hdr.Name), r.noun))
	}
	if err := r.checkHeader(hdr, 1, max); err != nil {
		return nil, r.fail(err)
	}
	r.cr.padding(hdr.Name, hdr.Size)
	data, err := r.read(hdr.Name, hdr.Size)
	if err != nil {
		return nil, r.fail(err)
	}
	r.want = blockSize + padded(hdr.Size)
	return data, nil
}

// Expect sets the list of entries that follow the manifest: call it once,
// after [Reader.ReadManifest], before [Reader.Next].
func (r *Reader) Expect(l List) { r.list = l }

// Next reads the header of the next entry, checks it is the one at
// position i of the list (i is the number of entries Next returned
// before), a regular file of a size within its bounds, and returns i and
// the size. Read the entry's data with [Reader.Read] or [Reader.ReadData];
// Next reads and checks what was left unread.
//
// After the last entry, Next checks that the archive ends there (see the
// package documentation) and returns io.EOF, and does so again if called
// again.
func (r *Reader) Next() (i int, size int64, err error) {
	if r.err != nil {
		return 0, 0, r.err
	}
	if r.done {
		return 0, 0, io.EOF
	}
	if r.unread {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return 0, 0, err
		}
	}
	if r.next == r.list.Len {
		if err := r.end(); err != nil {
			return 0, 0, r.fail(err)
		}
		r.done = true
		return 0, 0, io.EOF
	}
	e := r.list.Entry(r.next)
	hdr, err := r.tr.Next()
	if err := r.checkPadding(); err != nil {
		return 0, 0, r.fail(err)
	}
	if err == io.EOF {
		if more := r.list.Len - r.next - 1; more > 0 {
			return 0, 0, r.fail(fmt.Errorf("%s entry %q and %d after it are missing: %s truncated", r.noun, e.Name, more, r.noun))
		}
		return 0, 0, r.fail(fmt.Errorf("%s entry %q is missing: %s truncated", r.noun, e.Name, r.noun))
	}
	if err != nil {
		return 0, 0, r.fail(fmt.Errorf("failed to read %s entry %q: %w", r.noun, e.Name, r.truncated(err)))
	}
	if hdr.Name != e.Name {
		return 0, 0, r.fail(r.misplaced(hdr.Name, e.Name))
	}
	if err := r.checkHeader(hdr, e.Min, e.Max); err != nil {
		return 0, 0, r.fail(err)
	}
	r.cr.padding(hdr.Name, hdr.Size)
	i = r.next
	r.next++
	r.want += blockSize + padded(hdr.Size)
	r.cur, r.size, r.n, r.unread = e, hdr.Size, 0, true
	if r.h == nil {
		r.h = sha256.New()
	}
	r.h.Reset()
	return i, hdr.Size, nil
}

// misplaced returns the error for an entry named name found where the
// list has the one named want.
func (r *Reader) misplaced(name, want string) error {
	if name == ManifestName {
		return fmt.Errorf(`duplicate %s entry "manifest": a second "manifest" entry, added after signing`, r.noun)
	}
	if r.list.Index == nil {
		return fmt.Errorf("%s entry %s found where the manifest lists %q: altered", r.noun, quote(name), want)
	}
	switch i, listed := r.list.Index(name); {
	case !listed || i == r.next:
		return fmt.Errorf("%s entry %s is not listed in the signed manifest: added after signing", r.noun, quote(name))
	case i < r.next:
		return fmt.Errorf("duplicate %s entry %q: altered", r.noun, name)
	default:
		return fmt.Errorf("%s entry %q is missing (found %q in its place): removed or reordered after signing", r.noun, want, name)
	}
}

// Read reads the data of the entry [Reader.Next] returned. At its end, it
// returns io.EOF if the data matches the SHA-256 the manifest lists, or
// else an error.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if !r.unread {
		return 0, io.EOF
	}
	n, err := r.tr.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	switch {
	case err == io.EOF && r.n != r.size:
		// archive/tar reports a short entry as io.ErrUnexpectedEOF; this
		// is only in case it did not.
		err = fmt.Errorf("failed to read %s entry %q: %w", r.noun, r.cur.Name, r.truncated(io.ErrUnexpectedEOF))
	case err == io.EOF:
		r.unread = false
		if [32]byte(r.h.Sum(nil)) != r.cur.SHA256 {
			err = r.mismatch()
		}
	case err != nil:
		err = fmt.Errorf("failed to read %s entry %q: %w", r.noun, r.cur.Name, r.truncated(err))
	}
	if err != nil && err != io.EOF {
		r.fail(err)
	}
	return n, err
}

// ReadData reads the whole data of the entry [Reader.Next] returned (see
// [MaxPrealloc]) and checks it matches the SHA-256 the manifest lists.
func (r *Reader) ReadData() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.unread || r.n != 0 {
		return nil, r.fail(errors.New("signedtar: ReadData called without Next or after Read"))
	}
	data, err := r.read(r.cur.Name, r.size)
	if err != nil {
		return nil, r.fail(err)
	}
	r.unread = false
	if sha256.Sum256(data) != r.cur.SHA256 {
		return nil, r.fail(r.mismatch())
	}
	return data, nil
}

func (r *Reader) mismatch() error {
	return fmt.Errorf("%s entry %q does not match the SHA-256 in the signed manifest: altered", r.noun, r.cur.Name)
}

// read reads the size bytes of the current tar entry, named name.
func (r *Reader) read(name string, size int64) ([]byte, error) {
	var data []byte
	var err error
	if size <= MaxPrealloc {
		data = make([]byte, size)
		_, err = io.ReadFull(r.tr, data)
	} else {
		// Double the buffer as data arrives, up to size.
		data = make([]byte, 0, MaxPrealloc)
		for int64(len(data)) < size && err == nil {
			if len(data) == cap(data) {
				data = slices.Grow(data, int(min(int64(len(data)), size-int64(len(data)))))
			}
			var n int
			n, err = r.tr.Read(data[len(data):min(int64(cap(data)), size)])
			data = data[:len(data)+n]
		}
		if int64(len(data)) == size {
			err = nil
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s entry %s: %w", r.noun, quote(name), r.truncated(err))
	}
	return data, nil
}

// end checks that the archive ends after its last entry, and reads the
// input to its end.
func (r *Reader) end() error {
	hdr, err := r.tr.Next()
	if err := r.checkPadding(); err != nil {
		return err
	}
	if err == nil {
		if hdr.Name == ManifestName {
			return r.misplaced(hdr.Name, "")
		}
		if r.list.Index != nil {
			if _, listed := r.list.Index(hdr.Name); listed {
				return fmt.Errorf("duplicate %s entry %q: altered", r.noun, hdr.Name)
			}
		}
		return fmt.Errorf("%s entry %s is not listed in the signed manifest: added after signing", r.noun, quote(hdr.Name))
	}
	if err != io.EOF {
		return fmt.Errorf("failed to read %s after its last entry: %w", r.noun, r.truncated(err))
	}
	if r.cr.n != r.want+2*blockSize {
		return fmt.Errorf("%s is truncated or malformed after its last entry: end-of-archive marker missing or unexpected tar headers", r.noun)
	}
	var one [1]byte
	n, err := io.ReadFull(&r.cr, one[:])
	if n != 0 {
		return fmt.Errorf("%s has data after its end-of-archive marker: altered", r.noun)
	}
	if err != io.EOF {
		// A reader that checks its input at its end (age, a pipe closed
		// with an error) says so here.
		return fmt.Errorf("failed to read %s after its end-of-archive marker: %w", r.noun, err)
	}
	return nil
}

// checkHeader checks hdr is a regular file of min to max bytes.
func (r *Reader) checkHeader(hdr *tar.Header, min, max int64) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("%s entry %s is not a regular file (type %q): altered", r.noun, quote(hdr.Name), hdr.Typeflag)
	}
	if hdr.Size < min || hdr.Size > max {
		if min == max {
			return fmt.Errorf("%s entry %s is %d bytes, want %d", r.noun, quote(hdr.Name), hdr.Size, max)
		}
		return fmt.Errorf("%s entry %s is %d bytes: want %d to %d", r.noun, quote(hdr.Name), hdr.Size, min, max)
	}
	return nil
}

// Fail makes err, a check of the caller's on the entry Next returned,
// the error every later call returns, and returns it.
func (r *Reader) Fail(err error) error { return r.fail(err) }

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// truncated says err, io.ErrUnexpectedEOF, is the archive's end.
func (r *Reader) truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s truncated: %w", r.noun, err)
	}
	return err
}

// quote quotes an entry name read from an archive.
func quote(name string) string { return fmt.Sprintf("%.256q", name) }

func padded(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

// countingReader counts the bytes of the archive, and checks that those
// between padFrom and padTo, an entry's padding, are zeros.
type countingReader struct {
	r              io.Reader
	n              int64
	padFrom, padTo int64
	padName        string // the entry the padding follows
	badPad         bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := max(c.padFrom, c.n); i < min(c.padTo, c.n+int64(n)); i++ {
		if p[i-c.n] != 0 {
			c.badPad = true
		}
	}
	c.n += int64(n)
	return n, err
}

// padding sets the padding to check: that of an entry named name, of size
// bytes, whose header was just read.
func (c *countingReader) padding(name string, size int64) {
	c.padFrom, c.padTo, c.padName = c.n+size, c.n+padded(size), name
}

// checkPadding returns an error if the padding read so far was not zeros.
func (r *Reader) checkPadding() error {
	if r.cr.badPad {
		return fmt.Errorf("%s entry %s is followed by padding that is not zeros: altered", r.noun, quote(r.cr.padName))
	}
	return nil
}

// Writer writes an archive: the manifest, then each entry it lists.
type Writer struct {
	noun  string
	tw    *tar.Writer
	mtime time.Time
}

// NewWriter returns a Writer of a <noun> to w, whose entries have the
// modification time mtime (time.Unix(0, 0) unless the format says
// otherwise).
func NewWriter(w io.Writer, noun string, mtime time.Time) *Writer {
	return &Writer{noun: noun, tw: tar.NewWriter(w), mtime: mtime}
}

// WriteEntry writes an entry named name, size bytes read from r: a regular
// file, mode 0600, no owner. It fails if r holds fewer bytes; it reads no
// more.
func (w *Writer) WriteEntry(name string, size int64, r io.Reader) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o600,
		ModTime:  w.mtime,
		Format:   tar.FormatUSTAR,
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("failed to write %s entry %q: %w", w.noun, name, err)
	}
	n, err := io.CopyN(w.tw, r, size)
	if err == io.EOF {
		return fmt.Errorf("%s entry %q is shorter (%d bytes) than its %d bytes: the file changed after it was hashed", w.noun, name, n, size)
	}
	if err != nil {
		return fmt.Errorf("failed to write %s entry %q: %w", w.noun, name, err)
	}
	return nil
}

// Close writes the end-of-archive marker. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if err := w.tw.Close(); err != nil {
		return fmt.Errorf("failed to finish %s: %w", w.noun, err)
	}
	return nil
}
