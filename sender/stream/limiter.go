package stream

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrPastDeadline is Wait's answer when the wait would end past the
// stream's planned end.
var ErrPastDeadline = errors.New("sender: rate limit reaches past the deadline")

// Limiter is a token bucket that caps the total rate of the streams
// sharing it, so a burn-in on a live link takes a known share of it.
type Limiter struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewLimiter returns a limiter for bitsPerSecond (> 0).
func NewLimiter(bitsPerSecond int64) *Limiter {
	rate := float64(bitsPerSecond) / 8
	l := &Limiter{rate: rate, now: time.Now}
	// A burst of 20 ms of traffic, at least one write: short enough that
	// a link never sees much more than the rate, long enough for timers.
	l.burst = max(rate/50, float64(l.Chunk()))
	l.tokens = l.burst
	return l
}

// Chunk returns the write size that suits the rate: a 50th of a second's
// bytes, between 512 bytes and BufferSize, so that even at the lowest
// rate a stream writes every half second or so.
func (l *Limiter) Chunk() int {
	return int(min(max(l.rate/50, 512), BufferSize))
}

// Wait blocks until n more bytes may be sent, or ctx ends, or until
// passes (if set): then it returns ErrPastDeadline at once, for a timed
// stream ends before it would wait past its end.
func (l *Limiter) Wait(ctx context.Context, n int, until time.Time) error {
	d := l.reserve(n)
	if d <= 0 {
		return nil
	}
	if !until.IsZero() && time.Now().Add(d).After(until) {
		l.refund(n) // not sent: the streams sharing the bucket may use it
		return ErrPastDeadline
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reserve takes n tokens, going into debt if need be, and returns how
// long the caller must wait for the debt to be paid.
func (l *Limiter) reserve(n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	l.tokens -= float64(n)
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}

func (l *Limiter) refund(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens += float64(n)
}
