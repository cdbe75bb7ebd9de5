package report

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
)

func host(name string) *hostinfo.Facts { return &hostinfo.Facts{Hostname: name} }

// TestFileName checks exact names, hostile host names above all: they
// come from the peer.
func TestFileName(t *testing.T) {
	// Not UTC, and with a fraction: names are UTC, to the second.
	start := time.Date(2026, 11, 25, 15, 23, 0, 5e8, time.FixedZone("CET", 3600))
	const id = "1f2e3d4c5b6a7980"
	const pre = "20261125T142300Z_" + id + "_"
	cases := []struct {
		name string
		r    Report
		want string
	}{
		{"recv", Report{Role: "recv", RunID: id, Hosts: Hosts{Local: host("hostB"), Peer: host("hostA")}},
			pre + "hostA_to_hostB_recv.json"},
		{"send", Report{Role: "send", RunID: id, Hosts: Hosts{Local: host("hostA"), Peer: host("hostB")}},
			pre + "hostA_to_hostB_send.json"},
		{"loopback", Report{Role: "loopback", RunID: id, Hosts: Hosts{Local: host("box.example.org")}},
			pre + "box.example.org_to_box.example.org_loopback.json"},
		{"verify knows no sender", Report{Role: "verify", RunID: id, Hosts: Hosts{Local: host("hostB")}},
			pre + "unknown_to_hostB_verify.json"},
		{"addresses without facts", Report{Role: "recv", RunID: id, LocalAddr: "192.0.2.7:7777", PeerAddr: "[2001:db8::1]:40000"},
			pre + "2001-db8--1_to_192.0.2.7_recv.json"},
		{"unknown hostname falls back to the address", Report{Role: "send", RunID: id,
			Hosts: Hosts{Local: host(hostinfo.Unknown), Peer: host("hostB")}, LocalAddr: "[fe80::1%eth0]:5000"},
			pre + "fe80--1-eth0_to_hostB_send.json"},
		{"slashes and dots", Report{Role: "recv", RunID: id, Hosts: Hosts{Local: host(".."), Peer: host("../../etc/passwd")}},
			pre + "..-..-etc-passwd_to_.._recv.json"},
		{"spaces, underscores, control characters", Report{Role: "recv", RunID: id,
			Hosts: Hosts{Local: host("host name"), Peer: host("a_b\n\x00c")}},
			pre + "a-b--c_to_host-name_recv.json"},
		{"unicode, one dash a rune", Report{Role: "recv", RunID: id, Hosts: Hosts{Local: host("日本"), Peer: host("höst")}},
			pre + "h-st_to_--_recv.json"},
		{"invalid UTF-8", Report{Role: "recv", RunID: id, Hosts: Hosts{Local: host("b\xff\xfe"), Peer: host("a")}},
			pre + "a_to_b--_recv.json"},
		{"very long", Report{Role: "recv", RunID: id,
			Hosts: Hosts{Local: host(strings.Repeat("é", 300)), Peer: host(strings.Repeat("a", 300))}},
			pre + strings.Repeat("a", 64) + "_to_" + strings.Repeat("-", 64) + "_recv.json"},
		{"hostile run id and role (not send or recv: no sender)", Report{Role: "recv_/x", RunID: "../" + strings.Repeat("f", 100), Hosts: Hosts{Local: host("b"), Peer: host("a")}},
			"20261125T142300Z_..-" + strings.Repeat("f", 29) + "_unknown_to_b_recv--x.json"},
		{"no role, no hosts", Report{RunID: id}, pre + "unknown_to_unknown_unknown.json"},
	}
	safe := regexp.MustCompile(`^[A-Za-z0-9.-]+$`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.r.Start = start
			got := c.r.FileName()
			if got != c.want {
				t.Errorf("FileName() = %q\nwant          %q", got, c.want)
			}
			// Whatever the input: six safe parts split on "_", and a
			// length any file system takes with room for a suffix.
			parts := strings.Split(strings.TrimSuffix(got, ".json"), "_")
			if len(parts) != 6 || parts[3] != "to" {
				t.Errorf("%q does not split into six parts", got)
			}
			for _, p := range parts {
				if !safe.MatchString(p) {
					t.Errorf("part %q of %q", p, got)
				}
			}
			if len(got) > 200 {
				t.Errorf("%d bytes long", len(got))
			}
		})
	}
}

