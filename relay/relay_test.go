package relay

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/wire"
)

// logBook collects a relay's log lines.
type logBook struct {
	mu    sync.Mutex
	lines []string
}

// Write takes one record of a text handler: a line.
func (l *logBook) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// logger returns a logger whose records are l's lines, key=value with
// level and message first, without a time.
func (l *logBook) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}}))
}

// has reports whether some line contains every one of parts.
func (l *logBook) has(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func (l *logBook) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// startRelay runs Serve on 127.0.0.1 and returns its address and a stop
// function that cancels it and checks that it returns nil. Once stop has
// returned, every connection has ended and logged.
func startRelay(t *testing.T, opt Options) (addr string, logs *logBook, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs = &logBook{}
	opt.Log = logs.logger()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, opt) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), logs, stop
}

// connTimeout bounds each test connection: a relay that holds a frame
// back until the next arrives deadlocks the handshake, and fails rather
// than hangs.
const connTimeout = time.Minute

// backend listens on 127.0.0.1 and runs serve on each connection it
// accepts, until the test ends.
func backend(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(connTimeout))
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(connTimeout))
	return c.(*net.TCPConn)
}

// injected returns s as a single pass through an Injector for pattern
// pat (nil: raw) would leave it.
func injected(t *testing.T, spec string, seed uint64, pat pattern.Pattern, s []byte) []byte {
	t.Helper()
	items, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := feed(t, items, seed, pat, s, func() int { return len(s) })
	return out
}

