package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// edges are the values every numeric field of a hello is tried at: the
// int64 edges, and each side of the given bounds.
func edges(bounds ...int64) []int64 {
	v := []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64}
	for _, b := range bounds {
		v = append(v, b-1, b, b+1)
	}
	return v
}

// helloField is one numeric field of a hello, set to x.
type helloField struct {
	name  string
	set   func(h *wire.Hello, x int64)
	edges []int64
}

var helloFields = []helloField{
	{"streams", func(h *wire.Hello, x int64) { h.Streams = int(x) }, edges(wire.MaxStreams)},
	{"stream", func(h *wire.Hello, x int64) { h.Streams, h.Stream = wire.MaxStreams, int(x) }, edges(wire.MaxStreams - 1)},
	{"bytes", func(h *wire.Hello, x int64) { h.Bytes = x }, edges(wire.MaxBytes, wire.MaxSent, 1<<30)},
	{"duration", func(h *wire.Hello, x int64) { h.Duration = time.Duration(x) }, edges(int64(wire.MaxDuration), int64(time.Hour))},
	{"timed duration", func(h *wire.Hello, x int64) { h.Bytes, h.Duration = 0, time.Duration(x) }, edges(int64(wire.MaxDuration), int64(time.Hour))},
	{"rate", func(h *wire.Hello, x int64) { h.Rate = x }, edges(wire.MinRate, wire.MaxRate)},
	{"seed", func(h *wire.Hello, x int64) { h.Seed = uint64(x) }, edges(pattern.MaxSeed)},
}

// TestHelloEdges: hellos at every int64 edge, and each side of every
// bound, of every numeric field, in every direction, over TCP to a real
// receiver: each is answered (served or refused with a reason, the
// field named when it is out of range), every run they started is
// reported once its stream-wait is over, and the receiver then serves a
// real run clean. A plan at the int64 edges once made the first hello of
// a run refuse itself and its stream-wait timer kill the receiver.
func TestHelloEdges(t *testing.T) {
	for _, opt := range []ServerOptions{
		{}, // no limits but the protocol's
		{MaxBytes: 1 << 30, MaxDuration: time.Hour}, // and a receiver's own
	} {
		opt.StreamWait, opt.MaxSessions = 200*time.Millisecond, 10000
		opt.MaxDuration = cmpOr(opt.MaxDuration, wire.MaxDuration)
		t.Run(fmt.Sprintf("max-bytes=%d", opt.MaxBytes), func(t *testing.T) {
			addr, stop, waitN := serveWatch(t, opt)
			served, n := 0, 0
			for _, dir := range []wire.Direction{wire.Forward, wire.Reverse, wire.Finish, wire.Abort} {
				for _, f := range helloFields {
					for _, x := range f.edges {
						n++
						h := wire.Hello{RunID: fmt.Sprintf("%016x", n), Streams: 2, Direction: dir, Pattern: "random", Bytes: 1 << 20, Nonce: wire.NewNonce()}
						f.set(&h, x)
						_, valid := wire.DecodeHello(mustPayload(t, h))
						c := dialFrom(t, "127.0.0.2", addr)
						err := handshake(t, c, h)
						c.Close()
						var ref *wire.RefusedError
						switch {
						case err == nil && valid != nil:
							t.Errorf("%s %s=%d: served, but out of range: %v", dir, f.name, x, valid)
						case err != nil && !errors.As(err, &ref):
							t.Errorf("%s %s=%d: no answer: %v", dir, f.name, x, err)
						case valid != nil && !strings.Contains(ref.Reason, valid.Error()):
							t.Errorf("%s %s=%d: refused with %q, want %q", dir, f.name, x, ref.Reason, valid)
						case err == nil && (dir == wire.Forward || dir == wire.Reverse):
							served++
						}
					}
				}
			}
			if served == 0 {
				t.Fatal("no hello was served: the test proves nothing")
			}
			// Every run started waits for its second stream, then its timer
			// reports it.
			waitN(served)
			s, _ := serverRuns(addr)
			waitFor(t, func() bool { _, busy := serverRuns(addr); return !busy }, "every run reported")
			if r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background()); r.Verdict != report.Clean {
				t.Fatalf("the run after the edges: %s %q", r.Verdict, r.Error)
			}
			if reps := stop(); len(reps) != served+1 {
				t.Fatalf("%d reports, want %d (one per run served)", len(reps), served+1)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.runs) != 0 {
				t.Fatalf("%d runs left in the table", len(s.runs))
			}
		})
	}
}

