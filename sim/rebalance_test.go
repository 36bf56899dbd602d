package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

// writeMany runs writers goroutines, each setting its own keys until stop
// is closed, and returns every acknowledged key/value.
func writeMany(t *testing.T, c *Cluster, writers int, stop <-chan struct{}) func() map[string]string {
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc, err := newSmartClient(c, "default")
			if err != nil {
				errs <- err
				return
			}
			defer sc.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-k%d", w, i%500)
				val := fmt.Sprintf("v%d", i)
				r, err := sc.do(memcached.OpSet, setExtras(0, 0), []byte(key), []byte(val))
				if err != nil {
					errs <- fmt.Errorf("SET %s: %w", key, err)
					return
				}
				if r.Status != memcached.StatusSuccess {
					errs <- fmt.Errorf("SET %s: %s", key, r.Status)
					return
				}
				mu.Lock()
				acked[key] = val
				mu.Unlock()
			}
		}()
	}
	return func() map[string]string {
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		return acked
	}
}

func checkAcked(t *testing.T, c *Cluster, acked map[string]string) {
	t.Helper()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	lost := 0
	for k, want := range acked {
		got, ok := c.Get("default", []byte(k))
		if !ok || string(got) != want {
			lost++
			if lost < 5 {
				t.Errorf("key %s = %q (present %v), want %q", k, got, ok, want)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost", lost, len(acked))
	}
}

func TestRebalanceUnderWritesLosesNothing(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2, VBuckets: 128, RebalanceBatch: 8})
	batches := 0
	var forwardSeen bool
	c.afterBatch = func() {
		batches++
		var cfg struct {
			VBSM struct {
				Forward [][]int `json:"vBucketMapForward"`
			} `json:"vBucketServerMap"`
		}
		if err := json.Unmarshal(c.ConfigJSON("default"), &cfg); err == nil && len(cfg.VBSM.Forward) == 128 {
			forwardSeen = true
		}
	}
	stop := make(chan struct{})
	wait := writeMany(t, c, 4, stop)

	n, err := c.AddNode()
	if err != nil {
		t.Fatal(err)
	}
	revBefore := c.Revision()
	if err := c.Rebalance(context.Background()); err != nil {
		t.Fatalf("Rebalance in: %v", err)
	}
	if err := c.Rebalance(context.Background(), c.Nodes()[0]); err != nil {
		t.Fatalf("Rebalance out: %v", err)
	}
	close(stop)
	acked := wait()

	if batches < 2 {
		t.Errorf("%d batches, want several", batches)
	}
	if !forwardSeen {
		t.Error("vBucketMapForward was not published during the moves")
	}
	if c.Revision() <= revBefore+int64(batches) {
		t.Errorf("rev %d after %d batches from %d: want a revision per batch", c.Revision(), batches, revBefore)
	}
	var cfg struct {
		VBSM struct {
			Forward [][]int `json:"vBucketMapForward"`
		} `json:"vBucketServerMap"`
	}
	if err := json.Unmarshal(c.ConfigJSON("default"), &cfg); err != nil || cfg.VBSM.Forward != nil {
		t.Errorf("vBucketMapForward still present after the rebalance (err %v)", err)
	}
	owned := 0
	for vb := range 128 {
		if c.VBucketOwner("default", vb) == n {
			owned++
		}
	}
	if owned != 64 {
		t.Errorf("new node owns %d vBuckets, want 64", owned)
	}
	checkAcked(t, c, acked)
	// Replicas follow their vBuckets too.
	for k, want := range acked {
		if got, ok := c.ReplicaGet("default", []byte(k), 1); !ok || string(got) != want {
			t.Fatalf("replica of %s = %q (present %v), want %q", k, got, ok, want)
		}
	}
}

func TestFailoverPromotesReplicasWithData(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3, VBuckets: 64})
	stop := make(chan struct{})
	wait := writeMany(t, c, 2, stop)
	sc, err := newSmartClient(c, "default")
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for i := range 300 {
		key := fmt.Sprintf("fixed-%d", i)
		if r, err := sc.do(memcached.OpSet, setExtras(0, 0), []byte(key), []byte(key)); err != nil || r.Status != memcached.StatusSuccess {
			t.Fatalf("SET %s: %v %v", key, r.Status, err)
		}
	}
	victim := c.Nodes()[1]
	hadActive := 0
	for vb := range 64 {
		if c.VBucketOwner("default", vb) == victim {
			hadActive++
		}
	}
	if err := c.Failover(victim); err != nil {
		t.Fatalf("Failover: %v", err)
	}
	close(stop)
	acked := wait()
	for i := range 300 {
		key := fmt.Sprintf("fixed-%d", i)
		acked[key] = key
	}
	if hadActive == 0 {
		t.Fatal("victim owned no vBucket")
	}
	for vb := range 64 {
		if o := c.VBucketOwner("default", vb); o == nil || o == victim {
			t.Fatalf("vb %d owner %v after failover, want a surviving node", vb, o)
		}
	}
	checkAcked(t, c, acked)

	// A later rebalance restores the replicas.
	if err := c.Rebalance(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k := range acked {
		if _, ok := c.ReplicaGet("default", []byte(k), 1); !ok {
			t.Fatalf("no replica of %s after the rebalance", k)
		}
	}
	checkAcked(t, c, acked)
}