func mustParse(t *testing.T, spec string) []Injection {
	t.Helper()
	items, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// token is the test peers' shared secret.
var token = []byte("fire drills need a token too 0123456789")

// helloFrame returns h, with a fresh nonce, as a frame.
func helloFrame(t testing.TB, h wire.Hello) []byte {
	t.Helper()
	h.Nonce = wire.NewNonce()
	f, err := wire.EncodeHello(h)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func hello(t testing.TB, d wire.Direction, streamNo int, pat string) []byte {
	t.Helper()
	return helloFrame(t, wire.Hello{RunID: "0123456789abcdef", Streams: 4, Stream: streamNo, Direction: d, Pattern: pat, Bytes: 1 << 20})
}

func challengeFrame(t testing.TB) []byte {
	t.Helper()
	f, err := wire.EncodeChallenge(wire.Challenge{Nonce: wire.NewNonce(), Auth: wire.AuthNone})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func authFrame(t testing.TB, mac string) []byte {
	t.Helper()
	f, err := wire.EncodeAuth(wire.Auth{MAC: mac})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func replyFrame(t testing.TB, r wire.Reply) []byte {
	t.Helper()
	f, err := wire.EncodeReply(r)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// header hand-builds a frame header.
func header(version byte, typ wire.Type, reserved byte, length uint32) []byte {
	h := append([]byte(wire.Magic), version, byte(typ), 0, reserved)
	return binary.BigEndian.AppendUint32(h, length)
}

// withVersion returns a copy of frame f with version byte v.
func withVersion(f []byte, v byte) []byte {
	f = bytes.Clone(f)
	f[4] = v
	return f
}

// writeIn writes b in writes of chunk bytes, or in one write when chunk
// is 0.
func writeIn(w io.Writer, b []byte, chunk int) error {
	if chunk == 0 {
		chunk = max(len(b), 1)
	}
	for i := 0; i < len(b); i += chunk {
		if _, err := w.Write(b[i:min(i+chunk, len(b))]); err != nil {
			return err
		}
	}
	return nil
}

// bigFacts make a Hello or a Reply of nearly the largest size.
var bigFacts = json.RawMessage(`{"pad":"` + strings.Repeat("x", 60000) + `"}`)

// listener is a test listener's side of the handshake.
type listener struct {
	tok   []byte // nil: check no token
	chunk int    // writes of chunk bytes; 0: one write per frame
	facts json.RawMessage
	// then is written after the Reply, in the same write when chunk is 0.
	then []byte
}

// handshake reads the Hello from r, sends a Challenge on w, reads and
// checks the Auth, and answers with a Reply, then l.then. A Hello that
// does not validate is taken as it is. It returns the Hello and the
// frames it sent; a refusal is an error, sent as the Reply.
func (l listener) handshake(r io.Reader, w io.Writer) (wire.Hello, []byte, error) {
	_, hp, err := wire.ReadFrame(r, wire.TypeHello)
	if err != nil {
		return wire.Hello{}, nil, err
	}
	h, _ := wire.DecodeHello(hp)
	ch := wire.Challenge{Nonce: wire.NewNonce(), Auth: wire.AuthNone}
	if l.tok != nil {
		ch.Auth = wire.AuthHMAC
	}
	sent, _ := wire.EncodeChallenge(ch)
	if err := writeIn(w, sent, l.chunk); err != nil {
		return h, sent, err
	}
	_, ap, err := wire.ReadFrame(r, wire.TypeAuth)
	if err != nil {
		return h, sent, err
	}
	reply := wire.Reply{Version: "test", Facts: l.facts}
	a, err := wire.DecodeAuth(ap)
	switch {
	case err != nil:
		reply = wire.Reply{Error: err.Error()}
	case l.tok != nil && !wire.Verify(l.tok, wire.Dialer, ch.Nonce, hp, a.MAC):
		reply = wire.Reply{Error: "authentication failed"}
	case l.tok != nil:
		reply.Proof = wire.Sign(l.tok, wire.Listener, ch.Nonce, hp)
	}
	f, _ := wire.EncodeReply(reply)
	sent = append(sent, f...)
	if reply.Error != "" {
		writeIn(w, f, l.chunk)
		return h, sent, errors.New(reply.Error)
	}
	if l.chunk == 0 {
		_, err = w.Write(append(f, l.then...))
		return h, sent, err
	}
	if err := writeIn(w, f, l.chunk); err != nil {
		return h, sent, err
	}
	_, err = w.Write(l.then)
	return h, sent, err
}

// dialer is a test dialer's side of the handshake after its Hello.
type dialer struct {
	tok   []byte // signs when the listener asks
	chunk int    // the Auth in writes of chunk bytes; 0: one write
	// then is written after the Auth, in the same write when chunk is 0.
	then []byte
}

// handshake reads the Challenge from r, sends the Auth on w, then d.then,
// and reads and checks the Reply and its proof. It returns the Auth
// frame it sent; a refusal is a *wire.RefusedError.
func (d dialer) handshake(r io.Reader, w io.Writer, hello []byte) ([]byte, error) {
	typ, p, err := wire.ReadFrame(r, wire.TypeChallenge)
	if err != nil {
		return nil, err
	}
	if typ == wire.TypeReply {
		if _, err := wire.DecodeReply(p); err != nil {
			return nil, err
		}
		return nil, errors.New("a reply that is no refusal in place of the challenge")
	}
	ch, err := wire.DecodeChallenge(p)
	if err != nil {
		return nil, err
	}
	var a wire.Auth
	if ch.Auth == wire.AuthHMAC {
		a.MAC = wire.Sign(d.tok, wire.Dialer, ch.Nonce, wire.Payload(hello))
	}
	f, _ := wire.EncodeAuth(a)
	if d.chunk == 0 {
		_, err = w.Write(append(bytes.Clone(f), d.then...))
	} else if err = writeIn(w, f, d.chunk); err == nil {
		_, err = w.Write(d.then)
	}
	if err != nil {
		return f, err
	}
	if _, p, err = wire.ReadFrame(r, wire.TypeReply); err != nil {
		return f, err
	}
	reply, err := wire.DecodeReply(p)
	if err != nil {
		return f, err
	}
	if ch.Auth == wire.AuthHMAC && !wire.Verify(d.tok, wire.Listener, ch.Nonce, wire.Payload(hello), reply.Proof) {
		return f, errors.New("the listener's proof does not verify")
	}
	return f, nil
}

func TestRelayRaw(t *testing.T) {
	const spec = "bitflip@1000:3,zero@300000:100,block@700001:3,random@2MiB:50,displace@2500000:64:1MiB"
	data := stream(t, "counter", 3<<20+17)
	answer := []byte("verified\x00\xff and the reply must come back untouched")
	got := make(chan []byte, 1)
	to := backend(t, func(c *net.TCPConn) {
		b, err := io.ReadAll(c)
		if err != nil {
			t.Error(err)
		}
		got <- b
		c.Write(answer)
	})
	addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, spec), Raw: true, Seed: 9})

	c := dial(t, addr)
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	back, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	out := <-got
	stop()

	if !bytes.Equal(back, answer) {
		t.Errorf("reply came back as %q", back)
	}
	if len(out) != len(data) {
		t.Fatalf("received %d bytes, sent %d", len(out), len(data))
	}
	if want := injected(t, spec, 9, nil, data); !bytes.Equal(out, want) {
		t.Errorf("received bytes differ from the injected stream at %v", diffs(want, out)[:1])
	}
	d := diffs(data, out)
	if d[0] != 1000 || out[1000]^data[1000] != 1<<3 || d[1] < 300000 {
		t.Errorf("first changes at %v", d[:2])
	}
	for _, o := range d {
		if !(o == 1000 || o >= 300000 && o < 300100 || o >= 700001 && o < 700049 ||
			o >= 2<<20 && o < 2<<20+50 || o >= 2500000 && o < 2500064) {
			t.Fatalf("byte %d changed outside the injections", o)
		}
	}
	// Raw zeroing changes every byte: 0x00 where it was not, 0xff where
	// it was.
	for o := 300000; o < 300100; o++ {
		if data[o] == 0 && out[o] != 0xff || data[o] != 0 && out[o] != 0 {
			t.Fatalf("zeroed byte %d: %#x became %#x", o, data[o], out[o])
		}
	}
	if len(diffs(data[2<<20:2<<20+50], out[2<<20:2<<20+50])) != 50 {
		t.Error("random injection missing")
	}
	for _, want := range [][]string{
		{"level=INFO msg=injected conn=1 stream=raw kind=bitflip offset=1000 bytes=1 item=bitflip@1000:3"},
		{"msg=injected conn=1 stream=raw kind=block offset=700001 bytes=48 item=block@700001:3"},
		{"msg=injected conn=1 stream=raw kind=displace offset=2500000 bytes=64 "},
		{fmt.Sprintf("level=INFO msg=ended conn=1 stream=raw client_to_server_bytes=%d server_to_client_bytes=%d injections=5", len(data), len(answer))},
	} {
		if !logs.has(want...) {
			t.Errorf("no log line with %q in\n%s", want, logs)
		}
	}
}

// Forward streams: the dialer's Hello and Auth pass unchanged (the
// listener's check of the Auth's MAC over the Hello proves it), and
// injections land at data offsets counted from the first byte after the
// Auth, each connection in its own offset space, however the frames
// arrive.
func TestRelayForward(t *testing.T) {
	const spec = "bitflip@0:1,random@5000:10,block@65530:2"
	const size = 1 << 20
	data := make([]byte, size) // zeros
	want := slices.Concat([]int64{0}, span(5000, 10), span(65530, 32))
	result := []byte("result frame stand-in")
	// The dialers: each sends hello and data on c and returns the Auth
	// frame it sent.
	handshake := func(c net.Conn, hello []byte) ([]byte, error) {
		c.Write(hello)
		a, err := dialer{tok: token}.handshake(c, c, hello)
		c.Write(data)
		return a, err
	}
	for _, tc := range []struct {
		name    string
		tok     []byte // the listener's token
		pattern string
		facts   json.RawMessage
		send    func(c net.Conn, hello []byte) ([]byte, error)
	}{
		{"handshake", token, "zeros", nil, handshake},
		{"dribbled", token, "zeros", nil, func(c net.Conn, hello []byte) ([]byte, error) {
			// The Hello in 5-byte pieces, the Auth byte by byte.
			writeIn(c, hello, 5)
			a, err := dialer{tok: token, chunk: 1}.handshake(c, c, hello)
			c.Write(data)
			return a, err
		}},
		{"auth with data", token, "zeros", nil, func(c net.Conn, hello []byte) ([]byte, error) {
			c.Write(hello)
			return dialer{tok: token, then: data}.handshake(c, c, hello)
		}},
		{"all at once", nil, "zeros", nil, func(c net.Conn, hello []byte) ([]byte, error) {
			// Without a token, the Auth can go before the Challenge is in.
			a := authFrame(t, "")
			c.Write(slices.Concat(hello, a, data))
			if _, _, err := wire.ReadFrame(c, wire.TypeChallenge); err != nil {
				return a, err
			}
			_, _, err := wire.ReadFrame(c, wire.TypeReply)
			return a, err
		}},
		{"big hello", token, "zeros", bigFacts, handshake},
		// A hello that fails validation still says its direction.
		{"invalid hello", token, "sine", nil, handshake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type rx struct {
				stream int
				b      []byte
			}
			got := make(chan rx, 2)
			to := backend(t, func(c *net.TCPConn) {
				var b bytes.Buffer
				r := io.TeeReader(c, &b)
				h, _, err := listener{tok: tc.tok}.handshake(r, c)
				if err != nil {
					t.Errorf("listener: %v", err)
					return
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					t.Error(err)
				}
				got <- rx{h.Stream, b.Bytes()}
				c.Write(result)
			})
			addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, spec)})

			var mu sync.Mutex
			frames := map[int][]byte{} // the Hello and the Auth
			var wg sync.WaitGroup
			for s := range 2 {
				h := helloFrame(t, wire.Hello{RunID: "0123456789abcdef", Streams: 2, Stream: s, Direction: wire.Forward, Pattern: tc.pattern, Bytes: size, Facts: tc.facts})
				c := dial(t, addr)
				wg.Go(func() {
					a, err := tc.send(c, h)
					if err != nil {
						t.Errorf("stream %d: dialer: %v", s, err)
					}
					mu.Lock()
					frames[s] = slices.Concat(h, a)
					mu.Unlock()
					c.CloseWrite()
					if b, err := io.ReadAll(c); err != nil || !bytes.Equal(b, result) {
						t.Errorf("stream %d: the result came back as %q (%v)", s, b, err)
					}
				})
			}
			wg.Wait()
			stop()
			close(got)
			n := 0
			for r := range got {
				n++
				f := frames[r.stream]
				if !bytes.HasPrefix(r.b, f) {
					t.Errorf("stream %d: hello or auth frame changed", r.stream)
					continue
				}
				out := r.b[len(f):]
				if len(out) != size {
					t.Errorf("stream %d: %d data bytes, want %d", r.stream, len(out), size)
					continue
				}
				if d := diffs(data, out); !slices.Equal(d, want) {
					t.Errorf("stream %d: changed %v, want %v", r.stream, d, want)
				}
				if out[0] != 2 {
					t.Errorf("stream %d: first byte %#x, want 0x02", r.stream, out[0])
				}
				if !logs.has("msg=ended ", fmt.Sprintf("stream=\"stream %d forward\" client_to_server_bytes=%d server_to_client_bytes=", r.stream, len(r.b)), " injections=3") {
					t.Errorf("stream %d: no end logged:\n%s", r.stream, logs)
				}
			}
			if n != 2 {
				t.Errorf("%d streams received", n)
			}
			for s := range 2 {
				for _, line := range []string{
					fmt.Sprintf("stream=\"stream %d forward\" kind=bitflip offset=0 bytes=1 ", s),
					fmt.Sprintf("stream=\"stream %d forward\" kind=block offset=65530 bytes=32 ", s),
				} {
					if !logs.has(line) {
						t.Errorf("no line %q:\n%s", line, logs)
					}
				}
			}
			if tc.pattern == "sine" && !logs.has(`level=WARN msg="hello does not validate: injecting by its direction"`, "direction=forward error=") {
				t.Errorf("invalid hello not logged:\n%s", logs)
			}
			if logs.has("untouched") || logs.has("nothing injected") {
				t.Errorf("a surprise logged:\n%s", logs)
			}
		})
	}
}

