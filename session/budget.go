package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/zerocheck/zerocheck/receiver/verify"
	"github.com/zerocheck/zerocheck/report"
	"github.com/zerocheck/zerocheck/wire"
)

// Bounds of --max-result-memory.
const (
	DefaultResultMemory = 64 << 20
	// MinResultMemory leaves room to decode a receiver's largest result
	// (maxPeerResult) at the default --max-regions.
	MinResultMemory = 16 << 20
	MaxResultMemory = 1 << 40
)

// ResultMemory is the memory a process lets peers' results take, shared
// by all its connections, so that many streams, or many runs, cannot
// add up to more. A result frame takes what decoding it may cost
// (wire.DecodeCost, and its payload) once its header gives its length
// and before a byte of its payload is read, waiting its turn while other
// results decode, and gives it back once decoded. What the decoded
// reports keep until their run is reported (their regions, with their
// captured bytes) is held against it too, up to an eighth of it; past
// that a report's captures are dropped (its regions marked truncated),
// and then its regions' details (their counts stay exact).
type ResultMemory struct {
	size int64
	mu   sync.Mutex
	// used counts all that is taken; retained, the part of it that
	// decoded reports keep until their run is reported.
	used, retained int64
	waiters        []*memWaiter
}

type memWaiter struct {
	n     int64
	ready chan struct{}
}

// NewResultMemory returns a budget of size bytes.
func NewResultMemory(size int64) (*ResultMemory, error) {
	if size < MinResultMemory || size > MaxResultMemory {
		return nil, fmt.Errorf("--max-result-memory %s: want %s to %s", mib(size), mib(MinResultMemory), mib(MaxResultMemory))
	}
	return &ResultMemory{size: size}, nil
}

// processResultMemory is the budget of the servers and clients whose
// options name none: one for the whole process.
var processResultMemory = &ResultMemory{size: DefaultResultMemory}

func orProcess(m *ResultMemory) *ResultMemory {
	if m == nil {
		return processResultMemory
	}
	return m
}

// decodable is the most one result may take: what retained reports
// cannot take from it. A result that fits never waits for ever on them,
// which only go when their run is reported.
func (m *ResultMemory) decodable() int64 { return m.size - m.retainable() }

func (m *ResultMemory) retainable() int64 { return m.size / 8 }

// resultCost is what reading and decoding a result frame of n bytes may
// hold at once: the payload and what decoding it allocates.
func resultCost(n, maxRegions int) int64 { return int64(n) + wire.DecodeCost(n, maxRegions) }

// maxResult returns the largest result frame this budget takes, at most
// limit bytes.
func (m *ResultMemory) maxResult(limit, maxRegions int) int {
	lo, hi := 0, limit
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if resultCost(mid, maxRegions) <= m.decodable() {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// acquire takes n bytes, waiting in turn until they are free or ctx is
// done.
func (m *ResultMemory) acquire(ctx context.Context, n int64) error {
	m.mu.Lock()
	if len(m.waiters) == 0 && m.used+n <= m.size {
		m.used += n
		m.mu.Unlock()
		return nil
	}
	w := &memWaiter{n: n, ready: make(chan struct{})}
	m.waiters = append(m.waiters, w)
	m.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-w.ready:
		// Granted as the wait ended: give it back.
		m.used -= n
	default:
		m.waiters = slices.DeleteFunc(m.waiters, func(x *memWaiter) bool { return x == w })
	}
	m.wakeLocked()
	return context.Cause(ctx)
}

// settle gives back cost bytes taken by acquire and retains the first
// of keeps that fits the retained share; it returns that one's index,
// or -1 when none fits.
func (m *ResultMemory) settle(cost int64, keeps ...int64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used -= cost
	defer m.wakeLocked()
	for i, n := range keeps {
		if m.retained+n <= m.retainable() {
			m.used += n
			m.retained += n
			return i
		}
	}
	return -1
}

// unretain gives back n bytes of retained captures.
func (m *ResultMemory) unretain(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used -= n
	m.retained -= n
	m.wakeLocked()
}

// wakeLocked grants the waiters that fit, first come first served: a
// large result is not passed over for ever by small ones.
func (m *ResultMemory) wakeLocked() {
	for len(m.waiters) > 0 && m.used+m.waiters[0].n <= m.size {
		w := m.waiters[0]
		m.used += w.n
		close(w.ready)
		m.waiters = m.waiters[1:]
	}
}

// holding is what one run's results retain of a ResultMemory until the
// run is reported; the zero value holds nothing.
type holding struct {
	mu       sync.Mutex
	m        *ResultMemory
	n        int64
	released bool
}

// add records n bytes retained of m; after release, they are given back
// at once: nothing would give them back later.
func (h *holding) add(m *ResultMemory, n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		m.unretain(n)
		return
	}
	h.m = m
	h.n += n
}

