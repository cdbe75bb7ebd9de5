//go:build linux

package xfrm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dump asks the running kernel for the SAs of the caller's network
// namespace with an XFRM_MSG_GETSA dump over NETLINK_XFRM. The kernel
// answers only to CAP_NET_ADMIN; without it the error satisfies
// errors.Is(err, ErrDenied). The dump is read with a timeout and at most
// 16 MiB of it is accepted, so a misbehaving kernel interface cannot hang or
// exhaust the caller.
func Dump() ([]SA, error) {
	var err error
	// The kernel flags a dump that raced with an SA change; the SA table
	// settles quickly, so a few fresh tries beat returning a torn view.
	for try := 0; try < 3; try++ {
		var sas []SA
		sas, _, err = dump(false)
		if !errors.Is(err, errDumpInterrupted) {
			return sas, err
		}
	}
	return nil, err
}

// recvTimeout bounds each wait for the kernel; a dump of even thousands of
// SAs arrives in milliseconds, so hitting this means something is wrong.
var recvTimeout = unix.Timeval{Sec: 5}

// dump performs one dump. With keep it also returns the raw bytes, which
// the tests save to check ParseDump against what a real kernel sends.
func dump(keep bool) ([]SA, []byte, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_XFRM)
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) {
			return nil, nil, fmt.Errorf("xfrm: kernel has no NETLINK_XFRM (CONFIG_XFRM_USER): %w", err)
		}
		return nil, nil, denied(fmt.Errorf("xfrm: netlink socket: %w", err))
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &recvTimeout); err != nil {
		return nil, nil, fmt.Errorf("xfrm: set receive timeout: %w", err)
	}
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, nil, fmt.Errorf("xfrm: bind netlink socket: %w", err)
	}

	req := make([]byte, nlmsgHdrLen)
	binary.NativeEndian.PutUint32(req[0:4], nlmsgHdrLen)
	binary.NativeEndian.PutUint16(req[4:6], xfrmMsgGetSA)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], 1) // sequence number
	for {
		err = unix.Sendto(fd, req, 0, kernel)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, denied(fmt.Errorf("xfrm: send XFRM_MSG_GETSA: %w", err))
	}

	// 64 KiB is above the 32 KiB the kernel caps a dump datagram at, so a
	// datagram is never cut short; MSG_TRUNC is still checked below.
	buf := make([]byte, 64<<10)
	var (
		p     dumpParser
		raw   []byte
		total int
	)
	for !p.done {
		n, _, rflags, from, err := unix.Recvmsg(fd, buf, nil, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
				return nil, nil, fmt.Errorf("xfrm: no answer from the kernel within %ds: %w", recvTimeout.Sec, err)
			}
			return nil, nil, fmt.Errorf("xfrm: receive: %w", err)
		}
		if rflags&unix.MSG_TRUNC != 0 {
			return nil, nil, errors.New("xfrm: netlink datagram truncated")
		}
		if n == 0 {
			return nil, nil, errors.New("xfrm: empty netlink datagram")
		}
		// Counted before the sender check, so that datagrams from other
		// senders cannot keep this loop running either.
		total += n
		if total > maxDumpBytes {
			return nil, nil, fmt.Errorf("xfrm: netlink dump exceeds the %d-byte limit", maxDumpBytes)
		}
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue // only the kernel's answers count
		}
		if keep {
			raw = append(raw, buf[:n]...)
		}
		if err := p.feed(buf[:n]); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) && strconv.IntSize == 32 {
				// A 64-bit kernel talks XFRM netlink to 32-bit processes
				// only through its translator, which is often left out.
				err = fmt.Errorf("%w (a 64-bit kernel needs CONFIG_XFRM_USER_COMPAT to answer a 32-bit process)", err)
			}
			return nil, raw, denied(err)
		}
	}
	return p.sas, raw, nil
}

// denied rewrites a refusal by the kernel into ErrDenied while keeping the
// errno, so callers can test either.
func denied(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.EPERM || errno == syscall.EACCES) {
		return fmt.Errorf("xfrm: dump SAs: %w (%w)", ErrDenied, errno)
	}
	return err
}
