package proxy

import (
	"github.com/vbproxy/vbproxy/proxy/eventloop"
	"github.com/vbproxy/vbproxy/proxy/upstream"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Buffer sizes of the client side.
const (
	loopReadBuf   = 64 << 10 // one loop's read buffer, shared by its sessions
	clientOutBuf  = 16 << 10 // a session's output buffer while it has replies to write
	keepOutBuf    = 64 << 10 // a larger output buffer is dropped once written
	maxPendingOut = 1 << 20  // past this much unwritten output a session stops parsing requests
	// maxInflightBytes bounds the request bytes a session holds in flight
	// (a pipeline of large SETs): past it, it stops parsing until replies
	// free some.
	maxInflightBytes = 4 << 20
	// loopInflightBytes bounds them for all the sessions of a loop: past
	// it, a session that has a request in flight takes no other until the
	// loop is below it again (one that has none may always take one).
	loopInflightBytes = 64 << 20
	// maxReadPerRound is what one session reads in one loop round; the
	// rest waits for the next round, so that a client streaming large
	// values cannot make a round (and every other client's wait) long.
	maxReadPerRound = 256 << 10
)

// loopState is the proxy's side of one event loop: the sessions it serves,
// its upstream connections (Options.PoolSize sets of one upstream.Conn per
// node), its counters and its buffers. It is owned by the loop's thread;
// other goroutines reach it only through lp.Post.
type loopState struct {
	srv      *Server
	lp       *eventloop.Loop
	id       int
	sets     []connSet
	draining map[*upstream.Conn]struct{} // conns to nodes that left, until closed
	sessions map[*session]struct{}
	nextSet  int
	readBuf  []byte     // every session reads into it first
	outFree  [][]byte   // output buffers given back by idle sessions
	inflight int        // request bytes held by the loop's sessions' slots
	starved  []*session // sessions waiting for inflight to fall below loopInflightBytes
	c        counters
}

// connSet is one connection per node. A session sends everything through
// one set, so its requests to a node travel on one connection and execute
// in the order it sent them (a pipelined "SET k; GET k" reads its own
// write), as on one memcached server.
type connSet struct {
	byAddr map[string]*upstream.Conn
	// The routing cache: the connection of each node of the map routed on
	// last (by node index), so that routing is an index, not a map lookup.
	m     *vbmap.Map
	conns []*upstream.Conn
}

func newLoopState(srv *Server, lp *eventloop.Loop, id, sets int) *loopState {
	ls := &loopState{
		srv:      srv,
		lp:       lp,
		id:       id,
		sets:     make([]connSet, sets),
		draining: map[*upstream.Conn]struct{}{},
		sessions: map[*session]struct{}{},
		readBuf:  make([]byte, loopReadBuf),
	}
	for i := range ls.sets {
		ls.sets[i].byAddr = map[string]*upstream.Conn{}
	}
	return ls
}

// conn returns the connection of set to node index node of m, nil when the
// loop has none (yet).
func (ls *loopState) conn(set int, m *vbmap.Map, node int) *upstream.Conn {
	cs := &ls.sets[set]
	if cs.m != m {
		nodes := m.Nodes()
		cs.conns = cs.conns[:0]
		for _, n := range nodes {
			cs.conns = append(cs.conns, cs.byAddr[n.Addr])
		}
		cs.m = m
	}
	return cs.conns[node]
}

// updateNodes makes every set hold exactly one connection per node in
// nodes: new nodes get a connection (dialing), connections to nodes that
// left drain their requests in flight and close.
func (ls *loopState) updateNodes(nodes []*upstream.Node) {
	keep := make(map[string]*upstream.Node, len(nodes))
	for _, n := range nodes {
		keep[n.Addr()] = n
	}
	for i := range ls.sets {
		cs := &ls.sets[i]
		for addr, c := range cs.byAddr {
			if keep[addr] != c.Node() {
				delete(cs.byAddr, addr)
				ls.draining[c] = struct{}{}
				c.Drain()
			}
		}
		for _, n := range nodes {
			if cs.byAddr[n.Addr()] == nil {
				cs.byAddr[n.Addr()] = ls.newConn(n)
			}
		}
		cs.m = nil // rebuild the routing cache
	}
}

func (ls *loopState) newConn(n *upstream.Node) *upstream.Conn {
	ls.srv.connOpened(n)
	var c *upstream.Conn
	c = upstream.NewConn(n, ls.lp, func() {
		delete(ls.draining, c)
		ls.srv.connClosed(n)
	})
	return c
}

// closeConns drains every connection (Shutdown, once the sessions are done).
func (ls *loopState) closeConns() {
	for i := range ls.sets {
		cs := &ls.sets[i]
		for addr, c := range cs.byAddr {
			delete(cs.byAddr, addr)
			ls.draining[c] = struct{}{}
			c.Drain()
		}
		cs.m = nil
	}
}

// outBuf returns an empty output buffer.
func (ls *loopState) outBuf() []byte {
	if n := len(ls.outFree); n > 0 {
		b := ls.outFree[n-1]
		ls.outFree[n-1] = nil
		ls.outFree = ls.outFree[:n-1]
		return b
	}
	return make([]byte, 0, clientOutBuf)
}

// putOutBuf takes back a written output buffer; a grown one is dropped, and
// the free list is capped so that a burst of sessions does not pin memory.
func (ls *loopState) putOutBuf(b []byte) {
	if cap(b) > keepOutBuf || len(ls.outFree) >= 64 {
		return
	}
	ls.outFree = append(ls.outFree, b[:0])
}

// wakeStarved lets the sessions that waited for the loop's in-flight
// budget read again (at the end of this round).
func (ls *loopState) wakeStarved() {
	for i, s := range ls.starved {
		ls.starved[i] = nil
		s.starved = false
		if !s.closed {
			s.markDirty() // its Flush resumes it
		}
	}
	ls.starved = ls.starved[:0]
}
