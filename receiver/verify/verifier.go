// Package verify verifies byte streams against a pattern and analyses
// the corruption it finds.
//
// A Verifier is an io.Writer: put it behind any reader (a pipe, a file, a
// socket) and every byte written to it is checked against the pattern at
// its stream offset. Corrupt bytes are clustered into regions and each
// region is classified (bit flip, zeroing, displaced data, 16-byte block
// corruption, burst). The result is a report.Report.
//
// Results never depend on how the stream is cut into writes: a 1-byte
// write and a 64 MiB write see the same regions.
package verify

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"sync"
	"time"

	"github.com/zerocheck/zerocheck/pattern"
	"github.com/zerocheck/zerocheck/report"
)

// Defaults for Options.
const (
	DefaultMergeGap     = 16
	DefaultMaxRegions   = 1000
	DefaultCaptureLimit = 4096
)

// Limits that keep memory bounded whatever the input.
const (
	// MaxMergeGap bounds --merge-gap: a larger gap would merge a whole
	// stream into one region and say nothing useful.
	MaxMergeGap = 1 << 20
	// MaxCaptureLimit bounds the bytes kept per detailed region.
	MaxCaptureLimit = 1 << 20
	// MaxDetailedRegions bounds --max-regions.
	MaxDetailedRegions = 1 << 20
	// headLen is how much of the stream start is kept to guess which
	// pattern a mismatching peer sent.
	headLen = 4096
	// scanLen is the window compared byte by byte after a mismatch.
	scanLen = 1024
	// context is one 16-byte line of context before and after a region.
	ctxLine = 16
)

// Options configure a Verifier.
type Options struct {
	Pattern pattern.Pattern
	Seed    uint64
	// Stream numbers the stream in reports (parallel connections).
	Stream int
	// MergeGap: two corrupt bytes belong to one region when fewer than
	// MergeGap intact bytes separate them. 0 means DefaultMergeGap.
	MergeGap int
	// MaxRegions is how many regions are detailed; later ones are only
	// counted. 0 means DefaultMaxRegions.
	MaxRegions int
	// CaptureLimit caps the expected/actual bytes kept per region.
	// 0 means DefaultCaptureLimit.
	CaptureLimit int
	// Offset is the pattern offset of the stream's first byte (gen
	// --offset); reported offsets are pattern offsets.
	Offset int64
	// Unannounced says the sender did not name its pattern (verify on a
	// pipe, recv --raw): a stream that is another built-in pattern from
	// its first byte to its last is then reported as that pattern
	// (report.Report.PatternSent), verdict mismatch, not as corruption.
	// A protocol run leaves it unset: its sender named its pattern.
	Unannounced bool
}

// Validate fills defaults and checks bounds.
func (o *Options) Validate() error {
	if o.Pattern == nil {
		return errors.New("receiver: no pattern")
	}
	if o.MergeGap == 0 {
		o.MergeGap = DefaultMergeGap
	}
	if o.MaxRegions == 0 {
		o.MaxRegions = DefaultMaxRegions
	}
	if o.CaptureLimit == 0 {
		o.CaptureLimit = DefaultCaptureLimit
	}
	switch {
	case o.MergeGap < 1 || o.MergeGap > MaxMergeGap:
		return errors.New("receiver: merge gap must be between 1 and 1048576 bytes")
	case o.MaxRegions < 1 || o.MaxRegions > MaxDetailedRegions:
		return errors.New("receiver: max regions must be between 1 and 1048576")
	case o.CaptureLimit < 16 || o.CaptureLimit > MaxCaptureLimit:
		return errors.New("receiver: capture limit must be between 16 and 1048576 bytes")
	case o.Offset < 0:
		return errors.New("receiver: offset must not be negative")
	}
	return nil
}

// ErrFinished is returned by Write after Finish.
var ErrFinished = errors.New("receiver: write after finish")

// Verifier checks a stream against a pattern. Its methods are safe to call
// from several goroutines, so that a signal handler can take a report
// while a reader goroutine is still writing.
type Verifier struct {
	mu       sync.Mutex
	opt      Options
	pat      pattern.Pattern
	start    time.Time
	end      time.Time
	finished bool

	off     int64 // stream offset of the next byte written
	corrupt int64
	flipped int64
	count   int64 // regions seen, detailed or not

	open bool
	cur  region

	pending []*region // closed detailed regions still capturing trailing context
	done    []report.Region

	// hist holds the last len(hist) <= ctxLine*2 bytes before the current
	// write, for the leading context of a region that opens early in it.
	hist []byte
	head []byte
	sent sentPattern // with Unannounced only
	exp  [scanLen]byte
	slab []byte // the write being processed
}

