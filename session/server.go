package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Verify holds the verifier settings (merge gap, region limits). Its
	// pattern and seed are used in Raw mode only: otherwise each Hello
	// names them.
	Verify verify.Options
	// Raw serves plain streams: no handshake, no result message; each
	// connection is a run of its own, verified against Verify's pattern.
	Raw bool
	// RawBytes, when set, is each raw stream's planned size: a stream
	// that ends before it is incomplete, and reading stops there.
	RawBytes int64
	// Once serves one run (all its streams) and refuses any other; Serve
	// returns when that run has been reported.
	Once bool
	// HandshakeTimeout bounds the whole handshake: hello, challenge,
	// auth, from the accept.
	HandshakeTimeout time.Duration
	// IdleTimeout ends a stream when its peer sends nothing, or takes
	// nothing, for this long.
	IdleTimeout time.Duration
	// StreamWait is how long a run waits for its streams to connect.
	StreamWait time.Duration
	// Host supplies this host's facts; nil sends none.
	Host Host
	// Version is sent to peers and put in reports.
	Version string
	// Report receives each finished run's report, from the goroutine of
	// its last stream; it must not block for long. The server's own
	// health checks are not reported.
	Report func(report.Report)
	// Logger gets one line per session start and end, refusal and
	// failure; nil: none.
	Logger *slog.Logger

	// Token, when set, is the secret every sender must prove it holds
	// (see package wire); senders without it are refused before they
	// send a byte of pattern.
	Token []byte
	// Allow, when set, lists the networks served; connections from
	// elsewhere are refused before a byte is read. The server's own
	// health check is always served: a connection from this host to
	// itself is read up to its hello, which must carry the check's secret.
	Allow []netip.Prefix
	// MaxSessions bounds the runs served at once; MaxConns the
	// connections open at once, and MaxConnsPerSource those from one
	// address, so that one host's idle connections cannot crowd out the
	// others.
	MaxSessions       int
	MaxConns          int
	MaxConnsPerSource int
	// MaxBytes bounds a run's bytes (0: no bound) and MaxDuration its
	// time, whatever its sender planned.
	MaxBytes    int64
	MaxDuration time.Duration
	// ResultMemory bounds the memory that peers' results (of --bidir
	// streams) take at once (nil: the process's, DefaultResultMemory).
	ResultMemory *ResultMemory
	// MinRate, when set, is the floor on a run's progress, in bits per
	// second: the bytes its streams verified and sent, together,
	// averaged over the last 10 s. A run below it once MinRateGrace (0:
	// DefaultMinRateGrace) is over is cut short, incomplete, so that
	// runs that trickle cannot hold every session slot; a plan slower
	// than it is refused up front. 0: no floor.
	MinRate      int64
	MinRateGrace time.Duration
}

// Server verifies the streams of zerocheck senders.
type Server struct {
	opt  ServerOptions
	mu   sync.Mutex
	runs map[string]*run
	// once is closed when the run served under Once has been reported.
	once     chan struct{}
	onceRun  bool
	live     tracker
	sessions sync.WaitGroup
	// reports counts run reports under way outside any session (the
	// stream-wait timer's), so that Serve returns only after them.
	reports sync.WaitGroup
	// ended remembers reported runs, so that a late stream does not
	// start a second run of the same id; early remembers aborts that
	// arrived before their run. Kept apart, so that a flood of aborts
	// cannot push out the runs really served.
	ended, early recent

	log *slog.Logger
	// rawSources counts raw streams under way by source: each source
	// is a session, for MaxSessions.
	rawSources map[netip.Addr]int
	onceEnded  sync.Once
	// onceErr is why a server of one run ended before its run started.
	onceErr error
	// conns and perSource count the connections admitted and open.
	conns      int
	perSource  map[netip.Prefix]int
	handshakes map[net.Conn]*unproven
	refusals   rateLimit
	// addr is the listener's address once Serve runs.
	addr    net.Addr
	serving chan struct{} // closed once addr is set
	health  healthCache
	// secret marks the health check's hellos (wire.Hello.Check): this
	// server's own, random, never sent anywhere but to itself.
	secret string
	// broken is the failure of a goroutine the whole server depends on
	// (its listener's closer, the --once watcher): Serve returns it.
	broken error
}

