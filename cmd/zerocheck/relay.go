package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/relay"
)

type relayOptions struct {
	listen string
	relay  relay.Options
	log    logFlag
}

func newRelay() *cobra.Command {
	var o relayOptions
	var inject, seed string
	cmd := &cobra.Command{
		Use:   "relay --listen ADDR --to ADDR [flags]",
		Short: "Relay a zerocheck stream and corrupt it on purpose: a fire drill for your alerting",
		Long: `relay accepts TCP connections on --listen, dials --to for each, and relays
both directions, corrupting the pattern stream on purpose as --inject says.
Put it between a zerocheck sender and receiver to prove that corruption is
caught, reported to the byte, and that your cron job and alerting fire.

The relay speaks just enough of the zerocheck protocol to find each
connection's data stream: the handshake (Hello, Challenge, Auth, Reply)
passes through byte for byte, so a --token-file run still authenticates
through the relay, and injections land at data-stream offsets, which are
the pattern offsets the receiver reports. Each connection (each parallel
stream) is injected independently, in its own offset space. Control frames,
Results and the other direction are never touched. With --raw the whole
client-to-server direction is the data stream from its first byte, for
"zerocheck gen | nc" set-ups and other plain streams.

--inject takes a comma-separated list of items:

  KIND@OFFSET[:ARG[:ARG2]]   one injection at data-stream offset OFFSET
  KIND%EVERY[:ARG[:ARG2]]    one injection in every EVERY bytes, at a seeded
                             pseudo-random position that keeps it inside
                             each interval [k*EVERY, (k+1)*EVERY)

  bitflip@OFF[:BIT]          flip bit BIT (0-7, default 0) of one byte
  random@OFF[:LEN]           XOR LEN bytes (default 16) with random non-zero bytes
  block@OFF[:N]              replace N 16-byte blocks (default 1) with one random
                             block repeated, no byte 00 or ff: the AES-NI signature
  zero@OFF[:LEN]             set LEN bytes (default 16) to 00
  displace@OFF[:LEN[:BACK]]  replace LEN bytes (default 64) with the stream's own
                             bytes BACK earlier (default 4096, at most 1MiB)

Sizes take units as --bytes does: 4096, 64KiB, 1GiB, 10MB. Lengths are at
most 1MiB; @ items must not overlap; up to 1000 items. Positions and random
bytes depend only on --seed, so a drill is reproducible. Each injection and
each ended connection is logged to stderr. The relay runs until SIGINT or
SIGTERM, then exits 0.

A drill must be able to fire. The relay reads each stream's pattern from
its hello and computes what every item does to it: a stream that an item
cannot change (zero on zeros, displace on zeros or ones, or on any pattern
that repeats itself at distance BACK) is refused, the sender is told which
item and why, and the relay exits 2. A rate item takes, in each interval,
the first of up to 64 seeded positions where it changes the pattern.

With --raw the relay cannot know the pattern, so each injection changes
the bytes it covers whatever they are: zero writes ff where a byte is 00
already; displace takes its source up to 256 bytes beyond BACK (then
before it) when the byte BACK earlier equals the first byte it replaces,
and complements its bytes when no byte in reach differs (a stream of
zeros); bitflip and random XOR, so every byte changes; block changes
every stream but one that already holds its random block.`,
		Example: `  # on the relay host, between zerocheck on hostA and the receiver on hostB:7777
  zerocheck relay --listen :7778 --to hostB:7777 --inject block@1MiB:5,bitflip%4MiB

  # a plain stream: zerocheck gen | nc relay 7778, verified by nc -l 7777 | zerocheck verify
  zerocheck relay --raw --listen :7778 --to hostB:7777 --inject zero@4096:100,displace@1MiB`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.listen == "" || o.relay.To == "" {
				return errors.New("--listen and --to are required")
			}
			if _, _, err := net.SplitHostPort(o.listen); err != nil {
				return fmt.Errorf("--listen %q: want HOST:PORT or :PORT", o.listen)
			}
			if _, _, err := net.SplitHostPort(o.relay.To); err != nil {
				return fmt.Errorf("--to %q: want HOST:PORT", o.relay.To)
			}
			items, err := relay.ParseSpec(inject)
			if err != nil {
				return err
			}
			o.relay.Inject = items
			if o.relay.Seed, err = strconv.ParseUint(strings.TrimSpace(seed), 0, 64); err != nil {
				return fmt.Errorf("seed %q: want an integer (decimal or 0x hex)", seed)
			}
			validated(cmd)
			return runRelay(cmd, o)
		},
	}
	f := cmd.Flags()
	f.Var((*listenValue)(&o.listen), "listen", "address to accept connections on, e.g. :7778 or 7778 (port 0: any free port)")
	f.StringVar(&o.relay.To, "to", "", "address to relay each connection to, e.g. hostB:7777")
	f.StringVar(&inject, "inject", "", "corruption to inject into each data stream (see above); empty: relay untouched")
	f.BoolVar(&o.relay.Raw, "raw", false, "no protocol: the client-to-server direction is the data stream from its first byte")
	f.StringVar(&seed, "seed", fmt.Sprintf("%#x", relay.DefaultSeed), "seed of rate-based positions and random bytes (decimal or 0x hex)")
	o.log.addFor(f, "one per injection, ended connection and protocol surprise")
	return cmd
}

func runRelay(cmd *cobra.Command, o relayOptions) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return runtimeError{err}
	}
	log := o.log.logger(cmd.ErrOrStderr())
	o.relay.Log = log
	mode := "protocol"
	if o.relay.Raw {
		mode = "raw"
	}
	// The seed as a string: a JSON number would lose a seed above 2^53.
	log.Info("listening", "addr", ln.Addr().String(), "to", o.relay.To, "inject", relay.FormatSpec(o.relay.Inject),
		"mode", mode, "seed", fmt.Sprintf("%#x", o.relay.Seed))
	if err := relay.Serve(ctx, ln, o.relay); err != nil {
		if errors.As(err, new(*relay.NoEffectError)) {
			// The drill cannot fire on what the sender sends.
			return configError{err}
		}
		return runtimeError{err}
	}
	return nil
}