// phaseState follows one 16-byte grid (phase p) over a region's corrupt
// bytes: a grid fits when every block holding a corrupt byte holds at
// least 12. The current block's count is the region's corrupt count less
// since, so a byte touches only the grids whose block it changes: one per
// byte in dense corruption, not sixteen.
type phaseState struct {
	since  int64 // region corrupt count when the current block began
	blocks int64
	bad    bool
}

type region struct {
	index       int
	start, last int64
	corrupt     int64
	flipped     int64
	allZero     bool
	grid        grids

	detail  bool
	dataOff int64  // stream offset of act[0]
	act     []byte // actual bytes from dataOff, up to the capture limit
	wantEnd int64  // capture until here (exclusive); known once closed
	full    bool   // act reached the capture limit
}

// New returns a Verifier for stream offsets starting at 0.
func New(opt Options) (*Verifier, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	return &Verifier{
		opt:  opt,
		pat:  opt.Pattern,
		off:  opt.Offset,
		hist: make([]byte, 0, 2*ctxLine),
		head: make([]byte, 0, headLen),
	}, nil
}

// Write verifies p as the next bytes of the stream. It never fails
// because of corruption; corruption is data, reported by Result.
func (v *Verifier) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.finished {
		return 0, ErrFinished
	}
	v.write(p)
	return len(p), nil
}

func (v *Verifier) write(p []byte) {
	if len(p) == 0 {
		return
	}
	if v.start.IsZero() {
		// Time from the first byte: a receiver waiting for its sender
		// (nc -l | zerocheck verify) should not count the wait.
		v.start = time.Now()
	}
	if len(v.head) < headLen {
		v.head = append(v.head, p[:min(len(p), headLen-len(v.head))]...)
	}
	if v.opt.Unannounced {
		v.follow(p, v.off)
	}
	v.slab = p
	n := len(p)
	gap := int64(v.opt.MergeGap)
	pos := 0
	for pos < n {
		if v.open {
			// Bytes before limit may still join the open region.
			limit := v.cur.last + gap + 1 - v.off
			if limit <= int64(pos) {
				v.closeRegion()
				continue
			}
			lim := int(min(limit, int64(n)))
			j := v.pat.Mismatch(p[pos:lim], v.off+int64(pos))
			if j < 0 {
				pos = lim
				continue
			}
			pos += j
		} else {
			j := v.pat.Mismatch(p[pos:], v.off+int64(pos))
			if j < 0 {
				break
			}
			pos += j
		}
		// A mismatch at pos: compare a window byte by byte, so that dense
		// corruption does not pay a Mismatch call per byte.
		k := min(n-pos, scanLen)
		exp := v.exp[:k]
		act := p[pos : pos+k]
		v.pat.Fill(exp, v.off+int64(pos))
		for i := 0; i < k; {
			if act[i] == exp[i] {
				i++
				continue
			}
			j := i + 1
			for j < k && act[j] != exp[j] {
				j++
			}
			v.corruptRun(v.off+int64(pos+i), exp[i:j], act[i:j])
			i = j
		}
		pos += k
	}
	v.capture(v.off + int64(n))
	v.off += int64(n)
	v.slab = nil
	v.remember(p)
	v.finalize(false)
}

// remember keeps the stream's last bytes for leading context.
func (v *Verifier) remember(p []byte) {
	c := cap(v.hist)
	if len(p) >= c {
		v.hist = append(v.hist[:0], p[len(p)-c:]...)
		return
	}
	if drop := len(v.hist) + len(p) - c; drop > 0 {
		v.hist = append(v.hist[:0], v.hist[drop:]...)
	}
	v.hist = append(v.hist, p...)
}

