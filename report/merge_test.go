package report

import (
	"strings"
	"testing"
	"time"
)

func part(stream int, dir string, bytes, corrupt int64, regions []Region, err string) Report {
	r := Report{Schema: Schema, Pattern: "zeros", BytesVerified: bytes, CorruptBytes: corrupt,
		RegionCount: int64(len(regions)), Regions: regions, Error: err,
		Start: time.Unix(100, 0), Seconds: float64(stream + 1),
		Streams: []Stream{{Stream: stream, Direction: dir}}}
	for i := range r.Regions {
		r.Regions[i].Index = i + 1
		r.Regions[i].Stream = stream
	}
	r.SetVerdict()
	return r
}

func TestMerge(t *testing.T) {
	// One block region in each of two streams, with the same content: the
	// merged report finds the block repeated across the streams.
	blk := strings.Repeat("\xab", 16)
	block := func(off int64) Region {
		return Region{Offset: off, Length: 16, CorruptBytes: 16, Granule: 16, Phase: int(off % 16), Blocks: 1, MaxRepeat: 1,
			DataOffset: off - 16, Expected: make(Hex, 48), Actual: Hex(strings.Repeat("\x00", 16) + blk + strings.Repeat("\x00", 16))}
	}
	a := part(1, Reverse, 1000, 20, []Region{block(26), {Offset: 500, Length: 4, CorruptBytes: 4}}, "")
	b := part(0, Forward, 2000, 0, nil, "")
	c := part(2, Forward, 300, 16, []Region{block(23)}, "short stream: got 300 of 400 bytes")
	m := Merge([]Report{a, b, c})

	if m.Verdict != Corrupt || m.BytesVerified != 3300 || m.CorruptBytes != 36 || m.RegionCount != 3 {
		t.Fatalf("verdict %s bytes %d corrupt %d regions %d", m.Verdict, m.BytesVerified, m.CorruptBytes, m.RegionCount)
	}
	if m.Seconds != 3 || !m.Start.Equal(time.Unix(100, 0)) {
		t.Fatalf("seconds %v start %v", m.Seconds, m.Start)
	}
	// Streams in number order, regions renumbered in that order.
	wantStreams := []struct {
		n   int
		dir string
		v   Verdict
	}{{0, Forward, Clean}, {1, Reverse, Corrupt}, {2, Forward, Corrupt}}
	for i, w := range wantStreams {
		s := m.Streams[i]
		if s.Stream != w.n || s.Direction != w.dir || s.Verdict != w.v {
			t.Fatalf("stream %d: %+v", i, s)
		}
	}
	for i, w := range []struct {
		stream int
		off    int64
	}{{1, 26}, {1, 500}, {2, 23}} {
		g := m.Regions[i]
		if g.Index != i+1 || g.Stream != w.stream || g.Offset != w.off {
			t.Fatalf("region %d: %+v", i, g)
		}
	}
	if len(m.RepeatedBlocks) != 1 || string(m.RepeatedBlocks[0].Block) != blk || m.RepeatedBlocks[0].Count != 2 ||
		len(m.RepeatedBlocks[0].Regions) != 2 || m.RepeatedBlocks[0].Regions[0] != 1 || m.RepeatedBlocks[0].Regions[1] != 3 {
		t.Fatalf("repeated blocks %+v", m.RepeatedBlocks)
	}
	if m.Error != "stream 2: short stream: got 300 of 400 bytes" {
		t.Fatalf("error %q", m.Error)
	}
	if err := m.Check(); err != nil {
		t.Fatalf("merged report fails its own check: %v", err)
	}
}

