package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// errNotUp is enqueue's answer when the connection stopped accepting between
// Pool.pick and the enqueue; Send tries another connection.
var errNotUp = errors.New("upstream: connection not up")

// conn is one of a pool's long-lived connections. Its run loop dials,
// bootstraps, serves, and reconnects with backoff until the pool closes. While
// up, three goroutines share it: the writer (writer.go) drains the queue into
// the socket, the reader (reader.go) matches responses to requests, and the
// supervisor (serve, below) expires requests, detects a hung server, and
// tears everything down.
type conn struct {
	p *Pool

	// up: Send may pick this connection (a hint; accepting decides).
	up atomic.Bool
	// pending counts requests queued or in flight, at most Options.QueueSize.
	pending atomic.Int32

	qmu       sync.Mutex // guards accepting and queue; never held across I/O
	accepting bool
	queue     []*Request
	wake      chan struct{} // capacity 1: the queue went from empty to non-empty

	mu  sync.Mutex // guards tab; never held across I/O
	tab *inflight

	// I/O state, reused across reconnects.
	cr countingReader
	rd *memcached.Reader
	bw *bufio.Writer

	// Hang detection: bytes read, responses owed, and since when they are.
	owed      atomic.Int64
	owedSince atomic.Int64 // pool clock when owed last rose from zero

	// Draining after Pool.Close: release signals drained at pending zero.
	draining atomic.Bool
	drained  chan struct{}

	// Per dialed connection: the first goroutine to fail records why.
	failMu  sync.Mutex
	failErr error
	failed  chan struct{}

	// Writer-only scratch.
	wbatch []*Request
	wops   []uint32
	wexp   []*Request
	// Supervisor-only scratch and read-progress tracking.
	scratch    []*Request
	lastRead   int64
	lastReadAt int64
	// Reader-only.
	rpkt memcached.Packet
}

// countingReader counts the bytes read from the connection, so that the
// supervisor can tell a slow server (bytes trickle in) from a hung one.
type countingReader struct {
	nc net.Conn
	n  atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.nc.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func newConn(p *Pool) *conn {
	qcap := min(p.o.QueueSize, 256)
	c := &conn{
		p:       p,
		queue:   make([]*Request, 0, qcap),
		wake:    make(chan struct{}, 1),
		tab:     newInflight(p.o.QueueSize),
		drained: make(chan struct{}, 1),
		wbatch:  make([]*Request, 0, qcap),
		wops:    make([]uint32, 0, qcap),
		scratch: make([]*Request, 0, qcap),
	}
	c.rd = memcached.NewReader(&c.cr, memcached.ReaderOptions{BufSize: ReadBufferSize})
	c.bw = bufio.NewWriterSize(nil, WriteBufferSize)
	return c
}

// enqueue appends r to the queue and wakes the writer if the queue was empty.
func (c *conn) enqueue(r *Request) error {
	c.qmu.Lock()
	if !c.accepting {
		c.qmu.Unlock()
		return errNotUp
	}
	if int(c.pending.Load()) >= c.p.o.QueueSize {
		c.qmu.Unlock()
		return ErrQueueFull
	}
	c.pending.Add(1)
	c.queue = append(c.queue, r)
	first := len(c.queue) == 1
	c.qmu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// finish completes r: exactly one call per request the connection accepted.
func (c *conn) finish(r *Request, err error) {
	r.Node = c.p.addr
	r.Err = err
	if err != nil {
		r.Resp = memcached.Header{}
		r.RespBuf = r.RespBuf[:0]
		if err == ErrTimeout {
			c.p.onError(KindTimeout)
		}
	}
	if c.pending.Add(-1) == 0 && c.draining.Load() {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
	r.Done.Complete(r)
}

// fail records the first error of the current connection and wakes the
// supervisor.
func (c *conn) fail(err error) {
	c.failMu.Lock()
	if c.failErr == nil {
		c.failErr = err
		close(c.failed)
	}
	c.failMu.Unlock()
}

// run is the connection's life: connect, serve, back off, again, until the
// pool closes.
func (c *conn) run() {
	defer c.p.wg.Done()
	p := c.p
	attempt := 0
	for {
		select {
		case <-p.closing:
			return
		default:
		}
		nc, b, err := c.connect()
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			p.connFailed(err)
		} else {
			start := time.Now()
			cause, closing := c.serve(nc, b)
			p.connDown(cause)
			if closing {
				return
			}
			if time.Since(start) >= p.o.MaxBackoff {
				attempt = 0
			}
		}
		t := time.NewTimer(backoff(attempt, p.o.MinBackoff, p.o.MaxBackoff))
		select {
		case <-t.C:
		case <-p.closing:
			t.Stop()
			return
		}
		attempt++
	}
}

// aLongTimeAgo is a deadline in the past: setting it aborts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// connect dials and bootstraps within Options.ConnectTimeout. Pool.Close
// aborts it.
func (c *conn) connect() (net.Conn, *bootstrapper, error) {
	p := c.p
	ctx, cancel := context.WithTimeout(p.ctx, p.o.ConnectTimeout)
	defer cancel()
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	c.cr.nc = nc
	c.rd.Reset(&c.cr)
	b := &bootstrapper{w: nc, rd: c.rd, o: &p.o, scram: &p.scram}
	err = b.run()
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = nc.Close()
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("bootstrap did not finish within %v: %w", p.o.ConnectTimeout, err)
		}
		return nil, nil, err
	}
	return nc, b, nil
}

