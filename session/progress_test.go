package session

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// followers counts the goroutines following a receiver's progress: none
// may outlive its stream.
func followers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "session.followProgress.func")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestSenderSeesReceiverRegions runs a fire drill: a real receiver
// behind a relay that corrupts every stream, and a sender whose live
// view must show the receiver's regions while the run is still going,
// summed over its streams.
func TestSenderSeesReceiverRegions(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true})
	// Two bit flips per stream, far apart: two regions each.
	front := startRelay(t, addr, "bitflip@64KiB,bitflip@1MiB")
	ctx, cancel := context.WithCancelCause(context.Background())
	c := client(t, ClientOptions{Addr: front, Streams: 2, Duration: time.Hour, Rate: 64e6})
	var seen Progress
	var following int
	go func() {
		// The run lasts until this sees the receiver's count, or gives
		// up.
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if p := c.Progress(); p.PeerRegions == 4 {
				seen, following = p, followers()
				break
			}
		}
		cancel(errors.New("seen"))
	}()
	got := c.Run(ctx)
	if n := followers(); n != 0 || following != 2 {
		t.Errorf("%d progress followers outlived the run (%d during it)", n, following)
	}
	rep := stop()[0]
	if seen.PeerRegions != 4 || seen.PeerCorrupt != 4 || seen.PeerVerified < 2<<20 || seen.Regions != 0 || seen.Corrupt != 0 {
		t.Fatalf("live view %+v", seen)
	}
	if got.Verdict != report.Corrupt || got.RegionCount != 4 || rep.Verdict != report.Corrupt || rep.RegionCount != 4 {
		t.Fatalf("sender %s %d regions (%q), receiver %s %d regions", got.Verdict, got.RegionCount, got.Error, rep.Verdict, rep.RegionCount)
	}
	// The progress frames did not stand in for the result: the report
	// is the receiver's, to its last byte.
	if got.BytesVerified != rep.BytesVerified || got.BytesVerified < seen.PeerVerified {
		t.Fatalf("sender's report %d bytes, receiver's %d, live view %d", got.BytesVerified, rep.BytesVerified, seen.PeerVerified)
	}
}

// TestProgressWithToken: with a token the progress frames come before
// the sealed result, which alone decides, and the run is clean.
func TestProgressWithToken(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true, Token: token})
	// About 3 s at this rate: the receiver has sent progress before the
	// end.
	c := client(t, ClientOptions{Addr: addr, Bytes: 3 << 20, Rate: 8 << 20, Token: token})
	got := c.Run(context.Background())
	reps := stop()
	if got.Verdict != report.Clean || got.BytesVerified != 3<<20 || len(reps) != 1 || reps[0].Verdict != report.Clean {
		t.Fatalf("sender %s %d bytes %q; receiver %+v", got.Verdict, got.BytesVerified, got.Error, reps)
	}
	if p := c.Progress(); p.PeerVerified == 0 || p.PeerVerified > 3<<20 || p.PeerRegions != 0 {
		t.Fatalf("no progress from the receiver: %+v", p)
	}
}

// progressReceiver is a receiver that grants progress and then sends
// what bad sends it while the sender sends: a peer that misbehaves on
// purpose.
func progressReceiver(t *testing.T, grant bool, bad func(c net.Conn)) string {
	return fakeReceiver(t, func(c net.Conn, h wire.Hello) {
		if !h.Progress {
			t.Errorf("the sender's hello does not ask for progress")
		}
		b, _ := wire.EncodeReply(wire.Reply{Progress: grant})
		c.Write(b)
		bad(c)
		io.Copy(io.Discard, c)
	})
}