// corruptRun records n consecutive corrupt bytes at stream offset x,
// whose expected and actual values are exp and act.
func (v *Verifier) corruptRun(x int64, exp, act []byte) {
	if v.open && x-v.cur.last-1 >= int64(v.opt.MergeGap) {
		v.closeRegion()
	}
	if !v.open {
		v.openRegion(x)
	}
	r := &v.cur
	f, zero := flips(exp, act)
	if r.allZero && r.corrupt > 0 && x > r.last+1 {
		// Zeroed means every byte of the region reads 0x00 where the
		// pattern is non-zero: the intact bytes between runs count too.
		r.allZero = !v.nonZeroPattern(r.last+1, x)
	}
	n := int64(len(act))
	if r.grid.alive > 0 {
		r.grid.add(r.corrupt, r.last, x, n)
	}
	r.corrupt += n
	r.flipped += f
	r.allZero = r.allZero && zero
	r.last = x + n - 1
	v.corrupt += n
	v.flipped += f
}

// flips returns the bits that differ between exp and act, and whether act
// is all zeros; eight bytes at a time, since dense corruption (a peer
// sending another pattern) runs through here for every byte.
func flips(exp, act []byte) (int64, bool) {
	var f int
	var or uint64
	i := 0
	for ; i+8 <= len(act); i += 8 {
		a := binary.LittleEndian.Uint64(act[i:])
		f += bits.OnesCount64(a ^ binary.LittleEndian.Uint64(exp[i:]))
		or |= a
	}
	for ; i < len(act); i++ {
		f += bits.OnesCount8(act[i] ^ exp[i])
		or |= uint64(act[i])
	}
	return int64(f), or == 0
}

// nonZeroPattern reports whether the pattern has a non-zero byte in
// stream offsets [from, to).
func (v *Verifier) nonZeroPattern(from, to int64) bool {
	var buf [256]byte
	for from < to {
		b := buf[:min(int64(len(buf)), to-from)]
		v.pat.Fill(b, from)
		for _, c := range b {
			if c != 0 {
				return true
			}
		}
		from += int64(len(b))
	}
	return false
}

// grids follows the sixteen 16-byte grids of a region; alive counts the
// phases that still fit, so that a region no grid fits stops paying for
// them.
type grids struct {
	p     [16]phaseState
	alive int
}

// add records n consecutive corrupt bytes at x, after count corrupt bytes
// of which the last was at last. Only the first 16 bytes of a run can end
// a block with fewer than 12 corrupt bytes; past them every block is
// whole, so a run of any length costs O(16).
func (g *grids) add(count, last, x, n int64) {
	switch {
	case count == 0:
		for p := range g.p {
			g.p[p].blocks = 1
		}
	case x-last >= 16:
		for p := range g.p {
			g.next(p, count)
		}
	default:
		// The grids with a block boundary in (last, x].
		for o := last + 1; o <= x; o++ {
			g.next(int(o&15), count)
		}
	}
	count++
	head := min(n-1, 16)
	for o := x + 1; o < x+1+head; o++ {
		g.next(int(o&15), count)
		count++
	}
	// Boundaries in [s, e) each close a block of 16 corrupt bytes.
	s, e := x+1+head, x+n
	if e <= s {
		return
	}
	for p := range g.p {
		first := s + (int64(p)-s&15+16)&15 // first o >= s with o&15 == p
		if first >= e {
			continue
		}
		k := (e-1-first)/16 + 1
		lastO := first + (k-1)*16
		g.p[p].blocks += k
		g.p[p].since = count + (lastO - s)
	}
}

// next moves grid p to a new block at a corrupt byte preceded by count
// corrupt bytes, judging the block it leaves.
func (g *grids) next(p int, count int64) {
	g.judge(p, count)
	g.p[p].since = count
	g.p[p].blocks++
}

// judge marks grid p unfit if its current block holds fewer than 12 of
// the count corrupt bytes seen so far.
func (g *grids) judge(p int, count int64) {
	if ph := &g.p[p]; !ph.bad && count-ph.since < 12 {
		ph.bad = true
		g.alive--
	}
}

func (v *Verifier) openRegion(x int64) {
	v.count++
	v.open = true
	v.cur = region{index: int(v.count), start: x, last: x, allZero: true}
	v.cur.grid.alive = 16
	if v.count > int64(v.opt.MaxRegions) {
		return
	}
	r := &v.cur
	r.detail = true
	r.dataOff = max(v.opt.Offset, x&^15-ctxLine)
	r.wantEnd = -1
	// Leading context from before this write comes from hist; the rest is
	// copied from the write itself by capture.
	slabOff := v.off
	if r.dataOff < slabOff {
		h := v.hist[int64(len(v.hist))-(slabOff-r.dataOff):]
		r.act = append(make([]byte, 0, 64), h...)
	}
}

