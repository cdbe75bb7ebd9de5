// Package analyze reads many zerocheck reports and says what they show
// together: which host pairs saw corruption, and which host facts go with
// it. It is the month of correlation in the incident (corrupt runs against
// kernel, Xen mode and version, aesni_intel, IPsec mode, across host
// pairs), done over one night's reports.
//
// The work is in three steps, each usable alone. Parse decodes report
// bytes and touches no file, so that it can be fuzzed; Load finds and
// reads files into a Fleet, which merges the send and recv reports of a
// network run into one run and keeps of each only what is counted;
// Analyze counts the fleet's runs into an Analysis, which Text and JSON
// write.
//
// # Runs
//
// Both ends of a network run write a report with the same run id, and
// both reach the same verdict. A run is counted once: reports with the
// same run id and pattern are merged (the worse verdict, the larger byte
// and region counts, each host's facts from whichever report has them).
// Reports without a run id (verify on a pipe, recv --raw) are runs of
// their own.
//
// # Pairs
//
// The pair matrix has a row per (sender, receiver), named by
// report.Report.Endpoints: the hosts that ran send and recv, by hostname
// when their facts know it, else by address. A --bidir run is one row,
// though its reverse streams flow from receiver to sender.
//
// # Facts
//
// Every clean or corrupt run has two hosts, and each host a value for
// each fact that can explain corruption: kernel release, upstream
// version and distribution, CPU model and microcode, hypervisor, Xen
// mode, role and version, the AES flag and aesni_intel module, the
// kernel's AES implementations, IPsec transport mode, NAT-T and both,
// the NIC driver, MTU, offloads and congestion control, and for each
// risk profile of hostinfo.Rules its status (match, possible, or "no"),
// evaluated again from the facts so that old and new reports meet the
// same rules. Per-host or per-run noise (hostname, counters, SA lists,
// taint, detection signals, CPU flag lists) is left out: it would
// "separate" the one host it belongs to.
//
// A run has a value when either of its hosts has it. For each value:
// the runs with it and their corruption rate, the runs without it and
// theirs, and the separation, rate minus the others' rate: +1 when the
// value is on every corrupt run and on no clean one. Sorted by
// separation, then by how many runs have the value, the values that go
// with corruption come first. Incomplete runs say nothing about
// corruption and are left out of the rates. A fact with one value on
// every host separates nothing; it is kept, marked uniform, last.
//
// Separation is a correlation, not a cause: every fact of a host that
// corrupts data separates as well as the guilty one, until the fleet has
// other hosts that share some of its facts and not others. A fleet that
// mixes kernels, CPUs and hypervisors tells them apart; a fleet of
// clones cannot.
package analyze
