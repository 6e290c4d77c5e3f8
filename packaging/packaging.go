// Package packaging builds testimony's Debian package, with nfpm
// (github.com/goreleaser/nfpm/v2) as a library. `make package` runs it
// through cmd/mkdeb and writes dist/testimony_VERSION_ARCH.deb.
//
// It is a module of its own: nfpm brings about thirty modules (go-git, SSH
// and OpenPGP libraries, template helpers) that have no business in the
// module graph of the programs that hold the keys. The binaries in the
// package are built from the main module exactly as `go build` would, so
// nothing of this module ends up in them.
//
// # What the package holds
//
//	/usr/bin/intake, researcher, auditor         -trimpath, static (CGO_ENABLED=0), stripped
//	/usr/share/man/man1/*.1.gz                   every command's --help, as man pages
//	/usr/share/bash-completion, zsh, fish        shell completions from each binary
//	/usr/share/doc/testimony/                    README.md, SECURITY.md, examples/
//	/etc/testimony/study.yaml                    conffile: the example study, to be replaced
//	/usr/lib/systemd/system/testimony.service    `intake serve`, hardened (files/testimony.service)
//	/usr/lib/sysusers.d/testimony.conf           the system user "testimony"
//
// It depends on Debian's tor. postinst creates the user (systemd-sysusers,
// or adduser where systemd is absent) and /var/lib/testimony (0700); it does
// not start the service, which has no study yet. prerm stops and disables
// it on removal; purge keeps /var/lib/testimony, which may hold envelopes
// nobody has exported and the keys that keep the onion address.
//
// # Version
//
// The package version comes from the binaries' own build information, so
// the package and `intake --version` always agree: v1.2.3 becomes 1.2.3, a
// pre-release or pseudo-version such as v0.0.0-20261127094512-cb1dade12345
// becomes 0.0.0~20261127094512.cb1dade12345 (sorting before the release),
// and a build from a modified tree keeps its "+dirty". Go records no
// version control information in a git worktree (its .git is a file) or a
// tarball; the version then comes from git when it can, with a warning,
// and is 0.0.0~unknown otherwise. Every file in the package carries the
// commit's UTC day as its time (or SOURCE_DATE_EPOCH, to the day), so two
// builds of one commit give the same bytes.
//
// # Tests
//
// The tests build the package and check it with dpkg-deb, systemd-analyze
// and the packaged binaries. With TESTIMONY_PACKAGE_CHROOT=1, as root (make
// package-test), they also install it with apt in a Debian chroot, and run
// testimony.service under systemd in a systemd-nspawn container whose tor
// joins a private Tor network (internal/tornet of the main module, which
// this module reaches through a replace directive, for its tests only).
//
// # Why tor runs inside the service's unit
//
// `intake serve` starts tor as its own child and hands it the onion key over
// the control port; tor forwards the service to a Unix socket in the data
// directory. So the unit must allow Internet sockets (AF_INET, AF_INET6),
// and tor, a large C program that talks to the whole Tor network, runs in
// the same sandbox as the store and the batch and audit keys.
//
// Running Debian's tor@default instead, with `intake serve --tor-control`,
// does not help today: --tor-control speaks TCP on 127.0.0.1, so the unit
// still needs AF_INET; whoever holds tor's control port can reconfigure tor
// to reveal the server's address anyway, so restricting intake to loopback
// would protect little; and Debian's tor runs as debian-tor, which cannot
// reach the socket in a data directory that intake (rightly) keeps 0700.
//
// What would help, and is the next step: tor as its own service holding the
// onion key in a HiddenServiceDir (as Onionbalance backends need anyway),
// forwarding to a socket intake listens on, with intake's unit at
// PrivateNetwork=yes and RestrictAddressFamilies=AF_UNIX: intake could then
// neither reach the network nor read the onion key. That needs an `intake
// serve` mode without tor, which this package does not add.
package packaging

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Commands are the binaries the package holds, in cmd/ of the main module.
var Commands = []string{"intake", "researcher", "auditor"}

// summaries are the one-line descriptions of the man pages' NAME sections.
var summaries = map[string]string{
	"intake":     "serve a testimony questionnaire as a Tor onion service and export sealed answers",
	"researcher": "decrypt, check and pseudonymize testimony batches on an offline machine",
	"auditor":    "verify testimony audit logs offline",
}

// Paths of the package's files that other code refers to.
const (
	UnitPath     = "/usr/lib/systemd/system/testimony.service"
	SysusersPath = "/usr/lib/sysusers.d/testimony.conf"
	StudyPath    = "/etc/testimony/study.yaml"
	DocDir       = "/usr/share/doc/testimony"
)

// Options configures [Build].
type Options struct {
	// Repo is the root of the testimony main module. Required.
	Repo string
	// Out is the folder the .deb is written to (created if missing).
	// Required.
	Out string
	// Arch is the GOARCH to build for. The zero value means the
	// architecture of this machine.
	Arch string
	// Log receives progress lines and warnings. The zero value discards
	// them.
	Log io.Writer
}

