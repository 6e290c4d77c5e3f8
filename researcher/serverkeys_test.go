package researcher

import (
	"bytes"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"golang.org/x/mod/sumdb/note"
)

// otherServer returns a second server of f's study: a batch key of its own.
func otherServer(t *testing.T, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := batch.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

func batchBy(t *testing.T, s note.Signer, study *config.Study, envs ...batch.Envelope) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := batch.Write(&b, s, study.ID, envs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestServerKeys imports the batches of two servers of one study (two
// Onionbalance backends, each with its own batch key) into one workspace,
// and refuses a batch signed by neither.
func TestServerKeys(t *testing.T) {
	f := newFixture(t)
	s2, v2 := otherServer(t, "test-server")             // same name, another key
	s3, v3 := otherServer(t, "another-test-server")     // never pinned
	keys := []note.Verifier{f.verifier, v2, f.verifier} // one given twice counts once
	dir := t.TempDir()
	one := f.batch(t, f.envelope(t, "to the first server"))
	two := batchBy(t, s2, f.study, f.envelope(t, "to the second server"), f.quarantinedEnvelope(t))
	if err := decryptRunServers(dir, f.study, f.ids[0], keys, one, two); err != nil {
		t.Fatal(err)
	}
	ws, err := Open(dir, f.study, f.ids[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Len() != 2 || len(ws.Quarantined()) != 1 {
		t.Fatalf("%d testimonies, quarantine %v; want 2 and 1", ws.Len(), ws.Quarantined())
	}
	// The kept batches of both servers are read again.
	if re, err := ws.Reexamine(nil); err != nil || re.Missing != 0 {
		t.Fatalf("Reexamine of both servers' batches: %+v, %v", re, err)
	}
	ws.Close()

	// A batch signed by a server not pinned is refused, naming the keys
	// that were; the workspace is unchanged.
	three := batchBy(t, s3, f.study, f.envelope(t, "to a stranger"))
	err = decryptRunServers(dir, f.study, f.ids[0], keys, three)
	if err == nil || !strings.Contains(err.Error(), "not signed by one of the 2 pinned server keys") || !strings.Contains(err.Error(), "another-test-server") {
		t.Fatalf("a batch of an unpinned server: err = %v", err)
	}
	// Each key alone refuses the other server's batch, as before.
	if err := decryptRun(t.TempDir(), f.study, f.ids[0], f.verifier, two); err == nil || !strings.Contains(err.Error(), "not signed by the pinned server key") {
		t.Fatalf("the second server's batch with the first server's key: err = %v", err)
	}
	if err := decryptRunServers(t.TempDir(), f.study, f.ids[0], []note.Verifier{f.verifier, v3}, append(append([]byte{}, two[:600]...), 0)); err == nil {
		t.Fatal("a truncated batch was accepted")
	}
}
