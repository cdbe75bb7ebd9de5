package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "zerocheck",
		Short: "Prove that a network path delivers every byte intact",
		Long: `zerocheck streams a known pattern, verifies every byte at its stream offset,
and locates and classifies any corruption: 16-byte block corruption (the
AES-NI/IPsec signature), bit flips, zeroing, displaced data.

Exit codes: 0 clean, 1 corruption found, 2 usage or configuration error,
3 run incomplete.`,
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
	// cobra suggests commands within 2 edits or by prefix; these are the
	// words people type for recv and send that are further away.
	for _, c := range root.Commands() {
		switch c.Name() {
		case "recv":
			c.SuggestFor = []string{"receive", "recieve", "receiver", "server", "listen"}
		case "send":
			c.SuggestFor = []string{"sender", "client", "transmit"}
		}
	}
	// Inherited by every subcommand: cobra suggests commands, not flags.
	root.SetFlagErrorFunc(suggestFlag)
	return root
}

// suggestFlag adds "did you mean --X?" to an unknown flag's error when
// the command has a flag within two edits of it, or one it starts: the
// suggestion cobra gives for commands. A long flag typed with one dash
// (-bytes, which pflag reads as -b) gets its two-dash spelling.
func suggestFlag(cmd *cobra.Command, err error) error {
	msg := err.Error()
	var typed string
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		typed = strings.TrimPrefix(msg, "unknown flag: --")
		typed, _, _ = strings.Cut(typed, "=")
	case strings.HasPrefix(msg, "unknown shorthand flag: "):
		// unknown shorthand flag: 'b' in -bytes
		_, word, ok := strings.Cut(msg, " in -")
		if !ok || len(word) < 2 {
			return err
		}
		typed, _, _ = strings.Cut(word, "=")
	default:
		return err
	}
	best, bestDist := "", 3
	visit := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := levenshtein(strings.ToLower(typed), f.Name)
		if strings.HasPrefix(f.Name, strings.ToLower(typed)) && len(typed) >= 3 {
			d = min(d, 1)
		}
		if d < bestDist || d == bestDist && f.Name < best {
			best, bestDist = f.Name, d
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	if best == "" {
		return err
	}
	return fmt.Errorf("%w (did you mean --%s?)", err, best)
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// validated marks the point where a command's flags have become a valid
// options struct: from here on an error is a runtime failure (exit 3) and
// run prints no usage for it. The root's SilenceUsage already keeps cobra
// from printing usage itself; a subcommand's marks this point.
func validated(cmd *cobra.Command) { cmd.SilenceUsage = true }
