package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// Every limit and refusal of a receiver left running, each checked
// against a real listener while a legitimate sender is served at the
// same time.

func TestTokenRefusals(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Token: token})
	done := legit(t, addr, ClientOptions{Token: token})

	// No token: refused with a reason, before any pattern byte.
	c := dialFrom(t, "127.0.0.2", addr)
	err := handshakeToken(c, forward("00000000000000a1", 1<<20), nil)
	var ref *wire.RefusedError
	if !errors.As(err, &ref) || !strings.Contains(ref.Reason, "requires a token") {
		t.Fatalf("no token: %v", err)
	}
	// A wrong token.
	c = dialFrom(t, "127.0.0.2", addr)
	err = handshakeToken(c, forward("00000000000000a2", 1<<20), []byte("not-the-token-at-all"))
	if !errors.As(err, &ref) || !strings.Contains(ref.Reason, "authentication failed") {
		t.Fatalf("wrong token: %v", err)
	}
	// A right MAC for another hello (a replayed or altered plan).
	c = dialFrom(t, "127.0.0.2", addr)
	h := forward("00000000000000a3", 1<<20)
	h.Nonce = wire.NewNonce()
	b, _ := wire.EncodeHello(h)
	c.Write(b)
	_, p, _ := wire.ReadFrame(c, wire.TypeChallenge)
	ch, _ := wire.DecodeChallenge(p)
	h.Bytes++
	other, _ := wire.EncodeHello(h)
	a, _ := wire.EncodeAuth(wire.Auth{MAC: wire.Sign(token, wire.Dialer, ch.Nonce, wire.Payload(other))})
	c.Write(a)
	expectRefusal(t, c, "authentication failed")
	// The real Client without a token is told what to do.
	r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background())
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "requires a token: pass --token-file") {
		t.Fatalf("client without token: %s %q", r.Verdict, r.Error)
	}
	done()
	if reps := stop(); len(reps) != 1 || reps[0].Verdict != report.Clean {
		t.Fatalf("receiver reports: %+v", reps)
	}
}

// TestTokenProof: the sender believes only a receiver that proves the
// token back.
func TestTokenProof(t *testing.T) {
	// A receiver without a token, to a sender with one.
	addr, _ := serve(t, ServerOptions{})
	r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20, Token: token}).Run(context.Background())
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "checks no token") {
		t.Fatalf("receiver without a token: %s %q", r.Verdict, r.Error)
	}
	// A receiver that claims a token but cannot prove it.
	addr = fakeReceiverAuth(t, wire.AuthHMAC, func(c net.Conn, h wire.Hello) {
		b, _ := wire.EncodeReply(wire.Reply{Proof: strings.Repeat("00", 32)})
		c.Write(b)
	})
	r = client(t, ClientOptions{Addr: addr, Bytes: 1 << 20, Token: token}).Run(context.Background())
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "could not prove it holds the token") {
		t.Fatalf("false proof: %s %q", r.Verdict, r.Error)
	}
	// Same token on both ends: clean, and control connections (finish
	// of a timed run) authenticate too.
	addr, stop := serve(t, ServerOptions{Token: token, Once: true})
	r = client(t, ClientOptions{Addr: addr, Duration: 200 * time.Millisecond, Streams: 2, Bidir: true, Token: token}).Run(context.Background())
	if reps := stop(); r.Verdict != report.Clean || len(reps) != 1 || reps[0].Verdict != report.Clean {
		t.Fatalf("timed bidir run with a token: %s %q; %+v", r.Verdict, r.Error, reps)
	}
}

