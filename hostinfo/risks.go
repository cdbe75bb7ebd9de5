package hostinfo

import (
	"fmt"
	"strings"
)

// Risk statuses.
const (
	// Match: every deciding fact is known and fits the profile.
	Match = "match"
	// Possible: no deciding fact contradicts the profile, but some are
	// unknown; Unknown names them.
	Possible = "possible"
)

// Risk is a known-risk profile that the host matches, or may match.
type Risk struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Severity    string `json:"severity"`
	Title       string `json:"title"`
	Reason      string `json:"reason"`
	Source      string `json:"source"`
	Description string `json:"description"`
	// Matched lists the facts that fit, as path=value.
	Matched []string `json:"matched"`
	// Unknown lists the deciding facts that could not be read.
	Unknown []string `json:"unknown,omitempty"`
}

// tri is a condition's outcome.
type tri int

const (
	no tri = iota
	yes
	unknownTri
)

// cond is one deciding fact of a rule.
type cond struct {
	fact string // fact path, as in Facts.Unknown
	// test returns the outcome and the fact's value as text.
	test func(*Facts) (tri, string)
}

// Rule is one known-risk profile. Adding a profile is one entry in Rules
// plus a fixture that matches it.
type Rule struct {
	ID          string
	Title       string
	Description string
	Source      string
	Severity    string
	// All must hold for the rule to apply.
	All []cond
	// Raise, when any holds, raises the severity to Raised.
	Raise  []cond
	Raised string
}

// Rules is the table of known-risk profiles.
var Rules = []Rule{
	{
		ID:    "xen-pv-aesni",
		Title: "aesni-intel on a Xen 3.4/4.1 PV guest corrupts data it encrypts",
		Description: "Linux >= 3.0 paravirtual guests on Xen 3.4 or 4.1 with aesni_intel in use saw sporadic " +
			"corruption of 16-byte blocks during AES (IPsec) encryption; HVM guests, Xen 4.4 and Linux 2.6 were " +
			"unaffected. Unloading (blacklisting) aesni_intel or moving to HVM or Xen >= 4.4 avoids it.",
		Source:   "shared/reference/poison-packet.md (PagerDuty, \"The Discovery of Apache ZooKeeper's Poison Packet\")",
		Severity: "high",
		All: []cond{
			kernelAtLeast(3, 0, 0),
			{"virt.xen_mode", func(f *Facts) (tri, string) {
				v := f.Virt
				switch {
				case v.Hypervisor == Unknown:
					return unknownTri, "hypervisor unknown"
				case v.Hypervisor != "xen":
					return no, v.Hypervisor
				case v.XenMode == Unknown || v.XenRole == Unknown:
					return unknownTri, "xen " + v.XenMode + " " + v.XenRole
				case v.XenMode == "pv" && v.XenRole == "domU":
					return yes, "pv domU"
				}
				return no, v.XenMode + " " + v.XenRole
			}},
			{"virt.xen_version", func(f *Facts) (tri, string) {
				v := f.Virt.XenVersion
				switch {
				case v == Unknown || v == "":
					return unknownTri, v
				case strings.HasPrefix(v, "3.4."), strings.HasPrefix(v, "4.1."), v == "3.4", v == "4.1":
					return yes, v
				}
				return no, v
			}},
			{"aes.kernel_module", func(f *Facts) (tri, string) {
				switch m := f.AES.KernelModule; m {
				case "loaded", "builtin":
					return yes, m
				case Unknown:
					return unknownTri, m
				default:
					return no, m
				}
			}},
		},
		Raise:  []cond{ipsecTransportOrNATT()},
		Raised: "critical",
	},
	{
		ID:    "ipsec-transport-no-tcp-checksum",
		Title: "IPsec transport mode or ESP-in-UDP: TCP checksums go unchecked on receive",
		Description: "In IPsec transport mode (and NAT-T, ESP in UDP) Linux marks decrypted TCP/UDP payloads " +
			"CHECKSUM_UNNECESSARY (RFC 3948 allows it), so corruption that happens inside a host before " +
			"encryption reaches applications instead of being dropped. It causes no corruption by itself, " +
			"but removes the last end-to-end check: application-level checksums matter here.",
		Source:   "shared/reference/poison-packet.md (Bug #3; RFC 3948 section 3.1.2)",
		Severity: "info",
		All:      []cond{ipsecTransportOrNATT()},
	},
	{
		ID:    "linux-avx-signal-corruption",
		Title: "Linux 5.2-5.4.1 can corrupt AVX registers on signal delivery",
		Description: "Upstream Linux 5.2 to 5.4.1 (fixed in 5.4.2 and 5.3.15) could corrupt AVX (YMM) register " +
			"state when a signal was delivered while the FPU state was not loaded; Go programs saw memory " +
			"and data corruption. Distribution kernels may carry the fix: check the changelog.",
		Source:   "https://github.com/golang/go/issues/35777; https://bugzilla.kernel.org/show_bug.cgi?id=205663",
		Severity: "medium",
		All: []cond{
			{"kernel.release", func(f *Facts) (tri, string) {
				v, ok := kernelVersion(f.Kernel.Release)
				if !ok {
					return unknownTri, f.Kernel.Release
				}
				in := !versionLess(v, [3]int{5, 2, 0}) && versionLess(v, [3]int{5, 4, 2}) &&
					!(v[0] == 5 && v[1] == 3 && v[2] >= 15)
				return triOf(in), f.Kernel.Release
			}},
			{"cpu.flags.avx", func(f *Facts) (tri, string) {
				return boolTri(f.CPU.Flags.AVX)
			}},
		},
	},
	{
		ID:    "edac-uncorrected-memory-errors",
		Title: "Uncorrected memory errors recorded by EDAC",
		Description: "The memory controller reported uncorrectable errors: data in RAM, network buffers " +
			"included, may have been corrupted. Corrected errors alone are a warning sign of a failing DIMM.",
		Source:   "https://docs.kernel.org/admin-guide/ras.html (EDAC)",
		Severity: "high",
		All: []cond{
			{"counters.edac_uncorrected", func(f *Facts) (tri, string) {
				u := f.Counters.EDACUncorrected
				if u == nil {
					// Absent EDAC is the common case (VMs): not a reason
					// to call this possible.
					return no, "none"
				}
				return triOf(*u > 0), fmt.Sprint(*u)
			}},
		},
	},
}

