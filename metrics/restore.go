package metrics

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/zerocheck/zerocheck/report"
)

// The file is read back at Open, but it is only semi-trusted: anyone who
// can write the textfile directory can put anything there. So reading is
// bounded: maxFile bytes at most, lines of maxLine bytes at most (longer
// ones are skipped), and never more than the Textfile's limit of series.
// The largest file render writes, MaxPeers series whose three labels are
// each 253 bytes that all need escaping, is under 20 MiB and its longest
// line under 1.7 KiB (TestLimits checks both).
const (
	maxFile = 32 << 20
	maxLine = 4 << 10
)

// ErrForeign is the error of a file that is not one this package writes:
// another program's, or bytes that no longer look like a textfile.
var ErrForeign = errors.New("not a zerocheck textfile")

// readFile reads the regular file at path, up to one byte past maxFile
// (parseState refuses the file then). O_NONBLOCK and the regular-file
// check keep a FIFO or a device at path from blocking Open.
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	return io.ReadAll(io.LimitReader(f, maxFile+1))
}

// restored is a series as parseState reads it back.
type restored struct {
	counts
	hasEnd bool   // a last_run_timestamp_seconds line was read
	ones   uint8  // the verdicts whose last_run_verdict line says 1
	lines  uint32 // bit family*len(verdicts)+verdict: the lines read
}

// parseState reads back a file that render wrote: its series, at most
// limit of them, the ones that ran last when there are more.
//
// It reads the format exactly as render writes it, and skips any line it
// does not understand (not one of render's HELP or TYPE lines, nor a
// sample of one of its families with the labels role, peer, addr and
// verdict in render's order and escaping, label values as Record makes
// them, and a value as render writes it), the line after the last
// newline (a file cut short), and any line that repeats one read before.
// A series whose last_run_verdict lines are lost or make no sense is
// restored incomplete, a run that does not say it was clean is not; its
// other values lost are restored as 0.
//
// The error says what was left out: the whole file, ErrForeign, when it
// is over maxFile or no line of it is one render writes; else the lines
// it skipped, the series some of whose lines it did not find, and the
// lines of series beyond the limit. The map is never nil.
func parseState(raw []byte, limit int) (map[series]*counts, error) {
	out := map[series]*counts{}
	if len(raw) == 0 {
		return out, nil // a file emptied to start afresh
	}
	if len(raw) > maxFile {
		return out, fmt.Errorf("larger than %d MiB: %w", maxFile>>20, ErrForeign)
	}

	// First the series to keep, by their last_run_timestamp_seconds lines.
	top := &top{limit: limit, index: map[series]*candidate{}}
	scan(raw, func(s sample, c *restored) bool {
		top.offer(s.series, c.lastEnd, c.hasEnd)
		return true
	}, func(int, []byte) {})

	// Then their values.
	kept := make(map[series]*restored, len(top.index))
	for k := range top.index {
		kept[k] = &restored{}
	}
	var skipped, beyond, first int
	var firstLine []byte
	ours, seen := scan(raw, func(s sample, _ *restored) bool {
		c := kept[s.series]
		if c == nil {
			beyond++
			return true
		}
		bit := uint32(1) << (s.family*len(verdicts) + s.verdict)
		if c.lines&bit != 0 {
			return false // a repeated line
		}
		c.lines |= bit
		return families[s.family].set(c, s.verdict, s.value)
	}, func(n int, line []byte) {
		if skipped++; skipped == 1 {
			first, firstLine = n, line
		}
	})
	if ours == 0 {
		return out, ErrForeign
	}
	partial := 0
	for k, c := range kept {
		c.lastVerdict = lastVerdict(c.ones)
		out[k] = &c.counts
		if c.lines != allLines {
			partial++
		}
	}

	var lost []string
	if missing := len(headers) - bits.OnesCount64(seen); missing > 0 {
		lost = append(lost, fmt.Sprintf("%s of its %d HELP and TYPE lines missing", plural(missing, "line"), len(headers)))
	}
	if skipped > 0 {
		if len(firstLine) > 80 {
			cut := 80
			for cut > 0 && !utf8.RuneStart(firstLine[cut]) {
				cut--
			}
			firstLine = append(firstLine[:cut:cut], "..."...)
		}
		lost = append(lost, fmt.Sprintf("%s not understood, the first (line %d) %q", plural(skipped, "line"), first, firstLine))
	}
	if partial > 0 {
		lost = append(lost, fmt.Sprintf("%s with lines missing (restored as 0, a lost verdict as incomplete)", plural(partial, "series")))
	}
	if beyond > 0 {
		lost = append(lost, fmt.Sprintf("%s of series beyond the %d run last left out", plural(beyond, "line"), limit))
	}
	if len(lost) > 0 {
		return out, errors.New(strings.Join(lost, "; "))
	}
	return out, nil
}

