package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// The receiver as a service and the sender as a sweep, run as a user
// runs them: the binary, real sockets, real files.

func tokenFile(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenFile(t *testing.T) {
	good := tokenFile(t, "a-token-of-at-least-16-bytes")
	bad := tokenFile(t, "another-token-of-16-bytes-or-more")
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--json", "-q", "--no-hostinfo", "--token-file", good)
	if code, s, stderr := send(t, r.addr, "--bytes", "4MiB", "--no-hostinfo", "--token-file", good); code != 0 || s["verdict"] != "clean" {
		t.Fatalf("same token: exit %d %v\n%s", code, s["error"], stderr)
	}
	code, s, _ := send(t, r.addr, "--bytes", "4MiB", "--no-hostinfo", "--token-file", bad)
	if code != 3 || !strings.Contains(fmt.Sprint(s["error"]), "authentication failed: the sender's token is not this receiver's") {
		t.Fatalf("wrong token: exit %d %v", code, s["error"])
	}
	code, s, _ = send(t, r.addr, "--bytes", "4MiB", "--no-hostinfo")
	if code != 3 || !strings.Contains(fmt.Sprint(s["error"]), "requires a token: pass --token-file") {
		t.Fatalf("no token: exit %d %v", code, s["error"])
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d", code)
	}
	if n := strings.Count(r.stderr(), "msg=refused"); n != 2 {
		t.Errorf("%d refusals logged, want 2:\n%s", n, r.stderr())
	}
	// Bad token files are usage errors.
	short := tokenFile(t, "short")
	for _, args := range [][]string{
		{"recv", "--token-file", short},
		{"recv", "--token-file", "/nonexistent/token"},
		{"send", "127.0.0.1", "--token-file", short},
		{"recv", "--raw", "--token-file", good},
	} {
		if code, _, stderr := inproc(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, stderr)
		}
	}
}

