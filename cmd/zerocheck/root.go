package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "zerocheck",
		Short: "Prove that a network path delivers every byte intact",
		Long: `zerocheck streams a known pattern, verifies every byte at its stream offset,
and locates and classifies any corruption: 16-byte block corruption (the
AES-NI/IPsec signature), bit flips, zeroing, displaced data.

Exit codes: 0 clean, 1 corruption found, 2 usage error, 3 run incomplete.`,
		Version: versionString(),
		// run prints errors, and usage for usage errors, to stderr: cobra
		// would print usage to the same writer as --help, stdout.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newGen(), newVerify(), newSend(), newRecv(), newLoopback(), newRelay(), newHostinfo())
	root.AddCommand(newAnalyze())
	return root
}

// validated marks the point where a command's flags have become a valid
// options struct: from here on an error is a runtime failure (exit 3) and
// run prints no usage for it. The root's SilenceUsage already keeps cobra
// from printing usage itself; a subcommand's marks this point.
func validated(cmd *cobra.Command) { cmd.SilenceUsage = true }
