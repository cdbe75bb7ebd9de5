package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMultiHost runs zerocheck between three hosts, each a network
// namespace with its own hostname, joined pairwise by veth links: a
// receiver on each, a sweep from each to the other two, with one link
// (host-a to host-c) corrupted by a relay. analyze on the reports of all
// three must point at that pair and at no other.
//
// It needs root and ip (iproute2) and unshare (util-linux); elsewhere it
// is skipped, unless ZEROCHECK_REQUIRE_NETNS is set (as .ci/run sets it),
// where not running is a failure.
func TestMultiHost(t *testing.T) {
	skip := func(why string) {
		if os.Getenv("ZEROCHECK_REQUIRE_NETNS") != "" {
			t.Fatalf("multi-host test cannot run: %s (ZEROCHECK_REQUIRE_NETNS is set)", why)
		}
		t.Skipf("multi-host test skipped: %s", why)
	}
	if os.Geteuid() != 0 {
		skip("not root: network namespaces need CAP_SYS_ADMIN")
	}
	for _, tool := range []string{"ip", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(tool + " is not installed")
		}
	}
	hosts := []string{"a", "b", "c"}
	ns := map[string]string{}
	for _, h := range hosts {
		ns[h] = fmt.Sprintf("zc-%s-%d", h, os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", ns[h]).CombinedOutput(); err != nil {
			skip(fmt.Sprintf("ip netns add: %v: %s", err, out))
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns[h]).Run() })
	}
	ipcmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	// Links: a-b on 10.77.1.0/24, a-c on 10.77.2.0/24, b-c on 10.77.3.0/24;
	// host x's address on a link ends in .1, .2, .3 for a, b, c.
	addr := map[string]string{} // "ab": a's address on the a-b link
	for i, link := range []string{"ab", "ac", "bc"} {
		x, y := link[:1], link[1:]
		ipcmd("link", "add", link, "netns", ns[x], "type", "veth", "peer", "name", y+x, "netns", ns[y])
		for _, end := range []struct{ host, dev string }{{x, link}, {y, y + x}} {
			a := fmt.Sprintf("10.77.%d.%d", i+1, strings.Index("abc", end.host)+1)
			addr[end.host+link] = a
			ipcmd("-n", ns[end.host], "addr", "add", a+"/24", "dev", end.dev)
			ipcmd("-n", ns[end.host], "link", "set", end.dev, "up")
		}
	}
	for _, h := range hosts {
		ipcmd("-n", ns[h], "link", "set", "lo", "up")
	}
	// at runs zerocheck on host h: in its namespace, under its hostname.
	at := func(h string, args ...string) *exec.Cmd {
		script := `hostname "$1" && shift && exec "$@"`
		return exec.Command("ip", append([]string{"netns", "exec", ns[h], "unshare", "--uts", "sh", "-c", script, "sh", "host-" + h, bin}, args...)...)
	}

	dir := t.TempDir()
	tok := tokenFile(t, "fleet-token-of-at-least-16-bytes")
	recvs := map[string]*proc{}
	for _, h := range hosts {
		rd := filepath.Join(dir, "host-"+h)
		recvs[h] = startCmd(t, at(h, "recv", "--listen", ":7777", "--token-file", tok, "--report-dir", rd, "-q", "--json"), true)
	}
	// The corrupt link: host-a reaches host-c through a relay on host-a
	// that corrupts what it forwards.
	relay := startCmd(t, at("a", "relay", "--listen", "127.0.0.1:7778", "--to", addr["cac"]+":7777", "--inject", "block@100000:2,bitflip@3000000"), true)

	peers := map[string][]string{
		"a": {relay.addr, addr["bab"]},
		"b": {addr["aab"], addr["cbc"]},
		"c": {addr["aac"], addr["bbc"]},
	}
	sweeps := map[string]*proc{}
	for _, h := range hosts {
		pf := filepath.Join(dir, "peers-"+h)
		os.WriteFile(pf, []byte("# the other two\n"+strings.Join(peers[h], "\n")+"\n"), 0o644)
		sweeps[h] = startCmd(t, at(h, "send", "--peers", pf, "--token-file", tok, "--bytes", "8MiB", "--streams", "2",
			"--report-dir", filepath.Join(dir, "host-"+h), "-q", "--json"), false)
	}
	for _, h := range hosts {
		want := 0
		if h == "a" {
			want = 1 // a -> c is corrupt
		}
		if code := sweeps[h].wait(t); code != want {
			t.Fatalf("sweep from host-%s: exit %d, want %d\n%s\n%s", h, code, want, sweeps[h].stderr(), sweeps[h].out.String())
		}
	}
	for _, h := range hosts {
		recvs[h].cmd.Process.Signal(syscall.SIGTERM)
		if code := recvs[h].wait(t); code != 0 {
			t.Fatalf("recv on host-%s: exit %d\n%s", h, code, recvs[h].stderr())
		}
	}

	// analyze reads all three hosts' report directories.
	out, err := exec.Command(bin, "analyze", "--json", filepath.Join(dir, "host-a"), filepath.Join(dir, "host-b"), filepath.Join(dir, "host-c")).Output()
	if err != nil {
		t.Fatalf("analyze: %v\n%s", err, out)
	}
	var an struct {
		Reports int `json:"reports"`
		Runs    int `json:"runs"`
		Corrupt int `json:"corrupt"`
		Pairs   []struct {
			Sender   string `json:"sender"`
			Receiver string `json:"receiver"`
			Runs     int    `json:"runs"`
			Corrupt  int    `json:"corrupt"`
			Regions  int64  `json:"regions"`
		} `json:"pairs"`
	}
	if err := json.Unmarshal(out, &an); err != nil {
		t.Fatalf("analyze --json: %v\n%s", err, out)
	}
	// 6 runs, each reported by both ends.
	if an.Reports != 12 || an.Runs != 6 || an.Corrupt != 1 || len(an.Pairs) != 6 {
		t.Fatalf("analyze: %d reports, %d runs, %d corrupt, %d pairs; want 12, 6, 1, 6\n%s", an.Reports, an.Runs, an.Corrupt, len(an.Pairs), out)
	}
	top := an.Pairs[0]
	if top.Sender != "host-a" || top.Receiver != "host-c" || top.Corrupt != 1 || top.Regions != 2*2 {
		t.Fatalf("top pair %+v, want host-a -> host-c with its corrupt run (2 regions on each of 2 streams)\n%s", top, out)
	}
	for _, p := range an.Pairs[1:] {
		if p.Corrupt != 0 || p.Runs != 1 || p.Sender == p.Receiver || !strings.HasPrefix(p.Sender, "host-") || !strings.HasPrefix(p.Receiver, "host-") {
			t.Errorf("pair %+v: want one clean run between two named hosts", p)
		}
	}
	t.Logf("analyze: %s -> %s corrupt (%d regions); the other 5 pairs clean", top.Sender, top.Receiver, top.Regions)
	text, err := exec.Command(bin, "analyze", "--top", "5", filepath.Join(dir, "host-a"), filepath.Join(dir, "host-b"), filepath.Join(dir, "host-c")).Output()
	if err != nil || !strings.Contains(string(text), "host-a") {
		t.Fatalf("analyze (text): %v\n%s", err, text)
	}
	t.Logf("analyze:\n%s", text)
}

