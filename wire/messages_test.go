package wire_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/wire"
)

// edges are the values every numeric field of a hello is tried at: the
// int64 edges, and each side of the field's own bounds.
func edges(bounds ...int64) []int64 {
	v := []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64}
	for _, b := range bounds {
		v = append(v, b-1, b, b+1)
	}
	return v
}

// TestHelloBounds: every number a peer plans is refused, with the
// field named, when it is outside its documented bound, in every kind
// of hello; inside, it is taken.
func TestHelloBounds(t *testing.T) {
	base := map[wire.Direction]wire.Hello{
		wire.Forward: {RunID: runID, Streams: 128, Direction: wire.Forward, Pattern: "zeros", Bytes: 1, Duration: time.Second, Nonce: nonce},
		wire.Reverse: {RunID: runID, Streams: 128, Direction: wire.Reverse, Pattern: "zeros", Bytes: 1, Duration: time.Second, Nonce: nonce},
		wire.Finish:  {RunID: runID, Direction: wire.Finish, Nonce: nonce},
		wire.Abort:   {RunID: runID, Direction: wire.Abort, Nonce: nonce},
	}
	for dir, h0 := range base {
		plan := dir == wire.Forward || dir == wire.Reverse
		minStreams, maxBytes := int64(0), int64(wire.MaxBytes)
		if plan {
			minStreams = 1
		}
		if dir == wire.Finish {
			maxBytes = wire.MaxSent
		}
		for _, f := range []struct {
			name  string
			want  string // in the error
			set   func(h *wire.Hello, x int64)
			ok    func(x int64) bool
			edges []int64
		}{
			{"streams", " streams, want", func(h *wire.Hello, x int64) { h.Streams = int(x) },
				func(x int64) bool { return x >= minStreams && x <= wire.MaxStreams }, edges(wire.MaxStreams)},
			{"stream", "hello: stream ", func(h *wire.Hello, x int64) { h.Stream = int(x) },
				func(x int64) bool { return x >= 0 && x < wire.MaxStreams }, edges(wire.MaxStreams - 1)},
			{"size", "hello: size ", func(h *wire.Hello, x int64) { h.Bytes = x },
				func(x int64) bool { return x >= 0 && x <= maxBytes }, edges(wire.MaxBytes, wire.MaxSent)},
			{"duration", "hello: duration ", func(h *wire.Hello, x int64) { h.Duration = time.Duration(x) },
				func(x int64) bool { return x >= 0 && x <= int64(wire.MaxDuration) }, edges(int64(wire.MaxDuration))},
			{"rate", "hello: rate ", func(h *wire.Hello, x int64) { h.Rate = x },
				func(x int64) bool { return x == 0 || x >= wire.MinRate && x <= wire.MaxRate }, edges(wire.MinRate, wire.MaxRate)},
		} {
			for _, x := range f.edges {
				t.Run(fmt.Sprintf("%s/%s=%d", dir, f.name, x), func(t *testing.T) {
					h := h0
					f.set(&h, x)
					b, err := wire.EncodeHello(h)
					if err != nil {
						t.Fatal(err)
					}
					_, err = wire.DecodeHello(payloadOf(t, b, wire.TypeHello))
					switch {
					case f.ok(x) && err != nil:
						t.Fatalf("in range, refused: %v", err)
					case !f.ok(x) && err == nil:
						t.Fatal("out of range, taken")
					case err != nil && !strings.Contains(err.Error(), f.want):
						t.Fatalf("error %q does not name the %s", err, f.name)
					}
				})
			}
		}
	}
}

// TestHelloCheckBound: the health check's secret is bounded like the
// rest of a hello.
func TestHelloCheckBound(t *testing.T) {
	h := validForward()
	h.Check = strings.Repeat("a", wire.MaxCheck)
	if err := h.Validate(); err != nil {
		t.Fatalf("a secret of %d bytes: %v", wire.MaxCheck, err)
	}
	h.Check += "a"
	wantErrContains(t, h.Validate(), "hello: health check secret of 65 bytes, want at most 64")
}
