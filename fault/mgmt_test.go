package fault

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/netns"
	"github.com/vbproxy/vbproxy/memcached"
)

// Figures of TestClusterManagerUnreachable.
const (
	mgmtPartition = 8 * time.Second
	// mgmtCatchUp bounds the time from healing to the proxy's map having
	// the cluster's revision: the stream's TCP retransmission (its backoff
	// reaches several seconds after 8 s of silence) or a reconnect.
	mgmtCatchUp = 15 * time.Second
)

// TestClusterManagerUnreachable: every node's cluster manager port (8091)
// is cut while KV works, and a node is added and rebalanced in meanwhile.
// Routing continues (NOT_MY_VBUCKET replies carry the new map), /readyz
// stays 200 with a reason that says the map source is degraded, and the map
// catches up with the cluster after healing.
func TestClusterManagerUnreachable(t *testing.T) {
	e := NewEnv(t, EnvOptions{Nodes: 3, SpareNodes: 1})
	p := startProxy(t, e, func(o *ProxyOptions) { o.PollInterval = 2 * time.Second })
	const clients = 16
	conns := make([]*Client, clients)
	keys := make([][]string, clients)
	for i := range conns {
		conns[i] = dial(t, e, p)
		for n := range 3 {
			keys[i] = append(keys[i], keysOn(t, e, n, 3, fmt.Sprintf("mg%d-%d", i, n))...)
		}
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := runClients(ctx, clients, func(ctx context.Context, i int) {
		c := conns[i]
		for n := 0; ctx.Err() == nil; n++ {
			k := keys[i][n%len(keys[i])]
			_, _ = rec.timed(i, func() (Response, error) { return c.Set(k, []byte(k), 0) })
			_, _ = rec.timed(i, func() (Response, error) { return c.Get(k) })
			time.Sleep(2 * time.Millisecond)
		}
	})
	time.Sleep(time.Second)
	for _, h := range e.Nodes {
		if err := h.Apply(netns.DropPort(8091)); err != nil {
			t.Fatal(err)
		}
	}
	start := rec.now()
	var readyBodies []string
	notReady := 0
	rebalanced := make(chan error, 1)
	go func() {
		time.Sleep(2 * time.Second)
		if _, err := e.Cluster.AddNode(); err != nil {
			rebalanced <- err
			return
		}
		rebalanced <- e.Cluster.Rebalance(context.Background())
	}()
	for rec.now() < start+mgmtPartition {
		code, body, err := p.Get("/readyz")
		if err != nil || code != http.StatusOK {
			notReady++
			t.Errorf("/readyz at %s with the cluster manager unreachable: %d %q %v, want 200", rec.now()-start, code, body, err)
		}
		if len(readyBodies) == 0 || readyBodies[len(readyBodies)-1] != body {
			readyBodies = append(readyBodies, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := <-rebalanced; err != nil {
		t.Fatalf("add node and rebalance during the partition: %v", err)
	}
	m, err := p.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	revDuring := Sum(m, "vbproxy_map_revision")
	for _, h := range e.Nodes {
		if err := h.Heal(); err != nil {
			t.Fatal(err)
		}
	}
	healed := rec.now()
	want := float64(e.Cluster.Revision())
	var rev float64
	caught := waitUntil(mgmtCatchUp, func() bool {
		m, err := p.Metrics()
		if err != nil {
			return false
		}
		rev = Sum(m, "vbproxy_map_revision")
		return rev == want
	})
	catchUp := rec.now() - healed
	time.Sleep(500 * time.Millisecond)
	cancel()
	wait()

	ops := rec.between(0, rec.now(), nil)
	bad := 0
	for _, o := range ops {
		if o.err != nil || o.status != memcached.StatusSuccess {
			bad++
			if bad <= 5 {
				t.Errorf("client %d at %s: %v %v, want SUCCESS: routing must continue without the cluster manager", o.client, o.at, o.status, o.err)
			}
		}
	}
	degraded := false
	for _, b := range readyBodies {
		if strings.Contains(strings.ToLower(b), "degraded") {
			degraded = true
		}
	}
	if !degraded {
		t.Errorf("/readyz during the partition answered %q; want 200 with a reason naming the degraded map source (cluster manager unreachable)", readyBodies)
	}
	if !caught {
		t.Errorf("map revision %v %s after healing, want the cluster's %v", rev, mgmtCatchUp, want)
	}
	report.Record(t, "cluster manager unreachable for 8 s", "%d requests, %d errors, during an add-node rebalance; /readyz 200 throughout: %v, bodies %q; map revision %v at the end of the partition (cluster %v)",
		len(ops), bad, notReady == 0, readyBodies, revDuring, want)
	report.Record(t, "map catch-up after heal", "%s (bound %s)", MS(catchUp), MS(mgmtCatchUp))
}
