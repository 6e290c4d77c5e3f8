// Package backup writes and reads the sealed backups of an intake server:
// the keys and records that must survive the loss or seizure of the server,
// and nothing else.
//
// A backup holds what brings a study back at the same onion address with
// the same keys and one continuous audit log: the onion key, the batch
// signing key, the audit log's key and the whole log, every version of the
// study file, the export records the server keeps to match purge receipts,
// and the study binding. It never holds an envelope, pending or exported,
// nor tor's state, caches or logs. Which files those are is the intake
// package's business (see intake.Data.Backup); this package defines the
// format, seals and opens it, and checks everything it reads.
//
// On the server, make a manifest, sign it with [Sign] and write the backup
// with [Write]. To restore, open it with [NewReader] and read each file with
// [Reader.Next]: every byte is checked against the signed manifest before
// Next reports the end. On a researcher's offline machine, [Reseal] opens a
// backup sealed to the researchers and seals it again to a passphrase for
// the operator, checking it whole on the way.
//
// # Format, version 1
//
// A backup is an age file (age-encryption.org/v1, filippo.io/age), sealed
// either to the X25519 keys of the study's researchers (one recipient stanza
// each: a researcher key's X25519 half is an age X25519 recipient, see
// [X25519Recipient]) or to one passphrase (an scrypt stanza, alone, as age
// requires). age streams: a backup of any size is written and read with
// constant memory, and its payload is authenticated chunk by chunk, the end
// included, so that truncation is detected.
//
// The plaintext is a POSIX (ustar) tar archive. Its first entry is named
// "manifest", then comes one entry per file the manifest lists, in the
// manifest's order, named by the file's path, then the end-of-archive marker
// and nothing else. Every entry is a regular file; writers give each mode
// 0600, the modification time of midnight UTC of the backup's day and no
// owner, and readers ignore those fields.
//
// The manifest is a signed note (golang.org/x/mod/sumdb/note) with exactly
// one Ed25519 signature, by the server's batch signing key (the key
// researchers pin to check batches, so a researcher can tell a backup the
// server made from one sealed to the researchers' public keys by anyone
// else). Its text is:
//
//	testimony backup v1
//	study <study id>
//	day <YYYY-MM-DD>
//	onion <56 base32 characters>.onion      (or "onion none")
//	audit-records <n>
//	files <k>
//	<sha256> <size> <path>
//	...
//
// with each line ending in "\n" and no other lines:
//
//   - The study id is 3 to 64 characters of a–z, 0–9 and '-'.
//   - The day is the UTC day the backup was made; a backup records no finer
//     time anywhere.
//   - The onion line names the address of the onion key in the backup, or
//     says there is none (a server that never published one).
//   - n is the number of records of the audit log in the backup.
//   - k, from 1 to [MaxFiles], is the number of file lines that follow: the
//     SHA-256 of the file in 64 lowercase hexadecimal digits, its size in
//     bytes (0 to [MaxFileSize]) and its path, sorted by path (byte order),
//     no two alike. A path is 1 to 255 bytes of segments separated by '/',
//     each of a–z, 0–9, '.', '_' and '-', not starting with '.'.
//
// Numbers are decimal without sign or leading zeros. The encoding is
// canonical: a manifest that parses formats back to the same bytes. The
// SHA-256 of the signed manifest (signature included) names the backup: the
// audit record service-restored carries it.
package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/signednote"
	"github.com/testimony-project/testimony/internal/signedtar"
	"golang.org/x/mod/sumdb/note"
)

// Limits a backup must respect. Readers refuse a backup beyond them, and
// writers refuse to produce one.
const (
	// MaxFiles is the largest number of files in one backup.
	MaxFiles = 1_000_000
	// MaxFileSize is the largest file, in bytes: more than an audit log of
	// ten million records.
	MaxFileSize = 16 << 30
	// MaxPathLen is the longest path.
	MaxPathLen = 255
	// maxManifestSize bounds the signed manifest: a file line is at most
	// 64+1+11+1+255+1 bytes.
	maxManifestSize = 350 << 20
)

