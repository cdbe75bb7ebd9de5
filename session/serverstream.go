package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// stream serves one accepted stream and returns its report.
func (s *Server) stream(ctx context.Context, c net.Conn, r *run, g greeting) report.Report {
	h := g.hello
	if err := s.accept(c, g, r.facts, s.opt.HandshakeTimeout); err != nil {
		return streamReport(h, string(h.Direction), fmt.Errorf("handshake reply: %w", err))
	}
	if err := s.peerFacts(ctx, c, r, h); err != nil {
		return streamReport(h, string(h.Direction), fmt.Errorf("the sender's facts: %w", err))
	}
	p, err := pattern.Parse(h.Pattern, h.Seed)
	if err != nil {
		return streamReport(h, string(h.Direction), err)
	}
	if h.Direction == wire.Reverse {
		return s.send(ctx, c, r, h, p, s.seal(g))
	}
	vo := s.opt.Verify
	vo.Pattern, vo.Seed = p, h.Seed
	var check func(int64) error
	if h.Bytes == 0 {
		check = func(got int64) error { return s.finished(r, h.Stream, got) }
	}
	rep, err := verifyStream(ctx, r.reading(c, s.opt.MaxBytes), h, report.Forward, vo, r.live, s.opt.IdleTimeout, s.opt.Version, r.host, check, h.ResultMax, s.seal(g), wire.ListenerResult, h.Progress)
	if err != nil {
		s.log.Warn("the sender will not see this stream's result", "run_id", h.RunID, "stream", h.Stream, "peer", c.RemoteAddr().String(), "error", err.Error())
	}
	return rep
}

// finished judges a timed stream that ended at EOF with got bytes: its
// sender must have said, in a finish hello, that it sent exactly that.
// A sender that died mid-run said nothing, though its kernel closed the
// stream just as a finished sender does.
func (s *Server) finished(r *run, stream int, got int64) error {
	s.mu.Lock()
	n := r.sent[stream]
	s.mu.Unlock()
	switch {
	case n < 0:
		return errors.New("the stream ended without its sender saying it had finished: the sender stopped or died")
	case got < n:
		return &verify.ShortError{Got: got, Want: n}
	case got > n:
		return fmt.Errorf("received %d bytes, but the sender said it sent %d", got, n)
	}
	return nil
}

// send serves a reverse stream: this end sends, the peer verifies and
// answers with its report.
func (s *Server) send(ctx context.Context, c net.Conn, r *run, h wire.Hello, p pattern.Pattern, sl seal) report.Report {
	st := newStream(p, h.Bytes, h.Duration, s.opt.IdleTimeout, r.limiter)
	// Counted until the peer's result is in: what drains from the
	// socket buffers meanwhile is progress, for the minimum rate.
	remove := r.live.add(counter{s: st, conn: c})
	defer remove()
	n, err := st.Run(ctx, r.writing(c, s.opt.MaxBytes))
	if ctx.Err() != nil {
		// Stopping: end the stream here and still take the peer's
		// findings, briefly.
		closeWrite(c)
		rep := result(c, h, report.Reverse, n, abortWait, nil, s.maxRegions(), s.peerResultMax(), sl, wire.DialerResult, s.opt.ResultMemory, &r.held)
		rep.Error = joinText("the receiver stopped sending: "+context.Cause(ctx).Error(), rep.Error)
		rep.SetVerdict()
		return rep
	}
	if err == nil {
		err = closeWrite(c)
	}
	if err != nil {
		return streamReport(h, report.Reverse, fmt.Errorf("sending after %d bytes: %w", n, err))
	}
	return result(c, h, report.Reverse, n, s.opt.IdleTimeout, ctx, s.maxRegions(), s.peerResultMax(), sl, wire.DialerResult, s.opt.ResultMemory, &r.held)
}

// seal is the seal of the results on a connection whose handshake was g.
func (s *Server) seal(g greeting) seal { return seal{token: s.opt.Token, nonce: g.nonce} }

// maxPeerResult is the largest result a receiver takes from a peer, for
// a reverse stream, and says so in its Reply: enough for the default
// 1000 regions with their captured lines, and a bound on the memory one
// stalled peer can hold (the result is read as it arrives).
const maxPeerResult = 4 << 20

// peerResultMax is the largest result this receiver takes from a peer:
// maxPeerResult, or less when its result memory is small.
func (s *Server) peerResultMax() int {
	return orProcess(s.opt.ResultMemory).maxResult(maxPeerResult, s.maxRegions())
}

func (s *Server) maxRegions() int { return cmpOr(s.opt.Verify.MaxRegions, verify.DefaultMaxRegions) }

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// result reads the verifying end's report of a stream this end sent n
// bytes of. What it keeps of the peer's regions is bounded as this end's
// own verifier is bounded (maxRegions, the default capture).
//
// With gaps, wait bounds each gap in the frame; without, the whole read.
//
// max bounds the result's frame (0: wire.MaxResult).
//
// sl checks the result's seal (role's), when the run has a token.
//
// mem bounds the memory the result takes (see ResultMemory), and held
// keeps what it retains until the run is reported.
func result(c net.Conn, h wire.Hello, dir string, n int64, wait time.Duration, gaps context.Context, maxRegions, max int, sl seal, role string, mem *ResultMemory, held *holding) report.Report {
	rep, err := readResult(c, wait, gaps, max, maxRegions, sl, role, mem, held)
	if err == nil && (len(rep.Streams) != 1 || rep.Streams[0].Stream != h.Stream) {
		err = fmt.Errorf("result names another stream than %d", h.Stream)
	}
	if err != nil {
		return streamReport(h, dir, fmt.Errorf("sent %d bytes, but no result from the peer: %w", n, err))
	}
	tag(&rep, h.Stream, dir)
	if rep.Error == "" && rep.BytesVerified != n {
		rep.Error = fmt.Sprintf("the peer verified %d bytes of the %d sent", rep.BytesVerified, n)
		rep.SetVerdict()
	}
	return rep
}
