package metrics

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/internal/golden"
	"github.com/zerocheck/zerocheck/report"
)

var t0 = time.Date(2026, 11, 25, 14, 23, 0, 0, time.UTC)

// run is a report of role between this host and peer ("" for none).
func run(role, local, peer string, v report.Verdict, verified, corrupt, regions int64, start time.Time, seconds float64) report.Report {
	r := report.Report{
		Schema: report.Schema, Role: role, Verdict: v, Start: start, Seconds: seconds,
		BytesVerified: verified, CorruptBytes: corrupt, RegionCount: regions,
	}
	if local != "" {
		r.Hosts.Local = &hostinfo.Facts{Hostname: local}
	}
	if peer != "" {
		r.Hosts.Peer = &hostinfo.Facts{Hostname: peer}
	}
	return r
}

// via sets r's PeerAddr, the other end's socket address.
func via(r report.Report, addr string) report.Report {
	r.PeerAddr = addr
	return r
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// parse reads raw with the reference parser, node_exporter's own, and
// checks what that parser does not: every family is ours, with our type
// and help, in our order, HELP then TYPE before its samples, its samples
// together, and no series twice.
func parse(t *testing.T, raw []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("reference parser: %v\n%s", err, raw)
	}
	// The build info, in a file a Textfile wrote (render's alone has
	// none), comes first, one series, and is no path's.
	if bi := fams[buildName]; bi != nil {
		if bi.GetType() != dto.MetricType_GAUGE || len(bi.GetMetric()) != 1 || bi.GetMetric()[0].GetGauge().GetValue() != 1 ||
			!bytes.HasPrefix(raw, []byte(buildHeaders[0]+"\n"+buildHeaders[1]+"\n"+buildName+"{")) {
			t.Fatalf("build info not first or not one series of 1: %v\n%s", bi, raw)
		}
		delete(fams, buildName)
		_, raw, _ = bytes.Cut(raw, []byte("\n"+buildName+"{"))
		_, raw, _ = bytes.Cut(raw, []byte("\n"))
	}
	for name, mf := range fams {
		i := slices.IndexFunc(families, func(f family) bool { return f.name == name })
		if i < 0 {
			t.Errorf("family %s is not ours", name)
			continue
		}
		f := families[i]
		if got := strings.ToLower(mf.GetType().String()); got != f.typ {
			t.Errorf("%s: type %s, want %s", name, got, f.typ)
		}
		if mf.GetHelp() != f.help {
			t.Errorf("%s: help %q", name, mf.GetHelp())
		}
	}

	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	next := 0 // index in families of the next family expected
	current := ""
	series := map[string]bool{}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "#") {
			if next == len(families) {
				t.Fatalf("line %d: a family after the last: %q", i+1, line)
			}
			f := families[next]
			if line != "# HELP "+f.name+" "+f.help || i+1 == len(lines) || lines[i+1] != "# TYPE "+f.name+" "+f.typ {
				t.Fatalf("line %d: want HELP and TYPE of %s, got %q", i+1, f.name, line)
			}
			current = f.name
			next++
			i++
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		if name != current {
			t.Fatalf("line %d: sample of %s under HELP and TYPE of %q", i+1, name, current)
		}
		key := line[:max(strings.LastIndexByte(line, ' '), 0)] // a label value may hold a space, the value not
		if series[key] {
			t.Errorf("line %d: series %s twice", i+1, key)
		}
		series[key] = true
	}
	if next != len(families) {
		t.Errorf("%d families, want %d", next, len(families))
	}
	return fams
}

// fixedGo replaces the Go version in raw's build info by GOVERSION: the
// golden files do not change with the toolchain.
func fixedGo(raw []byte) []byte {
	return bytes.Replace(raw, []byte(`goversion="`+runtime.Version()+`"`), []byte(`goversion="GOVERSION"`), 1)
}

