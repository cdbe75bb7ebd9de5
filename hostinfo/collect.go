package hostinfo

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zerocheck/zerocheck/internal/xfrm"
)

// maxFileSize bounds what is read of any one file: /proc files are small,
// and a copied tree is not trusted to be.
const maxFileSize = 4 << 20

// XfrmStateFile is where, in a copied tree, the text of `ip xfrm state`
// is looked for: a copied tree has no kernel to ask over netlink.
const XfrmStateFile = "zerocheck/ip-xfrm-state.txt"

// Options say where and what to collect.
type Options struct {
	// Root is the directory that stands for "/"; "" means "/". With any
	// other root, live sources (uname, CPUID, netlink, ioctls) are not
	// used: every fact comes from the tree.
	Root string
	// Interface is the network interface that carries the run, if any.
	Interface string
}

func (o Options) root() string {
	if o.Root == "" {
		return "/"
	}
	return o.Root
}

// Live reports whether the options describe the running host.
func (o Options) Live() bool { return filepath.Clean(o.root()) == "/" }

// collector reads files under a root and records why a fact is unknown.
type collector struct {
	opt  Options
	root string
	// dir confines every open to the root: a copied tree's absolute or
	// escaping symlinks must not read this machine's /proc. nil when the
	// root cannot be opened, and then every read fails with that error.
	dir     *os.Root
	rootErr error
	live    bool
	f       *Facts
}

func newCollector(opt Options, f *Facts) *collector {
	c := &collector{opt: opt, root: opt.root(), live: opt.Live(), f: f}
	c.dir, c.rootErr = os.OpenRoot(c.root)
	return c
}

func (c *collector) close() {
	if c.dir != nil {
		c.dir.Close()
	}
}

// Collect gathers the facts of the host at opt.Root and matches them
// against the known-risk rules.
func Collect(opt Options) *Facts {
	c := newCollector(opt, &Facts{Root: opt.root(), Time: time.Now().UTC(), Unknown: map[string]string{}})
	defer c.close()
	if !validInterface(opt.Interface) {
		c.unknown("net.interface", fmt.Sprintf("%q is not an interface name", opt.Interface))
		c.opt.Interface = ""
	}
	c.kernel()
	c.cpu()
	c.virt()
	c.aes()
	c.ipsec()
	if c.opt.Interface != "" {
		c.netPath()
	}
	c.f.Counters = c.counters()
	c.f.Risks = Evaluate(c.f)
	return c.f
}

// ReadCounters reads only the counters, for the before/after snapshots
// of a run.
func ReadCounters(opt Options) Counters {
	c := newCollector(opt, &Facts{Unknown: map[string]string{}})
	defer c.close()
	if !validInterface(opt.Interface) {
		c.opt.Interface = ""
	}
	return c.counters()
}

// validInterface reports whether name can be a Linux interface name: it
// becomes a path under /sys/class/net, so it must not climb out of it.
func validInterface(name string) bool {
	return len(name) < 16 && !strings.ContainsAny(name, "/\x00") && name != "." && name != ".."
}

// errEmpty marks a file the kernel never leaves empty that is: procfs
// copied by a tool that trusts st_size (tar, rsync) reads as nothing.
var errEmpty = errors.New("empty (procfs copied by a tool that trusts file sizes?)")

// read returns a file's contents, or records why fact could not be read
// from it and returns false.
func (c *collector) read(fact, path string) ([]byte, bool) {
	b, err := c.readErr(path)
	if err != nil {
		c.unknown(fact, reason(path, err))
		return nil, false
	}
	return b, true
}

// readErr reads a regular file under the root. O_NONBLOCK and the
// regular-file check keep a FIFO or device planted in a tree from
// blocking collection; procfs and sysfs files are regular.
func (c *collector) readErr(path string) ([]byte, error) {
	if c.dir == nil {
		return nil, c.rootErr
	}
	f, err := c.dir.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return b, nil
}

// readString reads a one-line file; an empty one is unknown.
func (c *collector) readString(fact, path string) (string, bool) {
	s, err := c.readStringErr(path)
	if err != nil {
		c.unknown(fact, reason(path, err))
		return "", false
	}
	return s, true
}

func (c *collector) readStringErr(path string) (string, error) {
	b, err := c.readErr(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", errEmpty
	}
	return s, nil
}

func (c *collector) exists(path string) bool {
	if c.dir == nil {
		return false
	}
	_, err := c.dir.Stat(path)
	return err == nil
}

