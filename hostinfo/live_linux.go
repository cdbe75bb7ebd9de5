//go:build linux

package hostinfo

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

func liveArch() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// liveEthtool reads the driver and offload settings of ifname with the
// legacy ethtool ioctls, which need no privileges.
func liveEthtool(ifname string) (ethtoolInfo, error) {
	var e ethtoolInfo
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return e, err
	}
	defer unix.Close(fd)
	if d, err := unix.IoctlGetEthtoolDrvinfo(fd, ifname); err == nil {
		e.driver = unix.ByteSliceToString(d.Driver[:])
	}
	var firstErr error
	get := func(cmd uint32) *bool {
		v, err := ethtoolValue(fd, ifname, cmd)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		b := v != 0
		return &b
	}
	e.rxcsum = get(unix.ETHTOOL_GRXCSUM)
	e.txcsum = get(unix.ETHTOOL_GTXCSUM)
	e.gro = get(unix.ETHTOOL_GGRO)
	e.gso = get(unix.ETHTOOL_GGSO)
	e.tso = get(unix.ETHTOOL_GTSO)
	return e, firstErr
}

// ethtoolValue issues one ETHTOOL_G* command that answers a struct
// ethtool_value {u32 cmd; u32 data}.
func ethtoolValue(fd int, ifname string, cmd uint32) (uint32, error) {
	if len(ifname) >= unix.IFNAMSIZ {
		return 0, errors.New("interface name too long")
	}
	val := &struct{ cmd, data uint32 }{cmd: cmd}
	// data is an unsafe.Pointer, not a uintptr, so that the garbage
	// collector and stack copying keep val where the kernel will write.
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte // the rest of the kernel's union
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(val)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(val)
	if errno != 0 {
		return 0, errno
	}
	return val.data, nil
}