// TestSlowLinkTimedRun: a timed run over a link shaped to 4 Mbit/s
// (tbf, between two network namespaces), which its sender fills faster
// than it drains. The sender stops on time with megabytes still in its
// socket buffers; the receiver reads them all (the sender said it had
// finished, and how much it sent) and the sender waits for the result
// while they drain: both ends clean, where the receiver used to cut the
// run as "the sender went on sending past its planned 2s" and the
// sender gave up on its result after --idle-timeout.
//
// Root, ip and tc are needed, as for TestMultiHost.
func TestSlowLinkTimedRun(t *testing.T) {
	skip := func(why string) {
		if os.Getenv("ZEROCHECK_REQUIRE_NETNS") != "" {
			t.Fatalf("slow-link test cannot run: %s (ZEROCHECK_REQUIRE_NETNS is set)", why)
		}
		t.Skipf("slow-link test skipped: %s", why)
	}
	if os.Geteuid() != 0 {
		skip("not root: network namespaces need CAP_SYS_ADMIN")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(tool + " is not installed")
		}
	}
	ns := map[string]string{}
	for _, h := range []string{"a", "b"} {
		ns[h] = fmt.Sprintf("zc-slow-%s-%d", h, os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", ns[h]).CombinedOutput(); err != nil {
			skip(fmt.Sprintf("ip netns add: %v: %s", err, out))
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns[h]).Run() })
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
	}
	run("ip", "link", "add", "ab", "netns", ns["a"], "type", "veth", "peer", "name", "ba", "netns", ns["b"])
	run("ip", "-n", ns["a"], "addr", "add", "10.78.0.1/24", "dev", "ab")
	run("ip", "-n", ns["b"], "addr", "add", "10.78.0.2/24", "dev", "ba")
	for _, h := range []string{"a", "b"} {
		run("ip", "-n", ns[h], "link", "set", h+map[string]string{"a": "b", "b": "a"}[h], "up")
		run("ip", "-n", ns[h], "link", "set", "lo", "up")
	}
	// Host a is tuned for long fat paths: 4 MiB socket send buffers from
	// the start, as after autotuning on a fast link.
	run("ip", "netns", "exec", ns["a"], "sysctl", "-qw", "net.ipv4.tcp_wmem=4096 4194304 4194304")
	// a to b: 4 Mbit/s, with a queue of 100 ms, as a shaped WAN link.
	run("ip", "netns", "exec", ns["a"], "tc", "qdisc", "add", "dev", "ab", "root", "tbf", "rate", "4mbit", "burst", "16kb", "latency", "100ms")
	at := func(h string, args ...string) *exec.Cmd {
		return exec.Command("ip", append([]string{"netns", "exec", ns[h], bin}, args...)...)
	}
	// Short timeouts: the old deadline (plan + stream wait + handshake +
	// idle timeout) is then 7 s, well inside the drain.
	r := startCmd(t, at("b", "recv", "--listen", "10.78.0.2:7777", "--once", "--json", "-q", "--no-hostinfo",
		"--idle-timeout", "2s", "--stream-wait", "1s", "--handshake-timeout", "2s"), true)
	start := time.Now()
	s := startCmd(t, at("a", "send", r.addr, "--duration", "2s", "--idle-timeout", "2s", "--json", "-q", "--no-hostinfo"), false)
	code := s.wait(t)
	took := time.Since(start)
	rcode := r.wait(t)
	sent, got := decodeJSON(t, s.out.String()), decodeJSON(t, r.out.String())
	if code != 0 || rcode != 0 || sent["verdict"] != "clean" || got["verdict"] != "clean" || num(t, sent["bytes_verified"]) != num(t, got["bytes_verified"]) {
		t.Fatalf("send exit %d %v %v, recv exit %d %v %v\n%s\n%s", code, sent["verdict"], sent["error"], rcode, got["verdict"], got["error"], s.stderr(), r.stderr())
	}
	n := num(t, got["bytes_verified"])
	t.Logf("%d bytes over 4 Mbit/s in %v, planned for 2s", n, took)
	if took < 7*time.Second {
		t.Fatalf("the run took %v: too little was in flight to outlast the old deadline of 7s", took)
	}
}