// NewServer checks opt and fills its defaults.
func NewServer(opt ServerOptions) (*Server, error) {
	if opt.Report == nil {
		return nil, errors.New("session: no report function")
	}
	if opt.Raw {
		if err := opt.Verify.Validate(); err != nil {
			return nil, err
		}
	}
	if opt.Raw && opt.Token != nil {
		return nil, errors.New("a token needs the protocol: --raw streams have no handshake to prove it in")
	}
	if opt.MaxBytes < 0 {
		return nil, errors.New("session: negative byte limit")
	}
	if opt.MinRate < 0 {
		return nil, errors.New("session: negative minimum rate")
	}
	opt.MinRateGrace = cmpOr(opt.MinRateGrace, DefaultMinRateGrace)
	opt.HandshakeTimeout = cmpOr(opt.HandshakeTimeout, DefaultHandshakeTimeout)
	opt.IdleTimeout = cmpOr(opt.IdleTimeout, DefaultIdleTimeout)
	opt.StreamWait = cmpOr(opt.StreamWait, DefaultStreamWait)
	opt.MaxSessions = cmpOr(opt.MaxSessions, DefaultMaxSessions)
	opt.MaxConns = cmpOr(opt.MaxConns, DefaultMaxConns)
	opt.MaxConnsPerSource = cmpOr(opt.MaxConnsPerSource, DefaultMaxConnsPerSource)
	opt.MaxDuration = cmpOr(opt.MaxDuration, DefaultMaxDuration)
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		opt: opt, runs: map[string]*run{}, once: make(chan struct{}), log: log,
		perSource: map[netip.Prefix]int{}, rawSources: map[netip.Addr]int{}, handshakes: map[net.Conn]*unproven{}, serving: make(chan struct{}),
		secret: wire.NewNonce()[:32],
	}, nil
}

// panicHook, when set by a test, runs at the start of each goroutine the
// server and its health check start, named by where: the way to prove
// that a panic in any of them is contained. Otherwise the code path is
// the real one.
var panicHook atomic.Pointer[func(where string)]

func hook(where string) {
	if f := panicHook.Load(); f != nil {
		(*f)(where)
	}
}

// contain is deferred first in every goroutine the server starts: it
// recovers a panic there, logs it with its stack, and calls ended (when
// set), which ends what the goroutine served, so that nothing is left
// half-alive.
func (s *Server) contain(where string, ended func(v any), args ...any) {
	v := recover()
	if v == nil {
		return
	}
	logPanic(s.log, "internal error in "+where, v, args...)
	if ended != nil {
		ended(v)
	}
}

// fail stops the whole server on the failure of a goroutine it depends
// on: its listener is closed, and Serve returns err.
func (s *Server) fail(ln net.Listener, err error) {
	s.mu.Lock()
	if s.broken == nil {
		s.broken = err
	}
	s.mu.Unlock()
	ln.Close()
}

// cut returns, for context.AfterFunc, what cuts c's blocked reads and
// writes short. If that panics, c is closed instead: the stream ends
// either way.
func (s *Server) cut(c net.Conn) func() {
	return func() {
		defer s.contain("cutting a connection short", func(any) { c.Close() })
		hook("cut")
		c.SetDeadline(time.Now())
	}
}

func cmpOr[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Progress sums the streams verified and sent in the latest period of
// activity, finished or not: since the last time a stream started with
// none under way (Start), so that a receiver's live view counts and
// times the runs it serves, not its own life.
func (s *Server) Progress() Progress { return s.live.period() }

// Serve accepts connections on ln until ctx ends, Accept fails, or (with
// Once) its run is reported. Sessions under way when ctx ends are cut
// short and still reported (verdict incomplete unless corrupt). It
// returns the Accept error, or nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Sessions cut short by this receiver's stop say so: the sender
	// shows the receiver's stream errors, and a bare "interrupted:
	// terminated signal received" there reads as if the sender had been.
	parent := ctx
	ctx, cancelCause := context.WithCancelCause(context.WithoutCancel(parent))
	cancel := func() { cancelCause(nil) }
	defer cancel()
	stopParent := context.AfterFunc(parent, func() {
		cancelCause(fmt.Errorf("the receiver was stopped (%v)", context.Cause(parent)))
	})
	defer stopParent()
	s.mu.Lock()
	if s.addr != nil {
		s.mu.Unlock()
		return errors.New("session: Serve called twice")
	}
	s.addr = ln.Addr()
	s.mu.Unlock()
	close(s.serving)
	stop := context.AfterFunc(ctx, func() {
		defer s.contain("the listener's closer", func(v any) { s.fail(ln, fmt.Errorf("internal error: %v", v)) })
		hook("stop")
		ln.Close()
	})
	defer stop()
	go func() {
		defer s.contain("the --once watcher", func(v any) { s.fail(ln, fmt.Errorf("internal error: %v", v)) })
		hook("watch")
		select {
		case <-s.once:
			ln.Close()
		case <-ctx.Done():
		}
	}()
	var err error
	func() {
		// A bug in the loop itself is the accept loop's failure: the
		// process ends as when its listener fails (recv: exit 3), never
		// with Go's exit 2 for an unrecovered panic.
		defer s.contain("the accept loop", func(v any) {
			err = fmt.Errorf("internal error: %v", v)
			ln.Close()
		})
		err = s.acceptLoop(ctx, ln)
	}()
	if err != nil {
		// The accept loop is the server: without it nothing is served, so
		// end the sessions too rather than linger half-alive.
		s.log.Error("accept loop failed; stopping", "error", err.Error())
		cancel()
	}
	s.sessions.Wait()
	s.flush()
	s.reports.Wait()
	return err
}