// labels of m as a map.
func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func value(mf *dto.MetricFamily, m *dto.Metric) float64 {
	if mf.GetType() == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// want is what the file should say about one path (role, addr), named
// peer.
type want struct {
	role, peer, addr           string
	runs                       [3]float64 // clean, corrupt, incomplete
	verified, corrupt, regions float64
	lastEnd                    float64
	lastVerdict                string
	lastRegions, lastVerified  float64
	seconds, lastSeconds       float64 // the runs' durations summed, the last's
}

// series expands w into the value of each of its series, keyed by
// family name and labels.
func (w want) series() map[string]float64 {
	id := fmt.Sprintf("role=%s,peer=%s,addr=%s", w.role, w.peer, w.addr)
	out := map[string]float64{
		"zerocheck_bytes_verified_total{" + id + "}":       w.verified,
		"zerocheck_corrupt_bytes_total{" + id + "}":        w.corrupt,
		"zerocheck_corrupt_regions_total{" + id + "}":      w.regions,
		"zerocheck_last_run_timestamp_seconds{" + id + "}": w.lastEnd,
		"zerocheck_last_run_corrupt_regions{" + id + "}":   w.lastRegions,
		"zerocheck_last_run_bytes_verified{" + id + "}":    w.lastVerified,
		"zerocheck_run_duration_seconds_total{" + id + "}": w.seconds,
		"zerocheck_last_run_duration_seconds{" + id + "}":  w.lastSeconds,
	}
	for i, v := range []string{"clean", "corrupt", "incomplete"} {
		out["zerocheck_runs_total{"+id+",verdict="+v+"}"] = w.runs[i]
		last := 0.0
		if v == w.lastVerdict {
			last = 1
		}
		out["zerocheck_last_run_verdict{"+id+",verdict="+v+"}"] = last
	}
	return out
}

// checkValues checks that fams holds exactly the series of ws.
func checkValues(t *testing.T, fams map[string]*dto.MetricFamily, ws ...want) {
	t.Helper()
	expect := map[string]float64{}
	for _, w := range ws {
		for k, v := range w.series() {
			expect[k] = v
		}
	}
	got := map[string]float64{}
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			l := labels(m)
			key := fmt.Sprintf("%s{role=%s,peer=%s,addr=%s", name, l["role"], l["peer"], l["addr"])
			if v, ok := l["verdict"]; ok {
				key += ",verdict=" + v
			}
			got[key+"}"] = value(mf, m)
		}
	}
	for k, v := range expect {
		if g, ok := got[k]; !ok {
			t.Errorf("missing %s", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	for k := range got {
		if _, ok := expect[k]; !ok {
			t.Errorf("unexpected %s", k)
		}
	}
}

// sequence is a sequence of runs of every role: a receiver's runs from
// one sender, each from another port, a sender's (the second one a
// connection that failed, whose report names no host), verify's and
// loopback's.
func sequence() []report.Report {
	return []report.Report{
		via(run("recv", "hostB", "hostA", report.Clean, 1000, 0, 0, t0, 10), "10.0.0.1:40001"),
		via(run("recv", "hostB", "hostA", report.Corrupt, 2000, 48, 3, t0.Add(time.Minute), 10.5), "10.0.0.1:40002"),
		via(run("send", "hostB", "hostC", report.Incomplete, 500, 0, 0, t0.Add(2*time.Minute), 1.25), "10.0.0.3:7777"),
		run("verify", "hostB", "", report.Clean, 4096, 0, 0, t0.Add(3*time.Minute), 0.001),
		via(run("loopback", "hostB", "", report.Corrupt, 8192, 16, 1, t0.Add(4*time.Minute), 2), "127.0.0.1:45000"),
		via(run("recv", "hostB", "hostA", report.Clean, 100, 0, 0, t0.Add(5*time.Minute), 0.5), "10.0.0.1:40003"),
		via(run("send", "hostB", "", report.Incomplete, 0, 0, 0, t0.Add(6*time.Minute), 3), "10.0.0.3:7777"),
	}
}

// TestSequence records a sequence of runs of every role and checks the
// file against a golden copy and, through the reference parser, every
// series' value.
func TestSequence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := New(path)
	runs := sequence()
	for _, r := range runs {
		if err := tf.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	raw := read(t, path)
	golden.Check(t, filepath.Join("testdata", "sequence.prom"), fixedGo(raw))
	end := func(min, seconds float64) float64 { return float64(t0.Unix()) + min*60 + seconds }
	checkValues(t, parse(t, raw),
		want{role: "recv", peer: "hostA", addr: "10.0.0.1", runs: [3]float64{2, 1, 0}, verified: 3100, corrupt: 48, regions: 3,
			lastEnd: end(5, 0.5), lastVerdict: "clean", lastRegions: 0, lastVerified: 100, seconds: 10 + 10.5 + 0.5, lastSeconds: 0.5},
		want{role: "send", peer: "hostC", addr: "10.0.0.3:7777", runs: [3]float64{0, 0, 2}, verified: 500,
			lastEnd: end(6, 3), lastVerdict: "incomplete", lastVerified: 0, seconds: 1.25 + 3, lastSeconds: 3},
		want{role: "verify", peer: "unknown", addr: "unknown", runs: [3]float64{1, 0, 0}, verified: 4096,
			lastEnd: end(3, 0.001), lastVerdict: "clean", lastVerified: 4096, seconds: 0.001, lastSeconds: 0.001},
		want{role: "loopback", peer: "hostB", addr: "127.0.0.1", runs: [3]float64{0, 1, 0}, verified: 8192, corrupt: 16, regions: 1,
			lastEnd: end(4, 2), lastVerdict: "corrupt", lastRegions: 1, lastVerified: 8192, seconds: 2, lastSeconds: 2},
	)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", info.Mode().Perm())
	}
}

// TestOddReports checks the fallbacks: no role, no peer, no start, an
// unknown verdict, negative counts.
func TestOddReports(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := New(path)
	r := run("", "", "", "bogus", -5, -1, -2, time.Time{}, 3)
	before := float64(time.Now().UnixMilli()) / 1e3
	if err := tf.Record(r); err != nil {
		t.Fatal(err)
	}
	after := float64(time.Now().UnixMilli()) / 1e3
	fams := parse(t, read(t, path))
	end := fams["zerocheck_last_run_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue()
	if end < before || end > after {
		t.Errorf("last run at %v, not between %v and %v", end, before, after)
	}
	checkValues(t, fams, want{role: "unknown", peer: "unknown", addr: "unknown", runs: [3]float64{0, 0, 1},
		lastEnd: end, lastVerdict: "incomplete", seconds: 3, lastSeconds: 3})
}

// TestLabelEscaping records runs from peers with hostile names and
// addresses and checks that the reference parser reads back each (made
// valid UTF-8 and capped).
func TestLabelEscaping(t *testing.T) {
	cases := []struct {
		name    string
		peer    string
		escaped string // as written between the quotes
		parsed  string
	}{
		{"double quote", `a"b`, `a\"b`, `a"b`},
		{"backslash", `a\b`, `a\\b`, `a\b`},
		{"newline", "a\nb", `a\nb`, "a\nb"},
		{"all three", "\\\"\n", `\\\"\n`, "\\\"\n"},
		{"braces, commas, equals", `x}{,=y`, `x}{,=y`, `x}{,=y`},
		{"invalid UTF-8", "x\xffy", "x\uFFFDy", "x\uFFFDy"},
		{"long, cut at a rune", strings.Repeat("é", 300), strings.Repeat("é", 126), strings.Repeat("é", 126)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "zerocheck.prom")
			tf := New(path)
			if err := tf.Record(via(run("send", "hostB", c.peer, report.Clean, 1, 0, 0, t0, 1), c.peer)); err != nil {
				t.Fatal(err)
			}
			raw := read(t, path)
			if !bytes.Contains(raw, []byte(`peer="`+c.escaped+`",addr="`+c.escaped+`"`)) {
				t.Errorf("no peer and addr %q in\n%s", c.escaped, raw)
			}
			for name, mf := range parse(t, raw) {
				for _, m := range mf.GetMetric() {
					if l := labels(m); l["peer"] != c.parsed || l["addr"] != c.parsed {
						t.Errorf("%s: peer %q, addr %q, want %q", name, l["peer"], l["addr"], c.parsed)
					}
				}
			}
		})
	}
}

