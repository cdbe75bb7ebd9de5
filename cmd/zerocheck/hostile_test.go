package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
