// Package session runs zerocheck over the network: a Client dials a
// Server, and each connection of a run carries one pattern stream framed
// by the wire protocol.
//
// A run is one or more streams sharing a run id: parallel connections
// (--streams) and, with --bidir, as many again in the reverse direction.
// On every connection the sending end writes the bare pattern from
// offset 0 and half-closes, and the verifying end answers with its
// report of the stream. Both ends merge the same stream reports with
// report.Merge, so both reach the same verdict.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/sender/stream"
	"github.com/zerocheck/zerocheck/wire"
)

// Defaults for the timeouts of both ends.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 60 * time.Second
	DefaultStreamWait       = 10 * time.Second
	// abortWait bounds the goodbye of an interrupted run: the abort
	// notice and the receiver's last results.
	abortWait = 5 * time.Second
)

// Host returns the facts of this host for a run whose socket has the
// local address local; nil facts are fine (a test, --no-hostinfo).
type Host func(local net.Addr) *hostinfo.Run

// LiveHost collects this host's facts, with the interface that carries
// the run.
func LiveHost(local net.Addr) *hostinfo.Run {
	var ip net.IP
	if a, ok := local.(*net.TCPAddr); ok {
		ip = a.IP
	}
	return hostinfo.Start(hostinfo.Options{Interface: hostinfo.InterfaceOf(ip)})
}

// Progress is a running count over a run's streams.
type Progress struct {
	// Sent counts bytes written by this end, Verified bytes verified by
	// it; Regions counts the regions it has found so far, Corrupt their
	// corrupt bytes.
	Sent, Verified, Regions, Corrupt int64
	// PeerVerified, PeerRegions and PeerCorrupt sum what the receiver has
	// said so far, in its progress frames, of the streams this end sends
	// it: zero from a receiver that sends none.
	PeerVerified, PeerRegions, PeerCorrupt int64
	// Start is when the streams counted began: the last time a stream
	// started with none under way. Zero while none is.
	Start time.Time
}

func (p *Progress) add(q Progress) {
	p.Sent += q.Sent
	p.Verified += q.Verified
	p.Regions += q.Regions
	p.Corrupt += q.Corrupt
	p.PeerVerified += q.PeerVerified
	p.PeerRegions += q.PeerRegions
	p.PeerCorrupt += q.PeerCorrupt
}

func (p *Progress) sub(q Progress) {
	p.Sent -= q.Sent
	p.Verified -= q.Verified
	p.Regions -= q.Regions
	p.Corrupt -= q.Corrupt
	p.PeerVerified -= q.PeerVerified
	p.PeerRegions -= q.PeerRegions
	p.PeerCorrupt -= q.PeerCorrupt
}

// counter is one stream's live count: a verifier, or a sender and what
// its receiver says of it. A sender's socket (conn), when set, makes its
// count what the peer has acknowledged: the bytes still in the socket
// buffers are not sent yet, and their draining is the run's progress too.
type counter struct {
	v    *verify.Verifier
	s    *stream.Stream
	conn net.Conn
	peer *peerProgress
}

func (c counter) progress() Progress {
	switch {
	case c.v != nil:
		p := c.v.Progress()
		return Progress{Verified: p.Bytes, Regions: p.Regions, Corrupt: p.CorruptBytes}
	case c.s != nil:
		n := c.s.Sent()
		if u, ok := stream.Unsent(c.conn); ok {
			n = max(0, n-int64(u))
		}
		p := Progress{Sent: n}
		if c.peer != nil {
			q := c.peer.progress()
			p.PeerVerified, p.PeerRegions, p.PeerCorrupt = q.Verified, q.Regions, q.Corrupt
		}
		return p
	}
	return Progress{}
}

// idleReader fails a read that waits longer than d for its first byte:
// a peer that vanished without a FIN or RST must not hold a session.
// Bytes of ours that the peer is still acknowledging (a slow path
// draining what we sent before it answers) are the peer at work, not
// silence: d runs from the last of them. Once stop (if set) is done,
// reads fail at once: a shutdown's deadline must not be replaced by a
// fresh idle one.
type idleReader struct {
	c    net.Conn
	d    time.Duration
	stop context.Context
}

// drainTick is how often a read that waits looks at what the peer has
// acknowledged. A read that gets bytes at once costs nothing more.
const drainTick = 250 * time.Millisecond

