package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/session"
)

// defaultPort is where recv listens and send dials when no port is given.
const defaultPort = "7777"

type sendOptions struct {
	client session.ClientOptions
	// peers are the receivers of a sweep, in order; client.Addr is set
	// from each in turn.
	peers []string
	sinks *sinks
	json  bool
	quiet bool
	log   *slog.Logger
}

func newSend() *cobra.Command {
	var f runFlags
	var raw bool
	var bind, peersFile, tokenFile string
	resultMemory := sizeValue(session.DefaultResultMemory)
	var lf logFlag
	sk := &sinks{}
	cmd := &cobra.Command{
		Use:   "send ADDR... [flags]",
		Short: "Stream a pattern to zerocheck receivers and report what they verified",
		Long: `send streams a pattern to "zerocheck recv" on ADDR (host or host:port, port
7777 by default). The receiver verifies every byte and answers with its
findings, so this end's report and exit code show the receiver's regions and
both hosts' facts.

Several ADDRs, or --peers FILE (one ADDR per line, # comments), make a
burn-in sweep: one run against each peer in turn, one report each (with
--json, one JSON object per run, one after another), and the exit code of
the worst of them:
1 if any run found corruption, else 3 if any was incomplete, else 0.

With --raw there is no handshake and no result: the bare pattern goes to
any listener, e.g. "nc -l 7777 | xxd -a", and send reports only what it sent.`,
		Example: `  zerocheck send hostB
  zerocheck send hostB:7777 --pattern random --streams 4 --duration 60s
  zerocheck send hostB --bidir --bytes 100GiB --rate 2G --json
  zerocheck send --peers /etc/zerocheck/peers --token-file /etc/zerocheck/token \
      --duration 5m --report-dir /var/lib/zerocheck/reports -q
  zerocheck send --raw --pattern zeros --bytes 1GiB 127.0.0.1:8080`,
		RunE: func(cmd *cobra.Command, args []string) error {
			peers := append([]string(nil), args...)
			if peersFile != "" {
				fromFile, err := readPeers(peersFile)
				if err != nil {
					return err
				}
				peers = append(peers, fromFile...)
			}
			if len(peers) == 0 {
				return errors.New("no receiver: give ADDR arguments or --peers FILE")
			}
			for i, p := range peers {
				if strings.Trim(p, "0123456789") == "" {
					// nc's "HOST PORT": the port would become a peer.
					host := "HOST"
					if i > 0 && i < len(args) {
						host = args[i-1]
					}
					return fmt.Errorf("peer %q is a port, not a host: send takes HOST:PORT (%s), not nc's HOST PORT", p, net.JoinHostPort(host, p))
				}
				addr, err := withPort(p)
				if err != nil {
					return fmt.Errorf("peer %q: %w", p, err)
				}
				peers[i] = addr
			}
			o := sendOptions{peers: peers, json: f.json, quiet: f.quiet, sinks: sk, log: lf.logger(cmd.ErrOrStderr())}
			var err error
			if o.client, err = f.client(cmd, peers[0]); err != nil {
				return err
			}
			o.client.Raw = raw
			o.client.Bind = bind
			switch {
			case raw && f.bidir:
				return errors.New("--raw and --bidir exclude each other: a raw receiver sends nothing back")
			case raw && f.reverse:
				return errors.New("--raw and --reverse exclude each other: a raw receiver sends nothing back")
			case raw && f.json:
				return errors.New("--raw sends no report to write as JSON: the receiver has the verdict")
			case raw && len(peers) > 1:
				return errors.New("--raw sends to one ADDR: a sweep needs the receivers' reports")
			case raw && (tokenFile != "" || sk.dir != "" || sk.promPath != ""):
				return errors.New("--raw has no handshake and no report: --token-file, --report-dir and --prom-textfile need the protocol")
			}
			if tokenFile != "" {
				if o.client.Token, err = readToken(tokenFile); err != nil {
					return err
				}
			}
			if o.client.ResultMemory, err = session.NewResultMemory(int64(resultMemory)); err != nil {
				return err
			}
			if _, err := session.NewClient(o.client); err != nil {
				return err
			}
			if err := checkNames(cmd.Context(), peers); err != nil {
				return err
			}

			validated(cmd)
			// A sink that cannot be written at start is a configuration
			// error (exit 2): a supervisor's restart cannot make a
			// read-only directory writable, a person must.
			if err := sk.open(cmd.ErrOrStderr()); err != nil {
				return configError{err}
			}
			return runSend(cmd, o)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&raw, "raw", false, "send the bare pattern: no handshake, no result (for nc or recv --raw)")
	cmd.Flags().StringVar(&bind, "bind", "", "local address to send from, e.g. 10.0.0.5 or 10.0.0.5:0")
	cmd.Flags().StringVar(&peersFile, "peers", "", "file of receivers to sweep, one ADDR per line (# comments)")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the receivers' shared token")
	cmd.Flags().Var(&resultMemory, "max-result-memory", "memory the receivers' results may take at once (e.g. 256MiB); past it they wait their turn, or are refused")
	sk.add(cmd)
	lf.addFor(cmd.Flags(), "for what is not a report: a run's report not recorded, a sweep interrupted")
	return cmd
}

// readPeers reads a --peers file.
func readPeers(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--peers: %w", err)
	}
	peers, err := parsePeers(b)
	if err != nil {
		return nil, fmt.Errorf("--peers %s: %w", path, err)
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("--peers %s: no peers in the file", path)
	}
	return peers, nil
}

