package analyze

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
)

// FuzzParse feeds Parse arbitrary bytes: reports come from files anyone
// may have written. Whatever it accepts must be a report the analysis can
// count, and must analyse and print without a panic. And Parse, which
// decodes only what the analysis counts, must read every report that a
// full decode into report.Report accepts as the full decode summarised
// does, once written out again by report.JSON.
func FuzzParse(f *testing.F) {
	facts := hostinfo.Collect(hostinfo.Options{Root: "../hostinfo/testdata/hosts/xen-pv-3.2-xen-4.1-ipsec", Interface: "eth0"})
	send, recv := runReports(1, facts, facts, report.Corrupt)
	send.Regions = []report.Region{{Index: 1, Offset: 16, Length: 16, Kind: report.KindBlock, Actual: report.Hex{1, 2}, Expected: report.Hex{0, 0}}}
	var two bytes.Buffer
	report.JSON(&two, send)
	report.JSON(&two, recv)
	f.Add(two.Bytes())
	f.Add(two.Bytes()[:two.Len()/3])
	bsend, _ := bidirReports(2, facts, facts)
	var bidir bytes.Buffer
	report.JSON(&bidir, bsend)
	f.Add(bidir.Bytes())
	f.Add([]byte(`{"schema":"zerocheck.report/v1","verdict":"clean","run_id":"1","role":"send"}{"schema":"zerocheck.report/v1","verdict":"corrupt","run_id":"1","role":"recv","bytes_verified":9223372036854775807}`))
	f.Add([]byte(`{"schema":"zerocheck.report/v1","verdict":"corrupt","corrupt_bytes":9,"streams":[{"direction":"reverse","corrupt_bytes":9223372036854775807},{"direction":"reverse","corrupt_bytes":-1,"verdict":"corrupt"}],"streams":[{}]}`))
	f.Add([]byte(`{"schema":"zerocheck.report/v1","verdict":"clean","hosts":{"local":{"aes":{"implementations":{"aes":{"driver":"x"},"x":[1]}},"ipsec":{"states":[{}]},"risks":[{}]},"peer":null}}`))
	f.Add([]byte(`{"schema":"zerocheck.analysis/v1"}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		reps, err := Parse(data)
		if err == nil && len(reps) == 0 {
			t.Fatal("no report and no error")
		}
		fl := NewFleet()
		for _, r := range reps {
			if check(r) != nil {
				t.Fatalf("accepted %+v: %v", r, check(r))
			}
			fl.AddSummary(r)
		}
		a := Analyze(fl)
		for _, p := range a.Pairs {
			if p.BytesVerified < 0 || p.CorruptBytes < 0 || p.Regions < 0 || p.Runs != p.Clean+p.Corrupt+p.Incomplete {
				t.Fatalf("bad sums %+v", p)
			}
		}
		if err := Text(io.Discard, a, 20); err != nil {
			t.Fatal(err)
		}
		if err := JSON(io.Discard, a); err != nil {
			t.Fatal(err)
		}

		d := json.NewDecoder(bytes.NewReader(data))
		for {
			var full report.Report
			if d.Decode(&full) != nil || check(Summary(full)) != nil {
				break
			}
			var again bytes.Buffer
			if report.JSON(&again, full) != nil {
				continue
			}
			back, err := Parse(again.Bytes())
			if err != nil || len(back) != 1 {
				t.Fatalf("round trip: %d reports, %v", len(back), err)
			}
			sameSummary(t, back[0], Summary(full))
		}
	})
}

// sameSummary fails unless got and want hold the same report, and the
// same facts of each host as the analysis reads them.
func sameSummary(t *testing.T, got, want Report) {
	t.Helper()
	fl := NewFleet()
	for _, h := range [][2]*hostinfo.Facts{{got.Hosts.Local, want.Hosts.Local}, {got.Hosts.Peer, want.Hosts.Peer}} {
		if g, w := fl.explaining(h[0]), fl.explaining(h[1]); !reflect.DeepEqual(g, w) {
			t.Fatalf("facts differ:\n%v\nwant\n%v", g, w)
		}
	}
	if !got.Start.Equal(want.Start) {
		t.Fatalf("start %v, want %v", got.Start, want.Start)
	}
	got.Hosts, want.Hosts = report.Hosts{}, report.Hosts{}
	got.Start = want.Start
	if got != want {
		t.Fatalf("read\n%+v\nwant\n%+v", got, want)
	}
}
