package onion

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// ListenExternal listens on the Unix socket at path for a tor this process
// neither starts nor controls, such as Debian's tor@default service, which
// publishes the onion service from its own torrc (the lines
// [ServiceTorrc] returns) and forwards it to path. Nothing else of this
// package is involved: no key, no control port, no Internet socket.
//
// The socket gets mode 0660, so that tor's user reaches it through the
// socket's group (on Debian: add debian-tor to this process's group). Its
// directory must exist and be writable by this process's user only, since
// whoever can write there can replace the socket and receive what people
// send; ListenExternal refuses one that others can write to. A socket left
// by a process that is gone is replaced; one that something still listens
// on is refused.
func ListenExternal(path string) (net.Listener, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to read the socket's directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if perm := fi.Mode().Perm(); perm&0o022 != 0 || (ok && int(st.Uid) != os.Geteuid()) {
		return nil, fmt.Errorf("the socket's directory %s must belong to this user and be writable by it alone (mode %04o): run chmod 750 %s, or use a directory of its own such as systemd's RuntimeDirectory", dir, perm, dir)
	}
	// A listener net.ListenUnix made removes its socket when closed.
	ln, err := listenUnix(path, 0o660)
	if err != nil {
		return nil, err
	}
	return ln, nil
}
