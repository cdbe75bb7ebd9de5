package xfrm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
)

// Netlink framing (linux/netlink.h). Netlink headers are in host byte
// order because the peer is always the local kernel.
const (
	nlmsgHdrLen  = 16
	nlmsgNoop    = 0x1
	nlmsgError   = 0x2
	nlmsgDone    = 0x3
	nlmsgOverrun = 0x4

	nlmFDumpIntr = 0x10

	nlaHdrLen   = 4
	nlaTypeMask = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

	// maxErrno bounds what is accepted as an errno in NLMSG_ERROR and
	// NLMSG_DONE; the kernel's errnos are all below MAX_ERRNO (4095).
	maxErrno = 4095
)

// XFRM message and attribute types (linux/xfrm.h).
const (
	xfrmMsgNewSA = 0x10
	xfrmMsgGetSA = 0x12

	xfrmaAlgAuth      = 1
	xfrmaAlgCrypt     = 2
	xfrmaAlgComp      = 3
	xfrmaEncap        = 4
	xfrmaAlgAEAD      = 18
	xfrmaAlgAuthTrunc = 20
)

// Layout of struct xfrm_usersa_info, checked against the running kernel
// (see the real-kernel tests) and against offsetof() on linux/xfrm.h:
//
//	sel            0  struct xfrm_selector (56)
//	id.daddr      56  xfrm_address_t (16)
//	id.spi        72  __be32
//	id.proto      76  __u8
//	saddr         80  xfrm_address_t (16)
//	lft           96  struct xfrm_lifetime_cfg (64)
//	curlft       160  struct xfrm_lifetime_cur (32)
//	stats        192  struct xfrm_stats (12)
//	seq          204  __u32
//	reqid        208  __u32
//	family       212  __u16
//	mode         214  __u8
//	replay_window 215 __u8
//	flags        216  __u8
//
// The size is 224 where __u64 is 8-aligned and 220 on i386, whose ABI
// aligns __u64 to 4; only the tail padding differs, and the attributes
// start right after it.
const (
	offDaddr  = 56
	offSPI    = 72
	offProto  = 76
	offSaddr  = 80
	offFamily = 212
	offMode   = 214

	algNameLen = 64 // char alg_name[64] opens every xfrm_algo* struct

	afInet  = 2  // AF_INET on Linux
	afInet6 = 10 // AF_INET6 on Linux
)

var sizeofUsersaInfo = func() int {
	if runtime.GOARCH == "386" {
		return 220
	}
	return 224
}()

func nlmsgAlign(n int) int { return (n + 3) &^ 3 }

var (
	errTruncated = errors.New("xfrm: truncated netlink message")
	// errDumpInterrupted marks a dump the kernel flagged with
	// NLM_F_DUMP_INTR: the SA table changed while it was being walked, so
	// the result may miss or repeat SAs and is worth one more try.
	errDumpInterrupted = errors.New("xfrm: dump interrupted by a concurrent change (NLM_F_DUMP_INTR)")
	errNoDone          = errors.New("xfrm: netlink dump ended without NLMSG_DONE")
)

// ParseDump parses the concatenated netlink messages read from a
// NETLINK_XFRM socket in answer to an XFRM_MSG_GETSA dump request:
// XFRM_MSG_NEWSA messages ending with NLMSG_DONE. An NLMSG_ERROR (or an
// NLMSG_DONE) carrying a negative errno is returned as an error wrapping
// the syscall.Errno. Input that is truncated, malformed, lacks NLMSG_DONE or
// holds more than 4096 SAs gives an error.
func ParseDump(b []byte) ([]SA, error) {
	if len(b) > maxDumpBytes {
		return nil, fmt.Errorf("xfrm: netlink dump of %d bytes exceeds the %d-byte limit", len(b), maxDumpBytes)
	}
	var p dumpParser
	if err := p.feed(b); err != nil {
		return nil, err
	}
	if !p.done {
		return nil, errNoDone
	}
	return p.sas, nil
}

// dumpParser consumes a dump one datagram at a time, so that Dump can tell
// when NLMSG_DONE has arrived without parsing everything twice.
type dumpParser struct {
	sas         []SA
	done        bool
	interrupted bool
}

func (p *dumpParser) feed(b []byte) error {
	for len(b) > 0 {
		if p.done {
			// Nothing legitimately follows NLMSG_DONE in a dump.
			return fmt.Errorf("xfrm: %d bytes after NLMSG_DONE", len(b))
		}
		if len(b) < nlmsgHdrLen {
			return errTruncated
		}
		n := binary.NativeEndian.Uint32(b[0:4])
		typ := binary.NativeEndian.Uint16(b[4:6])
		flags := binary.NativeEndian.Uint16(b[6:8])
		if n < nlmsgHdrLen || uint64(n) > uint64(len(b)) {
			return fmt.Errorf("%w: nlmsg_len %d with %d bytes left", errTruncated, n, len(b))
		}
		payload := b[nlmsgHdrLen:n]
		if flags&nlmFDumpIntr != 0 {
			p.interrupted = true
		}
		switch typ {
		case nlmsgNoop:
		case nlmsgDone:
			// Since Linux 4.x a dump that fails part-way reports the errno
			// in NLMSG_DONE; an empty payload is also accepted.
			if len(payload) >= 4 {
				if err := errnoError(int32(binary.NativeEndian.Uint32(payload[:4])), "NLMSG_DONE"); err != nil {
					return err
				}
			}
			p.done = true
		case nlmsgError:
			if len(payload) < 4 {
				return fmt.Errorf("%w: NLMSG_ERROR without error code", errTruncated)
			}
			code := int32(binary.NativeEndian.Uint32(payload[:4]))
			if code == 0 {
				// An ACK; dumps are not acknowledged, but one is harmless.
				break
			}
			if err := errnoError(code, "NLMSG_ERROR"); err != nil {
				return err
			}
		case nlmsgOverrun:
			return errors.New("xfrm: netlink overrun: the kernel dropped part of the dump")
		case xfrmMsgNewSA:
			if len(p.sas) >= maxSAs {
				return fmt.Errorf("xfrm: more than %d SAs in the dump", maxSAs)
			}
			sa, err := parseNewSA(payload)
			if err != nil {
				return err
			}
			p.sas = append(p.sas, sa)
		default:
			// Other message types carry nothing zerocheck needs; skipping
			// them keeps the parser working if the kernel adds some.
		}
		adv := nlmsgAlign(int(n))
		if adv > len(b) {
			adv = len(b) // the last message may omit its padding
		}
		b = b[adv:]
	}
	if p.done && p.interrupted {
		return errDumpInterrupted
	}
	return nil
}

