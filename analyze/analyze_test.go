package analyze

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/internal/golden"
	"github.com/zerocheck/zerocheck/report"
)

// TestIncidentFleet is the acceptance test: one night of runs in
// the incident's fleet, and the facts of the Xen PV 4.1 guests with
// aesni_intel in use at the top of the fact table.
func TestIncidentFleet(t *testing.T) {
	dir := t.TempDir()
	files := writeIncidentFleet(t, dir)
	fl := Load([]string{dir})
	if len(fl.Skipped) != 0 {
		t.Fatalf("skipped %v", fl.Skipped)
	}
	a := Analyze(fl)
	// 42 runs between 7 hosts, one interrupted, one verify on a pipe; both
	// ends reported each network run.
	want := Counts{Runs: 44, Clean: 21, Corrupt: 22, Incomplete: 1}
	if a.Files != files || a.Reports != 87 || a.Counts != want {
		t.Fatalf("files %d (want %d), reports %d, counts %+v (want %+v)", a.Files, files, a.Reports, a.Counts, want)
	}

	// 43 runs are rated, 22 of them corrupt: those that touch zk-lt-03 or
	// zk-lt-04. Each of the 7 hosts has 12 runs (6 sent, 6 received).
	for i, w := range []struct {
		path, value      string
		runs, corrupt    int
		rate, others     float64
		sender, receiver int
	}{
		// Exactly the two affected hosts: the incident's profile.
		{"risk.xen-pv-aesni", "match", 22, 22, 1, 0, 12, 12},
		// zk-lt-05 is on Xen 4.1.2 too, but with aesni_intel blacklisted.
		{"virt.xen_version", "4.1.2", 30, 22, 22. / 30, 0, 14, 14},
		// Three PV domUs (vif is Xen's paravirtual NIC); the HVM guest on
		// 4.4 and the PV dom0 each share one of the three.
		{"net.driver", "vif", 36, 22, 22. / 36, 0, 16, 16},
		{"virt.xen_mode", "pv", 36, 22, 22. / 36, 0, 16, 16},
		{"virt.xen_role", "domU", 36, 22, 22. / 36, 0, 16, 16},
		{"virt.hypervisor", "xen", 40, 22, 22. / 40, 0, 18, 18},
		// aesni_intel: everywhere but on zk-lt-05 and the bare-metal
		// host, whose aesni is built in; the verify run is on the KVM
		// guest, which loads it.
		{"aes.impl.aes", "aes-aesni (aesni_intel, priority 300)", 41, 22, 22. / 41, 0, 18, 18},
		{"aes.impl.cbc(aes)", "cbc-aes-aesni (aesni_intel, priority 400)", 41, 22, 22. / 41, 0, 18, 18},
		{"aes.kernel_module", "loaded", 41, 22, 22. / 41, 0, 18, 18},
	} {
		f := a.Facts[i]
		if f.Path != w.path || f.Value != w.value || f.Runs != w.runs || f.Corrupt != w.corrupt ||
			f.CorruptAsSender != w.sender || f.CorruptAsReceiver != w.receiver || f.Uniform ||
			!near(f.Rate, w.rate) || f.RateOthers == nil || !near(*f.RateOthers, w.others) || !near(f.Separation, w.rate-w.others) ||
			f.OtherRuns != 43-w.runs || f.OtherCorrupt != 22-w.corrupt {
			t.Errorf("row %d: %+v (others %v), want %+v", i+1, f, ptr(f.RateOthers), w)
		}
	}

	// A host's own kernel, CPU and distribution separate less: each is on
	// one affected and one clean host.
	for _, f := range a.Facts {
		if f.Path == "kernel.release" && f.Value == "3.2.0-58-virtual" {
			if f.Runs != 22 || f.Corrupt != 14 || *f.RateOthers != 8./21 || !near(f.Separation, 14./22-8./21) {
				t.Errorf("kernel 3.2: %+v", f)
			}
		}
	}

	// IPsec in transport mode with NAT-T is on every host: it separates
	// nothing and comes last, marked.
	uniform := map[string]bool{}
	for i, f := range a.Facts {
		if f.Uniform {
			uniform[f.Path+"="+f.Value] = true
			if f.Runs != 43 || f.RateOthers != nil || f.Separation != 0 {
				t.Errorf("uniform %+v", f)
			}
		} else if len(uniform) > 0 {
			t.Errorf("row %d (%s=%s) after a uniform row", i+1, f.Path, f.Value)
		}
	}
	for _, u := range []string{"ipsec.transport_mode=yes", "ipsec.nat_t=yes", "ipsec.encap_transport=yes",
		"risk.ipsec-transport-no-tcp-checksum=match", "aes.cpu_flag=yes"} {
		if !uniform[u] {
			t.Errorf("%s not uniform: %v", u, uniform)
		}
	}
	// Noise is not a fact.
	for _, f := range a.Facts {
		if !explains(f.Path) && !strings.HasPrefix(f.Path, RiskPath) {
			t.Errorf("fact %s", f.Path)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func ptr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestTextGolden renders the incident fleet's analysis as text;
// go test ./analyze -update rewrites it after an intended change.
func TestTextGolden(t *testing.T) {
	dir := t.TempDir()
	writeIncidentFleet(t, dir)
	var b bytes.Buffer
	if err := Text(&b, Analyze(Load([]string{dir})), 20); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "incident.txt"), b.Bytes())
}

func TestJSON(t *testing.T) {
	dir := t.TempDir()
	writeIncidentFleet(t, dir)
	writeReports(t, filepath.Join(dir, "foreign.json"), report.Report{Schema: "other/v1"})
	var b bytes.Buffer
	if err := JSON(&b, Analyze(Load([]string{dir}))); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["schema"] != Schema || m["runs"] != 44. || m["corrupt"] != 22. || m["reports"] != 87. {
		t.Fatalf("%v", m)
	}
	pair := m["pairs"].([]any)[0].(map[string]any)
	for _, k := range []string{"sender", "receiver", "runs", "clean", "corrupt", "incomplete", "bytes_verified", "corrupt_bytes", "regions", "reverse_runs"} {
		if _, ok := pair[k]; !ok {
			t.Errorf("pair lacks %q: %v", k, pair)
		}
	}
	facts := m["facts"].([]any)
	top, last := facts[0].(map[string]any), facts[len(facts)-1].(map[string]any)
	if top["fact"] != "risk.xen-pv-aesni" || top["separation"] != 1. || top["rate_others"] != 0. || top["uniform"] != false {
		t.Fatalf("top fact %v", top)
	}
	if last["uniform"] != true || last["rate_others"] != nil {
		t.Fatalf("last fact %v", last)
	}
	skipped := m["skipped"].([]any)
	if len(skipped) != 1 || !strings.Contains(skipped[0].(map[string]any)["reason"].(string), `schema "other/v1"`) {
		t.Fatalf("skipped %v", skipped)
	}
}

// TestPairs checks the pair matrix and how the reports of one run are
// merged into one run.
func TestPairs(t *testing.T) {
	a, b := fixture(t, "xen-pv-3.2-xen-4.1-ipsec", "eth0"), fixture(t, "baremetal", "eno1")
	send, recv := runReports(1, a, b, report.Corrupt)
	// The sender was cut short and saw less than the receiver counted.
	short := send
	short.Verdict, short.Error, short.BytesVerified, short.CorruptBytes, short.RegionCount = report.Incomplete, "interrupted", 1<<20, 0, 0
	// A sender run with --no-hostinfo on the far end: the send report
	// knows the receiver only by address.
	blind := send
	blind.Hosts.Peer = nil
	clean2, recv2 := runReports(2, b, a, report.Clean)
	// Both ends of a run with the same random id but another pattern are
	// another run.
	other := recv2
	other.Pattern = "zeros"
	verify := report.Report{Schema: report.Schema, Verdict: report.Clean, Role: "verify", Pattern: "zeros", BytesVerified: 4096,
		Start: time.Date(2026, 11, 25, 2, 31, 0, 123456789, time.UTC), Hosts: report.Hosts{Local: b}}
	// The same capture verified again, a nanosecond later.
	verify2 := verify
	verify2.Start = verify.Start.Add(1)
	raw := report.Report{Schema: report.Schema, Verdict: report.Corrupt, Role: "recv", Pattern: "zeros", BytesVerified: 8192,
		CorruptBytes: 16, RegionCount: 1, LocalAddr: "10.0.0.2:7777", PeerAddr: "10.0.0.9:51000", Hosts: report.Hosts{Local: b}}
	loop := report.Report{Schema: report.Schema, Verdict: report.Clean, Role: "loopback", RunID: "00000000000000aa", Pattern: "zeros",
		BytesVerified: 1 << 30, Hosts: report.Hosts{Local: a, Peer: a}}
	const sa, sb = "zk-lt-03", "db-r650-07"
	pair := func(s, r string, runs, clean, corrupt, incomplete int, bytes, cb, regions int64) Pair {
		return Pair{Sender: s, Receiver: r, Counts: Counts{runs, clean, corrupt, incomplete}, BytesVerified: bytes, CorruptBytes: cb, Regions: regions}
	}

	for _, tc := range []struct {
		name  string
		files [][]report.Report
		runs  Counts
		pairs []Pair
	}{
		{"both ends, two files", [][]report.Report{{send}, {recv}}, Counts{1, 0, 1, 0},
			[]Pair{pair(sa, sb, 1, 0, 1, 0, 100<<30, 240, 3)}},
		{"both ends, one file", [][]report.Report{{recv, send}}, Counts{1, 0, 1, 0},
			[]Pair{pair(sa, sb, 1, 0, 1, 0, 100<<30, 240, 3)}},
		{"send only", [][]report.Report{{send}}, Counts{1, 0, 1, 0},
			[]Pair{pair(sa, sb, 1, 0, 1, 0, 100<<30, 240, 3)}},
		{"worst verdict and larger counts", [][]report.Report{{short}, {recv}}, Counts{1, 0, 1, 0},
			[]Pair{pair(sa, sb, 1, 0, 1, 0, 100<<30, 240, 3)}},
		{"cut short at both ends", [][]report.Report{{short}, {short}}, Counts{1, 0, 0, 1},
			[]Pair{pair(sa, sb, 1, 0, 0, 1, 1<<20, 0, 0)}},
		{"receiver named by address alone", [][]report.Report{{blind}}, Counts{1, 0, 1, 0},
			[]Pair{pair(sa, "10.0.0.2", 1, 0, 1, 0, 100<<30, 240, 3)}},
		{"the other report names the receiver", [][]report.Report{{blind}, {recv}}, Counts{1, 0, 1, 0},
			[]Pair{pair(sa, sb, 1, 0, 1, 0, 100<<30, 240, 3)}},
		{"two runs, both directions", [][]report.Report{{send, recv, clean2}, {recv2}}, Counts{2, 1, 1, 0},
			[]Pair{pair(sa, sb, 1, 0, 1, 0, 100<<30, 240, 3), pair(sb, sa, 1, 1, 0, 0, 100<<30, 0, 0)}},
		{"same run id, other pattern", [][]report.Report{{clean2, recv2, other}}, Counts{2, 2, 0, 0},
			[]Pair{pair(sb, sa, 2, 2, 0, 0, 200<<30, 0, 0)}},
		{"runs without a run id are not merged with others", [][]report.Report{{verify, verify2}, {raw}}, Counts{3, 2, 1, 0},
			[]Pair{pair("10.0.0.9", sb, 1, 0, 1, 0, 8192, 16, 1), pair("", sb, 2, 2, 0, 0, 8192, 0, 0)}},
		// An archive's copy of the files, in another directory.
		{"a report without a run id read twice counts once", [][]report.Report{{verify, raw}, {raw}, {verify}, {verify, raw}},
			Counts{2, 1, 1, 0}, []Pair{pair("10.0.0.9", sb, 1, 0, 1, 0, 8192, 16, 1), pair("", sb, 1, 1, 0, 0, 4096, 0, 0)}},
		{"loopback", [][]report.Report{{loop}}, Counts{1, 1, 0, 0},
			[]Pair{pair(sa, sa, 1, 1, 0, 0, 1<<30, 0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for i, reps := range tc.files {
				p := filepath.Join(dir, string(rune('a'+i))+".json")
				writeReports(t, p, reps...)
				paths = append(paths, p)
			}
			// A file named twice, or inside a directory also named, is read once.
			paths = append(paths, paths[0], dir)
			fl := Load(paths)
			an := Analyze(fl)
			if len(fl.Skipped) != 0 || an.Counts != tc.runs {
				t.Fatalf("runs %+v, want %+v; skipped %v", an.Counts, tc.runs, fl.Skipped)
			}
			if len(an.Pairs) != len(tc.pairs) {
				t.Fatalf("pairs %+v, want %+v", an.Pairs, tc.pairs)
			}
			for i := range tc.pairs {
				if an.Pairs[i] != tc.pairs[i] {
					t.Errorf("pair %d: %+v, want %+v", i, an.Pairs[i], tc.pairs[i])
				}
			}
		})
	}
}

// TestMergedRunKeepsBothHostsFacts: a run whose send report lacks the
// receiver's facts takes them from the recv report, and a run counts a
// host's value once even when both of its ends have it.
func TestMergedRunKeepsBothHostsFacts(t *testing.T) {
	a, b := fixture(t, "xen-pv-3.2-xen-4.1-ipsec", "eth0"), fixture(t, "baremetal", "eno1")
	send, recv := runReports(1, a, b, report.Corrupt)
	send.Hosts.Peer = nil
	recv.Hosts.Peer = nil
	clean, _ := runReports(2, b, b, report.Clean)
	dir := t.TempDir()
	writeReports(t, filepath.Join(dir, "runs.json"), send, recv, clean)
	an := Analyze(Load([]string{dir}))
	got := map[string]Fact{}
	for _, f := range an.Facts {
		got[f.Path+"="+f.Value] = f
	}
	for k, w := range map[string][2]int{ // runs, corrupt
		"virt.xen_mode=pv":          {1, 1},
		"virt.hypervisor=none":      {2, 1},
		"aes.kernel_module=builtin": {2, 1},
		"risk.xen-pv-aesni=match":   {1, 1},
	} {
		if f := got[k]; f.Runs != w[0] || f.Corrupt != w[1] {
			t.Errorf("%s: %+v, want runs %d corrupt %d", k, f, w[0], w[1])
		}
	}
	if f := got["virt.xen_mode=pv"]; f.CorruptAsSender != 1 || f.CorruptAsReceiver != 0 {
		t.Errorf("the PV guest sent the corrupt run: %+v", f)
	}
}

// TestWarnings: whatever cannot be read or is not a report is named with
// the reason, and everything else is analysed.
func TestWarnings(t *testing.T) {
	a, b := fixture(t, "xen-pv-3.2-xen-4.1-ipsec", "eth0"), fixture(t, "baremetal", "eno1")
	send, recv := runReports(1, a, b, report.Corrupt)
	clean, _ := runReports(2, b, a, report.Clean)
	dir := t.TempDir()
	reports := filepath.Join(dir, "reports")
	writeReports(t, filepath.Join(reports, "send.json"), send)
	writeReports(t, filepath.Join(reports, "night", "recv.json"), recv)
	var whole bytes.Buffer
	report.JSON(&whole, clean)
	write := func(name, s string) string {
		t.Helper()
		p := filepath.Join(reports, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// recv --json >file, killed while writing its second report.
	write("night/killed.json", whole.String()+whole.String()[:200])
	write("truncated.json", whole.String()[:whole.Len()/2])
	write("foreign.json", `{"name": "not zerocheck", "values": [1, 2]}`)
	write("array.json", `[{"schema": "zerocheck.report/v1"}]`)
	write("text.json", "zerocheck: CORRUPT: 240 corrupt bytes in 3 regions\n")
	write("empty.json", "")
	write("analysis.json", `{"schema": "zerocheck.analysis/v1", "runs": 3}`)
	write("bad-verdict.json", `{"schema": "zerocheck.report/v1", "verdict": "fine"}`)
	// Passed over without a word: not *.json, or a writer's temporary.
	write("notes.txt", "not a report")
	write(".recv.json.tmp", "{")
	write(".partial.json", "{")
	if err := os.Mkdir(filepath.Join(reports, ".cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(".cache/x.json", "{")
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(reports, "dangling.json")); err != nil {
		t.Fatal(err)
	}
	huge := write("huge.json", "")
	if err := os.Truncate(huge, MaxFileSize+1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-such-dir")
	notes := filepath.Join(reports, "notes.txt") // named: read whatever its name

	fl := Load([]string{reports, missing, notes})
	if fl.Reports != 3 || fl.Files != 3 {
		t.Errorf("reports %d, files %d; want 3 from send.json, night/recv.json and night/killed.json", fl.Reports, fl.Files)
	}
	want := map[string]string{
		"analysis.json":     `not a zerocheck report: schema "zerocheck.analysis/v1", want "zerocheck.report/v1"`,
		"array.json":        "not a zerocheck report: a JSON array, not an object",
		"bad-verdict.json":  `not a zerocheck report: verdict "fine"`,
		"dangling.json":     "no such file or directory",
		"empty.json":        "no report in it (empty)",
		"foreign.json":      `not a zerocheck report: no "schema" field`,
		"huge.json":         "larger than 256 MiB",
		"night/killed.json": "at byte " + strconv.Itoa(whole.Len()) + ", after 1 reports: truncated: the file ends inside a JSON value",
		"text.json":         "not JSON: invalid character 'z' looking for beginning of value (byte 1)",
		"truncated.json":    "truncated: the file ends inside a JSON value",
		"../no-such-dir":    "no such file or directory",
		"notes.txt":         "not JSON: invalid character 'o' in literal null (expecting 'u') (byte 2)",
	}
	got := map[string]string{}
	for _, s := range fl.Skipped {
		rel, _ := filepath.Rel(reports, s.File)
		got[filepath.ToSlash(rel)] = s.Reason
	}
	for f, r := range want {
		if got[f] != r {
			t.Errorf("%s: %q, want %q", f, got[f], r)
		}
	}
	for f, r := range got {
		if _, ok := want[f]; !ok {
			t.Errorf("unexpected warning %s: %s", f, r)
		}
	}
	an := Analyze(fl)
	if an.Counts != (Counts{Runs: 2, Clean: 1, Corrupt: 1}) || len(an.Skipped) != len(want) {
		t.Errorf("counts %+v, %d skipped", an.Counts, len(an.Skipped))
	}
}

// TestSymlinkedDirectory: a reports directory given as a symlink is
// walked, and a file met twice, through the link and through its real
// path, counts once.
func TestSymlinkedDirectory(t *testing.T) {
	a, b := fixture(t, "xen-pv-3.2-xen-4.1-ipsec", "eth0"), fixture(t, "baremetal", "eno1")
	send, recv := runReports(1, a, b, report.Corrupt)
	dir := t.TempDir()
	real := filepath.Join(dir, "disk", "zerocheck")
	writeReports(t, filepath.Join(real, "send.json"), send)
	writeReports(t, filepath.Join(real, "recv.json"), recv)
	link := filepath.Join(dir, "zerocheck")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	for _, paths := range [][]string{{link}, {link, real}, {real, filepath.Join(link, "send.json")}} {
		if fl := Load(paths); fl.Reports != 2 || fl.Files != 2 || len(fl.Skipped) != 0 {
			t.Errorf("%v: %d reports in %d files, skipped %v", paths, fl.Reports, fl.Files, fl.Skipped)
		}
	}
}

func TestParse(t *testing.T) {
	var one bytes.Buffer
	report.JSON(&one, report.Report{Schema: report.Schema, Verdict: report.Clean, Pattern: "zeros", BytesVerified: 5})
	compact, _ := json.Marshal(report.Report{Schema: report.Schema, Verdict: report.Corrupt, CorruptBytes: 1})
	for _, tc := range []struct {
		name string
		in   string
		n    int
		err  string
	}{
		{"one", one.String(), 1, ""},
		{"several, no separator", string(compact) + string(compact) + one.String(), 3, ""},
		{"whitespace around", "\n\n  " + one.String() + "\n\t ", 1, ""},
		{"empty", "", 0, "no report in it (empty)"},
		{"blank", " \n", 0, "no report in it (empty)"},
		{"null", "null", 0, `no "schema" field`},
		{"a number", "42", 0, "not a zerocheck report: a JSON number, not an object"},
		{"a field of another type", `{"schema":"zerocheck.report/v1","verdict":"clean","bytes_verified":"5"}`, 0,
			"not a zerocheck report: bytes_verified: a JSON string, not int64"},
		{"streams not a list", `{"schema":"zerocheck.report/v1","verdict":"clean","streams":{}}`, 0,
			"not a zerocheck report: streams: not an array"},
		{"truncated second", one.String() + "{", 1, "after 1 reports: truncated"},
		{"garbage after", one.String() + "xx", 1, "after 1 reports: not JSON"},
		{"foreign second", one.String() + `{"schema":"x"}` + one.String(), 1, `after 1 reports: not a zerocheck report: schema "x"`},
		{"negative", `{"schema":"zerocheck.report/v1","verdict":"clean","bytes_verified":-1}`, 0, "negative counts"},
		// The regions are not read: what they hold cannot be wrong.
		{"bad hex", `{"schema":"zerocheck.report/v1","verdict":"corrupt","regions":[{"actual":"zz"}]}`, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reps, err := Parse([]byte(tc.in))
			if len(reps) != tc.n || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%d reports, error %v; want %d, %q", len(reps), err, tc.n, tc.err)
			}
		})
	}
}

// TestHostileFactsArePrinted: facts come from the reports' hosts, and a
// forged hostname or value must not forge lines of the text.
func TestHostileFactsArePrinted(t *testing.T) {
	evil := fixture(t, "baremetal", "eno1")
	evil.Hostname = "evil\n| forged | row |"
	evil.Kernel.Release = "6.1\x1b[2J"
	good := fixture(t, "kvm-5.3", "ens3")
	send, _ := runReports(1, evil, good, report.Corrupt)
	clean, _ := runReports(2, good, good, report.Clean)
	fl := NewFleet()
	fl.Add(send)
	fl.Add(clean)
	var b bytes.Buffer
	if err := Text(&b, Analyze(fl), 0); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") || strings.Contains(b.String(), "\n| forged") {
		t.Fatalf("control characters reached the text:\n%s", b.String())
	}
}

// TestTextSaysWhyNothingSeparates: a fleet whose facts can separate
// nothing says why instead of printing a table of zeros without comment.
func TestTextSaysWhyNothingSeparates(t *testing.T) {
	a := fixture(t, "xen-pv-3.2-xen-4.1-ipsec", "eth0")
	b := fixture(t, "baremetal", "eno1")
	clean, _ := runReports(1, a, b, report.Clean)
	cut, _ := runReports(2, a, b, report.Incomplete)
	bare := clean
	bare.Hosts = report.Hosts{}
	for _, tc := range []struct {
		name string
		reps []report.Report
		want string
	}{
		{"only incomplete runs", []report.Report{cut}, "No run to compare"},
		{"no host facts", []report.Report{bare}, "No host facts in these reports"},
		{"all clean", []report.Report{clean}, "Every one of them is clean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := NewFleet()
			for _, r := range tc.reps {
				fl.Add(r)
			}
			var out bytes.Buffer
			if err := Text(&out, Analyze(fl), 20); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("no %q in\n%s", tc.want, out.String())
			}
		})
	}
}

// TestBidir: in a --bidir run, the host that ran recv sends data too, on
// the reverse streams, and the host that ran send verifies it. Corruption
// there is counted under the pair the data flowed, and credited to the
// host that sent it and the host that verified it.
func TestBidir(t *testing.T) {
	a, b := fixture(t, "xen-pv-3.2-xen-4.1-ipsec", "eth0"), fixture(t, "baremetal", "eno1")
	const sa, sb = "zk-lt-03", "db-r650-07"
	send, recv := bidirReports(1, a, b)
	// Both directions corrupt.
	both, bothRecv := bidirReports(2, a, b)
	both.Streams[1].Verdict, both.Streams[1].CorruptBytes, both.Streams[1].RegionCount = report.Corrupt, 16, 1
	both.CorruptBytes, both.RegionCount = 256, 4
	bothRecv.Streams, bothRecv.CorruptBytes, bothRecv.RegionCount = both.Streams, both.CorruptBytes, both.RegionCount
	// Corrupt by the control channel's CRC alone: no stream says which
	// way, and the run counts forward.
	ctl, _ := bidirReports(3, a, b)
	ctl.Streams = slices.Clone(ctl.Streams)
	ctl.Streams[3].Verdict, ctl.Streams[3].CorruptBytes, ctl.Streams[3].RegionCount = report.Clean, 0, 0
	ctl.CorruptBytes, ctl.RegionCount, ctl.ControlCorruption = 0, 0, "stream 3: CRC32C mismatch"
	// A clean run between two others, so that the facts have rates.
	clean, _ := runReports(4, fixture(t, "kvm-5.3", "ens3"), fixture(t, "xen-hvm-4.4", "eth0"), report.Clean)

	type asEnd struct{ sender, receiver int }
	pair := func(s, r string, clean, corrupt int, bytes, cb, regions int64, reverse int) Pair {
		return Pair{Sender: s, Receiver: r, Counts: Counts{clean + corrupt, clean, corrupt, 0}, BytesVerified: bytes,
			CorruptBytes: cb, Regions: regions, ReverseRuns: reverse}
	}
	const half = 50 << 30
	for _, tc := range []struct {
		name  string
		reps  []report.Report
		pairs []Pair
		pv    asEnd // virt.xen_mode=pv: zk-lt-03, which ran send
		bare  asEnd // virt.hypervisor=none: db-r650-07, which ran recv
		both  asEnd // aes.cpu_flag=yes: both
	}{
		{"reverse corrupt, both ends' reports", []report.Report{send, recv, clean},
			[]Pair{pair(sb, sa, 0, 1, half, 240, 3, 1), pair(sa, sb, 1, 0, half, 0, 0, 0)},
			asEnd{0, 1}, asEnd{1, 0}, asEnd{1, 1}},
		{"reverse corrupt, send report", []report.Report{send, clean},
			[]Pair{pair(sb, sa, 0, 1, half, 240, 3, 1), pair(sa, sb, 1, 0, half, 0, 0, 0)},
			asEnd{0, 1}, asEnd{1, 0}, asEnd{1, 1}},
		{"reverse corrupt, recv report", []report.Report{recv, clean},
			[]Pair{pair(sb, sa, 0, 1, half, 240, 3, 1), pair(sa, sb, 1, 0, half, 0, 0, 0)},
			asEnd{0, 1}, asEnd{1, 0}, asEnd{1, 1}},
		{"both directions corrupt", []report.Report{both, bothRecv, clean},
			[]Pair{pair(sb, sa, 0, 1, half, 240, 3, 1), pair(sa, sb, 0, 1, half, 16, 1, 0)},
			asEnd{1, 1}, asEnd{1, 1}, asEnd{1, 1}},
		{"control channel", []report.Report{ctl, clean},
			[]Pair{pair(sa, sb, 0, 1, half, 0, 0, 0), pair(sb, sa, 1, 0, half, 0, 0, 1)},
			asEnd{1, 0}, asEnd{0, 1}, asEnd{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeReports(t, filepath.Join(dir, "runs.json"), tc.reps...)
			an := Analyze(Load([]string{dir}))
			if an.Counts != (Counts{Runs: 2, Clean: 1, Corrupt: 1}) {
				t.Fatalf("counts %+v", an.Counts)
			}
			pairs := slices.DeleteFunc(an.Pairs, func(p Pair) bool { return p.Sender == "ci-runner-eoan-2" })
			if !slices.Equal(pairs, tc.pairs) {
				t.Errorf("pairs\n%+v\nwant\n%+v", pairs, tc.pairs)
			}
			for _, w := range []struct {
				fact string
				want asEnd
			}{{"virt.xen_mode=pv", tc.pv}, {"virt.hypervisor=none", tc.bare}, {"aes.cpu_flag=yes", tc.both}} {
				for _, f := range an.Facts {
					if f.Path+"="+f.Value == w.fact {
						if got := (asEnd{f.CorruptAsSender, f.CorruptAsReceiver}); got != w.want || f.Corrupt != 1 {
							t.Errorf("%s: corrupt %d, as sender and receiver %v, want %v", w.fact, f.Corrupt, got, w.want)
						}
					}
				}
			}
			var text bytes.Buffer
			if err := Text(&text, an, 0); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "A --bidir run counts in both directions its data flowed") {
				t.Errorf("no word on --bidir runs:\n%s", text.String())
			}
		})
	}
}

// TestParseReadsAsAFullDecode: Parse skips most of a report, and sifts
// the host facts it keeps; what it reads must be what a decode of the
// whole report.Report gives, JSON's corners included: keys that differ
// in case or are spelled with escapes, keys given twice, nulls.
func TestParseReadsAsAFullDecode(t *testing.T) {
	a, b := fixture(t, "xen-pv-3.2-xen-4.1-ipsec", "eth0"), fixture(t, "baremetal", "eno1")
	send, _ := bidirReports(1, a, b)
	var whole bytes.Buffer
	if err := report.JSON(&whole, send); err != nil {
		t.Fatal(err)
	}
	const head = `{"schema":"zerocheck.report/v1","verdict":"clean","role":"send","hosts":{"local":`
	for _, in := range []string{
		whole.String(),
		head + `{"hostname":"h","aes":{"kernel_module":"loaded","implementations":{"\u0061es":{"driver":"a"},"AES":{"driver":"b"},` +
			`"x":{"driver":"}]\"{","module":"[{"},"cbc(aes)":{"driver":"c"},"cbc(aes)":{"module":"d"},"gcm(aes)":null,` +
			`"rfc4106(gcm(aes))" : { "priority" : 7 } ,"rfc4106(gcm(aes))\u0000":{},"\u00e1es":{}}}}}}`,
		head + `{"aes":{"implementations":{"aes":{"driver":"a"}}},"aes":{"implementations":{"cbc(aes)":{"driver":"c"}}}}}}`,
		head + `{"aes":{"implementations":{"aes":{"driver":"a"}}},"AES":{"implementations":null}}}}`,
		head + `{"ipsec":{"transport_mode":true,"states":[{"mode":"transport","encap":"espinudp"}]},"IPSEC":{"nat_t":true,"Modules":["esp4"]},` +
			`"Risks":[{"id":"xen-pv-aesni","status":"match"}],"virt":{"hypervisor":"xen","xen_mode":"pv"},"virt":{"xen_version":"4.1.2"}},"peer":null}}`,
		`{"schema":"zerocheck.report/v1","verdict":"corrupt","corrupt_bytes":9,"region_count":1,` +
			`"streams":[{"direction":"reverse","verdict":"corrupt","corrupt_bytes":9,"region_count":1},{"direction":"Reverse","bytes_verified":5}],` +
			`"STREAMS":[{"Direction":"reverse","corrupt_bytes":9}],"streams":null,"streams":[{"direction":"reverse","corrupt_bytes":9,"region_count":1}]}`,
	} {
		got, err := Parse([]byte(in))
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %d reports, %v", in, len(got), err)
		}
		var full report.Report
		if err := json.Unmarshal([]byte(in), &full); err != nil {
			t.Fatal(err)
		}
		sameSummary(t, got[0], Summary(full))
	}
}
