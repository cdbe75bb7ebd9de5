package relay

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []Injection
		text string // canonical FormatSpec of want
	}{
		{"", nil, ""},
		{"  ", nil, ""},
		{"bitflip@0", []Injection{{Kind: Bitflip, Off: 0, Len: 1}}, "bitflip@0"},
		{"bitflip@4096:7", []Injection{{Kind: Bitflip, Off: 4096, Len: 1, Bit: 7}}, "bitflip@4KiB:7"},
		{"BITFLIP@1k:0", []Injection{{Kind: Bitflip, Off: 1024, Len: 1}}, "bitflip@1KiB"},
		{"random@10MB", []Injection{{Kind: Random, Off: 10e6, Len: 16}}, "random@10000000"},
		{"random@1.5KiB:100", []Injection{{Kind: Random, Off: 1536, Len: 100}}, "random@1536:100"},
		{"block@1GiB:5", []Injection{{Kind: Block, Off: 1 << 30, Len: 80}}, "block@1GiB:5"},
		{"block@413064866", []Injection{{Kind: Block, Off: 413064866, Len: 16}}, "block@413064866"},
		{"zero@3:1MiB", []Injection{{Kind: Zero, Off: 3, Len: 1 << 20}}, "zero@3:1MiB"},
		{"zero@0:16", []Injection{{Kind: Zero, Len: 16}}, "zero@0"},
		{"displace@8KiB", []Injection{{Kind: Displace, Off: 8192, Len: 64, Back: 4096}}, "displace@8KiB"},
		{"displace@8KiB:100", []Injection{{Kind: Displace, Off: 8192, Len: 100, Back: 4096}}, "displace@8KiB:100"},
		{"displace@1MiB:64:1MiB", []Injection{{Kind: Displace, Off: 1 << 20, Len: 64, Back: 1 << 20}}, "displace@1MiB:64:1MiB"},
		{"displace@100:200:100", []Injection{{Kind: Displace, Off: 100, Len: 200, Back: 100}}, "displace@100:200:100"},
		{"bitflip%10GiB", []Injection{{Kind: Bitflip, Every: 10 << 30, Len: 1}}, "bitflip%10GiB"},
		{"bitflip%1", []Injection{{Kind: Bitflip, Every: 1, Len: 1}}, "bitflip%1"},
		{"block%16:1", []Injection{{Kind: Block, Every: 16, Len: 16}}, "block%16"},
		{"displace%1MiB:64:64KiB", []Injection{{Kind: Displace, Every: 1 << 20, Len: 64, Back: 64 << 10}}, "displace%1MiB:64:64KiB"},
		{"block@1GiB:5, bitflip%10GiB", []Injection{
			{Kind: Block, Off: 1 << 30, Len: 80},
			{Kind: Bitflip, Every: 10 << 30, Len: 1},
		}, "block@1GiB:5,bitflip%10GiB"},
		// Adjacent @ items touch but do not overlap; % items may overlap anything.
		{"zero@0:16,zero@16:16,random%32", []Injection{
			{Kind: Zero, Len: 16},
			{Kind: Zero, Off: 16, Len: 16},
			{Kind: Random, Every: 32, Len: 16},
		}, "zero@0,zero@16,random%32"},
	} {
		got, err := ParseSpec(tc.spec)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSpec(%q) = %+v, want %+v", tc.spec, got, tc.want)
		}
		if s := FormatSpec(got); s != tc.text {
			t.Errorf("FormatSpec(ParseSpec(%q)) = %q, want %q", tc.spec, s, tc.text)
		}
		back, err := ParseSpec(FormatSpec(got))
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("round trip of %q: %+v, %v", tc.spec, back, err)
		}
		if _, err := NewInjector(got, 1, nil); err != nil {
			t.Errorf("NewInjector(%q): %v", tc.spec, err)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	for _, tc := range []struct{ spec, err string }{
		{"flip@1", `inject item "flip@1": unknown kind "flip"`},
		{"bitflip", `inject item "bitflip": want KIND@OFFSET or KIND%EVERY`},
		{"bitflip@", `inject item "bitflip@": missing position after "@"`},
		{"zero%:4", `inject item "zero%:4": missing position after "%"`},
		{"bitflip@x", `inject item "bitflip@x": size "x"`},
		{"bitflip@-1", `inject item "bitflip@-1": size "-1"`},
		{"bitflip@1.5", `inject item "bitflip@1.5": size "1.5": not a whole number`},
		{"bitflip@2EiB", `inject item "bitflip@2EiB": size "2EiB"`},
		{"bitflip@1025PiB", `inject item "bitflip@1025PiB": position 1025PiB is beyond the limit`},
		{"bitflip@1024PiB", ""},
		{"bitflip@99999999999999999999", `bad or too large number`},
		{"bitflip@1:8", `inject item "bitflip@1:8": bit "8": want 0 to 7`},
		{"bitflip@1:x", `bit "x": want 0 to 7`},
		{"bitflip@1:1:1", `bitflip takes at most 1 argument(s) after the position, got 2`},
		{"zero@1:", `inject item "zero@1:": empty argument 1`},
		{"zero@1:0", `inject item "zero@1:0": LEN must not be zero`},
		{"random@1:1MiB", ""},
		{"random@1:1025KiB", `LEN 1025KiB is over the limit of 1MiB`},
		{"block@1:0", `block count must not be zero`},
		{"block@1:65537", `65537 blocks are over the limit of 1MiB (65536 blocks)`},
		{"block@1:1k", `block count "1k": want a whole number`},
		{"displace@100", `inject item "displace@100": offset 100 is less than BACK 4096`},
		{"displace@4096:64:0", `BACK must not be zero`},
		{"displace@2MiB:64:2MiB", `BACK 2MiB is over the limit of 1MiB`},
		{"displace@1MiB:1:2:3", `displace takes at most 2 argument(s) after the position, got 3`},
		{"zero%0", `inject item "zero%0": EVERY must not be zero`},
		{"zero%8", `inject item "zero%8": EVERY 8 is smaller than the injection's length 16`},
		{"block%64:5", `EVERY 64 is smaller than the injection's length 80`},
		{"zero@0:32,bitflip@31", `inject items "zero@0:32" and "bitflip@31" overlap`},
		{"bitflip@5,bitflip@5:3", `inject items "bitflip@5" and "bitflip@5:3" overlap`},
		{"block@1GiB:5,", `inject item "": empty item`},
		{",bitflip@1", `inject item "": empty item`},
		{strings.Repeat("bitflip%1,", MaxItems) + "bitflip%1", `inject spec has 1001 items, at most 1000 are allowed`},
	} {
		_, err := ParseSpec(tc.spec)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseSpec(%.40q): %v", tc.spec, err)
		case tc.err != "" && err == nil:
			t.Errorf("ParseSpec(%.40q) accepted, want error %q", tc.spec, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("ParseSpec(%.40q) error %q, want it to contain %q", tc.spec, err, tc.err)
		}
	}
	if _, err := ParseSpec(strings.TrimSuffix(strings.Repeat("bitflip%1,", MaxItems), ",")); err != nil {
		t.Errorf("%d items: %v", MaxItems, err)
	}
}

