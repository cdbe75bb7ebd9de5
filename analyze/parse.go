package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
)

// errNoReport is the verdict on a file that holds nothing at all: an
// empty file is what an interrupted redirect leaves, and is not a fleet
// of zero runs.
var errNoReport = errors.New("no report in it (empty)")

// Report is what the analysis reads of one zerocheck report
// (report.Report): the run's identity, verdict and counts, its streams
// summed by direction, and the facts of its hosts. Nothing else is
// decoded: the regions, repeated blocks and captured bytes a corrupt run
// details, and the host facts that explain nothing (SAs, modules, xfrm
// counters, risk texts), are skipped as they are read, so that a
// report costs memory for what is counted, not for its size.
type Report struct {
	Schema    string
	Verdict   report.Verdict
	Role      string
	RunID     string
	LocalAddr string
	PeerAddr  string
	Pattern   string
	Seed      uint64
	Start     time.Time

	BytesVerified int64
	CorruptBytes  int64
	RegionCount   int64

	// Forward and Reverse sum the report's streams (report.Stream) by
	// direction: Forward from the host that ran send to the one that ran
	// recv, Reverse (--bidir) the other way. Both are zero when the
	// report lists no streams (verify, and reports written before
	// streams were listed).
	Forward, Reverse Flow

	// Hosts holds the facts of both ends, of which only those that can
	// explain corruption (see the package doc) and those the risk
	// profiles are matched on are filled in.
	Hosts report.Hosts
}

// Flow sums the streams of one direction of a run.
type Flow struct {
	// Streams counts them.
	Streams int
	// Verdict is the worst of theirs: corrupt beats incomplete beats
	// clean. It is "" when Streams is 0.
	Verdict       report.Verdict
	BytesVerified int64
	CorruptBytes  int64
	Regions       int64
}

// add counts one stream. Counts below zero, which no zerocheck writes,
// count as zero; the sums saturate.
func (f *Flow) add(s stream) {
	f.Streams++
	v := report.Clean
	switch {
	case s.Verdict == report.Corrupt || s.CorruptBytes > 0:
		v = report.Corrupt
	case s.Verdict == report.Incomplete:
		v = report.Incomplete
	}
	if f.Verdict == "" || worse(v, f.Verdict) {
		f.Verdict = v
	}
	f.BytesVerified = addSat(f.BytesVerified, max(s.BytesVerified, 0))
	f.CorruptBytes = addSat(f.CorruptBytes, max(s.CorruptBytes, 0))
	f.Regions = addSat(f.Regions, max(s.RegionCount, 0))
}

// stream is what a flow counts of a report.Stream.
type stream struct {
	Direction     string         `json:"direction"`
	Verdict       report.Verdict `json:"verdict"`
	BytesVerified int64          `json:"bytes_verified"`
	CorruptBytes  int64          `json:"corrupt_bytes"`
	RegionCount   int64          `json:"region_count"`
}

// flows sums streams by direction: [0] forward, [1] reverse. A stream
// whose direction is not "reverse" is forward, as report.Merge takes a
// stream without one.
type flows [2]Flow

func (fs *flows) add(s stream) {
	i := 0
	if s.Direction == report.Reverse {
		i = 1
	}
	fs[i].add(s)
}

// UnmarshalJSON sums the streams of a JSON array one element at a time,
// so that no list of them is built: a report of a million "{}" streams
// costs no more than one of two.
func (fs *flows) UnmarshalJSON(b []byte) error {
	*fs = flows{}
	var s stream
	return eachElement(b, "streams", func(d *json.Decoder) error {
		s = stream{}
		if err := d.Decode(&s); err != nil {
			return err
		}
		fs.add(s)
		return nil
	})
}

// Summary returns what the analysis reads of r, as Parse would decode it
// from r's JSON, but with r's host facts whole.
func Summary(r report.Report) Report {
	out := Report{
		Schema: r.Schema, Verdict: r.Verdict, Role: r.Role, RunID: r.RunID,
		LocalAddr: r.LocalAddr, PeerAddr: r.PeerAddr, Pattern: r.Pattern, Seed: r.Seed, Start: r.Start,
		BytesVerified: r.BytesVerified, CorruptBytes: r.CorruptBytes, RegionCount: r.RegionCount,
		Hosts: r.Hosts,
	}
	var fs flows
	for _, s := range r.Streams {
		fs.add(stream{Direction: s.Direction, Verdict: s.Verdict, BytesVerified: s.BytesVerified,
			CorruptBytes: s.CorruptBytes, RegionCount: s.RegionCount})
	}
	out.Forward, out.Reverse = fs[0], fs[1]
	return out
}

