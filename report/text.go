package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/zerocheck/zerocheck/hostinfo"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// mismatchRows caps the region table when the stream is mostly corrupt:
// the peer sent another pattern and a million rows would bury that.
const mismatchRows = 10

// mismatchDump caps the dump of a mismatching stream to a sample.
const mismatchDump = 128

// TextOptions choose what Text writes beyond its default.
type TextOptions struct {
	// Verbose adds what a first look does not need: the table of streams
	// of a clean run, the risks that are only possible, both hosts'
	// facts and why some of them are unknown, and every region's dump.
	Verbose bool
}

// maxDumps is how many regions' bytes the default text dumps.
const maxDumps = 3

// Text writes r for a person, as WriteText does by default.
func Text(w io.Writer, r Report) error { return WriteText(w, r, TextOptions{}) }

// WriteText writes r for a person, to be read at 3 a.m.: the verdict
// line, one summary table, and then what the verdict calls for. A run
// that never connected gets its cause and what to check next, and no
// more. A corrupt run gets its regions, a line on what each kind of
// region present means, blocks repeated across regions, the conclusion
// the hosts' checksum counters allow, and a dump of its first regions.
// Known risks that match either host come last. With o.Verbose,
// everything else the report holds follows (the JSON report holds it
// all the same).
func WriteText(w io.Writer, r Report, o TextOptions) error {
	var b bytes.Buffer
	fmt.Fprintln(&b, Headline(r))
	never := neverConnected(r)
	if never {
		b.WriteByte('\n')
		for _, line := range checkNext(r) {
			fmt.Fprintln(&b, line)
		}
	}
	b.WriteByte('\n')

	rows := [][]string{
		{"verdict", string(r.Verdict)},
	}
	if r.RunID != "" {
		rows = append(rows, []string{"run", r.Role + " " + r.RunID})
	}
	if !r.Start.IsZero() {
		rows = append(rows, []string{"started", r.Start.UTC().Format("2006-01-02 15:04:05 MST")})
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
	}...)
	if r.PatternSent != "" {
		rows = append(rows, []string{"pattern sent", sentText(r)})
	}
	rows = append(rows, []string{"bytes verified", SizeText(r.BytesVerified)})
	if r.BytesExpected > 0 {
		rows = append(rows, []string{"bytes expected", SizeText(r.BytesExpected)})
	}
	rows = append(rows, []string{"duration", fmt.Sprintf("%.3fs", r.Seconds)})
	if !never {
		rows = append(rows,
			[]string{"throughput", rateText(r.BytesVerified, r.Seconds)},
			[]string{"regions", regionsText(r)},
			[]string{"corrupt bytes", strconv.FormatInt(r.CorruptBytes, 10)},
			[]string{"flipped bits", strconv.FormatInt(r.FlippedBits, 10)},
		)
	}
	if r.Error != "" {
		rows = append(rows, []string{"error", r.Error})
	}
	if r.ControlCorruption != "" {
		rows = append(rows, []string{"control channel", r.ControlCorruption})
	}
	if err := table(&b, nil, rows); err != nil {
		return err
	}
	if never && !o.Verbose {
		// The cause and the plan are all there is: no byte crossed.
		_, err := w.Write(b.Bytes())
		return err
	}

	if len(r.Streams) > 1 && (o.Verbose || !allClean(r.Streams)) {
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

	if r.PatternSent != "" {
		fmt.Fprintf(&b, "\n%s\n", MismatchText(r))
	} else if r.PatternMismatch {
		fmt.Fprintf(&b, "\nMore than half of the bytes differ from pattern %s (seed %#x): the sender most likely used another pattern or seed.\n", r.Pattern, r.Seed)
		if r.LooksLike != "" {
			fmt.Fprintf(&b, "The start of the stream matches pattern %s.\n", r.LooksLike)
		}
	}

	// A mismatch's regions are the other pattern's bytes, not damage.
	if len(r.Regions) > 0 && (r.PatternSent == "" || o.Verbose) {
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
		if !r.PatternMismatch {
			// A stream of another pattern is not made of these kinds.
			for _, k := range kindsOf(r.Regions) {
				fmt.Fprintf(&b, "%s: %s\n", k, kindMeaning[k])
			}
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

	if c := CountersConclusion(r); c != "" {
		fmt.Fprintf(&b, "\n%s\n", c)
	}

	dumps := r.Regions
	switch {
	case r.PatternMismatch && len(dumps) > 1:
		dumps = dumps[:1]
	case !o.Verbose && len(dumps) > maxDumps:
		dumps = dumps[:maxDumps]
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
	if n := len(r.Regions) - len(dumps); n > 0 && !r.PatternMismatch {
		fmt.Fprintf(&b, "(%s not dumped: --verbose dumps them, the JSON report holds them)\n", plural(int64(n), "more region"))
	}

	if r.Hosts.Local != nil || r.Hosts.Peer != nil {
		local, peer := r.Hosts.Local, r.Hosts.Peer
		if local == nil || peer == local || r.Role == "loopback" {
			// One host to show: the peer alone, or both ends being this
			// host (loopback).
			local, peer = cmp.Or(local, peer), nil
		}
		b.WriteByte('\n')
		var err error
		if o.Verbose {
			err = HostsText(&b, local, peer)
		} else {
			err = RisksText(&b, local, peer)
		}
		if err != nil {
			return err
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Headline is the one-line verdict, also used in logs.
func Headline(r Report) string {
	switch r.Verdict {
	case Clean:
		return fmt.Sprintf("zerocheck: CLEAN: %s verified against pattern %s, no corrupt bytes", SizeText(r.BytesVerified), r.Pattern)
	case Mismatch:
		return fmt.Sprintf("zerocheck: MISMATCH: %s received of pattern %s, not %s: the two ends were given different patterns",
			SizeText(r.BytesVerified), sentText(r), r.Pattern)
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

// sentText names the pattern a mismatching stream was sent with, with
// its seed when it takes one.
func sentText(r Report) string {
	if r.SeedSent != nil {
		return fmt.Sprintf("%s (seed %#x)", r.PatternSent, *r.SeedSent)
	}
	return r.PatternSent
}

// MismatchText explains a Mismatch verdict and what to do about it.
func MismatchText(r Report) string {
	flag := "--pattern " + r.PatternSent
	if r.SeedSent != nil {
		flag += fmt.Sprintf(" --seed %#x", *r.SeedSent)
	}
	return fmt.Sprintf("Every byte received, from the first to the last, is pattern %s, not %s: the sender was given another pattern than this end, "+
		"and nothing was learnt about the path. Give both ends the same pattern (here: %s).", sentText(r), r.Pattern, flag)
}

func allClean(ss []Stream) bool {
	for _, s := range ss {
		if s.Verdict != Clean {
			return false
		}
	}
	return true
}

// kindMeaning says in one line what each kind of region means.
var kindMeaning = map[string]string{
	KindBlock: "whole 16-byte blocks on a fixed grid replaced: the signature of AES (a block cipher) " +
		"gone wrong inside a host, the incident zerocheck was built for",
	KindBitflip:   "one bit flipped: memory, a CPU or a bus, somewhere no checksum covered the data",
	KindZeroed:    "bytes replaced by zeros: a buffer or page handed over before it was filled, or wiped",
	KindDisplaced: "bytes of this stream from another offset (source): a buffer delivered at the wrong place or twice",
	KindBurst:     "corrupt bytes with no structure zerocheck recognises",
}

// kindsOf lists the kinds of regions present, in a fixed order.
func kindsOf(regions []Region) []string {
	var out []string
	for _, k := range []string{KindBlock, KindBitflip, KindZeroed, KindDisplaced, KindBurst} {
		for _, g := range regions {
			if g.Kind == k {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// neverConnected says r is a sender's run that made no connection.
func neverConnected(r Report) bool {
	return r.Role == "send" && r.LocalAddr == "" && r.PeerAddr != "" && r.BytesVerified == 0 && r.Error != ""
}

// checkNext says what to check when a sender could not connect, from the
// error's cause.
func checkNext(r Report) []string {
	host, port, err := net.SplitHostPort(r.PeerAddr)
	if err != nil {
		host, port = r.PeerAddr, "?"
	}
	e := r.Error
	var why string
	switch {
	case strings.Contains(e, "connection refused"):
		why = fmt.Sprintf("Nothing accepted the connection on %s port %s.", host, port)
	case strings.Contains(e, "no such host") || strings.Contains(e, "server misbehaving"):
		return []string{fmt.Sprintf("The name %s does not resolve.", host),
			"Check next: the spelling of the name, and this host's DNS (getent hosts " + host + ")."}
	case strings.Contains(e, "timeout") || strings.Contains(e, "unreachable") || strings.Contains(e, "no route"):
		why = fmt.Sprintf("No answer from %s port %s: a wrong address, a host that is down, or a firewall that drops the connection.", host, port)
	default:
		why = fmt.Sprintf("No connection to %s port %s was made.", host, port)
	}
	return []string{why,
		fmt.Sprintf("Check next: is zerocheck recv running on %s and listening on port %s (zerocheck recv --listen :%s)? Does a firewall let TCP to that port through?", host, port, port)}
}

// CountersConclusion says what the TCP checksum error counters of the
// hosts that received the corrupt bytes allow concluding: "" when r
// found no corruption, is not read off a socket, or a receiving host's
// counters over the run are unknown (a sender knows its peer's facts
// from before the run only) or were taken on the loopback interface.
func CountersConclusion(r Report) string {
	if r.CorruptBytes == 0 || r.PatternSent != "" {
		return ""
	}
	dirs := map[int]string{}
	for _, s := range r.Streams {
		dirs[s.Stream] = s.Direction
	}
	var hosts []*hostinfo.Facts
	for _, g := range r.Regions {
		var f *hostinfo.Facts
		switch fwd := dirs[g.Stream] != Reverse; {
		case r.Role == "loopback" || r.Role == "recv" && fwd || r.Role == "send" && !fwd:
			f = r.Hosts.Local
		case r.Role == "send" || r.Role == "recv":
			f = r.Hosts.Peer
		default:
			return "" // verify: a pipe or a file, not a socket as far as it knows
		}
		if f == nil || f.Delta == nil || f.Delta.TCPInCsumErrors == nil {
			return ""
		}
		if f.Net != nil && f.Net.Interface == "lo" {
			// Nothing checks the checksum of loopback traffic: a count
			// that did not move proves nothing there.
			return ""
		}
		if !slices.Contains(hosts, f) {
			hosts = append(hosts, f)
		}
	}
	if len(hosts) == 0 {
		return ""
	}
	var rose []string
	names := make([]string, len(hosts))
	for i, f := range hosts {
		names[i] = Printable(f.Hostname)
		if d := *f.Delta.TCPInCsumErrors; d > 0 {
			rose = append(rose, fmt.Sprintf("by %d on %s", d, names[i]))
		}
	}
	if len(rose) > 0 {
		return fmt.Sprintf("TCP checksum errors rose %s during the run: packets arrived damaged and TCP dropped those it caught; "+
			"the corruption above got past its checksum.", strings.Join(rose, " and "))
	}
	return fmt.Sprintf("TCP checksum errors did not rise on %s during the run: TCP accepted these bytes, so the corruption "+
		"happened where no checksum looks (inside a host: memory, CPU or crypto, before the checksum was computed or after it was checked).",
		strings.Join(names, " and "))
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
