package admin

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// NodeStatus is the state of a bucket's connections to a node, as reported
// by the proxy (cmd/vbproxy adapts proxy.NodeStatus).
type NodeStatus struct {
	Addr   string // KV "host:port"
	State  string // "connecting", "up" or "down"
	Reason string // why the node is down or connecting ("connection refused", "TLS: certificate expired at ..."), "" when up
	Conns  int    // connections open now
}

type nodeSource struct {
	bucket string
	fn     func() []NodeStatus
}

// nodesCollector reads the pools' state at scrape time, so the gauges are
// exact however connections come and go.
type nodesCollector struct {
	conns *prometheus.Desc
	state *prometheus.Desc

	mu      sync.Mutex
	sources []nodeSource
}

func newNodesCollector() *nodesCollector {
	return &nodesCollector{
		conns: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "upstream", "connections"),
			"Upstream (proxy to node) connections open now, by bucket and node.",
			[]string{"bucket", "node"}, nil),
		state: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "upstream", "node_state"),
			"State of the bucket's connections to the node: 1 for the current state (connecting, up or down), 0 for the others.",
			[]string{"bucket", "node", "state"}, nil),
	}
}

func (c *nodesCollector) add(bucket string, fn func() []NodeStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sources = append(c.sources, nodeSource{bucket, fn})
}

func (c *nodesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.state
}

type nodeKey struct{ bucket, node string }

type nodeAgg struct {
	conns  int
	states [numUpstreamStates + 1]int
}

func (c *nodesCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sources := append([]nodeSource(nil), c.sources...)
	c.mu.Unlock()

	agg := make(map[nodeKey]*nodeAgg)
	for _, s := range sources {
		for _, n := range s.fn() {
			k := nodeKey{s.bucket, n.Addr}
			a := agg[k]
			if a == nil {
				a = &nodeAgg{}
				agg[k] = a
			}
			a.conns += n.Conns
			a.states[stateIndex(n.State)]++
		}
	}
	keys := make([]nodeKey, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].bucket != keys[j].bucket {
			return keys[i].bucket < keys[j].bucket
		}
		return keys[i].node < keys[j].node
	})
	for _, k := range keys {
		a := agg[k]
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(a.conns), k.bucket, k.node)
		for i, v := range a.states {
			name := labelOther
			if i < int(numUpstreamStates) {
				name = upstreamStateNames[i]
			} else if v == 0 {
				continue // "other" only when a pool reports an unknown state
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, float64(v), k.bucket, k.node, name)
		}
	}
}

func stateIndex(s string) int {
	for i, n := range upstreamStateNames {
		if n == s {
			return i
		}
	}
	return int(numUpstreamStates)
}