// wireReport is the JSON of a report.Report as Parse reads it: the
// fields of Report, under the names report.Report gives them. Every
// other field of the object is skipped by encoding/json without being
// stored.
type wireReport struct {
	Schema        string         `json:"schema"`
	Verdict       report.Verdict `json:"verdict"`
	Role          string         `json:"role"`
	RunID         string         `json:"run_id"`
	LocalAddr     string         `json:"local_addr"`
	PeerAddr      string         `json:"peer_addr"`
	Pattern       string         `json:"pattern"`
	Seed          uint64         `json:"seed"`
	Start         time.Time      `json:"start"`
	BytesVerified int64          `json:"bytes_verified"`
	CorruptBytes  int64          `json:"corrupt_bytes"`
	RegionCount   int64          `json:"region_count"`
	Streams       flows          `json:"streams"`
	Hosts         struct {
		Local *wireFacts `json:"local"`
		Peer  *wireFacts `json:"peer"`
	} `json:"hosts"`
}

func (w *wireReport) report() Report {
	return Report{
		Schema: w.Schema, Verdict: w.Verdict, Role: w.Role, RunID: w.RunID,
		LocalAddr: w.LocalAddr, PeerAddr: w.PeerAddr, Pattern: w.Pattern, Seed: w.Seed, Start: w.Start,
		BytesVerified: w.BytesVerified, CorruptBytes: w.CorruptBytes, RegionCount: w.RegionCount,
		Forward: w.Streams[0], Reverse: w.Streams[1],
		Hosts: report.Hosts{Local: w.Hosts.Local.facts(), Peer: w.Hosts.Peer.facts()},
	}
}

// wireFacts is hostinfo.Facts as Parse reads it. The fields declared
// here hide the embedded ones of the same JSON name, and skip or sift
// what the analysis does not use and a report may hold any amount of:
// the risks (matched again from the facts), why facts are unknown, and
// in wireIPsec and wireAES the SAs, modules, xfrm counters and crypto
// implementations other than those hostinfo.Fields lists.
type wireFacts struct {
	hostinfo.Facts
	Risks   skipped   `json:"risks"`
	Unknown skipped   `json:"unknown"`
	IPsec   wireIPsec `json:"ipsec"`
	AES     wireAES   `json:"aes"`
}

type wireIPsec struct {
	hostinfo.IPsec
	Modules  skipped `json:"modules"`
	XfrmStat skipped `json:"xfrm_stat"`
	States   skipped `json:"states"`
}

type wireAES struct {
	hostinfo.AES
	Implementations impls `json:"implementations"`
}

func (w *wireFacts) facts() *hostinfo.Facts {
	if w == nil {
		return nil
	}
	f := w.Facts
	f.IPsec = w.IPsec.IPsec
	f.AES = w.AES.AES
	f.AES.Implementations = w.AES.Implementations
	return &f
}

// skipped is a JSON value read and dropped; encoding/json has checked
// its syntax.
type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }

// implNames are the algorithms whose implementation hostinfo.Fields
// lists as aes.impl.NAME: the others explain nothing here.
var implNames = hostinfo.AESAlgorithms

// impls is hostinfo.AES.Implementations, keeping implNames only.
type impls map[string]hostinfo.Impl

// UnmarshalJSON decodes as encoding/json decodes into a map (null makes
// it nil, an object adds to what it holds, the last value of a key wins)
// but decodes only the values of implNames, without a map entry or a
// string for the other keys.
func (m *impls) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = nil
		return nil
	}
	var last [len(implNames)][]byte
	err := members(b, func(key, value []byte) {
		if i := implIndex(key); i >= 0 {
			last[i] = value
		}
	})
	if err != nil {
		return fmt.Errorf("aes.implementations: %w", err)
	}
	if *m == nil {
		*m = impls{}
	}
	for i, v := range last {
		if v == nil {
			continue
		}
		var im hostinfo.Impl
		if err := json.Unmarshal(v, &im); err != nil {
			return err
		}
		(*m)[implNames[i]] = im
	}
	return nil
}

// implIndex returns the index in implNames of a JSON string, quotes
// included, or -1. It unescapes as encoding/json does, into a buffer of
// the longest name's size: a key that does not fit is none of them.
func implIndex(raw []byte) int {
	var buf [len("rfc4106(gcm(aes))")]byte
	n := 0
	s := raw[1 : len(raw)-1]
	for j := 0; j < len(s); j++ {
		c := s[j]
		if c == '\\' {
			j++
			if j == len(s) {
				return -1
			}
			switch s[j] {
			case '"', '\\', '/':
				c = s[j]
			case 'u':
				if j+4 >= len(s) {
					return -1
				}
				r := 0
				for _, h := range s[j+1 : j+5] {
					switch {
					case '0' <= h && h <= '9':
						r = r<<4 | int(h-'0')
					case 'a' <= h && h <= 'f':
						r = r<<4 | int(h-'a'+10)
					case 'A' <= h && h <= 'F':
						r = r<<4 | int(h-'A'+10)
					default:
						return -1
					}
				}
				if r >= 0x80 { // the names are ASCII
					return -1
				}
				c = byte(r)
				j += 4
			default: // \b, \f, \n, \r, \t: in no name
				return -1
			}
		}
		if n == len(buf) {
			return -1
		}
		buf[n] = c
		n++
	}
	for i, name := range implNames {
		if string(buf[:n]) == name {
			return i
		}
	}
	return -1
}

