package researcher

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/testimony-project/testimony/batch"
	"golang.org/x/mod/sumdb/note"
)

// ServerKeys returns the verifier to give [Workspace.Import] and
// [Workspace.Resume] when a study is served by several servers behind one
// onion address (Onionbalance): each server
// signs its batches with a key of its own, and the researchers import the
// batches of all of them into one workspace. A batch is then accepted if it
// is signed by any one of keys, and refused, naming them all, if by none.
// With one key, ServerKeys returns it. Keys given twice count once.
//
// The verifier it returns verifies nothing by itself: it only tells the
// workspace which keys to choose from, batch by batch.
func ServerKeys(keys ...note.Verifier) note.Verifier {
	var ks serverKeys
	for _, k := range keys {
		if !containsKey(ks, k) {
			ks = append(ks, k)
		}
	}
	if len(ks) == 1 {
		return ks[0]
	}
	return ks
}

func containsKey(ks []note.Verifier, k note.Verifier) bool {
	for _, have := range ks {
		if have.Name() == k.Name() && have.KeyHash() == k.KeyHash() {
			return true
		}
	}
	return false
}

// serverKeys is a set of server keys. As a note.Verifier it fails closed:
// it matches no signature.
type serverKeys []note.Verifier

func (ks serverKeys) Name() string {
	var names []string
	for _, k := range ks {
		names = append(names, fmt.Sprintf("%s+%08x", k.Name(), k.KeyHash()))
	}
	return "one of " + strings.Join(names, ", ")
}

func (serverKeys) KeyHash() uint32             { return 0 }
func (serverKeys) Verify(msg, sig []byte) bool { return false }

// maxManifest bounds the manifest read to choose a key; batch refuses
// larger ones anyway.
const maxManifest = 96 << 20

// openBatch is batch.NewReader for a server key or a set of them: for a
// set, it reads the batch's manifest to find which key signed it, then
// reads the batch from the start with that key.
func openBatch(r io.Reader, server note.Verifier) (*batch.Reader, error) {
	ks, ok := server.(serverKeys)
	if !ok {
		return batch.NewReader(r, server)
	}
	var read bytes.Buffer
	chosen, err := ks.signer(io.TeeReader(r, &read))
	if err != nil {
		return nil, err
	}
	return batch.NewReader(io.MultiReader(&read, r), chosen)
}

// signer reads the first tar entry of a batch and returns the key of ks
// whose signature it carries. If it cannot tell (not a batch, damaged,
// truncated), it returns the first key, for batch.NewReader to say what is
// wrong.
func (ks serverKeys) signer(r io.Reader) (note.Verifier, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "manifest" || hdr.Size < 0 || hdr.Size > maxManifest {
		return ks[0], nil
	}
	msg, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
	if err != nil {
		return ks[0], nil
	}
	n, err := note.Open(msg, note.VerifierList(ks...))
	var unverified *note.UnverifiedNoteError
	switch {
	case err == nil && len(n.Sigs) > 0:
		for _, k := range ks {
			if k.Name() == n.Sigs[0].Name && k.KeyHash() == n.Sigs[0].Hash {
				return k, nil
			}
		}
	case errors.As(err, &unverified):
		var by []string
		for i, s := range unverified.Note.UnverifiedSigs {
			if i == 3 {
				by = append(by, fmt.Sprintf("and %d more", len(unverified.Note.UnverifiedSigs)-3))
				break
			}
			by = append(by, fmt.Sprintf("%.64q+%08x", s.Name, s.Hash))
		}
		return nil, fmt.Errorf("batch manifest is signed by %s, which is none of the %d pinned server keys (%s): check --server-key, or the batch is not from a server of this study",
			strings.Join(by, ", "), len(ks), ks.Name()[len("one of "):])
	}
	return ks[0], nil
}
