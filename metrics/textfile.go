// Package metrics keeps zerocheck's run counts in a Prometheus text
// exposition file, for node_exporter's textfile collector: a receiver or
// sweep records each run, and alerting reads the file through
// node_exporter on its next scrape.
//
// The file is rewritten whole after every run, atomically (see
// internal/atomicfile), so a scrape never sees a half-written file. It is
// also where the counts outlive the process: Open reads back the file the
// previous process left at the same path, so that a nightly sweep (a new
// process every night) or a restarted receiver rewrites only the series
// of the runs it makes, and its counters go on from where they were.
// Two processes must still not share one file at once, each would
// overwrite the other's runs: give each its own (node_exporter reads
// every *.prom in its directory).
//
// Series are kept per path: role and addr, where role is the report's
// role and addr the other end's address, for a sender the receiver's as
// dialled (host:port), for a receiver the sender's IP alone (its port
// changes with every run). Two paths to one host, two of its addresses
// or cloned hosts with one hostname, are two series, so that a clean run
// on one never hides corruption on the other.
//
// The peer label names the path, but does not tell paths apart: it is the
// best name known for the other end, its hostname from the facts of a
// run's report when one gave it, else its address (report.Endpoints).
// A run whose report has no hostname, a connection that failed, keeps
// the name a run before it learnt; a run that brings a hostname, the
// first one known or another after a rename, moves the path's series to
// it. So a path has one set of series, whatever its runs knew of it, and
// the last verdict of a night the other end was down is replaced by the
// next night's.
//
// At most MaxPeers paths are kept: a receiver open to the world could
// otherwise be made to grow the file without bound. When a new one comes
// and the table is full, the one run least recently goes, and its
// counters restart from zero if it comes back.
package metrics

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/internal/atomicfile"
	"github.com/zerocheck/zerocheck/report"
)

// MaxPeers is how many paths (role, addr) a Textfile keeps series of:
// 1024 of them make a file of about a megabyte.
const MaxPeers = 1024

// maxLabel caps a label value in bytes: peer names come from the peer.
// 253 is the longest DNS name.
const maxLabel = 253

// maxTimestamp bounds a last run's time, in seconds either side of the
// epoch (the year 33658): in milliseconds it is still an exact float64,
// so a time read back from the file is the time that was written.
const maxTimestamp = 1e12

// unknown names a role, peer or address that a report does not give.
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
	build []byte // the zerocheck_build_info family, as written

	mu     sync.Mutex
	series map[pathKey]*counts
	seen   uint64 // Records so far, the clock of counts.seen
	gen    uint64 // snapshots rendered so far

	// writeMu orders file writes; written is the newest snapshot on disk,
	// so a slow writer never replaces a newer file with an older one.
	writeMu sync.Mutex
	written uint64
}

// pathKey names one path's series: its labels but peer and verdict.
type pathKey struct{ role, addr string }

type counts struct {
	peer string // the peer label: the best name known for the path

	runs           [len(verdicts)]uint64
	bytesVerified  uint64
	corruptBytes   uint64
	corruptRegions uint64

	lastEnd     float64 // seconds since the epoch, to the millisecond
	lastVerdict int
	lastRegions uint64
	lastBytes   uint64

	runSeconds  float64 // the runs' durations summed, in seconds
	lastSeconds float64

	seen uint64 // Textfile.seen at this series' last Record
}

// Open returns a Textfile that writes to path, a file name ending in
// ".prom" in node_exporter's --collector.textfile.directory, starting
// from the series of the file that a previous process left there:
// counters and last runs alike, so that the file changes only for the
// runs recorded from now on. Nothing is written before the first Record
// or Flush.
//
// The Textfile is usable whatever the error. The error is nil when path
// does not exist yet, or was restored whole. Otherwise it says what was
// left out, for the caller to log: some lines (damaged ones, or series
// beyond MaxPeers; the rest is restored), or the whole file, when it
// cannot be read or is not one this package writes (errors.Is(err,
// ErrForeign)), and the Textfile starts empty. Either way the first
// Record or Flush replaces the file.
func Open(path string) (*Textfile, error) { return open(path, MaxPeers) }

// New is Open without its error: it restores what it can from path, and
// says nothing about what it could not.
func New(path string) *Textfile {
	t, _ := Open(path)
	return t
}

func open(path string, limit int) (*Textfile, error) {
	t := &Textfile{path: path, limit: limit, series: map[pathKey]*counts{}, build: buildInfo("")}
	raw, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err == nil {
		var restored map[pathKey]*counts
		restored, err = parseState(raw, limit)
		t.restore(restored)
	}
	if err != nil {
		return t, fmt.Errorf("metrics: restoring %s: %w", path, err)
	}
	return t, nil
}

// restore takes the series read from the file, the least recently run
// the first to be evicted. t.mu need not be held: t is not shared yet.
func (t *Textfile) restore(s map[pathKey]*counts) {
	keys := make([]pathKey, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pathKey) int {
		if c := cmp.Compare(s[a].lastEnd, s[b].lastEnd); c != 0 {
			return c
		}
		return cmpPath(a, b)
	})
	for _, k := range keys {
		t.seen++
		s[k].seen = t.seen
		t.series[k] = s[k]
	}
}

