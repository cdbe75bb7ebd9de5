package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnlyReportDirIsConfigError: a --report-dir on a read-only file
// system (or one this user may not write) at start is a configuration
// error: exit 2, the one line that names the directory and why, no usage
// text, for recv and send alike.
func TestReadOnlyReportDirIsConfigError(t *testing.T) {
	dir := t.TempDir()
	var wrap func(args ...string) *exec.Cmd
	var why string
	if os.Getuid() == 0 {
		// Root writes through any mode bits: a read-only mount, in a
		// mount namespace of the test's own, is what stops it.
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("needs unshare(1) as root")
		}
		wrap = func(args ...string) *exec.Cmd {
			return exec.Command("unshare", append([]string{"-m", "sh", "-c", `mount -t tmpfs -o ro tmpfs "$1" && shift && exec "$@"`, "sh", dir, bin}, args...)...)
		}
		why = "read-only file system"
	} else {
		os.Chmod(dir, 0o555)
		wrap = func(args ...string) *exec.Cmd { return exec.Command(bin, args...) }
		why = "permission denied"
	}
	for _, args := range [][]string{
		{"recv", "--listen", "127.0.0.1:0", "--report-dir", dir},
		{"send", "127.0.0.1:1", "--report-dir", dir},
		{"send", "127.0.0.1:1", "--prom-textfile", filepath.Join(dir, "sweep.prom")},
	} {
		flag := args[len(args)-2]
		want := "zerocheck: " + flag + ": cannot create files in " + dir + ": " + why
		out, err := wrap(args...).CombinedOutput()
		if code := exitCode(t, err); code != exitUsage || strings.TrimSuffix(string(out), "\n") != want {
			t.Errorf("%v: exit %d, %q; want 2 and %q", args, code, out, want)
		}
	}
}
