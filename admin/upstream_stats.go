package admin

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vbproxy/vbproxy/memcached"
)

// nodeStats are one node's forwarded-request counters, kept as plain
// atomics: the proxy adds to them on every upstream reply, the per-node
// collector exposes them at scrape time and the console's sampler reads them
// every second, all without touching a Prometheus child.
type nodeStats struct {
	replies atomic.Uint64 // replies received from the node
	nmvb    atomic.Uint64 // of which NOT_MY_VBUCKET
	errors  atomic.Uint64 // requests that failed without a reply (every kind)
	latency latencyHistogram
}

// latencyHistogram counts durations into requestDurationBuckets (the last
// slot is +Inf). Counts are per bucket, not cumulative.
type latencyHistogram struct {
	counts   [len(requestDurationBuckets) + 1]atomic.Uint64
	sumNanos atomic.Uint64
}

// bucketBoundsNanos are requestDurationBuckets in nanoseconds, so observe
// compares integers.
var bucketBoundsNanos = func() (b [len(requestDurationBuckets)]int64) {
	for i, s := range requestDurationBuckets {
		b[i] = int64(s * float64(time.Second))
	}
	return b
}()

func (h *latencyHistogram) observe(d time.Duration) {
	ns := int64(d)
	i := 0
	for i < len(bucketBoundsNanos) && ns > bucketBoundsNanos[i] {
		i++
	}
	h.counts[i].Add(1)
	if ns > 0 {
		h.sumNanos.Add(uint64(ns))
	}
}

// histogramSnapshot is a latencyHistogram read at one instant.
type histogramSnapshot struct {
	counts [len(requestDurationBuckets) + 1]uint64
	sum    time.Duration
}

func (h *latencyHistogram) snapshot() (s histogramSnapshot) {
	for i := range h.counts {
		s.counts[i] = h.counts[i].Load()
	}
	s.sum = time.Duration(h.sumNanos.Load())
	return s
}

func (s *histogramSnapshot) total() (n uint64) {
	for _, c := range s.counts {
		n += c
	}
	return n
}

// sub returns s minus an earlier snapshot.
func (s histogramSnapshot) sub(earlier histogramSnapshot) histogramSnapshot {
	for i := range s.counts {
		s.counts[i] -= earlier.counts[i]
	}
	s.sum -= earlier.sum
	return s
}

// quantile estimates the q-quantile (0 < q < 1) the way PromQL's
// histogram_quantile does: linear interpolation inside the bucket that holds
// the rank, the lower bound of the first bucket being 0; a rank in the +Inf
// bucket gives the highest finite bound. ok is false without observations.
func (s *histogramSnapshot) quantile(q float64) (seconds float64, ok bool) {
	n := s.total()
	if n == 0 {
		return 0, false
	}
	rank := q * float64(n)
	var below uint64
	for i, c := range s.counts {
		if c == 0 || float64(below+c) < rank {
			below += c
			continue
		}
		if i == len(requestDurationBuckets) {
			return requestDurationBuckets[i-1], true
		}
		lo := 0.0
		if i > 0 {
			lo = requestDurationBuckets[i-1]
		}
		hi := requestDurationBuckets[i]
		return lo + (hi-lo)*(rank-float64(below))/float64(c), true
	}
	return requestDurationBuckets[len(requestDurationBuckets)-1], true
}

// UpstreamRequest records one forwarded request answered by node: status is
// the node's reply (NOT_MY_VBUCKET counts as well, before the retry) and d
// the time from sending to the reply. It does not allocate once the node
// has been seen.
func (b *BucketMetrics) UpstreamRequest(node string, status memcached.Status, d time.Duration) {
	n := b.node(node)
	n.stats.replies.Add(1)
	if status == memcached.StatusNotMyVBucket {
		n.stats.nmvb.Add(1)
	}
	n.stats.latency.observe(d)
}

// upstreamCollector exposes every bucket's nodeStats at scrape time.
type upstreamCollector struct {
	m        *Metrics
	requests *prometheus.Desc
	nmvb     *prometheus.Desc
	duration *prometheus.Desc
}

func newUpstreamCollector(m *Metrics) *upstreamCollector {
	name := func(n string) string { return prometheus.BuildFQName(Namespace, "upstream", n) }
	return &upstreamCollector{
		m: m,
		requests: prometheus.NewDesc(name("requests_total"),
			"Requests forwarded to the node that got a reply, NOT_MY_VBUCKET replies included, by bucket and node (failures without a reply are vbproxy_upstream_errors_total).",
			[]string{"bucket", "node"}, nil),
		nmvb: prometheus.NewDesc(name("nmvb_replies_total"),
			"NOT_MY_VBUCKET replies from the node (each is retried with a newer map), by bucket and node.",
			[]string{"bucket", "node"}, nil),
		duration: prometheus.NewDesc(name("request_duration_seconds"),
			"Time from sending a request to the node to its reply, by bucket and node.",
			[]string{"bucket", "node"}, nil),
	}
}

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.nmvb
	ch <- c.duration
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.m.allBuckets() {
		nodes := *b.nodes.Load()
		addrs := make([]string, 0, len(nodes))
		for a := range nodes {
			addrs = append(addrs, a)
		}
		sort.Strings(addrs)
		for _, a := range addrs {
			st := &nodes[a].stats
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(st.replies.Load()), b.bucket, a)
			ch <- prometheus.MustNewConstMetric(c.nmvb, prometheus.CounterValue, float64(st.nmvb.Load()), b.bucket, a)
			h := st.latency.snapshot()
			cum := make(map[float64]uint64, len(requestDurationBuckets))
			var acc uint64
			for i, ub := range requestDurationBuckets {
				acc += h.counts[i]
				cum[ub] = acc
			}
			acc += h.counts[len(requestDurationBuckets)]
			ch <- prometheus.MustNewConstHistogram(c.duration, acc, h.sum.Seconds(), cum, b.bucket, a)
		}
	}
}
