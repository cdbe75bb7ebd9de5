// Package wire is zerocheck's control protocol: the framed messages a
// sender and a receiver exchange around the bare pattern stream.
//
// A connection opens with a handshake of four messages (see Auth): a
// Hello from the dialing end, a Challenge from the listening end, the
// dialer's Auth, and the listener's Reply. Then one end sends the bare
// pattern from stream offset 0 and half-closes; the end that verified it
// answers with a Result, followed, when a token is in use, by an Auth
// frame that seals it (see ListenerResult). A sender that asks may get
// fixed-size Progress frames on a forward stream while it sends, before
// the Result. Every message is a frame:
//
//	magic "ZCHK" | version (1 byte) | type (1 byte) | 0 (2 bytes) |
//	length (4 bytes, big endian) | payload (JSON) | CRC32C (4 bytes)
//
// (a Progress frame's payload is binary, of a fixed size).
//
// The CRC32C covers header and payload. A frame's length is checked
// against the bound of its type before anything is read, and the payload
// buffer grows with the bytes that actually arrive, never with the length
// the peer claims: a lying or corrupt length costs at most the bound.
package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf8"
)

// Magic opens every frame.
const Magic = "ZCHK"

// Version is the protocol version this package speaks. A peer with
// another version is refused with a VersionError.
const Version = 2

// HeaderSize and TrailerSize frame every payload.
const (
	HeaderSize  = 12
	TrailerSize = 4
)

// Type is a frame's message type.
type Type uint8

