package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
)

// Bounds on what a decoded result keeps, whatever its peer sent.
const (
	// MaxResultRegions is the most detailed regions a result keeps (the
	// largest --max-regions).
	MaxResultRegions = 1 << 20
	// MaxResultCapture is the most captured bytes a region may carry, in
	// Expected and in Actual each (the largest capture limit).
	MaxResultCapture = 1 << 20
	// MaxResultFacts bounds the JSON of the host facts in a result, as a
	// hello bounds them; larger facts are dropped (facts are help, not a
	// reason to fail a run), and so are facts of more than
	// maxFactsTokens values (a real host's have about 200), whose decoded
	// form would outgrow their text.
	MaxResultFacts = MaxHello / 2
	maxFactsTokens = 2048
	// maxBlockRegions is how many region numbers a repeated block keeps,
	// as report.RepeatedBlocksOf keeps them.
	maxBlockRegions = 64
)

// What decoding a result costs (see DecodeCost), measured by
// TestDecodeResultMemory: a region's or a repeated block's JSON is at
// least minElement bytes ({"index":1,"length":1,"corrupt_bytes":1}),
// and decoding one allocates under elementCost (1.4 KiB measured, the
// decoder's garbage included); a host's facts cost
// under factsCost, and the rest (streams, the frame of the report)
// under baseCost.
const (
	minElement  = 40
	elementCost = 2 << 10
	factsCost   = 1 << 20
	baseCost    = 64 << 10
)

// DecodeCost bounds what DecodeResultWithin allocates, garbage
// included, to decode a payload of n bytes keeping maxRegions regions
// (0: MaxResultRegions): its strings and captures take no more than
// their text, and each region or repeated block it decodes (at most
// maxRegions of each) a small constant. A frame of n bytes costs the
// reader n more, its payload.
func DecodeCost(n, maxRegions int) int64 {
	keep := int64(clamp(maxRegions, MaxResultRegions))
	return int64(n) + elementCost*min(2*keep, int64(n)/minElement) + factsCost + baseCost
}

// ResultLimits bound what DecodeResultWithin keeps of a peer's report:
// what this end would keep of its own.
type ResultLimits struct {
	// MaxRegions is how many regions (and repeated blocks) are kept in
	// detail, the first ones; later ones stay counted in RegionCount.
	// 0: MaxResultRegions.
	MaxRegions int
	// MaxCapture is how many captured bytes of each region are kept; a
	// longer capture is cut and the region marked Truncated. 0:
	// MaxResultCapture.
	MaxCapture int
}

// DecodeResultWithin parses and checks a stream's report, keeping no
// more than lim allows. Its memory is bounded by the payload's size,
// whatever the payload's shape: arrays are counted before anything is
// allocated for them, elements past a limit are never decoded, and
// captured bytes past the limit are checked but not kept. (A plain
// json.Unmarshal of a 4 MiB payload of empty regions, "[{},{},...]",
// allocates over a GiB.)
func DecodeResultWithin(payload []byte, lim ResultLimits) (report.Report, error) {
	lim.MaxRegions = clamp(lim.MaxRegions, MaxResultRegions)
	lim.MaxCapture = clamp(lim.MaxCapture, MaxResultCapture)
	r, err := decodeResult(payload, lim)
	if err == nil {
		err = r.Check()
	}
	if err != nil {
		return report.Report{}, fmt.Errorf("result: %w", err)
	}
	return r, nil
}

func clamp(v, max int) int {
	if v <= 0 || v > max {
		return max
	}
	return v
}

// resultJSON is a Result whose arrays and facts are left as JSON text,
// to be decoded one element at a time under the limits. Its fields
// shadow the embedded Result's of the same name.
type resultJSON struct {
	Result
	Streams        rawJSON   `json:"streams"`
	Regions        rawJSON   `json:"regions"`
	RepeatedBlocks rawJSON   `json:"repeated_blocks"`
	Hosts          hostsJSON `json:"hosts"`
}

type hostsJSON struct {
	Local rawJSON `json:"local"`
}

// rawJSON is a JSON value as it stands in the payload: unlike
// json.RawMessage it is not copied, and null reads as absent.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = nil
		return nil
	}
	*r = b
	return nil
}

