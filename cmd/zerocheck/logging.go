package main

import (
	"fmt"
	"io"
	"log/slog"
)

// logFlag is --log-format: how a service's log lines are written.
type logFlag struct{ format string }

func (l *logFlag) add(fl interface {
	StringVar(*string, string, string, string)
}) {
	fl.StringVar(&l.format, "log-format", "text", "log lines on stderr as text (key=value) or json, one per session start and end, refusal and failure")
}

// logger returns the logger the flag asks for, writing to w.
func (l *logFlag) logger(w io.Writer) (*slog.Logger, error) {
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", l.format)
}
