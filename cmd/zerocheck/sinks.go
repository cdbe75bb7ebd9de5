package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/internal/atomicfile"
	"github.com/zerocheck/zerocheck/metrics"
	"github.com/zerocheck/zerocheck/report"
)

// sinks keep each finished run beyond stdout: its JSON report in a
// directory and its counts in a Prometheus textfile, both written
// atomically, so that cron, alerting and analyze never read half a file.
type sinks struct {
	dir      string
	promPath string
	prom     *metrics.Textfile

	mu      sync.Mutex
	lastErr error
}

func (s *sinks) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&s.dir, "report-dir", "", "also write each run's JSON report to a file of its own in this directory (atomically)")
	fl.StringVar(&s.promPath, "prom-textfile", "", "keep Prometheus metrics of the runs in this file, for node_exporter's textfile collector (rewritten atomically after each run)")
}

// open checks the sinks before the first run: a typo in a path should
// fail at start, not after a night of runs. What it had to leave out of
// an earlier metrics file goes to warn.
func (s *sinks) open(warn io.Writer) error {
	if s.dir != "" {
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return fmt.Errorf("--report-dir: %w", err)
		}
		if err := probeDir(s.dir); err != nil {
			return fmt.Errorf("--report-dir: %w", err)
		}
		// Leftovers of a writer killed mid-write: never reports.
		atomicfile.CleanTemps(s.dir, time.Hour)
	}
	if s.promPath != "" {
		dir := filepath.Dir(s.promPath)
		if err := probeDir(dir); err != nil {
			return fmt.Errorf("--prom-textfile: %w", err)
		}
		atomicfile.CleanTemps(dir, time.Hour)
		var err error
		s.prom, err = metrics.Open(s.promPath)
		s.prom.SetVersion(versionString())
		switch {
		case errors.Is(err, metrics.ErrForeign):
			// Another program's file: the first run would replace it.
			return fmt.Errorf("--prom-textfile %s: %w; refusing to replace it", s.promPath, err)
		case err != nil:
			fmt.Fprintf(warn, "zerocheck: warning: --prom-textfile: %v\n", err)
		}
	}
	return nil
}

// probeDir fails unless dir is a directory this process can create files
// in, and hard-link them: a report takes its name with a link, which
// never replaces another report (vfat and some network file systems
// have no links).
func probeDir(dir string) error {
	f, err := os.CreateTemp(dir, ".zerocheck-probe-*")
	if err != nil {
		// Not the probe's random name: what the user must fix is dir.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot create files in %s: %w", dir, err)
	}
	f.Close()
	defer os.Remove(f.Name())
	link := f.Name() + "-link"
	if err := os.Link(f.Name(), link); err != nil {
		return fmt.Errorf("%s cannot hold reports: %w", dir, err)
	}
	return os.Remove(link)
}

// write saves r in each sink and returns what failed. A failure is kept
// for healthy until a later write succeeds.
func (s *sinks) write(r report.Report) []error {
	var errs []error
	if s.dir != "" {
		if _, err := report.Save(s.dir, &r); err != nil {
			errs = append(errs, fmt.Errorf("--report-dir: %w", err))
		}
	}
	if s.prom != nil {
		if err := s.prom.Record(r); err != nil {
			errs = append(errs, fmt.Errorf("--prom-textfile: metrics not updated: %w", err))
		}
	}
	s.mu.Lock()
	s.lastErr = nil
	if len(errs) > 0 {
		s.lastErr = errs[0]
	}
	s.mu.Unlock()
	return errs
}

// healthy reports the last write's failure, if it failed: a receiver
// whose reports are lost is not healthy, however well it verifies.
func (s *sinks) healthy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr != nil {
		return fmt.Errorf("the last report was not saved: %w", s.lastErr)
	}
	return nil
}