// Result describes a package that [Build] wrote.
type Result struct {
	Path    string // the .deb
	Version string // its Debian version
	Arch    string // its Debian architecture
}

// Build builds the three binaries, their man pages and completions, and
// writes the package to opts.Out.
func Build(ctx context.Context, opts Options) (*Result, error) {
	if opts.Repo == "" || opts.Out == "" {
		return nil, errors.New("packaging: Repo and Out are required")
	}
	if opts.Arch == "" {
		opts.Arch = runtime.GOARCH
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	repo, err := filepath.Abs(opts.Repo)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(repo, "cmd", "intake")); err != nil {
		return nil, fmt.Errorf("%s is not the testimony repository (no cmd/intake): %w", repo, err)
	}
	stage, err := os.MkdirTemp("", "testimony-package-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	fmt.Fprintf(logw, "building %s for linux/%s\n", strings.Join(Commands, ", "), opts.Arch)
	bin := filepath.Join(stage, "bin")
	if err := goBuild(ctx, repo, bin, opts.Arch); err != nil {
		return nil, err
	}
	v, err := versionOf(ctx, repo, filepath.Join(bin, "intake"), logw)
	if err != nil {
		return nil, err
	}
	mtime, err := packageTime(ctx, repo)
	if err != nil {
		return nil, err
	}

	// Man pages and completions come from running the binaries, so they
	// need binaries of this machine.
	helpBin := bin
	if opts.Arch != runtime.GOARCH {
		helpBin = filepath.Join(stage, "host")
		if err := goBuild(ctx, repo, helpBin, runtime.GOARCH); err != nil {
			return nil, err
		}
	}
	var contents files.Contents
	add := func(src, dst, typ string, mode os.FileMode) {
		contents = append(contents, &files.Content{
			Source: src, Destination: dst, Type: typ,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: mtime},
		})
	}
	gen := filepath.Join(stage, "gen")
	if err := os.MkdirAll(gen, 0o755); err != nil {
		return nil, err
	}
	for _, name := range Commands {
		add(filepath.Join(bin, name), "/usr/bin/"+name, "", 0o755)

		page, err := ManPage(ctx, filepath.Join(helpBin, name), summaries[name], v)
		if err != nil {
			return nil, err
		}
		gz := filepath.Join(gen, name+".1.gz")
		if err := writeGzip(gz, page); err != nil {
			return nil, err
		}
		add(gz, "/usr/share/man/man1/"+name+".1.gz", "", 0o644)

		for _, c := range []struct{ shell, dst string }{
			{"bash", "/usr/share/bash-completion/completions/" + name},
			{"zsh", "/usr/share/zsh/vendor-completions/_" + name},
			{"fish", "/usr/share/fish/vendor_completions.d/" + name + ".fish"},
		} {
			out, err := run(ctx, filepath.Join(helpBin, name), "completion", c.shell)
			if err != nil {
				return nil, err
			}
			f := filepath.Join(gen, name+"."+c.shell)
			if err := os.WriteFile(f, out, 0o644); err != nil {
				return nil, err
			}
			add(f, c.dst, "", 0o644)
		}
	}
	add(filepath.Join(repo, "README.md"), DocDir+"/README.md", "", 0o644)
	add(filepath.Join(repo, "SECURITY.md"), DocDir+"/SECURITY.md", "", 0o644)
	add(filepath.Join(repo, "examples", "nk-internet-access.yaml"), DocDir+"/examples/nk-internet-access.yaml", "", 0o644)
	add(filepath.Join(repo, "examples", "nk-internet-access.yaml"), StudyPath, files.TypeConfig, 0o644)
	pkgFiles := filepath.Join(repo, "packaging", "files")
	add(filepath.Join(pkgFiles, "testimony.service"), UnitPath, "", 0o644)
	add(filepath.Join(pkgFiles, "testimony.sysusers"), SysusersPath, "", 0o644)

	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "testimony",
		Arch:          opts.Arch,
		Platform:      "linux",
		Version:       v.Debian,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "testimony project",
		Homepage:      "https://github.com/testimony-project/testimony",
		Description: `anonymous testimony intake over a Tor onion service
testimony collects structured testimony from people at risk so that only
the named researchers can ever read the answers. intake serves the study's
questionnaire as a Tor v3 onion service and stores only answers sealed to
the researchers' keys; researcher decrypts signed batches on an offline
machine; auditor verifies the tamper-evident audit logs.
.
The testimony.service unit runs "intake serve" for the study in
/etc/testimony/study.yaml, sandboxed; it is not started on install.`,
		MTime: mtime,
		Overridables: nfpm.Overridables{
			Depends:  []string{"tor", "adduser | systemd"},
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(pkgFiles, "postinst"),
				PreRemove:   filepath.Join(pkgFiles, "prerm"),
				PostRemove:  filepath.Join(pkgFiles, "postrm"),
			},
			Deb: nfpm.Deb{Compression: "gzip"},
		},
	})
	var buf bytes.Buffer
	if err := deb.Default.Package(info, &buf); err != nil {
		return nil, fmt.Errorf("failed to assemble the package: %w", err)
	}
	debArch := debArchOf(opts.Arch)
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(opts.Out, fmt.Sprintf("testimony_%s_%s.deb", v.Debian, debArch))
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "wrote %s (%d KiB)\n", path, buf.Len()>>10)
	return &Result{Path: path, Version: v.Debian, Arch: debArch}, nil
}

