package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/report"
)

// state copies the series of t, without their place in the eviction
// order, which a file does not keep.
func state(t *Textfile) map[pathKey]counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return values(t.series)
}

func values(s map[pathKey]*counts) map[pathKey]counts {
	out := map[pathKey]counts{}
	for k, c := range s {
		v := *c
		v.seen = 0
		out[k] = v
	}
	return out
}

// checkState fails unless got and want are the same series with the
// same values.
func checkState(t *testing.T, got, want map[pathKey]counts) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%+v missing", k)
		} else if g != w {
			t.Errorf("%+v = %+v, want %+v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%+v unexpected", k)
		}
	}
}

func mustOpen(t *testing.T, path string) *Textfile {
	t.Helper()
	tf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return tf
}

func record(t *testing.T, tf *Textfile, runs ...report.Report) {
	t.Helper()
	for _, r := range runs {
		if err := tf.Record(r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTwoPathsToOneHost is the reviewer's case: a sweep tests two
// addresses of db-1 (its IPsec network and its plain one). The corrupt
// path must stay corrupt after the clean one's run.
func TestTwoPathsToOneHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := mustOpen(t, path)
	bad := run("send", "hostA", "db-1", report.Corrupt, 1000, 16, 1, t0, 60)
	bad.PeerAddr = "10.0.1.5:7777"
	good := run("send", "hostA", "db-1", report.Clean, 1000, 0, 0, t0.Add(2*time.Minute), 60)
	good.PeerAddr = "10.0.2.5:7777"
	record(t, tf, bad, good)
	raw := read(t, path)
	line := `zerocheck_last_run_verdict{role="send",peer="db-1",addr="10.0.1.5:7777",verdict="corrupt"} 1` + "\n"
	if !bytes.Contains(raw, []byte(line)) {
		t.Errorf("no %q in\n%s", line, raw)
	}
	end := float64(t0.Unix())
	checkValues(t, parse(t, raw),
		want{role: "send", peer: "db-1", addr: "10.0.1.5:7777", runs: [3]float64{0, 1, 0}, verified: 1000, corrupt: 16, regions: 1,
			lastEnd: end + 60, lastVerdict: "corrupt", lastRegions: 1, lastVerified: 1000, seconds: 60, lastSeconds: 60},
		want{role: "send", peer: "db-1", addr: "10.0.2.5:7777", runs: [3]float64{1, 0, 0}, verified: 1000,
			lastEnd: end + 180, lastVerdict: "clean", lastVerified: 1000, seconds: 60, lastSeconds: 60},
	)
}

// TestAddr checks the addr label of each role: a sender's peer address
// whole, anyone else's IP without its (ephemeral) port.
func TestAddr(t *testing.T) {
	cases := []struct{ role, peerAddr, want string }{
		{"send", "10.0.1.5:7777", "10.0.1.5:7777"},
		{"send", "[fd00::5]:7777", "[fd00::5]:7777"},
		{"send", "", "unknown"},
		{"recv", "10.0.1.5:51234", "10.0.1.5"},
		{"recv", "[fe80::1%eth0]:51234", "fe80::1%eth0"},
		{"recv", "10.0.1.5", "10.0.1.5"},
		{"recv", "fd00::5", "fd00::5"},
		{"recv", "db-1", "unknown"},
		{"recv", "", "unknown"},
		{"loopback", "127.0.0.1:39999", "127.0.0.1"},
		{"verify", "", "unknown"},
	}
	for _, c := range cases {
		r := via(run(c.role, "hostB", "hostA", report.Clean, 1, 0, 0, t0, 1), c.peerAddr)
		if got := label(addrOf(r)); got != c.want {
			t.Errorf("%s from %q: addr %q, want %q", c.role, c.peerAddr, got, c.want)
		}
	}

	// A receiver's runs from one sender, each from another port, are one
	// series.
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := mustOpen(t, path)
	for port := range 5 {
		record(t, tf, via(run("recv", "hostB", "hostA", report.Clean, 1, 0, 0, t0, 1), fmt.Sprintf("10.0.1.5:%d", 50000+port)))
	}
	if got := peers(parse(t, read(t, path))); !slices.Equal(got, []string{"recv/hostA/10.0.1.5"}) {
		t.Errorf("series %q", got)
	}
}

// TestTwoProcesses runs two sweeps in a row, each a process of its own
// (a Textfile of its own on the same path), and a receiver restarted in
// between: yesterday's corrupt peer, not run today, is still corrupt in
// the file after today's clean runs of the others, and the counters of
// the peers run on both days go on counting.
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	day := 24 * time.Hour
	yesterday := mustOpen(t, path)
	record(t, yesterday,
		via(run("send", "hostA", "db-1", report.Corrupt, 1000, 16, 2, t0, 60), "10.0.1.5:7777"),
		via(run("send", "hostA", "db-2", report.Clean, 1000, 0, 0, t0.Add(time.Minute), 60), "10.0.1.6:7777"),
		via(run("recv", "hostA", "db-9", report.Clean, 500, 0, 0, t0.Add(2*time.Minute), 60), "10.0.1.9:40000"),
	)
	before := state(yesterday)

	today := mustOpen(t, path)
	checkState(t, state(today), before)
	record(t, today,
		via(run("send", "hostA", "db-2", report.Clean, 2000, 0, 0, t0.Add(day), 60), "10.0.1.6:7777"),
		via(run("send", "hostA", "db-3", report.Clean, 3000, 0, 0, t0.Add(day+time.Minute), 60), "10.0.1.7:7777"),
		via(run("recv", "hostA", "db-9", report.Clean, 500, 0, 0, t0.Add(day+2*time.Minute), 60), "10.0.1.9:40001"),
	)
	end := func(d time.Duration) float64 { return float64(t0.Add(d).Unix()) + 60 }
	checkValues(t, parse(t, read(t, path)),
		want{role: "send", peer: "db-1", addr: "10.0.1.5:7777", runs: [3]float64{0, 1, 0}, verified: 1000, corrupt: 16, regions: 2,
			lastEnd: end(0), lastVerdict: "corrupt", lastRegions: 2, lastVerified: 1000, seconds: 60, lastSeconds: 60},
		want{role: "send", peer: "db-2", addr: "10.0.1.6:7777", runs: [3]float64{2, 0, 0}, verified: 3000,
			lastEnd: end(day), lastVerdict: "clean", lastVerified: 2000, seconds: 120, lastSeconds: 60},
		want{role: "send", peer: "db-3", addr: "10.0.1.7:7777", runs: [3]float64{1, 0, 0}, verified: 3000,
			lastEnd: end(day + time.Minute), lastVerdict: "clean", lastVerified: 3000, seconds: 60, lastSeconds: 60},
		want{role: "recv", peer: "db-9", addr: "10.0.1.9", runs: [3]float64{2, 0, 0}, verified: 1000,
			lastEnd: end(day + 2*time.Minute), lastVerdict: "clean", lastVerified: 500, seconds: 120, lastSeconds: 60},
	)

	// The series restored are evicted, least recently run first, before
	// the ones run since.
	today.mu.Lock()
	today.limit = 4
	today.mu.Unlock()
	record(t, today, via(run("send", "hostA", "db-4", report.Clean, 1, 0, 0, t0.Add(day+3*time.Minute), 1), "10.0.1.8:7777"))
	if got := peers(parse(t, read(t, path))); !slices.Equal(got, []string{
		"recv/db-9/10.0.1.9", "send/db-2/10.0.1.6:7777", "send/db-3/10.0.1.7:7777", "send/db-4/10.0.1.8:7777"}) {
		t.Errorf("series %q", got)
	}
}

// TestRoundTrip checks that the file gives back the series that were
// written, hostile label values included.
func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf := mustOpen(t, path)
	record(t, tf, sequence()...)
	for i, name := range []string{`a"b`, `a\b`, "a\nb", "\\\"\n", `x}{,=y`, "x\xffy", "x\ty\r", strings.Repeat("é", 300), "# HELP"} {
		r := run("send", "hostB", name, report.Verdict([]string{"clean", "corrupt", "incomplete", "bogus"}[i%4]),
			int64(i)<<40, int64(i), int64(i), t0.Add(time.Duration(i)*time.Second), float64(i)/7)
		record(t, tf, via(r, name))
	}
	record(t, tf, run("recv", "", "", report.Clean, math.MaxInt64, math.MaxInt64, math.MaxInt64, time.Time{}, 0))
	want := state(tf)
	raw := read(t, path)
	got, err := parseState(raw, MaxPeers)
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, values(got), want)
	again := mustOpen(t, path)
	checkState(t, state(again), want)
	if err := again.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, path), raw) {
		t.Errorf("the file changed on a Flush after Open:\n%s", read(t, path))
	}
}