// TestBadProgressFrame: a progress frame that fails its checksum is the
// control channel's corruption, one that does not decode or was not
// granted is a protocol error; either ends the stream at once, without
// a result, and without leaving the sender's reader behind.
func TestBadProgressFrame(t *testing.T) {
	good, _ := wire.EncodeProgress(wire.Progress{Verified: 1 << 20, Corrupt: 16, Regions: 1})
	crc := append([]byte(nil), good...)
	crc[len(crc)-1] ^= 0x01
	// A region without a corrupt byte, under a good checksum.
	counts := binary.BigEndian.AppendUint64(nil, 1)
	counts = binary.BigEndian.AppendUint64(counts, 0)
	counts = binary.BigEndian.AppendUint64(counts, 1)
	invalid, _ := wire.AppendFrame(nil, wire.TypeProgress, counts)
	for _, c := range []struct {
		name    string
		grant   bool
		send    []byte
		verdict report.Verdict
		err     string
		control string
	}{
		{"checksum", true, crc, report.Corrupt, "no result from the peer: control channel corrupt: progress frame (24 bytes) has CRC32C", "control channel corrupt: progress frame"},
		{"invalid", true, invalid, report.Incomplete, "no result from the peer: progress: 1 regions with 0 corrupt bytes", ""},
		{"cut short", true, good[:20], report.Incomplete, "no result from the peer: progress frame cut short after 8 of 28 bytes: unexpected EOF", ""},
		{"not granted", false, good, report.Incomplete, "no result from the peer: protocol error: expected a result frame, got a progress frame", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := progressReceiver(t, c.grant, func(conn net.Conn) {
				conn.Write(c.send)
				if c.name == "cut short" {
					conn.(*net.TCPConn).CloseWrite()
				}
			})
			// An hour's run unless the bad frame ends it; a sender that
			// reads no progress (not granted) sends a MiB and then finds it.
			o := ClientOptions{Addr: addr, Duration: time.Hour}
			if !c.grant {
				o = ClientOptions{Addr: addr, Bytes: 1 << 20}
			}
			got := client(t, o).Run(context.Background())
			if n := followers(); n != 0 {
				t.Errorf("%d progress followers outlived the run", n)
			}
			if got.Verdict != c.verdict || !strings.Contains(got.Error, c.err) || !strings.Contains(got.ControlCorruption, c.control) || c.control == "" && got.ControlCorruption != "" {
				t.Fatalf("verdict %s, error %q, control %q", got.Verdict, got.Error, got.ControlCorruption)
			}
		})
	}
}

// TestProgressThenSilence: a receiver that sends progress and then
// neither a result nor anything else, holding the connection, costs the
// sender its idle timeout, not more: the reader of progress frames is
// bounded once the stream is sent.
func TestProgressThenSilence(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	good, _ := wire.EncodeProgress(wire.Progress{Verified: 100})
	addr := fakeReceiver(t, func(c net.Conn, h wire.Hello) {
		b, _ := wire.EncodeReply(wire.Reply{Progress: true})
		c.Write(b)
		c.Write(good)
		c.Write(good[:20]) // and the rest never comes
		io.Copy(io.Discard, c)
		<-hold
	})
	got := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20, IdleTimeout: 300 * time.Millisecond}).Run(context.Background())
	if got.Verdict != report.Incomplete || !strings.Contains(got.Error, "sent 1048576 bytes, but no result from the peer: no result from the peer within 300ms: ") {
		t.Fatalf("verdict %s, error %q", got.Verdict, got.Error)
	}
}

// TestProgressOldReceiver: a receiver that predates progress frames
// ignores the hello's ask and does not grant it; the sender reads its
// result as before, and its live view has nothing from the receiver.
func TestProgressOldReceiver(t *testing.T) {
	addr := fakeReceiver(t, func(c net.Conn, h wire.Hello) {
		if !h.Progress || h.Direction != wire.Forward {
			t.Errorf("hello %+v does not ask for progress", h)
		}
		reply(c) // no Progress: an old receiver knows no such field
		v, _ := verify.New(verify.Options{Pattern: zeros})
		io.Copy(v, c)
		r := v.Result(nil)
		tag(&r, h.Stream, report.Forward)
		b, _ := wire.EncodeResult(r)
		c.Write(b)
	})
	c := client(t, ClientOptions{Addr: addr, Bytes: 1 << 20})
	got := c.Run(context.Background())
	if got.Verdict != report.Clean || got.BytesVerified != 1<<20 {
		t.Fatalf("verdict %s, %d bytes, error %q", got.Verdict, got.BytesVerified, got.Error)
	}
	if p := c.Progress(); p.PeerVerified != 0 || p.Sent != 1<<20 {
		t.Fatalf("live view %+v", p)
	}
}

