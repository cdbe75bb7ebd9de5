package session

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/report"
)

// TestBindFixedPortTimed: with --bind ip:port the data connection holds
// that port, so control hellos (finish, abort) go from the same address
// on another port; a timed run is clean.
func TestBindFixedPortTimed(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true})
	// find a free port
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := client(t, ClientOptions{Addr: addr, Bind: fmt.Sprintf("127.0.0.1:%d", port), Duration: 300 * time.Millisecond})
	got := c.Run(context.Background())
	reps := stop()
	if got.Verdict != report.Clean || len(reps) != 1 || reps[0].Verdict != report.Clean {
		t.Fatalf("timed run with --bind ip:port: sender %s %q, receiver %+v", got.Verdict, got.Error, reps)
	}
}

// TestDialFailureHalfway: when a later stream cannot connect, the
// earlier ones may already be through their handshake. The sender then
// sends an abort; where not even that gets through (here every connect
// after the first hangs), the receiver's report of the run is
// incomplete and says which stream never came, never clean.
func TestDialFailureHalfway(t *testing.T) {
	addr, stop, waitN := serveWatch(t, ServerOptions{StreamWait: 300 * time.Millisecond})
	front := oneShotFront(t, addr)
	// The handshake timeout leaves the front time to accept and relay the
	// first stream on a loaded machine: were it to miss that, no stream
	// would reach the receiver at all.
	r := client(t, ClientOptions{Addr: front, Streams: 2, Bytes: 2 << 20, HandshakeTimeout: 3 * time.Second}).Run(context.Background())
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "i/o timeout") {
		t.Errorf("sender: %s %q", r.Verdict, r.Error)
	}
	waitN(1)
	reps := stop()
	if reps[0].Verdict != report.Incomplete || !strings.Contains(reps[0].Error, "stream 1 never connected") {
		t.Errorf("receiver: %s %q", reps[0].Verdict, reps[0].Error)
	}
}
