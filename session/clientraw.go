package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/zerocheck/zerocheck/sender/stream"
	"github.com/zerocheck/zerocheck/wire"
)

// RunRaw sends plain streams (no handshake, no result) and returns the
// bytes sent. The receiver's verdict is its own; this end knows only
// whether every byte was handed to the network.
func (c *Client) RunRaw(ctx context.Context) (int64, error) {
	conns, err := c.dial(ctx, c.opt.Streams, nil)
	if err != nil {
		return 0, err
	}
	var limiter *stream.Limiter
	if c.opt.Rate > 0 {
		limiter = stream.NewLimiter(c.opt.Rate)
	}
	sent := make([]int64, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			defer c.contained(func(v any) { errs[i] = fmt.Errorf("stream %d: %w", i, internalError(v)) })
			st := newStream(c.opt.Pattern, c.opt.share(i), c.opt.Duration, c.opt.IdleTimeout, limiter)
			remove := c.live.add(counter{s: st})
			sent[i], errs[i] = st.Run(ctx, conn)
			remove()
			if errs[i] == nil {
				errs[i] = closeWrite(conn)
			}
			if errs[i] != nil && ctx.Err() == nil {
				errs[i] = fmt.Errorf("stream %d: %w", i, refusal(conn, errs[i]))
			}
		}()
	}
	wg.Wait()
	var total int64
	for _, n := range sent {
		total += n
	}
	if ctx.Err() != nil {
		return total, fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	return total, errors.Join(errs...)
}

// refusal explains a raw stream's write failure by the receiver's
// refusal, when it sent one: a protocol receiver answers a raw sender
// with a Reply that says why before it closes.
func refusal(conn net.Conn, err error) error {
	p, rerr := readFrame(conn, wire.TypeReply, 200*time.Millisecond, nil)
	if rerr == nil {
		_, rerr = wire.DecodeReply(p)
	}
	var ref *wire.RefusedError
	if errors.As(rerr, &ref) {
		return fmt.Errorf("%w (%v)", err, rerr)
	}
	return err
}
