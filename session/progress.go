package session

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/wire"
)

// progressEvery is the time between two progress frames on a stream: one
// frame of 40 bytes a second at most, whatever the stream's rate.
const progressEvery = time.Second

// sendProgress writes a progress frame on c every progressEvery while v
// verifies, when its counts have moved, until stop is called or ctx is
// done (a stream being stopped gets its result at once). Each write waits
// at most wait for the peer to take it. stop returns the error of a write
// that failed: c may then hold part of a frame, and nothing may follow
// it. A panic in the goroutine is raised again by stop, in the caller's
// goroutine, with the stack where it happened: the session's recover
// logs it and ends that session only.
func sendProgress(ctx context.Context, c net.Conn, v *verify.Verifier, wait time.Duration) (stop func() error) {
	quit := make(chan struct{})
	type end struct {
		err   error
		panic any
	}
	done := make(chan end, 1)
	go func() {
		defer func() {
			if x := recover(); x != nil {
				done <- end{panic: fmt.Sprintf("%v (sending progress)\n%s", x, debug.Stack())}
			}
		}()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		var last verify.Progress
		for {
			select {
			case <-quit:
				done <- end{}
				return
			case <-ctx.Done():
				done <- end{}
				return
			case <-t.C:
			}
			p := v.Progress()
			if p == last {
				continue
			}
			b, err := wire.EncodeProgress(wire.Progress{Verified: p.Bytes, Corrupt: p.CorruptBytes, Regions: p.Regions})
			if err == nil {
				err = writeFrame(c, b, wait)
			}
			if err != nil {
				done <- end{err: fmt.Errorf("sending progress: %w", err)}
				return
			}
			last = p
		}
	}()
	return func() error {
		close(quit)
		e := <-done
		if e.panic != nil {
			panic(e.panic)
		}
		return e.err
	}
}

// peerProgress follows the progress frames a receiver sends on a forward
// stream while this end sends it, for the live view. It ends at the
// first frame of another kind (the result), whose header it keeps for
// the result's reader (see resultConn), or at the first error, which
// stops the sending (fail): nothing after a bad frame can be read.
type peerProgress struct {
	conn net.Conn
	last atomic.Pointer[wire.Progress]
	// gap, once set, bounds each read: the stream is sent, and its
	// result is awaited as result awaits it.
	gap  atomic.Int64
	done chan struct{}
	// head and err are ReadProgress's, once done is closed.
	head []byte
	err  error
}

// followProgress starts following conn's progress frames. The caller
// closes conn and then waits for done, so that the goroutine ends with
// the stream.
func followProgress(conn net.Conn, fail context.CancelCauseFunc) *peerProgress {
	w := &peerProgress{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.head, w.err = wire.ReadProgress(w, func(p wire.Progress) { w.last.Store(&p) })
		if w.err != nil {
			fail(w.err)
		}
	}()
	return w
}

func (w *peerProgress) Read(b []byte) (int, error) {
	if d := time.Duration(w.gap.Load()); d > 0 {
		return idleReader{w.conn, d, nil}.Read(b)
	}
	return w.conn.Read(b)
}

// progress returns the last progress frame received; zero before one.
func (w *peerProgress) progress() wire.Progress {
	if p := w.last.Load(); p != nil {
		return *p
	}
	return wire.Progress{}
}

// resultConn waits until the follower has come to the frame after the
// progress frames, wait bounding each gap (gaps) or the whole wait, and
// returns the connection to read that frame from: the header the
// follower read comes first, then the connection's bytes, or the
// follower's error, so that the result's reader fails as it would have
// on the connection itself.
func (w *peerProgress) resultConn(wait time.Duration, gaps bool) net.Conn {
	if gaps {
		w.gap.Store(int64(wait))
	}
	w.conn.SetReadDeadline(time.Now().Add(wait))
	<-w.done
	var rest io.Reader = w.conn
	if w.err != nil {
		rest = errReader{w.err}
	}
	return replayConn{w.conn, io.MultiReader(bytes.NewReader(w.head), rest)}
}

// replayConn is a connection whose reads come from r.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