// TestReportDirAndMetrics: send and recv each write one JSON report per
// run to --report-dir and keep Prometheus metrics in --prom-textfile;
// a sweep over several peers runs each, exits with the worst, and says
// which failed.
func TestReportDirAndMetrics(t *testing.T) {
	dir := t.TempDir()
	recvDir, sendDir := filepath.Join(dir, "recv"), filepath.Join(dir, "send")
	recvProm, sendProm := filepath.Join(dir, "recv.prom"), filepath.Join(dir, "send.prom")
	// With a token: the handshake authenticates through the relay too.
	tok := tokenFile(t, "a-token-of-at-least-16-bytes")
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--json", "-q", "--no-hostinfo",
		"--report-dir", recvDir, "--prom-textfile", recvProm, "--token-file", tok)
	rl := start(t, true, "relay", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", "block@100000:2")
	dead := "127.0.0.1:1" // nothing listens there: incomplete
	p := start(t, false, "send", r.addr, rl.addr, dead, "--bytes", "2MiB", "--no-hostinfo", "--json", "-q",
		"--report-dir", sendDir, "--prom-textfile", sendProm, "--token-file", tok)
	if code := p.wait(t); code != 1 {
		t.Fatalf("sweep exit %d, want 1 (corrupt beats incomplete):\n%s", code, p.stderr())
	}
	if !strings.Contains(p.stderr(), "sweep of 3 peers: 1 clean, 1 corrupt, 1 incomplete ("+rl.addr+" corrupt, "+dead+" incomplete)") {
		t.Errorf("sweep summary:\n%s", p.stderr())
	}
	// One JSON object per peer on stdout, in order.
	d := json.NewDecoder(strings.NewReader(p.out.String()))
	var verdicts []string
	for d.More() {
		var m report.Report
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		verdicts = append(verdicts, string(m.Verdict))
	}
	if fmt.Sprint(verdicts) != "[clean corrupt incomplete]" {
		t.Fatalf("sweep reports %v", verdicts)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d", code)
	}
	sent := readReports(t, sendDir)
	got := readReports(t, recvDir)
	if len(sent) != 3 || len(got) != 2 {
		t.Fatalf("%d send reports, %d recv reports; want 3 and 2", len(sent), len(got))
	}
	for name, rep := range got {
		if !strings.HasSuffix(name, "_recv.json") || !strings.Contains(name, rep.RunID) {
			t.Errorf("recv report named %s for run %s", name, rep.RunID)
		}
		if s, ok := findRun(sent, rep.RunID); !ok || s.Verdict != rep.Verdict {
			t.Errorf("run %s: recv %s, send %+v", rep.RunID, rep.Verdict, s.Verdict)
		}
	}
	for _, f := range []struct {
		path  string
		role  string
		runs  map[string]float64
		bytes float64
	}{
		{sendProm, "send", map[string]float64{"clean": 1, "corrupt": 1, "incomplete": 1}, 4 << 20},
		{recvProm, "recv", map[string]float64{"clean": 1, "corrupt": 1}, 4 << 20},
	} {
		fams := readProm(t, f.path)
		// The build that wrote the file, as its --version names it.
		out, err := exec.Command(bin, "--version").Output()
		version := strings.TrimSpace(strings.TrimPrefix(string(out), "zerocheck version "))
		if bi := fams["zerocheck_build_info"].GetMetric(); err != nil || len(bi) != 1 || len(bi[0].GetLabel()) != 2 ||
			bi[0].GetLabel()[0].GetName() != "version" || bi[0].GetLabel()[0].GetValue() != version {
			t.Errorf("%s: build info %v, want version %q", f.path, bi, version)
		}
		runs := map[string]float64{}
		for _, m := range fams["zerocheck_runs_total"].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["role"] != f.role {
				t.Errorf("%s: role %q", f.path, labels["role"])
			}
			runs[labels["verdict"]] += m.GetCounter().GetValue()
		}
		for v, n := range f.runs {
			if runs[v] != n {
				t.Errorf("%s: %s runs %v, want %v (%v)", f.path, v, runs[v], n, runs)
			}
		}
		var bytes float64
		for _, m := range fams["zerocheck_bytes_verified_total"].GetMetric() {
			bytes += m.GetCounter().GetValue()
		}
		if bytes != f.bytes {
			t.Errorf("%s: bytes verified %v, want %v", f.path, bytes, f.bytes)
		}
	}
}

// readReports reads every report in dir, by file name, failing on any
// file that is not a whole report.
func readReports(t *testing.T, dir string) map[string]report.Report {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]report.Report{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var r report.Report
		if err := json.Unmarshal(b, &r); err != nil || r.Schema != report.Schema {
			t.Fatalf("%s is not a whole report (%d bytes): %v", e.Name(), len(b), err)
		}
		out[e.Name()] = r
	}
	return out
}

func findRun(reps map[string]report.Report, id string) (report.Report, bool) {
	for _, r := range reps {
		if r.RunID == id {
			return r, true
		}
	}
	return report.Report{}, false
}

func readProm(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("%s does not parse as the Prometheus text format: %v", path, err)
	}
	return fams
}

// TestRecvServiceLog: --log-format json writes one JSON object per line:
// the session's start and end, with peer, bytes, verdict and regions.
func TestRecvServiceLog(t *testing.T) {
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--no-hostinfo", "--log-format", "json")
	if code, _, stderr := send(t, r.addr, "--bytes", "3MiB", "--no-hostinfo"); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d", code)
	}
	var start, end map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stderr()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", sc.Text())
		}
		switch m["msg"] {
		case "session start":
			start = m
		case "session end":
			end = m
		}
	}
	if start == nil || end == nil {
		t.Fatalf("no session start and end lines:\n%s", r.stderr())
	}
	if start["run_id"] != end["run_id"] || start["peer"] == nil || start["bytes"] != float64(3<<20) ||
		end["verdict"] != "clean" || end["bytes_verified"] != float64(3<<20) || end["regions"] != float64(0) || end["level"] != "INFO" {
		t.Fatalf("start %v\nend %v", start, end)
	}
	if code, _, _ := inproc(t, nil, "recv", "--log-format", "xml"); code != 2 {
		t.Errorf("--log-format xml: exit %d, want 2", code)
	}
}

