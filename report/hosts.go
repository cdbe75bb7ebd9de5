package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/zerocheck/zerocheck/hostinfo"
)

type side struct {
	name string
	f    *hostinfo.Facts
}

func sidesOf(local, peer *hostinfo.Facts) []side {
	sides := []side{{"local", local}}
	if peer != nil {
		sides = append(sides, side{"peer", peer})
	}
	return sides
}

// risksTable writes the risks of the given statuses, in that order, as a
// table, and the description of each match; it says whether there were
// any.
func risksTable(w io.Writer, sides []side, statuses ...string) (bool, error) {
	var rows [][]string
	for _, status := range statuses {
		for _, s := range sides {
			for _, r := range s.f.Risks {
				if r.Status == status {
					rows = append(rows, []string{strings.ToUpper(r.Status), r.Severity, s.name, r.ID, Printable(r.Reason)})
				}
			}
		}
	}
	if len(rows) == 0 {
		return false, nil
	}
	fmt.Fprintln(w, "Known risks")
	if err := WrapTable(w, []string{"status", "severity", "host", "risk", "why"}, rows, 72); err != nil {
		return true, err
	}
	for _, s := range sides {
		for _, r := range s.f.Risks {
			if r.Status == hostinfo.Match {
				fmt.Fprintf(w, "%s %s: %s\n  %s\n  source: %s\n", s.name, r.ID, r.Title, r.Description, r.Source)
			}
		}
	}
	return true, nil
}

// RisksText writes the known risks that match one or two hosts, and one
// line saying what HostsText would add: a run's report shows this much
// by default. peer may be nil.
func RisksText(w io.Writer, local, peer *hostinfo.Facts) error {
	sides := sidesOf(local, peer)
	matched, err := risksTable(w, sides, hostinfo.Match)
	if err != nil {
		return err
	}
	possible, unknown := 0, 0
	for _, s := range sides {
		for _, r := range s.f.Risks {
			if r.Status == hostinfo.Possible {
				possible++
			}
		}
		unknown += len(s.f.Unknown)
	}
	more := "host facts"
	if possible > 0 {
		more += ", " + plural(int64(possible), "possible risk")
	}
	if unknown > 0 {
		more += ", " + plural(int64(unknown), "unknown fact")
	}
	if !matched {
		fmt.Fprintf(w, "Known risks: none match. More with --verbose: %s.\n", more)
	} else {
		fmt.Fprintf(w, "More with --verbose: %s.\n", more)
	}
	return nil
}

// HostsText writes the facts of one or two hosts: known risks first
// (matches before possibles), then the facts side by side, then why each
// unknown fact is unknown. peer may be nil.
func HostsText(w io.Writer, local, peer *hostinfo.Facts) error {
	sides := sidesOf(local, peer)
	listed, err := risksTable(w, sides, hostinfo.Match, hostinfo.Possible)
	if err != nil {
		return err
	}
	if !listed {
		fmt.Fprintln(w, "Known risks: none match")
	}

	header := []string{"fact"}
	cols := make([]map[string]string, len(sides))
	var order []string
	seen := map[string]bool{}
	for i, s := range sides {
		header = append(header, s.name)
		cols[i] = map[string]string{}
		for _, fl := range s.f.Fields() {
			if !seen[fl.Path] {
				seen[fl.Path] = true
				order = append(order, fl.Path)
			}
			cols[i][fl.Path] = Printable(fl.Value)
		}
	}
	var rows [][]string
	for _, p := range order {
		row := []string{p}
		for i := range sides {
			v, ok := cols[i][p]
			if !ok {
				v = "-"
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	fmt.Fprintln(w, "\nHost facts")
	if err := WrapTable(w, header, rows, 56); err != nil {
		return err
	}

	for _, s := range sides {
		if len(s.f.Unknown) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nUnknown on %s (%s):\n", s.name, Printable(s.f.Hostname))
		for _, k := range slices.Sorted(maps.Keys(s.f.Unknown)) {
			fmt.Fprintf(w, "  %s: %s\n", Printable(k), Printable(s.f.Unknown[k]))
		}
	}
	return nil
}

// Printable quotes a string that holds control characters: facts come
// from files a copied tree may have forged, and a newline or an escape
// sequence must not forge report lines or drive the terminal.
func Printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}