func triOf(b bool) tri {
	if b {
		return yes
	}
	return no
}

func boolTri(b *bool) (tri, string) {
	if b == nil {
		return unknownTri, Unknown
	}
	return triOf(*b), fmt.Sprint(*b)
}

func kernelAtLeast(a, b, c int) cond {
	return cond{"kernel.release", func(f *Facts) (tri, string) {
		v, ok := kernelVersion(f.Kernel.Release)
		if !ok {
			return unknownTri, f.Kernel.Release
		}
		return triOf(!versionLess(v, [3]int{a, b, c})), f.Kernel.Release
	}}
}

func ipsecTransportOrNATT() cond {
	return cond{"ipsec.states", func(f *Facts) (tri, string) {
		p := f.IPsec
		if p.TransportMode == nil {
			// Without the SAs, loaded transport-mode modules are a hint,
			// not proof: possible.
			for _, m := range p.Modules {
				if strings.Contains(m, "mode_transport") || strings.HasPrefix(m, "esp") {
					return unknownTri, "states unknown; modules " + strings.Join(p.Modules, ",")
				}
			}
			if p.Modules == nil {
				return unknownTri, "states and modules unknown"
			}
			return no, "no IPsec modules loaded"
		}
		var what []string
		if *p.TransportMode {
			what = append(what, "transport mode")
		}
		if *p.NATT {
			what = append(what, "ESP in UDP (NAT-T)")
		}
		if len(what) == 0 {
			return no, "no transport-mode or UDP-encapsulated SA"
		}
		return yes, strings.Join(what, ", ")
	}}
}

// Evaluate matches facts against Rules. A rule whose deciding facts all
// hold is a match; one with no contradicting fact but some unknown is
// possible; matches come first.
func Evaluate(f *Facts) []Risk {
	out := []Risk{}
	var possible []Risk
	for _, r := range Rules {
		risk := Risk{ID: r.ID, Title: r.Title, Source: r.Source, Severity: r.Severity, Description: r.Description, Matched: []string{}}
		ok := true
		for _, c := range r.All {
			t, val := c.test(f)
			switch t {
			case no:
				ok = false
			case yes:
				risk.Matched = append(risk.Matched, c.fact+"="+val)
			case unknownTri:
				risk.Unknown = append(risk.Unknown, c.fact)
			}
			if !ok {
				break
			}
		}
		if !ok {
			continue
		}
		reason := strings.Join(risk.Matched, ", ")
		for _, c := range r.Raise {
			if t, val := c.test(f); t == yes {
				risk.Severity = r.Raised
				risk.Matched = append(risk.Matched, c.fact+"="+val)
				reason += "; raised: " + c.fact + "=" + val
			}
		}
		if len(risk.Unknown) == 0 {
			risk.Status = Match
			risk.Reason = reason
			out = append(out, risk)
		} else {
			risk.Status = Possible
			risk.Reason = "unknown: " + strings.Join(risk.Unknown, ", ")
			if reason != "" {
				risk.Reason += "; known: " + reason
			}
			possible = append(possible, risk)
		}
	}
	return append(out, possible...)
}
