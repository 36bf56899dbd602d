package upstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
)

// Conn is one connection to a node, owned by one event loop: only that
// loop's thread calls its methods (Send, Flush, Event, Drain, Close), and
// its requests complete there. Its life: dialing (a goroutine dials and
// bootstraps, then hands the descriptor over), up, and after a failure down
// with a reconnect after a jittered backoff, until Drain or Close.
//
// Send copies the request into the connection's output buffer with the
// connection's own opaque and registers it in the in-flight table; the loop
// flushes the buffer once at the end of the round (one write for every
// request routed in it). Responses are read until EAGAIN, matched by
// opaque, and completed in the order they arrive.
type Conn struct {
	node *Node
	lp   *eventloop.Loop
	o    *Options

	state       connState
	failed      bool // the last attempt failed or the connection was lost: Down
	collections bool // the node agreed to collections: document keys carry their collection ID
	fd          int
	tab         *inflight
	pending     int // requests in tab
	wbuf        []byte
	woff        int  // wbuf[woff:] is still to write
	wblocked    bool // a write returned EAGAIN: wait for Out
	dirty       bool // marked for this round's flush
	rbuf        []byte
	rlen        int
	skip        int64 // bytes of a refused response still to discard
	owed        int   // responses owed (written or queued, not answered)
	owedSince   int64
	lastRead    int64
	upSince     int64
	attempt     int
	drainBy     int64
	tick        eventloop.Timer
	retry       eventloop.Timer
	onClosed    func()
	scratch     []*Request
}

type connState uint8

const (
	connDialing connState = iota
	connUp
	connDown     // waiting to redial
	connDraining // no new requests; closes when the last one is answered
	connClosed
)

// NewConn creates a connection to n owned by lp and starts dialing. onClosed
// (may be nil) runs on the loop once the connection is closed for good.
// Loop thread only.
func NewConn(n *Node, lp *eventloop.Loop, onClosed func()) *Conn {
	c := &Conn{node: n, lp: lp, o: &n.o, fd: -1, tab: newInflight(n.o.QueueSize), onClosed: onClosed}
	c.tick.Init(c.check)
	c.retry.Init(c.dial)
	n.attach()
	c.dial()
	return c
}

// Node returns the node the connection goes to.
func (c *Conn) Node() *Node { return c.node }

// Up reports whether the connection takes requests.
func (c *Conn) Up() bool { return c.state == connUp }

// Buffered returns the bytes waiting to be written.
func (c *Conn) Buffered() int { return len(c.wbuf) - c.woff }

// Pending returns the number of requests in flight on the connection.
func (c *Conn) Pending() int { return c.pending }

// Send queues r for the end-of-round write and returns at once. When it
// returns nil, r.Done.Complete(r) is called exactly once, later, on the
// loop. Otherwise it returns ErrConnecting (the first connection is not up
// yet), ErrNodeDown, ErrQueueFull, ErrClosed or ErrBadRequest and never
// calls Complete. It does not allocate in steady state.
func (c *Conn) Send(r *Request) error {
	pkt := r.Packet
	if r.Done == nil || len(pkt) < memcached.HeaderLen || pkt[0] != memcached.MagicRequest ||
		int(binary.BigEndian.Uint32(pkt[8:12])) != len(pkt)-memcached.HeaderLen ||
		int(binary.BigEndian.Uint16(pkt[2:4]))+int(pkt[4]) > len(pkt)-memcached.HeaderLen ||
		memcached.Opcode(pkt[1]).Quiet() {
		return ErrBadRequest
	}
	switch c.state {
	case connUp:
	case connDraining, connClosed:
		return ErrClosed
	default:
		if !c.failed {
			return ErrConnecting
		}
		c.node.onError(KindDown)
		return ErrNodeDown
	}
	doc := c.collections && memcached.Opcode(pkt[1]).Info().HasKey
	if r.Collection != 0 && !doc {
		return ErrNoCollections
	}
	if c.pending >= c.o.QueueSize {
		c.node.onError(KindQueueFull)
		return ErrQueueFull
	}
	if len(c.wbuf)-c.woff >= MaxOutput {
		return ErrBusy
	}
	now := c.lp.Now()
	deadline := r.Deadline
	if deadline == 0 {
		deadline = now + int64(c.o.OperationTimeout)
	}
	op, ok := c.tab.add(r, deadline)
	if !ok { // cannot happen: pending < QueueSize <= table size
		return ErrQueueFull
	}
	r.opaque = binary.BigEndian.Uint32(pkt[12:16])
	n := len(c.wbuf)
	if doc {
		c.wbuf = appendCollected(c.wbuf, pkt, r.Collection)
	} else {
		c.wbuf = append(c.wbuf, pkt...)
	}
	binary.BigEndian.PutUint32(c.wbuf[n+12:], op)
	c.pending++
	if c.owed == 0 {
		c.owedSince = now
	}
	c.owed++
	if !c.tick.Scheduled() {
		c.lp.After(&c.tick, c.o.checkInterval)
	}
	if !c.dirty && !c.wblocked {
		c.dirty = true
		c.lp.MarkDirty(c, eventloop.StageUpstream)
	}
	return nil
}

