package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnalyzeCommand runs zerocheck analyze as a user would, on reports
// that zerocheck itself wrote: a loopback run and a corrupt capture.
func TestAnalyzeCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	report := func(name string, stdin []byte, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.Output()
		if code := exitCode(t, err); code > 1 {
			t.Fatalf("%v: exit %d", args, code)
		}
		write(name, out)
	}
	report("loopback.json", nil, "loopback", "--bytes", "1MiB", "--json", "--quiet")
	capture := make([]byte, 4096)
	capture[100] = 1
	report("verify.json", capture, "verify", "--json")
	foreign := write("foreign.json", []byte(`{"hello": "world"}`))
	missing := filepath.Join(dir, "no-such.json")

	analyze := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"analyze"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		return exitCode(t, cmd.Run()), out.String(), errb.String()
	}
	warning := "zerocheck: warning: skipped " + foreign + `: not a zerocheck report: no "schema" field` + "\n"

	code, out, stderr := analyze(dir)
	if code != 0 || stderr != warning ||
		!strings.HasPrefix(out, "zerocheck analyze: 2 files, 2 reports, 2 runs (1 corrupt, 1 clean, 0 incomplete), 1 warning\n") ||
		!strings.Contains(out, "Pairs (sender -> receiver)") || !strings.Contains(out, "Facts, by how well") {
		t.Fatalf("text: exit %d, stderr %q\n%s", code, stderr, out)
	}

	code, out, stderr = analyze("--json", dir, missing)
	m := decodeJSON(t, out)
	if code != 0 || m["schema"] != "zerocheck.analysis/v1" || num(t, m["files"]) != 2 || num(t, m["reports"]) != 2 ||
		num(t, m["runs"]) != 2 || num(t, m["corrupt"]) != 1 || num(t, m["clean"]) != 1 || num(t, m["incomplete"]) != 0 {
		t.Fatalf("json: exit %d: %v", code, m)
	}
	if !strings.Contains(stderr, warning) || !strings.Contains(stderr, "skipped "+missing+": no such file or directory") {
		t.Fatalf("json: stderr %q", stderr)
	}
	pairs := m["pairs"].([]any)
	if len(pairs) != 2 {
		t.Fatalf("pairs %v", pairs)
	}
	// The corrupt capture first: verify knows only its receiver.
	first, second := pairs[0].(map[string]any), pairs[1].(map[string]any)
	if first["sender"] != "" || num(t, first["corrupt"]) != 1 || num(t, first["corrupt_bytes"]) != 1 || num(t, first["regions"]) != 1 ||
		second["sender"] != second["receiver"] || num(t, second["clean"]) != 1 || num(t, second["bytes_verified"]) != 1<<20 {
		t.Fatalf("pairs %v", pairs)
	}
	facts := m["facts"].([]any)
	if len(facts) == 0 {
		t.Fatal("no facts")
	}
	for _, k := range []string{"fact", "value", "runs", "corrupt", "rate", "other_runs", "other_corrupt", "rate_others",
		"separation", "corrupt_as_sender", "corrupt_as_receiver", "uniform"} {
		if _, ok := facts[0].(map[string]any)[k]; !ok {
			t.Errorf("fact lacks %q: %v", k, facts[0])
		}
	}
	if skipped := m["skipped"].([]any); len(skipped) != 2 || skipped[0].(map[string]any)["file"] != foreign {
		t.Fatalf("skipped %v", skipped)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no path", nil, 2, "requires at least 1 arg"},
		{"negative top", []string{"--top", "-1", dir}, 2, "--top"},
		{"nothing readable", []string{foreign, missing}, 3, "zerocheck: no report could be read"},
		{"empty directory", []string{t.TempDir()}, 3, "no report could be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := analyze(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) || out != "" {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q", code, tc.code, out, stderr)
			}
			if usage := strings.Contains(stderr, "Run 'zerocheck analyze --help' for usage."); usage != (code == exitUsage) {
				t.Fatalf("usage printed: %v, exit %d", usage, code)
			}
		})
	}
	if _, _, stderr := analyze(foreign, missing); !strings.Contains(stderr, warning) {
		t.Fatalf("warnings before the failure: %q", stderr)
	}
}
