package session

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"syscall"
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
	full, details := int64(1536<<10), int64(512<<10)
	for i, want := range []int{0, 1, -1} {
		if err := m.acquire(ctx, 8<<20); err != nil {
			t.Fatal(err)
		}
		got := m.settle(8<<20, full, details)
		if got != want {
			t.Fatalf("settle %d kept choice %d, want %d", i, got, want)
		}
		switch got {
		case 0:
			h.add(m, full)
		case 1:
			h.add(m, details)
		}
	}
	if m.used != 2<<20 || m.retained != 2<<20 {
		t.Fatalf("used %d, retained %d; want 2 MiB", m.used, m.retained)
	}
	h.release()
	if m.used != 0 || m.retained != 0 {
		t.Fatalf("after release: used %d, retained %d", m.used, m.retained)
	}
	// A result that comes after its run was reported keeps nothing.
	m.acquire(ctx, 8<<20)
	if m.settle(8<<20, full) != 0 {
		t.Fatal("nothing retained, yet no room")
	}
	h.add(m, full)
	if m.used != 0 || m.retained != 0 {
		t.Fatalf("after a late result: used %d, retained %d", m.used, m.retained)
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

// TestServerResultsShrinkPastMemory: what a run's results keep until it
// is reported takes at most an eighth of the result memory (2 MiB of 16
// MiB here): a first result keeps its regions with their captures (1.9
// MiB), a second then keeps its regions but not their captures (marked
// truncated), and a third, of 1000 regions, keeps no region; the counts
// stay exact, and the report gives all back.
func TestServerResultsShrinkPastMemory(t *testing.T) {
	mem, _ := NewResultMemory(MinResultMemory)
	addr, stop := serve(t, ServerOptions{ResultMemory: mem, Once: true})
	regions := []int{230, 230, 1000}
	const capture = 4096
	var conns []net.Conn
	for i := range regions {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		h := wire.Hello{RunID: "00000000000000e2", Stream: i, Streams: len(regions), Direction: wire.Reverse, Pattern: "zeros", Bytes: 1 << 20}
		if err := handshake(t, c, h); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		if n, err := io.Copy(io.Discard, c); n != 1<<20 || err != nil {
			t.Fatalf("stream %d: %d bytes, %v", i, n, err)
		}
		n := regions[i]
		rep := report.Report{Schema: report.Schema, Verdict: report.Corrupt, Pattern: "zeros", BytesVerified: 1 << 20,
			CorruptBytes: 16 * int64(n), RegionCount: int64(n), Streams: []report.Stream{{Stream: i, Direction: report.Reverse}}}
		for j := range n {
			rep.Regions = append(rep.Regions, report.Region{Index: j + 1, Offset: int64(j) * 32, Length: 16, CorruptBytes: 16,
				Kind: report.KindZeroed, DataOffset: int64(j) * 32, Expected: make(report.Hex, capture), Actual: make(report.Hex, capture)})
		}
		b, err := wire.EncodeResultMax(rep, maxPeerResult)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(b)
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c) // until the receiver is done with it
	}
	reps := stop()
	if len(reps) != 1 {
		t.Fatalf("%d reports", len(reps))
	}
	r := reps[0]
	if r.Verdict != report.Corrupt || r.RegionCount != 1460 || len(r.Regions) != 460 {
		t.Fatalf("report: %s, %d regions, %d detailed; want corrupt, 1460, 460", r.Verdict, r.RegionCount, len(r.Regions))
	}
	for _, g := range r.Regions {
		want := g.Stream == 1
		if g.Stream == 2 || g.Truncated != want || len(g.Actual) != map[bool]int{false: capture, true: 0}[want] {
			t.Fatalf("region %d of stream %d: truncated %v with %d bytes captured", g.Index, g.Stream, g.Truncated, len(g.Actual))
		}
	}
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if mem.used != 0 || mem.retained != 0 {
		t.Errorf("after the report: %d bytes used, %d retained", mem.used, mem.retained)
	}
}

