package upstream

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// Pool is a small set of long-lived, pipelined connections to one node,
// shared by every session. Its methods are safe for concurrent use.
type Pool struct {
	addr   string
	o      Options
	log    *slog.Logger
	epoch  time.Time // the pool clock: deadlines are nanoseconds since epoch
	conns  []*conn
	rr     atomic.Uint32
	dialer net.Dialer
	scram  scramClients

	closed  atomic.Bool
	closing chan struct{} // closed by Close: stop accepting and drain
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	state   atomic.Int32
	upConns atomic.Int32
	lastErr atomic.Pointer[error]
	smu     sync.Mutex // serializes state changes, OnState calls and error logging
	logged  string     // the last connection error logged at warn level
}

// NewPool starts connecting to addr ("host:port") and returns at once. Send
// returns ErrNodeDown until a connection is up.
func NewPool(addr string, o Options) *Pool {
	o = o.withDefaults()
	p := &Pool{
		addr:    addr,
		o:       o,
		log:     o.Logger.With("node", addr),
		epoch:   time.Now(),
		closing: make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.conns = make([]*conn, o.PoolSize)
	for i := range p.conns {
		p.conns[i] = newConn(p)
	}
	p.smu.Lock()
	p.log.Info("upstream connecting", "conns", o.PoolSize)
	if o.OnState != nil {
		o.OnState(addr, StateConnecting)
	}
	p.smu.Unlock()
	p.wg.Add(len(p.conns))
	for _, c := range p.conns {
		go c.run()
	}
	return p
}

// Addr returns the node address the pool connects to.
func (p *Pool) Addr() string { return p.addr }

// State returns the pool's state.
func (p *Pool) State() State { return State(p.state.Load()) }

// Conns returns the number of connections that are up.
func (p *Pool) Conns() int { return int(p.upConns.Load()) }

// LastError returns the error that took the last connection down or failed
// the last connection attempt (ErrAuth wrapped with the detail after a refused
// login), or nil when the pool is up or has not failed yet.
func (p *Pool) LastError() error {
	if e := p.lastErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Pending returns the number of requests queued or in flight on the pool's
// connections.
func (p *Pool) Pending() int {
	n := 0
	for _, c := range p.conns {
		n += int(c.pending.Load())
	}
	return n
}

// now reads the pool clock (monotonic).
func (p *Pool) now() int64 { return int64(time.Since(p.epoch)) }

// since converts t to the pool clock.
func (p *Pool) since(t time.Time) int64 { return int64(t.Sub(p.epoch)) }

// Send queues r on one of the pool's up connections (the least loaded,
// round-robin among equals) and returns at once. When it returns nil,
// r.Done.Complete(r) will be called exactly once. Otherwise it returns
// ErrNodeDown, ErrQueueFull, ErrClosed or ErrBadRequest and never calls
// Complete. It does not allocate.
func (p *Pool) Send(r *Request) error {
	pkt := r.Packet
	if r.Done == nil || len(pkt) < memcached.HeaderLen || pkt[0] != memcached.MagicRequest ||
		int(binary.BigEndian.Uint32(pkt[8:12])) != len(pkt)-memcached.HeaderLen ||
		int(binary.BigEndian.Uint16(pkt[2:4]))+int(pkt[4]) > len(pkt)-memcached.HeaderLen ||
		memcached.Opcode(pkt[1]).Quiet() {
		return ErrBadRequest
	}
	if p.closed.Load() {
		return ErrClosed
	}
	r.opaque = binary.BigEndian.Uint32(pkt[12:16])
	if r.Deadline.IsZero() {
		r.deadline = p.now() + int64(p.o.OperationTimeout)
	} else {
		r.deadline = p.since(r.Deadline)
	}
	for range p.conns {
		c := p.pick()
		if c == nil {
			break
		}
		switch err := c.enqueue(r); err {
		case nil:
			return nil
		case ErrQueueFull:
			p.onError(KindQueueFull)
			return err
		}
		// errNotUp: the connection went down after pick; try another.
	}
	if p.closed.Load() {
		return ErrClosed
	}
	if p.State() != StateConnecting { // a new pool not yet connected is not an error
		p.onError(KindDown)
	}
	return ErrNodeDown
}

// pick returns the up connection with the fewest pending requests, starting
// the scan round-robin so that ties rotate; nil when none is up.
func (p *Pool) pick() *conn {
	n := len(p.conns)
	if n == 1 {
		if c := p.conns[0]; c.up.Load() {
			return c
		}
		return nil
	}
	start := int(p.rr.Add(1))
	var best *conn
	bestLoad := int32(math.MaxInt32)
	for i := range n {
		c := p.conns[(start+i)%n]
		if !c.up.Load() {
			continue
		}
		if l := c.pending.Load(); l < bestLoad {
			best, bestLoad = c, l
		}
	}
	return best
}

// Close stops accepting requests (Send returns ErrClosed), lets the requests
// already sent finish for up to Options.OperationTimeout, then closes the
// connections, failing what is left with ErrConnClosed. It returns when every
// goroutine of the pool has exited. Closing twice is harmless.
func (p *Pool) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		p.wg.Wait()
		return nil
	}
	close(p.closing)
	p.cancel() // aborts dials, bootstraps and backoff sleeps; live connections drain
	p.wg.Wait()
	p.smu.Lock()
	p.setState(StateDown, nil)
	p.log.Info("upstream closed")
	p.smu.Unlock()
	return nil
}