func TestMergeVerdicts(t *testing.T) {
	clean := part(0, Forward, 10, 0, nil, "")
	failed := part(1, Forward, 0, 0, nil, "connect: refused")
	if m := Merge([]Report{clean, failed}); m.Verdict != Incomplete {
		t.Fatalf("a failed stream: %s", m.Verdict)
	}
	ctl := part(1, Forward, 10, 0, nil, "")
	ctl.ControlCorruption = "control channel corrupt: result frame"
	if m := Merge([]Report{clean, ctl}); m.Verdict != Corrupt || !strings.Contains(m.ControlCorruption, "stream 1: control channel corrupt") {
		t.Fatalf("control corruption: %s %q", m.Verdict, m.ControlCorruption)
	}
	var many []Report
	for i := range 6 {
		many = append(many, part(i, Forward, 0, 0, nil, "boom"))
	}
	if m := Merge(many); m.Error != "stream 0: boom; stream 1: boom; stream 2: boom; and 3 more" {
		t.Fatalf("errors %q", m.Error)
	}
	if m := Merge(nil); m.Verdict != Incomplete {
		t.Fatalf("no streams: %s", m.Verdict)
	}
}

func TestCheck(t *testing.T) {
	good := part(0, Forward, 1000, 16, []Region{{Offset: 10, Length: 16, CorruptBytes: 16, Expected: make(Hex, 48), Actual: make(Hex, 48)}}, "")
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Report)
		want string
	}{
		{"schema", func(r *Report) { r.Schema = "x" }, "schema"},
		{"verdict", func(r *Report) { r.Verdict = "great" }, "unknown verdict"},
		{"negative", func(r *Report) { r.BytesVerified = -1 }, "negative"},
		{"corrupt>bytes", func(r *Report) { r.CorruptBytes = 2000 }, "corrupt bytes of"},
		{"regions>count", func(r *Report) { r.RegionCount = 0 }, "regions detailed"},
		{"verdict lies", func(r *Report) { r.Verdict = Clean }, "does not follow"},
		{"index", func(r *Report) { r.Regions[0].Index = 2 }, "numbered"},
		{"region counts", func(r *Report) { r.Regions[0].CorruptBytes = 17 }, "impossible"},
		{"capture", func(r *Report) { r.Regions[0].Actual = make(Hex, 3) }, "captured data"},
		{"phase", func(r *Report) { r.Regions[0].Phase = 16 }, "bad grid"},
		{"long error", func(r *Report) { r.Error = strings.Repeat("x", 5000) }, "overlong"},
		{"block", func(r *Report) { r.RepeatedBlocks = []RepeatedBlock{{Block: Hex("short")}} }, "repeated block"},
	} {
		r := good
		r.Regions = append([]Region{}, good.Regions...)
		tc.mod(&r)
		if err := r.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestCorruptBlocksBoundedByCapture: a region's length is only trusted as
// far as its captured bytes go; a peer claiming 2^60 bytes costs nothing.
func TestCorruptBlocksBoundedByCapture(t *testing.T) {
	g := Region{Offset: 32, Length: 1 << 60, CorruptBytes: 16, Granule: 16, DataOffset: 16,
		Expected: make(Hex, 48), Actual: Hex(strings.Repeat("\x00", 16) + strings.Repeat("\x01", 32))}
	if b := g.CorruptBlocks(); len(b) != 2 {
		t.Fatalf("%d blocks, want the 2 captured", len(b))
	}
	r := part(0, Forward, 1<<20, 16, []Region{g}, "")
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), "impossible") {
		t.Fatalf("a region longer than the stream passed Check: %v", err)
	}
}

// TestMergeNeverMismatch: a protocol run's sender named its pattern, so
// a stream that says it is another pattern is corruption there.
func TestMergeNeverMismatch(t *testing.T) {
	p := part(0, Forward, 1000, 1000, []Region{{Offset: 0, Length: 1000, CorruptBytes: 1000}}, "")
	p.PatternSent = "counter"
	p.SetVerdict()
	m := Merge([]Report{p})
	if m.Verdict != Corrupt || m.PatternSent != "" || m.Streams[0].Verdict != Corrupt {
		t.Fatalf("verdict %q pattern_sent %q stream %q", m.Verdict, m.PatternSent, m.Streams[0].Verdict)
	}
	// Nothing verified in every stream: incomplete, each stream saying so.
	m = Merge([]Report{part(0, Forward, 0, 0, nil, ""), part(1, Forward, 0, 0, nil, "")})
	if want := "stream 0: " + NothingVerified + "; stream 1: " + NothingVerified; m.Verdict != Incomplete || m.Error != want {
		t.Fatalf("verdict %q error %q", m.Verdict, m.Error)
	}
}
