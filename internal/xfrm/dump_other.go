//go:build !linux

package xfrm

import (
	"errors"
	"fmt"
	"runtime"
)

// Dump reports that reading SAs from the kernel is unsupported: XFRM and
// NETLINK_XFRM exist only on Linux. ParseIPState still works on text
// captured from a Linux host.
func Dump() ([]SA, error) {
	return nil, fmt.Errorf("xfrm: reading IPsec SAs from the kernel is unsupported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
