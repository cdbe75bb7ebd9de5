package relay

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/zerocheck/zerocheck/pattern"
)

// patternOf returns the named pattern, with the default seed.
func patternOf(t testing.TB, name string) pattern.Pattern {
	t.Helper()
	p, err := pattern.Parse(name, pattern.DefaultSeed)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stream returns n bytes of the named pattern from offset 0.
func stream(t testing.TB, name string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	patternOf(t, name).Fill(b, 0)
	return b
}

// feed runs a copy of s through a new Injector for pattern pat (nil:
// raw) in chunks whose sizes chunk chooses, and returns the result and
// the events.
func feed(t testing.TB, items []Injection, seed uint64, pat pattern.Pattern, s []byte, chunk func() int) ([]byte, []Event) {
	t.Helper()
	in, err := NewInjector(items, seed, pat)
	if err != nil {
		t.Fatal(err)
	}
	var ev []Event
	in.OnApply = func(e Event) { ev = append(ev, e) }
	out := bytes.Clone(s)
	for off := 0; off < len(out); {
		n := min(chunk(), len(out)-off)
		in.Apply(out[off:off+n], int64(off))
		off += n
	}
	if in.Applied() != int64(len(ev)) {
		t.Errorf("Applied() = %d, %d events", in.Applied(), len(ev))
	}
	slices.SortFunc(ev, func(a, b Event) int { return int(a.Offset - b.Offset) })
	return out, ev
}

// chunkings are the ways the tests cut a stream: whole, TCP-like random
// sizes, tiny random sizes, and single bytes near the front.
func chunkings(n int) map[string]func() int {
	r := rand.New(rand.NewPCG(1, 2))
	ones := 0
	return map[string]func() int{
		"whole":  func() int { return n },
		"random": func() int { return 1 + r.IntN(300<<10) },
		"small":  func() int { return 1 + r.IntN(100) },
		"bytes-then-big": func() int {
			if ones < 20000 {
				ones++
				return 1
			}
			return 64 << 10
		},
	}
}

// diffs returns the offsets where a and b differ.
func diffs(a, b []byte) []int64 {
	var d []int64
	const step = 4096
	for at := 0; at < len(a); at += step {
		x, y := a[at:min(at+step, len(a))], b[at:min(at+step, len(b))]
		if bytes.Equal(x, y) {
			continue
		}
		for i := range x {
			if x[i] != y[i] {
				d = append(d, int64(at+i))
			}
		}
	}
	return d
}

func span(from, n int64) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = from + int64(i)
	}
	return s
}

