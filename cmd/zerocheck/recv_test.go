package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/wire"
)

// TestTokenFileTooOpen: a token file that others can read is refused
// with exit 2 and the chmod hint, as ssh refuses such a private key, by
// every command that takes --token-file; one that only its owner (or, for
// another owner's file, its group) can read is taken.
func TestTokenFileTooOpen(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		path := tokenFile(t, "a-token-of-at-least-16-bytes")
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		want := "zerocheck: --token-file " + path + ": permissions " + fmt.Sprintf("%04o", mode) + " are too open: anyone who can read the token can run sessions; chmod 600 " + path
		for _, args := range [][]string{
			{"recv", "--listen", "127.0.0.1:0", "--token-file", path},
			{"send", "127.0.0.1:1", "--token-file", path},
		} {
			code, _, stderr := inproc(t, nil, args...)
			if code != exitUsage || strings.TrimSuffix(stderr, "\n") != want {
				t.Errorf("%v, mode %s: exit %d, stderr %q; want 2 and %q", args, fmt.Sprintf("%04o", mode), code, stderr, want)
			}
		}
	}
	// Shared by group with a service account, as root:zerocheck 0440 or a
	// Kubernetes Secret mounted root:fsGroup 0440: taken (the connection
	// refused afterwards shows the run went ahead: exit 3).
	if os.Getuid() != 0 {
		t.Skip("needs root to give the file another owner")
	}
	path := tokenFile(t, "a-token-of-at-least-16-bytes")
	if err := os.Chown(path, 65532, 0); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o440)
	if code, _, stderr := inproc(t, nil, "send", "127.0.0.1:1", "--token-file", path, "-q", "--no-hostinfo"); code != exitIncomplete || !strings.Contains(stderr, "connection refused") {
		t.Errorf("another owner's 0440 file: exit %d, want 3 (refused connection): %s", code, stderr)
	}
}

// freePort returns a TCP port that nothing on 127.0.0.1 listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestRecvBarePort: recv -l 7777, nc's way of naming a port, listens on
// that port of every address, and serves a run.
func TestRecvBarePort(t *testing.T) {
	port := freePort(t)
	r := start(t, true, "recv", "-l", port, "--once", "--json", "-q", "--no-hostinfo")
	if r.addr != "[::]:"+port && r.addr != "0.0.0.0:"+port {
		t.Fatalf("recv -l %s listens on %s", port, r.addr)
	}
	if code, m, stderr := send(t, "127.0.0.1:"+port, "--bytes", "1MiB", "--no-hostinfo"); code != 0 || m["verdict"] != "clean" {
		t.Fatalf("send: exit %d: %s", code, stderr)
	}
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d: %s", code, r.stderr())
	}
}

// TestListenCheckedAtParse: a malformed --listen (or --health) is a usage
// error, exit 2, which the systemd unit does not restart; a port already
// in use is the host's state, exit 3, which it does.
func TestListenCheckedAtParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"recv", "--listen", "127.0.0.1"}, `zerocheck: invalid argument "127.0.0.1" for "-l, --listen" flag: want HOST:PORT, :PORT or PORT`},
		{[]string{"recv", "-l", "127.0.0.1:99999"}, `zerocheck: invalid argument "127.0.0.1:99999" for "-l, --listen" flag: port "99999" is not a number from 0 to 65535`},
		{[]string{"recv", "-l", "77777"}, `zerocheck: invalid argument "77777" for "-l, --listen" flag: port "77777" is not a number from 0 to 65535`},
		{[]string{"recv", "-l", "10.0.0.256:7777"}, `zerocheck: invalid argument "10.0.0.256:7777" for "-l, --listen" flag: "10.0.0.256" is neither an IP address nor a host name`},
		{[]string{"recv", "-l", "host name:7777"}, `zerocheck: invalid argument "host name:7777" for "-l, --listen" flag: "host name" is neither an IP address nor a host name`},
		{[]string{"recv", "--health", "7778x"}, `zerocheck: invalid argument "7778x" for "--health" flag: want HOST:PORT, :PORT or PORT`},
		{[]string{"relay", "--listen", "1.2.3", "--to", "127.0.0.1:1"}, `zerocheck: invalid argument "1.2.3" for "--listen" flag: want HOST:PORT, :PORT or PORT`},
	} {
		code, _, stderr := inproc(t, nil, tc.args...)
		if code != exitUsage || firstLine(stderr) != tc.want {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, firstLine(stderr), tc.want)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := "zerocheck: listen tcp " + ln.Addr().String() + ": bind: address already in use"
	if code, _, stderr := inproc(t, nil, "recv", "--listen", ln.Addr().String(), "-q"); code != exitIncomplete || strings.TrimSuffix(stderr, "\n") != want {
		t.Errorf("port in use: exit %d, %q; want 3 and %q", code, stderr, want)
	}
}

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