// TestRecvHealth: the health endpoint answers from a real session through
// the receiver, behind its token and allow list.
func TestRecvHealth(t *testing.T) {
	tok := tokenFile(t, "a-token-of-at-least-16-bytes")
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--no-hostinfo", "-q", "--token-file", tok,
		"--allow", "192.0.2.0/24", "--health", "127.0.0.1:0", "--max-sessions", "1")
	r.waitStderr(t, "msg=\"health endpoint\"")
	var haddr string
	for _, line := range strings.Split(r.errbufString(), "\n") {
		if _, a, ok := strings.Cut(line, `msg="health endpoint" addr=`); ok {
			haddr, _, _ = strings.Cut(a, " ")
		}
	}
	resp, err := http.Get("http://" + haddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var h map[string]any
	json.Unmarshal(b, &h)
	if resp.StatusCode != 200 || h["status"] != "ok" || h["verdict"] != "clean" {
		t.Fatalf("health: %d %s", resp.StatusCode, b)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d:\n%s", code, r.stderr())
	}
	// No report for the health check's run.
	if strings.Contains(r.out.String(), "verdict") {
		t.Errorf("the health check was reported:\n%s", r.out.String())
	}
	// A health address that cannot be served (not this host's) is a
	// runtime failure; a malformed one is a usage error.
	if code, _, stderr := inproc(t, nil, "recv", "--listen", "127.0.0.1:0", "--health", "192.0.2.1:1", "-q"); code != 3 {
		t.Errorf("--health not on this host: exit %d: %s", code, stderr)
	}
	if code, _, stderr := inproc(t, nil, "recv", "--listen", "127.0.0.1:0", "--health", "256.0.0.1:1", "-q"); code != 2 {
		t.Errorf("malformed --health: exit %d: %s", code, stderr)
	}
}

