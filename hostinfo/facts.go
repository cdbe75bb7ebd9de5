// Package hostinfo collects the host facts that explain in-host data
// corruption: kernel, CPU (as the kernel and as CPUID see it),
// virtualization and Xen mode, the kernel's AES implementation, IPsec
// state, the network path of a run, and the counters that corroborate it;
// and it matches them against a table of known-risk profiles.
//
// Every file is read through a root directory, as prometheus/procfs does:
// "/" for the running host, or a copied tree (an sosreport, a test
// fixture) whose facts then come from the tree alone, never from this
// machine's uname, CPUID or sockets. A fact that cannot be read is
// "unknown" (or null), never guessed, and Facts.Unknown says why.
package hostinfo

import (
	"time"

	"github.com/zerocheck/zerocheck/internal/xfrm"
)

// Unknown is the value of a string fact that could not be read.
const Unknown = "unknown"

// Facts is what zerocheck knows about one host.
type Facts struct {
	Hostname string    `json:"hostname"`
	Root     string    `json:"root"`
	Time     time.Time `json:"collected_at"`

	Kernel   Kernel    `json:"kernel"`
	CPU      CPU       `json:"cpu"`
	Virt     Virt      `json:"virt"`
	AES      AES       `json:"aes"`
	IPsec    IPsec     `json:"ipsec"`
	Net      *NetPath  `json:"net,omitempty"`
	Counters Counters  `json:"counters"`
	Delta    *Counters `json:"counters_delta,omitempty"`

	Risks []Risk `json:"risks"`
	// Unknown maps a fact's path (kernel.tainted, ipsec.states, ...) to
	// why it could not be read.
	Unknown map[string]string `json:"unknown"`
}

// Kernel is the running kernel.
type Kernel struct {
	Release string `json:"release"`
	// Upstream is the upstream version a distribution kernel carries, from
	// Ubuntu's /proc/version_signature ("" when the kernel has none):
	// Debian and Ubuntu releases read X.Y.0 whatever their patch level.
	Upstream string `json:"upstream_version,omitempty"`
	Version  string `json:"version"`
	Arch     string `json:"arch"`
	Distro   string `json:"distro"`
	// Tainted is /proc/sys/kernel/tainted; TaintFlags its letters as
	// oops messages print them (P, O, E, ...).
	Tainted    *uint64 `json:"tainted"`
	TaintFlags string  `json:"taint_flags"`
}

// CPUFlags are the CPU features that matter for corruption hunting.
type CPUFlags struct {
	AES        *bool `json:"aes"`
	VAES       *bool `json:"vaes"`
	PCLMULQDQ  *bool `json:"pclmulqdq"`
	AVX        *bool `json:"avx"`
	AVX2       *bool `json:"avx2"`
	AVX512F    *bool `json:"avx512f"`
	Hypervisor *bool `json:"hypervisor"`
}

// namedFlag is one of CPUFlags with its /proc/cpuinfo name.
type namedFlag struct {
	name string
	v    **bool
}

// named lists the flags by their /proc/cpuinfo names: the one place that
// pairs names and fields, for filling them and for printing them.
func (fl *CPUFlags) named() []namedFlag {
	return []namedFlag{
		{"aes", &fl.AES}, {"vaes", &fl.VAES}, {"pclmulqdq", &fl.PCLMULQDQ}, {"avx", &fl.AVX},
		{"avx2", &fl.AVX2}, {"avx512f", &fl.AVX512F}, {"hypervisor", &fl.Hypervisor},
	}
}

// CPU is the processor as the kernel reports it in /proc/cpuinfo, and as
// the CPUID instruction reports it to this process (live hosts only).
type CPU struct {
	Vendor    string   `json:"vendor"`
	ModelName string   `json:"model_name"`
	Family    *int     `json:"family"`
	Model     *int     `json:"model"`
	Stepping  *int     `json:"stepping"`
	Microcode string   `json:"microcode"`
	Flags     CPUFlags `json:"flags"`
	// CPUID is what the instruction says. A Xen PV guest runs CPUID
	// untrapped on older hardware, so it may describe bare hardware while
	// the kernel knows better; it never overrules the kernel's view.
	CPUID *CPUID `json:"cpuid"`
}

// CPUID is the processor as the CPUID instruction describes it.
type CPUID struct {
	Vendor     string   `json:"vendor"`
	Brand      string   `json:"brand"`
	Family     int      `json:"family"`
	Model      int      `json:"model"`
	Stepping   int      `json:"stepping"`
	Flags      CPUFlags `json:"flags"`
	Hypervisor string   `json:"hypervisor_vendor"` // leaf 0x40000000, "" when none
}