func decodeResult(payload []byte, lim ResultLimits) (report.Report, error) {
	// Unmarshal, unlike a Decoder, reads the payload in place: no copy.
	var x resultJSON
	start := skipSpace(payload, 0)
	if start == len(payload) {
		return report.Report{}, io.EOF
	}
	end, err := valueEnd(payload, start)
	if err != nil || end == start {
		end = len(payload) // Unmarshal says what is wrong
	}
	if err := json.Unmarshal(payload[:end], &x); err != nil {
		return report.Report{}, err
	}
	if skipSpace(payload, end) != len(payload) {
		return report.Report{}, errors.New("trailing data after the message")
	}
	m := x.Result
	if m.Streams, err = decodeList[ResultStream](x.Streams, MaxStreams, MaxStreams, nil); err != nil {
		return report.Report{}, fmt.Errorf("streams: %w", err)
	}
	if n, err := count(x.Regions); err != nil {
		return report.Report{}, err
	} else if int64(n) > m.RegionCount {
		return report.Report{}, fmt.Errorf("%d regions detailed of %d counted", n, m.RegionCount)
	}
	m.Regions, err = decodeList(x.Regions, -1, lim.MaxRegions, func(i int, e []byte, g *Region) error {
		return decodeRegion(i, e, g, lim.MaxCapture)
	})
	if err != nil {
		return report.Report{}, err
	}
	m.RepeatedBlocks, err = decodeList(x.RepeatedBlocks, -1, lim.MaxRegions, decodeBlock)
	if err != nil {
		return report.Report{}, err
	}
	local, err := decodeFacts(x.Hosts.Local)
	if err != nil {
		return report.Report{}, err
	}
	// A stream's result carries the facts of the end that verified it
	// (Local); the other end knows its own, so Report drops Peer.
	m.Hosts = Hosts{}
	r := m.Report()
	r.Hosts.Local = local
	return r, nil
}

// decodeList decodes the first keep elements of the JSON array a, each
// with dec (json.Unmarshal when nil); an array of more than max
// elements (max >= 0) is an error. Null stays nil and [] empty, as
// json.Unmarshal has them. The list grows as elements decode, not by
// their count: dec fails at the first element that cannot be true, so
// a payload of tiny bogus elements costs nothing.
func decodeList[T any](a rawJSON, max, keep int, dec func(int, []byte, *T) error) ([]T, error) {
	if a == nil {
		return nil, nil
	}
	n, err := count(a)
	if err != nil {
		return nil, err
	}
	if max >= 0 && n > max {
		return nil, fmt.Errorf("%d elements, at most %d", n, max)
	}
	out := make([]T, 0, min(n, keep, 64))
	err = each(a, func(e []byte) error {
		if len(out) == keep {
			return errStop
		}
		var v T
		var err error
		if dec != nil {
			err = dec(len(out), e, &v)
		} else {
			err = json.Unmarshal(e, &v)
		}
		out = append(out, v)
		return err
	})
	return out, err
}

// regionJSON decodes a region with its captures bounded.
type regionJSON struct {
	Region
	Expected capHex `json:"expected"`
	Actual   capHex `json:"actual"`
}

// decodeRegion decodes region i. Its checks here are those that make a
// region's JSON at least as long as a quarter of its decoded form (an
// index, a length and a count); Check does the rest.
func decodeRegion(i int, e []byte, g *Region, maxCapture int) error {
	x := regionJSON{Expected: capHex{max: maxCapture}, Actual: capHex{max: maxCapture}}
	if err := json.Unmarshal(e, &x); err != nil {
		return err
	}
	if x.Index != i+1 {
		return fmt.Errorf("region %d numbered %d", i+1, x.Index)
	}
	if x.Length < 1 || x.CorruptBytes < 1 {
		return fmt.Errorf("region %d: impossible offset or counts", i+1)
	}
	if x.Expected.n != x.Actual.n || x.Actual.n > MaxResultCapture {
		return fmt.Errorf("region %d: captured data of %d and %d bytes", x.Index, x.Expected.n, x.Actual.n)
	}
	*g = x.Region
	g.Expected, g.Actual = Hex(x.Expected.b), Hex(x.Actual.b)
	g.Truncated = g.Truncated || x.Actual.n > len(x.Actual.b)
	return nil
}

// blockJSON decodes a repeated block with its region list bounded.
type blockJSON struct {
	RepeatedBlock
	Block   capHex  `json:"block"`
	Regions rawJSON `json:"regions"`
}

