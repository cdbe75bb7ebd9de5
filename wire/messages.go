package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/report"
)

// Direction says which end of a connection sends the pattern.
type Direction string

// The directions. Abort and Finish are control connections that carry no
// stream: Abort tells the listener that the dialer's run was interrupted;
// Finish, sent before a timed stream is half-closed, gives the number of
// bytes its sender wrote (Bytes), so that a sender that died (whose
// kernel closes the stream just as a finished one does) is not taken for
// a finished one.
const (
	Forward Direction = "forward" // the dialing end sends, the listener verifies
	Reverse Direction = "reverse" // the listener sends, the dialing end verifies
	Abort   Direction = "abort"
	Finish  Direction = "finish"
)

// Bounds on a Hello's fields. DecodeHello refuses any value outside
// them, so that nothing a peer plans can overflow the arithmetic done on
// it (a run's total is at most MaxStreams*MaxBytes, far below 2^63).
const (
	// MaxStreams bounds a run's streams, both directions together.
	MaxStreams = 128
	// MaxDuration bounds a timed stream's planned duration.
	MaxDuration = 7 * 24 * time.Hour
	// MaxBytes bounds a stream's planned size: 1 PiB, a day of a
	// 100 Gbit/s link.
	MaxBytes = 1 << 50
	// MaxSent bounds the bytes a Finish says a timed stream sent: 1 EiB,
	// more than MaxDuration at 10 Tbit/s.
	MaxSent = 1 << 60
	// MinRate is the smallest rate cap: below it a stream's writes are so
	// far apart that a peer's idle timeout would take it for dead.
	MinRate = 8000
	// MaxRate is the largest rate cap, in bits per second: 1 Pbit/s.
	MaxRate = 1_000_000_000_000_000
	// MaxCheck bounds the health check's secret (see Hello.Check).
	MaxCheck = 64
	runIDLen = 16 // hex digits
)

// Hello opens a connection: the dialing end's plan for this stream.
type Hello struct {
	// RunID ties the parallel streams of one run together.
	RunID     string    `json:"run_id"`
	Stream    int       `json:"stream"`
	Streams   int       `json:"streams"`
	Direction Direction `json:"direction"`
	Pattern   string    `json:"pattern"`
	Seed      uint64    `json:"seed"`
	// Bytes is this stream's planned size; 0 means the sender stops when
	// Duration is up.
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
	// Rate caps a reverse stream's sender, in bits per second; 0: none.
	Rate int64 `json:"rate_bps"`
	// Reason says why a run was aborted (Direction Abort).
	Reason  string `json:"reason,omitempty"`
	Version string `json:"zerocheck_version,omitempty"`
	// Facts are the dialing host's facts (see FactsVersion). With a
	// token, a dialer sends none here but a PeerFacts after the
	// listener's proof.
	Facts Facts `json:"facts,omitempty"`
	// Nonce is the dialer's fresh nonce: the listener's proof covers it,
	// so a recorded proof cannot answer another connection.
	Nonce string `json:"nonce"`
	// Progress asks the listener of a forward stream for Progress frames
	// while it verifies. A listener that predates them ignores it (an
	// unknown field) and sends none.
	Progress bool `json:"progress,omitempty"`
	// Check is set by a receiver's own health check only: that process's
	// secret, which marks the connection as the check's (outside the
	// connection and run limits) by what it carries, not by where it
	// comes from.
	Check string `json:"check,omitempty"`
	// ResultMax, when set, is the largest Result the dialer takes for a
	// stream it sends (a forward stream): the listener shrinks its report
	// to fit, as EncodeResultMax does. At least MinResultMax.
	ResultMax int `json:"result_max,omitempty"`
	// FactsAfter, set by a dialer with a token, says that its host facts
	// are not in this Hello: it sends them in a Facts frame once the
	// listener's proof has been checked, if the Reply grants FactsAfter.
	// A listener that predates it neither grants nor reads the frame, and
	// the dialer then sends no facts at all, rather than leak them.
	FactsAfter bool `json:"facts_after,omitempty"`
}

// MinResultMax is the least a Hello may ask a Result to fit in: a report
// without regions, with host facts.
const MinResultMax = 64 << 10

