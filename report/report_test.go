package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/internal/golden"
)

// TestTextGolden renders each JSON report fixture in testdata/ as text and
// compares it with the golden .txt beside it, and its --verbose text with
// the one in testdata/verbose/. The fixtures were written by zerocheck
// verify --json (start and seconds fixed by hand; clean-loopback,
// never-connected and incident-recv were made from them and the host
// fixtures of package hostinfo); run
// go test ./report -update after an intended change of the text layout.
func TestTextGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 5 {
		t.Fatalf("only %d fixtures", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			r, err := Decode(in)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := Text(&got, r); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, strings.TrimSuffix(f, ".json")+".txt", got.Bytes())
			got.Reset()
			if err := WriteText(&got, r, TextOptions{Verbose: true}); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "verbose", strings.TrimSuffix(filepath.Base(f), ".json")+".txt"), got.Bytes())
		})
	}
}

// TestHostsTextGolden renders the facts of each hostinfo fixture (its
// golden JSON) as zerocheck hostinfo prints them.
func TestHostsTextGolden(t *testing.T) {
	files, _ := filepath.Glob("../hostinfo/testdata/golden/*.json")
	if len(files) < 6 {
		t.Fatalf("only %d host fixtures", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var facts hostinfo.Facts
			if err := json.Unmarshal(raw, &facts); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := HostsText(&got, &facts, nil); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "hosts", strings.TrimSuffix(filepath.Base(f), ".json")+".txt"), got.Bytes())
		})
	}
}

// TestJSONRoundTrip checks that a report survives encode/decode unchanged:
// the JSON is the interface other tools (and zerocheck analyze) read.
func TestJSONRoundTrip(t *testing.T) {
	raw, err := os.ReadFile("testdata/counter-mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := JSON(&out, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), raw) {
		t.Errorf("round trip changed the JSON:\n%s", out.String())
	}
	if r.Regions[0].SourceOffset == nil || *r.Regions[0].SourceOffset != 0x1001 || string(r.Regions[3].Actual[18:20]) != "\x1e\x30" {
		t.Errorf("decoded fields: %+v", r.Regions[0])
	}
}

func TestDecodeRejectsForeignJSON(t *testing.T) {
	for _, in := range []string{`{"schema":"other/v9"}`, `[1,2]`, `{"schema":"zerocheck.report/v1","regions":[{"actual":"zz"}]}`, ``} {
		if _, err := Decode(strings.NewReader(in)); err == nil {
			t.Errorf("Decode(%q) accepted", in)
		}
	}
}

func TestDumpCollapsesRepeatedIntactLines(t *testing.T) {
	act := make([]byte, 96)
	act[40] = 7 // one corrupt byte in the third line
	g := Region{DataOffset: 0x1000, Actual: act, Expected: make([]byte, 96)}
	var b bytes.Buffer
	Dump(&b, g, false)
	want := "00001000: 0000 0000 0000 0000 0000 0000 0000 0000  ................\n" +
		"*\n" +
		"00001020: 0000 0000 0000 0000 0700 0000 0000 0000  ................\n" +
		"00001030: 0000 0000 0000 0000 0000 0000 0000 0000  ................\n" +
		"*\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestHostTextQuotesControlCharacters(t *testing.T) {
	f := &hostinfo.Facts{Hostname: "evil\nKnown risks: none match\x1b[2J", Unknown: map[string]string{"x": "a\x1b[31mb"}}
	var b bytes.Buffer
	if err := HostsText(&b, f, nil); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b") || strings.Contains(b.String(), "\nKnown risks: none match\x1b") {
		t.Fatalf("control characters reached the report:\n%q", b.String())
	}
	if !strings.Contains(b.String(), `evil\nKnown risks`) {
		t.Fatalf("hostname not shown quoted:\n%s", b.String())
	}
}

func TestEndpoints(t *testing.T) {
	named := func(n string) *hostinfo.Facts { return &hostinfo.Facts{Hostname: n} }
	for _, tc := range []struct {
		name       string
		r          Report
		send, recv string
	}{
		{"send by names", Report{Role: "send", Hosts: Hosts{Local: named("a"), Peer: named("b")}, LocalAddr: "10.0.0.1:5000", PeerAddr: "10.0.0.2:7777"}, "a", "b"},
		{"recv by names", Report{Role: "recv", Hosts: Hosts{Local: named("b"), Peer: named("a")}}, "a", "b"},
		{"recv by addresses", Report{Role: "recv", LocalAddr: "10.0.0.2:7777", PeerAddr: "[fd00::1]:40000"}, "fd00::1", "10.0.0.2"},
		{"unknown hostname falls back to the address", Report{Role: "send", Hosts: Hosts{Local: named(hostinfo.Unknown)}, LocalAddr: "10.0.0.1:5000", PeerAddr: "10.0.0.2:7777"}, "10.0.0.1", "10.0.0.2"},
		{"loopback", Report{Role: "loopback", Hosts: Hosts{Local: named("a"), Peer: named("a")}}, "a", "a"},
		{"verify", Report{Role: "verify", Hosts: Hosts{Local: named("a")}}, "", "a"},
	} {
		s, r := tc.r.Endpoints()
		if s != tc.send || r != tc.recv {
			t.Errorf("%s: Endpoints() = %q, %q; want %q, %q", tc.name, s, r, tc.send, tc.recv)
		}
	}
}
