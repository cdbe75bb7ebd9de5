package sender

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/zerocheck/zerocheck/pattern"
)

func TestWriteExactBytes(t *testing.T) {
	p, _ := pattern.Parse("counter", 0)
	for _, n := range []int64{0, 1, BufferSize - 1, BufferSize, 3*BufferSize + 5} {
		var b bytes.Buffer
		sent, err := Write(context.Background(), &b, p, 4093, n)
		if err != nil || sent != n || int64(b.Len()) != n {
			t.Fatalf("n %d: sent %d, wrote %d, err %v", n, sent, b.Len(), err)
		}
		if i := p.Mismatch(b.Bytes(), 4093); i != -1 {
			t.Fatalf("n %d: byte %d is not the pattern", n, i)
		}
	}
}

// failAfter accepts limit bytes, then fails, as a reset socket does.
type failAfter struct{ limit, got int }

var errReset = errors.New("connection reset")

func (w *failAfter) Write(b []byte) (int, error) {
	n := min(len(b), w.limit-w.got)
	w.got += n
	if n < len(b) {
		return n, errReset
	}
	return n, nil
}

func TestWriteStopsOnErrorAndCancel(t *testing.T) {
	p, _ := pattern.Parse("zeros", 0)
	w := &failAfter{limit: BufferSize + 100}
	sent, err := Write(context.Background(), w, p, 0, -1)
	if !errors.Is(err, errReset) || sent != BufferSize+100 {
		t.Fatalf("sent %d, err %v", sent, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sent, err = Write(ctx, io.Discard, p, 0, -1)
	if !errors.Is(err, context.Canceled) || sent != 0 {
		t.Fatalf("cancelled: sent %d, err %v", sent, err)
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, spec := range []string{"zeros", "counter", "random"} {
		p, _ := pattern.Parse(spec, 1)
		b.Run(spec, func(b *testing.B) {
			b.SetBytes(BufferSize * 16)
			for b.Loop() {
				Write(context.Background(), io.Discard, p, 0, BufferSize*16)
			}
		})
	}
}
