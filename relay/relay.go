// Package relay is zerocheck's fire-drill relay: a TCP relay between a
// zerocheck sender and receiver that corrupts the pattern stream on
// purpose, so that operators can prove their alerting fires and tests can
// drive real corruption through real sockets.
//
// The relay understands just enough of the control protocol (package
// wire) to find the data stream of each connection. Every connection
// opens with a four-message handshake: the dialer's Hello and Auth
// (client to server) and the listener's Challenge and Reply (server to
// client). The relay reads the Hello to learn the connection's
// direction, then follows the frames that open the direction carrying
// the data: for a forward stream the client's Hello and Auth, after
// which the dialer sends the bare pattern; for a reverse stream the
// server's Challenge and Reply, after which the listener sends it. Each
// frame is relayed byte for byte as soon as it is whole (the peers sign
// the Hello as sent), and injections land only in the bare pattern bytes
// after the last of them, at their data-stream offsets. A direction
// whose frames are not the expected ones (a refusal in place of the
// Challenge, say) is relayed untouched from there on, and so is one
// whose final Reply is a refusal. Abort and finish connections carry no
// data and are never touched, nor is the other direction of a stream,
// which carries the rest of the handshake and the Result. In raw mode
// the whole client-to-server direction is the data stream.
//
// The Hello also names the stream's pattern. An injection that cannot
// change it (zero on zeros, a displacement on a pattern that repeats
// itself at that distance) would make a drill that cannot fire: the
// relay refuses such a stream with a Reply that says why, in place of
// the receiver's Challenge, and Serve returns the *NoEffectError. The
// relay dials the receiver only once the Hello has been read (in raw
// mode at once), so a refused stream never reaches it.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/wire"
)

// bufSize is the size of each direction's buffer. It holds any handshake
// frame whole (64 KiB + 16 bytes at most, a Hello or a Reply).
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
	// Log, when set, receives one record per applied injection, per
	// ended connection and per protocol surprise, with the connection
	// ("conn", from 1) and its stream ("stream": "raw", "stream 3
	// forward", or none before the hello) as attributes.
	Log *slog.Logger
}

// Serve accepts connections on ln and relays each to opt.To, injecting
// opt.Inject into each data stream. It runs until ctx ends, then closes
// ln and every relayed connection, waits for them, and returns nil; or
// until Accept fails, then closes them likewise and returns the error;
// or until it refuses a stream whose pattern an injection cannot change,
// then closes them likewise and returns the *NoEffectError (wrapped).
// Serve owns ln: it is closed when Serve returns, also when opt is
// invalid.
func Serve(ctx context.Context, ln net.Listener, opt Options) error {
	if opt.To == "" {
		ln.Close()
		return errors.New("relay: no address to relay to")
	}
	if _, err := NewInjector(opt.Inject, opt.Seed, nil); err != nil {
		ln.Close()
		return err
	}
	inner, cancel := context.WithCancel(ctx)
	s := &server{opt: opt, stop: cancel}
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
	if s.refused != nil {
		return s.refused
	}
	return err
}

// errShutdown ends the connections when Serve's context ends.
var errShutdown = errors.New("relay shutting down")

type server struct {
	opt  Options
	stop context.CancelFunc // ends Serve
	mu   sync.Mutex         // guards refused
	// refused is why a stream was refused: Serve returns it.
	refused error
}

// refuse ends Serve for err, a stream's refusal; the first one is what
// Serve returns.
func (s *server) refuse(err error) {
	s.mu.Lock()
	if s.refused == nil {
		s.refused = err
	}
	s.mu.Unlock()
	s.stop()
}

func (s *server) log(level slog.Level, msg string, args ...any) {
	if s.opt.Log != nil {
		s.opt.Log.Log(context.Background(), level, msg, args...)
	}
}

// log logs for c, naming it and its stream.
func (c *conn) log(level slog.Level, msg string, args ...any) {
	head := []any{"conn", c.id}
	if c.label != "" {
		head = append(head, "stream", c.label)
	}
	c.s.log(level, msg, append(head, args...)...)
}

// conn is one relayed connection.
type conn struct {
	s      *server
	id     int
	label  string // "raw", "stream 3 forward", or "" before the hello
	client net.Conn

	mu       sync.Mutex
	server   net.Conn // nil until dialed
	closed   bool     // both sides are closed, and a server dialed later is
	err      error    // the first error that ended the connection
	stopping bool     // Serve is shutting down: it closed the connection
	logged   int      // injection lines logged

	// noEffect, set by sniff, refuses the stream: an injection cannot
	// change its pattern.
	noEffect error
}

