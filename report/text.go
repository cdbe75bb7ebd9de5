package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// mismatchRows caps the region table when the stream is mostly corrupt:
// the peer sent another pattern and a million rows would bury that.
const mismatchRows = 10

// mismatchDump caps the dump of a mismatching stream to a sample.
const mismatchDump = 128

// Text writes r for a person: a headline, a summary table, the regions
// table, blocks repeated across regions, then an xxd-style dump of each
// detailed region with a line of context on each side.
func Text(w io.Writer, r Report) error {
	var b bytes.Buffer
	fmt.Fprintln(&b, Headline(r))
	b.WriteByte('\n')

	rows := [][]string{
		{"verdict", string(r.Verdict)},
	}
	if r.RunID != "" {
		rows = append(rows, []string{"run", r.Role + " " + r.RunID})
	}
	if r.PeerAddr != "" {
		peer := r.PeerAddr
		if r.LocalAddr != "" { // none when no connection was made
			peer += " (from " + r.LocalAddr + ")"
		}
		rows = append(rows, []string{"peer", peer})
	}
	rows = append(rows, [][]string{
		{"pattern", r.Pattern},
		{"seed", fmt.Sprintf("%#x", r.Seed)},
		{"bytes verified", SizeText(r.BytesVerified)},
	}...)
	if r.BytesExpected > 0 {
		rows = append(rows, []string{"bytes expected", SizeText(r.BytesExpected)})
	}
	rows = append(rows,
		[]string{"duration", fmt.Sprintf("%.3fs", r.Seconds)},
		[]string{"throughput", rateText(r.BytesVerified, r.Seconds)},
		[]string{"regions", regionsText(r)},
		[]string{"corrupt bytes", strconv.FormatInt(r.CorruptBytes, 10)},
		[]string{"flipped bits", strconv.FormatInt(r.FlippedBits, 10)},
	)
	if r.Error != "" {
		rows = append(rows, []string{"error", r.Error})
	}
	if r.ControlCorruption != "" {
		rows = append(rows, []string{"control channel", r.ControlCorruption})
	}
	if err := table(&b, nil, rows); err != nil {
		return err
	}

	if len(r.Streams) > 1 {
		b.WriteString("\nStreams\n")
		var rows [][]string
		for _, s := range r.Streams {
			rows = append(rows, []string{strconv.Itoa(s.Stream), s.Direction, string(s.Verdict),
				strconv.FormatInt(s.BytesVerified, 10), rateText(s.BytesVerified, s.Seconds),
				strconv.FormatInt(s.RegionCount, 10), strconv.FormatInt(s.CorruptBytes, 10), s.Error})
		}
		if err := table(&b, []string{"stream", "direction", "verdict", "bytes", "throughput", "regions", "corrupt", "error"}, rows); err != nil {
			return err
		}
	}

	if r.PatternMismatch {
		fmt.Fprintf(&b, "\nMore than half of the bytes differ from pattern %s (seed %#x): the sender most likely used another pattern or seed.\n", r.Pattern, r.Seed)
		if r.LooksLike != "" {
			fmt.Fprintf(&b, "The start of the stream matches pattern %s.\n", r.LooksLike)
		}
	}

	if len(r.Regions) > 0 {
		regions := r.Regions
		if r.PatternMismatch && len(regions) > mismatchRows {
			regions = regions[:mismatchRows]
		}
		b.WriteString("\nRegions\n")
		var rows [][]string
		for _, g := range regions {
			rows = append(rows, regionRow(g))
		}
		if err := table(&b, []string{"#", "stream", "offset", "offset hex", "length", "corrupt", "bits", "kind", "grid", "blocks", "repeat", "source"}, rows); err != nil {
			return err
		}
		if n := int64(len(r.Regions) - len(regions)); n > 0 {
			fmt.Fprintf(&b, "... and %d more detailed regions, left out of this table (the JSON report has them)\n", n)
		}
		if n := r.RegionCount - int64(len(r.Regions)); n > 0 {
			fmt.Fprintf(&b, "... and %d more regions, counted but not detailed (--max-regions %d)\n", n, r.MaxRegions)
		}
	}

	if len(r.RepeatedBlocks) > 0 {
		b.WriteString("\nBlocks repeated across regions (a shared source, e.g. a stale register or buffer)\n")
		var rows [][]string
		for _, rb := range r.RepeatedBlocks {
			rows = append(rows, []string{fmt.Sprintf("%x", []byte(rb.Block)), strconv.Itoa(rb.Count), joinInts(rb.Regions)})
		}
		if err := table(&b, []string{"block", "count", "regions"}, rows); err != nil {
			return err
		}
	}

	if r.Hosts.Local != nil || r.Hosts.Peer != nil {
		b.WriteByte('\n')
		local, peer := r.Hosts.Local, r.Hosts.Peer
		if local == nil || peer == local {
			// One host to show: the peer alone, or both ends being this
			// host (loopback).
			local, peer = cmp.Or(local, peer), nil
		}
		if err := HostsText(&b, local, peer); err != nil {
			return err
		}
	}

	dumps := r.Regions
	if r.PatternMismatch && len(dumps) > 1 {
		dumps = dumps[:1]
	}
	sideBySide := r.Pattern != "zeros"
	for _, g := range dumps {
		fmt.Fprintf(&b, "\nRegion %d: %s\n", g.Index, regionTitle(g))
		if r.PatternMismatch && len(g.Actual) > mismatchDump {
			// A sample shows what arrived; the whole capture says no more.
			g.Actual, g.Expected = g.Actual[:mismatchDump], g.Expected[:mismatchDump]
			fmt.Fprintf(&b, "(first %d bytes)\n", mismatchDump)
		}
		Dump(&b, g, sideBySide)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Headline is the one-line verdict, also used in logs.
func Headline(r Report) string {
	switch r.Verdict {
	case Clean:
		return fmt.Sprintf("zerocheck: CLEAN: %s verified against pattern %s, no corrupt bytes", SizeText(r.BytesVerified), r.Pattern)
	case Corrupt:
		if r.CorruptBytes == 0 {
			return fmt.Sprintf("zerocheck: CORRUPT: the control channel was corrupted in transit (%s); %s verified against pattern %s, no corrupt pattern bytes", r.ControlCorruption, SizeText(r.BytesVerified), r.Pattern)
		}
		s := fmt.Sprintf("zerocheck: CORRUPT: %s in %s of %s verified against pattern %s",
			plural(r.CorruptBytes, "corrupt byte"), plural(r.RegionCount, "region"), SizeText(r.BytesVerified), r.Pattern)
		if r.Error != "" {
			s += " (run incomplete: " + r.Error + ")"
		}
		return s
	default:
		return fmt.Sprintf("zerocheck: INCOMPLETE: %s verified, no corrupt bytes so far: %s", SizeText(r.BytesVerified), r.Error)
	}
}

func regionsText(r Report) string {
	if r.RegionCount > int64(len(r.Regions)) {
		return fmt.Sprintf("%d (%d detailed)", r.RegionCount, len(r.Regions))
	}
	return strconv.FormatInt(r.RegionCount, 10)
}

func regionRow(g Region) []string {
	grid, blocks, repeat := "-", "-", "-"
	if g.Granule > 0 {
		grid = fmt.Sprintf("%d+%d", g.Granule, g.Phase)
		blocks = strconv.FormatInt(g.Blocks, 10)
		repeat = strconv.Itoa(g.MaxRepeat)
	}
	src := "-"
	if g.SourceOffset != nil {
		src = fmt.Sprintf("%#x", *g.SourceOffset)
	}
	return []string{
		strconv.Itoa(g.Index), strconv.Itoa(g.Stream),
		strconv.FormatInt(g.Offset, 10), fmt.Sprintf("%#x", g.Offset),
		strconv.FormatInt(g.Length, 10), strconv.FormatInt(g.CorruptBytes, 10),
		strconv.FormatInt(g.FlippedBits, 10), g.Kind, grid, blocks, repeat, src,
	}
}

func regionTitle(g Region) string {
	s := fmt.Sprintf("%s at %#x (%d), %s, %d corrupt, %s flipped", g.Kind, g.Offset, g.Offset,
		plural(g.Length, "byte"), g.CorruptBytes, plural(g.FlippedBits, "bit"))
	if g.Granule > 0 {
		s += fmt.Sprintf(", %d-byte grid phase %d, %s, max repeat %d", g.Granule, g.Phase, plural(g.Blocks, "block"), g.MaxRepeat)
	}
	if g.SourceOffset != nil {
		s += fmt.Sprintf(", data from %#x", *g.SourceOffset)
	}
	if g.Stream != 0 {
		s = fmt.Sprintf("stream %d, ", g.Stream) + s
	}
	if g.Truncated {
		s += " (dump truncated)"
	}
	return s
}

// Dump writes the region's captured window as xxd -a does: 16 bytes a
// line, with "*" for a run of intact lines identical to the one before.
// With sideBySide, each line shows the expected bytes, then the actual
// bytes; otherwise only the actual bytes, exactly as xxd would.
// Corrupt lines are marked with "!" after the offset in side-by-side mode.
func Dump(w io.Writer, g Region, sideBySide bool) {
	var prev []byte
	starred := false
	for i := 0; i < len(g.Actual); i += 16 {
		act := g.Actual[i:min(i+16, len(g.Actual))]
		exp := g.Expected[i:min(i+16, len(g.Expected))]
		intact := bytes.Equal(act, exp)
		if intact && prev != nil && bytes.Equal(act, prev) {
			if !starred {
				fmt.Fprintln(w, "*")
				starred = true
			}
			continue
		}
		starred = false
		prev = act
		off := g.DataOffset + int64(i)
		if sideBySide {
			mark := ' '
			if !intact {
				mark = '!'
			}
			fmt.Fprintf(w, "%08x:%c%-40s| %-40s %s\n", off, mark, hexGroups(exp), hexGroups(act), ascii(act))
		} else {
			fmt.Fprintf(w, "%08x: %-40s %s\n", off, hexGroups(act), ascii(act))
		}
	}
}

func hexGroups(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 && i%2 == 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}

func ascii(b []byte) string {
	s := make([]byte, len(b))
	for i, c := range b {
		if c >= 0x20 && c < 0x7f {
			s[i] = c
		} else {
			s[i] = '.'
		}
	}
	return string(s)
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// table renders rows with tablewriter in plain ASCII, which survives
// cron mail, log collectors and terminals without UTF-8.
func table(w io.Writer, header []string, rows [][]string) error {
	return WrapTable(w, header, rows, 0)
}

// WrapTable is table with cells wrapped at word boundaries to maxCol
// characters (0: never), for prose such as risk reasons and detection
// signals. Wrapping here, not in tablewriter, keeps words whole. Other
// packages draw their tables with it, so that every table of zerocheck
// looks the same.
func WrapTable(w io.Writer, header []string, rows [][]string, maxCol int) error {
	if maxCol > 0 {
		wrapped := make([][]string, len(rows))
		for i, row := range rows {
			wrapped[i] = make([]string, len(row))
			for j, cell := range row {
				wrapped[i][j] = wrapText(cell, maxCol)
			}
		}
		rows = wrapped
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	if header != nil {
		t.Header(header)
	}
	if err := t.Bulk(rows); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// wrapText breaks s into lines of at most n characters at spaces; a word
// longer than n stays whole on its own line.
func wrapText(s string, n int) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) <= n:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// SizeText gives an exact byte count and, from 1 KiB up, its IEC size.
func SizeText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(n) / 1024
	u := 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	return fmt.Sprintf("%d B (%.2f %s)", n, f, units[u])
}

func rateText(n int64, secs float64) string {
	if secs <= 0 {
		return "-"
	}
	bps := float64(n) * 8 / secs
	return fmt.Sprintf("%.2f Gbit/s (%.1f MB/s)", bps/1e9, float64(n)/secs/1e6)
}
