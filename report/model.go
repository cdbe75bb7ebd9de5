// Package report holds zerocheck's results model and its encoders.
//
// Every producer (verify on a pipe, the network receiver, a sender that
// got the receiver's findings) fills one Report, and every encoder (text,
// JSON) reads only that. The JSON form is a stable, versioned interface:
// fields are added, never renamed or retyped, within one Schema.
package report

import (
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
)

// Schema names the JSON layout of Report. It changes only when a field is
// removed or changes meaning.
const Schema = "zerocheck.report/v1"

// Verdict is the outcome of a run.
type Verdict string

// The verdicts, from best to worst for exit-code purposes: Corrupt wins
// over Incomplete because corruption found before a failure is still
// corruption.
const (
	Clean      Verdict = "clean"
	Corrupt    Verdict = "corrupt"
	Incomplete Verdict = "incomplete"
)

// Region kinds.
const (
	KindBitflip   = "bitflip"
	KindZeroed    = "zeroed"
	KindDisplaced = "displaced"
	KindBlock     = "block"
	KindBurst     = "burst"
)

// Report is the result of one run: one or more streams verified against
// one pattern.
type Report struct {
	Schema  string  `json:"schema"`
	Version string  `json:"zerocheck_version,omitempty"`
	Verdict Verdict `json:"verdict"`
	// Error says why a run is incomplete (short stream, I/O error,
	// interrupted). It may be set on a corrupt run too: corruption found
	// before the failure is still reported.
	Error string `json:"error,omitempty"`
	// ControlCorruption is set when a protocol message failed its CRC32C:
	// the control channel itself was corrupted in transit, which makes
	// the run corrupt even if every pattern byte arrived intact.
	ControlCorruption string `json:"control_corruption,omitempty"`

	// Role is the command that wrote the report: send, recv, loopback or
	// verify.
	Role string `json:"role,omitempty"`
	// RunID ties the reports of both ends of one network run together.
	RunID string `json:"run_id,omitempty"`
	// LocalAddr and PeerAddr are the run's socket addresses, this end's
	// and the other's.
	LocalAddr string `json:"local_addr,omitempty"`
	PeerAddr  string `json:"peer_addr,omitempty"`

	Pattern string `json:"pattern"`
	Seed    uint64 `json:"seed"`
	// Start is when verification began.
	Start time.Time `json:"start"`
	// Seconds is the wall time of the run.
	Seconds float64 `json:"seconds"`
	// StartOffset is the pattern offset of the stream's first byte (0
	// unless the sender started elsewhere).
	StartOffset int64 `json:"start_offset"`
	// BytesExpected is the planned size when one was given, else 0.
	BytesExpected int64 `json:"bytes_expected,omitempty"`
	BytesVerified int64 `json:"bytes_verified"`
	CorruptBytes  int64 `json:"corrupt_bytes"`
	FlippedBits   int64 `json:"flipped_bits"`
	// RegionCount counts all regions; Regions details the first MaxRegions.
	RegionCount int64 `json:"region_count"`
	MaxRegions  int   `json:"max_regions"`
	MergeGap    int   `json:"merge_gap"`
	// PatternMismatch is set when more than half of the bytes verified are
	// corrupt: the peer almost certainly sent another pattern or seed.
	PatternMismatch bool `json:"pattern_mismatch"`
	// LooksLike names a pattern the start of the stream matches when
	// PatternMismatch is set and one does.
	LooksLike string `json:"looks_like,omitempty"`

	// Streams summarises each stream of a network run: parallel
	// connections (--streams) and, with --bidir, both directions.
	Streams []Stream `json:"streams,omitempty"`

	Regions []Region `json:"regions"`
	// RepeatedBlocks lists 16-byte blocks that recur in more than one
	// region: a shared source such as a stale register or buffer.
	RepeatedBlocks []RepeatedBlock `json:"repeated_blocks"`

	Hosts Hosts `json:"hosts"`
}