// TestClaimEdges: a run's streams are matched against its plan without
// arithmetic that overflows, whatever the numbers (here not even
// bounded by decoding): a first stream always matches itself, and a
// later one matches only a share within a byte of the first's.
func TestClaimEdges(t *testing.T) {
	c := tcpPair(t)
	var reports atomic.Int64
	s, _ := NewServer(ServerOptions{StreamWait: time.Hour, MaxSessions: 1000, Report: func(report.Report) { reports.Add(1) }})
	n := 0
	for _, first := range edges() {
		for _, later := range edges() {
			n++
			h := wire.Hello{RunID: fmt.Sprintf("%016x", n), Streams: 2, Direction: wire.Forward, Pattern: "zeros", Bytes: first}
			r, isNew, err := s.claim(context.Background(), h, c)
			if err != nil || !isNew {
				t.Fatalf("bytes %d: the first stream refused its own run: %v", first, err)
			}
			h.Stream, h.Bytes = 1, later
			_, _, err = s.claim(context.Background(), h, c)
			if err == nil {
				s.finish(r, 1, streamReport(h, "forward", nil))
			}
			near := first == later || first < math.MaxInt64 && later == first+1 || first > math.MinInt64 && later == first-1
			if match := (first == 0) == (later == 0) && near; match != (err == nil) {
				t.Errorf("bytes %d then %d: %v", first, later, err)
			}
			s.finish(r, 0, streamReport(h, "forward", nil))
			s.expire(r, nil)
		}
	}
	if int(reports.Load()) != n || len(s.runs) != 0 {
		t.Fatalf("%d reports of %d runs, %d left in the table", reports.Load(), n, len(s.runs))
	}
}

