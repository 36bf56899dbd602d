package sim

import (
	"net"
	"slices"
	"sync"
)

// mgmtGate wraps a cluster manager listener (http or https) so that the
// cluster's managers can be made unreachable while KV stays up
// (Cluster.SetMgmtReachable). While they are, the gate resets (TCP RST)
// every connection the kernel accepts, and on the switch it resets the
// connections it let through before, config streams included: clients see
// what a firewall that rejects with tcp-reset shows them. The listener stays
// bound, so the port is never lost to another socket.
type mgmtGate struct {
	net.Listener
	c *Cluster

	mu    sync.Mutex
	conns map[*gateConn]struct{}
}

// gateMgmt wraps ln and registers the gate with the cluster.
func (c *Cluster) gateMgmt(ln net.Listener) net.Listener {
	g := &mgmtGate{Listener: ln, c: c, conns: make(map[*gateConn]struct{})}
	c.gatesMu.Lock()
	c.gates = append(c.gates, g)
	c.gatesMu.Unlock()
	return g
}

// Accept returns the next connection while the managers are reachable and
// resets the others.
func (g *mgmtGate) Accept() (net.Conn, error) {
	for {
		conn, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		if g.c.mgmtDown.Load() {
			g.mu.Unlock()
			resetConn(conn)
			continue
		}
		gc := &gateConn{Conn: conn, g: g}
		g.conns[gc] = struct{}{}
		g.mu.Unlock()
		return gc, nil
	}
}

// Close closes the listener and forgets the gate.
func (g *mgmtGate) Close() error {
	g.c.gatesMu.Lock()
	g.c.gates = slices.DeleteFunc(g.c.gates, func(x *mgmtGate) bool { return x == g })
	g.c.gatesMu.Unlock()
	return g.Listener.Close()
}

// resetAll resets every connection the gate let through.
func (g *mgmtGate) resetAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for gc := range g.conns {
		resetConn(gc.Conn)
		delete(g.conns, gc)
	}
}

// gateConn is a connection let through a gate; closing it forgets it.
type gateConn struct {
	net.Conn
	g *mgmtGate
}

func (gc *gateConn) Close() error {
	gc.g.mu.Lock()
	delete(gc.g.conns, gc)
	gc.g.mu.Unlock()
	return gc.Conn.Close()
}

// resetConn closes conn with a TCP RST where it can (linger 0).
func resetConn(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
