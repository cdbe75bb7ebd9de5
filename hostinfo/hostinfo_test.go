package hostinfo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/internal/golden"
	"golang.org/x/sys/unix"
)

// fixtureInterface is the interface that carries runs on each fixture host.
var fixtureInterface = map[string]string{
	"xen-pv-3.2-xen-4.1-ipsec": "eth0",
	"xen-hvm-4.4":              "eth0",
	"xen-dom0":                 "eno1",
	"kvm-5.3":                  "ens3",
	"baremetal":                "eno1",
	"container":                "eth0",
}

// collectFixture reads a fixture tree with the time and root made stable.
func collectFixture(t *testing.T, name string) *Facts {
	t.Helper()
	dir := filepath.Join("testdata", "hosts", name)
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	f := Collect(Options{Root: dir, Interface: fixtureInterface[name]})
	f.Time = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	f.Root = name
	return f
}

func risk(f *Facts, id string) *Risk {
	for i := range f.Risks {
		if f.Risks[i].ID == id {
			return &f.Risks[i]
		}
	}
	return nil
}

// TestFixturesGolden compares each fixture's JSON facts with its golden
// file; go test ./hostinfo -update rewrites them after an intended change.
func TestFixturesGolden(t *testing.T) {
	for name := range fixtureInterface {
		t.Run(name, func(t *testing.T) {
			f := collectFixture(t, name)
			got, err := json.MarshalIndent(f, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden", name+".json"), append(got, '\n'))
		})
	}
}

func TestSeedHostMatchesIncidentProfile(t *testing.T) {
	f := collectFixture(t, "xen-pv-3.2-xen-4.1-ipsec")
	v := f.Virt
	if f.Kernel.Release != "3.2.0-58-virtual" || v.Hypervisor != "xen" || v.XenMode != "pv" || v.XenRole != "domU" || v.XenVersion != "4.1.2" {
		t.Fatalf("kernel %q virt %+v", f.Kernel.Release, v)
	}
	if !strings.Contains(v.Signal, "no DMI") {
		t.Errorf("the PV decision should name its signal: %q", v.Signal)
	}
	if f.AES.KernelModule != "loaded" || f.AES.CPUFlag == nil || !*f.AES.CPUFlag {
		t.Errorf("aes %+v", f.AES)
	}
	if im := f.AES.Implementations["aes"]; !strings.Contains(im.Driver, "aesni") || im.Module != "aesni_intel" {
		t.Errorf("aes implementation %+v", im)
	}
	if p := f.IPsec; p.TransportMode == nil || !*p.TransportMode || p.NATT == nil || !*p.NATT || p.StatesSource != "file" {
		t.Errorf("ipsec %+v", p)
	}
	r := risk(f, "xen-pv-aesni")
	if r == nil || r.Status != Match || r.Severity != "critical" {
		t.Fatalf("incident profile: %+v", r)
	}
	if r := risk(f, "ipsec-transport-no-tcp-checksum"); r == nil || r.Status != Match {
		t.Fatalf("transport-mode risk: %+v", r)
	}
	if f.Risks[0].Status != Match {
		t.Error("matched risks must come first")
	}
	// Linux 3.2 predates InCsumErrors: unknown, with the reason.
	if f.Counters.TCPInCsumErrors != nil || !strings.Contains(f.Unknown["counters.tcp_in_csum_errors"], "3.10") {
		t.Errorf("InCsumErrors on 3.2: %v, %q", f.Counters.TCPInCsumErrors, f.Unknown["counters.tcp_in_csum_errors"])
	}
	// A copied tree never consults this machine.
	if f.CPU.CPUID != nil || f.Unknown["cpu.cpuid"] == "" || f.Net.RxChecksum != nil {
		t.Error("live-only facts read for a copied tree")
	}
}

func TestXenHVM44DoesNotMatch(t *testing.T) {
	f := collectFixture(t, "xen-hvm-4.4")
	if f.Virt.Hypervisor != "xen" || f.Virt.XenMode != "hvm" || f.Virt.XenVersion != "4.4.1" || f.Virt.XenRole != "domU" {
		t.Fatalf("virt %+v", f.Virt)
	}
	if r := risk(f, "xen-pv-aesni"); r != nil {
		t.Fatalf("HVM on 4.4 matched the incident profile: %+v", r)
	}
}

func TestXenDom0(t *testing.T) {
	f := collectFixture(t, "xen-dom0")
	if f.Virt.Hypervisor != "xen" || f.Virt.XenRole != "dom0" || f.Virt.XenMode != "pv" || !strings.HasPrefix(f.Virt.XenVersion, "4.11") {
		t.Fatalf("virt %+v", f.Virt)
	}
	if r := risk(f, "xen-pv-aesni"); r != nil {
		t.Fatalf("dom0 matched the domU profile: %+v", r)
	}
	if f.Counters.TCPInCsumErrors == nil {
		t.Error("InCsumErrors unread on 4.19")
	}
}

func TestKVM(t *testing.T) {
	f := collectFixture(t, "kvm-5.3")
	if f.Virt.Hypervisor != "kvm" || f.Virt.XenMode != "" {
		t.Fatalf("virt %+v", f.Virt)
	}
	if r := risk(f, "linux-avx-signal-corruption"); r == nil || r.Status != Match {
		t.Fatalf("AVX signal risk on 5.3.0: %+v", r)
	}
	if f.Net == nil || f.Net.Driver != "virtio_net" || f.Net.MTU == nil {
		t.Errorf("net %+v", f.Net)
	}
}

func TestBareMetal(t *testing.T) {
	f := collectFixture(t, "baremetal")
	if f.Virt.Hypervisor != "none" || f.AES.KernelModule != "builtin" {
		t.Fatalf("hypervisor %q aesni %q", f.Virt.Hypervisor, f.AES.KernelModule)
	}
	if c := f.Counters.EDACCorrected; c == nil || *c != 3 {
		t.Errorf("EDAC corrected %v", c)
	}
	if f.Kernel.Tainted == nil || *f.Kernel.Tainted != 0 {
		t.Errorf("tainted %v", f.Kernel.Tainted)
	}
	for _, r := range f.Risks {
		if r.Status == Match {
			t.Errorf("bare metal matched %s", r.ID)
		}
	}
}

// TestContainerTreeIsUnknownNotGuessed: a tree with almost nothing in it
// gives "unknown" everywhere, each with a reason, and no crash.
func TestContainerTreeIsUnknownNotGuessed(t *testing.T) {
	f := collectFixture(t, "container")
	if f.Kernel.Release != Unknown || f.Virt.Hypervisor != Unknown || f.AES.KernelModule != Unknown || f.AES.CPUFlag != nil {
		t.Fatalf("kernel %q hypervisor %q aesni %q", f.Kernel.Release, f.Virt.Hypervisor, f.AES.KernelModule)
	}
	if f.Virt.Container != "docker" {
		t.Errorf("container %q", f.Virt.Container)
	}
	for _, k := range []string{"kernel.release", "virt.hypervisor", "aes.kernel_module", "cpu.flags", "ipsec.states", "counters.tcp_in_csum_errors"} {
		if f.Unknown[k] == "" {
			t.Errorf("no reason for unknown %s", k)
		}
	}
	// Unknown facts never make a match; the incident profile is possible.
	for _, r := range f.Risks {
		if r.Status == Match {
			t.Errorf("matched %s on unknown facts", r.ID)
		}
	}
	if r := risk(f, "xen-pv-aesni"); r == nil || r.Status != Possible || !slices.Contains(r.Unknown, "virt.xen_mode") {
		t.Errorf("incident profile on an unknown host: %+v", r)
	}
}

func TestMissingRoot(t *testing.T) {
	f := Collect(Options{Root: filepath.Join(t.TempDir(), "nope")})
	if f.Kernel.Release != Unknown || len(f.Unknown) == 0 {
		t.Fatalf("%+v", f.Kernel)
	}
}

func TestCountersSub(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	a := Counters{TCPInCsumErrors: n(5), RxCRCErrors: n(2), EDACCorrected: n(1)}
	b := Counters{TCPInCsumErrors: n(9), RxCRCErrors: n(1), EDACCorrected: nil}
	d := b.Sub(a)
	if *d.TCPInCsumErrors != 4 || d.RxCRCErrors != nil || d.EDACCorrected != nil {
		t.Fatalf("%+v", d)
	}
}

func TestKernelVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [3]int
		ok   bool
	}{
		{"3.2.0-58-virtual", [3]int{3, 2, 0}, true},
		{"5.4.1", [3]int{5, 4, 1}, true},
		{"6.1.0-13-amd64", [3]int{6, 1, 0}, true},
		{"2.6.32-754.el6.x86_64", [3]int{2, 6, 32}, true},
		{"4.19", [3]int{4, 19, 0}, true},
		{"unknown", [3]int{}, false},
		{"", [3]int{}, false},
	} {
		got, ok := kernelVersion(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("kernelVersion(%q) = %v, %v", tc.in, got, ok)
		}
	}
}