// Virt is the virtualization the host runs under.
type Virt struct {
	// Hypervisor is xen, kvm, vmware, hyperv, virtualbox, ..., "none" on
	// bare metal, or "unknown".
	Hypervisor string `json:"hypervisor"`
	// XenMode is pv, hvm or pvh for Xen, "" otherwise, "unknown" when
	// Xen is certain but the mode is not.
	XenMode string `json:"xen_mode"`
	// XenRole is dom0 or domU for Xen, "" otherwise, "unknown" when Xen
	// is certain but the role is not.
	XenRole    string `json:"xen_role"`
	XenVersion string `json:"xen_version"`
	// Signal says which evidence decided the hypervisor and mode.
	Signal     string `json:"signal"`
	DMIVendor  string `json:"dmi_vendor"`
	DMIProduct string `json:"dmi_product"`
	// Container names a container runtime when the tree looks like one.
	Container string `json:"container"`
}

// Impl is the kernel crypto API's choice for one algorithm name: the
// highest-priority, non-internal entry of that name in /proc/crypto.
type Impl struct {
	Driver   string `json:"driver"`
	Module   string `json:"module"`
	Priority int    `json:"priority"`
}

// AES is the host's AES: the CPU's instructions and the kernel's use.
type AES struct {
	// CPUFlag is the aes flag as the kernel reports it (CPUID only when
	// the kernel's view cannot be read).
	CPUFlag *bool `json:"cpu_flag"`
	// KernelModule is the state of aesni_intel: loaded, builtin, absent
	// or unknown.
	KernelModule string `json:"kernel_module"`
	// Implementations maps each of AESAlgorithms to what the kernel
	// would pick.
	Implementations map[string]Impl `json:"implementations"`
}

// AESAlgorithms are the algorithms whose implementation the facts name:
// the cipher, the modes IPsec uses, and ESP's AEAD.
var AESAlgorithms = [...]string{"aes", "cbc(aes)", "gcm(aes)", "rfc4106(gcm(aes))"}

// IPsec is what the host shows of IPsec.
type IPsec struct {
	// Modules lists loaded modules that hint at IPsec use (esp4, esp6,
	// xfrm4_mode_transport, ...).
	Modules []string `json:"modules"`
	// XfrmStat holds the non-zero counters of /proc/net/xfrm_stat.
	XfrmStat map[string]int64 `json:"xfrm_stat"`
	// States are the security associations; null when they could not be
	// read (StatesSource says from where they were).
	States       []xfrm.SA `json:"states"`
	StatesSource string    `json:"states_source"`
	// TransportMode and NATT summarise States: some SA is in transport
	// mode; some SA is encapsulated in UDP (NAT-T) or TCP. EncapTransport
	// is one SA that is both: the case in which Linux marks what it
	// decrypts CHECKSUM_UNNECESSARY (esp_input_done2, RFC 3948), so
	// in-host corruption passes TCP unseen. null when States is unknown.
	TransportMode  *bool `json:"transport_mode"`
	NATT           *bool `json:"nat_t"`
	EncapTransport *bool `json:"encap_transport"`
}

// NetPath is the interface that carries a run.
type NetPath struct {
	Interface  string `json:"interface"`
	Driver     string `json:"driver"`
	MTU        *int   `json:"mtu"`
	RxChecksum *bool  `json:"rx_checksum"`
	TxChecksum *bool  `json:"tx_checksum"`
	GRO        *bool  `json:"gro"`
	GSO        *bool  `json:"gso"`
	TSO        *bool  `json:"tso"`
	// Congestion is the TCP congestion control in use.
	Congestion string `json:"congestion_control"`
}

// Counters corroborate a run when taken before and after it: a checksum
// or CRC error count that rose while zerocheck found corruption says
// where it happened.
type Counters struct {
	TCPInCsumErrors *int64 `json:"tcp_in_csum_errors"`
	UDPInCsumErrors *int64 `json:"udp_in_csum_errors"`
	RxCRCErrors     *int64 `json:"rx_crc_errors"`
	RxErrors        *int64 `json:"rx_errors"`
	EDACCorrected   *int64 `json:"edac_corrected"`
	EDACUncorrected *int64 `json:"edac_uncorrected"`
}

// Sub returns c - before for each counter known in both; a counter that
// went backwards (a reset) is null.
func (c Counters) Sub(before Counters) Counters {
	d := func(a, b *int64) *int64 {
		if a == nil || b == nil || *a < *b {
			return nil
		}
		v := *a - *b
		return &v
	}
	return Counters{
		TCPInCsumErrors: d(c.TCPInCsumErrors, before.TCPInCsumErrors),
		UDPInCsumErrors: d(c.UDPInCsumErrors, before.UDPInCsumErrors),
		RxCRCErrors:     d(c.RxCRCErrors, before.RxCRCErrors),
		RxErrors:        d(c.RxErrors, before.RxErrors),
		EDACCorrected:   d(c.EDACCorrected, before.EDACCorrected),
		EDACUncorrected: d(c.EDACUncorrected, before.EDACUncorrected),
	}
}
