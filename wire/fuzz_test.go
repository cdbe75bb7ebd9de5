package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// seedFrames returns real encoded frames of each type.
func seedFrames(tb testing.TB) [][]byte {
	tb.Helper()
	hello, err := wire.EncodeHello(validForward())
	if err != nil {
		tb.Fatal(err)
	}
	abort, err := wire.EncodeHello(wire.Hello{RunID: runID, Direction: wire.Abort, Reason: "interrupted", Nonce: nonce})
	if err != nil {
		tb.Fatal(err)
	}
	finish, err := wire.EncodeHello(wire.Hello{RunID: runID, Direction: wire.Finish, Stream: 1, Bytes: 1 << 30, Nonce: nonce})
	if err != nil {
		tb.Fatal(err)
	}
	accept, err := wire.EncodeReply(wire.Reply{Version: "v1", Facts: json.RawMessage(`{"hostname":"beta"}`)})
	if err != nil {
		tb.Fatal(err)
	}
	refuse, err := wire.EncodeReply(wire.Reply{Error: "disk full"})
	if err != nil {
		tb.Fatal(err)
	}
	result, err := wire.EncodeResult(sampleReport())
	if err != nil {
		tb.Fatal(err)
	}
	clean := report.Report{Schema: report.Schema, Verdict: report.Clean, Pattern: "zeros", BytesVerified: 1 << 20, Regions: []report.Region{}, RepeatedBlocks: []report.RepeatedBlock{}}
	cleanResult, err := wire.EncodeResult(clean)
	if err != nil {
		tb.Fatal(err)
	}
	proof, err := wire.EncodeReply(wire.Reply{Version: "v2", Proof: wire.Sign(testToken, wire.Listener, listenerNonce, wire.Payload(hello))})
	if err != nil {
		tb.Fatal(err)
	}
	progress, err := wire.EncodeProgress(wire.Progress{Verified: 1 << 30, Corrupt: 1600, Regions: 8})
	if err != nil {
		tb.Fatal(err)
	}
	challenges := challengeSeeds(tb)
	auths := authSeeds(tb)
	return append([][]byte{hello, abort, finish, accept, refuse, proof, result, cleanResult, progress, handFrame(wire.TypeHello, nil)},
		append(challenges, auths...)...)
}

// challengeSeeds returns real challenge frames.
func challengeSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var frames [][]byte
	for _, c := range []wire.Challenge{
		{Nonce: listenerNonce, Auth: wire.AuthNone},
		{Nonce: listenerNonce, Auth: wire.AuthHMAC},
		{Nonce: strings.ToUpper(nonce), Auth: wire.AuthHMAC},
	} {
		b, err := wire.EncodeChallenge(c)
		if err != nil {
			tb.Fatal(err)
		}
		frames = append(frames, b)
	}
	return frames
}

// authSeeds returns real auth frames: a MAC, an upper-case one, none.
func authSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	mac := wire.Sign(testToken, wire.Dialer, listenerNonce, testHello)
	var frames [][]byte
	for _, a := range []wire.Auth{{MAC: mac}, {MAC: strings.ToUpper(mac)}, {}} {
		b, err := wire.EncodeAuth(a)
		if err != nil {
			tb.Fatal(err)
		}
		frames = append(frames, b)
	}
	return frames
}