func TestAllow(t *testing.T) {
	allow, err := ParseAllow([]string{"127.0.0.3/32", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serve(t, ServerOptions{Allow: allow})
	done := legit(t, addr, ClientOptions{Bind: "127.0.0.3"})
	// A stranger is refused before it says anything.
	c := dialFrom(t, "127.0.0.2", addr)
	expectRefusal(t, c, "address 127.0.0.2 is not allowed")
	// This host to itself is no exception: refused after its hello,
	// which does not carry the health check's secret, and one with a
	// wrong secret is refused for that.
	c = dialFrom(t, "127.0.0.1", addr)
	var ref *wire.RefusedError
	if err := handshake(t, c, wire.Hello{RunID: "00000000000000b1", Direction: wire.Abort}); !errors.As(err, &ref) || !strings.Contains(ref.Reason, "address 127.0.0.1 is not allowed (--allow)") {
		t.Fatalf("this host without the secret: %v", err)
	}
	c = dialFrom(t, "127.0.0.3", addr)
	if err := handshake(t, c, wire.Hello{RunID: "00000000000000b2", Direction: wire.Abort, Check: "0123456789abcdef"}); !errors.As(err, &ref) || !strings.Contains(ref.Reason, "the health check secret is not this receiver's") {
		t.Fatalf("a wrong secret: %v", err)
	}
	// The health check itself is served.
	s, _ := serverRuns(addr)
	if _, err := s.Check(context.Background()); err != nil {
		t.Fatalf("health check outside --allow: %v", err)
	}
	done()
	if reps := stop(); len(reps) != 1 || reps[0].Verdict != report.Clean {
		t.Fatalf("receiver reports: %+v", reps)
	}
}

func TestParseAllow(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
		err  string
	}{
		{[]string{"10.0.0.0/8", "192.0.2.7", "fd00::/8", ""}, "[10.0.0.0/8 192.0.2.7/32 fd00::/8]", ""},
		{[]string{"10.0.0.1/8"}, "", "host bits set: did you mean 10.0.0.0/8?"},
		{[]string{"hostB"}, "", `"hostB": want a network`},
		{[]string{"10.0.0.0/33"}, "", "want a network"},
	} {
		got, err := ParseAllow(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseAllow(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("ParseAllow(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	// An address matches its network whether it arrives as IPv4 or as
	// IPv4-mapped IPv6.
	s := &Server{opt: ServerOptions{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	mapped := addrOf(&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3")})
	if !s.allowed(mapped) {
		t.Error("IPv4-mapped address not matched by its IPv4 network")
	}
}

func TestMaxSessions(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxSessions: 1})
	done := legit(t, addr, ClientOptions{})
	// Wait until the legitimate run holds the one session.
	waitFor(t, func() bool { _, n := serverRuns(addr); return n }, "the legitimate run to start")
	c := dialFrom(t, "127.0.0.2", addr)
	err := handshake(t, c, forward("00000000000000c1", 1<<20))
	var ref *wire.RefusedError
	if !errors.As(err, &ref) || !strings.Contains(ref.Reason, "busy: 1 runs under way (--max-sessions 1)") {
		t.Fatalf("second session: %v", err)
	}
	done()
	// Once the first is done, the next is served.
	if r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background()); r.Verdict != report.Clean {
		t.Fatalf("after the first run: %s %q", r.Verdict, r.Error)
	}
	if reps := stop(); len(reps) != 2 {
		t.Fatalf("%d reports, want 2", len(reps))
	}
}

func TestSlowHandshake(t *testing.T) {
	addr, stop := serve(t, ServerOptions{HandshakeTimeout: 300 * time.Millisecond})
	done := legit(t, addr, ClientOptions{HandshakeTimeout: time.Second})
	// Silent from the start, and silent after the hello: each is cut off
	// at the handshake deadline, and told why.
	var silent [20]net.Conn
	for i := range silent {
		silent[i] = dialFrom(t, "127.0.0.2", addr)
	}
	half := dialFrom(t, "127.0.0.2", addr)
	h := forward("00000000000000d1", 1<<20)
	h.Nonce = wire.NewNonce()
	b, _ := wire.EncodeHello(h)
	half.Write(b)
	if _, _, err := wire.ReadFrame(half, wire.TypeChallenge); err != nil {
		t.Fatal(err)
	}
	for _, c := range silent {
		expectRefusal(t, c, "no hello from the peer within 300ms")
	}
	expectRefusal(t, half, "no auth from the peer within 300ms")
	done()
	stop()
}

func TestMaxConnsPerSource(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxConnsPerSource: 5, HandshakeTimeout: 5 * time.Second})
	var idle []net.Conn
	for range 5 {
		idle = append(idle, dialFrom(t, "127.0.0.2", addr))
	}
	s, _ := serverRuns(addr)
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.conns == 5 }, "5 connections admitted")
	// The sixth from that host takes the place of its oldest idle one;
	// another host is served meanwhile.
	done := legit(t, addr, ClientOptions{})
	c := dialFrom(t, "127.0.0.2", addr)
	expectRefusal(t, idle[0], "evicted: the receiver is full of connections that have not finished their handshake")
	if err := handshake(t, c, wire.Hello{RunID: "00000000000000e1", Direction: wire.Abort}); err != nil {
		t.Fatalf("the sixth: %v", err)
	}
	done()
	// When none of that host's connections is in its handshake, the
	// next one is refused.
	for _, c := range idle {
		c.Close()
	}
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.conns == 0 }, "the idle connections gone")
	run := legit(t, addr, ClientOptions{Bind: "127.0.0.2", Streams: 5})
	waitFor(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.perSource[netip.MustParsePrefix("127.0.0.2/32")] == 5 && len(s.handshakes) == 0
	}, "the run's 5 streams through their handshake")
	expectRefusal(t, dialFrom(t, "127.0.0.2", addr), "too many connections from 127.0.0.2/32: 5 open (--max-conns-per-source)")
	run()
	stop()
}