// Reverse streams: the listener's Challenge and Reply pass unchanged,
// the data after the Reply is injected from data offset 0; the dialer's
// direction is untouched.
func TestRelayReverse(t *testing.T) {
	const spec = "bitflip@0:6,zero@10:16,bitflip%64KiB:7,block@100000"
	const size = 1<<20 + 3
	data := stream(t, "counter", size)
	result := []byte("result frame stand-in")
	for _, tc := range []struct {
		name string
		l    listener
	}{
		{"reply with data", listener{tok: token, then: data}},
		{"dribbled", listener{tok: token, chunk: 1, then: data}},
		{"big reply", listener{tok: token, chunk: 1000, facts: bigFacts, then: data}},
		{"no token", listener{then: data}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type rx struct{ up, sent []byte }
			got := make(chan rx, 1)
			to := backend(t, func(c *net.TCPConn) {
				var b bytes.Buffer
				r := io.TeeReader(c, &b)
				_, sent, err := tc.l.handshake(r, c)
				if err != nil {
					t.Errorf("listener: %v", err)
				}
				c.CloseWrite()
				io.Copy(io.Discard, r)
				got <- rx{b.Bytes(), sent}
			})
			addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, spec), Seed: 5})

			c := dial(t, addr)
			h := hello(t, wire.Reverse, 2, "counter")
			c.Write(h)
			var down bytes.Buffer
			r := io.TeeReader(c, &down)
			a, err := dialer{tok: tc.l.tok}.handshake(r, c, h)
			if err != nil {
				t.Errorf("dialer: %v", err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				t.Error(err)
			}
			c.Write(result)
			c.CloseWrite()
			res := <-got
			stop()

			if !bytes.Equal(res.up, slices.Concat(h, a, result)) {
				t.Errorf("client->server bytes changed: got %d bytes", len(res.up))
			}
			if !bytes.HasPrefix(down.Bytes(), res.sent) {
				t.Fatal("challenge or reply frame changed")
			}
			out := down.Bytes()[len(res.sent):]
			if want := injected(t, spec, 5, patternOf(t, "counter"), data); !bytes.Equal(out, want) {
				t.Errorf("data differs from the injected stream (%d bytes, want %d)", len(out), len(want))
			}
			if len(out) != size {
				t.FailNow()
			}
			d := diffs(data, out)
			if len(d) < 1+16+16 || d[0] != 0 || out[0]^data[0] != 1<<6 || !bytes.Equal(out[10:26], make([]byte, 16)) {
				t.Errorf("changes start %v", d[:min(len(d), 3)])
			}
			flips := 0
			for _, o := range d {
				if o == 0 || o >= 10 && o < 26 || o >= 100000 && o < 100016 {
					continue
				}
				if data[o]^out[o] != 0x80 {
					t.Fatalf("byte %d: %#x -> %#x", o, data[o], out[o])
				}
				flips++
			}
			if flips != 16 {
				t.Errorf("%d bit flips, want one per 64 KiB: 16", flips)
			}
			if !logs.has(`msg=injected conn=1 stream="stream 2 reverse" kind=bitflip offset=0 bytes=1 `) ||
				!logs.has(`msg=injected conn=1 stream="stream 2 reverse" kind=zero offset=10 bytes=16 `) ||
				!logs.has(fmt.Sprintf(`msg=ended conn=1 stream="stream 2 reverse" client_to_server_bytes=%d server_to_client_bytes=%d injections=19`, len(res.up), down.Len())) ||
				logs.has("untouched") {
				t.Errorf("logs:\n%s", logs)
			}
		})
	}
}