// dir is one direction of a connection.
type dir struct {
	name     string
	src, dst net.Conn
	buf      []byte
	// pending bytes at the start of buf are read but not yet relayed.
	pending int
	// readErr is the error that ended src: Read returns it from then on.
	readErr error
	// expect are the frames that open this direction, in order, before
	// its data: a Hello and an Auth, or a Challenge and a Reply. They are
	// relayed untouched; the data stream starts after the last.
	expect []wire.Type
	inj    *Injector // nil: pass through untouched
	off    int64     // data-stream offset of the next data byte
	n      int64     // bytes relayed
}

// Read reads from d's source. Its first error sticks, so that bytes
// that came with it are relayed before it ends the pump.
func (d *dir) Read(p []byte) (int, error) {
	if d.readErr != nil {
		return 0, d.readErr
	}
	n, err := d.src.Read(p)
	d.readErr = err
	return n, err
}

func (s *server) handle(ctx context.Context, id int, client net.Conn) {
	c := &conn{s: s, id: id, client: client}
	stop := context.AfterFunc(ctx, c.shutdown)
	c.run(ctx)
	stop()
	c.close()
}

// dial connects the server side, once the client's Hello (if any) has
// said that the stream may go on.
func (c *conn) dial(ctx context.Context) bool {
	var d net.Dialer
	srv, err := d.DialContext(ctx, "tcp", c.s.opt.To)
	if err != nil {
		c.log(slog.LevelWarn, "dial failed", "from", c.client.RemoteAddr().String(), "to", c.s.opt.To, "error", err.Error())
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		srv.Close()
		return false
	}
	c.server = srv
	return true
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
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

func (c *conn) run(ctx context.Context) {
	up := &dir{name: "client->server", src: c.client, buf: make([]byte, bufSize)}
	down := &dir{name: "server->client", dst: c.client, buf: make([]byte, bufSize)}
	if c.s.opt.Raw {
		c.label = "raw"
		up.inj, _ = c.injector(nil)
	} else {
		c.sniff(up, down)
	}
	if c.noEffect != nil {
		// Before dialing: the receiver never hears of the stream.
		c.refuse()
		return
	}
	if !c.dial(ctx) {
		return
	}
	up.dst, down.src = c.server, c.server
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
	args := []any{"client_to_server_bytes", up.n, "server_to_client_bytes", down.n, "injections", applied}
	switch {
	case err == errShutdown:
		args = append(args, "by", "the relay's shutdown")
	case err != nil:
		args = append(args, "error", err.Error())
	}
	for _, d := range []*dir{up, down} {
		if d.inj != nil && d.inj.Missed() > 0 {
			args = append(args, "left_out", d.inj.Missed(), "left_out_why", "no position tried changes the pattern")
		}
	}
	c.log(slog.LevelInfo, "ended", args...)
}

// refuse turns the stream away, as a receiver would, with a Reply in
// place of the Challenge that says which injection cannot change its
// pattern: the sender reports that, and Serve ends with it.
func (c *conn) refuse() {
	err := fmt.Errorf("relay refused conn %d %s: %w", c.id, c.label, c.noEffect)
	c.log(slog.LevelError, "refused", "error", c.noEffect.Error())
	if b, e := wire.EncodeReply(wire.Reply{Error: "relay: " + c.noEffect.Error()}); e == nil {
		c.client.SetWriteDeadline(time.Now().Add(time.Second))
		c.client.Write(b)
	}
	if cw, ok := c.client.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.close()
	c.s.refuse(err)
}

// injector returns the Injector of a data stream of pattern pat (nil:
// unknown), or the *NoEffectError that refuses the stream.
func (c *conn) injector(pat pattern.Pattern) (*Injector, error) {
	in, err := NewInjector(c.s.opt.Inject, c.s.opt.Seed, pat)
	var ne *NoEffectError
	if errors.As(err, &ne) {
		return nil, err
	}
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
			args := []any{"kind", string(e.Kind), "offset", e.Offset, "bytes", e.Len, "item", c.s.opt.Inject[e.Item].String()}
			if e.Detail != "" {
				args = append(args, "detail", e.Detail)
			}
			c.log(slog.LevelInfo, "injected", args...)
		case n == maxLogged+1:
			c.log(slog.LevelInfo, "further injections are counted, not logged")
		}
	}
	return in, nil
}

