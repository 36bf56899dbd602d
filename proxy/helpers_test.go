package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

// startMemcached starts a real memcached (256 MB, 2 threads) on a free
// loopback port and returns its address. It is killed in Cleanup.
func startMemcached(t testing.TB) string {
	t.Helper()
	return mctest.Start(t, "-m", "256", "-t", "2")
}

// configJSON builds a bucket config: vBucket vb is owned by
// servers[owner(vb)].
func configJSON(rev int, servers []string, numVB int, owner func(vb int) int) []byte {
	vbmapRows := make([][]int, numVB)
	for vb := range vbmapRows {
		vbmapRows[vb] = []int{owner(vb)}
	}
	cfg := map[string]any{
		"rev": rev, "name": "default", "nodeLocator": "vbucket",
		"vBucketServerMap": map[string]any{
			"hashAlgorithm": "CRC", "numReplicas": 0,
			"serverList": servers, "vBucketMap": vbmapRows,
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// staticMap is a map over servers, vBuckets spread round-robin.
func staticMap(t testing.TB, rev int, servers []string, numVB int) *vbmap.Map {
	t.Helper()
	m, err := vbmap.Parse(configJSON(rev, servers, numVB, func(vb int) int { return vb % len(servers) }),
		vbmap.ParseOptions{Host: "127.0.0.1", Origin: vbmap.OriginStatic})
	if err != nil {
		t.Fatalf("parse static map: %v", err)
	}
	return m
}

// testSource is a MapSource holding one map that tests replace.
type testSource struct {
	cur    atomic.Pointer[vbmap.Map]
	mu     sync.Mutex
	subs   []func(old, new *vbmap.Map)
	offers atomic.Int64
}

func newTestSource(m *vbmap.Map) *testSource {
	s := &testSource{}
	if m != nil {
		s.cur.Store(m)
	}
	return s
}

func (s *testSource) Current() *vbmap.Map { return s.cur.Load() }

func (s *testSource) Subscribe(fn func(old, new *vbmap.Map)) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
}

func (s *testSource) Offer(body []byte, host string) (bool, error) {
	s.offers.Add(1)
	m, err := vbmap.Parse(body, vbmap.ParseOptions{Host: host, Origin: vbmap.OriginNMVB})
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.cur.Load(); cur != nil && !m.Revision().Newer(cur.Revision()) {
		return false, nil
	}
	s.setLocked(m)
	return true, nil
}

// Set makes m current and notifies subscribers.
func (s *testSource) Set(m *vbmap.Map) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(m)
}

func (s *testSource) setLocked(m *vbmap.Map) {
	old := s.cur.Swap(m)
	for _, fn := range s.subs {
		fn(old, m)
	}
}

// startProxy starts a Server with o on a loopback listener and returns it
// with its address. Shutdown runs in Cleanup.
func startProxy(t testing.TB, o Options) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return serveProxy(t, o, ln), ln.Addr().String()
}

// serveProxy runs a proxy with options o on ln until the test ends (then
// shuts it down and checks that Serve returned ErrServerClosed), and waits
// until its upstream connections are up.
func serveProxy(t testing.TB, o Options, ln net.Listener) *Server {
	t.Helper()
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	waitUp(t, srv)
	return srv
}

// waitUp waits until every upstream connection of srv is up.
func waitUp(t testing.TB, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nodes := srv.Nodes()
		up := len(nodes) > 0
		for _, n := range nodes {
			up = up && n.State == "up" && n.Conns == srv.connsPerNode()
		}
		if up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream pools not up: %+v", nodes)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// memcachedCluster starts n real memcached servers and a proxy over them
// with a static map of numVB vBuckets.
func memcachedCluster(t testing.TB, n int, o Options) (srv *Server, addr string, nodes []string, src *testSource) {
	t.Helper()
	for range n {
		nodes = append(nodes, startMemcached(t))
	}
	src = newTestSource(staticMap(t, 1, nodes, 1024))
	o.Map = src
	srv, addr = startProxy(t, o)
	return srv, addr, nodes, src
}

// client is a raw binary-protocol client.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *memcached.Reader
	pkt  memcached.Packet
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, r: memcached.NewReader(c, memcached.ReaderOptions{})}
}

func (c *client) write(b []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read reads one response (a copy of the packet bytes).
func (c *client) read() (memcached.Header, []byte) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.r.ReadResponse(&c.pkt); err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return c.pkt.Header, bytes.Clone(c.pkt.Bytes())
}

// readN reads exactly n bytes.
func (c *client) readN(n int) []byte {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	// The Reader may have buffered bytes: read through it.
	if _, err := io.ReadFull(readerFunc(func(p []byte) (int, error) {
		if err := c.r.ReadResponse(&c.pkt); err != nil {
			return 0, err
		}
		return copy(p, c.pkt.Bytes()), nil
	}), b); err != nil {
		c.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// expectClosed checks that the server closes the connection (after any
// replies still to come, which are discarded).
func (c *client) expectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := c.conn.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isConnReset(err) {
			return
		}
		c.t.Fatalf("connection not closed: %v", err)
	}
}

func isConnReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// Request builders.
func req(op memcached.Opcode, opaque uint32, extras, key, value []byte) []byte {
	return memcached.AppendRequest(nil, op, 0, opaque, 0, extras, key, value)
}

func setExtras(flags, exp uint32) []byte {
	b := make([]byte, 8)
	b[0], b[1], b[2], b[3] = byte(flags>>24), byte(flags>>16), byte(flags>>8), byte(flags)
	b[4], b[5], b[6], b[7] = byte(exp>>24), byte(exp>>16), byte(exp>>8), byte(exp)
	return b
}

// set stores key=value through c and checks the reply.
func (c *client) set(key, value string) {
	c.t.Helper()
	c.write(req(memcached.OpSet, 1, setExtras(0, 0), []byte(key), []byte(value)))
	if h, b := c.read(); h.Status != memcached.StatusSuccess {
		c.t.Fatalf("SET %q: status %v (%q), want SUCCESS", key, h.Status, b[memcached.HeaderLen:])
	}
}

// get returns the value of key and whether it was found.
func (c *client) get(key string) (string, memcached.Status) {
	c.t.Helper()
	c.write(req(memcached.OpGet, 2, nil, []byte(key), nil))
	h, b := c.read()
	if h.Status != memcached.StatusSuccess {
		return "", h.Status
	}
	return string(b[memcached.HeaderLen+int(h.ExtrasLen)+int(h.KeyLen):]), h.Status
}

// checkGoroutines fails when goroutines started during a test are still
// running once it is over (after a grace period).
func checkGoroutines(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d after, %d before\n%s", n, before, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = fmt.Sprintf

func splitAddr(t testing.TB, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("split %q: %v", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("port %q: %v", p, err)
	}
	return h, port
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// waitFor polls cond for up to 10s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
