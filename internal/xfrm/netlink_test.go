package xfrm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// Recognisable key bytes: no parsed SA may ever contain them.
var (
	testKey20 = []byte("SECRETKEY-GCM-20byte")
	testKey16 = []byte("SECRETKEY-AES-16")
	testKey32 = []byte("SECRETKEY-HMAC-SHA256-32-bytes!!")
)

var (
	saNATT = testSA{
		src: netip.MustParseAddr("192.0.2.1"), dst: netip.MustParseAddr("192.0.2.2"),
		proto: ipprotoESP, spi: 0x100, mode: 0,
		attrs: []testAttr{
			algo(xfrmaAlgAEAD, "rfc4106(gcm(aes))", testKey20, 128),
			encap(udpEncapESPInUDP, 4500, 4500),
		},
	}
	wantNATT = SA{Src: "192.0.2.1", Dst: "192.0.2.2", Proto: "esp", SPI: "0x00000100", Mode: "transport",
		Encap: "espinudp", Algs: []string{"rfc4106(gcm(aes))"}}

	// The kernel sends an auth algorithm both as XFRMA_ALG_AUTH and as
	// XFRMA_ALG_AUTH_TRUNC, ahead of the cipher.
	saTunnel = testSA{
		src: netip.MustParseAddr("192.0.2.3"), dst: netip.MustParseAddr("192.0.2.4"),
		proto: ipprotoESP, spi: 0xc0ffee01, mode: 1, reqid: 7,
		attrs: []testAttr{
			algo(xfrmaAlgAuth, "hmac(sha256)", testKey32),
			algo(xfrmaAlgAuthTrunc, "hmac(sha256)", testKey32, 128),
			algo(xfrmaAlgCrypt, "cbc(aes)", testKey16),
		},
	}
	wantTunnel = SA{Src: "192.0.2.3", Dst: "192.0.2.4", Proto: "esp", SPI: "0xc0ffee01", Mode: "tunnel",
		Algs: []string{"hmac(sha256)", "cbc(aes)"}}

	saV6 = testSA{
		src: netip.MustParseAddr("2001:db8::1"), dst: netip.MustParseAddr("2001:db8:0:1::2"),
		proto: ipprotoESP, spi: 0x300, mode: 0,
		attrs: []testAttr{
			algo(xfrmaAlgAEAD, "rfc4106(gcm(aes))", testKey20, 128),
			encap(tcpEncapESPInTCP, 4500, 4500),
		},
	}
	wantV6 = SA{Src: "2001:db8::1", Dst: "2001:db8:0:1::2", Proto: "esp", SPI: "0x00000300", Mode: "transport",
		Encap: "espintcp", Algs: []string{"rfc4106(gcm(aes))"}}
)

