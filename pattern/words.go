package pattern

import (
	"encoding/binary"
	"math/bits"
)

// Counter is the self-locating pattern: each aligned 8-byte little-endian
// word holds its own stream offset (the word at offset 4096 holds 4096).
// Data that lands at the wrong offset still says where it came from.
type Counter struct{}

// String implements Pattern.
func (Counter) String() string { return "counter" }

// Fill implements Pattern.
func (Counter) Fill(buf []byte, off int64) {
	o := uint64(off)
	for len(buf) > 0 && o&7 != 0 {
		buf[0] = byte((o &^ 7) >> (8 * (o & 7)))
		buf, o = buf[1:], o+1
	}
	for ; len(buf) >= 32; buf, o = buf[32:], o+32 {
		b := buf[:32]
		binary.LittleEndian.PutUint64(b, o)
		binary.LittleEndian.PutUint64(b[8:], o+8)
		binary.LittleEndian.PutUint64(b[16:], o+16)
		binary.LittleEndian.PutUint64(b[24:], o+24)
	}
	for ; len(buf) >= 8; buf, o = buf[8:], o+8 {
		binary.LittleEndian.PutUint64(buf, o)
	}
	for i := range buf {
		buf[i] = byte(o >> (8 * i))
	}
}

// Mismatch implements Pattern.
func (Counter) Mismatch(buf []byte, off int64) int {
	o := uint64(off)
	i := 0
	for ; i < len(buf) && o&7 != 0; i, o = i+1, o+1 {
		if buf[i] != byte((o&^7)>>(8*(o&7))) {
			return i
		}
	}
	b := buf[i:]
	for len(b) >= 32 {
		x := (binary.LittleEndian.Uint64(b) ^ o) |
			(binary.LittleEndian.Uint64(b[8:]) ^ (o + 8)) |
			(binary.LittleEndian.Uint64(b[16:]) ^ (o + 16)) |
			(binary.LittleEndian.Uint64(b[24:]) ^ (o + 24))
		if x != 0 {
			break
		}
		b, i, o = b[32:], i+32, o+32
	}
	for ; len(b) >= 8; b, i, o = b[8:], i+8, o+8 {
		if x := binary.LittleEndian.Uint64(b) ^ o; x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for j := range b {
		if b[j] != byte(o>>(8*j)) {
			return i + j
		}
	}
	return -1
}

// Locate implements Locator: it reads the first whole source word that
// buf could contain at each of the eight possible misalignments, and keeps
// the delta that explains every byte of buf.
func (c Counter) Locate(buf []byte, off int64) (int64, bool) {
	if off < 0 {
		return 0, false
	}
	for m := int64(0); m < 8; m++ {
		// x is the first offset >= off with (x + delta) % 8 == 0 when
		// delta % 8 == m.
		x := off + ((8 - (off+m)%8) % 8)
		i := x - off
		if i+8 > int64(len(buf)) {
			continue
		}
		delta := int64(binary.LittleEndian.Uint64(buf[i:])) - x
		if delta == 0 || ((delta%8)+8)%8 != m || off+delta < 0 {
			continue
		}
		if c.Mismatch(buf, off+delta) < 0 {
			return delta, true
		}
	}
	return 0, false
}

// Random is a pseudo-random pattern: the word at aligned offset 8i is a
// bijective 64-bit mix of (seed, i). No two words of a stream are equal, so
// no stretch of the pattern repeats, and data displaced from anywhere else
// in the stream never verifies by accident.
type Random struct {
	base uint64
}

// golden is 2^64 divided by the golden ratio: consecutive word indices map
// to well-spread mixer inputs, and adding it is cheaper than a multiply.
const golden uint64 = goldenU

// goldenU and its multiples, wrapped to 64 bits, for the unrolled loop.
const (
	goldenU        = 0x9e3779b97f4a7c15
	golden2 uint64 = goldenU * 2 % (1 << 64)
	golden3 uint64 = goldenU * 3 % (1 << 64)
	golden4 uint64 = goldenU * 4 % (1 << 64)
)

// NewRandom returns the random pattern for seed.
func NewRandom(seed uint64) Random {
	return Random{base: fmix64(seed ^ 0x5bd1e9955bd1e995)}
}

// fmix64 is MurmurHash3's 64-bit finaliser: a bijection with full
// avalanche in two multiplies, fast enough to verify at several GB/s.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// unmix64 inverts fmix64: the xor-shifts by 33 undo themselves, and the
// multiplies are undone by their inverses modulo 2^64.
func unmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0x9cb4b2f8129337db // 0xc4ceb9fe1a85ec53^-1
	k ^= k >> 33
	k *= 0x4f74430c22a54005 // 0xff51afd7ed558ccd^-1
	k ^= k >> 33
	return k
}

