package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/session"
	"github.com/zerocheck/zerocheck/wire"
)

// defaultMinRate is recv's --min-rate: far below any link worth testing,
// far above a connection kept alive a byte at a time.
const defaultMinRate = 1_000_000

type recvOptions struct {
	listen string
	health string
	server session.ServerOptions
	sinks  *sinks
	log    logFlag
	json   bool
	quiet  bool
}

func newRecv() *cobra.Command {
	var o recvOptions
	var pf patternFlags
	var gap, maxRegions int
	var noHost bool
	var rawBytes, maxBytes sizeValue
	resultMemory := sizeValue(session.DefaultResultMemory)
	minRate := rateValue(defaultMinRate)
	var tokenFile string
	var allow allowValue
	var lf logFlag
	sk := &sinks{}
	cmd := &cobra.Command{
		Use:   "recv [flags]",
		Short: "Receive and verify zerocheck streams, one report per run",
		Long: `recv listens for "zerocheck send" and verifies every byte of every stream.
Each run (all the streams of one send) gets its own report, on stdout: text,
or one JSON object per run with --json. The sender gets the same findings
back, so both ends reach the same verdict.

recv serves runs until it is stopped (SIGINT or SIGTERM: runs under way are
cut short and still reported) and then exits 0. With --once it serves one
run and exits with that run's code: 0 clean, 1 corrupt, 3 incomplete. If it
cannot go on serving (its listener or health endpoint fails) it exits 3 at
once, so that a supervisor restarts it.

As a service: --token-file makes every sender prove the shared token
(HMAC challenge-response; the token never crosses the network), --allow
limits the source networks, the --max-* flags bound what any sender can
take, --health serves an HTTP check that runs a real verified session
through this receiver, and --report-dir and --prom-textfile keep every
run's report and metrics.

With --raw there is no protocol: any plain stream is verified against
--pattern, each connection a run of its own, e.g. fed by
"head -c 1G /dev/zero | nc HOST 7777".`,
		Example: `  zerocheck recv
  zerocheck recv --listen 10.0.0.2:7777 --once --json
  zerocheck recv --token-file /etc/zerocheck/token --allow 10.0.0.0/8 \
      --report-dir /var/lib/zerocheck/reports --health 127.0.0.1:7778 --log-format json -q
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
			o.server.Verify = verify.Options{Pattern: p, Seed: seed, MergeGap: gap, MaxRegions: maxRegions, Unannounced: o.server.Raw}
			if err := o.server.Verify.Validate(); err != nil {
				return err
			}
			if o.server.IdleTimeout <= 0 || o.server.HandshakeTimeout <= 0 || o.server.StreamWait <= 0 || o.server.MaxDuration <= 0 {
				return errors.New("timeouts and --max-duration must be positive")
			}
			if o.server.MaxSessions < 1 || o.server.MaxConns < 1 || o.server.MaxConnsPerSource < 1 {
				return errors.New("--max-sessions, --max-conns and --max-conns-per-source must be at least 1")
			}
			o.server.MaxBytes = int64(maxBytes)
			if o.server.ResultMemory, err = session.NewResultMemory(int64(resultMemory)); err != nil {
				return err
			}
			if o.server.MinRateGrace <= 0 {
				return errors.New("--min-rate-grace must be positive")
			}
			o.server.MinRate = int64(minRate)
			o.server.Allow = allow
			if tokenFile != "" {
				if o.server.Raw {
					return errors.New("--token-file needs the protocol: --raw streams have no handshake to prove it in")
				}
				if o.server.Token, err = readToken(tokenFile); err != nil {
					return err
				}
			}
			if o.health != "" && o.server.Raw {
				return errors.New("--health runs a protocol session: it does not work with --raw")
			}
			o.log = lf

			o.sinks = sk
			if !noHost {
				o.server.Host = session.LiveHost
			}
			o.server.Version = versionString()
			validated(cmd)
			// A sink that cannot be written at start is a configuration
			// error (exit 2): a supervisor's restart cannot make a
			// read-only directory writable, a person must.
			if err := sk.open(cmd.ErrOrStderr()); err != nil {
				return configError{err}
			}
			return runRecv(cmd, o)
		},
	}
	pf.add(cmd)
	fl := cmd.Flags()
	o.listen = ":" + defaultPort
	fl.VarP((*listenValue)(&o.listen), "listen", "l", "address to listen on (\":7777\" or \"7777\" is every IPv4 and IPv6 address)")
	fl.BoolVar(&o.server.Once, "once", false, "serve one run, print its report and exit with its code")
	fl.BoolVar(&o.server.Raw, "raw", false, "verify plain streams against --pattern: no handshake, no result message")
	fl.Var(&rawBytes, "bytes", "with --raw: each stream's planned size; a shorter one is incomplete (exit 3)")
	fl.BoolVarP(&o.json, "json", "J", false, "write each report as JSON")
	addVerbose(cmd)
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "no progress on stderr")
	fl.BoolVar(&noHost, "no-hostinfo", false, "do not collect or send this host's facts")
	fl.IntVar(&gap, "merge-gap", verify.DefaultMergeGap, "corrupt bytes separated by fewer intact bytes than this form one region")
	fl.IntVar(&maxRegions, "max-regions", verify.DefaultMaxRegions, "regions to detail; later ones are counted only")
	durationVarP(fl, &o.server.HandshakeTimeout, "handshake-timeout", "", session.DefaultHandshakeTimeout, "drop a connection that has not completed its handshake in this time")
	durationVarP(fl, &o.server.IdleTimeout, "idle-timeout", "", session.DefaultIdleTimeout, "end a stream whose sender sends nothing for this long (incomplete)")
	durationVarP(fl, &o.server.StreamWait, "stream-wait", "", session.DefaultStreamWait, "how long a run waits for all its streams to connect")
	fl.StringVar(&tokenFile, "token-file", "", "file holding the shared token every sender must prove (16 to 4096 bytes; keep it mode 0600)")
	fl.Var(&allow, "allow", "serve only these source networks, e.g. 10.0.0.0/8,fd00::/8 (the receiver's own health check always is)")
	fl.IntVar(&o.server.MaxSessions, "max-sessions", session.DefaultMaxSessions, "runs served at once; more are refused as busy")
	fl.IntVar(&o.server.MaxConns, "max-conns", session.DefaultMaxConns, "connections open at once, from all sources")
	fl.IntVar(&o.server.MaxConnsPerSource, "max-conns-per-source", session.DefaultMaxConnsPerSource, "connections open at once from one address")
	fl.Var(&maxBytes, "max-bytes", "bytes one run may send (e.g. 1TiB); 0: no bound")
	durationVarP(fl, &o.server.MaxDuration, "max-duration", "", session.DefaultMaxDuration, "time one run may take")
	fl.Var(&resultMemory, "max-result-memory", "memory the senders' results of --bidir streams may take at once (e.g. 256MiB); past it they wait their turn, or are refused")
	fl.Var(&minRate, "min-rate", "cut a run whose streams move less than this, in bits per second over 10 s (e.g. 100k), so that runs that trickle cannot hold every session slot; 0: no floor")
	durationVarP(fl, &o.server.MinRateGrace, "min-rate-grace", "", session.DefaultMinRateGrace, "how long a run has to reach --min-rate")
	fl.Var((*listenValue)(&o.health), "health", "serve GET /healthz on this address (e.g. 127.0.0.1:7778): 200 only after a real verified session through this receiver")
	lf.add(fl)
	sk.add(cmd)
	return cmd
}

// allowValue is --allow: networks, checked as they are parsed. Repeated
// flags add up.
type allowValue []netip.Prefix

func (a *allowValue) String() string {
	s := make([]string, len(*a))
	for i, p := range *a {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (a *allowValue) Type() string { return "cidrs" }

func (a *allowValue) Set(v string) error {
	ps, err := session.ParseAllow(strings.Split(v, ","))
	if err != nil {
		return err
	}
	*a = append(*a, ps...)
	return nil
}

// readToken reads a token file.
func readToken(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	defer f.Close()
	if err := tokenPrivate(path, f); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	t, err := wire.ParseToken(b)
	if err != nil {
		return nil, fmt.Errorf("--token-file %s: %w", path, err)
	}
	return t, nil
}

// tokenPrivate refuses a token file others can read, as ssh refuses
// such a private key: a token anyone on the host can read lets anyone run
// sessions against every receiver of the fleet. Readable by others is
// always refused; readable by the group only when this process owns the
// file (it needs no group to read it). A file of another owner shared by
// group, root:zerocheck 0440 or the Kubernetes Secret mount (root:fsGroup
// 0440), is how a service account is given a token, and is accepted.
func tokenPrivate(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	perm := fi.Mode().Perm()
	open := perm&0o007 != 0
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == os.Getuid() {
		open = perm&0o077 != 0
	}
	if open {
		return configError{fmt.Errorf("--token-file %s: permissions %04o are too open: anyone who can read the token can run sessions; chmod 600 %s", path, perm, path)}
	}
	return nil
}

func runRecv(cmd *cobra.Command, o recvOptions) error {
	// A failure of anything the service needs (the listener, the health
	// endpoint) cancels this context with its cause and ends the process
	// with exit 3: a supervisor restarts a dead receiver, not a
	// half-alive one.
	ctx, fail := context.WithCancelCause(cmd.Context())
	defer fail(nil)
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return runtimeError{err}
	}
	// Log lines and progress lines share stderr, a line at a time;
	// reports go to stdout, a report at a time.
	stderr := &lockedWriter{mu: new(sync.Mutex), w: cmd.ErrOrStderr()}
	log := o.log.logger(stderr)
	o.server.Logger = log
	var mu sync.Mutex
	var last error
	reported := false
	o.server.Report = func(r report.Report) {
		mu.Lock()
		defer mu.Unlock()
		reported = true
		var lost error
		for _, err := range o.sinks.write(r) {
			log.Error("run not recorded", "run_id", r.RunID, "error", err.Error())
			lost = cmp.Or(lost, error(runtimeError{err}))
		}
		err := writeReport(cmd, r, o.json)
		if err != nil {
			var v verdictError
			if !errors.As(err, &v) {
				log.Error("report not written", "run_id", r.RunID, "error", err.Error())
			}
		}
		// A report that was not kept fails --once as it fails send
		// (exit 3), unless the run was corrupt: that verdict stands.
		last = worse(err, lost)
	}
	s, err := session.NewServer(o.server)
	if err != nil {
		ln.Close()
		return err
	}
	var hs *http.Server
	if o.health != "" {
		hl, err := net.Listen("tcp", o.health)
		if err != nil {
			ln.Close()
			return runtimeError{fmt.Errorf("--health: %w", err)}
		}
		mux := http.NewServeMux()
		h := s.HealthHandler(5*time.Second, o.sinks.healthy)
		mux.Handle("/healthz", h)
		mux.Handle("/", h)
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: time.Minute, IdleTimeout: time.Minute,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() {
			// net/http recovers a handler's panic; one in Serve itself
			// fails the endpoint (exit 3), not the process (Go's exit 2).
			defer func() {
				if v := recover(); v != nil {
					log.Error("internal error in the health endpoint", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					fail(fmt.Errorf("health endpoint on %s: internal error: %v", hl.Addr(), v))
				}
			}()
			if err := hs.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("health endpoint on %s failed: %w", hl.Addr(), err))
			}
		}()
		log.Info("health endpoint", "addr", hl.Addr().String())
	}
	// allow stays a list: a JSON array in a JSON log.
	allow := make([]string, len(o.server.Allow))
	for i, p := range o.server.Allow {
		allow[i] = p.String()
	}
	log.Info("listening", "addr", ln.Addr().String(), "token", o.server.Token != nil,
		"allow", allow, "version", o.server.Version)
	stop := func() {}
	if !o.quiet && o.log.format == "text" {
		// Progress is for people; a JSON log is for machines.
		stop = startProgress(stderr, 0, 0, s.Progress, true)
	}
	err = s.Serve(ctx, ln)
	stop()
	why := "a signal"
	switch cause := context.Cause(ctx); {
	case err != nil:
		why = err.Error()
	case cmd.Context().Err() == nil && cause != nil:
		why = cause.Error()
	case cmd.Context().Err() == nil && s.Unserved() != nil:
		why = s.Unserved().Error()
	case cmd.Context().Err() == nil:
		why = "its one run was served (--once)"
	}
	log.Info("stopped", "by", why)
	if hs != nil {
		hs.Close()
	}
	if err != nil {
		return runtimeError{fmt.Errorf("accepting connections: %w", err)}
	}
	if cause := context.Cause(ctx); cmd.Context().Err() == nil && cause != nil {
		return runtimeError{cause}
	}
	if o.server.Once {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case reported:
			return last
		case s.Unserved() != nil:
			return verdictError{verdict: report.Incomplete, reason: s.Unserved().Error()}
		case cmd.Context().Err() != nil:
			return verdictError{verdict: report.Incomplete, reason: "interrupted before a run was served"}
		}
		// Served, but lost to an internal error (logged): not clean.
		return verdictError{verdict: report.Incomplete, reason: "the run ended without a report (see the log)"}
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
