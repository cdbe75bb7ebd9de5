// Package pattern defines the byte streams zerocheck sends and verifies.
//
// Every pattern is a pure function of (stream offset, seed): the byte at
// offset o is the same whoever computes it and however the stream was cut
// into chunks. That lets a receiver verify any byte knowing only its offset,
// a sender start anywhere, and the analyser regenerate the expected bytes of
// a corrupt region after the fact. The package uses the standard library
// only.
package pattern

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// DefaultSeed is the seed used when the user gives none. It is fixed so
// that two ends started without --seed agree, and it is printed in every
// report so a run can be reproduced.
const DefaultSeed uint64 = 0x7a65726f636b // "zerock"

// MaxSeed bounds seeds to integers that JSON readers keep exactly (jq and
// JavaScript read numbers as doubles): a seed read back from a report must
// reproduce the run.
const MaxSeed = 1<<53 - 1

// MaxHexLen bounds the user-given sequence of a hex: pattern.
const MaxHexLen = 4096

// A Pattern produces and checks the expected bytes of a stream.
type Pattern interface {
	// String returns the canonical spec of the pattern, which Parse
	// accepts ("zeros", "counter", "hex:deadbeef", ...).
	String() string
	// Fill writes the pattern bytes for stream offsets [off, off+len(buf))
	// into buf.
	Fill(buf []byte, off int64)
	// Mismatch returns the index in buf of the first byte that differs
	// from the pattern at stream offset off+index, or -1 if buf matches.
	Mismatch(buf []byte, off int64) int
}

// A Locator is a self-locating Pattern: from bytes observed at one stream
// offset it can tell which other offset they were generated for. The
// counter pattern is one; it is how zerocheck reports where displaced data
// came from.
type Locator interface {
	Pattern
	// Locate returns delta != 0 such that buf equals the pattern at stream
	// offset off+delta, and true; or false when no such delta exists.
	Locate(buf []byte, off int64) (delta int64, ok bool)
}

// Names lists the pattern names Parse accepts, for help texts and
// completion. hex: takes a suffix.
func Names() []string {
	return []string{"zeros", "ones", "alt", "counter", "random", "hex:"}
}

// Parse returns the pattern named by spec. The seed matters only to
// patterns that use one (random); others ignore it.
func Parse(spec string, seed uint64) (Pattern, error) {
	switch s := strings.ToLower(strings.TrimSpace(spec)); {
	case s == "zeros" || s == "zero":
		return newPeriodic("zeros", []byte{0x00}), nil
	case s == "ones" || s == "one":
		return newPeriodic("ones", []byte{0xff}), nil
	case s == "alt":
		return newPeriodic("alt", []byte{0x55, 0xaa}), nil
	case s == "counter":
		return Counter{}, nil
	case s == "random":
		return NewRandom(seed), nil
	case strings.HasPrefix(s, "hex:"):
		h := strings.TrimPrefix(s, "hex:")
		h = strings.TrimPrefix(h, "0x")
		if h == "" {
			return nil, fmt.Errorf("pattern %q: hex: needs at least one byte, e.g. hex:DEADBEEF", spec)
		}
		if len(h) > 2*MaxHexLen {
			return nil, fmt.Errorf("pattern %q: hex sequence longer than %d bytes", spec, MaxHexLen)
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %v", spec, err)
		}
		return newPeriodic("hex:"+hex.EncodeToString(b), b), nil
	default:
		return nil, fmt.Errorf("unknown pattern %q (want one of zeros, ones, alt, counter, random, hex:BYTES)", spec)
	}
}

// ParseSeed parses a seed given in decimal or 0x-prefixed hex, from 0 to
// MaxSeed.
func ParseSeed(s string) (uint64, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 0, 64)
	if err != nil || v > MaxSeed {
		return 0, fmt.Errorf("seed %q: want an integer from 0 to 2^53-1 (decimal or 0x hex)", s)
	}
	return v, nil
}
