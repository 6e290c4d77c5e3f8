package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	rev := "cb1dade12345678901234567890123456789abcd"
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"v1.2.3 (go1.26.8)"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261127094512-cb1dade12345"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-11-27T09:45:12Z"}, {Key: "vcs.modified", Value: "false"}}},
			"v0.0.0-20261127094512-cb1dade12345 (commit " + rev + ", go1.26.8)"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261127094512-cb1dade12345+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}},
			"v0.0.0-20261127094512-cb1dade12345+dirty (commit " + rev + ", modified, go1.26.8)"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"(devel) (no commit recorded, go1.26.8)"},
		{debug.BuildInfo{},
			"(devel) (no commit recorded)"},
	} {
		if got := FromBuildInfo(&tc.bi).String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestStringNeverPrintsTheCommitTime(t *testing.T) {
	bi := debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.0.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "2026-11-27T09:45:12Z"}}}
	if s := FromBuildInfo(&bi).String(); strings.Contains(s, "09:45") || strings.Contains(s, "2026") {
		t.Fatalf("String() = %q: it prints the commit time", s)
	}
}

func TestReadInThisBinary(t *testing.T) {
	if got := Read(); got.GoVersion != runtime.Version() || got.Version == "" {
		t.Fatalf("Read() = %+v, want GoVersion %s and a version", got, runtime.Version())
	}
}

// TestBuiltBinary builds a program with this package in a real git
// repository, as `go build` in a checkout does, and checks that it reports
// the commit, then a modified tree, then a release tag.
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three binaries")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	src, err := os.ReadFile("buildinfo.go")
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/v\n\ngo 1.22\n")
	write("buildinfo/buildinfo.go", string(src))
	write("main.go", "package main\n\nimport \"example.com/v/buildinfo\"\n\nfunc main() { println(buildinfo.Read().String()) }\n")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	version := func() string {
		t.Helper()
		bin := filepath.Join(t.TempDir(), "v")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", bin, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "first")
	rev := git("rev-parse", "HEAD")
	clean := version()
	if !regexp.MustCompile(`^v0\.0\.0-\d{14}-` + rev[:12] + ` \(commit ` + rev + `, go1\.[0-9.]+.*\)$`).MatchString(clean) {
		t.Errorf("clean checkout: %q, want the pseudo-version and commit %s", clean, rev)
	}

	write("main.go", "package main\n\nimport \"example.com/v/buildinfo\"\n\nfunc main() { println(buildinfo.Read().String()) }\n\n// edited\n")
	if dirty := version(); !strings.Contains(dirty, "+dirty (commit "+rev+", modified, go") {
		t.Errorf("modified tree: %q, want +dirty, the commit and \"modified\"", dirty)
	}

	git("commit", "-q", "-am", "second")
	git("tag", "v1.2.3")
	rev = git("rev-parse", "HEAD")
	if tagged := version(); !strings.HasPrefix(tagged, "v1.2.3 (commit "+rev+", go") {
		t.Errorf("tagged commit: %q, want v1.2.3 and commit %s", tagged, rev)
	}
}
