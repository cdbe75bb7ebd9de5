package hostinfo

import "testing"

// TestEDACUnknownIsNoRisk: a host without EDAC (every VM) has no count of
// memory errors, which is not a sign of them; only a count above zero is
// the risk.
func TestEDACUnknownIsNoRisk(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name        string
		uncorrected *int64
		want        string // the risk's status, "" for none
	}{
		{"no EDAC (a VM)", nil, ""},
		{"no errors", n(0), ""},
		{"errors", n(3), Match},
	} {
		f := &Facts{Counters: Counters{EDACUncorrected: tc.uncorrected}}
		got := ""
		for _, r := range Evaluate(f) {
			if r.ID == "edac-uncorrected-memory-errors" {
				got = r.Status
			}
		}
		if got != tc.want {
			t.Errorf("%s: edac risk %q, want %q", tc.name, got, tc.want)
		}
	}
}
