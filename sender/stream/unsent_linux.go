package stream

import (
	"syscall"
	"unsafe"
)

// Unsent returns the bytes w has taken that its peer has not yet
// acknowledged, when w is a TCP socket that can say (Linux: SIOCOUTQ);
// ok is false otherwise. A count that falls while a write is blocked or
// a read waits is the peer taking bytes: progress that a full send
// buffer hides from the writer.
func Unsent(w any) (n int, ok bool) {
	sc, isConn := w.(syscall.Conn)
	if !isConn {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var q int32
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&q)))
	}); err != nil || errno != 0 {
		return 0, false
	}
	return int(q), true
}
