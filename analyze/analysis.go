package analyze

import (
	"cmp"
	"math"
	"slices"

	"github.com/zerocheck/zerocheck/report"
)

// Schema names the JSON layout of Analysis. It changes only when a field
// is removed or changes meaning.
const Schema = "zerocheck.analysis/v1"

// Counts are runs by verdict.
type Counts struct {
	Runs       int `json:"runs"`
	Clean      int `json:"clean"`
	Corrupt    int `json:"corrupt"`
	Incomplete int `json:"incomplete"`
}

func (c *Counts) add(v report.Verdict) {
	c.Runs++
	switch v {
	case report.Clean:
		c.Clean++
	case report.Corrupt:
		c.Corrupt++
	default:
		c.Incomplete++
	}
}

// Analysis is what a fleet's reports say together: which host pairs saw
// corruption, and which host facts go with it.
type Analysis struct {
	Schema  string `json:"schema"`
	Files   int    `json:"files"`
	Reports int    `json:"reports"`
	// Counts are the runs after both ends' reports of a run are merged.
	Counts
	Pairs []Pair `json:"pairs"`
	Facts []Fact `json:"facts"`
	// Skipped lists the files, or rests of files, not analysed.
	Skipped []Skipped `json:"skipped"`
}

// Pair is the runs in which data flowed from one host to another: Sender
// sent it, Receiver verified it. Hosts are named as report.Endpoints
// names them ("" when a report does not know the host: verify on a pipe
// has no sender). A run counts in the row of the host that ran send to
// the one that ran recv, with its verdict and counts forward; a --bidir
// run counts again in the row the other way, with its reverse streams'
// (ReverseRuns), so that corruption is counted where the data it struck
// flowed. Pairs then count a --bidir run twice, once each way, and their
// Runs add up to more than Analysis.Runs; their bytes and regions add
// up to the runs'.
type Pair struct {
	Sender   string `json:"sender"`
	Receiver string `json:"receiver"`
	Counts
	BytesVerified int64 `json:"bytes_verified"`
	CorruptBytes  int64 `json:"corrupt_bytes"`
	Regions       int64 `json:"regions"`
	// ReverseRuns counts the runs of Runs whose data in this row flowed
	// on the reverse streams of a --bidir run: Receiver ran send, and
	// verified what Sender sent.
	ReverseRuns int `json:"reverse_runs"`
}

// Fact is one value of one host fact and the corruption rate of the runs
// it was part of. A run has the value when either of its hosts has it,
// since corruption may happen on either host. Only clean and corrupt runs
// count: an incomplete run says nothing either way.
type Fact struct {
	Path  string `json:"fact"`
	Value string `json:"value"`
	// Runs and Corrupt count the runs with the value; Rate is
	// Corrupt/Runs.
	Runs    int     `json:"runs"`
	Corrupt int     `json:"corrupt"`
	Rate    float64 `json:"rate"`
	// OtherRuns and OtherCorrupt count the runs without the value;
	// RateOthers is their rate, nil when every run has the value.
	OtherRuns    int      `json:"other_runs"`
	OtherCorrupt int      `json:"other_corrupt"`
	RateOthers   *float64 `json:"rate_others"`
	// Separation is Rate - RateOthers, from -1 to 1 (0 when RateOthers
	// is nil): 1 when the value is on every corrupt run and on no clean
	// one.
	Separation float64 `json:"separation"`
	// CorruptAsSender and CorruptAsReceiver count the corrupt runs whose
	// sending or receiving host had the value: which end of a run a
	// suspect sits on.
	CorruptAsSender   int `json:"corrupt_as_sender"`
	CorruptAsReceiver int `json:"corrupt_as_receiver"`
	// Uniform is set when every host of the rated runs has this one value
	// for the fact: it separates nothing.
	Uniform bool `json:"uniform"`
}

// Analyze counts the fleet's runs per host pair and per host fact value.
// Pairs come with the most corrupt runs first; facts with the strongest
// separation first, then the most runs, then by name, and the uniform
// ones last.
func Analyze(fl *Fleet) Analysis {
	a := Analysis{
		Schema: Schema, Files: fl.Files, Reports: fl.Reports,
		Pairs: []Pair{}, Skipped: slices.Clone(fl.Skipped),
	}
	if a.Skipped == nil {
		a.Skipped = []Skipped{}
	}
	pairs := map[[2]string]*Pair{}
	flow := func(sender, receiver string, f Flow) *Pair {
		k := [2]string{sender, receiver}
		p := pairs[k]
		if p == nil {
			p = &Pair{Sender: k[0], Receiver: k[1]}
			pairs[k] = p
		}
		p.add(f.Verdict)
		p.BytesVerified = addSat(p.BytesVerified, f.BytesVerified)
		p.CorruptBytes = addSat(p.CorruptBytes, f.CorruptBytes)
		p.Regions = addSat(p.Regions, f.Regions)
		return p
	}
	for _, r := range fl.runs {
		a.add(r.verdict)
		fwd, rev := r.directions()
		flow(r.sender.name, r.receiver.name, fwd)
		if r.reverse.Streams > 0 {
			flow(r.receiver.name, r.sender.name, rev).ReverseRuns++
		}
	}
	for _, p := range pairs {
		a.Pairs = append(a.Pairs, *p)
	}
	slices.SortFunc(a.Pairs, func(x, y Pair) int {
		return cmp.Or(cmp.Compare(y.Corrupt, x.Corrupt), cmp.Compare(x.Sender, y.Sender), cmp.Compare(x.Receiver, y.Receiver))
	})
	a.Facts = facts(fl.runs)
	return a
}