// parsePeers parses a peers file: one ADDR per line; blank lines and
// everything from a # are ignored.
func parsePeers(b []byte) ([]string, error) {
	var peers []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		switch len(fields) {
		case 0:
			continue
		case 1:
			peers = append(peers, fields[0])
		default:
			return nil, fmt.Errorf("line %d: %q: want one ADDR per line", n, strings.TrimSpace(line))
		}
	}
	return peers, sc.Err()
}

// checkNames refuses peers whose host names do not exist. A name the DNS
// answers "no such host" for (NXDOMAIN, or no such entry in
// /etc/hosts) is a mistake in the command line or the peers file, which
// no retry fixes: exit 2, naming every such peer. A lookup that fails
// otherwise (no answer, a server failure) may pass: the run then fails
// as a network failure (exit 3), as a refused connection does.
func checkNames(ctx context.Context, peers []string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var missing []string
	for _, p := range peers {
		host, _, err := net.SplitHostPort(p)
		if err != nil {
			continue
		}
		if _, err := netip.ParseAddr(host); err == nil {
			continue
		}
		var dnsErr *net.DNSError
		if _, err := net.DefaultResolver.LookupHost(ctx, host); errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			missing = append(missing, host)
		}
	}
	if len(missing) > 0 {
		return configError{fmt.Errorf("no such host: %s (a name that does not exist: check its spelling)", strings.Join(missing, ", "))}
	}
	return nil
}

// withPort adds the default port to an address without one.
func withPort(addr string) (string, error) {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]") // [::1] alone
	if host == "" {
		return "", errors.New("empty address")
	}
	return net.JoinHostPort(host, defaultPort), nil
}

func runSend(cmd *cobra.Command, o sendOptions) error {
	if o.client.Raw {
		return runSendRaw(cmd, o)
	}
	stderr := cmd.ErrOrStderr()
	var worst error
	counts := map[report.Verdict]int{}
	var bad []string
	for i, peer := range o.peers {
		if err := cmd.Context().Err(); err != nil {
			o.log.Warn("interrupted", "peers_not_run", len(o.peers)-i, "peers", len(o.peers))
			worst = worse(worst, verdictError{verdict: report.Incomplete, reason: "interrupted"})
			break
		}
		o.client.Addr = peer
		c, err := session.NewClient(o.client)
		if err != nil {
			return err
		}
		stop := func() {}
		if !o.quiet {
			stop = startProgress(stderr, o.client.Bytes, o.client.Duration, c.Progress, false)
		}
		rep := c.Run(cmd.Context())
		stop()
		for _, err := range o.sinks.write(rep) {
			o.log.Error("run not recorded", "run_id", rep.RunID, "peer", peer, "error", err.Error())
			worst = worse(worst, runtimeError{err})
		}
		counts[rep.Verdict]++
		if rep.Verdict != report.Clean {
			bad = append(bad, fmt.Sprintf("%s %s", peer, rep.Verdict))
		}
		worst = worse(worst, writeReport(cmd, rep, o.json))
	}
	if len(o.peers) > 1 {
		line := fmt.Sprintf("zerocheck: sweep of %d peers: %d clean, %d corrupt, %d incomplete",
			len(o.peers), counts[report.Clean], counts[report.Corrupt], counts[report.Incomplete])
		if len(bad) > maxNamed {
			bad = append(bad[:maxNamed], fmt.Sprintf("and %d more", len(bad)-maxNamed))
		}
		if len(bad) > 0 {
			line += " (" + strings.Join(bad, ", ") + ")"
		}
		fmt.Fprintln(stderr, line)
		if worst != nil {
			// The summary names every failing peer; the first one's
			// error after it would read as the sweep's only failure.
			return saidError{worst}
		}
	}
	return worst
}

// maxNamed is how many failing peers a sweep's summary line names; the
// others it counts.
const maxNamed = 10

// saidError is an error whose message the command has already written:
// run exits with its code and prints nothing more.
type saidError struct{ err error }

func (e saidError) Error() string { return e.err.Error() }
func (e saidError) Unwrap() error { return e.err }

// worse returns the error with the worse exit code: corruption beats an
// incomplete run, which beats clean (nil).
func worse(a, b error) error {
	rank := func(err error) int {
		switch codeOf(err) {
		case exitCorrupt:
			return 2
		case exitClean:
			return 0
		}
		return 1
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

func runSendRaw(cmd *cobra.Command, o sendOptions) error {
	c, err := session.NewClient(o.client)
	if err != nil {
		return err
	}
	stop := func() {}
	if !o.quiet {
		stop = startProgress(cmd.ErrOrStderr(), o.client.Bytes, o.client.Duration, c.Progress, false)
	}
	start := time.Now()
	n, err := c.RunRaw(cmd.Context())
	stop()
	secs := time.Since(start).Seconds()
	fmt.Fprintf(cmd.ErrOrStderr(), "zerocheck: sent %d bytes of pattern %s to %s in %.3fs (%s); raw mode: the receiver has the verdict\n",
		n, o.client.Pattern, o.client.Addr, secs, shortRate(float64(n)*8/max(secs, 1e-9)))
	if err != nil {
		return runtimeError{err}
	}
	return nil
}