// A listener that refuses, in place of the Challenge or in the final
// Reply, gets nothing injected either way, even bytes it sends after the
// refusal.
func TestRelayRefused(t *testing.T) {
	after := stream(t, "counter", 70000)
	for _, tc := range []struct {
		name   string
		dirn   wire.Direction
		atOnce bool // refused in place of the Challenge; else a bad token
		log    string
	}{
		{"forward at hello", wire.Forward, true, `level=WARN ` + `msg="ended inside a frame: nothing injected" conn=1 stream="stream 0 forward" dir=client->server frame=auth`},
		{"reverse at hello", wire.Reverse, true, `level=WARN msg="no opening frame: relaying untouched" conn=1 stream="stream 0 reverse" dir=server->client frame=challenge error="protocol error: expected a challenge frame, got a reply frame"`},
		{"forward bad token", wire.Forward, false, `msg=ended conn=1 stream="stream 0 forward" `},
		{"reverse bad token", wire.Reverse, false, `level=INFO msg="refused: relaying untouched" conn=1 stream="stream 0 reverse" dir=server->client error="receiver refused the run: authentication failed"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type rx struct{ up, sent []byte }
			got := make(chan rx, 1)
			to := backend(t, func(c *net.TCPConn) {
				var b bytes.Buffer
				r := io.TeeReader(c, &b)
				var sent []byte
				if tc.atOnce {
					if _, _, err := wire.ReadFrame(r, wire.TypeHello); err != nil {
						t.Error(err)
					}
					sent = replyFrame(t, wire.Reply{Error: "busy"})
					c.Write(sent)
				} else {
					var err error
					if _, sent, err = (listener{tok: token}).handshake(r, c); err == nil {
						t.Error("listener accepted a bad token")
					}
				}
				c.Write(after)
				c.CloseWrite()
				io.Copy(io.Discard, r)
				got <- rx{b.Bytes(), slices.Concat(sent, after)}
			})
			addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, "zero@0:1KiB,bitflip%1")})

			c := dial(t, addr)
			h := hello(t, tc.dirn, 0, "counter")
			c.Write(h)
			var down bytes.Buffer
			r := io.TeeReader(c, &down)
			a, err := dialer{tok: []byte("not the listener's token, at all")}.handshake(r, c, h)
			if !errors.As(err, new(*wire.RefusedError)) {
				t.Errorf("dialer: %v, want a refusal", err)
			}
			io.Copy(io.Discard, r)
			c.CloseWrite()
			res := <-got
			stop()

			if !bytes.Equal(res.up, slices.Concat(h, a)) {
				t.Errorf("client->server bytes changed: %d bytes, sent %d", len(res.up), len(h)+len(a))
			}
			if !bytes.Equal(down.Bytes(), res.sent) {
				t.Errorf("server->client bytes changed: %d bytes, sent %d", down.Len(), len(res.sent))
			}
			if !logs.has(tc.log) || !logs.has("msg=ended ", " injections=0") || logs.has("injected ") {
				t.Errorf("want a line with %q, no injection:\n%s", tc.log, logs)
			}
		})
	}
}

// What the relay does not recognise as a data stream it passes untouched.
func TestRelayUntouched(t *testing.T) {
	bad, err := wire.AppendFrame(nil, wire.TypeHello, []byte(`{"direction":"sideways"}`))
	if err != nil {
		t.Fatal(err)
	}
	junk, _ := wire.AppendFrame(nil, wire.TypeHello, []byte(`not json`))
	result, _ := wire.AppendFrame(nil, wire.TypeResult, []byte(`{}`))
	fwd, auth := hello(t, wire.Forward, 0, "zeros"), authFrame(t, "")
	zeros := make([]byte, 100000)
	const unknown = 9 // a protocol version that does not exist
	if wire.Version == unknown {
		t.Fatalf("version %d exists now: pick another unknown one", unknown)
	}
	for _, tc := range []struct {
		name string
		up   []byte
		log  string
	}{
		{"abort", slices.Concat(hello(t, wire.Abort, 0, ""), auth, zeros), `msg=ended conn=1 stream="stream 0 abort" `},
		{"finish", slices.Concat(hello(t, wire.Finish, 1, ""), auth, zeros), `msg=ended conn=1 stream="stream 1 finish" `},
		{"http", append([]byte("GET / HTTP/1.1\r\n\r\n"), zeros...), `level=WARN msg="not a zerocheck hello: relaying untouched" conn=1 error="first bytes 47 45 54`},
		{"zeros", zeros, `msg="not a zerocheck hello: relaying untouched" conn=1 error="first bytes 00`},
		{"version", append([]byte{'Z', 'C', 'H', 'K', unknown, 1, 0, 0}, zeros...), fmt.Sprintf(`msg="not a zerocheck hello: relaying untouched" conn=1 error="peer speaks zerocheck protocol version %d`, unknown)},
		// A sender of the previous release: its hello is not read.
		{"previous version", slices.Concat(withVersion(fwd, wire.Version-1), zeros), fmt.Sprintf(`msg="not a zerocheck hello: relaying untouched" conn=1 error="peer speaks zerocheck protocol version %d`, wire.Version-1)},
		{"result", append(result, zeros...), "expected a hello frame, got a result frame"},
		{"challenge first", append(challengeFrame(t), zeros...), "expected a hello frame, got a challenge frame"},
		{"direction", append(bad, zeros...), `level=WARN msg="hello with unknown direction: relaying untouched" conn=1 stream="stream 0 sideways" direction=sideways`},
		{"undecodable", append(junk, zeros...), `level=WARN msg="undecodable hello: relaying untouched" conn=1 error=`},
		{"short", []byte("ZCH"), "msg=ended conn=1 client_to_server_bytes=3 "},
		{"empty", nil, "msg=ended conn=1 client_to_server_bytes=0 server_to_client_bytes=7 "},
		// A forward hello not followed by an Auth: the data is not found.
		{"no auth", slices.Concat(fwd, zeros), `msg="missing frame: relaying untouched" conn=1 stream="stream 0 forward" dir=client->server frame=auth after=hello error="first bytes 00 00 00`},
		{"result for auth", slices.Concat(fwd, result, zeros), `msg="missing frame: relaying untouched" conn=1 stream="stream 0 forward" dir=client->server frame=auth after=hello error="protocol error: expected a auth frame, got a result frame"`},
		{"hello again", slices.Concat(fwd, fwd, zeros), `msg="missing frame: relaying untouched" conn=1 stream="stream 0 forward" dir=client->server frame=auth after=hello error="protocol error: expected a auth frame, got a hello frame"`},
		{"auth too long", slices.Concat(fwd, header(wire.Version, wire.TypeAuth, 0, wire.MaxAuth+1), zeros), `msg="missing frame: relaying untouched" conn=1 stream="stream 0 forward" dir=client->server frame=auth after=hello error="auth frame claims 1025 bytes: frame too large`},
		{"auth reserved", slices.Concat(fwd, header(wire.Version, wire.TypeAuth, 1, 2), zeros), `msg="missing frame: relaying untouched" conn=1 stream="stream 0 forward" dir=client->server frame=auth after=hello error="protocol error: reserved header bytes`},
		{"auth version", slices.Concat(fwd, withVersion(auth, unknown), zeros), fmt.Sprintf(`msg="missing frame: relaying untouched" conn=1 stream="stream 0 forward" dir=client->server frame=auth after=hello error="peer speaks zerocheck protocol version %d`, unknown)},
		{"auth cut short", slices.Concat(fwd, auth[:len(auth)-1]), `msg="ended inside a frame: nothing injected" conn=1 stream="stream 0 forward" dir=client->server frame=auth`},
		{"auth header cut short", slices.Concat(fwd, auth[:5]), `msg="ended inside a frame: nothing injected" conn=1 stream="stream 0 forward" dir=client->server frame=auth`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			to := backend(t, func(c *net.TCPConn) {
				b, _ := io.ReadAll(c)
				got <- b
				c.Write([]byte("answer!"))
			})
			addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, "random@0:1KiB,bitflip%1")})
			c := dial(t, addr)
			c.Write(tc.up)
			c.CloseWrite()
			back, _ := io.ReadAll(c)
			b := <-got
			stop()
			if !bytes.Equal(b, tc.up) || string(back) != "answer!" {
				t.Errorf("changed: %d of %d bytes up, %q down", len(b), len(tc.up), back)
			}
			if !logs.has(tc.log) || logs.has("injected ") {
				t.Errorf("want a log line with %q, no injection:\n%s", tc.log, logs)
			}
		})
	}
}

