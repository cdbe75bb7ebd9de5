package session

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/sender/stream"
	"github.com/zerocheck/zerocheck/wire"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// Addr is the receiver's address, host:port.
	Addr string
	// Bind is the local address to dial from; "" lets the kernel choose.
	Bind    string
	Pattern pattern.Pattern
	Seed    uint64
	// Streams is the number of parallel connections per direction.
	Streams int
	// Bytes is the total over all streams; 0 sends for Duration.
	Bytes    int64
	Duration time.Duration
	// Rate caps each direction's total, in bits per second; 0: none.
	Rate int64
	// Bidir adds Streams streams from the receiver to this end.
	Bidir bool
	// Reverse makes every stream run from the receiver to this end (as
	// iperf3 -R): for a host that may only dial out. Each hello says
	// "reverse", so a receiver that predates reverse streams refuses it.
	Reverse bool
	// Raw sends plain streams: no handshake and no result.
	Raw bool
	// Verify holds the settings for verifying reverse streams.
	Verify verify.Options

	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	// Host supplies this host's facts; nil sends none.
	Host    Host
	Version string
	// Token, when set, is proved to the receiver, and the receiver must
	// prove it back before its verdict is believed.
	Token []byte
	// RunID, when set (16 hex digits), names the run; else it is random.
	RunID string
	// check is the health check's secret, sent in every hello of a run
	// that a Server runs to itself; log gets the stacks of its panics.
	check string
	log   *slog.Logger
	// ResultMemory bounds the memory that the receiver's results take
	// at once (nil: the process's, DefaultResultMemory).
	ResultMemory *ResultMemory
}

// Client runs one run against a receiver.
type Client struct {
	opt  ClientOptions
	live tracker
	// held is what the run's results retain of the result memory.
	held holding
}

// NewClient checks opt and fills its defaults.
func NewClient(opt ClientOptions) (*Client, error) {
	switch {
	case opt.Pattern == nil:
		return nil, errors.New("session: no pattern")
	case opt.Streams < 1 || opt.Streams > wire.MaxStreams/2:
		return nil, fmt.Errorf("streams must be between 1 and %d", wire.MaxStreams/2)
	case opt.Bytes < 0:
		return nil, errors.New("bytes must not be negative")
	case opt.Bytes > wire.MaxBytes:
		return nil, fmt.Errorf("bytes must be at most %d (1 PiB)", int64(wire.MaxBytes))
	case opt.Bytes == 0 && (opt.Duration <= 0 || opt.Duration > wire.MaxDuration):
		return nil, fmt.Errorf("duration must be between 1ns and %v", wire.MaxDuration)
	case opt.Rate < 0:
		return nil, errors.New("rate must not be negative")
	case opt.Rate > wire.MaxRate:
		return nil, fmt.Errorf("rate must be at most %d bit/s", int64(wire.MaxRate))
	case opt.Raw && opt.Bidir:
		return nil, errors.New("--bidir needs the protocol: a raw receiver sends nothing back")
	case opt.Raw && opt.Reverse:
		return nil, errors.New("--reverse needs the protocol: a raw receiver sends nothing back")
	case opt.Bidir && opt.Reverse:
		return nil, errors.New("--bidir and --reverse exclude each other")
	case opt.Raw && opt.Token != nil:
		return nil, errors.New("a token needs the protocol: a raw stream has no handshake to prove it in")
	}
	if opt.RunID != "" {
		h := wire.Hello{RunID: opt.RunID, Direction: wire.Abort, Nonce: wire.NewNonce()}
		if err := h.Validate(); err != nil {
			return nil, err
		}
	}
	if opt.Bytes > 0 && opt.Bytes < int64(opt.total()) {
		return nil, fmt.Errorf("%d bytes cannot be split over %d streams", opt.Bytes, opt.total())
	}
	if opt.Bind != "" {
		if _, _, err := net.SplitHostPort(opt.Bind); err != nil {
			opt.Bind = net.JoinHostPort(opt.Bind, "0") // an address alone: any port
		}
		if _, err := net.ResolveTCPAddr("tcp", opt.Bind); err != nil {
			return nil, fmt.Errorf("--bind: %w", err)
		}
	}
	v := opt.Verify
	v.Pattern = opt.Pattern
	if err := v.Validate(); err != nil {
		return nil, err
	}
	opt.HandshakeTimeout = cmpOr(opt.HandshakeTimeout, DefaultHandshakeTimeout)
	opt.IdleTimeout = cmpOr(opt.IdleTimeout, DefaultIdleTimeout)
	return &Client{opt: opt}, nil
}

func (o ClientOptions) total() int {
	if o.Bidir {
		return 2 * o.Streams
	}
	return o.Streams
}

// share returns stream i's part of the planned bytes.
func (o ClientOptions) share(i int) int64 {
	if o.Bytes == 0 {
		return 0
	}
	n := int64(o.total())
	b := o.Bytes / n
	if int64(i) < o.Bytes%n {
		b++
	}
	return b
}

