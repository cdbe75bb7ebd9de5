package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// allTypes are the types whose payload is JSON of any size up to their
// bound; the progress frame, of a fixed size, has tests of its own
// (progress_test.go).
var allTypes = []wire.Type{wire.TypeHello, wire.TypeReply, wire.TypeResult, wire.TypeChallenge, wire.TypeAuth, wire.TypeFacts}

// v is the version byte of hand-built headers: the version under test,
// so that these tests stay true when the protocol version is bumped.
// Version errors are tested with other versions (see headerErrors).
const v byte = wire.Version

// unknownTypes are type numbers no frame has.
var unknownTypes = []wire.Type{0, 8, 9, 10, 255}

// crcTable is built here, independently of the package under test.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// header builds a 12-byte frame header by hand.
func header(version, typ, r0, r1 byte, length uint32) []byte {
	h := []byte{'Z', 'C', 'H', 'K', version, typ, r0, r1, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

// handFrame builds a frame by hand: header, payload, CRC32C of both.
func handFrame(t wire.Type, payload []byte) []byte {
	b := header(v, byte(t), 0, 0, uint32(len(payload)))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func mustAppend(t testing.TB, typ wire.Type, payload []byte) []byte {
	t.Helper()
	b, err := wire.AppendFrame(nil, typ, payload)
	if err != nil {
		t.Fatalf("AppendFrame(%v, %d bytes): %v", typ, len(payload), err)
	}
	return b
}

// payloadOf returns the payload of a well-formed frame, read back with
// ReadFrame.
func payloadOf(t testing.TB, frame []byte, want wire.Type) []byte {
	t.Helper()
	typ, p, err := wire.ReadFrame(bytes.NewReader(frame), want)
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	if typ != want {
		t.Fatalf("ReadFrame type %v, want %v", typ, want)
	}
	return p
}

func wantErrContains(t *testing.T, err error, sub string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", sub)
	}
	if !strings.Contains(err.Error(), sub) {
		t.Fatalf("error %q does not contain %q", err, sub)
	}
}

func TestTypeStringAndMax(t *testing.T) {
	for _, c := range []struct {
		t    wire.Type
		name string
		max  int
	}{
		{wire.TypeHello, "hello", 64 << 10},
		{wire.TypeReply, "reply", 64 << 10},
		{wire.TypeResult, "result", 32 << 20},
		{wire.TypeChallenge, "challenge", 1 << 10},
		{wire.TypeAuth, "auth", 1 << 10},
		{wire.TypeProgress, "progress", 24},
		{0, "type 0", 0},
		{wire.TypeFacts, "facts", 64 << 10},
		{8, "type 8", 0},
		{9, "type 9", 0},
		{255, "type 255", 0},
	} {
		if got := c.t.String(); got != c.name {
			t.Errorf("Type(%d).String() = %q, want %q", uint8(c.t), got, c.name)
		}
		if got := wire.Max(c.t); got != c.max {
			t.Errorf("Max(%d) = %d, want %d", uint8(c.t), got, c.max)
		}
	}
	// A deliberate version bump changes this line and the golden frames
	// of TestFrameLayout, nothing else.
	if wire.HeaderSize != 12 || wire.TrailerSize != 4 || wire.Magic != "ZCHK" || wire.Version != 2 {
		t.Errorf("constants changed: header %d trailer %d magic %q version %d", wire.HeaderSize, wire.TrailerSize, wire.Magic, wire.Version)
	}
	if wire.TypeHello != 1 || wire.TypeReply != 2 || wire.TypeResult != 3 || wire.TypeChallenge != 4 || wire.TypeAuth != 5 || wire.TypeProgress != 6 || wire.TypeFacts != 7 {
		t.Errorf("type numbers changed: %d %d %d %d %d %d", wire.TypeHello, wire.TypeReply, wire.TypeResult, wire.TypeChallenge, wire.TypeAuth, wire.TypeProgress)
	}
}

func testPayloads(typ wire.Type) map[string][]byte {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	max := bytes.Repeat([]byte("0123456789abcdef"), wire.Max(typ)/16)
	return map[string][]byte{
		"empty":  {},
		"nil":    nil,
		"json":   []byte(`{"run_id":"0123456789abcdef","direction":"abort"}`),
		"binary": all,
		"max":    max,
	}
}

// TestFrameLayout checks the exact bytes of a frame against a frame built
// in this test with hash/crc32.
func TestFrameLayout(t *testing.T) {
	for _, typ := range allTypes {
		for name, p := range testPayloads(typ) {
			t.Run(fmt.Sprintf("%v/%s", typ, name), func(t *testing.T) {
				got := mustAppend(t, typ, p)
				if len(got) != 12+len(p)+4 {
					t.Fatalf("frame of %d bytes for a %d-byte payload", len(got), len(p))
				}
				if string(got[:4]) != "ZCHK" || got[4] != v || got[5] != byte(typ) || got[6] != 0 || got[7] != 0 {
					t.Fatalf("header % x", got[:8])
				}
				if n := binary.BigEndian.Uint32(got[8:12]); n != uint32(len(p)) {
					t.Fatalf("length field %d, want %d", n, len(p))
				}
				if !bytes.Equal(got[12:12+len(p)], p) {
					t.Fatal("payload not copied verbatim")
				}
				if sum, want := binary.BigEndian.Uint32(got[12+len(p):]), crc32.Checksum(got[:12+len(p)], crcTable); sum != want {
					t.Fatalf("trailer %#08x, want CRC32C %#08x", sum, want)
				}
				if want := handFrame(typ, p); !bytes.Equal(got, want) {
					t.Fatalf("frame differs from hand-built frame")
				}
			})
		}
	}
	// Golden frames of version 2, byte for byte. The CRC32C trailers were
	// computed outside Go, with a bitwise Python CRC32C (reflected
	// polynomial 0x82F63B78, init and final xor 0xFFFFFFFF, checked
	// against the standard check value CRC32C("123456789") = 0xE3069283)
	// over header and payload:
	//
	//	def crc32c(data):
	//	    crc = 0xFFFFFFFF
	//	    for b in data:
	//	        crc ^= b
	//	        for _ in range(8):
	//	            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
	//	    return crc ^ 0xFFFFFFFF
	//
	// They fail at a version bump: recompute them then.
	for _, c := range []struct {
		typ     wire.Type
		payload string
		hex     string
	}{
		{wire.TypeHello, "", "5a43484b0201000000000000840fd0dd"},
		{wire.TypeReply, "{}", "5a43484b02020000000000027b7d57451c45"},
		{wire.TypeChallenge, "", "5a43484b020400000000000049ec39c4"},
		{wire.TypeAuth, "{}", "5a43484b02050000000000027b7d9025d25f"},
		{wire.TypeFacts, "{}", "5a43484b02070000000000027b7d7db4083e"},
	} {
		want, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustAppend(t, c.typ, []byte(c.payload)); !bytes.Equal(got, want) {
			t.Errorf("%v frame of %q: % x, want % x", c.typ, c.payload, got, want)
		}
		if got := handFrame(c.typ, []byte(c.payload)); !bytes.Equal(got, want) {
			t.Errorf("hand-built %v frame of %q: % x, want % x (handFrame or the golden frame is wrong)", c.typ, c.payload, got, want)
		}
	}
}

// TestAppendFrameAppends checks that AppendFrame keeps what b holds and
// checksums only the new frame.
func TestAppendFrameAppends(t *testing.T) {
	prefix := []byte("existing bytes")
	b, err := wire.AppendFrame(bytes.Clone(prefix), wire.TypeReply, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, prefix) {
		t.Fatal("prefix lost")
	}
	// The golden reply frame of TestFrameLayout (CRC32C computed in
	// Python).
	if want := "5a43484b02020000000000027b7d57451c45"; hex.EncodeToString(b[len(prefix):]) != want {
		t.Fatalf("appended frame % x, want %s", b[len(prefix):], want)
	}
	if want := handFrame(wire.TypeReply, []byte("{}")); !bytes.Equal(b[len(prefix):], want) {
		t.Fatalf("appended frame % x, want % x", b[len(prefix):], want)
	}
	// Two frames appended back to back read back in order.
	b, _ = wire.AppendFrame(b, wire.TypeResult, []byte("second"))
	r := bytes.NewReader(b[len(prefix):])
	if typ, p, err := wire.ReadFrame(r, wire.TypeReply); err != nil || typ != wire.TypeReply || string(p) != "{}" {
		t.Fatalf("first frame: %v %q %v", typ, p, err)
	}
	if typ, p, err := wire.ReadFrame(r, wire.TypeResult); err != nil || typ != wire.TypeResult || string(p) != "second" {
		t.Fatalf("second frame: %v %q %v", typ, p, err)
	}
	if _, _, err := wire.ReadFrame(r, wire.TypeResult); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// countingWriter records each Write call.
type countingWriter struct {
	writes [][]byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestFrameRoundTrip(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"plain":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
		"dataerr": iotest.DataErrReader,
	}
	for _, typ := range allTypes {
		for name, p := range testPayloads(typ) {
			for rname, wrap := range readers {
				if name == "max" && rname != "plain" {
					continue // slow and adds nothing
				}
				t.Run(fmt.Sprintf("%v/%s/%s", typ, name, rname), func(t *testing.T) {
					var w countingWriter
					if err := wire.WriteFrame(&w, typ, p); err != nil {
						t.Fatal(err)
					}
					if len(w.writes) != 1 {
						t.Fatalf("WriteFrame made %d writes, want 1", len(w.writes))
					}
					frame := w.writes[0]
					if !bytes.Equal(frame, mustAppend(t, typ, p)) {
						t.Fatal("WriteFrame and AppendFrame differ")
					}
					// A sentinel after the frame must stay unread.
					src := bytes.NewReader(append(bytes.Clone(frame), "NEXT"...))
					got, payload, err := wire.ReadFrame(wrap(src), typ)
					if err != nil {
						t.Fatal(err)
					}
					if got != typ {
						t.Fatalf("type %v, want %v", got, typ)
					}
					if !bytes.Equal(payload, p) || len(payload) != len(p) {
						t.Fatalf("payload of %d bytes differs from the %d sent", len(payload), len(p))
					}
					// DataErrReader reads one block ahead by design.
					if rest, _ := io.ReadAll(src); rname != "dataerr" && string(rest) != "NEXT" {
						t.Fatalf("ReadFrame left %q unread, want %q", rest, "NEXT")
					}
				})
			}
		}
	}
}

func TestWriteFrameError(t *testing.T) {
	boom := errors.New("boom")
	err := wire.WriteFrame(writerFunc(func(p []byte) (int, error) { return 0, boom }), wire.TypeHello, []byte("{}"))
	if !errors.Is(err, boom) {
		t.Fatalf("WriteFrame error %v, want %v", err, boom)
	}
	var w countingWriter
	err = wire.WriteFrame(&w, wire.TypeHello, make([]byte, wire.MaxHello+1))
	if !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("oversized WriteFrame: %v, want ErrTooLarge", err)
	}
	if len(w.writes) != 0 {
		t.Fatalf("oversized WriteFrame wrote %d times", len(w.writes))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestAppendFrameTooLarge(t *testing.T) {
	for _, typ := range allTypes {
		max := wire.Max(typ)
		big := make([]byte, max+1)
		prefix := []byte("keep")
		b, err := wire.AppendFrame(bytes.Clone(prefix), typ, big)
		if !errors.Is(err, wire.ErrTooLarge) {
			t.Errorf("%v: AppendFrame of %d bytes: %v, want ErrTooLarge", typ, max+1, err)
			continue
		}
		if want := fmt.Sprintf("%v frame of %d bytes: frame too large (limit %d)", typ, max+1, max); err.Error() != want {
			t.Errorf("%v: error %q, want %q", typ, err, want)
		}
		if !bytes.Equal(b, prefix) {
			t.Errorf("%v: AppendFrame changed b on error: %q", typ, b)
		}
		// Exactly the bound is fine.
		if _, err := wire.AppendFrame(nil, typ, big[:max]); err != nil {
			t.Errorf("%v: AppendFrame of exactly %d bytes: %v", typ, max, err)
		}
	}
	for _, typ := range unknownTypes {
		if _, err := wire.AppendFrame(nil, typ, nil); !errors.Is(err, wire.ErrTooLarge) {
			t.Errorf("AppendFrame of unknown %v: %v, want an ErrTooLarge refusal", typ, err)
		}
	}
}

func TestParseHeader(t *testing.T) {
	for _, typ := range allTypes {
		for _, n := range []uint32{0, 1, 1000, uint32(wire.Max(typ))} {
			h, err := wire.ParseHeader(header(v, byte(typ), 0, 0, n))
			if err != nil {
				t.Errorf("%v length %d: %v", typ, n, err)
				continue
			}
			if h != (wire.Header{Type: typ, Length: int(n)}) {
				t.Errorf("%v length %d: got %+v", typ, n, h)
			}
		}
	}
	// Longer input: only the first 12 bytes count.
	if h, err := wire.ParseHeader(append(header(v, 2, 0, 0, 7), "trailing"...)); err != nil || h != (wire.Header{Type: wire.TypeReply, Length: 7}) {
		t.Errorf("header with trailing bytes: %+v %v", h, err)
	}
	for n := range 12 {
		if _, err := wire.ParseHeader(header(v, 1, 0, 0, 0)[:n]); err != io.ErrUnexpectedEOF {
			t.Errorf("ParseHeader of %d bytes: %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
}

// headerError is one bad header and the error both ParseHeader and
// ReadFrame must give.
type headerError struct {
	name  string
	h     []byte
	check func(t *testing.T, err error)
}

func isVersion(peer int) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var ve *wire.VersionError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v (%T), want *VersionError", err, err)
		}
		if ve.Peer != peer {
			t.Fatalf("VersionError.Peer = %d, want %d", ve.Peer, peer)
		}
		want := fmt.Sprintf("peer speaks zerocheck protocol version %d, this zerocheck speaks %d: run the same zerocheck release on both hosts", peer, wire.Version)
		if err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
	}
}

func isMessage(want string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
		var nz *wire.NotZerocheckError
		var ve *wire.VersionError
		if errors.As(err, &nz) || errors.As(err, &ve) || errors.Is(err, wire.ErrTooLarge) {
			t.Fatalf("error %v has the wrong class %T", err, err)
		}
	}
}

func isTooLarge(typ wire.Type, n uint32) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, wire.ErrTooLarge) {
			t.Fatalf("error %v, want ErrTooLarge", err)
		}
		want := fmt.Sprintf("%v frame claims %d bytes: frame too large (limit %d)", typ, n, wire.Max(typ))
		if err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
	}
}