// release gives back all that the run's results retain.
func (h *holding) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m != nil && h.n > 0 {
		h.m.unretain(h.n)
	}
	h.n, h.released = 0, true
}

// readResult reads and decodes the verifying end's result frame under
// the memory budget m (nil: the process's): see result for the other
// arguments. What the report keeps (its regions and their captured
// bytes) is held by held until its release; when that does not fit, the
// captures are dropped and the regions marked truncated, and if that is
// not enough, the regions' details (their counts stay).
func readResult(c net.Conn, wait time.Duration, gaps context.Context, max, maxRegions int, sl seal, role string, m *ResultMemory, held *holding) (report.Report, error) {
	m = orProcess(m)
	var cost int64
	admit := func(h wire.Header) error {
		if h.Type != wire.TypeResult {
			return nil // a refusal, bounded by its type
		}
		cost = resultCost(h.Length, maxRegions)
		if cost > m.decodable() {
			cost = 0
			return fmt.Errorf("its result of %d bytes would take up to %s to decode, more than --max-result-memory %s leaves for one result (%s)",
				h.Length, mib(resultCost(h.Length, maxRegions)), mib(m.size), mib(m.decodable()))
		}
		parent := gaps
		if parent == nil {
			parent = context.Background()
		}
		ctx, cancel := context.WithTimeoutCause(parent, wait, errNoResultMemory)
		defer cancel()
		if err := m.acquire(ctx, cost); err != nil {
			cost = 0
			if errors.Is(err, errNoResultMemory) {
				return fmt.Errorf("no memory free for its result of %d bytes within %v: the results of other streams hold what --max-result-memory %s allows", h.Length, wait, mib(m.size))
			}
			return err
		}
		return nil
	}
	p, err := readFrameAdmit(c, wire.TypeResult, wait, gaps, max, admit)
	if err == nil {
		err = sl.check(c, p, role, wait)
	}
	var rep report.Report
	if err == nil {
		rep, err = wire.DecodeResultWithin(p, wire.ResultLimits{MaxRegions: maxRegions, MaxCapture: resultCapture})
	}
	var captures, details int64
	for _, g := range rep.Regions {
		captures += int64(len(g.Expected) + len(g.Actual))
		details += regionSize
	}
	details += int64(len(rep.RepeatedBlocks)) * regionSize
	if cost > 0 {
		kept := int64(0)
		switch m.settle(cost, captures+details, details) {
		case 0:
			kept = captures + details
		case 1:
			kept = details
			dropCaptures(&rep)
		default:
			rep.Regions, rep.RepeatedBlocks = []report.Region{}, []report.RepeatedBlock{}
		}
		held.add(m, kept)
	}
	return rep, err
}

// errNoResultMemory is the cause of a wait for memory that timed out.
var errNoResultMemory = errors.New("no result memory")

// regionSize is what a detailed region (or repeated block) of a result
// holds besides its captured bytes: its struct and kind.
const regionSize = 256

// resultCapture is what a result keeps of each region's captured bytes:
// what this end's own verifier keeps, and the line on each side.
const resultCapture = verify.DefaultCaptureLimit + 32

// dropCaptures drops a report's captured bytes; its regions say so.
func dropCaptures(r *report.Report) {
	for i := range r.Regions {
		g := &r.Regions[i]
		if len(g.Expected)+len(g.Actual) > 0 {
			g.Expected, g.Actual, g.Truncated = nil, nil, true
		}
	}
}

// mib shows a byte count in MiB, or in GiB or TiB when it is a whole
// number of them.
func mib(n int64) string {
	switch {
	case n >= 1<<40 && n%(1<<40) == 0:
		return fmt.Sprintf("%d TiB", n>>40)
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
