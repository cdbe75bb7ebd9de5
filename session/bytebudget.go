package session

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
)

// budget is a run's share of MaxBytes, whichever way its streams go.
type budget struct {
	left *atomic.Int64
	max  int64
}

func (b budget) take(n int) error {
	if b.left.Add(-int64(n)) < 0 {
		return fmt.Errorf("the run moved more than this receiver allows (--max-bytes %d)", b.max)
	}
	return nil
}

// budgetReader fails a forward stream's reads past the budget; the
// result it writes back is not pattern and costs nothing.
type budgetReader struct {
	net.Conn
	b budget
}

func (c budgetReader) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if berr := c.b.take(n); berr != nil {
		return n, berr
	}
	return n, err
}

// budgetWriter fails a reverse stream's writes past the budget.
type budgetWriter struct {
	net.Conn
	b budget
}

// Write counts what was written, not what was offered: a write cut short
// by a stall is retried, and its unsent part must not count twice.
func (c budgetWriter) Write(p []byte) (int, error) {
	left := c.b.left.Load()
	if left < int64(len(p)) {
		n, err := c.Conn.Write(p[:max(0, left)])
		c.b.left.Add(-int64(n))
		if err == nil {
			err = c.b.take(1) // over: says so
		}
		return n, err
	}
	n, err := c.Conn.Write(p)
	c.b.left.Add(-int64(n))
	return n, err
}

// SyscallConn lets the sender see the socket's queue under the budget
// (stream.Unsent): its stall clock watches what the peer acknowledges.
func (c budgetWriter) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// reading and writing return c under the run's byte budget, if it has
// one, for a stream this end verifies or sends.
func (r *run) reading(c net.Conn, max int64) net.Conn {
	if r.budget == nil {
		return c
	}
	return budgetReader{c, budget{r.budget, max}}
}

func (r *run) writing(c net.Conn, max int64) net.Conn {
	if r.budget == nil {
		return c
	}
	return budgetWriter{c, budget{r.budget, max}}
}