// addSat adds without wrapping: reports are input, and two that claim
// 2^62 bytes each must not sum to a negative total.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// directions splits a run into the data that flowed forward, from the
// host that ran send to the one that ran recv, and in reverse (--bidir
// streams), each with its verdict and counts. The reverse counts are
// those of the reverse streams, and the forward ones the rest of the
// run's, so that the two add up to the run. A direction's verdict is the
// worst of its streams', corrupt if it has corrupt bytes, and never worse
// than the run's; when no stream shows why a run is corrupt or
// incomplete (the control channel's CRC, a failure before the streams
// started, a report that lists no streams), its forward direction takes
// the run's verdict.
func (r *run) directions() (fwd, rev Flow) {
	rev = r.reverse
	rev.BytesVerified = min(rev.BytesVerified, r.total.BytesVerified)
	rev.CorruptBytes = min(rev.CorruptBytes, r.total.CorruptBytes)
	rev.Regions = min(rev.Regions, r.total.Regions)
	fwd = Flow{
		Streams: r.forward.Streams, Verdict: cmp.Or(r.forward.Verdict, report.Clean),
		BytesVerified: r.total.BytesVerified - rev.BytesVerified,
		CorruptBytes:  r.total.CorruptBytes - rev.CorruptBytes,
		Regions:       r.total.Regions - rev.Regions,
	}
	rev.Verdict = cmp.Or(rev.Verdict, report.Clean)
	for _, f := range []*Flow{&fwd, &rev} {
		if f.CorruptBytes > 0 {
			f.Verdict = report.Corrupt
		}
		if worse(f.Verdict, r.verdict) {
			f.Verdict = r.verdict
		}
	}
	if worse(r.verdict, fwd.Verdict) && worse(r.verdict, rev.Verdict) {
		fwd.Verdict = r.verdict
	}
	return fwd, rev
}

// facts computes the rate of every fact value over the clean and corrupt
// runs.
func facts(runs []*run) []Fact {
	type key struct{ path, value string }
	rows := map[key]*Fact{}
	values := map[string]map[string]bool{}
	// hosts counts the ends with facts, and withPath those among them
	// that have a path at all: a fact some hosts lack still separates
	// them from the rest, even with one value.
	hosts, withPath := 0, map[string]int{}
	rated, corrupt := 0, 0
	for _, r := range runs {
		if r.verdict != report.Clean && r.verdict != report.Corrupt {
			continue
		}
		bad := r.verdict == report.Corrupt
		rated++
		// Which end sent data that arrived corrupt, and which verified
		// it: the sender's data flows forward, the receiver's on the
		// reverse streams of a --bidir run.
		var sent, verified [2]bool
		if bad {
			corrupt++
			fwd, rev := r.directions()
			sent[0], verified[1] = fwd.Verdict == report.Corrupt, fwd.Verdict == report.Corrupt
			sent[1], verified[0] = rev.Verdict == report.Corrupt, rev.Verdict == report.Corrupt
		}
		seen := map[key]bool{}
		asSender, asReceiver := map[key]bool{}, map[key]bool{}
		for side, e := range []end{r.sender, r.receiver} {
			if e.facts == nil {
				continue
			}
			hosts++
			for _, x := range e.facts {
				withPath[x.Path]++
				k := key{x.Path, x.Value}
				f := rows[k]
				if f == nil {
					f = &Fact{Path: x.Path, Value: x.Value}
					rows[k] = f
					if values[x.Path] == nil {
						values[x.Path] = map[string]bool{}
					}
					values[x.Path][x.Value] = true
				}
				if sent[side] && !asSender[k] {
					asSender[k] = true
					f.CorruptAsSender++
				}
				if verified[side] && !asReceiver[k] {
					asReceiver[k] = true
					f.CorruptAsReceiver++
				}
				if seen[k] {
					continue
				}
				seen[k] = true
				f.Runs++
				if bad {
					f.Corrupt++
				}
			}
		}
	}
	out := make([]Fact, 0, len(rows))
	for _, f := range rows {
		f.Rate = float64(f.Corrupt) / float64(f.Runs)
		f.OtherRuns = rated - f.Runs
		f.OtherCorrupt = corrupt - f.Corrupt
		if f.OtherRuns > 0 {
			r := float64(f.OtherCorrupt) / float64(f.OtherRuns)
			f.RateOthers = &r
			// One division of exact integers, not a difference of two
			// rounded rates: equal separations are then equal floats, so
			// ties go to the value seen in more runs, and none is -0.0.
			num := int64(f.Corrupt)*int64(f.OtherRuns) - int64(f.OtherCorrupt)*int64(f.Runs)
			f.Separation = float64(num) / (float64(f.Runs) * float64(f.OtherRuns))
		}
		f.Uniform = len(values[f.Path]) == 1 && withPath[f.Path] == hosts
		out = append(out, *f)
	}
	slices.SortFunc(out, func(x, y Fact) int {
		return cmp.Or(boolCompare(x.Uniform, y.Uniform), cmp.Compare(y.Separation, x.Separation),
			cmp.Compare(y.Runs, x.Runs), cmp.Compare(x.Path, y.Path), cmp.Compare(x.Value, y.Value))
	})
	return out
}

// boolCompare orders false before true.
func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
