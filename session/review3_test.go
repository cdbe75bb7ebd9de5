package session

// Regression tests for defects found in the second review of the
// hardened receiver.

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// TestEvictedStaysOpen: an evicted connection closes at once, even when
// the eviction comes before its goroutine has started its handshake
// (whose read deadline would otherwise replace the eviction's): with
// every place but one taken by a run, strangers arriving back to back
// never hold more than --max-conns sockets for long.
func TestEvictedStaysOpen(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxConns: 4, HandshakeTimeout: 5 * time.Second})
	s, _ := serverRuns(addr)
	done := legit(t, addr, ClientOptions{Streams: 3})
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.conns == 3 && len(s.handshakes) == 0 }, "the run's 3 streams through their handshake")
	for range 100 {
		dialFrom(t, "127.0.0.2", addr) // idle strangers, back to back
	}
	time.Sleep(500 * time.Millisecond) // an eviction cuts at once: far under the 5s deadline
	s.mu.Lock()
	n := s.conns
	s.mu.Unlock()
	done()
	stop()
	if n > 4 {
		t.Errorf("--max-conns 4, but %d connections open 500ms after the evictions", n)
	}
}

// TestOnceFinishPanic: a bug in the facts taken at a run's end
// (Run.Finish) costs the report its facts, not the run: both ends are
// clean and a --once server reports its run and ends.
func TestOnceFinishPanic(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var got []report.Report
	s, _ := NewServer(ServerOptions{Once: true, Logger: testLogger(t), Report: func(r report.Report) { got = append(got, r) },
		Host: func(net.Addr) *hostinfo.Run { return &hostinfo.Run{} }}) // Start is fine, Finish panics
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	r := client(t, ClientOptions{Addr: ln.Addr().String(), Bytes: 1 << 20}).Run(context.Background())
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("--once server never returned")
	}
	if r.Verdict != report.Clean || len(got) != 1 {
		t.Fatalf("a bug in Finish: sender %s %q; receiver made %d reports", r.Verdict, r.Error, len(got))
	}
}

// TestFinishPanicOnTimer: a run whose last stream never came is reported
// from the StreamWait timer's goroutine; a bug in its facts there must
// not kill the receiver process.
func TestFinishPanicOnTimer(t *testing.T) {
	if os.Getenv("ZC_CHILD") == "1" {
		addr, _ := serve(t, ServerOptions{StreamWait: 200 * time.Millisecond,
			Host: func(net.Addr) *hostinfo.Run { return &hostinfo.Run{} }})
		h := forward("00000000000000f1", 1000)
		h.Streams = 2 // stream 1 never comes
		sendStream(t, addr, h, make([]byte, 1000))
		time.Sleep(time.Second)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFinishPanicOnTimer$")
	cmd.Env = append(os.Environ(), "ZC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		i := bytes.Index(out, []byte("panic:"))
		t.Fatalf("receiver process died: %v\n%s", err, out[max(i, 0):min(len(out), max(i, 0)+600)])
	}
}

// TestRawStreamsOverMaxSessions: the raw streams of one sender are one
// session: "send --raw --streams 9" is served whole by a receiver of
// --max-sessions 8.
func TestRawStreamsOverMaxSessions(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Raw: true, Verify: verify.Options{Pattern: zeros}})
	c := client(t, ClientOptions{Addr: addr, Raw: true, Streams: 9, Duration: time.Second, Rate: 80e6})
	n, err := c.RunRaw(context.Background())
	reps := stop()
	if err != nil || len(reps) != 9 {
		t.Fatalf("raw run of 9 streams: sent %d, %v; %d receiver reports", n, err, len(reps))
	}
}

// TestDialFailureHalfway: when a later stream cannot connect, the
// earlier ones may already be through their handshake. The sender then
// sends an abort; where not even that gets through (here every connect
// after the first hangs), the receiver's report of the run is
// incomplete and says which stream never came, never clean.
func TestDialFailureHalfway(t *testing.T) {
	addr, stop, waitN := serveWatch(t, ServerOptions{StreamWait: 300 * time.Millisecond})
	front := oneShotFront(t, addr)
	r := client(t, ClientOptions{Addr: front, Streams: 2, Bytes: 2 << 20, HandshakeTimeout: time.Second}).Run(context.Background())
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "i/o timeout") {
		t.Errorf("sender: %s %q", r.Verdict, r.Error)
	}
	waitN(1)
	reps := stop()
	if reps[0].Verdict != report.Incomplete || !strings.Contains(reps[0].Error, "stream 1 never connected") {
		t.Errorf("receiver: %s %q", reps[0].Verdict, reps[0].Error)
	}
}

// oneShotFront splices the first connection to addr; every later connect
// hangs (backlog 0, queue filled, never accepted).
func oneShotFront(t *testing.T, addr string) string {
	fd, _ := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	syscall.Listen(fd, 0)
	f := os.NewFile(uintptr(fd), "front")
	ln, _ := net.FileListener(f)
	f.Close()
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		filler, _ := net.Dial("tcp", ln.Addr().String()) // fills the queue
		t.Cleanup(func() { filler.Close() })
		b, _ := net.Dial("tcp", addr)
		go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite() }()
		go func() { io.Copy(c, b); c.(*net.TCPConn).CloseWrite() }()
	}()
	return ln.Addr().String()
}

// TestHealthEvictedByFlood: under a flood of connects from elsewhere,
// every health check passes. The check's connection is never evicted
// once its hello (with the check's secret) is read; before that it is a
// connection like any other, though the last of the idle ones to go, and
// a check pushed out by the flood tries again. (It used to be exempt
// because it came from this host to itself: any local connection was.)
func TestHealthEvictedByFlood(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxConns: 8, HandshakeTimeout: 5 * time.Second})
	s, _ := serverRuns(addr)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			for ctx.Err() == nil {
				if c, err := d.Dial("tcp", addr); err == nil {
					go func() { io.Copy(io.Discard, c); c.Close() }()
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	failed := 0
	for range 10 {
		if _, err := s.Check(context.Background()); err != nil {
			failed++
			t.Log(err)
		}
	}
	cancel()
	wg.Wait()
	stop()
	if failed > 0 {
		t.Errorf("%d of 10 health checks failed under a connect flood", failed)
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
