package xfrm

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// checkSA fails unless sa is in the canonical form both parsers promise.
func checkSA(t *testing.T, sa SA) {
	t.Helper()
	for _, a := range []string{sa.Src, sa.Dst} {
		p, err := netip.ParseAddr(a)
		if err != nil || p.String() != a {
			t.Fatalf("non-canonical address %q in %+v", a, sa)
		}
	}
	if len(sa.SPI) != 10 || !strings.HasPrefix(sa.SPI, "0x") || strings.ToLower(sa.SPI) != sa.SPI {
		t.Fatalf("malformed SPI in %+v", sa)
	}
	if _, err := strconv.ParseUint(sa.SPI[2:], 16, 32); err != nil {
		t.Fatalf("malformed SPI in %+v", sa)
	}
	if _, ok := numberOf(sa.Proto, protoName, 0xff); !ok {
		t.Fatalf("unexpected proto in %+v", sa)
	}
	if _, ok := numberOf(sa.Mode, modeName, 0xff); !ok {
		t.Fatalf("unexpected mode in %+v", sa)
	}
	if sa.Encap != "" {
		if _, ok := numberOf(sa.Encap, encapName, 0xffff); !ok {
			t.Fatalf("unexpected encap in %+v", sa)
		}
	}
	if len(sa.Algs) > maxAlgsPerSA {
		t.Fatalf("too many algorithms in %+v", sa)
	}
	for _, a := range sa.Algs {
		if !validAlgName(a) {
			t.Fatalf("invalid algorithm name %q in %+v", a, sa)
		}
	}
}

// numberOf inverts protoName, modeName or encapName.
func numberOf[T uint8 | uint16](s string, name func(T) string, max uint64) (uint64, bool) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, n <= max && name(T(n)) == s
	}
	for n := uint64(0); n <= 0xff; n++ { // every named value is small
		if name(T(n)) == s {
			return n, true
		}
	}
	return 0, false
}

// reencode turns parsed SAs back into a kernel dump, so a fuzzed input that
// parses can be checked for a faithful round trip.
func reencode(t *testing.T, sas []SA) []byte {
	t.Helper()
	var b []byte
	for _, sa := range sas {
		proto, _ := numberOf(sa.Proto, protoName, 0xff)
		mode, _ := numberOf(sa.Mode, modeName, 0xff)
		spi, _ := strconv.ParseUint(sa.SPI[2:], 16, 32)
		ts := testSA{src: netip.MustParseAddr(sa.Src), dst: netip.MustParseAddr(sa.Dst),
			proto: uint8(proto), spi: uint32(spi), mode: uint8(mode)}
		for _, a := range sa.Algs {
			ts.attrs = append(ts.attrs, algo(xfrmaAlgCrypt, a, []byte("SECRETKEY")))
		}
		if sa.Encap != "" {
			e, _ := numberOf(sa.Encap, encapName, 0xffff)
			ts.attrs = append(ts.attrs, encap(uint16(e), 4500, 4500))
		}
		b = append(b, newSAMsg(ts)...)
	}
	return append(b, doneMsg()...)
}

// renderIP prints SAs the way `ip xfrm state` does, with made-up keys.
func renderIP(sas []SA) string {
	var sb strings.Builder
	for _, sa := range sas {
		fmt.Fprintf(&sb, "src %s dst %s\n\tproto %s spi %s reqid 0 mode %s\n\treplay-window 0 \n", sa.Src, sa.Dst, sa.Proto, sa.SPI, sa.Mode)
		for _, a := range sa.Algs {
			fmt.Fprintf(&sb, "\tenc %s 0x5345435245544b4559\n", a)
		}
		if sa.Encap != "" {
			fmt.Fprintf(&sb, "\tencap type %s sport 4500 dport 4500 addr 0.0.0.0\n", sa.Encap)
		}
		sb.WriteString("\tsel src 0.0.0.0/0 dst 0.0.0.0/0 \n")
	}
	return sb.String()
}

func addGoldenSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseDump(f *testing.F) {
	f.Add(doneMsg())
	f.Add(concat(newSAMsg(saNATT), doneMsg()))
	f.Add(concat(newSAMsg(saTunnel), newSAMsg(saV6), doneMsg()))
	f.Add(concat(newSAMsg(saNATT), errorMsg(-1)))
	f.Add(concat(nlmsg(nlmsgNoop, 0, nil), errorMsg(0), doneMsg()))
	if rawDumpComparable() {
		addGoldenSeeds(f, "*.netlink")
	}
	// Seeds that are a bare XFRM_MSG_NEWSA payload exercise the SA and
	// attribute parser, which a fuzzer rarely reaches through valid
	// framing; each input is also tried wrapped in that framing.
	f.Add(newSAMsg(saTunnel)[nlmsgHdrLen:])
	f.Add(newSAMsg(saNATT)[nlmsgHdrLen:])
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDump(t, b)
		if len(b) <= 0xffff {
			checkDump(t, concat(nlmsg(xfrmMsgNewSA, 0, b), doneMsg()))
		}
	})
}

// checkParsed checks what a parser returned on any input: nothing with an
// error, and otherwise at most maxSAs well-formed SAs, which round-trip
// through the ip text. It reports whether there are SAs to check further.
func checkParsed(t *testing.T, sas []SA, err error) bool {
	t.Helper()
	if err != nil {
		if sas != nil {
			t.Fatalf("SAs %+v returned with error %v", sas, err)
		}
		return false
	}
	if len(sas) > maxSAs {
		t.Fatalf("%d SAs exceed the limit", len(sas))
	}
	for _, sa := range sas {
		checkSA(t, sa)
	}
	if fromText, err := ParseIPState([]byte(renderIP(sas))); err != nil || !reflect.DeepEqual(fromText, sas) {
		t.Fatalf("rendered as ip text: %+v, %v; want %+v", fromText, err, sas)
	}
	return true
}

func checkDump(t *testing.T, b []byte) {
	t.Helper()
	sas, err := ParseDump(b)
	if !checkParsed(t, sas, err) {
		return
	}
	again, err := ParseDump(reencode(t, sas))
	if err != nil || !reflect.DeepEqual(again, sas) {
		t.Fatalf("round trip: %+v, %v; want %+v", again, err, sas)
	}
}

func FuzzParseIPState(f *testing.F) {
	addGoldenSeeds(f, "*.txt")
	f.Add([]byte("src 192.0.2.9 dst 192.0.2.10\r\n\tproto 99 spi 0xABCD reqid 0 mode 7\r\n\tauth hmac(md5) 0x00\r\n\tencap type espinudp-nonike sport 500 dport 500 addr 0.0.0.0\r\n"))
	f.Add([]byte("src 2001:db8::5 dst 2001:db8::6\n\tproto route2 spi 0x00000000 reqid 0 mode ro\n\tcomp deflate\n"))
	f.Add([]byte("src 1.2.3.4 dst 5.6.7.8\n\tproto esp sp"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sas, err := ParseIPState(b)
		if checkParsed(t, sas, err) && sas != nil {
			again, err := ParseDump(reencode(t, sas))
			if err != nil || !reflect.DeepEqual(again, sas) {
				t.Fatalf("as a kernel dump: %+v, %v; want %+v", again, err, sas)
			}
		}
	})
}