// Validate checks every field a listener acts on.
func (h *Hello) Validate() error {
	if len(h.RunID) != runIDLen {
		return fmt.Errorf("hello: run id %q is not %d hex digits", h.RunID, runIDLen)
	}
	if _, err := hex.DecodeString(h.RunID); err != nil {
		return fmt.Errorf("hello: run id %q is not %d hex digits", h.RunID, runIDLen)
	}
	if err := validNonce(h.Nonce); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	// Every number is in range whatever the direction, even where the
	// listener ignores it: no peer's value reaches arithmetic unchecked.
	maxBytes := int64(MaxBytes) // planned
	if h.Direction == Finish {
		maxBytes = MaxSent // done
	}
	switch {
	case len(h.Check) > MaxCheck:
		return fmt.Errorf("hello: health check secret of %d bytes, want at most %d", len(h.Check), MaxCheck)
	case h.Streams < 0 || h.Streams > MaxStreams:
		return fmt.Errorf("hello: %d streams, want 1 to %d", h.Streams, MaxStreams)
	case h.Stream < 0 || h.Stream >= MaxStreams:
		return fmt.Errorf("hello: stream %d out of range (0 to %d)", h.Stream, MaxStreams-1)
	case h.Seed > pattern.MaxSeed:
		return fmt.Errorf("hello: seed %d out of range", h.Seed)
	case h.Bytes < 0 || h.Bytes > maxBytes:
		return fmt.Errorf("hello: size %d out of range (0 to %d)", h.Bytes, maxBytes)
	case h.Duration < 0 || h.Duration > MaxDuration:
		return fmt.Errorf("hello: duration %v out of range (0 to %v)", h.Duration, MaxDuration)
	case h.Rate < 0 || h.Rate > MaxRate || h.Rate > 0 && h.Rate < MinRate:
		return fmt.Errorf("hello: rate %d bit/s, want 0 (none) or %d to %d", h.Rate, MinRate, int64(MaxRate))
	}
	switch h.Direction {
	case Abort, Finish:
		return nil
	}
	switch {
	case h.Direction != Forward && h.Direction != Reverse:
		return fmt.Errorf("hello: unknown direction %q", h.Direction)
	case h.Streams < 1:
		return fmt.Errorf("hello: %d streams, want 1 to %d", h.Streams, MaxStreams)
	case h.Stream >= h.Streams:
		return fmt.Errorf("hello: stream %d of %d", h.Stream, h.Streams)
	case h.Bytes == 0 && h.Duration == 0:
		return errors.New("hello: neither a size nor a duration")
	}
	if h.ResultMax != 0 && (h.ResultMax < MinResultMax || h.ResultMax > MaxResult) {
		return fmt.Errorf("hello: result max %d, want 0 (none) or %d to %d", h.ResultMax, MinResultMax, MaxResult)
	}
	if _, err := pattern.Parse(h.Pattern, h.Seed); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	return validFacts(h.Facts)
}

// validFacts accepts no facts or a JSON object.
func validFacts(f json.RawMessage) error {
	if len(f) == 0 || bytes.Equal(f, []byte("null")) {
		return nil
	}
	if f[0] != '{' {
		return errors.New("facts are not a JSON object")
	}
	return nil
}

// Reply answers a Hello.
type Reply struct {
	// Error, when set, refuses the connection and says why.
	Error string `json:"error,omitempty"`
	// ControlCorruption is set with Error when the hello failed its
	// checksum: the control channel was corrupted on its way here.
	ControlCorruption string `json:"control_corruption,omitempty"`
	Version           string `json:"zerocheck_version,omitempty"`
	// Facts are the listener's host facts (see FactsVersion): a Reply
	// follows the dialer's proof, so with a token only a dialer that
	// proved it learns them.
	Facts Facts `json:"facts,omitempty"`
	// Proof is the listener's signature (see Sign, role Listener) when it
	// checked a token: the dialer's evidence that it reached a receiver
	// holding the token too. Results are signed on their own (see
	// ListenerResult).
	Proof string `json:"proof,omitempty"`
	// ResultMax, when set, is the largest Result this listener takes for
	// a stream it sends (a reverse stream): the dialer shrinks its report
	// to fit, as EncodeResultMax does.
	ResultMax int `json:"result_max,omitempty"`
	// Progress says that this listener sends Progress frames on this
	// stream, as its Hello asked: without it, none may come.
	Progress bool `json:"progress,omitempty"`
	// FactsAfter says that this listener reads the Facts frame its
	// Hello announced (Hello.FactsAfter): without it, none may be sent.
	FactsAfter bool `json:"facts_after,omitempty"`
}

