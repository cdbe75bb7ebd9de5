package receiver

import (
	"math/rand/v2"
	"testing"

	"github.com/zerocheck/zerocheck/report"
)

// naiveGranule is the definition, computed directly: the phases
// whose grid puts every corrupt byte in a block with at least 12 corrupt
// bytes, and the number of such blocks.
func naiveGranule(corrupt []int64) map[int]int64 {
	ok := map[int]int64{}
	for p := 0; p < 16; p++ {
		count := map[int64]int{}
		for _, x := range corrupt {
			count[(x-int64(p)+16)>>4]++
		}
		good := true
		for _, n := range count {
			if n < 12 {
				good = false
			}
		}
		if good {
			ok[p] = int64(len(count))
		}
	}
	return ok
}

// TestGridAgainstNaive drives random corruption shapes through the
// verifier and checks granule, phase and blocks against naiveGranule.
func TestGridAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	p := mustPattern(t, "zeros")
	fits := 0
	defer func() {
		// The shapes must exercise both outcomes to mean anything.
		if fits < 100 {
			t.Errorf("only %d of the random regions fit a grid", fits)
		}
	}()
	for iter := 0; iter < 3000; iter++ {
		data := make([]byte, 600)
		// A few runs of corrupt bytes with short holes: some fit a grid,
		// most do not.
		at := 40 + r.IntN(40)
		for k := 0; k < 1+r.IntN(4); k++ {
			n := 1 + r.IntN(40)
			for i := 0; i < n && at+i < 500; i++ {
				if r.IntN(20) != 0 {
					data[at+i] = byte(1 + r.IntN(255))
				}
			}
			at += n + r.IntN(6)
		}
		var corrupt []int64
		for i, b := range data {
			if b != 0 {
				corrupt = append(corrupt, int64(i))
			}
		}
		if len(corrupt) == 0 {
			continue
		}
		rep := run(t, Options{Pattern: p, MergeGap: 16}, data, []int{1 + r.IntN(300)})
		if len(rep.Regions) != 1 {
			continue // split into several regions: covered elsewhere
		}
		g := rep.Regions[0]
		valid := naiveGranule(corrupt)
		if len(valid) == 0 {
			if g.Granule != 0 {
				t.Fatalf("corrupt %v: granule %d phase %d, want 0", corrupt, g.Granule, g.Phase)
			}
			continue
		}
		fits++
		blocks, ok := valid[g.Phase]
		if g.Granule != 16 || !ok || blocks != g.Blocks {
			t.Fatalf("corrupt %v: granule %d phase %d blocks %d, valid phases %v", corrupt, g.Granule, g.Phase, g.Blocks, valid)
		}
		for _, b := range valid {
			if b < g.Blocks {
				t.Fatalf("corrupt %v: phase %d has %d blocks, but a phase with %d fits", corrupt, g.Phase, g.Blocks, b)
			}
		}
		if g.Kind != report.KindBlock {
			t.Fatalf("granule-16 region of kind %s", g.Kind)
		}
	}
}
