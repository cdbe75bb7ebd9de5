package wire_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// TestReadFrameMax: a reader's own bound refuses a longer frame of the
// type it wants as its header arrives, and a Reply (a refusal) still
// passes whatever the bound.
func TestReadFrameMax(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 5000)
	frame, _ := wire.AppendFrame(nil, wire.TypeResult, big)
	if _, _, err := wire.ReadFrameMax(bytes.NewReader(frame), wire.TypeResult, 4999); !errors.Is(err, wire.ErrTooLarge) ||
		!strings.Contains(err.Error(), "result frame claims 5000 bytes: frame too large (this end takes 4999)") {
		t.Errorf("over the bound: %v", err)
	}
	if _, p, err := wire.ReadFrameMax(bytes.NewReader(frame), wire.TypeResult, 5000); err != nil || len(p) != 5000 {
		t.Errorf("at the bound: %d bytes, %v", len(p), err)
	}
	reply, _ := wire.EncodeReply(wire.Reply{Error: strings.Repeat("r", 100)})
	if typ, _, err := wire.ReadFrameMax(bytes.NewReader(reply), wire.TypeResult, 10); err != nil || typ != wire.TypeReply {
		t.Errorf("a refusal in place of a result: %v %v", typ, err)
	}
	// A whole frame holds no slack: the payload's capacity is the frame's.
	big = bytes.Repeat([]byte("y"), 3<<20+5)
	frame, _ = wire.AppendFrame(nil, wire.TypeResult, big)
	_, p, err := wire.ReadFrame(bytes.NewReader(frame), wire.TypeResult)
	if err != nil || !bytes.Equal(p, big) || cap(p) > len(big)+wire.TrailerSize {
		t.Errorf("payload of %d bytes read with capacity %d (%v)", len(p), cap(p), err)
	}
}

// TestEncodeResultMax: a report too large for the reader's bound loses
// its captured bytes, then its regions, and keeps its counts.
func TestEncodeResultMax(t *testing.T) {
	r := report.Report{Schema: report.Schema, Verdict: report.Corrupt, Pattern: "zeros", BytesVerified: 4 << 20, CorruptBytes: 3000, RegionCount: 1000, MaxRegions: 1000, RepeatedBlocks: []report.RepeatedBlock{}}
	for i := range 1000 {
		r.Regions = append(r.Regions, report.Region{Index: i + 1, Offset: int64(i) << 12, Length: 3, CorruptBytes: 3, Kind: report.KindBurst,
			Expected: make([]byte, 48), Actual: bytes.Repeat([]byte{1}, 48)})
	}
	full, _ := wire.EncodeResult(r)
	for _, max := range []int{len(full) - wire.HeaderSize - wire.TrailerSize, 200 << 10, 4 << 10} {
		b, err := wire.EncodeResultMax(r, max)
		if err != nil {
			t.Fatalf("max %d: %v", max, err)
		}
		got, err := wire.DecodeResult(wire.Payload(b))
		if err != nil || len(b)-wire.HeaderSize-wire.TrailerSize > max || got.RegionCount != 1000 || got.CorruptBytes != 3000 {
			t.Errorf("max %d: %d bytes, %d regions counted, %v", max, len(b), got.RegionCount, err)
		}
	}
}

// TestReadFrameAdmit: admit sees the checked header before a byte of
// the payload is read, and its refusal is the read's error.
func TestReadFrameAdmit(t *testing.T) {
	frame, _ := wire.AppendFrame(nil, wire.TypeResult, bytes.Repeat([]byte("x"), 5000))
	refused := errors.New("no room")
	var seen wire.Header
	r := bytes.NewReader(frame)
	_, _, err := wire.ReadFrameAdmit(r, wire.TypeResult, 0, func(h wire.Header) error { seen = h; return refused })
	if err != refused || seen != (wire.Header{Type: wire.TypeResult, Length: 5000}) || r.Len() != len(frame)-wire.HeaderSize {
		t.Errorf("refused: %v, saw %+v, %d bytes left unread", err, seen, r.Len())
	}
	if _, p, err := wire.ReadFrameAdmit(bytes.NewReader(frame), wire.TypeResult, 0, func(wire.Header) error { return nil }); err != nil || len(p) != 5000 {
		t.Errorf("admitted: %d bytes, %v", len(p), err)
	}
	// A frame over the reader's bound is refused before admit is asked.
	if _, _, err := wire.ReadFrameAdmit(bytes.NewReader(frame), wire.TypeResult, 100, func(wire.Header) error { t.Error("admit asked"); return nil }); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("over the bound: %v", err)
	}
}
