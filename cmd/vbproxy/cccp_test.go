package main

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// refusingMgmt makes every simulated node's cluster manager unreachable:
// the first listener sim opens for a node (its cluster manager) closes each
// connection as soon as it is accepted. KV listeners are untouched.
type refusingMgmt struct {
	mu    sync.Mutex
	calls map[int]int
}

func (r *refusingMgmt) listen(node int, network, addr string) (net.Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[int]int{}
	}
	r.calls[node]++
	if r.calls[node] == 1 {
		return refusingListener{ln}, nil
	}
	return ln, nil
}

type refusingListener struct{ net.Listener }

func (l refusingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		_ = c.Close()
	}
}

// A proxy that reaches only the data ports: cluster.seeds holds a KV
// address, every cluster manager refuses connections. It starts, routes,
// and follows a rebalance through pushed notifications; /vbmap and the
// metrics show the origins.
func TestKVSeedsOnlyClusterManagerUnreachable(t *testing.T) {
	r := &refusingMgmt{}
	c := startSim(t, sim.Options{Nodes: 3, Listen: r.listen, RebalanceBatch: 16})
	cfg, sec := testConfig(t, c)
	cfg.Cluster.Seeds = []string{"couchbase://" + c.Nodes()[0].KVAddr()}
	if _, errs := validate(cfg, envMap(map[string]string{"PW": "password"})); len(errs) > 0 {
		t.Fatalf("validate: %v", errs)
	}
	run := startApp(t, cfg, sec)
	waitFor(t, "the map", func() bool { return run.app.buckets[0].src.Current() != nil })
	if got := run.app.buckets[0].src.Current().Origin(); got != "cccp" {
		t.Errorf("first map origin %q, want cccp", got)
	}
	setGet(t, run.proxy, 200)

	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Rebalance(ctx); err != nil {
		t.Fatalf("Rebalance: %v", err)
	}
	waitFor(t, "the rebalanced map", func() bool { return run.app.buckets[0].src.Current().Revision().Rev == c.Revision() })
	// Every key is read back through the new owners.
	cl := dialMC(t, run.proxy)
	for i := range 200 {
		if st, v := cl.get(keyN(i)); st != memcached.StatusSuccess || v != "value-"+keyN(i) {
			t.Fatalf("GET %s after the rebalance: %s %q", keyN(i), st, v)
		}
	}
	_, _, body := httpDo(t, "GET", run.admin+"/vbmap")
	var info struct {
		Source string `json:"source"`
		Rev    int64  `json:"rev"`
		Nodes  []any  `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("/vbmap: %v: %s", err, body)
	}
	if info.Source != "push" || info.Rev != c.Revision() || len(info.Nodes) != 4 {
		t.Errorf("/vbmap: source %q rev %d, %d nodes; want push, %d, 4", info.Source, info.Rev, len(info.Nodes), c.Revision())
	}
	if n := scrape(t, run.admin, "vbproxy_map_updates_total", `bucket="default",origin="push"`); n < 1 {
		t.Errorf(`vbproxy_map_updates_total{origin="push"} = %v, want >= 1`, n)
	}
	if n := scrape(t, run.admin, "vbproxy_map_updates_total", `bucket="default",origin="cccp"`); n < 1 {
		t.Errorf(`vbproxy_map_updates_total{origin="cccp"} = %v, want >= 1 (the first fetch)`, n)
	}
}
