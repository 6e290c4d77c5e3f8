package researcher

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/handover"
	"golang.org/x/mod/sumdb/note"
)

// A batch the workspace keeps was checked against the server's key when it
// was imported, and the registry records the SHA-256 of its signed
// manifest. Reading it again needs no server key: the manifest is pinned
// by that hash (pinnedVerifier), and the batch reader checks every envelope
// against the manifest as before.

// openKeptBatch starts reading the kept batch at path, whose signed
// manifest has SHA-256 hash.
func openKeptBatch(path, hash string) (*os.File, *batch.Reader, error) {
	v, err := pinnedVerifierFor(path, hash)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	br, err := batch.NewReader(f, v)
	if err == nil && hexKey(br.Manifest().Hash) != hash {
		err = errors.New("it holds another batch than the registry records")
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, br, nil
}

// pinnedVerifier accepts the signature of the one manifest whose SHA-256
// was checked: it is used only after the manifest's bytes were compared
// with the hash the registry records, and the batch reader compares them
// again.
type pinnedVerifier struct {
	name string
	hash uint32
}

func (v pinnedVerifier) Name() string            { return v.name }
func (v pinnedVerifier) KeyHash() uint32         { return v.hash }
func (v pinnedVerifier) Verify(_, _ []byte) bool { return true }

// pinnedVerifierFor reads the manifest of the batch at path, checks that
// its SHA-256 is hash, and returns a verifier for its signature.
func pinnedVerifierFor(path, hash string) (note.Verifier, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "manifest" || hdr.Size > 96<<20 {
		return nil, errors.New("it does not start with a batch manifest")
	}
	msg, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
	if err != nil {
		return nil, fmt.Errorf("failed to read batch: %w", err)
	}
	if hexKey(sha256.Sum256(msg)) != hash {
		return nil, errors.New("its manifest is not the one the registry records")
	}
	// The signature line: "— <name> <base64(key hash || signature)>".
	i := bytes.LastIndex(msg, []byte("\n— "))
	if i < 0 {
		return nil, errors.New("its manifest is not signed")
	}
	name, b64, ok := strings.Cut(strings.TrimSuffix(string(msg[i+len("\n— "):]), "\n"), " ")
	sig, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(sig) < 4 {
		return nil, errors.New("its manifest's signature is malformed")
	}
	return pinnedVerifier{name: name, hash: binary.BigEndian.Uint32(sig)}, nil
}

// handoverEntries starts reading the handover file in r, whose SHA-256
// must be want unless want is empty, checking its signature against
// verifiers, and returns its envelopes with their content keys, unsealed
// with the researcher's key.
func (w *Workspace) handoverEntries(r io.Reader, want string, verifiers []note.Verifier) (entries, *handover.Reader, error) {
	hr, err := handover.NewReader(r, verifiers)
	if err != nil {
		return nil, nil, err
	}
	m := hr.Manifest()
	if m.StudyID != w.study.ID {
		return nil, nil, fmt.Errorf("the handover is for study %q, not %q", m.StudyID, w.study.ID)
	}
	o, err := m.Opener(w.id)
	if err != nil {
		return nil, nil, err
	}
	i := 0
	next := func() ([32]byte, []byte, *[32]byte, error) {
		env, err := hr.Next()
		if err == io.EOF {
			o.Close()
			if sum, _ := hr.SHA256(); want != "" && hexKey(sum) != want {
				return [32]byte{}, nil, nil, errors.New("it is not the handover file the registry records")
			}
		}
		if err != nil {
			return [32]byte{}, nil, nil, err
		}
		e := m.Entries[i]
		i++
		k, err := o.Key(e)
		if err != nil {
			return [32]byte{}, nil, nil, err
		}
		return e.SHA256, env, &k, nil
	}
	return next, hr, nil
}

// keptVerifiers returns the signing keys of every researcher of every
// version of the study the workspace holds: a handover file the workspace
// kept was checked against the researchers of its day, and is pinned by
// its hash since.
func (w *Workspace) keptVerifiers() []note.Verifier {
	var out []note.Verifier
	seen := map[string]bool{}
	for _, v := range w.versions {
		keys, err := v.RecipientKeys()
		if err != nil {
			continue
		}
		for _, k := range keys {
			if !seen[k.String()] {
				seen[k.String()] = true
				out = append(out, k.Verifier())
			}
		}
	}
	return out
}