// Flush writes the output buffer (end of round). Implements
// eventloop.Flusher.
func (c *Conn) Flush() {
	c.dirty = false
	if c.state != connUp && c.state != connDraining || c.wblocked {
		return
	}
	for c.woff < len(c.wbuf) {
		n, err := unix.Write(c.fd, c.wbuf[c.woff:])
		if n > 0 {
			c.woff += n
			continue
		}
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			c.wblocked = true
			return
		}
		c.fail(fmt.Errorf("write: %w", err), ErrConnClosed)
		return
	}
	c.woff = 0
	if cap(c.wbuf) > WriteBufferSize {
		c.wbuf = nil
	} else {
		c.wbuf = c.wbuf[:0]
	}
}

// Event handles the socket's readiness. Implements eventloop.Handler.
func (c *Conn) Event(ev uint32) {
	if ev&eventloop.Out != 0 && c.wblocked {
		c.wblocked = false
		c.Flush()
	}
	if ev&(eventloop.In|eventloop.Hup|eventloop.Err) != 0 && (c.state == connUp || c.state == connDraining) {
		c.readAll(ev&(eventloop.Hup|eventloop.Err) != 0)
	}
}

// readAll reads until EAGAIN, completing every whole response. Without hup
// (no end of stream reported) a short read is taken to mean drained.
func (c *Conn) readAll(hup bool) {
	for c.state == connUp || c.state == connDraining {
		if c.rbuf == nil {
			c.rbuf = make([]byte, ReadBufferSize)
		}
		if c.rlen == len(c.rbuf) {
			c.rbuf = append(c.rbuf, make([]byte, len(c.rbuf))...) // a response larger than the buffer
		}
		n, err := unix.Read(c.fd, c.rbuf[c.rlen:])
		if n > 0 {
			short := c.rlen+n < len(c.rbuf)
			c.rlen += n
			c.lastRead = c.lp.Now()
			c.parse()
			if short && !hup {
				// Drained: later bytes raise a new edge (no EAGAIN read).
				c.shrinkRead()
				return
			}
			continue
		}
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			c.shrinkRead()
			return
		case err == nil:
			c.fail(fmt.Errorf("read: %w", io.EOF), ErrConnClosed)
		default:
			c.fail(fmt.Errorf("read: %w", err), ErrConnClosed)
		}
		return
	}
}

// parse completes the whole responses in rbuf and keeps the rest.
func (c *Conn) parse() {
	buf := c.rbuf[:c.rlen]
	off := 0
	for off < len(buf) && (c.state == connUp || c.state == connDraining) {
		if c.skip > 0 {
			d := int(min(c.skip, int64(len(buf)-off)))
			off += d
			c.skip -= int64(d)
			continue
		}
		h, n, want, err := memcached.Frame(buf[off:], memcached.MagicResponse, 0xffff, memcached.DefaultMaxBody)
		if err != nil {
			var pe *memcached.ProtocolError
			if errors.As(err, &pe) && pe.Recoverable {
				// A response too large to accept: skip its body.
				c.owed--
				c.skip = int64(want)
				if r := c.tab.take(h.Opaque); r != nil {
					c.finish(r, fmt.Errorf("%w: %v", ErrProtocol, err))
				}
				continue
			}
			c.fail(fmt.Errorf("read: %w", err), ErrConnClosed)
			return
		}
		if n == 0 {
			if want > len(c.rbuf) {
				grown := make([]byte, want)
				copy(grown, buf[off:])
				c.rbuf, c.rlen = grown, len(buf)-off
				return
			}
			break
		}
		c.response(&h, buf[off:off+n])
		off += n
	}
	if off > 0 && c.rbuf != nil {
		c.rlen = copy(c.rbuf, c.rbuf[off:c.rlen])
	}
}

