package main

import (
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/session"
)

func TestProgressLine(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := &progress{planned: 4 << 30, start: t0, lastT: t0}
	got := p.line(t0.Add(time.Second), session.Progress{Sent: 1 << 30, Regions: 2})
	if got != "zerocheck:     1s  1.0 GiB  8.59 Gbit/s  2 regions\n" {
		t.Fatalf("plain line %q", got)
	}
	p = &progress{tty: true, planned: 4 << 30, start: t0, lastT: t0}
	got = p.line(t0.Add(time.Second), session.Progress{Verified: 1 << 30})
	if !strings.HasPrefix(got, "\r\033[K[=======        ") || !strings.Contains(got, " 25%  1.0 GiB  8.59 Gbit/s  0 regions") {
		t.Fatalf("bar %q", got)
	}
	// A timed run fills the bar by time; a receiver with nothing moving
	// prints nothing.
	p = &progress{tty: true, span: 4 * time.Second, start: t0, lastT: t0}
	if got = p.line(t0.Add(2*time.Second), session.Progress{Sent: 1}); !strings.Contains(got, " 50%") {
		t.Fatalf("timed bar %q", got)
	}
	p = &progress{idleQuiet: true, start: t0, lastT: t0}
	if got = p.line(t0.Add(time.Second), session.Progress{}); got != "" {
		t.Fatalf("idle receiver printed %q", got)
	}
}
