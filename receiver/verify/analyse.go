package verify

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

	// The identical blocks a grid sees are counted on the captured bytes,
	// whole blocks only: a region longer than the capture limit is judged
	// on what was kept.
	repeat := func(p int) int {
		g := out
		g.Granule, g.Phase = 16, p
		return report.MaxRepeatOf(g.CorruptBlocks())
	}
	if p, rep, ok := bestPhase(&r.grid, r.start, repeat); ok {
		out.Granule = 16
		out.Phase = p
		out.Blocks = r.grid.p[p].blocks
		out.MaxRepeat = max(rep, 1)
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

// bestPhase picks the 16-byte grid that explains the region, and
// returns the most identical blocks it sees. Among the phases that fit,
// it takes the one under which the most blocks are identical (the
// signature of one block written over and over: a grid shifted by one
// byte cuts it into two kinds of block, and fits as well when a block's
// edge byte happens to equal the pattern), then the one whose blocks the
// corrupt bytes cover most densely (fewest blocks), then the one whose
// grid starts nearest at or before the region's first byte. repeat
// counts the identical blocks under a phase.
func bestPhase(gs *grids, start int64, repeat func(p int) int) (best, rep int, found bool) {
	g := &gs.p
	dist := func(p int) int64 { return ((start-int64(p))%16 + 16) % 16 }
	for p := range g {
		if g[p].bad || g[p].blocks == 0 {
			continue
		}
		r := repeat(p)
		if !found || better(r, rep, g[p].blocks, g[best].blocks, dist(p), dist(best)) {
			best, rep, found = p, r, true
		}
	}
	return best, rep, found
}

// better orders two fitting phases: more identical blocks, then fewer
// blocks, then a nearer grid start.
func better(rep, bestRep int, blocks, bestBlocks, dist, bestDist int64) bool {
	switch {
	case rep != bestRep:
		return rep > bestRep
	case blocks != bestBlocks:
		return blocks < bestBlocks
	}
	return dist < bestDist
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