// TestRecvMinRate: two strangers complete a valid hello and then send a
// byte every 100 ms, holding both of --max-sessions 2. A real sender is
// refused as busy and /healthz answers 503 "saturated"; after
// --min-rate-grace they are cut, logged with the reason, and the real
// sender runs clean.
func TestRecvMinRate(t *testing.T) {
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--no-hostinfo", "-q", "--health", "127.0.0.1:0",
		"--max-sessions", "2", "--min-rate-grace", "4s")
	r.waitStderr(t, "msg=\"health endpoint\"")
	var haddr string
	for _, line := range strings.Split(r.errbufString(), "\n") {
		if _, a, ok := strings.Cut(line, `msg="health endpoint" addr=`); ok {
			haddr, _, _ = strings.Cut(a, " ")
		}
	}
	health := func() (int, map[string]any) {
		resp, err := http.Get("http://" + haddr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var h map[string]any
		json.Unmarshal(b, &h)
		return resp.StatusCode, h
	}
	for i := range 2 {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		trickleHello(t, c, fmt.Sprintf("00000000000003%02x", i))
		go func() {
			for {
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write([]byte{0}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	var h map[string]any
	code := 0
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline) && code != 503; time.Sleep(50 * time.Millisecond) {
		code, h = health()
	}
	want := "saturated: all 2 session slots are held by runs below the minimum rate of 1 Mbit/s"
	if code != 503 || h["status"] != "saturated" || h["error"] != want {
		t.Fatalf("health with both slots trickling: %d %v", code, h)
	}
	if code, s, stderr := send(t, r.addr, "--bytes", "1MiB", "--no-hostinfo"); code != 3 || !strings.Contains(fmt.Sprint(s["error"]), "busy: 2 runs under way") {
		t.Fatalf("real sender while the slots are held: exit %d %v\n%s", code, s["error"], stderr)
	}
	for deadline := time.Now().Add(20 * time.Second); strings.Count(r.errbufString(), "below this receiver's minimum rate of 1 Mbit/s") < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the trickling runs were not cut:\n%s", r.errbufString())
		}
	}
	if code, s, stderr := send(t, r.addr, "--bytes", "8MiB", "--no-hostinfo"); code != 0 {
		t.Fatalf("real sender after: exit %d %v\n%s", code, s["error"], stderr)
	}
	if code, h := health(); code != 200 || h["status"] != "ok" {
		t.Errorf("health after: %d %v", code, h)
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d:\n%s", code, r.stderr())
	}
	cut := regexp.MustCompile(`level=WARN msg="session end" run_id=000000000000030[01] .* verdict=incomplete .* error="stream 0: interrupted: the run fell below this receiver's minimum rate of 1 Mbit/s: \d+ bit/s over the last [0-9.]+s"`)
	if n := len(cut.FindAllString(r.stderr(), -1)); n != 2 {
		t.Errorf("%d log lines of runs cut for their rate, want 2:\n%s", n, r.stderr())
	}
}

// trickleHello completes a protocol handshake for a run of 1 GiB of
// zeros on c, as a sender without a token does.
func trickleHello(t *testing.T, c net.Conn, id string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	b, err := wire.EncodeHello(wire.Hello{RunID: id, Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 1 << 30, Nonce: wire.NewNonce()})
	if err == nil {
		_, err = c.Write(b)
	}
	if err == nil {
		_, _, err = wire.ReadFrame(c, wire.TypeChallenge)
	}
	if err == nil {
		b, err = wire.EncodeAuth(wire.Auth{})
	}
	if err == nil {
		_, err = c.Write(b)
	}
	var p []byte
	if err == nil {
		_, p, err = wire.ReadFrame(c, wire.TypeReply)
	}
	if err == nil {
		_, err = wire.DecodeReply(p)
	}
	if err != nil {
		t.Fatalf("handshake of run %s: %v", id, err)
	}
}

// TestShutdownWritesReports: SIGTERM while a run is under way ends it,
// and its report still reaches --report-dir, whole.
func TestShutdownWritesReports(t *testing.T) {
	dir := t.TempDir()
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--no-hostinfo", "-q", "--report-dir", dir)
	p := start(t, false, "send", r.addr, "--duration", "1m", "--no-hostinfo", "--json")
	p.waitStderr(t, "regions")
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d:\n%s", code, r.stderr())
	}
	if code := p.wait(t); code != 3 {
		t.Fatalf("send exit %d, want 3", code)
	}
	reps := readReports(t, dir)
	if len(reps) != 1 {
		t.Fatalf("%d reports after SIGTERM, want 1", len(reps))
	}
	for _, rep := range reps {
		if rep.Verdict != report.Incomplete || rep.BytesVerified == 0 || !strings.Contains(rep.Error, "interrupted") {
			t.Fatalf("report of the cut run: %s %d %q", rep.Verdict, rep.BytesVerified, rep.Error)
		}
	}
}

// TestReportDirAfterKill: a receiver killed (SIGKILL) at any moment
// while it writes reports leaves only whole reports in --report-dir,
// and the next one clears the leftovers of the killed one's writes.
func TestReportDirAfterKill(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 6 {
		r := start(t, true, "recv", "--listen", "127.0.0.1:0", "-q", "--report-dir", dir, "--max-regions", "100000")
		// Corrupt runs with many regions make big reports, slow to write.
		rl := start(t, true, "relay", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", "bitflip%4KiB")
		for i := range 8 {
			start(t, false, "send", rl.addr, "--bytes", fmt.Sprint(16<<20+i), "-q", "--no-hostinfo")
		}
		time.Sleep(time.Duration(300+rng.IntN(1700)) * time.Millisecond)
		r.cmd.Process.Kill()
		r.wait(t)
		rl.cmd.Process.Kill()
		t.Logf("round %d: %d reports", round, len(readReports(t, dir)))
	}
	readReports(t, dir) // every visible file whole
	// What the kills left behind is young; age it past the hour a starting
	// receiver waits before it takes a leftover as a dead writer's.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	temps := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			temps++
			if err := os.Chtimes(filepath.Join(dir, e.Name()), old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d temp files left by the kills", temps)
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "-q", "--report-dir", dir)
	r.cmd.Process.Kill()
	r.wait(t)
	ents, err = os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temp file %s left in the report dir after a receiver started", e.Name())
		}
	}
}