// The message types.
const (
	// TypeHello opens a connection: the dialing end's plan and facts.
	TypeHello Type = 1
	// TypeReply answers a Hello: accepted with the listener's facts, or
	// refused with a reason.
	TypeReply Type = 2
	// TypeResult carries the verifying end's report of one stream.
	TypeResult Type = 3
	// TypeChallenge answers a Hello with a nonce to sign (see Auth).
	TypeChallenge Type = 4
	// TypeAuth carries the dialer's signature of the challenge.
	TypeAuth Type = 5
	// TypeProgress carries a verifying end's running count of a stream
	// (see Progress).
	TypeProgress Type = 6
	// TypeFacts carries the dialer's host facts when a token is in use:
	// sent only once the listener has proved the token (see PeerFacts).
	TypeFacts Type = 7
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeReply:
		return "reply"
	case TypeResult:
		return "result"
	case TypeChallenge:
		return "challenge"
	case TypeAuth:
		return "auth"
	case TypeProgress:
		return "progress"
	case TypeFacts:
		return "facts"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Bounds on payload length, per type. A handshake carries host facts
// (a few KiB); a result carries up to --max-regions regions with their
// captured bytes.
const (
	MaxHello     = 64 << 10
	MaxReply     = 64 << 10
	MaxResult    = 32 << 20
	MaxChallenge = 1 << 10
	MaxAuth      = 1 << 10
	MaxFacts     = 64 << 10
)

// Max returns the payload bound of type t, 0 for an unknown type.
func Max(t Type) int {
	switch t {
	case TypeHello:
		return MaxHello
	case TypeReply:
		return MaxReply
	case TypeResult:
		return MaxResult
	case TypeChallenge:
		return MaxChallenge
	case TypeAuth:
		return MaxAuth
	case TypeProgress:
		return ProgressSize
	case TypeFacts:
		return MaxFacts
	}
	return 0
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// NotZerocheckError reports a peer whose first bytes are not a frame: a
// plain stream, another protocol, or a zerocheck in --raw mode.
type NotZerocheckError struct {
	Got []byte // the first bytes received
}

func (e *NotZerocheckError) Error() string {
	return fmt.Sprintf("peer does not speak the zerocheck protocol (first bytes %s); use --raw for a plain stream", quote(e.Got))
}

// VersionError reports a zerocheck peer that speaks another version.
type VersionError struct {
	Peer int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("peer speaks zerocheck protocol version %d, this zerocheck speaks %d: run the same zerocheck release on both hosts", e.Peer, Version)
}

// ChecksumError reports a frame whose CRC32C does not match: the control
// channel itself was corrupted in transit. It is corruption evidence, not
// a mere protocol error.
type ChecksumError struct {
	Type      Type
	Want, Got uint32
	Length    int
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("control channel corrupt: %s frame (%d bytes) has CRC32C %#08x, computed %#08x", e.Type, e.Length, e.Got, e.Want)
}

// ErrTooLarge is wrapped by the error for a frame longer than its bound.
var ErrTooLarge = errors.New("frame too large")

// UnexpectedError reports a valid frame of the wrong type.
type UnexpectedError struct {
	Want, Got Type
}

func (e *UnexpectedError) Error() string {
	return fmt.Sprintf("protocol error: expected a %s frame, got a %s frame", e.Want, e.Got)
}

// AppendFrame appends a frame of type t carrying payload to b. It fails
// when the payload exceeds the type's bound: a peer would refuse it.
func AppendFrame(b []byte, t Type, payload []byte) ([]byte, error) {
	if max := Max(t); max == 0 || len(payload) > max {
		return b, fmt.Errorf("%s frame of %d bytes: %w (limit %d)", t, len(payload), ErrTooLarge, max)
	}
	start := len(b)
	b = append(b, Magic...)
	b = append(b, Version, byte(t), 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli)), nil
}

// WriteFrame writes one frame in a single write.
func WriteFrame(w io.Writer, t Type, payload []byte) error {
	b, err := AppendFrame(nil, t, payload)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Header is a parsed frame header.
type Header struct {
	Type   Type
	Length int
}

// ParseHeader checks a frame header: magic, version, type, and the length
// against the type's bound.
func ParseHeader(h []byte) (Header, error) {
	if len(h) < HeaderSize {
		return Header{}, io.ErrUnexpectedEOF
	}
	if string(h[:4]) != Magic {
		return Header{}, &NotZerocheckError{Got: bytes.Clone(h[:HeaderSize])}
	}
	if h[4] != Version {
		return Header{}, &VersionError{Peer: int(h[4])}
	}
	t := Type(h[5])
	n := binary.BigEndian.Uint32(h[8:12])
	max := Max(t)
	switch {
	case max == 0:
		return Header{}, fmt.Errorf("protocol error: unknown frame type %d", h[5])
	case h[6] != 0 || h[7] != 0:
		return Header{}, fmt.Errorf("protocol error: reserved header bytes %#02x %#02x are not zero", h[6], h[7])
	case n > uint32(max):
		return Header{}, fmt.Errorf("%s frame claims %d bytes: %w (limit %d)", t, n, ErrTooLarge, max)
	case t == TypeProgress && n != ProgressSize:
		return Header{}, fmt.Errorf("protocol error: %s frame claims %d bytes, not %d", t, n, ProgressSize)
	}
	return Header{Type: t, Length: int(n)}, nil
}

// ReadFrame reads one frame of type want and returns its payload. A frame
// of another type is an *UnexpectedError, except that a Reply may always
// arrive (a refusal). The payload buffer grows only as bytes arrive, and
// never past the frame's length.
func ReadFrame(r io.Reader, want Type) (Type, []byte, error) {
	return ReadFrameMax(r, want, 0)
}

// ReadFrameMax is ReadFrame with a tighter bound, max bytes (0: the
// type's own), on a frame of type want: what the reader has said it
// takes.
func ReadFrameMax(r io.Reader, want Type, max int) (Type, []byte, error) {
	return ReadFrameAdmit(r, want, max, nil)
}

// ReadFrameAdmit is ReadFrameMax that calls admit, when set, with the
// frame's checked header before it reads the payload: the reader can
// reserve the memory the frame will take, or refuse it (admit's error
// is returned).
func ReadFrameAdmit(r io.Reader, want Type, max int, admit func(Header) error) (Type, []byte, error) {
	var h [HeaderSize]byte
	if n, err := io.ReadFull(r, h[:]); err != nil {
		if n > 0 && string(h[:min(n, 4)]) != Magic[:min(n, 4)] {
			return 0, nil, &NotZerocheckError{Got: bytes.Clone(h[:n])}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("frame header cut short after %d bytes: %w", n, err)
		}
		return 0, nil, err
	}
	hd, err := ParseHeader(h[:])
	if err != nil {
		return 0, nil, err
	}
	if hd.Type != want && hd.Type != TypeReply {
		return 0, nil, &UnexpectedError{Want: want, Got: hd.Type}
	}
	if hd.Type == want && max > 0 && hd.Length > max {
		return 0, nil, fmt.Errorf("%s frame claims %d bytes: %w (this end takes %d)", hd.Type, hd.Length, ErrTooLarge, max)
	}
	if admit != nil {
		if err := admit(hd); err != nil {
			return 0, nil, err
		}
	}
	b, err := readGrowing(r, hd.Length+TrailerSize)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("%s frame cut short after %d of %d bytes: %w", hd.Type, len(b), hd.Length+TrailerSize, err)
	}
	payload, trailer := b[:hd.Length], b[hd.Length:]
	sum := crc32.Update(crc32.Checksum(h[:], castagnoli), castagnoli, payload)
	if got := binary.BigEndian.Uint32(trailer); got != sum {
		return 0, nil, &ChecksumError{Type: hd.Type, Want: sum, Got: got, Length: hd.Length}
	}
	return hd.Type, payload, nil
}

// readGrowing reads n bytes into a buffer that starts small and doubles as
// bytes arrive, never past n: what a lying length costs is what the peer
// really sent, and a whole frame holds no slack.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, 64<<10))
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), len(b)+min(cap(b), n-len(b)))
			copy(nb, b)
			b = nb
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil && len(b) < n {
			return b, err
		}
	}
	return b, nil
}

// quote shows the first bytes a foreign peer sent: text as text, anything
// else as hex, so "GET / HTTP/1.1" and a stream of zeros both read well.
func quote(b []byte) string {
	if len(b) > 0 && utf8.Valid(b) {
		printable := true
		for _, c := range string(b) {
			if c < 0x20 && c != '\r' && c != '\n' && c != '\t' || c == 0x7f {
				printable = false
				break
			}
		}
		if printable {
			return fmt.Sprintf("%q", b)
		}
	}
	return fmt.Sprintf("% x", b)
}
