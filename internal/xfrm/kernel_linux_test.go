//go:build linux

package xfrm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// helperEnv makes the test binary act as a helper process: it runs Dump in
// whatever network namespace and with whatever privileges it was started
// with (by `ip netns exec` and setpriv), prints the result as JSON and
// exits. Re-executing keeps the namespace switch out of the test process,
// whose other threads must never leave the host's namespace.
const helperEnv = "ZEROCHECK_XFRM_TEST_HELPER"

// saveEnv, when set to a directory, makes the real-kernel tests write the
// kernel's raw dump and iproute2's text there, to refresh testdata/.
const saveEnv = "ZEROCHECK_XFRM_SAVE_TESTDATA"

type helperResult struct {
	SAs    []SA   `json:"sas"`
	Raw    []byte `json:"raw"`
	Err    string `json:"err,omitempty"`
	Denied bool   `json:"denied,omitempty"`
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "dump" {
		sas, raw, err := dump(true)
		res := helperResult{SAs: sas, Raw: raw}
		if err != nil {
			res.Err = err.Error()
			res.Denied = errors.Is(err, ErrDenied)
		}
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var nsCounter atomic.Int32

// newNetns creates a network namespace owned by this test and removes it,
// with every SA in it, when the test ends. SAs are only ever added inside
// such namespaces, never to the host's own XFRM state.
func newNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("real-kernel XFRM test needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("real-kernel XFRM test needs iproute2's ip (apt-get install -y iproute2)")
	}
	ns := fmt.Sprintf("zc-xfrm-%d-%d", os.Getpid(), nsCounter.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespace %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", ns, "xfrm", "state").CombinedOutput(); err != nil {
		t.Skipf("the kernel's XFRM netlink family is unavailable (CONFIG_XFRM_USER?): ip xfrm state: %v: %s", err, out)
	}
	return ns
}

func ipCmd(ns string, args ...string) ([]byte, error) {
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// runHelper runs Dump in a child process inside ns, optionally behind a
// prefix command such as setpriv.
func runHelper(t *testing.T, ns string, prefix ...string) helperResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"netns", "exec", ns}, prefix...)
	args = append(args, exe)
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), helperEnv+"=dump")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %v: %v\nstderr: %s", args, err, stderr.Bytes())
	}
	var res helperResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	if strings.Contains(res.Err, "CONFIG_XFRM_USER_COMPAT") {
		t.Skipf("the kernel cannot answer this 32-bit test binary: %s", res.Err)
	}
	return res
}

func sortedBySPI(sas []SA) []SA {
	s := append([]SA(nil), sas...)
	sort.Slice(s, func(i, j int) bool { return s[i].SPI < s[j].SPI })
	return s
}

