package session

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestHealthBeyondLimits: the health check runs whatever --max-bytes
// says, and through a full house of idle strangers.
func TestHealthBeyondLimits(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxBytes: 512 << 10, MaxConns: 4, HandshakeTimeout: 5 * time.Second})
	s, _ := serverRuns(addr)
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		dialFrom(t, from, addr)
	}
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.conns == 4 }, "a full house")
	if _, err := s.Check(context.Background()); err != nil {
		t.Errorf("health check: %v", err)
	}
	stop()
}

// TestHealthEvictedByFlood: under a flood of connects from elsewhere,
// every health check passes. The check's connection is never evicted
// once its hello (with the check's secret) is read; before that it is a
// connection like any other, though the last of the idle ones to go, and
// a check pushed out by the flood tries again. (It used to be exempt
// because it came from this host to itself: any local connection was.)
func TestHealthEvictedByFlood(t *testing.T) {
	addr, stop := serve(t, ServerOptions{MaxConns: 8, HandshakeTimeout: 5 * time.Second})
	s, _ := serverRuns(addr)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			for ctx.Err() == nil {
				if c, err := d.Dial("tcp", addr); err == nil {
					go func() { io.Copy(io.Discard, c); c.Close() }()
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	failed := 0
	for range 10 {
		if _, err := s.Check(context.Background()); err != nil {
			failed++
			t.Log(err)
		}
	}
	cancel()
	wg.Wait()
	stop()
	if failed > 0 {
		t.Errorf("%d of 10 health checks failed under a connect flood", failed)
	}
}
