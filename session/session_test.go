package session

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

func TestCleanRuns(t *testing.T) {
	const size = 3<<20 + 7 // not a multiple of the streams: shares differ
	for _, spec := range []string{"zeros", "ones", "alt", "counter", "random", "hex:deadbeef"} {
		for _, tc := range []struct {
			streams int
			bidir   bool
		}{{1, false}, {4, false}, {2, true}} {
			p, err := pattern.Parse(spec, 42)
			if err != nil {
				t.Fatal(err)
			}
			addr, stop := serve(t, ServerOptions{Once: true})
			c := client(t, ClientOptions{Addr: addr, Pattern: p, Seed: 42, Streams: tc.streams, Bidir: tc.bidir, Bytes: size})
			got := c.Run(context.Background())
			reps := stop()
			if len(reps) != 1 {
				t.Fatalf("%s %+v: %d receiver reports", spec, tc, len(reps))
			}
			total := tc.streams
			if tc.bidir {
				total *= 2
			}
			for _, r := range []report.Report{got, reps[0]} {
				if r.Verdict != report.Clean || r.BytesVerified != size || r.Error != "" || len(r.Streams) != total {
					t.Fatalf("%s %+v %s: verdict %s, %d bytes, %d streams, error %q", spec, tc, r.Role, r.Verdict, r.BytesVerified, len(r.Streams), r.Error)
				}
				var sum int64
				for i, s := range r.Streams {
					want := int64(size / total)
					if i < size%total {
						want++
					}
					dir := report.Forward
					if i >= tc.streams {
						dir = report.Reverse
					}
					if s.Stream != i || s.BytesVerified != want || s.Direction != dir {
						t.Fatalf("%s %+v %s: stream %d: %+v, want %d bytes %s", spec, tc, r.Role, i, s, want, dir)
					}
					sum += s.BytesVerified
				}
				if r.RunID != got.RunID || r.Pattern != p.String() || sum != size {
					t.Fatalf("%s: run %q/%q pattern %q", spec, r.RunID, got.RunID, r.Pattern)
				}
			}
			if got.Role != "send" || reps[0].Role != "recv" {
				t.Fatalf("roles %q %q", got.Role, reps[0].Role)
			}
		}
	}
}

func TestTimedRun(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true})
	c := client(t, ClientOptions{Addr: addr, Streams: 2, Bidir: true, Duration: 300 * time.Millisecond})
	got := c.Run(context.Background())
	rep := stop()[0]
	if got.Verdict != report.Clean || rep.Verdict != report.Clean || got.BytesVerified == 0 || got.BytesVerified != rep.BytesVerified {
		t.Fatalf("sender %s %d bytes, receiver %s %d bytes (%q %q)", got.Verdict, got.BytesVerified, rep.Verdict, rep.BytesVerified, got.Error, rep.Error)
	}
}

func TestRefusedConnection(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	got := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background())
	if got.Verdict != report.Incomplete || !strings.Contains(got.Error, "connection refused") {
		t.Fatalf("verdict %s, error %q", got.Verdict, got.Error)
	}
}

func TestVanishedReceiver(t *testing.T) {
	addr := fakeReceiver(t, func(c net.Conn, h wire.Hello) {
		reply(c)
		io.CopyN(io.Discard, c, 1<<20)
		c.(*net.TCPConn).SetLinger(0) // vanish: a reset, as a crashed host's kernel sends
	})
	got := client(t, ClientOptions{Addr: addr, Bytes: 64 << 20}).Run(context.Background())
	if got.Verdict != report.Incomplete || got.Error == "" {
		t.Fatalf("verdict %s, error %q", got.Verdict, got.Error)
	}
}

func TestReceiverWithoutResult(t *testing.T) {
	addr := fakeReceiver(t, func(c net.Conn, h wire.Hello) {
		reply(c)
		io.Copy(io.Discard, c) // reads it all, then closes without a result
	})
	got := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background())
	if got.Verdict != report.Incomplete || !strings.Contains(got.Error, "no result") {
		t.Fatalf("verdict %s, error %q", got.Verdict, got.Error)
	}
}

