package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/internal/golden"
	"github.com/zerocheck/zerocheck/report"
)

// failed is a sender's report of a connection to addr that failed: no
// facts came back, so it names no receiver.
func failed(addr string, start time.Time) report.Report {
	return via(run("send", "hostA", "", report.Incomplete, 0, 0, 0, start, 3), addr)
}

// verdictLines returns the zerocheck_last_run_verdict lines of addr in raw.
func verdictLines(raw []byte, addr string) []string {
	var out []string
	for l := range strings.Lines(string(raw)) {
		if strings.HasPrefix(l, "zerocheck_last_run_verdict{") && strings.Contains(l, `,addr="`+addr+`",`) {
			out = append(out, strings.TrimSuffix(l, "\n"))
		}
	}
	return out
}

// TestFailedThenClean is the reviewer's case: the receiver is down one
// night, so the sweep's run fails to connect and its report names the
// address alone; the next night the run is clean, and its report names
// the host. The path must have one set of series, clean, under the
// hostname: not a stale incomplete one under the address beside it, which
// the file would keep for good. Each night is a process of its own, and
// one process that lives through both does the same.
func TestFailedThenClean(t *testing.T) {
	night := 24 * time.Hour
	for _, restart := range []bool{true, false} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "zerocheck.prom")
			tf := mustOpen(t, path)
			record(t, tf, failed("10.0.0.2:7777", t0))
			if restart {
				tf = mustOpen(t, path)
			}
			record(t, tf, via(run("send", "hostA", "db-1", report.Clean, 1000, 0, 0, t0.Add(night), 60), "10.0.0.2:7777"))

			raw := read(t, path)
			got := verdictLines(raw, "10.0.0.2:7777")
			lines := []string{
				`zerocheck_last_run_verdict{role="send",peer="db-1",addr="10.0.0.2:7777",verdict="clean"} 1`,
				`zerocheck_last_run_verdict{role="send",peer="db-1",addr="10.0.0.2:7777",verdict="corrupt"} 0`,
				`zerocheck_last_run_verdict{role="send",peer="db-1",addr="10.0.0.2:7777",verdict="incomplete"} 0`,
			}
			if !slices.Equal(got, lines) {
				t.Errorf("last_run_verdict lines of 10.0.0.2:7777:\n%s\nwant\n%s\nin\n%s", strings.Join(got, "\n"), strings.Join(lines, "\n"), raw)
			}
			// The failed run still counts, under the path's one set.
			checkValues(t, parse(t, raw), want{role: "send", peer: "db-1", addr: "10.0.0.2:7777", runs: [3]float64{1, 0, 1},
				verified: 1000, lastEnd: float64(t0.Add(night).Unix()) + 60, lastVerdict: "clean", lastVerified: 1000,
				seconds: 63, lastSeconds: 60})
		})
	}
}

// TestPeerName runs one path through runs that name its other end or do
// not (a failed connection), in one process and with a restart before
// each run: the path has one set of series, under the hostname last
// learnt, or the address while none is.
func TestPeerName(t *testing.T) {
	cases := []struct {
		name  string
		role  string
		names []string // the hostname each run's report gives, "" for none
		want  string
	}{
		{"failed, then clean", "send", []string{"", "db-1"}, "db-1"},
		{"clean, then failed", "send", []string{"db-1", ""}, "db-1"},
		{"failed only", "send", []string{"", ""}, "10.0.0.2"},
		{"renamed", "send", []string{"db-1", "db-1-new"}, "db-1-new"},
		{"renamed back", "send", []string{"db-1", "db-1-new", "db-1"}, "db-1"},
		{"renamed between failures", "send", []string{"", "db-1", "", "db-2", ""}, "db-2"},
		{"receiver: named, then not", "recv", []string{"hostC", ""}, "hostC"},
		{"receiver: not, then named", "recv", []string{"", "hostC"}, "hostC"},
	}
	for _, c := range cases {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/restart=%v", c.name, restart), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "zerocheck.prom")
				tf := mustOpen(t, path)
				for i, name := range c.names {
					if restart {
						tf = mustOpen(t, path)
					}
					addr := "10.0.0.2:7777"
					if c.role == "recv" {
						addr = fmt.Sprintf("10.0.0.2:%d", 40000+i)
					}
					v := report.Clean
					if name == "" {
						v = report.Incomplete
					}
					record(t, tf, via(run(c.role, "hostA", name, v, 10, 0, 0, t0.Add(time.Duration(i)*time.Hour), 1), addr))
				}
				fams := parse(t, read(t, path))
				addr := map[string]string{"send": "10.0.0.2:7777", "recv": "10.0.0.2"}[c.role]
				if got, want := peers(fams), []string{c.role + "/" + c.want + "/" + addr}; !slices.Equal(got, want) {
					t.Errorf("series %q, want %q", got, want)
				}
				var runs float64
				for _, m := range fams["zerocheck_runs_total"].GetMetric() {
					runs += m.GetCounter().GetValue()
				}
				if runs != float64(len(c.names)) {
					t.Errorf("%v runs, want %d", runs, len(c.names))
				}
			})
		}
	}
}

