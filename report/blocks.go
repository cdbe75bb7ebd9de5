package report

import (
	"bytes"
	"slices"
)

// Bounds on the table of blocks repeated across regions, whatever the
// number of regions.
const (
	maxBlockKeys    = 1 << 16
	maxBlockRegions = 64
)

// CorruptBlocks returns the region's corrupt 16-byte blocks (actual
// content) on its grid, in stream order. Only blocks wholly inside the
// captured bytes count, and intact blocks (inside a wide merge gap) are
// skipped. A region without a 16-byte grid has none.
func (g Region) CorruptBlocks() [][16]byte {
	if g.Granule != 16 || len(g.Actual) != len(g.Expected) {
		return nil
	}
	var out [][16]byte
	// Walk the captured window only: a region's length comes from a peer
	// too, and may be anything up to the stream's size.
	from := max(g.Offset, g.DataOffset)
	to := min(g.End(), g.DataOffset+int64(len(g.Actual)))
	first := from - ((from-int64(g.Phase))%16+16)%16
	for bs := first; bs < to; bs += 16 {
		i := bs - g.DataOffset
		if i < 0 || i+16 > int64(len(g.Actual)) {
			continue
		}
		if bytes.Equal(g.Actual[i:i+16], g.Expected[i:i+16]) {
			continue
		}
		out = append(out, [16]byte(g.Actual[i:i+16]))
	}
	return out
}

// MaxRepeatOf returns the largest number of identical blocks among
// blocks: at least 1 when there is any.
func MaxRepeatOf(blocks [][16]byte) int {
	seen := make(map[[16]byte]int, len(blocks))
	best := 0
	for _, b := range blocks {
		seen[b]++
		best = max(best, seen[b])
	}
	return best
}

// RepeatedBlocksOf lists the 16-byte blocks that occur in more than one of
// regions, most frequent first: a shared source such as a stale register
// or buffer. Across the streams of a run too, since a host-wide fault
// does not care which connection it corrupts.
func RepeatedBlocksOf(regions []Region) []RepeatedBlock {
	type seen struct {
		count   int
		regions []int
	}
	table := map[[16]byte]*seen{}
	for _, g := range regions {
		counted := map[[16]byte]bool{}
		for _, b := range g.CorruptBlocks() {
			s := table[b]
			if s == nil {
				if len(table) >= maxBlockKeys {
					continue
				}
				s = &seen{}
				table[b] = s
			}
			s.count++
			if !counted[b] && len(s.regions) < maxBlockRegions {
				s.regions = append(s.regions, g.Index)
			}
			counted[b] = true
		}
	}
	out := []RepeatedBlock{}
	for k, s := range table {
		if len(s.regions) < 2 {
			continue
		}
		rs := slices.Clone(s.regions)
		slices.Sort(rs)
		out = append(out, RepeatedBlock{Block: append(Hex(nil), k[:]...), Count: s.count, Regions: rs})
	}
	slices.SortFunc(out, func(a, b RepeatedBlock) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if c := slices.Compare(a.Regions, b.Regions); c != 0 {
			return c
		}
		return bytes.Compare(a.Block, b.Block)
	})
	return out
}
