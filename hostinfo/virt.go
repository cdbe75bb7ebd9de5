package hostinfo

import (
	"fmt"
	"strings"
)

// cpuidHypervisors maps the vendor string of CPUID leaf 0x40000000 to a
// hypervisor name, as systemd-detect-virt does.
var cpuidHypervisors = map[string]string{
	"XenVMMXenVMM": "xen",
	"KVMKVMKVM":    "kvm",
	"Linux KVM Hv": "kvm",
	"TCGTCGTCGTCG": "qemu",
	"VMwareVMware": "vmware",
	"Microsoft Hv": "hyperv",
	"VBoxVBoxVBox": "virtualbox",
	"bhyve bhyve ": "bhyve",
	"ACRNACRNACRN": "acrn",
	"QNXQVMBSQG":   "qnx",
	"SRESRESRESRE": "sre",
	"Apple VZ":     "apple",
}

// dmiHypervisors maps a DMI vendor, product or BIOS vendor prefix to a
// hypervisor name (systemd's dmi_vendor_table, in spirit).
var dmiHypervisors = []struct{ prefix, name string }{
	{"KVM", "kvm"},
	{"OpenStack", "kvm"},
	{"Amazon EC2", "amazon"},
	{"QEMU", "qemu"},
	{"VMware", "vmware"},
	{"VMW", "vmware"},
	{"innotek GmbH", "virtualbox"},
	{"VirtualBox", "virtualbox"},
	{"Oracle Corporation", "virtualbox"},
	{"Xen", "xen"},
	{"Bochs", "bochs"},
	{"Parallels", "parallels"},
	{"BHYVE", "bhyve"},
	{"Hyper-V", "hyperv"},
	{"Apple Virtualization", "apple"},
	{"Google Compute Engine", "google"},
}

// clocksources that exist only under one hypervisor.
var hypervisorClocksources = map[string]string{
	"kvm-clock":                   "kvm",
	"xen":                         "xen",
	"hyperv_clocksource_tsc_page": "hyperv",
	"hyperv_clocksource_msr":      "hyperv",
}

// virt infers the hypervisor and, for Xen, the guest mode, role and
// version. Each answer names the signal that decided it, in the order
// virt-what and systemd-detect-virt trust them: the kernel's own Xen
// interfaces first, then CPUID (live only), DMI, clocksources and the
// cpuinfo hypervisor flag.
func (c *collector) virt() {
	v := &c.f.Virt
	v.Hypervisor, v.DMIVendor, v.DMIProduct = Unknown, Unknown, Unknown
	v.Container = c.container()

	dmi := map[string]string{}
	for _, k := range []string{"sys_vendor", "product_name", "bios_vendor"} {
		if b, err := c.readErr("sys/class/dmi/id/" + k); err == nil {
			dmi[k] = strings.TrimSpace(string(b))
		}
	}
	hasDMI := len(dmi) > 0
	if hasDMI {
		v.DMIVendor, v.DMIProduct = dmi["sys_vendor"], dmi["product_name"]
	} else {
		c.unknown("virt.dmi", "/sys/class/dmi/id: not present (no DMI tables: Xen PV guests and containers have none)")
	}

	hypType, _ := c.readErr("sys/hypervisor/type")
	isXen := strings.TrimSpace(string(hypType)) == "xen" || c.exists("proc/xen")
	if isXen {
		c.xen(hasDMI, dmi)
		return
	}

	cpuidHyp := ""
	if c.f.CPU.CPUID != nil {
		cpuidHyp = c.f.CPU.CPUID.Hypervisor
	}
	if name, ok := cpuidHypervisors[cpuidHyp]; ok {
		v.Hypervisor, v.Signal = name, fmt.Sprintf("CPUID leaf 0x40000000 vendor %q", cpuidHyp)
		return
	}
	if cs, err := c.readErr("sys/devices/system/clocksource/clocksource0/available_clocksource"); err == nil {
		for _, f := range strings.Fields(string(cs)) {
			if name, ok := hypervisorClocksources[f]; ok {
				v.Hypervisor, v.Signal = name, "clocksource "+f+" (exists only under "+name+")"
				return
			}
		}
	}
	for _, k := range []string{"sys_vendor", "product_name", "bios_vendor"} {
		for _, d := range dmiHypervisors {
			if strings.HasPrefix(dmi[k], d.prefix) {
				v.Hypervisor, v.Signal = d.name, fmt.Sprintf("DMI %s %q", k, dmi[k])
				return
			}
		}
	}
	if dmi["sys_vendor"] == "Microsoft Corporation" && dmi["product_name"] == "Virtual Machine" {
		v.Hypervisor, v.Signal = "hyperv", "DMI Microsoft Corporation Virtual Machine"
		return
	}
	switch hv := c.f.CPU.Flags.Hypervisor; {
	case hv == nil:
		c.unknown("virt.hypervisor", "no Xen interfaces, no DMI naming a hypervisor, and /proc/cpuinfo unreadable")
	case *hv:
		c.unknown("virt.hypervisor", "/proc/cpuinfo has the hypervisor flag, but nothing names the hypervisor")
	case c.live && cpuidHyp != "":
		c.unknown("virt.hypervisor", fmt.Sprintf("unrecognised CPUID hypervisor vendor %q", cpuidHyp))
	default:
		v.Hypervisor, v.Signal = "none", "no hypervisor flag in /proc/cpuinfo and no Xen, DMI or clocksource sign of one"
	}
}

