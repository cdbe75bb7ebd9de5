package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
)

// jsonLogs parses the JSON log lines of a stderr, by message; a command
// that logs as JSON may also write lines that are not logs (a sweep's
// summary), which are skipped.
func jsonLogs(t *testing.T, stderr string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", sc.Text())
		}
		msg, _ := m["msg"].(string)
		out[msg] = append(out[msg], m)
	}
	return out
}

// TestLogFormatJSON: recv, send and relay log through one slog setup, and
// --log-format json keeps structured values structured: recv's allow list
// an array, durations numbers of seconds, the relay's offsets and counts
// numbers; send's interrupted sweep is a record, not an ad-hoc line.
func TestLogFormatJSON(t *testing.T) {
	r := start(t, true, "recv", "--listen", "127.0.0.1:0", "--no-hostinfo", "-q", "--json",
		"--allow", "127.0.0.0/8,::1/128", "--log-format", "json")
	rl := start(t, true, "relay", "--listen", "127.0.0.1:0", "--to", r.addr, "--inject", "bitflip@5000:1", "--log-format", "json")
	if code, _, stderr := send(t, rl.addr, "--duration", "1", "--no-hostinfo"); code != exitCorrupt {
		t.Fatalf("send through the relay: exit %d\n%s", code, stderr)
	}
	rl.cmd.Process.Signal(syscall.SIGTERM)
	if code := rl.wait(t); code != 0 {
		t.Fatalf("relay exit %d", code)
	}

	r.cmd.Process.Signal(syscall.SIGTERM)
	r.wait(t)

	// A sweep of two, interrupted in its first run.
	r2 := start(t, true, "recv", "--listen", "127.0.0.1:0", "--no-hostinfo", "-q", "--log-format", "json")
	sp := start(t, false, "send", r2.addr, r2.addr, "--duration", "10m", "--no-hostinfo", "--log-format", "json", "--json")
	r2.waitStderr(t, `"msg":"session start"`)
	sp.cmd.Process.Signal(syscall.SIGINT)
	if code := sp.wait(t); code != exitIncomplete {
		t.Fatalf("interrupted sweep: exit %d\n%s", code, sp.stderr())
	}

	recv := jsonLogs(t, r.stderr())
	if l := recv["listening"]; len(l) != 1 {
		t.Fatalf("recv: %d listening lines\n%s", len(l), r.stderr())
	} else if allow, ok := l[0]["allow"].([]any); !ok || len(allow) != 2 || allow[0] != "127.0.0.0/8" || allow[1] != "::1/128" {
		t.Errorf("recv: allow %#v, want the array [127.0.0.0/8 ::1/128]", l[0]["allow"])
	}
	if s := recv["session start"]; len(s) < 1 || s[0]["duration_seconds"] != 1.0 || s[0]["duration"] != nil {
		t.Errorf("recv: session start %v, want duration_seconds 1", s)
	}

	relay := jsonLogs(t, rl.stderr())
	if l := relay["listening"]; len(l) != 1 || l[0]["to"] != r.addr || l[0]["inject"] != "bitflip@5000:1" || l[0]["mode"] != "protocol" {
		t.Errorf("relay: listening %v", l)
	}
	if inj := relay["injected"]; len(inj) != 1 || inj[0]["offset"] != 5000.0 || inj[0]["bytes"] != 1.0 || inj[0]["conn"] != 1.0 ||
		inj[0]["kind"] != "bitflip" || inj[0]["stream"] != "stream 0 forward" || inj[0]["level"] != "INFO" {
		t.Errorf("relay: injected %v", inj)
	}
	// The data stream's connection, and the control connection of its
	// finish.
	ended := map[any]any{}
	for _, e := range relay["ended"] {
		ended[e["stream"]] = e["injections"]
	}
	if len(ended) != 2 || ended["stream 0 forward"] != 1.0 || ended["stream 0 finish"] != 0.0 {
		t.Errorf("relay: ended %v", relay["ended"])
	}

	send := jsonLogs(t, sp.stderr())
	if l := send["interrupted"]; len(l) != 1 || l[0]["peers_not_run"] != 1.0 || l[0]["peers"] != 2.0 || l[0]["level"] != "WARN" {
		t.Errorf("send: interrupted %v\n%s", l, sp.stderr())
	}
}
