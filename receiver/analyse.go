package receiver

import (
	"bytes"
	"slices"

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
		out.MaxRepeat = v.repeats(&out)
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

// repeats counts identical blocks (actual content) among the region's
// corrupt blocks on its grid, records them for the cross-region table, and
// returns the largest count. Only whole, captured blocks are compared: a
// region longer than the capture limit, or cut by the stream's ends, is
// judged on what was kept; a region with blocks repeats at least once.
func (v *Verifier) repeats(out *report.Region) int {
	first := out.Offset - ((out.Offset-int64(out.Phase))%16+16)%16
	seen := make(map[[16]byte]int)
	best := 0
	if out.Blocks > 0 {
		best = 1
	}
	for bs := first; bs < out.End(); bs += 16 {
		i := bs - out.DataOffset
		if i < 0 || i+16 > int64(len(out.Actual)) {
			continue
		}
		if bytes.Equal(out.Actual[i:i+16], out.Expected[i:i+16]) {
			continue // an intact block inside a wide --merge-gap
		}
		var k [16]byte
		copy(k[:], out.Actual[i:i+16])
		seen[k]++
		best = max(best, seen[k])
	}
	for k, n := range seen {
		b := v.blocks[k]
		if b == nil {
			if len(v.blocks) >= maxBlockKeys {
				continue
			}
			b = &blockSeen{}
			v.blocks[k] = b
		}
		b.count += n
		if len(b.regions) < maxBlockRegions {
			b.regions = append(b.regions, out.Index)
		}
	}
	return best
}

// repeatedBlocks lists the blocks seen in more than one region, most
// frequent first.
func (v *Verifier) repeatedBlocks() []report.RepeatedBlock {
	out := []report.RepeatedBlock{}
	for k, b := range v.blocks {
		if len(b.regions) < 2 {
			continue
		}
		rs := slices.Clone(b.regions)
		slices.Sort(rs)
		out = append(out, report.RepeatedBlock{Block: append([]byte(nil), k[:]...), Count: b.count, Regions: rs})
	}
	slices.SortFunc(out, func(a, b report.RepeatedBlock) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return slices.Compare(a.Regions, b.Regions)
	})
	return out
}

// guessPattern names a built-in pattern that the head of a mismatching
// stream matches, so that "wrong pattern" reads as such.
func guessPattern(head []byte, off int64, seed uint64, configured string) string {
	if len(head) == 0 {
		return ""
	}
	seeds := []uint64{seed, pattern.DefaultSeed}
	for _, name := range []string{"zeros", "ones", "alt", "counter", "random"} {
		for _, s := range seeds {
			p, err := pattern.Parse(name, s)
			if err != nil || p.String() == configured && s == seed {
				continue
			}
			if p.Mismatch(head, off) < 0 {
				if name == "random" && s != seed {
					return "random (default seed)"
				}
				return name
			}
		}
	}
	return ""
}