func TestFailoverWithoutReplicaLosesVBuckets(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2, VBuckets: 8, NoReplicas: true})
	victim := c.Nodes()[0]
	if err := c.Failover(victim); err != nil {
		t.Fatal(err)
	}
	orphans := 0
	for vb := range 8 {
		if c.VBucketOwner("default", vb) == nil {
			orphans++
		}
	}
	if orphans != 4 {
		t.Errorf("%d vBuckets without an active node, want 4 (the victim's)", orphans)
	}
	if err := c.Rebalance(context.Background()); err != nil {
		t.Fatal(err)
	}
	for vb := range 8 {
		if c.VBucketOwner("default", vb) == nil {
			t.Errorf("vb %d still has no active node after the rebalance", vb)
		}
	}
}

func TestRebalanceStopped(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 64, RebalanceBatch: 4})
	added, err := c.AddNode()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	c.afterBatch = func() {
		batches++
		if batches == 2 {
			cancel()
		}
	}
	err = c.Rebalance(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped Rebalance: %v, want context.Canceled", err)
	}
	moved := 0
	for _, chain := range c.topo.Load().maps[0].chains {
		if containsNode(chain, added) {
			moved++
		}
	}
	if moved != 8 {
		t.Errorf("added node holds %d vBuckets after a rebalance stopped after 2 batches of 4, want 8", moved)
	}
	if len(c.Nodes()) != 2 {
		t.Errorf("%d nodes, want 2", len(c.Nodes()))
	}
	c.afterBatch = nil
	if err := c.Rebalance(context.Background()); err != nil {
		t.Fatalf("Rebalance to finish: %v", err)
	}
}

func TestTopologyErrors(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 4})
	if err := c.Failover(c.Nodes()[0]); !errors.Is(err, ErrLastNode) {
		t.Errorf("Failover of the last node: %v, want ErrLastNode", err)
	}
	if err := c.Rebalance(context.Background(), c.Nodes()[0]); !errors.Is(err, ErrLastNode) {
		t.Errorf("ejecting the last node: %v, want ErrLastNode", err)
	}
	stranger := &Node{otp: "ns_1@stranger"}
	if err := c.Failover(stranger); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Failover of a stranger: %v, want ErrUnknownNode", err)
	}
	if err := c.Rebalance(context.Background(), stranger); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("ejecting a stranger: %v, want ErrUnknownNode", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddNode(); !errors.Is(err, ErrClosed) {
		t.Errorf("AddNode after Close: %v, want ErrClosed", err)
	}
	if err := c.Rebalance(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Rebalance after Close: %v, want ErrClosed", err)
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"negative nodes", Options{Nodes: -1}},
		{"bad host base", Options{HostBase: "nope"}},
		{"host base overflow", Options{HostBase: "127.0.0.250", Nodes: 10}},
		{"too many vbuckets", Options{Host: "127.0.0.1", VBuckets: 70000}},
		{"too many replicas", Options{Host: "127.0.0.1", Replicas: 4}},
		{"empty bucket", Options{Host: "127.0.0.1", Buckets: []string{""}}},
		{"duplicate bucket", Options{Host: "127.0.0.1", Buckets: []string{"a", "a"}}},
		{"bad port", Options{Host: "127.0.0.1", KVPort: 70000}},
	}
	for _, tt := range tests {
		c, err := Start(tt.o)
		if !errors.Is(err, ErrBadOptions) {
			t.Errorf("%s: Start error %v, want ErrBadOptions", tt.name, err)
		}
		if c != nil {
			_ = c.Close()
		}
	}
}

func TestPauseResume(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 1})
	n := c.Nodes()[0]
	kv := dialKV(t, n.KVAddr())
	kv.login("default")
	c.Pause(n)
	if !n.Paused() {
		t.Fatal("Paused() false after Pause")
	}
	kv.send(memcached.OpSet, 0, 0, setExtras(0, 0), []byte("k"), []byte("v"))
	if _, err := kv.tryRecv(50e6); err == nil {
		t.Fatal("paused node answered")
	}
	// A new connection is accepted while paused.
	kv2 := dialKV(t, n.KVAddr())
	c.Resume(n)
	kv2.send(memcached.OpNoop, 0, 0, nil, nil, nil)
	if r := kv2.recv(); r.Status != memcached.StatusSuccess {
		t.Errorf("NOOP after resume: %s", r.Status)
	}
	if r := kv.recv(); r.Status != memcached.StatusSuccess {
		t.Errorf("SET sent while paused: %s after resume", r.Status)
	}
	if v, ok := c.Get("default", []byte("k")); !ok || string(v) != "v" {
		t.Errorf("SET sent while paused: %q %v after resume, want v", v, ok)
	}
}