func (c *collector) unknown(fact, why string) {
	if _, dup := c.f.Unknown[fact]; !dup {
		c.f.Unknown[fact] = why
	}
}

// reason turns a read error into the words an operator needs.
func reason(path string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "/" + path + ": not present"
	case errors.Is(err, fs.ErrPermission):
		return "/" + path + ": permission denied"
	default:
		return "/" + path + ": " + err.Error()
	}
}

const liveOnly = "live-only fact: not read from a copied tree (--root)"

func (c *collector) kernel() {
	k := &c.f.Kernel
	var ok bool
	if k.Release, ok = c.readString("kernel.release", "proc/sys/kernel/osrelease"); !ok {
		k.Release = Unknown
	}
	if k.Version, ok = c.readString("kernel.version", "proc/sys/kernel/version"); !ok {
		k.Version = Unknown
	}
	// "Ubuntu 5.4.0-216.236-generic 5.4.291": the last field is upstream.
	if sig, err := c.readStringErr("proc/version_signature"); err == nil {
		if f := strings.Fields(sig); len(f) > 0 {
			k.Upstream = f[len(f)-1]
		}
	}
	if h, ok := c.readString("hostname", "proc/sys/kernel/hostname"); ok {
		c.f.Hostname = h
	} else {
		c.f.Hostname = Unknown
	}
	k.Arch = Unknown
	if c.live {
		if m := liveArch(); m != "" {
			k.Arch = m
		} else {
			c.unknown("kernel.arch", "uname failed")
		}
	} else if a, err := c.readErr("proc/sys/kernel/arch"); err == nil {
		k.Arch = strings.TrimSpace(string(a))
	} else {
		c.unknown("kernel.arch", reason("proc/sys/kernel/arch", err)+" (older kernels have no such file)")
	}
	k.Distro = Unknown
	if b, err := c.readErr("etc/os-release"); err == nil {
		k.Distro = parseOSRelease(b)
	} else if b, ok := c.read("kernel.distro", "usr/lib/os-release"); ok {
		k.Distro = parseOSRelease(b)
	}
	if s, ok := c.readString("kernel.tainted", "proc/sys/kernel/tainted"); ok {
		if t, err := strconv.ParseUint(s, 10, 64); err == nil {
			k.Tainted = &t
			k.TaintFlags = taintFlags(t)
		} else {
			c.unknown("kernel.tainted", "/proc/sys/kernel/tainted: not a number")
		}
	}
}

func (c *collector) cpu() {
	cp := &c.f.CPU
	cp.Vendor, cp.ModelName, cp.Microcode = Unknown, Unknown, Unknown
	if b, ok := c.read("cpu.flags", "proc/cpuinfo"); ok {
		ci := parseCPUInfo(b)
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&cp.Vendor, ci.vendor)
		set(&cp.ModelName, ci.modelName)
		set(&cp.Microcode, ci.microcode)
		cp.Family, cp.Model, cp.Stepping = ci.family, ci.model, ci.stepping
		if ci.flags != nil {
			cp.Flags = flagsFrom(ci.flags)
		} else {
			c.unknown("cpu.flags", "/proc/cpuinfo: no flags line (not an x86 CPU?)")
		}
	}
	if c.live {
		cp.CPUID = liveCPUID()
	} else {
		c.unknown("cpu.cpuid", liveOnly)
	}
}

func flagsFrom(m map[string]bool) CPUFlags {
	var fl CPUFlags
	for _, n := range fl.named() {
		v := m[n.name]
		*n.v = &v
	}
	return fl
}