func TestCorruptControlChannel(t *testing.T) {
	for _, where := range []string{"reply", "result"} {
		addr := fakeReceiver(t, func(c net.Conn, h wire.Hello) {
			b, _ := wire.EncodeReply(wire.Reply{})
			if where == "reply" {
				b[len(b)-6] ^= 0x10 // one bit of the payload
				c.Write(b)
				return
			}
			c.Write(b)
			n, _ := io.Copy(io.Discard, c)
			v, _ := verify.New(verify.Options{Pattern: zeros})
			v.Write(make([]byte, n))
			r := v.Result(nil)
			tag(&r, h.Stream, report.Forward)
			f, _ := wire.EncodeResult(r)
			binary.BigEndian.PutUint32(f[len(f)-4:], 0xdeadbeef)
			c.Write(f)
		})
		got := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background())
		if got.Verdict != report.Corrupt || !strings.Contains(got.ControlCorruption, "control channel corrupt: "+where) || got.CorruptBytes != 0 {
			t.Fatalf("%s: verdict %s, control %q, error %q", where, got.Verdict, got.ControlCorruption, got.Error)
		}
	}
}

func TestForeignPeers(t *testing.T) {
	for _, tc := range []struct {
		name string
		send []byte
		want string
	}{
		{"http", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), `peer does not speak the zerocheck protocol (first bytes "HTTP/1.1 400`},
		{"version", append([]byte("ZCHK\x01\x02\x00\x00\x00\x00\x00\x02{}"), 0, 0, 0, 0), "peer speaks zerocheck protocol version 1, this zerocheck speaks 2"},
		{"silent-close", nil, "closed the connection before its challenge"},
	} {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Read the whole hello first: closing with unread bytes would
			// send a reset, which may overtake the answer.
			wire.ReadFrame(c, wire.TypeHello)
			c.Write(tc.send)
			c.Close()
		}()
		got := client(t, ClientOptions{Addr: ln.Addr().String(), Bytes: 1 << 20}).Run(context.Background())
		ln.Close()
		if got.Verdict != report.Incomplete || !strings.Contains(got.Error, tc.want) {
			t.Fatalf("%s: verdict %s, error %q", tc.name, got.Verdict, got.Error)
		}
	}
}

func TestVanishedSender(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 1 << 20}
	handshake(t, c, h)
	c.Write(make([]byte, 1000))
	c.Close()
	reps := stop()
	if len(reps) != 1 || reps[0].Verdict != report.Incomplete || reps[0].BytesVerified != 1000 || !strings.Contains(reps[0].Error, "short stream: got 1000 of 1048576 bytes") {
		t.Fatalf("%+v", reps)
	}
}

func TestCorruptionBeforeVanishing(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true})
	c, _ := net.Dial("tcp", addr)
	h := wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 1 << 20}
	handshake(t, c, h)
	data := make([]byte, 5000)
	data[4097] = 0x40
	c.Write(data)
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	r := stop()[0]
	if r.Verdict != report.Corrupt || r.RegionCount != 1 || r.Regions[0].Offset != 4097 || r.Error == "" {
		t.Fatalf("verdict %s regions %d error %q", r.Verdict, r.RegionCount, r.Error)
	}
}

func TestMissingStream(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true, StreamWait: 200 * time.Millisecond})
	c, _ := net.Dial("tcp", addr)
	h := wire.Hello{RunID: "0123456789abcdef", Streams: 2, Direction: wire.Forward, Pattern: "zeros", Bytes: 100}
	handshake(t, c, h)
	c.Write(make([]byte, 100))
	c.(*net.TCPConn).CloseWrite()
	_, p, err := wire.ReadFrame(c, wire.TypeResult)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := wire.DecodeResult(p); err != nil || r.Verdict != report.Clean || r.BytesVerified != 100 {
		t.Fatalf("stream result %+v %v", r, err)
	}
	c.Close()
	r := stop()[0]
	if r.Verdict != report.Incomplete || !strings.Contains(r.Error, "stream 1 never connected") || r.BytesVerified != 100 {
		t.Fatalf("verdict %s error %q", r.Verdict, r.Error)
	}
}

