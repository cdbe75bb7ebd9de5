package wire

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// ResultSchema is the schema name a Result carries today.
const ResultSchema = "zerocheck.report/v1"

// FactsVersion is the version of the host facts a Hello, a Reply and a
// Result carry: the JSON object of hostinfo.Facts as zerocheck 2 writes
// it. A change to the facts' field names is a protocol change and takes
// a new version.
const FactsVersion = 1

// Facts is a host's facts as they travel: a JSON object (see
// FactsVersion), kept as its text so that a peer's facts are decoded,
// bounded, in one place (FactsFrom, Facts.Host).
type Facts = json.RawMessage

// PeerFacts is the dialer's host facts when a token is in use: its Hello
// carries none, since an impostor listener would read them before it
// had to prove anything; they follow, in a frame of their own
// (TypeFacts), once the dialer has checked the listener's proof in its
// Reply. Facts may be empty: the dialer has none to give.
type PeerFacts struct {
	FactsVersion int   `json:"facts_version"`
	Facts        Facts `json:"facts,omitempty"`
}

// EncodePeerFacts returns f as a frame, its version set.
func EncodePeerFacts(f PeerFacts) ([]byte, error) {
	f.FactsVersion = FactsVersion
	return encode(TypeFacts, f)
}

// DecodePeerFacts parses a PeerFacts payload. Facts of another version
// are dropped, not an error: facts are help, not a reason to fail a run.
func DecodePeerFacts(payload []byte) (PeerFacts, error) {
	var f PeerFacts
	if err := strict(payload, &f); err != nil {
		return PeerFacts{}, fmt.Errorf("facts: %w", err)
	}
	if f.FactsVersion != FactsVersion {
		f.Facts = nil
	}
	if err := validFacts(f.Facts); err != nil {
		return PeerFacts{}, fmt.Errorf("facts: %w", err)
	}
	return f, nil
}

// Result is the message that ends a stream: the verifying end's report.
// It is the protocol's contract: its JSON names are fixed here, whatever
// the report package calls its fields, and testdata/result.golden pins
// its bytes. ResultFrom and Result.Report convert it.
type Result struct {
	Schema            string `json:"schema"`
	Version           string `json:"zerocheck_version,omitempty"`
	Verdict           string `json:"verdict"`
	Error             string `json:"error,omitempty"`
	ControlCorruption string `json:"control_corruption,omitempty"`

	Role      string `json:"role,omitempty"`
	RunID     string `json:"run_id,omitempty"`
	LocalAddr string `json:"local_addr,omitempty"`
	PeerAddr  string `json:"peer_addr,omitempty"`

	Pattern         string    `json:"pattern"`
	Seed            uint64    `json:"seed"`
	Start           time.Time `json:"start"`
	Seconds         float64   `json:"seconds"`
	StartOffset     int64     `json:"start_offset"`
	BytesExpected   int64     `json:"bytes_expected,omitempty"`
	BytesVerified   int64     `json:"bytes_verified"`
	CorruptBytes    int64     `json:"corrupt_bytes"`
	FlippedBits     int64     `json:"flipped_bits"`
	RegionCount     int64     `json:"region_count"`
	MaxRegions      int       `json:"max_regions"`
	MergeGap        int       `json:"merge_gap"`
	PatternMismatch bool      `json:"pattern_mismatch"`
	LooksLike       string    `json:"looks_like,omitempty"`
	PatternSent     string    `json:"pattern_sent,omitempty"`
	SeedSent        *uint64   `json:"seed_sent,omitempty"`

	Streams        []ResultStream  `json:"streams,omitempty"`
	Regions        []Region        `json:"regions"`
	RepeatedBlocks []RepeatedBlock `json:"repeated_blocks"`

	Hosts Hosts `json:"hosts"`
}

// ResultStream is one stream of a Result.
type ResultStream struct {
	Stream        int     `json:"stream"`
	Direction     string  `json:"direction"`
	Verdict       string  `json:"verdict"`
	Error         string  `json:"error,omitempty"`
	BytesExpected int64   `json:"bytes_expected,omitempty"`
	BytesVerified int64   `json:"bytes_verified"`
	CorruptBytes  int64   `json:"corrupt_bytes"`
	RegionCount   int64   `json:"region_count"`
	Seconds       float64 `json:"seconds"`
}

// Region is one corrupt region of a Result.
type Region struct {
	Index        int    `json:"index"`
	Stream       int    `json:"stream"`
	Offset       int64  `json:"offset"`
	Length       int64  `json:"length"`
	CorruptBytes int64  `json:"corrupt_bytes"`
	FlippedBits  int64  `json:"flipped_bits"`
	Granule      int    `json:"granule"`
	Phase        int    `json:"phase"`
	Blocks       int64  `json:"blocks"`
	MaxRepeat    int    `json:"max_repeat"`
	Kind         string `json:"kind"`
	SourceOffset *int64 `json:"source_offset,omitempty"`
	DataOffset   int64  `json:"data_offset"`
	Expected     Hex    `json:"expected"`
	Actual       Hex    `json:"actual"`
	Truncated    bool   `json:"truncated"`
}

// RepeatedBlock is a 16-byte block seen in several regions of a Result.
type RepeatedBlock struct {
	Block   Hex   `json:"block"`
	Count   int   `json:"count"`
	Regions []int `json:"regions"`
}

// Hosts carries the facts of the end that verified the stream (Local).
// Peer, when a sender includes it, is dropped by the reader: the other
// end knows its own.
type Hosts struct {
	Local Facts `json:"local,omitempty"`
	Peer  Facts `json:"peer,omitempty"`
}

// Hex is a byte string sent as lower-case hex.
type Hex []byte

// MarshalJSON implements json.Marshaler.
func (h Hex) MarshalJSON() ([]byte, error) {
	return json.Marshal(hex.EncodeToString(h))
}

// UnmarshalJSON implements json.Unmarshaler.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("hex field: %w", err)
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("hex field: %w", err)
	}
	*h = d
	return nil
}
