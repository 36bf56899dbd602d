package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/internal/tlsconf"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
	"github.com/vbproxy/vbproxy/proxy/upstream"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Server serves one bucket to memcached clients on one or more listeners,
// forwarding each key request to the node that owns its vBucket. Its data
// path runs on Options.Loops event loops (package eventloop); Server's
// methods are safe for concurrent use. Create it with New.
type Server struct {
	o       Options
	lv      live // the settings Reconfigure changes
	log     *slog.Logger
	obs     Observer
	pobs    ProtocolObserver // obs, when it implements it
	upObs   UpstreamObserver // obs, when it implements it
	version []byte
	started time.Time
	loops   []*loopState
	loopWG  sync.WaitGroup
	next    atomic.Uint32 // round-robin over loops for new connections

	closing atomic.Bool   // Shutdown began: refuse connections, stop retries
	warm    atomic.Bool   // every node's first connection attempt ended (Ready)
	closed  chan struct{} // closed when Shutdown begins
	ctx     context.Context
	cancel  context.CancelFunc // at Shutdown: aborts admissions in progress

	mu           sync.Mutex
	listeners    map[net.Listener]struct{}
	lsts         map[*listener]struct{} // listeners being served
	defaultUsers map[string]string      // the users of listeners without their own (Reconfigure)
	sessions     map[*session]struct{}
	serving      int
	admitting    sync.WaitGroup // Serve loops and PROXY-header goroutines: they hand connections to loops

	nodesMu   sync.Mutex
	nodes     map[string]*upstream.Node // nodes of the current map
	order     []string                  // their addresses in map order
	refs      map[*upstream.Node]int    // open connections per node (across loops)
	retired   map[*upstream.Node]bool   // nodes that left the map, closing once unreferenced
	conns     sync.WaitGroup            // upstream connections not closed yet
	nodeClose sync.WaitGroup            // Node.Close calls in progress
	resolvers sync.WaitGroup            // collection resolvers (end at Shutdown)
	poolsShut bool

	wg sync.WaitGroup // sessions

	connsOpen    atomic.Int64 // client connections open (accepted, not yet ended)
	connsTotal   atomic.Uint64
	connsRefused atomic.Uint64
	authFailures atomic.Uint64
	nmvbRetries  atomic.Uint64
	replicaReads atomic.Uint64

	collMu      sync.Mutex
	collections map[string]*collection // by path, shared by the listeners serving it

	offerMu   sync.Mutex
	lastOffer map[string][]byte // per node: the last NOT_MY_VBUCKET config offered
	upOpts    upstream.Options
}

// New checks o, starts the event loops, opens connections to the nodes of
// the current map (if one is loaded) and subscribes to map changes so that
// connections follow the map.
func New(o Options) (*Server, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	s := &Server{
		o:            o,
		log:          o.Logger,
		obs:          o.Observer,
		version:      []byte(o.Version),
		started:      time.Now(),
		closed:       make(chan struct{}),
		listeners:    make(map[net.Listener]struct{}),
		lsts:         make(map[*listener]struct{}),
		defaultUsers: o.Users,
		sessions:     make(map[*session]struct{}),
		nodes:        make(map[string]*upstream.Node),
		refs:         make(map[*upstream.Node]int),
		retired:      make(map[*upstream.Node]bool),
		lastOffer:    make(map[string][]byte),
		collections:  make(map[string]*collection),
	}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	s.pobs, _ = s.obs.(ProtocolObserver)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.lv.store(&s.o)
	s.upObs, _ = s.obs.(UpstreamObserver)
	s.upOpts = upstream.Options{
		Bucket:           o.Bucket,
		User:             o.User,
		Password:         o.Password,
		QueueSize:        o.QueueSize,
		ConnectTimeout:   o.ConnectTimeout,
		OperationTimeout: o.OperationTimeout,
		TLS:              o.UpstreamTLS,
		Collections:      o.Collections,
		SCRAMOverTLS:     o.SCRAMOverTLS,
		Logger:           o.Logger,
		OnState:          func(node string, st upstream.State) { s.obs.UpstreamConn(node, UpstreamState(st)) },
		OnError:          func(node, kind string) { s.obs.UpstreamError(node, kind) },
	}
	for i := range o.Loops {
		lp, err := eventloop.New(eventloop.Options{Name: fmt.Sprintf("%s/%d", o.Bucket, i)})
		if err != nil {
			s.stopLoops()
			return nil, err
		}
		s.loops = append(s.loops, newLoopState(s, lp, i, o.PoolSize))
		s.loopWG.Go(func() {
			if err := lp.Run(); err != nil {
				s.log.Error("event loop failed", "loop", i, "err", err)
			}
		})
	}
	o.Map.Subscribe(s.mapChanged)
	if m := o.Map.Current(); m != nil {
		s.mapChanged(nil, m)
	}
	return s, nil
}

