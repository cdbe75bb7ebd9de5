package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/sender/stream"
	"github.com/zerocheck/zerocheck/wire"
)

// stream runs one stream over conn: handshake, then send and collect the
// receiver's result, or (reverse) verify and answer with our own.
// shake is a connection's handshake's outcome.
type shake struct {
	reply wire.Reply
	seal  seal
	err   error
}

func (c *Client) stream(ctx context.Context, conn net.Conn, h wire.Hello, sh shake, lim *stream.Limiter, host *hostinfo.Run) outcome {
	defer conn.Close()
	dir := string(h.Direction)
	// The handshake ran as the connection came up.
	reply, err := sh.reply, sh.err
	if err != nil {
		rep := streamReport(h, dir, fmt.Errorf("handshake with %s: %w", c.opt.Addr, err))
		var ref *wire.RefusedError
		if errors.As(err, &ref) && ref.ControlCorruption != "" {
			// Our hello arrived corrupt: the control channel is damaged.
			rep.ControlCorruption = "hello, as the receiver got it: " + ref.ControlCorruption
			rep.SetVerdict()
		}
		return outcome{rep: rep}
	}
	out := outcome{peer: decodeFacts(reply.Facts)}
	if h.Direction == wire.Reverse {
		out.rep = c.verify(ctx, conn, h, host, reply.ResultMax, sh.seal)
		return out
	}

	// An interrupt ends the stream as planned streams end, with a
	// half-close and the receiver's result.
	st := newStream(c.opt.Pattern, h.Bytes, h.Duration, c.opt.IdleTimeout, lim)
	// What comes back while this end sends: progress frames, when the
	// receiver sends them, then the result. resultConn is where the
	// result is read from.
	sendCtx := ctx
	resultConn := func(time.Duration, bool) net.Conn { return conn }
	var peer *peerProgress
	if reply.Progress {
		var fail context.CancelCauseFunc
		sendCtx, fail = context.WithCancelCause(ctx)
		defer fail(nil)
		peer = followProgress(conn, fail)
		defer func() {
			conn.Close() // ends the follower's read, if it is still reading
			<-peer.done
		}()
		resultConn = peer.resultConn
	}
	// The receiver's counts go on moving after the last byte is sent,
	// until its result.
	remove := c.live.add(counter{s: st, peer: peer})
	defer remove()
	n, err := st.Run(sendCtx, conn)
	if ctx.Err() == nil && sendCtx.Err() != nil {
		// A bad frame from the receiver, or its connection's end: what
		// follows, if anything, cannot be read.
		out.rep = streamReport(h, dir, fmt.Errorf("sent %d bytes, but no result from the peer: %w", n, context.Cause(sendCtx)))
		return out
	}
	wait := c.opt.IdleTimeout
	if ctx.Err() != nil {
		wait = abortWait
		err = nil
	}
	if err != nil {
		// The receiver may have stopped and said why in a result before
		// it closed: take its findings if they are there.
		closeWrite(conn)
		out.rep = result(resultConn(time.Second, false), h, dir, n, time.Second, nil, c.maxRegions(), 0, sh.seal, wire.ListenerResult, c.opt.ResultMemory, &c.held)
		out.rep.Error = joinText(fmt.Sprintf("sending after %d bytes: %v", n, err), out.rep.Error)
		out.rep.SetVerdict()
		return out
	}
	if h.Bytes == 0 {
		// A timed stream's end is known only here: say it, before the
		// half-close, so that the receiver can tell it from a death.
		fin := wire.Hello{RunID: h.RunID, Direction: wire.Finish, Stream: h.Stream, Bytes: n}
		if ferr := c.control(fin, min(wait, c.opt.HandshakeTimeout)); ferr != nil {
			// The receiver may have recorded the finish all the same: a
			// reset, not a clean close, makes sure it calls the stream
			// what this end does.
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			out.rep = streamReport(h, dir, fmt.Errorf("telling the receiver that stream %d finished: %w", h.Stream, ferr))
			return out
		}
	}
	if err := closeWrite(conn); err != nil {
		out.rep = streamReport(h, dir, fmt.Errorf("closing after %d bytes: %w", n, err))
		return out
	}
	// An interrupt does not cut this read short: the receiver's findings
	// are what the interrupted run's report is for.
	out.rep = result(resultConn(wait, true), h, dir, n, wait, context.Background(), c.maxRegions(), 0, sh.seal, wire.ListenerResult, c.opt.ResultMemory, &c.held)
	if out.rep.Hosts.Local != nil {
		// The receiver's facts as the stream ended: with counter deltas.
		out.peer, out.rep.Hosts.Local = out.rep.Hosts.Local, nil
	}
	return out
}

// verify verifies a reverse stream and answers with its report.
func (c *Client) verify(ctx context.Context, conn net.Conn, h wire.Hello, host *hostinfo.Run, resultMax int, sl seal) report.Report {
	vo := c.opt.Verify
	vo.Pattern, vo.Seed = c.opt.Pattern, c.opt.Seed
	// A result that cannot be sent leaves the receiver's report of this
	// stream incomplete; this end's report has it all.
	rep, _ := verifyStream(ctx, conn, h, report.Reverse, vo, &c.live, c.opt.IdleTimeout, c.opt.Version, host, nil, resultMax, sl, wire.DialerResult, false)
	rep.Hosts.Local = nil
	return rep
}

// resultMax is the largest result this end's result memory takes, for
// its hellos (0: any, wire.MaxResult): a receiver shrinks its results to
// fit rather than have them refused.
func (c *Client) resultMax() int {
	if n := orProcess(c.opt.ResultMemory).maxResult(wire.MaxResult, c.maxRegions()); n < wire.MaxResult {
		return max(n, wire.MinResultMax)
	}
	return 0
}

func (c *Client) maxRegions() int { return cmpOr(c.opt.Verify.MaxRegions, verify.DefaultMaxRegions) }