// TestRenameKeepsPlace checks that MaxPeers bounds paths, not names: a
// path renamed again and again takes one place in the table, and pushes
// no other path out.
func TestRenameKeepsPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	tf, err := open(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	record(t, tf, via(run("send", "hostA", "db-9", report.Corrupt, 10, 1, 1, t0, 1), "10.0.0.9:7777"))
	for i := range 5 {
		name := fmt.Sprintf("db-%d", i)
		if i%2 == 1 {
			name = ""
		}
		record(t, tf, via(run("send", "hostA", name, report.Clean, 10, 0, 0, t0.Add(time.Duration(i+1)*time.Minute), 1), "10.0.0.2:7777"))
	}
	if got := peers(parse(t, read(t, path))); !slices.Equal(got, []string{"send/db-4/10.0.0.2:7777", "send/db-9/10.0.0.9:7777"}) {
		t.Errorf("series %q", got)
	}
}

// TestHostname checks which peer labels read back from a file count as
// hostnames: any but the path's address, its host or an IP address.
func TestHostname(t *testing.T) {
	for _, c := range []struct {
		peer, addr string
		want       bool
	}{
		{"db-1", "10.0.0.2:7777", true},
		{"10.0.0.2", "10.0.0.2:7777", false},
		{"10.0.0.3", "10.0.0.2:7777", false},
		{"fd00::5", "[fd00::5]:7777", false},
		{"fe80::1%eth0", "fe80::1%eth0", false},
		{"db-1", "db-1:7777", false}, // a run that dialled db-1, and learnt no more
		{"db-1", "db-1", false},
		{"unknown", "unknown", false},
		{"db-1", "unknown", true},
		{"hostA", "10.0.0.1", true},
	} {
		if got := hostname(c.peer, c.addr); got != c.want {
			t.Errorf("hostname(%q, %q) = %v, want %v", c.peer, c.addr, got, c.want)
		}
	}
}

