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
// Parse decodes of a report only what the analysis counts (Report): the
// regions and repeated blocks a corrupt run details, and the host facts
// that explain nothing, are skipped as they are read, and streams are
// summed as they are read. A file then costs a few times its size to
// read whatever it holds (MaxFileSize bounds that), where decoding
// whole reports cost hundreds of times the size of a list of empty
// regions.
//
// # Runs
//
// Both ends of a network run write a report with the same run id, and
// both reach the same verdict. A run is counted once: reports with the
// same run id and pattern are merged (the worse verdict, the larger byte
// and region counts, each host's facts from whichever report has them).
// Reports without a run id (verify on a pipe, recv --raw) are runs of
// their own; the same one read twice (a copy of a file in another
// directory) counts once, two such reports being the same when their
// role, start, addresses, pattern, seed, counts, verdict and hosts agree.
//
// # Pairs
//
// The pair matrix has a row per (sender, receiver) in the direction the
// data flowed, named by report.Report.Endpoints: by hostname when their
// facts know it, else by address. A run's forward streams flow from the
// host that ran send to the one that ran recv; the reverse streams of a
// --bidir run flow back, sent by the host that ran recv and verified by
// the one that ran send. A --bidir run therefore counts in two rows: in
// (send host, recv host) with its forward streams' verdict and counts,
// and in (recv host, send host) with its reverse streams', which
// Pair.ReverseRuns counts. Corruption in the reverse streams is then
// under the pair it struck, rather than under a pair whose sender only
// verified it. The rows' runs add up to more than the runs when there
// are --bidir runs; their bytes, corrupt bytes and regions add up to the
// runs'. A direction's verdict is the worst of its streams'; a run whose
// corruption or failure no stream shows (the control channel's CRC, a
// failure before the streams, a report that lists no streams) has it
// forward.
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
// The corrupt runs with a value are also counted by the end that holds
// it: as sender when a host with the value sent data that arrived
// corrupt, as receiver when one verified it. On forward streams that is
// the host that ran send and the one that ran recv; on the reverse
// streams of a --bidir run, the other way round. A run corrupt both ways
// counts each of its hosts as both.
//
// Separation is a correlation, not a cause: every fact of a host that
// corrupts data separates as well as the guilty one, until the fleet has
// other hosts that share some of its facts and not others. A fleet that
// mixes kernels, CPUs and hypervisors tells them apart; a fleet of
// clones cannot.
package analyze