// TestMaxConns: when every connection is taken, the oldest one still in
// its handshake makes room, so idle strangers cannot lock out a real
// sender; connections past their handshake are never pushed out.
func TestMaxConns(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxConns: 3, HandshakeTimeout: 5 * time.Second})
	s, _ := serverRuns(addr)
	admitted := func(n int) func() bool {
		return func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.conns == n }
	}
	var idle []net.Conn
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		idle = append(idle, dialFrom(t, from, addr))
		waitFor(t, admitted(len(idle)), "the idle connection admitted")
	}
	// A real sender gets in: the oldest idle connection is pushed out,
	// and told why.
	if r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background()); r.Verdict != report.Clean {
		t.Fatalf("real sender among idle strangers: %s %q", r.Verdict, r.Error)
	}
	expectRefusal(t, idle[0], "evicted: the receiver is full of connections that have not finished their handshake")
	// Streams past their handshake are not pushed out: with all three
	// taken by a run, a newcomer is refused.
	for _, c := range idle {
		c.Close()
	}
	waitFor(t, admitted(0), "the idle connections gone")
	done := legit(t, addr, ClientOptions{Streams: 3})
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.conns == 3 && len(s.handshakes) == 0 }, "the run's 3 streams through their handshake")
	expectRefusal(t, dialFrom(t, "127.0.0.5", addr), "busy: 3 connections open (--max-conns)")
	done()
	stop()
}

