package admin

import (
	"context"
	"fmt"
	"math"
	"time"
)

// The console's rates (requests/s, errors/s, latency quantiles per node)
// come from the counters the metrics already keep, sampled once per
// sampleInterval by one goroutine and differenced over rateWindow. A page
// polling every second therefore costs no extra work on the request path,
// however many browsers watch.
const (
	sampleInterval = time.Second
	rateWindow     = 5 * time.Second
	rateSamples    = int(rateWindow/sampleInterval) + 1
)

// sample is one reading of a bucket's counters.
type sample struct {
	at      time.Time
	nodes   map[string]nodeReading
	clients uint64 // client requests answered, when the bucket reports clients
}

type nodeReading struct {
	replies, nmvb, errors uint64
	latency               histogramSnapshot
}

// rate is a node's activity over the window.
type rate struct {
	requests, errors float64 // per second
	p50, p99         float64 // seconds; valid when hasLatency
	hasLatency       bool
	nmvb             uint64 // NOT_MY_VBUCKET replies since start
}

// runSampler samples every bucket until ctx is done.
func (s *Server) runSampler(ctx context.Context) {
	t := time.NewTicker(sampleInterval)
	defer t.Stop()
	s.sample()
	for {
		select {
		case <-t.C:
			s.sample()
		case <-ctx.Done():
			return
		}
	}
}

// sample reads every bucket's counters and node states once.
func (s *Server) sample() {
	now := s.now()
	for _, st := range s.states {
		st.sample(s, now)
	}
}

func (st *bucketState) sample(s *Server, now time.Time) {
	b := st.b
	var nodes []NodeStatus
	if b.Nodes != nil {
		nodes = b.Nodes()
	}
	cur := sample{at: now}
	if b.Metrics != nil {
		all := *b.Metrics.nodes.Load()
		cur.nodes = make(map[string]nodeReading, len(all))
		for addr, n := range all {
			cur.nodes[addr] = nodeReading{
				replies: n.stats.replies.Load(), nmvb: n.stats.nmvb.Load(), errors: n.stats.errors.Load(),
				latency: n.stats.latency.snapshot(),
			}
		}
	}
	if b.Clients != nil {
		cur.clients = b.Clients().Requests
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	st.samples = append(st.samples, cur)
	if len(st.samples) > rateSamples {
		st.samples = append(st.samples[:0], st.samples[len(st.samples)-rateSamples:]...)
	}
	first := st.samples[0]
	dt := cur.at.Sub(first.at).Seconds()
	st.rates = make(map[string]rate, len(cur.nodes))
	for addr, r := range cur.nodes {
		old := first.nodes[addr] // zero when the node is new: rates from 0
		x := rate{nmvb: r.nmvb}
		if dt > 0 {
			x.requests = float64(r.replies-old.replies) / dt
			x.errors = float64(r.errors-old.errors) / dt
			d := r.latency.sub(old.latency)
			x.p50, x.hasLatency = d.quantile(0.5)
			x.p99, _ = d.quantile(0.99)
		}
		st.rates[addr] = x
	}
	st.client = 0
	if dt > 0 {
		st.client = float64(cur.clients-first.clients) / dt
	}
	st.nodeEvents(s, now, nodes)
}

// nodeEvents records node transitions that matter to an operator: a node
// going down or starting to reconnect, and such a node coming back up. The
// first connection at start-up (connecting, then up) is not an event.
// st.mu is held.
func (st *bucketState) nodeEvents(s *Server, now time.Time, nodes []NodeStatus) {
	prev := st.nodes
	st.nodes = make(map[string]string, len(nodes))
	for _, n := range nodes {
		st.nodes[n.Addr] = n.State
		was, seen := prev[n.Addr]
		var record bool
		switch {
		case seen && was == n.State:
		case n.State == "down":
			record = true
		case was == "up" && n.State == "connecting":
			record = true
		case n.State == "up" && st.announced[n.Addr]:
			record = true
			delete(st.announced, n.Addr)
		}
		if record {
			if n.State != "up" {
				st.announced[n.Addr] = true
			}
			s.events.add(Event{Time: now, Bucket: st.b.Name, Kind: EventNode, Message: nodeMessage(n)})
		}
	}
}

func nodeMessage(n NodeStatus) string {
	msg := fmt.Sprintf("node %s %s", n.Addr, n.State)
	if n.Reason != "" {
		msg += ": " + n.Reason
	}
	return msg
}

// round keeps d decimals, so the JSON stays short.
func round(x float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(x*p) / p
}
