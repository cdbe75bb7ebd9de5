package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/session"
	"github.com/zerocheck/zerocheck/wire"
)

// rateValue is a bits-per-second flag with SI units, as iperf3 -b reads
// them: 100M, 1G, 2.5Gbit/s.
type rateValue int64

func (r *rateValue) String() string { return strconv.FormatInt(int64(*r), 10) }
func (r *rateValue) Type() string   { return "bits/s" }

func (r *rateValue) Set(v string) error {
	n, err := parseRate(v)
	if err != nil {
		return err
	}
	*r = rateValue(n)
	return nil
}

func parseRate(v string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(v))
	for _, suffix := range []string{"bit/s", "bps", "b/s", "bit"} {
		t = strings.TrimSuffix(t, suffix)
	}
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult = 1e3
		case 'm':
			mult = 1e6
		case 'g':
			mult = 1e9
		case 't':
			mult = 1e12
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("rate %q: want bits per second with an optional K, M, G or T (powers of 1000), e.g. 500M", v)
	}
	if f*mult > 0 && f*mult < 8000 {
		return 0, fmt.Errorf("rate %q: below 8 kbit/s, a run would take forever", v)
	}
	return int64(f * mult), nil
}

// runFlags are the flags of a run that sends: send and loopback.
type runFlags struct {
	pattern    patternFlags
	streams    int
	bytes      sizeValue
	duration   time.Duration
	rate       rateValue
	bidir      bool
	reverse    bool
	json       bool
	quiet      bool
	noHost     bool
	mergeGap   int
	maxRegions int
	idle       time.Duration
}

func (f *runFlags) add(cmd *cobra.Command) {
	f.pattern.add(cmd)
	fl := cmd.Flags()
	fl.IntVarP(&f.streams, "streams", "P", 1, "parallel TCP connections, each with its own offset space (as iperf3 -P)")
	fl.Var(&f.bytes, "bytes", "total bytes over all streams (instead of --duration)")
	durationVarP(fl, &f.duration, "duration", "t", 10*time.Second, "how long to send (30s, 5m, or plain seconds as iperf3 -t takes them)")
	fl.Var(&f.rate, "rate", "cap each direction at this many bits per second (e.g. 500M), for burn-in on live links")
	fl.BoolVar(&f.bidir, "bidir", false, "stream and verify both directions at once (as many streams again from the receiver)")
	fl.BoolVarP(&f.reverse, "reverse", "R", false, "the receiver streams to this end, which verifies (as iperf3 -R): for a host that may only dial out")
	fl.BoolVarP(&f.json, "json", "J", false, "write the report as JSON")
	addVerbose(cmd)
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	fl.BoolVar(&f.noHost, "no-hostinfo", false, "do not collect or send this host's facts")
	fl.IntVar(&f.mergeGap, "merge-gap", verify.DefaultMergeGap, "corrupt bytes separated by fewer intact bytes than this form one region")
	fl.IntVar(&f.maxRegions, "max-regions", verify.DefaultMaxRegions, "regions to detail; later ones are counted only")
	durationVarP(fl, &f.idle, "idle-timeout", "", session.DefaultIdleTimeout, "fail a stream whose peer sends or takes nothing for this long")
}

// client turns the flags into client options for addr; the command adds
// its own and has session.NewClient check the whole.
func (f *runFlags) client(cmd *cobra.Command, addr string) (session.ClientOptions, error) {
	p, seed, err := f.pattern.parse()
	if err != nil {
		return session.ClientOptions{}, err
	}
	if cmd.Flags().Changed("bytes") && cmd.Flags().Changed("duration") {
		return session.ClientOptions{}, errors.New("--bytes and --duration exclude each other")
	}
	if f.reverse && f.bidir {
		return session.ClientOptions{}, errors.New("--reverse and --bidir exclude each other: --bidir already streams from the receiver too")
	}
	if cmd.Flags().Changed("bytes") && f.bytes == 0 {
		return session.ClientOptions{}, errors.New("--bytes must be positive")
	}
	if f.streams < 1 || f.streams > wire.MaxStreams/2 {
		return session.ClientOptions{}, fmt.Errorf("--streams must be between 1 and %d", wire.MaxStreams/2)
	}
	if f.idle <= 0 {
		return session.ClientOptions{}, errors.New("--idle-timeout must be positive")
	}
	o := session.ClientOptions{
		Addr: addr, Pattern: p, Seed: seed, Streams: f.streams,
		Bytes: int64(f.bytes), Duration: f.duration, Rate: int64(f.rate), Bidir: f.bidir,
		Reverse:     f.reverse,
		Verify:      verify.Options{Pattern: p, Seed: seed, MergeGap: f.mergeGap, MaxRegions: f.maxRegions},
		IdleTimeout: f.idle,
		Version:     versionString(),
	}
	if !f.noHost {
		o.Host = session.LiveHost
	}
	return o, o.Verify.Validate()
}
