package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ReadBufferSize is the read size of Consume: large enough that the
// per-read cost vanishes beside verification, small enough to stay in L2.
const ReadBufferSize = 256 << 10

// ShortError reports a stream that ended before its planned size.
type ShortError struct {
	Got, Want int64
}

func (e *ShortError) Error() string {
	return fmt.Sprintf("short stream: got %d of %d bytes", e.Got, e.Want)
}

// Consume reads r and verifies everything read with v until r ends, limit
// bytes have been read (limit > 0), or ctx is done. It returns nil when
// the stream ended where it should, a *ShortError when it ended before
// limit, and the read error or the context's cause otherwise.
//
// A panic while reading or verifying is returned as an error.
//
// When ctx ends first, Consume returns at once while a read may still be
// blocked; the caller closes r (a socket) or exits (a pipe), and the
// verifier refuses any late write once its Result has been taken.
func Consume(ctx context.Context, r io.Reader, v *Verifier, limit int64) error {
	done := make(chan error, 1)
	go func() {
		// Nobody above this goroutine could recover a panic in the
		// reader or the verifier: it is this stream's error, not the
		// process's end.
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("internal error verifying the stream: %v", p)
			}
		}()
		done <- copyTo(r, v, limit)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
}

func copyTo(r io.Reader, v *Verifier, limit int64) error {
	buf := make([]byte, ReadBufferSize)
	var got int64
	for limit <= 0 || got < limit {
		b := buf
		if limit > 0 {
			b = b[:min(int64(len(b)), limit-got)]
		}
		n, err := r.Read(b)
		if n > 0 {
			if _, werr := v.Write(b[:n]); werr != nil {
				return werr
			}
			got += int64(n)
		}
		if errors.Is(err, io.EOF) {
			if limit > 0 && got < limit {
				return &ShortError{Got: got, Want: limit}
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read after %d bytes: %w", got, err)
		}
	}
	return nil
}
