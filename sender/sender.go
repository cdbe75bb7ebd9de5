// Package sender writes pattern streams.
//
// A Stream produces the exact bytes a receiver expects at each stream
// offset, so a run can start at any offset and be cut anywhere. Anything
// that is an io.Writer (a pipe, a file, a socket) can carry it; on a
// socket it also keeps to a planned end time, notices a stalled peer, and
// shares a rate cap with the run's other streams.
package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
)

// BufferSize is the size of each write: big enough that the syscall cost
// vanishes, small enough to stay in L2 while it is filled.
const BufferSize = 256 << 10

// Stream is one pattern stream to write. Its fields are set before Run;
// Sent may be read from other goroutines while it runs.
type Stream struct {
	Pattern pattern.Pattern
	// Offset is the pattern offset of the first byte.
	Offset int64
	// Bytes is how many bytes to write; < 0 means until the deadline, the
	// context or a write error ends the stream.
	Bytes int64
	// Deadline, when set, is the planned end of a timed stream: reaching
	// it ends the stream without error. It needs a writer with
	// SetWriteDeadline (a net.Conn) to cut a blocked write short; with
	// one, cancelling the context cuts a blocked write short too.
	Deadline time.Time
	// Stall, when set, fails a write that makes no progress for this long
	// (a peer that stopped reading). It needs SetWriteDeadline too.
	Stall time.Duration
	// Limiter, when set, caps the rate.
	Limiter *Limiter

	sent atomic.Int64
}

// StallError reports a peer that stopped reading.
type StallError struct {
	Offset int64
	For    time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("write at offset %d: the peer read nothing for %v", e.Offset, e.For)
}

type deadliner interface{ SetWriteDeadline(time.Time) error }

// Sent returns the bytes written so far.
func (s *Stream) Sent() int64 { return s.sent.Load() }

// Run writes the stream to w. It returns the bytes written and the first
// write error, or the context's error when ctx ended first.
func (s *Stream) Run(ctx context.Context, w io.Writer) (int64, error) {
	size := BufferSize
	if s.Limiter != nil {
		size = s.Limiter.Chunk()
	}
	buf := make([]byte, size)
	dl, _ := w.(deadliner)
	if dl != nil {
		// Cancelling cuts a blocked write short, as it cuts the loop.
		stop := context.AfterFunc(ctx, func() {
			// Nobody above this goroutine could recover a panic: the
			// loop below still sees ctx end at its next write or stall,
			// and its own SetWriteDeadline reports such a bug where its
			// caller recovers it.
			defer func() { recover() }()
			dl.SetWriteDeadline(time.Now())
		})
		defer stop()
	}
	timed := dl != nil && (!s.Deadline.IsZero() || s.Stall > 0)
	var sent int64
	for s.Bytes < 0 || sent < s.Bytes {
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		b := buf
		if s.Bytes >= 0 {
			b = b[:min(int64(len(b)), s.Bytes-sent)]
		}
		s.Pattern.Fill(b, s.Offset+sent)
		if s.Limiter != nil {
			if err := s.Limiter.Wait(ctx, len(b), s.Deadline); err != nil {
				if errors.Is(err, ErrPastDeadline) {
					return sent, nil // the planned end comes before the next write
				}
				return sent, err
			}
		}
		var now time.Time
		if timed {
			now = time.Now()
			if !s.Deadline.IsZero() && !now.Before(s.Deadline) {
				return sent, nil
			}
			d := s.Deadline
			if s.Stall > 0 && (d.IsZero() || now.Add(s.Stall).Before(d)) {
				d = now.Add(s.Stall)
			}
			if err := dl.SetWriteDeadline(d); err != nil {
				return sent, err
			}
			// The cancel's deadline (above) may have come before ours,
			// which replaced it.
			if err := ctx.Err(); err != nil {
				return sent, err
			}
		}
		k, err := w.Write(b)
		sent += int64(k)
		s.sent.Store(sent)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return sent, cerr
			}
			if timed && errors.Is(err, os.ErrDeadlineExceeded) {
				if !s.Deadline.IsZero() && !time.Now().Before(s.Deadline) {
					return sent, nil // the planned end of a timed stream
				}
				if k == 0 {
					return sent, &StallError{Offset: s.Offset + sent, For: s.Stall}
				}
				continue // progress was made: the peer is slow, not gone
			}
			return sent, fmt.Errorf("write at offset %d: %w", s.Offset+sent, err)
		}
	}
	return sent, nil
}

// Write writes the pattern p for stream offsets [off, off+n) to w; n < 0
// writes until w fails or ctx ends. It returns the bytes written and the
// first write error, or the context's error when ctx ended first.
func Write(ctx context.Context, w io.Writer, p pattern.Pattern, off, n int64) (int64, error) {
	s := &Stream{Pattern: p, Offset: off, Bytes: n}
	return s.Run(ctx, w)
}
