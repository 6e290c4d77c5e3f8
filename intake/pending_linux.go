package intake

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sentUnread reports whether the client has sent bytes on c that the
// server has not read yet: a connection waiting in the kernel for the
// server to get to it is not idle, whatever its state says.
func sentUnread(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n > 0
}
