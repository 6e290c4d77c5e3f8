package backup

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
	"github.com/testimony-project/testimony/internal/signedtar"
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
	tw := signedtar.NewWriter(enc, noun, mtime)
	if err := tw.WriteEntry(signedtar.ManifestName, int64(len(signed)), bytes.NewReader(signed)); err != nil {
		return err
	}
	for _, f := range m.Files {
		r, err := open(f)
		if err != nil {
			return fmt.Errorf("failed to read %s for the backup: %w", f.Path, err)
		}
		h := sha256.New()
		err = tw.WriteEntry(f.Path, f.Size, io.TeeReader(r, h))
		r.Close()
		if err != nil {
			return err
		}
		if [32]byte(h.Sum(nil)) != f.SHA256 {
			return fmt.Errorf("%s changed while the backup was made: make the backup again", f.Path)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("failed to write the backup: %w", err)
	}
	return nil
}