func FuzzReadFrame(f *testing.F) {
	frames := seedFrames(f)
	for _, fr := range frames {
		f.Add(fr)
		f.Add(append(bytes.Clone(fr), frames[0]...)) // followed by another frame
		f.Add(fr[:len(fr)-1])                        // cut short
		bad := bytes.Clone(fr)
		bad[len(bad)/2] ^= 0x10 // corrupt
		f.Add(bad)
	}
	f.Add(header(v, byte(wire.TypeResult), 0, 0, wire.MaxResult))
	f.Add(header(v, byte(wire.TypeHello), 0, 0, 0x6edd0b51))
	f.Add(header(v, byte(wire.TypeChallenge), 0, 0, wire.MaxChallenge+1))
	f.Add(header(v, byte(wire.TypeAuth), 0, 0, wire.MaxAuth))
	f.Add(header(v, 6, 0, 0, 0))
	f.Add(header(v-1, byte(wire.TypeHello), 0, 0, 0)) // the previous version
	f.Add(header(v+1, byte(wire.TypeHello), 0, 0, 0))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(make([]byte, 12))
	f.Add([]byte("ZC"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, want := range allTypes {
			typ, payload, err := wire.ReadFrame(bytes.NewReader(data), want)
			if err != nil {
				if typ != 0 || payload != nil {
					t.Fatalf("want %v: error %v with type %v and %d bytes", want, err, typ, len(payload))
				}
				checkReadError(t, data, want, err)
				continue
			}
			if typ != want && typ != wire.TypeReply {
				t.Fatalf("want %v: accepted a %v frame", want, typ)
			}
			if len(payload) > wire.Max(typ) {
				t.Fatalf("%v payload of %d bytes over the bound %d", typ, len(payload), wire.Max(typ))
			}
			frame, err := wire.AppendFrame(nil, typ, payload)
			if err != nil {
				t.Fatalf("re-encoding an accepted %v frame: %v", typ, err)
			}
			if len(frame) > len(data) || !bytes.Equal(frame, data[:len(frame)]) {
				t.Fatalf("re-encoded frame\n% x\nis not a prefix of the input\n% x", frame, data)
			}
		}
	})
}

// checkReadError checks that a ReadFrame error is one of the kinds the
// package documents, and matches the input.
func checkReadError(t *testing.T, data []byte, want wire.Type, err error) {
	t.Helper()
	var nz *wire.NotZerocheckError
	var ve *wire.VersionError
	var ue *wire.UnexpectedError
	var ce *wire.ChecksumError
	switch {
	case len(data) == 0:
		if err != io.EOF {
			t.Fatalf("empty input: %v, want io.EOF", err)
		}
	case errors.As(err, &nz):
		n := min(len(data), wire.HeaderSize)
		if !bytes.Equal(nz.Got, data[:n]) {
			t.Fatalf("NotZerocheckError.Got % x, want % x", nz.Got, data[:n])
		}
		if bytes.HasPrefix(data, []byte(wire.Magic)) || bytes.HasPrefix([]byte(wire.Magic), data) {
			t.Fatalf("input starting with the magic called foreign: %v", err)
		}
	case errors.As(err, &ve):
		if len(data) < 5 || ve.Peer != int(data[4]) || ve.Peer == wire.Version {
			t.Fatalf("VersionError %d for % x", ve.Peer, data[:min(len(data), 12)])
		}
	case errors.As(err, &ue):
		if ue.Want != want || ue.Got == want || ue.Got == wire.TypeReply || wire.Max(ue.Got) == 0 || len(data) < 12 || ue.Got != wire.Type(data[5]) {
			t.Fatalf("UnexpectedError %+v wanting %v", *ue, want)
		}
	case errors.As(err, &ce):
		n := ce.Length
		if len(data) < 12+n+4 || n != int(binary.BigEndian.Uint32(data[8:12])) || ce.Want == ce.Got ||
			ce.Got != binary.BigEndian.Uint32(data[12+n:]) || ce.Type != wire.Type(data[5]) {
			t.Fatalf("ChecksumError %+v for a frame of %d bytes", *ce, len(data))
		}
	case errors.Is(err, wire.ErrTooLarge):
		if len(data) < 12 || int(binary.BigEndian.Uint32(data[8:12])) <= wire.Max(wire.Type(data[5])) {
			t.Fatalf("ErrTooLarge for a header % x", data[:min(len(data), 12)])
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		if len(data) >= 12 && len(data) >= 12+int(binary.BigEndian.Uint32(data[8:12]))+4 {
			t.Fatalf("cut short with all %d bytes present: %v", len(data), err)
		}
	default:
		// Unknown type or reserved bytes: a header-level protocol error.
		if len(data) < 12 {
			t.Fatalf("unexpected error for %d bytes: %v", len(data), err)
		}
		if _, perr := wire.ParseHeader(data); perr == nil || perr.Error() != err.Error() {
			t.Fatalf("error %v, ParseHeader says %v", err, perr)
		}
	}
}

func FuzzDecodeHello(f *testing.F) {
	for _, h := range []wire.Hello{
		validForward(),
		{RunID: runID, Stream: 3, Streams: 4, Direction: wire.Reverse, Pattern: "hex:deadbeef", Seed: 7, Duration: time.Minute, Rate: 1e9, Facts: json.RawMessage(`null`), Nonce: nonce},
		{RunID: runID, Direction: wire.Abort, Reason: "interrupted", Nonce: strings.ToUpper(nonce)},
		{RunID: runID, Direction: wire.Finish, Stream: 2, Bytes: 77, Nonce: nonce},
		{RunID: runID, Streams: 2, Direction: wire.Forward, Pattern: "zeros", Bytes: 1, Nonce: nonce, Progress: true},
	} {
		b, err := wire.EncodeHello(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(payloadOf(f, b, wire.TypeHello))
	}
	f.Add([]byte(`{"run_id":"0123456789abcdef","direction":"forward","streams":1,"pattern":"zeros","bytes":1,"facts":{"a" : [1, "<&>"]}, "new":1,"nonce":"` + nonce + `"}`))
	f.Add([]byte(`{"run_id":"0123456789abcdef","direction":"abort","facts":[1],"nonce":"` + nonce + `"}`))
	f.Add([]byte(`{"run_id":"0123456789abcdef","direction":"abort"}`)) // no nonce: a version-1 abort
	f.Add(testHello)
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		h, err := wire.DecodeHello(payload)
		if err != nil {
			return
		}
		if err := h.Validate(); err != nil {
			t.Fatalf("accepted hello fails Validate: %v", err)
		}
		b, err := wire.EncodeHello(h)
		if err != nil {
			if errors.Is(err, wire.ErrTooLarge) && len(payload) > wire.MaxHello/8 {
				t.Skip("re-encoding (HTML escapes) outgrew the bound")
			}
			t.Fatalf("EncodeHello of an accepted hello: %v", err)
		}
		p := payloadOf(t, b, wire.TypeHello)
		h2, err := wire.DecodeHello(p)
		if err != nil {
			t.Fatalf("re-encoded hello %s refused: %v", p, err)
		}
		// Facts travel as raw JSON: compare their meaning, the rest
		// exactly.
		f1, f2 := h.Facts, h2.Facts
		h.Facts, h2.Facts = nil, nil
		if !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", h2, h)
		}
		sameJSON(t, f1, f2)
		// One more round is byte-stable.
		h2.Facts = f2
		if b2, err := wire.EncodeHello(h2); err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("second encoding differs: %v\n%s\n%s", err, payloadOf(t, b2, wire.TypeHello), p)
		}
	})
}