// A reverse stream whose listener does not open with a Challenge and a
// Reply is passed through untouched.
func TestRelayReverseWithoutHandshake(t *testing.T) {
	data := stream(t, "counter", 70000)
	chal := challengeFrame(t)
	rep := replyFrame(t, wire.Reply{Version: "test"})
	result, _ := wire.AppendFrame(nil, wire.TypeResult, []byte(`{}`))
	for _, tc := range []struct {
		name string
		down []byte
		log  string
	}{
		{"no challenge", data, `msg="no opening frame: relaying untouched" conn=1 stream="stream 0 reverse" dir=server->client frame=challenge error="first bytes 00 00 00`},
		{"no reply", slices.Concat(chal, data), `msg="missing frame: relaying untouched" conn=1 stream="stream 0 reverse" dir=server->client frame=reply after=challenge error="first bytes 00 00 00`},
		{"result for reply", slices.Concat(chal, result, data), `msg="missing frame: relaying untouched" conn=1 stream="stream 0 reverse" dir=server->client frame=reply after=challenge error="protocol error: expected a reply frame, got a result frame"`},
		{"reply cut short", slices.Concat(chal, rep[:len(rep)-1]), `msg="ended inside a frame: nothing injected" conn=1 stream="stream 0 reverse" dir=server->client frame=reply`},
		{"challenge cut short", chal[:20], `msg="ended inside a frame: nothing injected" conn=1 stream="stream 0 reverse" dir=server->client frame=challenge`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hello(t, wire.Reverse, 0, "counter")
			to := backend(t, func(c *net.TCPConn) {
				io.ReadFull(c, make([]byte, len(h)))
				c.Write(tc.down)
			})
			addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, "zero%1KiB")})
			c := dial(t, addr)
			c.Write(h)
			c.CloseWrite()
			down, _ := io.ReadAll(c)
			stop()
			if !bytes.Equal(down, tc.down) {
				t.Error("bytes changed")
			}
			if !logs.has(tc.log) || logs.has("injected ") {
				t.Errorf("want a line with %q, no injection:\n%s", tc.log, logs)
			}
		})
	}
}