func TestAVXRuleBounds(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		release, upstream, want string // want: match, possible, or "" (no risk)
	}{
		{"5.1.21", "", ""},
		{"5.2.0", "", Match},
		{"5.3.14", "", Match},
		{"5.3.15", "", ""},
		{"5.4.1", "", Match},
		{"5.4.2", "", ""},
		{"6.1.0", "", ""},
		// Distribution releases pinned at X.Y.0 say nothing of their
		// patch level; Ubuntu's version_signature does.
		{"5.4.0-216-generic", "", Possible},
		{"5.4.0-216-generic", "5.4.291", ""},
		{"5.3.0-24-generic", "5.3.13", Match},
		{"4.19.0-6-amd64", "", ""},
		{"5.2.0-1-amd64", "", Match},
		{"unknown", "", Possible},
	} {
		f := &Facts{Kernel: Kernel{Release: tc.release, Upstream: tc.upstream}, CPU: CPU{Flags: CPUFlags{AVX: &yes}}}
		got := ""
		if r := risk(&Facts{Risks: Evaluate(f)}, "linux-avx-signal-corruption"); r != nil {
			got = r.Status
		}
		if got != tc.want {
			t.Errorf("%s (upstream %q): %q, want %q", tc.release, tc.upstream, got, tc.want)
		}
	}
}

