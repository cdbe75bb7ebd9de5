package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/zerocheck/zerocheck/internal/units"
	"github.com/zerocheck/zerocheck/pattern"
)

// sizeValue is a byte count flag that takes units: 4096, 64KiB, 10G, 1.5GB.
// K, M, G, T, P alone or with "iB" are powers of 1024 (as head -c and dd
// read them); KB, MB, GB, TB, PB are powers of 1000.
type sizeValue int64

func (s *sizeValue) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeValue) Type() string   { return "size" }

func (s *sizeValue) Set(v string) error {
	n, err := units.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeValue(n)
	return nil
}

// patternFlags are the flags that choose a pattern, shared by every
// command that sends or verifies one.
type patternFlags struct {
	spec patternSpec
	seed string
}

// patternSpec is --pattern, checked as it is parsed.
type patternSpec string

func (p *patternSpec) String() string { return string(*p) }
func (p *patternSpec) Type() string   { return "pattern" }

func (p *patternSpec) Set(v string) error {
	if _, err := pattern.Parse(v, 0); err != nil {
		return err
	}
	*p = patternSpec(v)
	return nil
}

func (f *patternFlags) add(cmd *cobra.Command) {
	f.spec = "zeros"
	cmd.Flags().VarP(&f.spec, "pattern", "p", "pattern: zeros, ones, alt, counter, random, hex:BYTES")
	cmd.Flags().StringVar(&f.seed, "seed", fmt.Sprintf("%#x", pattern.DefaultSeed), "seed of the random pattern (decimal or 0x hex)")
	_ = cmd.RegisterFlagCompletionFunc("pattern", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return pattern.Names(), cobra.ShellCompDirectiveNoSpace
	})
}

// parse returns the pattern and seed the flags name.
func (f *patternFlags) parse() (pattern.Pattern, uint64, error) {
	seed, err := pattern.ParseSeed(f.seed)
	if err != nil {
		return nil, 0, err
	}
	p, err := pattern.Parse(string(f.spec), seed)
	return p, seed, err
}

// durationValue is a duration flag that also takes plain seconds, as
// iperf3 -t does: "-t 10" is ten seconds.
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Type() string   { return "duration" }

func (d *durationValue) Set(v string) error {
	t, err := units.ParseDuration(v)
	if err != nil {
		return err
	}
	*d = durationValue(t)
	return nil
}

// durationVarP defines a durationValue flag, as pflag's DurationVarP
// defines a time.Duration one.
func durationVarP(fl *pflag.FlagSet, p *time.Duration, name, short string, value time.Duration, usage string) {
	*p = value
	fl.VarP((*durationValue)(p), name, short, usage)
}

// listenValue is an address to listen on, checked as it is parsed: a
// typo is a usage error (exit 2, which a supervisor does not retry), not
// a failure to listen (exit 3, restarted for ever). A bare port is every
// address, as nc -l 7777 reads it.
type listenValue string

func (l *listenValue) String() string { return string(*l) }
func (l *listenValue) Type() string   { return "addr" }

func (l *listenValue) Set(v string) error {
	a, err := parseListen(v)
	if err != nil {
		return err
	}
	*l = listenValue(a)
	return nil
}

// parseListen checks a listen address and returns it as net.Listen
// takes it: a bare port becomes ":PORT".
func parseListen(v string) (string, error) {
	if v != "" && strings.Trim(v, "0123456789") == "" {
		v = ":" + v
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", errors.New("want HOST:PORT, :PORT or PORT")
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		// A number over 65535 or a service name /etc/services lacks.
		return "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host != "" && !validHost(host) {
		return "", fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return v, nil
}

// validHost reports whether h is an IP address or a syntactically valid
// host name (letters, digits, hyphens, underscores and dots, labels of 1
// to 63).
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 || strings.Trim(h, "0123456789.") == "" {
		// All digits and dots but not an address: 10.0.0.256, 1.2.3.
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
