package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Progress is a verifying end's running count of one stream, sent while
// it verifies, so that the sender's live view shows what the receiver
// finds. Only a sender that asks for it gets it (Hello.Progress), and only
// from a listener that says it sends it (Reply.Progress): a peer of
// protocol version 2 that predates it knows neither field and neither
// asks nor sends. Progress is informational: it is not sealed, and only
// the stream's Result decides its verdict.
//
// Its payload has a fixed size, ProgressSize bytes: three big-endian
// unsigned 64-bit integers, the bytes verified, the corrupt bytes and the
// regions so far, each at most math.MaxInt64.
type Progress struct {
	Verified, Corrupt, Regions int64
}

// ProgressSize is the exact payload size of a progress frame.
const ProgressSize = 24

// Validate checks that the counts can be a verifier's: a region holds at
// least one corrupt byte, and a corrupt byte was verified.
func (p Progress) Validate() error {
	switch {
	case p.Verified < 0 || p.Corrupt < 0 || p.Regions < 0:
		return fmt.Errorf("progress: negative count (%d verified, %d corrupt, %d regions)", p.Verified, p.Corrupt, p.Regions)
	case p.Corrupt > p.Verified:
		return fmt.Errorf("progress: %d corrupt bytes of %d verified", p.Corrupt, p.Verified)
	case p.Regions > p.Corrupt:
		return fmt.Errorf("progress: %d regions with %d corrupt bytes", p.Regions, p.Corrupt)
	}
	return nil
}

// EncodeProgress returns p as a frame.
func EncodeProgress(p Progress) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var b [ProgressSize]byte
	binary.BigEndian.PutUint64(b[0:], uint64(p.Verified))
	binary.BigEndian.PutUint64(b[8:], uint64(p.Corrupt))
	binary.BigEndian.PutUint64(b[16:], uint64(p.Regions))
	return AppendFrame(nil, TypeProgress, b[:])
}

// DecodeProgress parses and checks a progress payload, which must be
// exactly ProgressSize bytes.
func DecodeProgress(payload []byte) (Progress, error) {
	if len(payload) != ProgressSize {
		return Progress{}, fmt.Errorf("progress: %d bytes, want exactly %d", len(payload), ProgressSize)
	}
	var n [3]int64
	for i := range n {
		u := binary.BigEndian.Uint64(payload[8*i:])
		if u > math.MaxInt64 {
			return Progress{}, fmt.Errorf("progress: count %d out of range", u)
		}
		n[i] = int64(u)
	}
	p := Progress{Verified: n[0], Corrupt: n[1], Regions: n[2]}
	if err := p.Validate(); err != nil {
		return Progress{}, err
	}
	return p, nil
}

// ReadProgress reads the progress frames at the head of r, handing each
// to f in order, until a frame of another type begins. It returns the
// bytes it read of that frame's header (all HeaderSize of them unless err
// is set), unchecked: the reader of that frame reads them first and
// checks them as ReadFrame does, so that they fail as they would have
// without progress frames before them. A progress frame that fails its
// checksum is a *ChecksumError; one cut short or that does not decode is
// an error too; either ends the reading.
func ReadProgress(r io.Reader, f func(Progress)) (head []byte, err error) {
	for {
		var h [HeaderSize]byte
		n, err := io.ReadFull(r, h[:])
		if err != nil || string(h[:4]) != Magic || h[4] != Version || Type(h[5]) != TypeProgress {
			return h[:n], err
		}
		if _, err := ParseHeader(h[:]); err != nil {
			return nil, err
		}
		var b [ProgressSize + TrailerSize]byte
		if m, err := io.ReadFull(r, b[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("%s frame cut short after %d of %d bytes: %w", TypeProgress, m, len(b), err)
		}
		payload, trailer := b[:ProgressSize], b[ProgressSize:]
		sum := crc32.Update(crc32.Checksum(h[:], castagnoli), castagnoli, payload)
		if got := binary.BigEndian.Uint32(trailer); got != sum {
			return nil, &ChecksumError{Type: TypeProgress, Want: sum, Got: got, Length: ProgressSize}
		}
		p, err := DecodeProgress(payload)
		if err != nil {
			return nil, err
		}
		f(p)
	}
}