func (r idleReader) Read(b []byte) (int, error) {
	last := time.Now()
	unsent := -1 // not looked at until a wait outlasts a tick
	for {
		wait := min(r.d-time.Since(last), drainTick)
		if err := r.c.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return 0, err
		}
		if r.stop != nil && r.stop.Err() != nil {
			// The canceller's deadline may have come before ours.
			r.c.SetReadDeadline(time.Now())
		}
		n, err := r.c.Read(b)
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) || (r.stop != nil && r.stop.Err() != nil) {
			return n, err
		}
		if u, ok := stream.Unsent(r.c); ok {
			if unsent >= 0 && u < unsent {
				last = time.Now()
			}
			unsent = u
		}
		if time.Since(last) < r.d {
			continue
		}
		return n, fmt.Errorf("no data from the peer for %v: %w", r.d, err)
	}
}

// readFrame reads one frame of type want within d. With gaps set, d
// bounds each gap instead: a result (up to 32 MiB) may take as long as a
// slow link needs while bytes keep coming, until gaps is done.
func readFrame(c net.Conn, want wire.Type, d time.Duration, gaps context.Context) ([]byte, error) {
	return readFrameMax(c, want, d, gaps, 0)
}

// readFrameMax is readFrame for a frame this end takes at most max bytes
// of (0: the type's bound).
func readFrameMax(c net.Conn, want wire.Type, d time.Duration, gaps context.Context, max int) ([]byte, error) {
	return readFrameAdmit(c, want, d, gaps, max, nil)
}

// readFrameAdmit is readFrameMax with wire.ReadFrameAdmit's admit.
func readFrameAdmit(c net.Conn, want wire.Type, d time.Duration, gaps context.Context, max int, admit func(wire.Header) error) ([]byte, error) {
	var r io.Reader = c
	if gaps != nil {
		r = idleReader{c, d, gaps}
	} else {
		c.SetReadDeadline(time.Now().Add(d))
	}
	defer c.SetReadDeadline(time.Time{})
	return frameOf(r, want, d, max, admit)
}

// frameOf reads a frame of type want from r and explains its failure; d
// is the time it had.
func frameOf(r io.Reader, want wire.Type, d time.Duration, max int, admit func(wire.Header) error) ([]byte, error) {
	t, p, err := wire.ReadFrameAdmit(r, want, max, admit)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("no %s from the peer within %v: %w", want, d, err)
		}
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("the peer closed the connection before its %s", want)
		}
		return nil, err
	}
	if t != want {
		// A refusal: the only frame that may arrive in place of another.
		if _, rerr := wire.DecodeReply(p); rerr != nil {
			return nil, rerr
		}
		return nil, &wire.UnexpectedError{Want: want, Got: t}
	}
	return p, nil
}

// writeFrame writes a frame within d.
func writeFrame(c net.Conn, frame []byte, d time.Duration) error {
	c.SetWriteDeadline(time.Now().Add(d))
	defer c.SetWriteDeadline(time.Time{})
	_, err := c.Write(frame)
	return err
}

// controlCorruption returns the text for the report when err is a frame
// that failed its checksum.
func controlCorruption(err error) string {
	var ce *wire.ChecksumError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	return ""
}

// finish returns a run's host facts at its end, with the counters'
// change; nil when there are none. Facts are help, not a reason to fail
// a run: a bug in reading them (/proc, /sys, netlink) costs the report
// its facts, logged when log is set.
func finish(host *hostinfo.Run, log *slog.Logger) (f *hostinfo.Facts) {
	if host == nil {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			f = nil
			if log != nil {
				logPanic(log, "internal error collecting host facts", v)
			}
		}
	}()
	return host.Finish()
}

// logPanic logs a recovered panic v, with its stack and args: a bug
// ends what it hit, loudly, and nothing else.
func logPanic(log *slog.Logger, msg string, v any, args ...any) {
	log.Error(msg, append(args, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))...)
}

// factsJSON encodes facts for a handshake; nil stays empty.
func factsJSON(f *hostinfo.Facts) json.RawMessage {
	b := wire.FactsFrom(f)
	if len(b) > wire.MaxHello/2 {
		return nil // facts are help, not a reason to fail a run
	}
	return b
}

// decodeFacts reads a peer's facts; bad facts are dropped, not fatal.
func decodeFacts(b json.RawMessage) *hostinfo.Facts {
	f, err := wire.HostFacts(b)
	if err != nil {
		return nil
	}
	return f
}

