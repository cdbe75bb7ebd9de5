package main

import (
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/wire"
)

// handshakeRaw runs a dialer's handshake without a token, as a hostile
// client would, and returns the receiver's refusal, if any.
func handshakeRaw(t *testing.T, addr string, h wire.Hello) error {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	h.Nonce = wire.NewNonce()
	b, _ := wire.EncodeHello(h)
	c.Write(b)
	typ, p, err := wire.ReadFrame(c, wire.TypeChallenge)
	if err == nil && typ == wire.TypeChallenge {
		a, _ := wire.EncodeAuth(wire.Auth{})
		c.Write(a)
		_, p, err = wire.ReadFrame(c, wire.TypeReply)
	}
	if err == nil {
		_, err = wire.DecodeReply(p)
	}
	return err
}

// TestRecvSurvivesPoisonHello: the poison packet, a hello
// planning 2^63-1 bytes, and its kin at the other int64 edges, are
// refused with the field named; a run planned at the edge of the bounds
// is served, waits out --stream-wait for its missing stream and is
// reported; then recv serves a real run clean and exits 0 on SIGTERM,
// with no internal error logged. It used to die of a nil pointer
// dereference a --stream-wait after the first hello, with exit 2.
func TestRecvSurvivesPoisonHello(t *testing.T) {
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--json", "-q", "--no-hostinfo", "--stream-wait", "300ms", "--log-format", "json")
	base := wire.Hello{RunID: "00000000000000a0", Streams: 2, Direction: wire.Forward, Pattern: "zeros", Bytes: 1 << 20}
	for _, tc := range []struct {
		set  func(h *wire.Hello)
		want string
	}{
		{func(h *wire.Hello) { h.Bytes = math.MaxInt64 }, "hello: size 9223372036854775807 out of range"},
		{func(h *wire.Hello) { h.Bytes = math.MinInt64 }, "hello: size -9223372036854775808 out of range"},
		{func(h *wire.Hello) { h.Bytes = wire.MaxBytes + 1 }, "hello: size 1125899906842625 out of range"},
		{func(h *wire.Hello) { h.Bytes, h.Duration = 0, math.MaxInt64 }, "hello: duration 2562047h47m16.854775807s out of range"},
		{func(h *wire.Hello) { h.Rate = math.MaxInt64 }, "hello: rate 9223372036854775807 bit/s"},
		{func(h *wire.Hello) { h.Streams = math.MaxInt64 }, "hello: 9223372036854775807 streams"},
		{func(h *wire.Hello) { h.Stream = math.MinInt64 }, "hello: stream -9223372036854775808 out of range"},
		{func(h *wire.Hello) { h.Direction, h.Bytes = wire.Finish, math.MaxInt64 }, "hello: size 9223372036854775807 out of range"},
	} {
		h := base
		tc.set(&h)
		var ref *wire.RefusedError
		if err := handshakeRaw(t, r.addr, h); !errors.As(err, &ref) || !strings.Contains(ref.Reason, tc.want) {
			t.Errorf("%+v: %v, want a refusal with %q", h, err, tc.want)
		}
	}
	edge := base
	edge.RunID, edge.Bytes = "00000000000000a1", wire.MaxBytes
	if err := handshakeRaw(t, r.addr, edge); err != nil {
		t.Fatalf("a plan at the bound: %v", err)
	}
	r.waitStderr(t, `"msg":"session end","run_id":"00000000000000a1"`)
	if code, s, stderr := send(t, r.addr, "--bytes", "8MiB", "--no-hostinfo"); code != 0 || s["verdict"] != "clean" {
		t.Fatalf("the run after: exit %d %v\n%s", code, s["error"], stderr)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d:\n%s", code, r.stderr())
	}
	if log := r.stderr(); strings.Contains(log, "panic") || strings.Contains(log, "internal error") {
		t.Errorf("recv hit an internal error:\n%s", log)
	}
}

// TestRecvLocalFlood: 150 idle connections from 127.0.0.1 against
// --max-conns 100 lock out neither a real sender from another address
// (send --bind 127.0.0.2) nor /healthz, which answers 200: connections
// from this host have no exemption, the health check is known by the
// secret in its hello. They used to hold every place, unevictable, and
// /healthz answered 503.
func TestRecvLocalFlood(t *testing.T) {
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--json", "-q", "--no-hostinfo", "--max-conns", "100",
		"--handshake-timeout", "1m", "--health", "127.0.0.1:0")
	r.waitStderr(t, `msg="health endpoint"`)
	var haddr string
	for _, line := range strings.Split(r.errbufString(), "\n") {
		if _, a, ok := strings.Cut(line, `msg="health endpoint" addr=`); ok {
			haddr, _, _ = strings.Cut(a, " ")
		}
	}
	var closed atomic.Int64
	for range 150 {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			io.Copy(io.Discard, c) // until recv evicts it
			closed.Add(1)
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); closed.Load() < 50; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 150 idle connections evicted, want 50", closed.Load())
		}
	}
	if code, s, stderr := send(t, r.addr, "--bind", "127.0.0.2", "--bytes", "8MiB", "--no-hostinfo"); code != 0 || s["verdict"] != "clean" {
		t.Fatalf("the sender from 127.0.0.2: exit %d %v\n%s", code, s["error"], stderr)
	}
	resp, err := http.Get("http://" + haddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status":"ok"`) {
		t.Fatalf("/healthz: %d %s", resp.StatusCode, b)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d:\n%s", code, r.stderr())
	}
}