func TestParseDump(t *testing.T) {
	type tc struct {
		name    string
		in      []byte
		want    []SA
		wantErr string // substring; "" means success
		errIs   error
	}
	natt := newSAMsg(saNATT)
	tests := []tc{
		{name: "empty dump", in: doneMsg(), want: nil},
		{name: "done without error code", in: nlmsg(nlmsgDone, 0, nil), want: nil},
		{name: "transport ESP NAT-T rfc4106", in: concat(natt, doneMsg()), want: []SA{wantNATT}},
		{name: "tunnel ESP cbc hmac", in: concat(newSAMsg(saTunnel), doneMsg()), want: []SA{wantTunnel}},
		{name: "IPv6 espintcp", in: concat(newSAMsg(saV6), doneMsg()), want: []SA{wantV6}},
		{
			name: "several SAs with noop, ack and unknown messages",
			in: concat(newSAMsg(saTunnel), nlmsg(nlmsgNoop, 0, nil), errorMsg(0),
				nlmsg(0x13, 0, []byte{1, 2, 3, 4}), natt, newSAMsg(saV6), doneMsg()),
			want: []SA{wantTunnel, wantNATT, wantV6},
		},
		{
			name: "ah beet, comp, nonike, auth only, unnamed numbers",
			in: concat(
				newSAMsg(testSA{src: netip.MustParseAddr("10.0.0.1"), dst: netip.MustParseAddr("10.0.0.2"),
					proto: ipprotoAH, spi: 0xffffffff, mode: 4,
					attrs: []testAttr{algo(xfrmaAlgAuth, "hmac(sha1)", testKey20)}}),
				newSAMsg(testSA{src: netip.MustParseAddr("10.0.0.1"), dst: netip.MustParseAddr("10.0.0.2"),
					proto: ipprotoCOMP, spi: 0x4000, mode: 1,
					attrs: []testAttr{algo(xfrmaAlgComp, "deflate", nil)}}),
				newSAMsg(testSA{src: netip.MustParseAddr("10.0.0.1"), dst: netip.MustParseAddr("10.0.0.2"),
					proto: 43, spi: 0, mode: 2,
					attrs: []testAttr{encap(udpEncapESPInUDPNonIKE, 500, 500), {typ: 0x8000 | 99, val: []byte{1}}}}),
				newSAMsg(testSA{src: netip.MustParseAddr("10.0.0.1"), dst: netip.MustParseAddr("10.0.0.2"),
					proto: ipprotoESP, spi: 1, mode: 3, attrs: []testAttr{encap(99, 1, 1)}}),
				newSAMsg(testSA{src: netip.MustParseAddr("10.0.0.1"), dst: netip.MustParseAddr("10.0.0.2"),
					proto: ipprotoESP, spi: 2, mode: 9}),
				doneMsg()),
			want: []SA{
				{Src: "10.0.0.1", Dst: "10.0.0.2", Proto: "ah", SPI: "0xffffffff", Mode: "beet", Algs: []string{"hmac(sha1)"}},
				{Src: "10.0.0.1", Dst: "10.0.0.2", Proto: "comp", SPI: "0x00004000", Mode: "tunnel", Algs: []string{"deflate"}},
				{Src: "10.0.0.1", Dst: "10.0.0.2", Proto: "43", SPI: "0x00000000", Mode: "ro", Encap: "espinudp-nonike"},
				{Src: "10.0.0.1", Dst: "10.0.0.2", Proto: "esp", SPI: "0x00000001", Mode: "in_trigger", Encap: "99"},
				{Src: "10.0.0.1", Dst: "10.0.0.2", Proto: "esp", SPI: "0x00000002", Mode: "9"},
			},
		},
		{name: "NLMSG_ERROR EPERM", in: errorMsg(-int32(syscall.EPERM)), wantErr: "operation not permitted", errIs: syscall.EPERM},
		{name: "NLMSG_ERROR after SAs", in: concat(natt, errorMsg(-int32(syscall.ENOMEM))), errIs: syscall.ENOMEM},
		{name: "NLMSG_DONE carrying EINTR", in: concat(natt, nlmsg(nlmsgDone, 0, binary.NativeEndian.AppendUint32(nil, uint32(0xfffffffc)))), errIs: syscall.EINTR},
		{name: "NLMSG_ERROR positive code", in: errorMsg(5), wantErr: "malformed NLMSG_ERROR"},
		{name: "NLMSG_ERROR huge code", in: errorMsg(-5000), wantErr: "malformed NLMSG_ERROR"},
		{name: "NLMSG_ERROR INT32_MIN", in: errorMsg(-1 << 31), wantErr: "malformed NLMSG_ERROR"},
		{name: "NLMSG_ERROR without code", in: nlmsg(nlmsgError, 0, []byte{1, 2}), errIs: errTruncated},
		{name: "overrun", in: nlmsg(nlmsgOverrun, 0, nil), wantErr: "overrun"},
		{name: "dump interrupted", in: concat(nlmsg(xfrmMsgNewSA, nlmFDumpIntr, usersaInfo(saNATT)), doneMsg()), errIs: errDumpInterrupted},
		{name: "empty input", in: nil, errIs: errNoDone},
		{name: "no NLMSG_DONE", in: natt, errIs: errNoDone},
		{name: "bytes after NLMSG_DONE", in: concat(doneMsg(), natt), wantErr: "after NLMSG_DONE"},
		{name: "truncated header", in: natt[:10], errIs: errTruncated},
		{name: "truncated message", in: natt[:len(natt)-8], errIs: errTruncated},
		{name: "truncated in the middle of the dump", in: concat(natt, natt)[:len(natt)+100], errIs: errTruncated},
		{name: "nlmsg_len below header", in: func() []byte {
			b := doneMsg()
			binary.NativeEndian.PutUint32(b, 8)
			return b
		}(), errIs: errTruncated},
		{name: "nlmsg_len huge", in: func() []byte {
			b := concat(natt, doneMsg())
			binary.NativeEndian.PutUint32(b, 0xffffffff)
			return b
		}(), errIs: errTruncated},
		{name: "short NEWSA payload", in: concat(nlmsg(xfrmMsgNewSA, 0, make([]byte, 100)), doneMsg()), errIs: errTruncated},
		{name: "nla_len beyond message", in: concat(nlmsg(xfrmMsgNewSA, 0, append(usersaInfo(saNATT), 200, 0, 2, 0, 'x', 0, 0, 0)), doneMsg()), errIs: errTruncated},
		{name: "nla_len below header", in: concat(nlmsg(xfrmMsgNewSA, 0, append(usersaInfo(saNATT), 2, 0, 2, 0)), doneMsg()), errIs: errTruncated},
		{name: "stray bytes after attributes", in: concat(nlmsg(xfrmMsgNewSA, 0, append(usersaInfo(saNATT), 1, 2)), doneMsg()), errIs: errTruncated},
		{name: "short algorithm attribute", in: concat(nlmsg(xfrmMsgNewSA, 0, append(usersaInfo(saNATT),
			nla(testAttr{xfrmaAlgCrypt, []byte("cbc(aes)\x00")})...)), doneMsg()), errIs: errTruncated},
		{name: "short encap attribute", in: concat(nlmsg(xfrmMsgNewSA, 0, append(usersaInfo(saNATT),
			nla(testAttr{xfrmaEncap, []byte{2}})...)), doneMsg()), errIs: errTruncated},
		{name: "algorithm name without NUL", in: concat(newSAMsg(testSA{src: saNATT.src, dst: saNATT.dst, proto: ipprotoESP,
			attrs: []testAttr{algo(xfrmaAlgCrypt, strings.Repeat("a", 64), nil)}}), doneMsg()), wantErr: "not NUL-terminated"},
		{name: "algorithm name with control byte", in: concat(newSAMsg(testSA{src: saNATT.src, dst: saNATT.dst, proto: ipprotoESP,
			attrs: []testAttr{algo(xfrmaAlgCrypt, "cbc(aes)\nFAKE", nil)}}), doneMsg()), wantErr: "malformed algorithm name"},
		{name: "empty algorithm name", in: concat(newSAMsg(testSA{src: saNATT.src, dst: saNATT.dst, proto: ipprotoESP,
			attrs: []testAttr{algo(xfrmaAlgCrypt, "", nil)}}), doneMsg()), wantErr: "malformed algorithm name"},
		{name: "too many algorithms", in: concat(newSAMsg(testSA{src: saNATT.src, dst: saNATT.dst, proto: ipprotoESP,
			attrs: func() []testAttr {
				var a []testAttr
				for i := 0; i <= maxAlgsPerSA; i++ {
					a = append(a, algo(xfrmaAlgCrypt, "cbc(aes)", nil))
				}
				return a
			}()}), doneMsg()), wantErr: "more than 8 algorithm"},
		{name: "unknown family", in: concat(newSAMsg(testSA{src: saNATT.src, dst: saNATT.dst, proto: ipprotoESP, family: 7}), doneMsg()), wantErr: "unknown address family 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDump(tt.in)
			if tt.wantErr == "" && tt.errIs == nil {
				if err != nil {
					t.Fatalf("ParseDump: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("ParseDump:\n got %+v\nwant %+v", got, tt.want)
				}
				checkNoKeys(t, got)
				return
			}
			if err == nil {
				t.Fatalf("ParseDump = %+v, want error", got)
			}
			if got != nil {
				t.Errorf("ParseDump returned SAs %+v along with error %v", got, err)
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("error %v is not %v", err, tt.errIs)
			}
		})
	}
}