// FuzzParsers feeds arbitrary bytes to every parser of a tree's files:
// a copied tree is untrusted, and no parser may panic or hang on it.
func FuzzParsers(f *testing.F) {
	f.Add([]byte("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nflags\t\t: fpu aes avx\n\n"))
	f.Add([]byte("name         : aes\ndriver       : aes-aesni\nmodule       : aesni_intel\npriority     : 300\n\n"))
	f.Add([]byte("Tcp: RtoAlgorithm InCsumErrors\nTcp: 1 7\nUdp: InDatagrams InCsumErrors\nUdp: 5 0\n"))
	f.Add([]byte("aesni_intel 167997 2 - Live 0xffffffffa0000000\n"))
	f.Add([]byte("PRETTY_NAME=\"Ubuntu 12.04.5 LTS\"\n"))
	f.Add([]byte("XfrmInError 0\nXfrmInNoStates 12\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseCPUInfo(b)
		pick(parseCrypto(b), "aes")
		parseSNMP(b)
		parseModules(b)
		parseOSRelease(b)
		parseNameValues(b)
		parseUeventDriver(b)
		kernelVersion(string(b))
	})
}

// TestLiveHost reads the machine running the tests: the facts must agree
// with what the kernel says through other doors (uname), and every fact
// must be known or carry a reason.
func TestLiveHost(t *testing.T) {
	f := Collect(Options{Interface: "lo"})
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	if f.Kernel.Release != unix.ByteSliceToString(u.Release[:]) || f.Kernel.Arch != unix.ByteSliceToString(u.Machine[:]) {
		t.Errorf("kernel %+v, uname %s %s", f.Kernel, u.Release[:], u.Machine[:])
	}
	if f.Net == nil || f.Net.MTU == nil || *f.Net.MTU <= 0 {
		t.Errorf("lo: %+v", f.Net)
	}
	if runtime.GOARCH == "amd64" && (f.CPU.CPUID == nil || f.CPU.CPUID.Vendor == "") {
		t.Errorf("cpuid: %+v", f.CPU.CPUID)
	}
	for _, fl := range f.Fields() {
		if fl.Value != Unknown {
			continue
		}
		found := false
		for k := range f.Unknown {
			if strings.HasPrefix(fl.Path, k) || strings.HasPrefix(k, fl.Path) || strings.HasPrefix(fl.Path, strings.Split(k, ".")[0]+".") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s is unknown without a reason (unknown: %v)", fl.Path, f.Unknown)
		}
	}
}
