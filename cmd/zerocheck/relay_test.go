package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/relay"
)

// helpInject returns the --inject value of the relay help's example whose
// command line has (raw) or lacks --raw, as the help prints it.
func helpInject(t *testing.T, raw bool) string {
	t.Helper()
	for _, line := range strings.Split(newRelay().Example, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "zerocheck" || f[1] != "relay" || slices.Contains(f, "--raw") != raw {
			continue
		}
		if i := slices.Index(f, "--inject"); i >= 0 && i+1 < len(f) {
			return f[i+1]
		}
	}
	t.Fatalf("no relay example (raw %v) with --inject in\n%s", raw, newRelay().Example)
	return ""
}

// injections returns the injections the relay makes into a stream of n
// bytes of pattern pat (nil: raw), with its default seed, in stream order.
func injections(t *testing.T, spec string, pat pattern.Pattern, n int) []relay.Event {
	t.Helper()
	items, err := relay.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	in, err := relay.NewInjector(items, relay.DefaultSeed, pat)
	if err != nil {
		t.Fatal(err)
	}
	var ev []relay.Event
	in.OnApply = func(e relay.Event) { ev = append(ev, e) }
	buf := make([]byte, n)
	if pat != nil {
		pat.Fill(buf, 0)
	}
	in.Apply(buf, 0)
	slices.SortFunc(ev, func(a, b relay.Event) int { return int(a.Offset - b.Offset) })
	return ev
}

// checkRegions checks that rep's regions are exactly the injections, at
// their offsets and lengths.
func checkRegions(t *testing.T, rep map[string]any, ev []relay.Event) {
	t.Helper()
	gs, _ := rep["regions"].([]any)
	if len(gs) != len(ev) || num(t, rep["region_count"]) != int64(len(ev)) {
		t.Fatalf("%s: %d regions, want %d (%+v)", rep["role"], len(gs), len(ev), ev)
	}
	for i, e := range ev {
		g := gs[i].(map[string]any)
		if num(t, g["offset"]) != e.Offset || num(t, g["length"]) != e.Len {
			t.Errorf("%s region %d: offset %v length %v, want the %s at %d, %d bytes", rep["role"], i, g["offset"], g["length"], e.Kind, e.Offset, e.Len)
		}
	}
}