// readFrame reads nothing when the frame is in the buffer already, and
// tells a non-frame by the bytes it has before it reads more: a peer
// that waits for an answer is not waited for.
func TestReadFrame(t *testing.T) {
	f := authFrame(t, strings.Repeat("ab", 32))
	errRead := errors.New("read")
	noRead := iotest.ErrReader(errRead)
	for _, tc := range []struct {
		name string
		have []byte    // in the buffer on entry
		r    io.Reader // the rest
		want wire.Type
		n    int
		hold int // bytes in the buffer on return
		ferr string
		rerr error
	}{
		{"whole", f, noRead, wire.TypeAuth, len(f), len(f), "", nil},
		{"whole and data", slices.Concat(f, []byte("data")), noRead, wire.TypeAuth, len(f), len(f) + 4, "", nil},
		{"foreign", []byte("GET /"), noRead, wire.TypeAuth, 0, 5, "first bytes 47 45 54 20 2f", nil},
		{"foreign after the magic", []byte("ZCHQ"), noRead, wire.TypeAuth, 0, 4, "first bytes 5a 43 48 51", nil},
		{"other type", f[:wire.HeaderSize], noRead, wire.TypeChallenge, 0, wire.HeaderSize, "expected a challenge frame, got a auth frame", nil},
		{"bytewise", f[:2], iotest.OneByteReader(bytes.NewReader(f[2:])), wire.TypeAuth, len(f), len(f), "", nil},
		{"none yet", nil, bytes.NewReader(slices.Concat(f, []byte("data"))), wire.TypeAuth, len(f), len(f) + 4, "", nil},
		{"data with EOF", f[:3], iotest.DataErrReader(bytes.NewReader(f[3:])), wire.TypeAuth, len(f), len(f), "", nil},
		{"header cut short", f[:3], bytes.NewReader(f[3:8]), wire.TypeAuth, 0, 8, "", io.EOF},
		{"payload cut short", f[:3], bytes.NewReader(f[3:20]), wire.TypeAuth, 0, 20, "", io.EOF},
		{"read error", f[:13], noRead, wire.TypeAuth, 0, 13, "", errRead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, 256)
			copy(buf, tc.have)
			n, have, ferr, rerr := readFrame(tc.r, buf, len(tc.have), tc.want)
			if n != tc.n || have != tc.hold || rerr != tc.rerr || (ferr == nil) != (tc.ferr == "") || ferr != nil && !strings.Contains(ferr.Error(), tc.ferr) {
				t.Errorf("readFrame = %d, %d, %v, %v; want %d, %d, %q, %v", n, have, ferr, rerr, tc.n, tc.hold, tc.ferr, tc.rerr)
			}
		})
	}
	// A frame larger than the buffer is refused before it is read.
	buf := make([]byte, 100)
	copy(buf, header(wire.Version, wire.TypeAuth, 0, 200))
	if _, _, ferr, _ := readFrame(noRead, buf, wire.HeaderSize, wire.TypeAuth); ferr == nil || !strings.Contains(ferr.Error(), "does not fit the relay's buffer") {
		t.Errorf("frame larger than the buffer: %v", ferr)
	}
}

