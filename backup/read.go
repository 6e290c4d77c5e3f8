package backup

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"
)

// ErrSealedToResearchers is wrapped by the error [NewReader] returns for a
// backup sealed to researchers' keys when it was given none of them: a
// researcher must reseal it to a passphrase first (see [Reseal]).
var ErrSealedToResearchers = errors.New("this backup is sealed to the researchers' keys, not to a passphrase")

// Reader reads a backup, checking every byte against its signed manifest.
type Reader struct {
	cr     *countingReader
	tr     *tar.Reader
	signed []byte
	m      *Manifest
	next   int   // index in m.Files of the next entry
	want   int64 // tar bytes expected so far
	cur    *entryReader
	done   bool
}

// NewReader opens the backup in r with identities (a passphrase's or a
// researcher's, see [PassphraseIdentity] and [X25519Identity]) and reads its
// manifest, without checking the signature: check it with [Reader.Verify]
// once the verifier key is known (for a restore, from the backup itself).
func NewReader(r io.Reader, identities ...age.Identity) (*Reader, error) {
	pt, err := age.Decrypt(r, identities...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			if slices.Contains(nomatch.StanzaTypes, "X25519") {
				return nil, fmt.Errorf("%w: a researcher must reseal it to a passphrase on the offline machine (researcher backup reseal)", ErrSealedToResearchers)
			}
			if slices.Contains(nomatch.StanzaTypes, "scrypt") {
				return nil, errors.New("wrong passphrase for the backup")
			}
			return nil, errors.New("the backup is not sealed to this key or passphrase")
		}
		return nil, fmt.Errorf("failed to open the backup: %w", err)
	}
	return newPlainReader(pt)
}

// newPlainReader reads the backup's plaintext tar archive from pt.
func newPlainReader(pt io.Reader) (*Reader, error) {
	br := &Reader{cr: &countingReader{r: pt}}
	br.tr = tar.NewReader(br.cr)
	hdr, err := br.tr.Next()
	if err != nil {
		return nil, fmt.Errorf("not a testimony backup, or damaged: %w", truncated(err))
	}
	if hdr.Name != manifestName {
		return nil, fmt.Errorf("not a testimony backup: first entry %q, want %q", hdr.Name, manifestName)
	}
	if err := checkHeader(hdr, maxManifestSize); err != nil {
		return nil, err
	}
	br.signed = make([]byte, 0, min(hdr.Size, 1<<20))
	buf := make([]byte, 32<<10)
	for int64(len(br.signed)) < hdr.Size {
		n, err := br.tr.Read(buf[:min(int64(len(buf)), hdr.Size-int64(len(br.signed)))])
		br.signed = append(br.signed, buf[:n]...)
		if err == io.EOF && int64(len(br.signed)) < hdr.Size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("failed to read the backup manifest: %w", truncated(err))
		}
	}
	if br.m, err = ParseUnverifiedManifest(br.signed); err != nil {
		return nil, err
	}
	br.want = blockSize + padded(hdr.Size)
	return br, nil
}

// Manifest returns the backup's manifest, as read: not yet proven to be
// signed, nor the files to match it, until [Reader.Verify] and
// [Reader.Next] say so.
func (br *Reader) Manifest() *Manifest { return br.m }

// SignedManifest returns the manifest as signed.
func (br *Reader) SignedManifest() []byte { return br.signed }

// Verify checks that the manifest carries exactly one signature, valid for
// verifier: the server's batch signing key.
func (br *Reader) Verify(verifier note.Verifier) error {
	_, err := OpenManifest(br.signed, verifier)
	return err
}

// Next returns the next file of the backup and a reader of its contents.
// The reader returns an error instead of io.EOF if the contents do not
// match the manifest. Next checks what the caller left unread of the
// previous file; after the last file it checks that the backup ends there,
// and reads it to its end, which proves to age that nothing was cut off,
// and only then returns io.EOF.
func (br *Reader) Next() (File, io.Reader, error) {
	if br.done {
		return File{}, nil, io.EOF
	}
	if br.cur != nil {
		if _, err := io.Copy(io.Discard, br.cur); err != nil {
			return File{}, nil, err
		}
		br.cur = nil
	}
	if br.next == len(br.m.Files) {
		if err := br.end(); err != nil {
			return File{}, nil, err
		}
		br.done = true
		return File{}, nil, io.EOF
	}
	f := br.m.Files[br.next]
	hdr, err := br.tr.Next()
	if err == io.EOF {
		return File{}, nil, fmt.Errorf("backup is truncated: %s and %d files after it are missing", f.Path, len(br.m.Files)-br.next-1)
	}
	if err != nil {
		return File{}, nil, fmt.Errorf("failed to read %s from the backup: %w", f.Path, truncated(err))
	}
	switch {
	case hdr.Name == manifestName:
		return File{}, nil, errors.New(`backup has a second "manifest" entry: altered`)
	case hdr.Name != f.Path:
		return File{}, nil, fmt.Errorf("backup entry %q found where the manifest lists %s: altered", hdr.Name, f.Path)
	}
	if err := checkHeader(hdr, MaxFileSize); err != nil {
		return File{}, nil, err
	}
	if hdr.Size != f.Size {
		return File{}, nil, fmt.Errorf("backup entry %s is %d bytes, the manifest says %d: altered", f.Path, hdr.Size, f.Size)
	}
	br.next++
	br.want += blockSize + padded(hdr.Size)
	br.cur = &entryReader{r: br.tr, f: f, h: sha256.New()}
	return f, br.cur, nil
}

