package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/receiver"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/session"
)

type recvOptions struct {
	listen string
	server session.ServerOptions
	json   bool
	quiet  bool
}

func newRecv() *cobra.Command {
	var o recvOptions
	var pf patternFlags
	var gap, maxRegions int
	var noHost bool
	var rawBytes sizeValue
	cmd := &cobra.Command{
		Use:   "recv [flags]",
		Short: "Receive and verify zerocheck streams, one report per run",
		Long: `recv listens for "zerocheck send" and verifies every byte of every stream.
Each run (all the streams of one send) gets its own report, on stdout: text,
or one JSON object per run with --json. The sender gets the same findings
back, so both ends reach the same verdict.

recv serves runs until it is stopped (SIGINT or SIGTERM: runs under way are
cut short and still reported) and then exits 0. With --once it serves one
run and exits with that run's code: 0 clean, 1 corrupt, 3 incomplete.

With --raw there is no protocol: any plain stream is verified against
--pattern, each connection a run of its own, e.g. fed by
"head -c 1G /dev/zero | nc HOST 7777".`,
		Example: `  zerocheck recv
  zerocheck recv --listen 10.0.0.2:7777 --once --json
  zerocheck recv --raw --pattern zeros --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !o.server.Raw && (cmd.Flags().Changed("pattern") || cmd.Flags().Changed("seed") || cmd.Flags().Changed("bytes")) {
				return errors.New("--pattern, --seed and --bytes are for --raw: without it each sender names its pattern and plan")
			}
			o.server.RawBytes = int64(rawBytes)
			p, seed, err := pf.parse()
			if err != nil {
				return err
			}
			o.server.Verify = receiver.Options{Pattern: p, Seed: seed, MergeGap: gap, MaxRegions: maxRegions}
			if err := o.server.Verify.Validate(); err != nil {
				return err
			}
			if o.server.IdleTimeout <= 0 || o.server.HandshakeTimeout <= 0 || o.server.StreamWait <= 0 {
				return errors.New("timeouts must be positive")
			}
			if !noHost {
				o.server.Host = session.LiveHost
			}
			o.server.Version = versionString()
			validated(cmd)
			return runRecv(cmd, o)
		},
	}
	pf.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&o.listen, "listen", "l", ":"+defaultPort, "address to listen on (\":7777\" is every IPv4 and IPv6 address)")
	fl.BoolVar(&o.server.Once, "once", false, "serve one run, print its report and exit with its code")
	fl.BoolVar(&o.server.Raw, "raw", false, "verify plain streams against --pattern: no handshake, no result message")
	fl.Var(&rawBytes, "bytes", "with --raw: each stream's planned size; a shorter one is incomplete (exit 3)")
	fl.BoolVar(&o.json, "json", false, "write each report as JSON")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "no progress on stderr")
	fl.BoolVar(&noHost, "no-hostinfo", false, "do not collect or send this host's facts")
	fl.IntVar(&gap, "merge-gap", receiver.DefaultMergeGap, "corrupt bytes separated by fewer intact bytes than this form one region")
	fl.IntVar(&maxRegions, "max-regions", receiver.DefaultMaxRegions, "regions to detail; later ones are counted only")
	fl.DurationVar(&o.server.HandshakeTimeout, "handshake-timeout", session.DefaultHandshakeTimeout, "drop a connection that has not said hello in this time")
	fl.DurationVar(&o.server.IdleTimeout, "idle-timeout", session.DefaultIdleTimeout, "end a stream whose sender sends nothing for this long (incomplete)")
	fl.DurationVar(&o.server.StreamWait, "stream-wait", session.DefaultStreamWait, "how long a run waits for all its streams to connect")
	return cmd
}

func runRecv(cmd *cobra.Command, o recvOptions) error {
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return runtimeError{err}
	}
	stderr := cmd.ErrOrStderr()
	var mu sync.Mutex // one report at a time on stdout, one line at a time on stderr
	var last error
	o.server.Report = func(r report.Report) {
		mu.Lock()
		defer mu.Unlock()
		if err := writeReport(cmd, r, o.json); err != nil {
			last = err
			var v verdictError
			if !errors.As(err, &v) {
				fmt.Fprintf(stderr, "zerocheck: %v\n", err)
			}
		}
	}
	o.server.Log = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "zerocheck: "+format+"\n", args...)
	}
	s, err := session.NewServer(o.server)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "zerocheck: listening on %s\n", ln.Addr())
	stop := func() {}
	if !o.quiet {
		stop = startProgress(&lockedWriter{mu: &mu, w: stderr}, 0, 0, s.Progress, true)
	}
	err = s.Serve(cmd.Context(), ln)
	stop()
	if err != nil {
		return runtimeError{fmt.Errorf("accepting connections: %w", err)}
	}
	if o.server.Once {
		if cmd.Context().Err() != nil && last == nil {
			return verdictError{verdict: report.Incomplete, reason: "interrupted before a run was served"}
		}
		return last
	}
	return nil
}

// lockedWriter shares a writer between the progress printer and the
// report and log lines.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
