package pattern

import "bytes"

// tmplMin is the least size of a periodic pattern's template. Comparing
// against a template that stays in L1/L2 lets bytes.Equal (vectorised
// memequal) do the work: tens of GB/s, no per-byte loop.
const tmplMin = 32 << 10

// periodic is a pattern that repeats a unit of bytes: zeros, ones, alt and
// hex:. Its template holds whole repetitions of the unit, plus one extra
// unit so that a slice starting at any phase is still tmplMin long.
type periodic struct {
	name string
	unit []byte
	tmpl []byte
	span int // usable template length from any phase: a multiple of len(unit)
}

func newPeriodic(name string, unit []byte) *periodic {
	n := (tmplMin + len(unit) - 1) / len(unit) * len(unit)
	t := make([]byte, 0, n+len(unit))
	for len(t) < n+len(unit) {
		t = append(t, unit...)
	}
	return &periodic{name: name, unit: append([]byte(nil), unit...), tmpl: t, span: n}
}

func (p *periodic) String() string { return p.name }

func (p *periodic) phase(off int64) int {
	ph := off % int64(len(p.unit))
	if ph < 0 {
		ph += int64(len(p.unit))
	}
	return int(ph)
}

func (p *periodic) Fill(buf []byte, off int64) {
	ph := p.phase(off)
	for len(buf) > 0 {
		// Each copy is a multiple of the unit long (or the tail), so the
		// phase stays the same from one copy to the next.
		n := copy(buf, p.tmpl[ph:ph+p.span])
		buf = buf[n:]
	}
}

func (p *periodic) Mismatch(buf []byte, off int64) int {
	ph := p.phase(off)
	ref := p.tmpl[ph : ph+p.span]
	for i := 0; i < len(buf); i += p.span {
		c := buf[i:min(i+p.span, len(buf))]
		if !bytes.Equal(c, ref[:len(c)]) {
			return i + firstDiff(c, ref)
		}
	}
	return -1
}

// firstDiff returns the index of the first byte where a and b differ; a
// must be no longer than b and must differ from it somewhere.
func firstDiff(a, b []byte) int {
	// Narrow down with vectorised compares before the byte loop.
	base := 0
	for len(a) > 64 {
		h := len(a) / 2
		if !bytes.Equal(a[:h], b[:h]) {
			a, b = a[:h], b[:h]
			continue
		}
		a, b = a[h:], b[h:]
		base += h
	}
	for i := range a {
		if a[i] != b[i] {
			return base + i
		}
	}
	return -1
}
