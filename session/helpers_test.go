// Test helpers shared by the tests of this package: servers on :0, raw
// hellos and handshakes, fake and slow peers.
package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/relay"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/sender/stream"
	"github.com/zerocheck/zerocheck/wire"
)

// syncBuffer is a bytes.Buffer a logger writes to while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger logs to the test's log, until the test has ended: a
// goroutine of the server logging after that must not panic the test
// binary.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(b), "\n"))
	}
	return len(b), nil
}

// serve starts a server on 127.0.0.1 and returns its address and a
// function that stops it and returns the reports it made.
func serve(t *testing.T, opt ServerOptions) (string, func() []report.Report) {
	t.Helper()
	addr, stop, _ := serveWatch(t, opt)
	return addr, stop
}

// serveWatch is serve, and also returns a function that waits until the
// server has made n reports.
func serveWatch(t *testing.T, opt ServerOptions) (string, func() []report.Report, func(n int)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reps []report.Report
	opt.Report = func(r report.Report) {
		mu.Lock()
		reps = append(reps, r)
		mu.Unlock()
	}
	opt.Logger = testLogger(t)
	s, err := NewServer(opt)
	if err != nil {
		t.Fatal(err)
	}
	servers.Store(ln.Addr().String(), s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() []report.Report {
		once.Do(func() {
			if !opt.Once {
				cancel()
			}
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			cancel()
		})
		mu.Lock()
		defer mu.Unlock()
		return reps
	}
	t.Cleanup(func() { stop() })
	waitN := func(n int) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			got := len(reps)
			mu.Unlock()
			if got >= n {
				return
			}
		}
		t.Fatalf("no %d reports in 10s", n)
	}
	return ln.Addr().String(), stop, waitN
}

func client(t *testing.T, o ClientOptions) *Client {
	t.Helper()
	if o.Pattern == nil {
		o.Pattern, _ = pattern.Parse("zeros", 0)
	}
	if o.Streams == 0 {
		o.Streams = 1
	}
	o.Verify.Pattern = o.Pattern
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeReceiver accepts one connection, answers the hello, and hands the
// connection to f: a peer that misbehaves on purpose.
func fakeReceiver(t *testing.T, f func(c net.Conn, h wire.Hello)) string {
	t.Helper()
	return fakeReceiverAuth(t, wire.AuthNone, f)
}

func reply(c net.Conn) {
	b, _ := wire.EncodeReply(wire.Reply{})
	c.Write(b)
}

var zeros, _ = pattern.Parse("zeros", 0)

// hello dials addr, sends h and returns the connection and the reply.
func hello(t *testing.T, addr string, h wire.Hello) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c, handshake(t, c, h)
}

// handshake runs a dialer's side of the handshake on c with no token:
// hello (a nonce added if h has none), challenge, auth, reply.
func handshake(t *testing.T, c net.Conn, h wire.Hello) error {
	t.Helper()
	return handshakeToken(c, h, nil)
}

// handshakeToken is handshake with a token: the auth is signed with it.
func handshakeToken(c net.Conn, h wire.Hello, token []byte) error {
	if h.Nonce == "" {
		h.Nonce = wire.NewNonce()
	}
	b, err := wire.EncodeHello(h)
	if err != nil {
		return err
	}
	c.Write(b)
	typ, p, err := wire.ReadFrame(c, wire.TypeChallenge)
	if err != nil {
		return err
	}
	if typ == wire.TypeReply {
		if _, err = wire.DecodeReply(p); err == nil {
			err = errors.New("a reply without a challenge")
		}
		return err
	}
	var ch wire.Challenge
	if ch, err = wire.DecodeChallenge(p); err != nil {
		return err
	}
	var a wire.Auth
	if token != nil {
		a.MAC = wire.Sign(token, wire.Dialer, ch.Nonce, wire.Payload(b))
	}
	ab, _ := wire.EncodeAuth(a)
	c.Write(ab)
	_, p, err = wire.ReadFrame(c, wire.TypeReply)
	if err == nil {
		_, err = wire.DecodeReply(p)
	}
	if err == nil && token != nil && h.FactsAfter {
		// The dialer announced that its facts follow the listener's proof.
		fb, _ := wire.EncodePeerFacts(wire.PeerFacts{})
		_, err = c.Write(fb)
	}
	return err
}

