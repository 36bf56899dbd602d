package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/vbproxy/vbproxy/internal/kvconn"
	"github.com/vbproxy/vbproxy/internal/tlsconf"
)

// Node is the state one node's connections share: the address and options,
// the dialer and SASL caches, and the node's aggregate state. Each event
// loop has its own Conns to the node (one per connection set); they report
// their transitions here. Node's methods are safe for concurrent use and are
// called only on connection events, never per request.
type Node struct {
	addr   string
	o      Options
	log    *slog.Logger
	dialer net.Dialer
	scram  kvconn.SCRAMCache
	ctx    context.Context // cancelled by Close: aborts dials and bootstraps
	cancel context.CancelFunc
	dials  sync.WaitGroup // dial goroutines in progress

	upConns atomic.Int32
	state   atomic.Int32

	mu      sync.Mutex // serializes transitions, OnState calls and error logging
	conns   int        // Conns attached and not closed
	failed  int        // Conns whose last attempt failed (down)
	closed  bool
	lastErr error
	logged  string // the last connection error logged at warn level
}

// NewNode returns the shared state of the node at addr ("host:port").
// It starts Connecting; the connections do the connecting.
func NewNode(addr string, o Options) *Node {
	o = o.withDefaults()
	n := &Node{addr: addr, o: o, log: o.Logger.With("node", addr)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.log.Info("upstream connecting")
	if o.OnState != nil {
		o.OnState(addr, StateConnecting)
	}
	return n
}

// Addr returns the node's address.
func (n *Node) Addr() string { return n.addr }

// State returns the node's state: Up while any of its connections is up,
// Down when none is and one has failed, Connecting before that.
func (n *Node) State() State { return State(n.state.Load()) }

// Conns returns the number of its connections that are up.
func (n *Node) Conns() int { return int(n.upConns.Load()) }

// LastError returns why the last connection went down or the last attempt
// failed (ErrAuth wrapped with the detail after a refused login), or nil.
func (n *Node) LastError() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastErr
}

// Close aborts the dials in progress, waits for their goroutines, and marks
// the node Down. Call it once every Conn of the node is closed.
func (n *Node) Close() {
	n.cancel()
	n.dials.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	n.setState(StateDown, nil)
	n.log.Info("upstream closed")
}

func (n *Node) onError(kind string) {
	if n.o.OnError != nil {
		n.o.OnError(n.addr, kind)
	}
}

// attach counts a new connection (connecting).
func (n *Node) attach() {
	n.mu.Lock()
	n.conns++
	n.mu.Unlock()
}

// connUp: a connection finished its bootstrap. wasFailed says it was down.
func (n *Node) connUp(wasFailed bool, b *handshake) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if wasFailed {
		n.failed--
	}
	n.upConns.Add(1)
	n.lastErr = nil
	n.logged = ""
	if n.State() != StateUp {
		n.setState(StateUp, nil)
		n.log.Info("upstream up", "mech", b.mech, "plain_memcached", b.plain)
	}
}

// connFailed: an attempt (dial or bootstrap) failed. wasFailed says the
// connection was already down.
func (n *Node) connFailed(wasFailed bool, err error) {
	kind := KindIO
	if errors.Is(err, ErrAuth) {
		kind = KindAuth
	}
	n.onError(kind)
	n.mu.Lock()
	defer n.mu.Unlock()
	if !wasFailed {
		n.failed++
	}
	n.lastErr = err
	if n.upConns.Load() == 0 && n.State() != StateDown {
		n.setState(StateDown, err)
		return
	}
	n.logError("upstream connection attempt failed", err)
}

// connDown: an up connection ended; cause is nil after a drain.
func (n *Node) connDown(cause error) {
	if cause != nil && !errors.Is(cause, ErrTimeout) {
		n.onError(KindIO) // a hung connection's requests count as timeouts
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	left := n.upConns.Add(-1)
	if cause == nil {
		return
	}
	n.failed++
	n.lastErr = cause
	if left == 0 {
		n.setState(StateDown, cause)
		return
	}
	n.logError("upstream connection lost", cause)
}

// detach: a connection closed for good. wasFailed says it was down.
func (n *Node) detach(wasFailed bool) {
	n.mu.Lock()
	n.conns--
	if wasFailed {
		n.failed--
	}
	n.mu.Unlock()
}

// setState records a transition, logs it and calls OnState. n.mu is held.
func (n *Node) setState(s State, err error) {
	if n.State() == s {
		return
	}
	n.state.Store(int32(s))
	switch {
	case s == StateUp:
	case err != nil:
		n.log.Warn("upstream down", "error", err)
		n.logged = logKey(err)
	}
	if n.o.OnState != nil {
		n.o.OnState(n.addr, s)
	}
}

// logError logs err at warn level when it differs from the last one logged,
// at debug level otherwise: a node failing the same way on every retry logs
// once. n.mu is held.
func (n *Node) logError(msg string, err error) {
	if s := logKey(err); s != n.logged {
		n.logged = s
		n.log.Warn(msg, "error", err)
		return
	}
	n.log.Debug(msg, "error", err)
}

// logKey is what makes two connection errors "the same" for logging: a TLS
// failure by its reason (x509's expiry text carries the current time).
func logKey(err error) string {
	if errors.Is(err, ErrTLS) {
		return "TLS: " + tlsconf.DescribeTLSError(err)
	}
	return err.Error()
}