// TestRestoreByPeer reads back by-peer.prom, which the version before
// this one wrote over two nights, when series were told apart by peer as
// well: each path has a set under its address, from a night its run
// failed to connect (or, for the receiver, came without facts), and one
// or two under hostnames. Each path is restored once, with the values of
// its set that ran last and the hostname that ran last, whatever the
// order of the lines; the file written then is by-peer-merged.prom.
func TestRestoreByPeer(t *testing.T) {
	raw := read(t, filepath.Join("testdata", "by-peer.prom"))
	night1 := float64(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC).Unix())
	night2 := night1 + 24*3600
	clean, incomplete := verdictIndex(report.Clean), verdictIndex(report.Incomplete)
	want := map[pathKey]counts{
		// Failed, then clean: the clean set, hostname and all.
		{"send", "10.0.0.2:7777"}: {peer: "db-1", runs: [3]uint64{1, 0, 0}, bytesVerified: 1000, lastBytes: 1000,
			lastEnd: night2 + 60, lastVerdict: clean},
		// Clean, then failed: the failed set's values, the clean one's name.
		{"send", "10.0.0.3:7777"}: {peer: "db-2", runs: [3]uint64{0, 0, 1},
			lastEnd: night2 + 63, lastVerdict: incomplete},
		// Renamed: the new name.
		{"send", "10.0.0.4:7777"}: {peer: "db-3b", runs: [3]uint64{1, 0, 0}, bytesVerified: 2000, lastBytes: 2000,
			lastEnd: night2 + 180, lastVerdict: clean},
		// A receiver's: a sender with facts, then one without.
		{"recv", "10.0.0.9"}: {peer: "hostC", runs: [3]uint64{0, 0, 1}, bytesVerified: 10, lastBytes: 10,
			lastEnd: night2 + 183, lastVerdict: incomplete},
	}

	path := filepath.Join(t.TempDir(), "zerocheck.prom")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	tf := mustOpen(t, path) // merged, not an error to log
	checkState(t, state(tf), want)
	if err := tf.Flush(); err != nil {
		t.Fatal(err)
	}
	merged := read(t, path)
	golden.Check(t, filepath.Join("testdata", "by-peer-merged.prom"), fixedGo(merged))
	parse(t, merged)
	for _, addr := range []string{"10.0.0.2:7777", "10.0.0.3:7777", "10.0.0.4:7777", "10.0.0.9"} {
		if n := len(verdictLines(merged, addr)); n != len(verdicts) {
			t.Errorf("%s: %d last_run_verdict lines, want %d", addr, n, len(verdicts))
		}
	}

	lines := strings.SplitAfter(string(raw), "\n")
	rnd := rand.New(rand.NewPCG(5, 6))
	for try := range 20 {
		rnd.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
		got, err := parseState([]byte(strings.Join(lines, "")), MaxPeers)
		if err != nil {
			t.Fatalf("order %d: %v", try, err)
		}
		checkState(t, values(got), want)

		// A limit counts paths: the two that ran last, merged as well.
		got, err = parseState([]byte(strings.Join(lines, "")), 2)
		if err == nil || !strings.Contains(err.Error(), "beyond the 2 paths run last") {
			t.Errorf("order %d: error %v", try, err)
		}
		checkState(t, values(got), map[pathKey]counts{
			{"send", "10.0.0.4:7777"}: want[pathKey{"send", "10.0.0.4:7777"}],
			{"recv", "10.0.0.9"}:      want[pathKey{"recv", "10.0.0.9"}],
		})
	}

	// The next night's failed run keeps the name.
	record(t, tf, failed("10.0.0.4:7777", time.Unix(int64(night2)+24*3600, 0)))
	if got := verdictLines(read(t, path), "10.0.0.4:7777"); len(got) != 3 || !strings.Contains(got[2], `peer="db-3b"`) || !strings.HasSuffix(got[2], `verdict="incomplete"} 1`) {
		t.Errorf("after a failed run:\n%s", strings.Join(got, "\n"))
	}
}

// TestRestoreAddressOnly checks a file whose path has two sets under
// addresses alone and none under a hostname: the one that ran last wins,
// name and values.
func TestRestoreAddressOnly(t *testing.T) {
	var b bytes.Buffer
	for i, peer := range []string{"10.0.0.2", "unknown"} {
		fmt.Fprintf(&b, "zerocheck_last_run_timestamp_seconds{role=\"send\",peer=%q,addr=\"10.0.0.2:7777\"} %d\n", peer, 100+i)
		fmt.Fprintf(&b, "zerocheck_bytes_verified_total{role=\"send\",peer=%q,addr=\"10.0.0.2:7777\"} %d\n", peer, 7+i)
	}
	got, err := parseState(b.Bytes(), MaxPeers)
	if err == nil || errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), "1 series with lines missing") {
		t.Errorf("error %v", err)
	}
	c := got[pathKey{"send", "10.0.0.2:7777"}]
	if len(got) != 1 || c == nil || c.peer != "unknown" || c.bytesVerified != 8 || c.lastEnd != 101 {
		t.Errorf("restored %+v", values(got))
	}
}