// response completes the request answered by pkt.
func (c *Conn) response(h *memcached.Header, pkt []byte) {
	c.owed = max(c.owed-1, 0) // an unsolicited response owes nothing
	r := c.tab.take(h.Opaque)
	if r == nil {
		return // late: the request already failed with ErrTimeout
	}
	if op := memcached.Opcode(r.Packet[1]); h.Opcode != op {
		err := fmt.Errorf("%w: %s response to a %s request", ErrProtocol, h.Opcode, op)
		c.finish(r, err)
		c.fail(err, ErrConnClosed)
		return
	}
	r.Resp = *h
	r.Resp.Opaque = r.opaque
	memcached.SetOpaque(pkt, r.opaque)
	r.RespBuf = pkt
	c.finish(r, nil)
}

// shrinkRead drops a read buffer grown for a large response once it is
// empty, so that an idle connection keeps ReadBufferSize at most.
func (c *Conn) shrinkRead() {
	if c.rlen == 0 && len(c.rbuf) > ReadBufferSize {
		c.rbuf = nil
	}
}

// finish completes r: exactly once per request the connection accepted.
func (c *Conn) finish(r *Request, err error) {
	r.Node = c.node.addr
	r.Err = err
	if err != nil {
		r.Resp = memcached.Header{}
		r.RespBuf = nil
		if errors.Is(err, ErrTimeout) {
			c.node.onError(KindTimeout)
		}
	}
	c.pending--
	r.Done.Complete(r)
	r.RespBuf = nil
	if c.state == connDraining && c.pending == 0 {
		c.closeNow()
	}
}

// check runs on the connection's tick while it has requests: it fails the
// requests whose deadline passed and closes a hung connection (it owes
// responses and no byte came for OperationTimeout).
func (c *Conn) check() {
	now := c.lp.Now()
	rs := c.tab.expire(now, c.scratch[:0])
	for i, r := range rs {
		rs[i] = nil
		c.finish(r, ErrTimeout)
	}
	c.scratch = rs[:0]
	if c.state == connUp || c.state == connDraining {
		if c.owed > 0 && now-max(c.owedSince, c.lastRead) > int64(c.o.OperationTimeout) {
			c.fail(fmt.Errorf("%w: no bytes from the server for %v while it owed %d responses",
				ErrTimeout, c.o.OperationTimeout, c.owed), ErrTimeout)
			return
		}
		if c.state == connDraining && now >= c.drainBy {
			c.closeNow()
			return
		}
	}
	if c.pending > 0 || c.state == connDraining {
		c.lp.After(&c.tick, c.o.checkInterval)
	}
}

// dial starts a dial goroutine; its result comes back as a loop task.
func (c *Conn) dial() {
	if c.state == connClosed || c.state == connDraining {
		return
	}
	c.state = connDialing
	n := c.node
	n.dials.Add(1)
	go func() {
		defer n.dials.Done()
		res := n.connect()
		c.lp.Post(func() { c.dialed(res) })
	}()
}

// dialed takes over a dial's result on the loop.
func (c *Conn) dialed(res dialResult) {
	if c.state != connDialing {
		// Drained or closed while dialing.
		if res.fd >= 0 {
			_ = unix.Close(res.fd)
		}
		c.finalize()
		return
	}
	if res.err != nil {
		c.node.connFailed(c.failed, res.err)
		c.failed = true
		c.backoff()
		return
	}
	if err := c.lp.Add(res.fd, c); err != nil {
		_ = unix.Close(res.fd)
		c.node.connFailed(c.failed, err)
		c.failed = true
		c.backoff()
		return
	}
	c.fd = res.fd
	c.state = connUp
	c.collections = c.o.Collections && res.b.hasFeature(featureCollections)
	c.node.connUp(c.failed, res.b)
	c.failed = false
	now := c.lp.Now()
	c.upSince, c.lastRead, c.owed = now, now, 0
	if len(res.pre) > 0 {
		c.rbuf = append(make([]byte, 0, max(ReadBufferSize, len(res.pre))), res.pre...)
		c.rbuf = c.rbuf[:cap(c.rbuf)]
		c.rlen = len(res.pre)
		c.parse()
	}
	c.readAll(true) // bytes that arrived before the registration raise no edge
}

