package upstream

import (
	"encoding/binary"
	"fmt"
	"runtime"
)

// writeLoop is the connection's writer: it drains what is queued, writes it
// once, and flushes once the queue is empty.
//
// For each batch it takes the whole queue in one swap, registers every
// request in the in-flight table (so that a response can never arrive before
// its request is known), copies the packets into the bufio.Writer with the
// pool's opaque in place of the session's, and marks them written. The
// bufio.Writer flushes by itself when a batch outgrows it; otherwise the
// writer flushes when it finds the queue empty, so requests that arrive
// while a write is in progress share the next one. Before flushing it yields
// once (runtime.Gosched): a session woken by the same network poll as the
// one whose request woke the writer gets to queue its request first, and the
// two leave in one write instead of two.
func (c *conn) writeLoop(stop <-chan struct{}) {
	var opq [4]byte
	for {
		select {
		case <-c.wake: // queued while the last batch was written: no two-way select
		default:
			select {
			case <-c.wake:
			case <-stop:
				return
			}
		}
		yielded := false
		for {
			c.qmu.Lock()
			batch := c.queue
			c.queue = c.wbatch[:0]
			c.qmu.Unlock()
			c.wbatch = batch

			if len(batch) == 0 {
				if !yielded && c.bw.Buffered() > 0 {
					// Before the write, let the goroutines already runnable
					// (sessions woken by the same network poll) queue
					// their requests, so that they share it: the wake-up
					// put this writer first in line, ahead of them.
					yielded = true
					runtime.Gosched()
					continue
				}
				if c.bw.Buffered() > 0 {
					if err := c.bw.Flush(); err != nil {
						c.fail(fmt.Errorf("write: %w", err))
						return
					}
				}
				break
			}

			// Register the batch; requests that expired while queued are
			// failed instead of sent.
			now := c.p.now()
			ops := c.wops[:0]
			exp := c.wexp[:0]
			n := 0
			c.mu.Lock()
			for _, r := range batch {
				if r.deadline <= now {
					exp = append(exp, r)
					continue
				}
				op, ok := c.tab.add(r, r.deadline, true)
				if !ok { // cannot happen: pending ≤ QueueSize ≤ table size
					exp = append(exp, r)
					continue
				}
				batch[n] = r
				ops = append(ops, op)
				n++
			}
			c.mu.Unlock()
			clear(batch[n:])
			c.wops = ops
			if n > 0 && c.owed.Add(int64(n)) == int64(n) {
				c.owedSince.Store(now)
			}
			for i, r := range exp {
				exp[i] = nil
				c.finish(r, ErrTimeout)
			}
			c.wexp = exp[:0]

			// Copy the packets. After a request's last byte is copied the
			// writer never touches it again: the reader may complete it as
			// soon as the bytes leave.
			for i := range n {
				pkt := batch[i].Packet
				batch[i] = nil
				binary.BigEndian.PutUint32(opq[:], ops[i])
				_, _ = c.bw.Write(pkt[:12])
				_, _ = c.bw.Write(opq[:])
				if _, err := c.bw.Write(pkt[16:]); err != nil {
					clear(batch)
					c.fail(fmt.Errorf("write: %w", err))
					return
				}
			}
			c.mu.Lock()
			for _, op := range ops {
				c.tab.written(op)
			}
			c.mu.Unlock()
		}
	}
}
