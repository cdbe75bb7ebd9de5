package analyze

import (
	"bytes"
	"io"
	"testing"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
)

// FuzzParse feeds Parse arbitrary bytes: reports come from files anyone
// may have written. Whatever it accepts must be a report the analysis can
// count, must survive a round trip through report.JSON, and must analyse
// and print without a panic.
func FuzzParse(f *testing.F) {
	facts := hostinfo.Collect(hostinfo.Options{Root: "../hostinfo/testdata/hosts/xen-pv-3.2-xen-4.1-ipsec", Interface: "eth0"})
	send, recv := runReports(1, facts, facts, report.Corrupt)
	send.Regions = []report.Region{{Index: 1, Offset: 16, Length: 16, Kind: report.KindBlock, Actual: report.Hex{1, 2}, Expected: report.Hex{0, 0}}}
	var two bytes.Buffer
	report.JSON(&two, send)
	report.JSON(&two, recv)
	f.Add(two.Bytes())
	f.Add(two.Bytes()[:two.Len()/3])
	f.Add([]byte(`{"schema":"zerocheck.report/v1","verdict":"clean","run_id":"1","role":"send"}{"schema":"zerocheck.report/v1","verdict":"corrupt","run_id":"1","role":"recv","bytes_verified":9223372036854775807}`))
	f.Add([]byte(`{"schema":"zerocheck.analysis/v1"}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		reps, err := Parse(data)
		if err == nil && len(reps) == 0 {
			t.Fatal("no report and no error")
		}
		fl := NewFleet()
		var again bytes.Buffer
		for _, r := range reps {
			if check(r) != nil {
				t.Fatalf("accepted %+v: %v", r, check(r))
			}
			if err := report.JSON(&again, r); err != nil {
				t.Fatal(err)
			}
			fl.Add(r)
		}
		if len(reps) > 0 {
			back, err := Parse(again.Bytes())
			if err != nil || len(back) != len(reps) {
				t.Fatalf("round trip: %d reports, %v; want %d", len(back), err, len(reps))
			}
		}
		a := Analyze(fl)
		for _, p := range a.Pairs {
			if p.BytesVerified < 0 || p.CorruptBytes < 0 || p.Regions < 0 {
				t.Fatalf("negative sums %+v", p)
			}
		}
		if err := Text(io.Discard, a, 20); err != nil {
			t.Fatal(err)
		}
		if err := JSON(io.Discard, a); err != nil {
			t.Fatal(err)
		}
	})
}