// TestRestoreLimit checks that a file of more series than the limit
// keeps those that ran last, wherever they are in the file, and says how
// much it left out.
func TestRestoreLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf, err := open(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	// Times out of name order; below, three series without one.
	for i, m := range []int{5, 1, 7, 3, 2, 6} {
		record(t, tf, via(run("send", "hostA", fmt.Sprintf("db-%d", i), report.Clean, int64(i), 0, 0, t0.Add(time.Duration(m)*time.Minute), 1), fmt.Sprintf("10.0.0.%d:7777", i)))
	}
	all := state(tf)
	raw := read(t, path)
	var lines []string
	for l := range strings.Lines(string(raw)) {
		if strings.HasPrefix(l, "zerocheck_last_run_timestamp_seconds{") && strings.Contains(l, `"db-2"`) {
			continue // db-2 loses its time, and ranks below every series with one
		}
		lines = append(lines, l)
	}
	for i, peer := range []string{"db-8", "db-9"} { // no time either
		lines = append(lines, fmt.Sprintf(`zerocheck_runs_total{role="send",peer="%s",addr="10.0.0.%d:7777",verdict="clean"} 1`+"\n", peer, 8+i))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for try := range 20 {
		if try > 0 {
			rnd.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
		}
		got, err := parseState([]byte(strings.Join(lines, "")), 3)
		if err == nil || !strings.Contains(err.Error(), "beyond the 3 paths run last") {
			t.Errorf("error %v", err)
		}
		var names []string
		for _, c := range got {
			names = append(names, c.peer)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"db-0", "db-3", "db-5"}) { // 5, 3 and 6 minutes
			t.Fatalf("order %d: kept %q, want the 3 run last", try, names)
		}
		for k, c := range values(got) {
			if c != all[k] {
				t.Errorf("order %d: %+v = %+v, want %+v", try, k, c, all[k])
			}
		}
		got, _ = parseState([]byte(strings.Join(lines, "")), 7)
		names = names[:0]
		for _, c := range got {
			names = append(names, c.peer)
		}
		slices.Sort(names)
		// All five with a time, and of the three without, the first two by name.
		if !slices.Equal(names, []string{"db-0", "db-1", "db-2", "db-3", "db-4", "db-5", "db-8"}) {
			t.Fatalf("order %d: kept %q", try, names)
		}
	}
}