func TestRunLimits(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxBytes: 4 << 20, MaxDuration: time.Minute, StreamWait: 100 * time.Millisecond, IdleTimeout: time.Second, HandshakeTimeout: 500 * time.Millisecond})
	done := legit(t, addr, ClientOptions{Bytes: 4 << 20})
	var ref *wire.RefusedError
	// Plans over the limits are refused up front.
	for _, tc := range []struct {
		h    wire.Hello
		want string
	}{
		{forward("00000000000000f1", 8<<20), "more than this receiver allows (--max-bytes 4194304)"},
		{wire.Hello{RunID: "00000000000000f2", Streams: 4, Direction: wire.Forward, Pattern: "zeros", Bytes: 2 << 20}, "--max-bytes"},
		{wire.Hello{RunID: "00000000000000f3", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Duration: time.Hour}, "longer than this receiver allows (--max-duration 1m0s)"},
	} {
		c := dialFrom(t, "127.0.0.2", addr)
		if err := handshake(t, c, tc.h); !errors.As(err, &ref) || !strings.Contains(ref.Reason, tc.want) {
			t.Errorf("%+v: %v, want a refusal with %q", tc.h, err, tc.want)
		}
	}
	done()
	// A timed run is cut at the byte limit...
	r := client(t, ClientOptions{Addr: addr, Duration: 30 * time.Second}).Run(context.Background())
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "the run moved more than this receiver allows (--max-bytes 4194304)") {
		t.Fatalf("timed run over --max-bytes: %s %q", r.Verdict, r.Error)
	}
	// ...and a sender that goes on past its planned duration is cut too.
	c := dialFrom(t, "127.0.0.2", addr)
	h := wire.Hello{RunID: "00000000000000f4", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Duration: 100 * time.Millisecond}
	if err := handshake(t, c, h); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	buf := make([]byte, 1024)
	for time.Since(start) < 10*time.Second {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(buf); err != nil {
			break
		}
		time.Sleep(time.Millisecond) // stays under the byte limit
	}
	reps := stop()
	var over *report.Report
	for i := range reps {
		if reps[i].RunID == h.RunID {
			over = &reps[i]
		}
	}
	if over == nil || over.Verdict != report.Incomplete || !strings.Contains(over.Error, "the sender went on sending past its planned 100ms: stream 0 still arriving ") ||
		!strings.HasSuffix(over.Error, " past it, and the sender never said it had finished") {
		t.Fatalf("sender past its duration: %+v", over)
	}
}

// TestPanicStaysInItsSession: a panic while serving one run's stream
// ends that run, reported incomplete, while another run goes on clean
// and the server serves the next.
func TestPanicStaysInItsSession(t *testing.T) {
	const doomed = "00000000000000aa"
	streamHook = func(h wire.Hello) {
		if h.RunID == doomed {
			panic("test: a bug in one session")
		}
	}
	t.Cleanup(func() { streamHook = nil })
	addr, stop := serve(t, ServerOptions{})
	done := legit(t, addr, ClientOptions{})
	r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20, RunID: doomed}).Run(context.Background())
	if r.Verdict != report.Incomplete {
		t.Fatalf("the doomed run: %s %q", r.Verdict, r.Error)
	}
	done()
	if r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background()); r.Verdict != report.Clean {
		t.Fatalf("the run after: %s %q", r.Verdict, r.Error)
	}
	reps := stop()
	found := false
	for _, x := range reps {
		if x.RunID == doomed {
			found = true
			if x.Verdict != report.Incomplete || !strings.Contains(x.Error, "receiver internal error: test: a bug in one session") {
				t.Errorf("doomed run's report: %s %q", x.Verdict, x.Error)
			}
		}
	}
	if !found || len(reps) != 3 {
		t.Fatalf("%d reports, doomed run reported: %v", len(reps), found)
	}
}

// TestReportPanic: a report function that panics loses that report,
// loudly, and nothing else.
func TestReportPanic(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	n := 0
	var mu sync.Mutex
	s, _ := NewServer(ServerOptions{Logger: testLogger(t), Report: func(r report.Report) {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 1 {
			panic("test: disk on fire")
		}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, ln) }()
	for range 2 {
		if r := client(t, ClientOptions{Addr: ln.Addr().String(), Bytes: 1 << 20}).Run(context.Background()); r.Verdict != report.Clean {
			t.Fatalf("%s %q", r.Verdict, r.Error)
		}
	}
	cancel()
	<-done
	if n != 2 {
		t.Fatalf("%d reports delivered, want 2", n)
	}
}

// TestAcceptLoopFailure: when the listener dies, Serve returns its error
// at once and the runs under way are ended and reported, not left
// half-alive.
func TestAcceptLoopFailure(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var mu sync.Mutex
	var reps []report.Report
	s, _ := NewServer(ServerOptions{Logger: testLogger(t), Report: func(r report.Report) {
		mu.Lock()
		reps = append(reps, r)
		mu.Unlock()
	}})
	done := make(chan error)
	go func() { done <- s.Serve(context.Background(), ln) }()
	c := client(t, ClientOptions{Addr: ln.Addr().String(), Duration: time.Hour})
	got := make(chan report.Report)
	go func() { got <- c.Run(context.Background()) }()
	waitFor(t, func() bool { return c.Progress().Sent > 0 }, "the run to start")
	ln.Close()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve returned %v, want the accept error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve went on without its listener")
	}
	if r := <-got; r.Verdict != report.Incomplete {
		t.Fatalf("the run under way: %s", r.Verdict)
	}
	if len(reps) != 1 || reps[0].Verdict != report.Incomplete {
		t.Fatalf("reports %+v", reps)
	}
}

