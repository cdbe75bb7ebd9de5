package stream

import (
	"context"
	"testing"
	"time"
)

// TestLimiterRate drives the bucket with a fake clock: over any long
// stretch it hands out the rate, and a burst never exceeds the bucket.
func TestLimiterRate(t *testing.T) {
	l := NewLimiter(80e6) // 10 MB/s
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	if c := l.Chunk(); c != 200000 {
		t.Fatalf("chunk %d, want 200000 (a 50th of a second)", c)
	}
	var sent int
	for range 1000 {
		d := l.reserve(l.Chunk())
		now = now.Add(d) // the caller sleeps as told
		sent += l.Chunk()
	}
	// 1000 chunks of 200 kB at 10 MB/s: 20 s, less the first burst.
	want := time.Duration(float64(sent-int(l.burst)) / 10e6 * float64(time.Second))
	if got := now.Sub(time.Unix(0, 0)); got < want-time.Millisecond || got > want+time.Millisecond {
		t.Fatalf("%d bytes took %v, want %v", sent, got, want)
	}
	// Idle time refills only up to the burst.
	now = now.Add(time.Hour)
	if d := l.reserve(int(l.burst)); d != 0 {
		t.Fatalf("a full bucket made us wait %v", d)
	}
	if d := l.reserve(100000); d != 10*time.Millisecond {
		t.Fatalf("past the burst: wait %v, want 10ms", d)
	}
}

func TestLimiterChunkBounds(t *testing.T) {
	for _, tc := range []struct {
		bps  int64
		want int
	}{{8000, 512}, {1e9, 2500000}, {1e12, BufferSize}} {
		if c := NewLimiter(tc.bps).Chunk(); c != min(tc.want, BufferSize) {
			t.Fatalf("%d bit/s: chunk %d, want %d", tc.bps, c, min(tc.want, BufferSize))
		}
	}
}

func TestLimiterWaitHonoursContext(t *testing.T) {
	l := NewLimiter(8000) // 1 kB/s
	l.reserve(int(l.burst))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, 1<<20, time.Time{}); err != context.Canceled {
		t.Fatalf("Wait on a cancelled context: %v", err)
	}
}

func TestLimiterWaitStopsAtDeadline(t *testing.T) {
	l := NewLimiter(8000) // 1 kB/s
	l.reserve(int(l.burst))
	if err := l.Wait(context.Background(), 100000, time.Now().Add(time.Second)); err != ErrPastDeadline {
		t.Fatalf("a 100 s wait before a 1 s deadline: %v", err)
	}
}
