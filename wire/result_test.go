package wire_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/zerocheck/zerocheck/wire"
)

// hostileResult returns a result payload of about n bytes: head, then
// elem(i) for i = 0, 1, ... joined by commas, then tail.
func hostileResult(n int, head string, elem func(i int) string, tail string) []byte {
	var b bytes.Buffer
	b.WriteString(head)
	for i := 0; ; i++ {
		e := elem(i)
		if b.Len()+len(e)+len(tail)+1 > n {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e)
	}
	b.WriteString(tail)
	return b.Bytes()
}

// resultHead opens a corrupt stream report that counts many regions,
// up to the field named last, which the caller fills.
const resultHead = `{"schema":"zerocheck.report/v1","verdict":"corrupt","pattern":"zeros","seed":0,"start":"2026-01-02T03:04:05Z","seconds":1,` +
	`"start_offset":0,"bytes_verified":1099511627776,"corrupt_bytes":1073741824,"flipped_bits":0,"region_count":1073741824,` +
	`"max_regions":1000,"merge_gap":16,"pattern_mismatch":false,"streams":[{"stream":0,"direction":"reverse"}],`

// hostileResults are payloads of about n bytes shaped to cost the most
// to decode: many small elements (each a struct far larger than its
// text), long strings and captures, escapes, dense facts.
func hostileResults(n int) map[string][]byte {
	hexs := strings.Repeat("ab", 4128)
	capture := strings.Repeat("0", (n-1024)/2&^1)
	return map[string][]byte{
		"empty regions": hostileResult(n, resultHead+`"regions":[`, func(int) string { return `{}` }, `]}`),
		"small regions": hostileResult(n, resultHead+`"regions":[`, func(i int) string {
			return fmt.Sprintf(`{"index":%d,"length":1,"corrupt_bytes":1}`, i+1)
		}, `]}`),
		"captured regions": hostileResult(n, resultHead+`"regions":[`, func(i int) string {
			return fmt.Sprintf(`{"index":%d,"offset":%d,"length":16,"corrupt_bytes":16,"data_offset":%d,"expected":"%s","actual":"%s"}`, i+1, i<<20, i<<20, hexs, hexs)
		}, `]}`),
		"one large capture": []byte(resultHead + `"regions":[{"index":1,"offset":0,"length":16,"corrupt_bytes":16,"data_offset":0,"expected":"` +
			capture + `","actual":"` + capture + `"}]}`),
		"escaped capture": []byte(resultHead + `"regions":[{"index":1,"offset":0,"length":16,"corrupt_bytes":16,"data_offset":0,"expected":"` +
			strings.Repeat(`\u0030`, (n-1024)/12&^1) + `","actual":"` + strings.Repeat(`\u0030`, (n-1024)/12&^1) + `"}]}`),
		"empty streams":  hostileResult(n, resultHead+`"regions":[],"streams":[`, func(int) string { return `{}` }, `]}`),
		"empty blocks":   hostileResult(n, resultHead+`"regions":[],"repeated_blocks":[`, func(int) string { return `{}` }, `]}`),
		"small blocks":   hostileResult(n, resultHead+`"regions":[],"repeated_blocks":[`, func(int) string { return `{"block":"00000000000000000000000000000000"}` }, `]}`),
		"block regions":  hostileResult(n, resultHead+`"regions":[],"repeated_blocks":[{"block":"00000000000000000000000000000000","count":1,"regions":[`, func(int) string { return `1` }, `]}]}`),
		"long error":     hostileResult(n, resultHead+`"regions":[],"error":"`, func(int) string { return `x` }, `"}`),
		"dense facts":    hostileResult(n, resultHead+`"regions":[],"hosts":{"local":{"risks":[`, func(int) string { return `{}` }, `]}}}`),
		"small facts":    hostileResult(wire.MaxResultFacts, resultHead+`"regions":[],"hosts":{"local":{"risks":[`, func(int) string { return `{"id":"x"}` }, `]}}}`),
		"facts at limit": hostileResult(len(resultHead)+3000, resultHead+`"regions":[],"hosts":{"local":{"risks":[`, func(int) string { return `{}` }, `]}}}`),
		"unknown fields": hostileResult(n, resultHead+`"regions":[],"x":[`, func(int) string { return `{"a":[1,{}]}` }, `]}`),
	}
}

