package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/receiver"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/sender"
)

type loopbackOptions struct {
	receiver receiver.Options
	bytes    int64 // 0: send for duration
	duration time.Duration
	json     bool
}

func newLoopback() *cobra.Command {
	var pf patternFlags
	var o loopbackOptions
	var n sizeValue
	cmd := &cobra.Command{
		Use:   "loopback [flags]",
		Short: "Send a pattern to yourself over TCP on 127.0.0.1 and verify it: a self-test of this host",
		Long: `loopback runs a sender and a receiver in one process, joined by a TCP
connection on 127.0.0.1, and verifies every byte. It checks this host's own
send and receive paths (and zerocheck itself) before you test a pair of hosts.`,
		Example: `  zerocheck loopback
  zerocheck loopback --pattern random --bytes 4GiB --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, seed, err := pf.parse()
			if err != nil {
				return err
			}
			o.receiver = receiver.Options{Pattern: p, Seed: seed}
			o.bytes = int64(n)
			if cmd.Flags().Changed("bytes") && cmd.Flags().Changed("duration") {
				return errors.New("--bytes and --duration exclude each other")
			}
			if o.bytes == 0 && o.duration <= 0 {
				return errors.New("--duration must be positive")
			}
			validated(cmd)
			return runLoopback(cmd, o)
		},
	}
	pf.add(cmd)
	cmd.Flags().Var(&n, "bytes", "bytes to send (instead of --duration)")
	cmd.Flags().DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	cmd.Flags().BoolVar(&o.json, "json", false, "write the report as JSON")
	return cmd
}

func runLoopback(cmd *cobra.Command, o loopbackOptions) error {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return runtimeError{err}
	}
	defer ln.Close()
	v, err := receiver.New(o.receiver)
	if err != nil {
		return err
	}

	// The sender runs beside the receiver; its result comes back on a
	// channel, and an interrupt closes the sockets under both.
	host := startHost(hostinfo.Options{Interface: "lo"})
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	type sent struct {
		n   int64
		err error
	}
	sentc := make(chan sent, 1)
	go func() {
		n, err := sendTo(ctx, ln.Addr().String(), o)
		if err != nil {
			cancel()
		}
		sentc <- sent{n, err}
	}()

	conn, err := acceptCtx(ctx, ln)
	var runErr error
	if err != nil {
		runErr = err
	} else {
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		runErr = receiver.Consume(ctx, conn, v, 0)
		stop()
		conn.Close()
	}
	s := <-sentc
	switch {
	case s.err != nil && cmd.Context().Err() == nil:
		runErr = fmt.Errorf("sender: %w", s.err)
	case cmd.Context().Err() != nil:
		runErr = fmt.Errorf("interrupted: %w", context.Cause(cmd.Context()))
	}
	rep := v.Result(runErr)
	if rep.Error == "" && rep.BytesVerified < s.n {
		// The sender wrote more than arrived: only this end knows both.
		rep.Error = (&receiver.ShortError{Got: rep.BytesVerified, Want: s.n}).Error()
		rep.Verdict = report.VerdictOf(rep.CorruptBytes, rep.Error)
	}
	rep.Version = versionString()
	rep.BytesExpected = o.bytes
	// Both ends are this host.
	rep.Hosts.Local = host.finish()
	rep.Hosts.Peer = rep.Hosts.Local
	return writeReport(cmd, rep, o.json)
}

// sendTo connects to addr and sends the pattern for o.bytes or o.duration,
// then half-closes so the receiver sees the end of the stream.
func sendTo(ctx context.Context, addr string, o loopbackOptions) (int64, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	conn := c.(*net.TCPConn)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	n := int64(-1)
	if o.bytes > 0 {
		n = o.bytes
	} else {
		conn.SetWriteDeadline(time.Now().Add(o.duration))
	}
	sent, err := sender.Write(ctx, conn, o.receiver.Pattern, 0, n)
	if o.bytes == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil // the planned end of a timed run
	}
	if err != nil {
		return sent, err
	}
	return sent, conn.CloseWrite()
}

func acceptCtx(ctx context.Context, ln *net.TCPListener) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	return ln.Accept()
}