// A reset on one side closes the other.
func TestRelayReset(t *testing.T) {
	to := backend(t, func(c *net.TCPConn) {
		c.Read(make([]byte, 1))
		c.SetLinger(0)
		c.Close() // RST
	})
	addr, logs, stop := startRelay(t, Options{To: to, Raw: true})
	c := dial(t, addr)
	c.Write([]byte("x"))
	if _, err := io.ReadAll(c); err != nil {
		t.Logf("client sees %v", err)
	}
	stop()
	if !logs.has(`msg=ended conn=1 stream=raw `, ` error="server->client: read tcp`) {
		t.Errorf("logs:\n%s", logs)
	}
}

// Cancelling the context ends Serve and every open connection.
func TestServeShutdown(t *testing.T) {
	held := make(chan struct{})
	to := backend(t, func(c *net.TCPConn) {
		io.ReadFull(c, make([]byte, 5)) // the relay is pumping
		close(held)
		io.Copy(io.Discard, c) // until the relay closes the connection
	})
	addr, logs, stop := startRelay(t, Options{To: to, Raw: true})
	c := dial(t, addr)
	c.Write([]byte("hello"))
	<-held
	stop() // returns only when every connection has ended
	if _, err := io.ReadAll(c); err != nil {
		t.Logf("client sees %v", err)
	}
	if !logs.has(`msg=ended conn=1 stream=raw `, ` by="the relay's shutdown"`) {
		t.Errorf("logs:\n%s", logs)
	}
}

func TestServeDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	to := ln.Addr().String()
	ln.Close()
	for _, raw := range []bool{false, true} {
		addr, logs, stop := startRelay(t, Options{To: to, Raw: raw})
		c := dial(t, addr)
		if !raw {
			// The relay dials once the Hello has said the stream may go on.
			c.Write(hello(t, wire.Forward, 0, "zeros"))
		}
		b, _ := io.ReadAll(c) // the relay closes the connection
		stop()
		if len(b) != 0 || !logs.has(`level=WARN msg="dial failed" conn=1 stream=`, " from=127.0.0.1:", " to="+to+" error=") {
			t.Errorf("raw %v: read %q; logs:\n%s", raw, b, logs)
		}
	}
}

func TestServeErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := Serve(context.Background(), ln, Options{To: "127.0.0.1:1"}); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
	ln, _ = net.Listen("tcp", "127.0.0.1:0")
	if err := Serve(context.Background(), ln, Options{}); err == nil {
		t.Error("Serve without To returned nil")
	}
	ln, _ = net.Listen("tcp", "127.0.0.1:0")
	if err := Serve(context.Background(), ln, Options{To: "x:1", Inject: []Injection{{Kind: Zero}}}); err == nil {
		t.Error("Serve with an invalid injection returned nil")
	}
	// A context that is already done: nil at once.
	ln, _ = net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Serve(ctx, ln, Options{To: "127.0.0.1:1"}); err != nil {
		t.Errorf("Serve with a done context: %v", err)
	}
}

// A dense rate logs its first maxLogged injections and counts the rest.
func TestRelayLogCap(t *testing.T) {
	got := make(chan []byte, 1)
	to := backend(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		got <- b
	})
	addr, logs, stop := startRelay(t, Options{To: to, Raw: true, Inject: mustParse(t, "bitflip%1:6")})
	c := dial(t, addr)
	c.Write(make([]byte, 3000))
	c.CloseWrite()
	io.ReadAll(c)
	b := <-got
	stop()
	if !bytes.Equal(b, bytes.Repeat([]byte{0x40}, 3000)) {
		t.Error("not every byte flipped")
	}
	if n := strings.Count(logs.String(), "msg=injected conn=1 stream=raw kind=bitflip "); n != maxLogged {
		t.Errorf("%d injection lines, want %d", n, maxLogged)
	}
	if !logs.has("further injections are counted, not logged") || !logs.has("msg=ended conn=1 stream=raw client_to_server_bytes=3000 ", " injections=3000") {
		t.Errorf("logs end:\n%s", logs.lines[len(logs.lines)-2:])
	}
}

// A stream whose pattern an injection cannot change is refused, forward
// or reverse: the dialer gets a refusal Reply that names the item and
// the pattern in place of the Challenge, the receiver is never dialed,
// and Serve ends with the *NoEffectError.
func TestRelayRefusesDrillThatCannotFire(t *testing.T) {
	for _, dirn := range []wire.Direction{wire.Forward, wire.Reverse} {
		t.Run(string(dirn), func(t *testing.T) {
			dialed := make(chan bool, 1)
			to := backend(t, func(c *net.TCPConn) { dialed <- true })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			logs := &logBook{}
			done := make(chan error, 1)
			go func() {
				done <- Serve(context.Background(), ln, Options{To: to, Inject: mustParse(t, "bitflip@0,zero@4096:100"), Log: logs.logger()})
			}()
			c := dial(t, ln.Addr().String())
			c.Write(hello(t, dirn, 1, "zeros"))
			_, p, err := wire.ReadFrame(c, wire.TypeReply)
			if err != nil {
				t.Fatal(err)
			}
			_, err = wire.DecodeReply(p)
			const why = `relay: inject item "zero@4KiB:100" cannot change pattern zeros: it leaves the pattern's 100 bytes at offset 4096 as they are`
			var ref *wire.RefusedError
			if !errors.As(err, &ref) || !strings.HasPrefix(ref.Reason, why) {
				t.Fatalf("reply: %v, want a refusal %q", err, why)
			}
			serr := <-done
			var ne *NoEffectError
			if !errors.As(serr, &ne) || ne.Pattern != "zeros" || ne.Item.String() != "zero@4KiB:100" {
				t.Fatalf("Serve: %v, want the NoEffectError", serr)
			}
			// Serve has returned: every connection it made has ended.
			select {
			case <-dialed:
				t.Error("the relay dialed the receiver for a refused stream")
			default:
			}
			if want := fmt.Sprintf(`level=ERROR msg=refused conn=1 stream="stream 1 %s" error="inject item`, dirn); !logs.has(want) {
				t.Errorf("no %q in\n%s", want, logs)
			}
		})
	}
}
