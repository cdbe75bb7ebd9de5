package main

import (
	"encoding/json"
	"errors"
	"os"

	"github.com/spf13/cobra"
	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
)

type hostinfoOptions struct {
	info hostinfo.Options
	json bool
}

func newHostinfo() *cobra.Command {
	var o hostinfoOptions
	cmd := &cobra.Command{
		Use:   "hostinfo [flags]",
		Short: "Show the host facts that explain corruption, and the known risks they match",
		Long: `hostinfo prints the facts zerocheck attaches to every report: kernel, CPU (as
the kernel and as CPUID see it), virtualization and Xen mode, the kernel's AES
implementation, IPsec state, a network interface's offloads, and the counters
that corroborate corruption, with the known-risk profiles they match.

With --root, facts come from a copied tree (an sosreport, a rescue mount)
instead of this host.`,
		Example: `  zerocheck hostinfo
  zerocheck hostinfo --interface eth0 --json
  zerocheck hostinfo --root /var/tmp/sosreport-hostA`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.info.Root != "" {
				st, err := os.Stat(o.info.Root)
				if err != nil {
					return err
				}
				if !st.IsDir() {
					return errors.New("--root " + o.info.Root + ": not a directory")
				}
			}
			validated(cmd)
			f := hostinfo.Collect(o.info)
			if o.json {
				e := json.NewEncoder(cmd.OutOrStdout())
				e.SetIndent("", "  ")
				if err := e.Encode(f); err != nil {
					return runtimeError{err}
				}
				return nil
			}
			if err := report.HostsText(cmd.OutOrStdout(), f, nil); err != nil {
				return runtimeError{err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.info.Root, "root", "/", "directory standing for / (a copied tree's facts come from the tree alone)")
	cmd.Flags().StringVar(&o.info.Interface, "interface", "", "network interface whose driver, offloads and error counters to show")
	cmd.Flags().BoolVarP(&o.json, "json", "J", false, "write the facts as JSON")
	return cmd
}