// TestHelloResultMax: a sender asks in its hellos for results no larger
// than its result memory takes, and a receiver shrinks its result to fit
// (captured bytes first, then region details) rather than have it
// refused: the verdict and the counts survive.
func TestHelloResultMax(t *testing.T) {
	mem, _ := NewResultMemory(MinResultMemory)
	for _, c := range []struct {
		mem  *ResultMemory
		want int
	}{{nil, processResultMemory.maxResult(wire.MaxResult, 1000)}, {mem, mem.maxResult(wire.MaxResult, 1000)}} {
		cl := client(t, ClientOptions{Addr: "127.0.0.1:1", Bytes: 1, ResultMemory: c.mem})
		if got := cl.resultMax(); got != c.want || got >= wire.MaxResult || got < maxPeerResult {
			t.Errorf("result memory %v: hellos ask for results of %d bytes, want %d", c.mem, got, c.want)
		}
	}

	addr, stop := serve(t, ServerOptions{Once: true})
	defer stop()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := wire.Hello{RunID: "00000000000000e3", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 1 << 20, ResultMax: wire.MinResultMax}
	if err := handshake(t, c, h); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	for i := 0; i < len(data); i += 64 {
		data[i] = 0xff // 16384 regions of one byte
	}
	c.Write(data)
	c.(*net.TCPConn).CloseWrite()
	_, p, err := wire.ReadFrame(c, wire.TypeResult)
	if err != nil {
		t.Fatal(err)
	}
	r, err := wire.DecodeResult(p)
	if err != nil || len(p) > wire.MinResultMax || r.Verdict != report.Corrupt || r.RegionCount != 16384 || r.CorruptBytes != 16384 || len(r.Regions) != 0 {
		t.Fatalf("result of %d bytes: %s, %d regions (%d detailed), %d corrupt bytes (%v); want at most %d bytes, corrupt, 16384 regions",
			len(p), r.Verdict, r.RegionCount, len(r.Regions), r.CorruptBytes, err, wire.MinResultMax)
	}
}

// TestPeerResultMemory: a peer that sends a huge result for a reverse
// stream and stalls holds at most what the receiver said it takes.
func TestPeerResultMemory(t *testing.T) {
	const conns = 8
	addr, stop := serve(t, ServerOptions{IdleTimeout: 30 * time.Second})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var cs []net.Conn
	for i := range conns {
		c, err := hello(t, addr, wire.Hello{RunID: "00000000000000b0", Stream: i, Streams: conns, Direction: wire.Reverse, Pattern: "zeros", Bytes: 1})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		io.Copy(io.Discard, c)
		var hdr [wire.HeaderSize]byte
		copy(hdr[:], wire.Magic)
		hdr[4], hdr[5] = wire.Version, byte(wire.TypeResult)
		binary.BigEndian.PutUint32(hdr[8:], maxPeerResult)
		// Not waited for: results past the result memory wait their
		// turn unread, and so does their writer.
		go func() {
			c.Write(hdr[:])
			c.Write(make([]byte, maxPeerResult-1))
		}()
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	for _, c := range cs {
		c.Close()
	}
	stop()
	if grew > conns*(maxPeerResult+maxPeerResult/4) {
		t.Errorf("%d stalled results held %d MiB, want at most about %d MiB", conns, grew>>20, conns*maxPeerResult>>20)
	}
	// A result over the bound is refused as it is announced.
	addr, stop, waitN := serveWatch(t, ServerOptions{})
	c, err := hello(t, addr, wire.Hello{RunID: "00000000000000b1", Streams: 1, Direction: wire.Reverse, Pattern: "zeros", Bytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, c)
	var hdr [wire.HeaderSize]byte
	copy(hdr[:], wire.Magic)
	hdr[4], hdr[5] = wire.Version, byte(wire.TypeResult)
	binary.BigEndian.PutUint32(hdr[8:], maxPeerResult+1)
	c.Write(hdr[:])
	waitN(1)
	c.Close()
	if r := stop()[0]; !strings.Contains(r.Error, "frame too large (this end takes 4194304)") {
		t.Errorf("oversized result: %q", r.Error)
	}
}

// TestBudgetCountsUnwritten: the byte budget counts what was written. A
// write cut by the stall deadline is retried, and its unsent part must
// not count twice: a reverse stream of exactly --max-bytes to a steady
// but slow reader (one 256 KiB write outlasts the idle timeout) is
// served whole.
func TestBudgetCountsUnwritten(t *testing.T) {
	const size = 12 << 20
	for _, limit := range []int64{0, size} {
		addr, stop := serve(t, ServerOptions{MaxBytes: limit, IdleTimeout: 40 * time.Millisecond})
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := handshake(t, c, wire.Hello{RunID: "00000000000000c7", Streams: 1, Direction: wire.Reverse, Pattern: "zeros", Bytes: size}); err != nil {
			t.Fatal(err)
		}
		var got int64
		buf := make([]byte, 8<<10)
		for got < size {
			n, err := c.Read(buf)
			got += int64(n)
			if err != nil {
				break
			}
			time.Sleep(2 * time.Millisecond) // a few MB/s, never idle 40ms
		}
		c.Close()
		stop()
		if got != size {
			t.Errorf("--max-bytes %d: a reverse stream of %d to a slow reader got %d", limit, size, got)
		}
	}
}