// SetVersion sets the version label of zerocheck_build_info: the
// program's version, which this package does not know by itself.
func (t *Textfile) SetVersion(version string) {
	t.mu.Lock()
	t.build = buildInfo(version)
	t.mu.Unlock()
}

// buildInfo renders the zerocheck_build_info family: one series of value
// 1 whose labels name the build, so that a query can join on it.
func buildInfo(version string) []byte {
	return fmt.Appendf(nil, "%s\n%s\n%s{version=\"%s\",goversion=\"%s\"} 1\n",
		buildHeaders[0], buildHeaders[1], buildName, escaper.Replace(label(version)), escaper.Replace(label(runtime.Version())))
}

// buildName is the build info's family, which is not a path's: it is
// written first, and not read back (the process writing knows its own).
const buildName = "zerocheck_build_info"

var buildHeaders = [2]string{
	"# HELP " + buildName + " The zerocheck build that wrote this file: always 1.",
	"# TYPE " + buildName + " gauge",
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
	k := pathKey{role: label(r.Role), addr: label(addrOf(r))}
	name, named := peerOf(r)
	name = label(name)
	c := t.series[k]
	if c == nil {
		if len(t.series) >= t.limit {
			t.evict()
		}
		c = &counts{}
		t.series[k] = c
	}
	// A hostname names the path, a new one renames it; an address alone
	// (a run that learnt no hostname) does not replace a hostname.
	if named || c.peer == "" || !hostname(c.peer, k.addr) {
		c.peer = name
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
	c.lastEnd = endOf(r)
	c.lastSeconds = duration(r.Seconds)
	c.runSeconds += c.lastSeconds
}

// duration is a report's seconds as a metric: 0 for a negative or not
// finite one, which a broken report may hold.
func duration(s float64) float64 {
	if !(s >= 0) || math.IsInf(s, 1) {
		return 0
	}
	return s
}

// evict drops the series run least recently. A linear scan: it runs only
// when a new series arrives at a full table, and MaxPeers is small.
func (t *Textfile) evict() {
	var oldest pathKey
	first := true
	for k, c := range t.series {
		if first || c.seen < t.series[oldest].seen {
			oldest, first = k, false
		}
	}
	delete(t.series, oldest)
}

// peerOf names the other end of r's run: the receiver for a sender, the
// sender otherwise (for loopback that is this host), as report.Endpoints
// names it. named says the name is a hostname from the report's facts,
// not the address Endpoints falls back on.
func peerOf(r report.Report) (name string, named bool) {
	sender, receiver := r.Endpoints()
	name, facts := sender, r.Hosts.Peer
	switch r.Role {
	case "send":
		name = receiver
	case "recv":
	case "loopback":
		facts = r.Hosts.Local
	default:
		facts = nil // verify's sender is nobody
	}
	return name, facts != nil && name != "" && name != hostinfo.Unknown && name == facts.Hostname
}

// hostname says whether peer, a peer label of the path to addr, is a
// hostname rather than an address: not "unknown", not addr nor its host,
// not an IP address. It tells apart the names of a file read back, which
// does not say where they came from.
func hostname(peer, addr string) bool {
	if peer == unknown || peer == addr {
		return false
	}
	if host, _, err := net.SplitHostPort(addr); err == nil && peer == host {
		return false
	}
	_, err := netip.ParseAddr(peer)
	return err != nil
}

// addrOf is the other end's address in r. A sender keeps the receiver's
// address and port as it connected to them: the port is the receiver's
// listener, a part of the path. Any other role keeps the IP alone, since
// the other end's port is ephemeral and would make a new series of every
// run.
func addrOf(r report.Report) string {
	if r.Role == "send" {
		return r.PeerAddr
	}
	if host, _, err := net.SplitHostPort(r.PeerAddr); err == nil {
		return host
	}
	if ip, err := netip.ParseAddr(r.PeerAddr); err == nil {
		return ip.String()
	}
	return ""
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

// endOf is when r's run ended, in seconds since the epoch: its start plus
// its seconds, or now when the report gives no start (or an absurd one).
func endOf(r report.Report) float64 {
	if !r.Start.IsZero() {
		end := unixSeconds(r.Start)
		if r.Seconds > 0 && !math.IsInf(r.Seconds, 1) { // not NaN either
			end += r.Seconds
		}
		if ts, ok := timestamp(end); ok {
			return ts
		}
	}
	return unixSeconds(time.Now())
}

// unixSeconds is t in seconds since the epoch, to the millisecond: a
// finer time only makes the file longer.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

// timestamp rounds x, in seconds, to the millisecond; ok is false for a
// time that is not finite or not within maxTimestamp of the epoch.
func timestamp(x float64) (ts float64, ok bool) {
	if !(math.Abs(x) < maxTimestamp) { // NaN too
		return 0, false
	}
	return math.Round(x*1e3) / 1e3, true
}

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

// A family is one metric of the file. Its value function gives a
// series' value, for the verdict v when byVerdict is set (then the
// family has one series per verdict); set reads such a value back, and
// says whether it was one.
type family struct {
	name, typ, help string
	byVerdict       bool
	value           func(c *counts, v int) string
	set             func(c *restored, v int, s string) bool
}

// countFamily is a family whose value is the count field points to.
func countFamily(name, typ, help string, byVerdict bool, field func(c *counts, v int) *uint64) family {
	return family{name, typ, help, byVerdict,
		func(c *counts, v int) string { return strconv.FormatUint(*field(c, v), 10) },
		func(c *restored, v int, s string) bool {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return false
			}
			*field(&c.counts, v) = n
			return true
		}}
}

// floatFamily is a family whose value is the seconds field points to.
// It came after files were written: a file without it restores it as 0.
func floatFamily(name, typ, help string, field func(c *counts) *float64) family {
	return family{name, typ, help, false,
		func(c *counts, _ int) string { return strconv.FormatFloat(*field(c), 'f', -1, 64) },
		func(c *restored, _ int, s string) bool {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil || duration(x) != x {
				return false
			}
			*field(&c.counts) = x
			return true
		}}
}

// families lists the file's metrics in the order they are written.
var families = []family{
	countFamily("zerocheck_runs_total", "counter", "Runs finished, by verdict.", true,
		func(c *counts, v int) *uint64 { return &c.runs[v] }),
	countFamily("zerocheck_bytes_verified_total", "counter", "Bytes verified against the pattern.", false,
		func(c *counts, _ int) *uint64 { return &c.bytesVerified }),
	countFamily("zerocheck_corrupt_bytes_total", "counter", "Bytes that arrived corrupt.", false,
		func(c *counts, _ int) *uint64 { return &c.corruptBytes }),
	countFamily("zerocheck_corrupt_regions_total", "counter", "Regions of corrupt bytes found.", false,
		func(c *counts, _ int) *uint64 { return &c.corruptRegions }),
	{"zerocheck_last_run_timestamp_seconds", "gauge", "When the last run recorded ended, in seconds since the epoch.", false,
		func(c *counts, _ int) string { return strconv.FormatFloat(c.lastEnd, 'f', -1, 64) },
		func(c *restored, _ int, s string) bool {
			x, err := strconv.ParseFloat(s, 64)
			ts, ok := timestamp(x)
			if err != nil || !ok {
				return false
			}
			c.lastEnd, c.hasEnd = ts, true
			return true
		}},
	{"zerocheck_last_run_verdict", "gauge", "Verdict of the last run recorded: 1 for its verdict, 0 for the others.", true,
		func(c *counts, v int) string {
			if v == c.lastVerdict {
				return "1"
			}
			return "0"
		},
		func(c *restored, v int, s string) bool {
			switch s {
			case "1":
				c.ones |= 1 << v
			case "0":
			default:
				return false
			}
			return true
		}},
	countFamily("zerocheck_last_run_corrupt_regions", "gauge", "Regions of corrupt bytes in the last run recorded.", false,
		func(c *counts, _ int) *uint64 { return &c.lastRegions }),
	countFamily("zerocheck_last_run_bytes_verified", "gauge", "Bytes verified in the last run recorded.", false,
		func(c *counts, _ int) *uint64 { return &c.lastBytes }),
	// Added after the families above: restore does not ask for them.
	floatFamily("zerocheck_run_duration_seconds_total", "counter", "Seconds the runs took, summed.",
		func(c *counts) *float64 { return &c.runSeconds }),
	floatFamily("zerocheck_last_run_duration_seconds", "gauge", "Seconds the last run recorded took.",
		func(c *counts) *float64 { return &c.lastSeconds }),
}

// required is how many families, from the first, a file written by this
// package has always had: a series or file without the later ones is
// whole, as an older version wrote it.
const required = 8

var escaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// render returns the file's content and its generation number. t.mu must
// be held.
func (t *Textfile) render() ([]byte, uint64) {
	t.gen++
	return append(slices.Clip(t.build), render(t.series)...), t.gen
}

// render writes the file of the series s: each family's HELP and TYPE,
// then its samples, series in order.
func render(s map[pathKey]*counts) []byte {
	keys := make([]pathKey, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pathKey) int {
		return cmp.Or(strings.Compare(a.role, b.role), strings.Compare(s[a].peer, s[b].peer), strings.Compare(a.addr, b.addr))
	})
	var b bytes.Buffer
	for _, f := range families {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for _, k := range keys {
			c := s[k]
			labels := `role="` + escaper.Replace(k.role) + `",peer="` + escaper.Replace(c.peer) +
				`",addr="` + escaper.Replace(k.addr) + `"`
			if !f.byVerdict {
				fmt.Fprintf(&b, "%s{%s} %s\n", f.name, labels, f.value(c, 0))
				continue
			}
			for v, name := range verdicts {
				fmt.Fprintf(&b, "%s{%s,verdict=\"%s\"} %s\n", f.name, labels, name, f.value(c, v))
			}
		}
	}
	return b.Bytes()
}

func cmpPath(a, b pathKey) int {
	return cmp.Or(strings.Compare(a.role, b.role), strings.Compare(a.addr, b.addr))
}