// acceptLoop accepts and admits connections until Accept fails, and
// returns its error when that is a failure, not a stop.
func (s *Server) acceptLoop(ctx context.Context, ln net.Listener) error {
	var err error
	var backoff time.Duration
	for {
		c, aerr := ln.Accept()
		hook("accept")
		if aerr != nil && ctx.Err() == nil && temporary(aerr) {
			// Out of file descriptors, or a connection reset before it
			// was accepted: the server is still sound; wait and go on,
			// as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "error", aerr.Error(), "backoff_seconds", backoff.Seconds())
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if aerr != nil {
			s.mu.Lock()
			broken := s.broken
			s.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-s.once:
			default:
				err = aerr
			}
			if broken != nil {
				err = broken
			}
			return err
		}
		release, rerr := s.admit(c)
		if rerr != nil {
			s.turnAway(c, rerr)
			continue
		}
		s.sessions.Add(1)
		go func() {
			defer s.sessions.Done()
			defer release()
			s.handle(ctx, c)
		}()
	}
}

// flush reports the runs still waiting for streams that never came.
func (s *Server) flush() {
	s.mu.Lock()
	var rs []*run
	for _, r := range s.runs {
		r.waitOver = true
		if r.pending == 0 && !r.ended {
			r.ended = true
			rs = append(rs, r)
		}
	}
	s.mu.Unlock()
	for _, r := range rs {
		s.reportRun(r)
	}
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	defer func() {
		if v := recover(); v != nil {
			// A bug outside a stream (the handshake, a report) ends this
			// connection, loudly, not the server; a server of one run
			// (--once) ends too, rather than wait for ever.
			logPanic(s.log, "internal error", v, "peer", c.RemoteAddr().String())
			s.endOnce()
		}
	}()
	hook("session")
	// An interrupt cuts blocked reads and writes short, so that a stream
	// ends and its result still goes to the sender (writeFrame sets a
	// deadline of its own); the socket closes after.
	stop := context.AfterFunc(ctx, s.cut(c))
	defer stop()
	if s.opt.Raw {
		s.raw(ctx, c)
		return
	}
	gctx, cancel := s.handshaking(ctx, c)
	stopG := context.AfterFunc(gctx, s.cut(c))
	g, err := s.greet(gctx, c, time.Now().Add(s.opt.HandshakeTimeout))
	stopG()
	cancel()
	if everr := s.shookHands(c); everr != nil {
		err = everr
	}
	if err != nil {
		if ctx.Err() == nil {
			s.refuse(c, fmt.Errorf("handshake: %w", err))
		}
		if controlCorruption(err) != "" {
			s.unserved(fmt.Errorf("a sender's hello arrived corrupt, so no run was served: %w", err))
		}
		return
	}
	h := g.hello
	switch h.Direction {
	case wire.Abort, wire.Finish:
		if err := s.control(h, c); err != nil {
			s.refuse(c, err)
		} else {
			s.accept(c, g, nil, s.opt.HandshakeTimeout)
		}
		return
	}
	r, err := s.join(ctx, h, c)
	if err != nil {
		s.refuse(c, err)
		return
	}
	// The run's limits cut its streams short as a shutdown does.
	stopRun := context.AfterFunc(r.ctx, s.cut(c))
	defer stopRun()
	var rep report.Report
	func() {
		defer func() {
			if v := recover(); v != nil {
				// One stream's bug ends that stream, loudly, not the server.
				logPanic(s.log, "internal error", v, "run_id", h.RunID, "stream", h.Stream, "peer", c.RemoteAddr().String())
				rep = streamReport(h, string(h.Direction), fmt.Errorf("receiver internal error: %v", v))
			}
		}()
		if streamHook != nil {
			streamHook(h)
		}
		rep = s.stream(r.ctx, c, r, g)
	}()
	s.finish(r, h.Stream, rep)
}

// streamHook, when set by a test, runs before each stream is served:
// the way to prove that one session's panic stays in that session.
var streamHook func(wire.Hello)

// refuse logs why a connection was refused and tells the peer, if it is
// still listening.
func (s *Server) refuse(c net.Conn, err error) {
	s.logRefusal(c.RemoteAddr(), err)
	reply := wire.Reply{Error: truncate(err.Error()), Version: s.opt.Version}
	reply.ControlCorruption = truncate(controlCorruption(err))
	if b, e := wire.EncodeReply(reply); e == nil {
		writeFrame(c, b, time.Second)
	}
}

func truncate(s string) string {
	if len(s) > 1024 {
		return s[:1024]
	}
	return s
}

// temporary reports an accept error that passes: too many open files, or
// a connection aborted before it was accepted.
func temporary(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
}