// sequenceFile is the file of sequence()'s runs, and its series.
func sequenceFile() ([]byte, map[pathKey]counts) {
	tf := &Textfile{limit: MaxPeers, series: map[pathKey]*counts{}}
	for _, r := range sequence() {
		tf.add(r)
	}
	return render(tf.series), values(tf.series)
}

// TestCutShort reads every prefix of a file, as a file cut short would
// be: each value it restores is the one written, or lost (0, and
// incomplete for the verdict), and anything short of the whole file is
// reported.
func TestCutShort(t *testing.T) {
	full, want := sequenceFile()
	incomplete := verdictIndex(report.Incomplete)
	// Cut just before the families added later, the file is an older
	// version's, whole as that wrote it.
	older := bytes.Index(full, []byte("# HELP "+families[required].name))
	for cut := range len(full) + 1 {
		got, err := parseState(full[:cut], MaxPeers)
		if (err != nil) != (cut > 0 && cut < len(full) && cut != older) {
			t.Errorf("cut at %d of %d: error %v", cut, len(full), err)
		}
		if errors.Is(err, ErrForeign) != (cut > 0 && cut <= bytes.IndexByte(full, '\n')) { // a part of a line is no more ours than any
			t.Errorf("cut at %d: %v", cut, err)
		}
		for k, c := range got {
			w, ok := want[k]
			if !ok {
				t.Fatalf("cut at %d: series %+v not in the file", cut, k)
			}
			for i := range c.runs {
				if c.runs[i] != 0 && c.runs[i] != w.runs[i] {
					t.Errorf("cut at %d: %+v runs %v, want %v or 0", cut, k, c.runs, w.runs)
				}
			}
			for _, p := range [][2]uint64{{c.bytesVerified, w.bytesVerified}, {c.corruptBytes, w.corruptBytes},
				{c.corruptRegions, w.corruptRegions}, {c.lastRegions, w.lastRegions}, {c.lastBytes, w.lastBytes}} {
				if p[0] != 0 && p[0] != p[1] {
					t.Errorf("cut at %d: %+v: %d, want %d or 0", cut, k, p[0], p[1])
				}
			}
			for _, p := range [][2]float64{{c.runSeconds, w.runSeconds}, {c.lastSeconds, w.lastSeconds}} {
				if p[0] != 0 && p[0] != p[1] {
					t.Errorf("cut at %d: %+v: %v seconds, want %v or 0", cut, k, p[0], p[1])
				}
			}
			if c.lastEnd != 0 && c.lastEnd != w.lastEnd {
				t.Errorf("cut at %d: %+v ended %v, want %v or 0", cut, k, c.lastEnd, w.lastEnd)
			}
			if c.lastVerdict != w.lastVerdict && c.lastVerdict != incomplete {
				t.Errorf("cut at %d: %+v verdict %d, want %d or incomplete", cut, k, c.lastVerdict, w.lastVerdict)
			}
		}
	}
}