func (v *Verifier) closeRegion() {
	r := v.cur
	v.open = false
	for p := range r.grid.p {
		r.grid.judge(p, r.corrupt)
	}
	if !r.detail {
		return
	}
	r.wantEnd = (r.last+16)&^15 + ctxLine
	v.pending = append(v.pending, &r)
}

// capture copies the bytes of the current write, up to stream offset to,
// into every detailed region still collecting them.
func (v *Verifier) capture(to int64) {
	grab := func(r *region) {
		if r.full {
			return
		}
		next := r.dataOff + int64(len(r.act))
		end := to
		if r.wantEnd >= 0 {
			end = min(end, r.wantEnd)
		}
		if room := r.dataOff + int64(v.opt.CaptureLimit+2*ctxLine) - next; end-next > room {
			end = next + room
			r.full = true
		}
		if end > next {
			r.act = append(r.act, v.slab[next-v.off:end-v.off]...)
		}
	}
	for _, r := range v.pending {
		grab(r)
	}
	if v.open && v.cur.detail {
		grab(&v.cur)
	}
}

// finalize analyses the pending regions whose capture is complete (all of
// them when the stream has ended), in stream order.
func (v *Verifier) finalize(all bool) {
	i := 0
	for ; i < len(v.pending); i++ {
		r := v.pending[i]
		complete := r.full || r.dataOff+int64(len(r.act)) >= r.wantEnd
		if !complete && !all {
			break
		}
		v.done = append(v.done, v.analyse(r))
	}
	v.pending = append(v.pending[:0], v.pending[i:]...)
}

// Finish ends the stream: the open region is closed and every region
// analysed. Writes after Finish fail.
func (v *Verifier) Finish() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.finish()
}

func (v *Verifier) finish() {
	if v.finished {
		return
	}
	v.finished = true
	v.end = time.Now()
	if v.start.IsZero() {
		v.start = v.end
	}
	if v.open {
		v.closeRegion()
	}
	v.finalize(true)
}

// Result finishes the stream and returns the report. runErr, when not nil,
// is why the stream ended early; the verdict is then incomplete unless
// corruption was found.
func (v *Verifier) Result(runErr error) report.Report {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.finish()
	r := report.Report{
		Schema:        report.Schema,
		Pattern:       v.pat.String(),
		Seed:          v.opt.Seed,
		Start:         v.start,
		Seconds:       v.end.Sub(v.start).Seconds(),
		StartOffset:   v.opt.Offset,
		BytesVerified: v.off - v.opt.Offset,
		CorruptBytes:  v.corrupt,
		FlippedBits:   v.flipped,
		RegionCount:   v.count,
		MaxRegions:    v.opt.MaxRegions,
		MergeGap:      v.opt.MergeGap,
		Regions:       append([]report.Region{}, v.done...),
	}
	if runErr != nil {
		r.Error = runErr.Error()
	}
	r.RepeatedBlocks = report.RepeatedBlocksOf(r.Regions)
	if v.corrupt > 0 {
		// A stream whose start is wholly another pattern was sent with the
		// wrong pattern or seed, however much of it happens to match.
		r.LooksLike = guessPattern(v.head, v.opt.Offset, v.opt.Seed, v.pat.String())
		r.PatternMismatch = r.LooksLike != "" || v.corrupt*2 > r.BytesVerified
	}
	if v.opt.Unannounced {
		if v.sent.state == sentUndecided {
			v.decideSent() // a stream shorter than the head
		}
		if s := v.sent; s.state == sentFollowing {
			r.PatternSent = s.pat.String()
			if _, seeded := s.pat.(pattern.Random); seeded {
				r.SeedSent = &s.seed
			}
		}
	}
	r.SetVerdict()
	return r
}

// Progress is a running count of what a Verifier has seen so far.
type Progress struct {
	Bytes        int64
	CorruptBytes int64
	Regions      int64
}

// Progress returns the counts so far; it is cheap enough to call once a
// second from another goroutine while the stream is being verified.
func (v *Verifier) Progress() Progress {
	v.mu.Lock()
	defer v.mu.Unlock()
	return Progress{Bytes: v.off - v.opt.Offset, CorruptBytes: v.corrupt, Regions: v.count}
}
