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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// TestMinRateCutsSlowRuns: eight strangers (no token) complete a valid
// hello and then send a byte every 100 ms. They hold every session slot:
// a real sender is refused as busy, and health says "saturated" (503)
// though its own check still passes. Once their grace is over they are
// cut short, incomplete, each told why, and the real sender runs clean.
func TestMinRateCutsSlowRuns(t *testing.T) {
	const grace = 3 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reps []report.Report
	s, err := NewServer(ServerOptions{Logger: testLogger(t), MinRate: 1e6, MinRateGrace: grace, Report: func(r report.Report) {
		mu.Lock()
		reps = append(reps, r)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- s.Serve(ctx, ln) }()
	addr := ln.Addr().String()
	health := httptest.NewServer(s.HealthHandler(0, nil))
	defer health.Close()

	results := make([]report.Report, DefaultMaxSessions)
	errs := make([]error, DefaultMaxSessions)
	var wg sync.WaitGroup
	for i := range DefaultMaxSessions {
		wg.Go(func() {
			results[i], errs[i] = trickle(t, addr, fmt.Sprintf("00000000000001%02x", i), fmt.Sprintf("127.0.0.%d", 2+i))
		})
	}
	waitFor(t, func() bool { return s.saturated() != "" }, "the slow runs to hold every slot")

	// A real sender is turned away while they do.
	r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background())
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "busy: 8 runs under way") {
		t.Fatalf("real sender while the slots are held: %s %q", r.Verdict, r.Error)
	}
	// Health says so.
	resp, err := http.Get(health.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h Health
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := "saturated: all 8 session slots are held by runs below the minimum rate of 1 Mbit/s"
	if resp.StatusCode != http.StatusServiceUnavailable || h.Status != "saturated" || h.Error != want {
		t.Fatalf("health while saturated: %d %s", resp.StatusCode, b)
	}

	wg.Wait()
	cut := regexp.MustCompile(`^interrupted: the run fell below this receiver's minimum rate of 1 Mbit/s: \d+ bit/s over the last [0-9.]+s$`)
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("slow client %d got no result: %v", i, errs[i])
		}
		if results[i].Verdict != report.Incomplete || !cut.MatchString(results[i].Error) {
			t.Errorf("slow client %d: %s %q", i, results[i].Verdict, results[i].Error)
		}
	}
	// And now the real sender is served, clean, and health is ok.
	if r := client(t, ClientOptions{Addr: addr, Bytes: 8 << 20}).Run(context.Background()); r.Verdict != report.Clean {
		t.Fatalf("real sender after the slow runs were cut: %s %q", r.Verdict, r.Error)
	}
	if resp, err := http.Get(health.URL); err != nil || resp.StatusCode != 200 {
		t.Fatalf("health after: %v %v", resp, err)
	}
	cancel()
	<-served
	mu.Lock()
	defer mu.Unlock()
	slow := 0
	for _, r := range reps {
		if r.Verdict == report.Incomplete && strings.Contains(r.Error, "below this receiver's minimum rate") {
			slow++
			// Not before its grace was over: the rate is averaged over
			// the run's life until a window has passed.
			m := regexp.MustCompile(`over the last ([0-9.]+s)$`).FindStringSubmatch(r.Error)
			if m == nil {
				t.Errorf("run %s: %q", r.RunID, r.Error)
			} else if d, err := time.ParseDuration(m[1]); err != nil || d < grace {
				t.Errorf("run %s cut before its grace was over: %q", r.RunID, r.Error)
			}
		}
	}
	if slow != DefaultMaxSessions || len(reps) != DefaultMaxSessions+1 {
		t.Errorf("%d reports, %d of slow runs; want %d and %d", len(reps), slow, DefaultMaxSessions+1, DefaultMaxSessions)
	}
}

// TestMinRateRefusesSlowPlan: a plan capped below the minimum rate is
// refused up front, rather than cut after its grace.
func TestMinRateRefusesSlowPlan(t *testing.T) {
	addr, _ := serve(t, ServerOptions{MinRate: 1e6})
	c := dialFrom(t, "127.0.0.2", addr)
	h := forward("00000000000002a1", 1<<20)
	h.Rate = 100e3
	err := handshake(t, c, h)
	var ref *wire.RefusedError
	if !errors.As(err, &ref) || ref.Reason != "a run at 100 kbit/s is slower than this receiver's minimum rate of 1 Mbit/s" {
		t.Fatalf("slow plan: %v", err)
	}
}

