package pattern

import (
	"math/rand/v2"
	"testing"
)

// TestRandomSeedOf reads the seed back from any stretch of the random
// pattern holding a whole aligned word, at any offset; and refuses
// stretches too short for a word and words of no pattern.
func TestRandomSeedOf(t *testing.T) {
	for _, k := range []uint64{0x9e3779b97f4a7c15, 0xc4ceb9fe1a85ec53, 1, 1 << 63} {
		if unmix64(fmix64(k)) != k {
			t.Fatalf("unmix64(fmix64(%#x)) = %#x", k, unmix64(fmix64(k)))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, seed := range []uint64{0, 1, DefaultSeed, MaxSeed, rng.Uint64N(MaxSeed)} {
		for _, off := range []int64{0, 1, 7, 8, 4093, 1 << 40} {
			buf := make([]byte, 15) // a whole aligned word at any offset
			NewRandom(seed).Fill(buf, off)
			got, ok := RandomSeedOf(buf, off)
			if !ok || got != seed {
				t.Errorf("seed %#x at offset %d: got %#x, %v", seed, off, got, ok)
			}
		}
	}
	buf := make([]byte, 14)
	NewRandom(5).Fill(buf, 1)
	if _, ok := RandomSeedOf(buf, 1); ok {
		t.Error("14 bytes from offset 1 hold no whole word, but a seed was read")
	}
	// The counter pattern's first word names no seed a user can give.
	c := make([]byte, 64)
	Counter{}.Fill(c, 0)
	if s, ok := RandomSeedOf(c, 0); ok && NewRandom(s).Mismatch(c, 0) < 0 {
		t.Errorf("counter data read as random seed %#x", s)
	}
}
