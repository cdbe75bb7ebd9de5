package hostinfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEDACUnknownIsNoRisk: a host without EDAC (every VM) has no count of
// memory errors, which is not a sign of them; only a count above zero is
// the risk.
func TestEDACUnknownIsNoRisk(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name        string
		uncorrected *int64
		want        string // the risk's status, "" for none
	}{
		{"no EDAC (a VM)", nil, ""},
		{"no errors", n(0), ""},
		{"errors", n(3), Match},
	} {
		f := &Facts{Counters: Counters{EDACUncorrected: tc.uncorrected}}
		got := ""
		for _, r := range Evaluate(f) {
			if r.ID == "edac-uncorrected-memory-errors" {
				got = r.Status
			}
		}
		if got != tc.want {
			t.Errorf("%s: edac risk %q, want %q", tc.name, got, tc.want)
		}
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