// serve runs the connected nc until it fails, hangs, or the pool closes and
// it has drained. It returns why it ended (nil after a drain) and whether the
// pool is closing.
func (c *conn) serve(nc net.Conn, b *bootstrapper) (cause error, closing bool) {
	p := c.p
	c.failErr = nil
	c.failed = make(chan struct{})
	c.owed.Store(0)
	c.bw.Reset(nc)
	now := p.now()
	c.lastRead, c.lastReadAt = c.cr.n.Load(), now

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readLoop() }()
	go func() { defer wg.Done(); c.writeLoop(stop) }()

	c.qmu.Lock()
	c.accepting = true
	c.qmu.Unlock()
	c.up.Store(true)
	p.connUp(b) // after accepting: a pool reported up takes requests

	tick := time.NewTicker(p.o.checkInterval)
	defer tick.Stop()
	closingCh := p.closing
	var drainBy int64
	failWith := ErrConnClosed
loop:
	for {
		select {
		case <-c.failed:
			cause = c.failErr
			break loop
		case t := <-tick.C:
			now := p.since(t)
			if c.check(now) {
				cause = fmt.Errorf("%w: no bytes from the server for %v while it owed %d responses",
					ErrTimeout, p.o.OperationTimeout, c.owed.Load())
				failWith = ErrTimeout
				break loop
			}
			if closing && (c.pending.Load() == 0 || now >= drainBy) {
				break loop
			}
		case <-closingCh:
			closingCh = nil
			closing = true
			drainBy = p.now() + int64(p.o.OperationTimeout)
			c.draining.Store(true)
			c.stopAccepting()
			if c.pending.Load() == 0 {
				break loop
			}
		case <-c.drained:
			if closing && c.pending.Load() == 0 {
				break loop
			}
		}
	}
	c.teardown(nc, stop, &wg, failWith)
	return cause, closing
}

// stopAccepting makes Send skip this connection. Queued requests stay queued.
func (c *conn) stopAccepting() {
	c.up.Store(false)
	c.qmu.Lock()
	c.accepting = false
	c.qmu.Unlock()
}

// teardown closes nc, waits for the reader and writer to exit, and fails
// every request still queued or in flight with failWith.
func (c *conn) teardown(nc net.Conn, stop chan struct{}, wg *sync.WaitGroup, failWith error) {
	c.stopAccepting()
	_ = nc.Close()
	close(stop)
	wg.Wait()
	// Both goroutines are gone: nothing else touches the queue or the table.
	rs := c.scratch[:0]
	c.mu.Lock()
	rs = c.tab.drain(rs)
	c.mu.Unlock()
	c.qmu.Lock()
	rs = append(rs, c.queue...)
	clear(c.queue)
	c.queue = c.queue[:0]
	c.qmu.Unlock()
	for i, r := range rs {
		rs[i] = nil
		c.finish(r, failWith)
	}
	c.scratch = rs[:0]
	c.owed.Store(0)
	c.cr.nc = nil
	c.bw.Reset(nil)
}

// check runs on each supervisor tick: it fails the requests whose deadline
// passed and reports whether the server is hung (it owes responses and has
// sent no byte for OperationTimeout).
func (c *conn) check(now int64) (hung bool) {
	if n := c.cr.n.Load(); n != c.lastRead {
		c.lastRead, c.lastReadAt = n, now
	}
	c.mu.Lock()
	rs := c.tab.expire(now, c.scratch[:0])
	c.mu.Unlock()
	for i, r := range rs {
		rs[i] = nil
		c.finish(r, ErrTimeout)
	}
	c.scratch = rs[:0]
	if c.owed.Load() <= 0 {
		return false
	}
	since := max(c.owedSince.Load(), c.lastReadAt)
	return now-since > int64(c.p.o.OperationTimeout)
}
