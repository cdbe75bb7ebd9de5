package verify

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/report"
)

// want is the analysable part of a region, without the captured bytes.
type want struct {
	Offset, Length, Corrupt, Flipped int64
	Granule, Phase                   int
	Blocks                           int64
	MaxRepeat                        int
	Kind                             string
	Source                           int64 // -1: none
}

func summarise(rs []report.Region) []want {
	out := []want{}
	for _, r := range rs {
		w := want{r.Offset, r.Length, r.CorruptBytes, r.FlippedBits, r.Granule, r.Phase, r.Blocks, r.MaxRepeat, r.Kind, -1}
		if r.SourceOffset != nil {
			w.Source = *r.SourceOffset
		}
		out = append(out, w)
	}
	return out
}

func mustPattern(t testing.TB, spec string) pattern.Pattern {
	t.Helper()
	p, err := pattern.Parse(spec, 7)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run verifies data cut into the given chunk sizes (the last chunk takes
// the rest).
func run(t testing.TB, opt Options, data []byte, chunks []int) report.Report {
	t.Helper()
	v, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		c = min(c, len(data))
		if _, err := v.Write(data[:c]); err != nil {
			t.Fatal(err)
		}
		data = data[c:]
	}
	if _, err := v.Write(data); err != nil {
		t.Fatal(err)
	}
	return v.Result(nil)
}

// chunkings returns ways to cut n bytes: whole, bytewise, cuts at and
// around the given offsets, and random cuts.
func chunkings(n int, cuts []int64, r *rand.Rand) map[string][]int {
	out := map[string][]int{"whole": nil}
	if n <= 1<<16 {
		ones := make([]int, n)
		for i := range ones {
			ones[i] = 1
		}
		out["bytewise"] = ones
	}
	for _, d := range []int64{-1, 0, 1} {
		var cs []int
		prev := int64(0)
		for _, c := range cuts {
			if c+d > prev && c+d < int64(n) {
				cs = append(cs, int(c+d-prev))
				prev = c + d
			}
		}
		out["cuts"+string(rune('1'+d))] = cs
	}
	for k := 0; k < 3; k++ {
		var cs []int
		for left := n; left > 0; {
			c := 1 + r.IntN(min(left, 1+r.IntN(5000)))
			cs = append(cs, c)
			left -= c
		}
		out["random"+string(rune('a'+k))] = cs
	}
	return out
}

func fill(p pattern.Pattern, n int) []byte {
	b := make([]byte, n)
	p.Fill(b, 0)
	return b
}

func TestRegions(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 20000
	type tc struct {
		name    string
		pattern string
		corrupt func(b []byte)
		want    []want
	}
	seedBlock := []byte{0x1e, 0x30, 0xe7, 0x5c, 0xa3, 0xef, 0xab, 0x8b, 0x87, 0x23, 0x78, 0x1c, 0xa4, 0xeb, 0x65, 0x27}
	lastBlock := []byte{0x9d, 0x05, 0xf6, 0x55, 0x62, 0x28, 0x13, 0x66, 0x53, 0x65, 0xa9, 0x32, 0x28, 0x41, 0x26, 0x63}
	aesLike := func(at int) func([]byte) {
		return func(b []byte) {
			for i := 0; i < 4; i++ {
				copy(b[at+16*i:], seedBlock)
			}
			copy(b[at+64:], lastBlock)
		}
	}
	cases := []tc{
		{"bitflip at 0", "zeros", func(b []byte) { b[0] ^= 0x80 },
			[]want{{0, 1, 1, 1, 0, 0, 0, 0, "bitflip", -1}}},
		{"bitflip at last byte", "counter", func(b []byte) { b[n-1] ^= 0x01 },
			[]want{{n - 1, 1, 1, 1, 0, 0, 0, 0, "bitflip", -1}}},
		{"two bits in one byte is a burst", "alt", func(b []byte) { b[4096] ^= 0x03 },
			[]want{{4096, 1, 1, 2, 0, 0, 0, 0, "burst", -1}}},
		{"zeroed", "ones", func(b []byte) { clear(b[1000:1040]) },
			[]want{{1000, 40, 40, 320, 16, 4, 3, 1, "zeroed", -1}}},
		{"seed AES signature across a chunk boundary", "zeros", aesLike(4096 - 30),
			[]want{{4066, 80, 80, 0, 16, 2, 5, 4, "block", -1}}},
		{"AES signature at offset 0", "zeros", aesLike(0),
			[]want{{0, 80, 80, 0, 16, 0, 5, 4, "block", -1}}},
		{"AES signature ending at the last byte", "ones", aesLike(n - 80),
			[]want{{n - 80, 80, 80, 0, 16, 0, 5, 4, "block", -1}}},
		{"displaced counter words", "counter", func(b []byte) {
			copy(b[8192:8192+64], b[4096:4096+64])
		}, []want{{8193, 57, 8, 16, 0, 0, 0, 0, "displaced", 4097}}},
		{"displaced misaligned", "counter", func(b []byte) {
			copy(b[10003:10003+40], b[777:777+40])
		}, []want{{10003, 40, 0, 0, 0, 0, 0, 0, "displaced", 777}}},
		{"burst", "counter", func(b []byte) { copy(b[333:], []byte{1, 2, 3, 4, 5}) },
			[]want{{333, 5, 0, 0, 0, 0, 0, 0, "burst", -1}}},
		{"gap of 15 intact bytes merges", "zeros", func(b []byte) { b[100] = 1; b[116] = 1 },
			[]want{{100, 17, 2, 2, 0, 0, 0, 0, "burst", -1}}},
		{"gap of 16 intact bytes splits", "zeros", func(b []byte) { b[100] = 1; b[117] = 1 },
			[]want{{100, 1, 1, 1, 0, 0, 0, 0, "bitflip", -1}, {117, 1, 1, 1, 0, 0, 0, 0, "bitflip", -1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustPattern(t, c.pattern)
			data := fill(p, n)
			c.corrupt(data)
			// Corrupt/flipped counts that depend on the pattern bytes are
			// computed here, from the data, and checked against the table
			// where the table gives them.
			var corrupt, flipped int64
			clean := fill(p, n)
			for i := range data {
				if data[i] != clean[i] {
					corrupt++
					flipped += int64(popcount(data[i] ^ clean[i]))
				}
			}
			exp := append([]want(nil), c.want...)
			if len(exp) == 1 && exp[0].Corrupt == 0 {
				exp[0].Corrupt, exp[0].Flipped = corrupt, flipped
			}
			if len(exp) == 1 && exp[0].Flipped == 0 {
				exp[0].Flipped = flipped
			}
			var cuts []int64
			for _, w := range exp {
				cuts = append(cuts, w.Offset, w.Offset+w.Length, w.Offset+w.Length+16)
			}
			for name, ch := range chunkings(n, cuts, r) {
				rep := run(t, Options{Pattern: p}, data, ch)
				if got := summarise(rep.Regions); !reflect.DeepEqual(got, exp) {
					t.Fatalf("%s: regions\n got %+v\nwant %+v", name, got, exp)
				}
				if rep.CorruptBytes != corrupt || rep.FlippedBits != flipped || rep.BytesVerified != n {
					t.Fatalf("%s: totals %d corrupt %d flipped %d verified, want %d %d %d", name,
						rep.CorruptBytes, rep.FlippedBits, rep.BytesVerified, corrupt, flipped, n)
				}
				if rep.RegionCount != int64(len(exp)) || rep.Verdict != report.Corrupt {
					t.Fatalf("%s: region_count %d verdict %s", name, rep.RegionCount, rep.Verdict)
				}
				checkCapture(t, p, data, rep)
			}
		})
	}
}

func popcount(b byte) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}

// checkCapture asserts that every region's captured window is the stream's
// real bytes, aligned to 16-byte lines with one line of context each side.
func checkCapture(t *testing.T, p pattern.Pattern, data []byte, rep report.Report) {
	t.Helper()
	for _, r := range rep.Regions {
		wantOff := max(0, r.Offset&^15-16)
		wantEnd := min(int64(len(data)), (r.End()+15)&^15+16)
		if r.DataOffset != wantOff || r.DataOffset+int64(len(r.Actual)) != wantEnd {
			t.Fatalf("region %d: window [%d,%d), want [%d,%d)", r.Index, r.DataOffset, r.DataOffset+int64(len(r.Actual)), wantOff, wantEnd)
		}
		if !bytes.Equal(r.Actual, data[wantOff:wantEnd]) {
			t.Fatalf("region %d: actual bytes differ from the stream", r.Index)
		}
		exp := make([]byte, len(r.Expected))
		p.Fill(exp, r.DataOffset)
		if !bytes.Equal(exp, r.Expected) {
			t.Fatalf("region %d: expected bytes are not the pattern", r.Index)
		}
	}
}

func TestCleanAndEmpty(t *testing.T) {
	for _, spec := range []string{"zeros", "ones", "alt", "counter", "random", "hex:c0ffee"} {
		p := mustPattern(t, spec)
		rep := run(t, Options{Pattern: p}, fill(p, 1<<20+3), []int{1, 7, 65536, 3})
		if rep.Verdict != report.Clean || rep.BytesVerified != 1<<20+3 || rep.RegionCount != 0 || len(rep.Regions) != 0 {
			t.Errorf("%s: %+v", spec, rep)
		}
	}
	// An empty stream checked nothing: never clean.
	rep := run(t, Options{Pattern: mustPattern(t, "zeros")}, nil, nil)
	if rep.Verdict != report.Incomplete || rep.BytesVerified != 0 || rep.Error != report.NothingVerified {
		t.Errorf("empty stream: %+v", rep)
	}
}

func TestMaxRegionsKeepsTotalsExact(t *testing.T) {
	p := mustPattern(t, "zeros")
	data := fill(p, 10000)
	for i := 0; i < 50; i++ {
		data[100+i*150] = 0xff
	}
	rep := run(t, Options{Pattern: p, MaxRegions: 7}, data, []int{1000, 1})
	if rep.RegionCount != 50 || len(rep.Regions) != 7 || rep.CorruptBytes != 50 || rep.FlippedBits != 400 {
		t.Fatalf("region_count %d detailed %d corrupt %d flipped %d", rep.RegionCount, len(rep.Regions), rep.CorruptBytes, rep.FlippedBits)
	}
	if rep.Regions[6].Offset != 100+6*150 || rep.Regions[6].Index != 7 {
		t.Fatalf("7th region: %+v", rep.Regions[6])
	}
	if err := (&Options{Pattern: p, MaxRegions: -1}).Validate(); err == nil {
		t.Fatal("negative max regions accepted")
	}
}

func TestPatternMismatch(t *testing.T) {
	ones := mustPattern(t, "ones")
	rep := run(t, Options{Pattern: mustPattern(t, "zeros"), MaxRegions: 10}, fill(ones, 1<<20), []int{4095})
	if !rep.PatternMismatch || rep.LooksLike != "ones" || rep.RegionCount != 1 || rep.CorruptBytes != 1<<20 {
		t.Fatalf("mismatch=%v looks_like=%q regions=%d corrupt=%d", rep.PatternMismatch, rep.LooksLike, rep.RegionCount, rep.CorruptBytes)
	}
	// A random stream with another seed: the guess says which.
	other, _ := pattern.Parse("random", pattern.DefaultSeed)
	mine, _ := pattern.Parse("random", 99)
	rep = run(t, Options{Pattern: mine, Seed: 99, MaxRegions: 10}, fill(other, 1<<16), nil)
	if !rep.PatternMismatch || rep.LooksLike != "random (default seed)" {
		t.Fatalf("seed mismatch: %v %q", rep.PatternMismatch, rep.LooksLike)
	}
}

func TestRepeatedBlocksAcrossRegions(t *testing.T) {
	p := mustPattern(t, "zeros")
	data := fill(p, 8192)
	blk := bytes.Repeat([]byte{0xab, 0xcd}, 8)
	copy(data[1024:], blk)
	copy(data[4096+3:], blk)
	copy(data[4096+19:], blk)
	copy(data[6000:], bytes.Repeat([]byte{0x11}, 16))
	rep := run(t, Options{Pattern: p}, data, []int{4100})
	if len(rep.RepeatedBlocks) != 1 {
		t.Fatalf("repeated blocks: %+v", rep.RepeatedBlocks)
	}
	rb := rep.RepeatedBlocks[0]
	if !bytes.Equal(rb.Block, blk) || rb.Count != 3 || !reflect.DeepEqual(rb.Regions, []int{1, 2}) {
		t.Fatalf("repeated block: %x count %d regions %v", rb.Block, rb.Count, rb.Regions)
	}
	if rep.Regions[1].MaxRepeat != 2 || rep.Regions[1].Phase != 3 {
		t.Fatalf("second region: %+v", summarise(rep.Regions[1:2]))
	}
}

func TestCaptureLimit(t *testing.T) {
	p := mustPattern(t, "counter")
	data := fill(p, 100000)
	for i := 5000; i < 60000; i++ {
		data[i] ^= 0x5a
	}
	rep := run(t, Options{Pattern: p, CaptureLimit: 4096}, data, []int{5001, 3})
	r := rep.Regions[0]
	if r.Offset != 5000 || r.Length != 55000 || r.CorruptBytes != 55000 || !r.Truncated || len(r.Actual) != 4096+32 {
		t.Fatalf("got offset %d length %d corrupt %d truncated %v captured %d", r.Offset, r.Length, r.CorruptBytes, r.Truncated, len(r.Actual))
	}
	if !bytes.Equal(r.Actual, data[r.DataOffset:r.DataOffset+int64(len(r.Actual))]) {
		t.Fatal("truncated capture is not the stream's bytes")
	}
}

func TestWriteAfterResult(t *testing.T) {
	v, _ := New(Options{Pattern: mustPattern(t, "zeros")})
	v.Write(make([]byte, 10))
	rep := v.Result(nil)
	if _, err := v.Write([]byte{0}); err != ErrFinished {
		t.Fatalf("write after result: %v", err)
	}
	if rep.BytesVerified != 10 {
		t.Fatal(rep.BytesVerified)
	}
}

func TestCounterWordsAreSelfLocating(t *testing.T) {
	// The definition of counter, checked through the verifier: a
	// stream of offsets verifies clean.
	data := make([]byte, 4096)
	for i := 0; i < len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], uint64(i))
	}
	if rep := run(t, Options{Pattern: mustPattern(t, "counter")}, data, []int{3}); rep.Verdict != report.Clean {
		t.Fatalf("%+v", rep.Regions)
	}
}