// TestDamagedFile opens files that are not what render wrote: each gives
// an error to log and what could be restored, and the next Record
// writes a whole file again.
func TestDamagedFile(t *testing.T) {
	full, want := sequenceFile()
	lines := strings.SplitAfter(string(full), "\n")
	insert := func(at int, line string) []byte {
		return []byte(strings.Join(slices.Insert(slices.Clone(lines), at, line), ""))
	}
	junk := make([]byte, 4096)
	rand.NewChaCha8([32]byte{3, 4}).Read(junk)
	before, err := os.ReadFile(filepath.Join("testdata", "before-addr.prom"))
	if err != nil {
		t.Fatal(err)
	}
	// A file of the version before the run durations: whole, restored
	// with durations 0.
	older := full[:bytes.Index(full, []byte("# HELP "+families[required].name))]
	olderWant := maps.Clone(want)
	for k, c := range olderWant {
		c.runSeconds, c.lastSeconds = 0, 0
		olderWant[k] = c
	}
	cases := []struct {
		name    string
		raw     []byte
		foreign bool
		want    map[pathKey]counts
		err     string // in the error
	}{
		{"missing", nil, false, map[pathKey]counts{}, ""},
		{"empty", []byte{}, false, map[pathKey]counts{}, ""},
		{"whole", full, false, want, ""},
		{"older version's", older, false, olderWant, ""},
		{"with the build info", append([]byte(buildInfo("v1.2.3")), full...), false, want, ""},
		{"garbage", junk, true, map[pathKey]counts{}, "not a zerocheck textfile"},
		{"zeros", make([]byte, 1000), true, map[pathKey]counts{}, "not a zerocheck textfile"},
		{"another exporter's", []byte("# HELP node_x X.\n# TYPE node_x gauge\nnode_x 1\n"), true, map[pathKey]counts{}, "not a zerocheck textfile"},
		{"huge line", insert(4, strings.Repeat("x", 1<<20)+"\n"), false, want, `1 line not understood, the first (line 5) "xxxx`},
		{"huge sample", insert(4, `zerocheck_runs_total{role="send",peer="x",addr="y",verdict="clean"} `+strings.Repeat("0", maxLine)+"1\n"), false, want, "(line 5)"},
		{"garbage line", insert(7, "\x00\xff{}\"\\\n"), false, want, "(line 8)"},
		{"a line twice", insert(7, lines[6]), false, want, "(line 8)"},
		{"written before the addr label", before, false, map[pathKey]counts{}, "48 lines not understood, the first (line 3)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "zerocheck.prom")
			if c.raw != nil {
				if err := os.WriteFile(path, c.raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tf, err := Open(path)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("error %v, want one with %q", err, c.err)
			}
			if err != nil && (!strings.Contains(err.Error(), path) || len(err.Error()) > len(path)+300) {
				t.Errorf("error %q: want the path, and short", err)
			}
			if errors.Is(err, ErrForeign) != c.foreign {
				t.Errorf("error %v, foreign %v", err, c.foreign)
			}
			checkState(t, state(tf), c.want)
			r := via(run("send", "hostB", "hostZ", report.Clean, 1, 0, 0, t0.Add(time.Hour), 1), "10.9.9.9:7777")
			record(t, tf, r)
			c.want = maps.Clone(c.want)
			c.want[pathKey{"send", "10.9.9.9:7777"}] = counts{peer: "hostZ", runs: [3]uint64{1, 0, 0}, bytesVerified: 1, lastBytes: 1,
				lastEnd: float64(t0.Add(time.Hour).Unix()) + 1, runSeconds: 1, lastSeconds: 1}
			checkState(t, state(mustOpen(t, path)), c.want)
		})
	}
}