func TestHealthCheck(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var reported []report.Report
	var mu sync.Mutex
	allow, _ := ParseAllow([]string{"127.0.0.3/32"}) // not this host's own address
	s, _ := NewServer(ServerOptions{Logger: testLogger(t), Token: token, Allow: allow, MaxSessions: 1, Report: func(r report.Report) {
		mu.Lock()
		reported = append(reported, r)
		mu.Unlock()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, ln) }()
	h := httptest.NewServer(s.HealthHandler(0, nil))
	defer h.Close()
	get := func() (int, Health) {
		resp, err := http.Get(h.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got Health
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return resp.StatusCode, got
	}
	// A real run through the listener, with the token, while a real run
	// holds the only session: health checks do not count against it.
	busy := legit(t, ln.Addr().String(), ClientOptions{Token: token, Bind: "127.0.0.3"})
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.runs) > 0 }, "the run to start")
	code, got := get()
	if code != 200 || got.Status != "ok" || got.Verdict != report.Clean || got.RunID == "" {
		t.Fatalf("healthy receiver: %d %+v", code, got)
	}
	busy()
	// The check's run is not a report: the real run's is the only one.
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(reported) }
	waitFor(t, func() bool { return count() == 1 }, "the real run's report")
	time.Sleep(50 * time.Millisecond)
	if n := count(); n != 1 {
		t.Fatalf("%d reports, want only the real run's", n)
	}
	// A failing extra check fails the endpoint.
	bad := httptest.NewServer(s.HealthHandler(0, func() error { return errors.New("disk full") }))
	defer bad.Close()
	if resp, err := http.Get(bad.URL); err != nil || resp.StatusCode != 503 {
		t.Fatalf("failing extra check: %v %v", resp, err)
	}
	// A dead listener is a failed health check, not a stale "ok".
	cancel()
	<-done
	code, got = get()
	if code != 503 || got.Status != "fail" || got.Error == "" {
		t.Fatalf("stopped receiver: %d %+v", code, got)
	}
}

// TestDialable: a wildcard listener is checked over IPv4 loopback first,
// which works on a host with IPv6 disabled, then IPv6 loopback.
func TestDialable(t *testing.T) {
	for _, tc := range []struct {
		addr *net.TCPAddr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 7777}, "[127.0.0.1:7777 [::1]:7777]"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 7777}, "[127.0.0.1:7777 [::1]:7777]"},
		{&net.TCPAddr{Port: 7777}, "[127.0.0.1:7777 [::1]:7777]"},
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 7777}, "[10.0.0.2:7777]"},
		{&net.TCPAddr{IP: net.ParseIP("fd00::2"), Port: 7777}, "[[fd00::2]:7777]"},
	} {
		if got := fmt.Sprint(dialable(tc.addr)); got != tc.want {
			t.Errorf("dialable(%v) = %s, want %s", tc.addr, got, tc.want)
		}
	}
	// A probe that comes before Serve waits for it rather than failing.
	s, _ := NewServer(ServerOptions{Logger: testLogger(t), Report: func(report.Report) {}})
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := s.Check(context.Background())
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, ln) }()
	if err := <-got; err != nil {
		t.Fatalf("check on a wildcard listener, probed before Serve: %v", err)
	}
	cancel()
	<-done
}

