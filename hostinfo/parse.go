package hostinfo

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// The parsers below are pure functions of a file's bytes, so that tests
// and fuzz targets drive them directly; they never fail, they return
// what they could read. Input from a copied tree is untrusted: nothing
// is allocated by a number read from it.

// cpuInfo is the first processor of /proc/cpuinfo.
type cpuInfo struct {
	vendor, modelName, microcode string
	family, model, stepping      *int
	flags                        map[string]bool
}

func parseCPUInfo(b []byte) cpuInfo {
	var c cpuInfo
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		if strings.TrimSpace(line) == "" {
			if c.flags != nil || c.vendor != "" {
				break // the first processor is enough
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "vendor_id":
			c.vendor = v
		case "model name":
			c.modelName = v
		case "microcode":
			c.microcode = v
		case "cpu family":
			c.family = atoiPtr(v)
		case "model":
			c.model = atoiPtr(v)
		case "stepping":
			c.stepping = atoiPtr(v)
		case "flags":
			c.flags = map[string]bool{}
			for _, f := range strings.Fields(v) {
				c.flags[f] = true
			}
		}
	}
	return c
}

func atoiPtr(s string) *int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil
	}
	return &n
}

// parseModules returns the names of the modules in /proc/modules.
func parseModules(b []byte) map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			m[f[0]] = true
		}
	}
	return m
}

// cryptoEntry is one block of /proc/crypto.
type cryptoEntry struct {
	name, driver, module string
	priority             int
	internal             bool
	untested             bool
}

func parseCrypto(b []byte) []cryptoEntry {
	var out []cryptoEntry
	var cur cryptoEntry
	flush := func() {
		if cur.name != "" {
			out = append(out, cur)
		}
		cur = cryptoEntry{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			if strings.TrimSpace(line) == "" {
				flush()
			}
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "name":
			flush()
			cur.name = v
		case "driver":
			cur.driver = v
		case "module":
			cur.module = v
		case "priority":
			cur.priority, _ = strconv.Atoi(v)
		case "internal":
			cur.internal = v == "yes"
		case "selftest":
			cur.untested = v == "unknown"
		}
	}
	flush()
	return out
}

// pick returns the entry the crypto API would choose for name, as
// __crypto_alg_lookup does: the highest priority among tested entries not
// marked internal, the first listed winning a tie (/proc/crypto lists
// crypto_alg_list in order). Internal entries are helpers of other
// drivers; old kernels have no internal field, and name theirs __*, which
// no caller asks for.
func pick(entries []cryptoEntry, name string) (cryptoEntry, bool) {
	var best cryptoEntry
	found := false
	for _, e := range entries {
		if e.name != name || e.internal || e.untested {
			continue
		}
		if !found || e.priority > best.priority {
			best, found = e, true
		}
	}
	return best, found
}

// parseSNMP reads /proc/net/snmp's pairs of header and value lines into
// protocol -> field -> value.
func parseSNMP(b []byte) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		hp, hrest, ok1 := strings.Cut(lines[i], ":")
		vp, vrest, ok2 := strings.Cut(lines[i+1], ":")
		if !ok1 || !ok2 || hp != vp {
			continue
		}
		keys, vals := strings.Fields(hrest), strings.Fields(vrest)
		if len(keys) == 0 || len(keys) != len(vals) {
			continue
		}
		// A header line's fields are names, a value line's numbers.
		if _, err := strconv.ParseInt(keys[0], 10, 64); err == nil {
			continue
		}
		m := map[string]int64{}
		for j, k := range keys {
			if v, err := strconv.ParseInt(vals[j], 10, 64); err == nil {
				m[k] = v
			}
		}
		out[hp] = m
		i++
	}
	return out
}

// parseNameValues reads "Name value" lines (/proc/net/xfrm_stat).
func parseNameValues(b []byte) map[string]int64 {
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			m[f[0]] = v
		}
	}
	return m
}

// parseOSRelease returns PRETTY_NAME, or NAME and VERSION.
func parseOSRelease(b []byte) string {
	kv := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, `"'`)
		}
		kv[k] = v
	}
	if p := kv["PRETTY_NAME"]; p != "" {
		return p
	}
	return strings.TrimSpace(kv["NAME"] + " " + kv["VERSION"])
}

// parseUeventDriver returns the DRIVER= value of a device's uevent.
func parseUeventDriver(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "DRIVER="); ok {
			return v
		}
	}
	return ""
}

// taintLetters are the kernel's taint flags by bit (Documentation/
// admin-guide/tainted-kernels.rst).
const taintLetters = "PFSRMBUDAWCIOELKXTNJ"

func taintFlags(t uint64) string {
	var s strings.Builder
	for i := 0; i < 64; i++ {
		switch {
		case t&(1<<i) == 0:
		case i < len(taintLetters):
			s.WriteByte(taintLetters[i])
		default:
			// A bit newer than this table: keep it visible.
			fmt.Fprintf(&s, "(bit %d)", i)
		}
	}
	return s.String()
}

// kernelVersion parses the leading "major.minor.patch" of a release
// string such as "3.2.0-58-virtual".
func kernelVersion(release string) (v [3]int, ok bool) {
	end := strings.IndexFunc(release, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end < 0 {
		end = len(release)
	}
	parts := strings.Split(release[:end], ".")
	if len(parts) < 2 {
		return v, false
	}
	for i := 0; i < 3 && i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

// versionLess compares two parsed versions.
func versionLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
