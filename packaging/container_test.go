package packaging

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testimony-project/testimony/internal/tornet"
)

// TestServiceInContainer boots a Debian container with systemd
// (systemd-nspawn), installs the package, and runs testimony.service as
// shipped, with one flag added by a drop-in: --private-tor-network, so that
// its tor joins a private Tor network on 127.0.0.1 instead of the real one.
// Through that network the onion service must answer; inside the sandbox,
// intake and its tor must run as the user testimony with no capabilities,
// no new privileges and a seccomp filter; systemd must rate the unit as
// the offline analysis does; and stopping the unit must stop both cleanly.
//
// Debian's own tor.service is masked before the container boots, and the
// unit is started only once the drop-in is in place, so no tor here ever
// reaches the public network. Like TestInstallInChroot it needs root and
// TESTIMONY_PACKAGE_CHROOT=1, and also systemd-nspawn (systemd-container),
// tor and tor-gencert.
func TestServiceInContainer(t *testing.T) {
	if os.Getenv("TESTIMONY_PACKAGE_CHROOT") != "1" {
		t.Skip("set TESTIMONY_PACKAGE_CHROOT=1 (make package-test) to run the service in a systemd container")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for systemd-nspawn")
	}
	for _, p := range []string{"debootstrap", "systemd-nspawn", "nsenter", "tor", "tor-gencert"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is not installed (make package-test installs debootstrap and systemd-container; make deps installs tor)", p)
		}
	}
	res, _ := built(t)
	suite, mirror := chrootSuite()
	start := time.Now()
	root := freshRoot(t, suite, mirror, "systemd systemd-sysv")
	installPackage(t, root, res.Path)
	sh(t, "", "systemctl", "--root="+root, "mask", "tor.service", "tor@default.service")
	if err := os.Remove(filepath.Join(root, "usr/sbin/policy-rc.d")); err != nil {
		t.Fatal(err)
	}
	exec.Command("umount", filepath.Join(root, "proc")).Run() // the container mounts its own

	scratch := filepath.Join(root, "root")
	study := writeStudy(t, root, scratch)
	if err := os.Rename(study, filepath.Join(root, StudyPath)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	netStart := time.Now()
	network, err := tornet.Start(ctx, tornet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer network.Close()
	t.Logf("private Tor network up in %v", time.Since(netStart).Round(time.Second))
	privnet := "/etc/testimony/private-tor-network"
	if err := os.WriteFile(filepath.Join(root, privnet), []byte(strings.Join(network.TorrcLines(), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := execStart(t, filepath.Join(root, UnitPath))
	dropIn := filepath.Join(root, "etc/systemd/system/testimony.service.d")
	if err := os.MkdirAll(dropIn, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := "[Service]\nExecStart=\nExecStart=" + strings.Join(args, " ") + " --private-tor-network " + privnet + "\n"
	if err := os.WriteFile(filepath.Join(dropIn, "private-tor-network.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	c := bootContainer(t, root)
	if out, err := c.run("systemctl", "show", "-p", "ExecStart", "--value", "testimony"); err != nil || !strings.Contains(out, "--private-tor-network") {
		t.Fatalf("the drop-in is not in effect (%v): %s", err, out)
	}
	if out, err := c.run("systemctl", "start", "testimony"); err != nil {
		t.Fatalf("systemctl start testimony: %v\n%s", err, out)
	}
	var onionURL string
	for deadline := time.Now().Add(3 * time.Minute); onionURL == "" && time.Now().Before(deadline); time.Sleep(time.Second) {
		journal, _ := c.run("journalctl", "-u", "testimony", "-o", "cat", "--no-pager")
		if m := regexp.MustCompile(`serving on (http://[a-z2-7]{56}\.onion)`).FindStringSubmatch(journal); m != nil {
			onionURL = m[1]
		}
		if out, _ := c.run("systemctl", "is-failed", "testimony"); strings.TrimSpace(out) == "failed" {
			t.Fatalf("testimony.service failed:\n%s", journal)
		}
	}
	if onionURL == "" {
		journal, _ := c.run("journalctl", "-u", "testimony", "--no-pager")
		t.Fatalf("testimony.service published no onion service within 3 minutes:\n%s", journal)
	}
	t.Logf("onion service published by testimony.service %v after the container's first command", time.Since(c.booted).Round(time.Second))

	client := network.HTTPClient(60 * time.Second)
	var status string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(3 * time.Second) {
		resp, err := client.Get(onionURL + "/")
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if status = resp.Status; resp.StatusCode == 200 {
			break
		}
	}
	if !strings.HasPrefix(status, "200") {
		journal, _ := c.run("journalctl", "-u", "testimony", "--no-pager")
		t.Fatalf("GET %s/ through the private Tor network: %q\n%s", onionURL, status, journal)
	}

	// Both intake and the tor it started run inside the sandbox.
	uid := strings.Split(sh(t, "", "chroot", root, "getent", "passwd", "testimony"), ":")[2]
	seen := map[string]bool{}
	for _, pid := range descendants(c.init) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		st := parseStatus(b)
		if st["Name"] != "intake" && st["Name"] != "tor" {
			continue
		}
		seen[st["Name"]] = true
		if f := strings.Fields(st["Uid"]); len(f) == 0 || f[0] != uid {
			t.Errorf("%s runs as uid %q, want testimony's %s", st["Name"], st["Uid"], uid)
		}
		for k, want := range map[string]string{"NoNewPrivs": "1", "Seccomp": "2", "CapEff": "0000000000000000", "CapBnd": "0000000000000000"} {
			if st[k] != want {
				t.Errorf("%s: %s %q, want %q", st["Name"], k, st[k], want)
			}
		}
	}
	if !seen["intake"] || !seen["tor"] {
		t.Errorf("processes of the unit found: %v, want intake and tor", seen)
	}

	if out, _ := c.run("systemd-analyze", "security", "--no-pager", "testimony"); !strings.Contains(out, "Overall exposure level for testimony.service: "+unitExposure+" OK") {
		t.Errorf("systemd-analyze security in the container:\n%s", lastLines([]byte(out), 3))
	}

	if out, err := c.run("systemctl", "stop", "testimony"); err != nil {
		t.Errorf("systemctl stop testimony: %v\n%s", err, out)
	}
	if out, _ := c.run("systemctl", "show", "-p", "Result", "--value", "testimony"); strings.TrimSpace(out) != "success" {
		journal, _ := c.run("journalctl", "-u", "testimony", "--no-pager")
		t.Errorf("testimony.service stopped with result %q:\n%s", strings.TrimSpace(out), journal)
	}
	for _, pid := range descendants(c.init) {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil && strings.TrimSpace(string(b)) == "tor" {
			t.Errorf("tor (pid %d) still runs after the unit stopped", pid)
		}
	}
	t.Logf("container test: %v in all", time.Since(start).Round(time.Second))
}

// container is a booted systemd-nspawn container.
type container struct {
	init   int // the container's init, as this machine numbers it
	booted time.Time
}

// run runs a command inside the container's namespaces.
func (c *container) run(args ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(c.init), "-a"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// bootContainer boots root with systemd-nspawn on this machine's network
// and waits until systemd has started; the container is powered off when
// the test ends.
func bootContainer(t *testing.T, root string) *container {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command("systemd-nspawn", "--quiet", "--directory="+root, "--register=no", "--keep-unit", "--boot")
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c := &container{}
	t.Cleanup(func() {
		if c.init != 0 {
			c.run("systemctl", "poweroff")
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Errorf("the container did not power off; killing it")
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("systemd-nspawn exited:\n%s", log.String())
		default:
		}
		if c.init == 0 {
			c.init = childOf(cmd.Process.Pid)
			continue
		}
		if out, _ := c.run("systemctl", "is-system-running"); strings.Contains(out, "running") || strings.Contains(out, "degraded") {
			c.booted = time.Now()
			return c
		}
	}
	t.Fatalf("the container did not boot within 90 s:\n%s", log.String())
	return nil
}

// childOf returns a child process of pid, or 0.
func childOf(pid int) int {
	for child, parent := range parents() {
		if parent == pid {
			return child
		}
	}
	return 0
}

// descendants returns every process below pid, as this machine numbers
// them.
func descendants(pid int) []int {
	ppid := parents()
	var out []int
	for p := range ppid {
		for a := ppid[p]; a > 1; a = ppid[a] {
			if a == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// parents maps every process to its parent.
func parents() map[int]int {
	m := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 1 {
				m[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	return m
}

// parseStatus parses /proc/PID/status into its fields.
func parseStatus(b []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
