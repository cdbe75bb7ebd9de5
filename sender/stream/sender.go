// Package stream writes pattern streams.
//
// A Stream produces the exact bytes a receiver expects at each stream
// offset, so a run can start at any offset and be cut anywhere. Anything
// that is an io.Writer (a pipe, a file, a socket) can carry it; on a
// socket it also keeps to a planned end time, notices a stalled peer, and
// shares a rate cap with the run's other streams.
package stream

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
	var sent, lastAcked int64
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
		// The stall clock runs from the later of the last progress and
		// this chunk's start: time spent waiting on the limiter is not
		// the peer's.
		last := time.Now()
		for off := 0; off < len(b); {
			if timed {
				now := time.Now()
				if !s.Deadline.IsZero() && !now.Before(s.Deadline) {
					return sent, nil
				}
				if err := dl.SetWriteDeadline(s.writeDeadline(now, last)); err != nil {
					return sent, err
				}
				// The cancel's deadline (above) may have come before
				// ours, which replaced it.
				if err := ctx.Err(); err != nil {
					return sent, err
				}
			}
			k, err := w.Write(b[off:])
			off += k
			sent += int64(k)
			s.sent.Store(sent)
			if k > 0 {
				last = time.Now()
			}
			if err == nil {
				if k == 0 {
					return sent, fmt.Errorf("write at offset %d: %w", s.Offset+sent, io.ErrShortWrite)
				}
				continue
			}
			if cerr := ctx.Err(); cerr != nil {
				return sent, cerr
			}
			if !timed || !errors.Is(err, os.ErrDeadlineExceeded) {
				return sent, fmt.Errorf("write at offset %d: %w", s.Offset+sent, err)
			}
			if !s.Deadline.IsZero() && !time.Now().Before(s.Deadline) {
				return sent, nil // the planned end of a timed stream
			}
			// The kernel takes more only once a good part of its buffer
			// is free, which on a slow path may be a long while after
			// the peer last took bytes: its acknowledgements are the
			// progress to watch.
			if u, ok := Unsent(w); ok {
				if acked := sent - int64(u); acked > lastAcked {
					lastAcked, last = acked, time.Now()
				}
			}
			if s.Stall > 0 && time.Since(last) >= s.Stall {
				return sent, &StallError{Offset: s.Offset + sent, For: s.Stall}
			}
			// A tick: go on with the rest of this chunk.
		}
	}
	return sent, nil
}

// stallTick bounds each blocked write, so that progress is seen within
// a tick of being made: a stall is then called within a tick of Stall
// after the last byte the peer took, not a whole Stall after a write
// that made some progress early on.
const stallTick = 250 * time.Millisecond

// writeDeadline is the deadline of a write at now whose chunk last made
// progress at last: the planned end, the stall's end, or the next tick.
func (s *Stream) writeDeadline(now, last time.Time) time.Time {
	d := s.Deadline
	if s.Stall > 0 {
		t := last.Add(s.Stall)
		if tick := now.Add(stallTick); tick.Before(t) {
			t = tick
		}
		if d.IsZero() || t.Before(d) {
			d = t
		}
	}
	return d
}

// Write writes the pattern p for stream offsets [off, off+n) to w; n < 0
// writes until w fails or ctx ends. It returns the bytes written and the
// first write error, or the context's error when ctx ended first.
func Write(ctx context.Context, w io.Writer, p pattern.Pattern, off, n int64) (int64, error) {
	s := &Stream{Pattern: p, Offset: off, Bytes: n}
	return s.Run(ctx, w)
}