// stopLoops stops every loop and waits for them.
func (s *Server) stopLoops() {
	for _, ls := range s.loops {
		ls.lp.Stop()
	}
	s.loopWG.Wait()
}

// onEveryLoop runs fn on each loop (asynchronously).
func (s *Server) onEveryLoop(fn func(ls *loopState)) {
	for _, ls := range s.loops {
		ls.lp.Post(func() { fn(ls) })
	}
}

// onEveryLoopWait runs fn on each loop and waits for all of them.
func (s *Server) onEveryLoopWait(fn func(ls *loopState)) {
	var wg sync.WaitGroup
	for _, ls := range s.loops {
		wg.Add(1)
		ls.lp.Post(func() { defer wg.Done(); fn(ls) })
	}
	wg.Wait()
}

// mapChanged makes the node set follow the map: nodes that joined get
// connections on every loop, the connections of nodes that left drain.
func (s *Server) mapChanged(old, m *vbmap.Map) {
	if m == nil {
		return
	}
	s.nodesMu.Lock()
	if s.poolsShut {
		s.nodesMu.Unlock()
		return
	}
	next := make(map[string]*upstream.Node, len(m.Nodes()))
	order := make([]string, 0, len(m.Nodes()))
	list := make([]*upstream.Node, 0, len(m.Nodes()))
	for _, n := range m.Nodes() {
		if n.Addr == "" || next[n.Addr] != nil {
			continue
		}
		node := s.nodes[n.Addr]
		if node == nil {
			node = upstream.NewNode(n.Addr, s.upOpts)
		}
		next[n.Addr] = node
		order = append(order, n.Addr)
		list = append(list, node)
	}
	for addr, node := range s.nodes {
		if next[addr] != node {
			s.retire(node)
		}
	}
	s.nodes, s.order = next, order
	s.nodesMu.Unlock()
	s.onEveryLoop(func(ls *loopState) { ls.updateNodes(list) })
	if old != nil {
		s.log.Debug("vBucket map changed", "rev", m.Revision().String(), "nodes", len(order), "origin", m.Origin())
	}
}

// retire marks a node that left: it closes once its last connection has.
// s.nodesMu is held.
func (s *Server) retire(node *upstream.Node) {
	s.retired[node] = true
	if s.refs[node] == 0 {
		s.closeNode(node)
	}
}

func (s *Server) closeNode(node *upstream.Node) {
	delete(s.retired, node)
	delete(s.refs, node)
	s.nodeClose.Go(node.Close)
}

// connOpened and connClosed count a node's connections across loops.
func (s *Server) connOpened(node *upstream.Node) {
	s.conns.Add(1)
	s.nodesMu.Lock()
	s.refs[node]++
	s.nodesMu.Unlock()
}

func (s *Server) connClosed(node *upstream.Node) {
	s.nodesMu.Lock()
	s.refs[node]--
	if s.refs[node] <= 0 && s.retired[node] {
		s.closeNode(node)
	}
	s.nodesMu.Unlock()
	s.conns.Done()
}

// connsPerNode is the number of connections each node gets when all are
// up: Options.PoolSize sets on each loop.
func (s *Server) connsPerNode() int { return len(s.loops) * s.o.PoolSize }

// ServeListener accepts client connections on ln, serving l, until Shutdown
// (then it returns ErrServerClosed) or an accept error that is not
// temporary. Each accepted connection joins one of the event loops (after
// l.Edge admitted it: PROXY header, TLS). It may be called for several
// listeners at once; they share the loops and upstream connections.
func (s *Server) ServeListener(ln net.Listener, l Listener) error {
	lst, err := s.newListener(l)
	if err != nil {
		_ = ln.Close()
		return err
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.lsts[lst] = struct{}{}
	s.serving++
	s.admitting.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		delete(s.lsts, lst)
		s.serving--
		s.mu.Unlock()
		s.admitting.Done()
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "loops", len(s.loops)) // the logger names the bucket

	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// EMFILE and the like: back off, do not spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
				case <-s.closed:
				}
				continue
			}
			return err
		}
		delay = 0
		s.accept(c, lst)
	}
}

// isTemporary reports accept errors worth retrying (EMFILE, ECONNABORTED...).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// accept admits c, or refuses it when MaxConns is reached or the server is
// shutting down.
func (s *Server) accept(c net.Conn, lst *listener) {
	n := s.connsOpen.Add(1)
	if max := s.lv.maxConns.Load(); max > 0 && n > max {
		s.connsOpen.Add(-1)
		s.refuse(c, "max_connections reached")
		return
	}
	if s.closing.Load() {
		s.connsOpen.Add(-1)
		s.refuse(c, "shutting down")
		return
	}
	s.connsTotal.Add(1)
	s.obs.ClientConn(ConnAccepted)
	if lst.Edge != nil {
		s.admitting.Add(1)
		go func() {
			defer s.admitting.Done()
			s.admit(c, lst)
		}()
		return
	}
	s.handoff(c, lst, c.RemoteAddr().String(), c.LocalAddr().String(), nil, "")
}