// Items built by hand are checked as strictly as parsed ones.
func TestNewInjectorRejectsInvalid(t *testing.T) {
	for _, it := range []Injection{
		{Kind: "smash", Len: 1},
		{Kind: Bitflip, Len: 2},
		{Kind: Bitflip, Len: 1, Bit: 8},
		{Kind: Zero, Len: 0},
		{Kind: Zero, Len: 16, Bit: 1},
		{Kind: Zero, Len: 16, Off: -1},
		{Kind: Zero, Len: 16, Every: 64, Off: 3},
		{Kind: Block, Len: 17},
		{Kind: Random, Len: MaxLen + 1},
		{Kind: Displace, Off: 10, Len: 64, Back: 4096},
		{Kind: Displace, Off: 1 << 20, Len: 64},
	} {
		if _, err := NewInjector([]Injection{it}, 0, nil); err == nil {
			t.Errorf("NewInjector accepted %+v", it)
		}
	}
	if _, err := NewInjector([]Injection{{Kind: Zero, Len: 16}, {Kind: Zero, Off: 15, Len: 1}}, 0, nil); err == nil {
		t.Error("NewInjector accepted overlapping items")
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1: "1", 1023: "1023", 1024: "1KiB", 1536: "1536", 4096: "4KiB",
		1 << 20: "1MiB", 10 << 30: "10GiB", 3 << 40: "3TiB", 1 << 60: "1024PiB",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := parseSize(formatSize(n)); err != nil || back != n {
			t.Errorf("parseSize(formatSize(%d)) = %d, %v", n, back, err)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"", "bitflip@0", "bitflip@4096:7", "block@1GiB:5,bitflip%10GiB", "random@1.5KiB:100",
		"zero@3:1MiB", "displace@1MiB:64:1MiB", "displace%1MiB:64:64KiB", "zero@0:32,bitflip@31",
		"block%64:5", "Zero@ 1 k : 2", "random%1:1", ",", "bitflip@1:1:1", "displace@100:200:100",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		items, err := ParseSpec(spec)
		if err != nil {
			return
		}
		text := FormatSpec(items)
		back, err := ParseSpec(text)
		if err != nil {
			t.Fatalf("ParseSpec(%q) accepted, but its canonical form %q is refused: %v", spec, text, err)
		}
		if !reflect.DeepEqual(back, items) {
			t.Fatalf("ParseSpec(%q) = %+v, but its canonical form %q parses to %+v", spec, items, text, back)
		}
		if _, err := NewInjector(items, 0, nil); err != nil {
			t.Fatalf("ParseSpec(%q) accepted, NewInjector refused: %v", spec, err)
		}
	})
}
