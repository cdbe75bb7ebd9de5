package session

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/sender/stream"
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

// recent is a bounded first-in first-out memory of run ids.
type recent struct {
	ids   map[string]tomb
	order []string
}

// tomb is what the server remembers of a run it has not got, or no
// longer has.
type tomb struct {
	peerIP string
	abort  string
}

// maxRecent bounds each memory of run ids.
const maxRecent = 4096

func (r *recent) add(id string, t tomb) {
	if r.ids == nil {
		r.ids = map[string]tomb{}
	}
	if _, ok := r.ids[id]; !ok {
		if len(r.order) >= maxRecent {
			delete(r.ids, r.order[0])
			r.order = r.order[1:]
		}
		r.order = append(r.order, id)
	}
	r.ids[id] = t
}

func (r *recent) get(id string) (tomb, bool) {
	t, ok := r.ids[id]
	return t, ok
}

// run is one run's state at the server, guarded by Server.mu.
type run struct {
	id       string
	hello    wire.Hello // the first stream's
	peerIP   string
	local    net.Addr
	remote   net.Addr
	host     *hostinfo.Run
	facts    []byte
	peer     *hostinfo.Facts
	limiter  *stream.Limiter
	seen     []bool
	results  []*report.Report
	pending  int
	waitOver bool
	ended    bool
	abort    string
	timer    *time.Timer
	// sent holds, for timed forward streams, the byte counts their
	// sender declared in a finish hello; -1 until then.
	sent []int64
	// ctx ends the run's streams when it outlives its limits; budget is
	// what is left of MaxBytes. check marks the server's own health check.
	ctx    context.Context
	cancel context.CancelFunc
	cut    context.CancelCauseFunc // ends ctx with a reason
	budget *atomic.Int64
	check  bool
	start  time.Time
	// ready is closed once the run's facts are collected (host, facts);
	// live counts its progress.
	ready chan struct{}
	live  *tracker
	// held is what its results retain of the result memory.
	held holding
	// pace is the run's progress over time, for the minimum rate; dirs
	// the direction of each stream joined.
	pace *pace
	dirs []wire.Direction
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

// join adds a stream to its run, creating the run for its first stream.
func (s *Server) join(ctx context.Context, h wire.Hello, c net.Conn) (*run, error) {
	r, isNew, err := s.claim(ctx, h, c)
	if err != nil {
		return nil, err
	}
	if isNew {
		// Outside the lock: facts read /proc, ethtool and netlink, which
		// may take a while, and accept and control must not wait on it.
		func() {
			defer close(r.ready)
			r.host = s.hostFacts(c.LocalAddr())
			if r.host != nil {
				r.facts = factsJSON(r.host.Facts())
			}
		}()
		if !r.check {
			s.mu.Lock()
			r.pace = newPace(time.Now())
			s.mu.Unlock()
			go s.watch(r)
			s.log.Info("session start", "run_id", h.RunID, "peer", c.RemoteAddr().String(), "streams", h.Streams,
				"pattern", h.Pattern, "bytes", h.Bytes*int64(h.Streams), "duration_seconds", h.Duration.Seconds(), "rate_bps", h.Rate,
				"sender_version", truncate(h.Version))
		}
	}
	s.mu.Lock()
	if r.dirs == nil {
		r.dirs = make([]wire.Direction, len(r.seen))
	}
	r.dirs[h.Stream] = h.Direction
	s.mu.Unlock()
	// The first stream's facts are the run's; a collector that hangs
	// holds the run (and a shutdown) as it would hold the first stream.
	<-r.ready
	return r, nil
}

// hostFacts collects this host's facts for a run. Facts are help, not a
// reason to fail a run: a bug in collecting them is logged and the run
// goes on without.
func (s *Server) hostFacts(local net.Addr) (h *hostinfo.Run) {
	if s.opt.Host == nil {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			logPanic(s.log, "internal error collecting host facts", v)
			h = nil
		}
	}()
	return s.opt.Host(local)
}

