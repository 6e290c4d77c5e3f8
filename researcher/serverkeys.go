package researcher

import (
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
// The verifier it returns verifies nothing by itself: it only carries the
// keys to the workspace, which gives them all to the batch reader.
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

// openBatch is batch.NewReader for a server key or a set of them.
func openBatch(r io.Reader, server note.Verifier) (*batch.Reader, error) {
	if ks, ok := server.(serverKeys); ok {
		return batch.NewReader(r, ks...)
	}
	return batch.NewReader(r, server)
}
