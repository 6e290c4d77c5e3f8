package packaging

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The package is built once, by the first test that needs it, and
// unpacked once.
var pkg struct {
	once sync.Once
	tmp  string
	res  *Result
	root string // the package's files, unpacked by dpkg-deb -x
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pkg.tmp != "" {
		os.RemoveAll(pkg.tmp)
	}
	os.Exit(code)
}

// built builds and unpacks the package, or fails t.
func built(t *testing.T) (*Result, string) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	pkg.once.Do(func() {
		if pkg.tmp, pkg.err = os.MkdirTemp("", "packaging-test-"); pkg.err != nil {
			return
		}
		pkg.res, pkg.err = Build(context.Background(), Options{Repo: "..", Out: filepath.Join(pkg.tmp, "dist")})
		if pkg.err != nil {
			return
		}
		pkg.root = filepath.Join(pkg.tmp, "root")
		out, err := exec.Command("dpkg-deb", "-x", pkg.res.Path, pkg.root).CombinedOutput()
		if err != nil {
			pkg.err = fmt.Errorf("dpkg-deb -x: %v\n%s", err, out)
		}
	})
	if pkg.err != nil {
		t.Fatal(pkg.err)
	}
	return pkg.res, pkg.root
}

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).Output()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// TestPackageFiles checks every file of the package, its mode and owner:
// nothing missing, nothing extra, nothing writable but by root.
func TestPackageFiles(t *testing.T) {
	res, _ := built(t)
	want := map[string]string{
		"/usr/bin/intake":       "-rwxr-xr-x",
		"/usr/bin/researcher":   "-rwxr-xr-x",
		"/usr/bin/auditor":      "-rwxr-xr-x",
		UnitPath:                "-rw-r--r--",
		SysusersPath:            "-rw-r--r--",
		StudyPath:               "-rw-r--r--",
		DocDir + "/README.md":   "-rw-r--r--",
		DocDir + "/SECURITY.md": "-rw-r--r--",
		DocDir + "/examples/nk-internet-access.yaml":           "-rw-r--r--",
		"/usr/share/man/man1/intake.1.gz":                      "-rw-r--r--",
		"/usr/share/man/man1/researcher.1.gz":                  "-rw-r--r--",
		"/usr/share/man/man1/auditor.1.gz":                     "-rw-r--r--",
		"/usr/share/bash-completion/completions/intake":        "-rw-r--r--",
		"/usr/share/bash-completion/completions/researcher":    "-rw-r--r--",
		"/usr/share/bash-completion/completions/auditor":       "-rw-r--r--",
		"/usr/share/zsh/vendor-completions/_intake":            "-rw-r--r--",
		"/usr/share/zsh/vendor-completions/_researcher":        "-rw-r--r--",
		"/usr/share/zsh/vendor-completions/_auditor":           "-rw-r--r--",
		"/usr/share/fish/vendor_completions.d/intake.fish":     "-rw-r--r--",
		"/usr/share/fish/vendor_completions.d/researcher.fish": "-rw-r--r--",
		"/usr/share/fish/vendor_completions.d/auditor.fish":    "-rw-r--r--",
	}
	got := map[string]string{}
	var days []string
	for _, line := range strings.Split(strings.TrimSpace(dpkgDeb(t, "-c", res.Path)), "\n") {
		// drwxr-xr-x root/root         0 2026-11-30 00:00 ./etc/
		f := strings.Fields(line)
		if len(f) != 6 {
			t.Fatalf("unexpected dpkg-deb -c line %q", line)
		}
		mode, owner, day, clock, name := f[0], f[1], f[3], f[4], strings.TrimPrefix(f[5], ".")
		if owner != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", name, owner)
		}
		if mode[5] == 'w' || mode[8] == 'w' || strings.ContainsAny(mode[3:4]+mode[6:7], "sS") {
			t.Errorf("%s has mode %s: writable by others or setuid", name, mode)
		}
		if clock != "00:00" {
			t.Errorf("%s carries the time %s %s, finer than the day", name, day, clock)
		}
		days = append(days, day)
		if mode[0] == 'd' {
			continue
		}
		got[name] = mode
	}
	for name, mode := range want {
		if got[name] != mode {
			t.Errorf("%s: mode %q, want %q", name, got[name], mode)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected file %s in the package", name)
		}
	}
	slices.Sort(days)
	if days = slices.Compact(days); len(days) != 1 {
		t.Errorf("files carry several days: %v", days)
	}
}