// claim finds or creates a stream's run under the lock, checking the
// plan against the run's and the server's limits. A new run enters the
// run table, and its stream-wait timer and deadline are armed, only once
// its first stream is admitted: a refused hello leaves nothing behind.
func (s *Server) claim(ctx context.Context, h wire.Hello, c net.Conn) (*run, bool, error) {
	ip := addrOf(c.RemoteAddr()).String()
	check := s.isCheck(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[h.RunID]
	isNew := r == nil
	if isNew {
		if _, ended := s.ended.get(h.RunID); ended {
			return nil, false, fmt.Errorf("run %s has already ended", h.RunID)
		}
		if s.opt.Once && s.onceRun && !check {
			return nil, false, errors.New("busy: this receiver serves one run (--once)")
		}
		if err := s.overLimits(h, check); err != nil {
			return nil, false, err
		}
		r = s.newRun(h, c, ip, check)
	}
	if err := r.admits(h, ip, check); err != nil {
		return nil, false, err
	}
	if isNew {
		s.onceRun = s.onceRun || !check
		r.ctx, r.cancel, r.cut = s.runContext(ctx, h)
		s.runs[h.RunID] = r
		nr := r
		r.timer = time.AfterFunc(s.opt.StreamWait, func() { s.waitOver(nr) })
	}
	r.seen[h.Stream] = true
	r.pending++
	return r, isNew, nil
}

// newRun is the state of a run whose first stream says h; called under
// the lock. It arms nothing.
func (s *Server) newRun(h wire.Hello, c net.Conn, ip string, check bool) *run {
	r := &run{
		id: h.RunID, hello: h, peerIP: ip, local: c.LocalAddr(), remote: c.RemoteAddr(),
		seen: make([]bool, h.Streams), results: make([]*report.Report, h.Streams),
		sent: make([]int64, h.Streams), peer: decodeFacts(h.Facts), check: check, start: time.Now(),
		ready: make(chan struct{}), live: &tracker{up: &s.live},
	}
	if check {
		r.live = new(tracker) // a health check is not progress
	} else if s.opt.MaxBytes > 0 {
		r.budget = new(atomic.Int64)
		r.budget.Store(s.opt.MaxBytes)
	}
	for i := range r.sent {
		r.sent[i] = -1
	}
	if t, known := s.early.get(h.RunID); known && t.peerIP == ip {
		r.abort = t.abort // the abort overtook the run's streams
	}
	if h.Rate > 0 {
		r.limiter = stream.NewLimiter(h.Rate)
	}
	return r
}

// admits checks a stream's hello against its run: same host, same plan,
// a stream not yet connected.
func (r *run) admits(h wire.Hello, ip string, check bool) error {
	f := r.hello
	switch {
	case r.ended:
		return fmt.Errorf("run %s has already ended", h.RunID)
	case ip != r.peerIP:
		return fmt.Errorf("run %s belongs to %s, not %s", h.RunID, r.peerIP, ip)
	case check != r.check || h.Streams != f.Streams || h.Pattern != f.Pattern || h.Seed != f.Seed || h.Rate != f.Rate ||
		h.Duration != f.Duration || apart(h.Bytes, f.Bytes) > 1 || (h.Bytes == 0) != (f.Bytes == 0):
		// Every stream's share is the first's, to a byte: the limits
		// checked on the first hold for all.
		return fmt.Errorf("stream %d does not match the plan of run %s", h.Stream, h.RunID)
	case r.seen[h.Stream]:
		return fmt.Errorf("stream %d of run %s is already connected", h.Stream, h.RunID)
	}
	return nil
}

// apart is the distance between a and b, exact for any two int64s: no
// difference of a peer's numbers may overflow.
func apart(a, b int64) uint64 {
	if a > b {
		a, b = b, a
	}
	return uint64(b) - uint64(a)
}

// isCheck reports whether h carries this server's health check secret.
func (s *Server) isCheck(h wire.Hello) bool {
	return h.Check != "" && subtle.ConstantTimeCompare([]byte(h.Check), []byte(s.secret)) == 1
}

// overLimits refuses a new run that would break the server's limits.
// The server's own health checks do not count against them: a busy
// receiver is still a working one.
func (s *Server) overLimits(h wire.Hello, check bool) error {
	if check {
		return nil
	}
	n := len(s.rawSources)
	for _, r := range s.runs {
		if !r.check {
			n++
		}
	}
	switch {
	case n >= s.opt.MaxSessions:
		return fmt.Errorf("busy: %d runs under way (--max-sessions %d); try again later", n, s.opt.MaxSessions)
	case h.Duration > s.opt.MaxDuration:
		return fmt.Errorf("a run of %v is longer than this receiver allows (--max-duration %v)", h.Duration, s.opt.MaxDuration)
	case h.Rate > 0 && h.Rate < s.opt.MinRate:
		return fmt.Errorf("a run at %s is slower than this receiver's minimum rate of %s", rateText(float64(h.Rate)), rateText(float64(s.opt.MinRate)))
	case s.opt.MaxBytes > 0 && h.Bytes > 0 && h.Bytes-1 > s.opt.MaxBytes/int64(h.Streams):
		// A hello gives its own share, which differs from the others' by
		// a byte at most: this refuses every plan surely over the limit;
		// one over by less than a byte a stream is cut when it gets there.
		return fmt.Errorf("a run of about %d bytes is more than this receiver allows (--max-bytes %d)", h.Bytes*int64(h.Streams), s.opt.MaxBytes)
	}
	return nil
}

// runContext bounds a run's life to MaxDuration, and a timed run's (up
// to MaxDuration) to that with time for late streams and a goodbye;
// cut ends it sooner, with a reason (see watch: a timed run's plan, the
// minimum rate).
func (s *Server) runContext(ctx context.Context, h wire.Hello) (context.Context, context.CancelFunc, context.CancelCauseFunc) {
	limit := s.opt.MaxDuration
	if h.Bytes == 0 {
		limit += s.opt.StreamWait + 2*s.opt.HandshakeTimeout + s.opt.IdleTimeout
	}
	why := fmt.Sprintf("the run went on for longer than this receiver allows (--max-duration %v)", s.opt.MaxDuration)
	ctx, cut := context.WithCancelCause(ctx)
	ctx, cancel := context.WithDeadlineCause(ctx, time.Now().Add(limit), errors.New(why))
	return ctx, func() { cancel(); cut(nil) }, cut
}

// budget is a run's share of MaxBytes, whichever way its streams go.
type budget struct {
	left *atomic.Int64
	max  int64
}

func (b budget) take(n int) error {
	if b.left.Add(-int64(n)) < 0 {
		return fmt.Errorf("the run moved more than this receiver allows (--max-bytes %d)", b.max)
	}
	return nil
}

// budgetReader fails a forward stream's reads past the budget; the
// result it writes back is not pattern and costs nothing.
type budgetReader struct {
	net.Conn
	b budget
}

func (c budgetReader) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if berr := c.b.take(n); berr != nil {
		return n, berr
	}
	return n, err
}

