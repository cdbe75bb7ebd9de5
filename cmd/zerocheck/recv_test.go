package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

// TestTokenFileTooOpen: a token file that others can read is refused
// with exit 2 and the chmod hint, as ssh refuses such a private key, by
// every command that takes --token-file; one that only its owner (or, for
// another owner's file, its group) can read is taken.
func TestTokenFileTooOpen(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		path := tokenFile(t, "a-token-of-at-least-16-bytes")
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		want := "zerocheck: --token-file " + path + ": permissions " + fmt.Sprintf("%04o", mode) + " are too open: anyone who can read the token can run sessions; chmod 600 " + path
		for _, args := range [][]string{
			{"recv", "--listen", "127.0.0.1:0", "--token-file", path},
			{"send", "127.0.0.1:1", "--token-file", path},
		} {
			code, _, stderr := inproc(t, nil, args...)
			if code != exitUsage || strings.TrimSuffix(stderr, "\n") != want {
				t.Errorf("%v, mode %s: exit %d, stderr %q; want 2 and %q", args, fmt.Sprintf("%04o", mode), code, stderr, want)
			}
		}
	}
	// Shared by group with a service account, as root:zerocheck 0440 or a
	// Kubernetes Secret mounted root:fsGroup 0440: taken (the connection
	// refused afterwards shows the run went ahead: exit 3).
	if os.Getuid() != 0 {
		t.Skip("needs root to give the file another owner")
	}
	path := tokenFile(t, "a-token-of-at-least-16-bytes")
	if err := os.Chown(path, 65532, 0); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o440)
	if code, _, stderr := inproc(t, nil, "send", "127.0.0.1:1", "--token-file", path, "-q", "--no-hostinfo"); code != exitIncomplete || !strings.Contains(stderr, "connection refused") {
		t.Errorf("another owner's 0440 file: exit %d, want 3 (refused connection): %s", code, stderr)
	}
}

// freePort returns a TCP port that nothing on 127.0.0.1 listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestRecvBarePort: recv -l 7777, nc's way of naming a port, listens on
// that port of every address, and serves a run.
func TestRecvBarePort(t *testing.T) {
	port := freePort(t)
	r := start(t, true, "recv", "-l", port, "--once", "--json", "-q", "--no-hostinfo")
	if r.addr != "[::]:"+port && r.addr != "0.0.0.0:"+port {
		t.Fatalf("recv -l %s listens on %s", port, r.addr)
	}
	if code, m, stderr := send(t, "127.0.0.1:"+port, "--bytes", "1MiB", "--no-hostinfo"); code != 0 || m["verdict"] != "clean" {
		t.Fatalf("send: exit %d: %s", code, stderr)
	}
	if code := r.wait(t); code != 0 {
		t.Fatalf("recv exit %d: %s", code, r.stderr())
	}
}

// TestListenCheckedAtParse: a malformed --listen (or --health) is a usage
// error, exit 2, which the systemd unit does not restart; a port already
// in use is the host's state, exit 3, which it does.
func TestListenCheckedAtParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"recv", "--listen", "127.0.0.1"}, `zerocheck: invalid argument "127.0.0.1" for "-l, --listen" flag: want HOST:PORT, :PORT or PORT`},
		{[]string{"recv", "-l", "127.0.0.1:99999"}, `zerocheck: invalid argument "127.0.0.1:99999" for "-l, --listen" flag: port "99999" is not a number from 0 to 65535`},
		{[]string{"recv", "-l", "77777"}, `zerocheck: invalid argument "77777" for "-l, --listen" flag: port "77777" is not a number from 0 to 65535`},
		{[]string{"recv", "-l", "10.0.0.256:7777"}, `zerocheck: invalid argument "10.0.0.256:7777" for "-l, --listen" flag: "10.0.0.256" is neither an IP address nor a host name`},
		{[]string{"recv", "-l", "host name:7777"}, `zerocheck: invalid argument "host name:7777" for "-l, --listen" flag: "host name" is neither an IP address nor a host name`},
		{[]string{"recv", "--health", "7778x"}, `zerocheck: invalid argument "7778x" for "--health" flag: want HOST:PORT, :PORT or PORT`},
		{[]string{"relay", "--listen", "1.2.3", "--to", "127.0.0.1:1"}, `zerocheck: invalid argument "1.2.3" for "--listen" flag: want HOST:PORT, :PORT or PORT`},
	} {
		code, _, stderr := inproc(t, nil, tc.args...)
		if code != exitUsage || firstLine(stderr) != tc.want {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, firstLine(stderr), tc.want)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := "zerocheck: listen tcp " + ln.Addr().String() + ": bind: address already in use"
	if code, _, stderr := inproc(t, nil, "recv", "--listen", ln.Addr().String(), "-q"); code != exitIncomplete || strings.TrimSuffix(stderr, "\n") != want {
		t.Errorf("port in use: exit %d, %q; want 3 and %q", code, stderr, want)
	}
}
