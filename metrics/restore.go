package metrics

import (
	"bytes"
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/zerocheck/zerocheck/internal/safefile"
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
// (parseState refuses the file then), without blocking on a FIFO or a
// device at path.
func readFile(path string) ([]byte, error) { return safefile.Read(path, maxFile) }

// restored is a series as parseState reads it back.
type restored struct {
	counts
	hasEnd bool   // a last_run_timestamp_seconds line was read
	ones   uint8  // the verdicts whose last_run_verdict line says 1
	lines  uint32 // bit family*len(verdicts)+verdict: the lines read
}

// parseState reads back a file that render wrote: its paths' series, at
// most limit paths, the ones that ran last when there are more.
//
// A path has one set of series, but a file may hold more than one under
// different peer labels: a file of an older version, which told series
// apart by role, peer and addr, has one for each name a path ran under
// (an address for a run that failed, a hostname for one that connected).
// They merge: the path's values are those of the set that ran last, by
// their last_run_timestamp_seconds lines, and its peer label the
// hostname that ran last, or when none of them is one (see hostname),
// that set's own. The other sets' lines are left out, and not reported.
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
func parseState(raw []byte, limit int) (map[pathKey]*counts, error) {
	out := map[pathKey]*counts{}
	if len(raw) == 0 {
		return out, nil // a file emptied to start afresh
	}
	if len(raw) > maxFile {
		return out, fmt.Errorf("larger than %d MiB: %w", maxFile>>20, ErrForeign)
	}

	// First the paths to keep, and the set of series of each whose values
	// to keep, by their last_run_timestamp_seconds lines.
	top := &top{limit: limit, index: map[pathKey]*candidate{}}
	scan(raw, func(s sample, c *restored) bool {
		top.offer(s.path, s.peer, c.lastEnd, c.hasEnd)
		return true
	}, func(int, []byte) {})

	// Then their values, and the hostnames of their other sets.
	type keep struct {
		restored
		peer string // the set whose values to keep
		name rank   // the hostname that ran last, if any
	}
	kept := make(map[pathKey]*keep, len(top.index))
	for k, c := range top.index {
		kept[k] = &keep{peer: c.latest.peer}
	}
	var skipped, beyond, first int
	var firstLine []byte
	ours, seen := scan(raw, func(s sample, scratch *restored) bool {
		c := kept[s.path]
		if c == nil {
			beyond++
			return true
		}
		if s.peer == c.peer {
			bit := uint32(1) << (s.family*len(verdicts) + s.verdict)
			if c.lines&bit != 0 {
				return false // a repeated line
			}
			c.lines |= bit
			if !families[s.family].set(&c.restored, s.verdict, s.value) {
				return false
			}
		}
		if hostname(s.peer, s.path.addr) {
			c.name.offer(s.peer, scratch.lastEnd, scratch.hasEnd)
		}
		return true
	}, func(n int, line []byte) {
		if skipped++; skipped == 1 {
			first, firstLine = n, line
		}
	})
	if ours == 0 {
		return out, ErrForeign
	}
	// A file that has none of the families added after the first ones
	// is an older version's, whole without them.
	want, headerCount := lineMask(len(families)), len(headers)
	if seen>>(2*required) == 0 {
		want, headerCount = lineMask(required), 2*required
	}
	partial := 0
	for k, c := range kept {
		c.lastVerdict = lastVerdict(c.ones)
		c.counts.peer = cmp.Or(c.name.peer, c.peer)
		out[k] = &c.counts
		if c.lines&want != want {
			partial++
		}
	}

	var lost []string
	if missing := headerCount - bits.OnesCount64(seen); missing > 0 {
		lost = append(lost, fmt.Sprintf("%s of its %d HELP and TYPE lines missing", plural(missing, "line"), headerCount))
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
		lost = append(lost, fmt.Sprintf("%s of series beyond the %d paths run last left out", plural(beyond, "line"), limit))
	}
	if len(lost) > 0 {
		return out, errors.New(strings.Join(lost, "; "))
	}
	return out, nil
}

// lineMask is restored.lines once every line of a series in the first n
// families is read.
func lineMask(n int) uint32 {
	var m uint32
	for i, f := range families[:n] {
		m |= 1 << (i * len(verdicts))
		if f.byVerdict {
			m |= (1<<len(verdicts) - 1) << (i * len(verdicts))
		}
	}
	return m
}

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
	path    pathKey
	peer    string
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
		if bytes.HasPrefix(line, []byte(buildName+"{")) || string(line) == buildHeaders[0] || string(line) == buildHeaders[1] {
			ours++ // the build that wrote the file: not restored
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
	s.path, s.peer = pathKey{role: values[0], addr: values[2]}, values[1]
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

// top chooses the limit paths that ran last, as scan offers the series
// of each line, and for each the set of series (its peer label) that ran
// last. A set ranks by its last_run_timestamp_seconds line, a set without
// one below all that have one, and by name among equals (the first in
// order ranks higher); a path ranks as the set of it that ranks highest,
// and by name among equals. So the choice depends on the series alone,
// not on where they are in the file. top keeps only the paths chosen so
// far, in a heap whose root is the first to go.
//
// A path offered, then dropped, then offered again ranks as it should: a
// path is dropped only when limit paths rank above it, and the lowest of
// those only rises, as a path's rank does.
type top struct {
	limit int
	heap  []*candidate
	index map[pathKey]*candidate
}

type candidate struct {
	path   pathKey
	latest rank
	i      int // place in top.heap
}

// A rank is the set of series named peer of some path, as it ranks among
// the others of that path.
type rank struct {
	peer   string // "" for none yet
	end    float64
	hasEnd bool
}

// above says whether r ranks above the set peer, whose time is end if
// hasEnd.
func (r *rank) above(peer string, end float64, hasEnd bool) bool {
	switch {
	case r.hasEnd != hasEnd:
		return r.hasEnd
	case r.end != end:
		return r.end > end
	}
	return r.peer < peer
}

// offer considers the set peer, with its time if the line gave one, and
// says whether r changed. The first time given for a set is its time, as
// parseState keeps the first of repeated lines.
func (r *rank) offer(peer string, end float64, hasEnd bool) bool {
	switch {
	case r.peer == "":
	case peer == r.peer:
		if !hasEnd || r.hasEnd {
			return false
		}
	case r.above(peer, end, hasEnd):
		return false
	}
	*r = rank{peer, end, hasEnd}
	return true
}

// below says whether a ranks below b.
func below(a, b *candidate) bool {
	switch {
	case a.latest.hasEnd != b.latest.hasEnd:
		return !a.latest.hasEnd
	case a.latest.end != b.latest.end:
		return a.latest.end < b.latest.end
	}
	return cmpPath(a.path, b.path) > 0
}

// offer considers the set peer of path p, with its time if the line gave
// one.
func (t *top) offer(p pathKey, peer string, end float64, hasEnd bool) {
	if c := t.index[p]; c != nil {
		if c.latest.offer(peer, end, hasEnd) {
			heap.Fix(t, c.i)
		}
		return
	}
	c := &candidate{path: p, latest: rank{peer, end, hasEnd}}
	switch {
	case len(t.heap) < t.limit:
		heap.Push(t, c)
	case t.limit > 0 && below(t.heap[0], c):
		delete(t.index, t.heap[0].path)
		c.i, t.heap[0] = 0, c
		heap.Fix(t, 0)
	default:
		return
	}
	t.index[p] = c
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