func decodeBlock(_ int, e []byte, b *RepeatedBlock) error {
	x := blockJSON{Block: capHex{max: 16}}
	if err := json.Unmarshal(e, &x); err != nil {
		return err
	}
	if x.Block.n != 16 {
		return errors.New("bad repeated block")
	}
	*b = x.RepeatedBlock
	b.Block = Hex(x.Block.b)
	var err error
	b.Regions, err = decodeList[int](x.Regions, -1, maxBlockRegions, nil)
	return err
}

// decodeFacts decodes a host's facts, or drops them (nil) when they are
// larger or denser than any host's.
func decodeFacts(raw rawJSON) (*hostinfo.Facts, error) {
	if raw == nil || len(raw) > MaxResultFacts || tokens(raw) > maxFactsTokens {
		return nil, nil
	}
	return HostFacts(Facts(raw))
}

// capHex is report.Hex that keeps at most max bytes; n is the length of
// the whole.
type capHex struct {
	max int
	b   report.Hex
	n   int
}

func (h *capHex) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		h.b, h.n = nil, 0
		return nil
	}
	s := b
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && bytes.IndexByte(s, '\\') < 0 {
		s = s[1 : len(s)-1]
	} else {
		// Escaped hex digits: legal JSON, if odd; the string costs no
		// more than its text.
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("hex field: %w", err)
		}
		s = []byte(str)
	}
	h.n = len(s) / 2
	keep := min(h.n, h.max)
	h.b = make(report.Hex, keep)
	if _, err := hex.Decode(h.b, s[:2*keep]); err != nil {
		return fmt.Errorf("hex field: %w", err)
	}
	// The rest is checked, in pieces, and not kept.
	var tmp [64]byte
	for rest := s[2*keep:]; len(rest) > 0; {
		piece := rest[:min(len(rest), 2*len(tmp))]
		if _, err := hex.Decode(tmp[:], piece); err != nil {
			return fmt.Errorf("hex field: %w", err)
		}
		rest = rest[len(piece):]
	}
	return nil
}

// errStop ends each early.
var errStop = errors.New("stop")

// count returns the number of elements of the JSON array a (0 for nil).
func count(a rawJSON) (int, error) {
	n := 0
	err := each(a, func([]byte) error { n++; return nil })
	return n, err
}

// each calls fn on each element of the JSON array a, as a slice of a: a
// was checked by the decoder that gave it, so only its structure is
// walked. fn returning errStop ends the walk without an error.
func each(a rawJSON, fn func([]byte) error) error {
	if a == nil {
		return nil
	}
	i := skipSpace(a, 0)
	if i == len(a) || a[i] != '[' {
		return errors.New("not an array")
	}
	i = skipSpace(a, i+1)
	if i < len(a) && a[i] == ']' {
		return nil
	}
	for i < len(a) {
		end, err := valueEnd(a, i)
		if err != nil {
			return err
		}
		if err := fn(a[i:end]); err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
		i = skipSpace(a, end)
		switch {
		case i < len(a) && a[i] == ',':
			i = skipSpace(a, i+1)
		case i < len(a) && a[i] == ']':
			return nil
		default:
			return errors.New("malformed array")
		}
	}
	return errors.New("malformed array")
}

// valueEnd returns the end of the JSON value that starts at a[i].
func valueEnd(a []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(a); j++ {
		switch a[j] {
		case '"':
			k, err := stringEnd(a, j)
			if err != nil {
				return 0, err
			}
			j = k - 1
			if depth == 0 {
				return k, nil
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j, nil // the end of a scalar before the array's end
			}
			if depth--; depth == 0 {
				return j + 1, nil
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return j, nil
			}
		}
	}
	if depth == 0 {
		return len(a), nil
	}
	return 0, errors.New("malformed value")
}

// stringEnd returns the end of the JSON string that starts at a[i].
func stringEnd(a []byte, i int) (int, error) {
	for j := i + 1; j < len(a); j++ {
		switch a[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

func skipSpace(a []byte, i int) int {
	for i < len(a) && (a[i] == ' ' || a[i] == '\t' || a[i] == '\r' || a[i] == '\n') {
		i++
	}
	return i
}

// tokens counts the structural characters of JSON text outside its
// strings: about the number of values it holds.
func tokens(a []byte) int {
	n := 0
	for i := 0; i < len(a); i++ {
		switch a[i] {
		case '"':
			end, err := stringEnd(a, i)
			if err != nil {
				return n
			}
			i = end - 1
		case ',', ':', '[', '{':
			n++
		}
	}
	return n
}
