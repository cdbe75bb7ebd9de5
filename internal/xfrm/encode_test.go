package xfrm

import (
	"encoding/binary"
	"net/netip"
)

// This file is a small encoder for the kernel's XFRM dump messages, used
// to build test input. It mirrors what net/xfrm/xfrm_user.c emits.

type testAttr struct {
	typ uint16
	val []byte
}

type testSA struct {
	src, dst netip.Addr
	proto    uint8
	spi      uint32
	mode     uint8
	reqid    uint32
	attrs    []testAttr
	// family overrides the family derived from the addresses when non-zero.
	family uint16
}

func nlmsg(typ, flags uint16, payload []byte) []byte {
	n := nlmsgHdrLen + len(payload)
	b := make([]byte, nlmsgAlign(n))
	binary.NativeEndian.PutUint32(b[0:4], uint32(n))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags|0x2) // NLM_F_MULTI, as in a dump
	binary.NativeEndian.PutUint32(b[8:12], 1)
	copy(b[nlmsgHdrLen:], payload)
	return b
}

func nla(a testAttr) []byte {
	n := nlaHdrLen + len(a.val)
	b := make([]byte, nlmsgAlign(n))
	binary.NativeEndian.PutUint16(b[0:2], uint16(n))
	binary.NativeEndian.PutUint16(b[2:4], a.typ)
	copy(b[nlaHdrLen:], a.val)
	return b
}

func usersaInfo(s testSA) []byte {
	b := make([]byte, nlmsgAlign(sizeofUsersaInfo))
	fam := s.family
	if fam == 0 {
		fam = afInet6
		if s.src.Is4() {
			fam = afInet
		}
	}
	putAddr := func(off int, a netip.Addr) {
		if a.Is4() {
			v := a.As4()
			copy(b[off:off+4], v[:])
		} else {
			v := a.As16()
			copy(b[off:off+16], v[:])
		}
	}
	// The selector mirrors the SA addresses, as the kernel fills it for a
	// transport-mode SA; ParseDump must not read from it.
	putAddr(0, s.dst)
	putAddr(16, s.src)
	binary.NativeEndian.PutUint16(b[40:42], fam)
	putAddr(offDaddr, s.dst)
	binary.BigEndian.PutUint32(b[offSPI:offSPI+4], s.spi)
	b[offProto] = s.proto
	putAddr(offSaddr, s.src)
	for i := 96; i < 160; i++ { // lifetime limits are XFRM_INF
		b[i] = 0xff
	}
	binary.NativeEndian.PutUint32(b[208:212], s.reqid)
	binary.NativeEndian.PutUint16(b[offFamily:offFamily+2], fam)
	b[offMode] = s.mode
	b[215] = 32 // replay_window
	return b
}

func newSAMsg(s testSA) []byte {
	p := usersaInfo(s)
	for _, a := range s.attrs {
		p = append(p, nla(a)...)
	}
	return nlmsg(xfrmMsgNewSA, 0, p)
}

func doneMsg() []byte {
	return nlmsg(nlmsgDone, 0, make([]byte, 4))
}

func errorMsg(code int32) []byte {
	p := make([]byte, 4+nlmsgHdrLen)
	binary.NativeEndian.PutUint32(p[0:4], uint32(code))
	binary.NativeEndian.PutUint32(p[4:8], nlmsgHdrLen) // the request echoed back
	binary.NativeEndian.PutUint16(p[8:10], xfrmMsgGetSA)
	return nlmsg(nlmsgError, 0, p)
}

// algo builds struct xfrm_algo (extra == nil) or xfrm_algo_aead /
// xfrm_algo_auth (extra = icv or trunc length) with a key.
func algo(typ uint16, name string, key []byte, extra ...uint32) testAttr {
	v := make([]byte, algNameLen+4)
	copy(v, name)
	binary.NativeEndian.PutUint32(v[algNameLen:], uint32(len(key)*8))
	for _, e := range extra {
		v = binary.NativeEndian.AppendUint32(v, e)
	}
	return testAttr{typ, append(v, key...)}
}

// encap builds struct xfrm_encap_tmpl.
func encap(typ, sport, dport uint16) testAttr {
	v := make([]byte, 24)
	binary.NativeEndian.PutUint16(v[0:2], typ)
	binary.BigEndian.PutUint16(v[2:4], sport)
	binary.BigEndian.PutUint16(v[4:6], dport)
	return testAttr{xfrmaEncap, v}
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
