package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/armon/go-proxyproto"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Server serves one bucket to memcached binary-protocol clients on one or
// more listeners, forwarding each key request to the node that owns its
// vBucket. Create it with New; it is safe for concurrent use.
type Server struct {
	o       Options
	log     *slog.Logger
	obs     Observer
	pools   *poolGroup
	version []byte
	started time.Time

	closing atomic.Bool   // Shutdown began: refuse connections, stop retries
	closed  chan struct{} // closed when Shutdown begins

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	nextID    uint64 // sessions started: picks each session's pool set
	serving   int    // Serve calls running

	poolsMu   sync.Mutex // serializes Pools.Update and Pools.Close
	poolsShut bool       // pools closed: map changes are ignored

	wg sync.WaitGroup // sessions

	conns        atomic.Int64 // client connections open (accepted, not yet ended)
	connsTotal   atomic.Uint64
	connsRefused atomic.Uint64
	authFailures atomic.Uint64
	nmvbRetries  atomic.Uint64
	ended        counters      // counters of sessions that have ended
	endedIn      atomic.Uint64 // bytes of sessions that have ended
	endedOut     atomic.Uint64

	offerMu   sync.Mutex
	lastOffer map[string][]byte // per node: the last NOT_MY_VBUCKET config offered

	buffers clientBuffers // sessions' read and write buffers (buffers.go)
}

// now returns the current time from the monotonic clock alone (time.Since
// of the start reads one clock, time.Now two): the per-request timestamp,
// used for deadlines and latencies, never for display.
func (s *Server) now() time.Time { return s.started.Add(time.Since(s.started)) }

// New checks o, opens upstream pools for the nodes of the current map (if
// one is loaded) and subscribes to map changes so that pools follow the map.
func New(o Options) (*Server, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	s := &Server{
		o:         o,
		log:       o.Logger,
		obs:       o.Observer,
		version:   []byte(o.Version),
		started:   time.Now(),
		closed:    make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		lastOffer: make(map[string][]byte),
	}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	s.buffers.init(o.MaxRequestSize)
	poolSize := o.PoolSize
	if poolSize == 0 {
		poolSize = upstream.DefaultPoolSize
	}
	s.pools = newPoolGroup(upstream.Options{
		Bucket:           o.Bucket,
		User:             o.User,
		Password:         o.Password,
		QueueSize:        o.QueueSize,
		ConnectTimeout:   o.ConnectTimeout,
		OperationTimeout: o.OperationTimeout,
		Logger:           o.Logger,
		OnError:          func(node, kind string) { s.obs.UpstreamError(node, kind) },
	}, poolSize, s.obs)
	o.Map.Subscribe(s.mapChanged)
	if m := o.Map.Current(); m != nil {
		s.mapChanged(nil, m)
	}
	return s, nil
}

// mapChanged opens pools for the new map's nodes before routing reaches
// them and drains the pools of nodes that left.
func (s *Server) mapChanged(old, m *vbmap.Map) {
	if m == nil {
		return
	}
	nodes := m.Nodes()
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	if s.poolsShut {
		return
	}
	s.pools.update(addrs)
	if old != nil {
		s.log.Debug("vBucket map changed", "rev", m.Revision().String(), "nodes", len(nodes), "origin", m.Origin())
	}
}

// Serve accepts client connections on ln until Shutdown (then it returns
// ErrServerClosed) or an accept error that is not temporary. With
// Options.ProxyProtocol, ln is wrapped to accept PROXY v1 headers. Serve
// may be called for several listeners at once.
func (s *Server) Serve(ln net.Listener) error {
	if s.o.ProxyProtocol {
		ln = &proxyproto.Listener{Listener: ln, ProxyHeaderTimeout: s.o.ProxyHeaderTimeout}
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.serving++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.serving--
		s.mu.Unlock()
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "bucket", s.o.Bucket)

	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
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
		s.accept(c)
	}
}