// TestProgressOldSender: a sender that predates progress frames does not
// ask for them; the receiver does not grant them, and what follows the
// stream is its result, which the old sender's reader takes, as before,
// though the stream lasted past several of the receiver's progress
// ticks.
func TestProgressOldSender(t *testing.T) {
	addr, stop := serve(t, ServerOptions{Once: true})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := forward("00000000000000e1", 1<<20)
	h.Nonce = wire.NewNonce()
	hb, _ := wire.EncodeHello(h) // Progress false: left out, as an old sender's hello
	if strings.Contains(string(wire.Payload(hb)), "progress") {
		t.Fatalf("hello %s", wire.Payload(hb))
	}
	c.Write(hb)
	wire.ReadFrame(c, wire.TypeChallenge)
	ab, _ := wire.EncodeAuth(wire.Auth{})
	c.Write(ab)
	_, p, err := wire.ReadFrame(c, wire.TypeReply)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(p), "progress") {
		t.Fatalf("reply to an old sender grants progress: %s", p)
	}
	data := make([]byte, 1<<20)
	data[1000] = 1
	c.Write(data[:1<<19])
	s, _ := serverRuns(addr)
	waitFor(t, func() bool { return s.Progress().Regions == 1 }, "the receiver to find the region")
	// A receiver that sent progress unasked would have sent it by now.
	time.Sleep(3 * progressEvery)
	c.Write(data[1<<19:])
	c.(*net.TCPConn).CloseWrite()
	_, p, err = wire.ReadFrame(c, wire.TypeResult)
	if err != nil {
		t.Fatalf("the first frame after the stream is not its result: %v", err)
	}
	if r, err := wire.DecodeResult(p); err != nil || r.RegionCount != 1 || r.BytesVerified != 1<<20 {
		t.Fatalf("result %+v %v", r, err)
	}
	if r := stop(); len(r) != 1 || r[0].Verdict != report.Corrupt {
		t.Fatalf("%+v", r)
	}
}

// TestServerProgressCountsTheRun: a receiver's live view counts and times
// the run under way, from its start, not everything since the process
// started.
func TestServerProgressCountsTheRun(t *testing.T) {
	addr, stop, waitN := serveWatch(t, ServerOptions{})
	s, _ := serverRuns(addr)
	if p := s.Progress(); p != (Progress{}) {
		t.Fatalf("before any run: %+v", p)
	}
	if r := client(t, ClientOptions{Addr: addr, Bytes: 3 << 20}).Run(context.Background()); r.Verdict != report.Clean {
		t.Fatalf("first run %s %q", r.Verdict, r.Error)
	}
	waitN(1)
	// The last run's counts stay until the next one starts.
	if p := s.Progress(); p.Verified != 3<<20 || !p.Start.IsZero() {
		t.Fatalf("after the first run: %+v", p)
	}
	between := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan report.Report, 1)
	go func() { done <- client(t, ClientOptions{Addr: addr, Duration: time.Hour, Rate: 8e6}).Run(ctx) }()
	waitFor(t, func() bool { p := s.Progress(); return !p.Start.IsZero() && p.Verified > 0 }, "the second run to start")
	if p := s.Progress(); p.Start.Before(between) || p.Start.After(time.Now()) || p.Verified >= 3<<20 {
		t.Fatalf("second run started at %v, after %v: %+v", p.Start, between, p)
	}
	cancel()
	<-done
	waitN(2)
	reps := stop()
	if p := s.Progress(); p.Verified != reps[1].BytesVerified || p.Verified == 0 || !p.Start.IsZero() {
		t.Fatalf("after the second run: %+v, its report %d bytes", p, reps[1].BytesVerified)
	}
}
