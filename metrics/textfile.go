// Package metrics keeps zerocheck's run counts in a Prometheus text
// exposition file, for node_exporter's textfile collector: a receiver or
// sweep records each run, and alerting reads the file through
// node_exporter on its next scrape.
//
// The file is rewritten whole after every run, atomically (see
// internal/atomicfile), so a scrape never sees a half-written file. The
// counts live in the process: they start from zero when it starts, which
// Prometheus reads as a counter reset. Two processes must therefore not
// share one file; give each its own (node_exporter reads every *.prom in
// its directory).
//
// Series are kept per (role, peer), where role is the report's role and
// peer the other end's name as report.Endpoints gives it. At most
// MaxPeers such pairs are kept: a receiver open to the world could
// otherwise be made to grow the file without bound. When a new pair
// comes and the table is full, the pair seen least recently goes, and
// its counters restart from zero if it comes back.
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/zerocheck/zerocheck/internal/atomicfile"
	"github.com/zerocheck/zerocheck/report"
)

// MaxPeers is how many (role, peer) pairs a Textfile keeps: 1024 pairs
// make a file of about a megabyte.
const MaxPeers = 1024

// maxLabel caps a label value in bytes: peer names come from the peer.
// 253 is the longest DNS name.
const maxLabel = 253

// unknown names a role or peer that a report does not give.
const unknown = "unknown"

// verdicts orders the verdict label's values; a report's verdict indexes
// it through verdictIndex.
var verdicts = [...]report.Verdict{report.Clean, report.Corrupt, report.Incomplete}

// verdictIndex returns v's place in verdicts. A verdict it does not know
// counts as incomplete: a run that does not say it was clean is not.
func verdictIndex(v report.Verdict) int {
	if i := slices.Index(verdicts[:], v); i >= 0 {
		return i
	}
	return slices.Index(verdicts[:], report.Incomplete)
}

// Textfile is a Prometheus textfile of run counts. It is safe for
// concurrent use.
type Textfile struct {
	path  string
	limit int

	mu    sync.Mutex
	pairs map[pair]*counts
	seen  uint64 // Records so far, the clock of counts.seen
	gen   uint64 // snapshots rendered so far

	// writeMu orders file writes; written is the newest snapshot on disk,
	// so a slow writer never replaces a newer file with an older one.
	writeMu sync.Mutex
	written uint64
}

type pair struct{ role, peer string }

type counts struct {
	runs           [len(verdicts)]uint64
	bytesVerified  uint64
	corruptBytes   uint64
	corruptRegions uint64

	lastEnd     float64 // seconds since the epoch, to the millisecond
	lastVerdict int
	lastRegions uint64
	lastBytes   uint64

	seen uint64 // Textfile.seen at this pair's last Record
}

// New returns a Textfile that writes to path, a file name ending in
// ".prom" in node_exporter's --collector.textfile.directory. Nothing is
// written before the first Record or Flush.
func New(path string) *Textfile {
	return &Textfile{path: path, limit: MaxPeers, pairs: map[pair]*counts{}}
}

// Record adds one run to the counts and rewrites the file. The counts
// stay even when the write fails: the error says the file is stale until
// the next Record or Flush writes it whole again.
func (t *Textfile) Record(r report.Report) error {
	t.mu.Lock()
	t.add(r)
	snap, gen := t.render()
	t.mu.Unlock()
	return t.write(snap, gen)
}

// Flush rewrites the file from the counts so far, with no new run: to
// publish the families before the first run, or to retry a failed write.
func (t *Textfile) Flush() error {
	t.mu.Lock()
	snap, gen := t.render()
	t.mu.Unlock()
	return t.write(snap, gen)
}

// add counts r. t.mu must be held.
func (t *Textfile) add(r report.Report) {
	p := pair{role: label(r.Role), peer: label(peerOf(r))}
	c := t.pairs[p]
	if c == nil {
		if len(t.pairs) >= t.limit {
			t.evict()
		}
		c = &counts{}
		t.pairs[p] = c
	}
	t.seen++
	c.seen = t.seen

	v := verdictIndex(r.Verdict)
	c.runs[v]++
	c.bytesVerified += nonNegative(r.BytesVerified)
	c.corruptBytes += nonNegative(r.CorruptBytes)
	c.corruptRegions += nonNegative(r.RegionCount)
	c.lastVerdict = v
	c.lastRegions = nonNegative(r.RegionCount)
	c.lastBytes = nonNegative(r.BytesVerified)
	c.lastEnd = unixSeconds(time.Now())
	if !r.Start.IsZero() {
		c.lastEnd = unixSeconds(r.Start)
		if r.Seconds > 0 && !math.IsInf(r.Seconds, 1) { // not NaN either
			c.lastEnd = math.Round((c.lastEnd+r.Seconds)*1e3) / 1e3
		}
	}
}

