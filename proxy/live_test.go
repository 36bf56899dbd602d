package proxy

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

func saslPlain(c *client, user, pass string) memcached.Status {
	c.t.Helper()
	c.write(req(memcached.OpSASLAuth, 1, nil, []byte("PLAIN"), []byte("\x00"+user+"\x00"+pass)))
	h, _ := c.read()
	return h.Status
}

// TestReconfigureUsersAndLimits: new users apply to new authentications
// without dropping a connection; max_connections applies at once.
func TestReconfigureUsersAndLimits(t *testing.T) {
	srv, addr, _, _ := memcachedCluster(t, 1, Options{Users: map[string]string{"app": "old"}})
	kept := dial(t, addr)
	if st := saslPlain(kept, "app", "old"); st != memcached.StatusSuccess {
		t.Fatalf("old password before the change: %v", st)
	}
	must(t, srv.Reconfigure(Live{Users: map[string]string{"app": "new"}, MaxConns: 3}))
	kept.set("k", "still authenticated") // the open connection keeps its login
	c := dial(t, addr)
	if st := saslPlain(c, "app", "old"); st != memcached.StatusAuthError {
		t.Errorf("old password after the change: %v, want AUTH_ERROR", st)
	}
	if st := saslPlain(c, "app", "new"); st != memcached.StatusSuccess {
		t.Errorf("new password: %v", st)
	}
	c.set("k2", "v")
	third := dial(t, addr) // 3 open now: the limit
	third.write(req(memcached.OpNoop, 1, nil, nil, nil))
	third.read()
	refused := dial(t, addr)
	refused.expectClosed()
	if err := srv.Reconfigure(Live{MaxConns: -1}); err == nil {
		t.Error("a negative limit was accepted")
	}
}

// slowRecorder is a SlowLogger that keeps copies.
type slowRecorder struct {
	mu  sync.Mutex
	got []SlowRequest
}

func (r *slowRecorder) Slow(s SlowRequest) {
	r.mu.Lock()
	s.Key = append([]byte(nil), s.Key...)
	r.got = append(r.got, s)
	r.mu.Unlock()
}

func (r *slowRecorder) all() []SlowRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]SlowRequest(nil), r.got...)
}

// TestSlowRequestLog: with a paused node, a GET slower than the threshold is
// reported with its opcode, vBucket, node, duration and status, without its
// key unless keys are asked for; fast requests are not.
func TestSlowRequestLog(t *testing.T) {
	rec := &slowRecorder{}
	c, srv, addr, _ := simCluster(t, sim.Options{}, Options{SlowLog: rec, SlowRequest: 50 * time.Millisecond, OperationTimeout: 300 * time.Millisecond})
	cl := dial(t, addr)
	cl.set("fast", "v")
	key := "slow-key"
	vb := vbmap.VBucket([]byte(key), c.NumVBuckets())
	owner := c.VBucketOwner("default", int(vb))
	c.Pause(owner)
	if _, st := cl.get(key); st != memcached.StatusETMPFAIL {
		t.Fatalf("GET on a paused node: %v", st)
	}
	c.Resume(owner)
	got := rec.all()
	if len(got) != 1 {
		t.Fatalf("slow requests %+v, want exactly the one GET", got)
	}
	s := got[0]
	if s.Op != memcached.OpGet || s.VBucket != vb || s.Node != owner.KVAddr() || s.Status != memcached.StatusETMPFAIL || s.Duration < 50*time.Millisecond || len(s.Key) != 0 {
		t.Errorf("slow request %+v", s)
	}
	must(t, srv.Reconfigure(Live{SlowRequest: time.Nanosecond, SlowRequestKeys: true}))
	cl.set("with-key", "v")
	if got := rec.all(); len(got) != 2 || string(got[1].Key) != "with-key" {
		t.Errorf("with keys on: %+v", got[len(got)-1])
	}
}

// TestProbe reads a key's metadata from its active node.
func TestProbe(t *testing.T) {
	srv, addr, nodes, src := memcachedCluster(t, 3, Options{})
	cl := dial(t, addr)
	cl.write(req(memcached.OpSet, 1, setExtras(0xab, 0), []byte("probed"), []byte("12345")))
	cl.read()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := srv.Probe(ctx, []byte("probed"))
	m := src.Current()
	vb, node := m.Route([]byte("probed"))
	if err != nil || !res.Exists || res.Size != 5 || res.Flags != 0xab || res.VBucket != vb || res.Node != nodes[node] || res.CAS == 0 {
		t.Errorf("Probe = %+v, %v", res, err)
	}
	if res, err := srv.Probe(ctx, []byte("absent")); err != nil || res.Exists {
		t.Errorf("Probe(absent) = %+v, %v", res, err)
	}
	if _, err := srv.Probe(ctx, nil); err == nil {
		t.Error("Probe of an empty key succeeded")
	}
}

// upRecorder is an Observer with UpstreamRequest.
type upRecorder struct {
	nopObserver
	mu    sync.Mutex
	nodes map[string]int
}

func (u *upRecorder) UpstreamRequest(node string, st memcached.Status, d time.Duration) {
	u.mu.Lock()
	u.nodes[node]++
	u.mu.Unlock()
}

func TestUpstreamObserver(t *testing.T) {
	obs := &upRecorder{nodes: map[string]int{}}
	_, addr, nodes, _ := memcachedCluster(t, 2, Options{Observer: obs})
	cl := dial(t, addr)
	for i := range 20 {
		cl.set(string(rune('a'+i)), "v")
	}
	cl.write(req(memcached.OpNoop, 1, nil, nil, nil)) // answered by the proxy: not upstream
	cl.read()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	total := 0
	for _, n := range nodes {
		total += obs.nodes[n]
	}
	if total != 20 || len(obs.nodes) != 2 {
		t.Errorf("upstream replies per node %v, want 20 over both nodes", obs.nodes)
	}
}