func TestRefusals(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true, HandshakeTimeout: 300 * time.Millisecond})
	hello := func(h wire.Hello) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		return handshake(t, c, h)
	}
	// A slow handshake is dropped, and told why.
	c, _ := net.Dial("tcp", addr)
	_, p, err := wire.ReadFrame(c, wire.TypeReply)
	c.Close()
	if err == nil {
		_, err = wire.DecodeReply(p)
	}
	var ref *wire.RefusedError
	if !errors.As(err, &ref) || !strings.Contains(ref.Reason, "no hello from the peer within 300ms") {
		t.Fatalf("slow handshake: %v", err)
	}
	bad := wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "sine", Bytes: 1}
	if err := hello(bad); !errors.As(err, &ref) || !strings.Contains(ref.Reason, "sine") {
		t.Fatalf("bad pattern: %v", err)
	}
	// The run under way is served while a second run is refused (--once).
	c, _ = net.Dial("tcp", addr)
	h := wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 10}
	handshake(t, c, h)
	h2 := h
	h2.RunID = "fedcba9876543210"
	if err := hello(h2); !errors.As(err, &ref) || !strings.Contains(ref.Reason, "busy") {
		t.Fatalf("second run: %v", err)
	}
	if err := hello(h); !errors.As(err, &ref) || !strings.Contains(ref.Reason, "already connected") {
		t.Fatalf("same stream twice: %v", err)
	}
	c.Write(make([]byte, 10))
	c.(*net.TCPConn).CloseWrite()
	wire.ReadFrame(c, wire.TypeResult)
	c.Close()
	if r := stop(); len(r) != 1 || r[0].Verdict != report.Clean {
		t.Fatalf("%+v", r)
	}
}

func TestInterrupt(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true})
	ctx, cancel := context.WithCancelCause(context.Background())
	c := client(t, ClientOptions{Addr: addr, Streams: 2, Bidir: true, Duration: time.Hour})
	go func() {
		for c.Progress().Sent == 0 || c.Progress().Verified == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel(errors.New("signal: interrupt"))
	}()
	got := c.Run(ctx)
	rep := stop()[0]
	if got.Verdict != report.Incomplete || !strings.Contains(got.Error, "interrupted: signal: interrupt") || got.BytesVerified == 0 {
		t.Fatalf("sender: %s %q %d", got.Verdict, got.Error, got.BytesVerified)
	}
	if rep.Verdict != report.Incomplete || !strings.Contains(rep.Error, "the sender was interrupted: signal: interrupt") {
		t.Fatalf("receiver: %s %q", rep.Verdict, rep.Error)
	}
}

func TestServerShutdownReportsRuns(t *testing.T) {
	addr, stop := serve(t, ServerOptions{})
	c := client(t, ClientOptions{Addr: addr, Duration: time.Hour})
	done := make(chan report.Report)
	go func() { done <- c.Run(context.Background()) }()
	for c.Progress().Sent < 64<<20 { // past any socket buffer: the receiver has verified some
		time.Sleep(10 * time.Millisecond)
	}
	reps := stop()
	got := <-done
	if len(reps) != 1 || reps[0].Verdict != report.Incomplete || reps[0].BytesVerified == 0 {
		t.Fatalf("receiver reports %+v", reps)
	}
	// The receiver's findings still reach the sender: it says it was
	// stopped, in a result sent before it closed.
	if got.Verdict != report.Incomplete || got.BytesVerified == 0 || !strings.Contains(got.Error, "interrupted") {
		t.Fatalf("sender: %s %d %q", got.Verdict, got.BytesVerified, got.Error)
	}
}

func TestRaw(t *testing.T) {
	p, _ := pattern.Parse("counter", 0)
	addr, stop := serve(t, ServerOptions{Raw: true, Once: true, Verify: verify.Options{Pattern: p}})
	c := client(t, ClientOptions{Addr: addr, Pattern: p, Raw: true, Bytes: 5 << 20})
	n, err := c.RunRaw(context.Background())
	if err != nil || n != 5<<20 {
		t.Fatalf("sent %d: %v", n, err)
	}
	r := stop()[0]
	if r.Verdict != report.Clean || r.BytesVerified != 5<<20 {
		t.Fatalf("%s %d %q", r.Verdict, r.BytesVerified, r.Error)
	}
}

func TestRawMismatchedModes(t *testing.T) {
	// A protocol sender at a raw receiver is told so, not verified as
	// corrupt data.
	addr, stop := serve(t, ServerOptions{Raw: true, Once: true, Verify: verify.Options{Pattern: zeros}})
	got := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background())
	r := stop()[0]
	if got.Verdict != report.Incomplete || !strings.Contains(got.Error, "this receiver runs --raw") {
		t.Fatalf("sender: %s %q", got.Verdict, got.Error)
	}
	if r.Verdict != report.Incomplete || r.CorruptBytes != 0 {
		t.Fatalf("receiver: %s %q", r.Verdict, r.Error)
	}
	// A raw sender at a protocol receiver hears why it was cut off.
	addr, _ = serve(t, ServerOptions{})
	_, err := client(t, ClientOptions{Addr: addr, Raw: true, Bytes: 64 << 20}).RunRaw(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not speak the zerocheck protocol") {
		t.Fatalf("raw sender: %v", err)
	}
}

