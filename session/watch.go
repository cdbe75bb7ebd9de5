package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zerocheck/zerocheck/wire"
)

// DefaultMinRateGrace is how long a run has to reach the minimum rate.
const DefaultMinRateGrace = 10 * time.Second

// minRateWindow is the span a run's rate is averaged over.
const minRateWindow = 10 * time.Second

// pace is a run's progress over time: what its streams verified and
// sent, sampled as the run goes.
type pace struct {
	start   time.Time
	samples []sample // oldest first, spanning one window or less
	// slow is the last judgement: below the minimum rate, grace or not.
	slow bool
}

type sample struct {
	at    time.Time
	bytes int64
}

func newPace(start time.Time) *pace {
	return &pace{start: start, samples: []sample{{start, 0}}}
}

// add records the progress at now and returns the rate, in bits per
// second, over the last window (or the run's life, if shorter), and the
// span it was measured over.
func (p *pace) add(now time.Time, bytes int64) (bps float64, over time.Duration) {
	p.samples = append(p.samples, sample{now, bytes})
	// Keep one sample at or before the window's start, so the rate
	// covers the whole window.
	i := 0
	for i+1 < len(p.samples) && !p.samples[i+1].at.After(now.Add(-minRateWindow)) {
		i++
	}
	p.samples = p.samples[i:]
	first := p.samples[0]
	over = now.Sub(first.at)
	if over <= 0 {
		return 0, 0
	}
	return float64(bytes-first.bytes) * 8 / over.Seconds(), over
}

// moving reports whether the run made progress since the sample before
// the last.
func (p *pace) moving() bool {
	n := len(p.samples)
	return n >= 2 && p.samples[n-1].bytes > p.samples[n-2].bytes
}

// watchTick is how often a run's pace and plan are looked at: often
// enough that a short grace is kept to within a quarter of it.
func (s *Server) watchTick() time.Duration {
	return min(max(s.opt.MinRateGrace/4, 50*time.Millisecond), time.Second)
}

// watch cuts a run short when it falls below the minimum rate, or a
// timed one when its sender goes on sending past its plan. It ends with
// the run.
func (s *Server) watch(r *run) {
	defer func() {
		if v := recover(); v != nil {
			// A bug here costs this run, loudly, not the server.
			logPanic(s.log, "internal error watching a run", v, "run_id", r.id)
			r.cut(fmt.Errorf("receiver internal error: %v", v))
		}
	}()
	t := time.NewTicker(s.watchTick())
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-t.C:
			if watchHook != nil {
				watchHook(r.id)
			}
			if why := s.judge(r, now, r.live.progress()); why != nil {
				r.cut(why)
				return
			}
		}
	}
}

// watchHook, when set by a test, runs at each look at a run: the way to
// prove that a bug in watching one run costs that run alone.
var watchHook func(runID string)

// judge looks at a run at now, with its progress so far: an error says
// why it must end.
func (s *Server) judge(r *run, now time.Time, p Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	bps, over := r.pace.add(now, p.Sent+p.Verified)
	r.pace.slow = s.opt.MinRate > 0 && bps < float64(s.opt.MinRate)
	if r.pending == 0 {
		return nil // between streams, or waiting for one: nothing to judge
	}
	if err := s.overdue(r, now); err != nil {
		return err
	}
	if r.pace.slow && now.Sub(r.pace.start) >= s.opt.MinRateGrace {
		err := fmt.Sprintf("the run fell below this receiver's minimum rate of %s: %s over the last %v",
			rateText(float64(s.opt.MinRate)), rateText(bps), over.Round(time.Second/10))
		if d := s.draining(r, now); d > 0 {
			err += fmt.Sprintf("; the sender's stream kept arriving %v past its planned %v (still draining the socket buffers)", d.Round(time.Second), r.hello.Duration)
		}
		return errors.New(err)
	}
	return nil
}

// overdue judges a timed run past its planned end, with time for its
// last stream to connect, say hello and say it finished. A stream whose
// sender said it finished is draining what it sent (a slow path holds
// seconds of it in socket buffers) and is read to its end; one whose
// sender never said so and still sends is cut.
func (s *Server) overdue(r *run, now time.Time) error {
	h := r.hello
	if h.Bytes != 0 {
		return nil
	}
	// The pace starts as the first stream is answered, which is when its
	// sender's clock starts.
	end := r.pace.start.Add(h.Duration)
	if now.Before(end.Add(s.opt.StreamWait + 2*s.opt.HandshakeTimeout)) {
		return nil
	}
	for i := range r.results {
		if !r.seen[i] || r.results[i] != nil || r.sent[i] >= 0 || !r.forward(i) {
			continue
		}
		past := now.Sub(end).Round(time.Second)
		if r.pace.moving() {
			return fmt.Errorf("the sender went on sending past its planned %v: stream %d still arriving %v past it, and the sender never said it had finished", h.Duration, i, past)
		}
		return fmt.Errorf("stream %d had not ended %v past its planned %v, and the sender never said it had finished", i, past, h.Duration)
	}
	return nil
}

// draining returns how far past its planned end a timed run is whose
// streams under way are all finished by their sender (so the bytes
// still coming are those it had sent by then), or 0.
func (s *Server) draining(r *run, now time.Time) time.Duration {
	h := r.hello
	if h.Bytes != 0 {
		return 0
	}
	for i := range r.results {
		if r.seen[i] && r.results[i] == nil && r.forward(i) && r.sent[i] < 0 {
			return 0
		}
	}
	return max(0, now.Sub(r.pace.start.Add(h.Duration)))
}

// forward reports whether stream i of a run comes from its sender: the
// first half, with reverse streams (--bidir), as the client numbers them.
func (r *run) forward(i int) bool {
	return r.dirs != nil && r.dirs[i] == wire.Forward
}

// saturated says why every session slot is held by a run below the
// minimum rate, or "" when not: such a receiver turns real senders away
// while doing next to no work.
func (s *Server) saturated() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opt.MinRate <= 0 {
		return ""
	}
	n := 0
	for _, r := range s.runs {
		if r.check {
			continue
		}
		if r.pace == nil || !r.pace.slow {
			return ""
		}
		n++
	}
	if len(s.rawSources) > 0 || n < s.opt.MaxSessions {
		return ""
	}
	return fmt.Sprintf("saturated: all %d session slots are held by runs below the minimum rate of %s", n, rateText(float64(s.opt.MinRate)))
}

// rateText writes a rate in bits per second.
func rateText(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.3g Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.3g Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.3g kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

// rawWatch cuts a raw run (one connection) that falls below the minimum
// rate, as watch does a protocol run's.
func (s *Server) rawWatch(ctx context.Context, cut context.CancelCauseFunc, start time.Time, progress func() int64) {
	if s.opt.MinRate <= 0 {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			logPanic(s.log, "internal error watching a run", v)
			cut(fmt.Errorf("receiver internal error: %v", v))
		}
	}()
	p := newPace(start)
	t := time.NewTicker(s.watchTick())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			bps, over := p.add(now, progress())
			if bps < float64(s.opt.MinRate) && now.Sub(start) >= s.opt.MinRateGrace {
				cut(fmt.Errorf("the run fell below this receiver's minimum rate of %s: %s over the last %v",
					rateText(float64(s.opt.MinRate)), rateText(bps), over.Round(time.Second/10)))
				return
			}
		}
	}
}
