package session

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// waiting returns how many acquires wait on m.
func (m *ResultMemory) waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

// TestResultMemoryTurns: what does not fit waits, first come first
// served (a small request does not pass a large one that waits), and
// gets its turn when memory is given back; a wait that ends gives up
// its place.
func TestResultMemoryTurns(t *testing.T) {
	m, err := NewResultMemory(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.acquire(ctx, 12<<20); err != nil {
		t.Fatal(err)
	}
	large, small := make(chan error), make(chan error)
	go func() { large <- m.acquire(ctx, 8<<20) }()
	waitFor(t, func() bool { return m.waiting() == 1 }, "the large request to wait")
	go func() { small <- m.acquire(ctx, 1<<20) }()
	waitFor(t, func() bool { return m.waiting() == 2 }, "the small request to wait behind it")

	// A wait that times out leaves the queue, with its cause.
	why := errors.New("gave up")
	tctx, cancel := context.WithTimeoutCause(ctx, time.Millisecond, why)
	defer cancel()
	if err := m.acquire(tctx, 1<<20); err != why {
		t.Fatalf("timed out wait: %v, want its cause", err)
	}
	if n := m.waiting(); n != 2 {
		t.Fatalf("%d waiting after a wait ended, want 2", n)
	}

	m.settle(12 << 20)
	for _, c := range []chan error{large, small} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if m.used != 9<<20 {
		t.Fatalf("used %d, want 9 MiB", m.used)
	}
	// Too much for the whole: refused at once by readResult, never
	// queued (see TestServerResultOverMemory); here, what a release
	// gives back.
	m.settle(8 << 20)
	m.settle(1 << 20)
	if m.used != 0 || m.waiting() != 0 {
		t.Fatalf("used %d, %d waiting; want nothing", m.used, m.waiting())
	}
}

// TestResultMemoryRetains: what results keep past their decoding takes
// at most an eighth of the memory: the first choice that fits is kept
// (a report with its captures, else without), none when none fits; and
// a run's release gives back what its results retained.
func TestResultMemoryRetains(t *testing.T) {
	m, _ := NewResultMemory(16 << 20)
	ctx := context.Background()
	var h holding
	for i, want := range []int{0, 1, -1} {
		if err := m.acquire(ctx, 8<<20); err != nil {
			t.Fatal(err)
		}
		full, details := int64(1536<<10), int64(512<<10)
		got := m.settle(8<<20, full, details)
		if got != want {
			t.Fatalf("settle %d kept choice %d, want %d", i, got, want)
		}
		h.m = m
		switch got {
		case 0:
			h.n += full
		case 1:
			h.n += details
		}
	}
	if m.used != 2<<20 || m.retained != 2<<20 {
		t.Fatalf("used %d, retained %d; want 2 MiB", m.used, m.retained)
	}
	h.release()
	if m.used != 0 || m.retained != 0 {
		t.Fatalf("after release: used %d, retained %d", m.used, m.retained)
	}
}

// TestResultMemoryLimits: --max-result-memory is checked, and the
// largest result a budget takes costs what the budget leaves for one.
func TestResultMemoryLimits(t *testing.T) {
	for _, size := range []int64{0, MinResultMemory - 1, MaxResultMemory + 1} {
		if _, err := NewResultMemory(size); err == nil || !strings.Contains(err.Error(), "want 16 MiB to 1 TiB") {
			t.Errorf("size %d: %v", size, err)
		}
	}
	for _, size := range []int64{MinResultMemory, DefaultResultMemory, 1 << 30} {
		m, err := NewResultMemory(size)
		if err != nil {
			t.Fatal(err)
		}
		n := m.maxResult(wire.MaxResult, 1000)
		if resultCost(n, 1000) > m.decodable() || n < wire.MaxResult && resultCost(n+1, 1000) <= m.decodable() {
			t.Errorf("size %d: largest result %d costs %d, leaves %d", size, n, resultCost(n, 1000), m.decodable())
		}
		t.Logf("--max-result-memory %s: results up to %.1f MiB", mib(size), float64(n)/(1<<20))
	}
	if n := processResultMemory.maxResult(maxPeerResult, 1000); n != maxPeerResult {
		t.Errorf("by default a receiver takes results of %d bytes, want %d", n, maxPeerResult)
	}
}

// TestServerResultOverMemory: a receiver whose result memory is small
// says so in its reply (the largest result it takes), refuses a result
// frame that claims more before reading it, and the stream's report
// says why.
func TestServerResultOverMemory(t *testing.T) {
	// Smaller than --max-result-memory may be, to fit less than the
	// 4 MiB a receiver takes at most.
	mem := &ResultMemory{size: MinResultMemory / 2}
	addr, stop := serve(t, ServerOptions{ResultMemory: mem, Once: true})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := wire.Hello{RunID: "00000000000000e1", Streams: 1, Direction: wire.Reverse, Pattern: "zeros", Bytes: 1 << 16, Nonce: wire.NewNonce()}
	hb, _ := wire.EncodeHello(h)
	c.Write(hb)
	_, p, err := wire.ReadFrame(c, wire.TypeChallenge)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.DecodeChallenge(p); err != nil {
		t.Fatal(err)
	}
	ab, _ := wire.EncodeAuth(wire.Auth{})
	c.Write(ab)
	_, p, err = wire.ReadFrame(c, wire.TypeReply)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := wire.DecodeReply(p)
	want := mem.maxResult(maxPeerResult, 1000)
	if err != nil || reply.ResultMax != want || want >= maxPeerResult {
		t.Fatalf("reply: result max %d (%v), want %d, under %d", reply.ResultMax, err, want, maxPeerResult)
	}
	buf := make([]byte, 1<<16)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	// A header that claims one byte more than the reply allows.
	frame, _ := wire.AppendFrame(nil, wire.TypeResult, make([]byte, want+1))
	c.Write(frame[:wire.HeaderSize])
	reps := stop()
	if len(reps) != 1 || reps[0].Verdict != report.Incomplete ||
		!strings.Contains(reps[0].Error, "result frame claims "+strconv.Itoa(want+1)+" bytes: frame too large (this end takes "+strconv.Itoa(want)+")") {
		t.Fatalf("reports: %+v", reps)
	}
}
