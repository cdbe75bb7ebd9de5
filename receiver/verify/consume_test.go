package verify

import (
	"context"
	"testing"
)

// panicReader is a reader with a bug.
type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("test: a bug in a reader") }

// TestConsumePanicIsAnError: a panic in the goroutine Consume reads on,
// where nobody above could recover it, is that stream's error, not the
// end of the process.
func TestConsumePanicIsAnError(t *testing.T) {
	v, _ := New(Options{Pattern: mustPattern(t, "zeros")})
	err := Consume(context.Background(), panicReader{}, v, 0)
	if err == nil || err.Error() != "internal error verifying the stream: test: a bug in a reader" {
		t.Fatalf("err = %v", err)
	}
}
