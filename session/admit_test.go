package session

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// TestLocalFloodDoesNotLockOut: connections from this host are not
// exempt from the limits: 150 idle connections from 127.0.0.1 against
// --max-conns 100 (or against --max-conns-per-source 100) neither lock
// out a real sender from another address (127.0.0.2) nor fail /healthz,
// whose check is known by the secret in its hello, not by its address.
func TestLocalFloodDoesNotLockOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  ServerOptions
	}{
		{"max-conns", ServerOptions{MaxConns: 100}},
		{"max-conns-per-source", ServerOptions{MaxConnsPerSource: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.HandshakeTimeout = time.Minute // the idle ones stay
			addr, stop := serve(t, tc.opt)
			s, _ := serverRuns(addr)
			var closed atomic.Int64
			for range 150 {
				c := dialFrom(t, "127.0.0.1", addr)
				go func() {
					io.Copy(io.Discard, c) // until the receiver closes it
					closed.Add(1)
				}()
			}
			waitFor(t, func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return s.conns == 100 && closed.Load() == 50
			}, "100 idle connections held, the 50 oldest evicted")
			r := client(t, ClientOptions{Addr: addr, Bind: "127.0.0.2", Bytes: 1 << 20}).Run(context.Background())
			if r.Verdict != report.Clean {
				t.Fatalf("the sender from 127.0.0.2: %s %q", r.Verdict, r.Error)
			}
			h := httptest.NewServer(s.HealthHandler(0, nil))
			defer h.Close()
			resp, err := http.Get(h.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got Health
			json.Unmarshal(b, &got)
			if resp.StatusCode != http.StatusOK || got.Status != "ok" {
				t.Fatalf("/healthz: %d %s", resp.StatusCode, b)
			}
			if reps := stop(); len(reps) != 1 || reps[0].Verdict != report.Clean {
				t.Fatalf("reports: %+v", reps)
			}
		})
	}
}

// TestRefusalLogBounded: what a stranger makes the receiver log is
// bounded, and never at the level of evidence.
func TestRefusalLogBounded(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var log syncBuffer
	s, _ := NewServer(ServerOptions{Token: token, Logger: slog.New(slog.NewTextHandler(&log, nil)), Report: func(report.Report) {}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	long, _ := wire.EncodeHello(wire.Hello{RunID: strings.Repeat("a", 65000), Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 1, Nonce: wire.NewNonce()})
	bad, _ := wire.EncodeHello(wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 1, Nonce: wire.NewNonce()})
	bad[len(bad)-1] ^= 1
	for _, b := range [][]byte{long, bad} {
		c, _ := net.Dial("tcp", ln.Addr().String())
		c.Write(b)
		wire.ReadFrame(c, wire.TypeChallenge)
		c.Close()
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	out := log.String()
	if n := len(out); n > 8<<10 {
		t.Errorf("a stranger's hello made %d bytes of log", n)
	}
	if strings.Contains(out, "level=ERROR") || !strings.Contains(out, "control channel corrupt") {
		t.Errorf("a stranger's corrupt hello: want a warning, got:\n%s", out)
	}
}

func TestParseAllowEmpty(t *testing.T) {
	for _, in := range [][]string{nil, {""}, {"", " "}} {
		if _, err := ParseAllow(in); err == nil {
			t.Errorf("ParseAllow(%q) allowed everyone", in)
		}
	}
	got, err := ParseAllow([]string{"::ffff:10.0.0.0/104"})
	if err != nil || got[0].String() != "10.0.0.0/8" {
		t.Errorf("IPv4-mapped network: %v %v", got, err)
	}
}

// TestEvictedStaysOpen: an evicted connection closes at once, even when
// the eviction comes before its goroutine has started its handshake
// (whose read deadline would otherwise replace the eviction's): with
// every place but one taken by a run, strangers arriving back to back
// never hold more than --max-conns sockets for long.
func TestEvictedStaysOpen(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxConns: 4, HandshakeTimeout: 5 * time.Second})
	s, _ := serverRuns(addr)
	done := legit(t, addr, ClientOptions{Streams: 3})
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.conns == 3 && len(s.handshakes) == 0 }, "the run's 3 streams through their handshake")
	for range 100 {
		dialFrom(t, "127.0.0.2", addr) // idle strangers, back to back
	}
	time.Sleep(500 * time.Millisecond) // an eviction cuts at once: far under the 5s deadline
	s.mu.Lock()
	n := s.conns
	s.mu.Unlock()
	done()
	stop()
	if n > 4 {
		t.Errorf("--max-conns 4, but %d connections open 500ms after the evictions", n)
	}
}
