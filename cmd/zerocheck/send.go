package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/session"
)

// defaultPort is where recv listens and send dials when no port is given.
const defaultPort = "7777"

type sendOptions struct {
	client session.ClientOptions
	json   bool
	quiet  bool
}

func newSend() *cobra.Command {
	var f runFlags
	var raw bool
	var bind string
	cmd := &cobra.Command{
		Use:   "send ADDR [flags]",
		Short: "Stream a pattern to a zerocheck receiver and report what it verified",
		Long: `send streams a pattern to "zerocheck recv" on ADDR (host or host:port, port
7777 by default). The receiver verifies every byte and answers with its
findings, so this end's report and exit code show the receiver's regions and
both hosts' facts.

With --raw there is no handshake and no result: the bare pattern goes to
any listener, e.g. "nc -l 7777 | xxd -a", and send reports only what it sent.`,
		Example: `  zerocheck send hostB
  zerocheck send hostB:7777 --pattern random --streams 4 --duration 60s
  zerocheck send hostB --bidir --bytes 100GiB --rate 2G --json
  zerocheck send --raw --pattern zeros --bytes 1GiB 127.0.0.1:8080`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := withPort(args[0])
			if err != nil {
				return err
			}
			o := sendOptions{json: f.json, quiet: f.quiet}
			if o.client, err = f.client(cmd, addr); err != nil {
				return err
			}
			o.client.Raw = raw
			o.client.Bind = bind
			if raw && f.bidir {
				return errors.New("--raw and --bidir exclude each other: a raw receiver sends nothing back")
			}
			if raw && f.json {
				return errors.New("--raw sends no report to write as JSON: the receiver has the verdict")
			}
			if _, err := session.NewClient(o.client); err != nil {
				return err
			}
			validated(cmd)
			return runSend(cmd, o)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&raw, "raw", false, "send the bare pattern: no handshake, no result (for nc or recv --raw)")
	cmd.Flags().StringVar(&bind, "bind", "", "local address to send from, e.g. 10.0.0.5 or 10.0.0.5:0")
	return cmd
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
	c, err := session.NewClient(o.client)
	if err != nil {
		return err
	}
	stop := func() {}
	if !o.quiet {
		stop = startProgress(cmd.ErrOrStderr(), o.client.Bytes, o.client.Duration, c.Progress, false)
	}
	if o.client.Raw {
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
	rep := c.Run(cmd.Context())
	stop()
	return writeReport(cmd, rep, o.json)
}
