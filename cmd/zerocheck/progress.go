package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/zerocheck/zerocheck/session"
)

// progress prints a run's progress to stderr once a second: a bar that
// redraws itself on a terminal, plain lines otherwise (a log file, a
// cron mail). Nothing once stopped.
type progress struct {
	w       io.Writer
	tty     bool
	planned int64         // bytes, when known
	span    time.Duration // or the planned duration
	read    func() session.Progress
	// idleQuiet skips updates while nothing moves: a receiver waiting
	// for senders should not fill its log.
	idleQuiet bool
	start     time.Time
	last      session.Progress
	lastT     time.Time
	done      chan struct{}
	wg        sync.WaitGroup

	// run is the start of the runs a receiver (idleQuiet) is counting,
	// whose clock the line shows; zero before the first.
	run time.Time
}

// isTerminal reports whether w is a character device: a person watching.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// startProgress starts printing; stop ends it and clears the bar.
func startProgress(w io.Writer, planned int64, span time.Duration, read func() session.Progress, idleQuiet bool) (stop func()) {
	p := &progress{w: w, tty: isTerminal(w), planned: planned, span: span, read: read, idleQuiet: idleQuiet,
		start: time.Now(), done: make(chan struct{})}
	p.lastT = p.start
	p.wg.Add(1)
	go p.loop()
	return func() {
		close(p.done)
		p.wg.Wait()
	}
}

func (p *progress) loop() {
	defer p.wg.Done()
	defer func() {
		// Progress is a courtesy: a bug in it stops the display, not the
		// process.
		if v := recover(); v != nil {
			fmt.Fprintf(p.w, "zerocheck: progress display stopped: internal error: %v\n", v)
		}
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			if p.tty {
				fmt.Fprint(p.w, "\r\033[K")
			}
			return
		case now := <-t.C:
			fmt.Fprint(p.w, p.line(now, p.read()))
		}
	}
}

// line formats one update: bytes moved, the rate over the last second,
// and the regions found so far, by this end and, at a sender, by the
// receiver (its progress frames), with their corrupt bytes.
func (p *progress) line(now time.Time, cur session.Progress) string {
	if p.idleQuiet && !cur.Start.IsZero() && !cur.Start.Equal(p.run) {
		// A receiver serves run after run: each one's clock starts with
		// it, and so do its counts (see Server.Progress).
		p.run, p.last = cur.Start, session.Progress{}
	}
	// Bytes this end moved either way: sent (forward at the sender,
	// reverse at the receiver) plus verified.
	moved := cur.Sent + cur.Verified
	prev := p.last.Sent + p.last.Verified
	if p.idleQuiet && moved == prev {
		p.lastT = now
		return ""
	}
	rate := float64(moved-prev) * 8 / now.Sub(p.lastT).Seconds()
	p.last, p.lastT = cur, now
	text := fmt.Sprintf("%s  %s  %d regions", short(moved), shortRate(rate), cur.Regions+cur.PeerRegions)
	if n := cur.Corrupt + cur.PeerCorrupt; n > 0 {
		text += fmt.Sprintf(" (%s corrupt)", shortBytes(n))
	}
	if !p.tty {
		start := p.start
		if !p.run.IsZero() {
			start = p.run
		}
		return fmt.Sprintf("zerocheck: %5.0fs  %s\n", now.Sub(start).Seconds(), text)
	}
	frac := -1.0
	switch {
	case p.planned > 0:
		frac = float64(moved) / float64(p.planned)
	case p.span > 0:
		frac = now.Sub(p.start).Seconds() / p.span.Seconds()
	}
	if frac < 0 {
		return "\r\033[K" + text
	}
	frac = min(frac, 1)
	const width = 30
	n := int(frac * width)
	return fmt.Sprintf("\r\033[K[%s%s] %3.0f%%  %s", strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, text)
}

func short(n int64) string {
	f, units := float64(n), []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	u := 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s", f, units[u])
}

// shortBytes is short, with a count under 1 KiB exact.
func shortBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return short(n)
}

func shortRate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.1f Mbit/s", bps/1e6)
	}
	return fmt.Sprintf("%.0f kbit/s", bps/1e3)
}
