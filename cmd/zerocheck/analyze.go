package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/analyze"
	"github.com/zerocheck/zerocheck/report"
)

type analyzeOptions struct {
	paths []string
	top   int
	json  bool
}

func newAnalyze() *cobra.Command {
	var o analyzeOptions
	cmd := &cobra.Command{
		Use:   "analyze PATH...",
		Short: "Correlate corrupt runs with host pairs and host facts across many reports",
		Long: `analyze reads JSON reports (files, or directories walked for *.json) and
prints a pair matrix (sender x receiver, the way the data flowed: runs, bytes
verified, corrupt runs, regions) and, for each host fact (kernel, Xen mode and
version, aesni module, IPsec mode, NIC driver, risk profiles, ...), the
corruption rate per value, sorted by how strongly it separates corrupt runs
from clean ones.

The send and recv reports of one run count as one run. A --bidir run counts in
both rows of its pair: its reverse streams carry data the recv host sent and
the send host verified. A file may hold several reports one after another
(recv --json >file). deploy/ has the reports written to
/var/lib/zerocheck/reports (recv) and /var/lib/zerocheck/sweep (send). Files
that cannot be read or are not reports are named in a warning on stderr and
skipped.

Exit codes: 0 the analysis was printed (even with warnings), 2 usage error,
3 no report could be read.`,
		Example: `  zerocheck analyze /var/lib/zerocheck/reports /var/lib/zerocheck/sweep
  zerocheck analyze --top 50 hostA/sweep/*.json hostB/reports
  zerocheck analyze --json /var/lib/zerocheck/reports /var/lib/zerocheck/sweep | jq '.facts[0]'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.top < 0 {
				return errors.New("--top must be 0 (every row) or more")
			}
			o.paths = args
			validated(cmd)
			return runAnalyze(cmd, o)
		},
	}
	cmd.Flags().IntVar(&o.top, "top", 20, "fact rows to print, strongest separation first (0: all)")
	cmd.Flags().BoolVarP(&o.json, "json", "J", false, "write the analysis as JSON (every row)")
	return cmd
}

func runAnalyze(cmd *cobra.Command, o analyzeOptions) error {
	fl := analyze.Load(o.paths)
	for _, s := range fl.Skipped {
		fmt.Fprintf(cmd.ErrOrStderr(), "zerocheck: warning: skipped %s: %s\n", report.Printable(s.File), report.Printable(s.Reason))
	}
	if fl.Reports == 0 {
		return runtimeError{errors.New("no report could be read")}
	}
	a := analyze.Analyze(fl)
	var err error
	if o.json {
		err = analyze.JSON(cmd.OutOrStdout(), a)
	} else {
		err = analyze.Text(cmd.OutOrStdout(), a, o.top)
	}
	if err != nil {
		return runtimeError{err}
	}
	return nil
}
