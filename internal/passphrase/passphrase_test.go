package passphrase

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadFile(t *testing.T) {
	var stderr bytes.Buffer
	p, err := Read(write(t, "gravel ninja tundra pocket lumen\r\n", 0o600), "", false, &stderr)
	if err != nil || string(p) != "gravel ninja tundra pocket lumen" {
		t.Fatalf("Read = %q, %v", p, err)
	}
	path := write(t, "gravel ninja tundra pocket lumen\n", 0o644)
	if _, err := Read(path, "", false, &stderr); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("a passphrase file others can read: %v", err)
	}
	for _, empty := range []string{"", "\n", "\r\n\n"} {
		if _, err := Read(write(t, empty, 0o600), "", false, &stderr); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Fatalf("empty passphrase file %q: %v", empty, err)
		}
	}
	if stderr.Len() != 0 {
		t.Fatalf("reading an existing passphrase printed %q", stderr.String())
	}
}

func TestNewPassphraseWarnsWhenWeak(t *testing.T) {
	for _, c := range []struct {
		pass string
		weak bool
	}{
		{"a", true}, {"password", true}, {"Tr0ub4dor&3", true}, {"testimony2026", true}, {"삼천리", true},
		{strings.Repeat("a", 500), true},
		{"gravel ninja tundra pocket lumen", false}, {"ocean-maple-river-quantum-basil", false},
	} {
		var stderr bytes.Buffer
		p, err := Read(write(t, c.pass+"\n", 0o600), "", true, &stderr)
		if err != nil || string(p) != c.pass {
			t.Fatalf("%q: Read = %q, %v (a weak passphrase is warned about, not refused)", c.pass, p, err)
		}
		warned := strings.Contains(stderr.String(), "weak passphrase")
		if warned != c.weak {
			t.Errorf("%q: warned = %v, want %v (estimate %+v)", c.pass, warned, c.weak, Estimate([]byte(c.pass)))
		}
		if warned && (strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "longer")) {
			t.Errorf("%q: warning %q", c.pass, stderr.String())
		}
	}
}

func TestWarningSaysHowLong(t *testing.T) {
	for _, c := range []struct {
		guesses float64
		want    string
	}{
		{12, "less than a second"},
		{3e5, "about 30 seconds"},
		{1e8, "about 3 hours"},
		{1e11, "about 116 days"},
		{1e12, "about 3 years"},
	} {
		w := Strength{Score: 1, Guesses: c.guesses}.Warning()
		if !strings.Contains(w, c.want) {
			t.Errorf("%g guesses: %q, want %q", c.guesses, w, c.want)
		}
	}
}
