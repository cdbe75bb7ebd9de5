package metrics

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
		key, _, _ := strings.Cut(line, " ")
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

// want is what the file should say about one (role, peer).
type want struct {
	role, peer                 string
	runs                       [3]float64 // clean, corrupt, incomplete
	verified, corrupt, regions float64
	lastEnd                    float64
	lastVerdict                string
	lastRegions, lastVerified  float64
}

// series expands w into the value of each of its series, keyed by
// family name and labels.
func (w want) series() map[string]float64 {
	id := fmt.Sprintf("role=%s,peer=%s", w.role, w.peer)
	out := map[string]float64{
		"zerocheck_bytes_verified_total{" + id + "}":       w.verified,
		"zerocheck_corrupt_bytes_total{" + id + "}":        w.corrupt,
		"zerocheck_corrupt_regions_total{" + id + "}":      w.regions,
		"zerocheck_last_run_timestamp_seconds{" + id + "}": w.lastEnd,
		"zerocheck_last_run_corrupt_regions{" + id + "}":   w.lastRegions,
		"zerocheck_last_run_bytes_verified{" + id + "}":    w.lastVerified,
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
			key := fmt.Sprintf("%s{role=%s,peer=%s", name, l["role"], l["peer"])
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

// TestSequence records a sequence of runs of every role and checks the
// file against a golden copy and, through the reference parser, every
// series' value.
func TestSequence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := New(path)
	runs := []report.Report{
		run("recv", "hostB", "hostA", report.Clean, 1000, 0, 0, t0, 10),
		run("recv", "hostB", "hostA", report.Corrupt, 2000, 48, 3, t0.Add(time.Minute), 10.5),
		run("send", "hostB", "hostC", report.Incomplete, 500, 0, 0, t0.Add(2*time.Minute), 1.25),
		run("verify", "hostB", "", report.Clean, 4096, 0, 0, t0.Add(3*time.Minute), 0.001),
		run("loopback", "hostB", "", report.Corrupt, 8192, 16, 1, t0.Add(4*time.Minute), 2),
		run("recv", "hostB", "hostA", report.Clean, 100, 0, 0, t0.Add(5*time.Minute), 0.5),
	}
	for _, r := range runs {
		if err := tf.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	raw := read(t, path)
	golden.Check(t, filepath.Join("testdata", "sequence.prom"), raw)
	end := func(min, seconds float64) float64 { return float64(t0.Unix()) + min*60 + seconds }
	checkValues(t, parse(t, raw),
		want{role: "recv", peer: "hostA", runs: [3]float64{2, 1, 0}, verified: 3100, corrupt: 48, regions: 3,
			lastEnd: end(5, 0.5), lastVerdict: "clean", lastRegions: 0, lastVerified: 100},
		want{role: "send", peer: "hostC", runs: [3]float64{0, 0, 1}, verified: 500,
			lastEnd: end(2, 1.25), lastVerdict: "incomplete", lastVerified: 500},
		want{role: "verify", peer: "unknown", runs: [3]float64{1, 0, 0}, verified: 4096,
			lastEnd: end(3, 0.001), lastVerdict: "clean", lastVerified: 4096},
		want{role: "loopback", peer: "hostB", runs: [3]float64{0, 1, 0}, verified: 8192, corrupt: 16, regions: 1,
			lastEnd: end(4, 2), lastVerdict: "corrupt", lastRegions: 1, lastVerified: 8192},
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
	checkValues(t, fams, want{role: "unknown", peer: "unknown", runs: [3]float64{0, 0, 1},
		lastEnd: end, lastVerdict: "incomplete"})
}

// TestLabelEscaping records runs from peers with hostile names and checks
// that the reference parser reads back the name (made valid UTF-8 and
// capped).
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
			if err := tf.Record(run("recv", "hostB", c.peer, report.Clean, 1, 0, 0, t0, 1)); err != nil {
				t.Fatal(err)
			}
			raw := read(t, path)
			if !bytes.Contains(raw, []byte(`peer="`+c.escaped+`"`)) {
				t.Errorf("no peer=%q in\n%s", c.escaped, raw)
			}
			for name, mf := range parse(t, raw) {
				for _, m := range mf.GetMetric() {
					if got := labels(m)["peer"]; got != c.parsed {
						t.Errorf("%s: peer %q, want %q", name, got, c.parsed)
					}
				}
			}
		})
	}
}

// peers lists the (role, peer) pairs in the file, as "role/peer".
func peers(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for _, m := range fams["zerocheck_bytes_verified_total"].GetMetric() {
		l := labels(m)
		out = append(out, l["role"]+"/"+l["peer"])
	}
	slices.Sort(out)
	return out
}

// TestEviction checks that a full table drops the pair seen least
// recently, and that a pair back after eviction starts from zero.
func TestEviction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := New(path)
	tf.limit = 3
	steps := []struct {
		role, peer string
		want       []string
	}{
		{"recv", "a", []string{"recv/a"}},
		{"recv", "b", []string{"recv/a", "recv/b"}},
		{"send", "a", []string{"recv/a", "recv/b", "send/a"}}, // role and peer make a pair
		{"recv", "a", []string{"recv/a", "recv/b", "send/a"}}, // recv/a is fresh again
		{"recv", "c", []string{"recv/a", "recv/c", "send/a"}}, // recv/b was the oldest
		{"recv", "b", []string{"recv/a", "recv/b", "recv/c"}}, // then send/a
	}
	for i, s := range steps {
		r := run(s.role, "hostB", s.peer, report.Clean, 10, 0, 0, t0, 1)
		if err := tf.Record(r); err != nil {
			t.Fatal(err)
		}
		fams := parse(t, read(t, path))
		if got := peers(fams); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: pairs %q, want %q", i+1, got, s.want)
		}
	}
	// recv/a has three runs; recv/b came back with one.
	fams := parse(t, read(t, path))
	for _, m := range fams["zerocheck_bytes_verified_total"].GetMetric() {
		l := labels(m)
		want := map[string]float64{"a": 20, "b": 10, "c": 10}[l["peer"]]
		if got := m.GetCounter().GetValue(); got != want {
			t.Errorf("%s/%s: %v bytes, want %v", l["role"], l["peer"], got, want)
		}
	}
}

// TestConcurrentRecord records from many goroutines, as a receiver does:
// no run may be lost, and the file left must be the final count.
func TestConcurrentRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := New(path)
	const goroutines, each = 8, 25
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				peer := fmt.Sprintf("host%d", (g+i)%4)
				if err := tf.Record(run("recv", "hostB", peer, report.Clean, 3, 0, 0, t0, 1)); err != nil {
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
	if runs != goroutines*each || verified != 3*goroutines*each {
		t.Errorf("file counts %v runs, %v bytes; want %d, %d", runs, verified, goroutines*each, 3*goroutines*each)
	}
	if got := len(peers(fams)); got != 4 {
		t.Errorf("%d peers, want 4", got)
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
	checkValues(t, parse(t, read(t, path)), want{role: "recv", peer: "hostA", runs: [3]float64{0, 2, 0},
		verified: 200, corrupt: 2, regions: 2, lastEnd: float64(t0.Unix()) + 1, lastVerdict: "corrupt",
		lastRegions: 1, lastVerified: 100})
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
	if got := bytes.Count(raw, []byte("\n")); got != 2*len(families) {
		t.Errorf("%d lines, want %d:\n%s", got, 2*len(families), raw)
	}
	if fams := parse(t, raw); len(fams) != 0 {
		t.Errorf("%d families with samples", len(fams))
	}
}