func headerErrors() []headerError {
	cases := []headerError{
		// The version is checked before anything else that may change:
		// a version-1 peer's frames are version errors, whatever their
		// type (its types 1 to 3 and the new 4 and 5 alike).
		{"version 1 unknown type", header(1, 9, 1, 1, math.MaxUint32), isVersion(1)},
		{"version 1 challenge", header(1, byte(wire.TypeChallenge), 0, 0, math.MaxUint32), isVersion(1)},
		{"version 1 auth", header(1, byte(wire.TypeAuth), 0, 0, 0), isVersion(1)},
		{"next version unknown type", header(v+1, 6, 1, 1, math.MaxUint32), isVersion(int(v + 1))},
		{"reserved first", header(v, 1, 1, 0, 0), isMessage("protocol error: reserved header bytes 0x01 0x00 are not zero")},
		{"reserved second", header(v, 2, 0, 0x80, 0), isMessage("protocol error: reserved header bytes 0x00 0x80 are not zero")},
		{"reserved both", header(v, 3, 0xff, 0xff, 0), isMessage("protocol error: reserved header bytes 0xff 0xff are not zero")},
		{"reserved challenge", header(v, 4, 0, 1, 0), isMessage("protocol error: reserved header bytes 0x00 0x01 are not zero")},
		{"reserved auth", header(v, 5, 2, 0, 0), isMessage("protocol error: reserved header bytes 0x02 0x00 are not zero")},
	}
	// Other versions: 1, the previous one (before challenge and auth), 0,
	// 3, the next one, and 255; whichever equals the version under test
	// is left out, so that these stay true at a bump.
	seen := map[byte]bool{v: true}
	for i, ver := range []byte{v - 1, v + 1, 0, 1, 3, 255} {
		if seen[ver] {
			continue
		}
		seen[ver] = true
		typ := allTypes[i%len(allTypes)]
		cases = append(cases, headerError{fmt.Sprintf("version %d", ver), header(ver, byte(typ), 0, 0, 10), isVersion(int(ver))})
	}
	// Unknown types, the first one past progress (7) included; the type is
	// checked before the reserved bytes and the length.
	for _, typ := range unknownTypes {
		cases = append(cases,
			headerError{fmt.Sprintf("unknown type %d", typ), header(v, byte(typ), 0, 0, 0), isMessage(fmt.Sprintf("protocol error: unknown frame type %d", typ))},
			headerError{fmt.Sprintf("unknown type %d reserved length", typ), header(v, byte(typ), 1, 1, math.MaxUint32), isMessage(fmt.Sprintf("protocol error: unknown frame type %d", typ))},
		)
	}
	for _, typ := range allTypes {
		for _, n := range []uint32{uint32(wire.Max(typ)) + 1, 0x6edd0b51, 0xffffffff, 1 << 31} {
			cases = append(cases, headerError{
				fmt.Sprintf("%v length %#x", typ, n), header(v, byte(typ), 0, 0, n), isTooLarge(typ, n),
			})
		}
	}
	return cases
}