// checkKernelSAs checks Dump's result inside ns against want (in any
// order), checks that ParseIPState reads the same SAs from every form of
// iproute2's output, and saves the raw material when asked to.
func checkKernelSAs(t *testing.T, ns, name string, want []SA, secrets []string) {
	t.Helper()
	res := runHelper(t, ns)
	if res.Err != "" {
		t.Fatalf("Dump in %s: %s", ns, res.Err)
	}
	if got := sortedBySPI(res.SAs); !reflect.DeepEqual(got, want) {
		t.Fatalf("Dump in %s:\n got %+v\nwant %+v", ns, got, want)
	}
	// ParseDump on the same bytes must agree with Dump.
	if sas, err := ParseDump(res.Raw); err != nil || !reflect.DeepEqual(sas, res.SAs) {
		t.Fatalf("ParseDump(raw kernel dump) = %+v, %v; Dump gave %+v", sas, err, res.SAs)
	}
	j, _ := json.Marshal(res.SAs)
	for _, s := range secrets {
		if bytes.Contains(j, []byte(s)) {
			t.Fatalf("key %s leaked into %s", s, j)
		}
	}
	texts := map[string][]byte{}
	for _, form := range []struct{ file, flag string }{{"ip", ""}, {"ip-s", "-s"}, {"ip-d", "-d"}, {"ip-s-d", "-s -d"}} {
		args := append(strings.Fields(form.flag), "xfrm", "state")
		out, err := ipCmd(ns, args...)
		if err != nil {
			t.Fatal(err)
		}
		if form.file != "ip-s-d" { // same text as ip-s in iproute2 6.1
			texts[form.file] = out
		}
		sas, err := ParseIPState(out)
		if err != nil {
			t.Fatalf("ParseIPState(ip %s xfrm state): %v\n%s", form.flag, err, out)
		}
		if !reflect.DeepEqual(sas, res.SAs) {
			t.Fatalf("ParseIPState(ip %s xfrm state) disagrees with Dump:\n got %+v\nwant %+v\n%s", form.flag, sas, res.SAs, out)
		}
	}
	if dir := os.Getenv(saveEnv); dir != "" {
		save := func(file string, b []byte) {
			if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		save(name+".netlink", res.Raw)
		for form, text := range texts {
			save(name+"."+form+".txt", text)
		}
		wantJSON, _ := json.MarshalIndent(res.SAs, "", "  ")
		save(name+".json", append(wantJSON, '\n'))
		uname, _ := exec.Command("uname", "-srm").Output()
		ipv, _ := exec.Command("ip", "-V").Output()
		save(name+".source", []byte(fmt.Sprintf("kernel: %sip: %s", uname, ipv)))
	}
}

// Keys for the real-kernel SAs. They are test-only values in a namespace
// that is deleted with the test.
const (
	keyGCM  = "0x0102030405060708090a0b0c0d0e0f1011121314"
	keyAES  = "0x00112233445566778899aabbccddeeff"
	keySHA  = "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	keySHA1 = "0xa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"
)

// TestKernelESP adds real ESP SAs (NAT-T transport with AES-GCM, tunnel
// with AES-CBC and HMAC-SHA256, IPv6) and checks that Dump and
// ParseIPState report exactly them.
func TestKernelESP(t *testing.T) {
	ns := newNetns(t)
	adds := [][]string{
		{"xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "spi", "0x100", "mode", "transport",
			"aead", "rfc4106(gcm(aes))", keyGCM, "128", "encap", "espinudp", "4500", "4500", "0.0.0.0"},
		{"xfrm", "state", "add", "src", "192.0.2.3", "dst", "192.0.2.4", "proto", "esp", "spi", "0x200", "reqid", "7", "mode", "tunnel",
			"enc", "cbc(aes)", keyAES, "auth-trunc", "hmac(sha256)", keySHA, "128"},
		{"xfrm", "state", "add", "src", "2001:db8::1", "dst", "2001:db8::2", "proto", "esp", "spi", "0x300", "mode", "transport",
			"enc", "cbc(aes)", keyAES, "auth", "hmac(sha1)", keySHA1},
	}
	for _, a := range adds {
		if out, err := ipCmd(ns, a...); err != nil {
			if bytes.Contains(out, []byte("not found")) || bytes.Contains(out, []byte("not supported")) {
				t.Skipf("this kernel cannot hold these ESP SAs (needs CONFIG_INET_ESP, CONFIG_INET6_ESP, CONFIG_CRYPTO_GCM): %v", err)
			}
			t.Fatal(err)
		}
	}
	want := []SA{
		{Src: "192.0.2.1", Dst: "192.0.2.2", Proto: "esp", SPI: "0x00000100", Mode: "transport", Encap: "espinudp", Algs: []string{"rfc4106(gcm(aes))"}},
		{Src: "192.0.2.3", Dst: "192.0.2.4", Proto: "esp", SPI: "0x00000200", Mode: "tunnel", Algs: []string{"hmac(sha256)", "cbc(aes)"}},
		{Src: "2001:db8::1", Dst: "2001:db8::2", Proto: "esp", SPI: "0x00000300", Mode: "transport", Algs: []string{"hmac(sha1)", "cbc(aes)"}},
	}
	secrets := []string{keyGCM[2:], keyAES[2:], keySHA[2:], keySHA1[2:]}
	checkKernelSAs(t, ns, "kernel-esp", want, secrets)
}

// TestKernelLarval uses larval SAs made by XFRM_MSG_ALLOCSPI. They need no
// ESP, AH or IPComp support in the kernel, so the struct layout is checked
// against the real kernel even where TestKernelESP must skip. The kernel
// expires them after 30 s, far longer than this test takes.
func TestKernelLarval(t *testing.T) {
	ns := newNetns(t)
	adds := [][]string{
		{"src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "mode", "transport", "min", "0x100", "max", "0x100"},
		{"src", "192.0.2.3", "dst", "192.0.2.4", "proto", "esp", "mode", "tunnel", "reqid", "7", "min", "0x200", "max", "0x200"},
		{"src", "2001:db8::1", "dst", "2001:db8:0:ffff::2", "proto", "esp", "mode", "transport", "min", "0xfedcba98", "max", "0xfedcba98"},
		{"src", "192.0.2.5", "dst", "192.0.2.6", "proto", "comp", "mode", "tunnel", "min", "0x400", "max", "0x400"},
		{"src", "192.0.2.7", "dst", "192.0.2.8", "proto", "ah", "mode", "beet", "min", "0x500", "max", "0x500"},
	}
	for _, a := range adds {
		if _, err := ipCmd(ns, append([]string{"xfrm", "state", "allocspi"}, a...)...); err != nil {
			t.Fatal(err)
		}
	}
	want := []SA{
		{Src: "192.0.2.1", Dst: "192.0.2.2", Proto: "esp", SPI: "0x00000100", Mode: "transport"},
		{Src: "192.0.2.3", Dst: "192.0.2.4", Proto: "esp", SPI: "0x00000200", Mode: "tunnel"},
		{Src: "192.0.2.5", Dst: "192.0.2.6", Proto: "comp", SPI: "0x00000400", Mode: "tunnel"},
		{Src: "192.0.2.7", Dst: "192.0.2.8", Proto: "ah", SPI: "0x00000500", Mode: "beet"},
		{Src: "2001:db8::1", Dst: "2001:db8:0:ffff::2", Proto: "esp", SPI: "0xfedcba98", Mode: "transport"},
	}
	checkKernelSAs(t, ns, "kernel-larval", want, nil)
}

// TestKernelEmpty checks the smallest real dump: a namespace without SAs.
func TestKernelEmpty(t *testing.T) {
	ns := newNetns(t)
	res := runHelper(t, ns)
	if res.Err != "" || len(res.SAs) != 0 {
		t.Fatalf("Dump in an empty namespace = %+v, %s", res.SAs, res.Err)
	}
}

// TestKernelDenied runs Dump without CAP_NET_ADMIN and expects ErrDenied.
func TestKernelDenied(t *testing.T) {
	ns := newNetns(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is missing: cannot drop CAP_NET_ADMIN for the helper")
	}
	// Dropping net_admin from the bounding set keeps it out of the
	// helper's permitted set although it runs as root.
	probe := exec.Command("setpriv", "--inh-caps=-all", "--bounding-set=-net_admin", "--", "true")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("setpriv cannot drop CAP_NET_ADMIN here: %v: %s", err, out)
	}
	res := runHelper(t, ns, "setpriv", "--inh-caps=-all", "--bounding-set=-net_admin", "--")
	if !res.Denied {
		t.Fatalf("Dump without CAP_NET_ADMIN = %+v, %q; want ErrDenied", res.SAs, res.Err)
	}
	if !strings.Contains(res.Err, "permission denied: needs CAP_NET_ADMIN") {
		t.Fatalf("error %q does not say what is needed", res.Err)
	}
	t.Logf("Dump without CAP_NET_ADMIN: %s", res.Err)
}

func TestDenied(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES} {
		err := denied(fmt.Errorf("xfrm: kernel answered NLMSG_ERROR: %w", errno))
		if !errors.Is(err, ErrDenied) || !errors.Is(err, errno) {
			t.Errorf("denied(%v) = %v: not ErrDenied and %v", errno, err, errno)
		}
		if !strings.Contains(err.Error(), "permission denied: needs CAP_NET_ADMIN") {
			t.Errorf("denied(%v) = %q", errno, err)
		}
	}
	other := fmt.Errorf("x: %w", syscall.ENOMEM)
	if err := denied(other); err != other || errors.Is(err, ErrDenied) {
		t.Errorf("denied(ENOMEM) = %v", err)
	}
}