// backoff schedules the next dial.
func (c *Conn) backoff() {
	c.state = connDown
	if c.upSince > 0 && c.lp.Now()-c.upSince >= int64(c.o.MaxBackoff) {
		c.attempt = 0
	}
	c.upSince = 0
	c.lp.After(&c.retry, backoff(c.attempt, c.o.MinBackoff, c.o.MaxBackoff))
	c.attempt++
}

// fail closes the socket after an error and fails everything on it with
// failWith; the connection then reconnects (or, when draining, closes).
func (c *Conn) fail(cause, failWith error) {
	if c.state != connUp && c.state != connDraining {
		return
	}
	draining := c.state == connDraining
	c.release()
	c.state = connDown
	c.node.connDown(cause)
	c.failed = true
	c.failAll(failWith)
	if draining || c.state == connClosed { // closed by a Completer during failAll
		c.finalize()
		return
	}
	c.backoff()
}

// release closes the socket and drops the buffers.
func (c *Conn) release() {
	if c.fd >= 0 {
		_ = c.lp.Close(c.fd)
		c.fd = -1
	}
	c.wbuf, c.woff, c.wblocked = nil, 0, false
	c.rbuf, c.rlen, c.skip = nil, 0, 0
	c.owed = 0
}

// failAll completes every request in flight with err.
func (c *Conn) failAll(err error) {
	rs := c.tab.drain(c.scratch[:0])
	for i, r := range rs {
		rs[i] = nil
		c.finish(r, err)
	}
	c.scratch = rs[:0]
}

// Drain stops taking requests (Send returns ErrClosed), lets the requests in
// flight finish for up to OperationTimeout, then closes: a connection to a
// node that left the map.
func (c *Conn) Drain() {
	switch c.state {
	case connUp:
		c.state = connDraining
		if c.pending == 0 {
			c.closeNow()
			return
		}
		c.drainBy = c.lp.Now() + int64(c.o.OperationTimeout)
		if !c.tick.Scheduled() {
			c.lp.After(&c.tick, c.o.checkInterval)
		}
	case connDialing:
		c.state = connClosed // dialed closes the descriptor and finalizes
	case connDown:
		c.lp.Cancel(&c.retry)
		c.state = connClosed
		c.finalize()
	}
}

// Close closes the connection at once, failing what is in flight with
// ErrConnClosed.
func (c *Conn) Close() {
	switch c.state {
	case connUp, connDraining:
		c.closeNow()
	default:
		c.Drain()
	}
}

// closeNow ends an up or draining connection for good.
func (c *Conn) closeNow() {
	if c.state != connUp && c.state != connDraining {
		return
	}
	c.release()
	c.state = connClosed
	c.node.connDown(nil)
	c.failAll(ErrConnClosed)
	c.finalize()
}

// finalize runs once when the connection is closed for good.
func (c *Conn) finalize() {
	if c.tab == nil {
		return
	}
	c.state = connClosed
	c.lp.Cancel(&c.tick)
	c.lp.Cancel(&c.retry)
	c.tab = nil
	c.node.detach(c.failed)
	if c.onClosed != nil {
		c.onClosed()
	}
}

// appendCollected appends pkt with the key prefixed by the collection ID as
// unsigned LEB128 (the key and body lengths grown to match).
func appendCollected(dst, pkt []byte, cid uint32) []byte {
	var leb [5]byte
	n := 0
	for {
		b := byte(cid & 0x7f)
		cid >>= 7
		if cid != 0 {
			leb[n] = b | 0x80
			n++
			continue
		}
		leb[n] = b
		n++
		break
	}
	start := len(dst)
	extras := int(pkt[4])
	keyAt := memcached.HeaderLen + extras
	dst = append(dst, pkt[:keyAt]...)
	dst = append(dst, leb[:n]...)
	dst = append(dst, pkt[keyAt:]...)
	h := dst[start:]
	binary.BigEndian.PutUint16(h[2:4], binary.BigEndian.Uint16(h[2:4])+uint16(n))
	binary.BigEndian.PutUint32(h[8:12], binary.BigEndian.Uint32(h[8:12])+uint32(n))
	return dst
}
