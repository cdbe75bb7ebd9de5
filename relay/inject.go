package relay

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/zerocheck/zerocheck/pattern"
)

// DefaultSeed is the seed the command uses when given none. Any seed, 0
// included, makes runs reproducible: positions and bytes are a pure
// function of (seed, item, interval, byte).
const DefaultSeed uint64 = 0x7a65726f636b // "zerock"

// pieceSize bounds the bytes Apply handles at a time, so that the history
// ring (MaxLen + pieceSize) always holds every byte a displacement in the
// current piece may take its source from.
const pieceSize = 256 << 10

// Bounds of the work done to make an injection fire.
const (
	// checkChunk is how many pattern bytes are compared at a time when
	// checking that an injection changes the pattern.
	checkChunk = 4096
	// Tries bounds the positions a rate item tries, in each interval,
	// for one where it changes the pattern.
	Tries = 64
	// MaxShift bounds how far a raw-mode displacement moves its source
	// from BACK to find a byte that differs.
	MaxShift = 256
)

// Event reports one injection as its first byte passes through Apply.
type Event struct {
	Item   int // index of the injection in the spec
	Kind   Kind
	Offset int64 // data-stream offset of the injection's first byte
	Len    int64 // bytes covered (the stream may end before them all)
	// Detail says how a raw-mode displacement made sure it changes
	// bytes, when it had to: "from 4097 bytes back", or "complemented".
	Detail string
}

// NoEffectError refuses an injection that cannot change the pattern of
// the stream it is for: a drill with it would end clean.
type NoEffectError struct {
	Item    Injection
	Pattern string
	// Reason says which bytes were checked.
	Reason string
}

func (e *NoEffectError) Error() string {
	return fmt.Sprintf("inject item %q cannot change pattern %s: %s; choose another item, offset or pattern (on counter and random every kind can fire)",
		e.Item.String(), e.Pattern, e.Reason)
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
	missed  int64

	// pat is the stream's pattern, when known: rate items then take
	// positions where they change it. nil in raw mode, where each
	// injection changes the bytes whatever they are.
	pat       pattern.Pattern
	want, got []byte     // scratch for checks against pat
	pos       []position // per item: the last rate position chosen
	raw       []rawDisp  // per item: how a raw displacement fires

	// OnApply, when set, is called once per injection, when its first
	// byte passes through Apply.
	OnApply func(Event)
}

// position memoizes a rate item's position in one interval: applying
// asks for it once per piece the interval overlaps.
type position struct {
	i, start int64
	ok, set  bool
}

// rawDisp is how a raw-mode displacement instance fires: from back
// bytes earlier, or complemented when no earlier byte differs.
type rawDisp struct {
	i, back int64
	flip    bool
}

// NewInjector returns an Injector for one data stream. It checks the
// items as ParseSpec does.
//
// pat is the pattern the stream carries, when known (a protocol stream's
// Hello says it). Every item must then change it: an @ item at its
// offset, a rate item at some position of its first interval; otherwise
// NewInjector returns a *NoEffectError. Rate items then take, in each
// interval, the first of up to Tries seeded positions where they change
// the pattern, so that every injection applied corrupts the stream.
//
// With pat nil (raw mode) every injection changes the bytes it covers
// whatever they are: zero writes 0xFF where a byte is 0x00 already, and
// displace takes its source from up to MaxShift bytes beyond BACK (then
// before it) where the byte BACK earlier equals the first byte it
// replaces, and complements its bytes when no such byte is in reach.
func NewInjector(items []Injection, seed uint64, pat pattern.Pattern) (*Injector, error) {
	if err := validate(items); err != nil {
		return nil, err
	}
	in := &Injector{items: slices.Clone(items), bases: make([]uint64, len(items)), pat: pat,
		pos: make([]position, len(items)), raw: make([]rawDisp, len(items))}
	base := mix(seed ^ 0x72656c6179) // "relay"
	for k, it := range items {
		in.bases[k] = mix(base + uint64(k)*0x9e3779b97f4a7c15)
		if it.Kind == Displace && in.ring == nil {
			in.ring = make([]byte, MaxLen+pieceSize)
		}
	}
	if pat == nil {
		return in, nil
	}
	in.want, in.got = make([]byte, checkChunk), make([]byte, checkChunk)
	for k, it := range in.items {
		if it.Every == 0 {
			if !in.fires(k, 0, it.Off) {
				return nil, &NoEffectError{Item: it, Pattern: pat.String(),
					Reason: fmt.Sprintf("it leaves the pattern's %d bytes at offset %d as they are", it.Len, it.Off)}
			}
			continue
		}
		// The first interval with room for the injection.
		i := int64(0)
		if it.Kind == Displace {
			i = max(0, (it.Back+it.Len+it.Every-1)/it.Every-1)
		}
		if _, ok := in.position(k, i); !ok {
			return nil, &NoEffectError{Item: it, Pattern: pat.String(),
				Reason: fmt.Sprintf("it leaves the pattern as it is at each of %d positions tried in [%d, %d)", Tries, i*it.Every, (i+1)*it.Every)}
		}
	}
	return in, nil
}

// Applied returns the number of injections begun so far.
func (in *Injector) Applied() int64 { return in.applied }

