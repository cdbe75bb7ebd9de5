package main

import (
	"fmt"
	"github.com/zerocheck/zerocheck/internal/units"
	"strconv"

	"github.com/spf13/cobra"
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
