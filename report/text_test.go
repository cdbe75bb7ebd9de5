package report

import (
	"testing"

	"github.com/zerocheck/zerocheck/hostinfo"
)

// TestCountersConclusion: the conclusion names the host that received
// the corrupt bytes, and is drawn only from counters over the run on a
// real interface.
func TestCountersConclusion(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	host := func(name, iface string, delta *int64) *hostinfo.Facts {
		f := &hostinfo.Facts{Hostname: name, Net: &hostinfo.NetPath{Interface: iface}}
		if delta != nil {
			f.Delta = &hostinfo.Counters{TCPInCsumErrors: delta}
		}
		return f
	}
	const accepted = "TCP checksum errors did not rise on b during the run: TCP accepted these bytes, so the corruption happened " +
		"where no checksum looks (inside a host: memory, CPU or crypto, before the checksum was computed or after it was checked)."
	corrupt := func(role string, local, peer *hostinfo.Facts, dirs ...string) Report {
		r := Report{Role: role, CorruptBytes: 16, Hosts: Hosts{Local: local, Peer: peer}}
		for i, d := range dirs {
			r.Streams = append(r.Streams, Stream{Stream: i, Direction: d})
			r.Regions = append(r.Regions, Region{Index: i + 1, Stream: i})
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    Report
		want string
	}{
		{"recv, its own counters did not move", corrupt("recv", host("b", "eth0", n(0)), host("a", "eth0", nil), Forward), accepted},
		{"send, the receiver's counters from before the run only", corrupt("send", host("a", "eth0", n(0)), host("b", "eth0", nil), Forward), ""},
		{"send, a reverse stream received here", corrupt("send", host("b", "eth0", n(0)), host("a", "eth0", nil), Reverse), accepted},
		{"recv, a reverse stream received by the sender", corrupt("recv", host("a", "eth0", n(0)), host("b", "eth0", nil), Reverse), ""},
		{"counters rose", corrupt("recv", host("b", "eth0", n(7)), nil, Forward),
			"TCP checksum errors rose by 7 on b during the run: packets arrived damaged and TCP dropped those it caught; the corruption above got past its checksum."},
		{"loopback interface", corrupt("loopback", host("b", "lo", n(0)), nil, Forward), ""},
		{"verify reads no socket", corrupt("", host("b", "eth0", n(0)), nil, Forward), ""},
		{"clean", Report{Role: "recv", Hosts: Hosts{Local: host("b", "eth0", n(0))}}, ""},
	} {
		if got := CountersConclusion(tc.r); got != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