// TestUnreadableFile checks that a file Open cannot read is an error, not
// a hang or a panic, and that the Textfile starts empty.
func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.prom")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	large := filepath.Join(dir, "large.prom")
	f, err := os.Create(large)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# HELP zerocheck_runs_total Runs finished, by verdict.\n")
	if err := f.Truncate(maxFile + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, c := range []struct {
		path, err string
		foreign   bool
	}{
		{dir, "not a regular file", false},
		{fifo, "not a regular file", false},
		{large, "larger than 32 MiB", true},
		{filepath.Join(dir, "no", "dir.prom"), "", false},
	} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			tf, err := Open(c.path)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("%s: error %v, want one with %q", c.path, err, c.err)
			}
			if errors.Is(err, ErrForeign) != c.foreign {
				t.Errorf("%s: error %v, foreign %v", c.path, err, c.foreign)
			}
			if len(state(tf)) != 0 {
				t.Errorf("%s: restored %v", c.path, state(tf))
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Open blocks", c.path)
		}
	}
}

// TestLastVerdict checks how a series' last verdict is read back from its
// last_run_verdict lines, whatever they say.
func TestLastVerdict(t *testing.T) {
	clean, corrupt, incomplete := verdictIndex(report.Clean), verdictIndex(report.Corrupt), verdictIndex(report.Incomplete)
	for _, c := range []struct {
		ones [3]string // the lines' values for clean, corrupt, incomplete; "" for no line
		want int
	}{
		{[3]string{"1", "0", "0"}, clean},
		{[3]string{"0", "1", "0"}, corrupt},
		{[3]string{"0", "0", "1"}, incomplete},
		{[3]string{"1", "", ""}, clean},
		{[3]string{"", "", ""}, incomplete},
		{[3]string{"0", "0", "0"}, incomplete},
		{[3]string{"1", "1", "0"}, corrupt},
		{[3]string{"1", "0", "1"}, incomplete},
		{[3]string{"1", "1", "1"}, corrupt},
		{[3]string{"1", "0.5", "0"}, clean}, // a line not understood
		{[3]string{"0", "2", "0"}, incomplete},
	} {
		var b strings.Builder
		for v, value := range c.ones {
			if value != "" {
				fmt.Fprintf(&b, "zerocheck_last_run_verdict{role=\"send\",peer=\"p\",addr=\"a\",verdict=\"%s\"} %s\n", verdicts[v], value)
			}
		}
		b.WriteString(`zerocheck_runs_total{role="send",peer="p",addr="a",verdict="clean"} 1` + "\n")
		got, _ := parseState([]byte(b.String()), MaxPeers)
		if s := got[pathKey{"send", "a"}]; s == nil {
			t.Errorf("%v: no series", c.ones)
		} else if s.lastVerdict != c.want {
			t.Errorf("%v: verdict %s, want %s", c.ones, verdicts[s.lastVerdict], verdicts[c.want])
		}
	}
}