// peers lists the series in the file, as "role/peer/addr".
func peers(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for _, m := range fams["zerocheck_bytes_verified_total"].GetMetric() {
		l := labels(m)
		out = append(out, l["role"]+"/"+l["peer"]+"/"+l["addr"])
	}
	slices.Sort(out)
	return out
}

// TestEviction checks that a full table drops the series run least
// recently, and that a series back after eviction starts from zero.
func TestEviction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf, err := open(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		role, peer, addr string
		want             []string
	}{
		{"recv", "a", "10.0.0.1:40000", []string{"recv/a/10.0.0.1"}},
		{"recv", "b", "10.0.0.2:40000", []string{"recv/a/10.0.0.1", "recv/b/10.0.0.2"}},
		{"send", "a", "10.0.0.1:7777", []string{"recv/a/10.0.0.1", "recv/b/10.0.0.2", "send/a/10.0.0.1:7777"}},  // the role makes a series
		{"recv", "a", "10.0.0.1:40001", []string{"recv/a/10.0.0.1", "recv/b/10.0.0.2", "send/a/10.0.0.1:7777"}}, // recv/a is fresh again
		{"recv", "a", "10.0.0.9:40000", []string{"recv/a/10.0.0.1", "recv/a/10.0.0.9", "send/a/10.0.0.1:7777"}}, // the address too; recv/b was the oldest
		{"recv", "b", "10.0.0.2:40000", []string{"recv/a/10.0.0.1", "recv/a/10.0.0.9", "recv/b/10.0.0.2"}},      // then send/a
	}
	for i, s := range steps {
		r := via(run(s.role, "hostB", s.peer, report.Clean, 10, 0, 0, t0, 1), s.addr)
		if err := tf.Record(r); err != nil {
			t.Fatal(err)
		}
		fams := parse(t, read(t, path))
		if got := peers(fams); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: series %q, want %q", i+1, got, s.want)
		}
	}
	// recv/a from 10.0.0.1 has two runs; recv/b came back with one.
	fams := parse(t, read(t, path))
	for _, m := range fams["zerocheck_bytes_verified_total"].GetMetric() {
		l := labels(m)
		want := map[string]float64{"10.0.0.1": 20, "10.0.0.9": 10, "10.0.0.2": 10}[l["addr"]]
		if got := m.GetCounter().GetValue(); got != want {
			t.Errorf("%s/%s/%s: %v bytes, want %v", l["role"], l["peer"], l["addr"], got, want)
		}
	}
}

