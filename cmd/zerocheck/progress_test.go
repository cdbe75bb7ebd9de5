package main

import (
	"strings"
	"syscall"
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

// TestProgressLineReceiverFindings: the sender's line shows the regions
// and corrupt bytes the receiver has reported in its progress frames,
// with its own (reverse streams), summed.
func TestProgressLineReceiverFindings(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		cur  session.Progress
		want string
	}{
		{session.Progress{Sent: 1 << 30, PeerVerified: 1 << 29, PeerRegions: 3, PeerCorrupt: 1600},
			"zerocheck:     1s  1.0 GiB  8.59 Gbit/s  3 regions (1.6 KiB corrupt)\n"},
		{session.Progress{Sent: 1 << 30, Verified: 1 << 30, Regions: 1, Corrupt: 5, PeerRegions: 2, PeerCorrupt: 16},
			"zerocheck:     1s  2.0 GiB  17.18 Gbit/s  3 regions (21 B corrupt)\n"},
		{session.Progress{Sent: 1 << 30, PeerVerified: 1 << 30},
			"zerocheck:     1s  1.0 GiB  8.59 Gbit/s  0 regions\n"},
	} {
		p := &progress{planned: 4 << 30, start: t0, lastT: t0}
		if got := p.line(t0.Add(time.Second), c.cur); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cur, got, c.want)
		}
	}
	p := &progress{tty: true, planned: 4 << 30, start: t0, lastT: t0}
	got := p.line(t0.Add(time.Second), session.Progress{Sent: 1 << 30, PeerRegions: 8, PeerCorrupt: 8})
	if !strings.HasSuffix(got, " 25%  1.0 GiB  8.59 Gbit/s  8 regions (8 B corrupt)") {
		t.Fatalf("bar %q", got)
	}
}

// TestReceiverProgressClock: a receiver's lines time and count each run
// from its start, not from the process's, and start again with the
// next run.
func TestReceiverProgressClock(t *testing.T) {
	t0 := time.Unix(1000, 0) // the process starts
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	p := &progress{idleQuiet: true, start: t0, lastT: t0}
	for _, c := range []struct {
		now  float64
		cur  session.Progress
		want string
	}{
		{100, session.Progress{}, ""}, // waiting: nothing to say
		{101, session.Progress{Verified: 1 << 20, Start: at(100)},
			"zerocheck:     1s  1.0 MiB  8.4 Mbit/s  0 regions\n"},
		{103, session.Progress{Verified: 3 << 20, Regions: 1, Corrupt: 16, Start: at(100)},
			"zerocheck:     3s  3.0 MiB  8.4 Mbit/s  1 regions (16 B corrupt)\n"},
		// The run is over: its counts stay, and nothing moves.
		{104, session.Progress{Verified: 3 << 20, Regions: 1, Corrupt: 16}, ""},
		{200, session.Progress{Verified: 3 << 20, Regions: 1, Corrupt: 16}, ""},
		// The next run: its own clock and counts.
		{202, session.Progress{Verified: 2 << 20, Start: at(200)},
			"zerocheck:     2s  2.0 MiB  8.4 Mbit/s  0 regions\n"},
	} {
		if got := p.line(at(c.now), c.cur); got != c.want {
			t.Errorf("at %vs: %q, want %q", c.now, got, c.want)
		}
	}
}

// TestSendShowsReceiverRegions runs a fire drill with the real commands:
// recv behind a relay that flips two bits of the stream. The sender's
// progress line shows the receiver's two regions while the run is still
// going, where it said "0 regions" to the end before.
func TestSendShowsReceiverRegions(t *testing.T) {
	r := recvOnce(t)
	rl := start(t, true, "relay", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", "bitflip@64KiB,bitflip@1MiB")
	sp := start(t, false, "send", rl.addr, "--duration", "10m", "--rate", "64M", "--json")
	sp.waitStderr(t, "  2 regions (2 B corrupt)\n")
	sp.cmd.Process.Signal(syscall.SIGINT)
	code, rcode := sp.wait(t), r.wait(t)
	s, m := decodeJSON(t, sp.out.String()), decodeJSON(t, r.out.String())
	if code != 1 || rcode != 1 || num(t, s["region_count"]) != 2 || num(t, m["region_count"]) != 2 {
		t.Fatalf("send exit %d %v regions, recv exit %d %v regions\n%s", code, s["region_count"], rcode, m["region_count"], sp.stderr())
	}
}
