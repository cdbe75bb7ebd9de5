package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// TestHostileClients: a receiver left running on a network is fed
// garbage, mutated real handshakes (lying lengths such as 0x6edd0b51,
// the seed incident's, and 0xffffffff), truncations, resets and hundreds
// of idle connections at once, from several source addresses. A real
// sender run in the middle of it is clean, the receiver stays up, and
// its peak memory stays bounded.
func TestHostileClients(t *testing.T) {
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--json", "-q", "--handshake-timeout", "3s",
		"--no-hostinfo", "--log-format", "json")
	addr := r.addr

	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	hold := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	dial := func(i int) net.Conn {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))}
		d := net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Errorf("dial from %v: %v", src, err)
			return nil
		}
		return c
	}

	// 400 idle connections, held open through the real run.
	for i := range 400 {
		if c := dial(i); c != nil {
			hold(c)
		}
	}
	hello := realHello(t)
	rng := rand.New(rand.NewPCG(1, 2))
	attacks := hostileInputs(hello, rng)
	for i, a := range attacks {
		wg.Go(func() {
			c := dial(i)
			if c == nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(a.data)
			switch a.end {
			case "reset":
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			case "hold":
				hold(c)
			default:
				c.(*net.TCPConn).CloseWrite()
				var buf [4096]byte
				for {
					if _, err := c.Read(buf[:]); err != nil {
						break
					}
				}
				c.Close()
			}
		})
	}

	// The real sender, in the middle of it all.
	code, s, stderr := send(t, addr, "--pattern", "random", "--streams", "2", "--bytes", "64MiB", "--rate", "1G", "--no-hostinfo")
	if code != 0 || s["verdict"] != "clean" || fmt.Sprint(s["bytes_verified"]) != "67108864" {
		t.Fatalf("real sender amid hostile clients: exit %d %v %v\n%s", code, s["verdict"], s["error"], stderr)
	}
	wg.Wait()
	// Still up, and still serving, with the idle ones still open.
	if code, s, stderr := send(t, addr, "--bytes", "8MiB", "--no-hostinfo"); code != 0 {
		t.Fatalf("second run: exit %d %v\n%s", code, s["error"], stderr)
	}
	peak := peakRSS(t, r.cmd.Process.Pid)
	t.Logf("%d hostile inputs and %d held connections; receiver peak RSS %d MiB", len(attacks), len(conns), peak>>20)
	// A verifier needs a few MiB; the protocol's bounds keep what a peer
	// can make the receiver hold to 64 KiB a connection.
	if peak > 256<<20 {
		t.Errorf("receiver peak RSS %d MiB: memory is not bounded", peak>>20)
	}
	for _, c := range conns {
		c.Close()
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("receiver exit %d after SIGTERM:\n%s", code, r.stderr())
	}
	log := r.stderr()
	if !strings.Contains(log, `"msg":"refused"`) {
		t.Errorf("no refusal logged:\n%.2000s", log)
	}
	if strings.Contains(log, "panic") || strings.Contains(log, "internal error") {
		t.Errorf("the receiver hit an internal error:\n%s", log)
	}
}