// TestSlowDials: a run of many streams over a path where each connect
// takes long (here: a front whose listen backlog drops SYNs, so each
// connect waits for a retransmit) authenticates each stream as it comes
// up, within the receiver's handshake deadline, not after the last dial.
func TestSlowDials(t *testing.T) {
	addr, stop := serve(t, ServerOptions{HandshakeTimeout: 3 * time.Second})
	front := slowFront(t, addr, 300*time.Millisecond)
	r := client(t, ClientOptions{Addr: front, Streams: 8, Bytes: 8 << 20, HandshakeTimeout: 30 * time.Second}).Run(context.Background())
	stop()
	if r.Verdict != report.Clean {
		t.Fatalf("8 streams through slow connects: %s %q", r.Verdict, r.Error)
	}
}

// TestSealedResults: with a token, each result carries the verifying
// end's MAC over the connection's nonce and the result: the receiver
// seals what it sends, and a sender believes no result without a good
// seal (a forger in the path cannot turn corrupt into clean).
func TestSealedResults(t *testing.T) {
	// The receiver's seal checks out, and not for an altered result.
	addr, _ := serve(t, ServerOptions{Token: token})
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	h := forward("00000000000000d7", 1<<20)
	h.Nonce = wire.NewNonce()
	hb, _ := wire.EncodeHello(h)
	c.Write(hb)
	_, p, _ := wire.ReadFrame(c, wire.TypeChallenge)
	ch, _ := wire.DecodeChallenge(p)
	ab, _ := wire.EncodeAuth(wire.Auth{MAC: wire.Sign(token, wire.Dialer, ch.Nonce, wire.Payload(hb))})
	c.Write(ab)
	if _, p, err := wire.ReadFrame(c, wire.TypeReply); err != nil || func() error { _, err := wire.DecodeReply(p); return err }() != nil {
		t.Fatalf("handshake: %v", err)
	}
	c.Write(make([]byte, 1<<20))
	c.(*net.TCPConn).CloseWrite()
	_, res, err := wire.ReadFrame(c, wire.TypeResult)
	if err != nil {
		t.Fatal(err)
	}
	_, sp, err := wire.ReadFrame(c, wire.TypeAuth)
	if err != nil {
		t.Fatalf("no seal after the result: %v", err)
	}
	sl, _ := wire.DecodeAuth(sp)
	if !wire.Verify(token, wire.ListenerResult, ch.Nonce, res, sl.MAC) {
		t.Fatal("the receiver's seal does not check out")
	}
	res[len(res)/2] ^= 1
	if wire.Verify(token, wire.ListenerResult, ch.Nonce, res, sl.MAC) {
		t.Fatal("an altered result passes the seal")
	}

	// A receiver that proves the token but sends an unsealed or
	// wrongly sealed result is not believed.
	for _, forged := range []string{"none", "wrong"} {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, hp, _ := wire.ReadFrame(c, wire.TypeHello)
			h, _ := wire.DecodeHello(hp)
			nonce := wire.NewNonce()
			b, _ := wire.EncodeChallenge(wire.Challenge{Nonce: nonce, Auth: wire.AuthHMAC})
			c.Write(b)
			wire.ReadFrame(c, wire.TypeAuth)
			b, _ = wire.EncodeReply(wire.Reply{Proof: wire.Sign(token, wire.Listener, nonce, hp)})
			c.Write(b)
			io.Copy(io.Discard, c)
			r := report.Report{Schema: report.Schema, Verdict: report.Clean, Pattern: "zeros", BytesVerified: h.Bytes,
				Regions: []report.Region{}, RepeatedBlocks: []report.RepeatedBlock{}}
			tag(&r, h.Stream, report.Forward)
			b, _ = wire.EncodeResult(r)
			if forged == "wrong" {
				a, _ := wire.EncodeAuth(wire.Auth{MAC: wire.Sign(token, wire.DialerResult, nonce, wire.Payload(b))})
				b = append(b, a...)
			}
			c.Write(b)
		}()
		r := client(t, ClientOptions{Addr: ln.Addr().String(), Bytes: 1 << 20, Token: token}).Run(context.Background())
		ln.Close()
		if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "the result could not be authenticated") {
			t.Errorf("result with seal %q: %s %q", forged, r.Verdict, r.Error)
		}
	}
}

