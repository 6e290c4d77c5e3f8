package secretfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRefusesFilesOpenToOthers(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		mode os.FileMode
		ok   bool
		say  string
	}{
		{0o600, true, ""}, {0o400, true, ""}, {0o700, true, ""},
		{0o640, false, "read"}, {0o604, false, "read"}, {0o644, false, "read"}, {0o620, false, "changed"}, {0o602, false, "changed"}, {0o660, false, "read"},
	} {
		path := filepath.Join(dir, "key")
		os.Remove(path)
		if err := os.WriteFile(path, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		b, err := Read(path, 100)
		if c.ok {
			if err != nil || string(b) != "secret" {
				t.Errorf("mode %o: %q, %v", c.mode, b, err)
			}
			continue
		}
		var oe *OpenError
		if !errors.As(err, &oe) || oe.Path != path || oe.Mode != c.mode {
			t.Errorf("mode %o: %v, want an OpenError", c.mode, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "can be "+c.say+" by other users") || !strings.HasSuffix(msg, "run `chmod 600 "+path+"`") || strings.Contains(msg, "\n") {
			t.Errorf("mode %o: message %q", c.mode, msg)
		}
		if Check(path) == nil {
			t.Errorf("mode %o: Check accepts what Read refuses", c.mode)
		}
	}
}

// TestTheFixWorks runs the command the error gives, in a shell, on a path
// that needs quoting, and reads the file afterwards.
func TestTheFixWorks(t *testing.T) {
	for _, name := range []string{"key file", "-key", "it's", "키"} {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0o644)
		_, err := Read(path, 10)
		if err == nil {
			t.Fatal("mode 644 accepted")
		}
		_, fix, _ := strings.Cut(err.Error(), "run `")
		fix = strings.TrimSuffix(fix, "`")
		cmd := exec.Command("sh", "-c", fix)
		cmd.Dir = filepath.Dir(path)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", fix, err, out)
		}
		if _, err := Read(path, 10); err != nil {
			t.Fatalf("after %s: %v", fix, err)
		}
	}
	// A relative path starting with '-' is not taken for an option.
	if q := shellQuote("-key"); q != "./-key" {
		t.Errorf("shellQuote(-key) = %q", q)
	}
}

func TestRefusesOthers(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir, 10); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Errorf("a folder: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 11), 0o600)
	if _, err := Read(big, 10); err == nil {
		t.Error("a file over the limit was read")
	}
	if _, err := Read("/dev/null", 10); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a device: %v", err)
	}
}

// TestPipe reads a passphrase from a pipe, as `--passphrase-file <(pass
// show key)` gives one.
func TestPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no mkfifo:", err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			f.WriteString("pass\n")
			f.Close()
		}
	}()
	b, err := Read(fifo, 100)
	if err != nil || string(b) != "pass\n" {
		t.Fatalf("Read(fifo) = %q, %v", b, err)
	}
}