// sendStream sends data on a stream accepted with h, then reads its result;
// it fails the test if the receiver refuses the hello.
func sendStream(t *testing.T, addr string, h wire.Hello, data []byte) {
	t.Helper()
	c, err := hello(t, addr, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(data)
	wire.ReadFrame(c, wire.TypeResult)
}

// control sends an abort or finish hello and fails the test if the
// receiver refuses it.
func control(t *testing.T, addr string, h wire.Hello) {
	t.Helper()
	c, err := hello(t, addr, h)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

var token = []byte("0123456789abcdef-test-token")

// legit starts a legitimate run from 127.0.0.1 (or o.Bind) and returns
// a function that waits for its report and fails the test unless it is
// clean.
func legit(t *testing.T, addr string, o ClientOptions) func() {
	t.Helper()
	o.Addr = addr
	if o.Bytes == 0 && o.Duration == 0 {
		o.Bytes = 32 << 20
	}
	o.Rate = 400e6 // long enough to overlap what the test does meanwhile
	c := client(t, o)
	done := make(chan report.Report, 1)
	go func() { done <- c.Run(context.Background()) }()
	return func() {
		t.Helper()
		r := <-done
		if r.Verdict != report.Clean || r.BytesVerified != o.Bytes && o.Bytes != 0 {
			t.Fatalf("the legitimate sender was not served: %s, %d bytes, %q", r.Verdict, r.BytesVerified, r.Error)
		}
	}
}

// dialFrom dials addr from the loopback address from (e.g. 127.0.0.2):
// another source host, as the server sees it.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectRefusal reads the refusal a connection got, failing unless it is one
// containing want.
func expectRefusal(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, p, err := wire.ReadFrame(c, wire.TypeReply)
		if err != nil {
			t.Fatalf("no refusal %q: %v", want, err)
		}
		if typ != wire.TypeReply {
			continue
		}
		_, err = wire.DecodeReply(p)
		var ref *wire.RefusedError
		if !errors.As(err, &ref) || !strings.Contains(ref.Reason, want) {
			t.Fatalf("reply %v, want a refusal with %q", err, want)
		}
		return
	}
}

func forward(id string, bytes int64) wire.Hello {
	return wire.Hello{RunID: id, Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: bytes}
}

// fakeReceiverAuth is fakeReceiver whose challenge names auth.
func fakeReceiverAuth(t *testing.T, auth string, f func(c net.Conn, h wire.Hello)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, p, err := wire.ReadFrame(c, wire.TypeHello)
		if err != nil {
			t.Errorf("fake receiver: %v", err)
			return
		}
		h, err := wire.DecodeHello(p)
		if err != nil {
			t.Errorf("fake receiver: %v", err)
			return
		}
		b, _ := wire.EncodeChallenge(wire.Challenge{Nonce: wire.NewNonce(), Auth: auth})
		c.Write(b)
		if _, _, err := wire.ReadFrame(c, wire.TypeAuth); err != nil {
			t.Errorf("fake receiver: %v", err)
			return
		}
		f(c, h)
	}()
	return ln.Addr().String()
}

// servers lets tests see a Server's state by its address.
var servers sync.Map // address -> *Server

// serverRuns returns the server at addr and whether it has a run under
// way.
func serverRuns(addr string) (*Server, bool) {
	v, ok := servers.Load(addr)
	if !ok {
		return nil, false
	}
	s := v.(*Server)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s, len(s.runs) > 0
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// slowFront listens on 127.0.0.1 with a backlog of 0 and accepts one
// connection per pace, splicing each to addr.
func slowFront(t *testing.T, addr string, pace time.Duration) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "slow-front")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			time.Sleep(pace)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite() }()
			go func() { io.Copy(c, b); c.(*net.TCPConn).CloseWrite() }()
		}
	}()
	return ln.Addr().String()
}