// RandomSeedOf returns the seed of the random pattern that buf, at stream
// offset off, would be a part of, read from its first whole aligned word:
// every word of the pattern is a bijection of (seed, offset). ok is false
// when buf holds no whole word, or when the word names a seed above
// MaxSeed, which no zerocheck sends. Only checking buf against
// NewRandom(seed) tells whether buf is that pattern.
func RandomSeedOf(buf []byte, off int64) (seed uint64, ok bool) {
	skip := int(-off & 7)
	if off < 0 || len(buf) < skip+8 {
		return 0, false
	}
	o := uint64(off) + uint64(skip)
	base := unmix64(binary.LittleEndian.Uint64(buf[skip:])) - (o>>3)*golden
	seed = unmix64(base) ^ 0x5bd1e9955bd1e995
	return seed, seed <= MaxSeed
}

// String implements Pattern.
func (Random) String() string { return "random" }

func (r Random) word(o uint64) uint64 { return fmix64(r.base + (o>>3)*golden) }

// Fill implements Pattern.
func (r Random) Fill(buf []byte, off int64) {
	o := uint64(off)
	for len(buf) > 0 && o&7 != 0 {
		buf[0] = byte(r.word(o) >> (8 * (o & 7)))
		buf, o = buf[1:], o+1
	}
	z := r.base + (o>>3)*golden
	if useAVX512 && len(buf) >= 64 {
		n := len(buf) / 64
		randomFill64(&buf[0], n, z)
		buf, z = buf[n*64:], z+uint64(n)*8*golden
	}
	// Four independent words per step: the multiplies of one overlap
	// those of the next.
	for ; len(buf) >= 32; buf, z = buf[32:], z+golden4 {
		b := buf[:32]
		binary.LittleEndian.PutUint64(b, fmix64(z))
		binary.LittleEndian.PutUint64(b[8:], fmix64(z+golden))
		binary.LittleEndian.PutUint64(b[16:], fmix64(z+golden2))
		binary.LittleEndian.PutUint64(b[24:], fmix64(z+golden3))
	}
	for ; len(buf) >= 8; buf, z = buf[8:], z+golden {
		binary.LittleEndian.PutUint64(buf, fmix64(z))
	}
	w := fmix64(z)
	for i := range buf {
		buf[i] = byte(w >> (8 * i))
	}
}

// Mismatch implements Pattern.
func (r Random) Mismatch(buf []byte, off int64) int {
	o := uint64(off)
	i := 0
	for ; i < len(buf) && o&7 != 0; i, o = i+1, o+1 {
		if buf[i] != byte(r.word(o)>>(8*(o&7))) {
			return i
		}
	}
	b := buf[i:]
	z := r.base + (o>>3)*golden
	if useAVX512 && len(b) >= 64 {
		// Whole matching groups are skipped; a mismatch is then found
		// within the next 64 bytes by the loops below.
		k := randomMatch64(&b[0], len(b)/64, z)
		b, i, z = b[k*64:], i+k*64, z+uint64(k)*8*golden
	}
	for len(b) >= 32 {
		x := (binary.LittleEndian.Uint64(b) ^ fmix64(z)) |
			(binary.LittleEndian.Uint64(b[8:]) ^ fmix64(z+golden)) |
			(binary.LittleEndian.Uint64(b[16:]) ^ fmix64(z+golden2)) |
			(binary.LittleEndian.Uint64(b[24:]) ^ fmix64(z+golden3))
		if x != 0 {
			break
		}
		b, i, z = b[32:], i+32, z+golden4
	}
	for ; len(b) >= 8; b, i, z = b[8:], i+8, z+golden {
		if x := binary.LittleEndian.Uint64(b) ^ fmix64(z); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	w := fmix64(z)
	for j := range b {
		if b[j] != byte(w>>(8*j)) {
			return i + j
		}
	}
	return -1
}
