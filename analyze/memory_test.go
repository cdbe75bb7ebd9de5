package analyze

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestLoadMemory: what a report holds beyond what the analysis counts
// costs no memory to read, so that the cap on a file's size bounds the
// memory of its analysis. An 8 MiB report of "{}" regions cost 280 times
// its size when every region was decoded; every list and map a report
// may hold any amount of must stay below 8 times.
func TestLoadMemory(t *testing.T) {
	const size = 8 << 20
	const head = `{"schema":"zerocheck.report/v1","verdict":"corrupt","role":"recv","run_id":"1f2e3d4c5b6a7980",` +
		`"bytes_verified":4096,"corrupt_bytes":16,"region_count":1,`
	// fill repeats item, numbered from 0 by %d if it has one, to make
	// the report size bytes long.
	fill := func(open, item, close string) string {
		var b strings.Builder
		b.WriteString(head + open)
		for i := 0; b.Len() < size-len(close)-64; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if strings.Contains(item, "%d") {
				fmt.Fprintf(&b, item, i)
			} else {
				b.WriteString(item)
			}
		}
		b.WriteString(close)
		return b.String()
	}
	host := func(open, item, close string) string {
		return fill(`"hosts":{"local":{"hostname":"hostB",`+open, item, close+`}}}`)
	}
	for _, tc := range []struct{ name, report string }{
		{"regions", fill(`"regions":[`, `{}`, `]}`)},
		{"repeated blocks", fill(`"repeated_blocks":[`, `{}`, `]}`)},
		{"streams", fill(`"streams":[`, `{}`, `]}`)},
		{"reverse streams", fill(`"streams":[`, `{"direction":"reverse","verdict":"corrupt"}`, `]}`)},
		{"an error text", fill(`"error":"`, `x`, `"}`)},
		{"risks", host(`"risks":[`, `{}`, `]`)},
		{"unknown facts", host(`"unknown":{`, `"%d":""`, `}`)},
		{"SAs", host(`"ipsec":{"states":[`, `{}`, `]}`)},
		{"modules", host(`"ipsec":{"modules":[`, `""`, `]}`)},
		{"xfrm counters", host(`"ipsec":{"xfrm_stat":{`, `"%d":0`, `}}`)},
		{"crypto implementations", host(`"aes":{"implementations":{`, `"%d":{}`, `}}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "report.json")
			if err := os.WriteFile(path, []byte(tc.report), 0o644); err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			fl := Load([]string{path})
			runtime.ReadMemStats(&after)
			if fl.Reports != 1 || len(fl.Skipped) != 0 {
				t.Fatalf("%d reports, skipped %v", fl.Reports, fl.Skipped)
			}
			ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(tc.report))
			t.Logf("%d bytes, allocated %.2f times that", len(tc.report), ratio)
			if ratio >= 8 {
				t.Errorf("reading a report of %d bytes allocated %.1f times that", len(tc.report), ratio)
			}
		})
	}
}