func TestHeaderErrors(t *testing.T) {
	for _, c := range headerErrors() {
		t.Run(c.name, func(t *testing.T) {
			h, err := wire.ParseHeader(c.h)
			if h != (wire.Header{}) {
				t.Errorf("ParseHeader returned %+v with its error", h)
			}
			c.check(t, err)
			// ReadFrame gives the same error, whatever follows the header
			// and whatever type is wanted, and reads nothing past the
			// header.
			for _, want := range allTypes {
				src := bytes.NewReader(append(bytes.Clone(c.h), make([]byte, 64)...))
				typ, p, err := wire.ReadFrame(src, want)
				if typ != 0 || p != nil {
					t.Errorf("ReadFrame returned %v, %q with its error", typ, p)
				}
				c.check(t, err)
				if src.Len() != 64 {
					t.Errorf("ReadFrame read %d bytes past the header", 64-src.Len())
				}
			}
		})
	}
}

func TestNotZerocheck(t *testing.T) {
	zeros := bytes.Repeat([]byte{0}, 12)
	for _, c := range []struct {
		name  string
		input string
		got   string // NotZerocheckError.Got
		shown string // how the message shows it
	}{
		{"zeros", string(zeros), string(zeros), "00 00 00 00 00 00 00 00 00 00 00 00"},
		{"many zeros", string(make([]byte, 4096)), string(zeros), "00 00 00 00 00 00 00 00 00 00 00 00"},
		{"http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1", `"GET / HTTP/1"`},
		{"ssh", "SSH-2.0-OpenSSH_9.6\r\n", "SSH-2.0-Open", `"SSH-2.0-Open"`},
		{"text with crlf tab", "ab\tc\r\nxyzzyqqq", "ab\tc\r\nxyzzyq", `"ab\tc\r\nxyzzyq"`},
		{"text with nul", "hello\x00world!", "hello\x00world!", "68 65 6c 6c 6f 00 77 6f 72 6c 64 21"},
		{"text with del", "hello\x7fworld!", "hello\x7fworld!", "68 65 6c 6c 6f 7f 77 6f 72 6c 64 21"},
		{"invalid utf8", "\xff\xfeabcdefghij", "\xff\xfeabcdefghij", "ff fe 61 62 63 64 65 66 67 68 69 6a"},
		{"utf8 text", "héllo wörld", "héllo wörl", `"héllo wörl"`},
		// A multi-byte character cut at the 12th byte is not valid UTF-8.
		{"utf8 cut", "hello worldé", "hello world\xc3", "68 65 6c 6c 6f 20 77 6f 72 6c 64 c3"},
		{"lower case magic", "zchk\x01\x01\x00\x00\x00\x00\x00\x00", "zchk\x01\x01\x00\x00\x00\x00\x00\x00", "7a 63 68 6b 01 01 00 00 00 00 00 00"},
		{"magic off by one", "ZCHJ\x01\x01\x00\x00\x00\x00\x00\x00", "ZCHJ\x01\x01\x00\x00\x00\x00\x00\x00", "5a 43 48 4a 01 01 00 00 00 00 00 00"},
		// Short reads that cannot be the start of a frame.
		{"short abc", "abc", "abc", `"abc"`},
		{"short one byte", "\x00", "\x00", "00"},
		{"short binary", "\x00\x01", "\x00\x01", "00 01"},
		{"short ZCx", "ZCx", "ZCx", `"ZCx"`},
		{"short 8 bytes", "ZCHXabcd", "ZCHXabcd", `"ZCHXabcd"`},
		{"short 11 bytes", "hello world", "hello world", `"hello world"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, want := range allTypes {
				_, _, err := wire.ReadFrame(strings.NewReader(c.input), want)
				var nz *wire.NotZerocheckError
				if !errors.As(err, &nz) {
					t.Fatalf("error %v (%T), want *NotZerocheckError", err, err)
				}
				if string(nz.Got) != c.got {
					t.Fatalf("Got %q, want %q", nz.Got, c.got)
				}
				msg := "peer does not speak the zerocheck protocol (first bytes " + c.shown + "); use --raw for a plain stream"
				if err.Error() != msg {
					t.Fatalf("error\n%q, want\n%q", err, msg)
				}
				if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
					t.Fatalf("a foreign peer is not a cut-short frame: %v", err)
				}
			}
			if len(c.input) >= 12 {
				_, err := wire.ParseHeader([]byte(c.input))
				var nz *wire.NotZerocheckError
				if !errors.As(err, &nz) || string(nz.Got) != c.got {
					t.Fatalf("ParseHeader: %v, want *NotZerocheckError with Got %q", err, c.got)
				}
			}
		})
	}
}

// TestNotZerocheckGotIsACopy checks that the error does not alias the
// caller's header.
func TestNotZerocheckGotIsACopy(t *testing.T) {
	h := []byte("GET / HTTP/1.1\r\n")
	_, err := wire.ParseHeader(h)
	var nz *wire.NotZerocheckError
	if !errors.As(err, &nz) {
		t.Fatal(err)
	}
	h[0] = 'X'
	if string(nz.Got) != "GET / HTTP/1" {
		t.Fatalf("Got aliases the input: %q", nz.Got)
	}
}

func TestHeaderCutShort(t *testing.T) {
	frame := handFrame(wire.TypeHello, []byte("{}"))
	// Nothing at all: the bare io.EOF of a peer that closed.
	if _, _, err := wire.ReadFrame(bytes.NewReader(nil), wire.TypeHello); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
	// A prefix of a real header is a cut-short frame, not a foreign peer.
	for n := 1; n < 12; n++ {
		_, _, err := wire.ReadFrame(bytes.NewReader(frame[:n]), wire.TypeHello)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%d header bytes: %v, want io.ErrUnexpectedEOF", n, err)
			continue
		}
		var nz *wire.NotZerocheckError
		if errors.As(err, &nz) {
			t.Errorf("%d header bytes: %v is a NotZerocheckError", n, err)
		}
		if want := fmt.Sprintf("frame header cut short after %d bytes: unexpected EOF", n); err.Error() != want {
			t.Errorf("%d header bytes: %q, want %q", n, err, want)
		}
	}
	// An I/O error other than EOF is passed on.
	boom := errors.New("connection reset")
	_, _, err := wire.ReadFrame(iotest.ErrReader(boom), wire.TypeHello)
	if err != boom {
		t.Fatalf("read error: %v, want %v", err, boom)
	}
	_, _, err = wire.ReadFrame(io.MultiReader(bytes.NewReader(frame[:12]), iotest.ErrReader(boom)), wire.TypeHello)
	if !errors.Is(err, boom) {
		t.Fatalf("read error in payload: %v, want wrapped %v", err, boom)
	}
	if want := "hello frame cut short after 0 of 6 bytes: connection reset"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestPayloadCutShort(t *testing.T) {
	p := []byte(`{"run_id":"0123456789abcdef","direction":"abort"}`)
	for _, typ := range allTypes {
		frame := handFrame(typ, p)
		total := len(p) + 4
		for _, cut := range []int{12, 13, 12 + len(p)/2, 12 + len(p), len(frame) - 1} {
			_, _, err := wire.ReadFrame(bytes.NewReader(frame[:cut]), typ)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%v cut at %d: %v, want io.ErrUnexpectedEOF", typ, cut, err)
				continue
			}
			want := fmt.Sprintf("%v frame cut short after %d of %d bytes: unexpected EOF", typ, cut-12, total)
			if err.Error() != want {
				t.Errorf("%v cut at %d: %q, want %q", typ, cut, err, want)
			}
		}
		// A header claiming more than is sent, then EOF. The claim stays
		// within the bound (1 KiB for challenge and auth).
		claim := min(5000, wire.Max(typ))
		h := header(v, byte(typ), 0, 0, uint32(claim))
		_, _, err := wire.ReadFrame(bytes.NewReader(append(h, "short"...)), typ)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%v claiming %d: %v, want io.ErrUnexpectedEOF", typ, claim, err)
		} else if want := fmt.Sprintf("%v frame cut short after 5 of %d bytes: unexpected EOF", typ, claim+4); err.Error() != want {
			t.Errorf("%v claiming %d: %q, want %q", typ, claim, err, want)
		}
	}
}

// TestBitFlips flips every bit of a frame in turn and checks the exact
// outcome: a checksum error for the payload and trailer, and for the
// header whatever its field makes of the flip.
func TestBitFlips(t *testing.T) {
	p := []byte(`{"run_id":"0123456789abcdef","stream":0,"streams":1,"direction":"forward","pattern":"random","seed":1,"bytes":1048576}`)
	for _, typ := range allTypes {
		frame := handFrame(typ, p)
		for bit := range 8 * len(frame) {
			bad := bytes.Clone(frame)
			bad[bit/8] ^= 1 << (bit % 8)
			gotType, payload, err := wire.ReadFrame(bytes.NewReader(bad), typ)
			if err == nil {
				t.Errorf("%v bit %d: accepted (%v, %d bytes)", typ, bit, gotType, len(payload))
				continue
			}
			if gotType != 0 || payload != nil {
				t.Errorf("%v bit %d: returned %v, %d bytes with error %v", typ, bit, gotType, len(payload), err)
			}
			checkFlip(t, typ, bad, bit/8, err)
		}
	}
}

func checkFlip(t *testing.T, want wire.Type, bad []byte, at int, err error) {
	t.Helper()
	fail := func(format string, a ...any) {
		t.Helper()
		t.Errorf("%v byte %d: %v: %s", want, at, err, fmt.Sprintf(format, a...))
	}
	var nz *wire.NotZerocheckError
	var ve *wire.VersionError
	var ue *wire.UnexpectedError
	var ce *wire.ChecksumError
	checksum := func(typ wire.Type) {
		t.Helper()
		n := int(binary.BigEndian.Uint32(bad[8:12]))
		if !errors.As(err, &ce) {
			fail("want *ChecksumError")
			return
		}
		wantErr := wire.ChecksumError{
			Type:   typ,
			Want:   crc32.Checksum(bad[:12+n], crcTable),
			Got:    binary.BigEndian.Uint32(bad[12+n:]),
			Length: n,
		}
		if *ce != wantErr {
			fail("got %+v, want %+v", *ce, wantErr)
		}
	}
	lengthOutcome := func(typ wire.Type) {
		t.Helper()
		n := int(binary.BigEndian.Uint32(bad[8:12]))
		switch {
		case n > wire.Max(typ):
			if !errors.Is(err, wire.ErrTooLarge) {
				fail("length %d over the bound: want ErrTooLarge", n)
			}
		case 12+n+4 > len(bad):
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				fail("length %d past the data: want io.ErrUnexpectedEOF", n)
			}
		default:
			checksum(typ)
		}
	}
	switch {
	case at < 4:
		if !errors.As(err, &nz) || !bytes.Equal(nz.Got, bad[:12]) {
			fail("want *NotZerocheckError with the header")
		}
	case at == 4:
		if !errors.As(err, &ve) || ve.Peer != int(bad[4]) {
			fail("want *VersionError{%d}", bad[4])
		}
	case at == 5:
		nt := wire.Type(bad[5])
		switch {
		case wire.Max(nt) == 0:
			if err.Error() != fmt.Sprintf("protocol error: unknown frame type %d", bad[5]) {
				fail("want unknown type %d", bad[5])
			}
		case int(binary.BigEndian.Uint32(bad[8:12])) > wire.Max(nt):
			// The header is checked before the type is matched.
			if !errors.Is(err, wire.ErrTooLarge) {
				fail("length over the bound of %v: want ErrTooLarge", nt)
			}
		case nt == wire.TypeProgress:
			if want := fmt.Sprintf("protocol error: progress frame claims %d bytes, not 24", binary.BigEndian.Uint32(bad[8:12])); err.Error() != want {
				fail("want %q", want)
			}
		case nt != want && nt != wire.TypeReply:
			if !errors.As(err, &ue) || *ue != (wire.UnexpectedError{Want: want, Got: nt}) {
				fail("want *UnexpectedError{%v, %v}", want, nt)
			}
		default:
			lengthOutcome(nt)
		}
	case at < 8:
		if !strings.HasPrefix(err.Error(), "protocol error: reserved header bytes") {
			fail("want a reserved-bytes error")
		}
	case at < 12:
		lengthOutcome(want)
	default:
		checksum(want)
	}
}

func TestChecksumError(t *testing.T) {
	frame := handFrame(wire.TypeResult, []byte("hello"))
	frame[len(frame)-1] ^= 0x01
	_, _, err := wire.ReadFrame(bytes.NewReader(frame), wire.TypeResult)
	var ce *wire.ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("%v, want *ChecksumError", err)
	}
	want := crc32.Checksum(frame[:17], crcTable)
	if ce.Type != wire.TypeResult || ce.Length != 5 || ce.Want != want || ce.Got != want^1 {
		t.Fatalf("got %+v, want Type result, Length 5, Want %#08x, Got %#08x", *ce, want, want^1)
	}
	msg := fmt.Sprintf("control channel corrupt: result frame (5 bytes) has CRC32C %#08x, computed %#08x", want^1, want)
	if err.Error() != msg {
		t.Fatalf("message %q, want %q", err, msg)
	}
	if e := (&wire.ChecksumError{Type: wire.TypeHello, Want: 1, Got: 0xdeadbeef, Length: 0}).Error(); e != "control channel corrupt: hello frame (0 bytes) has CRC32C 0xdeadbeef, computed 0x00000001" {
		t.Fatalf("message %q", e)
	}
}

func TestUnexpectedType(t *testing.T) {
	for _, want := range allTypes {
		for _, got := range allTypes {
			frame := handFrame(got, []byte(`{"x":1}`))
			typ, p, err := wire.ReadFrame(bytes.NewReader(frame), want)
			switch {
			case got == want || got == wire.TypeReply:
				// A Reply may always arrive: it may be a refusal.
				if err != nil || typ != got || string(p) != `{"x":1}` {
					t.Errorf("want %v, got a %v frame: %v %q %v", want, got, typ, p, err)
				}
			default:
				var ue *wire.UnexpectedError
				if !errors.As(err, &ue) || *ue != (wire.UnexpectedError{Want: want, Got: got}) {
					t.Errorf("want %v, got a %v frame: error %v, want *UnexpectedError", want, got, err)
					continue
				}
				if msg := fmt.Sprintf("protocol error: expected a %v frame, got a %v frame", want, got); err.Error() != msg {
					t.Errorf("message %q, want %q", err, msg)
				}
				if typ != 0 || p != nil {
					t.Errorf("returned %v %q with the error", typ, p)
				}
			}
		}
	}
	// The type is checked before the payload is read: a Result where a
	// Hello is expected fails even when its length is the Result bound.
	r := bytes.NewReader(header(v, byte(wire.TypeResult), 0, 0, wire.MaxResult))
	if _, _, err := wire.ReadFrame(r, wire.TypeHello); !errors.As(err, new(*wire.UnexpectedError)) {
		t.Fatalf("big Result where a Hello is expected: %v", err)
	}
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestClaimedLengthCostsLittle checks that a lying length does not make
// ReadFrame allocate what it claims.
func TestClaimedLengthCostsLittle(t *testing.T) {
	for _, c := range []struct {
		typ   wire.Type
		claim uint32
		sent  int // payload bytes actually sent before EOF
		limit uint64
	}{
		{wire.TypeResult, wire.MaxResult, 0, 1 << 20},
		{wire.TypeResult, wire.MaxResult, 100, 1 << 20},
		{wire.TypeHello, wire.MaxHello, 0, 1 << 20},
		{wire.TypeReply, wire.MaxReply, 0, 1 << 20},
		{wire.TypeChallenge, wire.MaxChallenge, 0, 64 << 10},
		{wire.TypeAuth, wire.MaxAuth, 10, 64 << 10},
		// Growing with what arrives: 256 KiB sent costs a few times that,
		// not 32 MiB.
		{wire.TypeResult, wire.MaxResult, 256 << 10, 2 << 20},
	} {
		t.Run(fmt.Sprintf("%v/%d/%d", c.typ, c.claim, c.sent), func(t *testing.T) {
			data := append(header(v, byte(c.typ), 0, 0, c.claim), make([]byte, c.sent)...)
			var err error
			n := allocated(func() {
				_, _, err = wire.ReadFrame(bytes.NewReader(data), c.typ)
			})
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v, want io.ErrUnexpectedEOF", err)
			}
			if n >= c.limit {
				t.Fatalf("ReadFrame allocated %d bytes for a frame claiming %d and sending %d; limit %d", n, c.claim, c.sent, c.limit)
			}
			t.Logf("allocated %d bytes", n)
		})
	}
}

// ---- messages ----

const runID = "0123456789abcdef"

// nonce is a valid dialer nonce: 64 hex digits.
const nonce = "0f1e2d3c4b5a69788796a5b4c3d2e1f00123456789abcdeffedcba9876543210"

func validForward() wire.Hello {
	return wire.Hello{
		RunID:     runID,
		Stream:    0,
		Streams:   1,
		Direction: wire.Forward,
		Pattern:   "random",
		Seed:      pattern.DefaultSeed,
		Bytes:     1 << 30,
		Version:   "v1.2.3",
		Facts:     json.RawMessage(`{"hostname":"alpha","kernel":{"release":"6.8.0"}}`),
		Nonce:     nonce,
	}
}

func TestHelloValidate(t *testing.T) {
	type mod func(h *wire.Hello)
	for _, c := range []struct {
		name string
		mod  mod
		err  string // "" when valid
	}{
		{"forward", func(h *wire.Hello) {}, ""},
		{"reverse", func(h *wire.Hello) {
			h.Direction, h.Stream, h.Streams, h.Bytes, h.Duration, h.Rate = wire.Reverse, 3, 4, 0, 10*time.Second, 1e9
		}, ""},
		{"abort only run id and nonce", func(h *wire.Hello) { *h = wire.Hello{RunID: runID, Direction: wire.Abort, Nonce: nonce} }, ""},
		{"abort ignores plan fields", func(h *wire.Hello) {
			*h = wire.Hello{RunID: "ABCDEF0123456789", Direction: wire.Abort, Pattern: "sine", Facts: json.RawMessage(`[1]`), Reason: "interrupted", Nonce: nonce}
		}, ""},
		{"finish", func(h *wire.Hello) {
			*h = wire.Hello{RunID: runID, Direction: wire.Finish, Stream: 127, Bytes: 1 << 40, Nonce: nonce}
		}, ""},
		{"finish ignores plan fields", func(h *wire.Hello) {
			h.Direction, h.Stream, h.Streams, h.Pattern, h.Facts = wire.Finish, 3, 0, "sine", json.RawMessage(`[1]`)
		}, ""},
		{"upper-case run id", func(h *wire.Hello) { h.RunID = "0123456789ABCDEF" }, ""},
		{"128 streams", func(h *wire.Hello) { h.Streams, h.Stream = 128, 127 }, ""},
		{"max seed", func(h *wire.Hello) { h.Seed = pattern.MaxSeed }, ""},
		{"max duration", func(h *wire.Hello) { h.Bytes, h.Duration = 0, wire.MaxDuration }, ""},
		{"bytes and duration", func(h *wire.Hello) { h.Duration = time.Minute }, ""},
		{"every pattern", func(h *wire.Hello) { h.Pattern = "hex:DEADbeef" }, ""},
		{"pattern spacing and case", func(h *wire.Hello) { h.Pattern = " Counter " }, ""},
		{"facts object", func(h *wire.Hello) { h.Facts = json.RawMessage(`{}`) }, ""},
		{"facts null", func(h *wire.Hello) { h.Facts = json.RawMessage(`null`) }, ""},
		{"facts absent", func(h *wire.Hello) { h.Facts = nil }, ""},

		{"run id short", func(h *wire.Hello) { h.RunID = "0123456789abcde" }, `hello: run id "0123456789abcde" is not 16 hex digits`},
		{"run id long", func(h *wire.Hello) { h.RunID = "0123456789abcdef0" }, `hello: run id "0123456789abcdef0" is not 16 hex digits`},
		{"run id empty", func(h *wire.Hello) { h.RunID = "" }, `hello: run id "" is not 16 hex digits`},
		{"run id non-hex", func(h *wire.Hello) { h.RunID = "0123456789abcdeg" }, `hello: run id "0123456789abcdeg" is not 16 hex digits`},
		{"run id spaces", func(h *wire.Hello) { h.RunID = "0123456789abcd  " }, `hello: run id "0123456789abcd  " is not 16 hex digits`},
		{"abort bad run id", func(h *wire.Hello) { *h = wire.Hello{RunID: "xyz", Direction: wire.Abort, Nonce: nonce} }, `hello: run id "xyz" is not 16 hex digits`},
		{"unknown direction", func(h *wire.Hello) { h.Direction = "sideways" }, `hello: unknown direction "sideways"`},
		{"empty direction", func(h *wire.Hello) { h.Direction = "" }, `hello: unknown direction ""`},
		{"direction case", func(h *wire.Hello) { h.Direction = "Forward" }, `hello: unknown direction "Forward"`},
		{"0 streams", func(h *wire.Hello) { h.Streams = 0 }, "hello: 0 streams, want 1 to 128"},
		{"129 streams", func(h *wire.Hello) { h.Streams = 129 }, "hello: 129 streams, want 1 to 128"},
		{"negative streams", func(h *wire.Hello) { h.Streams = -1 }, "hello: -1 streams, want 1 to 128"},
		{"stream == streams", func(h *wire.Hello) { h.Stream, h.Streams = 4, 4 }, "hello: stream 4 of 4"},
		{"stream > streams", func(h *wire.Hello) { h.Stream, h.Streams = 9, 4 }, "hello: stream 9 of 4"},
		{"stream -1", func(h *wire.Hello) { h.Stream, h.Streams = -1, 4 }, "hello: stream -1 out of range (0 to 127)"},
		{"seed over max", func(h *wire.Hello) { h.Seed = pattern.MaxSeed + 1 }, "hello: seed 9007199254740992 out of range"},
		{"seed max uint64", func(h *wire.Hello) { h.Seed = math.MaxUint64 }, "hello: seed 18446744073709551615 out of range"},
		{"negative bytes", func(h *wire.Hello) { h.Bytes = -1 }, "hello: size -1 out of range (0 to 1125899906842624)"},
		{"negative duration", func(h *wire.Hello) { h.Duration = -1 }, "hello: duration -1ns out of range (0 to 168h0m0s)"},
		{"duration over max", func(h *wire.Hello) { h.Bytes, h.Duration = 0, wire.MaxDuration+1 }, "hello: duration 168h0m0.000000001s out of range (0 to 168h0m0s)"},
		{"neither", func(h *wire.Hello) { h.Bytes, h.Duration = 0, 0 }, "hello: neither a size nor a duration"},
		{"negative rate", func(h *wire.Hello) { h.Rate = -1 }, "hello: rate -1 bit/s, want 0 (none) or 8000 to 1000000000000000"},
		{"tiny rate", func(h *wire.Hello) { h.Rate = 1 }, "hello: rate 1 bit/s, want 0 (none) or 8000 to 1000000000000000"},
		{"finish of a stream out of range", func(h *wire.Hello) { h.Direction = wire.Finish; h.Stream = 128 }, "hello: stream 128 out of range (0 to 127)"},
		{"unknown pattern", func(h *wire.Hello) { h.Pattern = "sine" }, `hello: unknown pattern "sine"`},
		{"empty pattern", func(h *wire.Hello) { h.Pattern = "" }, `hello: unknown pattern ""`},
		{"bad hex pattern", func(h *wire.Hello) { h.Pattern = "hex:xyz" }, `hello: pattern "hex:xyz"`},
		{"facts array", func(h *wire.Hello) { h.Facts = json.RawMessage(`[{"hostname":"a"}]`) }, "facts are not a JSON object"},
		{"facts string", func(h *wire.Hello) { h.Facts = json.RawMessage(`"alpha"`) }, "facts are not a JSON object"},
		{"facts number", func(h *wire.Hello) { h.Facts = json.RawMessage(`42`) }, "facts are not a JSON object"},
		{"facts true", func(h *wire.Hello) { h.Facts = json.RawMessage(`true`) }, "facts are not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := validForward()
			c.mod(&h)
			err := h.Validate()
			if c.err == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				// Valid through the wire too.
				b, err := wire.EncodeHello(h)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := wire.DecodeHello(payloadOf(t, b, wire.TypeHello)); err != nil {
					t.Fatalf("DecodeHello: %v", err)
				}
				return
			}
			wantErrContains(t, err, c.err)
			// The same refusal through the wire.
			b, err := wire.EncodeHello(h)
			if err != nil {
				t.Fatal(err)
			}
			got, err := wire.DecodeHello(payloadOf(t, b, wire.TypeHello))
			wantErrContains(t, err, c.err)
			_ = got
		})
	}
}

// TestHelloNonce checks that every hello, abort and finish included,
// needs a nonce of exactly 64 hex digits.
func TestHelloNonce(t *testing.T) {
	hellos := map[string]wire.Hello{
		"forward": validForward(),
		"reverse": {RunID: runID, Stream: 1, Streams: 2, Direction: wire.Reverse, Pattern: "zeros", Duration: time.Minute},
		"abort":   {RunID: runID, Direction: wire.Abort, Reason: "interrupted"},
		"finish":  {RunID: runID, Direction: wire.Finish, Stream: 0, Bytes: 1 << 20},
	}
	for _, c := range []struct {
		name, nonce string
		ok          bool
	}{
		{"valid", nonce, true},
		{"upper case", strings.ToUpper(nonce), true},
		{"zeros", strings.Repeat("0", 64), true},
		{"missing", "", false},
		{"short 63", nonce[:63], false},
		{"short 62", nonce[:62], false},
		{"short 32", nonce[:32], false},
		{"long 65", nonce + "0", false},
		{"long 66", nonce + "00", false},
		{"long 128", nonce + nonce, false},
		{"non-hex g", nonce[:63] + "g", false},
		{"non-hex first", "x" + nonce[1:], false},
		{"0x prefix", "0x" + nonce[2:], false},
		{"0x prefix long", "0x" + nonce, false},
		{"spaces", nonce[:62] + "  ", false},
		{"leading space", " " + nonce[1:], false},
		{"trailing newline", nonce[:63] + "\n", false},
		{"base64 of 32 bytes", "DxotPEtaaXiHlqW0w9Lh8AEjRWeJq83v/ty6mHZUMhA=", false},
		{"64 non-ascii", strings.Repeat("\u00e9", 32), false},
	} {
		for dir, h := range hellos {
			t.Run(dir+"/"+c.name, func(t *testing.T) {
				h.Nonce = c.nonce
				err := h.Validate()
				if c.ok {
					if err != nil {
						t.Fatalf("Validate: %v", err)
					}
				} else if err == nil || err.Error() != "hello: nonce is not 64 hex digits" {
					t.Fatalf("Validate: %v, want %q", err, "hello: nonce is not 64 hex digits")
				}
				// The same through the wire.
				b, err := wire.EncodeHello(h)
				if err != nil {
					t.Fatal(err)
				}
				got, err := wire.DecodeHello(payloadOf(t, b, wire.TypeHello))
				if c.ok {
					if err != nil || got.Nonce != c.nonce {
						t.Fatalf("DecodeHello: nonce %q, %v", got.Nonce, err)
					}
				} else if err == nil || err.Error() != "hello: nonce is not 64 hex digits" {
					t.Fatalf("DecodeHello: %v, want the nonce refusal", err)
				}
			})
		}
	}
	// A hello without a "nonce" key at all (a version-1 peer's hello in
	// a version-2 frame) is refused, abort and finish too.
	for dir, h := range hellos {
		h.Nonce = nonce
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "nonce")
		p, _ := json.Marshal(m)
		if _, err := wire.DecodeHello(p); err == nil || err.Error() != "hello: nonce is not 64 hex digits" {
			t.Errorf("%s hello without a nonce key: %v", dir, err)
		}
		// A wrong JSON type is a decode error.
		m["nonce"] = json.RawMessage(`12`)
		p, _ = json.Marshal(m)
		if _, err := wire.DecodeHello(p); err == nil {
			t.Errorf("%s hello with a numeric nonce accepted", dir)
		}
	}
	// The run id is checked first: a hello with both wrong names the run
	// id.
	h := wire.Hello{RunID: "xyz", Direction: wire.Abort}
	wantErrContains(t, h.Validate(), `hello: run id "xyz"`)
}

func TestHelloRoundTrip(t *testing.T) {
	for _, h := range []wire.Hello{
		validForward(),
		{RunID: runID, Stream: 5, Streams: 8, Direction: wire.Reverse, Pattern: "hex:deadbeef", Seed: pattern.MaxSeed, Duration: wire.MaxDuration, Rate: 1 << 40, Nonce: nonce},
		{RunID: runID, Direction: wire.Abort, Reason: "interrupted <^C> & \"quoted\" \u2028", Nonce: nonce},
		{RunID: runID, Direction: wire.Finish, Stream: 2, Bytes: 12345, Nonce: strings.ToUpper(nonce)},
	} {
		b, err := wire.EncodeHello(h)
		if err != nil {
			t.Fatal(err)
		}
		p := payloadOf(t, b, wire.TypeHello)
		want, _ := json.Marshal(h)
		if !bytes.Equal(p, want) {
			t.Fatalf("payload %s, want %s", p, want)
		}
		got, err := wire.DecodeHello(p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, h)
		}
	}
	// Field names on the wire are a protocol: check them.
	b, _ := wire.EncodeHello(validForward())
	var m map[string]any
	if err := json.Unmarshal(payloadOf(t, b, wire.TypeHello), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"run_id", "stream", "streams", "direction", "pattern", "seed", "bytes", "duration_ns", "rate_bps", "zerocheck_version", "facts", "nonce"} {
		if _, ok := m[k]; !ok {
			t.Errorf("hello JSON lacks %q: %v", k, m)
		}
	}
}

func helloJSON(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(validForward())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeHello(t *testing.T) {
	valid := helloJSON(t)
	obj := strings.TrimSuffix(valid, "}")
	for _, c := range []struct {
		name    string
		payload string
		err     string
	}{
		{"valid", valid, ""},
		{"trailing whitespace", valid + " \n\t\r", ""},
		{"leading whitespace", "\n  " + valid, ""},
		{"unknown fields", obj + `,"future":{"a":[1,2,{"b":null}]},"x":1}`, ""},
		{"trailing text", valid + " x", "hello: trailing data after the message"},
		{"trailing object", valid + `{}`, "hello: trailing data after the message"},
		{"trailing second hello", valid + valid, "hello: trailing data after the message"},
		{"trailing comma", valid + `,`, "hello: trailing data after the message"},
		{"trailing number", valid + ` 1`, "hello: trailing data after the message"},
		{"trailing string", valid + `"x"`, "hello: trailing data after the message"},
		{"trailing nul", valid + "\x00", "hello: trailing data after the message"},
		{"empty", "", "hello: EOF"},
		{"cut", valid[:len(valid)-1], "hello: unexpected EOF"},
		{"array", `[]`, "hello: json: cannot unmarshal array"},
		{"wrong field type", obj + `,"stream":"zero"}`, "hello: json: cannot unmarshal string"},
		{"seed negative", obj + `,"seed":-1}`, "hello: json: cannot unmarshal number -1"},
		{"seed float", obj + `,"seed":1.5}`, "hello: json: cannot unmarshal number 1.5"},
		{"invalid", valid[:10] + "\x01" + valid[10:], "hello: invalid character"},
		{"invalid facts", obj + `,"facts":[1]}`, "facts are not a JSON object"},
		{"null", `null`, `hello: run id "" is not 16 hex digits`},
		{"nonce short", obj + `,"nonce":"ab"}`, "hello: nonce is not 64 hex digits"},
		{"nonce empty", obj + `,"nonce":""}`, "hello: nonce is not 64 hex digits"},
		{"nonce null", obj + `,"nonce":null}`, ""}, // null leaves the field as decoded before
		{"nonce number", obj + `,"nonce":1}`, "hello: json: cannot unmarshal number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := wire.DecodeHello([]byte(c.payload))
			if c.err == "" {
				if err != nil {
					t.Fatalf("DecodeHello: %v", err)
				}
				want := validForward()
				if !reflect.DeepEqual(h, want) {
					t.Fatalf("got %+v, want %+v", h, want)
				}
				return
			}
			wantErrContains(t, err, c.err)
		})
	}
	// A decode error returns the zero Hello; a validation error returns
	// what was decoded.
	if h, err := wire.DecodeHello([]byte(valid + " x")); err == nil || !reflect.DeepEqual(h, wire.Hello{}) {
		t.Errorf("trailing data: %+v %v", h, err)
	}
	if h, err := wire.DecodeHello([]byte(obj + `,"rate_bps":-5}`)); err == nil || h.Rate != -5 || h.RunID != runID {
		t.Errorf("invalid rate: %+v %v", h, err)
	}
	// Facts keep their bytes as they came (leading spaces dropped).
	h, err := wire.DecodeHello([]byte(obj + `,"facts": {"hostname" : "beta"} }`))
	if err != nil || string(h.Facts) != `{"hostname" : "beta"}` {
		t.Errorf("facts %q, %v", h.Facts, err)
	}
	if h, err := wire.DecodeHello([]byte(obj + `,"facts":null}`)); err != nil || string(h.Facts) != "null" {
		t.Errorf("null facts: %q %v", h.Facts, err)
	}
}

// TestDecodeRejectsTrailingCloser covers a fixed bug: json.Decoder.More
// alone reports false when the next byte is '}' or ']', so "<message>}"
// and "<message>]garbage" were accepted although the package promises
// "one JSON value with nothing after it".
func TestDecodeRejectsTrailingCloser(t *testing.T) {
	hello := helloJSON(t)
	rep, _ := json.Marshal(sampleReport())
	for _, suffix := range []string{"}", "]", "}}}", "]garbage", "} not json at all"} {
		for _, c := range []struct {
			name    string
			payload string
			decode  func([]byte) error
			err     string
		}{
			{"hello", hello, func(p []byte) error { _, err := wire.DecodeHello(p); return err }, "hello: trailing data after the message"},
			{"reply", `{"zerocheck_version":"1"}`, func(p []byte) error { _, err := wire.DecodeReply(p); return err }, "reply: trailing data after the message"},
			{"challenge", `{"nonce":"` + nonce + `","auth":"none"}`, func(p []byte) error { _, err := wire.DecodeChallenge(p); return err }, "challenge: trailing data after the message"},
			{"auth", `{"mac":"` + nonce + `"}`, func(p []byte) error { _, err := wire.DecodeAuth(p); return err }, "auth: trailing data after the message"},
			{"result", string(rep), func(p []byte) error { _, err := wire.DecodeResult(p); return err }, "result: trailing data after the message"},
		} {
			t.Run(fmt.Sprintf("%s%q", c.name, suffix), func(t *testing.T) {
				err := c.decode([]byte(c.payload + suffix))
				wantErrContains(t, err, c.err)
			})
		}
	}
}

func TestReply(t *testing.T) {
	for _, c := range []struct {
		name   string
		reply  wire.Reply
		reason string // refusal reason
		err    string // other error
	}{
		{"accept", wire.Reply{Version: "v1"}, "", ""},
		{"accept with facts", wire.Reply{Version: "v1", Facts: json.RawMessage(`{"hostname":"beta"}`)}, "", ""},
		{"accept null facts", wire.Reply{Facts: json.RawMessage(`null`)}, "", ""},
		{"accept with proof", wire.Reply{Version: "v2", Proof: strings.Repeat("ab", 32)}, "", ""},
		{"refuse", wire.Reply{Error: "disk full", Version: "v1"}, "disk full", ""},
		{"refuse with facts array", wire.Reply{Error: "busy", Facts: json.RawMessage(`[1]`)}, "busy", ""},
		{"facts array", wire.Reply{Facts: json.RawMessage(`[1]`)}, "", "facts are not a JSON object"},
		{"facts string", wire.Reply{Facts: json.RawMessage(`"x"`)}, "", "facts are not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := wire.EncodeReply(c.reply)
			if err != nil {
				t.Fatal(err)
			}
			// A reply arrives whatever frame is expected.
			for _, want := range allTypes {
				typ, p, err := wire.ReadFrame(bytes.NewReader(b), want)
				if err != nil || typ != wire.TypeReply {
					t.Fatalf("ReadFrame want %v: %v %v", want, typ, err)
				}
				got, err := wire.DecodeReply(p)
				switch {
				case c.reason != "":
					var re *wire.RefusedError
					if !errors.As(err, &re) || re.Reason != c.reason {
						t.Fatalf("error %v, want *RefusedError{%q}", err, c.reason)
					}
					if msg := "receiver refused the run: " + c.reason; err.Error() != msg {
						t.Fatalf("message %q, want %q", err, msg)
					}
					if !reflect.DeepEqual(got, c.reply) {
						t.Fatalf("refused reply %+v, want %+v", got, c.reply)
					}
				case c.err != "":
					wantErrContains(t, err, c.err)
					if errors.As(err, new(*wire.RefusedError)) {
						t.Fatalf("%v is a RefusedError", err)
					}
				default:
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, c.reply) {
						t.Fatalf("got %+v, want %+v", got, c.reply)
					}
				}
			}
		})
	}
	for _, c := range []struct{ payload, err string }{
		{`{"error":"x"} y`, "reply: trailing data after the message"},
		{`{"error":1}`, "reply: json: cannot unmarshal number"},
		{``, "reply: EOF"},
		{`{"error":`, "reply: unexpected EOF"},
	} {
		if _, err := wire.DecodeReply([]byte(c.payload)); err == nil || errors.As(err, new(*wire.RefusedError)) {
			t.Errorf("DecodeReply(%q): %v, want %q", c.payload, err, c.err)
		} else {
			wantErrContains(t, err, c.err)
		}
	}
	// Unknown fields are accepted.
	if r, err := wire.DecodeReply([]byte(`{"zerocheck_version":"v9","new_field":[1,2]}`)); err != nil || r.Version != "v9" {
		t.Errorf("unknown field: %+v %v", r, err)
	}
	// The proof's name on the wire is a protocol; it is optional.
	b, _ := wire.EncodeReply(wire.Reply{Proof: "00ff"})
	if p := string(payloadOf(t, b, wire.TypeReply)); p != `{"proof":"00ff"}` {
		t.Errorf("reply with a proof: %s", p)
	}
	b, _ = wire.EncodeReply(wire.Reply{Version: "v2"})
	if p := string(payloadOf(t, b, wire.TypeReply)); p != `{"zerocheck_version":"v2"}` {
		t.Errorf("reply without a proof: %s", p)
	}
}

func sampleReport() report.Report {
	src := int64(4097)
	exp1 := report.Hex(bytes.Repeat([]byte{0x00, 0x11, 0x22, 0x33}, 12))
	act1 := bytes.Clone(exp1)
	act1[20] ^= 0x04
	exp2 := report.Hex(bytes.Repeat([]byte{0xab}, 64))
	act2 := report.Hex(make([]byte, 64))
	return report.Report{
		Schema:        report.Schema,
		Version:       "v1.2.3",
		Verdict:       report.Corrupt,
		Role:          "recv",
		RunID:         runID,
		LocalAddr:     "10.0.0.1:7777",
		PeerAddr:      "10.0.0.2:51234",
		Pattern:       "counter",
		Seed:          pattern.DefaultSeed,
		Start:         time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC),
		Seconds:       12.5,
		StartOffset:   0,
		BytesExpected: 1 << 30,
		BytesVerified: 1 << 30,
		CorruptBytes:  33,
		FlippedBits:   130,
		RegionCount:   2,
		MaxRegions:    1000,
		MergeGap:      16,
		Streams: []report.Stream{{
			Stream: 0, Direction: report.Forward, Verdict: report.Corrupt,
			BytesExpected: 1 << 30, BytesVerified: 1 << 30, CorruptBytes: 33, RegionCount: 2, Seconds: 12.5,
		}},
		Regions: []report.Region{
			{
				Index: 1, Offset: 8212, Length: 1, CorruptBytes: 1, FlippedBits: 1,
				Kind: report.KindBitflip, SourceOffset: &src,
				DataOffset: 8192, Expected: exp1, Actual: report.Hex(act1),
			},
			{
				Index: 2, Offset: 40002, Length: 48, CorruptBytes: 32, FlippedBits: 129,
				Granule: 16, Phase: 2, Blocks: 3, MaxRepeat: 2, Kind: report.KindBlock,
				DataOffset: 39984, Expected: exp2, Actual: act2, Truncated: true,
			},
		},
		RepeatedBlocks: []report.RepeatedBlock{
			{Block: report.Hex(make([]byte, 16)), Count: 2, Regions: []int{2}},
		},
		Hosts: report.Hosts{Local: &hostinfo.Facts{Hostname: "alpha", Time: time.Date(2026, 11, 25, 9, 59, 0, 0, time.UTC)}},
	}
}

func TestResultRoundTrip(t *testing.T) {
	r := sampleReport()
	if err := r.Check(); err != nil {
		t.Fatalf("sample report fails Check: %v", err)
	}
	b, err := wire.EncodeResult(r)
	if err != nil {
		t.Fatal(err)
	}
	p := payloadOf(t, b, wire.TypeResult)
	if want, _ := json.Marshal(wire.ResultFrom(r)); !bytes.Equal(p, want) {
		t.Fatalf("a small report is sent as is:\n got %s\nwant %s", p, want)
	}
	got, err := wire.DecodeResult(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
	}
}

// bigReport has 400 regions of 32 KiB captures each: 50 MiB of hex, well
// over MaxResult (1000 regions would only make the test slower).
func bigReport() report.Report {
	r := sampleReport()
	exp := report.Hex(bytes.Repeat([]byte{0x5a}, 32<<10))
	act := report.Hex(make([]byte, 32<<10))
	r.Regions = nil
	for i := range 400 {
		r.Regions = append(r.Regions, report.Region{
			Index: i + 1, Offset: int64(i) << 20, Length: 32 << 10, CorruptBytes: 32 << 10, FlippedBits: 4 * 32 << 10,
			Kind: report.KindZeroed, DataOffset: int64(i) << 20, Expected: exp, Actual: act,
		})
	}
	r.RegionCount = 5000
	r.CorruptBytes = 400 * 32 << 10
	r.FlippedBits = 400 * 4 * 32 << 10
	r.Streams[0].CorruptBytes, r.Streams[0].RegionCount = r.CorruptBytes, r.RegionCount
	r.RepeatedBlocks = []report.RepeatedBlock{{Block: report.Hex(make([]byte, 16)), Count: 1000, Regions: []int{1, 2, 3}}}
	return r
}

func TestEncodeResultDropsCaptures(t *testing.T) {
	r := bigReport()
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	b, err := wire.EncodeResult(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > wire.HeaderSize+wire.MaxResult+wire.TrailerSize {
		t.Fatalf("frame of %d bytes", len(b))
	}
	got, err := wire.DecodeResult(payloadOf(t, b, wire.TypeResult))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Regions) != len(r.Regions) {
		t.Fatalf("%d regions, want all %d", len(got.Regions), len(r.Regions))
	}
	for i, g := range got.Regions {
		if len(g.Expected) != 0 || len(g.Actual) != 0 || !g.Truncated {
			t.Fatalf("region %d keeps %d+%d captured bytes, truncated %v", i+1, len(g.Expected), len(g.Actual), g.Truncated)
		}
		w := r.Regions[i]
		w.Expected, w.Actual, w.Truncated = g.Expected, g.Actual, true
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("region %d changed beyond its captures:\n got %+v\nwant %+v", i+1, g, w)
		}
	}
	if got.RegionCount != r.RegionCount || got.CorruptBytes != r.CorruptBytes || got.FlippedBits != r.FlippedBits ||
		got.BytesVerified != r.BytesVerified || got.Verdict != r.Verdict || !reflect.DeepEqual(got.Streams, r.Streams) ||
		!reflect.DeepEqual(got.RepeatedBlocks, r.RepeatedBlocks) || got.RunID != r.RunID {
		t.Fatalf("counts changed:\n got %+v\nwant %+v", got, r)
	}
	// The caller's report is untouched.
	if len(r.Regions[0].Expected) != 32<<10 || r.Regions[0].Truncated {
		t.Fatal("EncodeResult changed the caller's regions")
	}
}

func TestEncodeResultDropsRegions(t *testing.T) {
	// Too big even without captures: a repeated block listing millions
	// of region indexes.
	r := sampleReport()
	idx := make([]int, 4_500_000)
	for i := range idx {
		idx[i] = 1000000
	}
	r.RepeatedBlocks = []report.RepeatedBlock{{Block: report.Hex(make([]byte, 16)), Count: len(idx), Regions: idx}}
	b, err := wire.EncodeResult(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.DecodeResult(payloadOf(t, b, wire.TypeResult))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Regions) != 0 || len(got.RepeatedBlocks) != 0 {
		t.Fatalf("kept %d regions and %d repeated blocks", len(got.Regions), len(got.RepeatedBlocks))
	}
	if got.RegionCount != r.RegionCount || got.CorruptBytes != r.CorruptBytes || got.FlippedBits != r.FlippedBits || got.Verdict != r.Verdict {
		t.Fatalf("counts changed: %+v", got)
	}
	if len(r.RepeatedBlocks) != 1 || len(r.Regions) != 2 || len(r.Regions[0].Expected) == 0 {
		t.Fatal("EncodeResult changed the caller's report")
	}
}

func TestEncodeResultTooLarge(t *testing.T) {
	// What cannot be shrunk fails with ErrTooLarge.
	r := sampleReport()
	r.Version = strings.Repeat("v", wire.MaxResult)
	if _, err := wire.EncodeResult(r); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("EncodeResult: %v, want ErrTooLarge", err)
	}
}

func TestDecodeResultRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(r *report.Report)
		err  string
	}{
		{"negative bytes", func(r *report.Report) { r.BytesVerified = -1 }, "result: negative count"},
		{"negative flips", func(r *report.Report) { r.FlippedBits = -1 }, "result: negative count"},
		{"negative start", func(r *report.Report) { r.StartOffset = -1 }, "result: negative count"},
		{"verdict great", func(r *report.Report) { r.Verdict = "great" }, `result: unknown verdict "great"`},
		{"schema", func(r *report.Report) { r.Schema = "zerocheck.report/v0" }, `result: schema "zerocheck.report/v0", want "zerocheck.report/v1"`},
		{"corrupt over verified", func(r *report.Report) { r.BytesVerified = 32 }, "result: 33 corrupt bytes of 32 verified"},
		{"fewer counted than detailed", func(r *report.Report) { r.RegionCount = 1 }, "result: 2 regions detailed of 1 counted"},
		{"region index order", func(r *report.Report) { r.Regions[0].Index, r.Regions[1].Index = 2, 1 }, "result: region 1 numbered 2"},
		{"region index gap", func(r *report.Report) { r.Regions[1].Index = 3 }, "result: region 2 numbered 3"},
		{"clean with corruption", func(r *report.Report) { r.Verdict = report.Clean }, `result: verdict "clean" does not follow from its counts ("corrupt")`},
		{"negative seconds", func(r *report.Report) { r.Seconds = -1 }, "result: bad duration"},
		{"region counts", func(r *report.Report) { r.Regions[0].CorruptBytes = 2 }, "result: region 1: impossible offset or counts"},
		{"capture lengths", func(r *report.Report) { r.Regions[1].Actual = r.Regions[1].Actual[:10] }, "result: region 2: captured data of 64 and 10 bytes"},
		{"bad grid", func(r *report.Report) { r.Regions[1].Phase = 16 }, "result: region 2: bad grid"},
		{"bad repeated block", func(r *report.Report) { r.RepeatedBlocks[0].Block = r.RepeatedBlocks[0].Block[:8] }, "result: bad repeated block"},
		{"overlong error", func(r *report.Report) { r.Error = strings.Repeat("e", 4097) }, "result: overlong text field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := sampleReport()
			c.mod(&r)
			b, err := wire.EncodeResult(r) // EncodeResult does not check
			if err != nil {
				t.Fatal(err)
			}
			got, err := wire.DecodeResult(payloadOf(t, b, wire.TypeResult))
			wantErrContains(t, err, c.err)
			if !strings.HasPrefix(err.Error(), c.err) {
				t.Fatalf("error %q does not start with %q", err, c.err)
			}
			if !reflect.DeepEqual(got, report.Report{}) {
				t.Fatalf("a refused report is returned: %+v", got)
			}
		})
	}
	rep, _ := json.Marshal(sampleReport())
	for _, c := range []struct{ payload, err string }{
		{string(rep) + " x", "result: trailing data after the message"},
		{strings.Replace(string(rep), `"expected":"`, `"expected":"zz`, 1), "result: hex field"},
		{strings.Replace(string(rep), `"bytes_verified":1073741824`, `"bytes_verified":"1"`, 1), "result: json: cannot unmarshal string"},
		{``, "result: EOF"},
		{`null`, `result: schema ""`},
	} {
		_, err := wire.DecodeResult([]byte(c.payload))
		wantErrContains(t, err, c.err)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&wire.VersionError{Peer: 7}, fmt.Sprintf("peer speaks zerocheck protocol version 7, this zerocheck speaks %d: run the same zerocheck release on both hosts", wire.Version)},
		{&wire.UnexpectedError{Want: wire.TypeHello, Got: wire.TypeResult}, "protocol error: expected a hello frame, got a result frame"},
		{&wire.UnexpectedError{Want: wire.TypeResult, Got: 9}, "protocol error: expected a result frame, got a type 9 frame"},
		{&wire.UnexpectedError{Want: wire.TypeHello, Got: wire.TypeChallenge}, "protocol error: expected a hello frame, got a challenge frame"},
		{&wire.RefusedError{Reason: "busy"}, "receiver refused the run: busy"},
		{&wire.NotZerocheckError{Got: nil}, "peer does not speak the zerocheck protocol (first bytes ); use --raw for a plain stream"},
		{&wire.NotZerocheckError{Got: []byte("a\"b")}, `peer does not speak the zerocheck protocol (first bytes "a\"b"); use --raw for a plain stream`},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("%T: %q, want %q", c.err, got, c.want)
		}
	}
	if wire.ErrTooLarge.Error() != "frame too large" {
		t.Errorf("ErrTooLarge: %q", wire.ErrTooLarge)
	}
}
