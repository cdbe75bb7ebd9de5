package hostinfo

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// copyTree copies a fixture tree into a temporary directory, so that a
// test can damage it.
func copyTree(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("testdata", "hosts", name)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func write(t *testing.T, root, path, content string) {
	t.Helper()
	p := filepath.Join(root, path)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func status(f *Facts, id string) string {
	if r := risk(f, id); r != nil {
		return r.Status
	}
	return ""
}

// TestXenFoundOnlyBySecondarySignals: with /sys/hypervisor and /proc/xen
// missing from the copy, the clocksource still says Xen, and the
// incident's profile must be possible (details unknown), not silent.
func TestXenFoundOnlyBySecondarySignals(t *testing.T) {
	root := copyTree(t, "xen-pv-3.2-xen-4.1-ipsec")
	os.RemoveAll(filepath.Join(root, "sys/hypervisor"))
	os.RemoveAll(filepath.Join(root, "proc/xen"))
	f := Collect(Options{Root: root})
	if f.Virt.Hypervisor != "xen" || f.Virt.XenVersion != Unknown || f.Virt.XenRole != Unknown {
		t.Fatalf("virt %+v", f.Virt)
	}
	if f.Unknown["virt.xen_version"] == "" || f.Unknown["virt.xen_role"] == "" {
		t.Fatalf("unknown %v", f.Unknown)
	}
	if got := status(f, "xen-pv-aesni"); got != Possible {
		t.Fatalf("incident profile: %q", got)
	}
}

// TestEmptyProcfsCopy: procfs copied by tar reads as empty files; that is
// unknown, never "absent" or a version of ".".
func TestEmptyProcfsCopy(t *testing.T) {
	root := copyTree(t, "xen-pv-3.2-xen-4.1-ipsec")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() && (strings.Contains(p, "/proc/") || strings.Contains(p, "/sys/")) {
			os.Truncate(p, 0)
		}
		return nil
	})
	f := Collect(Options{Root: root})
	if f.Kernel.Release != Unknown || f.AES.KernelModule != Unknown || f.Virt.XenVersion != Unknown {
		t.Fatalf("release %q aesni %q xen %q", f.Kernel.Release, f.AES.KernelModule, f.Virt.XenVersion)
	}
	if !strings.Contains(f.Unknown["kernel.release"], "empty") {
		t.Fatalf("reason %q", f.Unknown["kernel.release"])
	}
	if got := status(f, "xen-pv-aesni"); got != Possible {
		t.Fatalf("incident profile: %q", got)
	}
}

func TestXenModeAndRoleRules(t *testing.T) {
	t.Run("HVM on 4.1 with the role unknown is no risk", func(t *testing.T) {
		root := copyTree(t, "xen-hvm-4.4")
		os.RemoveAll(filepath.Join(root, "proc/xen"))
		write(t, root, "sys/hypervisor/version/minor", "1\n")
		f := Collect(Options{Root: root})
		if f.Virt.XenMode != "hvm" || f.Virt.XenRole != Unknown {
			t.Fatalf("virt %+v", f.Virt)
		}
		if got := status(f, "xen-pv-aesni"); got != "" {
			t.Fatalf("incident profile on HVM: %q", got)
		}
	})
	t.Run("feature flags decide PV", func(t *testing.T) {
		root := copyTree(t, "xen-hvm-4.4")
		// The same guest, were it PV: auto-translated physmap clear. DMI
		// alone would have said HVM.
		write(t, root, "sys/hypervisor/properties/features", "00000801\n")
		f := Collect(Options{Root: root})
		if f.Virt.XenMode != "pv" || !strings.Contains(f.Virt.Signal, "XENFEAT_auto_translated_physmap clear") {
			t.Fatalf("virt %+v", f.Virt)
		}
		write(t, root, "sys/hypervisor/properties/features", "00000805\n")
		if f := Collect(Options{Root: root}); f.Virt.XenMode != "hvm" {
			t.Fatalf("virt %+v", f.Virt)
		}
	})
	t.Run("a Xen version with a vendor suffix", func(t *testing.T) {
		root := copyTree(t, "xen-pv-3.2-xen-4.1-ipsec")
		write(t, root, "sys/hypervisor/version/extra", "-OVM\n")
		f := Collect(Options{Root: root})
		if f.Virt.XenVersion != "4.1-OVM" || status(f, "xen-pv-aesni") != Match {
			t.Fatalf("version %q, risk %q", f.Virt.XenVersion, status(f, "xen-pv-aesni"))
		}
	})
}

