package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/hostinfo"
	"github.com/zerocheck/zerocheck/report"
)

// fixture collects the facts of a hostinfo fixture tree, with the time
// and root made stable; iface is the interface that carries its runs.
func fixture(t *testing.T, name, iface string) *hostinfo.Facts {
	t.Helper()
	dir := filepath.Join("..", "hostinfo", "testdata", "hosts", name)
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	f := hostinfo.Collect(hostinfo.Options{Root: dir, Interface: iface})
	f.Time = time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC)
	f.Root = name
	return f
}

// clone copies facts deeply, for a variant host.
func clone(t *testing.T, f *hostinfo.Facts) *hostinfo.Facts {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var c hostinfo.Facts
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// incidentFleet is a night of runs between seven hosts in the incident's
// set-up: IPsec in transport mode with NAT-T between all of them, and
// two Xen PV guests on Xen 4.1 with aesni_intel in use, zk-lt-03 and
// zk-lt-04, which corrupt every run they take part in. The other hosts
// each share some of their facts and not others, so that the facts can
// be told apart: zk-lt-05 is zk-lt-03 with aesni_intel blacklisted (the
// incident's workaround); zk-lt-04 runs the kernel and CPU of the clean
// HVM guest app-hvm-07; xen-r640-01 is a PV dom0 on Xen 4.11.
func incidentFleet(t *testing.T) []*hostinfo.Facts {
	pv := fixture(t, "xen-pv-3.2-xen-4.1-ipsec", "eth0")
	hvm := fixture(t, "xen-hvm-4.4", "eth0")

	pv4 := clone(t, pv)
	pv4.Hostname = "zk-lt-04"
	pv4.Kernel = hvm.Kernel
	pv4.CPU = hvm.CPU
	pv4.AES = hvm.AES

	pv5 := clone(t, pv)
	pv5.Hostname = "zk-lt-05"
	pv5.AES.KernelModule = "absent"
	pv5.AES.Implementations = map[string]hostinfo.Impl{
		"aes":               {Driver: "aes-generic", Module: "kernel", Priority: 100},
		"cbc(aes)":          {Driver: "cbc(aes-generic)", Module: "kernel", Priority: 100},
		"rfc4106(gcm(aes))": {Driver: "rfc4106(gcm_base(ctr(aes-generic),ghash-generic))", Module: "kernel", Priority: 100},
	}

	hosts := []*hostinfo.Facts{pv, pv4, pv5, hvm, fixture(t, "xen-dom0", "eno1"), fixture(t, "baremetal", "eno1"), fixture(t, "kvm-5.3", "ens3")}
	for _, h := range hosts {
		h.IPsec = pv.IPsec
		h.Risks = hostinfo.Evaluate(h)
	}
	return hosts
}

// affected says which fleet hosts corrupt what they touch.
func affected(f *hostinfo.Facts) bool { return f.Hostname == "zk-lt-03" || f.Hostname == "zk-lt-04" }

// runReports returns the send and the recv report of one network run.
func runReports(n int, sender, receiver *hostinfo.Facts, v report.Verdict) (send, recv report.Report) {
	r := report.Report{
		Schema: report.Schema, Version: "test", Verdict: v, RunID: fmt.Sprintf("%016x", 0x5eed0000+n),
		Pattern: "random", Seed: 0x7a65726f636b, Start: time.Date(2026, 11, 25, 2, 30, n, 0, time.UTC),
		Seconds: 300, BytesVerified: 100 << 30, MaxRegions: 1000, MergeGap: 16,
	}
	switch v {
	case report.Corrupt:
		r.CorruptBytes, r.FlippedBits, r.RegionCount = 240, 970, 3
	case report.Incomplete:
		r.BytesVerified, r.Error = 7<<30, "interrupted"
	}
	send, recv = r, r
	send.Role, send.LocalAddr, send.PeerAddr = "send", "10.0.0.1:40000", "10.0.0.2:7777"
	send.Hosts = report.Hosts{Local: sender, Peer: receiver}
	recv.Role, recv.LocalAddr, recv.PeerAddr = "recv", "10.0.0.2:7777", "10.0.0.1:40000"
	recv.Hosts = report.Hosts{Local: receiver, Peer: sender}
	return send, recv
}

// writeReports writes reports one after another into a file, as recv
// --json >file does.
func writeReports(t *testing.T, path string, reps ...report.Report) {
	t.Helper()
	var b bytes.Buffer
	for _, r := range reps {
		if err := report.JSON(&b, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeIncidentFleet writes the fleet's night into dir as the hosts
// would leave it: each sender's send --json output in a file a run under
// DIR/SENDER/, each receiver's recv --json output in one file. Every
// ordered pair of hosts has one run; on top, one run from db-r650-07 to
// zk-lt-03 was interrupted, and ci-runner-eoan-2 verified a capture on a
// pipe. It returns the number of files written.
func writeIncidentFleet(t *testing.T, dir string) int {
	t.Helper()
	hosts := incidentFleet(t)
	recvd := map[string][]report.Report{}
	files, n := 0, 0
	run := func(s, r *hostinfo.Facts, v report.Verdict) {
		n++
		send, recv := runReports(n, s, r, v)
		writeReports(t, filepath.Join(dir, s.Hostname, fmt.Sprintf("send-%02d.json", n)), send)
		files++
		recvd[r.Hostname] = append(recvd[r.Hostname], recv)
	}
	for _, s := range hosts {
		for _, r := range hosts {
			if s == r {
				continue
			}
			v := report.Clean
			if affected(s) || affected(r) {
				v = report.Corrupt
			}
			run(s, r, v)
		}
	}
	run(hosts[5], hosts[0], report.Incomplete)
	for h, reps := range recvd {
		writeReports(t, filepath.Join(dir, h, "recv.json"), reps...)
		files++
	}
	kvm := hosts[6]
	verify := report.Report{Schema: report.Schema, Verdict: report.Clean, Pattern: "zeros", BytesVerified: 1 << 30,
		Hosts: report.Hosts{Local: kvm}}
	writeReports(t, filepath.Join(dir, kvm.Hostname, "verify.json"), verify)
	return files + 1
}

// bidirReports returns the send and the recv report of a --bidir run,
// two streams each way, whose only corruption is on reverse stream 3:
// data that receiver sent and sender verified.
func bidirReports(n int, sender, receiver *hostinfo.Facts) (send, recv report.Report) {
	send, recv = runReports(n, sender, receiver, report.Corrupt)
	streams := []report.Stream{
		{Stream: 0, Direction: report.Forward, Verdict: report.Clean, BytesVerified: 25 << 30},
		{Stream: 1, Direction: report.Forward, Verdict: report.Clean, BytesVerified: 25 << 30},
		{Stream: 2, Direction: report.Reverse, Verdict: report.Clean, BytesVerified: 25 << 30},
		{Stream: 3, Direction: report.Reverse, Verdict: report.Corrupt, BytesVerified: 25 << 30, CorruptBytes: 240, RegionCount: 3},
	}
	send.Streams, recv.Streams = streams, slices.Clone(streams)
	return send, recv
}