// sameJSON checks that two raw JSON values mean the same.
func sameJSON(t *testing.T, a, b json.RawMessage) {
	t.Helper()
	if len(a) == 0 || len(b) == 0 {
		if len(a) != len(b) {
			t.Fatalf("raw JSON %q became %q", a, b)
		}
		return
	}
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("raw JSON %q: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("raw JSON %q: %v", b, err)
	}
	if !reflect.DeepEqual(va, vb) {
		t.Fatalf("raw JSON %s became %s", a, b)
	}
}

func FuzzDecodeReply(f *testing.F) {
	for _, r := range []wire.Reply{
		{Version: "v1", Facts: json.RawMessage(`{"hostname":"beta"}`)},
		{Error: "disk full", Version: "v1"},
		{Version: "v1", ResultMax: 4 << 20, Progress: true},
		{Version: "v2", Proof: wire.Sign(testToken, wire.Listener, listenerNonce, testHello)},
		{},
	} {
		b, err := wire.EncodeReply(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(payloadOf(f, b, wire.TypeReply))
	}
	f.Add([]byte(`{"facts":[1]}`))
	f.Add([]byte(`{"error":"x","facts":"y","z":{}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := wire.DecodeReply(payload)
		var re *wire.RefusedError
		switch {
		case errors.As(err, &re):
			if re.Reason == "" || re.Reason != r.Error {
				t.Fatalf("refusal reason %q, reply error %q", re.Reason, r.Error)
			}
		case err != nil:
			if _, ok := err.(*wire.RefusedError); ok {
				t.Fatalf("unwrapped refusal %v not matched", err)
			}
			return
		case r.Error != "":
			t.Fatalf("reply with error %q accepted", r.Error)
		}
		b, err := wire.EncodeReply(r)
		if err != nil {
			if errors.Is(err, wire.ErrTooLarge) && len(payload) > wire.MaxReply/8 {
				t.Skip("re-encoding (HTML escapes) outgrew the bound")
			}
			t.Fatalf("EncodeReply of a decoded reply: %v", err)
		}
		p := payloadOf(t, b, wire.TypeReply)
		r2, err2 := wire.DecodeReply(p)
		var re2 *wire.RefusedError
		switch {
		case re != nil:
			if !errors.As(err2, &re2) || re2.Reason != re.Reason {
				t.Fatalf("refusal %v re-decoded as %v", err, err2)
			}
		case err2 != nil:
			t.Fatalf("accepted reply re-decoded as %v\n%s", err2, p)
		}
		f1, f2 := r.Facts, r2.Facts
		r.Facts, r2.Facts = nil, nil
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", r2, r)
		}
		sameJSON(t, f1, f2)
	})
}

func FuzzDecodeResult(f *testing.F) {
	for _, fr := range seedFrames(f) {
		if fr[5] == byte(wire.TypeResult) {
			f.Add(payloadOf(f, fr, wire.TypeResult))
		}
	}
	rep, _ := json.Marshal(sampleReport())
	f.Add(rep)
	f.Add([]byte(`{"schema":"zerocheck.report/v1","verdict":"incomplete","error":"x","start":"2026-01-01T00:00:00+14:00","regions":null}`))
	f.Add([]byte(`{"schema":"zerocheck.report/v1","verdict":"corrupt","control_corruption":"crc","bytes_verified":1}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := wire.DecodeResult(payload)
		if err != nil {
			if !reflect.DeepEqual(r, report.Report{}) {
				t.Fatalf("error %v with a report", err)
			}
			return
		}
		if err := r.Check(); err != nil {
			t.Fatalf("accepted report fails Check: %v", err)
		}
		b, err := wire.EncodeResult(r)
		if err != nil {
			t.Fatalf("EncodeResult of an accepted report: %v", err)
		}
		p := payloadOf(t, b, wire.TypeResult)
		r2, err := wire.DecodeResult(p)
		if err != nil {
			t.Fatalf("re-encoded report refused: %v\n%s", err, p)
		}
		// Re-encoding is stable from the first round on.
		b2, err := wire.EncodeResult(r2)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("second encoding differs: %v\n%s\n%s", err, p, payloadOf(t, b2, wire.TypeResult))
		}
	})
}