func (p *Pool) onError(kind string) {
	if p.o.OnError != nil {
		p.o.OnError(p.addr, kind)
	}
}

// setState records a state transition, logs it and calls OnState. p.smu is held.
func (p *Pool) setState(s State, err error) {
	if State(p.state.Load()) == s {
		return
	}
	p.state.Store(int32(s))
	switch {
	case s == StateUp:
		p.log.Info("upstream up", "conns", p.upConns.Load())
	case err != nil:
		p.log.Warn("upstream "+s.String(), "error", err)
		p.logged = err.Error()
	default:
		p.log.Info("upstream " + s.String())
	}
	if p.o.OnState != nil {
		p.o.OnState(p.addr, s)
	}
}

// connUp is called when a connection finished its bootstrap.
func (p *Pool) connUp(b *bootstrapper) {
	p.smu.Lock()
	defer p.smu.Unlock()
	p.upConns.Add(1)
	p.lastErr.Store(nil)
	p.logged = ""
	p.log.Debug("upstream connection up", "mechanism", b.mech, "plain_memcached", b.plain,
		"xerror", b.hasFeature(featureXError))
	p.setState(StateUp, nil)
}

// connFailed is called when a connection attempt (dial or bootstrap) failed.
func (p *Pool) connFailed(err error) {
	kind := KindIO
	if errors.Is(err, ErrAuth) {
		kind = KindAuth
	}
	p.onError(kind)
	p.smu.Lock()
	defer p.smu.Unlock()
	p.lastErr.Store(&err)
	if p.upConns.Load() == 0 && State(p.state.Load()) != StateDown {
		p.setState(StateDown, err)
		return
	}
	p.logError("upstream connection attempt failed", err)
}

// connDown is called when an up connection ended; cause is nil after a
// drain on Close.
func (p *Pool) connDown(cause error) {
	if cause != nil && !errors.Is(cause, ErrTimeout) {
		p.onError(KindIO) // a hung connection's requests count as timeouts
	}
	p.smu.Lock()
	defer p.smu.Unlock()
	left := p.upConns.Add(-1)
	if cause == nil {
		return
	}
	p.lastErr.Store(&cause)
	if left == 0 {
		p.setState(StateDown, cause)
		return
	}
	p.logError("upstream connection lost", cause)
}

// logError logs err at warn level when it differs from the last one logged,
// at debug level otherwise: a node failing the same way on every retry logs
// once. p.smu is held.
func (p *Pool) logError(msg string, err error) {
	if s := err.Error(); s != p.logged {
		p.logged = s
		p.log.Warn(msg, "error", err)
		return
	}
	p.log.Debug(msg, "error", err)
}