// budgetWriter fails a reverse stream's writes past the budget.
type budgetWriter struct {
	net.Conn
	b budget
}

// Write counts what was written, not what was offered: a write cut short
// by a stall is retried, and its unsent part must not count twice.
func (c budgetWriter) Write(p []byte) (int, error) {
	left := c.b.left.Load()
	if left < int64(len(p)) {
		n, err := c.Conn.Write(p[:max(0, left)])
		c.b.left.Add(-int64(n))
		if err == nil {
			err = c.b.take(1) // over: says so
		}
		return n, err
	}
	n, err := c.Conn.Write(p)
	c.b.left.Add(-int64(n))
	return n, err
}

// SyscallConn lets the sender see the socket's queue under the budget
// (stream.Unsent): its stall clock watches what the peer acknowledges.
func (c budgetWriter) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// reading and writing return c under the run's byte budget, if it has
// one, for a stream this end verifies or sends.
func (r *run) reading(c net.Conn, max int64) net.Conn {
	if r.budget == nil {
		return c
	}
	return budgetReader{c, budget{r.budget, max}}
}

func (r *run) writing(c net.Conn, max int64) net.Conn {
	if r.budget == nil {
		return c
	}
	return budgetWriter{c, budget{r.budget, max}}
}

// control handles an abort or a finish hello, which must come from the
// run's own host. An abort may overtake its run's streams: it is kept for
// a while, so the run starts out aborted.
func (s *Server) control(h wire.Hello, c net.Conn) error {
	ip := addrOf(c.RemoteAddr()).String()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[h.RunID]
	if r != nil && r.peerIP != ip {
		return fmt.Errorf("run %s belongs to %s, not %s", h.RunID, r.peerIP, ip)
	}
	if h.Direction == wire.Finish {
		if r == nil || h.Stream >= len(r.sent) || r.ended {
			return fmt.Errorf("finish: no run %s with a stream %d under way", h.RunID, h.Stream)
		}
		r.sent[h.Stream] = h.Bytes
		return nil
	}
	why := "the sender was interrupted"
	if h.Reason != "" {
		why += ": " + truncate(h.Reason)
	}
	_, ended := s.ended.get(h.RunID)
	switch {
	case r != nil && !r.ended:
		r.abort = why
	case r == nil && !ended:
		s.early.add(h.RunID, tomb{peerIP: ip, abort: why})
	}
	return nil
}

// waitOver runs on a run's stream-wait timer. A panic here fails the
// run (reported incomplete, with the error), not the receiver.
func (s *Server) waitOver(r *run) {
	defer s.contain("the stream-wait timer", func(v any) {
		s.expire(r, fmt.Errorf("receiver internal error: %v", v))
	}, "run_id", r.id)
	hook("stream-wait")
	s.expire(r, nil)
}

// expire ends a run's wait for its streams, failed by why when set: it
// is reported here when none of its streams is under way, else by the
// last one.
func (s *Server) expire(r *run, why error) {
	s.mu.Lock()
	if why != nil {
		r.abort = joinText(why.Error(), r.abort)
	}
	r.waitOver = true
	end := r.pending == 0 && !r.ended
	r.ended = r.ended || end
	if end {
		// Counted under the lock, before flush can see the run ended.
		s.reports.Add(1)
	}
	s.mu.Unlock()
	if end {
		defer s.reports.Done()
		s.reportRun(r)
	}
}