// TestChecksumBypassNeedsTransportAndEncap follows esp_input_done2: only
// an SA in transport mode with UDP or TCP encapsulation skips the
// checksum; tunnel-mode NAT-T beside plain transport mode does not.
func TestChecksumBypassNeedsTransportAndEncap(t *testing.T) {
	sa := func(mode, encap string) string {
		s := "src 10.0.0.1 dst 10.0.0.2\n\tproto esp spi 0x00000100 reqid 1 mode " + mode + "\n\treplay-window 32\n" +
			"\taead rfc4106(gcm(aes)) 0x0102030405060708090a0b0c0d0e0f1011121314 128\n"
		if encap != "" {
			s += "\tencap type " + encap + " sport 4500 dport 4500 addr 0.0.0.0\n"
		}
		return s + "\tsel src 0.0.0.0/0 dst 0.0.0.0/0\n"
	}
	for _, tc := range []struct {
		name, states string
		want         string
	}{
		{"transport with NAT-T", sa("transport", "espinudp"), Match},
		{"transport over TCP", sa("transport", "espintcp"), Match},
		{"transport without encapsulation", sa("transport", ""), ""},
		{"NAT-T tunnel beside plain transport", sa("tunnel", "espinudp") + sa("transport", ""), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, "xen-pv-3.2-xen-4.1-ipsec")
			write(t, root, XfrmStateFile, tc.states)
			f := Collect(Options{Root: root})
			if got := status(f, "ipsec-transport-no-tcp-checksum"); got != tc.want {
				t.Fatalf("%q, want %q (ipsec %+v)", got, tc.want, f.IPsec)
			}
			sev := risk(f, "xen-pv-aesni").Severity
			if (sev == "critical") != (tc.want == Match) {
				t.Fatalf("incident profile severity %s", sev)
			}
		})
	}
}

// TestHostileTree: a FIFO must not hang collection, and symlinks must not
// lead out of the tree to this machine's files.
func TestHostileTree(t *testing.T) {
	root := copyTree(t, "kvm-5.3")
	os.Remove(filepath.Join(root, "proc/cpuinfo"))
	if err := syscall.Mkfifo(filepath.Join(root, "proc/cpuinfo"), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	os.Remove(filepath.Join(root, "proc/sys/kernel/osrelease"))
	os.Symlink("/proc/sys/kernel/osrelease", filepath.Join(root, "proc/sys/kernel/osrelease"))
	os.RemoveAll(filepath.Join(root, "proc/modules"))
	os.Symlink("../../../../../../../../proc/modules", filepath.Join(root, "proc/modules"))

	done := make(chan *Facts, 1)
	go func() { done <- Collect(Options{Root: root, Interface: "../../../etc"}) }()
	var f *Facts
	select {
	case f = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Collect blocked on a FIFO in the tree")
	}
	if !strings.Contains(f.Unknown["cpu.flags"], "not a regular file") {
		t.Errorf("FIFO: %q", f.Unknown["cpu.flags"])
	}
	if f.Kernel.Release != Unknown || !slices.Contains([]string{Unknown}, f.Kernel.Release) {
		t.Errorf("an absolute symlink was followed out of the tree: release %q", f.Kernel.Release)
	}
	if f.Net != nil || f.Unknown["net.interface"] == "" {
		t.Errorf("an interface name climbing out of /sys/class/net was used: %+v", f.Net)
	}
}

func TestEDACPartialSumIsUnknown(t *testing.T) {
	root := copyTree(t, "baremetal")
	write(t, root, "sys/devices/system/edac/mc/mc1/ce_count", "4\n") // mc1 has no ue_count
	f := Collect(Options{Root: root})
	if c := f.Counters.EDACCorrected; c == nil || *c != 7 {
		t.Errorf("corrected %v, want 3+4", c)
	}
	if f.Counters.EDACUncorrected != nil || f.Unknown["counters.edac_uncorrected"] == "" {
		t.Errorf("uncorrected %v from a partial sum", *f.Counters.EDACUncorrected)
	}
}
