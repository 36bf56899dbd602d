package upstream

import (
	"errors"
	"fmt"

	"github.com/vbproxy/vbproxy/memcached"
)

// readLoop is the connection's reader: it reads each response, finds its
// request by the pool's opaque, copies the response into the request
// (restoring the session's opaque), and completes it. A response whose opaque
// matches no request in flight (a late reply to a request that timed out) is
// discarded.
func (c *conn) readLoop() {
	for {
		err := c.rd.ReadResponse(&c.rpkt)
		if err != nil {
			var pe *memcached.ProtocolError
			if errors.As(err, &pe) && pe.Recoverable {
				// A response too large to accept: its body was skipped.
				c.owed.Add(-1)
				if r := c.take(pe.Header.Opaque); r != nil {
					c.finish(r, fmt.Errorf("%w: %v", ErrProtocol, err))
				}
				continue
			}
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		c.owed.Add(-1)
		r := c.take(c.rpkt.Opaque)
		if r == nil {
			continue // late: the request already failed with ErrTimeout
		}
		if op := memcached.Opcode(r.Packet[1]); c.rpkt.Opcode != op {
			err := fmt.Errorf("%w: %s response to a %s request", ErrProtocol, c.rpkt.Opcode, op)
			c.finish(r, err)
			c.fail(err)
			return
		}
		r.Resp = c.rpkt.Header
		r.Resp.Opaque = r.opaque
		r.RespBuf = append(r.RespBuf[:0], c.rpkt.Bytes()...)
		memcached.SetOpaque(r.RespBuf, r.opaque)
		c.finish(r, nil)
	}
}

func (c *conn) take(opaque uint32) *Request {
	c.mu.Lock()
	r := c.tab.take(opaque)
	c.mu.Unlock()
	return r
}