// Progress sums what this end has sent and verified so far.
func (c *Client) Progress() Progress { return c.live.progress() }

// outcome is one stream's report and what it learnt of the peer.
type outcome struct {
	rep  report.Report
	peer *hostinfo.Facts
}

// Run runs the streams to completion, or until ctx ends, and returns the
// run's report: always a report, whatever failed (verdict incomplete).
func (c *Client) Run(ctx context.Context) report.Report {
	start := time.Now()
	r, _ := c.run(ctx)
	if r.Start.IsZero() {
		// No stream started: the run's report still says when it tried.
		r.Start = start
	}
	return r
}

// run is Run, and also says whether every connection was made.
func (c *Client) run(ctx context.Context) (report.Report, bool) {
	defer c.held.release()
	o := c.opt
	id := cmp.Or(o.RunID, runID())
	hellos := make([]wire.Hello, o.total())
	frames := make([][]byte, len(hellos))
	for i := range hellos {
		dir := wire.Forward
		if i >= o.Streams || o.Reverse {
			dir = wire.Reverse
		}
		hellos[i] = wire.Hello{
			RunID: id, Stream: i, Streams: len(hellos), Direction: dir,
			Pattern: o.Pattern.String(), Seed: o.Seed, Bytes: o.share(i), Rate: o.Rate,
			Version: o.Version, Nonce: wire.NewNonce(), Progress: dir == wire.Forward, Check: o.check, ResultMax: c.resultMax(),
		}
		if o.Bytes == 0 {
			hellos[i].Duration = o.Duration
		}
	}
	// Each connection's handshake starts as soon as it is up, beside the
	// dials still to come: the receiver's handshake clock runs from its
	// accept, and a run of many streams over a long path must not spend
	// it waiting for the last dial.
	shakes := make([]chan shake, len(hellos))
	var host *hostinfo.Run
	// With a token, this host's facts follow the listener's proof (after)
	// instead of riding in the hello an impostor would read.
	var after []byte
	conns, err := c.dial(ctx, len(hellos), func(i int, conn net.Conn) error {
		if i == 0 {
			var facts wire.Facts
			if o.Host != nil {
				host = o.Host(conn.LocalAddr())
				facts = factsJSON(host.Facts())
			}
			if o.Token == nil {
				for i := range hellos {
					hellos[i].Facts = facts
				}
			} else if b, err := wire.EncodePeerFacts(wire.PeerFacts{Facts: facts}); err == nil {
				after = b
				for i := range hellos {
					hellos[i].FactsAfter = true
				}
			} else {
				return err
			}
		}
		var err error
		frames[i], err = wire.EncodeHello(hellos[i])
		if err == nil {
			err = writeFrame(conn, frames[i], c.opt.HandshakeTimeout)
		}
		if err == nil {
			// Buffered: if a later dial fails, the connection is closed
			// and this ends without anyone to take its answer.
			shakes[i] = make(chan shake, 1)
			go func() {
				defer c.contained(func(v any) { shakes[i] <- shake{err: internalError(v)} })
				hook("client-handshake")
				reply, sl, err := c.handshake(conn, frames[i], after, c.opt.HandshakeTimeout)
				shakes[i] <- shake{reply, sl, err}
			}()
		}
		return err
	})
	if err != nil {
		reason := "the sender could not open all its streams: " + err.Error()
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %s (%w)", context.Cause(ctx), err)
			reason = context.Cause(ctx).Error()
		}
		if shakes[0] != nil {
			// Some streams said hello, and may be through their
			// handshake: tell the receiver the run will not come, so
			// that its report says why at once.
			c.control(wire.Hello{RunID: id, Direction: wire.Abort, Reason: reason}, abortWait)
		}
		parts := make([]report.Report, len(hellos))
		for i, h := range hellos {
			parts[i] = streamReport(h, string(h.Direction), err)
		}
		if host == nil && o.Host != nil {
			// No connection came up: this host's facts still name it
			// in the report of a peer it could not reach.
			host = o.Host(nil)
		}
		m := c.complete(report.Merge(parts), id, nil, host, nil)
		m.Error = err.Error()
		return m, false
	}

	// An interrupt first tells the receiver (so its report says so too),
	// then stops the streams; their results are still collected.
	sendCtx, stopSending := context.WithCancelCause(context.Background())
	runDone := make(chan struct{})
	aborted := make(chan struct{})
	var broke error // the watcher's own failure, read once it has ended
	go func() {
		defer close(aborted)
		defer c.contained(func(v any) {
			broke = internalError(v)
			stopSending(broke)
		})
		hook("client-abort")
		select {
		case <-ctx.Done():
			reason := context.Cause(ctx).Error()
			c.control(wire.Hello{RunID: id, Direction: wire.Abort, Reason: reason}, abortWait)
			stopSending(fmt.Errorf("interrupted: %s", reason))
		case <-runDone:
		}
	}()
	var limiter *stream.Limiter
	if o.Rate > 0 {
		limiter = stream.NewLimiter(o.Rate)
	}
	outs := make([]outcome, len(hellos))
	var wg sync.WaitGroup
	for i := range hellos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.contained(func(v any) {
				conns[i].Close()
				outs[i] = outcome{rep: streamReport(hellos[i], string(hellos[i].Direction), internalError(v))}
			})
			hook("client-stream")
			outs[i] = c.stream(sendCtx, conns[i], hellos[i], <-shakes[i], limiter, host)
		}()
	}
	wg.Wait()
	close(runDone)
	<-aborted
	stopSending(nil)

	parts := make([]report.Report, len(outs))
	var peer *hostinfo.Facts
	for i, x := range outs {
		parts[i] = x.rep
		if x.peer != nil {
			peer = x.peer
		}
	}
	m := c.complete(report.Merge(parts), id, conns[0], host, peer)
	if ctx.Err() != nil {
		m.Error = joinText("interrupted: "+context.Cause(ctx).Error(), m.Error)
		m.SetVerdict()
	}
	if broke != nil {
		m.Error = joinText(broke.Error(), m.Error)
		m.SetVerdict()
	}
	return m, true
}

