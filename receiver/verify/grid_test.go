package verify

import (
	"bytes"
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

// naiveRepeat counts the most identical blocks among the blocks of grid
// phase p that hold a corrupt byte.
func naiveRepeat(data []byte, corrupt []int64, p int) int {
	seen := map[string]int{}
	best := 0
	done := map[int64]bool{}
	for _, x := range corrupt {
		bs := x - (x-int64(p)+16)%16
		if done[bs] {
			continue
		}
		done[bs] = true
		k := string(data[bs : bs+16])
		seen[k]++
		best = max(best, seen[k])
	}
	return best
}

// naiveBest is the choice among the phases that fit: most
// identical blocks, then fewest blocks, then the grid that starts
// nearest at or before the region's first byte.
func naiveBest(data []byte, corrupt []int64, valid map[int]int64) (phase, repeat int) {
	dist := func(p int) int64 { return ((corrupt[0]-int64(p))%16 + 16) % 16 }
	phase = -1
	for p := 0; p < 16; p++ {
		b, ok := valid[p]
		if !ok {
			continue
		}
		r := naiveRepeat(data, corrupt, p)
		if phase < 0 || r > repeat || r == repeat && (b < valid[phase] || b == valid[phase] && dist(p) < dist(phase)) {
			phase, repeat = p, r
		}
	}
	return phase, repeat
}

// TestGridAgainstNaive drives random corruption shapes through the
// verifier and checks granule, phase, blocks and max_repeat against the
// naive definitions: scattered runs (most fit no grid) and one block
// written several times with a few of its bytes equal to the pattern's
// (several grids fit, one sees the repeats).
func TestGridAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	p := mustPattern(t, "zeros")
	fits, repeats := 0, 0
	defer func() {
		// The shapes must exercise every outcome to mean anything.
		if fits < 100 || repeats < 100 {
			t.Errorf("only %d of the random regions fit a grid, %d with repeated blocks", fits, repeats)
		}
	}()
	for iter := 0; iter < 6000; iter++ {
		data := make([]byte, 600)
		if iter%2 == 0 {
			// A few runs of corrupt bytes with short holes: some fit a
			// grid, most do not.
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
		} else {
			var blk [16]byte
			for i := range blk {
				blk[i] = byte(1 + r.IntN(255))
			}
			at := 40 + r.IntN(40)
			n := 2 + r.IntN(4)
			for k := range n {
				copy(data[at+16*k:], blk[:])
			}
			// Bytes that happen to equal the pattern, mostly at the
			// edges, where they shift the grids that fit.
			for range r.IntN(4) {
				switch r.IntN(3) {
				case 0:
					data[at+r.IntN(2)] = 0
				case 1:
					data[at+16*n-1-r.IntN(2)] = 0
				default:
					data[at+r.IntN(16*n)] = 0
				}
			}
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
		phase, repeat := naiveBest(data, corrupt, valid)
		if repeat > 1 {
			repeats++
		}
		if g.Granule != 16 || g.Phase != phase || g.Blocks != valid[phase] || g.MaxRepeat != repeat {
			t.Fatalf("corrupt %v: granule %d phase %d blocks %d max_repeat %d, want phase %d blocks %d max_repeat %d (valid phases %v)",
				corrupt, g.Granule, g.Phase, g.Blocks, g.MaxRepeat, phase, valid[phase], repeat, valid)
		}
		if g.Kind != report.KindBlock {
			t.Fatalf("granule-16 region of kind %s", g.Kind)
		}
	}
}

// TestGridEdgeByteEqualsPattern: three identical 16-byte blocks written
// over random data, some of whose bytes happen to equal the pattern's
// bytes there (1 random byte in 256 does). A grid shifted by one byte
// fits such a region as well as the true one; the region must still be
// read on the grid under which the blocks are identical, with all three
// of them, however the stream is cut.
func TestGridEdgeByteEqualsPattern(t *testing.T) {
	p := mustPattern(t, "random")
	for _, tc := range []struct {
		name  string
		at    int64 // the first block's offset
		equal []int // indices in the 48 bytes that equal the pattern
		want  want
	}{
		{"none equal", 4096, nil, want{4096, 48, 48, -1, 16, 0, 3, 3, report.KindBlock, -1}},
		{"first byte equal", 4096, []int{0}, want{4097, 47, 47, -1, 16, 0, 3, 3, report.KindBlock, -1}},
		{"last byte equal", 4096, []int{47}, want{4096, 47, 47, -1, 16, 0, 3, 3, report.KindBlock, -1}},
		{"first and last bytes equal", 4096, []int{0, 47}, want{4097, 46, 46, -1, 16, 0, 3, 3, report.KindBlock, -1}},
		{"a middle byte equal", 4096, []int{23}, want{4096, 48, 47, -1, 16, 0, 3, 3, report.KindBlock, -1}},
		{"first two bytes equal", 4096, []int{0, 1}, want{4098, 46, 46, -1, 16, 0, 3, 3, report.KindBlock, -1}},
		{"first byte equal, phase 5", 4096 + 5, []int{0}, want{4102, 47, 47, -1, 16, 5, 3, 3, report.KindBlock, -1}},
		{"last byte equal, phase 11", 8192 + 11, []int{47}, want{8203, 47, 47, -1, 16, 11, 3, 3, report.KindBlock, -1}},
	} {
		data := fill(p, 16384)
		exp := bytes.Clone(data)
		// One block written three times. Its bytes differ from the
		// pattern's under each copy, except where the case wants one equal:
		// the pattern differs from copy to copy, so that byte is intact in
		// one copy only.
		var blk [16]byte
		for j := range blk {
			for c := byte(1); ; c++ {
				if c != exp[tc.at+int64(j)] && c != exp[tc.at+16+int64(j)] && c != exp[tc.at+32+int64(j)] {
					blk[j] = c
					break
				}
			}
		}
		for _, i := range tc.equal {
			blk[i%16] = exp[tc.at+int64(i)]
			for k := range 3 {
				if k != i/16 && blk[i%16] == exp[tc.at+int64(16*k+i%16)] {
					t.Fatalf("%s: the pattern repeats byte %d across copies; pick another offset", tc.name, i)
				}
			}
		}
		for k := range 3 {
			copy(data[tc.at+16*int64(k):], blk[:])
		}
		for name, cuts := range chunkings(len(data), []int64{tc.at, tc.at + 1, tc.at + 16, tc.at + 47}, rand.New(rand.NewPCG(1, 2))) {
			rep := run(t, Options{Pattern: p}, data, cuts)
			got := summarise(rep.Regions)
			if len(got) == 1 {
				got[0].Flipped = -1 // not what this test is about
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s, cut %s: %+v, want %+v", tc.name, name, got, tc.want)
			}
		}
	}
}