// RefusedError is a listener's refusal of a Hello. ControlCorruption is
// set when the reason was a hello corrupted in transit.
type RefusedError struct{ Reason, ControlCorruption string }

func (e *RefusedError) Error() string { return "receiver refused the run: " + e.Reason }

// EncodeHello returns h as a frame.
func EncodeHello(h Hello) ([]byte, error) { return encode(TypeHello, h) }

// EncodeReply returns r as a frame.
func EncodeReply(r Reply) ([]byte, error) { return encode(TypeReply, r) }

func encode(t Type, v any) ([]byte, error) { return encodeMax(t, v, 0) }

// encodeMax is encode with a tighter bound on the payload (0: the type's).
func encodeMax(t Type, v any, max int) ([]byte, error) {
	p, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if max > 0 && len(p) > max {
		return nil, fmt.Errorf("%s of %d bytes: %w (limit %d)", t, len(p), ErrTooLarge, max)
	}
	return AppendFrame(nil, t, p)
}

// DecodeHello parses and validates a Hello payload.
func DecodeHello(payload []byte) (Hello, error) {
	var h Hello
	if err := strict(payload, &h); err != nil {
		return Hello{}, fmt.Errorf("hello: %w", err)
	}
	return h, h.Validate()
}

// DecodeReply parses a Reply payload; a refusal is a *RefusedError.
func DecodeReply(payload []byte) (Reply, error) {
	var r Reply
	if err := strict(payload, &r); err != nil {
		return Reply{}, fmt.Errorf("reply: %w", err)
	}
	if r.Error != "" {
		return r, &RefusedError{Reason: r.Error, ControlCorruption: r.ControlCorruption}
	}
	return r, validFacts(r.Facts)
}

// strict decodes one JSON value with nothing after it. Unknown fields are
// allowed: a newer peer of the same version may add some.
func strict(payload []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(payload))
	if err := d.Decode(v); err != nil {
		return err
	}
	// More alone misses a stray '}' or ']': it reports the end of an
	// enclosing value there. Only white space may follow.
	if d.More() || int(d.InputOffset()) != len(bytes.TrimRight(payload, " \t\r\n")) {
		return errors.New("trailing data after the message")
	}
	return nil
}

// EncodeResult returns a stream's report as a frame. A report too large
// for one frame (many regions with long captures) loses its captured
// bytes first and its detailed regions after that; the counts stay exact.
func EncodeResult(r report.Report) ([]byte, error) { return EncodeResultMax(r, 0) }

// EncodeResultMax is EncodeResult for a reader that takes at most max
// bytes of payload (0: MaxResult).
func EncodeResultMax(r report.Report, max int) ([]byte, error) {
	return encodeResultMax(ResultFrom(r), max)
}

func encodeResultMax(r Result, max int) ([]byte, error) {
	b, err := encodeMax(TypeResult, r, max)
	if !errors.Is(err, ErrTooLarge) {
		return b, err
	}
	regions := make([]Region, len(r.Regions))
	for i, g := range r.Regions {
		g.Expected, g.Actual, g.Truncated = nil, nil, true
		regions[i] = g
	}
	r.Regions = regions
	if b, err = encodeMax(TypeResult, r, max); !errors.Is(err, ErrTooLarge) {
		return b, err
	}
	r.Regions, r.RepeatedBlocks = nil, nil
	return encodeMax(TypeResult, r, max)
}

// DecodeResult parses and checks a stream's report, keeping what
// DecodeResultWithin keeps under the widest limits.
func DecodeResult(payload []byte) (report.Report, error) {
	return DecodeResultWithin(payload, ResultLimits{})
}
