// Package sender writes pattern streams.
//
// Write produces the exact bytes a receiver expects at each stream offset,
// so a run can start at any offset and be cut anywhere. The network
// transport sits on top of it; anything that is an io.Writer (a pipe, a
// file, a socket) can carry the stream.
package sender

import (
	"context"
	"fmt"
	"io"

	"github.com/zerocheck/zerocheck/pattern"
)

// BufferSize is the size of each write: big enough that the syscall cost
// vanishes, small enough to stay in L2 while it is filled.
const BufferSize = 256 << 10

// Write writes the pattern p for stream offsets [off, off+n) to w; n < 0
// writes until w fails or ctx ends. It returns the bytes written and the
// first write error, or the context's error when ctx ended first.
func Write(ctx context.Context, w io.Writer, p pattern.Pattern, off, n int64) (int64, error) {
	buf := make([]byte, BufferSize)
	var sent int64
	for n < 0 || sent < n {
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		b := buf
		if n >= 0 {
			b = b[:min(int64(len(b)), n-sent)]
		}
		p.Fill(b, off+sent)
		k, err := w.Write(b)
		sent += int64(k)
		if err != nil {
			return sent, fmt.Errorf("write at offset %d: %w", off+sent, err)
		}
	}
	return sent, nil
}
