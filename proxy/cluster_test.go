package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// setPipelined stores keys[i]=value(keys[i]) with SETQ batches ended by a
// NOOP, and fails on any error reply.
func (c *client) setPipelined(keys []string, value func(string) string) {
	c.t.Helper()
	const batch = 500
	for start := 0; start < len(keys); start += batch {
		var p []byte
		end := min(start+batch, len(keys))
		for i := start; i < end; i++ {
			p = append(p, req(memcached.OpSetQ, uint32(i), setExtras(0, 0), []byte(keys[i]), []byte(value(keys[i])))...)
		}
		p = append(p, req(memcached.OpNoop, 0xffffffff, nil, nil, nil)...)
		c.write(p)
		if h, b := c.read(); h.Opcode != memcached.OpNoop {
			c.t.Fatalf("SETQ %q failed: %v (%q)", keys[h.Opaque], h.Status, b[memcached.HeaderLen:])
		}
	}
}

// TestKeysLandOnOwner sets 100k keys through the proxy and checks each one
// on its owning node (the simulator's oracle reads the active copy of the
// key's vBucket), with no NOT_MY_VBUCKET on the way.
func TestKeysLandOnOwner(t *testing.T) {
	c, srv, addr, _ := simCluster(t, sim.Options{NoReplicas: true}, Options{})
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("owner-%d", i)
	}
	val := func(k string) string { return "v:" + k }
	cl := dial(t, addr)
	cl.setPipelined(keys, val)
	for _, k := range keys {
		got, ok := c.Get("default", []byte(k))
		if !ok || string(got) != val(k) {
			t.Fatalf("key %q on its owner: %q %v, want %q", k, got, ok, val(k))
		}
	}
	if st := srv.Stats(); st.NMVBRetries != 0 || st.CmdSet != uint64(len(keys)) {
		t.Errorf("Stats: NMVBRetries %d CmdSet %d, want 0 and %d", st.NMVBRetries, st.CmdSet, len(keys))
	}
}

// TestStaleMapFollowsNMVB starts the proxy on a map that sends every
// vBucket to the wrong node: each NOT_MY_VBUCKET reply's config is offered
// to the source, which applies it, and the requests succeed on the owner.
func TestStaleMapFollowsNMVB(t *testing.T) {
	c, err := sim.Start(sim.Options{Host: "127.0.0.1"})
	must(t, err)
	t.Cleanup(func() { _ = c.Close() })
	var servers []string
	index := map[string]int{}
	for i, n := range c.Nodes() {
		servers = append(servers, n.KVAddr())
		index[n.KVAddr()] = i
	}
	stale, err := vbmap.Parse(configJSON(0, servers, c.NumVBuckets(), func(vb int) int {
		return (index[c.VBucketOwner("default", vb).KVAddr()] + 1) % len(servers)
	}), vbmap.ParseOptions{Host: "127.0.0.1"})
	must(t, err)
	src := newTestSource(stale)
	srv, addr := startProxy(t, Options{Map: src, Bucket: "default", User: "Administrator", Password: "password"})
	cl := dial(t, addr)
	for i := range 200 {
		k := fmt.Sprint("stale-", i)
		cl.set(k, k)
		if v, st := cl.get(k); v != k {
			t.Fatalf("GET %s = %q %v, want %q", k, v, st, k)
		}
	}
	if st := srv.Stats(); st.NMVBRetries == 0 || src.offers.Load() == 0 {
		t.Errorf("NMVBRetries %d, offers %d: want both > 0", st.NMVBRetries, src.offers.Load())
	}
	if src.Current() == stale {
		t.Errorf("the stale map is still current")
	}
}

// loadClient writes unique keys and reads them back until stop, recording
// acknowledged writes and any client-visible error.
type loadResult struct {
	acked  []string
	errors []string
}