// TestLimits checks maxFile and maxLine against the largest file render
// can write: MaxPeers series whose labels are as long as label lets them
// be, every byte escaped, with the longest values.
func TestLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 MiB file")
	}
	s := map[pathKey]*counts{}
	quotes, backslashes := strings.Repeat(`"`, maxLabel), strings.Repeat(`\`, maxLabel)
	for i := range MaxPeers {
		addr := fmt.Sprintf("%04d", i) + strings.Repeat("\n", maxLabel-4)
		s[pathKey{quotes, addr}] = &counts{peer: backslashes,
			runs: [3]uint64{math.MaxUint64, math.MaxUint64, math.MaxUint64}, bytesVerified: math.MaxUint64,
			corruptBytes: math.MaxUint64, corruptRegions: math.MaxUint64, lastRegions: math.MaxUint64, lastBytes: math.MaxUint64,
			lastEnd: -(maxTimestamp - 0.001), lastVerdict: i % len(verdicts),
		}
	}
	raw := render(s)
	longest := 0
	for l := range bytes.Lines(raw) {
		longest = max(longest, len(l))
	}
	t.Logf("%d bytes (%.1f MiB), the longest line %d", len(raw), float64(len(raw))/(1<<20), longest)
	if len(raw) > maxFile || longest > maxLine {
		t.Errorf("%d bytes, lines up to %d: over maxFile %d or maxLine %d", len(raw), longest, maxFile, maxLine)
	}
	got, err := parseState(raw, MaxPeers)
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, values(got), values(s))
}

// FuzzParseState feeds parseState arbitrary bytes, as a damaged file or
// someone else's would be: it must not panic, must keep no more paths
// than its limit, each one that Record could have made, and must give
// back what it restored, whole, from the file render writes of it, which
// the reference parser must take.
func FuzzParseState(f *testing.F) {
	full, _ := sequenceFile()
	before, _ := os.ReadFile(filepath.Join("testdata", "before-addr.prom"))
	f.Add(full)
	f.Add(full[:len(full)/2])
	f.Add(before)
	f.Add([]byte(`zerocheck_last_run_timestamp_seconds{role="a",peer="b\\\"\n",addr="c"} 1e11` + "\n" +
		`zerocheck_last_run_verdict{role="a",peer="b",addr="c",verdict="corrupt"} 1` + "\n" +
		`zerocheck_runs_total{role="a",peer="b",addr="c",verdict="clean"} 0018446744073709551615` + "\n"))
	// A path under two names, as a file of the version before wrote it:
	// an address that ran last, a hostname before it.
	f.Add([]byte(`zerocheck_last_run_timestamp_seconds{role="send",peer="10.0.0.2",addr="10.0.0.2:7777"} 2` + "\n" +
		`zerocheck_last_run_verdict{role="send",peer="10.0.0.2",addr="10.0.0.2:7777",verdict="incomplete"} 1` + "\n" +
		`zerocheck_last_run_timestamp_seconds{role="send",peer="db-1",addr="10.0.0.2:7777"} 1` + "\n" +
		`zerocheck_last_run_verdict{role="send",peer="db-1",addr="10.0.0.2:7777",verdict="clean"} 1` + "\n"))
	f.Add([]byte("# HELP x\n\x00\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		const limit = 3
		got, err := parseState(raw, limit)
		if got == nil {
			t.Fatal("nil map")
		}
		if len(got) > limit {
			t.Fatalf("%d series, over %d", len(got), limit)
		}
		if errors.Is(err, ErrForeign) && len(got) > 0 {
			t.Fatalf("foreign, and %d series", len(got))
		}
		for k, c := range got {
			for _, l := range []string{k.role, c.peer, k.addr} {
				if label(l) != l {
					t.Fatalf("label %q", l)
				}
			}
			if ts, ok := timestamp(c.lastEnd); !ok || ts != c.lastEnd {
				t.Fatalf("%+v: time %v", k, c.lastEnd)
			}
			if c.lastVerdict < 0 || c.lastVerdict >= len(verdicts) || c.seen != 0 {
				t.Fatalf("%+v: %+v", k, c)
			}
		}
		file := render(got)
		back, err := parseState(file, limit)
		if err != nil {
			t.Fatalf("%v, reading\n%s", err, file)
		}
		checkState(t, values(back), values(got))
		parse(t, file)
	})
}
