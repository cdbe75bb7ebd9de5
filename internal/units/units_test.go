package units

import (
	"fmt"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false}, {"4096", 4096, false}, {"64MiB", 64 << 20, false}, {"10G", 10 << 30, false},
		{"10GB", 10e9, false}, {"1.5K", 1536, false}, {"2 kib", 2048, false}, {"7b", 7, false},
		{"1.3", 0, true}, {"", 0, true}, {"G", 0, true}, {"-1", 0, true}, {"1e3", 0, true},
		{"9999999P", 0, true}, {"10Gbit", 0, true},
		{"9007199254740993", 9007199254740993, false}, {"9223372036854775807", 9223372036854775807, false},
		{"8388608T", 0, true}, {"1.5b", 0, true}, {"0.5K", 512, false},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "64MiB", "1.5G", "10GB", "x", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}

// TestParseDurationPlainSeconds: a number without a unit is seconds, as
// iperf3 -t reads it; Go syntax works as before.
func TestParseDurationPlainSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"10", 10 * time.Second, ""}, {"0.5", 500 * time.Millisecond, ""}, {" 3 ", 3 * time.Second, ""},
		{"0", 0, ""}, {"30s", 30 * time.Second, ""}, {"5m", 5 * time.Minute, ""}, {"1h30m", 90 * time.Minute, ""},
		{"1ns", time.Nanosecond, ""}, {"-1s", -time.Second, ""},
		{"", 0, `duration "": want seconds (10, 0.5) or Go syntax (30s, 5m, 1h30m)`},
		{"10x", 0, `duration "10x": want seconds (10, 0.5) or Go syntax (30s, 5m, 1h30m)`},
		{"1.2.3", 0, `duration "1.2.3": want seconds (10, 0.5) or Go syntax (30s, 5m, 1h30m)`},
		{"99999999999", 0, `duration "99999999999": want seconds (10, 0.5) or Go syntax (30s, 5m, 1h30m)`},
	} {
		got, err := ParseDuration(tc.in)
		if msg := fmt.Sprint(err); got != tc.want || (tc.err == "" && err != nil) || (tc.err != "" && msg != tc.err) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}