// Hosts carries the host facts of both ends of a run: this end (Local)
// and the other (Peer). Either is nil when unknown: verify on a pipe has
// no peer to ask.
type Hosts struct {
	Local *hostinfo.Facts `json:"local,omitempty"`
	Peer  *hostinfo.Facts `json:"peer,omitempty"`
}

// Directions of a stream: Forward runs from the end that ran send to the
// end that ran recv, Reverse (--bidir) the other way.
const (
	Forward = "forward"
	Reverse = "reverse"
)

// Stream is one stream's share of a run. Its regions are the run's
// regions with this Stream number.
type Stream struct {
	Stream        int     `json:"stream"`
	Direction     string  `json:"direction"`
	Verdict       Verdict `json:"verdict"`
	Error         string  `json:"error,omitempty"`
	BytesExpected int64   `json:"bytes_expected,omitempty"`
	BytesVerified int64   `json:"bytes_verified"`
	CorruptBytes  int64   `json:"corrupt_bytes"`
	RegionCount   int64   `json:"region_count"`
	Seconds       float64 `json:"seconds"`
}

// Region is a run of corrupt bytes: two corrupt bytes belong to one region
// when fewer than MergeGap intact bytes separate them.
type Region struct {
	// Index numbers regions from 1 in stream order.
	Index  int   `json:"index"`
	Stream int   `json:"stream"`
	Offset int64 `json:"offset"`
	// Length runs from the first to the last corrupt byte, inclusive.
	Length       int64 `json:"length"`
	CorruptBytes int64 `json:"corrupt_bytes"`
	FlippedBits  int64 `json:"flipped_bits"`
	// Granule is 16 when the corrupt bytes fill whole blocks of a 16-byte
	// grid (at least 12 of each block's bytes corrupt): the signature of a
	// block cipher gone wrong. Phase is then the grid's offset (0..15)
	// relative to stream offset 0, and Blocks the number of blocks.
	Granule int   `json:"granule"`
	Phase   int   `json:"phase"`
	Blocks  int64 `json:"blocks"`
	// MaxRepeat is the largest number of identical blocks (actual content)
	// among the region's blocks.
	MaxRepeat int    `json:"max_repeat"`
	Kind      string `json:"kind"`
	// SourceOffset is where displaced data came from, for the region's
	// first byte (counter pattern only).
	SourceOffset *int64 `json:"source_offset,omitempty"`

	// DataOffset is the stream offset of the first byte of Expected and
	// Actual. They cover the region's 16-byte lines plus one line of
	// context on each side, capped (Truncated is then set).
	DataOffset int64 `json:"data_offset"`
	Expected   Hex   `json:"expected"`
	Actual     Hex   `json:"actual"`
	Truncated  bool  `json:"truncated"`
}

// End returns the offset one past the region's last corrupt byte.
func (r Region) End() int64 { return r.Offset + r.Length }

// RepeatedBlock is a 16-byte block seen in more than one region.
type RepeatedBlock struct {
	Block Hex `json:"block"`
	// Count is how many times it was seen in all.
	Count int `json:"count"`
	// Regions lists the indexes of the regions it appears in.
	Regions []int `json:"regions"`
}

// VerdictOf returns the verdict for a run with the given corruption count
// and failure: corrupt beats incomplete beats clean.
func VerdictOf(corruptBytes int64, err string) Verdict {
	switch {
	case corruptBytes > 0:
		return Corrupt
	case err != "":
		return Incomplete
	default:
		return Clean
	}
}

// SetVerdict decides r's verdict from its counts and errors: corruption
// of the pattern or of the control channel beats a failure, which beats
// clean.
func (r *Report) SetVerdict() {
	r.Verdict = VerdictOf(r.CorruptBytes, r.Error)
	if r.ControlCorruption != "" {
		r.Verdict = Corrupt
	}
}
