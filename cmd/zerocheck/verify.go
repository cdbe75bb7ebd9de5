package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
)

type verifyOptions struct {
	receiver verify.Options
	bytes    int64 // expected size; 0: whatever arrives
	input    string
	json     bool
}

func newVerify() *cobra.Command {
	var pf patternFlags
	var o verifyOptions
	var n, off sizeValue
	var gap, maxRegions int
	cmd := &cobra.Command{
		Use:   "verify [flags] [FILE|-]",
		Short: "Verify a stream from stdin or a file against a pattern",
		Long: `verify checks every byte of its input against the pattern at its offset and
reports each corrupt region: offset, length, 16-byte grid and phase, repeats,
kind. It replaces "nc -l 8080 | xxd -a" with a verdict and an exit code.`,
		Example: `  nc -l 8080 | zerocheck verify --pattern zeros
  zerocheck verify --pattern counter --bytes 1GiB --json capture.bin`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, seed, err := pf.parse()
			if err != nil {
				return err
			}
			if gap < 1 || maxRegions < 1 {
				return errors.New("--merge-gap and --max-regions must be at least 1")
			}
			o.receiver = verify.Options{Pattern: p, Seed: seed, MergeGap: gap, MaxRegions: maxRegions, Offset: int64(off), Unannounced: true}
			if err := o.receiver.Validate(); err != nil {
				return err
			}
			o.bytes = int64(n)
			o.input = "-"
			if len(args) == 1 {
				o.input = args[0]
			}
			validated(cmd)
			return runVerify(cmd, o)
		},
	}
	pf.add(cmd)
	f := cmd.Flags()
	f.Var(&n, "bytes", "expected stream size: stop there, and report a shorter stream as incomplete (exit 3)")
	f.Var(&off, "offset", "pattern offset of the first byte (as given to gen --offset)")
	f.IntVar(&gap, "merge-gap", verify.DefaultMergeGap, "corrupt bytes separated by fewer intact bytes than this form one region")
	f.IntVar(&maxRegions, "max-regions", verify.DefaultMaxRegions, "regions to detail; later ones are counted only")
	f.BoolVarP(&o.json, "json", "J", false, "write the report as JSON")
	addVerbose(cmd)
	// verify prints no progress to silence; -q is taken so that one
	// habit (and one script's flags) works for verify, send and recv.
	f.BoolVarP(new(bool), "quiet", "q", false, "no progress on stderr (verify prints none; as send and recv take it)")
	return cmd
}

func runVerify(cmd *cobra.Command, o verifyOptions) error {
	in := cmd.InOrStdin()
	if o.input != "-" {
		f, err := os.Open(o.input)
		if err != nil {
			return runtimeError{err}
		}
		defer f.Close()
		in = f
	}
	v, err := verify.New(o.receiver)
	if err != nil {
		return err
	}
	host := hostinfo.Start(hostinfo.Options{})
	runErr := verify.Consume(cmd.Context(), in, v, o.bytes)
	rep := v.Result(runErr)
	rep.Hosts.Local = host.Finish()
	rep.Version = versionString()
	rep.BytesExpected = o.bytes
	return writeReport(cmd, rep, o.json)
}

// writeReport writes a run's report to stdout and returns the error that
// carries its verdict. A report that cannot be written still has a
// verdict: corruption found stays exit 1 (a cron job on a full disk must
// not miss it), and the write failure goes to stderr.
func writeReport(cmd *cobra.Command, r report.Report, asJSON bool) error {
	var err error
	if asJSON {
		err = report.JSON(cmd.OutOrStdout(), r)
	} else {
		// Every command that writes a text report has --verbose.
		verbose, _ := cmd.Flags().GetBool("verbose")
		err = report.WriteText(cmd.OutOrStdout(), r, report.TextOptions{Verbose: verbose})
	}
	if err == nil || r.Verdict == report.Corrupt {
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "zerocheck: writing the report: %v\n", err)
			fmt.Fprintln(cmd.ErrOrStderr(), report.Headline(r))
		}
		return verdictErr(r)
	}
	return runtimeError{fmt.Errorf("writing the report: %w", err)}
}

// addVerbose adds --verbose to a command that writes text reports.
func addVerbose(cmd *cobra.Command) {
	cmd.Flags().BoolP("verbose", "v", false, "text report: add host facts, possible risks, unknown facts, every stream and every region's dump (--json always has them)")
}
