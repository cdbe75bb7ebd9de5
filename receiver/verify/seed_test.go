package verify

import (
	"context"
	"reflect"
	"testing"

	"github.com/zerocheck/zerocheck/internal/seedcapture"
	"github.com/zerocheck/zerocheck/report"
)

// TestSeedCapture verifies the incident's whole stream in process: the
// three 80-byte regions of the article, on the 16-byte grid, at phases 2,
// 0 and 2, five blocks each, four of them identical.
func TestSeedCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("1.3 GB stream")
	}
	v, err := New(Options{Pattern: mustPattern(t, "zeros")})
	if err != nil {
		t.Fatal(err)
	}
	if err := Consume(context.Background(), seedcapture.Reader(), v, seedcapture.Length); err != nil {
		t.Fatal(err)
	}
	rep := v.Result(nil)
	wantRegions := []want{
		{0x189edea2, 80, 80, 0, 16, 2, 5, 4, "block", -1},
		{0x4927d4e0, 80, 80, 0, 16, 0, 5, 4, "block", -1},
		{0x4bb51112, 80, 80, 0, 16, 2, 5, 4, "block", -1},
	}
	got := summarise(rep.Regions)
	for i := range got {
		got[i].Flipped = 0 // checked in total below
	}
	if !reflect.DeepEqual(got, wantRegions) {
		t.Fatalf("regions\n got %+v\nwant %+v", got, wantRegions)
	}
	var bits int64
	for _, l := range seedcapture.Lines() {
		for _, b := range l.Data {
			bits += int64(popcount(b))
		}
	}
	if rep.Verdict != report.Corrupt || rep.BytesVerified != seedcapture.Length || rep.CorruptBytes != 240 ||
		rep.RegionCount != 3 || rep.FlippedBits != bits || len(rep.RepeatedBlocks) != 0 {
		t.Fatalf("verdict %s verified %#x corrupt %d regions %d flipped %d (want %d) repeated %d",
			rep.Verdict, rep.BytesVerified, rep.CorruptBytes, rep.RegionCount, rep.FlippedBits, bits, len(rep.RepeatedBlocks))
	}
}

func TestConsumeShortStream(t *testing.T) {
	if testing.Short() {
		t.Skip("1.3 GB stream")
	}
	v, _ := New(Options{Pattern: mustPattern(t, "zeros")})
	err := Consume(context.Background(), seedcapture.Reader(), v, seedcapture.Length+10)
	se, ok := err.(*ShortError)
	if !ok || se.Got != seedcapture.Length || se.Want != seedcapture.Length+10 {
		t.Fatalf("err = %v", err)
	}
}
