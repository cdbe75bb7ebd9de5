package analyze

import (
	"cmp"
	"strconv"
	"strings"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
)

// Fleet is a set of runs gathered from reports: what Load read, and what
// it skipped. It keeps, of each run, only what the analysis counts, so
// that reports with thousands of captured regions cost no more than
// clean ones.
type Fleet struct {
	// Files counts the files that gave at least one report.
	Files int
	// Reports counts the reports added: each end's of a run, and a copy
	// read twice each time.
	Reports int
	// Skipped lists what could not be read, in the order met.
	Skipped []Skipped

	runs  []*run
	byKey map[string]*run
	// facts interns each host's explaining facts: a host's facts are the
	// same in every report of a night, and a fleet of thousands of runs
	// then holds each host once.
	facts map[string][]hostinfo.Field
}

// run is one network run: both ends' reports merged.
type run struct {
	verdict report.Verdict
	// total is the run's counts; flows its streams' by direction.
	total            Flow
	forward, reverse Flow
	sender, receiver end
}

// end is one host of a run. facts is nil when the reports did not
// describe it (verify on a pipe has no sender; --no-hostinfo).
type end struct {
	name  string
	facts []hostinfo.Field
}

// NewFleet returns an empty fleet, for Add.
func NewFleet() *Fleet {
	return &Fleet{byKey: map[string]*run{}, facts: map[string][]hostinfo.Field{}}
}

// Add counts one report, as AddSummary counts Summary(r).
func (fl *Fleet) Add(r report.Report) { fl.AddSummary(Summary(r)) }

// AddSummary counts one report. The send and the recv report of a
// network run share its run id and are one run: it takes the worse
// verdict (both ends merge the same stream reports, so they agree unless
// one end was cut short), the larger counts, and each host's facts and
// name from whichever report has them. Reports without a run id (verify,
// recv --raw) are runs of their own, but one read twice (the same file
// in two directories, an archive beside the original) counts once: two
// such reports are the same when their role, start, addresses, pattern,
// seed, counts, verdict and hosts' names agree.
func (fl *Fleet) AddSummary(r Report) {
	fl.Reports++
	sender, receiver := r.endpoints()
	in := &run{
		verdict:  r.Verdict,
		total:    Flow{Verdict: r.Verdict, BytesVerified: r.BytesVerified, CorruptBytes: r.CorruptBytes, Regions: r.RegionCount},
		forward:  r.Forward,
		reverse:  r.Reverse,
		sender:   end{name: sender},
		receiver: end{name: receiver},
	}
	sf, rf := r.Hosts.Local, r.Hosts.Peer // send, loopback
	switch r.Role {
	case "recv":
		sf, rf = r.Hosts.Peer, r.Hosts.Local
	case "send", "loopback":
	default:
		// verify reads a pipe: only the receiver is known.
		sf, rf = nil, r.Hosts.Local
	}
	in.sender.facts = fl.explaining(sf)
	in.receiver.facts = fl.explaining(rf)

	var key string
	if r.RunID == "" {
		// Without a run id, the report's content is its identity: a
		// key of every field that tells two runs apart.
		key = strings.Join([]string{"", r.Role, r.Start.UTC().Format(time.RFC3339Nano), r.LocalAddr, r.PeerAddr,
			r.Pattern, strconv.FormatUint(r.Seed, 10), strconv.FormatInt(r.BytesVerified, 10),
			strconv.FormatInt(r.CorruptBytes, 10), strconv.FormatInt(r.RegionCount, 10), string(r.Verdict),
			sender, receiver}, "\x00")
		if fl.byKey[key] != nil {
			return
		}
	} else {
		// The pattern joins the key so that two runs whose random ids
		// collide, or a hand-edited file, are not merged into one.
		key = r.RunID + "\x00" + r.Pattern
	}
	had := fl.byKey[key]
	if had == nil {
		fl.byKey[key] = in
		fl.runs = append(fl.runs, in)
		return
	}
	if worse(in.verdict, had.verdict) {
		had.verdict = in.verdict
	}
	had.total.merge(in.total)
	had.forward.merge(in.forward)
	had.reverse.merge(in.reverse)
	had.sender.fill(in.sender)
	had.receiver.fill(in.receiver)
}

