package verify

import (
	"reflect"
	"testing"
)

// FuzzChunking checks that any chunking of any corrupted stream gives the
// same report as verifying it in one write.
func FuzzChunking(f *testing.F) {
	f.Add(uint8(0), []byte{0, 0, 1, 0, 0}, []byte{1, 2, 3}, uint8(16))
	f.Add(uint8(3), []byte("\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10"), []byte{15, 1}, uint8(4))
	f.Add(uint8(4), make([]byte, 300), []byte{200, 1, 1, 1}, uint8(1))
	f.Add(uint8(0x80|3<<4), make([]byte, 2048), []byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1}, uint8(16))
	specs := []string{"zeros", "ones", "alt", "counter", "random", "hex:a5"}
	f.Fuzz(func(t *testing.T, pat uint8, xor []byte, cuts []byte, gap uint8) {
		// Small inputs keep executions (and minimisation) fast; shapes,
		// not sizes, are what find bugs here.
		xor, cuts = xor[:min(len(xor), 2048)], cuts[:min(len(cuts), 256)]
		p := mustPattern(t, specs[int(pat)%len(specs)])
		// The stream is the pattern XOR the fuzzer's bytes, spread out so
		// that regions form, merge and split.
		data := make([]byte, 4*len(xor)+64)
		p.Fill(data, 0)
		for i, x := range xor {
			data[(i*4)%len(data)] ^= x
		}
		opt := Options{Pattern: p, MergeGap: 1 + int(gap)%64, MaxRegions: 5, CaptureLimit: 64}
		if pat&0x80 != 0 {
			// A stream of one pattern at a verifier of another that was
			// not told the sender's (verify, recv --raw): whether it is
			// a mismatch must not depend on the cuts either.
			opt.Pattern, opt.Unannounced = mustPattern(t, specs[int(pat>>4&7)%len(specs)]), true
		}
		whole := run(t, opt, data, nil)
		var ch []int
		for _, c := range cuts {
			ch = append(ch, 1+int(c))
		}
		pieced := run(t, opt, data, ch)
		whole.Start, whole.Seconds, pieced.Seconds = pieced.Start, 0, 0
		if !reflect.DeepEqual(whole, pieced) {
			t.Fatalf("chunking changed the report:\nwhole  %+v\npieced %+v", whole, pieced)
		}
	})
}
