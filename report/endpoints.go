package report

import (
	"net"

	"github.com/zerocheck/zerocheck/hostinfo"
)

// Endpoints names the two ends of a run: the host that sent the pattern
// (ran send) and the host that verified it (ran recv). A host is named by
// its hostname when its facts know it, else by the IP of its socket
// address, else "". Loopback names this host for both; verify, which
// reads a pipe, knows only the receiver.
//
// Reports, metrics and fleet analysis all name hosts this way, so that
// both ends' reports of one run name the same pair.
func (r *Report) Endpoints() (sender, receiver string) {
	local := hostName(r.Hosts.Local, r.LocalAddr)
	peer := hostName(r.Hosts.Peer, r.PeerAddr)
	switch r.Role {
	case "send":
		return local, peer
	case "recv":
		return peer, local
	case "loopback":
		return local, local
	}
	return "", local
}

func hostName(f *hostinfo.Facts, addr string) string {
	if f != nil && f.Hostname != "" && f.Hostname != hostinfo.Unknown {
		return f.Hostname
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
