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
