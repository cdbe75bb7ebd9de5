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

// Pair is the runs from one sender to one receiver, named as
// report.Endpoints names them ("" when a report does not know the host:
// verify on a pipe has no sender).
type Pair struct {
	Sender   string `json:"sender"`
	Receiver string `json:"receiver"`
	Counts
	BytesVerified int64 `json:"bytes_verified"`
	CorruptBytes  int64 `json:"corrupt_bytes"`
	Regions       int64 `json:"regions"`
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
	for _, r := range fl.runs {
		a.add(r.verdict)
		k := [2]string{r.sender.name, r.receiver.name}
		p := pairs[k]
		if p == nil {
			p = &Pair{Sender: k[0], Receiver: k[1]}
			pairs[k] = p
		}
		p.add(r.verdict)
		p.BytesVerified = addSat(p.BytesVerified, r.bytesVerified)
		p.CorruptBytes = addSat(p.CorruptBytes, r.corruptBytes)
		p.Regions = addSat(p.Regions, r.regions)
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
		if bad {
			corrupt++
		}
		seen := map[key]bool{}
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
				if bad && side == 0 {
					f.CorruptAsSender++
				}
				if bad && side == 1 {
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