// errnoError turns a netlink error code into an error wrapping
// syscall.Errno, or returns nil for 0. Positive or absurd codes are not
// something the kernel sends, so they are reported as malformed input.
func errnoError(code int32, where string) error {
	if code == 0 {
		return nil
	}
	e := -int64(code)
	if e <= 0 || e > maxErrno {
		return fmt.Errorf("xfrm: malformed %s: error code %d", where, code)
	}
	return fmt.Errorf("xfrm: kernel answered %s: %w", where, syscall.Errno(e))
}

func parseNewSA(b []byte) (SA, error) {
	if len(b) < sizeofUsersaInfo {
		return SA{}, fmt.Errorf("%w: XFRM_MSG_NEWSA payload of %d bytes, want at least %d", errTruncated, len(b), sizeofUsersaInfo)
	}
	family := binary.NativeEndian.Uint16(b[offFamily : offFamily+2])
	src, err := xfrmAddr(b[offSaddr:offSaddr+16], family)
	if err != nil {
		return SA{}, err
	}
	dst, err := xfrmAddr(b[offDaddr:offDaddr+16], family)
	if err != nil {
		return SA{}, err
	}
	sa := SA{
		Src:   src,
		Dst:   dst,
		Proto: protoName(b[offProto]),
		SPI:   spiText(binary.BigEndian.Uint32(b[offSPI : offSPI+4])),
		Mode:  modeName(b[offMode]),
	}
	if err := parseSAAttrs(b[nlmsgAlign(sizeofUsersaInfo):], &sa); err != nil {
		return SA{}, err
	}
	return sa, nil
}

func xfrmAddr(b []byte, family uint16) (string, error) {
	switch family {
	case afInet:
		return netip.AddrFrom4([4]byte(b[:4])).String(), nil
	case afInet6:
		return netip.AddrFrom16([16]byte(b[:16])).String(), nil
	}
	return "", fmt.Errorf("xfrm: SA with unknown address family %d", family)
}

type algAttr struct {
	typ  uint16
	name string
}

func parseSAAttrs(b []byte, sa *SA) error {
	var algs []algAttr
	hasAuthTrunc := false
	for len(b) > 0 {
		if len(b) < nlaHdrLen {
			return fmt.Errorf("%w: %d stray bytes after the last attribute", errTruncated, len(b))
		}
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if n < nlaHdrLen || n > len(b) {
			return fmt.Errorf("%w: nla_len %d with %d bytes left", errTruncated, n, len(b))
		}
		val := b[nlaHdrLen:n]
		switch typ {
		case xfrmaEncap:
			// struct xfrm_encap_tmpl opens with __u16 encap_type in host order.
			if len(val) < 2 {
				return fmt.Errorf("%w: XFRMA_ENCAP of %d bytes", errTruncated, len(val))
			}
			sa.Encap = encapName(binary.NativeEndian.Uint16(val[:2]))
		case xfrmaAlgAEAD, xfrmaAlgCrypt, xfrmaAlgAuth, xfrmaAlgAuthTrunc, xfrmaAlgComp:
			name, err := algName(val)
			if err != nil {
				return err
			}
			if len(algs) >= maxAlgsPerSA {
				return fmt.Errorf("xfrm: more than %d algorithm attributes in one SA", maxAlgsPerSA)
			}
			algs = append(algs, algAttr{typ, name})
			if typ == xfrmaAlgAuthTrunc {
				hasAuthTrunc = true
			}
		}
		adv := nlmsgAlign(n)
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	for _, a := range algs {
		// The kernel reports an auth algorithm twice: as XFRMA_ALG_AUTH for
		// old tools and as XFRMA_ALG_AUTH_TRUNC with the truncation length.
		// It is one algorithm, and iproute2 prints it once.
		if a.typ == xfrmaAlgAuth && hasAuthTrunc {
			continue
		}
		sa.Algs = append(sa.Algs, a.name)
	}
	return nil
}

// algName reads char alg_name[64] from the head of an xfrm_algo* struct.
// Only the name is read: the key that follows must never leave the kernel's
// message buffer.
func algName(val []byte) (string, error) {
	if len(val) < algNameLen {
		return "", fmt.Errorf("%w: algorithm attribute of %d bytes", errTruncated, len(val))
	}
	raw := val[:algNameLen]
	end := -1
	for i, c := range raw {
		if c == 0 {
			end = i
			break
		}
	}
	if end < 0 {
		return "", errors.New("xfrm: algorithm name is not NUL-terminated")
	}
	name := string(raw[:end])
	if !validAlgName(name) {
		return "", fmt.Errorf("xfrm: malformed algorithm name %q", name)
	}
	return name, nil
}