// streamReport returns the report of a stream that produced no result of
// its own: verdict incomplete, the error saying why.
func streamReport(h wire.Hello, dir string, err error) report.Report {
	r := report.Report{
		Schema:         report.Schema,
		Pattern:        h.Pattern,
		Seed:           h.Seed,
		BytesExpected:  h.Bytes,
		Regions:        []report.Region{},
		RepeatedBlocks: []report.RepeatedBlock{},
		Streams:        []report.Stream{{Stream: h.Stream, Direction: dir}},
	}
	if err == nil {
		err = errors.New("no result")
	}
	r.Error = err.Error()
	r.ControlCorruption = controlCorruption(err)
	r.SetVerdict()
	return r
}

// tag names a stream report's stream and direction for Merge.
func tag(r *report.Report, stream int, dir string) {
	r.Streams = []report.Stream{{Stream: stream, Direction: dir}}
	for i := range r.Regions {
		r.Regions[i].Stream = stream
	}
}

// tracker keeps the live counters of the streams under way. A run's
// own tracker passes its counters up to the server's (up).
type tracker struct {
	mu   sync.Mutex
	next int
	live map[int]counter
	done Progress
	// since is when the latest period of activity began, the last time a
	// stream started with none under way; before is done as it was then.
	since  time.Time
	before Progress
	up     *tracker
}

func (t *tracker) add(c counter) (remove func()) {
	removeUp := func() {}
	if t.up != nil {
		removeUp = t.up.add(c)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live == nil {
		t.live = map[int]counter{}
	}
	if len(t.live) == 0 {
		t.since, t.before = time.Now(), t.done
	}
	id := t.next
	t.next++
	t.live[id] = c
	return func() {
		t.mu.Lock()
		t.done.add(c.progress())
		delete(t.live, id)
		t.mu.Unlock()
		removeUp()
	}
}

func (t *tracker) progress() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.progressLocked()
}

func (t *tracker) progressLocked() Progress {
	p := t.done
	for _, c := range t.live {
		p.add(c.progress())
	}
	if len(t.live) > 0 {
		p.Start = t.since
	}
	return p
}

// period is progress counted from the start of the latest period of
// activity: a server's runs under way, or the last ones, not everything
// it has served.
func (t *tracker) period() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.progressLocked()
	p.sub(t.before)
	return p
}

// verifyStream verifies the stream arriving on conn and answers with its
// report in a Result frame; it returns the report and the error of
// sending it. Both ends use it: the receiver for forward streams, the
// sender for reverse ones.
//
// check, when set, judges a stream that ended at EOF, given the bytes
// verified: a timed stream's EOF alone does not say its sender finished.
//
// resultMax is the most the peer takes of a result (its Reply says; 0:
// wire.MaxResult).
//
// With progress, the peer gets a progress frame a second while the stream
// is verified (see sendProgress); a result never follows one that could
// not be sent whole.
func verifyStream(ctx context.Context, conn net.Conn, h wire.Hello, dir string, vo verify.Options, live *tracker, idle time.Duration, version string, host *hostinfo.Run, check func(int64) error, resultMax int, sl seal, role string, progress bool) (report.Report, error) {
	vo.Stream, vo.Offset = h.Stream, 0
	v, err := verify.New(vo)
	if err != nil {
		return streamReport(h, dir, err), err
	}
	remove := live.add(counter{v: v})
	stopProgress := func() error { return nil }
	if progress {
		stopProgress = sendProgress(ctx, conn, v, idle)
	}
	err = verify.Consume(ctx, idleReader{conn, idle, ctx}, v, h.Bytes)
	perr := stopProgress()
	remove()
	if err == nil && check != nil {
		err = check(v.Progress().Bytes)
	}
	rep := v.Result(err)
	tag(&rep, h.Stream, dir)
	rep.BytesExpected = h.Bytes
	rep.Version = version
	rep.RunID = h.RunID
	rep.Hosts.Local = finish(host, nil)
	if perr != nil {
		return rep, perr
	}
	wait := idle
	if ctx.Err() != nil {
		wait = abortWait // stopping: the peer gets what we have, or nothing
	}
	b, err := wire.EncodeResultMax(rep, resultMax)
	if err == nil {
		b, err = sl.sign(b, role)
	}
	if err == nil {
		err = writeFrame(conn, b, wait)
	}
	return rep, err
}

// newStream is a stream of bytes bytes or, when bytes is 0, of d from
// now; it fails if its peer takes nothing for stall.
func newStream(p pattern.Pattern, bytes int64, d, stall time.Duration, lim *stream.Limiter) *stream.Stream {
	st := &stream.Stream{Pattern: p, Bytes: bytes, Stall: stall, Limiter: lim}
	if bytes == 0 {
		st.Bytes = -1
		st.Deadline = time.Now().Add(d)
	}
	return st
}