const formatLine = "testimony backup v1"

// File is one file in a backup.
type File struct {
	// Path is the file's path relative to the data directory, such as
	// "keys/server.key".
	Path string
	// Size is its size in bytes.
	Size int64
	// SHA256 is the SHA-256 of its bytes.
	SHA256 [32]byte
}

// Manifest is the signed table of contents of a backup.
type Manifest struct {
	// StudyID is the study the data directory serves.
	StudyID string
	// Day is the UTC day the backup was made, as YYYY-MM-DD.
	Day string
	// Onion is the onion address ("….onion") of the onion key in the
	// backup, or "" if it holds none.
	Onion string
	// AuditRecords is the number of records of the audit log in the backup.
	AuditRecords int64
	// Files lists the files, sorted by Path.
	Files []File
	// Hash is the SHA-256 of the signed manifest, signature included, as it
	// appears in the backup: the backup's name in the audit log.
	Hash [32]byte
}

// DayOf returns t's UTC day, as the manifest writes it.
func DayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Sign checks m, formats it and signs it with signer (the server's batch
// signing key), and sets m.Hash. It returns the signed manifest.
func Sign(m *Manifest, signer note.Signer) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	msg, err := note.Sign(&note.Note{Text: string(format(m))}, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to sign backup manifest: %w", err)
	}
	m.Hash = sha256.Sum256(msg)
	return msg, nil
}

// check checks that m fits the format.
func (m *Manifest) check() error {
	if err := envelope.CheckStudyID(m.StudyID); err != nil {
		return fmt.Errorf("malformed backup manifest: %w", err)
	}
	if _, err := time.Parse(time.DateOnly, m.Day); err != nil || len(m.Day) != 10 {
		return fmt.Errorf("malformed backup manifest: day %q is not YYYY-MM-DD", m.Day)
	}
	if m.Onion != "" && !validOnion(m.Onion) {
		return fmt.Errorf("malformed backup manifest: onion address %q", m.Onion)
	}
	if m.AuditRecords < 0 {
		return fmt.Errorf("malformed backup manifest: %d audit records", m.AuditRecords)
	}
	if len(m.Files) == 0 || len(m.Files) > MaxFiles {
		return fmt.Errorf("malformed backup manifest: %d files, want 1 to %d", len(m.Files), MaxFiles)
	}
	for i, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return fmt.Errorf("malformed backup manifest: %w", err)
		}
		if f.Size < 0 || f.Size > MaxFileSize {
			return fmt.Errorf("malformed backup manifest: %s is %d bytes, want 0 to %d", f.Path, f.Size, int64(MaxFileSize))
		}
		if i > 0 && m.Files[i-1].Path >= f.Path {
			return fmt.Errorf("malformed backup manifest: %s listed after %s: files must be sorted and unique", f.Path, m.Files[i-1].Path)
		}
	}
	return nil
}

// CheckPath checks that p is a path a backup may hold: 1 to [MaxPathLen]
// bytes of segments separated by '/', each of a–z, 0–9, '.', '_' and '-',
// not starting with '.'. Such a path never leaves the folder it is
// restored into.
func CheckPath(p string) error {
	if p == "" || len(p) > MaxPathLen || p == signedtar.ManifestName {
		return fmt.Errorf("malformed path %q in backup", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg[0] == '.' {
			return fmt.Errorf("malformed path %q in backup", p)
		}
		for _, c := range []byte(seg) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("malformed path %q in backup", p)
			}
		}
	}
	return nil
}

