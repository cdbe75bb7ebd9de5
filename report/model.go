// Package report holds zerocheck's results model and its encoders.
//
// Every producer (verify on a pipe, the network receiver, a sender that
// got the receiver's findings) fills one Report, and every encoder (text,
// JSON) reads only that. The JSON form is a stable, versioned interface:
// fields are added, never renamed or retyped, within one Schema.
package report

import (
	"fmt"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
)

// Schema names the JSON layout of Report. It changes only when a field is
// removed or changes meaning.
const Schema = "zerocheck.report/v1"

// Verdict is the outcome of a run.
type Verdict string

// The verdicts. Corrupt wins over Incomplete because corruption found
// before a failure is still corruption. Clean is a claim: at least one
// byte, and every planned byte, verified intact.
//
// Mismatch is the verdict of a stream whose pattern was not announced by
// its sender (verify, recv --raw) and which is, from its first byte to its
// last, another pattern than the one configured: the two ends were set up
// differently, and nothing was learnt about the path. It is never given
// to a protocol run, whose sender names its pattern in its hello: there a
// stream of another pattern is corruption. A stream that is partly another
// pattern (a region of counter data in an otherwise good stream of zeros)
// is corrupt too: that is what displaced data looks like.
const (
	Clean      Verdict = "clean"
	Corrupt    Verdict = "corrupt"
	Incomplete Verdict = "incomplete"
	Mismatch   Verdict = "mismatch"
)

// NothingVerified is the reason SetVerdict gives a run that verified no
// byte and had no error to say why.
const NothingVerified = "no bytes were verified"

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
	// PatternSent is set when the sender did not announce its pattern
	// (verify, recv --raw) and every byte verified, from the first to the
	// last, is this other pattern, at the same offsets: the verdict is
	// then Mismatch. SeedSent is its seed when the pattern takes one.
	PatternSent string  `json:"pattern_sent,omitempty"`
	SeedSent    *uint64 `json:"seed_sent,omitempty"`

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

// VerdictOf returns the verdict r's counts and errors call for; it is
// the one place verdicts are decided, and Check holds a peer's report to
// it. Corruption of the pattern or of the control channel beats a
// mismatch of the two ends' patterns, which beats a failure, which beats
// clean; and a run is clean only when it verified at least one byte and
// every byte it planned.
func VerdictOf(r Report) Verdict {
	switch {
	case r.ControlCorruption != "":
		return Corrupt
	case r.PatternSent != "":
		return Mismatch
	case r.CorruptBytes > 0:
		return Corrupt
	case r.Error != "" || r.BytesVerified == 0 || r.BytesVerified < r.BytesExpected:
		return Incomplete
	default:
		return Clean
	}
}

// SetVerdict decides r's verdict with VerdictOf. A run left incomplete
// by the rule alone (nothing, or less than planned, verified without an
// error) gets its reason in Error, so that no incomplete run goes
// unexplained.
func (r *Report) SetVerdict() {
	r.Verdict = VerdictOf(*r)
	if r.Verdict != Incomplete || r.Error != "" {
		return
	}
	if r.BytesVerified == 0 {
		r.Error = NothingVerified
	} else {
		r.Error = fmt.Sprintf("%d of the %d planned bytes were verified", r.BytesVerified, r.BytesExpected)
	}
}
