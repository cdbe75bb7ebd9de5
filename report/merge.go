package report

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxErrors is how many stream errors a merged report spells out.
const maxErrors = 3

// Merge combines the reports of a run's streams into the run's report.
// Both ends of a network run merge the same stream reports, so both reach
// the same verdict. Streams are ordered by number; regions are renumbered
// in that order and keep their stream. Blocks repeated across regions are
// found again over all the run's regions, across streams, from their
// captured bytes. Merge does not set Hosts or the run's identity: the
// caller knows them.
//
// A stream report names its stream and direction in its one Streams
// entry; one without it counts as forward stream 0.
//
// The streams merged are a protocol run's, whose sender named its
// pattern in its hello: a part that says it is another pattern
// (PatternSent) is corruption there, never a Mismatch.
func Merge(parts []Report) Report {
	if len(parts) == 0 {
		return Report{Schema: Schema, Verdict: Incomplete, Error: "no streams", Regions: []Region{}, RepeatedBlocks: []RepeatedBlock{}}
	}
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return parts[a].streamNo() - parts[b].streamNo() })

	first := parts[order[0]]
	m := Report{
		Schema:      Schema,
		Version:     first.Version,
		Pattern:     first.Pattern,
		Seed:        first.Seed,
		StartOffset: first.StartOffset,
		MaxRegions:  first.MaxRegions,
		MergeGap:    first.MergeGap,
		Regions:     []Region{},
	}
	var end time.Time
	var errs, ctl []string
	for _, i := range order {
		p := parts[i]
		if p.PatternSent != "" {
			p.PatternSent, p.SeedSent = "", nil
			p.SetVerdict()
		}
		dir := Forward
		if len(p.Streams) == 1 && p.Streams[0].Direction != "" {
			dir = p.Streams[0].Direction
		}
		m.Streams = append(m.Streams, Stream{
			Stream: p.streamNo(), Direction: dir, Verdict: p.Verdict, Error: p.Error,
			BytesExpected: p.BytesExpected, BytesVerified: p.BytesVerified,
			CorruptBytes: p.CorruptBytes, RegionCount: p.RegionCount, Seconds: p.Seconds,
		})
		if !p.Start.IsZero() {
			if m.Start.IsZero() || p.Start.Before(m.Start) {
				m.Start = p.Start
			}
			if e := p.Start.Add(time.Duration(p.Seconds * float64(time.Second))); e.After(end) {
				end = e
			}
		}
		m.BytesExpected += p.BytesExpected
		m.BytesVerified += p.BytesVerified
		m.CorruptBytes += p.CorruptBytes
		m.FlippedBits += p.FlippedBits
		m.RegionCount += p.RegionCount
		m.PatternMismatch = m.PatternMismatch || p.PatternMismatch
		if m.LooksLike == "" {
			m.LooksLike = p.LooksLike
		}
		if p.Error != "" {
			errs = append(errs, fmt.Sprintf("stream %d: %s", p.streamNo(), p.Error))
		}
		if p.ControlCorruption != "" {
			ctl = append(ctl, fmt.Sprintf("stream %d: %s", p.streamNo(), p.ControlCorruption))
		}
		for _, g := range p.Regions {
			g.Index = len(m.Regions) + 1
			m.Regions = append(m.Regions, g)
		}
	}
	m.RepeatedBlocks = RepeatedBlocksOf(m.Regions)
	if !m.Start.IsZero() {
		m.Seconds = end.Sub(m.Start).Seconds()
	}
	m.Error = joinErrors(errs)
	m.ControlCorruption = joinErrors(ctl)
	m.SetVerdict()
	return m
}

func (r Report) streamNo() int {
	if len(r.Streams) == 1 {
		return r.Streams[0].Stream
	}
	return 0
}

func joinErrors(errs []string) string {
	if len(errs) > maxErrors {
		errs = append(errs[:maxErrors:maxErrors], fmt.Sprintf("and %d more", len(errs)-maxErrors))
	}
	return strings.Join(errs, "; ")
}

// Limits on a report decoded from a peer.
const (
	maxCapture = 1 << 20
	maxText    = 4096
)

// Check rejects a report whose fields cannot be true: a peer's report is
// data from the network and is checked before it is merged or printed.
func (r *Report) Check() error {
	switch {
	case r.Schema != Schema:
		return fmt.Errorf("schema %q, want %q", r.Schema, Schema)
	case r.Verdict != Clean && r.Verdict != Corrupt && r.Verdict != Incomplete && r.Verdict != Mismatch:
		return fmt.Errorf("unknown verdict %q", r.Verdict)
	case r.BytesVerified < 0 || r.CorruptBytes < 0 || r.FlippedBits < 0 || r.RegionCount < 0 || r.BytesExpected < 0 || r.StartOffset < 0:
		return errors.New("negative count")
	case r.CorruptBytes > r.BytesVerified:
		return fmt.Errorf("%d corrupt bytes of %d verified", r.CorruptBytes, r.BytesVerified)
	case r.RegionCount < int64(len(r.Regions)):
		return fmt.Errorf("%d regions detailed of %d counted", len(r.Regions), r.RegionCount)
	case r.Seconds < 0 || r.Seconds != r.Seconds:
		return errors.New("bad duration")
	case len(r.Error) > maxText || len(r.ControlCorruption) > maxText || len(r.Pattern) > maxText ||
		len(r.LooksLike) > maxText || len(r.PatternSent) > maxText:
		return errors.New("overlong text field")
	}
	if want := VerdictOf(*r); r.Verdict != want {
		return fmt.Errorf("verdict %q does not follow from its counts (%q)", r.Verdict, want)
	}
	for i, g := range r.Regions {
		switch {
		case g.Index != i+1:
			return fmt.Errorf("region %d numbered %d", i+1, g.Index)
		case g.Offset < r.StartOffset || g.Length < 1 || g.CorruptBytes < 1 || g.CorruptBytes > g.Length || g.FlippedBits < 0 ||
			g.Length > r.BytesVerified || g.Offset-r.StartOffset > r.BytesVerified-g.Length:
			return fmt.Errorf("region %d: impossible offset or counts", g.Index)
		case g.DataOffset < 0 || g.DataOffset > g.Offset:
			return fmt.Errorf("region %d: captured data does not start at or before the region", g.Index)
		case len(g.Expected) != len(g.Actual) || len(g.Actual) > maxCapture:
			return fmt.Errorf("region %d: captured data of %d and %d bytes", g.Index, len(g.Expected), len(g.Actual))
		case g.Phase < 0 || g.Phase > 15 || (g.Granule != 0 && g.Granule != 16):
			return fmt.Errorf("region %d: bad grid", g.Index)
		case len(g.Kind) > 32:
			return fmt.Errorf("region %d: bad kind", g.Index)
		}
	}
	for _, b := range r.RepeatedBlocks {
		if len(b.Block) != 16 || b.Count < 0 {
			return errors.New("bad repeated block")
		}
	}
	return nil
}
