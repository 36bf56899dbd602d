package fault

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

// startProxy runs vbproxy in the env's proxy namespace against its cluster;
// edit adjusts the options. The log is printed when the test fails.
func startProxy(t *testing.T, e *Env, edit func(*ProxyOptions)) *Proxy {
	t.Helper()
	o := ProxyOptions{Bin: vbproxyBin, Host: e.Proxy, Dir: t.TempDir(), Seeds: e.Seeds()}
	if edit != nil {
		edit(&o)
	}
	p, err := StartProxy(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Kill()
		if t.Failed() {
			t.Logf("vbproxy log:\n%s", p.Logs())
		}
	})
	return p
}

// dial connects a client from the env's client namespace.
func dial(t *testing.T, e *Env, p *Proxy) *Client {
	t.Helper()
	c, err := Dial(e.Clients, p.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial the proxy at %s: %v", p.Addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// keysOn returns n keys whose vBuckets are active on node index node (of
// the cluster's current Nodes()), prefixed with prefix.
func keysOn(t *testing.T, e *Env, node, n int, prefix string) []string {
	t.Helper()
	target := e.Cluster.Nodes()[node]
	var out []string
	for i := 0; len(out) < n; i++ {
		if i > 1_000_000 {
			t.Fatalf("no %d keys on node %s", n, target)
		}
		k := fmt.Sprintf("%s-%d", prefix, i)
		vb := vbmap.VBucket([]byte(k), e.Cluster.NumVBuckets())
		if e.Cluster.VBucketOwner("default", int(vb)) == target {
			out = append(out, k)
		}
	}
	return out
}

// op is one request's outcome, as a client saw it.
type op struct {
	client int
	at     time.Duration // start, since the recorder's start
	d      time.Duration
	status memcached.Status
	err    error // a connection error (no reply)
}

// recorder keeps every op of a test.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []op
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

func (r *recorder) now() time.Duration { return time.Since(r.start) }

func (r *recorder) add(o op) {
	r.mu.Lock()
	r.ops = append(r.ops, o)
	r.mu.Unlock()
}

// between returns the ops that started in [from, to) and pass keep.
func (r *recorder) between(from, to time.Duration, keep func(op) bool) []op {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []op
	for _, o := range r.ops {
		if o.at >= from && o.at < to && (keep == nil || keep(o)) {
			out = append(out, o)
		}
	}
	return out
}

// latencies collects the durations of ops.
func latencies(ops []op) *Latencies {
	var l Latencies
	for _, o := range ops {
		l.Add(o.d)
	}
	return &l
}

// runClients runs fn(i) in n goroutines until ctx ends, then waits.
func runClients(ctx context.Context, n int, fn func(ctx context.Context, i int)) (wait func()) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(ctx, i) })
	}
	return wg.Wait
}

// timed runs one request and records it.
func (r *recorder) timed(client int, do func() (Response, error)) (Response, error) {
	at := r.now()
	t0 := time.Now()
	resp, err := do()
	r.add(op{client: client, at: at, d: time.Since(t0), status: resp.Status, err: err})
	return resp, err
}

// waitUntil polls cond every 20 ms until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
