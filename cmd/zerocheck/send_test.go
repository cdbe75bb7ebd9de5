package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSendRefusesNCHostPort: nc's "HOST PORT" would make the port a
// second peer, a host named "24100": it is refused with the HOST:PORT
// spelling, exit 2, before anything is sent.
func TestSendRefusesNCHostPort(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "127.0.0.1", "24100"}, `zerocheck: peer "24100" is a port, not a host: send takes HOST:PORT (127.0.0.1:24100), not nc's HOST PORT`},
		{[]string{"send", "24100"}, `zerocheck: peer "24100" is a port, not a host: send takes HOST:PORT (HOST:24100), not nc's HOST PORT`},
		{[]string{"send", "::1", "24100"}, `zerocheck: peer "24100" is a port, not a host: send takes HOST:PORT ([::1]:24100), not nc's HOST PORT`},
	} {
		code, _, stderr := inproc(t, nil, tc.args...)
		if code != exitUsage || firstLine(stderr) != tc.want {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, firstLine(stderr), tc.want)
		}
	}
}

// TestSendNoSuchHost: a host name that does not exist (the resolver says
// NXDOMAIN) is a mistake in the command line or the peers file: exit 2,
// every such peer named, no usage text, nothing sent. A lookup that fails
// for a while is a network failure, exit 3, as a refused connection is;
// no resolver here fails on demand, so that half is not tested.
func TestSendNoSuchHost(t *testing.T) {
	var dnsErr *net.DNSError
	if _, err := net.DefaultResolver.LookupHost(context.Background(), "zerocheck-test.invalid"); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Skipf("this host's resolver does not answer NXDOMAIN for .invalid (RFC 6761): %v", err)
	}
	peers := filepath.Join(t.TempDir(), "peers")
	os.WriteFile(peers, []byte("127.0.0.1:1\nthird.invalid\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "hostb.invalid"}, "zerocheck: no such host: hostb.invalid (a name that does not exist: check its spelling)"},
		{[]string{"send", "127.0.0.1:1", "hostb.invalid:7777", "hostc.invalid", "--peers", peers},
			"zerocheck: no such host: hostb.invalid, hostc.invalid, third.invalid (a name that does not exist: check its spelling)"},
	} {
		code, stdout, stderr := inproc(t, nil, tc.args...)
		if code != exitUsage || strings.TrimSuffix(stderr, "\n") != tc.want || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want 2 and %q", tc.args, code, stderr, stdout, tc.want)
		}
	}
}

// TestSweepNamesEveryFailingPeer: a sweep's last stderr line is its
// summary, naming every peer that was not clean (up to ten, then the
// count of the others), not the first failure's error.
func TestSweepNamesEveryFailingPeer(t *testing.T) {
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "-q", "--no-hostinfo")
	down1, down2 := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	p := start(t, false, "send", down1, r.addr, down2, "--bytes", "1MiB", "-q", "--no-hostinfo")
	want := fmt.Sprintf("zerocheck: sweep of 3 peers: 1 clean, 0 corrupt, 2 incomplete (%s incomplete, %s incomplete)", down1, down2)
	if code, lines := p.wait(t), strings.Split(strings.TrimSuffix(p.stderr(), "\n"), "\n"); code != exitIncomplete || lines[len(lines)-1] != want {
		t.Fatalf("exit %d, last line %q; want 3 and %q\n%s", code, lines[len(lines)-1], want, p.stderr())
	}

	var many []string
	for range 12 {
		many = append(many, "127.0.0.1:"+freePort(t))
	}
	p = start(t, false, append([]string{"send", "--bytes", "1MiB", "-q", "--no-hostinfo"}, many...)...)
	want = "zerocheck: sweep of 12 peers: 0 clean, 0 corrupt, 12 incomplete ("
	for _, m := range many[:10] {
		want += m + " incomplete, "
	}
	want += "and 2 more)"
	if code, lines := p.wait(t), strings.Split(strings.TrimSuffix(p.stderr(), "\n"), "\n"); code != exitIncomplete || lines[len(lines)-1] != want {
		t.Fatalf("12 down: exit %d, last line %q; want 3 and %q", code, lines[len(lines)-1], want)
	}
}

// TestStoppedReceiverSaysSo: a receiver stopped by a signal mid-run
// says that it was stopped, in its report and in the findings the sender
// shows, rather than a bare "interrupted: interrupt signal received" that
// reads, on the sender, as if the sender had been interrupted.
func TestStoppedReceiverSaysSo(t *testing.T) {
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--json", "-q", "--no-hostinfo")
	sp := start(t, false, "send", r.addr, "--duration", "1m", "--json", "--bidir", "--no-hostinfo")
	sp.waitStderr(t, "regions")
	r.cmd.Process.Signal(syscall.SIGINT)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d", code)
	}
	if code := sp.wait(t); code != exitIncomplete {
		t.Fatalf("send exit %d", code)
	}
	const said = "the receiver was stopped (interrupt signal received)"
	for end, out := range map[string]string{"send": sp.out.String(), "recv": r.out.String()} {
		m := decodeJSON(t, out)
		msg := fmt.Sprint(m["error"])
		if m["verdict"] != "incomplete" || !strings.Contains(msg, "interrupted: "+said) || strings.Contains(msg, "interrupted: interrupt signal received") {
			t.Errorf("%s: verdict %v, error %q; want incomplete, saying %q", end, m["verdict"], msg, said)
		}
	}
}

