package fault

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/netns"
	"github.com/vbproxy/vbproxy/memcached"
)

// Faults on node 0 in TestLossAndJitter.
const (
	ljLoss    = 1                     // percent of packets dropped, each direction
	ljLatency = 30 * time.Millisecond // toxiproxy latency, replies from node 0
	ljJitter  = 30 * time.Millisecond // ± around ljLatency
	ljRun     = 8 * time.Second
	ljClients = 16
	// ljOpTimeout is vbproxy's default operation timeout.
	ljOpTimeout = 2500 * time.Millisecond
)

// TestLossAndJitter: node 0's link drops 1% of the packets each way and its
// replies come 0-60 ms late (toxiproxy, in front of its KV port). Clients
// see no error that the operation timeout does not explain, read their own
// writes, and afterwards every session and upstream connection is whole: a
// 128-deep pipeline on every client connection completes at once, nothing
// is counted as queue_full, and no request is left in flight.
func TestLossAndJitter(t *testing.T) {
	var mu sync.Mutex
	var toxic *Toxic
	e := NewEnv(t, EnvOptions{Nodes: 3, Listen: func(node int, h *netns.Host, network, addr string) (net.Listener, error) {
		if node != 0 || !strings.HasSuffix(addr, ":11210") {
			return h.Listen(network, addr)
		}
		// Node 0's KV service listens on its namespace's loopback; the
		// toxic takes its advertised address and forwards there.
		real, err := h.Listen(network, "127.0.0.1:11210")
		if err != nil {
			return nil, err
		}
		front, err := h.Listen(network, addr)
		if err != nil {
			_ = real.Close()
			return nil, err
		}
		mu.Lock()
		toxic = StartToxic(front, h, "127.0.0.1:11210")
		mu.Unlock()
		return real, nil
	}})
	mu.Lock()
	tx := toxic
	mu.Unlock()
	t.Cleanup(func() { _ = tx.Close() })
	p := startProxy(t, e, nil)

	clients := make([]*Client, ljClients)
	keys := make([][]string, ljClients)
	for i := range clients {
		clients[i] = dial(t, e, p)
		for n := range 3 {
			keys[i] = append(keys[i], keysOn(t, e, n, 3, fmt.Sprintf("lj%d-%d", i, n))...)
		}
	}
	if err := tx.Latency("downstream", ljLatency, ljJitter); err != nil {
		t.Fatal(err)
	}
	if err := e.Nodes[0].Apply(netns.Loss(ljLoss)); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	var wrong []string
	var wrongMu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), ljRun)
	defer cancel()
	runClients(ctx, ljClients, func(ctx context.Context, i int) {
		c := clients[i]
		for n := 0; ctx.Err() == nil; n++ {
			k := keys[i][n%len(keys[i])]
			v := []byte(fmt.Sprintf("%s=%d", k, n))
			r, err := rec.timed(i, func() (Response, error) { return c.Set(k, v, 0) })
			if err != nil || r.Status != memcached.StatusSuccess {
				continue
			}
			r, err = rec.timed(i, func() (Response, error) { return c.Get(k) })
			if err == nil && r.Status == memcached.StatusSuccess && string(r.Value) != string(v) {
				wrongMu.Lock()
				wrong = append(wrong, fmt.Sprintf("%s: read %q after writing %q", k, r.Value, v))
				wrongMu.Unlock()
			}
		}
	})()
	if err := e.Nodes[0].Heal(); err != nil {
		t.Fatal(err)
	}
	tx.Reset()

	ops := rec.between(0, rec.now(), nil)
	var errs, timeouts, explained, unexplained int
	var firstTimeout time.Duration = -1
	for _, o := range ops {
		if o.d >= ljOpTimeout-100*time.Millisecond && (firstTimeout < 0 || o.at+o.d < firstTimeout) {
			firstTimeout = o.at + o.d
		}
	}
	for _, o := range ops {
		switch {
		case o.err != nil:
			errs++
			t.Errorf("client %d at %s: connection error %v", o.client, o.at, o.err)
		case o.status == memcached.StatusSuccess:
		case o.status == memcached.StatusETMPFAIL && o.d >= ljOpTimeout-100*time.Millisecond:
			timeouts++
		case o.status == memcached.StatusETMPFAIL && firstTimeout >= 0 && o.at >= firstTimeout-ljOpTimeout:
			explained++ // the node was declared down after a timeout
		default:
			unexplained++
			t.Errorf("client %d at %s: %s after %s, which the operation timeout (%s) does not explain", o.client, o.at, o.status, o.d, ljOpTimeout)
		}
	}
	for _, w := range wrong {
		t.Errorf("stale read: %s", w)
	}
	l := latencies(ops)
	report.Record(t, "loss 1% + latency 30±30 ms on node 0", "%d requests in %s from %d clients; %d timed out (ETMPFAIL after the %s operation timeout), %d failed fast after a timeout, %d unexplained errors, %d connection errors, %d stale reads; p50 %s p99 %s max %s",
		len(ops), ljRun, ljClients, timeouts, ljOpTimeout, explained, unexplained, errs, len(wrong), MS(l.Quantile(0.5)), MS(l.Quantile(0.99)), MS(l.Max()))

	// Nothing leaked: every session takes a full pipeline at once.
	time.Sleep(time.Second)
	var pipelineWorst time.Duration
	for i, c := range clients {
		t0 := time.Now()
		for n := range 128 {
			if _, err := c.Send(memcached.OpGet, []byte(keys[i][n%len(keys[i])]), nil, nil, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		c.Timeout = 3 * time.Second
		for n := range 128 {
			r, err := c.Recv()
			if err != nil || r.Status != memcached.StatusSuccess {
				t.Fatalf("client %d: pipelined GET %d of 128 after the fault: %v %v", i, n, r.Status, err)
			}
		}
		pipelineWorst = max(pipelineWorst, time.Since(t0))
	}
	m, err := p.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if q := Sum(m, "vbproxy_upstream_errors_total", `kind="queue_full"`); q != 0 {
		t.Errorf("upstream_errors_total queue_full = %v, want 0", q)
	}
	inflight, found := 0.0, false
	for k, v := range m {
		if strings.Contains(k, "inflight") || strings.Contains(k, "in_flight") {
			inflight += v
			found = true
		}
	}
	if found && inflight != 0 {
		t.Errorf("in-flight requests after the fault, with every client idle: %v, want 0", inflight)
	}
	report.Record(t, "after healing", "128-deep pipeline on each of %d connections: slowest %s; queue_full 0; in-flight gauge %s",
		ljClients, MS(pipelineWorst), map[bool]string{true: fmt.Sprintf("%v", inflight), false: "not exported by this vbproxy"}[found])
}