// TestReverseMaxBytes: --max-bytes bounds what the receiver sends too,
// and a later stream cannot plan more than the first.
func TestReverseMaxBytes(t *testing.T) {
	const limit = 1 << 20
	addr, stop := serve(t, ServerOptions{MaxBytes: limit})
	c, err := hello(t, addr, wire.Hello{RunID: "00000000000000a1", Streams: 1, Direction: wire.Reverse, Pattern: "zeros", Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, c)
	c.Close()
	c0, err := hello(t, addr, wire.Hello{RunID: "00000000000000a2", Streams: 2, Direction: wire.Forward, Pattern: "zeros", Bytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	_, err = hello(t, addr, wire.Hello{RunID: "00000000000000a2", Stream: 1, Streams: 2, Direction: wire.Reverse, Pattern: "zeros", Bytes: 64 << 20})
	var ref *wire.RefusedError
	if !errors.As(err, &ref) || !strings.Contains(ref.Reason, "does not match the plan") {
		t.Errorf("a second stream planning 64 MiB: %v", err)
	}
	stop()
	if n > limit {
		t.Errorf("--max-bytes %d, but a timed reverse stream sent %d", limit, n)
	}
}

// TestMaxDurationExact: a timed run as long as --max-duration is served
// whole, with time for its goodbye.
func TestMaxDurationExact(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true, MaxDuration: time.Second})
	r := client(t, ClientOptions{Addr: addr, Duration: time.Second}).Run(context.Background())
	reps := stop()
	if r.Verdict != report.Clean || reps[0].Verdict != report.Clean {
		t.Errorf("a run of exactly --max-duration: %q / %q", r.Error, reps[0].Error)
	}
}

// TestRawLimits: --raw is bound by the session, byte and time limits
// too.
func TestRawLimits(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Raw: true, Verify: verify.Options{Pattern: zeros}, MaxSessions: 1, MaxBytes: 1 << 20, MaxDuration: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 64<<10)
			for end := time.Now().Add(time.Second); time.Now().Before(end); {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
		})
	}
	wg.Wait()
	for _, r := range stop() {
		// The budget is taken a read at a time: it may overshoot by one.
		if r.Verdict == report.Clean || r.BytesVerified > 1<<20+verify.ReadBufferSize {
			t.Errorf("raw run past its limits: %s, %d bytes, %q", r.Verdict, r.BytesVerified, r.Error)
		}
	}
	// A slow raw stream under the byte limit is cut at --max-duration.
	addr, stop = serve(t, ServerOptions{Raw: true, Once: true, Verify: verify.Options{Pattern: zeros}, MaxDuration: 300 * time.Millisecond})
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	for range 20 {
		c.Write(make([]byte, 100))
		time.Sleep(50 * time.Millisecond)
	}
	if r := stop()[0]; r.Verdict != report.Incomplete || !strings.Contains(r.Error, "--max-duration 300ms") {
		t.Errorf("slow raw stream: %s %q", r.Verdict, r.Error)
	}
}

// TestRawStreamsOverMaxSessions: the raw streams of one sender are one
// session: "send --raw --streams 9" is served whole by a receiver of
// --max-sessions 8.
func TestRawStreamsOverMaxSessions(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Raw: true, Verify: verify.Options{Pattern: zeros}})
	c := client(t, ClientOptions{Addr: addr, Raw: true, Streams: 9, Duration: time.Second, Rate: 80e6})
	n, err := c.RunRaw(context.Background())
	reps := stop()
	if err != nil || len(reps) != 9 {
		t.Fatalf("raw run of 9 streams: sent %d, %v; %d receiver reports", n, err, len(reps))
	}
}
