package hostinfo

import (
	"github.com/klauspost/cpuid/v2"
)

// liveCPUID is the processor as the CPUID instruction describes it to
// this process.
func liveCPUID() *CPUID {
	c := cpuid.CPU
	b := func(id cpuid.FeatureID) *bool { v := c.Supports(id); return &v }
	return &CPUID{
		Vendor:   c.VendorString,
		Brand:    c.BrandName,
		Family:   c.Family,
		Model:    c.Model,
		Stepping: c.Stepping,
		Flags: CPUFlags{
			AES: b(cpuid.AESNI), VAES: b(cpuid.VAES), PCLMULQDQ: b(cpuid.CLMUL),
			AVX: b(cpuid.AVX), AVX2: b(cpuid.AVX2), AVX512F: b(cpuid.AVX512F), Hypervisor: b(cpuid.HYPERVISOR),
		},
		Hypervisor: c.HypervisorVendorString,
	}
}

// ethtoolInfo is what the ethtool ioctls say of an interface.
type ethtoolInfo struct {
	driver                        string
	rxcsum, txcsum, gro, gso, tso *bool
}