// TestDecodeResultMemory: whatever shape a result of n bytes has, its
// decoding allocates (garbage included) no more than DecodeCost(n),
// under the limits a receiver uses and under the widest ones. A plain
// json.Unmarshal allocates 1.2 GiB for the 4 MiB of "empty regions"
// and 14 MiB for "one large capture".
func TestDecodeResultMemory(t *testing.T) {
	const n = 4 << 20
	for name, p := range hostileResults(n) {
		for _, lim := range []wire.ResultLimits{{MaxRegions: 1000, MaxCapture: 4096 + 32}, {}} {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := wire.DecodeResultWithin(p, lim)
			runtime.ReadMemStats(&after)
			alloc := int64(after.TotalAlloc - before.TotalAlloc)
			bound := wire.DecodeCost(len(p), lim.MaxRegions)
			t.Logf("%-18s %v: %d bytes, %.2f MiB allocated (%.2f x), bound %.2f MiB; %v", name, lim, len(p), float64(alloc)/(1<<20), float64(alloc)/float64(len(p)), float64(bound)/(1<<20), err)
			if alloc > bound {
				t.Errorf("%s %+v: decoding %d bytes allocated %d, over DecodeCost %d", name, lim, len(p), alloc, bound)
			}
		}
	}
}

// TestDecodeResultWithin: a result keeps its first MaxRegions regions
// and repeated blocks (the count stays exact), MaxCapture bytes of each
// capture (the region then Truncated), 64 regions per repeated block,
// and no facts larger than a hello's or denser than a host's.
func TestDecodeResultWithin(t *testing.T) {
	head := strings.Replace(resultHead, `"region_count":1073741824`, `"region_count":5`, 1)
	var regions []string
	for i := range 5 {
		regions = append(regions, fmt.Sprintf(`{"index":%d,"offset":%d,"length":16,"corrupt_bytes":16,"data_offset":%d,"expected":"%s","actual":"%s"}`,
			i+1, i*100, i*100, strings.Repeat("00", 20), strings.Repeat("ff", 20)))
	}
	p := []byte(head + `"regions":[` + strings.Join(regions, ",") + `,{}],` +
		`"repeated_blocks":[{"block":"000102030405060708090a0b0c0d0e0f","count":70,"regions":[` + strings.Repeat("1,", 69) + `1]},` +
		`{"block":"ffffffffffffffffffffffffffffffff","count":2,"regions":[1,2]}],` +
		`"hosts":{"local":{"hostname":"beta"},"peer":{"hostname":"alpha"}}}`)
	// Past the limit a region is counted, never decoded: the 6th is
	// bogus, and more regions detailed than counted cannot be true.
	if _, err := wire.DecodeResultWithin(p, wire.ResultLimits{MaxRegions: 5}); err == nil || !strings.Contains(err.Error(), "result: 6 regions detailed of 5 counted") {
		t.Fatalf("more regions detailed than counted: %v", err)
	}
	p = bytes.Replace(p, []byte(`"region_count":5`), []byte(`"region_count":9`), 1)
	if _, err := wire.DecodeResult(p); err == nil || !strings.Contains(err.Error(), "result: region 6 numbered 0") {
		t.Fatalf("a bogus 6th region within the limits: %v", err)
	}
	r, err := wire.DecodeResultWithin(p, wire.ResultLimits{MaxRegions: 5})
	if err != nil || len(r.Regions) != 5 {
		t.Fatalf("a bogus 6th region past the limit: %d regions, %v", len(r.Regions), err)
	}
	p = bytes.Replace(p, []byte(`,{}`), []byte(`,{"index":6,"length":1,"corrupt_bytes":1}`), 1)
	r, err = wire.DecodeResultWithin(p, wire.ResultLimits{MaxRegions: 1, MaxCapture: 16})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Regions) != 1 || r.RegionCount != 9 || len(r.Regions[0].Expected) != 16 || len(r.Regions[0].Actual) != 16 || !r.Regions[0].Truncated {
		t.Errorf("regions: %d of %d, captures %d and %d bytes, truncated %v; want 1 of 9, 16 bytes, truncated",
			len(r.Regions), r.RegionCount, len(r.Regions[0].Expected), len(r.Regions[0].Actual), r.Regions[0].Truncated)
	}
	if len(r.RepeatedBlocks) != 1 || len(r.RepeatedBlocks[0].Regions) != 64 || r.RepeatedBlocks[0].Count != 70 {
		t.Errorf("repeated blocks: %+v; want the first, with 64 of its regions", r.RepeatedBlocks)
	}
	if r.Hosts.Local == nil || r.Hosts.Local.Hostname != "beta" || r.Hosts.Peer != nil {
		t.Errorf("facts: %+v; want the verifying end's (local) only", r.Hosts)
	}
	r, err = wire.DecodeResultWithin(p, wire.ResultLimits{MaxRegions: 6})
	if err != nil || len(r.Regions) != 6 || len(r.Regions[0].Actual) != 20 || r.Regions[0].Truncated || len(r.RepeatedBlocks) != 2 {
		t.Errorf("wider limits: %d regions, capture %d, truncated %v, %d blocks (%v)", len(r.Regions), len(r.Regions[0].Actual), r.Regions[0].Truncated, len(r.RepeatedBlocks), err)
	}
	for name, facts := range map[string]string{
		"too large": `{"hostname":"` + strings.Repeat("x", wire.MaxResultFacts) + `"}`,
		"too dense": `{"hostname":"beta","risks":[` + strings.Repeat("{},", 1100) + `{}]}`,
	} {
		q := bytes.Replace(p, []byte(`{"hostname":"beta"}`), []byte(facts), 1)
		if r, err := wire.DecodeResultWithin(q, wire.ResultLimits{}); err != nil || r.Hosts.Local != nil {
			t.Errorf("facts %s: kept %v (%v); want dropped", name, r.Hosts.Local != nil, err)
		}
	}
}