// endpoints names the two ends of a run as report.Report.Endpoints does.
func (r *Report) endpoints() (sender, receiver string) {
	full := report.Report{Role: r.Role, LocalAddr: r.LocalAddr, PeerAddr: r.PeerAddr, Hosts: r.Hosts}
	return full.Endpoints()
}

// merge takes the worse verdict and the larger counts of two reports of
// one flow.
func (f *Flow) merge(o Flow) {
	if f.Verdict == "" || worse(o.Verdict, f.Verdict) {
		f.Verdict = o.Verdict
	}
	f.Streams = max(f.Streams, o.Streams)
	f.BytesVerified = max(f.BytesVerified, o.BytesVerified)
	f.CorruptBytes = max(f.CorruptBytes, o.CorruptBytes)
	f.Regions = max(f.Regions, o.Regions)
}

// fill completes an end from another report of the same run. The name
// goes with the facts: a report that knows a host's facts names it by
// hostname, one that does not only by address.
func (e *end) fill(o end) {
	if e.facts == nil && o.facts != nil {
		*e = o
	}
	if e.name == "" {
		e.name = o.name
	}
}

// worse reports whether verdict a is worse than b: corrupt beats
// incomplete beats clean, as for exit codes.
func worse(a, b report.Verdict) bool {
	rank := func(v report.Verdict) int {
		switch v {
		case report.Corrupt:
			return 2
		case report.Incomplete:
			return 1
		}
		return 0
	}
	return rank(a) > rank(b)
}

// explainPaths are the facts that can explain corruption, as Fields
// names them; a path ending in "." stands for all paths under it. It is
// a list of what to take rather than of what to leave out because every
// fact added to hostinfo later would otherwise enter the table unasked:
// per-host names and addresses, counters and SA lists differ on every
// host or every run and would each "separate" the one host they belong
// to, burying the facts that are shared.
var explainPaths = []string{
	"kernel.release", "kernel.upstream_version", "kernel.distro",
	"cpu.model_name", "cpu.microcode",
	"virt.hypervisor", "virt.xen_mode", "virt.xen_role", "virt.xen_version",
	"aes.cpu_flag", "aes.kernel_module", "aes.impl.",
	"ipsec.transport_mode", "ipsec.nat_t", "ipsec.encap_transport",
	"net.driver", "net.mtu", "net.offloads", "net.congestion_control",
}

// RiskPath is the prefix of the fact that holds a risk profile's status
// on a host: "risk.xen-pv-aesni" is match, possible or no.
const RiskPath = "risk."

// NoRisk is the value of a risk fact on a host the profile does not fit.
const NoRisk = "no"

// explains reports whether a fact path is one of explainPaths.
func explains(path string) bool {
	for _, p := range explainPaths {
		if path == p || strings.HasSuffix(p, ".") && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// explaining returns a host's facts that can explain corruption, and
// its status on every risk profile, interned; nil for no facts.
func (fl *Fleet) explaining(f *hostinfo.Facts) []hostinfo.Field {
	if f == nil {
		return nil
	}
	var out []hostinfo.Field
	for _, x := range f.Fields() {
		if explains(x.Path) {
			out = append(out, x)
		}
	}
	// Risks are matched again with this zerocheck's rules rather than
	// read from the report: reports written before a profile existed
	// would otherwise all read "no" for it, and a fleet is only
	// comparable under one rule set.
	status := map[string]string{}
	for _, r := range hostinfo.Evaluate(f) {
		status[r.ID] = r.Status
	}
	for _, rule := range hostinfo.Rules {
		out = append(out, hostinfo.Field{Path: RiskPath + rule.ID, Value: cmp.Or(status[rule.ID], NoRisk)})
	}

	var key strings.Builder
	for _, x := range out {
		key.WriteString(x.Path + "\x00" + x.Value + "\x00")
	}
	if have, ok := fl.facts[key.String()]; ok {
		return have
	}
	fl.facts[key.String()] = out
	return out
}
