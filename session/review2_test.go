package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// Regression tests for defects found in the review of the hardened
// receiver.

// TestReverseMaxBytes: --max-bytes bounds what the receiver sends too,
// and a later stream cannot plan more than the first.
func TestReverseMaxBytes(t *testing.T) {
	const limit = 1 << 20
	addr, stop := serve(t, ServerOptions{MaxBytes: limit})
	c, err := hello(t, addr, wire.Hello{RunID: "00000000000000a1", Streams: 1, Direction: wire.Reverse, Pattern: "zeros", Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, c)
	c.Close()
	c0, err := hello(t, addr, wire.Hello{RunID: "00000000000000a2", Streams: 2, Direction: wire.Forward, Pattern: "zeros", Bytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	_, err = hello(t, addr, wire.Hello{RunID: "00000000000000a2", Stream: 1, Streams: 2, Direction: wire.Reverse, Pattern: "zeros", Bytes: 64 << 20})
	var ref *wire.RefusedError
	if !errors.As(err, &ref) || !strings.Contains(ref.Reason, "does not match the plan") {
		t.Errorf("a second stream planning 64 MiB: %v", err)
	}
	stop()
	if n > limit {
		t.Errorf("--max-bytes %d, but a timed reverse stream sent %d", limit, n)
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

// TestMaxDurationExact: a timed run as long as --max-duration is served
// whole, with time for its goodbye.
func TestMaxDurationExact(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true, MaxDuration: time.Second})
	r := client(t, ClientOptions{Addr: addr, Duration: time.Second}).Run(context.Background())
	reps := stop()
	if r.Verdict != report.Clean || reps[0].Verdict != report.Clean {
		t.Errorf("a run of exactly --max-duration: %q / %q", r.Error, reps[0].Error)
	}
}

// TestOnceHostPanic: a bug collecting host facts costs the run its
// facts, not the run, and a --once server still ends.
func TestOnceHostPanic(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var got []report.Report
	s, _ := NewServer(ServerOptions{Once: true, Logger: testLogger(t), Report: func(r report.Report) { got = append(got, r) },
		Host: func(net.Addr) *hostinfo.Run { panic("test: hostinfo bug") }})
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	r := client(t, ClientOptions{Addr: ln.Addr().String(), Bytes: 1 << 20}).Run(context.Background())
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("--once server never returned")
	}
	if r.Verdict != report.Clean || len(got) != 1 || got[0].Verdict != report.Clean || got[0].Hosts.Local != nil {
		t.Fatalf("run with a panicking fact collector: %s %q; reports %d", r.Verdict, r.Error, len(got))
	}
}

// TestRawLimits: --raw is bound by the session, byte and time limits
// too.
func TestRawLimits(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Raw: true, Verify: verify.Options{Pattern: zeros}, MaxSessions: 1, MaxBytes: 1 << 20, MaxDuration: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 64<<10)
			for end := time.Now().Add(time.Second); time.Now().Before(end); {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
		})
	}
	wg.Wait()
	for _, r := range stop() {
		// The budget is taken a read at a time: it may overshoot by one.
		if r.Verdict == report.Clean || r.BytesVerified > 1<<20+verify.ReadBufferSize {
			t.Errorf("raw run past its limits: %s, %d bytes, %q", r.Verdict, r.BytesVerified, r.Error)
		}
	}
	// A slow raw stream under the byte limit is cut at --max-duration.
	addr, stop = serve(t, ServerOptions{Raw: true, Once: true, Verify: verify.Options{Pattern: zeros}, MaxDuration: 300 * time.Millisecond})
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	for range 20 {
		c.Write(make([]byte, 100))
		time.Sleep(50 * time.Millisecond)
	}
	if r := stop()[0]; r.Verdict != report.Incomplete || !strings.Contains(r.Error, "--max-duration 300ms") {
		t.Errorf("slow raw stream: %s %q", r.Verdict, r.Error)
	}
}

// TestRefusalLogBounded: what a stranger makes the receiver log is
// bounded, and never at the level of evidence.
func TestRefusalLogBounded(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var log syncBuffer
	s, _ := NewServer(ServerOptions{Token: token, Logger: slog.New(slog.NewTextHandler(&log, nil)), Report: func(report.Report) {}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	long, _ := wire.EncodeHello(wire.Hello{RunID: strings.Repeat("a", 65000), Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 1, Nonce: wire.NewNonce()})
	bad, _ := wire.EncodeHello(wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 1, Nonce: wire.NewNonce()})
	bad[len(bad)-1] ^= 1
	for _, b := range [][]byte{long, bad} {
		c, _ := net.Dial("tcp", ln.Addr().String())
		c.Write(b)
		wire.ReadFrame(c, wire.TypeChallenge)
		c.Close()
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	out := log.String()
	if n := len(out); n > 8<<10 {
		t.Errorf("a stranger's hello made %d bytes of log", n)
	}
	if strings.Contains(out, "level=ERROR") || !strings.Contains(out, "control channel corrupt") {
		t.Errorf("a stranger's corrupt hello: want a warning, got:\n%s", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHealthBeyondLimits: the health check runs whatever --max-bytes
// says, and through a full house of idle strangers.
func TestHealthBeyondLimits(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxBytes: 512 << 10, MaxConns: 4, HandshakeTimeout: 5 * time.Second})
	s, _ := serverRuns(addr)
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		dialFrom(t, from, addr)
	}
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.conns == 4 }, "a full house")
	if _, err := s.Check(context.Background()); err != nil {
		t.Errorf("health check: %v", err)
	}
	stop()
}

func TestParseAllowEmpty(t *testing.T) {
	for _, in := range [][]string{nil, {""}, {"", " "}} {
		if _, err := ParseAllow(in); err == nil {
			t.Errorf("ParseAllow(%q) allowed everyone", in)
		}
	}
	got, err := ParseAllow([]string{"::ffff:10.0.0.0/104"})
	if err != nil || got[0].String() != "10.0.0.0/8" {
		t.Errorf("IPv4-mapped network: %v %v", got, err)
	}
}
