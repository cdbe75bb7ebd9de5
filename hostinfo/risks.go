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
		Source:   "docs/incident.md (PagerDuty, \"The Discovery of Apache ZooKeeper's Poison Packet\")",
		Severity: "high",
		All: []cond{
			kernelAtLeast(3, 0, 0),
			xenFact("virt.xen_mode", func(v Virt) string { return v.XenMode }, "pv"),
			xenFact("virt.xen_role", func(v Virt) string { return v.XenRole }, "domU"),
			{"virt.xen_version", func(f *Facts) (tri, string) {
				v := f.Virt.XenVersion
				n, ok := kernelVersion(v)
				if !ok {
					return unknownTri, v
				}
				return triOf(n[0] == 3 && n[1] == 4 || n[0] == 4 && n[1] == 1), v
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
		Raise:  []cond{ipsecEncapTransport()},
		Raised: "critical",
	},
	{
		ID:    "ipsec-transport-no-tcp-checksum",
		Title: "IPsec transport mode with NAT-T: TCP checksums go unchecked on receive",
		Description: "For an SA in transport mode with UDP (NAT-T) or TCP encapsulation, Linux marks decrypted " +
			"TCP/UDP payloads CHECKSUM_UNNECESSARY (RFC 3948 allows it; esp_input_done2), so corruption that " +
			"happens inside a host before encryption reaches applications instead of being dropped. It causes " +
			"no corruption by itself, but removes the last end-to-end check: application-level checksums matter here.",
		Source:   "docs/incident.md (Bug #3); RFC 3948 section 3.1.2; net/ipv4/esp4.c esp_input_done2",
		Severity: "info",
		All:      []cond{ipsecEncapTransport()},
	},
	{
		ID:    "linux-avx-signal-corruption",
		Title: "Linux 5.2-5.4.1 can corrupt AVX registers on signal delivery",
		Description: "Upstream Linux 5.2 to 5.4.1 (fixed in 5.4.2 and 5.3.15) could corrupt AVX (YMM) register " +
			"state when a signal was delivered while the FPU state was not loaded; Go programs saw memory " +
			"and data corruption. Distribution kernels may carry the fix: check the changelog.",
		Source:   "Go issue 35777; kernel bugzilla 205663",
		Severity: "medium",
		All: []cond{
			{"kernel.upstream_version", func(f *Facts) (tri, string) {
				v, ok := upstreamVersion(f.Kernel)
				switch series := [2]int{v[0], v[1]}; {
				case ok:
				case series == [2]int{0, 0}:
					return unknownTri, f.Kernel.Release
				case series == [2]int{5, 2}:
					return yes, f.Kernel.Release + " (every 5.2 release)"
				case series == [2]int{5, 3} || series == [2]int{5, 4}:
					return unknownTri, f.Kernel.Release + " (a distribution kernel: upstream patch level unknown)"
				default:
					return no, f.Kernel.Release
				}
				in := !versionLess(v, [3]int{5, 2, 0}) && versionLess(v, [3]int{5, 4, 2}) &&
					!(v[0] == 5 && v[1] == 3 && v[2] >= 15)
				return triOf(in), fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
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
		Source:   "kernel documentation, admin-guide/ras (EDAC)",
		Severity: "high",
		All: []cond{
			{"counters.edac_uncorrected", func(f *Facts) (tri, string) {
				u := f.Counters.EDACUncorrected
				if u == nil {
					// Without EDAC (every VM, and hosts without its
					// driver) there is no count to read: that is not a
					// sign of memory errors, and Facts.Unknown already
					// says the count is unknown and why.
					return no, Unknown
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

// xenFact holds when the host is Xen and get(virt) is want; it is unknown
// while the hypervisor, or the Xen detail, is.
func xenFact(fact string, get func(Virt) string, want string) cond {
	return cond{fact, func(f *Facts) (tri, string) {
		v := f.Virt
		switch got := get(v); {
		case v.Hypervisor == Unknown:
			return unknownTri, "hypervisor unknown"
		case v.Hypervisor != "xen":
			return no, v.Hypervisor
		case got == Unknown || got == "":
			return unknownTri, "xen, " + fact + " unknown"
		default:
			return triOf(got == want), got
		}
	}}
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

// ipsecEncapTransport holds when an SA is in transport mode with UDP or
// TCP encapsulation: only then does Linux skip checksum validation of
// what it decrypts (esp4/esp6 esp_input_done2). Transport mode alone, or
// NAT-T in tunnel mode, keeps the checksum check.
func ipsecEncapTransport() cond {
	return cond{"ipsec.states", func(f *Facts) (tri, string) {
		p := f.IPsec
		if p.EncapTransport == nil {
			hint := "SAs unknown"
			if len(p.Modules) > 0 {
				hint += "; modules " + strings.Join(p.Modules, ",")
			}
			return unknownTri, hint
		}
		if !*p.EncapTransport {
			return no, "no transport-mode SA with UDP/TCP encapsulation"
		}
		return yes, "transport mode with ESP-in-UDP/TCP encapsulation"
	}}
}

// upstreamVersion is the upstream kernel a release is built from. Debian
// and Ubuntu pin releases at X.Y.0 whatever stable patches they carry;
// Ubuntu's /proc/version_signature names the real one, and without it
// such a release says nothing about patch level.
func upstreamVersion(k Kernel) ([3]int, bool) {
	if k.Upstream != "" {
		return kernelVersion(k.Upstream)
	}
	v, ok := kernelVersion(k.Release)
	if !ok || v[2] == 0 && strings.Contains(k.Release, "-") {
		return v, false
	}
	return v, true
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
		known := strings.Join(risk.Matched, ", ")
		var raise string
		for _, c := range r.Raise {
			switch t, val := c.test(f); t {
			case yes:
				risk.Severity = r.Raised
				risk.Matched = append(risk.Matched, c.fact+"="+val)
				raise += "; raised: " + c.fact + "=" + val
			case unknownTri:
				raise += "; " + c.fact + " unknown (would raise severity to " + r.Raised + ")"
			}
		}
		if len(risk.Unknown) == 0 {
			risk.Status = Match
			risk.Reason = known + raise
			out = append(out, risk)
			continue
		}
		risk.Status = Possible
		risk.Reason = "unknown: " + strings.Join(risk.Unknown, ", ")
		if known != "" {
			risk.Reason += "; known: " + known
		}
		risk.Reason += raise
		possible = append(possible, risk)
	}
	return append(out, possible...)
}
