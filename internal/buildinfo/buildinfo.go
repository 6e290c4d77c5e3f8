// Package buildinfo says which build of testimony is running, for the
// --version of every command.
//
// Everything comes from the build information the Go toolchain embeds in
// every binary (runtime/debug.ReadBuildInfo); nothing is stamped by hand,
// so a binary cannot claim a version it was not built from:
//
//   - `go install github.com/testimony-project/testimony/cmd/...@v1.2.3`
//     reports v1.2.3. A module download carries no version control
//     information, so no commit is printed: the version names it, through
//     the checksum database.
//   - `go build`, `make install` or `make package` in a git checkout
//     report the pseudo-version Go derives from the checkout (for example
//     v0.0.0-20261127094512-cb1dade12345, with "+dirty" when the tree had
//     uncommitted changes), the full commit hash, and "modified" for such a
//     tree.
//   - A build without version control information (-buildvcs=false, a
//     tarball, or a git worktree, whose .git is a file Go does not look
//     into) reports "(devel)" and says that no commit was recorded.
//
// The commit time Go records (vcs.time) is never printed on its own; a
// pseudo-version contains it, as Go writes it.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Info identifies a build.
type Info struct {
	// Version is the main module's version: a release such as v1.2.3, a
	// pseudo-version, or "(devel)" when Go recorded none.
	Version string
	// Revision is the full commit hash the binary was built from, or ""
	// when Go recorded none.
	Revision string
	// Modified reports that the tree had uncommitted changes.
	Modified bool
	// GoVersion is the toolchain that built the binary, such as go1.26.8.
	GoVersion string
}

// Read returns the running binary's build information. It never fails: a
// binary without build information reports Version "(devel)".
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(devel)"}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts an Info from Go build information, such as
// debug/buildinfo.ReadFile returns for another binary.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String formats i for --version, on one line:
//
//	v1.2.3 (go1.26.8)
//	v0.0.0-20261127094512-cb1dade12345 (commit cb1dade12345…, go1.26.8)
//	v0.0.0-20261127094512-cb1dade12345+dirty (commit cb1dade12345…, modified, go1.26.8)
//	(devel) (no commit recorded, go1.26.8)
func (i Info) String() string {
	var details []string
	switch {
	case i.Revision != "":
		details = append(details, "commit "+i.Revision)
		if i.Modified {
			details = append(details, "modified")
		}
	case i.Version == "(devel)":
		details = append(details, "no commit recorded")
	}
	if i.GoVersion != "" {
		details = append(details, i.GoVersion)
	}
	if len(details) == 0 {
		return i.Version
	}
	return fmt.Sprintf("%s (%s)", i.Version, strings.Join(details, ", "))
}
