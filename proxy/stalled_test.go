package proxy

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// stalledFollowBound is how long the Source's map may take to reach the
// cluster's revision, once a change has ended, while every HTTP config
// stream is stalled (open, silent). Pushes over the KV config connection
// are applied at once (the measured lag is milliseconds), and so are the
// configs NOT_MY_VBUCKET replies carry; a missed push is caught by the
// revision check every ConfigCheckInterval (2.5 s); and a source behind the
// known revision is restarted within 1.25 x SilentInterval (vbmap/doc.go,
// "Silent sources"; 6.25 s with the default 5 s), the restarted one
// delivering the current config at once. The bound is that restart bound
// plus one second for the fetch after it on a loaded machine under -race.
const stalledFollowBound = vbmap.DefaultSilentInterval*5/4 + time.Second

// followTime waits until src has applied the cluster's current revision
// and returns how long that took; it fails the test past
// stalledFollowBound.
func followTime(t *testing.T, c *sim.Cluster, src *vbmap.Source, what string) time.Duration {
	t.Helper()
	rev, start := c.Revision(), time.Now()
	for {
		m := src.Current()
		if m.Revision().Rev >= rev {
			return time.Since(start)
		}
		if time.Since(start) > stalledFollowBound {
			t.Fatalf("%s: map at revision %v (origin %s) %v after the change ended, want %d within %v",
				what, m.Revision(), m.Origin(), time.Since(start).Round(time.Millisecond), rev, stalledFollowBound)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRebalanceStreamStalled adds a node and rebalances it in, then
// rebalances another out, under 50 clients, while every cluster manager's
// config stream stays open and delivers nothing (sim.SetStreamsStalled).
// The map follows over KV (pushed changes, GET_CLUSTER_CONFIG) and the
// NOT_MY_VBUCKET replies: it reaches each change's revision within
// stalledFollowBound of the change's end, no client sees an error, every
// acknowledged write is on the cluster and readable through the proxy, and
// no map came from the stalled stream.
func TestRebalanceStreamStalled(t *testing.T) {
	c, srv, addr, src := simCluster(t, sim.Options{RebalanceBatch: 32}, Options{})
	c.SetStreamsStalled(true)
	var mu sync.Mutex
	origins := map[string]int{} // maps applied while the streams are stalled, by origin
	src.Subscribe(func(_, m *vbmap.Map) {
		mu.Lock()
		origins[m.Origin()]++
		mu.Unlock()
	})

	// A change with no traffic (a new scope: a new revision, no vBucket
	// moves, so no NOT_MY_VBUCKET): only the KV config connection can
	// deliver it while the streams are silent.
	if _, err := c.CreateScope("default", "stalled1"); err != nil {
		t.Fatal(err)
	}
	quiet := followTime(t, c, src, "scope created, no traffic")
	if o := src.Current().Origin(); o != vbmap.OriginPush && o != vbmap.OriginCCCP {
		t.Fatalf("after a change with no traffic: origin %q, want push or cccp", o)
	}

	const clients = 50
	stop := make(chan struct{})
	results := make([]loadResult, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { runLoad(t, addr, i, stop, &results[i]) })
	}
	stopLoad := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopLoad() // a failed bound ends the test with the load running

	time.Sleep(100 * time.Millisecond) // load before the topology changes
	n, err := c.AddNode()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	must(t, c.Rebalance(ctx))
	in := followTime(t, c, src, "rebalance in")
	out := c.Nodes()[1] // not the seed: its stream stays the stalled one
	must(t, c.Rebalance(ctx, out))
	ejected := followTime(t, c, src, "rebalance out")
	time.Sleep(100 * time.Millisecond) // load on the final map
	stopLoad()
	if !c.StreamsStalled() {
		t.Fatalf("the streams are no longer stalled")
	}

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
	if len(nodes) != 3 || !hasNode(nodes, n.KVAddr()) || hasNode(nodes, out.KVAddr()) {
		t.Errorf("Nodes() = %+v, want the 3 members including %s and not %s", nodes, n.KVAddr(), out.KVAddr())
	}

	// The end: one more change with no traffic, delivered over KV.
	if _, err := c.CreateScope("default", "stalled2"); err != nil {
		t.Fatal(err)
	}
	end := followTime(t, c, src, "scope created after the load")
	if o := src.Current().Origin(); o != vbmap.OriginPush && o != vbmap.OriginCCCP {
		t.Errorf("at the end: origin %q, want push or cccp", o)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, o := range slices.Sorted(maps.Keys(origins)) {
		if o != vbmap.OriginPush && o != vbmap.OriginCCCP && o != vbmap.OriginNMVB {
			t.Errorf("%d maps applied from %q while the streams were stalled, want push, cccp or nmvb only", origins[o], o)
		}
	}
	t.Logf("%d writes acknowledged, %d NOT_MY_VBUCKET retries; map followed in %v (quiet), %v (rebalance in), %v (rebalance out), %v (end), bound %v; maps applied by origin %v",
		total, srv.Stats().NMVBRetries, quiet.Round(time.Microsecond), in.Round(time.Microsecond),
		ejected.Round(time.Microsecond), end.Round(time.Microsecond), stalledFollowBound, origins)
}