// payloadMutations returns seeds for the challenge and auth decoders:
// each payload as is and changed in the ways a peer or the fuzzer might.
func payloadMutations(payloads [][]byte) [][]byte {
	var out [][]byte
	for _, p := range payloads {
		out = append(out, p,
			append(bytes.Clone(p), '}'),                        // a stray closer
			append(bytes.Clone(p), " {}"...),                   // a second value
			p[:len(p)-1],                                       // cut short
			bytes.Replace(p, []byte(`":"`), []byte(`":"0`), 1), // one digit more
			bytes.ToUpper(p),                                   // key names and values in upper case
		)
		bad := bytes.Clone(p)
		bad[len(bad)/2] ^= 0x01 // one bit flipped
		out = append(out, bad)
	}
	return out
}

func FuzzDecodeChallenge(f *testing.F) {
	var payloads [][]byte
	for _, fr := range challengeSeeds(f) {
		payloads = append(payloads, payloadOf(f, fr, wire.TypeChallenge))
	}
	for _, p := range payloadMutations(payloads) {
		f.Add(p)
	}
	f.Add([]byte(`{"nonce":"` + listenerNonce + `","auth":"hmac-sha1"}`))
	f.Add([]byte(`{"nonce":"` + listenerNonce[:63] + `","auth":"none","x":[1]}`))
	f.Add([]byte(`{"auth":"none","nonce":"` + listenerNonce + `","nonce":"00"}`))
	f.Add([]byte(`{"Nonce":"` + listenerNonce + `","AUTH":"none"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := wire.DecodeChallenge(payload)
		if err != nil {
			if c != (wire.Challenge{}) {
				t.Fatalf("error %v with a challenge %+v", err, c)
			}
			return
		}
		if b, err := hex.DecodeString(c.Nonce); err != nil || len(b) != 32 {
			t.Fatalf("accepted nonce %q", c.Nonce)
		}
		if c.Auth != wire.AuthNone && c.Auth != wire.AuthHMAC {
			t.Fatalf("accepted auth %q", c.Auth)
		}
		b, err := wire.EncodeChallenge(c)
		if err != nil {
			t.Fatalf("EncodeChallenge of an accepted challenge: %v", err)
		}
		p := payloadOf(t, b, wire.TypeChallenge)
		if !bytes.Equal(p, wire.Payload(b)) {
			t.Fatalf("Payload %q, ReadFrame %q", wire.Payload(b), p)
		}
		c2, err := wire.DecodeChallenge(p)
		if err != nil {
			t.Fatalf("re-encoded challenge %s refused: %v", p, err)
		}
		if c2 != c {
			t.Fatalf("round trip:\n got %+v\nwant %+v", c2, c)
		}
		if b2, err := wire.EncodeChallenge(c2); err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("second encoding differs: %v", err)
		}
	})
}

func FuzzDecodeAuth(f *testing.F) {
	var payloads [][]byte
	for _, fr := range authSeeds(f) {
		payloads = append(payloads, payloadOf(f, fr, wire.TypeAuth))
	}
	for _, p := range payloadMutations(payloads) {
		f.Add(p)
	}
	mac := wire.Sign(testToken, wire.Dialer, listenerNonce, testHello)
	f.Add([]byte(`{"mac":"` + mac[:62] + `"}`))
	f.Add([]byte(`{"mac":"` + mac + `","mac":""}`))
	f.Add([]byte(`{"MAC":"` + mac + `","x":{"y":[null]}}`))
	f.Add([]byte(`{"mac":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		a, err := wire.DecodeAuth(payload)
		if err != nil {
			if a != (wire.Auth{}) {
				t.Fatalf("error %v with an auth %+v", err, a)
			}
			return
		}
		if b, err := hex.DecodeString(a.MAC); err != nil || len(b) != 0 && len(b) != 32 {
			t.Fatalf("accepted mac %q", a.MAC)
		}
		// An accepted MAC verifies exactly when it is the right one, in
		// either case.
		if got, want := wire.Verify(testToken, wire.Dialer, listenerNonce, testHello, a.MAC), strings.EqualFold(a.MAC, mac); got != want {
			t.Fatalf("Verify(%q) = %v, want %v", a.MAC, got, want)
		}
		b, err := wire.EncodeAuth(a)
		if err != nil {
			t.Fatalf("EncodeAuth of an accepted auth: %v", err)
		}
		p := payloadOf(t, b, wire.TypeAuth)
		if !bytes.Equal(p, wire.Payload(b)) {
			t.Fatalf("Payload %q, ReadFrame %q", wire.Payload(b), p)
		}
		a2, err := wire.DecodeAuth(p)
		if err != nil {
			t.Fatalf("re-encoded auth %s refused: %v", p, err)
		}
		if a2 != a {
			t.Fatalf("round trip:\n got %+v\nwant %+v", a2, a)
		}
		if b2, err := wire.EncodeAuth(a2); err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("second encoding differs: %v", err)
		}
	})
}