// startRelay runs a fire-drill relay to addr that injects spec into
// every data stream, until the test ends.
func startRelay(t *testing.T, addr, spec string) string {
	t.Helper()
	inj, err := relay.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- relay.Serve(ctx, ln, relay.Options{To: addr, Inject: inj})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	return ln.Addr().String()
}

func mustPayload(t testing.TB, h wire.Hello) []byte {
	b, err := wire.EncodeHello(h)
	if err != nil {
		t.Fatal(err)
	}
	return b[wire.HeaderSize : len(b)-wire.TrailerSize]
}

// tcpPair returns the receiving end of a real TCP connection from
// 127.0.0.2 to 127.0.0.1.
func tcpPair(t testing.TB) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	dc, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close(); c.Close() })
	return c
}

// armPanic makes the goroutine named where panic, once.
func armPanic(t *testing.T, where string) {
	var armed atomic.Bool
	armed.Store(true)
	f := func(w string) {
		if w == where && armed.CompareAndSwap(true, false) {
			panic("test: a bug in " + where)
		}
	}
	panicHook.Store(&f)
	t.Cleanup(func() { panicHook.Store(nil) })
}

// oneShotFront splices the first connection to addr; every later connect
// hangs (backlog 0, queue filled, never accepted).
func oneShotFront(t *testing.T, addr string) string {
	fd, _ := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	syscall.Listen(fd, 0)
	f := os.NewFile(uintptr(fd), "front")
	ln, _ := net.FileListener(f)
	f.Close()
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		filler, _ := net.Dial("tcp", ln.Addr().String()) // fills the queue
		t.Cleanup(func() { filler.Close() })
		b, err := net.Dial("tcp", addr)
		if err != nil {
			// The test has ended (its server is gone): nothing to relay.
			c.Close()
			return
		}
		go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite() }()
		go func() { io.Copy(c, b); c.(*net.TCPConn).CloseWrite() }()
	}()
	return ln.Addr().String()
}

// trickle completes a valid handshake for a run of 1 GiB of zeros, then
// sends one byte of it every 100 ms, as a client holding a session slot
// for next to nothing does, until the connection fails. It returns the
// result the receiver sent back, or the error.
func trickle(t *testing.T, addr, id, from string) (report.Report, error) {
	c := dialFrom(t, from, addr)
	if err := handshake(t, c, forward(id, 1<<30)); err != nil {
		return report.Report{}, err
	}
	for {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte{0}); err != nil {
			break
		}
		// Stop writing once the receiver has answered: its result is
		// waiting to be read.
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		var b [1]byte
		if n, _ := c.Read(b[:]); n > 0 {
			return readResultAfter(c, b[0])
		}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return report.Report{}, err
	}
	return readResultAfter(c, b[0])
}

// readResult reads a Result frame whose first byte was first.
func readResultAfter(c net.Conn, first byte) (report.Report, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := wire.ReadFrame(io.MultiReader(strings.NewReader(string([]byte{first})), c), wire.TypeResult)
	if err != nil {
		return report.Report{}, err
	}
	return wire.DecodeResult(p)
}

// slowLink is a path of bps bits per second from its listener to addr
// (the way back is not limited): what a shaped WAN link does to a
// sender, whose socket buffers then hold seconds of pattern when it
// stops. Each connection crosses it with a small receive buffer, so
// what is in flight is mostly in the sender's own socket.
func slowLink(t *testing.T, addr string, bps int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	lim := stream.NewLimiter(bps)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			b, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() {
				buf := make([]byte, lim.Chunk())
				for {
					n, err := c.Read(buf)
					if n > 0 {
						lim.Wait(context.Background(), n, time.Time{})
						if _, werr := b.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				b.(*net.TCPConn).CloseWrite()
			}()
			go func() { io.Copy(c, b); c.(*net.TCPConn).CloseWrite() }()
		}
	}()
	return ln.Addr().String()
}