// end checks that the archive ends after its last entry, and reads the
// rest of the age stream, so that age checks the last chunk.
func (br *Reader) end() error {
	hdr, err := br.tr.Next()
	if err == nil {
		return fmt.Errorf("backup entry %q is not listed in the signed manifest: added after signing", hdr.Name)
	}
	if err != io.EOF {
		return fmt.Errorf("failed to read the backup after its last file: %w", truncated(err))
	}
	// archive/tar stops at the end-of-archive marker, but also, silently,
	// at a clean end of input or after a padding it skipped.
	if br.cr.n != br.want+2*blockSize {
		return errors.New("backup is truncated or malformed after its last file: end-of-archive marker missing or unexpected tar headers")
	}
	var one [1]byte
	n, err := io.ReadFull(br.cr, one[:])
	if n != 0 {
		return errors.New("backup has data after its end-of-archive marker: altered")
	}
	if err != io.EOF {
		return fmt.Errorf("backup is damaged at its end: %w", err)
	}
	return nil
}

// entryReader reads one file's contents, and fails at its end if they do
// not match the manifest.
type entryReader struct {
	r   io.Reader
	f   File
	h   hash.Hash
	n   int64
	err error
}

func (e *entryReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.r.Read(p)
	e.h.Write(p[:n])
	e.n += int64(n)
	if err == io.EOF {
		switch {
		case e.n != e.f.Size:
			err = fmt.Errorf("backup is truncated in %s: %w", e.f.Path, io.ErrUnexpectedEOF)
		case [32]byte(e.h.Sum(nil)) != e.f.SHA256:
			err = fmt.Errorf("backup entry %s does not match the SHA-256 in the signed manifest: altered", e.f.Path)
		}
	} else if err != nil {
		err = fmt.Errorf("failed to read %s from the backup: %w", e.f.Path, truncated(err))
	}
	e.err = err
	return n, err
}

// checkHeader checks hdr is a regular file of at most limit bytes.
func checkHeader(hdr *tar.Header, limit int64) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("backup entry %q is not a regular file (type %q): altered", hdr.Name, hdr.Typeflag)
	}
	if hdr.Size < 0 || hdr.Size > limit {
		return fmt.Errorf("backup entry %q is %d bytes: want at most %d", hdr.Name, hdr.Size, limit)
	}
	return nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("backup truncated: %w", err)
	}
	return err
}

func padded(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Reseal opens the backup in src with identity (a researcher's, see
// [X25519Identity]), checks that its manifest is signed by the server key
// verifier and that every file matches it, and writes the same backup,
// byte for byte inside, sealed to recipients instead (a passphrase: see
// [Passphrase]) to dst. It returns the manifest. On error, what was
// written to dst is not a backup: the caller removes it.
func Reseal(dst io.Writer, src io.Reader, identity age.Identity, verifier note.Verifier, recipients ...age.Recipient) (*Manifest, error) {
	pt, err := age.Decrypt(src, identity)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			if slices.Contains(nomatch.StanzaTypes, "scrypt") {
				return nil, errors.New("this backup is sealed to a passphrase, not to the researchers: it needs no resealing")
			}
			return nil, errors.New("this backup is not sealed to your key: ask another researcher of the study, or check you have the study's backup")
		}
		return nil, fmt.Errorf("failed to open the backup: %w", err)
	}
	enc, err := age.Encrypt(dst, recipients...)
	if err != nil {
		return nil, fmt.Errorf("failed to seal the backup: %w", err)
	}
	br, err := newPlainReader(io.TeeReader(pt, enc))
	if err != nil {
		return nil, err
	}
	if err := br.Verify(verifier); err != nil {
		return nil, err
	}
	for {
		_, _, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("failed to write the resealed backup: %w", err)
	}
	m, _ := OpenManifest(br.signed, verifier)
	return m, nil
}
