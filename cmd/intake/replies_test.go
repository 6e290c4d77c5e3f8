package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/reply"
)

// replyBatch writes a reply batch of n text replies, signed by id, and
// returns its path.
func replyBatch(t *testing.T, id *envelope.Identity, study string, n int) string {
	t.Helper()
	var recs [][]byte
	for i := range n {
		var seed [returnkey.SeedSize]byte
		seed[0] = byte(i)
		c := &reply.Content{Study: study, ID: reply.NewID(), Lang: "en", Text: "Thank you."}
		data, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		rec, err := reply.Seal(returnkey.NewKeys(seed).Address(), 0, id, data)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	path := filepath.Join(t.TempDir(), "replies.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := reply.Write(f, id.Signer(), study, recs); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRepliesCommands(t *testing.T) {
	study, studyID, _, id := testStudy(t)
	dir := storeEnvelopes(t, study, 0)
	good := replyBatch(t, id, studyID, 3)
	stranger, _ := envelope.GenerateIdentity()
	bad := replyBatch(t, stranger, studyID, 1)

	out, _, err := run(t, "replies", "import", "--data", dir, "--config", study, good)
	if err != nil || !strings.Contains(out, "imported 3 reply records") || !strings.Contains(out, "the server holds 3 reply records") {
		t.Fatalf("import: %q, %v", out, err)
	}
	out, _, err = run(t, "replies", "import", "--data", dir, "--config", study, good)
	if err != nil || !strings.Contains(out, "already imported") {
		t.Fatalf("import again: %q, %v", out, err)
	}
	_, _, err = run(t, "replies", "import", "--data", dir, "--config", study, bad)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "not signed by a researcher") || !strings.Contains(err.Error(), "nothing was imported") {
		t.Fatalf("a batch by someone else: %v", err)
	}
	if _, _, err := run(t, "replies", "import", "--data", dir, "--config", study); err == nil {
		t.Fatal("import with no file succeeded")
	}
	if _, _, err := run(t, "replies", "purge", "--data", dir); err == nil {
		t.Fatal("purge without --older-than succeeded")
	}
	out, _, err = run(t, "replies", "purge", "--data", dir, "--older-than", "1")
	if err != nil || !strings.Contains(out, "deleted 0 reply records; the server holds 3 reply records") {
		t.Fatalf("purge of nothing: %q, %v", out, err)
	}
	out, _, err = run(t, "replies", "purge", "--data", dir, "--older-than", "0")
	if err != nil || !strings.Contains(out, "deleted 3 reply records; the server holds 0 reply records") {
		t.Fatalf("purge: %q, %v", out, err)
	}
}
