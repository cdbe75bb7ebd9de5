package main

import (
	"testing"
)

// TestDurationPlainSeconds: a duration flag without a unit is seconds,
// as iperf3 -t reads it: "send -t 1" plans a 1 s run (the receiver logs
// the plan it was sent), "-t 0.5" half a second; recv's timeouts take
// the same; a bad one is still exit 2 with what is wanted.
func TestDurationPlainSeconds(t *testing.T) {
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "-q", "--no-hostinfo", "--idle-timeout", "30", "--stream-wait", "5")
	for arg, want := range map[string]string{"1": "duration_seconds=1 ", "0.5": "duration_seconds=0.5 "} {
		if code, _, stderr := send(t, r.addr, "-t", arg, "--no-hostinfo"); code != exitClean {
			t.Fatalf("send -t %s: exit %d: %s", arg, code, stderr)
		}
		r.waitStderr(t, want)
	}
	want := `zerocheck: invalid argument "10x" for "-t, --duration" flag: duration "10x": want seconds (10, 0.5) or Go syntax (30s, 5m, 1h30m)`
	if code, _, stderr := inproc(t, nil, "send", "127.0.0.1", "-t", "10x"); code != exitUsage || firstLine(stderr) != want {
		t.Errorf("-t 10x: exit %d, %q; want 2 and %q", code, firstLine(stderr), want)
	}
}
