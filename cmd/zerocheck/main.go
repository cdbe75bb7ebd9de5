// Command zerocheck proves whether a network path delivers every byte
// intact: it streams a known pattern, verifies every byte at its offset,
// and locates and classifies any corruption.
//
// This package is flag parsing and wiring only; the work is done by
// packages pattern, sender, receiver and report.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/zerocheck/zerocheck/report"
)

// Exit codes, documented in the README. main is the only caller of
// os.Exit; everything else returns errors that codeOf maps.
const (
	exitClean      = 0 // verified, no corruption
	exitCorrupt    = 1 // corruption found
	exitUsage      = 2 // bad flags, arguments or configuration; the two ends' patterns differ (verdict mismatch)
	exitIncomplete = 3 // the run could not complete: I/O or network error, short stream, interrupted
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	code := codeOf(err)
	var v verdictError
	isVerdict := errors.As(err, &v)
	var ce configError
	isConfig := errors.As(err, &ce)
	if code == exitUsage && !isVerdict && !isConfig && cmd != nil && cmd != root && cmd.SilenceUsage {
		// Past validation every failure is the run's, not the user's.
		code = exitIncomplete
	}
	var said saidError
	switch {
	case err == nil:
	case isVerdict && v.verdict == report.Corrupt:
		// The report said it all.
	case errors.As(err, &said):
	default:
		fmt.Fprintf(stderr, "zerocheck: %v\n", err)
	}
	if code == exitUsage && !isVerdict && !isConfig && cmd != nil {
		// One line, not the help text: the help would bury the error
		// that says what to fix. Stderr: stdout carries gen's stream and
		// --json reports.
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// verdictError ends a command whose run finished but was not clean.
type verdictError struct {
	verdict report.Verdict
	reason  string
}

func (e verdictError) Error() string {
	if e.reason != "" {
		return fmt.Sprintf("%s: %s", e.verdict, e.reason)
	}
	return string(e.verdict)
}

// runtimeError marks a failure after the flags were accepted: the run
// could not complete.
type runtimeError struct{ err error }

func (e runtimeError) Error() string { return e.err.Error() }
func (e runtimeError) Unwrap() error { return e.err }

// configError is a configuration error the command line itself does not
// show, found when a command starts (a token file others can read, a
// report directory it cannot write, a host name that does not exist):
// exit 2, which a supervisor must not retry (the systemd units'
// RestartPreventExitStatus=2), and no usage text, which would bury the
// one line that says what to fix.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// verdictErr returns the error a command returns for a report.
func verdictErr(r report.Report) error {
	switch r.Verdict {
	case report.Clean:
		return nil
	case report.Mismatch:
		return verdictError{verdict: r.Verdict, reason: report.MismatchText(r)}
	}
	return verdictError{verdict: r.Verdict, reason: r.Error}
}

// codeOf maps a command's error to the process exit code. Anything not
// marked as a verdict or a runtime failure is a usage error: cobra's flag
// and argument errors and our options validation.
func codeOf(err error) int {
	var v verdictError
	var rt runtimeError
	switch {
	case err == nil:
		return exitClean
	case errors.As(err, &v):
		switch v.verdict {
		case report.Corrupt:
			return exitCorrupt
		case report.Mismatch:
			// The ends were set up differently: a configuration error.
			return exitUsage
		}
		return exitIncomplete
	case errors.As(err, &rt):
		return exitIncomplete
	default:
		return exitUsage
	}
}