// xen fills the Xen details. A Xen PV guest is the case that matters most
// and shows least: old kernels (the incident's 3.x) have no
// /sys/hypervisor/guest_type, PV guests have no DMI tables (no BIOS
// boots them), and their CPUID may describe bare hardware.
func (c *collector) xen(hasDMI bool, dmi map[string]string) {
	v := &c.f.Virt
	v.Hypervisor = "xen"
	v.Signal = "/sys/hypervisor/type is xen"
	if !c.exists("sys/hypervisor/type") {
		v.Signal = "/proc/xen exists"
	}

	caps, capErr := c.readErr("proc/xen/capabilities")
	switch {
	case capErr == nil && strings.Contains(string(caps), "control_d"):
		v.XenRole = "dom0"
	case capErr == nil:
		v.XenRole = "domU"
	default:
		v.XenRole = Unknown
		c.unknown("virt.xen_role", reason("proc/xen/capabilities", capErr)+" (xenfs not mounted?)")
	}

	maj, e1 := c.readErr("sys/hypervisor/version/major")
	min, e2 := c.readErr("sys/hypervisor/version/minor")
	if e1 == nil && e2 == nil {
		extra, _ := c.readErr("sys/hypervisor/version/extra")
		v.XenVersion = strings.TrimSpace(string(maj)) + "." + strings.TrimSpace(string(min)) + strings.TrimSpace(string(extra))
	} else {
		v.XenVersion = Unknown
		err := e1
		if err == nil {
			err = e2
		}
		c.unknown("virt.xen_version", reason("sys/hypervisor/version", err))
	}

	cpuidHyp := ""
	if c.f.CPU.CPUID != nil {
		cpuidHyp = c.f.CPU.CPUID.Hypervisor
	}
	gt, gtErr := c.readErr("sys/hypervisor/guest_type")
	switch {
	case gtErr == nil && strings.TrimSpace(string(gt)) != "":
		v.XenMode = strings.ToLower(strings.TrimSpace(string(gt)))
		v.Signal += "; mode from /sys/hypervisor/guest_type"
	case v.XenRole == "dom0":
		v.XenMode = "pv"
		v.Signal += "; dom0 (control_d) on a kernel without guest_type: a classic PV dom0"
	case hasDMI && (strings.HasPrefix(dmi["sys_vendor"], "Xen") || strings.Contains(dmi["product_name"], "HVM")):
		v.XenMode = "hvm"
		v.Signal += fmt.Sprintf("; DMI %q %q: HVM guests boot from Xen's emulated BIOS", dmi["sys_vendor"], dmi["product_name"])
	case cpuidHyp == "XenVMMXenVMM":
		v.XenMode = "hvm"
		v.Signal += "; CPUID leaf 0x40000000 is XenVMMXenVMM: CPUID is trapped, as in HVM"
	case !hasDMI && v.XenRole == "domU":
		v.XenMode = "pv"
		v.Signal += "; no guest_type and no DMI tables: a PV guest (no BIOS, so no DMI), as virt-what and systemd-detect-virt reason"
	default:
		v.XenMode = Unknown
		c.unknown("virt.xen_mode", "no /sys/hypervisor/guest_type, and DMI and CPUID do not settle PV against HVM")
	}
}

// container names the container runtime a tree shows signs of.
func (c *collector) container() string {
	switch {
	case c.exists(".dockerenv"):
		return "docker"
	case c.exists("run/.containerenv"):
		return "podman"
	}
	if b, err := c.readErr("run/systemd/container"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "none"
}