func (c *collector) aes() {
	a := &c.f.AES
	a.Implementations = map[string]Impl{}
	if a.CPUFlag = c.f.CPU.Flags.AES; a.CPUFlag == nil && c.f.CPU.CPUID != nil {
		a.CPUFlag = c.f.CPU.CPUID.Flags.AES
	}
	if a.CPUFlag == nil {
		c.unknown("aes.cpu_flag", "no CPU flags: "+cmp.Or(c.f.Unknown["cpu.flags"], "none read")+"; CPUID not read")
	}

	modB, modErr := c.readErr("proc/modules")
	cryB, cryErr := c.readErr("proc/crypto")
	var entries []cryptoEntry
	if cryErr == nil {
		if entries = parseCrypto(cryB); len(entries) == 0 {
			// A kernel always registers some algorithm: no entries means
			// a broken or empty copy, not "no aesni".
			cryErr = errEmpty
		}
	}
	if cryErr == nil {
		for _, name := range AESAlgorithms {
			if e, ok := pick(entries, name); ok {
				a.Implementations[name] = Impl{Driver: e.driver, Module: e.module, Priority: e.priority}
			}
		}
	} else {
		c.unknown("aes.implementations", reason("proc/crypto", cryErr))
	}
	// /proc/crypto lists what is registered: an aesni driver there is in
	// use, built in (module "kernel") or loaded. /proc/modules alone
	// cannot rule out a built-in driver.
	aesniIn := func(module string) bool {
		return slices.ContainsFunc(entries, func(e cryptoEntry) bool {
			return strings.Contains(e.driver, "aesni") && e.module == module
		})
	}
	switch {
	case modErr == nil && parseModules(modB)["aesni_intel"], aesniIn("aesni_intel"):
		a.KernelModule = "loaded"
	case aesniIn("kernel"):
		a.KernelModule = "builtin"
	case cryErr == nil:
		a.KernelModule = "absent"
	case modErr == nil:
		a.KernelModule = Unknown
		c.unknown("aes.kernel_module", "aesni_intel is not a loaded module, but "+reason("proc/crypto", cryErr)+", so built in cannot be ruled out")
	default:
		a.KernelModule = Unknown
		c.unknown("aes.kernel_module", reason("proc/modules", modErr)+" and "+reason("proc/crypto", cryErr))
	}
}

func (c *collector) ipsec() {
	p := &c.f.IPsec
	p.Modules = []string{}
	if b, err := c.readErr("proc/modules"); errors.Is(err, fs.ErrNotExist) && c.exists("proc/crypto") {
		// A kernel without loadable modules: IPsec, if any, is built in.
		c.unknown("ipsec.modules", "/proc/modules: not present (a kernel without loadable modules: esp4 and friends would be built in)")
		p.Modules = nil
	} else if err != nil {
		c.unknown("ipsec.modules", reason("proc/modules", err))
		p.Modules = nil
	} else {
		for m := range parseModules(b) {
			if strings.HasPrefix(m, "esp") || strings.HasPrefix(m, "ah4") || strings.HasPrefix(m, "ah6") ||
				strings.HasPrefix(m, "xfrm") || m == "af_key" {
				p.Modules = append(p.Modules, m)
			}
		}
		slices.Sort(p.Modules)
	}
	if b, err := c.readErr("proc/net/xfrm_stat"); err == nil {
		p.XfrmStat = map[string]int64{}
		for k, v := range parseNameValues(b) {
			if v != 0 {
				p.XfrmStat[k] = v
			}
		}
	} else {
		c.unknown("ipsec.xfrm_stat", reason("proc/net/xfrm_stat", err)+" (kernel without CONFIG_XFRM_STATISTICS, or no IPsec support)")
	}

	var states []xfrm.SA
	var err error
	if c.live {
		states, err = xfrm.Dump()
		p.StatesSource = "netlink"
		if errors.Is(err, xfrm.ErrDenied) {
			c.unknown("ipsec.states", "permission denied: needs CAP_NET_ADMIN to dump XFRM states")
		} else if err != nil {
			c.unknown("ipsec.states", "XFRM netlink dump: "+err.Error())
		}
	} else {
		var b []byte
		b, err = c.readErr(XfrmStateFile)
		p.StatesSource = "file"
		if err != nil {
			c.unknown("ipsec.states", reason(XfrmStateFile, err)+": save `ip xfrm state` there to include SAs in a copied tree")
		} else if states, err = xfrm.ParseIPState(b); err != nil {
			c.unknown("ipsec.states", "/"+XfrmStateFile+": "+err.Error())
		}
	}
	if err != nil {
		p.StatesSource = ""
		return
	}
	p.States = states
	if p.States == nil {
		p.States = []xfrm.SA{}
	}
	transport, encap, both := false, false, false
	for _, s := range states {
		transport = transport || s.Mode == "transport"
		encap = encap || s.Encap != ""
		both = both || s.Mode == "transport" && s.Encap != ""
	}
	p.TransportMode, p.NATT, p.EncapTransport = &transport, &encap, &both
}