func TestRawShortStream(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Raw: true, Once: true, Verify: verify.Options{Pattern: zeros}})
	c, _ := net.Dial("tcp", addr)
	c.Write([]byte{0, 1})
	c.Close()
	r := stop()[0]
	if r.Verdict != report.Corrupt || r.BytesVerified != 2 || r.Error != "" {
		t.Fatalf("%s %d %q", r.Verdict, r.BytesVerified, r.Error)
	}
}

// TestSilentSender: a sender that says hello and then nothing is cut off
// after the idle timeout, verdict incomplete.
func TestSilentSender(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true, IdleTimeout: 300 * time.Millisecond})
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	handshake(t, c, wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Duration: time.Hour})
	c.Write(make([]byte, 4096))
	r := stop()[0]
	if r.Verdict != report.Incomplete || r.BytesVerified != 4096 || !strings.Contains(r.Error, "no data from the peer for 300ms") {
		t.Fatalf("%s %d %q", r.Verdict, r.BytesVerified, r.Error)
	}
}

// TestStalledReceiver: a receiver that stops reading fails the sender's
// stream after the idle timeout instead of hanging it.
func TestStalledReceiver(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	addr := fakeReceiver(t, func(c net.Conn, h wire.Hello) {
		reply(c)
		<-hold
	})
	got := client(t, ClientOptions{Addr: addr, Bytes: 1 << 30, IdleTimeout: 300 * time.Millisecond}).Run(context.Background())
	if got.Verdict != report.Incomplete || !strings.Contains(got.Error, "the peer read nothing for 300ms") {
		t.Fatalf("verdict %s, error %q", got.Verdict, got.Error)
	}
}

// TestTimedSenderDies: a timed stream's sender that dies has its stream
// closed by its kernel exactly as a finished one does; without the
// finish hello the receiver must not call what it got clean.
func TestTimedSenderDies(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true})
	h := wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Duration: time.Hour}
	c, err := hello(t, addr, h)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(make([]byte, 1<<20))
	c.(*net.TCPConn).CloseWrite() // what exit(2) or kill -9 looks like
	_, p, err := wire.ReadFrame(c, wire.TypeResult)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := wire.DecodeResult(p)
	c.Close()
	r := stop()[0]
	for _, x := range []report.Report{res, r} {
		if x.Verdict != report.Incomplete || x.BytesVerified != 1<<20 || !strings.Contains(x.Error, "without its sender saying it had finished") {
			t.Fatalf("%s %d %q", x.Verdict, x.BytesVerified, x.Error)
		}
	}
}

// TestFinishCounts: a finish hello that declares more bytes than arrived
// makes the stream short; the right count makes it clean.
func TestFinishCounts(t *testing.T) {
	for _, tc := range []struct {
		declared int64
		verdict  report.Verdict
		err      string
	}{{5000, report.Clean, ""}, {6000, report.Incomplete, "short stream: got 5000 of 6000 bytes"}, {4000, report.Incomplete, "received 5000 bytes, but the sender said it sent 4000"}} {
		addr, stop := serve(t, ServerOptions{Once: true})
		h := wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Duration: time.Hour}
		c, _ := hello(t, addr, h)
		c.Write(make([]byte, 5000))
		control(t, addr, wire.Hello{RunID: h.RunID, Direction: wire.Finish, Stream: 0, Bytes: tc.declared})
		c.(*net.TCPConn).CloseWrite()
		wire.ReadFrame(c, wire.TypeResult)
		c.Close()
		r := stop()[0]
		if r.Verdict != tc.verdict || !strings.Contains(r.Error, tc.err) {
			t.Fatalf("declared %d: %s %q", tc.declared, r.Verdict, r.Error)
		}
	}
}

