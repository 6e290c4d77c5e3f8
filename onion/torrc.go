package onion

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/testimony-project/testimony/internal/atomicfile"
)

// obConfigName is the file in a HiddenServiceDir that names the
// Onionbalance frontend of a backend (tor's HiddenServiceOnionbalanceInstance).
const obConfigName = "ob_config"

// ServiceTorrc returns the torrc lines that make a tor publish the onion
// service as [Start] does: from the key in serviceDir (tor's
// HiddenServiceDir, holding hs_ed25519_secret_key; tor creates one if there
// is none), forwarding the onion's port 80 to the Unix socket at socket,
// with c's proof-of-work defence, MaxStreams and Onionbalance role. Only
// those fields of c are used; their zero values mean the defaults
// documented on [Config].
//
// [Start] uses these lines for an Onionbalance backend. Give them to a tor
// this process does not start (with [ListenExternal] on socket), so that it
// publishes the service with the same defences. With
// c.OnionbalanceFrontend, that tor also needs serviceDir/ob_config holding
// the line "MasterOnionAddress <frontend>": [OBConfig] returns it.
//
// Both paths must be absolute and free of spaces, quotes and control
// characters, which torrc would need quoted.
func ServiceTorrc(c Config, serviceDir, socket string) ([]string, error) {
	if err := c.normalizeService(); err != nil {
		return nil, err
	}
	if err := checkTorrcPath(serviceDir); err != nil {
		return nil, err
	}
	if err := checkSocketPath(socket); err != nil {
		return nil, err
	}
	lines := []string{
		"HiddenServiceDir " + filepath.Clean(serviceDir),
		fmt.Sprintf("HiddenServicePort %d unix:%s", virtualPort, filepath.Clean(socket)),
		"HiddenServiceMaxStreams " + strconv.Itoa(c.MaxStreams),
		"HiddenServiceMaxStreamsCloseCircuit 1",
	}
	if c.PoWDisabled {
		lines = append(lines, "HiddenServicePoWDefensesEnabled 0")
	} else {
		lines = append(lines,
			"HiddenServicePoWDefensesEnabled 1",
			"HiddenServicePoWQueueRate "+strconv.Itoa(c.PoWQueueRate),
			"HiddenServicePoWQueueBurst "+strconv.Itoa(c.PoWQueueBurst))
	}
	if c.OnionbalanceFrontend != "" {
		lines = append(lines, "HiddenServiceOnionbalanceInstance 1")
	}
	return lines, nil
}

// OBConfig returns the content of the ob_config file that tor reads from
// the HiddenServiceDir of an Onionbalance backend: the frontend's address,
// checked and with ".onion".
func OBConfig(frontend string) ([]byte, error) {
	a, err := ParseAddress(frontend)
	if err != nil {
		return nil, fmt.Errorf("malformed Onionbalance frontend address: %w", err)
	}
	return []byte("MasterOnionAddress " + a + "\n"), nil
}

// writeOBConfig makes dir/ob_config name frontend, or removes a file left
// from an earlier run as a backend if frontend is "", so that the
// directory never claims a role the service does not have.
func writeOBConfig(dir, frontend string) error {
	path := filepath.Join(dir, obConfigName)
	if frontend == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("failed to remove the Onionbalance configuration left by an earlier run: %w", err)
		}
		return nil
	}
	b, err := OBConfig(frontend)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && string(old) == string(b) {
		return nil
	}
	if err := atomicfile.WriteBytes(path, 0o600, b); err != nil {
		return fmt.Errorf("failed to write the Onionbalance configuration for tor: %w", err)
	}
	return nil
}

// checkTorrcPath refuses a path a torrc cannot name: relative, or with
// characters tor's configuration cannot carry unquoted.
func checkTorrcPath(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("path %q for tor is not absolute: tor resolves relative paths against its own working directory", p)
	}
	return checkPathForTor(p)
}

// checkSocketPath refuses a path of the service's socket that a torrc
// cannot name (see checkTorrcPath) or that is too long for a Unix socket.
func checkSocketPath(socket string) error {
	if err := checkTorrcPath(socket); err != nil {
		return err
	}
	if len(socket) > 107 {
		return fmt.Errorf("socket path %s is longer than the 107 bytes Unix sockets allow: choose a shorter one", socket)
	}
	return nil
}
