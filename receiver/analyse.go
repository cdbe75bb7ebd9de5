package receiver

import (
	"fmt"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/report"
)

// analyse turns a closed, captured region into its report form.
func (v *Verifier) analyse(r *region) report.Region {
	out := report.Region{
		Index:        r.index,
		Stream:       v.opt.Stream,
		Offset:       r.start,
		Length:       r.last - r.start + 1,
		CorruptBytes: r.corrupt,
		FlippedBits:  r.flipped,
		DataOffset:   r.dataOff,
		Actual:       r.act,
	}
	// The capture may run past the wanted end when the stream ended early
	// or the limit cut it; keep the window the region asked for.
	if r.wantEnd >= 0 && r.dataOff+int64(len(out.Actual)) > r.wantEnd {
		out.Actual = out.Actual[:r.wantEnd-r.dataOff]
	}
	out.Truncated = r.dataOff+int64(len(out.Actual)) < min(r.wantEnd, v.off)
	out.Expected = make([]byte, len(out.Actual))
	v.pat.Fill(out.Expected, r.dataOff)

	if p, ok := bestPhase(&r.grid, r.start); ok {
		out.Granule = 16
		out.Phase = p
		out.Blocks = r.grid.p[p].blocks
		// Only whole, captured blocks are compared: a region longer than
		// the capture limit is judged on what was kept.
		out.MaxRepeat = max(report.MaxRepeatOf(out.CorruptBlocks()), 1)
	}

	// The captured part of the region itself, for displacement.
	span := out.Actual[min(int64(len(out.Actual)), r.start-r.dataOff):]
	span = span[:min(int64(len(span)), out.Length)]

	switch {
	case r.corrupt == 1 && r.flipped == 1:
		out.Kind = report.KindBitflip
	case r.allZero:
		out.Kind = report.KindZeroed
	default:
		if l, ok := v.pat.(pattern.Locator); ok {
			if d, ok := l.Locate(span, r.start); ok {
				src := r.start + d
				out.SourceOffset = &src
				out.Kind = report.KindDisplaced
				break
			}
		}
		if out.Granule == 16 {
			out.Kind = report.KindBlock
		} else {
			out.Kind = report.KindBurst
		}
	}
	return out
}

// bestPhase picks the 16-byte grid that explains the region: among the
// phases that fit, the one with fewest blocks, then the one whose grid
// starts nearest at or before the region's first byte.
func bestPhase(gs *grids, start int64) (int, bool) {
	g := &gs.p
	best, found := 0, false
	dist := func(p int) int64 { return ((start-int64(p))%16 + 16) % 16 }
	for p := range g {
		if g[p].bad || g[p].blocks == 0 {
			continue
		}
		if !found || g[p].blocks < g[best].blocks ||
			g[p].blocks == g[best].blocks && dist(p) < dist(best) {
			best, found = p, true
		}
	}
	return best, found
}

// guessPattern names a built-in pattern that the head of a mismatching
// stream matches, so that "wrong pattern" reads as such.
func guessPattern(head []byte, off int64, seed uint64, configured string) string {
	name, _, _ := guess(head, off, seed, configured)
	return name
}

// guess returns the built-in pattern other than the configured one that
// head, at stream offset off, matches: its name as a report gives it,
// the pattern and its seed. The random pattern is tried with the
// configured seed, the default seed and the seed head itself names
// (pattern.RandomSeedOf), so that a sender's forgotten --seed is found.
func guess(head []byte, off int64, seed uint64, configured string) (string, pattern.Pattern, uint64) {
	if len(head) == 0 {
		return "", nil, 0
	}
	seeds := []uint64{seed, pattern.DefaultSeed}
	if s, ok := pattern.RandomSeedOf(head, off); ok {
		seeds = append(seeds, s)
	}
	for _, name := range []string{"zeros", "ones", "alt", "counter", "random"} {
		for _, s := range seeds {
			p, err := pattern.Parse(name, s)
			if err != nil || p.String() == configured && s == seed {
				continue
			}
			if p.Mismatch(head, off) < 0 {
				switch {
				case name != "random" || s == seed:
					return name, p, s
				case s == pattern.DefaultSeed:
					return "random (default seed)", p, s
				default:
					return fmt.Sprintf("random (seed %#x)", s), p, s
				}
			}
		}
	}
	return "", nil, 0
}