func runLoad(t *testing.T, addr string, id int, stop <-chan struct{}, res *loadResult) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		res.errors = append(res.errors, err.Error())
		return
	}
	defer conn.Close()
	r := memcached.NewReader(conn, memcached.ReaderOptions{})
	var pkt memcached.Packet
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("load-%d-%d", id, seq)
		p := req(memcached.OpSet, 1, setExtras(0, 0), []byte(key), []byte(key))
		p = append(p, req(memcached.OpGet, 2, nil, []byte(key), nil)...)
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(p); err != nil {
			res.errors = append(res.errors, err.Error())
			return
		}
		for i := range 2 {
			if err := r.ReadResponse(&pkt); err != nil {
				res.errors = append(res.errors, err.Error())
				return
			}
			if pkt.Status != memcached.StatusSuccess {
				res.errors = append(res.errors, fmt.Sprintf("%s %s: %v %q", pkt.Opcode, key, pkt.Status, pkt.Value))
				continue
			}
			if i == 0 {
				res.acked = append(res.acked, key)
			} else if string(pkt.Value) != key {
				res.errors = append(res.errors, fmt.Sprintf("GET %s = %q", key, pkt.Value))
			}
		}
	}
}

// TestRebalanceUnderLoad adds a node and rebalances, then ejects one, while
// 50 clients write and read: no client sees an error and every
// acknowledged write is readable afterwards.
func TestRebalanceUnderLoad(t *testing.T) {
	c, srv, addr, src := simCluster(t, sim.Options{RebalanceBatch: 32}, Options{})
	const clients = 50
	stop := make(chan struct{})
	results := make([]loadResult, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { runLoad(t, addr, i, stop, &results[i]) })
	}
	time.Sleep(100 * time.Millisecond) // load before the topology changes
	n, err := c.AddNode()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	must(t, c.Rebalance(ctx))
	must(t, c.Rebalance(ctx, c.Nodes()[0]))
	waitMapRev(t, src, c.Revision())
	close(stop)
	wg.Wait()

	total := loadErrors(t, results)
	if total == 0 {
		t.Fatalf("no write acknowledged")
	}
	ackedOnCluster(t, c, results)
	cl := dial(t, addr)
	for _, r := range results {
		if len(r.acked) > 0 {
			k := r.acked[len(r.acked)-1]
			if v, st := cl.get(k); v != k {
				t.Fatalf("acknowledged %s through the proxy: %q %v", k, v, st)
			}
		}
	}
	nodes := srv.Nodes()
	if len(nodes) != 3 || !hasNode(nodes, n.KVAddr()) {
		t.Errorf("Nodes() = %+v, want the 3 members including %s", nodes, n.KVAddr())
	}
	t.Logf("%d writes acknowledged, %d NOT_MY_VBUCKET retries", total, srv.Stats().NMVBRetries)
}

// loadErrors reports every error the load's clients saw and returns how
// many writes they had acknowledged.
func loadErrors(t *testing.T, results []loadResult) int {
	t.Helper()
	total := 0
	for i, r := range results {
		for _, e := range r.errors {
			t.Errorf("client %d: %s", i, e)
		}
		total += len(r.acked)
	}
	return total
}

// ackedOnCluster checks that every write the load's clients had
// acknowledged holds its value on the cluster (each key's value is the key).
func ackedOnCluster(t *testing.T, c *sim.Cluster, results []loadResult) {
	t.Helper()
	for _, r := range results {
		for _, k := range r.acked {
			if v, ok := c.Get("default", []byte(k)); !ok || string(v) != k {
				t.Fatalf("acknowledged %s lost on the cluster: %q %v", k, v, ok)
			}
		}
	}
}

func hasNode(nodes []NodeStatus, addr string) bool {
	for _, n := range nodes {
		if n.Addr == addr {
			return true
		}
	}
	return false
}