// TestPackageControl checks the control fields, the conffiles and the
// maintainer scripts.
func TestPackageControl(t *testing.T) {
	res, _ := built(t)
	field := func(name string) string {
		return strings.TrimSpace(dpkgDeb(t, "-f", res.Path, name))
	}
	if got := field("Package"); got != "testimony" {
		t.Errorf("Package: %q", got)
	}
	if got := field("Version"); got != res.Version {
		t.Errorf("Version: %q, want %q", got, res.Version)
	}
	if got := field("Architecture"); got != res.Arch {
		t.Errorf("Architecture: %q, want %q", got, res.Arch)
	}
	if got := field("Depends"); !regexp.MustCompile(`(^|, )tor($|,)`).MatchString(got) {
		t.Errorf("Depends: %q, want Debian's tor", got)
	}
	if name := filepath.Base(res.Path); name != "testimony_"+res.Version+"_"+res.Arch+".deb" {
		t.Errorf("package file %s, want testimony_%s_%s.deb", name, res.Version, res.Arch)
	}
	if got := dpkgDeb(t, "-I", res.Path, "conffiles"); got != StudyPath+"\n" {
		t.Errorf("conffiles: %q, want only %s", got, StudyPath)
	}
	info := dpkgDeb(t, "-I", res.Path)
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		if !regexp.MustCompile(`\d+ lines\s+\*\s+` + script + `\s`).MatchString(info) {
			t.Errorf("%s missing or not executable:\n%s", script, info)
		}
		text := dpkgDeb(t, "-I", res.Path, script)
		sh := exec.Command("sh", "-n")
		sh.Stdin = strings.NewReader(text)
		if out, err := sh.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", script, err, out)
		}
	}
	// Purging must not delete the data directory.
	if postrm := dpkgDeb(t, "-I", res.Path, "postrm"); regexp.MustCompile(`rm\s+-\S*r`).MatchString(postrm) {
		t.Errorf("postrm deletes something recursively:\n%s", postrm)
	}
}

// TestPackagedBinariesReportTheirVersion runs each packaged binary's
// --version and checks that the package is named after the commit checked
// out.
func TestPackagedBinariesReportTheirVersion(t *testing.T) {
	res, root := built(t)
	head, err := run(context.Background(), "git", "-C", "..", "rev-parse", "HEAD")
	if err != nil {
		t.Skip("not a git checkout:", err)
	}
	rev := strings.TrimSpace(string(head))
	if !strings.Contains(res.Version, "."+rev[:12]) && !strings.HasPrefix(res.Version, strings.TrimPrefix(describeTag(t), "v")) {
		t.Errorf("package version %s names neither commit %s nor a tag on it", res.Version, rev[:12])
	}
	worktree := false
	if fi, err := os.Stat("../.git"); err == nil && !fi.IsDir() {
		worktree = true // Go records no commit in a git worktree
	}
	for _, name := range Commands {
		out, err := exec.Command(filepath.Join(root, "usr/bin", name), "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", name, err, out)
		}
		got := strings.TrimSpace(string(out))
		if !strings.HasPrefix(got, name+" version ") {
			t.Errorf("%s --version: %q", name, got)
		}
		if !worktree && !strings.Contains(got, "commit "+rev) {
			t.Errorf("%s --version: %q, want commit %s", name, got, rev)
		}
	}
}