// allLines is restored.lines once every line of a series is read.
var allLines = func() uint32 {
	var m uint32
	for i, f := range families {
		m |= 1 << (i * len(verdicts))
		if f.byVerdict {
			m |= (1<<len(verdicts) - 1) << (i * len(verdicts))
		}
	}
	return m
}()

// plural counts n of what: "1 line", "2 lines", "2 series".
func plural(n int, what string) string {
	if n != 1 && !strings.HasSuffix(what, "s") {
		what += "s"
	}
	return fmt.Sprintf("%d %s", n, what)
}

// lastVerdict is the last run's verdict, from the verdicts whose
// last_run_verdict line said 1: that one alone, or corrupt among others,
// or else incomplete.
func lastVerdict(ones uint8) int {
	clean, corrupt := verdictIndex(report.Clean), verdictIndex(report.Corrupt)
	switch {
	case ones&(1<<corrupt) != 0:
		return corrupt
	case ones == 1<<clean:
		return clean
	}
	return verdictIndex(report.Incomplete)
}

// A sample is a line of a series.
type sample struct {
	family  int // index in families
	series  series
	verdict int    // index in verdicts, for a family by verdict
	value   string // as written, which the family's set read
}

// headers numbers render's HELP and TYPE lines, from 0.
var headers = func() map[string]int {
	m := map[string]int{}
	for _, f := range families {
		m["# HELP "+f.name+" "+f.help] = len(m)
		m["# TYPE "+f.name+" "+f.typ] = len(m)
	}
	return m
}()

// familyIndex finds a family by name.
var familyIndex = func() map[string]int {
	m := map[string]int{}
	for i, f := range families {
		m[f.name] = i
	}
	return m
}()

// scan reads raw line by line, numbered from 1. It calls sample for each
// sample line, with the values its family's set read into a scratch
// series, and bad for each line that is neither that (or that sample
// refused) nor a HELP or TYPE line of render's. It returns how many
// lines were one or the other, and the set of HELP and TYPE lines seen
// (bit i for headers' line i).
func scan(raw []byte, sample func(sample, *restored) bool, bad func(n int, line []byte)) (ours int, seen uint64) {
	for n := 1; len(raw) > 0; n++ {
		line, rest, complete := bytes.Cut(raw, []byte{'\n'})
		raw = rest
		if !complete || len(line) > maxLine {
			bad(n, line)
			continue
		}
		if len(line) > 0 && line[0] == '#' {
			i, ok := headers[string(line)]
			if !ok {
				bad(n, line)
				continue
			}
			ours++
			seen |= 1 << i
			continue
		}
		s, ok := parseSample(line)
		var scratch restored
		if !ok || !families[s.family].set(&scratch, s.verdict, s.value) || !sample(s, &scratch) {
			bad(n, line)
			continue
		}
		ours++
	}
	return ours, seen
}

// labelPrefixes precede the label values of a sample, in render's order.
var labelPrefixes = [...]string{`{role="`, `",peer="`, `",addr="`, `",verdict="`}

