// Package relay is zerocheck's fire-drill relay: a TCP relay between a
// zerocheck sender and receiver that corrupts the pattern stream on
// purpose, so that operators can prove their alerting fires and tests can
// drive real corruption through real sockets.
//
// The relay understands just enough of the control protocol (package
// wire) to find the data stream of each connection: it passes the Hello
// (and, for a reverse stream, the Reply) through unchanged and injects
// only into the bare pattern bytes that follow, at their data-stream
// offsets. In raw mode the whole client-to-server direction is the data
// stream. The other direction, which carries Reply and Result frames, is
// never touched.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/zerocheck/zerocheck/wire"
)

// bufSize is the size of each direction's buffer. It holds any Hello or
// Reply frame whole (64 KiB + 16 bytes at most).
const bufSize = 256 << 10

// maxLogged bounds the injection lines logged per connection: a rate
// such as bitflip%16 would otherwise log at line rate. The connection's
// final line still counts them all.
const maxLogged = 1000

// Options configure Serve.
type Options struct {
	// To is the address dialed for each accepted connection.
	To string
	// Inject is what to do to each data stream (see ParseSpec).
	Inject []Injection
	// Raw makes the client-to-server direction the data stream from its
	// first byte, with no protocol framing.
	Raw bool
	// Seed chooses rate-based positions and random bytes. Every value,
	// 0 included, gives reproducible runs.
	Seed uint64
	// Log, when set, receives one line per applied injection, per ended
	// connection and per protocol surprise. Calls are serialized.
	Log func(format string, args ...any)
}

// Serve accepts connections on ln and relays each to opt.To, injecting
// opt.Inject into each data stream. It runs until ctx ends, then closes
// ln and every relayed connection, waits for them, and returns nil; or
// until Accept fails, then closes them likewise and returns the error.
// Serve owns ln: it is closed when Serve returns, also when opt is
// invalid.
func Serve(ctx context.Context, ln net.Listener, opt Options) error {
	if opt.To == "" {
		ln.Close()
		return errors.New("relay: no address to relay to")
	}
	if _, err := NewInjector(opt.Inject, opt.Seed); err != nil {
		ln.Close()
		return err
	}
	s := &server{opt: opt}
	inner, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(inner, func() { ln.Close() })
	var wg sync.WaitGroup
	var err error
	for id := 1; ; id++ {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = aerr
			}
			break
		}
		wg.Go(func() { s.handle(inner, id, c) })
	}
	cancel()
	stop()
	ln.Close()
	wg.Wait()
	return err
}

// errShutdown ends the connections when Serve's context ends.
var errShutdown = errors.New("relay shutting down")

type server struct {
	opt Options
	mu  sync.Mutex // serializes Log
}

func (s *server) logf(format string, args ...any) {
	if s.opt.Log == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opt.Log(format, args...)
}

// conn is one relayed connection.
type conn struct {
	s      *server
	id     int
	label  string // "raw", "stream 3 forward", or "" before the hello
	client net.Conn
	server net.Conn

	closeOnce sync.Once
	mu        sync.Mutex
	err       error // the first error that ended the connection
	stopping  bool  // Serve is shutting down: it closed the connection
	logged    int   // injection lines logged
}

// dir is one direction of a connection.
type dir struct {
	name     string
	src, dst net.Conn
	buf      []byte
	// pending bytes of buf were read before the pump started; the first
	// skip of them are not data. readErr ended that read.
	pending, skip int
	readErr       error
	// expect, if set, is the frame type that opens this direction before
	// its data (the Reply of a reverse stream).
	expect wire.Type
	inj    *Injector // nil: pass through untouched
	off    int64     // data-stream offset of the next data byte
	n      int64     // bytes relayed
}

func (s *server) handle(ctx context.Context, id int, client net.Conn) {
	var d net.Dialer
	srv, err := d.DialContext(ctx, "tcp", s.opt.To)
	if err != nil {
		s.logf("conn %d: from %s: dialing %s: %v", id, client.RemoteAddr(), s.opt.To, err)
		client.Close()
		return
	}
	c := &conn{s: s, id: id, client: client, server: srv}
	stop := context.AfterFunc(ctx, c.shutdown)
	c.run()
	stop()
	c.close()
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.client.Close()
		c.server.Close()
	})
}

// shutdown closes the connection for Serve's end.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	c.close()
}

// fail records the first error and closes both sides, which ends the
// other direction's pump too.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		if c.stopping {
			err = errShutdown // the cause of the failure
		}
		c.err = err
	}
	c.mu.Unlock()
	c.close()
}

func (c *conn) run() {
	up := &dir{name: "client->server", src: c.client, dst: c.server, buf: make([]byte, bufSize)}
	down := &dir{name: "server->client", src: c.server, dst: c.client, buf: make([]byte, bufSize)}
	if c.s.opt.Raw {
		c.label = "raw"
		up.inj = c.injector()
	} else {
		c.sniff(up, down)
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.pump(down) })
	c.pump(up)
	wg.Wait()

	applied := int64(0)
	for _, d := range []*dir{up, down} {
		if d.inj != nil {
			applied += d.inj.Applied()
		}
	}
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	end := "ended"
	switch {
	case err == errShutdown:
		end = "ended by the relay's shutdown"
	case err != nil:
		end = fmt.Sprintf("ended (%v)", err)
	}
	c.s.logf("conn %d%s: %s: client->server %d bytes, server->client %d bytes, %d injections applied",
		c.id, c.tag(), end, up.n, down.n, applied)
}

func (c *conn) tag() string {
	if c.label == "" {
		return ""
	}
	return " " + c.label
}

