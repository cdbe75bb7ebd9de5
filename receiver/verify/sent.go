package verify

import "github.com/zerocheck/zerocheck/pattern"

// States of a Verifier's following of the pattern an unannounced stream
// may have been sent with.
const (
	sentUndecided = iota // the head is not complete yet
	sentFollowing        // every byte so far is sent.pat
	sentNone             // no other pattern explains the whole stream
)

// sentPattern is the other pattern a stream whose sender did not name
// its pattern (Options.Unannounced) may be, whole.
type sentPattern struct {
	state int
	name  string
	pat   pattern.Pattern
	seed  uint64
}

// follow checks p, the stream's bytes from offset base, against the other
// pattern the stream's head matches. The candidate is chosen once the
// head is complete, from the head alone; from then on a single byte that
// is not the candidate ends the following for good, so that a stream of
// zeros with a region of counter data is not taken for counter data.
func (v *Verifier) follow(p []byte, base int64) {
	s := &v.sent
	switch s.state {
	case sentNone:
		return
	case sentUndecided:
		if len(v.head) < headLen {
			return // decided at the stream's end if it is shorter
		}
		v.decideSent()
		if s.state != sentFollowing {
			return
		}
		// The head, checked by decideSent, may end inside p.
		inHead := v.opt.Offset + headLen - base
		p, base = p[inHead:], base+inHead
	}
	if len(p) > 0 && s.pat.Mismatch(p, base) >= 0 {
		*s = sentPattern{state: sentNone}
	}
}

// decideSent chooses the candidate from the head: only when the head is
// not the configured pattern, and is another built-in pattern.
func (v *Verifier) decideSent() {
	s := &v.sent
	s.state = sentNone
	if len(v.head) == 0 || v.pat.Mismatch(v.head, v.opt.Offset) < 0 {
		return
	}
	name, p, seed := guess(v.head, v.opt.Offset, v.opt.Seed, v.pat.String())
	if p == nil {
		return
	}
	*s = sentPattern{state: sentFollowing, name: name, pat: p, seed: seed}
}
