package backup

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/age"
	"github.com/testimony-project/testimony/internal/signedtar"
	"golang.org/x/mod/sumdb/note"
)

// ErrSealedToResearchers is wrapped by the error [NewReader] returns for a
// backup sealed to researchers' keys when it was given none of them: a
// researcher must reseal it to a passphrase first (see [Reseal]).
var ErrSealedToResearchers = errors.New("this backup is sealed to the researchers' keys, not to a passphrase")

// noun names backups in the errors of internal/signedtar.
const noun = "backup"

// Reader reads a backup, checking every byte against its signed manifest.
type Reader struct {
	sr     *signedtar.Reader
	signed []byte
	m      *Manifest
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
	br := &Reader{sr: signedtar.NewReader(pt, noun)}
	var err error
	if br.signed, err = br.sr.ReadManifest(maxManifestSize); err != nil {
		return nil, err
	}
	if br.m, err = ParseUnverifiedManifest(br.signed); err != nil {
		return nil, err
	}
	// Entries are listed by path, but looked up only in order: an entry
	// out of place is reported as found where another is listed.
	br.sr.Expect(signedtar.List{Len: len(br.m.Files), Entry: func(i int) signedtar.Entry {
		f := br.m.Files[i]
		return signedtar.Entry{Name: f.Path, Min: 0, Max: MaxFileSize, SHA256: f.SHA256}
	}})
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
	i, size, err := br.sr.Next()
	if err != nil {
		return File{}, nil, err
	}
	f := br.m.Files[i]
	if size != f.Size {
		return File{}, nil, br.sr.Fail(fmt.Errorf("backup entry %s is %d bytes, the manifest says %d: altered", f.Path, size, f.Size))
	}
	return f, br.sr, nil
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