func validOnion(s string) bool {
	id, ok := strings.CutSuffix(s, ".onion")
	if !ok || len(id) != 56 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// format returns the manifest's note text.
func format(m *Manifest) []byte {
	var b bytes.Buffer
	b.Grow(96 + len(m.Files)*(64+1+11+1+80+1))
	onion := m.Onion
	if onion == "" {
		onion = "none"
	}
	fmt.Fprintf(&b, "%s\nstudy %s\nday %s\nonion %s\naudit-records %d\nfiles %d\n", formatLine, m.StudyID, m.Day, onion, m.AuditRecords, len(m.Files))
	for _, f := range m.Files {
		b.WriteString(hex.EncodeToString(f.SHA256[:]))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(f.Size, 10))
		b.WriteByte(' ')
		b.WriteString(f.Path)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// parse parses a manifest's note text strictly.
func parse(text []byte) (*Manifest, error) {
	l := signednote.NewLines(text, "backup manifest")
	if err := l.Header(formatLine, "testimony backup"); err != nil {
		return nil, err
	}
	m := &Manifest{}
	var err error
	if m.StudyID, err = l.Field("study"); err != nil {
		return nil, err
	}
	if m.Day, err = l.Field("day"); err != nil {
		return nil, err
	}
	if m.Onion, err = l.Field("onion"); err != nil {
		return nil, err
	}
	if m.Onion == "none" {
		m.Onion = ""
	}
	v, err := l.Field("audit-records")
	if err != nil {
		return nil, err
	}
	var ok bool
	if m.AuditRecords, ok = signednote.ParseDecimal(v, 0, int64(1<<62)); !ok {
		return nil, l.Errorf("malformed audit-records count %.80q: want 0 to %d", v, int64(1<<62))
	}
	k, err := l.Count("files", "files count", 1, MaxFiles)
	if err != nil {
		return nil, err
	}
	// Each file line takes at least 69 bytes: bound the allocation by what
	// is there, not by what the count claims.
	m.Files = make([]File, 0, min(k, l.Len()/69+1))
	for i := range k {
		line, err := l.Item(i, k, "file")
		if err != nil {
			return nil, err
		}
		h, rest, ok1 := strings.Cut(line, " ")
		size, path, ok2 := strings.Cut(rest, " ")
		f := File{Path: path}
		if !ok1 || !ok2 || !signednote.ParseHex(f.SHA256[:], h) {
			return nil, l.Errorf("malformed file line %.80q: want <sha256> <size> <path>", line)
		}
		if f.Size, ok = signednote.ParseDecimal(size, 0, int64(MaxFileSize)); !ok {
			return nil, l.Errorf("malformed file size %.80q: want 0 to %d", size, int64(MaxFileSize))
		}
		m.Files = append(m.Files, f)
	}
	if err := l.End(k, "file"); err != nil {
		return nil, err
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	if !bytes.Equal(format(m), text) {
		return nil, errors.New("malformed backup manifest: not in canonical form")
	}
	return m, nil
}

// OpenManifest checks that the signed manifest msg carries exactly one
// signature, valid for verifier, and nothing else, and parses it. Its Hash
// is the SHA-256 of msg.
func OpenManifest(msg []byte, verifier note.Verifier) (*Manifest, error) {
	kind := signednote.Kind{
		What:    "backup manifest",
		Signers: fmt.Sprintf("the server key %.64q+%08x", verifier.Name(), verifier.KeyHash()),
		Hint:    "it was not made by this server, or was altered",
	}
	n, err := kind.Open(msg, verifier)
	if err != nil {
		return nil, err
	}
	m, err := parse([]byte(n.Text))
	if err != nil {
		return nil, err
	}
	m.Hash = sha256.Sum256(msg)
	return m, nil
}

// unverifiedKind names manifests in the errors of ParseUnverifiedManifest.
var unverifiedKind = signednote.Kind{What: "backup manifest"}

// ParseUnverifiedManifest parses the signed manifest msg without checking
// its signature, for a reader that learns the verifier key from the backup
// itself. Use [OpenManifest] as soon as the key is known.
func ParseUnverifiedManifest(msg []byte) (*Manifest, error) {
	if len(msg) > maxManifestSize {
		return nil, fmt.Errorf("backup manifest is larger than %d bytes", maxManifestSize)
	}
	text, err := unverifiedKind.UnverifiedText(msg)
	if err != nil {
		return nil, err
	}
	m, err := parse(text)
	if err != nil {
		return nil, err
	}
	m.Hash = sha256.Sum256(msg)
	return m, nil
}

// SortFiles sorts files by path, as a manifest lists them.
func SortFiles(files []File) {
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
}
