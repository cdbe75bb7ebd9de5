package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

// logFlag is --log-format: how a service's log lines are written. It is
// checked as it is parsed, so that a typo fails at once (and in the
// deploy files' test), not at start.
type logFlag struct{ format string }

func (l *logFlag) String() string { return l.format }
func (l *logFlag) Type() string   { return "text|json" }

func (l *logFlag) Set(v string) error {
	if v != "text" && v != "json" {
		return fmt.Errorf("want text or json")
	}
	l.format = v
	return nil
}

func (l *logFlag) add(fl *pflag.FlagSet) {
	l.addFor(fl, "one per session start and end, refusal and failure")
}

// addFor adds the flag to a command whose log lines are what.
func (l *logFlag) addFor(fl *pflag.FlagSet, what string) {
	l.format = "text"
	fl.Var(l, "log-format", "log lines on stderr as text (key=value) or json, "+what)
}

// logger returns the logger the flag asks for, writing to w.
func (l *logFlag) logger(w io.Writer) *slog.Logger {
	if l.format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
