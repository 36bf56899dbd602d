package vbmap

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/kvconn"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// Cluster manager faults the tests switch on: real listeners and sockets,
// with the failure injected at the socket of the simulated node's cluster
// manager (the simulator opens every listener through Options.Listen).
const (
	mgmtUp          int32 = iota
	mgmtUnreachable       // connections are closed as soon as they are accepted
)

// mgmtFaults wraps the cluster manager listener of every node (the first
// listener sim opens for a node; faultSim checks it against the nodes'
// management ports).
type mgmtFaults struct {
	mode    atomic.Int32
	mu      sync.Mutex
	calls   map[int]int // Listen calls per node index
	mgmt    []*faultListener
	accepts atomic.Int64 // cluster manager connections accepted and served
}

func (f *mgmtFaults) listen(node int, network, addr string) (net.Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = make(map[int]int)
	}
	first := f.calls[node] == 0
	f.calls[node]++
	if !first {
		return ln, nil
	}
	fl := &faultListener{Listener: ln, f: f}
	f.mgmt = append(f.mgmt, fl)
	return fl, nil
}

// setUnreachable makes every cluster manager refuse connections (and
// closes the open ones), or serve again.
func (f *mgmtFaults) setUnreachable(on bool) {
	if !on {
		f.mode.Store(mgmtUp)
		return
	}
	f.mode.Store(mgmtUnreachable)
	f.each(func(c *faultConn) { _ = c.Close() })
}

// silence makes the cluster manager connections open now silent: their
// writes are dropped (the server believes it sent), the sockets stay open.
// Connections accepted later are served normally. It returns how many were
// silenced.
func (f *mgmtFaults) silence() int {
	n := 0
	f.each(func(c *faultConn) { c.silent.Store(true); n++ })
	return n
}

func (f *mgmtFaults) each(fn func(*faultConn)) {
	f.mu.Lock()
	lns := slices.Clone(f.mgmt)
	f.mu.Unlock()
	for _, l := range lns {
		l.mu.Lock()
		conns := slices.Clone(l.conns)
		l.mu.Unlock()
		for _, c := range conns {
			fn(c)
		}
	}
}

// ports returns the ports of the wrapped listeners.
func (f *mgmtFaults) ports() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, l := range f.mgmt {
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

type faultListener struct {
	net.Listener
	f     *mgmtFaults
	mu    sync.Mutex
	conns []*faultConn
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.f.mode.Load() == mgmtUnreachable {
			_ = c.Close()
			continue
		}
		l.f.accepts.Add(1)
		fc := &faultConn{Conn: c}
		l.mu.Lock()
		l.conns = append(l.conns, fc)
		l.mu.Unlock()
		return fc, nil
	}
}

type faultConn struct {
	net.Conn
	silent atomic.Bool
}

func (c *faultConn) Write(p []byte) (int, error) {
	if c.silent.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// faultSim starts a simulated cluster on 127.0.0.1 whose cluster managers
// the returned mgmtFaults controls.
func faultSim(t *testing.T, o sim.Options) (*sim.Cluster, *mgmtFaults) {
	t.Helper()
	f := &mgmtFaults{}
	o.Host = "127.0.0.1"
	o.Listen = f.listen
	if o.VBuckets == 0 {
		o.VBuckets = 64
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	c, err := sim.Start(o)
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ports := f.ports()
	for _, n := range c.Nodes() {
		u := n.MgmtURL()
		port, _ := strconv.Atoi(u[strings.LastIndexByte(u, ':')+1:])
		if !slices.Contains(ports, port) {
			t.Fatalf("node %s: cluster manager port %d is not among the wrapped listeners %v (did sim change the order it opens listeners in?)", n, port, ports)
		}
	}
	return c, f
}

// kvSeed is the couchbase:// seed of a node.
func kvSeed(n *sim.Node) string { return "couchbase://" + n.KVAddr() }

// cccpOptions are fast options for the config source tests.
func cccpOptions(mode string, seeds ...string) SourceOptions {
	return SourceOptions{
		Seeds: seeds, Bucket: "default", User: "Administrator", Password: "password",
		ConfigSource: mode,
		MinBackoff:   5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		KVTimeout: 2 * time.Second, ConfigCheckInterval: -1, SilentInterval: time.Second,
	}
}

// rebalanceIn adds a node and rebalances it in.
func rebalanceIn(t *testing.T, c *sim.Cluster) *sim.Node {
	t.Helper()
	n, err := c.AddNode()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Rebalance(ctx); err != nil {
		t.Fatalf("Rebalance: %v", err)
	}
	return n
}

// waitRev waits until the source's map has the cluster's revision.
func waitRev(t *testing.T, src *Source, c *sim.Cluster, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := src.Current()
		if m != nil && m.Revision().Rev == c.Revision() {
			return
		}
		if time.Now().After(deadline) {
			got := "none"
			if m != nil {
				got = m.Revision().String() + " (" + m.Origin() + ")"
			}
			t.Fatalf("map revision %s after %v, want the cluster's %d", got, within, c.Revision())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// nmvbBody asks node n for a key of a vBucket n is not active for and
// returns the NOT_MY_VBUCKET body (the node's config), as a proxy gets it.
func nmvbBody(t *testing.T, c *sim.Cluster, n *sim.Node) []byte {
	t.Helper()
	vb := -1
	for i := range c.NumVBuckets() {
		if c.VBucketOwner("default", i) != n {
			vb = i
			break
		}
	}
	if vb < 0 {
		t.Fatalf("node %s is active for every vBucket", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kc, err := kvconn.Dial(ctx, n.KVAddr(), kvconn.Options{User: "Administrator", Password: "password", Bucket: "default"})
	if err != nil {
		t.Fatalf("dial %s: %v", n, err)
	}
	defer kc.Close()
	_ = kc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := kc.Write(memcached.AppendRequest(nil, memcached.OpGet, uint16(vb), 1, 0, nil, []byte("k"), nil)); err != nil {
		t.Fatal(err)
	}
	var p memcached.Packet
	if err := kc.Reader.ReadResponse(&p); err != nil {
		t.Fatal(err)
	}
	if p.Status != memcached.StatusNotMyVBucket || len(p.Value) == 0 {
		t.Fatalf("GET on vBucket %d of %s: %s with %d bytes, want NOT_MY_VBUCKET with a config", vb, n, p.Status, len(p.Value))
	}
	return append([]byte(nil), p.Value...)
}