// goBuild builds the commands into dir for linux/arch, as `go build` in
// the repository would, with -trimpath and version control stamping on
// whatever GOFLAGS says.
func goBuild(ctx context.Context, repo, dir, arch string) error {
	args := []string{"build", "-trimpath", "-buildvcs=auto", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}
	for _, c := range Commands {
		args = append(args, "./cmd/"+c)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build failed: %w\n%s", err, out)
	}
	return nil
}

// Version is a build's version, as Go recorded it and as Debian orders it.
type Version struct {
	Go       string // module version, e.g. v1.2.3 or a pseudo-version
	Revision string // full commit hash, or ""
	Modified bool
	Debian   string
}

// versionOf reads the version from bin's build information, or from git
// when Go recorded none.
func versionOf(ctx context.Context, repo, bin string, logw io.Writer) (Version, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return Version{}, fmt.Errorf("failed to read the build information of %s: %w", bin, err)
	}
	v := Version{Go: bi.Main.Version}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if v.Revision != "" && v.Go != "" && v.Go != "(devel)" {
		v.Debian, err = DebianVersion(v.Go)
		return v, err
	}
	// No version control information: a git worktree, or no git.
	rev, errRev := run(ctx, "git", "-C", repo, "rev-parse", "HEAD")
	when, errWhen := run(ctx, "git", "-C", repo, "log", "-1", "--format=%ct")
	sec, errSec := strconv.ParseInt(strings.TrimSpace(string(when)), 10, 64)
	if errRev != nil || errWhen != nil || errSec != nil {
		fmt.Fprintln(logw, "warning: no version control information: the package is version 0.0.0~unknown")
		v.Debian = "0.0.0~unknown"
		return v, nil
	}
	// As Go decides vcs.modified: any change, untracked files included.
	status, err := run(ctx, "git", "-C", repo, "status", "--porcelain")
	if err != nil {
		return v, err
	}
	r := strings.TrimSpace(string(rev))
	pseudo := fmt.Sprintf("v0.0.0-%s-%s", time.Unix(sec, 0).UTC().Format("20060102150405"), r[:12])
	if len(status) > 0 {
		pseudo += "+dirty"
	}
	fmt.Fprintf(logw, "warning: go recorded no commit in the binaries (a git worktree?): they print %q for --version; the package is named after commit %s\n", v.Go, r[:12])
	v.Debian, err = DebianVersion(pseudo)
	return v, err
}

// DebianVersion converts a Go module version to a Debian version that
// sorts the same way: the leading "v" goes, the "-" before a pre-release
// becomes "~" (sorting before the release), other "-" become ".", and
// "+" build metadata (such as "+dirty") stays.
func DebianVersion(goVersion string) (string, error) {
	s, ok := strings.CutPrefix(goVersion, "v")
	if !ok || s == "" || s[0] < '0' || s[0] > '9' {
		return "", fmt.Errorf("version %q is not a Go module version such as v1.2.3", goVersion)
	}
	core, meta, _ := strings.Cut(s, "+")
	rel, pre, hasPre := strings.Cut(core, "-")
	out := rel
	if hasPre {
		out += "~" + strings.ReplaceAll(pre, "-", ".")
	}
	if meta != "" {
		out += "+" + meta
	}
	for _, r := range out {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".+~", r)) {
			return "", fmt.Errorf("version %q has %q, which a Debian version cannot hold", goVersion, r)
		}
	}
	return out, nil
}

// packageTime is the time every file of the package carries:
// SOURCE_DATE_EPOCH if set, else the commit's time, in both cases cut to
// the UTC day; the Unix epoch without either.
func packageTime(ctx context.Context, repo string) (time.Time, error) {
	var sec int64
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("malformed SOURCE_DATE_EPOCH %q: want seconds since 1970", e)
		}
		sec = n
	} else if out, err := run(ctx, "git", "-C", repo, "log", "-1", "--format=%ct"); err == nil {
		sec, _ = strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	}
	return time.Unix(sec, 0).UTC().Truncate(24 * time.Hour), nil
}

// debArchOf maps a GOARCH to Debian's name for it.
func debArchOf(goarch string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	}
	return goarch
}

// run runs a program and returns its standard output; its standard error
// goes into the error.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// writeGzip writes data gzip-compressed at the highest level, with no name
// or time in the header, as Debian wants man pages.
func writeGzip(path string, data []byte) error {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// writeAtomic writes path through a synced temporary file renamed over it,
// so a crash never leaves a partial package under the final name.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.deb")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
