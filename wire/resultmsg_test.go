package wire_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/internal/golden"
	"github.com/zerocheck/zerocheck/wire"
)

// goldenResult is a Result built from the wire types alone, so that no
// change in package report can change it: regions with a capture, two
// streams, repeated blocks and the verifying host's facts.
func goldenResult() wire.Result {
	src := int64(4097)
	seed := uint64(7)
	tainted := uint64(0)
	aes := true
	return wire.Result{
		Schema: wire.ResultSchema, Version: "v2.0.0", Verdict: "corrupt",
		Error: "", Role: "recv", RunID: "0123456789abcdef",
		LocalAddr: "10.0.0.1:7777", PeerAddr: "10.0.0.2:51234",
		Pattern: "counter", Seed: 42, Start: time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC),
		Seconds: 12.5, StartOffset: 0, BytesExpected: 2 << 20, BytesVerified: 2 << 20,
		CorruptBytes: 33, FlippedBits: 130, RegionCount: 3, MaxRegions: 1000, MergeGap: 16,
		LooksLike: "counter", PatternSent: "", SeedSent: &seed,
		Streams: []wire.ResultStream{
			{Stream: 0, Direction: "forward", Verdict: "corrupt", BytesExpected: 1 << 20, BytesVerified: 1 << 20,
				CorruptBytes: 33, RegionCount: 3, Seconds: 12.5},
			{Stream: 1, Direction: "forward", Verdict: "clean", BytesExpected: 1 << 20, BytesVerified: 1 << 20,
				Seconds: 12.25},
		},
		Regions: []wire.Region{
			{Index: 1, Offset: 8212, Length: 1, CorruptBytes: 1, FlippedBits: 1, Kind: "bitflip",
				SourceOffset: &src, DataOffset: 8208, Expected: wire.Hex{0x00, 0x11, 0x22, 0x33}, Actual: wire.Hex{0x00, 0x11, 0x26, 0x33}},
			{Index: 2, Stream: 0, Offset: 40002, Length: 48, CorruptBytes: 32, FlippedBits: 129,
				Granule: 16, Phase: 2, Blocks: 3, MaxRepeat: 2, Kind: "block", DataOffset: 39984, Truncated: true},
		},
		RepeatedBlocks: []wire.RepeatedBlock{
			{Block: make(wire.Hex, 16), Count: 2, Regions: []int{2}},
		},
		Hosts: wire.Hosts{Local: wire.FactsFrom(&hostinfo.Facts{
			Hostname: "alpha", Root: "/", Time: time.Date(2026, 11, 25, 9, 59, 0, 0, time.UTC),
			Kernel:  hostinfo.Kernel{Release: "6.8.0-45-generic", Arch: "x86_64", Tainted: &tainted},
			CPU:     hostinfo.CPU{Flags: hostinfo.CPUFlags{AES: &aes}},
			Unknown: map[string]string{"ipsec.states": "permission denied"},
		})},
	}
}

// TestResultGolden pins the Result message's bytes: a change to them is
// a protocol change, made on purpose (go test -update rewrites the file).
// The report that carries the same content encodes to the same bytes, so
// the conversion misses no field.
func TestResultGolden(t *testing.T) {
	m := goldenResult()
	p, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	frame := mustAppend(t, wire.TypeResult, p)
	golden.Check(t, "testdata/result.golden", frame)

	viaReport, err := wire.EncodeResult(m.Report())
	if err != nil {
		t.Fatal(err)
	}
	if string(viaReport) != string(frame) {
		t.Fatalf("the report of a Result encodes otherwise:\n got %s\nwant %s", wire.Payload(viaReport), p)
	}
}

// TestResultFieldsAreNamed checks that every field of the Result message
// has its JSON name written out: a Go name never becomes a wire name.
func TestResultFieldsAreNamed(t *testing.T) {
	for _, v := range []any{wire.Result{}, wire.ResultStream{}, wire.Region{}, wire.RepeatedBlock{}, wire.Hosts{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := splitTag(f.Tag.Get("json"))
			if f.Anonymous || name == "" || name == "-" {
				t.Errorf("%s.%s has no explicit JSON name", typ.Name(), f.Name)
			}
		}
	}
}