// TestApart: the distance of any two int64s, exact.
func TestApart(t *testing.T) {
	for _, tc := range []struct {
		a, b int64
		want uint64
	}{
		{0, 0, 0}, {1, 0, 1}, {0, 1, 1}, {-1, 1, 2},
		{math.MaxInt64, math.MinInt64, math.MaxUint64},
		{math.MinInt64, math.MaxInt64, math.MaxUint64},
		{math.MaxInt64, math.MaxInt64 - 1, 1},
		{math.MinInt64, math.MinInt64 + 1, 1},
		{math.MinInt64, 0, 1 << 63},
	} {
		if got := apart(tc.a, tc.b); got != tc.want {
			t.Errorf("apart(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestRefusedRunLeavesNothing: a run refused at its first stream is not
// in the run table and has no timer or deadline armed: it leaves no
// trace that could fire later.
func TestRefusedRunLeavesNothing(t *testing.T) {
	c := tcpPair(t)
	for _, tc := range []struct {
		name string
		opt  ServerOptions
		h    wire.Hello
		want string
	}{
		{"busy", ServerOptions{MaxSessions: 1}, forward("00000000000000b2", 1<<20), "busy: 1 runs under way"},
		{"once", ServerOptions{Once: true}, forward("00000000000000b2", 1<<20), "serves one run (--once)"},
		{"max-bytes", ServerOptions{MaxBytes: 1 << 20}, forward("00000000000000b2", 1<<30), "--max-bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.StreamWait = time.Hour
			tc.opt.Report = func(report.Report) {}
			s, _ := NewServer(tc.opt)
			r, _, err := s.claim(context.Background(), forward("00000000000000b1", 1<<10), c)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.claim(context.Background(), tc.h, c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refusal %v, want %q", err, tc.want)
			}
			if _, ok := s.runs[tc.h.RunID]; ok || len(s.runs) != 1 {
				t.Fatalf("the refused run is in the table: %d runs", len(s.runs))
			}
			s.finish(r, 0, streamReport(forward("00000000000000b1", 1<<10), "forward", nil))
		})
	}
}

// FuzzClaim: any two decoded hellos claimed in turn, then their streams
// ended: a refused hello changes nothing, an admitted first stream's run
// is in the table with its timer armed, and once every stream has ended
// and the wait is over each run is reported once and gone.
func FuzzClaim(f *testing.F) {
	for _, h := range []wire.Hello{
		{RunID: "00000000000000a1", Streams: 2, Direction: wire.Forward, Pattern: "zeros", Bytes: wire.MaxBytes},
		{RunID: "00000000000000a1", Stream: 1, Streams: 2, Direction: wire.Forward, Pattern: "zeros", Bytes: wire.MaxBytes - 1},
		{RunID: "00000000000000a2", Streams: 1, Direction: wire.Reverse, Pattern: "random", Duration: wire.MaxDuration, Rate: wire.MaxRate},
		{RunID: "00000000000000a3", Streams: wire.MaxStreams, Stream: wire.MaxStreams - 1, Direction: wire.Forward, Pattern: "counter", Bytes: 1},
	} {
		h.Nonce = wire.NewNonce()
		f.Add(mustPayload(f, h), mustPayload(f, h))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	dc, _ := net.Dial("tcp", ln.Addr().String())
	c, _ := ln.Accept()
	ln.Close()
	f.Cleanup(func() { dc.Close(); c.Close() })
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var mu sync.Mutex
		reported := map[string]int{}
		s, _ := NewServer(ServerOptions{StreamWait: time.Hour, MaxBytes: 1 << 40, Report: func(r report.Report) {
			mu.Lock()
			reported[r.RunID]++
			mu.Unlock()
		}})
		type claimed struct {
			r      *run
			stream int
			h      wire.Hello
		}
		var got []claimed
		for _, p := range [][]byte{a, b} {
			h, err := wire.DecodeHello(p)
			if err != nil || h.Direction == wire.Abort || h.Direction == wire.Finish {
				continue
			}
			before := len(s.runs)
			r, isNew, err := s.claim(context.Background(), h, c)
			switch {
			case err != nil && len(s.runs) != before:
				t.Fatalf("a refused hello changed the run table: %v", err)
			case err != nil:
				continue
			case isNew && (s.runs[h.RunID] != r || r.timer == nil || r.ctx == nil):
				t.Fatal("a new run is not in the table with its timer and deadline")
			}
			got = append(got, claimed{r, h.Stream, h})
		}
		for _, x := range got {
			s.finish(x.r, x.stream, streamReport(x.h, "forward", nil))
		}
		for _, x := range got {
			s.expire(x.r, nil)
		}
		if len(s.runs) != 0 {
			t.Fatalf("%d runs left in the table", len(s.runs))
		}
		for id, n := range reported {
			if n != 1 {
				t.Fatalf("run %s reported %d times", id, n)
			}
		}
	})
}

// TestGoroutinePanicsContained: a panic in any kind of goroutine the
// server starts (a session's, a stream-wait timer, a connection's
// deadline cutter, the listener's closer, the --once watcher, the
// health check and the goroutines of its run, the accept loop) is
// recovered and logged, and ends only what that goroutine served: the
// run is reported incomplete with the error, or the health check fails,
// or (for what the whole server depends on) Serve returns the error,
// which recv turns into exit 3. The process never dies of it.
func TestGoroutinePanicsContained(t *testing.T) {
	clean := func(t *testing.T, addr string) {
		t.Helper()
		if r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background()); r.Verdict != report.Clean {
			t.Fatalf("the run after the panic: %s %q", r.Verdict, r.Error)
		}
	}
	t.Run("session", func(t *testing.T) {
		addr, stop := serve(t, ServerOptions{})
		armPanic(t, "session")
		if r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background()); r.Verdict != report.Incomplete {
			t.Fatalf("the run whose session panicked: %s %q", r.Verdict, r.Error)
		}
		clean(t, addr)
		if reps := stop(); len(reps) != 1 || reps[0].Verdict != report.Clean {
			t.Fatalf("reports %+v", reps)
		}
	})
	t.Run("stream-wait", func(t *testing.T) {
		addr, stop, waitN := serveWatch(t, ServerOptions{StreamWait: 200 * time.Millisecond})
		armPanic(t, "stream-wait")
		h := forward("00000000000000c1", 1000)
		h.Streams = 2 // stream 1 never comes: the timer ends the run
		sendStream(t, addr, h, make([]byte, 1000))
		waitN(1)
		clean(t, addr)
		reps := stop()
		if len(reps) != 2 || reps[0].Verdict != report.Incomplete || !strings.Contains(reps[0].Error, "receiver internal error: test: a bug in stream-wait") {
			t.Fatalf("the run whose timer panicked: %+v", reps[0])
		}
	})
	t.Run("cut", func(t *testing.T) {
		addr, stop, waitN := serveWatch(t, ServerOptions{MaxDuration: time.Second})
		armPanic(t, "cut")
		r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 30, Rate: 80e6}).Run(context.Background())
		if r.Verdict != report.Incomplete {
			t.Fatalf("the run cut short: %s %q", r.Verdict, r.Error)
		}
		waitN(1)
		clean(t, addr)
		reps := stop()
		if len(reps) != 2 || reps[0].Verdict != report.Incomplete || !strings.Contains(reps[0].Error, "--max-duration 1s") {
			t.Fatalf("the run whose cutter panicked: %+v", reps[0])
		}
	})
	for _, where := range []string{"stop", "watch", "accept"} {
		t.Run(where, func(t *testing.T) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			s, _ := NewServer(ServerOptions{Once: true, Logger: testLogger(t), Report: func(report.Report) {}})
			armPanic(t, where)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, ln) }()
			switch where {
			case "stop":
				cancel()
			case "accept":
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			if err := <-done; err == nil || err.Error() != "internal error: test: a bug in "+where {
				t.Fatalf("Serve returned %v", err)
			}
		})
	}
	for _, tc := range []struct{ where, want string }{
		{"health", "health check: receiver internal error: test: a bug in health"},
		{"client-handshake", "sender internal error: test: a bug in client-handshake"},
		{"client-stream", "sender internal error: test: a bug in client-stream"},
		{"client-abort", "sender internal error: test: a bug in client-abort"},
	} {
		t.Run(tc.where, func(t *testing.T) {
			addr, stop := serve(t, ServerOptions{})
			s, _ := serverRuns(addr)
			armPanic(t, tc.where)
			if _, err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("the check that panicked: %v, want %q", err, tc.want)
			}
			if _, err := s.Check(context.Background()); err != nil {
				t.Fatalf("the check after: %v", err)
			}
			clean(t, addr)
			stop()
		})
	}
}

