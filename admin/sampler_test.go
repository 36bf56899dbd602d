package admin

import (
	"math"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

func TestQuantile(t *testing.T) {
	var h latencyHistogram
	for range 90 {
		h.observe(200 * time.Microsecond) // (100µs, 250µs]
	}
	for range 10 {
		h.observe(40 * time.Millisecond) // (25ms, 50ms]
	}
	h.observe(0) // a zero duration lands in the first bucket
	s := h.snapshot()
	tests := []struct{ q, want float64 }{
		{0.5, 0.0001 + 0.00015*(50.5-1)/90},
		{0.9, 0.0001 + 0.00015*(90.9-1)/90},
		{0.99, 0.025 + 0.025*(99.99-91)/10},
	}
	for _, tt := range tests {
		got, ok := s.quantile(tt.q)
		if !ok || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v %v, want %v", tt.q, got, ok, tt.want)
		}
	}
	var big latencyHistogram
	big.observe(time.Minute) // beyond the last bound: +Inf
	bs := big.snapshot()
	if got, ok := bs.quantile(0.5); !ok || got != 5 {
		t.Errorf("quantile in +Inf = %v %v, want the highest bound 5", got, ok)
	}
	var empty histogramSnapshot
	if _, ok := empty.quantile(0.5); ok {
		t.Error("quantile without observations: ok, want not ok")
	}
}

// TestRatesWindow: rates cover the last rateWindow of samples, not the
// whole history.
func TestRatesWindow(t *testing.T) {
	env := apiEnv(t, Options{}) // 10 replies from node 0 in the first 5s
	bm := env.metrics.Bucket("default")
	for range 6 { // six quiet seconds: the burst leaves the window
		env.tick(time.Second)
	}
	st := env.srv.states[0]
	if r := st.rates[apiNodes[0]]; r.requests != 0 || r.hasLatency || r.nmvb != 1 {
		t.Errorf("after a quiet window: %+v, want 0 req/s, no latency, nmvb total 1", r)
	}
	for range 20 {
		bm.UpstreamRequest(apiNodes[0], memcached.StatusSuccess, time.Millisecond)
	}
	env.tick(time.Second)
	if r := st.rates[apiNodes[0]]; r.requests != 4 || !r.hasLatency {
		t.Errorf("20 replies in the last window of 5s: %+v, want 4 req/s", r)
	}
}

// TestNodeEvents: down, reconnecting and back up are events; the first
// connection at start-up is not.
func TestNodeEvents(t *testing.T) {
	env := newConsoleEnv(t, Options{}, "default")
	p := env.proxies[0]
	a := "127.0.0.1:11210"
	steps := []struct {
		state, reason string
		want          string // the new event, "" for none
	}{
		{"connecting", "", ""},
		{"up", "", ""},
		{"up", "", ""},
		{"down", "EOF", "node 127.0.0.1:11210 down: EOF"},
		{"connecting", "dial tcp: connection refused", ""},
		{"up", "", "node 127.0.0.1:11210 up"},
		{"connecting", "read: connection reset by peer", "node 127.0.0.1:11210 connecting: read: connection reset by peer"},
		{"up", "", "node 127.0.0.1:11210 up"},
	}
	seen := 0
	for i, st := range steps {
		p.setNodes(NodeStatus{Addr: a, State: st.state, Reason: st.reason})
		env.tick(time.Second)
		ev := env.srv.events.recent(eventsKept)
		switch {
		case st.want == "" && len(ev) != seen:
			t.Errorf("step %d (%s): new event %q, want none", i, st.state, ev[0].Message)
		case st.want != "" && (len(ev) != seen+1 || ev[0].Message != st.want || ev[0].Kind != EventNode):
			t.Errorf("step %d (%s): events %v, want a new %q", i, st.state, ev, st.want)
		}
		seen = len(ev)
	}
}

func TestEventRing(t *testing.T) {
	var r eventRing
	for i := range eventsKept + 5 {
		r.add(Event{Message: string(rune('a' + i%26)), Time: t0.Add(time.Duration(i) * time.Second)})
	}
	got := r.recent(eventsKept + 10)
	if len(got) != eventsKept {
		t.Fatalf("recent: %d events, want %d", len(got), eventsKept)
	}
	if !got[0].Time.Equal(t0.Add((eventsKept+4)*time.Second)) || !got[eventsKept-1].Time.Equal(t0.Add(5*time.Second)) {
		t.Errorf("recent: newest %v oldest %v, want the last %d in order", got[0].Time, got[eventsKept-1].Time, eventsKept)
	}
	if n := len(r.recent(3)); n != 3 {
		t.Errorf("recent(3): %d events", n)
	}
}

func TestDescribeChange(t *testing.T) {
	nodes3 := []string{"n0:11210", "n1:11210", "n2:11210"}
	before := mapWith(t, "b", 10, nodes3[:2], [][]int{{0}, {1}, {0}, {1}}, nil)
	started := mapWith(t, "b", 11, nodes3, [][]int{{0}, {1}, {0}, {1}}, [][]int{{2}, {1}, {2}, {1}})
	half := mapWith(t, "b", 12, nodes3, [][]int{{2}, {1}, {0}, {1}}, [][]int{{2}, {1}, {2}, {1}})
	done := mapWith(t, "b", 13, nodes3[1:], [][]int{{1}, {0}, {1}, {0}}, nil)
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"rebalance starts", "before", "started", "map 1/10 → 1/11 (stream): rebalance started, 2 vBuckets to move; added n2:11210"},
		{"half moved", "started", "half", "map 1/11 → 1/12 (stream): 1 vBuckets changed owner; 1 still moving"},
		{"finished", "half", "done", "map 1/12 → 1/13 (stream): 1 vBuckets changed owner; rebalance finished; removed n0:11210"},
	}
	maps := map[string]*vbmap.Map{"before": before, "started": started, "half": half, "done": done}
	for _, tt := range tests {
		got := describeChange(maps[tt.old], maps[tt.new])
		if got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
