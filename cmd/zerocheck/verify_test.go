package main

import (
	"bytes"
	"testing"
)

// TestVerifyQuiet: verify takes -q and --quiet as send and recv do, so
// one habit works for all three: a clean stream stays exit 0 with the
// same report and nothing on stderr.
func TestVerifyQuiet(t *testing.T) {
	for _, q := range []string{"-q", "--quiet"} {
		code, stdout, stderr := inproc(t, bytes.NewReader(make([]byte, 4096)), "verify", q, "--pattern", "zeros")
		if code != exitClean || stderr != "" || firstLine(stdout) != "zerocheck: CLEAN: 4096 B (4.00 KiB) verified against pattern zeros, no corrupt bytes" {
			t.Errorf("verify %s: exit %d, stderr %q, stdout %q", q, code, stderr, firstLine(stdout))
		}
	}
}
