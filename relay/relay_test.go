package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zerocheck/zerocheck/wire"
)

// logBook collects a relay's log lines.
type logBook struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBook) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
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
	opt.Log = logs.logf
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
	return c.(*net.TCPConn)
}

// injected returns s as a single pass through an Injector would leave it.
func injected(t *testing.T, spec string, seed uint64, s []byte) []byte {
	t.Helper()
	items, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := feed(t, items, seed, s, func() int { return len(s) })
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

func hello(t *testing.T, d wire.Direction, streamNo int, pat string) []byte {
	t.Helper()
	f, err := wire.EncodeHello(wire.Hello{RunID: "0123456789abcdef", Streams: 4, Stream: streamNo, Direction: d, Pattern: pat, Bytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func reply(t *testing.T) []byte {
	t.Helper()
	f, err := wire.EncodeReply(wire.Reply{Version: "test", Facts: []byte(`{"kernel":"6.1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return f
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
	if want := injected(t, spec, 9, data); !bytes.Equal(out, want) {
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
	if !bytes.Equal(out[300000:300100], make([]byte, 100)) || len(diffs(data[2<<20:2<<20+50], out[2<<20:2<<20+50])) != 50 {
		t.Error("zero or random injection missing")
	}
	for _, want := range [][]string{
		{"conn 1 raw: injected bitflip at offset 1000, 1 bytes"},
		{"conn 1 raw: injected block at offset 700001, 48 bytes", "block@700001:3"},
		{"conn 1 raw: injected displace at offset 2500000, 64 bytes"},
		{fmt.Sprintf("conn 1 raw: ended: client->server %d bytes, server->client %d bytes, 5 injections applied", len(data), len(answer))},
	} {
		if !logs.has(want...) {
			t.Errorf("no log line with %q in\n%s", want, logs)
		}
	}
}

// Forward streams: the hello passes unchanged, injections land at data
// offsets after it, each connection in its own offset space.
func TestRelayForward(t *testing.T) {
	const spec = "bitflip@0:1,random@5000:10,block@65530:2"
	const size = 1 << 20
	res := reply(t)
	type rx struct {
		stream int
		b      []byte
	}
	got := make(chan rx, 8)
	to := backend(t, func(c *net.TCPConn) {
		b, err := io.ReadAll(c)
		if err != nil {
			t.Error(err)
		}
		_, p, err := wire.ReadFrame(bytes.NewReader(b), wire.TypeHello)
		if err != nil {
			t.Error(err)
			return
		}
		h, _ := wire.DecodeHello(p)
		got <- rx{h.Stream, b}
		c.Write(res) // stands for the Reply and the Result
	})
	addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, spec)})

	data := make([]byte, size) // zeros
	frames := map[int][]byte{}
	for s := range 4 {
		frames[s] = hello(t, wire.Forward, s, "zeros")
	}
	// A hello that fails validation still says its direction.
	frames[3] = hello(t, wire.Forward, 3, "sine")
	var wg sync.WaitGroup
	for s := range 4 {
		c := dial(t, addr)
		wg.Go(func() {
			f := frames[s]
			if s == 1 {
				// Dribble the frame so that the relay sees it in pieces.
				for i := 0; i < len(f); i += 5 {
					c.Write(f[i:min(i+5, len(f))])
				}
				c.Write(data)
			} else {
				c.Write(append(bytes.Clone(f), data...))
			}
			c.CloseWrite()
			if b, err := io.ReadAll(c); err != nil || !bytes.Equal(b, res) {
				t.Errorf("stream %d: the other direction came back as %d bytes (%v)", s, len(b), err)
			}
		})
	}
	wg.Wait()
	stop()
	close(got)
	want := slices.Concat([]int64{0}, span(5000, 10), span(65530, 32))
	n := 0
	for r := range got {
		n++
		f := frames[r.stream]
		if !bytes.Equal(r.b[:len(f)], f) {
			t.Errorf("stream %d: hello frame changed", r.stream)
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
	}
	if n != 4 {
		t.Errorf("%d streams received", n)
	}
	for s := range 4 {
		if !logs.has(fmt.Sprintf("stream %d forward: injected block at offset 65530, 32 bytes", s)) {
			t.Errorf("no block injection logged for stream %d:\n%s", s, logs)
		}
	}
	if !logs.has("hello does not validate", `"forward"`) {
		t.Errorf("invalid hello not logged:\n%s", logs)
	}
}

// Reverse streams: the listener's Reply passes unchanged, the data after
// it is injected; the dialer's direction is untouched.
func TestRelayReverse(t *testing.T) {
	const spec = "zero@10:16,bitflip%64KiB:7,block@100000"
	const size = 1<<20 + 3
	data := stream(t, "counter", size)
	h, r := hello(t, wire.Reverse, 2, "counter"), reply(t)
	result := []byte("result frame stand-in")
	gotUp := make(chan []byte, 1)
	to := backend(t, func(c *net.TCPConn) {
		f := make([]byte, len(h))
		if _, err := io.ReadFull(c, f); err != nil {
			t.Error(err)
			return
		}
		c.Write(append(bytes.Clone(r), data...))
		c.CloseWrite()
		rest, _ := io.ReadAll(c)
		gotUp <- append(f, rest...)
	})
	addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, spec), Seed: 5})

	c := dial(t, addr)
	c.Write(h)
	down, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(result)
	c.CloseWrite()
	up := <-gotUp
	stop()

	if !bytes.Equal(up, append(bytes.Clone(h), result...)) {
		t.Errorf("client->server bytes changed: got %d bytes", len(up))
	}
	if !bytes.Equal(down[:len(r)], r) {
		t.Fatal("reply frame changed")
	}
	out := down[len(r):]
	if want := injected(t, spec, 5, data); !bytes.Equal(out, want) {
		t.Errorf("data differs from the injected stream (%d bytes, want %d)", len(out), len(want))
	}
	d := diffs(data, out)
	if len(d) < 16+16 || d[0] < 10 || !bytes.Equal(out[10:26], make([]byte, 16)) {
		t.Errorf("changes start %v", d[:min(len(d), 3)])
	}
	flips := 0
	for _, o := range d {
		if o >= 10 && o < 26 || o >= 100000 && o < 100016 {
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
	if !logs.has("conn 1 stream 2 reverse: injected zero at offset 10, 16 bytes") ||
		!logs.has("conn 1 stream 2 reverse: ended: client->server", "18 injections applied") {
		t.Errorf("logs:\n%s", logs)
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
	zeros := make([]byte, 100000)
	for _, tc := range []struct {
		name string
		up   []byte
		log  string
	}{
		{"abort", append(hello(t, wire.Abort, 0, ""), zeros...), "stream 0 abort: ended"},
		{"http", append([]byte("GET / HTTP/1.1\r\n\r\n"), zeros...), "not a zerocheck hello (first bytes 47 45 54"},
		{"zeros", zeros, "not a zerocheck hello (first bytes 00"},
		{"version", append([]byte("ZCHK\x09\x01\x00\x00"), zeros...), "not a zerocheck hello (peer speaks zerocheck protocol version 9"},
		{"result", append(result, zeros...), "expected a hello frame, got a result frame"},
		{"direction", append(bad, zeros...), `unknown direction "sideways": relaying untouched`},
		{"undecodable", append(junk, zeros...), "undecodable hello"},
		{"short", []byte("ZCH"), "ended: client->server 3 bytes"},
		{"empty", nil, "ended: client->server 0 bytes, server->client 7 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			to := backend(t, func(c *net.TCPConn) {
				b, _ := io.ReadAll(c)
				got <- b
				c.Write([]byte("answer!"))
			})
			addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, "zero@0:1KiB,bitflip%1")})
			c := dial(t, addr)
			c.Write(tc.up)
			c.CloseWrite()
			back, _ := io.ReadAll(c)
			b := <-got
			stop()
			if !bytes.Equal(b, tc.up) || string(back) != "answer!" {
				t.Errorf("changed: %d of %d bytes up, %q down", len(b), len(tc.up), back)
			}
			if !logs.has(tc.log) || logs.has("injected") {
				t.Errorf("want a log line with %q, no injection:\n%s", tc.log, logs)
			}
		})
	}
}

// A reverse stream whose listener answers with something other than a
// Reply frame is passed through untouched.
func TestRelayReverseWithoutReply(t *testing.T) {
	data := stream(t, "counter", 70000)
	h := hello(t, wire.Reverse, 0, "counter")
	to := backend(t, func(c *net.TCPConn) {
		io.ReadFull(c, make([]byte, len(h)))
		c.Write(data)
	})
	addr, logs, stop := startRelay(t, Options{To: to, Inject: mustParse(t, "zero%1KiB")})
	c := dial(t, addr)
	c.Write(h)
	c.CloseWrite()
	down, _ := io.ReadAll(c)
	stop()
	if !bytes.Equal(down, data) {
		t.Error("data changed")
	}
	if !logs.has("server->client does not open with a reply frame") {
		t.Errorf("logs:\n%s", logs)
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
	if !logs.has("conn 1 raw: ended (server->client: read tcp") {
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
	if !logs.has("conn 1 raw: ended by the relay's shutdown") {
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
	addr, logs, stop := startRelay(t, Options{To: to})
	c := dial(t, addr)
	b, _ := io.ReadAll(c) // the relay closes the connection
	stop()
	if len(b) != 0 || !logs.has("conn 1: from 127.0.0.1:", "dialing "+to) {
		t.Errorf("read %q; logs:\n%s", b, logs)
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
	if n := strings.Count(logs.String(), "injected bitflip"); n != maxLogged {
		t.Errorf("%d injection lines, want %d", n, maxLogged)
	}
	if !logs.has("further injections are counted, not logged") || !logs.has("ended: client->server 3000 bytes", "3000 injections applied") {
		t.Errorf("logs end:\n%s", logs.lines[len(logs.lines)-2:])
	}
}