// evict drops the pair seen least recently. A linear scan: it runs only
// when a new pair arrives at a full table, and MaxPeers is small.
func (t *Textfile) evict() {
	var oldest pair
	first := true
	for p, c := range t.pairs {
		if first || c.seen < t.pairs[oldest].seen {
			oldest, first = p, false
		}
	}
	delete(t.pairs, oldest)
}

// peerOf names the other end of r's run: the receiver for a sender, the
// sender otherwise (for loopback that is this host).
func peerOf(r report.Report) string {
	sender, receiver := r.Endpoints()
	if r.Role == "send" {
		return receiver
	}
	return sender
}

// label makes s a label value: "unknown" when empty, valid UTF-8 (the
// format requires it, and a peer's name need not be) and capped.
func label(s string) string {
	if s == "" {
		return unknown
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxLabel {
		cut := maxLabel
		for !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// nonNegative guards the counters: a counter that goes down reads as a
// reset, and a broken report must not cause one.
func nonNegative(n int64) uint64 {
	return uint64(max(n, 0))
}

// unixSeconds is t in seconds since the epoch, to the millisecond: a
// finer time only makes the file longer.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

// write puts snapshot gen in the file unless a newer one is there.
func (t *Textfile) write(snap []byte, gen uint64) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if gen <= t.written {
		return nil
	}
	err := atomicfile.Write(t.path, 0o644, func(w io.Writer) error {
		_, err := w.Write(snap)
		return err
	})
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	t.written = gen
	return nil
}

// A family is one metric of the file. Its value function gives a pair's
// value, for the verdict v when byVerdict is set (then the family has
// one series per verdict).
type family struct {
	name, typ, help string
	byVerdict       bool
	value           func(c *counts, v int) string
}

func count(n uint64) string { return strconv.FormatUint(n, 10) }

// families lists the file's metrics in the order they are written.
var families = []family{
	{"zerocheck_runs_total", "counter", "Runs finished, by verdict.", true,
		func(c *counts, v int) string { return count(c.runs[v]) }},
	{"zerocheck_bytes_verified_total", "counter", "Bytes verified against the pattern.", false,
		func(c *counts, _ int) string { return count(c.bytesVerified) }},
	{"zerocheck_corrupt_bytes_total", "counter", "Bytes that arrived corrupt.", false,
		func(c *counts, _ int) string { return count(c.corruptBytes) }},
	{"zerocheck_corrupt_regions_total", "counter", "Regions of corrupt bytes found.", false,
		func(c *counts, _ int) string { return count(c.corruptRegions) }},
	{"zerocheck_last_run_timestamp_seconds", "gauge", "When the last run recorded ended, in seconds since the epoch.", false,
		func(c *counts, _ int) string { return strconv.FormatFloat(c.lastEnd, 'f', -1, 64) }},
	{"zerocheck_last_run_verdict", "gauge", "Verdict of the last run recorded: 1 for its verdict, 0 for the others.", true,
		func(c *counts, v int) string {
			if v == c.lastVerdict {
				return "1"
			}
			return "0"
		}},
	{"zerocheck_last_run_corrupt_regions", "gauge", "Regions of corrupt bytes in the last run recorded.", false,
		func(c *counts, _ int) string { return count(c.lastRegions) }},
	{"zerocheck_last_run_bytes_verified", "gauge", "Bytes verified in the last run recorded.", false,
		func(c *counts, _ int) string { return count(c.lastBytes) }},
}

var escaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// render returns the file's content and its generation number. t.mu must
// be held.
func (t *Textfile) render() ([]byte, uint64) {
	keys := make([]pair, 0, len(t.pairs))
	for p := range t.pairs {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, cmpPair)
	var b bytes.Buffer
	for _, f := range families {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for _, p := range keys {
			c := t.pairs[p]
			labels := `role="` + escaper.Replace(p.role) + `",peer="` + escaper.Replace(p.peer) + `"`
			if !f.byVerdict {
				fmt.Fprintf(&b, "%s{%s} %s\n", f.name, labels, f.value(c, 0))
				continue
			}
			for v, name := range verdicts {
				fmt.Fprintf(&b, "%s{%s,verdict=\"%s\"} %s\n", f.name, labels, name, f.value(c, v))
			}
		}
	}
	t.gen++
	return b.Bytes(), t.gen
}

func cmpPair(a, b pair) int {
	if c := strings.Compare(a.role, b.role); c != 0 {
		return c
	}
	return strings.Compare(a.peer, b.peer)
}