func TestStartOffset(t *testing.T) {
	p := mustPattern(t, "counter")
	data := make([]byte, 5000)
	p.Fill(data, 1000)
	data[5] ^= 4    // pattern offset 1005
	data[4999] ^= 1 // the last byte, pattern offset 5999
	rep := run(t, Options{Pattern: p, Offset: 1000}, data, []int{3, 3})
	if got := summarise(rep.Regions); len(got) != 2 || got[0].Offset != 1005 || got[1].Offset != 5999 {
		t.Fatalf("regions %+v", got)
	}
	if rep.BytesVerified != 5000 || rep.StartOffset != 1000 {
		t.Fatalf("verified %d start %d", rep.BytesVerified, rep.StartOffset)
	}
	// The window never reaches before the stream's first byte.
	if r := rep.Regions[0]; r.DataOffset != 1000 || !bytes.Equal(r.Actual, data[:(1005+16)&^15+16-1000]) {
		t.Fatalf("window at %d, %d bytes", r.DataOffset, len(r.Actual))
	}
}

// Findings of the first review, each pinned by a test.
func TestReviewRegressions(t *testing.T) {
	zeros := mustPattern(t, "zeros")
	t.Run("intact blocks inside a wide merge gap are not repeats", func(t *testing.T) {
		data := make([]byte, 4096)
		for _, at := range []int{96, 96 + 2048} {
			copy(data[at:], bytes.Repeat([]byte{0xaa}, 16))
			copy(data[at+64:], bytes.Repeat([]byte{0xbb}, 16))
		}
		rep := run(t, Options{Pattern: zeros, MergeGap: 64}, data, nil)
		if len(rep.Regions) != 2 || rep.Regions[0].Blocks != 2 || rep.Regions[0].MaxRepeat != 1 {
			t.Fatalf("%+v", summarise(rep.Regions))
		}
		for _, rb := range rep.RepeatedBlocks {
			if bytes.Equal(rb.Block, make([]byte, 16)) {
				t.Fatalf("intact zeros reported as a repeated block: %+v", rep.RepeatedBlocks)
			}
		}
		if len(rep.RepeatedBlocks) != 2 {
			t.Fatalf("want the aa and bb blocks across both regions: %+v", rep.RepeatedBlocks)
		}
	})
	t.Run("a block cut by the stream's end still counts once", func(t *testing.T) {
		data := make([]byte, 30)
		copy(data[16:], bytes.Repeat([]byte{0xee}, 14))
		rep := run(t, Options{Pattern: zeros}, data, nil)
		if g := rep.Regions[0]; g.Granule != 16 || g.Blocks != 1 || g.MaxRepeat != 1 {
			t.Fatalf("%+v", summarise(rep.Regions))
		}
	})
	t.Run("zeroed needs the intact bytes between runs to read zero too", func(t *testing.T) {
		ones := mustPattern(t, "ones")
		data := fill(ones, 200)
		clear(data[100:105])
		clear(data[106:111]) // byte 105 stays 0xff
		rep := run(t, Options{Pattern: ones}, data, nil)
		if g := rep.Regions[0]; g.Offset != 100 || g.Length != 11 || g.CorruptBytes != 10 || g.Kind != "burst" {
			t.Fatalf("%+v", summarise(rep.Regions))
		}
		// Where the pattern's intact byte is itself zero, the region is
		// still zeroed.
		alt := mustPattern(t, "hex:ff00")
		data = fill(alt, 200)
		clear(data[100:110])
		rep = run(t, Options{Pattern: alt}, data, nil)
		if g := rep.Regions[0]; g.Kind != "zeroed" || g.CorruptBytes != 5 {
			t.Fatalf("%+v", summarise(rep.Regions))
		}
	})
	t.Run("looks_like names the pattern sent, at --offset, below 50% too", func(t *testing.T) {
		counter := mustPattern(t, "counter")
		data := make([]byte, 1<<16)
		counter.Fill(data, 4096)
		rep := run(t, Options{Pattern: mustPattern(t, "ones"), Offset: 4096, MaxRegions: 3}, data, nil)
		if !rep.PatternMismatch || rep.LooksLike != "counter" {
			t.Fatalf("mismatch %v looks_like %q", rep.PatternMismatch, rep.LooksLike)
		}
		counter.Fill(data, 0) // 46% of a counter stream differs from zeros
		rep = run(t, Options{Pattern: zeros, MaxRegions: 3}, data, nil)
		if rep.CorruptBytes*2 > rep.BytesVerified || !rep.PatternMismatch || rep.LooksLike != "counter" {
			t.Fatalf("corrupt %d of %d, mismatch %v looks_like %q", rep.CorruptBytes, rep.BytesVerified, rep.PatternMismatch, rep.LooksLike)
		}
	})
	t.Run("real corruption is not a pattern mismatch", func(t *testing.T) {
		data := make([]byte, 8192)
		data[10] = 1
		if rep := run(t, Options{Pattern: zeros}, data, nil); rep.PatternMismatch || rep.LooksLike != "" {
			t.Fatalf("mismatch %v looks_like %q", rep.PatternMismatch, rep.LooksLike)
		}
	})
}