// finish records a stream's report and reports the run when it was the
// last one.
func (s *Server) finish(r *run, stream int, rep report.Report) {
	s.mu.Lock()
	r.results[stream] = &rep
	r.pending--
	all := true
	for _, x := range r.results {
		all = all && x != nil
	}
	end := (all || r.waitOver) && r.pending == 0 && !r.ended
	r.ended = r.ended || end
	s.mu.Unlock()
	if end {
		s.reportRun(r)
	}
}

// reportRun reports r. A bug in reporting costs this run's report,
// loudly, and nothing else: it may run on a timer's goroutine, with no
// one above it to recover.
func (s *Server) reportRun(r *run) {
	defer s.contain("reporting a run", func(any) { s.endOnce() }, "run_id", r.id)
	s.report(r)
}

// report merges a run's streams and hands the report on.
func (s *Server) report(r *run) {
	defer r.held.release()
	r.timer.Stop()
	r.cancel()
	s.mu.Lock()
	delete(s.runs, r.id)
	s.ended.add(r.id, tomb{peerIP: r.peerIP})
	parts := make([]report.Report, 0, len(r.results))
	for i, x := range r.results {
		if x != nil {
			parts = append(parts, *x)
			continue
		}
		h := r.hello
		h.Stream = i
		parts = append(parts, streamReport(h, "unknown", fmt.Errorf("stream %d never connected (waited %v)", i, s.opt.StreamWait)))
	}
	abort := r.abort
	s.mu.Unlock()

	m := report.Merge(parts)
	m.Role = "recv"
	m.RunID = r.id
	m.Version = s.opt.Version
	m.LocalAddr = r.local.String()
	m.PeerAddr = r.remote.String()
	m.Hosts.Local = finish(r.host, s.log)
	m.Hosts.Peer = r.peer
	if abort != "" {
		m.Error = joinText(abort, m.Error)
		m.SetVerdict()
	}
	if r.check {
		s.log.Debug("health check served", "run_id", r.id, "verdict", string(m.Verdict), "error", m.Error)
		return
	}
	s.logEnd(m, time.Since(r.start))
	s.deliver(m)
}

// logEnd logs a session's end: one line, with what an operator scanning
// the log needs first.
func (s *Server) logEnd(m report.Report, took time.Duration) {
	level := slog.LevelInfo
	switch m.Verdict {
	case report.Corrupt:
		level = slog.LevelError
	case report.Incomplete, report.Mismatch:
		level = slog.LevelWarn
	}
	args := []any{"run_id", m.RunID, "peer", m.PeerAddr, "verdict", string(m.Verdict),
		"bytes_verified", m.BytesVerified, "corrupt_bytes", m.CorruptBytes, "regions", m.RegionCount,
		"seconds", math.Round(took.Seconds()*1000) / 1000}
	if m.Error != "" {
		args = append(args, "error", m.Error)
	}
	if m.ControlCorruption != "" {
		args = append(args, "control_corruption", m.ControlCorruption)
	}
	if m.PatternSent != "" {
		args = append(args, "pattern_sent", m.PatternSent)
	}
	s.log.Log(context.Background(), level, "session end", args...)
}

// deliver hands a report on. A panic in the receiving function is that
// report's failure, logged, not the server's.
func (s *Server) deliver(m report.Report) {
	defer func() {
		if v := recover(); v != nil {
			logPanic(s.log, "internal error writing a report", v, "run_id", m.RunID)
		}
		s.endOnce()
	}()
	s.opt.Report(m)
}

// endOnce ends a server that serves one run (--once): its run has been
// reported, or lost to a bug, and either way nothing more is served.
func (s *Server) endOnce() {
	if s.opt.Once {
		s.onceEnded.Do(func() { close(s.once) })
	}
}

// unserved ends a server of one run (--once) whose run has not started
// with why: its sender's hello arrived corrupt, and the sender, refused,
// will not come back, so waiting on would be waiting for ever.
func (s *Server) unserved(why error) {
	if !s.opt.Once {
		return
	}
	s.mu.Lock()
	if s.onceRun {
		s.mu.Unlock()
		return
	}
	if s.onceErr == nil {
		s.onceErr = why
	}
	s.mu.Unlock()
	s.endOnce()
}

// Unserved returns why a server of one run (--once) ended without a run
// to report, or nil.
func (s *Server) Unserved() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onceRun {
		return nil
	}
	return s.onceErr
}

func joinText(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

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

// temporary reports an accept error that passes: too many open files, or
// a connection aborted before it was accepted.
func temporary(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
}
