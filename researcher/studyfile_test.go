package researcher

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
)

func TestAddRemoveRecipient(t *testing.T) {
	example, err := os.ReadFile("../examples/nk-internet-access.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	c, _ := envelope.GenerateIdentity()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"example", example},
		{"flow items", f.yaml},
		{"items at column 0, CRLF", bytes.ReplaceAll(bytes.ReplaceAll(f.yaml, []byte("\n  - {name:"), []byte("\n- {name:")), []byte("\n"), []byte("\r\n"))},
	} {
		old, err := config.Parse("s.yaml", tc.data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		added, s, err := AddRecipient("s.yaml", tc.data, `C "the new one"`, c.Recipient())
		if err != nil {
			t.Fatalf("%s: AddRecipient: %v", tc.name, err)
		}
		if len(s.Recipients) != len(old.Recipients)+1 || s.Recipients[len(old.Recipients)].Name != `C "the new one"` {
			t.Fatalf("%s: recipients after AddRecipient: %+v", tc.name, s.Recipients)
		}
		// Every byte of the original is kept: removing the lines added
		// gives it back.
		if !bytes.Equal(removeLines(added, c.Recipient().String(), "C \\\"the new one\\\""), tc.data) {
			t.Errorf("%s: AddRecipient changed more than it added:\n%s", tc.name, added)
		}
		if _, _, err := AddRecipient("s.yaml", added, "again", c.Recipient()); err == nil || !strings.Contains(err.Error(), "already a recipient") {
			t.Errorf("%s: adding a key twice: %v", tc.name, err)
		}
		removed, s2, err := RemoveRecipient("s.yaml", added, c.Recipient().Fingerprint())
		if err != nil {
			t.Fatalf("%s: RemoveRecipient: %v", tc.name, err)
		}
		if !bytes.Equal(removed, tc.data) || s2.Version() != old.Version() {
			t.Errorf("%s: adding then removing a recipient does not give the file back:\n%s", tc.name, removed)
		}
		// Removing the first recipient leaves the others.
		first, _ := envelope.ParseRecipient(old.Recipients[0].PublicKey)
		_, s3, err := RemoveRecipient("s.yaml", added, first.Fingerprint())
		if err != nil || len(s3.Recipients) != len(old.Recipients) || s3.Recipients[0].PublicKey == old.Recipients[0].PublicKey {
			t.Errorf("%s: removing the first recipient: %v %+v", tc.name, err, s3)
		}
	}
	for _, tc := range []struct{ name, data, says string }{
		{"flow list", strings.Replace(strings.Replace(strings.Replace(string(f.yaml), "recipients:\n  - {name: A,", "recipients: [{name: A,", 1), "}\n  - {name: B,", "}, {name: B,", 1), "}\nquestions:", "}]\nquestions:", 1), "not list its recipients as a block"},
	} {
		if _, err := config.Parse("s.yaml", []byte(tc.data)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, _, err := AddRecipient("s.yaml", []byte(tc.data), "C", c.Recipient())
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.says)
		}
	}
	one := bytes.Replace(f.yaml, []byte("  - {name: B, public_key: "+f.ids[1].Recipient().String()+"}\n"), nil, 1)
	if _, _, err := RemoveRecipient("s.yaml", one, f.ids[0].Recipient().Fingerprint()); err == nil || !strings.Contains(err.Error(), "only recipient") {
		t.Errorf("removing the only recipient: %v", err)
	}
}

// removeLines removes the lines holding any of the strings.
func removeLines(data []byte, strs ...string) []byte {
	var out [][]byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		keep := true
		for _, s := range strs {
			if bytes.Contains(l, []byte(s)) {
				keep = false
			}
		}
		if keep {
			out = append(out, l)
		}
	}
	return bytes.Join(out, nil)
}