func describeTag(t *testing.T) string {
	out, err := run(context.Background(), "git", "-C", "..", "describe", "--tags", "--exact-match")
	if err != nil {
		return "\x00" // no tag: matches no version
	}
	return strings.TrimSpace(string(out))
}

// TestManPages checks that each man page holds every command's --help and
// that groff reads it without a warning.
func TestManPages(t *testing.T) {
	_, root := built(t)
	for _, name := range Commands {
		f, err := os.Open(filepath.Join(root, "usr/share/man/man1", name+".1.gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		page, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		pages, err := CollectHelp(context.Background(), filepath.Join(root, "usr/bin", name))
		if err != nil {
			t.Fatal(err)
		}
		if len(pages) < 3 {
			t.Errorf("%s: only %d commands found in --help", name, len(pages))
		}
		for _, p := range pages[1:] {
			if !bytes.Contains(page, []byte(".SS \""+roffText(strings.Join(p.Path, " "))+"\"\n")) {
				t.Errorf("%s.1 has no section for %q", name, strings.Join(p.Path, " "))
			}
			if usage := section(p.Text, "Usage:"); !bytes.Contains(page, []byte(roffText(strings.TrimSpace(usage)))) {
				t.Errorf("%s.1 lacks the usage of %q: %q", name, strings.Join(p.Path, " "), usage)
			}
		}
		if _, err := exec.LookPath("groff"); err != nil {
			continue
		}
		cmd := exec.Command("groff", "-k", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = bytes.NewReader(page)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("%s.1: groff: %v\n%s", name, err, out)
		}
	}
}

// execStart returns the arguments of the unit's ExecStart line.
func execStart(t *testing.T, unit string) []string {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
			lines = append(lines, v)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%s has %d ExecStart= lines, want 1", unit, len(lines))
	}
	if strings.ContainsAny(lines[0], `"'\$%`) {
		t.Fatalf("ExecStart=%s: quoting or specifiers this test does not parse", lines[0])
	}
	return strings.Fields(lines[0])
}

// TestUnitCommandLineServes runs the unit's ExecStart with the packaged
// intake, its study and data directory moved to temporary ones, on a
// loopback listener instead of tor (the one change): it must serve the
// questionnaire and stop cleanly on SIGTERM, as systemd stops it.
func TestUnitCommandLineServes(t *testing.T) {
	_, root := built(t)
	args := execStart(t, filepath.Join(root, UnitPath))
	want := []string{"/usr/bin/intake", "serve", "--config", StudyPath, "--data", "/var/lib/testimony"}
	if !slices.Equal(args, want) {
		t.Fatalf("ExecStart=%q, want %q", args, want)
	}
	tmp := t.TempDir()
	study := writeStudy(t, root, tmp)
	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o700); err != nil { // as StateDirectoryMode=0700 makes it
		t.Fatal(err)
	}
	replace := map[string]string{"/usr/bin/intake": filepath.Join(root, "usr/bin/intake"), StudyPath: study, "/var/lib/testimony": data}
	for i, a := range args {
		if r, ok := replace[a]; ok {
			args[i] = r
		}
	}
	args = append(args, "--listen", "127.0.0.1:0")

	cmd := exec.Command(args[0], args[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "serving on "); ok {
				addr <- strings.Fields(a)[0]
			}
		}
		close(addr)
	}()
	var url string
	select {
	case url = <-addr:
	case <-time.After(30 * time.Second):
	}
	if url == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s did not start serving:\n%s", strings.Join(args, " "), stderr.String())
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("<form")) && !bytes.Contains(body, []byte("<a ")) {
		t.Errorf("GET %s/: %s\n%.300s", url, resp.Status, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("intake serve after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(45 * time.Second): // the unit's TimeoutStopSec
		t.Errorf("intake serve did not stop within TimeoutStopSec after SIGTERM")
	}
}

// writeStudy writes the packaged study with a freshly made researcher key
// as its only recipient, as an operator would before starting the unit.
func writeStudy(t *testing.T, root, dir string) string {
	t.Helper()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("tilted umbrella quarry nineteen lantern\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "usr/bin/researcher"), "keygen", "--out", filepath.Join(dir, "key"), "--passphrase-file", pass).CombinedOutput()
	if err != nil {
		t.Fatalf("researcher keygen: %v\n%s", err, out)
	}
	pub := regexp.MustCompile(`testimony-pub-[a-z2-7]+`).Find(out)
	if pub == nil {
		t.Fatalf("no public key in researcher keygen's output:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(root, StudyPath))
	if err != nil {
		t.Fatal(err)
	}
	// Replace the recipients section, up to the next top-level key.
	re := regexp.MustCompile(`(?ms)^recipients:\n.*?(^\S|\z)`)
	if !re.Match(b) {
		t.Fatalf("%s has no recipients section", StudyPath)
	}
	b = re.ReplaceAll(b, []byte("recipients:\n  - name: Test researcher\n    public_key: "+string(pub)+"\n$1"))
	path := filepath.Join(dir, "study.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// unitExposure is the score systemd-analyze security gives the unit; the
// README and the unit's comment state it too.
const unitExposure = "1.2"

var exposureLine = regexp.MustCompile(`Overall exposure level for testimony\.service: (\d+\.\d) (\S+)`)

// TestUnitSecurityScore rates the packaged unit with systemd-analyze
// security: it must be "OK" or better (at most 2.0), and the README and
// the unit's own comment must state the figure measured.
func TestUnitSecurityScore(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	_, root := built(t)
	unit := filepath.Join(root, UnitPath)
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	m := exposureLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v, no overall exposure level:\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security --offline=yes testimony.service: %s %s", m[1], m[2])
	if score > 2.0 {
		t.Errorf("exposure %s %s, want OK or better (at most 2.0):\n%s", m[1], m[2], out)
	}
	figure := unitExposure
	if string(m[1]) != figure {
		t.Errorf("exposure is now %s: update the figure %s in this test, README.md and files/testimony.service", m[1], figure)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("`systemd-analyze security testimony` rates the unit "+figure+` ("OK"`)) {
		t.Errorf(`README.md does not state the unit's score as %s ("OK")`, figure)
	}
	if b, _ := os.ReadFile(unit); !bytes.Contains(b, []byte("rates this unit "+figure)) {
		t.Errorf(`testimony.service does not state its score as %s`, figure)
	}
}

// TestUnitHardening checks that the unit keeps every sandboxing setting
// the threat model relies on, whatever the score says.
func TestUnitHardening(t *testing.T) {
	b, err := os.ReadFile("files/testimony.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[k] = append(set[k], v)
		}
	}
	for k, want := range map[string]string{
		"User": "testimony", "StateDirectory": "testimony", "StateDirectoryMode": "0700",
		"ReadWritePaths": "/var/lib/testimony", "UMask": "0077",
		"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
		"PrivateUsers": "yes", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
		"MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
		"ProtectControlGroups": "yes", "ProtectClock": "yes", "ProtectHostname": "yes",
		"ProtectProc": "invisible", "ProcSubset": "pid", "RestrictNamespaces": "yes",
		"LockPersonality": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes",
	} {
		if len(set[k]) != 1 || set[k][0] != want {
			t.Errorf("%s=%q, want exactly %s=%s", k, set[k], k, want)
		}
	}
	if f := set["SystemCallFilter"]; !slices.Equal(f, []string{"@system-service", "~@privileged"}) {
		t.Errorf("SystemCallFilter=%q, want @system-service less @privileged", f)
	}
	if d := strings.Join(set["IPAddressDeny"], " "); !strings.Contains(d, "link-local") || !strings.Contains(d, "10.0.0.0/8") {
		t.Errorf("IPAddressDeny=%q, want the local network and link-local addresses (cloud metadata) out of reach", d)
	}
	if _, ok := set["DynamicUser"]; ok {
		t.Errorf("DynamicUser is set: operators run intake export as the static user testimony")
	}
}

// TestSysusers creates the package's user in an empty root with
// systemd-sysusers, as postinst does on a systemd machine.
func TestSysusers(t *testing.T) {
	if _, err := exec.LookPath("systemd-sysusers"); err != nil {
		t.Skip("systemd-sysusers not installed")
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf, err := filepath.Abs("files/testimony.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-sysusers", "--root="+root, conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(strings.TrimSpace(string(passwd)), ":")
	if len(f) != 7 || f[0] != "testimony" || f[5] != "/var/lib/testimony" || !strings.HasSuffix(f[6], "nologin") {
		t.Errorf("/etc/passwd: %q, want a system user testimony at /var/lib/testimony without a login shell", passwd)
	}
	if uid, _ := strconv.Atoi(f[2]); uid == 0 || uid >= 1000 {
		t.Errorf("uid %d is not a system user's", uid)
	}
}

// TestReproducible builds the package a second time: the same commit must
// give the same bytes.
func TestReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package twice")
	}
	res, _ := built(t)
	again, err := Build(context.Background(), Options{Repo: "..", Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(again.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of one commit differ: %s and %s", res.Path, again.Path)
	}
}

func TestDebianVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-rc.1", "1.2.3~rc.1"},
		{"v0.0.0-20261127094512-cb1dade12345", "0.0.0~20261127094512.cb1dade12345"},
		{"v0.0.0-20261127094512-cb1dade12345+dirty", "0.0.0~20261127094512.cb1dade12345+dirty"},
		{"v1.2.4-0.20261127094512-cb1dade12345", "1.2.4~0.20261127094512.cb1dade12345"},
		{"v2.0.0+incompatible", "2.0.0+incompatible"},
	} {
		got, err := DebianVersion(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("DebianVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "(devel)", "1.2.3", "vx", "v1.2.3-a_b", "v1 2"} {
		if got, err := DebianVersion(bad); err == nil {
			t.Errorf("DebianVersion(%q) = %q, want an error", bad, got)
		}
	}
}

// TestDebianVersionOrder checks with dpkg that converted versions sort as
// Go orders them.
func TestDebianVersionOrder(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed")
	}
	ordered := []string{
		"v0.0.0-20261127094512-cb1dade12345",
		"v0.0.0-20261128000000-0123456789ab",
		"v0.1.0-rc.1",
		"v0.1.0",
		"v0.1.1-0.20261201000000-0123456789ab",
		"v0.1.1",
		"v1.0.0",
	}
	for i := 1; i < len(ordered); i++ {
		a, _ := DebianVersion(ordered[i-1])
		b, _ := DebianVersion(ordered[i])
		if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg does not order %s before %s", a, b)
		}
	}
}

func TestSubcommands(t *testing.T) {
	help := `researcher runs offline. Layout:
  notacommand   this is in the description

Usage:
  researcher [command]

Examples:
  researcher keygen --out key

Available Commands:
  decrypt     Check, decrypt and pseudonymize batches
  help        Help about any command

Team Commands:
  add-researcher  Add a researcher

Flags:
  -h, --help   help for researcher

Use "researcher [command] --help" for more information about a command.
`
	if got, want := Subcommands(help), []string{"decrypt", "help", "add-researcher"}; !slices.Equal(got, want) {
		t.Errorf("Subcommands = %q, want %q", got, want)
	}
}

func TestRoffEscapes(t *testing.T) {
	var b bytes.Buffer
	verbatim(&b, ".hidden\n'quote\nC:\\path --flag")
	want := ".nf\n\\&.hidden\n\\&'quote\nC:\\epath \\-\\-flag\n.fi\n"
	if b.String() != want {
		t.Errorf("verbatim = %q, want %q", b.String(), want)
	}
}