// admit runs the edge (PROXY header, TLS handshake) on the connection's own
// goroutine, then hands it to a loop. A refused connection is closed by the
// edge, which logs why.
func (s *Server) admit(c net.Conn, lst *listener) {
	a, err := lst.Edge.Admit(s.ctx, c)
	if err != nil {
		s.connEnded()
		return
	}
	s.handoff(a.Conn, lst, a.Remote.String(), a.Local.String(), a.Buffered, a.User)
}

func (s *Server) refuse(c net.Conn, why string) {
	s.connsRefused.Add(1)
	s.obs.ClientConn(ConnRefused)
	_ = c.Close()
	s.log.Debug("client connection refused", "reason", why)
}

// handoff gives an admitted connection to the next loop. pre holds bytes
// already read from it; user is the user its client certificate maps to.
func (s *Server) handoff(c net.Conn, lst *listener, remote, local string, pre []byte, user string) {
	fd, _, err := eventloop.Detach(c)
	if err != nil {
		s.log.Warn("client connection not handed to a loop", "remote", remote, "err", err)
		s.connEnded()
		return
	}
	ls := s.loops[int(s.next.Add(1))%len(s.loops)]
	s.wg.Add(1)
	ls.lp.Post(func() { ls.startSession(lst, fd, remote, local, pre, user) })
}

// startSession runs on the loop: the session is registered and starts.
func (ls *loopState) startSession(lst *listener, fd int, remote, local string, pre []byte, user string) {
	s := newSession(ls, lst, fd, remote, local)
	if _, ok := lst.users()[user]; ok && user != "" {
		// A verified client certificate stands in for SASL.
		s.authed = true
		s.authedNow.Store(true)
	}
	ls.sessions[s] = struct{}{}
	srv := ls.srv
	srv.mu.Lock()
	srv.sessions[s] = struct{}{}
	srv.mu.Unlock()
	if srv.closing.Load() {
		s.readDone = true
	}
	s.start(pre)
	if srv.closing.Load() {
		s.maybeClose()
	}
}

// connEnded accounts for a client connection that ended.
func (s *Server) connEnded() {
	s.connsOpen.Add(-1)
	s.obs.ClientConn(ConnClosed)
}

// sessionDone unregisters an ended session.
func (s *Server) sessionDone(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.connEnded()
	s.wg.Done()
}

// Shutdown stops accepting, lets every session finish the requests it has
// already read (their replies are written), then closes client and upstream
// connections and stops the loops. When ctx ends first, the remaining
// client connections are closed at once and ctx's error is returned;
// requests still in flight upstream then end in the background within
// OperationTimeout (the connections drain them), and the loops stop after.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closing.Swap(true)
	if first {
		close(s.closed)
		s.cancel()
	}
	for ln := range s.listeners {
		_ = ln.Close()
	}
	s.mu.Unlock()
	if !first {
		s.loopWG.Wait()
		return nil
	}
	// Every connection already accepted reaches its loop before the loops
	// are told to stop reading.
	s.admitting.Wait()
	s.onEveryLoop(func(ls *loopState) {
		for sess := range ls.sessions {
			sess.stop()
		}
	})
	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		// Out of time: close every client connection now; requests still in
		// flight upstream end within their operation timeout.
		s.onEveryLoop(func(ls *loopState) {
			for sess := range ls.sessions {
				sess.close()
			}
		})
		s.log.Warn("shutdown deadline passed; client connections closed, upstream draining in the background")
		go s.closePools()
		return ctx.Err()
	}
	s.closePools()
	s.log.Info("proxy stopped")
	return nil
}

// closePools drains and closes every upstream connection, closes the nodes,
// and stops the loops.
func (s *Server) closePools() {
	s.nodesMu.Lock()
	s.poolsShut = true
	for _, node := range s.nodes {
		s.retired[node] = true
	}
	s.nodesMu.Unlock()
	// Wait for every loop to run it: a map change posted before (its
	// connections not created yet) runs first, so the wait below counts
	// every connection it opens.
	s.onEveryLoopWait(func(ls *loopState) { ls.closeConns() })
	s.conns.Wait()
	s.nodesMu.Lock()
	for node := range s.retired {
		if s.refs[node] <= 0 {
			s.closeNode(node)
		}
	}
	s.nodes = map[string]*upstream.Node{}
	s.order = nil
	s.nodesMu.Unlock()
	s.nodeClose.Wait() // the dial goroutines have posted what they had
	s.resolvers.Wait()
	s.stopLoops()
}

