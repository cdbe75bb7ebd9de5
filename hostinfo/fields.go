package hostinfo

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Field is one fact as text: a row of a table, and the unit by which
// facts are compared across hosts and runs.
type Field struct {
	Path  string
	Value string
}

// Fields flattens the facts into rows, in a fixed order.
func (f *Facts) Fields() []Field {
	var out []Field
	add := func(path, value string) { out = append(out, Field{path, value}) }
	k := f.Kernel
	add("hostname", f.Hostname)
	add("kernel.release", k.Release)
	add("kernel.version", k.Version)
	if k.Upstream != "" {
		add("kernel.upstream_version", k.Upstream)
	}
	add("kernel.arch", k.Arch)
	add("kernel.distro", k.Distro)
	taint := Unknown
	if k.Tainted != nil {
		taint = strconv.FormatUint(*k.Tainted, 10)
		if k.TaintFlags != "" {
			taint += " (" + k.TaintFlags + ")"
		}
	}
	add("kernel.tainted", taint)

	c := f.CPU
	add("cpu.vendor", c.Vendor)
	add("cpu.model_name", c.ModelName)
	add("cpu.family_model_stepping", intText(c.Family)+"/"+intText(c.Model)+"/"+intText(c.Stepping))
	add("cpu.microcode", c.Microcode)
	add("cpu.flags", flagsText(c.Flags))
	if c.CPUID != nil {
		s := fmt.Sprintf("%s %d/%d/%d: %s", c.CPUID.Vendor, c.CPUID.Family, c.CPUID.Model, c.CPUID.Stepping, flagsText(c.CPUID.Flags))
		if c.CPUID.Hypervisor != "" {
			s += "; hypervisor " + c.CPUID.Hypervisor
		}
		add("cpu.cpuid", s)
	} else {
		add("cpu.cpuid", Unknown)
	}

	v := f.Virt
	add("virt.hypervisor", v.Hypervisor)
	add("virt.xen_mode", dash(v.XenMode))
	add("virt.xen_role", dash(v.XenRole))
	add("virt.xen_version", dash(v.XenVersion))
	add("virt.signal", dash(v.Signal))
	add("virt.dmi", v.DMIVendor+" / "+v.DMIProduct)
	add("virt.container", v.Container)

	a := f.AES
	add("aes.cpu_flag", boolText(a.CPUFlag))
	add("aes.kernel_module", a.KernelModule)
	for _, name := range AESAlgorithms {
		if im, ok := a.Implementations[name]; ok {
			add("aes.impl."+name, fmt.Sprintf("%s (%s, priority %d)", im.Driver, im.Module, im.Priority))
		}
	}

	p := f.IPsec
	if p.Modules == nil {
		add("ipsec.modules", Unknown)
	} else {
		add("ipsec.modules", dash(strings.Join(p.Modules, " ")))
	}
	if p.States == nil {
		add("ipsec.states", Unknown)
	} else {
		add("ipsec.states", statesText(f))
	}
	add("ipsec.transport_mode", boolText(p.TransportMode))
	add("ipsec.nat_t", boolText(p.NATT))
	add("ipsec.encap_transport", boolText(p.EncapTransport))
	if p.XfrmStat == nil {
		add("ipsec.xfrm_stat", Unknown)
	} else {
		var s []string
		for _, k := range slices.Sorted(maps.Keys(p.XfrmStat)) {
			s = append(s, fmt.Sprintf("%s=%d", k, p.XfrmStat[k]))
		}
		add("ipsec.xfrm_stat", dash(strings.Join(s, " ")))
	}

	if n := f.Net; n != nil {
		add("net.interface", n.Interface)
		add("net.driver", n.Driver)
		add("net.mtu", intText(n.MTU))
		add("net.offloads", fmt.Sprintf("rx-csum %s, tx-csum %s, gro %s, gso %s, tso %s",
			boolText(n.RxChecksum), boolText(n.TxChecksum), boolText(n.GRO), boolText(n.GSO), boolText(n.TSO)))
		add("net.congestion_control", n.Congestion)
	}

	cnt := func(path string, get func(Counters) *int64) {
		s := int64Text(get(f.Counters))
		if f.Delta != nil {
			if d := get(*f.Delta); d != nil {
				s += fmt.Sprintf(" (+%d during run)", *d)
			}
		}
		add(path, s)
	}
	cnt("counters.tcp_in_csum_errors", func(c Counters) *int64 { return c.TCPInCsumErrors })
	cnt("counters.udp_in_csum_errors", func(c Counters) *int64 { return c.UDPInCsumErrors })
	if f.Net != nil {
		cnt("counters.rx_crc_errors", func(c Counters) *int64 { return c.RxCRCErrors })
		cnt("counters.rx_errors", func(c Counters) *int64 { return c.RxErrors })
	}
	cnt("counters.edac_corrected", func(c Counters) *int64 { return c.EDACCorrected })
	cnt("counters.edac_uncorrected", func(c Counters) *int64 { return c.EDACUncorrected })
	return out
}

func statesText(f *Facts) string {
	st := f.IPsec.States
	if len(st) == 0 {
		return "none"
	}
	seen := map[string]int{}
	var order []string
	for _, s := range st {
		d := s.Mode + " " + s.Proto
		if len(s.Algs) > 0 {
			d += " " + strings.Join(s.Algs, "+")
		}
		if s.Encap != "" {
			d += " " + s.Encap
		}
		if seen[d] == 0 {
			order = append(order, d)
		}
		seen[d]++
	}
	parts := make([]string, len(order))
	for i, d := range order {
		parts[i] = fmt.Sprintf("%d× %s", seen[d], d)
	}
	return fmt.Sprintf("%d SAs (%s): %s", len(st), f.IPsec.StatesSource, strings.Join(parts, "; "))
}

func flagsText(fl CPUFlags) string {
	var on []string
	for _, n := range fl.named() {
		if *n.v == nil {
			return Unknown
		}
		if **n.v {
			on = append(on, n.name)
		}
	}
	return dash(strings.Join(on, " "))
}

func boolText(b *bool) string {
	switch {
	case b == nil:
		return Unknown
	case *b:
		return "yes"
	default:
		return "no"
	}
}

func intText(n *int) string {
	if n == nil {
		return "?"
	}
	return strconv.Itoa(*n)
}

func int64Text(n *int64) string {
	if n == nil {
		return Unknown
	}
	return strconv.FormatInt(*n, 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
