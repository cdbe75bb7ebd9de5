package session

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync/atomic"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/sender/stream"
	"github.com/zerocheck/zerocheck/wire"
)

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