// isTemporary reports accept errors worth retrying (EMFILE, ECONNABORTED...).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// accept starts a session for c, or refuses it when MaxConns is reached or
// the server is shutting down.
func (s *Server) accept(c net.Conn) {
	n := s.conns.Add(1)
	if max := s.o.MaxConns; max > 0 && n > int64(max) {
		s.conns.Add(-1)
		s.refuse(c, "max_connections reached")
		return
	}
	sess := newSession(s, c)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		s.conns.Add(-1)
		s.refuse(c, "shutting down")
		return
	}
	s.sessions[sess] = struct{}{}
	sess.pools = s.pools.set(s.nextID)
	s.nextID++
	s.wg.Add(1)
	s.mu.Unlock()
	s.connsTotal.Add(1)
	s.obs.ClientConn(ConnAccepted)
	go sess.run()
}

func (s *Server) refuse(c net.Conn, why string) {
	s.connsRefused.Add(1)
	s.obs.ClientConn(ConnRefused)
	_ = c.Close()
	s.log.Debug("client connection refused", "reason", why)
}

// sessionStarted records the session's addresses once it knows them (after
// the PROXY header).
func (s *Server) sessionStarted(sess *session, remote, local string) {
	s.mu.Lock()
	sess.remote, sess.local = remote, local
	s.mu.Unlock()
}

// sessionDone unregisters an ended session and keeps its counters.
func (s *Server) sessionDone(sess *session) {
	s.mu.Lock() // with Stats: a session is counted either live or ended
	sess.c.merge(&s.ended)
	s.endedIn.Add(sess.cc.in.Load())
	s.endedOut.Add(sess.cc.out.Load())
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.conns.Add(-1)
	s.obs.ClientConn(ConnClosed)
	s.wg.Done()
}

// Shutdown stops accepting, lets every session finish the requests it has
// already read (their replies are written), then closes client and upstream
// connections. When ctx ends first, the remaining client connections are
// closed at once and ctx's error is returned; requests still in flight
// upstream then end in the background within OperationTimeout (the pools
// drain them), and their sessions with them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closing.Swap(true)
	if first {
		close(s.closed)
	}
	for ln := range s.listeners {
		_ = ln.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.cc.stop() // the reader ends; the writer drains what was read
	}

	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		// Out of time: close every client connection now. Requests still in
		// flight upstream end within their operation timeout, when the pools
		// (closed in the background) have drained; their sessions end then.
		s.mu.Lock()
		for sess := range s.sessions {
			_ = sess.cc.Close()
		}
		s.mu.Unlock()
		go s.closePools()
		s.log.Warn("shutdown deadline passed; client connections closed, upstream draining in the background")
		return ctx.Err()
	}
	s.closePools()
	if first {
		s.log.Info("proxy stopped", "bucket", s.o.Bucket)
	}
	return nil
}

// closePools closes the upstream pools (once): requests still in flight
// finish or time out, and map changes are ignored from then on.
func (s *Server) closePools() {
	s.poolsMu.Lock()
	s.poolsShut = true
	s.pools.close()
	s.poolsMu.Unlock()
}

// Ready reports whether the server is serving at least one listener and a
// vBucket map is loaded.
func (s *Server) Ready() bool {
	if s.closing.Load() || s.o.Map.Current() == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving > 0
}

// NodeStatus is the state of the upstream pool of one node.
type NodeStatus struct {
	Addr  string
	State string // "connecting", "up", "down"
	Conns int    // connections up
}

// Nodes returns the state of every upstream pool, one per node of the map.
func (s *Server) Nodes() []NodeStatus {
	return s.pools.nodes()
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
		if sess.remote != "" {
			out = append(out, ClientStatus{Remote: sess.remote, Local: sess.local, Since: sess.since, Authed: sess.authedNow.Load()})
		}
	}
	return out
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Bucket:       s.o.Bucket,
		Uptime:       time.Since(s.started),
		Version:      s.o.Version,
		ConnsCurrent: s.conns.Load(),
		ConnsTotal:   s.connsTotal.Load(),
		ConnsRefused: s.connsRefused.Load(),
		AuthFailures: s.authFailures.Load(),
		NMVBRetries:  s.nmvbRetries.Load(),
	}
	s.mu.Lock()
	st.BytesIn, st.BytesOut = s.endedIn.Load(), s.endedOut.Load()
	s.ended.addTo(&st)
	for sess := range s.sessions {
		sess.c.addTo(&st)
		st.BytesIn += sess.cc.in.Load()
		st.BytesOut += sess.cc.out.Load()
	}
	s.mu.Unlock()
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