func (c *collector) netPath() {
	ifc := c.opt.Interface
	n := &NetPath{Interface: ifc, Driver: Unknown, Congestion: Unknown}
	c.f.Net = n
	dir := "sys/class/net/" + ifc
	if s, ok := c.readString("net.mtu", dir+"/mtu"); ok {
		n.MTU = atoiPtr(s)
	}
	if s, ok := c.readString("net.congestion_control", "proc/sys/net/ipv4/tcp_congestion_control"); ok {
		n.Congestion = s
	}
	if b, err := c.readErr(dir + "/device/uevent"); err == nil {
		if d := parseUeventDriver(b); d != "" {
			n.Driver = d
		}
	}
	if !c.live {
		if n.Driver == Unknown {
			c.unknown("net.driver", "/"+dir+"/device/uevent: no DRIVER line (a virtual interface has no device)")
		}
		c.unknown("net.offloads", liveOnly)
		return
	}
	e, err := liveEthtool(ifc)
	if err != nil {
		c.unknown("net.offloads", "ethtool on "+ifc+": "+err.Error())
	}
	if e.driver != "" {
		n.Driver = e.driver
	} else if n.Driver == Unknown {
		c.unknown("net.driver", "neither ethtool nor /"+dir+"/device/uevent names a driver")
	}
	n.RxChecksum, n.TxChecksum, n.GRO, n.GSO, n.TSO = e.rxcsum, e.txcsum, e.gro, e.gso, e.tso
}

func (c *collector) counters() Counters {
	var k Counters
	if b, ok := c.read("counters.tcp_in_csum_errors", "proc/net/snmp"); ok {
		s := parseSNMP(b)
		get := func(proto, fact string) *int64 {
			if v, ok := s[proto]["InCsumErrors"]; ok {
				return &v
			}
			c.unknown(fact, "/proc/net/snmp: no "+proto+" InCsumErrors (the counter appeared in Linux 3.10)")
			return nil
		}
		k.TCPInCsumErrors = get("Tcp", "counters.tcp_in_csum_errors")
		k.UDPInCsumErrors = get("Udp", "counters.udp_in_csum_errors")
	} else {
		c.unknown("counters.udp_in_csum_errors", c.f.Unknown["counters.tcp_in_csum_errors"])
	}
	if ifc := c.opt.Interface; ifc != "" {
		k.RxCRCErrors = c.int64File("counters.rx_crc_errors", "sys/class/net/"+ifc+"/statistics/rx_crc_errors")
		k.RxErrors = c.int64File("counters.rx_errors", "sys/class/net/"+ifc+"/statistics/rx_errors")
	}
	var mcs []string
	if c.dir != nil {
		mcs, _ = fs.Glob(c.dir.FS(), "sys/devices/system/edac/mc/mc[0-9]*")
	}
	if len(mcs) == 0 {
		c.unknown("counters.edac_corrected", "/sys/devices/system/edac/mc: no memory controllers (no EDAC driver, or a virtual machine)")
		c.unknown("counters.edac_uncorrected", c.f.Unknown["counters.edac_corrected"])
		return k
	}
	// A sum over some controllers is not the total: one unreadable
	// controller makes the total unknown.
	ce, ue := new(int64), new(int64)
	for _, mc := range mcs {
		ce = addPtr(ce, c.int64File("counters.edac_corrected", mc+"/ce_count"))
		ue = addPtr(ue, c.int64File("counters.edac_uncorrected", mc+"/ue_count"))
	}
	k.EDACCorrected, k.EDACUncorrected = ce, ue
	return k
}

func (c *collector) int64File(fact, path string) *int64 {
	s, ok := c.readString(fact, path)
	if !ok {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		c.unknown(fact, "/"+path+": not a number")
		return nil
	}
	return &v
}

// addPtr adds two counters, either of which may be unknown (nil).
func addPtr(sum, v *int64) *int64 {
	if v == nil || sum == nil {
		return nil
	}
	t := *sum + *v
	return &t
}

// Run holds a host's facts taken when a run starts, so that the change of
// its counters over the run can be added when it ends.
type Run struct {
	opt   Options
	facts *Facts
}

// Start collects the facts at the start of a run.
func Start(opt Options) *Run {
	return &Run{opt: opt, facts: Collect(opt)}
}

// Facts returns the facts taken at the start.
func (r *Run) Facts() *Facts { return r.facts }

// Finish returns a copy of the start facts with Delta set to the change of
// the counters since the start. It may be called more than once.
func (r *Run) Finish() *Facts {
	f := *r.facts
	d := ReadCounters(r.opt).Sub(r.facts.Counters)
	f.Delta = &d
	return &f
}

// InterfaceOf returns the name of this host's interface that holds ip, or
// "" when none does.
func InterfaceOf(ip net.IP) string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, i := range ifs {
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return i.Name
			}
		}
	}
	return ""
}
