package hostinfo

import (
	"fmt"
	"strconv"
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

	hypType, _ := c.readStringErr("sys/hypervisor/type")
	switch {
	case hypType == "xen":
		c.xen("/sys/hypervisor/type is xen", hasDMI, dmi)
		return
	case c.exists("proc/xen"):
		c.xen("/proc/xen exists", hasDMI, dmi)
		return
	}

	cpuidHyp := ""
	if c.f.CPU.CPUID != nil {
		cpuidHyp = c.f.CPU.CPUID.Hypervisor
	}
	if name, ok := cpuidHypervisors[cpuidHyp]; ok {
		c.decided(name, fmt.Sprintf("CPUID leaf 0x40000000 vendor %q", cpuidHyp), hasDMI, dmi)
		return
	}
	if cs, err := c.readErr("sys/devices/system/clocksource/clocksource0/available_clocksource"); err == nil {
		for _, f := range strings.Fields(string(cs)) {
			if name, ok := hypervisorClocksources[f]; ok {
				c.decided(name, "clocksource "+f+" (exists only under "+name+")", hasDMI, dmi)
				return
			}
		}
	}
	for _, k := range []string{"sys_vendor", "product_name", "bios_vendor"} {
		for _, d := range dmiHypervisors {
			if strings.HasPrefix(dmi[k], d.prefix) {
				c.decided(d.name, fmt.Sprintf("DMI %s %q", k, dmi[k]), hasDMI, dmi)
				return
			}
		}
	}
	if dmi["sys_vendor"] == "Microsoft Corporation" && dmi["product_name"] == "Virtual Machine" {
		c.decided("hyperv", "DMI Microsoft Corporation Virtual Machine", hasDMI, dmi)
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

// decided records a hypervisor found by a secondary signal; Xen found so
// (its /sys/hypervisor not mounted or not copied) still gets its details,
// each known or unknown with a reason.
func (c *collector) decided(name, signal string, hasDMI bool, dmi map[string]string) {
	if name == "xen" {
		c.xen(signal, hasDMI, dmi)
		return
	}
	c.f.Virt.Hypervisor, c.f.Virt.Signal = name, signal
}

// Xen feature bits of /sys/hypervisor/properties/features (xen/features.h).
const (
	xenfeatAutoTranslatedPhysmap = 2  // the guest's page tables are translated: HVM or PVH, not PV
	xenfeatDom0                  = 11 // this domain is dom0 (Xen 4.x and later)
)

// xen fills the Xen details. A Xen PV guest is the case that matters most
// and shows least: old kernels (the incident's 3.x) have no
// /sys/hypervisor/guest_type, PV guests have no DMI tables (no BIOS
// boots them), and their CPUID may describe bare hardware (or, with CPUID
// faulting on newer Xen, the hypervisor), so CPUID decides nothing here.
func (c *collector) xen(signal string, hasDMI bool, dmi map[string]string) {
	v := &c.f.Virt
	v.Hypervisor, v.Signal = "xen", signal

	var features *uint64
	if s, err := c.readStringErr("sys/hypervisor/properties/features"); err == nil {
		if f, err := strconv.ParseUint(s, 16, 64); err == nil {
			features = &f
		}
	}
	feature := func(bit uint) bool { return features != nil && *features&(1<<bit) != 0 }

	caps, capErr := c.readErr("proc/xen/capabilities")
	switch {
	case capErr == nil && strings.Contains(string(caps), "control_d"):
		v.XenRole = "dom0"
	case capErr == nil:
		v.XenRole = "domU"
	case feature(xenfeatDom0):
		v.XenRole = "dom0"
		v.Signal += "; XENFEAT_dom0 set"
	default:
		v.XenRole = Unknown
		c.unknown("virt.xen_role", reason("proc/xen/capabilities", capErr)+" (xenfs not mounted?)")
	}

	maj, e1 := c.readStringErr("sys/hypervisor/version/major")
	min, e2 := c.readStringErr("sys/hypervisor/version/minor")
	if e1 == nil && e2 == nil {
		extra, _ := c.readStringErr("sys/hypervisor/version/extra")
		v.XenVersion = maj + "." + min + extra
	} else {
		v.XenVersion = Unknown
		path, err := "sys/hypervisor/version/major", e1
		if err == nil {
			path, err = "sys/hypervisor/version/minor", e2
		}
		c.unknown("virt.xen_version", reason(path, err))
	}

	gt, gtErr := c.readStringErr("sys/hypervisor/guest_type")
	switch {
	case gtErr == nil:
		v.XenMode = strings.ToLower(gt)
		v.Signal += "; mode from /sys/hypervisor/guest_type"
	case features != nil && !feature(xenfeatAutoTranslatedPhysmap):
		v.XenMode = "pv"
		v.Signal += "; XENFEAT_auto_translated_physmap clear: a PV guest manages its own page tables"
	case features != nil && hasDMI:
		v.XenMode = "hvm"
		v.Signal += "; XENFEAT_auto_translated_physmap set and DMI present: HVM"
	case features != nil:
		v.XenMode = "pvh"
		v.Signal += "; XENFEAT_auto_translated_physmap set and no DMI: PVH (no emulated BIOS)"
	case v.XenRole == "dom0":
		v.XenMode = "pv"
		v.Signal += "; dom0 (control_d) on a kernel without guest_type: a classic PV dom0"
	case hasDMI && (strings.HasPrefix(dmi["sys_vendor"], "Xen") || strings.Contains(dmi["product_name"], "HVM")):
		v.XenMode = "hvm"
		v.Signal += fmt.Sprintf("; DMI %q %q: HVM guests boot from Xen's emulated BIOS", dmi["sys_vendor"], dmi["product_name"])
	case !hasDMI && v.XenRole == "domU" && c.exists("sys/class"):
		v.XenMode = "pv"
		v.Signal += "; no guest_type, no feature flags and no DMI tables: a PV guest (no BIOS boots it, so it has no DMI), as virt-what calls Xen without HVM evidence a PV domU"
	default:
		v.XenMode = Unknown
		c.unknown("virt.xen_mode", "no /sys/hypervisor/guest_type or properties/features, and DMI does not settle PV against HVM")
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
