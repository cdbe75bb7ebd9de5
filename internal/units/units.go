// Package units reads byte counts with units, as zerocheck's flags and
// the relay's injection spec take them, and durations as its flags take
// them.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseSize reads a byte count with an optional unit: 4096, 64KiB, 10G,
// 1.5GB. K, M, G, T, P alone or with "iB" are powers of 1024 (as head -c
// and dd read them); KB, MB, GB, TB, PB are powers of 1000.
func ParseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok || num == "" {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (B, K/KiB, M/MiB, G/GiB, T/TiB, KB, MB, GB, TB)", v)
	}
	if !strings.Contains(num, ".") {
		// Whole numbers stay exact: offsets beyond 2^53 are real.
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q: bad or too large number", v)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: bad number", v)
	}
	b := f * float64(mult)
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", v)
	}
	if b != math.Trunc(b) {
		return 0, fmt.Errorf("size %q: not a whole number of bytes", v)
	}
	return int64(b), nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	"p": 1 << 50, "pib": 1 << 50, "pb": 1e15,
}

// ParseDuration reads a duration in Go syntax (30s, 5m, 1h30m) or, as
// iperf3's -t and timeout(1) take it, a plain number of seconds (10,
// 0.5): "-t 10" is ten seconds, not an error about a missing unit.
func ParseDuration(v string) (time.Duration, error) {
	t := strings.TrimSpace(v)
	if t != "" && strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }) < 0 {
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || f*float64(time.Second) >= math.MaxInt64 {
			return 0, fmt.Errorf("duration %q: want seconds (10, 0.5) or Go syntax (30s, 5m, 1h30m)", v)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want seconds (10, 0.5) or Go syntax (30s, 5m, 1h30m)", v)
	}
	return d, nil
}
