package relay

import "slices"

// DefaultSeed is the seed the command uses when given none. Any seed, 0
// included, makes runs reproducible: positions and bytes are a pure
// function of (seed, item, interval, byte).
const DefaultSeed uint64 = 0x7a65726f636b // "zerock"

// pieceSize bounds the bytes Apply handles at a time, so that the history
// ring (MaxLen + pieceSize) always holds every byte a displacement in the
// current piece may take its source from.
const pieceSize = 256 << 10

// Event reports one injection as its first byte passes through Apply.
type Event struct {
	Item   int // index of the injection in the spec
	Kind   Kind
	Offset int64 // data-stream offset of the injection's first byte
	Len    int64 // bytes covered (the stream may end before them all)
}

// Injector corrupts one data stream as its bytes pass through. Positions
// and injected bytes depend only on the items, the seed and stream
// offsets, never on how the stream is cut into chunks, so an injection
// may span any number of Apply calls.
type Injector struct {
	items []Injection
	bases []uint64 // per item: the seed mixed with the item's index

	// ring holds the last len(ring) bytes of the stream as they came
	// in (before injection), for Displace; nil without a Displace item.
	// Bytes [valid, end) of the stream are in it.
	ring       []byte
	valid, end int64

	applied int64

	// OnApply, when set, is called once per injection, when its first
	// byte passes through Apply.
	OnApply func(Event)
}

// NewInjector returns an Injector for one data stream. It checks the
// items as ParseSpec does.
func NewInjector(items []Injection, seed uint64) (*Injector, error) {
	if err := validate(items); err != nil {
		return nil, err
	}
	in := &Injector{items: slices.Clone(items), bases: make([]uint64, len(items))}
	base := mix(seed ^ 0x72656c6179) // "relay"
	for k, it := range items {
		in.bases[k] = mix(base + uint64(k)*0x9e3779b97f4a7c15)
		if it.Kind == Displace && in.ring == nil {
			in.ring = make([]byte, MaxLen+pieceSize)
		}
	}
	return in, nil
}

// Applied returns the number of injections begun so far.
func (in *Injector) Applied() int64 { return in.applied }

// Apply mutates buf as the bytes of stream offsets [off, off+len(buf))
// pass through. Calls are meant to follow the stream in order; after a
// gap or a step back the history restarts at off, and a displacement
// whose source lies before that leaves its bytes alone.
func (in *Injector) Apply(buf []byte, off int64) {
	if len(in.items) == 0 {
		return
	}
	for len(buf) > 0 {
		n := min(len(buf), pieceSize)
		in.apply(buf[:n], off)
		buf, off = buf[n:], off+int64(n)
	}
}

func (in *Injector) apply(p []byte, off int64) {
	end := off + int64(len(p))
	if in.ring != nil {
		if off != in.end {
			in.valid = off
		}
		in.record(p, off)
		in.end = end
		in.valid = max(in.valid, end-int64(len(in.ring)))
	}
	for k := range in.items {
		it := &in.items[k]
		if it.Every == 0 {
			if it.Off < end && it.Off+it.Len > off {
				in.inject(k, 0, it.Off, p, off)
			}
			continue
		}
		// Only intervals that overlap the piece can hold an injection
		// that does.
		for i := off / it.Every; i <= (end-1)/it.Every; i++ {
			if start, ok := in.position(k, i); ok && start < end && start+it.Len > off {
				in.inject(k, i, start, p, off)
			}
		}
	}
}

// record copies p, the bytes at off, into the history ring.
func (in *Injector) record(p []byte, off int64) {
	r := int64(len(in.ring))
	for len(p) > 0 {
		at := off % r
		n := copy(in.ring[at:], p)
		p, off = p[n:], off+int64(n)
	}
}

// position returns the stream offset of item k's injection in interval
// i, or false when the interval has no room for it (Displace, whose
// source must not lie before the stream's start).
func (in *Injector) position(k int, i int64) (int64, bool) {
	it := &in.items[k]
	lo, hi := i*it.Every, (i+1)*it.Every-it.Len
	if it.Kind == Displace {
		lo = max(lo, it.Back)
	}
	if lo > hi {
		return 0, false
	}
	return lo + int64(mix(in.bases[k]^uint64(i))%uint64(hi-lo+1)), true
}

// inject applies item k's injection number i, which starts at stream
// offset start, to the bytes of p (at stream offset off) it covers.
func (in *Injector) inject(k int, i int64, start int64, p []byte, off int64) {
	it := &in.items[k]
	if start >= off {
		in.applied++
		if in.OnApply != nil {
			in.OnApply(Event{Item: k, Kind: it.Kind, Offset: start, Len: it.Len})
		}
	}
	from, to := max(start, off), min(start+it.Len, off+int64(len(p)))
	seg := p[from-off : to-off]
	j0 := from - start // index in the injection of seg[0]
	h := mix(in.bases[k] ^ mix(uint64(i)+0x6a09e667f3bcc909))
	switch it.Kind {
	case Bitflip:
		for x := range seg {
			seg[x] ^= 1 << it.Bit
		}
	case Random:
		for x := range seg {
			seg[x] ^= byte(1 + mix(h+uint64(j0)+uint64(x))%255)
		}
	case Block:
		var blk [BlockSize]byte
		for b := range blk {
			blk[b] = byte(1 + mix(h+uint64(b))%254) // never 0x00 or 0xff
		}
		for x := range seg {
			seg[x] = blk[(j0+int64(x))%BlockSize]
		}
	case Zero:
		clear(seg)
	case Displace:
		r := int64(len(in.ring))
		for x := range seg {
			src := from + int64(x) - it.Back
			if src >= in.valid && src < in.end {
				seg[x] = in.ring[src%r]
			}
		}
	}
}

// mix is the splitmix64 finalizer: a bijective scramble of 64 bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
