package verify

import (
	"testing"

	"github.com/zerocheck/zerocheck/pattern"
)

// BenchmarkVerify measures the verifier on clean streams: the per-byte
// hot path behind every socket and pipe.
func BenchmarkVerify(b *testing.B) {
	for _, spec := range []string{"zeros", "counter", "random"} {
		p, _ := pattern.Parse(spec, 1)
		buf := make([]byte, ReadBufferSize)
		b.Run(spec, func(b *testing.B) {
			v, _ := New(Options{Pattern: p})
			b.SetBytes(int64(len(buf)))
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				p.Fill(buf, int64(i)*int64(len(buf))) // the next stream bytes
				b.StartTimer()
				v.Write(buf)
			}
		})
	}
}

// BenchmarkVerifyMismatch is the worst case: a peer that sent another
// pattern, verified as zeros. Every byte corrupt (ones) is one long run;
// alternating corrupt and intact bytes (hex:00ff, counter) cut it into
// many short runs, each paying for region bookkeeping.
func BenchmarkVerifyMismatch(b *testing.B) {
	zeros, _ := pattern.Parse("zeros", 1)
	for _, spec := range []string{"ones", "hex:00ff", "hex:000000ff", "counter"} {
		sent, _ := pattern.Parse(spec, 1)
		buf := make([]byte, ReadBufferSize)
		sent.Fill(buf, 0)
		b.Run(spec, func(b *testing.B) {
			v, _ := New(Options{Pattern: zeros})
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				v.Write(buf)
			}
		})
	}
}
