// Package secretfile reads files that hold secrets — private keys and
// passphrases — and refuses any that other users could read or change.
//
// A secret file must be a regular file (or a pipe, as `<(…)` in a shell
// makes) that grants nothing to group or others: mode 0600 or 0400. The
// permissions are checked on the open file, so a file swapped between the
// check and the read is checked too. The error names the exact command
// that fixes it, `chmod 600 FILE`.
package secretfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// An OpenError is the error for a file that group or others may read or
// change.
type OpenError struct {
	Path string
	Mode fs.FileMode
}

func (e *OpenError) Error() string {
	what := "read"
	if e.Mode&0o044 == 0 {
		what = "changed"
	}
	return fmt.Sprintf("%s can be %s by other users (mode %04o): run `chmod 600 %s`", e.Path, what, e.Mode.Perm(), shellQuote(e.Path))
}

// Read returns the contents of the secret file path, at most max bytes.
func Read(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := check(path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes: is it the right file?", path, max)
	}
	return b, nil
}

// Check reports whether the file at path may hold a secret, as Read does.
func Check(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return check(path, fi)
}

func check(path string, fi fs.FileInfo) error {
	switch {
	case fi.Mode().IsRegular(), fi.Mode()&fs.ModeNamedPipe != 0:
	case fi.IsDir():
		return fmt.Errorf("%s is a folder, not a file", path)
	default:
		return fmt.Errorf("%s is not a regular file", path)
	}
	if runtime.GOOS == "windows" {
		return nil // no Unix permissions; NTFS ACLs are the user's to set
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return &OpenError{Path: path, Mode: fi.Mode().Perm()}
	}
	return nil
}

// shellQuote quotes path for a POSIX shell if it needs quoting.
func shellQuote(path string) string {
	if strings.HasPrefix(path, "-") {
		path = "./" + path
	}
	for _, c := range path {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._-+,@:", c)) {
			return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
		}
	}
	return path
}
