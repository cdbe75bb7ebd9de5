package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
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

// allowed reports whether a connection from ip may be served.
func (s *Server) allowed(ip netip.Addr) bool {
	if s.opt.Allow == nil {
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
	c       net.Conn
	src     netip.Prefix
	at      time.Time
	evicted bool
	stop    context.CancelFunc
	// check is set once its hello has shown the health check's secret:
	// from then on it is never evicted; hello once it has sent a valid
	// hello at all. local marks a connection from this host to itself,
	// and vouch one of those that --allow does not cover: it is served
	// only if it turns out to be the health check.
	check bool
	hello bool
	local bool
	vouch bool
}

// busyConns ends the refusal of a connection that found every place
// taken by connections past their handshake.
const busyConns = "connections open (--max-conns)"

// errEvicted is the refusal of a connection pushed out, before it had
// proved anything, by a newer one.
var errEvicted = errors.New("evicted: the receiver is full of connections that have not finished their handshake")

// admit decides, before a byte is read, whether c is served: its source
// must be allowed and under its limits. When all of MaxConns, or all of
// its source's MaxConnsPerSource, are taken, a connection still in its
// handshake makes room (see evict): idle strangers, this host's own
// included, cannot lock a real sender (or the health check) out, as a
// real handshake takes a round trip or two while theirs lasts until the
// deadline. No address is exempt: the health check is known by the
// secret in its hello, and until that is read it is a connection like
// any other. release must be called when c is done with.
func (s *Server) admit(c net.Conn) (release func(), err error) {
	ip := addrOf(c.RemoteAddr())
	local := ip == addrOf(c.LocalAddr())
	vouch := false
	if !s.allowed(ip) {
		// This host to itself may be the health check, which --allow
		// does not stop: it is read up to its hello, and refused then
		// unless the hello carries the check's secret (see vouch).
		if s.opt.Raw || !local {
			return nil, fmt.Errorf("address %s is not allowed (--allow)", ip)
		}
		vouch = true
	}
	src := sourceOf(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.perSource[src] >= s.opt.MaxConnsPerSource:
		// The source's own connection that goes makes room in the
		// total too.
		if !s.evict(&src) {
			return nil, fmt.Errorf("too many connections from %s: %d open (--max-conns-per-source)", src, s.perSource[src])
		}
	case s.conns >= s.opt.MaxConns && !s.evict(nil):
		return nil, fmt.Errorf("busy: %d %s", s.conns, busyConns)
	}
	s.conns++
	s.perSource[src]++
	if !s.opt.Raw {
		s.handshakes[c] = &unproven{c: c, src: src, at: time.Now(), local: local, vouch: vouch}
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

// maxPeeks bounds the connections evict looks into for data waiting.
const maxPeeks = 64

// evict pushes out a connection still in its handshake (from src, when
// set) to make room for a newer one, and reports whether there was one;
// called under the lock. A connection known to be the health check is
// never taken. Of the others, it takes the oldest idle one (no hello
// read, none waiting to be read), from elsewhere before this host's
// own, which may be the health check before its hello arrives; only
// when none is idle (of the maxPeeks oldest looked into), the oldest of
// all. A real sender's hello follows
// its connect at once, an idle stranger's never comes: the order is why
// idle strangers lose, wherever they come from, and no connection is
// exempt because of its address.
func (s *Server) evict(src *netip.Prefix) bool {
	var cands []*unproven
	for _, u := range s.handshakes {
		if !u.evicted && !u.check && (src == nil || u.src == *src) {
			cands = append(cands, u)
		}
	}
	if len(cands) == 0 {
		return false
	}
	slices.SortFunc(cands, func(a, b *unproven) int { return a.at.Compare(b.at) })
	victim := cands[0]
	best, peeks := 2, 0
	for _, u := range cands {
		// Ranks: 0 idle from elsewhere, 1 idle from this host, 2 heard
		// from. Each peek is a system call under the lock: only as many
		// as can change the choice, and a bounded number of them.
		if u.hello || u.local && best <= 1 || peeks == maxPeeks {
			continue
		}
		peeks++
		if waiting(u.c) {
			continue
		}
		if !u.local {
			victim = u
			break
		}
		victim, best = u, 1
	}
	victim.evicted = true
	if victim.stop != nil {
		victim.stop()
	}
	return true
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

// heard takes c's valid hello h, before anything else is done with it:
// it refuses a hello with a health check secret that is not this
// server's, and one from a connection served only if it is the health
// check (vouch) that is not. The check's connection is marked, never to
// be evicted.
func (s *Server) heard(c net.Conn, h wire.Hello) error {
	check := s.isCheck(h)
	if h.Check != "" && !check {
		return errors.New("hello: the health check secret is not this receiver's")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.handshakes[c]
	if u == nil {
		return nil
	}
	if u.vouch && !check {
		return fmt.Errorf("address %s is not allowed (--allow)", addrOf(c.RemoteAddr()))
	}
	u.hello, u.check = true, check
	return nil
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