// realHello is the hello frame a real sender would send.
func realHello(t *testing.T) []byte {
	t.Helper()
	b, err := wire.EncodeHello(wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward,
		Pattern: "zeros", Bytes: 1 << 30, Nonce: wire.NewNonce(), Facts: []byte(`{"hostname":"mallory"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type hostileInput struct {
	name string
	data []byte
	// end is how the client leaves: "" half-close and read the answer,
	// "reset", or "hold" the connection open.
	end string
}

// hostileInputs returns what a hostile or broken client sends.
func hostileInputs(hello []byte, rng *rand.Rand) []hostileInput {
	var in []hostileInput
	add := func(name string, data []byte, end string) { in = append(in, hostileInput{name, data, end}) }
	withLen := func(n uint32) []byte {
		b := bytes.Clone(hello)
		binary.BigEndian.PutUint32(b[8:12], n)
		return b
	}
	for _, n := range []uint32{0x6edd0b51, 0xffffffff, wire.MaxHello + 1, 1 << 31, 0} {
		add(fmt.Sprintf("length %#x", n), withLen(n), "")
		add(fmt.Sprintf("length %#x held", n), withLen(n), "hold")
	}
	// A length within the bound, with the payload never finished: the
	// buffer grows with what arrives, not with the claim.
	add("claims 64KiB, sends 1KiB, holds", append(withLen(wire.MaxHello)[:wire.HeaderSize], make([]byte, 1024)...), "hold")
	for i := 0; i < 8; i++ {
		g := make([]byte, 1+rng.IntN(64<<10))
		for j := range g {
			g[j] = byte(rng.Uint32())
		}
		add("garbage", g, []string{"", "reset", "hold"}[i%3])
	}
	add("http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "")
	add("zeros", make([]byte, 1<<20), "")
	for cut := 1; cut < len(hello); cut += 1 + len(hello)/40 {
		add("truncated "+strconv.Itoa(cut), hello[:cut], []string{"", "reset", "hold"}[cut%3])
	}
	for i := range 60 {
		b := bytes.Clone(hello)
		for range 1 + rng.IntN(4) {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		add("mutated "+strconv.Itoa(i), b, []string{"", "reset"}[i%2])
	}
	for _, v := range []byte{0, 1, 3, 255} {
		b := bytes.Clone(hello)
		b[4] = v
		add(fmt.Sprintf("version %d", v), b, "")
	}
	for _, typ := range []byte{0, 2, 3, 4, 5, 6, 255} {
		b := bytes.Clone(hello)
		b[5] = typ
		add(fmt.Sprintf("type %d", typ), b, "")
	}
	// A valid hello, then an auth frame that lies about its length, or
	// pattern bytes with no auth at all.
	auth, _ := wire.EncodeAuth(wire.Auth{})
	for _, n := range []uint32{0x6edd0b51, 0xffffffff} {
		a := bytes.Clone(auth)
		binary.BigEndian.PutUint32(a[8:12], n)
		add(fmt.Sprintf("auth length %#x", n), append(bytes.Clone(hello), a...), "")
	}
	add("hello then data, no auth", append(bytes.Clone(hello), make([]byte, 256<<10)...), "")
	add("hello then reset", hello, "reset")
	add("many hellos", bytes.Repeat(hello, 100), "")
	return in
}

// peakRSS returns a process's peak resident memory (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// TestReceiverMemoryFromResults: one stranger (no token) opens one run
// of 128 reverse (--bidir) streams and answers each with the largest
// result the receiver takes (4 MiB, its reply says), shaped to cost the
// most: one region with 1 MiB captures, as many regions with whole 4 KiB
// captures as fit, or as many small regions as fit. Every result is
// decoded, in turn, the counts stay exact, and the receiver's peak
// memory stays bounded: results may take --max-result-memory (64 MiB)
// at once, what they keep until the run is reported included (an
// eighth of it; past that their captures, then their regions' details,
// are dropped); the garbage collector lets the heap grow to twice what
// is live, and the process itself takes some 30 MiB: under 256 MiB
// with room for a loaded machine (110 to 140 MiB measured). Before the
// result memory, the receiver took 1.8 to 2 GiB.
func TestReceiverMemoryFromResults(t *testing.T) {
	const streams = 128
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--json", "-q", "--no-hostinfo", "--log-format", "json")
	peak := watchPeak(r.cmd.Process.Pid)
	shapes := []struct{ regions, capture int }{{1, 1<<20 - 1024}, {250, 4096 + 32}, {20000, 0}}
	var mu sync.Mutex
	var counted int64
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() {
			c, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			h := wire.Hello{RunID: "0000000000000bad", Stream: i, Streams: streams, Direction: wire.Reverse, Pattern: "zeros", Bytes: 1 << 20, Nonce: wire.NewNonce()}
			reply, err := dialerHandshake(c, h)
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
				return
			}
			if reply.ResultMax != 4<<20 {
				t.Errorf("stream %d: the receiver takes results of %d bytes, want 4 MiB", i, reply.ResultMax)
			}
			if n, err := io.Copy(io.Discard, c); n != 1<<20 || err != nil {
				t.Errorf("stream %d: %d bytes (%v)", i, n, err)
				return
			}
			s := shapes[i%len(shapes)]
			frame := hostileResults.get(t, s.regions, s.capture, reply.ResultMax)
			mu.Lock()
			counted += frame.regions
			mu.Unlock()
			if _, err := frame.buffers(i).WriteTo(c); err != nil {
				t.Errorf("stream %d: result: %v", i, err)
			}
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
		})
	}
	wg.Wait()
	r.waitStderr(t, `"msg":"session end"`)
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("receiver exit %d:\n%s", code, r.stderr())
	}
	m := decodeJSON(t, r.out.String())
	t.Logf("%d reverse streams with 4 MiB results: receiver peak RSS %d MiB", streams, peak()>>20)
	if m["verdict"] != "corrupt" || len(m["streams"].([]any)) != streams || num(t, m["region_count"]) != counted {
		t.Errorf("report: %v, %d streams, %v regions (want %d); %v", m["verdict"], len(m["streams"].([]any)), m["region_count"], counted, m["error"])
	}
	if e, _ := m["error"].(string); strings.Contains(e, "no result") {
		t.Errorf("a result was lost: %s", e)
	}
	if peak() > 256<<20 {
		t.Errorf("receiver peak RSS %d MiB: results' memory is not bounded", peak()>>20)
	}
}

// TestSenderMemoryFromResults: a hostile receiver answers each of a
// real sender's 8 streams with a result of wire.MaxResult (32 MiB, less
// 30 KiB), as many regions with 1 MiB captures as fit. By default the
// sender refuses them as their headers arrive: decoding one could take
// 68.9 MiB, more than --max-result-memory 64 MiB leaves for one (56
// MiB); the run is incomplete (exit 3) and says why, and the sender's
// memory stays small. With --max-result-memory 128MiB it decodes them,
// in turn (two do not fit at once), keeps their counts exact and their
// captures cut to 4 KiB: results hold at most 128 MiB, the garbage
// collector lets the heap grow to twice what is live, and the process
// itself takes some 15 MiB: under 288 MiB (125 to 135 MiB measured). Before
// the result memory, 8 such results took the sender to 950 MiB.
func TestSenderMemoryFromResults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	frame := hostileResults.get(t, 100, 1<<20-1024, wire.MaxResult)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go hostileReceiver(t, c, frame)
		}
	}()
	for _, c := range []struct {
		args  []string
		code  int
		error string
		peak  int64
	}{
		{nil, 3, fmt.Sprintf("stream 0: sent 1048576 bytes, but no result from the peer: its result of %d bytes would take up to 68.9 MiB to decode, "+
			"more than --max-result-memory 64 MiB leaves for one result (56 MiB)", len(frame.head)+len(frame.rest)), 64 << 20},
		{[]string{"--max-result-memory", "128MiB"}, 1, "", 288 << 20},
	} {
		p := start(t, false, append([]string{"send", ln.Addr().String(), "--json", "-q", "--no-hostinfo", "--streams", "8", "--bytes", "8MiB"}, c.args...)...)
		watch := watchPeak(p.cmd.Process.Pid)
		code := p.wait(t)
		s := decodeJSON(t, p.out.String())
		peak := watch()
		t.Logf("%v: exit %d, peak RSS %d MiB; %.200v", c.args, code, peak>>20, s["error"])
		e, _ := s["error"].(string)
		if code != c.code || c.error != "" && !strings.Contains(e, c.error) || c.error == "" && e != "" {
			t.Errorf("%v: exit %d, error %q; want exit %d, %q\n%s", c.args, code, e, c.code, c.error, p.stderr())
		}
		if c.code == 1 && (num(t, s["region_count"]) != 8*frame.regions || len(s["regions"].([]any)) != 8*int(frame.regions)) {
			t.Errorf("%v: %v regions, %d detailed; want %d", c.args, s["region_count"], len(s["regions"].([]any)), 8*frame.regions)
		}
		if peak > c.peak {
			t.Errorf("%v: sender peak RSS %d MiB, want under %d MiB: results' memory is not bounded", c.args, peak>>20, c.peak>>20)
		}
	}
}

// TestMaxResultMemoryFlag: --max-result-memory takes a size with units
// on recv and send; out of its range it is a usage error (exit 2) that
// names the range.
func TestMaxResultMemoryFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"recv", "--max-result-memory", "8MiB"}, "zerocheck: --max-result-memory 8 MiB: want 16 MiB to 1 TiB"},
		{[]string{"send", "127.0.0.1:1", "--max-result-memory", "2TiB"}, "zerocheck: --max-result-memory 2 TiB: want 16 MiB to 1 TiB"},
		{[]string{"send", "127.0.0.1:1", "--max-result-memory", "lots"}, `invalid argument "lots" for "--max-result-memory" flag`},
	} {
		code, _, stderr := inproc(t, nil, c.args...)
		if code != 2 || !strings.Contains(stderr, c.err) {
			t.Errorf("%v: exit %d, %q; want exit 2, %q", c.args, code, stderr, c.err)
		}
	}
}

// hostileReceiver answers one connection of a sender as a receiver
// would, but with frame for a result.
func hostileReceiver(t *testing.T, c net.Conn, frame resultFrame) {
	defer c.Close()
	_, p, err := wire.ReadFrame(c, wire.TypeHello)
	if err != nil {
		return
	}
	h, err := wire.DecodeHello(p)
	if err != nil {
		t.Errorf("hostile receiver: %v", err)
		return
	}
	b, _ := wire.EncodeChallenge(wire.Challenge{Nonce: wire.NewNonce(), Auth: wire.AuthNone})
	c.Write(b)
	if _, _, err := wire.ReadFrame(c, wire.TypeAuth); err != nil {
		return
	}
	b, _ = wire.EncodeReply(wire.Reply{Version: "hostile"})
	c.Write(b)
	if h.Direction != wire.Forward {
		return
	}
	io.Copy(io.Discard, c)
	frame.buffers(h.Stream).WriteTo(c)
}

// watchPeak follows a process's peak resident memory (VmHWM) while it
// runs; peak returns the last seen, once the process is gone. (A child's
// rusage cannot tell: the kernel counts in it the peak of the parent it
// was forked from.)
func watchPeak(pid int) (peak func() int64) {
	var last atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			_, v, ok := strings.Cut(string(b), "VmHWM:")
			if err != nil || !ok {
				return // gone, or a zombie
			}
			v, _, _ = strings.Cut(v, "\n")
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return
			}
			last.Store(kb << 10)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return func() int64 {
		<-done
		return last.Load()
	}
}

// dialerHandshake runs a dialer's side of the handshake with no token,
// with the real encoders, and returns the listener's reply.
func dialerHandshake(c net.Conn, h wire.Hello) (wire.Reply, error) {
	b, err := wire.EncodeHello(h)
	if err != nil {
		return wire.Reply{}, err
	}
	c.Write(b)
	_, p, err := wire.ReadFrame(c, wire.TypeChallenge)
	if err != nil {
		return wire.Reply{}, err
	}
	if _, err := wire.DecodeChallenge(p); err != nil {
		return wire.Reply{}, err
	}
	b, _ = wire.EncodeAuth(wire.Auth{})
	c.Write(b)
	if _, p, err = wire.ReadFrame(c, wire.TypeReply); err != nil {
		return wire.Reply{}, err
	}
	return wire.DecodeReply(p)
}

// resultFrame is a result, encoded by the real encoder for stream 0,
// whose frame is written for any stream: the stream's number is patched
// into the short head, and the long rest is shared by all streams
// rather than copied for each.
type resultFrame struct {
	head, rest []byte
	regions    int64
}

// buffers returns the frame for stream i.
func (f resultFrame) buffers(i int) *net.Buffers {
	head := bytes.Replace(f.head, []byte(`"streams":[{"stream":0,`), []byte(fmt.Sprintf(`"streams":[{"stream":%d,`, i)), 1)
	hdr, trailer := frameAround(wire.TypeResult, head, f.rest)
	return &net.Buffers{hdr, head, f.rest, trailer}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameAround returns the header and trailer of a frame of type t whose
// payload is the parts, in order (see package wire).
func frameAround(t wire.Type, parts ...[]byte) (hdr, trailer []byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	hdr = append([]byte(wire.Magic), wire.Version, byte(t), 0, 0)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(n))
	sum := crc32.Checksum(hdr, castagnoli)
	for _, p := range parts {
		sum = crc32.Update(sum, castagnoli, p)
	}
	return hdr, binary.BigEndian.AppendUint32(nil, sum)
}

// resultCache makes each shape of result once.
type resultCache struct {
	mu     sync.Mutex
	frames map[[3]int]resultFrame
}

var hostileResults resultCache

// get returns the corrupt report of a stream of 1 MiB with up to
// regions regions of capture bytes captured each, as many as fit in a
// result of max bytes, 16 corrupt bytes every 32.
func (rc *resultCache) get(t *testing.T, regions, capture, max int) resultFrame {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	key := [3]int{regions, capture, max}
	if f, ok := rc.frames[key]; ok {
		return f
	}
	exp, act := make(report.Hex, capture), bytes.Repeat([]byte{0xa5}, capture)
	rep := report.Report{Schema: report.Schema, Verdict: report.Corrupt, Pattern: "zeros", Start: time.Now().UTC(), Seconds: 1,
		BytesVerified: 1 << 20, MaxRegions: 1000, MergeGap: 16, Streams: []report.Stream{{Stream: 0, Direction: report.Reverse}}}
	var size int
	for i := range regions {
		g := report.Region{Index: i + 1, Offset: int64(i) * 32, Length: 16, CorruptBytes: 16, FlippedBits: 64,
			Kind: report.KindZeroed, DataOffset: int64(i) * 32, Expected: exp, Actual: act}
		b, _ := json.Marshal(g)
		if size += len(b) + 1; size > max-2048 {
			break
		}
		rep.Regions = append(rep.Regions, g)
	}
	rep.RegionCount = int64(len(rep.Regions))
	rep.CorruptBytes, rep.FlippedBits = 16*rep.RegionCount, 64*rep.RegionCount
	b, err := wire.EncodeResultMax(rep, max-16) // room for a stream number
	if err != nil {
		t.Fatal(err)
	}
	p := wire.Payload(b)
	if !bytes.Contains(p, []byte(`"truncated":false`)) {
		t.Fatalf("the encoder dropped the captures of a result of %d regions of %d bytes", regions, capture)
	}
	cut := bytes.Index(p, []byte(`"regions":`))
	f := resultFrame{head: p[:cut], rest: p[cut:], regions: rep.RegionCount}
	if hdr, trailer := frameAround(wire.TypeResult, f.head, f.rest); !bytes.Equal(slices.Concat(hdr, p, trailer), b) {
		t.Fatal("frameAround does not frame as wire does")
	}
	if rc.frames == nil {
		rc.frames = map[[3]int]resultFrame{}
	}
	rc.frames[key] = f
	return f
}
