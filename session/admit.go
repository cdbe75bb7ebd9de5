package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/zerocheck/zerocheck/wire"
)

// Defaults for the receiver's limits.
const (
	DefaultMaxSessions       = 8
	DefaultMaxConns          = 1024
	DefaultMaxConnsPerSource = 256
	DefaultMaxDuration       = 24 * time.Hour
)

// ParseAllow parses --allow: networks in CIDR form or single addresses,
// separated by commas.
func ParseAllow(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q: want a network such as 10.0.0.0/8 or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Masked() != p {
			return nil, fmt.Errorf("%q has host bits set: did you mean %s?", s, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// addrOf returns a socket address's IP, IPv4-mapped IPv6 unmapped so
// that one host is one source whichever way it connects.
func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

// allowed reports whether a connection from ip to local may be served.
// This host may always connect to itself (from whichever of its
// addresses): the health check comes from there.
func (s *Server) allowed(ip, local netip.Addr) bool {
	if s.opt.Allow == nil || ip == local {
		return true
	}
	for _, p := range s.opt.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// admit decides, before a byte is read, whether c is served: its source
// must be allowed and under its connection limits. release must be
// called when c is done with.
func (s *Server) admit(c net.Conn) (release func(), err error) {
	ip := addrOf(c.RemoteAddr())
	if !s.allowed(ip, addrOf(c.LocalAddr())) {
		return nil, fmt.Errorf("address %s is not allowed (--allow)", ip)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conns >= s.opt.MaxConns:
		return nil, fmt.Errorf("busy: %d connections open (--max-conns)", s.conns)
	case s.perSource[ip] >= s.opt.MaxConnsPerSource:
		return nil, fmt.Errorf("too many connections from %s: %d open (--max-conns-per-source)", ip, s.perSource[ip])
	}
	s.conns++
	s.perSource[ip]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.conns--
		if s.perSource[ip]--; s.perSource[ip] == 0 {
			delete(s.perSource, ip)
		}
	}, nil
}

// turnAway refuses a connection that admit did not admit: one short
// write, which a fresh socket's empty buffer takes at once, then close.
func (s *Server) turnAway(c net.Conn, err error) {
	s.logRefusal(c.RemoteAddr(), err)
	if !s.opt.Raw {
		if b, e := wire.EncodeReply(wire.Reply{Error: err.Error(), Version: s.opt.Version}); e == nil {
			writeFrame(c, b, 100*time.Millisecond)
		}
	}
	c.Close()
}

// logRefusal logs a refusal, at most refusalBurst lines per
// refusalWindow: a flood of strangers must not flood the log too. The
// lines held back are counted in the next line that is written.
func (s *Server) logRefusal(peer net.Addr, err error) {
	var ce *wire.ChecksumError
	level := slog.LevelWarn
	if errors.As(err, &ce) {
		level = slog.LevelError // the control channel was corrupted: evidence
	}
	ok, dropped := s.refusals.allow(time.Now())
	if !ok {
		return
	}
	args := []any{"peer", peer.String(), "reason", err.Error()}
	if dropped > 0 {
		args = append(args, "suppressed_before", dropped)
	}
	s.log.Log(context.Background(), level, "refused", args...)
}

const (
	refusalBurst  = 20
	refusalWindow = 10 * time.Second
)

// rateLimit lets refusalBurst events through per refusalWindow.
type rateLimit struct {
	mu      sync.Mutex
	start   time.Time
	n       int
	dropped int
}

// allow reports whether an event at now may be logged and, if so, how
// many were held back since the last one that was.
func (l *rateLimit) allow(now time.Time) (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= refusalWindow {
		l.start, l.n = now, 0
	}
	if l.n >= refusalBurst {
		l.dropped++
		return false, 0
	}
	l.n++
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}
