package packaging

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInstallInChroot installs the package with apt in a clean Debian
// chroot and uses it as an operator would: the user and data directory
// exist, every command runs, intake serves as that user from its data
// directory with the unit's command line (on loopback instead of tor),
// and purging removes the programs but keeps the data directory.
//
// It needs root, debootstrap and a Debian mirror, and runs only with
// TESTIMONY_PACKAGE_CHROOT=1 (make package-test sets it). The base system
// is made once by debootstrap and kept in ../dist/chroot/SUITE.tar; every
// run unpacks a fresh copy. Services are kept from starting (policy-rc.d),
// so the chroot's tor never touches the network.
func TestInstallInChroot(t *testing.T) {
	if os.Getenv("TESTIMONY_PACKAGE_CHROOT") != "1" {
		t.Skip("set TESTIMONY_PACKAGE_CHROOT=1 (make package-test) to install the package in a Debian chroot")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for chroot")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Fatal("debootstrap is not installed: apt-get install debootstrap")
	}
	res, _ := built(t)
	suite, mirror := chrootSuite()

	start := time.Now()
	root := freshRoot(t, suite, mirror, "")
	in := func(args ...string) string {
		t.Helper()
		return sh(t, "", append([]string{"chroot", root}, args...)...)
	}
	installPackage(t, root, res.Path)

	for _, name := range Commands {
		if out := in(name, "--version"); !strings.HasPrefix(out, name+" version ") {
			t.Errorf("%s --version in the chroot: %q", name, out)
		}
	}
	if out := in("dpkg-query", "-W", "-f", "${Version} ${db:Status-Status}", "testimony"); out != res.Version+" installed" {
		t.Errorf("dpkg-query: %q, want %q", out, res.Version+" installed")
	}
	if out := in("dpkg-query", "-W", "-f", "${db:Status-Status}", "tor"); out != "installed" {
		t.Errorf("tor is %q, want installed as a dependency", out)
	}
	passwd := strings.Split(in("getent", "passwd", "testimony"), ":")
	if len(passwd) != 7 || passwd[5] != "/var/lib/testimony" || !strings.HasSuffix(passwd[6], "nologin") {
		t.Errorf("user testimony: %q, want home /var/lib/testimony and no login shell", strings.Join(passwd, ":"))
	}
	if out := in("stat", "-c", "%a %U %G", "/var/lib/testimony"); out != "700 testimony testimony" {
		t.Errorf("/var/lib/testimony: %q, want 700 testimony testimony", out)
	}

	// The unit's command line, as the unit's user, on loopback.
	studyDir := filepath.Join(root, "tmp", "study")
	if err := os.Mkdir(studyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeStudy(t, root, studyDir)
	args := execStart(t, filepath.Join(root, UnitPath))
	for i, a := range args {
		if a == StudyPath {
			args[i] = "/tmp/study/study.yaml"
		}
	}
	serveAsUnitUser(t, root, append(args, "--listen", "127.0.0.1:0"))
	// The directory is 0700; inside it, only public keys are for others.
	if out := in("find", "/var/lib/testimony", "-perm", "/022", "-o", "-perm", "/044", "!", "-name", "*.pub"); out != "" {
		t.Errorf("files in /var/lib/testimony that others may read or write:\n%s", out)
	}
	if out := in("stat", "-c", "%a", "/var/lib/testimony"); out != "700" {
		t.Errorf("/var/lib/testimony is %s after serving, want 700", out)
	}

	purgeStart := time.Now()
	out := in("sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q testimony 2>&1")
	t.Logf("apt-get purge: %v", time.Since(purgeStart).Round(time.Second))
	if !strings.Contains(out, "/var/lib/testimony is kept") {
		t.Errorf("purge did not say the data directory is kept:\n%s", out)
	}
	for _, gone := range []string{"usr/bin/intake", UnitPath[1:], StudyPath[1:]} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("/%s is still there after purge", gone)
		}
	}
	if kept, err := os.ReadDir(filepath.Join(root, "var/lib/testimony")); err != nil || len(kept) == 0 {
		t.Errorf("purge removed the data directory or emptied it: %v", err)
	}
	t.Logf("chroot test: %v in all", time.Since(start).Round(time.Second))
}

