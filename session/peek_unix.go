//go:build unix

package session

import (
	"net"
	"syscall"
)

// waiting reports whether c has bytes that were received and not yet
// read, without reading them.
func waiting(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var b [1]byte
	// Control, not Read: Read would wait for the read lock that a
	// handshake's blocked read holds. The peek itself never blocks.
	rc.Control(func(fd uintptr) {
		n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return n > 0
}