func TestInjectorKinds(t *testing.T) {
	const size = 1<<20 + 200000
	origs := map[string][]byte{"zeros": stream(t, "zeros", size), "counter": stream(t, "counter", size)}
	for _, tc := range []struct {
		spec string
		// refused names the pattern the items cannot change, if any.
		refused string
		// check verifies out against the pattern bytes orig.
		check func(t *testing.T, pat string, orig, out []byte)
	}{
		{"bitflip@100003:5", "", func(t *testing.T, pat string, orig, out []byte) {
			if d := diffs(orig, out); !slices.Equal(d, []int64{100003}) {
				t.Fatalf("changed %v, want [100003]", d)
			}
			if x := orig[100003] ^ out[100003]; x != 1<<5 {
				t.Errorf("XOR %#02x, want 0x20", x)
			}
		}},
		{"random@65530:300", "", func(t *testing.T, pat string, orig, out []byte) {
			if d := diffs(orig, out); !slices.Equal(d, span(65530, 300)) {
				t.Fatalf("changed %d bytes %v..., want [65530, 65830)", len(d), d[:min(len(d), 4)])
			}
		}},
		{"block@262141:5", "", func(t *testing.T, pat string, orig, out []byte) {
			// Phase 262141%16 = 13; the grid crosses a 256 KiB boundary.
			blk := out[262141 : 262141+16]
			for _, c := range blk {
				if c == 0 || c == 0xff {
					t.Fatalf("block %x holds 0x00 or 0xff", blk)
				}
			}
			for k := range 5 {
				if b := out[262141+16*k : 262141+16*(k+1)]; !bytes.Equal(b, blk) {
					t.Fatalf("block %d is %x, want %x", k, b, blk)
				}
			}
			want := span(262141, 80)
			if pat == "counter" {
				want = slices.DeleteFunc(want, func(o int64) bool { return orig[o] == out[o] })
			}
			if d := diffs(orig, out); !slices.Equal(d, want) || len(d) < 70 {
				t.Fatalf("changed %v, want %v", d, want)
			}
		}},
		{"zero@1048570:1000", "zeros", func(t *testing.T, pat string, orig, out []byte) {
			if !bytes.Equal(out[1048570:1049570], make([]byte, 1000)) {
				t.Fatal("range not zeroed")
			}
			var want []int64
			for _, o := range span(1048570, 1000) {
				if orig[o] != 0 {
					want = append(want, o)
				}
			}
			if d := diffs(orig, out); !slices.Equal(d, want) {
				t.Fatalf("changed %d bytes, want %d", len(d), len(want))
			}
		}},
		{"displace@1100000:300:1MiB,displace@100000:100:50", "zeros", func(t *testing.T, pat string, orig, out []byte) {
			if !bytes.Equal(out[1100000:1100300], orig[1100000-1<<20:1100300-1<<20]) {
				t.Error("1100000: not the bytes 1MiB earlier")
			}
			// LEN > BACK: the source is the stream as it came in.
			if !bytes.Equal(out[100000:100100], orig[99950:100050]) {
				t.Error("100000: not the bytes 50 earlier")
			}
			// Exactly the bytes that differ from their source change:
			// none for zeros.
			var want []int64
			for _, r := range []struct{ off, n, back int64 }{{100000, 100, 50}, {1100000, 300, 1 << 20}} {
				for _, o := range span(r.off, r.n) {
					if orig[o] != orig[o-r.back] {
						want = append(want, o)
					}
				}
			}
			if d := diffs(orig, out); !slices.Equal(d, want) {
				t.Errorf("changed %d bytes, want %d", len(d), len(want))
			}
			if pat == "counter" && len(want) < 100 {
				t.Errorf("only %d bytes differ from their source", len(want))
			}
		}},
	} {
		items, err := ParseSpec(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, pat := range []string{"zeros", "counter"} {
			orig := origs[pat]
			if pat == tc.refused {
				var ne *NoEffectError
				if _, err := NewInjector(items, 7, patternOf(t, pat)); !errors.As(err, &ne) || ne.Pattern != pat {
					t.Errorf("%s on %s: %v, want a refusal", tc.spec, pat, err)
				}
				continue
			}
			var first []byte
			for name, chunk := range chunkings(size) {
				t.Run(tc.spec+"/"+pat+"/"+name, func(t *testing.T) {
					out, ev := feed(t, items, 7, patternOf(t, pat), orig, chunk)
					tc.check(t, pat, orig, out)
					if len(ev) != len(items) {
						t.Errorf("%d events, want %d", len(ev), len(items))
					}
					for _, e := range ev {
						it := items[e.Item]
						if e.Offset != it.Off || e.Len != it.Len || e.Kind != it.Kind {
							t.Errorf("event %+v for item %s", e, it)
						}
					}
					if first == nil {
						first = out
					} else if !bytes.Equal(out, first) {
						t.Errorf("chunking %s gives other bytes at %v", name, diffs(first, out)[:1])
					}
				})
			}
		}
	}
}

func TestInjectorRandomIsSeeded(t *testing.T) {
	items, _ := ParseSpec("random@100:64,block@1000:2")
	orig := stream(t, "zeros", 4096)
	zeros := patternOf(t, "zeros")
	a, _ := feed(t, items, 1, zeros, orig, func() int { return 4096 })
	b, _ := feed(t, items, 1, zeros, orig, func() int { return 7 })
	c, _ := feed(t, items, 2, zeros, orig, func() int { return 4096 })
	if !bytes.Equal(a, b) {
		t.Error("same seed, other bytes")
	}
	if bytes.Equal(a, c) {
		t.Error("other seed, same bytes")
	}
}

func TestInjectorRate(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		every int64
		n     int64 // bytes per injection
		size  int   // the last interval is cut short
	}{
		{"bitflip%4KiB:3", 4096, 1, 1<<20 + 1234},
		{"random%1000:16", 1000, 16, 1<<20 + 1234},
		{"block%64KiB:3", 64 << 10, 48, 1<<20 + 1234},
		{"zero%16", 16, 16, 64<<10 + 5}, // every byte
		{"random%300KiB:1MiB", 0, 0, 0}, // refused: longer than the interval
	} {
		size := tc.size
		n64 := int64(size)
		items, err := ParseSpec(tc.spec)
		if tc.every == 0 {
			if err == nil {
				t.Errorf("%s accepted", tc.spec)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		pat := "counter"
		if items[0].Kind == Zero {
			pat = "ones" // counter's high bytes are zero already
		}
		orig := stream(t, pat, size)
		var want []Event
		for name, chunk := range chunkings(size) {
			t.Run(tc.spec+"/"+name, func(t *testing.T) {
				out, ev := feed(t, items, 42, patternOf(t, pat), orig, chunk)
				// One injection per interval, wholly inside it; the cut
				// interval at the end may hold one, partly past the end.
				full := n64 / tc.every
				if int64(len(ev)) < full || int64(len(ev)) > full+1 {
					t.Fatalf("%d injections in %d intervals", len(ev), full)
				}
				changed := 0
				for k, e := range ev {
					if e.Offset/tc.every != int64(k) || (e.Offset+e.Len-1)/tc.every != int64(k) {
						t.Fatalf("injection %d at [%d, %d) is not inside [%d, %d)", k, e.Offset, e.Offset+e.Len, int64(k)*tc.every, int64(k+1)*tc.every)
					}
					end := min(e.Offset+e.Len, n64)
					d := diffs(orig[e.Offset:end], out[e.Offset:end])
					if items[0].Kind != Block && int64(len(d)) != end-e.Offset {
						t.Fatalf("injection %d at %d changed %d of %d bytes", k, e.Offset, len(d), e.Len)
					}
					changed += len(d)
				}
				if d := diffs(orig, out); len(d) != changed {
					t.Fatalf("%d bytes changed, %d inside the injections", len(d), changed)
				}
				if want == nil {
					want = ev
				} else if !slices.Equal(ev, want) {
					t.Fatal("positions depend on the chunking")
				}
			})
		}
		// Another seed moves them.
		_, ev := feed(t, items, 43, patternOf(t, pat), orig, func() int { return size })
		if slices.Equal(ev, want) && tc.every > tc.n {
			t.Errorf("%s: seed 43 gives the positions of seed 42", tc.spec)
		}
	}
}

// A rate displacement never reaches before the stream's start: intervals
// without room after BACK get none.
func TestInjectorRateDisplace(t *testing.T) {
	items, err := ParseSpec("displace%64KiB:100:200KiB")
	if err != nil {
		t.Fatal(err)
	}
	const size = 2 << 20
	orig := stream(t, "counter", size)
	r := rand.New(rand.NewPCG(3, 4))
	out, ev := feed(t, items, 3, patternOf(t, "counter"), orig, func() int { return 1 + r.IntN(100<<10) })
	// Intervals 0 and 1 lie wholly before 200 KiB; interval 2 may or
	// may not have room; 3 to 31 have.
	if len(ev) < 29 || len(ev) > 30 {
		t.Fatalf("%d injections, want 29 or 30", len(ev))
	}
	for _, e := range ev {
		if e.Offset < 200<<10 {
			t.Fatalf("injection at %d: source before the start", e.Offset)
		}
		if !bytes.Equal(out[e.Offset:e.Offset+100], orig[e.Offset-200<<10:e.Offset-200<<10+100]) {
			t.Fatalf("injection at %d: not the bytes 200 KiB earlier", e.Offset)
		}
	}
}

// An injection may run past the end of what the stream delivers.
func TestInjectorStreamEndsMidInjection(t *testing.T) {
	items, _ := ParseSpec("zero@4090:100")
	orig := stream(t, "counter", 4096)
	out, ev := feed(t, items, 0, patternOf(t, "counter"), orig, func() int { return 3 })
	if len(ev) != 1 || !bytes.Equal(out[4090:], make([]byte, 6)) || !bytes.Equal(out[:4090], orig[:4090]) {
		t.Errorf("events %v, tail %x", ev, out[4088:])
	}
}

// allPatterns are the patterns the kind x pattern tests run on: constant,
// periodic of periods 2 and 3, a unit with a zero byte, and the two that
// repeat nowhere.
var allPatterns = []string{"zeros", "ones", "alt", "hex:c0ffee", "hex:00ff00", "counter", "random"}

// TestInjectorFiresOrRefuses: for every kind, @ and rate forms, on every
// pattern, NewInjector either refuses the item, and the item indeed
// leaves the pattern as it is, or accepts it, and then every injection
// it applies changes bytes of the pattern, however the stream is cut.
func TestInjectorFiresOrRefuses(t *testing.T) {
	const size = 256 << 10
	for _, spec := range []string{
		"bitflip@5000:2", "random@5000:4", "block@5000:2", "zero@5000", "zero@5000:1", "zero@5001:1",
		"displace@8192:64", "displace@8192:1:1", "displace@8192:64:3", "displace@8192:200:100",
		"bitflip%16KiB:7", "random%16KiB:1", "block%16KiB:3", "zero%16KiB:1", "zero%16KiB:2",
		"displace%16KiB:16:4096", "displace%16KiB:1:2", "displace%16KiB:64:3",
	} {
		items := mustParse(t, spec)
		it := items[0]
		for _, name := range allPatterns {
			p := patternOf(t, name)
			orig := stream(t, name, size)
			_, err := NewInjector(items, 7, p)
			var ne *NoEffectError
			if errors.As(err, &ne) {
				// Refused: the injection would leave the pattern as it is
				// at every position it may take.
				if it.Kind != Zero && it.Kind != Displace {
					t.Errorf("%s on %s refused: %v", spec, name, err)
					continue
				}
				if ne.Pattern != name || ne.Item != it {
					t.Errorf("%s on %s: refusal names %q on %s", spec, name, ne.Item, ne.Pattern)
				}
				lo, hi := it.Off, it.Off
				if it.Every > 0 {
					lo, hi = max(0, it.Back), it.Every-it.Len
				}
				for at := lo; at <= hi; at++ {
					for j := at; j < at+it.Len; j++ {
						if it.Kind == Zero && orig[j] != 0 || it.Kind == Displace && orig[j] != orig[j-it.Back] {
							t.Fatalf("%s on %s refused, but at %d it changes byte %d", spec, name, at, j)
						}
					}
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s on %s: %v", spec, name, err)
			}
			var first []Event
			for cut, chunk := range chunkings(size) {
				out, ev := feed(t, items, 7, p, orig, chunk)
				want := 1
				if it.Every > 0 {
					want = size/int(it.Every) - int(it.Back/it.Every)
				}
				if len(ev) < want {
					t.Fatalf("%s on %s, %s: %d injections, want at least %d", spec, name, cut, len(ev), want)
				}
				for _, e := range ev {
					if end := min(e.Offset+e.Len, size); bytes.Equal(out[e.Offset:end], orig[e.Offset:end]) {
						t.Fatalf("%s on %s, %s: the injection at %d changes nothing", spec, name, cut, e.Offset)
					}
				}
				if first == nil {
					first = ev
				} else if !slices.Equal(ev, first) {
					t.Fatalf("%s on %s: positions depend on the chunking", spec, name)
				}
			}
		}
	}
}

// TestInjectorRawChangesBytes: in raw mode, where the pattern is unknown,
// every injection changes the bytes it covers whatever they are: zero
// changes every one (0x00, or 0xff over 0x00), displace moves its source
// off a distance that would copy equal bytes, or complements when no
// byte in reach differs; and no chunking changes the result.
func TestInjectorRawChangesBytes(t *testing.T) {
	const size = 1 << 20
	items := mustParse(t, "zero@4096:100,displace@65536:64,zero%128KiB:8,displace%128KiB:32:4096")
	for _, name := range allPatterns {
		orig := stream(t, name, size)
		var first []byte
		for cut, chunk := range chunkings(size) {
			out, ev := feed(t, items, 7, nil, orig, chunk)
			if len(ev) != 2+2*(size>>17) {
				t.Fatalf("%s, %s: %d injections", name, cut, len(ev))
			}
			for _, e := range ev {
				o, n := e.Offset, e.Len
				switch e.Kind {
				case Zero:
					for j := o; j < o+n; j++ {
						if orig[j] == 0 && out[j] != 0xff || orig[j] != 0 && out[j] != 0 {
							t.Fatalf("%s, %s: zeroed byte %d went from %#x to %#x", name, cut, j, orig[j], out[j])
						}
					}
				case Displace:
					var back int64
					switch {
					case e.Detail == "":
						back = 4096
					case strings.HasPrefix(e.Detail, "complemented"):
						for j := o; j < o+n; j++ {
							if out[j] != ^orig[j] {
								t.Fatalf("%s, %s: byte %d not complemented", name, cut, j)
							}
						}
						if name != "zeros" && name != "ones" {
							t.Errorf("%s: complemented, though its history has other bytes", name)
						}
						continue
					default:
						if _, err := fmt.Sscanf(e.Detail, "from %d bytes back", &back); err != nil {
							t.Fatalf("detail %q: %v", e.Detail, err)
						}
					}
					if !bytes.Equal(out[o:o+n], orig[o-back:o-back+n]) || out[o] == orig[o] {
						t.Fatalf("%s, %s: displacement at %d (%s) is not a changed copy from %d back", name, cut, o, e.Detail, back)
					}
				}
			}
			if first == nil {
				first = out
			} else if !bytes.Equal(out, first) {
				t.Fatalf("%s: chunking %s gives other bytes", name, cut)
			}
		}
	}
	// Alt repeats at 4096: the source moves one byte, which differs.
	_, ev := feed(t, mustParse(t, "displace@65536:64"), 7, nil, stream(t, "alt", 70000), func() int { return 70000 })
	if len(ev) != 1 || ev[0].Detail != "from 4097 bytes back" {
		t.Errorf("alt: %+v", ev)
	}
}
