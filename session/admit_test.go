package session

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/report"
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
