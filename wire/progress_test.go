package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/zerocheck/zerocheck/wire"
)

// TestProgressFrame checks the exact bytes of progress frames against
// golden frames whose CRC32C was computed outside Go, with the bitwise
// Python CRC32C of TestFrameLayout, and reads them back.
func TestProgressFrame(t *testing.T) {
	for _, c := range []struct {
		p   wire.Progress
		hex string
	}{
		{wire.Progress{Verified: 1 << 30, Corrupt: 1600, Regions: 8},
			"5a43484b0206000000000018" + "0000000040000000" + "0000000000000640" + "0000000000000008" + "e0cca461"},
		{wire.Progress{},
			"5a43484b0206000000000018" + "0000000000000000" + "0000000000000000" + "0000000000000000" + "e639c4e2"},
		{wire.Progress{Verified: math.MaxInt64, Corrupt: math.MaxInt64, Regions: math.MaxInt64},
			"5a43484b0206000000000018" + "7fffffffffffffff" + "7fffffffffffffff" + "7fffffffffffffff" + "cc818348"},
	} {
		want, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.EncodeProgress(c.p)
		if err != nil {
			t.Fatalf("EncodeProgress(%+v): %v", c.p, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("EncodeProgress(%+v) = %x, want %x", c.p, got, want)
		}
		if wire.HeaderSize+wire.ProgressSize+wire.TrailerSize != 40 || len(got) != 40 {
			t.Errorf("frame of %d bytes", len(got))
		}
		if hand := handFrame(wire.TypeProgress, want[12:36]); !bytes.Equal(hand, want) {
			t.Errorf("hand-built frame %x, want %x", hand, want)
		}
		typ, payload, err := wire.ReadFrame(bytes.NewReader(want), wire.TypeProgress)
		if err != nil || typ != wire.TypeProgress {
			t.Fatalf("ReadFrame: %v %v", typ, err)
		}
		if p, err := wire.DecodeProgress(payload); err != nil || p != c.p {
			t.Errorf("DecodeProgress = %+v, %v; want %+v", p, err, c.p)
		}
	}
}

// TestDecodeProgressRefuses checks that a progress payload is exactly 24
// bytes of counts a verifier can have, and that nothing else decodes.
func TestDecodeProgressRefuses(t *testing.T) {
	u64 := func(a, b, c uint64) []byte {
		p := binary.BigEndian.AppendUint64(nil, a)
		p = binary.BigEndian.AppendUint64(p, b)
		return binary.BigEndian.AppendUint64(p, c)
	}
	good := u64(100, 10, 2)
	for _, c := range []struct {
		name    string
		payload []byte
		want    string
	}{
		{"empty", nil, "progress: 0 bytes, want exactly 24"},
		{"one short", good[:23], "progress: 23 bytes, want exactly 24"},
		{"one long", append(bytes.Clone(good), 0), "progress: 25 bytes, want exactly 24"},
		{"two frames", append(bytes.Clone(good), good...), "progress: 48 bytes, want exactly 24"},
		{"json", []byte(`{"verified":1,"corrupt":0}`), "progress: 26 bytes, want exactly 24"},
		{"verified past int64", u64(1<<63, 0, 0), "progress: count 9223372036854775808 out of range"},
		{"regions all ones", u64(1, 1, math.MaxUint64), "progress: count 18446744073709551615 out of range"},
		{"more corrupt than verified", u64(10, 11, 1), "progress: 11 corrupt bytes of 10 verified"},
		{"regions without corrupt bytes", u64(10, 0, 1), "progress: 1 regions with 0 corrupt bytes"},
	} {
		p, err := wire.DecodeProgress(c.payload)
		if err == nil || err.Error() != c.want || p != (wire.Progress{}) {
			t.Errorf("%s: %+v, %v; want error %q", c.name, p, err, c.want)
		}
	}
	if p, err := wire.DecodeProgress(good); err != nil || p != (wire.Progress{Verified: 100, Corrupt: 10, Regions: 2}) {
		t.Errorf("good payload: %+v %v", p, err)
	}
	for _, p := range []wire.Progress{{Verified: -1}, {Verified: 1, Corrupt: 2}, {Verified: 5, Corrupt: 1, Regions: 2}} {
		if b, err := wire.EncodeProgress(p); err == nil || b != nil {
			t.Errorf("EncodeProgress(%+v) accepted: %x", p, b)
		}
	}
}

// TestProgressHeader checks that a progress header claiming any other
// length than 24 bytes is refused before anything more is read.
func TestProgressHeader(t *testing.T) {
	if h, err := wire.ParseHeader(header(v, 6, 0, 0, 24)); err != nil || h != (wire.Header{Type: wire.TypeProgress, Length: 24}) {
		t.Fatalf("24 bytes: %+v %v", h, err)
	}
	for _, c := range []struct {
		n    uint32
		want string
	}{
		{0, "protocol error: progress frame claims 0 bytes, not 24"},
		{23, "protocol error: progress frame claims 23 bytes, not 24"},
		{25, "progress frame claims 25 bytes: frame too large (limit 24)"},
		{0x6edd0b51, "progress frame claims 1859980113 bytes: frame too large (limit 24)"},
	} {
		h := header(v, 6, 0, 0, c.n)
		if _, err := wire.ParseHeader(h); err == nil || err.Error() != c.want {
			t.Errorf("length %d: %v, want %q", c.n, err, c.want)
		}
		src := bytes.NewReader(append(h, make([]byte, 64)...))
		if _, err := wire.ReadProgress(src, func(wire.Progress) { t.Error("a progress frame of the wrong size was handed on") }); err == nil || err.Error() != c.want {
			t.Errorf("ReadProgress, length %d: %v, want %q", c.n, err, c.want)
		}
		if src.Len() != 64 {
			t.Errorf("length %d: read %d bytes past the header", c.n, 64-src.Len())
		}
	}
}

func mustProgress(t testing.TB, p wire.Progress) []byte {
	t.Helper()
	b, err := wire.EncodeProgress(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadProgress checks the reading of progress frames before a result:
// each is handed on in order, and the result's header is left to its
// reader, which then reads the result as if nothing had come before it.
func TestReadProgress(t *testing.T) {
	ps := []wire.Progress{{Verified: 1 << 20}, {Verified: 2 << 20, Corrupt: 16, Regions: 1}, {Verified: 3 << 20, Corrupt: 48, Regions: 3}}
	var stream []byte
	for _, p := range ps {
		stream = append(stream, mustProgress(t, p)...)
	}
	result := mustAppend(t, wire.TypeResult, []byte(`{"x":1}`))
	src := bytes.NewReader(append(stream, result...))
	var got []wire.Progress
	head, err := wire.ReadProgress(src, func(p wire.Progress) { got = append(got, p) })
	if err != nil || !bytes.Equal(head, result[:12]) || len(got) != 3 || got[0] != ps[0] || got[1] != ps[1] || got[2] != ps[2] {
		t.Fatalf("head %x, %v, progress %+v", head, err, got)
	}
	typ, p, err := wire.ReadFrame(io.MultiReader(bytes.NewReader(head), src), wire.TypeResult)
	if err != nil || typ != wire.TypeResult || string(p) != `{"x":1}` {
		t.Fatalf("the result after the progress frames: %v %q %v", typ, p, err)
	}

	// What ends the reading, and what it leaves for the next reader.
	none := func(wire.Progress) {}
	bad := mustProgress(t, ps[1])
	bad[20] ^= 0x04 // a bit of the corrupt count
	// A region of no corrupt byte:
	invalid := handFrame(wire.TypeProgress, append(make([]byte, 16), 0, 0, 0, 0, 0, 0, 0, 1))
	for _, c := range []struct {
		name  string
		input []byte
		head  string // hex
		want  string // the error, "" for none
		check func(error) bool
	}{
		{"empty", nil, "", "EOF", func(err error) bool { return err == io.EOF }},
		{"result first", result, hex.EncodeToString(result[:12]), "", nil},
		{"header cut short", result[:5], hex.EncodeToString(result[:5]), "unexpected EOF", func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"foreign bytes", []byte("HTTP/1.1 400 Bad"), hex.EncodeToString([]byte("HTTP/1.1 400")), "", nil},
		{"other version", header(v+1, 6, 0, 0, 24), hex.EncodeToString(header(v+1, 6, 0, 0, 24)), "", nil},
		{"progress cut short", stream[:30], "", "progress frame cut short after 18 of 28 bytes: unexpected EOF", func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"progress header only", stream[:12], "", "progress frame cut short after 0 of 28 bytes: unexpected EOF", func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"corrupt", append(bad, result...), "", "control channel corrupt: progress frame (24 bytes) has CRC32C", func(err error) bool {
			var ce *wire.ChecksumError
			return errors.As(err, &ce) && ce.Type == wire.TypeProgress && ce.Length == 24
		}},
		{"invalid counts", append(invalid, result...), "", "progress: 1 regions with 0 corrupt bytes", nil},
		{"reserved bytes", header(v, 6, 0, 1, 24), "", "protocol error: reserved header bytes 0x00 0x01 are not zero", nil},
	} {
		head, err := wire.ReadProgress(bytes.NewReader(c.input), none)
		if hex.EncodeToString(head) != c.head {
			t.Errorf("%s: head %x, want %s", c.name, head, c.head)
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		case c.check != nil && !c.check(err):
			t.Errorf("%s: error %#v of the wrong kind", c.name, err)
		}
	}
}

// TestProgressAskAndGrant checks the two fields that negotiate progress
// frames within version 2: present only when set, so that a hello or a
// reply that does not use them is byte for byte what a peer that
// predates them sends; and ignored (an unknown field) by such a peer's
// decoder, as the tolerance for unknown fields here shows.
func TestProgressAskAndGrant(t *testing.T) {
	h := validForward()
	old, err := wire.EncodeHello(h)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(wire.Payload(old)), "progress") {
		t.Fatalf("hello without progress says %s", wire.Payload(old))
	}
	h.Progress = true
	ask, err := wire.EncodeHello(h)
	if err != nil {
		t.Fatal(err)
	}
	if want := `,"progress":true}`; !strings.HasSuffix(string(wire.Payload(ask)), want) {
		t.Fatalf("hello asking for progress: %s", wire.Payload(ask))
	}
	if got, err := wire.DecodeHello(wire.Payload(ask)); err != nil || !got.Progress {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	if got, err := wire.DecodeHello(wire.Payload(old)); err != nil || got.Progress {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	// The reply's grant.
	r, _ := wire.EncodeReply(wire.Reply{Version: "v"})
	g, _ := wire.EncodeReply(wire.Reply{Version: "v", Progress: true})
	if string(wire.Payload(r)) != `{"zerocheck_version":"v"}` || string(wire.Payload(g)) != `{"zerocheck_version":"v","progress":true}` {
		t.Fatalf("replies %s %s", wire.Payload(r), wire.Payload(g))
	}
	if got, err := wire.DecodeReply(wire.Payload(g)); err != nil || !got.Progress {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}
