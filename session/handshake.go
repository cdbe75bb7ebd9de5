package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/zerocheck/zerocheck/wire"
)

// greeting is what the listener learnt from a connection's handshake.
type greeting struct {
	hello wire.Hello
	// payload is the hello as sent and nonce the challenge's: the
	// listener's proof covers both.
	payload []byte
	nonce   string
}

// errNoToken and errBadToken are the refusals of a dialer that cannot
// prove the token.
var (
	errNoToken  = errors.New("this receiver requires a token: pass --token-file with the receiver's token")
	errBadToken = errors.New("authentication failed: the sender's token is not this receiver's")
)

// greet runs the listener's side of the handshake (see package wire): it
// reads the Hello, challenges, and checks the answer, all by deadline.
// Nothing of the hello is acted on before the dialer has proved the
// token, when one is required.
func (s *Server) greet(ctx context.Context, c net.Conn, deadline time.Time) (greeting, error) {
	var g greeting
	p, err := readFrameBy(ctx, c, wire.TypeHello, deadline, s.opt.HandshakeTimeout)
	if err != nil {
		return g, err
	}
	g.payload = p
	if g.hello, err = wire.DecodeHello(p); err != nil {
		return g, err
	}
	if err := s.heard(c, g.hello); err != nil {
		return g, err
	}
	g.nonce = wire.NewNonce()
	ch := wire.Challenge{Nonce: g.nonce, Auth: wire.AuthNone}
	if s.opt.Token != nil {
		ch.Auth = wire.AuthHMAC
	}
	b, err := wire.EncodeChallenge(ch)
	if err == nil {
		err = writeFrame(c, b, time.Until(deadline))
	}
	if err != nil {
		return g, fmt.Errorf("sending the challenge: %w", err)
	}
	if p, err = readFrameBy(ctx, c, wire.TypeAuth, deadline, s.opt.HandshakeTimeout); err != nil {
		return g, err
	}
	a, err := wire.DecodeAuth(p)
	switch {
	case err != nil:
		return g, err
	case s.opt.Token == nil:
		return g, nil
	case a.MAC == "":
		return g, errNoToken
	case !wire.Verify(s.opt.Token, wire.Dialer, g.nonce, g.payload, a.MAC):
		return g, errBadToken
	}
	return g, nil
}

// accept answers a greeting that passed with a Reply: the listener's
// proof of the token, and facts when given.
func (s *Server) accept(c net.Conn, g greeting, facts []byte, d time.Duration) error {
	reply := wire.Reply{Version: s.opt.Version, Facts: facts, ResultMax: s.peerResultMax(),
		Progress: g.hello.Progress && g.hello.Direction == wire.Forward, FactsAfter: s.factsAfter(g.hello)}
	if s.opt.Token != nil {
		reply.Proof = wire.Sign(s.opt.Token, wire.Listener, g.nonce, g.payload)
	}
	b, err := wire.EncodeReply(reply)
	if err == nil {
		err = writeFrame(c, b, d)
	}
	return err
}

// readFrameBy reads a frame of type want by deadline, the end of a
// handshake of timeout. Once stop (if set) is done, it fails at once: a
// shutdown's deadline must not be replaced by the handshake's.
func readFrameBy(stop context.Context, c net.Conn, want wire.Type, deadline time.Time, timeout time.Duration) ([]byte, error) {
	c.SetReadDeadline(deadline)
	if stop != nil && stop.Err() != nil {
		c.SetReadDeadline(time.Now())
	}
	defer c.SetReadDeadline(time.Time{})
	return frameOf(c, want, timeout, 0, nil)
}

// seal signs and checks a stream's result when a token is in use: the
// verifying end's MAC (role) over the connection's challenge nonce and
// the result's payload, in an Auth frame right after the Result. The
// zero seal (no token) does nothing.
type seal struct {
	token []byte
	nonce string
}

// sign appends the seal of result (a Result frame) for role.
func (s seal) sign(result []byte, role string) ([]byte, error) {
	if s.token == nil {
		return result, nil
	}
	a, err := wire.EncodeAuth(wire.Auth{MAC: wire.Sign(s.token, role, s.nonce, wire.Payload(result))})
	return append(result, a...), err
}

