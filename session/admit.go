package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults for the receiver's limits.
const (
	DefaultMaxSessions       = 8
	DefaultMaxConns          = 1024
	DefaultMaxConnsPerSource = 256
	DefaultMaxDuration       = 24 * time.Hour
)

// ParseAllow parses --allow: networks in CIDR form or single addresses.
// An empty list is an error: "allow nobody" would be a receiver that
// serves no one, and a templated empty value must not mean "everyone".
func ParseAllow(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
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
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// Sources are matched unmapped: an IPv4-mapped network is
			// its IPv4 network.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no network given")
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
// A connection from an address to itself (this host to itself, as the
// health check connects) always may.
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

// sourceOf is the unit a per-source limit counts: an IPv4 address, or an
// IPv6 /64, which one host commonly holds whole.
func sourceOf(ip netip.Addr) netip.Prefix {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, ip.BitLen())
}

// unproven is a connection admitted and not yet through its handshake.
// Evicting it cancels its handshake (stop, once its goroutine has one):
// a deadline alone would be replaced by the handshake's next read.
type unproven struct {
	at      time.Time
	self    bool
	evicted bool
	stop    context.CancelFunc
}

// errEvicted is the refusal of a connection pushed out, before it had
// proved anything, by a newer one.
var errEvicted = errors.New("evicted: the receiver is full of connections that have not finished their handshake")

// admit decides, before a byte is read, whether c is served: its source
// must be allowed and under its limit. When all of MaxConns are taken,
// the oldest connection still in its handshake makes room: idle
// strangers cannot lock a real sender (or the health check) out, as a
// real handshake takes a round trip or two while theirs lasts until the
// deadline. release must be called when c is done with.
func (s *Server) admit(c net.Conn) (release func(), err error) {
	ip := addrOf(c.RemoteAddr())
	self := ip == addrOf(c.LocalAddr())
	if !s.allowed(ip, addrOf(c.LocalAddr())) {
		return nil, fmt.Errorf("address %s is not allowed (--allow)", ip)
	}
	src := sourceOf(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !self && s.perSource[src] >= s.opt.MaxConnsPerSource {
		return nil, fmt.Errorf("too many connections from %s: %d open (--max-conns-per-source)", src, s.perSource[src])
	}
	if s.conns >= s.opt.MaxConns {
		// This host's own connections (the health check) are never
		// the ones to go.
		var oldest net.Conn
		for hc, h := range s.handshakes {
			if !h.evicted && !h.self && (oldest == nil || h.at.Before(s.handshakes[oldest].at)) {
				oldest = hc
			}
		}
		if oldest == nil {
			return nil, fmt.Errorf("busy: %d connections open (--max-conns)", s.conns)
		}
		h := s.handshakes[oldest]
		h.evicted = true
		if h.stop != nil {
			h.stop()
		}
	}
	s.conns++
	s.perSource[src]++
	if !s.opt.Raw {
		s.handshakes[c] = &unproven{at: time.Now(), self: self}
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.conns--
		if s.perSource[src]--; s.perSource[src] == 0 {
			delete(s.perSource, src)
		}
		delete(s.handshakes, c)
	}, nil
}

// handshaking gives c's handshake a context that eviction cancels.
func (s *Server) handshaking(ctx context.Context, c net.Conn) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.handshakes[c]; h != nil {
		h.stop = cancel
		if h.evicted {
			cancel()
		}
	}
	return ctx, cancel
}

// shookHands marks c through its handshake, passed or failed: from here
// on it is not evicted. It returns errEvicted if c was.
func (s *Server) shookHands(c net.Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.handshakes[c]
	delete(s.handshakes, c)
	if h != nil && h.evicted {
		return errEvicted
	}
	return nil
}

// turnAway refuses a connection that admit did not admit: one short
// write, which a fresh socket's empty buffer takes at once, then close.
func (s *Server) turnAway(c net.Conn, err error) {
	if s.opt.Raw {
		s.logRefusal(c.RemoteAddr(), err) // a raw peer reads no reply
	} else {
		s.refuse(c, err)
	}
	c.Close()
}

// logRefusal logs a refusal, at most refusalBurst lines per
// refusalWindow: a flood of strangers must not flood the log too. The
// lines held back are counted in the next line that is written.
func (s *Server) logRefusal(peer net.Addr, err error) {
	// A stranger's refusal is a warning, whatever it was: before the
	// handshake nobody is known, and a corrupt-looking hello from a
	// stranger is no evidence (the sender's own report has it when it is).
	ok, dropped := s.refusals.allow(time.Now())
	if !ok {
		return
	}
	args := []any{"peer", peer.String(), "reason", truncate(err.Error())}
	if dropped > 0 {
		args = append(args, "suppressed_before", dropped)
	}
	s.log.Warn("refused", args...)
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
