package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Authentication. Every connection's handshake has four messages, the
// same with or without a token, so that a relay or a capture can follow
// it:
//
//	dialer   -> listener  Hello     the plan, with a fresh dialer nonce
//	listener -> dialer    Challenge a fresh listener nonce; the method
//	dialer   -> listener  Auth      HMAC-SHA256(token, dialer label,
//	                                 listener nonce, hello payload)
//	listener -> dialer    Reply     accepted with the listener's proof,
//	                                 HMAC-SHA256(token, listener label,
//	                                 listener nonce, hello payload), or
//	                                 refused with a reason
//
// With a token, a stream's dialer then sends its host facts (PeerFacts,
// type Facts), which its Hello leaves out: only a listener that proved
// the token learns them, as only a dialer that proved it gets the
// listener's facts in the Reply.
//
// The token itself never crosses the network. The listener's fresh nonce
// makes a recorded Auth useless on another connection; the hello payload
// in both MACs binds the plan (and the dialer's nonce in it) to the
// token, so a man in the middle can neither alter the plan nor replay a
// proof. The two labels keep one side's MAC from serving as the other's.
const (
	// AuthNone is a listener that checks no token.
	AuthNone = "none"
	// AuthHMAC is a listener that requires proof of its token.
	AuthHMAC = "hmac-sha256"
)

// Bounds on a token, after surrounding white space is trimmed: 16 bytes
// is the least that is not guessable in practice.
const (
	MinToken = 16
	MaxToken = 4096
)

const nonceLen = 32 // bytes; 64 hex digits on the wire

// Challenge is the listener's answer to a Hello: the nonce the dialer
// must sign, and whether it must.
type Challenge struct {
	Nonce string `json:"nonce"`
	Auth  string `json:"auth"`
}

// Auth is the dialer's proof of the token: hex HMAC-SHA256, empty when
// the dialer has no token.
type Auth struct {
	MAC string `json:"mac,omitempty"`
}

// NewNonce returns a fresh random nonce for a Hello or a Challenge.
func NewNonce() string {
	var b [nonceLen]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validNonce(n string) error {
	if b, err := hex.DecodeString(n); err != nil || len(b) != nonceLen {
		return fmt.Errorf("nonce is not %d hex digits", 2*nonceLen)
	}
	return nil
}

// ParseToken reads a token file's contents. Surrounding white space (the
// newline an editor or echo adds) is not part of the token.
func ParseToken(b []byte) ([]byte, error) {
	t := bytes.TrimSpace(b)
	switch {
	case len(t) < MinToken:
		return nil, fmt.Errorf("token of %d bytes is too short: want at least %d (e.g. head -c 32 /dev/urandom | base64)", len(t), MinToken)
	case len(t) > MaxToken:
		return nil, fmt.Errorf("token of %d bytes is too long: want at most %d", len(t), MaxToken)
	}
	return t, nil
}

// Roles that sign: each side's MAC carries its own label. Dialer and
// Listener sign the hello; DialerResult and ListenerResult sign the
// payload of a Result, which, when a token is in use, is followed by an
// Auth frame carrying that MAC: the verdict is the token holder's, not a
// forger's in the path.
const (
	Dialer         = "zerocheck/2 dialer"
	Listener       = "zerocheck/2 listener"
	DialerResult   = "zerocheck/2 dialer result"
	ListenerResult = "zerocheck/2 listener result"
)

// Sign returns role's MAC over the listener's nonce and the Hello payload
// the dialer sent, as hex.
func Sign(token []byte, role, nonce string, hello []byte) string {
	m := hmac.New(sha256.New, token)
	m.Write([]byte(role))
	m.Write([]byte{0})
	m.Write([]byte(nonce))
	m.Write([]byte{0})
	m.Write(hello)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether mac is role's MAC over nonce and hello, in
// constant time.
func Verify(token []byte, role, nonce string, hello []byte, mac string) bool {
	got, err := hex.DecodeString(mac)
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(Sign(token, role, nonce, hello))
	return hmac.Equal(got, want)
}

// EncodeChallenge returns c as a frame.
func EncodeChallenge(c Challenge) ([]byte, error) { return encode(TypeChallenge, c) }

// EncodeAuth returns a as a frame.
func EncodeAuth(a Auth) ([]byte, error) { return encode(TypeAuth, a) }

// DecodeChallenge parses and checks a Challenge payload.
func DecodeChallenge(payload []byte) (Challenge, error) {
	var c Challenge
	if err := strict(payload, &c); err != nil {
		return Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	if err := validNonce(c.Nonce); err != nil {
		return Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	if c.Auth != AuthNone && c.Auth != AuthHMAC {
		return Challenge{}, fmt.Errorf("challenge: unknown authentication %q", truncated(c.Auth))
	}
	return c, nil
}

// DecodeAuth parses and checks an Auth payload.
func DecodeAuth(payload []byte) (Auth, error) {
	var a Auth
	if err := strict(payload, &a); err != nil {
		return Auth{}, fmt.Errorf("auth: %w", err)
	}
	if b, err := hex.DecodeString(a.MAC); err != nil || len(b) != 0 && len(b) != sha256.Size {
		return Auth{}, errors.New("auth: mac is not a hex HMAC-SHA256")
	}
	return a, nil
}

// Payload returns the payload of a frame AppendFrame built.
func Payload(frame []byte) []byte {
	if len(frame) < HeaderSize+TrailerSize {
		return nil
	}
	return frame[HeaderSize : len(frame)-TrailerSize]
}

func truncated(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