// TestConcurrentRecord records from many goroutines, as a receiver does,
// then again in a restarted receiver: no run may be lost, and the file
// left must be the final count.
func TestConcurrentRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	const goroutines, each = 8, 25
	for life := 1; life <= 2; life++ {
		tf, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					n := (g + i) % 4
					r := via(run("recv", "hostB", fmt.Sprintf("host%d", n), report.Clean, 3, 0, 0, t0, 1), fmt.Sprintf("10.0.0.%d:%d", n, 40000+i))
					if err := tf.Record(r); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		fams := parse(t, read(t, path))
		var runs, verified float64
		for _, m := range fams["zerocheck_runs_total"].GetMetric() {
			runs += m.GetCounter().GetValue()
		}
		for _, m := range fams["zerocheck_bytes_verified_total"].GetMetric() {
			verified += m.GetCounter().GetValue()
		}
		if n := life * goroutines * each; runs != float64(n) || verified != float64(3*n) {
			t.Errorf("life %d: file counts %v runs, %v bytes; want %d, %d", life, runs, verified, n, 3*n)
		}
		if got := len(peers(fams)); got != 4 {
			t.Errorf("life %d: %d series, want 4", life, got)
		}
	}
}

// TestWriteError checks that a failed write loses no count: the next
// Record, or Flush, writes the whole file.
func TestWriteError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "textfiles")
	path := filepath.Join(dir, "zerocheck.prom")
	tf := New(path)
	r := run("recv", "hostB", "hostA", report.Corrupt, 100, 1, 1, t0, 1)
	for i := range 2 {
		err := tf.Record(r)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("record %d into a missing directory: err = %v", i+1, err)
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := tf.Flush(); err != nil {
		t.Fatal(err)
	}
	checkValues(t, parse(t, read(t, path)), want{role: "recv", peer: "hostA", addr: "unknown", runs: [3]float64{0, 2, 0},
		verified: 200, corrupt: 2, regions: 2, lastEnd: float64(t0.Unix()) + 1, lastVerdict: "corrupt",
		lastRegions: 1, lastVerified: 100, seconds: 2, lastSeconds: 1})
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %v", entries)
	}
}