func splitTag(tag string) (string, string, bool) {
	for i := range len(tag) {
		if tag[i] == ',' {
			return tag[:i], tag[i+1:], true
		}
	}
	return tag, "", false
}

// TestResultCarriesEveryReportField sends a report through its Result and
// back, over a frame: every field that travels arrives as it left.
func TestResultCarriesEveryReportField(t *testing.T) {
	r := sampleReport()
	r.LooksLike, r.PatternSent, r.ControlCorruption, r.Error = "counter", "random", "hello checksum", "an error"
	seed := uint64(9)
	r.SeedSent = &seed
	if got := wire.ResultFrom(r).Report(); !reflect.DeepEqual(got, r) {
		t.Fatalf("conversion:\n got %+v\nwant %+v", got, r)
	}
	b, err := wire.EncodeResult(r)
	if err != nil {
		t.Fatal(err)
	}
	p := payloadOf(t, b, wire.TypeResult)
	var m wire.Result
	if err := json.Unmarshal(p, &m); err != nil {
		t.Fatal(err)
	}
	if got := m.Report(); !reflect.DeepEqual(got, r) {
		t.Fatalf("through a frame:\n got %+v\nwant %+v", got, r)
	}
}

// TestPeerFacts checks the message that carries a dialer's facts after
// the listener's proof: its known-answer payload, its round trip, and
// that facts of another version or not an object are not taken.
func TestPeerFacts(t *testing.T) {
	b, err := wire.EncodePeerFacts(wire.PeerFacts{Facts: wire.Facts(`{"hostname":"alpha"}`)})
	if err != nil {
		t.Fatal(err)
	}
	p := payloadOf(t, b, wire.TypeFacts)
	if want := `{"facts_version":1,"facts":{"hostname":"alpha"}}`; string(p) != want {
		t.Fatalf("payload %s, want %s", p, want)
	}
	f, err := wire.DecodePeerFacts(p)
	if err != nil || string(f.Facts) != `{"hostname":"alpha"}` || f.FactsVersion != wire.FactsVersion {
		t.Fatalf("decoded %+v, %v", f, err)
	}
	if f, err := wire.DecodePeerFacts([]byte(`{"facts_version":2,"facts":{"x":1}}`)); err != nil || f.Facts != nil {
		t.Fatalf("facts of another version: %+v, %v, want dropped", f, err)
	}
	if f, err := wire.DecodePeerFacts([]byte(`{"facts_version":1}`)); err != nil || f.Facts != nil {
		t.Fatalf("no facts: %+v, %v", f, err)
	}
	for _, bad := range []string{`{"facts_version":1,"facts":[1]}`, `{"facts_version":1}}`, ``} {
		if _, err := wire.DecodePeerFacts([]byte(bad)); err == nil {
			t.Errorf("DecodePeerFacts(%q) took it", bad)
		}
	}
}

// TestHandshakeGolden pins the bytes of a hello, a reply and a facts
// frame with every field set, as TestResultGolden pins a result's.
func TestHandshakeGolden(t *testing.T) {
	facts := wire.Facts(`{"hostname":"alpha","kernel":{"release":"6.8.0"}}`)
	h := wire.Hello{
		RunID: "0123456789abcdef", Stream: 1, Streams: 2, Direction: wire.Forward, Pattern: "counter", Seed: 42,
		Bytes: 1 << 20, Duration: 0, Rate: 8000, Version: "v2.0.0", Facts: facts,
		Nonce: "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", Progress: true,
		Check: "", ResultMax: 1 << 20,
	}
	r := wire.Reply{Version: "v2.0.0", Facts: facts, Proof: "ab", ResultMax: 1 << 20, Progress: true}
	var all []byte
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) { return wire.EncodeHello(h) },
		func() ([]byte, error) { return wire.EncodeReply(r) },
		func() ([]byte, error) { return wire.EncodePeerFacts(wire.PeerFacts{Facts: facts}) },
	} {
		b, err := enc()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	golden.Check(t, "testdata/handshake.golden", all)
}