// errSyntax is what the scanners below say of what they cannot walk:
// never, on JSON that encoding/json has checked, as it checks a whole
// value before it decodes any of it, and so before an UnmarshalJSON
// method sees a part of it.
var errSyntax = errors.New("not JSON")

// members calls f with the key (a JSON string, quotes included) and the
// value of each member of the JSON object b, without decoding either.
func members(b []byte, f func(key, value []byte)) error {
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return errors.New("not an object")
	}
	i++
	for {
		i = skipSpace(b, i)
		if i == len(b) {
			return errSyntax
		}
		switch b[i] {
		case '}':
			return nil
		case ',':
			i = skipSpace(b, i+1)
		}
		k := i
		if i = skipString(b, i); i < 0 {
			return errSyntax
		}
		key := b[k:i]
		if i = skipSpace(b, i); i == len(b) || b[i] != ':' {
			return errSyntax
		}
		v := skipSpace(b, i+1)
		if i = skipValue(b, v); i < 0 {
			return errSyntax
		}
		f(key, b[v:i])
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index past the JSON string at b[i], or -1.
func skipString(b []byte, i int) int {
	if i == len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index past the JSON value at b[i], or -1.
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			if i = skipString(b, i); i < 0 || depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // past a number or literal, the object's end
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	if depth > 0 {
		return -1
	}
	return i
}

// eachElement calls f to decode each element of the JSON array b in
// turn; null is an empty array. A json.Decoder reads the elements one at
// a time, into what f reuses.
func eachElement(b []byte, field string, f func(*json.Decoder) error) error {
	if string(b) == "null" {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil {
		return err
	} else if t != json.Delim('[') {
		return fmt.Errorf("%s: not an array", field)
	}
	for d.More() {
		if err := f(d); err != nil {
			return err
		}
	}
	_, err := d.Token()
	return err
}

// Parse decodes report bytes: one zerocheck report, or several JSON
// objects one after another as recv --json writes them, one a run. It
// returns what the analysis reads of each report, in file order. The
// first object that is not a report (not JSON, truncated, another
// schema, an unknown verdict) ends the parse: the reports before it are
// returned with an error that says where and why. One writer made the
// file, so once it holds something else nothing after that point can be
// trusted; and a receiver killed while writing leaves complete reports
// before a truncated one.
//
// Parse keeps no more than Report holds of each report: what else an
// object holds is checked to be JSON, not to be what a zerocheck report
// would put there.
func Parse(data []byte) ([]Report, error) {
	var out []Report
	err := decode(data, func(r Report) { out = append(out, r) })
	return out, err
}

// decode calls add for each report in data, in order.
func decode(data []byte, add func(Report)) error {
	d := json.NewDecoder(bytes.NewReader(data))
	var w wireReport
	for n := 0; ; n++ {
		// Where the object starts, for the warning: past the blank
		// between objects.
		at := d.InputOffset()
		at += int64(len(data[at:]) - len(bytes.TrimLeft(data[at:], " \t\r\n")))
		w = wireReport{}
		err := d.Decode(&w)
		if err == io.EOF {
			if n == 0 {
				return errNoReport
			}
			return nil
		}
		var r Report
		if err == nil {
			r = w.report()
			err = check(r)
		} else {
			err = describe(err)
		}
		if err != nil {
			if n > 0 {
				return fmt.Errorf("at byte %d, after %d reports: %w", at, n, err)
			}
			return err
		}
		add(r)
	}
}

// describe turns a decoding error into the reason a person needs: was it
// JSON at all, and if so, was it cut short.
func describe(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated: the file ends inside a JSON value")
	case errors.As(err, &syn):
		return fmt.Errorf("not JSON: %v (byte %d)", err, syn.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Errorf("not a zerocheck report: a JSON %s, not an object", typ.Value)
	case errors.As(err, &typ):
		return fmt.Errorf("not a zerocheck report: %s: a JSON %s, not %s", typ.Field, typ.Value, typ.Type)
	}
	return fmt.Errorf("not a zerocheck report: %v", err)
}

// check refuses a JSON object that decoded but is not a report the
// analysis can count: a foreign schema (another tool's JSON, or this
// command's own --json output left in a reports directory), or values no
// zerocheck writes, which would skew every sum and rate.
func check(r Report) error {
	switch {
	case r.Schema == "":
		return errors.New(`not a zerocheck report: no "schema" field`)
	case r.Schema != report.Schema:
		return fmt.Errorf("not a zerocheck report: schema %q, want %q", r.Schema, report.Schema)
	}
	switch r.Verdict {
	case report.Clean, report.Corrupt, report.Incomplete:
	default:
		return fmt.Errorf("not a zerocheck report: verdict %q", r.Verdict)
	}
	if r.BytesVerified < 0 || r.CorruptBytes < 0 || r.RegionCount < 0 {
		return errors.New("not a zerocheck report: negative counts")
	}
	return nil
}