// parseSample reads a sample line as render writes it: ok is false for
// anything else but its value, which the family's set reads.
func parseSample(line []byte) (s sample, ok bool) {
	brace := bytes.IndexByte(line, '{')
	if brace < 0 {
		return s, false
	}
	s.family, ok = familyIndex[string(line[:brace])]
	if !ok {
		return s, false
	}
	n := 3
	if families[s.family].byVerdict {
		n = 4
	}
	var values [len(labelPrefixes)]string
	rest := line[brace:]
	for i, prefix := range labelPrefixes[:n] {
		if rest, ok = bytes.CutPrefix(rest, []byte(prefix)); !ok {
			return s, false
		}
		if values[i], rest, ok = unquote(rest); !ok || label(values[i]) != values[i] {
			return s, false
		}
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`"} `)); !ok {
		return s, false
	}
	s.series = series{role: values[0], peer: values[1], addr: values[2]}
	if n == 4 {
		s.verdict = slices.Index(verdicts[:], report.Verdict(values[3]))
		if s.verdict < 0 {
			return s, false
		}
	}
	s.value = string(rest)
	return s, true
}

// unquote reads a label value escaped as render escapes it, up to the
// quote that ends it: the value, and what follows it from that quote on.
func unquote(b []byte) (value string, rest []byte, ok bool) {
	var v []byte
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			return string(v), b[i:], true
		case '\\':
			if i++; i == len(b) {
				return "", nil, false
			}
			switch b[i] {
			case '\\', '"':
				v = append(v, b[i])
			case 'n':
				v = append(v, '\n')
			default:
				return "", nil, false
			}
		default:
			v = append(v, c)
		}
	}
	return "", nil, false
}

// top chooses the limit series that ran last, as scan offers the series
// of each line: a series ranks by its last_run_timestamp_seconds line, a
// series without one below all that have one, and by name among equals
// (the first in order ranks higher), so that the choice depends on the
// series alone, not on where they are in the file. It keeps only the
// series chosen so far, in a heap whose root is the first to go.
//
// A series offered, then dropped, then offered again with its time ranks
// as it should: a series is dropped only when limit series rank above it,
// and the lowest of those only rises.
type top struct {
	limit int
	heap  []*candidate
	index map[series]*candidate
}

type candidate struct {
	series series
	end    float64
	hasEnd bool
	i      int // place in top.heap
}

// below says whether a ranks below b.
func below(a, b *candidate) bool {
	switch {
	case a.hasEnd != b.hasEnd:
		return !a.hasEnd
	case a.end != b.end:
		return a.end < b.end
	}
	return cmpSeries(a.series, b.series) > 0
}

// offer considers a series, with its time if the line gave one. The
// first time given for a series is its time, as parseState keeps the
// first of repeated lines.
func (t *top) offer(s series, end float64, hasEnd bool) {
	if c := t.index[s]; c != nil {
		if hasEnd && !c.hasEnd {
			c.end, c.hasEnd = end, true
			heap.Fix(t, c.i)
		}
		return
	}
	c := &candidate{series: s, end: end, hasEnd: hasEnd}
	switch {
	case len(t.heap) < t.limit:
		heap.Push(t, c)
	case t.limit > 0 && below(t.heap[0], c):
		delete(t.index, t.heap[0].series)
		c.i, t.heap[0] = 0, c
		heap.Fix(t, 0)
	default:
		return
	}
	t.index[s] = c
}

func (t *top) Len() int           { return len(t.heap) }
func (t *top) Less(i, j int) bool { return below(t.heap[i], t.heap[j]) }
func (t *top) Swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.heap[i].i, t.heap[j].i = i, j
}
func (t *top) Push(x any) {
	c := x.(*candidate)
	c.i = len(t.heap)
	t.heap = append(t.heap, c)
}
func (t *top) Pop() any {
	c := t.heap[len(t.heap)-1]
	t.heap = t.heap[:len(t.heap)-1]
	return c
}