// sniff reads the client's Hello, before the server is dialed, and decides which direction carries
// the data stream and which frames open it. The bytes it read stay in
// up.buf for the pump, which relays them, the Hello first.
func (c *conn) sniff(up, down *dir) {
	n, have, ferr, rerr := readFrame(up, up.buf, 0, wire.TypeHello)
	up.pending = have
	if rerr != nil {
		return
	}
	if ferr != nil {
		c.log(slog.LevelWarn, "not a zerocheck hello: relaying untouched", "error", ferr.Error())
		return
	}
	payload := up.buf[wire.HeaderSize : n-wire.TrailerSize]
	var dirn wire.Direction
	var stream int
	var pat pattern.Pattern // nil: unknown, injected as raw
	if h, err := wire.DecodeHello(payload); err == nil {
		dirn, stream = h.Direction, h.Stream
		// DecodeHello checked the pattern.
		pat, _ = pattern.Parse(h.Pattern, h.Seed)
	} else {
		var m struct {
			Direction wire.Direction `json:"direction"`
			Stream    int            `json:"stream"`
		}
		if jerr := json.Unmarshal(payload, &m); jerr != nil {
			c.log(slog.LevelWarn, "undecodable hello: relaying untouched", "error", err.Error())
			return
		}
		c.log(slog.LevelWarn, "hello does not validate: injecting by its direction", "direction", string(m.Direction), "error", err.Error())
		dirn, stream = m.Direction, m.Stream
	}
	c.label = fmt.Sprintf("stream %d %s", stream, dirn)
	dialer := []wire.Type{wire.TypeHello, wire.TypeAuth}
	listener := []wire.Type{wire.TypeChallenge, wire.TypeReply}
	switch dirn {
	case wire.Forward:
		up.expect = dialer
		up.inj, c.noEffect = c.injector(pat)
	case wire.Reverse:
		up.expect = dialer
		down.expect = listener
		down.inj, c.noEffect = c.injector(pat)
	case wire.Abort, wire.Finish:
		up.expect = dialer
	default:
		c.log(slog.LevelWarn, "hello with unknown direction: relaying untouched", "direction", string(dirn))
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

// copy relays d: its opening frames untouched, each as soon as it is
// whole, then its data through the injector.
func (c *conn) copy(d *dir) error {
	for i, want := range d.expect {
		n, have, ferr, rerr := readFrame(d, d.buf, d.pending, want)
		d.pending = have
		if ferr != nil || rerr != nil {
			c.surprise(d, i, ferr, rerr)
			d.inj = nil
			break
		}
		if want == wire.TypeReply && d.inj != nil {
			// A refusal ends the handshake: no data follows.
			_, err := wire.DecodeReply(d.buf[wire.HeaderSize : n-wire.TrailerSize])
			if errors.As(err, new(*wire.RefusedError)) {
				c.log(slog.LevelInfo, "refused: relaying untouched", "dir", d.name, "error", err.Error())
				d.inj = nil
			}
		}
		if err := c.send(d, d.buf[:n]); err != nil {
			return err
		}
		d.pending = copy(d.buf, d.buf[n:have])
	}
	if d.pending > 0 {
		if err := c.emit(d, d.buf[:d.pending]); err != nil {
			return err
		}
	}
	for {
		n, err := d.Read(d.buf)
		if n > 0 {
			if werr := c.emit(d, d.buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// surprise logs that d's i-th opening frame is not what it should be:
// the rest of d is relayed untouched. A direction that ends early is
// logged only when it was to be injected: a refused peer just hangs up.
func (c *conn) surprise(d *dir, i int, ferr, rerr error) {
	want := d.expect[i]
	switch {
	case ferr != nil && i == 0:
		c.log(slog.LevelWarn, "no opening frame: relaying untouched", "dir", d.name, "frame", want.String(), "error", ferr.Error())
	case ferr != nil:
		c.log(slog.LevelWarn, "missing frame: relaying untouched", "dir", d.name, "frame", want.String(), "after", d.expect[i-1].String(), "error", ferr.Error())
	case rerr == io.EOF && d.inj != nil:
		c.log(slog.LevelWarn, "ended inside a frame: nothing injected", "dir", d.name, "frame", want.String())
	}
}

// emit injects into b, the next data bytes of d, and relays it.
func (c *conn) emit(d *dir, b []byte) error {
	if d.inj != nil {
		d.inj.Apply(b, d.off)
		d.off += int64(len(b))
	}
	return c.send(d, b)
}

// send relays b as it is.
func (c *conn) send(d *dir, b []byte) error {
	n, err := d.dst.Write(b)
	d.n += int64(n)
	return err
}

// readFrame reads from r into buf, which holds have bytes already, until
// buf opens with one whole frame of type want. It returns the frame's
// length and held, the bytes buf then holds (which may run past the
// frame); it reads nothing when the frame is there already. ferr says
// the bytes are not such a frame; rerr is a read error (or EOF) before
// the frame was whole. The header (magic, version, type, and the length
// against the type's bound) is checked before anything more is read.
func readFrame(r io.Reader, buf []byte, have int, want wire.Type) (n, held int, ferr, rerr error) {
	var err error
	for {
		if k := min(have, len(wire.Magic)); string(buf[:k]) != wire.Magic[:k] {
			return 0, have, fmt.Errorf("first bytes % x", buf[:min(have, wire.HeaderSize)]), nil
		}
		if have >= wire.HeaderSize {
			break
		}
		if err != nil {
			return 0, have, nil, err
		}
		var m int
		m, err = r.Read(buf[have:])
		have += m
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