func FuzzDecodeProgress(f *testing.F) {
	for _, p := range []wire.Progress{{}, {Verified: 1 << 30, Corrupt: 1600, Regions: 8}, {Verified: math.MaxInt64, Corrupt: math.MaxInt64, Regions: math.MaxInt64}} {
		b, err := wire.EncodeProgress(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire.Payload(b))
	}
	f.Add(bytes.Repeat([]byte{0xff}, 24))
	f.Add(make([]byte, 23))
	f.Add(make([]byte, 25))
	f.Fuzz(func(t *testing.T, payload []byte) {
		p, err := wire.DecodeProgress(payload)
		if err != nil {
			if p != (wire.Progress{}) {
				t.Fatalf("error %v with a progress %+v", err, p)
			}
			return
		}
		if len(payload) != wire.ProgressSize {
			t.Fatalf("accepted %d bytes", len(payload))
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted progress fails Validate: %v", err)
		}
		// The layout is fixed: one payload per count, and back.
		b, err := wire.EncodeProgress(p)
		if err != nil || !bytes.Equal(wire.Payload(b), payload) {
			t.Fatalf("re-encoded %+v as %x (%v), from %x", p, wire.Payload(b), err, payload)
		}
	})
}

func FuzzReadProgress(f *testing.F) {
	frames := seedFrames(f)
	progress := frames[8]
	if progress[5] != byte(wire.TypeProgress) {
		f.Fatal("seedFrames moved its progress frame")
	}
	for _, fr := range frames {
		f.Add(append(bytes.Clone(progress), fr...))
	}
	f.Add(bytes.Repeat(progress, 3))
	f.Add(progress[:30])
	bad := bytes.Clone(progress)
	bad[20] ^= 0x04
	f.Add(bad)
	f.Add(header(v, 6, 0, 0, 0x6edd0b51))
	f.Add(header(v, 6, 0, 0, 23))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		var got []wire.Progress
		head, err := wire.ReadProgress(src, func(p wire.Progress) { got = append(got, p) })
		// Every progress handed on is valid, and is the input's next
		// frame, byte for byte.
		off := 0
		for _, p := range got {
			b, eerr := wire.EncodeProgress(p)
			if eerr != nil || off+len(b) > len(data) || !bytes.Equal(b, data[off:off+len(b)]) {
				t.Fatalf("progress %+v (%v) is not the frame at %d", p, eerr, off)
			}
			off += len(b)
		}
		read := len(data) - src.Len()
		switch {
		case err == nil:
			// Stopped at the whole header of another frame, left for its
			// reader.
			if len(head) != wire.HeaderSize || !bytes.Equal(head, data[off:off+wire.HeaderSize]) || read != off+wire.HeaderSize {
				t.Fatalf("head %x at %d after reading %d bytes", head, off, read)
			}
			if string(head[:4]) == wire.Magic && head[4] == wire.Version && wire.Type(head[5]) == wire.TypeProgress {
				t.Fatalf("stopped at a progress header %x", head)
			}
		case len(head) > 0:
			// A header cut short is left for its reader too.
			if len(head) >= wire.HeaderSize || !bytes.Equal(head, data[off:]) {
				t.Fatalf("head %x with %v at %d", head, err, off)
			}
		default:
			// A bad progress frame: nothing read past its own bytes.
			if read > off+wire.HeaderSize+wire.ProgressSize+wire.TrailerSize {
				t.Fatalf("read %d bytes, past the progress frame at %d: %v", read, off, err)
			}
		}
	})
}