func TestParsePeers(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"hostA\n# a comment\n\n  hostB:7000  # inline\n[fd00::1]\n", "[hostA hostB:7000 [fd00::1]]", ""},
		{"", "[]", ""},
		{"hostA hostB\n", "", `line 1: "hostA hostB": want one ADDR per line`},
	} {
		got, err := parsePeers([]byte(tc.in))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parsePeers(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != tc.want && !(len(got) == 0 && tc.want == "[]") {
			t.Errorf("parsePeers(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if code, _, stderr := inproc(t, nil, "send", "--peers", tokenFile(t, "# nobody at all, yet")); code != 2 || !strings.Contains(stderr, "no peers in the file") {
		t.Errorf("empty peers file: exit %d: %s", code, stderr)
	}
}

func TestWorse(t *testing.T) {
	clean := error(nil)
	corrupt := verdictError{verdict: report.Corrupt}
	incomplete := verdictError{verdict: report.Incomplete}
	failed := runtimeError{fmt.Errorf("disk full")}
	for _, tc := range []struct {
		a, b error
		code int
	}{
		{clean, clean, exitClean},
		{clean, incomplete, exitIncomplete},
		{incomplete, clean, exitIncomplete},
		{incomplete, corrupt, exitCorrupt},
		{corrupt, incomplete, exitCorrupt},
		{corrupt, failed, exitCorrupt},
		{clean, failed, exitIncomplete},
	} {
		if got := codeOf(worse(tc.a, tc.b)); got != tc.code {
			t.Errorf("worse(%v, %v): exit %d, want %d", tc.a, tc.b, got, tc.code)
		}
	}
}

// TestSinkFailureAtStart: a report or metrics directory that cannot be
// written is a configuration error: exit 2 (which a supervisor does not
// retry: a restart cannot fix it), one line that says what, no usage text.
func TestSinkFailureAtStart(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"recv", "--listen", "127.0.0.1:0", "--prom-textfile", "/nonexistent/dir/z.prom"}, "zerocheck: --prom-textfile: cannot create files in /nonexistent/dir: no such file or directory"},
		{[]string{"recv", "--listen", "127.0.0.1:0", "--report-dir", "/proc/zerocheck-reports"}, "zerocheck: --report-dir: mkdir /proc/zerocheck-reports: no such file or directory"},
		{[]string{"send", "127.0.0.1:1", "--report-dir", "/proc/zerocheck-reports"}, "zerocheck: --report-dir: mkdir /proc/zerocheck-reports: no such file or directory"},
		{[]string{"send", "127.0.0.1:1", "--report-dir", "/proc/self"}, "zerocheck: --report-dir: cannot create files in /proc/self: no such file or directory"},
	} {
		code, _, stderr := inproc(t, nil, tc.args...)
		if code != exitUsage || strings.TrimSuffix(stderr, "\n") != tc.want {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// Another program's file where the metrics should go is not replaced.
	foreign := filepath.Join(t.TempDir(), "other.prom")
	os.WriteFile(foreign, []byte("# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.5\n"), 0o644)
	if code, _, stderr := inproc(t, nil, "recv", "--listen", "127.0.0.1:0", "--prom-textfile", foreign); code != exitUsage || !strings.Contains(stderr, "refusing to replace it") {
		t.Errorf("foreign textfile: exit %d:\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(foreign); !strings.Contains(string(b), "node_load1 0.5") {
		t.Errorf("foreign textfile changed:\n%s", b)
	}
	// Bad values are still usage errors, caught as the flags are parsed.
	for _, args := range [][]string{
		{"recv", "--allow", "10.0.0.1/8"},
		{"recv", "--log-format", "xml"},
		{"send", "127.0.0.1", "--pattern", "sine"},
	} {
		if code, _, stderr := inproc(t, nil, args...); code != 2 || !strings.Contains(stderr, "invalid argument") {
			t.Errorf("%v: exit %d, want 2:\n%s", args, code, stderr)
		}
	}
}

// TestRecvOnceUnsavedReport: recv --once whose --report-dir went away
// after it started (a file now stands where the directory was, which
// stops root as it stops anyone) exits 3 and says why, as send does; the
// run itself was clean, and its report still reaches stdout.
func TestRecvOnceUnsavedReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports")
	r := recvOnce(t, "--no-hostinfo", "--report-dir", dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, s, stderr := send(t, r.addr, "--bytes", "1MiB", "--no-hostinfo"); code != 0 {
		t.Fatalf("send: exit %d %v\n%s", code, s["error"], stderr)
	}
	code := r.wait(t)
	if m := decodeJSON(t, r.out.String()); m["verdict"] != "clean" {
		t.Errorf("recv report: %v", m["verdict"])
	}
	if code != 3 || !strings.Contains(r.stderr(), "zerocheck: --report-dir: report: ") {
		t.Fatalf("recv --once with an unsaved report: exit %d, want 3 and the reason:\n%s", code, r.stderr())
	}
}

// TestRecvOnceCorruptHello: the only sender's hello arrives with a bit
// flipped. The sender is refused (its hello cannot be trusted), so it
// will not come back: recv --once ends at once, exit 3, saying so,
// rather than wait for ever.
func TestRecvOnceCorruptHello(t *testing.T) {
	r := recvOnce(t, "--no-hostinfo")
	hello := realHello(t)
	hello[len(hello)-3] ^= 0x10 // in the payload: the frame's CRC32C fails
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	// The refusal names the corruption, for the sender's report.
	_, p, err := wire.ReadFrame(c, wire.TypeReply)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.DecodeReply(p); err == nil || !strings.Contains(err.Error(), "control channel corrupt: hello frame") {
		t.Errorf("refusal: %v", err)
	}
	code := r.wait(t)
	want := "zerocheck: incomplete: a sender's hello arrived corrupt, so no run was served: control channel corrupt: hello frame"
	if code != 3 || !strings.Contains(r.stderr(), want) {
		t.Fatalf("recv --once after a corrupt hello: exit %d, want 3 and %q:\n%s", code, want, r.stderr())
	}
	if r.out.Len() != 0 {
		t.Errorf("a report for a run that never started:\n%s", r.out.String())
	}
}

// TestFailedRunSeriesClears: a night when the receiver was down leaves
// an incomplete series for the path; the next clean run of that path
// replaces it, in the file the next process reads back, rather than
// leaving a second series that alerts for ever.
func TestFailedRunSeriesClears(t *testing.T) {
	prom := filepath.Join(t.TempDir(), "sweep.prom")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if code, _, stderr := inproc(t, nil, "send", addr, "--bytes", "1MiB", "-q", "--prom-textfile", prom); code != 3 {
		t.Fatalf("send to nothing: exit %d\n%s", code, stderr)
	}
	r := start(t, true, "recv", "--listen", addr, "-q")
	if code, _, stderr := inproc(t, nil, "send", addr, "--bytes", "1MiB", "-q", "--prom-textfile", prom); code != 0 {
		t.Fatalf("clean send: exit %d\n%s", code, stderr)
	}
	r.cmd.Process.Kill()
	b, _ := os.ReadFile(prom)
	var verdicts []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "zerocheck_last_run_verdict{") && strings.Contains(l, `addr="`+addr+`"`) && strings.HasSuffix(l, "} 1") {
			verdicts = append(verdicts, l)
		}
	}
	if len(verdicts) != 1 || !strings.Contains(verdicts[0], `verdict="clean"`) {
		t.Errorf("path %s ran clean last; the file says:\n%s", addr, strings.Join(verdicts, "\n"))
	}
}