// TestEarlyAbortAndLateStream: an abort that overtakes its run's streams
// still marks the run; a stream arriving after its run ended is refused
// rather than starting a second run of the same id.
func TestEarlyAbortAndLateStream(t *testing.T) {
	addr, stop, waitN := serveWatch(t, ServerOptions{})
	id := "00112233445566ff"
	control(t, addr, wire.Hello{RunID: id, Direction: wire.Abort, Reason: "signal: interrupt"})
	h := wire.Hello{RunID: id, Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 10}
	sendStream(t, addr, h, make([]byte, 10))
	waitN(1)
	if _, err := hello(t, addr, h); err == nil || !strings.Contains(err.Error(), "has already ended") {
		t.Fatalf("late stream: %v", err)
	}
	reps := stop()
	if len(reps) != 1 || reps[0].Verdict != report.Incomplete || !strings.Contains(reps[0].Error, "the sender was interrupted: signal: interrupt") {
		t.Fatalf("%+v", reps)
	}
}

// TestCorruptHelloIsControlCorruption: a hello that fails its checksum is
// refused as control-channel corruption, and the sender's report makes
// that a corrupt verdict.
func TestCorruptHelloIsControlCorruption(t *testing.T) {
	addr, _ := serve(t, ServerOptions{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := wire.EncodeHello(wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 10})
	b[20] ^= 0x04
	c.Write(b)
	_, p, _ := wire.ReadFrame(c, wire.TypeReply)
	c.Close()
	var ref *wire.RefusedError
	if _, err := wire.DecodeReply(p); !errors.As(err, &ref) || !strings.Contains(ref.ControlCorruption, "control channel corrupt: hello frame") {
		t.Fatalf("reply %v", err)
	}
	addr = fakeReceiver(t, func(c net.Conn, h wire.Hello) {
		b, _ := wire.EncodeReply(wire.Reply{Error: "handshake: " + ref.ControlCorruption, ControlCorruption: ref.ControlCorruption})
		c.Write(b)
	})
	got := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20}).Run(context.Background())
	if got.Verdict != report.Corrupt || !strings.Contains(got.ControlCorruption, "hello, as the receiver got it") {
		t.Fatalf("%s %q", got.Verdict, got.ControlCorruption)
	}
}

// TestRawProbe: a connection that sends nothing is no clean run.
func TestRawProbe(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Raw: true, Once: true, Verify: verify.Options{Pattern: zeros}})
	c, _ := net.Dial("tcp", addr)
	c.Close()
	if r := stop()[0]; r.Verdict != report.Incomplete || !strings.Contains(r.Error, "no data received") {
		t.Fatalf("%s %q", r.Verdict, r.Error)
	}
}

func TestRawPlannedSize(t *testing.T) {
	for _, tc := range []struct {
		send    int
		verdict report.Verdict
		err     string
	}{{3, report.Incomplete, "short stream: got 3 of 5000 bytes"}, {4000, report.Incomplete, "short stream: got 4000 of 5000 bytes"}, {5000, report.Clean, ""}, {6000, report.Clean, ""}} {
		addr, stop := serve(t, ServerOptions{Raw: true, Once: true, RawBytes: 5000, Verify: verify.Options{Pattern: zeros}})
		c, _ := net.Dial("tcp", addr)
		c.Write(make([]byte, tc.send))
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
		c.Close()
		r := stop()[0]
		if r.Verdict != tc.verdict || r.Error != tc.err || r.BytesVerified != int64(min(tc.send, 5000)) {
			t.Fatalf("sent %d: %s %d %q", tc.send, r.Verdict, r.BytesVerified, r.Error)
		}
	}
}

// TestShutdownDoesNotWaitForStalledPeers: stopping the server ends a
// reverse stream blocked on a peer that reads nothing, and a forward
// stream waiting for bytes, without waiting out their (hour-long) idle
// timeouts.
func TestShutdownDoesNotWaitForStalledPeers(t *testing.T) {
	addr, stop := serve(t, ServerOptions{IdleTimeout: time.Hour})
	rev, err := hello(t, addr, wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Reverse, Pattern: "zeros", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer rev.Close()
	fwd, err := hello(t, addr, wire.Hello{RunID: "fedcba9876543210", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	time.Sleep(100 * time.Millisecond) // let the reverse stream fill the socket buffers
	done := make(chan []report.Report)
	go func() { done <- stop() }()
	select {
	case reps := <-done:
		if len(reps) != 2 {
			t.Fatalf("%d reports", len(reps))
		}
		for _, r := range reps {
			if r.Verdict != report.Incomplete {
				t.Fatalf("%s: %s %q", r.RunID, r.Verdict, r.Error)
			}
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return a minute after it was stopped")
	}
}
