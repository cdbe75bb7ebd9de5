package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/session"
)

type loopbackOptions struct {
	client session.ClientOptions
	json   bool
	quiet  bool
}

func newLoopback() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "loopback [flags]",
		Short: "Send a pattern to yourself over TCP on 127.0.0.1 and verify it: a self-test of this host",
		Long: `loopback runs a receiver and a sender in one process, joined by TCP on
127.0.0.1, with the same protocol, streams and checks as send and recv. It
tests this host's own send and receive paths (and zerocheck itself) before
you test a pair of hosts.`,
		Example: `  zerocheck loopback
  zerocheck loopback --pattern random --streams 4 --bytes 4GiB --json
  zerocheck loopback --bidir --duration 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := loopbackOptions{json: f.json, quiet: f.quiet}
			var err error
			if o.client, err = f.client(cmd, "127.0.0.1:0"); err != nil {
				return err
			}
			if _, err := session.NewClient(o.client); err != nil {
				return err
			}
			validated(cmd)
			return runLoopback(cmd, o)
		},
	}
	f.add(cmd)
	return cmd
}

func runLoopback(cmd *cobra.Command, o loopbackOptions) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return runtimeError{err}
	}
	got := make(chan report.Report, 1)
	s, err := session.NewServer(session.ServerOptions{
		Verify:      o.client.Verify,
		Once:        true,
		IdleTimeout: o.client.IdleTimeout,
		Version:     versionString(),
		Report:      func(r report.Report) { got <- r },
		Logger:      slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("end", "receiver"),
	})
	if err != nil {
		return err
	}
	// The receiver outlives the sender's run: it stops on its own once
	// the run is reported, and is stopped if that does not happen soon
	// after the sender is done (the sender could not reach it at all).
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(cmd.Context()))
	defer stopSrv()
	served := make(chan error, 1)
	go func() { served <- s.Serve(srvCtx, ln) }()

	o.client.Addr = ln.Addr().String()
	c, err := session.NewClient(o.client)
	if err != nil {
		ln.Close()
		return err
	}
	stop := func() {}
	if !o.quiet {
		stop = startProgress(cmd.ErrOrStderr(), o.client.Bytes, o.client.Duration, c.Progress, false)
	}
	rep := c.Run(cmd.Context())
	stop()
	var serr error
	select {
	case serr = <-served:
	case <-time.After(session.DefaultStreamWait):
		stopSrv()
		serr = <-served
	}
	if serr != nil {
		return runtimeError{fmt.Errorf("receiver: %w", serr)}
	}
	select {
	case recv := <-got:
		if recv.Verdict != rep.Verdict && cmd.Context().Err() == nil {
			// Both ends merge the same stream reports: a difference is a
			// bug in zerocheck, and the run proves nothing.
			rep.Error = joinText(rep.Error, fmt.Sprintf("zerocheck bug: the receiver's verdict is %s, the sender's %s", recv.Verdict, rep.Verdict))
			rep.SetVerdict()
		}
	default: // the sender never reached it: its report says why
	}
	rep.Role = "loopback"
	// Both ends are this host.
	rep.Hosts.Peer = rep.Hosts.Local
	return writeReport(cmd, rep, o.json)
}

func joinText(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
