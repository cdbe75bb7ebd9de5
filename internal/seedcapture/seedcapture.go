// Package seedcapture rebuilds the corrupt stream from the incident that
// zerocheck exists for (docs/incident.md): 0x4de3d396
// bytes of /dev/zero sent through netcat, received with three corrupt
// 80-byte regions on a 16-byte grid. Tests and benchmarks generate it on
// the fly instead of keeping a 1.3 GB fixture.
package seedcapture

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Length is the size of the captured stream: the article's last xxd line
// starts at 0x4de3d390 and holds 6 bytes.
const Length = 0x4de3d396

// dump is the article's `xxd -a` output, less the all-zero lines.
const dump = `
189edea0:0000 1e30 e75c a3ef ab8b 8723 781c a4eb
189edeb0:6527 1e30 e75c a3ef ab8b 8723 781c a4eb
189edec0:6527 1e30 e75c a3ef ab8b 8723 781c a4eb
189eded0:6527 1e30 e75c a3ef ab8b 8723 781c a4eb
189edee0:6527 9d05 f655 6228 1366 5365 a932 2841
189edef0:2663 0000 0000 0000 0000 0000 0000 0000
4927d4e0:5762 b190 5b5d db75 cb39 accd 5b73 982b
4927d4f0:5762 b190 5b5d db75 cb39 accd 5b73 982b
4927d500:5762 b190 5b5d db75 cb39 accd 5b73 982b
4927d510:5762 b190 5b5d db75 cb39 accd 5b73 982b
4927d520:01db 332d cf4b 3804 6f9c a5ad b9c8 0932
4bb51110:0000 54f8 a1cb 8f0d e916 80a2 0768 3bd3
4bb51120:3794 54f8 a1cb 8f0d e916 80a2 0768 3bd3
4bb51130:3794 54f8 a1cb 8f0d e916 80a2 0768 3bd3
4bb51140:3794 54f8 a1cb 8f0d e916 80a2 0768 3bd3
4bb51150:3794 20a0 1e44 ae70 25b7 7768 7d1d 38b1
4bb51160:8191 0000 0000 0000 0000 0000 0000 0000
`

// Line is one 16-byte line of the capture that is not all zeros.
type Line struct {
	Offset int64
	Data   [16]byte
}

// Lines returns the capture's non-zero lines in stream order.
func Lines() []Line {
	var out []Line
	for _, l := range strings.Split(strings.TrimSpace(dump), "\n") {
		off, data, ok := strings.Cut(l, ":")
		if !ok {
			panic("seedcapture: bad dump line " + l)
		}
		o, err := strconv.ParseInt(off, 16, 64)
		if err != nil {
			panic(err)
		}
		b, err := hex.DecodeString(strings.ReplaceAll(data, " ", ""))
		if err != nil || len(b) != 16 {
			panic(fmt.Sprintf("seedcapture: bad dump line %q", l))
		}
		var ln Line
		ln.Offset = o
		copy(ln.Data[:], b)
		out = append(out, ln)
	}
	return out
}

// Reader returns a reader of the whole captured stream: zeros with the
// capture's corrupt lines at their offsets.
func Reader() io.Reader { return &reader{lines: Lines(), n: Length} }

type reader struct {
	lines []Line
	pos   int64
	n     int64
}

func (r *reader) Read(p []byte) (int, error) {
	if r.pos >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.pos)]
	clear(p)
	end := r.pos + int64(len(p))
	for _, l := range r.lines {
		if l.Offset+16 <= r.pos || l.Offset >= end {
			continue
		}
		for i := int64(0); i < 16; i++ {
			if o := l.Offset + i; o >= r.pos && o < end {
				p[o-r.pos] = l.Data[i]
			}
		}
	}
	r.pos = end
	return len(p), nil
}