// FuzzDecodePeerFacts: a dialer's facts frame either decodes to facts
// that are absent or a JSON object of the current version, re-encoding
// to a payload that decodes the same, or fails with nothing kept.
func FuzzDecodePeerFacts(f *testing.F) {
	f.Add([]byte(`{"facts_version":1,"facts":{"hostname":"alpha"}}`))
	f.Add([]byte(`{"facts_version":1}`))
	f.Add([]byte(`{"facts_version":2,"facts":{"x":1}}`))
	f.Add([]byte(`{"facts_version":1,"facts":[1]}`))
	f.Add([]byte(`{"facts_version":1,"facts":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		p, err := wire.DecodePeerFacts(payload)
		if err != nil {
			if p.FactsVersion != 0 || p.Facts != nil {
				t.Fatalf("error %v with facts %+v", err, p)
			}
			return
		}
		if len(p.Facts) > 0 && string(p.Facts) != "null" && (p.Facts[0] != '{' || p.FactsVersion != wire.FactsVersion) {
			t.Fatalf("kept facts %q of version %d", p.Facts, p.FactsVersion)
		}
		b, err := wire.EncodePeerFacts(p)
		if err != nil {
			return // larger than a frame once compacted is not possible, but not this test's point
		}
		q, err := wire.DecodePeerFacts(payloadOf(t, b, wire.TypeFacts))
		if err != nil || !bytes.Equal(compact(t, q.Facts), compact(t, p.Facts)) {
			t.Fatalf("round trip: %+v %v, want %+v", q, err, p)
		}
	})
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
