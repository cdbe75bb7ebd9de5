package wire

import (
	"encoding/json"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
)

// This file is the one place where the protocol's messages meet the
// report and hostinfo packages: a field renamed there changes nothing on
// the wire unless it is renamed here too.

// ResultFrom converts a stream's report into its Result message.
func ResultFrom(r report.Report) Result {
	m := Result{
		Schema: r.Schema, Version: r.Version, Verdict: string(r.Verdict), Error: r.Error,
		ControlCorruption: r.ControlCorruption, Role: r.Role, RunID: r.RunID,
		LocalAddr: r.LocalAddr, PeerAddr: r.PeerAddr, Pattern: r.Pattern, Seed: r.Seed,
		Start: r.Start, Seconds: r.Seconds, StartOffset: r.StartOffset,
		BytesExpected: r.BytesExpected, BytesVerified: r.BytesVerified,
		CorruptBytes: r.CorruptBytes, FlippedBits: r.FlippedBits, RegionCount: r.RegionCount,
		MaxRegions: r.MaxRegions, MergeGap: r.MergeGap, PatternMismatch: r.PatternMismatch,
		LooksLike: r.LooksLike, PatternSent: r.PatternSent, SeedSent: r.SeedSent,
		Hosts: Hosts{Local: FactsFrom(r.Hosts.Local), Peer: FactsFrom(r.Hosts.Peer)},
	}
	if r.Streams != nil {
		m.Streams = make([]ResultStream, len(r.Streams))
		for i, s := range r.Streams {
			m.Streams[i] = ResultStream{Stream: s.Stream, Direction: s.Direction, Verdict: string(s.Verdict),
				Error: s.Error, BytesExpected: s.BytesExpected, BytesVerified: s.BytesVerified,
				CorruptBytes: s.CorruptBytes, RegionCount: s.RegionCount, Seconds: s.Seconds}
		}
	}
	if r.Regions != nil {
		m.Regions = make([]Region, len(r.Regions))
		for i, g := range r.Regions {
			m.Regions[i] = regionFrom(g)
		}
	}
	if r.RepeatedBlocks != nil {
		m.RepeatedBlocks = make([]RepeatedBlock, len(r.RepeatedBlocks))
		for i, b := range r.RepeatedBlocks {
			m.RepeatedBlocks[i] = RepeatedBlock{Block: Hex(b.Block), Count: b.Count, Regions: b.Regions}
		}
	}
	return m
}

func regionFrom(g report.Region) Region {
	return Region{Index: g.Index, Stream: g.Stream, Offset: g.Offset, Length: g.Length,
		CorruptBytes: g.CorruptBytes, FlippedBits: g.FlippedBits, Granule: g.Granule, Phase: g.Phase,
		Blocks: g.Blocks, MaxRepeat: g.MaxRepeat, Kind: g.Kind, SourceOffset: g.SourceOffset,
		DataOffset: g.DataOffset, Expected: Hex(g.Expected), Actual: Hex(g.Actual), Truncated: g.Truncated}
}

// Report converts a Result into the report it carries. The peer's facts
// a Result may hold are not kept: the reader knows its own. Facts that do
// not decode are dropped (facts are help, not a reason to fail a run).
func (m Result) Report() report.Report {
	r := report.Report{
		Schema: m.Schema, Version: m.Version, Verdict: report.Verdict(m.Verdict), Error: m.Error,
		ControlCorruption: m.ControlCorruption, Role: m.Role, RunID: m.RunID,
		LocalAddr: m.LocalAddr, PeerAddr: m.PeerAddr, Pattern: m.Pattern, Seed: m.Seed,
		Start: m.Start, Seconds: m.Seconds, StartOffset: m.StartOffset,
		BytesExpected: m.BytesExpected, BytesVerified: m.BytesVerified,
		CorruptBytes: m.CorruptBytes, FlippedBits: m.FlippedBits, RegionCount: m.RegionCount,
		MaxRegions: m.MaxRegions, MergeGap: m.MergeGap, PatternMismatch: m.PatternMismatch,
		LooksLike: m.LooksLike, PatternSent: m.PatternSent, SeedSent: m.SeedSent,
	}
	r.Hosts.Local, _ = HostFacts(m.Hosts.Local)
	if m.Streams != nil {
		r.Streams = make([]report.Stream, len(m.Streams))
		for i, s := range m.Streams {
			r.Streams[i] = report.Stream{Stream: s.Stream, Direction: s.Direction, Verdict: report.Verdict(s.Verdict),
				Error: s.Error, BytesExpected: s.BytesExpected, BytesVerified: s.BytesVerified,
				CorruptBytes: s.CorruptBytes, RegionCount: s.RegionCount, Seconds: s.Seconds}
		}
	}
	if m.Regions != nil {
		r.Regions = make([]report.Region, len(m.Regions))
		for i, g := range m.Regions {
			r.Regions[i] = g.report()
		}
	}
	if m.RepeatedBlocks != nil {
		r.RepeatedBlocks = make([]report.RepeatedBlock, len(m.RepeatedBlocks))
		for i, b := range m.RepeatedBlocks {
			r.RepeatedBlocks[i] = report.RepeatedBlock{Block: report.Hex(b.Block), Count: b.Count, Regions: b.Regions}
		}
	}
	return r
}

func (g Region) report() report.Region {
	return report.Region{Index: g.Index, Stream: g.Stream, Offset: g.Offset, Length: g.Length,
		CorruptBytes: g.CorruptBytes, FlippedBits: g.FlippedBits, Granule: g.Granule, Phase: g.Phase,
		Blocks: g.Blocks, MaxRepeat: g.MaxRepeat, Kind: g.Kind, SourceOffset: g.SourceOffset,
		DataOffset: g.DataOffset, Expected: report.Hex(g.Expected), Actual: report.Hex(g.Actual), Truncated: g.Truncated}
}

// FactsFrom encodes a host's facts for a Hello, a Reply or a Result; nil
// stays empty.
func FactsFrom(f *hostinfo.Facts) Facts {
	if f == nil {
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil
	}
	return b
}

// HostFacts decodes a peer's facts; empty or null facts are nil.
func HostFacts(b Facts) (*hostinfo.Facts, error) {
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	var f hostinfo.Facts
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return &f, nil
}