// check reads the seal that follows a result's payload and checks it
// for role.
func (s seal) check(c net.Conn, payload []byte, role string, wait time.Duration) error {
	if s.token == nil {
		return nil
	}
	p, err := readFrame(c, wire.TypeAuth, wait, nil)
	var a wire.Auth
	if err == nil {
		a, err = wire.DecodeAuth(p)
	}
	if err == nil && !wire.Verify(s.token, role, s.nonce, payload, a.MAC) {
		err = errors.New("its seal does not match: the result was altered, or is not from the token's holder")
	}
	if err != nil {
		return fmt.Errorf("the result could not be authenticated: %w", err)
	}
	return nil
}

// handshake runs the dialer's side of the handshake on conn, whose Hello
// (frame hello) is sent: it answers the challenge and checks the
// listener's reply and, with a token, its proof; only then does it send
// after (a stream's PeerFacts frame with a token, else nil). It returns
// the seal of the connection's results.
func (c *Client) handshake(conn net.Conn, hello, after []byte, d time.Duration) (wire.Reply, seal, error) {
	deadline := time.Now().Add(d)
	p, err := readFrameBy(nil, conn, wire.TypeChallenge, deadline, d)
	var ch wire.Challenge
	if err == nil {
		ch, err = wire.DecodeChallenge(p)
	}
	if err != nil {
		return wire.Reply{}, seal{}, err
	}
	sl := seal{token: c.opt.Token, nonce: ch.Nonce}
	var a wire.Auth
	if c.opt.Token != nil {
		if ch.Auth != wire.AuthHMAC {
			return wire.Reply{}, seal{}, errors.New("the receiver checks no token (it runs without --token-file) but this sender has one: its verdict cannot be trusted")
		}
		a.MAC = wire.Sign(c.opt.Token, wire.Dialer, ch.Nonce, wire.Payload(hello))
	}
	b, err := wire.EncodeAuth(a)
	if err == nil {
		err = writeFrame(conn, b, time.Until(deadline))
	}
	if err == nil {
		p, err = readFrameBy(nil, conn, wire.TypeReply, deadline, d)
	}
	var reply wire.Reply
	if err == nil {
		reply, err = wire.DecodeReply(p)
	}
	if err != nil {
		return reply, sl, err
	}
	if c.opt.Token != nil && !wire.Verify(c.opt.Token, wire.Listener, ch.Nonce, wire.Payload(hello), reply.Proof) {
		return reply, sl, errors.New("the receiver could not prove it holds the token: it has another token, or something in between answers for it")
	}
	if after != nil && reply.FactsAfter {
		if err := writeFrame(conn, after, time.Until(deadline)); err != nil {
			return reply, sl, fmt.Errorf("sending this host's facts: %w", err)
		}
	}
	return reply, sl, nil
}

// peerFacts reads, with a token, the facts a dialer sends once it has
// checked this listener's proof (see wire.PeerFacts), and gives them to
// the run when it has none yet.
func (s *Server) peerFacts(ctx context.Context, c net.Conn, r *run, h wire.Hello) error {
	if !s.factsAfter(h) {
		return nil
	}
	p, err := readFrameBy(ctx, c, wire.TypeFacts, time.Now().Add(s.opt.HandshakeTimeout), s.opt.HandshakeTimeout)
	var f wire.PeerFacts
	if err == nil {
		f, err = wire.DecodePeerFacts(p)
	}
	if err != nil {
		return err
	}
	if peer := decodeFacts(f.Facts); peer != nil {
		s.mu.Lock()
		if r.peer == nil {
			r.peer = peer
		}
		s.mu.Unlock()
	}
	return nil
}

// factsAfter says whether a dialer that sent h sends its facts in a Facts
// frame after the proof, and this listener reads it: both hold the token
// and the Hello announced it.
func (s *Server) factsAfter(h wire.Hello) bool {
	return s.opt.Token != nil && h.FactsAfter
}