func chrootSuite() (suite, mirror string) {
	return envOr("TESTIMONY_CHROOT_SUITE", "bookworm"), envOr("TESTIMONY_CHROOT_MIRROR", "http://deb.debian.org/debian")
}

// freshRoot unpacks a fresh copy of a Debian base system: minbase, plus the
// packages in extra (space-separated). Each base is made once and kept in
// ../dist/chroot. /proc is mounted; services are kept from starting
// (policy-rc.d) until the test removes that file.
func freshRoot(t *testing.T, suite, mirror, extra string) string {
	t.Helper()
	name := suite
	if extra != "" {
		name += "+" + strings.ReplaceAll(extra, " ", "+")
	}
	base, err := filepath.Abs(filepath.Join("..", "dist", "chroot", name+".tar"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(base); err != nil {
		begin := time.Now()
		makeBase(t, base, suite, mirror, extra)
		t.Logf("base system %s made in %v", name, time.Since(begin).Round(time.Second))
	}
	root := t.TempDir()
	sh(t, "", "tar", "-C", root, "-xf", base)
	if err := os.Chmod(root, 0o755); err != nil { // the chroot's "/", made 0700 by TempDir
		t.Fatal(err)
	}
	// No service starts in the chroot: tor must not reach the network.
	if err := os.WriteFile(filepath.Join(root, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sh(t, "", "mount", "-t", "proc", "proc", filepath.Join(root, "proc"))
	t.Cleanup(func() {
		for _, pid := range processesIn(root) {
			t.Errorf("process %d still runs in the chroot; killing it", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := exec.Command("umount", filepath.Join(root, "proc")).Run(); err != nil {
			exec.Command("umount", "-l", filepath.Join(root, "proc")).Run()
		}
	})
	return root
}

// installPackage installs the .deb with apt in root, without recommended
// packages, and checks that nothing was started.
func installPackage(t *testing.T, root, debPath string) {
	t.Helper()
	deb := "/tmp/" + filepath.Base(debPath)
	sh(t, "", "cp", debPath, filepath.Join(root, deb))
	begin := time.Now()
	sh(t, "", "chroot", root, "sh", "-c", "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "+deb+" >/tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }")
	t.Logf("apt-get install of the package and tor: %v", time.Since(begin).Round(time.Second))
	if pids := processesIn(root); len(pids) > 0 {
		t.Errorf("installing started processes %v (tor?): nothing may start on install", pids)
	}
}

// makeBase runs debootstrap, installs extra packages, and keeps the result
// as a tar file.
func makeBase(t *testing.T, tarPath, suite, mirror, extra string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(tarPath), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(tarPath), suite+"-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sh(t, "", "debootstrap", "--variant=minbase", suite, dir, mirror)
	if extra != "" {
		sh(t, "", "chroot", dir, "sh", "-c", "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "+extra+" >/tmp/extra.log 2>&1 || { cat /tmp/extra.log; exit 1; }")
		sh(t, "", "chroot", dir, "apt-get", "clean")
	}
	tmp := tarPath + ".part"
	sh(t, "", "tar", "-C", dir, "-cf", tmp, ".")
	if err := os.Rename(tmp, tarPath); err != nil {
		t.Fatal(err)
	}
}

// serveAsUnitUser runs args in the chroot as the unit's user and group
// with the unit's umask, waits until it serves, fetches the first page,
// and stops it with SIGTERM.
func serveAsUnitUser(t *testing.T, root string, args []string) {
	t.Helper()
	cmd := exec.Command("chroot", append([]string{"--userspec=testimony:testimony", root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	old := syscall.Umask(0o077) // UMask=0077; inherited by the child
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	syscall.Umask(old)
	if err != nil {
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
		t.Fatalf("%s did not serve:\n%s", strings.Join(args, " "), stderr.String())
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/: %s", url, resp.Status)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s after SIGTERM: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
	case <-time.After(45 * time.Second):
		t.Errorf("intake serve did not stop within TimeoutStopSec after SIGTERM")
	}
}

// processesIn lists the processes whose root directory is root.
func processesIn(root string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		if r, err := os.Readlink(filepath.Join("/proc", e.Name(), "root")); err == nil && r == root {
			pids = append(pids, pid)
		}
	}
	return pids
}

// sh runs a command and returns its trimmed standard output, or fails t
// with its output.
func sh(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
