// Package xfrm reads the kernel's IPsec security associations (XFRM
// states), either straight from the kernel over NETLINK_XFRM or from the
// text that iproute2's `ip xfrm state` prints.
//
// zerocheck records them as host facts because an SA in transport mode
// changes what a receiver can trust: Linux does not re-validate the TCP
// checksum of a packet that arrived inside ESP, so corruption introduced
// on the host around the IPsec layer reaches the application unnoticed.
//
// Both sources are treated as untrusted input: every length is checked
// before use, nothing is allocated by a length read from the input, and key
// material is never copied out.
package xfrm

import (
	"errors"
	"fmt"
	"strconv"
)

// SA is one IPsec security association as the kernel holds it.
type SA struct {
	Src   string   `json:"src"`             // IP address text
	Dst   string   `json:"dst"`             // IP address text
	Proto string   `json:"proto"`           // "esp", "ah", "comp", or the number as text
	SPI   string   `json:"spi"`             // "0x" + 8 hex digits
	Mode  string   `json:"mode"`            // "transport", "tunnel", "ro", "in_trigger", "beet", or the number as text
	Encap string   `json:"encap,omitempty"` // "espinudp" (NAT-T), "espinudp-nonike", "espintcp", or "" when none
	Algs  []string `json:"algs,omitempty"`  // algorithm names in attribute order, e.g. "rfc4106(gcm(aes))"
}

// ErrDenied is returned (wrapped) by Dump when the kernel refuses to list
// SAs because the caller lacks CAP_NET_ADMIN in the network namespace; the
// caller can then report the fact as unknown rather than as "no IPsec".
var ErrDenied = errors.New("permission denied: needs CAP_NET_ADMIN")

// Limits that keep a hostile or broken source from exhausting memory or
// time. A real host with more SAs than maxSAs is far outside what zerocheck
// is meant to describe, so failing loudly is better than a silent cut.
const (
	maxSAs       = 4096
	maxDumpBytes = 16 << 20
	// maxAlgsPerSA is generous: the kernel holds at most one AEAD, auth,
	// crypt and comp algorithm per SA.
	maxAlgsPerSA = 8
	// maxAlgNameLen matches the kernel's char alg_name[64] minus the NUL.
	maxAlgNameLen = 63
)

// Numeric values from linux/in.h and linux/xfrm.h. They are spelled out
// here so that the parsers also build and behave the same on non-Linux
// systems, where package syscall has different values or none.
const (
	ipprotoESP  = 50
	ipprotoAH   = 51
	ipprotoCOMP = 108
)

func protoName(p uint8) string {
	switch p {
	case ipprotoESP:
		return "esp"
	case ipprotoAH:
		return "ah"
	case ipprotoCOMP:
		return "comp"
	}
	return strconv.Itoa(int(p))
}

var modeNames = [...]string{"transport", "tunnel", "ro", "in_trigger", "beet"}

func modeName(m uint8) string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return strconv.Itoa(int(m))
}

// Encapsulation types from linux/udp.h and linux/tcp.h.
const (
	udpEncapESPInUDPNonIKE = 1
	udpEncapESPInUDP       = 2
	tcpEncapESPInTCP       = 7
)

func encapName(t uint16) string {
	switch t {
	case udpEncapESPInUDPNonIKE:
		return "espinudp-nonike"
	case udpEncapESPInUDP:
		return "espinudp"
	case tcpEncapESPInTCP:
		return "espintcp"
	}
	return strconv.Itoa(int(t))
}

func spiText(spi uint32) string {
	return fmt.Sprintf("0x%08x", spi)
}

// validAlgName reports whether s can stand as an algorithm name. Kernel
// crypto names are short printable ASCII such as "rfc4106(gcm(aes))";
// anything else means the input is not what it claims to be, and letting
// control bytes through would let the input forge lines in a text report.
func validAlgName(s string) bool {
	if len(s) == 0 || len(s) > maxAlgNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
