// Package clitest runs cobra command trees in tests, as a user would from a
// shell, and checks what every command promises in its --help.
package clitest

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// Run runs the command tree that newRoot makes with args, and returns its
// standard output, standard error and error.
func Run(t testing.TB, newRoot func(stdout, stderr io.Writer) *cobra.Command, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// CheckExamples fails t for every runnable command of the tree that has no
// example in its --help.
func CheckExamples(t testing.TB, root *cobra.Command) {
	t.Helper()
	for _, sub := range root.Commands() {
		if sub.Name() == "help" || sub.Name() == "completion" {
			continue
		}
		if sub.Runnable() && sub.Example == "" {
			t.Errorf("%s has no example in --help", sub.CommandPath())
		}
		CheckExamples(t, sub)
	}
}

// Buffer is a bytes.Buffer safe for concurrent use, for output written by
// a server while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Bytes returns a copy of what was written so far.
func (s *Buffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}