// TestFileNameNoRunID checks that runs without a run id (verify, raw
// mode) get a random token, so that their names do not collide.
func TestFileNameNoRunID(t *testing.T) {
	r := Report{Role: "verify", Start: time.Date(2026, 11, 25, 14, 23, 0, 0, time.UTC), Hosts: Hosts{Local: host("hostB")}}
	shape := regexp.MustCompile(`^20261125T142300Z_[0-9a-f]{8}_unknown_to_hostB_verify\.json$`)
	seen := map[string]bool{}
	for range 100 {
		name := r.FileName()
		if !shape.MatchString(name) {
			t.Fatalf("name %q", name)
		}
		if seen[name] {
			t.Fatalf("name %q twice", name)
		}
		seen[name] = true
	}
}

// TestFileNameNoStart checks that a report without a start time is named
// by the time of the call.
func TestFileNameNoStart(t *testing.T) {
	r := Report{Role: "verify", RunID: "1f2e3d4c5b6a7980"}
	before := time.Now().Truncate(time.Second)
	name := r.FileName()
	after := time.Now()
	got, err := time.Parse(fileTime, name[:len(fileTime)])
	if err != nil {
		t.Fatalf("name %q: %v", name, err)
	}
	if got.Before(before) || got.After(after) {
		t.Errorf("name %q: time %v not between %v and %v", name, got, before, after)
	}
}

func fixture(t *testing.T, name string) Report {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSave checks that a saved file holds exactly what JSON writes and
// decodes to the same report, with mode 0644, and that saving again does
// not replace it.
func TestSave(t *testing.T) {
	dir := t.TempDir()
	r := fixture(t, "network-bidir.json")
	var want bytes.Buffer
	if err := JSON(&want, r); err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(r.FileName(), ".json")
	for i, suffix := range []string{"", "-2", "-3"} {
		path, err := Save(dir, &r)
		if err != nil {
			t.Fatal(err)
		}
		if wantPath := filepath.Join(dir, base+suffix+".json"); path != wantPath {
			t.Errorf("save %d: path %s, want %s", i+1, path, wantPath)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, want.Bytes()) {
			t.Errorf("%s differs from JSON's output", path)
		}
		back, err := Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Errorf("%s decodes to another report", path)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", path, info.Mode().Perm())
		}
	}
}

// TestSaveConcurrent saves the same run, and runs without a run id, from
// many goroutines into one directory: no save may replace another.
func TestSaveConcurrent(t *testing.T) {
	start := time.Date(2026, 11, 25, 14, 23, 0, 0, time.UTC)
	reports := []Report{
		{Schema: Schema, Verdict: Clean, Role: "recv", RunID: "1f2e3d4c5b6a7980", Start: start, Hosts: Hosts{Local: host("b"), Peer: host("a")}},
		{Schema: Schema, Verdict: Clean, Role: "verify", Start: start},
	}
	const each = 10
	dir := t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	paths := map[string]int{}
	for i := range each * len(reports) {
		wg.Go(func() {
			r := reports[i%len(reports)]
			r.BytesVerified = int64(i) // tells the files apart
			path, err := Save(dir, &r)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if j, dup := paths[path]; dup {
				t.Errorf("saves %d and %d both wrote %s", i, j, path)
			}
			paths[path] = i
		})
	}
	wg.Wait()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != each*len(reports) {
		t.Errorf("%d files, want %d", len(entries), each*len(reports))
	}
	for path, i := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(f)
		f.Close()
		if err != nil || r.BytesVerified != int64(i) {
			t.Errorf("%s: save %d's file holds %d (%v)", path, i, r.BytesVerified, err)
		}
	}
}

// TestSaveFails checks that a failed save says where and leaves nothing.
func TestSaveFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	r := Report{Role: "recv", RunID: "1f2e3d4c5b6a7980"}
	_, err := Save(dir, &r)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("err = %v, want one naming %s", err, dir)
	}
	if left, _ := os.ReadDir(filepath.Dir(dir)); len(left) > 0 {
		t.Errorf("left %v", left)
	}
}