// TestSendReverse: with -R the receiver streams and the sender verifies:
// clean, every byte verified at the sender, the receiver's report showing
// the streams it sent (reverse) and no forward stream at either end.
func TestSendReverse(t *testing.T) {
	r := recvOnce(t)
	code, s, stderr := send(t, r.addr, "-R", "--streams", "2", "--bytes", "4MiB", "--pattern", "random")
	rcode := r.wait(t)
	m := decodeJSON(t, r.out.String())
	if code != exitClean || rcode != exitClean {
		t.Fatalf("send exit %d, recv exit %d\n%s\n%s", code, rcode, stderr, r.stderr())
	}
	if s["verdict"] != "clean" || num(t, s["bytes_verified"]) != 4<<20 || s["run_id"] != m["run_id"] {
		t.Fatalf("send: %v, %v bytes verified, run %v", s["verdict"], s["bytes_verified"], s["run_id"])
	}
	// The receiver's report is the sender's findings on the streams it
	// sent: reverse streams, every byte verified over there.
	if m["verdict"] != "clean" || num(t, m["bytes_verified"]) != 4<<20 || m["role"] != "recv" {
		t.Fatalf("recv: %v, %v bytes verified by the sender", m["verdict"], m["bytes_verified"])
	}
	for _, rep := range []map[string]any{s, m} {
		for _, st := range rep["streams"].([]any) {
			if d := st.(map[string]any)["direction"]; d != "reverse" {
				t.Fatalf("%s: a %v stream", rep["role"], d)
			}
		}
		if n := len(rep["streams"].([]any)); n != 2 {
			t.Fatalf("%s: %d streams, want 2", rep["role"], n)
		}
	}
}

// TestLoopbackReverse: loopback shares send's -R: one process, the
// receiver end streams and the sender end verifies.
func TestLoopbackReverse(t *testing.T) {
	code, out, stderr := inproc(t, nil, "loopback", "-R", "--streams", "2", "--bytes", "2MiB", "-q", "-J")
	m := decodeJSON(t, out)
	if code != exitClean || m["verdict"] != "clean" || num(t, m["bytes_verified"]) != 2<<20 {
		t.Fatalf("exit %d, %v, %v bytes verified\n%s", code, m["verdict"], m["bytes_verified"], stderr)
	}
	for _, st := range m["streams"].([]any) {
		if d := st.(map[string]any)["direction"]; d != "reverse" {
			t.Fatalf("a %v stream", d)
		}
	}
}

// TestSendReverseCorruptThroughRelay: corruption on the reverse path is
// found by the sender, exit 1, at the exact offset of the injection.
func TestSendReverseCorruptThroughRelay(t *testing.T) {
	r := recvOnce(t)
	rl := start(t, true, "relay", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", "bitflip@300000:2")
	code, s, stderr := send(t, rl.addr, "-R", "--bytes", "1MiB")
	r.wait(t)
	if code != exitCorrupt {
		t.Fatalf("send exit %d, want 1\n%s\n%s", code, stderr, r.stderr())
	}
	regions := s["regions"].([]any)
	if s["verdict"] != "corrupt" || num(t, s["bytes_verified"]) != 1<<20 || len(regions) != 1 {
		t.Fatalf("send: %v, %v bytes verified, regions %v", s["verdict"], s["bytes_verified"], regions)
	}
	g := regions[0].(map[string]any)
	if num(t, g["offset"]) != 300000 || num(t, g["length"]) != 1 || g["kind"] != "bitflip" || g["direction"] != nil && g["direction"] != "reverse" {
		t.Fatalf("region %v, want one flipped bit at 300000", g)
	}
	rl.cmd.Process.Signal(syscall.SIGTERM)
	if code := rl.wait(t); code != 0 {
		t.Fatalf("relay exit %d", code)
	}
}

// TestSendReverseExcludes: --reverse with --bidir or --raw is a usage
// error, exit 2, before anything is dialled.
func TestSendReverseExcludes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "127.0.0.1:1", "-R", "--bidir"}, "zerocheck: --reverse and --bidir exclude each other: --bidir already streams from the receiver too"},
		{[]string{"send", "127.0.0.1:1", "--reverse", "--raw"}, "zerocheck: --raw and --reverse exclude each other: a raw receiver sends nothing back"},
		{[]string{"loopback", "-R", "--bidir"}, "zerocheck: --reverse and --bidir exclude each other: --bidir already streams from the receiver too"},
	} {
		code, stdout, stderr := inproc(t, nil, tc.args...)
		if code != exitUsage || firstLine(stderr) != tc.want || stdout != "" {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, firstLine(stderr), tc.want)
		}
	}
}
