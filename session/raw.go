package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/wire"
)

// raw serves a plain stream: the connection is the run.
func (s *Server) raw(ctx context.Context, c net.Conn) {
	done, err := s.rawSession(addrOf(c.RemoteAddr()))
	if err != nil {
		s.logRefusal(c.RemoteAddr(), err)
		return
	}
	defer done()
	// A raw run's limits are a protocol run's: its time and its bytes.
	ctx, cut := context.WithCancelCause(ctx)
	defer cut(nil)
	ctx, cancel := context.WithTimeoutCause(ctx, s.opt.MaxDuration,
		fmt.Errorf("the run went on for longer than this receiver allows (--max-duration %v)", s.opt.MaxDuration))
	defer cancel()
	stop := context.AfterFunc(ctx, s.cut(c))
	defer stop()
	if s.opt.MaxBytes > 0 {
		left := new(atomic.Int64)
		left.Store(s.opt.MaxBytes)
		c = budgetReader{c, budget{left, s.opt.MaxBytes}}
	}
	// A raw run has no id from its sender: it gets one here, as a
	// protocol sender makes one, for its log lines and its report.
	id := runID()
	host := s.hostFacts(c.LocalAddr())
	v, err := verify.New(s.opt.Verify)
	if err != nil {
		s.log.Error("raw stream", "run_id", id, "peer", c.RemoteAddr().String(), "error", err.Error())
		return
	}
	start := time.Now()
	s.log.Info("session start", "run_id", id, "peer", c.RemoteAddr().String(), "raw", true, "pattern", s.opt.Verify.Pattern.String(), "bytes", s.opt.RawBytes)
	remove := s.live.add(counter{v: v})
	go s.rawWatch(ctx, cut, start, func() int64 { return v.Progress().Bytes })
	in := idleReader{c, s.opt.IdleTimeout, ctx}
	err = s.rawStart(c, in, v)
	switch {
	case errors.Is(err, io.EOF):
		err = nil // a stream of fewer than 4 bytes, whole
	case err == nil:
		limit := int64(0)
		if s.opt.RawBytes > 0 {
			limit = s.opt.RawBytes - v.Progress().Bytes
		}
		if s.opt.RawBytes == 0 || limit > 0 {
			err = verify.Consume(ctx, in, v, limit)
		}
	}
	if got := v.Progress().Bytes; err == nil && s.opt.RawBytes > 0 && got != s.opt.RawBytes {
		err = &verify.ShortError{Got: got, Want: s.opt.RawBytes}
	}
	var short *verify.ShortError
	if errors.As(err, &short) {
		err = &verify.ShortError{Got: v.Progress().Bytes, Want: s.opt.RawBytes}
	}
	remove()
	if err == nil && v.Progress().Bytes == 0 {
		err = errors.New("no data received (a port probe, or a sender that stopped at once)")
	}
	rep := v.Result(err)
	rep.BytesExpected = s.opt.RawBytes
	rep.RunID = id
	rep.Role = "recv"
	rep.Version = s.opt.Version
	rep.LocalAddr = c.LocalAddr().String()
	rep.PeerAddr = c.RemoteAddr().String()
	rep.Hosts.Local = finish(host, s.log)
	s.logEnd(rep, time.Since(start))
	s.deliver(rep)
}

// rawSession admits a raw run under the session limit and --once. The
// raw streams of one source count as one session, as a protocol run's
// streams do: "send --raw --streams 16" is one sender.
func (s *Server) rawSession(src netip.Addr) (done func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opt.Once && s.onceRun {
		return nil, errors.New("busy: this receiver serves one run (--once)")
	}
	if s.rawSources[src] == 0 {
		if err := s.overLimits(wire.Hello{}, false); err != nil {
			return nil, err
		}
	}
	s.onceRun = true
	s.rawSources[src]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.rawSources[src]--; s.rawSources[src] == 0 {
			delete(s.rawSources, src)
		}
	}, nil
}

// errProtocolPeer is a raw receiver's answer to a sender that speaks the
// protocol: its hello would otherwise be verified as corrupt data.
var errProtocolPeer = errors.New("the sender speaks the zerocheck protocol but this receiver runs --raw: drop --raw on both ends, or add it to send")

// rawStart verifies the first bytes of a raw stream, unless they are a
// protocol hello the pattern does not explain. io.EOF means the stream
// ended in them.
func (s *Server) rawStart(c net.Conn, in idleReader, v *verify.Verifier) error {
	var buf [len(wire.Magic)]byte
	head := buf[:]
	if s.opt.RawBytes > 0 && s.opt.RawBytes < int64(len(head)) {
		head = head[:s.opt.RawBytes]
	}
	n, err := io.ReadFull(in, head)
	if n > 0 {
		want := make([]byte, n)
		s.opt.Verify.Pattern.Fill(want, 0)
		if string(head[:n]) == wire.Magic && string(want) != wire.Magic {
			s.refuse(c, errProtocolPeer)
			return errProtocolPeer
		}
		v.Write(head[:n])
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return io.EOF
	}
	return err
}