// waitMapRev waits until the source has applied revision rev.
func waitMapRev(t *testing.T, src *vbmap.Source, rev int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := src.Current(); m != nil && m.Revision().Rev >= rev {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("source stuck at %v, want rev %d", src.Current().Revision(), rev)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPausedNodeAndFailover pauses a node (its vBuckets get ETMPFAIL within
// the operation timeout, the others keep working), resumes it (recovery),
// then fails one over (traffic follows the new map).
func TestPausedNodeAndFailover(t *testing.T) {
	const timeout = 300 * time.Millisecond
	c, _, addr, src := simCluster(t, sim.Options{}, Options{OperationTimeout: timeout})
	victim := c.Nodes()[1]
	keys := make([]string, 60)
	onVictim := map[string]bool{}
	cl := dial(t, addr)
	for i := range keys {
		keys[i] = fmt.Sprint("pause-", i)
		cl.set(keys[i], keys[i])
		vb := vbmap.VBucket([]byte(keys[i]), c.NumVBuckets())
		onVictim[keys[i]] = c.VBucketOwner("default", int(vb)) == victim
	}

	c.Pause(victim)
	for _, k := range keys {
		start := time.Now()
		v, st := cl.get(k)
		switch {
		case onVictim[k] && st != memcached.StatusETMPFAIL:
			t.Errorf("GET %s on the paused node: %v, want ETMPFAIL", k, st)
		case onVictim[k] && time.Since(start) > timeout+5*time.Second:
			t.Errorf("GET %s on the paused node took %v, timeout %v", k, time.Since(start), timeout)
		case !onVictim[k] && v != k:
			t.Errorf("GET %s on a live node: %q %v", k, v, st)
		}
	}
	c.Resume(victim)
	waitAllReadable(t, cl, keys)

	must(t, c.Failover(victim))
	waitMapRev(t, src, c.Revision())
	for _, k := range keys {
		if v, st := cl.get(k); v != k {
			t.Errorf("GET %s after failover: %q %v (replica promoted, want the value)", k, v, st)
		}
	}
}

// waitAllReadable retries until every key reads back (after a node
// recovers), failing after a generous deadline.
func waitAllReadable(t *testing.T, cl *client, keys []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, k := range keys {
		for {
			v, st := cl.get(k)
			if v == k {
				break
			}
			if st != memcached.StatusETMPFAIL || time.Now().After(deadline) {
				t.Fatalf("GET %s after recovery: %q %v", k, v, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestPoolsFollowMap checks that map changes open pools for new nodes and
// close the pools of removed ones, and that a node with no pool gets
// ETMPFAIL rather than a crash.
func TestPoolsFollowMap(t *testing.T) {
	c, err := sim.Start(sim.Options{Host: "127.0.0.1", Nodes: 3, NoAuth: true})
	must(t, err)
	t.Cleanup(func() { _ = c.Close() })
	var servers []string
	for _, n := range c.Nodes() {
		servers = append(servers, n.KVAddr())
	}
	src := newTestSource(staticMap(t, 1, servers[:2], c.NumVBuckets()))
	srv, _ := startProxy(t, Options{Map: src, Bucket: "default", User: "Administrator", Password: "password"})
	if got := srv.Nodes(); len(got) != 2 {
		t.Fatalf("Nodes() = %+v, want 2", got)
	}
	src.Set(staticMap(t, 2, servers, c.NumVBuckets()))
	waitUp(t, srv)
	if got := srv.Nodes(); len(got) != 3 {
		t.Fatalf("Nodes() after adding = %+v, want 3", got)
	}
	src.Set(staticMap(t, 3, servers[1:], c.NumVBuckets()))
	if got := srv.Nodes(); len(got) != 2 || hasNode(got, servers[0]) {
		t.Fatalf("Nodes() after removing %s = %+v", servers[0], got)
	}
}

// TestShutdownDrains checks that Shutdown lets a request already read
// finish (its reply is written) before closing.
func TestShutdownDrains(t *testing.T) {
	c, srv, addr, _ := simCluster(t, sim.Options{}, Options{OperationTimeout: 10 * time.Second})
	key := "drain-key"
	vb := vbmap.VBucket([]byte(key), c.NumVBuckets())
	owner := c.VBucketOwner("default", int(vb))
	cl := dial(t, addr)
	cl.set("warm", "1")
	c.Pause(owner)
	cl.write(req(memcached.OpSet, 77, setExtras(0, 0), []byte(key), []byte("v")))
	waitIssued(t, srv, 2)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	c.Resume(owner)
	h, _ := cl.read()
	if h.Opaque != 77 || h.Status != memcached.StatusSuccess {
		t.Fatalf("in-flight SET during Shutdown: opaque %d %v, want 77 SUCCESS", h.Opaque, h.Status)
	}
	cl.expectClosed()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Errorf("listener still accepting after Shutdown")
	}
}

// waitIssued waits until some session has read n requests.
func waitIssued(t *testing.T, srv *Server, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var max uint64
		srv.onEveryLoopWait(func(ls *loopState) {
			for s := range ls.sessions {
				max = maxU(max, s.head)
			}
		})
		if max >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session read %d requests", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

var (
	_ = errors.New
	_ atomic.Int32
)

// TestNoopBarrierPausedNode checks that a NOOP's reply waits for every
// earlier request, even one held up on a paused node, while requests behind
// it on other nodes complete: "GET (paused), GETQ (live, hit), NOOP" answers
// GET, GETQ, NOOP in that order, once the node resumes.
func TestNoopBarrierPausedNode(t *testing.T) {
	c, _, addr, src := simCluster(t, sim.Options{}, Options{OperationTimeout: 10 * time.Second})
	m := src.Current()
	var slowKey, fastKey string
	for i := 0; slowKey == "" || fastKey == ""; i++ {
		k := fmt.Sprint("barrier-", i)
		_, node := m.Route([]byte(k))
		if node == 0 && slowKey == "" {
			slowKey = k
		} else if node != 0 && fastKey == "" {
			fastKey = k
		}
	}
	cl := dial(t, addr)
	cl.set(slowKey, "slow")
	cl.set(fastKey, "fast")
	paused := c.VBucketOwner("default", int(vbmap.VBucket([]byte(slowKey), c.NumVBuckets())))
	c.Pause(paused)
	var p []byte
	p = append(p, req(memcached.OpGet, 1, nil, []byte(slowKey), nil)...)
	p = append(p, req(memcached.OpGetQ, 2, nil, []byte(fastKey), nil)...)
	p = append(p, req(memcached.OpNoop, 3, nil, nil, nil)...)
	cl.write(p)
	time.Sleep(50 * time.Millisecond) // the fast GETQ has its reply by now; it must wait
	c.Resume(paused)
	for _, want := range []struct {
		op     memcached.Opcode
		opaque uint32
	}{{memcached.OpGet, 1}, {memcached.OpGetQ, 2}, {memcached.OpNoop, 3}} {
		h, _ := cl.read()
		if h.Opcode != want.op || h.Opaque != want.opaque || h.Status != memcached.StatusSuccess {
			t.Fatalf("got %s opaque %d %v, want %s opaque %d SUCCESS", h.Opcode, h.Opaque, h.Status, want.op, want.opaque)
		}
	}
}

// TestNoPoolYet routes requests to a node whose pool was never opened (the
// map changed without notifying subscribers): they get ETMPFAIL within the
// operation timeout, not a crash, and work once the pool opens.
func TestNoPoolYet(t *testing.T) {
	nodes := []string{startMemcached(t), startMemcached(t)}
	src := newTestSource(staticMap(t, 1, nodes[:1], 64))
	_, addr := startProxy(t, Options{Map: src, OperationTimeout: 200 * time.Millisecond})
	cl := dial(t, addr)
	cl.set("np", "1")
	next := staticMap(t, 2, nodes[1:], 64)
	src.cur.Store(next) // no Subscribe callback: no pool for nodes[1]
	cl.write(req(memcached.OpGet, 1, nil, []byte("np"), nil))
	if h, b := cl.read(); h.Status != memcached.StatusETMPFAIL {
		t.Fatalf("GET to a node without a pool: %v (%q), want ETMPFAIL", h.Status, b[memcached.HeaderLen:])
	}
	src.Set(next) // subscribers open the pool
	waitFor(t, func() bool {
		_, st := cl.get("np")
		return st == memcached.StatusKeyENOENT // nodes[1] is empty: routed there
	})
	cl.set("np", "2")
	if v, _ := cl.get("np"); v != "2" {
		t.Fatalf("GET after the pool opened: %q, want 2", v)
	}
}