// complete fills in what only the run knows: its identity, this host's
// facts and the peer's.
func (c *Client) complete(m report.Report, id string, conn net.Conn, host *hostinfo.Run, peer *hostinfo.Facts) report.Report {
	m.Role = "send"
	m.RunID = id
	m.Version = c.opt.Version
	m.Pattern = c.opt.Pattern.String()
	m.Seed = c.opt.Seed
	m.BytesExpected = c.opt.Bytes
	// The address dialled, even when no connection was made; resolved
	// as a connection's would be, so that both name the same path.
	m.PeerAddr = c.opt.Addr
	if a, err := net.ResolveTCPAddr("tcp", c.opt.Addr); err == nil && conn == nil {
		m.PeerAddr = a.String()
	}
	if conn != nil {
		m.LocalAddr = conn.LocalAddr().String()
		m.PeerAddr = conn.RemoteAddr().String()
	}
	m.Hosts.Local = finish(host, nil)
	m.Hosts.Peer = peer
	return m
}

// contained is deferred first in each goroutine a run starts: a panic
// there ends (ended) what the goroutine served, with an error the run's
// report shows (logged with its stack when the client has a logger),
// and not the process.
func (c *Client) contained(ended func(v any)) {
	if v := recover(); v != nil {
		if c.opt.log != nil {
			logPanic(c.opt.log, "internal error in a run's goroutine", v)
		}
		ended(v)
	}
}

// internalError is a recovered panic v as a stream's or a run's error.
func internalError(v any) error { return fmt.Errorf("sender internal error: %v", v) }

func runID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dialer dials from --bind, if given; with anyPort, from its address
// but any port (a control connection beside a stream bound to a port).
func (c *Client) dialer(timeout time.Duration, anyPort bool) net.Dialer {
	d := net.Dialer{Timeout: timeout}
	if c.opt.Bind != "" {
		// Checked by NewClient.
		a, _ := net.ResolveTCPAddr("tcp", c.opt.Bind)
		if anyPort {
			a.Port = 0
		}
		d.LocalAddr = a
	}
	return d
}

// dial opens n connections, calling opened (when set) on each as it comes
// up; any failure fails the run before a byte of the pattern is sent.
func (c *Client) dial(ctx context.Context, n int, opened func(int, net.Conn) error) ([]net.Conn, error) {
	d := c.dialer(c.opt.HandshakeTimeout, false)
	conns := make([]net.Conn, 0, n)
	for i := range n {
		conn, err := d.DialContext(ctx, "tcp", c.opt.Addr)
		if err == nil && opened != nil {
			if err = opened(i, conn); err != nil {
				conn.Close()
			}
		}
		if err != nil {
			for _, x := range conns {
				x.Close()
			}
			return nil, fmt.Errorf("connect to %s: %w", c.opt.Addr, err)
		}
		conns = append(conns, conn)
	}
	return conns, nil
}

// control sends an abort or finish hello on a connection of its own,
// from the run's address, and waits for the receiver's answer.
func (c *Client) control(h wire.Hello, wait time.Duration) error {
	d := c.dialer(wait, true)
	conn, err := d.Dial("tcp", c.opt.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	h.Version = c.opt.Version
	h.Nonce = wire.NewNonce()
	h.Check = c.opt.check
	b, err := wire.EncodeHello(h)
	if err == nil {
		err = writeFrame(conn, b, wait)
	}
	if err == nil {
		_, _, err = c.handshake(conn, b, nil, wait)
	}
	return err
}