// FuzzDecodeResultWithin: under limits, a result never keeps more than
// they allow, and a result accepted whole is accepted under limits too,
// with the same counts and the first of its regions, captures cut.
func FuzzDecodeResultWithin(f *testing.F) {
	sample, _ := json.Marshal(sampleReport())
	f.Add(sample)
	for _, p := range hostileResults(4 << 10) {
		f.Add(p)
	}
	lim := wire.ResultLimits{MaxRegions: 1, MaxCapture: 16}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := wire.DecodeResultWithin(payload, lim)
		if err == nil {
			if len(r.Regions) > 1 || len(r.RepeatedBlocks) > 1 || r.Hosts.Peer != nil {
				t.Fatalf("%d regions, %d blocks, peer facts %v: over the limits", len(r.Regions), len(r.RepeatedBlocks), r.Hosts.Peer != nil)
			}
			for _, g := range r.Regions {
				if len(g.Expected) > 16 || len(g.Actual) > 16 {
					t.Fatalf("captures of %d and %d bytes kept", len(g.Expected), len(g.Actual))
				}
			}
		}
		whole, werr := wire.DecodeResult(payload)
		if werr != nil {
			return
		}
		if err != nil {
			t.Fatalf("accepted whole, refused under limits: %v", err)
		}
		if r.RegionCount != whole.RegionCount || r.CorruptBytes != whole.CorruptBytes || r.Verdict != whole.Verdict {
			t.Fatalf("counts differ under limits: %+v, whole %+v", r, whole)
		}
		if len(whole.Regions) > 0 {
			g, w := r.Regions[0], whole.Regions[0]
			if g.Offset != w.Offset || g.Length != w.Length || !bytes.Equal(g.Actual, w.Actual[:min(16, len(w.Actual))]) ||
				g.Truncated != (w.Truncated || len(w.Actual) > 16) {
				t.Fatalf("first region under limits %+v, whole %+v", g, w)
			}
		}
	})
}

// BenchmarkDecodeResultWithin decodes each hostile shape of 4 MiB under
// a receiver's limits: bytes and allocations per result.
func BenchmarkDecodeResultWithin(b *testing.B) {
	for name, p := range hostileResults(4 << 20) {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				wire.DecodeResultWithin(p, wire.ResultLimits{MaxRegions: 1000, MaxCapture: 4096 + 32})
			}
		})
	}
}

// TestHelloResultMax: a hello may ask for results of MinResultMax to
// MaxResult bytes, or say nothing (0).
func TestHelloResultMax(t *testing.T) {
	for _, c := range []struct {
		max int
		ok  bool
	}{{0, true}, {wire.MinResultMax, true}, {wire.MaxResult, true}, {-1, false}, {wire.MinResultMax - 1, false}, {wire.MaxResult + 1, false}} {
		h := wire.Hello{RunID: "0123456789abcdef", Streams: 1, Direction: wire.Forward, Pattern: "zeros", Bytes: 1, Nonce: wire.NewNonce(), ResultMax: c.max}
		err := h.Validate()
		if (err == nil) != c.ok || err != nil && err.Error() != fmt.Sprintf("hello: result max %d, want 0 (none) or 65536 to 33554432", c.max) {
			t.Errorf("result max %d: %v", c.max, err)
		}
	}
}
