package main

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/sender/stream"
)

type genOptions struct {
	pattern pattern.Pattern
	bytes   int64 // < 0: until the reader goes away
	offset  int64
}

func newGen() *cobra.Command {
	var pf patternFlags
	var n, off sizeValue = -1, 0
	cmd := &cobra.Command{
		Use:   "gen [flags]",
		Short: "Write a pattern to stdout (pipe it into nc)",
		Example: `  zerocheck gen --bytes 1G | nc -N hostB 8080
  zerocheck gen --pattern counter --offset 4096 --bytes 64KiB | xxd | head`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, _, err := pf.parse()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("bytes") && n < 0 {
				return errors.New("--bytes must not be negative")
			}
			validated(cmd)
			return runGen(cmd, genOptions{pattern: p, bytes: int64(n), offset: int64(off)})
		},
	}
	pf.add(cmd)
	cmd.Flags().Var(&n, "bytes", "bytes to write (default: until stdout is closed)")
	cmd.Flags().Var(&off, "offset", "pattern offset of the first byte")
	return cmd
}

func runGen(cmd *cobra.Command, o genOptions) error {
	// A reader that stops early (head, a closed nc) is the normal end of
	// an endless gen, as for yes(1): take EPIPE as an error to return, not
	// a signal that kills the process.
	signal.Ignore(syscall.SIGPIPE)
	sent, err := stream.Write(cmd.Context(), cmd.OutOrStdout(), o.pattern, o.offset, o.bytes)
	switch {
	case err == nil:
		return nil
	case o.bytes < 0 && (errors.Is(err, syscall.EPIPE) || errors.Is(err, context.Canceled)):
		// An endless gen ends when its reader goes or it is told to stop.
		return nil
	case errors.Is(err, context.Canceled):
		return runtimeError{fmt.Errorf("interrupted after %d of %d bytes", sent, o.bytes)}
	default:
		return runtimeError{err}
	}
}
