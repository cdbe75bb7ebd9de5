package verify

import (
	"testing"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/report"
)

// TestWholeStreamOfAnotherPatternIsMismatch: with Unannounced, a stream
// that is another built-in pattern from its first byte to its last is a
// mismatch, whatever its length and however it is cut into writes; a
// stream that is so only in part, or a protocol stream, is corrupt.
func TestWholeStreamOfAnotherPatternIsMismatch(t *testing.T) {
	zeros, counter := mustPattern(t, "zeros"), mustPattern(t, "counter")
	seeded, _ := pattern.Parse("random", 0x1234)
	const n = 1 << 20
	// Zeros with a region of counter data at 500000: displaced data in a
	// good stream, not a stream of counter data.
	region := fill(zeros, n)
	counter.Fill(region[500000:500000+65536], 500000)
	// Counter data whose head is all counter, then zeros.
	headOnly := fill(counter, n)
	clear(headOnly[2*headLen:])
	// Counter data with one byte wrong past the head.
	oneOff := fill(counter, n)
	oneOff[700000] ^= 1

	for _, tc := range []struct {
		name        string
		opt         Options
		data        []byte
		want        report.Verdict
		sent        string
		seed        *uint64
		unannounced bool
	}{
		{"counter into zeros", Options{Pattern: zeros}, fill(counter, n), report.Mismatch, "counter", nil, true},
		{"counter, shorter than the head", Options{Pattern: zeros}, fill(counter, 100), report.Mismatch, "counter", nil, true},
		// Ones are ones at any offset.
		{"ones into zeros, from an offset", Options{Pattern: zeros, Offset: 4099}, fill(mustPattern(t, "ones"), n), report.Mismatch, "ones", nil, true},
		{"random with a seed of its own", Options{Pattern: zeros, Seed: pattern.DefaultSeed}, fill(seeded, n), report.Mismatch, "random", ptr(uint64(0x1234)), true},
		{"zeros into counter", Options{Pattern: counter}, make([]byte, n), report.Mismatch, "zeros", nil, true},
		{"a region of counter in zeros", Options{Pattern: zeros}, region, report.Corrupt, "", nil, true},
		{"counter head, then zeros", Options{Pattern: zeros}, headOnly, report.Corrupt, "", nil, true},
		{"counter with one bad byte past the head", Options{Pattern: zeros}, oneOff, report.Corrupt, "", nil, true},
		{"random of a seed above 2^53, which no user gives", Options{Pattern: zeros}, unseedable(n), report.Corrupt, "", nil, true},
		{"protocol stream of counter", Options{Pattern: zeros}, fill(counter, n), report.Corrupt, "", nil, false},
	} {
		for _, cut := range [][]int{nil, {1, 4094, 3}, {headLen - 1, 2}, {headLen, 1}, {5000}} {
			opt := tc.opt
			opt.Unannounced = tc.unannounced
			r := run(t, opt, tc.data, cut)
			if r.Verdict != tc.want || r.PatternSent != tc.sent || (r.SeedSent == nil) != (tc.seed == nil) ||
				r.SeedSent != nil && *r.SeedSent != *tc.seed {
				t.Errorf("%s, cut %v: verdict %q pattern_sent %q seed_sent %v", tc.name, cut, r.Verdict, r.PatternSent, r.SeedSent)
			}
			if err := r.Check(); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// unseedable is data that no seed of the random pattern makes: its first
// word names a seed above pattern.MaxSeed.
func unseedable(n int) []byte {
	for s := uint64(pattern.MaxSeed + 1); ; s++ {
		b := make([]byte, n)
		pattern.NewRandom(s).Fill(b, 0)
		if _, ok := pattern.RandomSeedOf(b, 0); !ok {
			return b
		}
	}
}