// TestRawRunID: each raw run gets a run id of its own, in the protocol's
// format (16 hex digits), in its log lines and its report.
func TestRawRunID(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var log syncBuffer
	var mu sync.Mutex
	var reps []report.Report
	s, _ := NewServer(ServerOptions{Raw: true, Verify: verify.Options{Pattern: zeros}, Logger: slog.New(slog.NewTextHandler(&log, nil)),
		Report: func(r report.Report) { mu.Lock(); reps = append(reps, r); mu.Unlock() }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	for range 2 {
		c := client(t, ClientOptions{Addr: ln.Addr().String(), Raw: true, Bytes: 1 << 20})
		if _, err := c.RunRaw(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(reps) == 2 }, "two raw reports")
	cancel()
	<-done
	out := log.String()
	seen := map[string]bool{}
	for _, r := range reps {
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(r.RunID) || seen[r.RunID] {
			t.Fatalf("raw run ids %q", []string{reps[0].RunID, reps[1].RunID})
		}
		seen[r.RunID] = true
		for _, line := range []string{`msg="session start" run_id=` + r.RunID + " ", `msg="session end" run_id=` + r.RunID + " "} {
			if !strings.Contains(out, line) {
				t.Errorf("no line with %q in:\n%s", line, out)
			}
		}
	}
	if strings.Contains(out, `run_id=""`) {
		t.Errorf("a line without a run id:\n%s", out)
	}
}

// TestLateAbortKeepsEndedRun: an abort arriving after its run was
// reported must not make the server forget the run ended.
func TestLateAbortKeepsEndedRun(t *testing.T) {
	addr, stop, waitN := serveWatch(t, ServerOptions{StreamWait: 200 * time.Millisecond})
	id := "00112233445566ff"
	h := wire.Hello{RunID: id, Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 10}
	sendStream(t, addr, h, make([]byte, 10))
	waitN(1)
	control(t, addr, wire.Hello{RunID: id, Direction: wire.Abort, Reason: "late"})
	c2, err := hello(t, addr, h)
	if err == nil {
		c2.Write(make([]byte, 10))
		wire.ReadFrame(c2, wire.TypeResult)
		c2.Close()
		waitN(2)
	}
	reps := stop()
	if len(reps) != 1 {
		t.Errorf("late stream after a late abort was accepted: %d reports for run %s", len(reps), id)
	}
}

// TestAbortFloodKeepsEndedRuns: aborts for made-up runs (anyone can send
// them) must not push out the memory of runs really served.
func TestAbortFloodKeepsEndedRuns(t *testing.T) {
	addr, stop, waitN := serveWatch(t, ServerOptions{})
	if testing.Short() {
		t.Skip("4096 connections")
	}
	for i := range maxRecent {
		control(t, addr, wire.Hello{RunID: fmt.Sprintf("%016x", i+1<<40), Direction: wire.Abort})
	}
	id := "00112233445566ff"
	h := wire.Hello{RunID: id, Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 10}
	for range 2 {
		c, err := hello(t, addr, h)
		if err != nil {
			t.Logf("refused: %v", err)
			break
		}
		c.Write(make([]byte, 10))
		wire.ReadFrame(c, wire.TypeResult)
		c.Close()
	}
	waitN(1)
	time.Sleep(100 * time.Millisecond)
	if reps := stop(); len(reps) != 1 {
		t.Errorf("after a flood of aborts, a late stream ran again: %d reports", len(reps))
	}
}

// TestShutdownDuringResultRead: stopping the server while a peer trickles
// a result and then stalls must not wait out the idle timeout (a fresh
// per-read deadline must not replace the shutdown's).
func TestShutdownDuringResultRead(t *testing.T) {
	const idle = 4 * time.Second
	slow := 0
	for trial := range 4 {
		addr, stop := serve(t, ServerOptions{IdleTimeout: idle})
		c, err := hello(t, addr, wire.Hello{RunID: fmt.Sprintf("%016x", trial+1), Streams: 1, Direction: wire.Reverse, Pattern: "zeros", Bytes: 1000})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, c) // the whole stream, to its half-close
		// a result frame header claiming a large payload, then the payload
		var hdr [wire.HeaderSize]byte
		copy(hdr[:], wire.Magic)
		hdr[4] = wire.Version
		hdr[5] = byte(wire.TypeResult)
		binary.BigEndian.PutUint32(hdr[8:], 30<<20)
		c.Write(hdr[:])
		stopped := make(chan time.Duration)
		go func() {
			time.Sleep(20 * time.Millisecond)
			t0 := time.Now()
			stop()
			stopped <- time.Since(t0)
		}()
		chunk := make([]byte, 512)
		end := time.Now().Add(60 * time.Millisecond)
		for time.Now().Before(end) {
			c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
			c.Write(chunk)
		}
		d := <-stopped // the peer is now silent, with the connection open
		c.Close()
		if d > idle/2 {
			slow++
		}
	}
	if slow > 0 {
		t.Errorf("%d of 4 shutdowns waited out the idle timeout", slow)
	}
}

// TestRawPlannedSizeTiny: a planned size below the 4 bytes sniffed for a
// protocol hello still stops verification at that size.
func TestRawPlannedSizeTiny(t *testing.T) {
	for _, n := range []int64{4, 3} {
		addr, stop := serve(t, ServerOptions{Raw: true, Once: true, RawBytes: n, Verify: verify.Options{Pattern: zeros}})
		c, _ := net.Dial("tcp", addr)
		c.Write(make([]byte, 5000))
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
		c.Close()
		r := stop()[0]
		if r.Verdict != report.Clean || r.BytesVerified != n {
			t.Fatalf("RawBytes %d, 5000 sent: %s %d %q", n, r.Verdict, r.BytesVerified, r.Error)
		}
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