// TestRelayHelpExample runs the relay help's first example as printed:
// a real receiver, the relay with the example's --inject, a real sender
// with the default pattern (zeros). The drill fires: both ends exit 1
// and report a region at every injection the relay logged, to the byte.
func TestRelayHelpExample(t *testing.T) {
	spec := helpInject(t, false)
	const size = 9 << 20
	zeros, _ := pattern.Parse("zeros", 0)
	ev := injections(t, spec, zeros, size)
	if len(ev) < 2 {
		t.Fatalf("the example %q makes %d injections in %d bytes: too few to show", spec, len(ev), size)
	}
	r := recvOnce(t, "--no-hostinfo")
	rl := start(t, true, "relay", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", spec)
	code, s, stderr := send(t, rl.addr, "--bytes", fmt.Sprint(size), "--no-hostinfo")
	rcode := r.wait(t)
	if code != 1 || rcode != 1 {
		t.Fatalf("send exit %d, recv exit %d, want 1 and 1\n%s\n%s\n%s", code, rcode, stderr, r.stderr(), rl.errbufString())
	}
	m := decodeJSON(t, r.out.String())
	for _, rep := range []map[string]any{s, m} {
		if rep["verdict"] != "corrupt" || num(t, rep["bytes_verified"]) != size {
			t.Fatalf("%s: %v, %v bytes verified", rep["role"], rep["verdict"], rep["bytes_verified"])
		}
		checkRegions(t, rep, ev)
	}
	rl.cmd.Process.Signal(syscall.SIGTERM)
	if code := rl.wait(t); code != 0 {
		t.Fatalf("relay exit %d", code)
	}
	for _, e := range ev {
		if want := fmt.Sprintf("msg=injected conn=1 stream=\"stream 0 forward\" kind=%s offset=%d bytes=%d ", e.Kind, e.Offset, e.Len); !strings.Contains(rl.stderr(), want) {
			t.Errorf("relay did not log %q:\n%s", want, rl.stderr())
		}
	}
	if want := fmt.Sprintf(" injections=%d\n", len(ev)); !strings.Contains(rl.stderr(), want) {
		t.Errorf("relay did not log %q:\n%s", want, rl.stderr())
	}
}

// TestRelayRawHelpExample runs the relay help's --raw example as printed,
// on the default pattern (zeros): a raw sender, the relay with the
// example's --inject, a raw receiver. In raw mode every injection
// changes the bytes whatever they are, so zeroing and displacing zeros
// fire too: the receiver exits 1 with a region at each, to the byte.
func TestRelayRawHelpExample(t *testing.T) {
	spec := helpInject(t, true)
	const size = 2 << 20
	ev := injections(t, spec, nil, size)
	if len(ev) != strings.Count(spec, ",")+1 {
		t.Fatalf("the example %q makes %d injections in %d bytes", spec, len(ev), size)
	}
	r := recvOnce(t, "--raw", "--bytes", fmt.Sprint(size))
	rl := start(t, true, "relay", "--raw", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", spec)
	sp := start(t, false, "send", "--raw", "-q", rl.addr, "--bytes", fmt.Sprint(size))
	sp.wait(t)
	if code := r.wait(t); code != 1 {
		t.Fatalf("recv exit %d, want 1\n%s\n%s\n%s", code, r.stderr(), sp.stderr(), rl.errbufString())
	}
	m := decodeJSON(t, r.out.String())
	if m["verdict"] != "corrupt" || num(t, m["bytes_verified"]) != size {
		t.Fatalf("recv: %v, %v bytes verified", m["verdict"], m["bytes_verified"])
	}
	checkRegions(t, m, ev)
}

// TestRelayInjectionsFire runs every kind of injection, @ and rate
// forms, through the relay on every pattern: the relay either refuses
// the run (the sender says why and exits 3, the relay exits 2), exactly
// where the injection cannot change the pattern, or the run is corrupt.
// No injection the relay accepts leaves a run clean.
func TestRelayInjectionsFire(t *testing.T) {
	patterns := []string{"zeros", "ones", "alt", "counter", "random", "hex:c0ffee"}
	for _, tc := range []struct {
		spec    string
		refused []string // the patterns it cannot change
	}{
		{"bitflip@5000:2", nil},
		{"bitflip%64KiB", nil},
		{"random@5000:4", nil},
		{"random%64KiB:4", nil},
		{"block@5000:2", nil},
		{"block%64KiB", nil},
		{"zero@5000:16", []string{"zeros"}},
		{"zero%64KiB:1", []string{"zeros"}},
		// 4096 is a whole number of zeros', ones' and alt's periods.
		{"displace@8192:64", []string{"zeros", "ones", "alt"}},
		{"displace%64KiB:16:4096", []string{"zeros", "ones", "alt"}},
		// An odd distance moves alt's bytes; 3 is hex:c0ffee's period.
		{"displace@8192:64:3", []string{"zeros", "ones", "hex:c0ffee"}},
	} {
		// One receiver for every run; refused runs never reach it.
		r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--json", "-q", "--no-hostinfo")
		for _, pat := range patterns {
			name := tc.spec + " on " + pat
			rl := start(t, true, "relay", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", tc.spec)
			code, s, stderr := send(t, rl.addr, "--pattern", pat, "--bytes", "256KiB", "--no-hostinfo")
			if slices.Contains(tc.refused, pat) {
				if code != 3 || !strings.Contains(fmt.Sprint(s["error"]), "relay: inject item") || !strings.Contains(fmt.Sprint(s["error"]), "cannot change pattern "+pat) {
					t.Errorf("%s: send exit %d, error %v; want 3 and the relay's refusal\n%s", name, code, s["error"], stderr)
				}
				if code := rl.wait(t); code != 2 || !strings.Contains(rl.stderr(), `level=ERROR msg=refused conn=1 stream="stream 0 forward" error="inject item`) {
					t.Errorf("%s: relay exit %d, want 2:\n%s", name, code, rl.stderr())
				}
				continue
			}
			if code != 1 || s["verdict"] != "corrupt" || num(t, s["bytes_verified"]) != 256<<10 {
				t.Errorf("%s: send exit %d, verdict %v, error %v; want a corrupt run\n%s\n%s", name, code, s["verdict"], s["error"], stderr, rl.errbufString())
			}
			rl.cmd.Process.Signal(syscall.SIGTERM)
			if code := rl.wait(t); code != 0 {
				t.Errorf("%s: relay exit %d:\n%s", name, code, rl.stderr())
			}
			if strings.Contains(rl.stderr(), "left out") {
				t.Errorf("%s: the relay left injections out:\n%s", name, rl.stderr())
			}
		}
		r.cmd.Process.Signal(syscall.SIGTERM)
	}
}
