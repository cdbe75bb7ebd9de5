package report

import (
	"strings"
	"testing"
)

// TestZeroBytesIsIncomplete: a run is clean only when it verified at
// least one byte and every byte it planned; SetVerdict says why when no
// error does, and Check refuses a peer's report that claims otherwise.
func TestZeroBytesIsIncomplete(t *testing.T) {
	for _, tc := range []struct {
		name    string
		r       Report
		want    Verdict
		wantErr string
	}{
		{"nothing verified", Report{}, Incomplete, NothingVerified},
		{"nothing verified of a plan", Report{BytesExpected: 100}, Incomplete, NothingVerified},
		{"nothing verified, with its own reason", Report{Error: "connection refused"}, Incomplete, "connection refused"},
		{"less than planned", Report{BytesVerified: 99, BytesExpected: 100}, Incomplete, "99 of the 100 planned bytes were verified"},
		{"the plan", Report{BytesVerified: 100, BytesExpected: 100}, Clean, ""},
		{"one byte, no plan", Report{BytesVerified: 1}, Clean, ""},
		{"corrupt and short", Report{BytesVerified: 10, BytesExpected: 100, CorruptBytes: 1}, Corrupt, ""},
		{"control channel, nothing verified", Report{ControlCorruption: "hello: crc32c mismatch", Error: "refused"}, Corrupt, "refused"},
		{"another pattern, unannounced", Report{BytesVerified: 10, CorruptBytes: 10, PatternSent: "counter"}, Mismatch, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.Schema, r.Regions = Schema, []Region{}
			r.SetVerdict()
			if r.Verdict != tc.want || r.Error != tc.wantErr {
				t.Fatalf("verdict %q error %q; want %q %q", r.Verdict, r.Error, tc.want, tc.wantErr)
			}
			if err := r.Check(); err != nil {
				t.Fatalf("Check refuses what SetVerdict decided: %v", err)
			}
		})
	}
	// A peer that calls nothing clean (an older zerocheck) is refused.
	r := Report{Schema: Schema, Verdict: Clean}
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), `verdict "clean" does not follow from its counts ("incomplete")`) {
		t.Fatalf("Check accepted a clean run of 0 bytes: %v", err)
	}
}

// TestMismatchVerdict: mismatch follows from pattern_sent and nothing
// else, beats corruption (the whole stream is another pattern) and an
// error, and loses to a corrupted control channel.
func TestMismatchVerdict(t *testing.T) {
	seed := uint64(0x1234)
	r := Report{Schema: Schema, Pattern: "zeros", BytesVerified: 4096, CorruptBytes: 4096, RegionCount: 1,
		PatternSent: "random", SeedSent: &seed, Error: "short stream: got 4096 of 8192 bytes", BytesExpected: 8192}
	r.SetVerdict()
	if r.Verdict != Mismatch {
		t.Fatalf("verdict %q", r.Verdict)
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	if got, want := Headline(r), "zerocheck: MISMATCH: 4096 B (4.00 KiB) received of pattern random (seed 0x1234), not zeros: the two ends were given different patterns"; got != want {
		t.Fatalf("headline %q\nwant     %q", got, want)
	}
	if got := MismatchText(r); !strings.HasSuffix(got, "(here: --pattern random --seed 0x1234).") {
		t.Fatalf("mismatch text %q", got)
	}
	bad := r
	bad.PatternSent, bad.SeedSent = "", nil
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), `verdict "mismatch" does not follow`) {
		t.Fatalf("Check accepted a mismatch without the pattern sent: %v", err)
	}
	r.ControlCorruption = "result: crc32c mismatch"
	if r.SetVerdict(); r.Verdict != Corrupt {
		t.Fatalf("control corruption: verdict %q", r.Verdict)
	}
}
