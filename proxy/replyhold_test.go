package proxy

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// writeCountingListener counts the writes the proxy makes to each accepted
// client connection.
type writeCountingListener struct {
	net.Listener
	accepted chan *writeCountingConn
}

type writeCountingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *writeCountingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

func (l *writeCountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	wc := &writeCountingConn{Conn: c}
	l.accepted <- wc
	return wc, nil
}

// TestPipelinedBatchOneWrite: the replies to requests that arrive in one
// client write, answered by three nodes at different moments, leave in one
// write (loud GETK, and a quiet GETKQ batch closed by NOOP).
func TestPipelinedBatchOneWrite(t *testing.T) {
	var nodes []string
	for range 3 {
		nodes = append(nodes, startMemcached(t))
	}
	m := staticMap(t, 1, nodes, 1024)
	ln := &writeCountingListener{Listener: listen(t), accepted: make(chan *writeCountingConn, 8)}
	serveProxy(t, Options{Map: newTestSource(m), ReplyHold: 10 * time.Second}, ln)

	cl := dial(t, ln.Addr().String())
	counted := <-ln.accepted
	const n = 48
	keys := make([]string, n)
	owners := map[int]bool{}
	for i := range keys {
		keys[i] = fmt.Sprint("batch-", i)
		cl.set(keys[i], "v"+keys[i])
		_, node := m.Route([]byte(keys[i]))
		owners[node] = true
	}
	if len(owners) != 3 {
		t.Fatalf("keys are on %d nodes, want all 3", len(owners))
	}

	var batch []byte
	for i, k := range keys {
		batch = append(batch, req(memcached.OpGetK, uint32(i), nil, []byte(k), nil)...)
	}
	before := counted.writes.Load()
	cl.write(batch)
	for i, k := range keys {
		h, b := cl.read()
		got := string(b[memcached.HeaderLen+int(h.ExtrasLen)+int(h.KeyLen):])
		if h.Status != memcached.StatusSuccess || h.Opaque != uint32(i) || got != "v"+k {
			t.Fatalf("reply %d: status %v opaque %d value %q, want SUCCESS %d %q", i, h.Status, h.Opaque, got, i, "v"+k)
		}
	}
	if w := counted.writes.Load() - before; w != 1 {
		t.Errorf("%d GETK replies from 3 nodes left in %d writes, want 1", n, w)
	}

	// Quiet gets: only the hits and the NOOP are written, still at once.
	batch = batch[:0]
	for i, k := range keys {
		if i%2 == 0 {
			k = "missing-" + k
		}
		batch = append(batch, req(memcached.OpGetKQ, uint32(i), nil, []byte(k), nil)...)
	}
	batch = append(batch, req(memcached.OpNoop, 999, nil, nil, nil)...)
	before = counted.writes.Load()
	cl.write(batch)
	for i := 1; i < n; i += 2 {
		if h, _ := cl.read(); h.Status != memcached.StatusSuccess || h.Opaque != uint32(i) {
			t.Fatalf("GETKQ reply: status %v opaque %d, want SUCCESS %d", h.Status, h.Opaque, i)
		}
	}
	if h, _ := cl.read(); h.Opcode != memcached.OpNoop || h.Opaque != 999 {
		t.Fatalf("after the hits: %v opaque %d, want the NOOP 999", h.Opcode, h.Opaque)
	}
	if w := counted.writes.Load() - before; w != 1 {
		t.Errorf("GETKQ batch replies left in %d writes, want 1", w)
	}
}

// TestReplyHoldBounded: a reply waits for the rest of its batch at most
// ReplyHold. With the second request's node paused, the first reply arrives
// after the hold, long before the second request's outcome.
func TestReplyHoldBounded(t *testing.T) {
	const hold = 50 * time.Millisecond
	c, _, addr, _ := simCluster(t, sim.Options{}, Options{ReplyHold: hold, OperationTimeout: 5 * time.Second})
	cl := dial(t, addr)
	owner := func(k string) *sim.Node {
		return c.VBucketOwner("default", int(vbmap.VBucket([]byte(k), c.NumVBuckets())))
	}
	fast, slow := "hold-fast", ""
	for i := 0; slow == ""; i++ {
		if k := fmt.Sprint("hold-slow-", i); owner(k) != owner(fast) {
			slow = k
		}
	}
	cl.set(fast, "f")
	cl.set(slow, "s")

	c.Pause(owner(slow))
	resumed := false
	defer func() {
		if !resumed {
			c.Resume(owner(slow))
		}
	}()
	start := time.Now()
	cl.write(append(req(memcached.OpGet, 1, nil, []byte(fast), nil), req(memcached.OpGet, 2, nil, []byte(slow), nil)...))
	h, _ := cl.read()
	took := time.Since(start)
	if h.Opaque != 1 || h.Status != memcached.StatusSuccess {
		t.Fatalf("first reply: opaque %d status %v, want 1 SUCCESS", h.Opaque, h.Status)
	}
	if took < hold || took > 2*time.Second {
		t.Errorf("first reply after %v, want after the %v hold and well before the paused node answers", took, hold)
	}
	c.Resume(owner(slow))
	resumed = true
	if h, _ := cl.read(); h.Opaque != 2 || h.Status != memcached.StatusSuccess {
		t.Fatalf("second reply: opaque %d status %v, want 2 SUCCESS once the node resumed", h.Opaque, h.Status)
	}
}