// Ready reports whether the server is serving at least one listener and a
// vBucket map is loaded.
//
// At start it also waits until the first connection attempt to every node
// of the map has ended (up, or down with a reason): a load balancer that
// sends traffic on readiness would otherwise see the first requests wait
// for those connections. Once warm, nodes that join later (a rebalance)
// never make it unready.
func (s *Server) Ready() bool {
	if s.closing.Load() || s.o.Map.Current() == nil {
		return false
	}
	s.mu.Lock()
	serving := s.serving > 0
	s.mu.Unlock()
	if !serving {
		return false
	}
	if s.warm.Load() {
		return true
	}
	for _, n := range s.Nodes() {
		if n.State == upstream.StateConnecting.String() {
			return false
		}
	}
	s.warm.Store(true)
	return true
}

// NodeStatus is the state of the upstream connections to one node.
type NodeStatus struct {
	Addr   string
	State  string // "connecting", "up", "down"
	Conns  int    // connections up (across loops and sets)
	Reason string // why the node is down (the last connection error), "" when up
}

// Nodes returns the state of every node of the current map, in map order.
func (s *Server) Nodes() []NodeStatus {
	s.nodesMu.Lock()
	defer s.nodesMu.Unlock()
	out := make([]NodeStatus, 0, len(s.order))
	for _, addr := range s.order {
		n := s.nodes[addr]
		st := NodeStatus{Addr: addr, State: n.State().String(), Conns: n.Conns()}
		if n.State() != upstream.StateUp {
			if err := n.LastError(); err != nil {
				st.Reason = nodeReason(err)
			}
		}
		out = append(out, st)
	}
	return out
}

// nodeReason is the short text of why a node is down: a TLS failure as
// tlsconf describes it (untrusted, name mismatch, expired), else the error.
func nodeReason(err error) string {
	if errors.Is(err, upstream.ErrTLS) {
		return "TLS: " + tlsconf.DescribeTLSError(err)
	}
	return err.Error()
}

// ClientStatus describes one client connection.
type ClientStatus struct {
	Remote string // the client's address (from the PROXY header when there is one)
	Local  string // the listener address the client connected to
	Since  time.Time
	Authed bool // true also when no authentication is required
}

// Clients returns the connected clients (for admin and tests).
func (s *Server) Clients() []ClientStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ClientStatus, 0, len(s.sessions))
	for sess := range s.sessions {
		out = append(out, ClientStatus{Remote: sess.remote, Local: sess.local, Since: sess.since, Authed: sess.authedNow.Load()})
	}
	return out
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Bucket:       s.o.Bucket,
		Uptime:       time.Since(s.started),
		Version:      s.o.Version,
		ConnsCurrent: s.connsOpen.Load(),
		ConnsTotal:   s.connsTotal.Load(),
		ConnsRefused: s.connsRefused.Load(),
		AuthFailures: s.authFailures.Load(),
		NMVBRetries:  s.nmvbRetries.Load(),
		ReplicaReads: s.replicaReads.Load(),
	}
	for _, ls := range s.loops {
		ls.c.addTo(&st)
	}
	if m := s.o.Map.Current(); m != nil {
		st.MapRevision = m.Revision().String()
		st.Nodes = len(m.Nodes())
	}
	return st
}

// nmvbRetry counts one NOT_MY_VBUCKET retry.
func (s *Server) nmvbRetry() {
	s.nmvbRetries.Add(1)
	s.obs.NMVBRetry()
}

// offer hands a NOT_MY_VBUCKET config to the map source, unless the same
// config from the same node was offered last (a burst of replies from one
// node carries the same config; parsing it once is enough).
func (s *Server) offer(body []byte, node string) {
	s.offerMu.Lock()
	last := s.lastOffer[node]
	if string(last) == string(body) {
		s.offerMu.Unlock()
		return
	}
	s.lastOffer[node] = append(last[:0], body...)
	s.offerMu.Unlock()
	if _, err := s.o.Map.Offer(body, hostOf(node)); err != nil {
		s.log.Debug("NOT_MY_VBUCKET config not applied", "node", node, "err", err)
	}
}

// nopObserver is the Observer when none is configured.
type nopObserver struct{}

func (nopObserver) Request(memcached.Opcode, memcached.Status, time.Duration) {}
func (nopObserver) ClientConn(ConnEvent)                                      {}
func (nopObserver) UpstreamConn(string, UpstreamState)                        {}
func (nopObserver) NMVBRetry()                                                {}
func (nopObserver) UpstreamError(string, string)                              {}
func (nopObserver) Bytes(int, int)                                            {}