// TestFlushEmpty checks that a Textfile with no run yet writes the
// families alone, which the reference parser takes.
func TestFlushEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	if err := New(path).Flush(); err != nil {
		t.Fatal(err)
	}
	raw := read(t, path)
	if got := bytes.Count(raw, []byte("\n")); got != 3+2*len(families) { // and the build info
		t.Errorf("%d lines, want %d:\n%s", got, 3+2*len(families), raw)
	}
	if fams := parse(t, raw); len(fams) != 0 {
		t.Errorf("%d families with samples", len(fams))
	}
}

// TestMismatchCountsAsIncomplete: a recv --raw run whose sender used
// another pattern is neither clean nor corruption; its metrics say
// incomplete, as docs/receiver.md says.
func TestMismatchCountsAsIncomplete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := New(path)
	r := via(run("recv", "hostB", "", report.Mismatch, 4096, 4096, 1, t0, 1), "10.0.0.1:40000")
	if err := tf.Record(r); err != nil {
		t.Fatal(err)
	}
	fams := parse(t, read(t, path))
	checkValues(t, fams, want{role: "recv", peer: "10.0.0.1", addr: "10.0.0.1", runs: [3]float64{0, 0, 1},
		verified: 4096, corrupt: 4096, regions: 1, lastEnd: float64(t0.Unix()) + 1, lastVerdict: "incomplete", lastRegions: 1, lastVerified: 4096, seconds: 1, lastSeconds: 1})
}

// TestBuildInfo: the file names the build that wrote it, the version the
// program gave and the Go toolchain, in one gauge of 1 that is no path's;
// reading the file back skips it, and the next process writes its own.
func TestBuildInfo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := New(path)
	tf.SetVersion(`v1.2.3 "x"`)
	if err := tf.Record(run("send", "hostA", "hostB", report.Clean, 1, 0, 0, t0, 1)); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(read(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	bi := fams["zerocheck_build_info"]
	if bi == nil || bi.GetType() != dto.MetricType_GAUGE || len(bi.GetMetric()) != 1 {
		t.Fatalf("build info %v", bi)
	}
	m := bi.GetMetric()[0]
	if l := labels(m); len(l) != 2 || l["version"] != `v1.2.3 "x"` || l["goversion"] != runtime.Version() || m.GetGauge().GetValue() != 1 {
		t.Errorf("build info %v = %v", l, m.GetGauge().GetValue())
	}
	next, err := Open(path)
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	if err := next.Flush(); err != nil {
		t.Fatal(err)
	}
	if raw := read(t, path); !bytes.Contains(raw, []byte(`zerocheck_build_info{version="unknown",goversion="`)) || bytes.Count(raw, []byte("zerocheck_build_info{")) != 1 {
		t.Errorf("next process's file:\n%s", raw)
	}
}

// TestRunDuration: a path's runs' seconds add up in a counter, the last
// one's is a gauge, and a report's absurd seconds count as 0.
func TestRunDuration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := New(path)
	for _, secs := range []float64{1.5, -4, math.NaN(), math.Inf(1), 0.25} {
		if err := tf.Record(via(run("send", "hostA", "hostB", report.Clean, 1, 0, 0, t0, secs), "10.0.0.2:7777")); err != nil {
			t.Fatal(err)
		}
	}
	fams := parse(t, read(t, path))
	total := fams["zerocheck_run_duration_seconds_total"].GetMetric()[0].GetCounter().GetValue()
	last := fams["zerocheck_last_run_duration_seconds"].GetMetric()[0].GetGauge().GetValue()
	if total != 1.75 || last != 0.25 {
		t.Errorf("total %v s, last %v s; want 1.75 and 0.25", total, last)
	}
}
