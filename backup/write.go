package backup

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
)

// Write writes a backup to w, sealed with age to recipients: the signed
// manifest (made by [Sign]) and every file it lists, read from open in the
// manifest's order. Each file must still hold exactly the bytes the
// manifest lists, or Write fails, naming it: the caller hashed the files
// before signing, and a file that changed since would make a backup that
// does not restore. Write streams: it holds one buffer, whatever the size
// of the files.
func Write(w io.Writer, recipients []age.Recipient, signed []byte, open func(File) (io.ReadCloser, error)) error {
	m, err := ParseUnverifiedManifest(signed)
	if err != nil {
		return err
	}
	if len(recipients) == 0 {
		return errors.New("no recipient to seal the backup to")
	}
	enc, err := age.Encrypt(w, recipients...)
	if err != nil {
		return fmt.Errorf("failed to seal the backup: %w", err)
	}
	mtime, _ := time.Parse(time.DateOnly, m.Day)
	tw := tar.NewWriter(enc)
	if err := writeEntry(tw, manifestName, int64(len(signed)), bytes.NewReader(signed), mtime, nil); err != nil {
		return err
	}
	for _, f := range m.Files {
		r, err := open(f)
		if err != nil {
			return fmt.Errorf("failed to read %s for the backup: %w", f.Path, err)
		}
		h := sha256.New()
		err = writeEntry(tw, f.Path, f.Size, r, mtime, h)
		r.Close()
		if err != nil {
			return err
		}
		if [32]byte(h.Sum(nil)) != f.SHA256 {
			return fmt.Errorf("%s changed while the backup was made: make the backup again", f.Path)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("failed to write the backup: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("failed to write the backup: %w", err)
	}
	return nil
}

// writeEntry writes one entry of size bytes read from r, also into h if
// not nil.
func writeEntry(tw *tar.Writer, name string, size int64, r io.Reader, mtime time.Time, h io.Writer) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o600,
		ModTime:  mtime,
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("failed to write %s into the backup: %w", name, err)
	}
	var w io.Writer = tw
	if h != nil {
		w = io.MultiWriter(tw, h)
	}
	n, err := io.CopyN(w, r, size)
	if err == io.EOF {
		return fmt.Errorf("%s is shorter (%d bytes) than the %d bytes it had when the backup began: make the backup again", name, n, size)
	}
	if err != nil {
		return fmt.Errorf("failed to write %s into the backup: %w", name, err)
	}
	return nil
}