func TestParseDumpLimits(t *testing.T) {
	msg := newSAMsg(saNATT)
	var b []byte
	for i := 0; i < maxSAs; i++ {
		b = append(b, msg...)
	}
	sas, err := ParseDump(concat(b, doneMsg()))
	if err != nil || len(sas) != maxSAs {
		t.Fatalf("ParseDump of %d SAs: %d SAs, %v", maxSAs, len(sas), err)
	}
	if _, err := ParseDump(concat(b, msg, doneMsg())); err == nil || !strings.Contains(err.Error(), "more than 4096 SAs") {
		t.Fatalf("ParseDump of %d SAs: err = %v, want too many", maxSAs+1, err)
	}
	if _, err := ParseDump(make([]byte, maxDumpBytes+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("ParseDump of an oversized dump: err = %v", err)
	}
}

// TestParseDumpTruncatedEverywhere cuts a valid dump at every byte and
// expects an error each time, never a panic or a partial success.
func TestParseDumpTruncatedEverywhere(t *testing.T) {
	full := concat(newSAMsg(saTunnel), newSAMsg(saNATT), newSAMsg(saV6), doneMsg())
	for i := 0; i < len(full); i++ {
		if sas, err := ParseDump(full[:i]); err == nil {
			t.Fatalf("ParseDump(first %d of %d bytes) = %+v, want error", i, len(full), sas)
		}
	}
}

// checkNoKeys fails if any key material from the test encoder leaked into
// the SAs.
func checkNoKeys(t *testing.T, sas []SA) {
	t.Helper()
	j, err := json.Marshal(sas)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(j, []byte("SECRET")) || bytes.Contains(j, []byte("5345435245")) {
		t.Fatalf("key material in parsed SAs: %s", j)
	}
}
