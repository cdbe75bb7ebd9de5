package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/report"
)

// checkBytes is the size of a health check's run: enough to cross the
// whole serving path (accept, handshake, verifier, result), small enough
// to cost nothing beside real runs.
const checkBytes = 1 << 20

// Check runs a small verified session to this server through its own
// listener and serving path, as a sender on this host would, and
// returns its report. The run is not reported and does not count
// against the session limits. It fails until Serve runs, and once its
// accept loop has stopped.
func (s *Server) Check(ctx context.Context) (report.Report, error) {
	// A probe that comes while the server is starting waits for it.
	select {
	case <-s.serving:
	case <-ctx.Done():
		return report.Report{}, errors.New("not serving yet")
	}
	s.mu.Lock()
	addr := s.addr
	s.mu.Unlock()
	var r report.Report
	var err error
	func() {
		// The check runs on the prober's goroutine (an HTTP handler's):
		// a bug in it is a failed check, logged, not a dead receiver.
		defer s.contain("the health check", func(v any) {
			err = fmt.Errorf("health check: receiver internal error: %v", v)
		})
		hook("health")
		for _, a := range dialable(addr) {
			for try := range checkTries {
				r, err = s.check(ctx, a)
				if err == nil || !crowded(r.Error) || try == checkTries-1 {
					break
				}
				select {
				case <-time.After(time.Duration(try+1) * 20 * time.Millisecond):
				case <-ctx.Done():
				}
			}
			if err == nil || !errors.Is(err, errDial) {
				break
			}
		}
	}()
	return r, err
}

// checkTries bounds the tries of a check crowded out by other
// connections. Until its hello is read, the check's connection is one
// like any other, and a flood of connects can push it out or take every
// place: that says nothing about this receiver, which still serves, so
// the check tries again, a little later.
const checkTries = 5

// crowded reports a check refused for want of a place among the
// connections.
func crowded(why string) bool {
	return strings.Contains(why, errEvicted.Error()) || strings.Contains(why, busyConns)
}

// errDial marks a check that could not connect at all: another address
// of the listener may do.
var errDial = errors.New("cannot connect")

func (s *Server) check(ctx context.Context, addr string) (report.Report, error) {
	id := runID()
	p, _ := pattern.Parse("random", pattern.DefaultSeed)
	c, err := NewClient(ClientOptions{
		Addr: addr, Pattern: p, Seed: pattern.DefaultSeed, Streams: 1, Bytes: checkBytes,
		HandshakeTimeout: s.opt.HandshakeTimeout, IdleTimeout: min(s.opt.IdleTimeout, 10*time.Second),
		Version: s.opt.Version, Token: s.opt.Token, RunID: id, check: s.secret, log: s.log,
	})
	if err != nil {
		return report.Report{}, err
	}
	r, dialed := c.run(ctx)
	if r.Verdict != report.Clean {
		err = fmt.Errorf("health check run %s to %s: %s: %s", id, addr, r.Verdict, r.Error)
		if !dialed {
			err = fmt.Errorf("%w: %w", errDial, err)
		}
		return r, err
	}
	return r, nil
}

// dialable returns the addresses to reach a listener on: a wildcard
// listener on IPv4 loopback first, which works with IPv6 disabled, then
// IPv6 loopback, which works on an IPv6-only host.
func dialable(a net.Addr) []string {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return []string{a.String()}
	}
	port := fmt.Sprint(t.Port)
	if t.IP == nil || t.IP.IsUnspecified() {
		return []string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("::1", port)}
	}
	return []string{net.JoinHostPort(t.IP.String(), port)}
}

// Health is a health check's answer, as the endpoint writes it.
type Health struct {
	// Status is "ok", "fail", or "saturated": the receiver works, but
	// every session slot is held by a run below the minimum rate, so
	// real senders are turned away.
	Status  string         `json:"status"`
	Error   string         `json:"error,omitempty"`
	Verdict report.Verdict `json:"verdict,omitempty"`
	// CheckedAt is when the check that answered ran; Seconds how long it
	// took.
	CheckedAt time.Time `json:"checked_at"`
	Seconds   float64   `json:"seconds"`
	RunID     string    `json:"run_id,omitempty"`
}

// healthCache shares one check among concurrent probes and reuses a
// recent answer, so that probes cannot make the receiver busy.
type healthCache struct {
	mu   sync.Mutex
	last Health
	at   time.Time
}

// HealthHandler answers any GET with a health check: 200 and status
// "ok" when a fresh Check was clean and extra (when set; e.g. "are the
// reports being written") passes and some session slot is not held by a
// run below the minimum rate, else 503 with the status and the reason.
// An answer younger than maxAge is reused, and probes that arrive while a check
// runs wait for it, so probes cost at most one check per maxAge.
func (s *Server) HealthHandler(maxAge time.Duration, extra func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		hc := &s.health
		hc.mu.Lock()
		defer hc.mu.Unlock()
		if hc.at.IsZero() || time.Since(hc.at) > maxAge {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), s.opt.HandshakeTimeout+10*time.Second)
			r, err := s.Check(ctx)
			cancel()
			if err == nil && extra != nil {
				err = extra()
			}
			h := Health{Status: "ok", Verdict: r.Verdict, CheckedAt: start.UTC(), Seconds: time.Since(start).Seconds(), RunID: r.RunID}
			if err != nil {
				h.Status, h.Error = "fail", err.Error()
				s.log.Warn("health check failed", "error", err.Error())
			}
			hc.last, hc.at = h, time.Now()
		}
		h := hc.last
		if why := s.saturated(); why != "" && h.Status == "ok" {
			// Judged afresh for each probe: the check itself is served
			// outside the session limits, so it passes all the same.
			h.Status, h.Error = "saturated", why
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
}
