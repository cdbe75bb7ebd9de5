package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
)

func TestWriteExactBytes(t *testing.T) {
	p, _ := pattern.Parse("counter", 0)
	for _, n := range []int64{0, 1, BufferSize - 1, BufferSize, 3*BufferSize + 5} {
		var b bytes.Buffer
		sent, err := Write(context.Background(), &b, p, 4093, n)
		if err != nil || sent != n || int64(b.Len()) != n {
			t.Fatalf("n %d: sent %d, wrote %d, err %v", n, sent, b.Len(), err)
		}
		if i := p.Mismatch(b.Bytes(), 4093); i != -1 {
			t.Fatalf("n %d: byte %d is not the pattern", n, i)
		}
	}
}

// failAfter accepts limit bytes, then fails, as a reset socket does.
type failAfter struct{ limit, got int }

var errReset = errors.New("connection reset")

func (w *failAfter) Write(b []byte) (int, error) {
	n := min(len(b), w.limit-w.got)
	w.got += n
	if n < len(b) {
		return n, errReset
	}
	return n, nil
}

func TestWriteStopsOnErrorAndCancel(t *testing.T) {
	p, _ := pattern.Parse("zeros", 0)
	w := &failAfter{limit: BufferSize + 100}
	sent, err := Write(context.Background(), w, p, 0, -1)
	if !errors.Is(err, errReset) || sent != BufferSize+100 {
		t.Fatalf("sent %d, err %v", sent, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sent, err = Write(ctx, io.Discard, p, 0, -1)
	if !errors.Is(err, context.Canceled) || sent != 0 {
		t.Fatalf("cancelled: sent %d, err %v", sent, err)
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, spec := range []string{"zeros", "counter", "random"} {
		p, _ := pattern.Parse(spec, 1)
		b.Run(spec, func(b *testing.B) {
			b.SetBytes(BufferSize * 16)
			for b.Loop() {
				Write(context.Background(), io.Discard, p, 0, BufferSize*16)
			}
		})
	}
}

// pair returns both ends of a TCP connection on 127.0.0.1.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// TestStreamStall: a peer that stops reading fails the stream with a
// StallError once the socket buffers are full, instead of hanging.
func TestStreamStall(t *testing.T) {
	c, _ := pair(t)
	p, _ := pattern.Parse("zeros", 0)
	s := &Stream{Pattern: p, Bytes: -1, Stall: 200 * time.Millisecond}
	n, err := s.Run(context.Background(), c)
	var se *StallError
	if !errors.As(err, &se) || se.Offset != n || n == 0 || s.Sent() != n {
		t.Fatalf("sent %d, err %v", n, err)
	}
}

// TestStreamStallFromLastProgress: the stall is called Stall after the
// last byte the peer took, not Stall after the start of a write that
// took a little and then blocked (which made it up to twice Stall): the
// peer here stops reading at once, so its last byte is taken as the
// buffers fill, in the first milliseconds.
func TestStreamStallFromLastProgress(t *testing.T) {
	c, _ := pair(t)
	// Small buffers: they fill in a few writes, and the last one blocks
	// part-way, the case that re-armed the stall clock.
	c.(*net.TCPConn).SetWriteBuffer(64 << 10)
	p, _ := pattern.Parse("zeros", 0)
	const stall = 2 * time.Second
	s := &Stream{Pattern: p, Bytes: -1, Stall: stall}
	start := time.Now()
	n, err := s.Run(context.Background(), c)
	took := time.Since(start)
	var se *StallError
	if !errors.As(err, &se) || se.For != stall || se.Offset != n || n == 0 {
		t.Fatalf("sent %d, err %v", n, err)
	}
	if want := "write at offset " + strconv.FormatInt(n, 10) + ": the peer read nothing for 2s"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// Never before the timeout. And well before twice it: the
	// partly-progressing write that re-armed the clock took two full
	// stalls, so this bound tells the fault from a loaded machine.
	if took < stall || took >= 2*stall {
		t.Errorf("stall called after %v, want [%v, %v)", took, stall, 2*stall)
	}
}

// TestStreamDeadline: a timed stream ends without error at its planned
// end, even with the peer not reading (the write is cut short).
func TestStreamDeadline(t *testing.T) {
	c, _ := pair(t)
	p, _ := pattern.Parse("counter", 0)
	s := &Stream{Pattern: p, Bytes: -1, Deadline: time.Now().Add(200 * time.Millisecond), Stall: time.Hour}
	if n, err := s.Run(context.Background(), c); err != nil || n == 0 {
		t.Fatalf("sent %d, err %v", n, err)
	}
}

// TestStreamCancelCutsBlockedWrite: cancelling while a write blocks ends
// the stream with the context's error (as an interrupted send does).
func TestStreamCancelCutsBlockedWrite(t *testing.T) {
	c, _ := pair(t)
	p, _ := pattern.Parse("zeros", 0)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	s := &Stream{Pattern: p, Bytes: -1, Stall: time.Hour}
	if _, err := s.Run(ctx, c); err != context.Canceled {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// panicDeadline is a writer whose SetWriteDeadline has a bug. After its
// first write, it blocks until SetWriteDeadline has been called: the
// cutter runs before the stream can end.
type panicDeadline struct {
	wrote chan struct{}
	cut   chan struct{}
}

func (w panicDeadline) Write(b []byte) (int, error) {
	select {
	case w.wrote <- struct{}{}:
	default:
		<-w.cut
	}
	return len(b), nil
}

func (w panicDeadline) SetWriteDeadline(time.Time) error {
	close(w.cut)
	panic("test: a bug in SetWriteDeadline")
}

// TestStreamCancelCutterPanic: a panic in the goroutine that cuts a
// write short on cancel, where nobody above could recover it, does not
// end the process: the stream still ends with the context's error.
func TestStreamCancelCutterPanic(t *testing.T) {
	p, _ := pattern.Parse("zeros", 0)
	ctx, cancel := context.WithCancel(context.Background())
	w := panicDeadline{wrote: make(chan struct{}, 1), cut: make(chan struct{})}
	go func() { <-w.wrote; cancel() }()
	s := &Stream{Pattern: p, Bytes: -1}
	if _, err := s.Run(ctx, w); err != context.Canceled {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