func (c *conn) injector() *Injector {
	in, err := NewInjector(c.s.opt.Inject, c.s.opt.Seed)
	if err != nil {
		panic(err) // Serve checked the items
	}
	in.OnApply = func(e Event) {
		c.mu.Lock()
		c.logged++
		n := c.logged
		c.mu.Unlock()
		switch {
		case n <= maxLogged:
			c.s.logf("conn %d %s: injected %s at offset %d, %d bytes (item %s)",
				c.id, c.label, e.Kind, e.Offset, e.Len, c.s.opt.Inject[e.Item])
		case n == maxLogged+1:
			c.s.logf("conn %d %s: further injections are counted, not logged", c.id, c.label)
		}
	}
	return in
}

// sniff reads the client's Hello and decides which direction carries
// the data stream. The bytes it read stay in up.buf for the pump.
func (c *conn) sniff(up, down *dir) {
	n, have, ferr, rerr := readFrame(up.src, up.buf, wire.TypeHello)
	up.pending, up.skip, up.readErr = have, have, rerr
	if rerr != nil {
		return
	}
	if ferr != nil {
		c.s.logf("conn %d: not a zerocheck hello (%v): relaying untouched", c.id, ferr)
		return
	}
	payload := up.buf[wire.HeaderSize : n-wire.TrailerSize]
	var dirn wire.Direction
	var stream int
	if h, err := wire.DecodeHello(payload); err == nil {
		dirn, stream = h.Direction, h.Stream
	} else {
		var m struct {
			Direction wire.Direction `json:"direction"`
			Stream    int            `json:"stream"`
		}
		if jerr := json.Unmarshal(payload, &m); jerr != nil {
			c.s.logf("conn %d: undecodable hello (%v): relaying untouched", c.id, err)
			return
		}
		c.s.logf("conn %d: hello does not validate (%v); injecting by its direction %q", c.id, err, m.Direction)
		dirn, stream = m.Direction, m.Stream
	}
	c.label = fmt.Sprintf("stream %d %s", stream, dirn)
	switch dirn {
	case wire.Forward:
		up.skip = n
		up.inj = c.injector()
	case wire.Reverse:
		down.expect = wire.TypeReply
		down.inj = c.injector()
	case wire.Abort, wire.Finish:
	default:
		c.s.logf("conn %d: hello with unknown direction %q: relaying untouched", c.id, dirn)
	}
}

// pump relays d until its source ends. At EOF it half-closes the
// destination; any other failure closes both sides.
func (c *conn) pump(d *dir) {
	err := c.copy(d)
	if err == io.EOF {
		if cw, ok := d.dst.(interface{ CloseWrite() error }); ok {
			if err := cw.CloseWrite(); err != nil {
				c.fail(fmt.Errorf("%s: %w", d.name, err))
			}
			return
		}
		c.close()
		return
	}
	c.fail(fmt.Errorf("%s: %w", d.name, err))
}

func (c *conn) copy(d *dir) error {
	if d.expect != 0 {
		n, have, ferr, rerr := readFrame(d.src, d.buf, d.expect)
		d.pending, d.skip, d.readErr = have, have, rerr
		switch {
		case rerr != nil:
			d.inj = nil
		case ferr != nil:
			c.s.logf("conn %d %s: %s does not open with a %s frame (%v): relaying untouched", c.id, c.label, d.name, d.expect, ferr)
			d.inj = nil
		default:
			d.skip = n
		}
	}
	if d.pending > 0 {
		if err := c.emit(d, d.buf[:d.pending], d.skip); err != nil {
			return err
		}
	}
	if d.readErr != nil {
		return d.readErr
	}
	for {
		n, err := d.src.Read(d.buf)
		if n > 0 {
			if werr := c.emit(d, d.buf[:n], 0); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// emit injects into b after its first skip bytes and writes it on.
func (c *conn) emit(d *dir, b []byte, skip int) error {
	if d.inj != nil && len(b) > skip {
		d.inj.Apply(b[skip:], d.off)
		d.off += int64(len(b) - skip)
	}
	n, err := d.dst.Write(b)
	d.n += int64(n)
	return err
}

// readFrame reads from r into buf until buf holds one whole frame of
// type want, and returns the frame's length and the bytes read (which may
// run past the frame). ferr says the bytes are not such a frame; rerr is
// a read error (or EOF) before the frame was whole. The frame's length is
// checked against its type's bound before anything more is read.
func readFrame(r io.Reader, buf []byte, want wire.Type) (n, have int, ferr, rerr error) {
	for have < wire.HeaderSize {
		m, err := r.Read(buf[have:])
		have += m
		if k := min(have, len(wire.Magic)); string(buf[:k]) != wire.Magic[:k] {
			return 0, have, fmt.Errorf("first bytes % x", buf[:min(have, wire.HeaderSize)]), nil
		}
		if err != nil {
			return 0, have, nil, err
		}
	}
	hd, err := wire.ParseHeader(buf[:wire.HeaderSize])
	switch {
	case err != nil:
		return 0, have, err, nil
	case hd.Type != want:
		return 0, have, &wire.UnexpectedError{Want: want, Got: hd.Type}, nil
	}
	n = wire.HeaderSize + hd.Length + wire.TrailerSize
	if n > len(buf) {
		return 0, have, fmt.Errorf("%s frame of %d bytes does not fit the relay's buffer", hd.Type, hd.Length), nil
	}
	for have < n {
		m, err := r.Read(buf[have:])
		have += m
		if err != nil && have < n {
			return 0, have, nil, err
		}
	}
	return n, have, nil, nil
}