// Missed returns the number of rate injections left out because none of
// the positions tried in their interval changes the pattern.
func (in *Injector) Missed() int64 { return in.missed }

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
// source must not lie before the stream's start) or, with a pattern,
// when none of the positions tried changes the pattern.
func (in *Injector) position(k int, i int64) (int64, bool) {
	it := &in.items[k]
	if p := &in.pos[k]; p.set && p.i == i {
		return p.start, p.ok
	}
	lo, hi := i*it.Every, (i+1)*it.Every-it.Len
	if it.Kind == Displace {
		lo = max(lo, it.Back)
	}
	start, ok := int64(0), false
	if lo <= hi {
		span := uint64(hi - lo + 1)
		start, ok = lo+int64(mix(in.bases[k]^uint64(i))%span), true
		if in.pat != nil && !in.fires(k, i, start) {
			ok = false
			for t := uint64(1); t < Tries && !ok; t++ {
				start = lo + int64(mix(in.bases[k]^uint64(i)^mix(t+0x3c6ef372fe94f82b))%span)
				ok = in.fires(k, i, start)
			}
			if !ok {
				in.missed++
			}
		}
	}
	in.pos[k] = position{i: i, start: start, ok: ok, set: true}
	return start, ok
}

// fires reports whether item k's injection number i, at stream offset
// start, changes the bytes of the pattern there: it computes them both
// ways and compares, checkChunk bytes at a time.
func (in *Injector) fires(k int, i, start int64) bool {
	it := &in.items[k]
	if it.Kind == Bitflip || it.Kind == Random {
		// XOR with a non-zero byte changes every byte, whatever it was.
		return true
	}
	h := in.hash(k, i)
	for j := int64(0); j < it.Len; j += checkChunk {
		n := min(checkChunk, it.Len-j)
		want, got := in.want[:n], in.got[:n]
		in.pat.Fill(want, start+j)
		if it.Kind == Displace {
			// The source is the stream as it came in: the pattern.
			in.pat.Fill(got, start+j-it.Back)
		} else {
			copy(got, want)
			in.mutate(it, h, j, got)
		}
		if !bytes.Equal(want, got) {
			return true
		}
	}
	return false
}

// hash is the seed of item k's injection number i's random bytes.
func (in *Injector) hash(k int, i int64) uint64 {
	return mix(in.bases[k] ^ mix(uint64(i)+0x6a09e667f3bcc909))
}

// inject applies item k's injection number i, which starts at stream
// offset start, to the bytes of p (at stream offset off) it covers.
func (in *Injector) inject(k int, i int64, start int64, p []byte, off int64) {
	it := &in.items[k]
	var detail string
	if it.Kind == Displace && in.pat == nil && start >= off {
		detail = in.chooseSource(k, i, start)
	}
	if start >= off {
		in.applied++
		if in.OnApply != nil {
			in.OnApply(Event{Item: k, Kind: it.Kind, Offset: start, Len: it.Len, Detail: detail})
		}
	}
	from, to := max(start, off), min(start+it.Len, off+int64(len(p)))
	seg := p[from-off : to-off]
	if it.Kind != Displace {
		in.mutate(it, in.hash(k, i), from-start, seg)
		return
	}
	back := it.Back
	if in.pat == nil {
		if d := &in.raw[k]; d.i == i && d.back > 0 {
			if d.flip {
				for x := range seg {
					seg[x] ^= 0xff
				}
				return
			}
			back = d.back
		}
	}
	r := int64(len(in.ring))
	for x := range seg {
		src := from + int64(x) - back
		if src >= in.valid && src < in.end {
			seg[x] = in.ring[src%r]
		}
	}
}

// chooseSource picks how raw-mode displacement k's injection number i,
// at start, changes bytes: the source BACK earlier when its byte differs
// from the one at start, else the nearest such source up to MaxShift
// beyond BACK, then before it; complemented bytes when there is none
// (a stream of one byte value). Only the history decides, so the choice
// does not depend on how the stream is cut.
func (in *Injector) chooseSource(k int, i int64, start int64) string {
	it := &in.items[k]
	r := int64(len(in.ring))
	first := in.ring[start%r]
	differs := func(back int64) bool {
		src := start - back
		return back >= 1 && back <= MaxLen && src >= in.valid && in.ring[src%r] != first
	}
	d := &in.raw[k]
	*d = rawDisp{i: i, back: it.Back}
	if differs(it.Back) {
		return ""
	}
	for s := int64(1); s <= MaxShift; s++ {
		if differs(it.Back + s) {
			d.back = it.Back + s
			return fmt.Sprintf("from %d bytes back", d.back)
		}
	}
	for s := int64(1); s <= MaxShift; s++ {
		if differs(it.Back - s) {
			d.back = it.Back - s
			return fmt.Sprintf("from %d bytes back", d.back)
		}
	}
	d.flip = true
	return "complemented: no byte within reach differs"
}

// mutate applies the non-displacing item it, whose random bytes come
// from h, to seg, which holds the injection's bytes from index j0 on.
func (in *Injector) mutate(it *Injection, h uint64, j0 int64, seg []byte) {
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
		if in.pat != nil {
			clear(seg)
			break
		}
		// Raw: whatever the byte was, it changes.
		for x := range seg {
			if seg[x] == 0 {
				seg[x] = 0xff
			} else {
				seg[x] = 0
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
