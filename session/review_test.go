package session

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// Regression tests for defects found in review.

// TestBindFixedPortTimed: with --bind ip:port the data connection holds
// that port, so control hellos (finish, abort) go from the same address
// on another port; a timed run is clean.
func TestBindFixedPortTimed(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true})
	// find a free port
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := client(t, ClientOptions{Addr: addr, Bind: fmt.Sprintf("127.0.0.1:%d", port), Duration: 300 * time.Millisecond})
	got := c.Run(context.Background())
	reps := stop()
	if got.Verdict != report.Clean || len(reps) != 1 || reps[0].Verdict != report.Clean {
		t.Fatalf("timed run with --bind ip:port: sender %s %q, receiver %+v", got.Verdict, got.Error, reps)
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