// TestMinRateRaw: a raw stream that trickles is cut as a protocol run
// is, and says why in its report.
func TestMinRateRaw(t *testing.T) {
	zeros, _ := pattern.Parse("zeros", 0)
	addr, stop, wait := serveWatch(t, ServerOptions{Raw: true, Verify: verify.Options{Pattern: zeros}, MinRate: 1e6, MinRateGrace: 500 * time.Millisecond})
	c := dialFrom(t, "127.0.0.2", addr)
	for range 50 {
		if _, err := c.Write([]byte{0}); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wait(1)
	reps := stop()
	if len(reps) != 1 || reps[0].Verdict != report.Incomplete || !strings.Contains(reps[0].Error, "interrupted: the run fell below this receiver's minimum rate of 1 Mbit/s: ") {
		t.Fatalf("raw trickle: %+v", reps)
	}
}

// TestTimedRunDrains: a timed run over a path slower than its sender
// ends when planned at the sender, with seconds of pattern still in its
// socket buffers. The receiver reads it all (the sender said it had
// finished, and how much it sent), past the planned end and past what
// used to be its deadline, and the sender waits for the result while
// its buffers drain: both clean, every byte sent verified.
func TestTimedRunDrains(t *testing.T) {
	const planned = time.Second
	opt := ServerOptions{Once: true, StreamWait: 200 * time.Millisecond, HandshakeTimeout: time.Second, IdleTimeout: time.Second}
	addr, stop := serve(t, opt)
	link := slowLink(t, addr, 8e6)
	start := time.Now()
	got := client(t, ClientOptions{Addr: link, Duration: planned, IdleTimeout: time.Second}).Run(context.Background())
	took := time.Since(start)
	rep := stop()[0]
	if got.Verdict != report.Clean || rep.Verdict != report.Clean || got.BytesVerified != rep.BytesVerified {
		t.Fatalf("sender %s %d bytes %q; receiver %s %d bytes %q", got.Verdict, got.BytesVerified, got.Error, rep.Verdict, rep.BytesVerified, rep.Error)
	}
	// The drain outlasted the old deadline (the plan, the stream wait,
	// the handshake and the idle timeout), or the test proved nothing.
	old := planned + opt.StreamWait + opt.HandshakeTimeout + opt.IdleTimeout
	t.Logf("%d bytes in %v over a path of 8 Mbit/s planned for %v", rep.BytesVerified, took, planned)
	if took < old {
		t.Fatalf("the run took %v: too little was in flight to outlast %v", took, old)
	}
}

// TestDrainBelowMinRate: a drain slower than the minimum rate is cut as
// any slow run is, and its report says the bytes were still draining.
func TestDrainBelowMinRate(t *testing.T) {
	opt := ServerOptions{Once: true, StreamWait: 200 * time.Millisecond, HandshakeTimeout: time.Second, IdleTimeout: time.Second,
		MinRate: 16e6, MinRateGrace: 2500 * time.Millisecond}
	addr, stop := serve(t, opt)
	link := slowLink(t, addr, 8e6)
	got := client(t, ClientOptions{Addr: link, Duration: time.Second, IdleTimeout: time.Second}).Run(context.Background())
	rep := stop()[0]
	want := regexp.MustCompile(`^stream 0: interrupted: the run fell below this receiver's minimum rate of 16 Mbit/s: [0-9.]+ Mbit/s over the last [0-9.]+s; ` +
		`the sender's stream kept arriving \d+s past its planned 1s \(still draining the socket buffers\)$`)
	if rep.Verdict != report.Incomplete || !want.MatchString(rep.Error) {
		t.Fatalf("receiver: %s %q", rep.Verdict, rep.Error)
	}
	if got.Verdict != report.Incomplete || !strings.Contains(got.Error, "still draining the socket buffers") {
		t.Fatalf("sender: %s %q", got.Verdict, got.Error)
	}
}

// TestWatchPanicStaysInItsRun: a bug in watching one run (a panic in
// its watcher's goroutine) ends that run, reported incomplete with the
// reason, while another run goes on clean and the server serves the
// next.
func TestWatchPanicStaysInItsRun(t *testing.T) {
	const doomed = "00000000000000ab"
	watchHook = func(id string) {
		if id == doomed {
			panic("test: a bug in watching one run")
		}
	}
	t.Cleanup(func() { watchHook = nil })
	addr, stop := serve(t, ServerOptions{MinRateGrace: 200 * time.Millisecond})
	done := legit(t, addr, ClientOptions{})
	r := client(t, ClientOptions{Addr: addr, Duration: time.Minute, RunID: doomed}).Run(context.Background())
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "receiver internal error: test: a bug in watching one run") {
		t.Fatalf("the doomed run: %s %q", r.Verdict, r.Error)
	}
	done()
	if r := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background()); r.Verdict != report.Clean {
		t.Fatalf("the run after: %s %q", r.Verdict, r.Error)
	}
	if reps := stop(); len(reps) != 3 {
		t.Fatalf("%d reports, want 3", len(reps))
	}
}
