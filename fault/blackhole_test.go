package fault

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/netns"
	"github.com/vbproxy/vbproxy/memcached"
)

// Promise figures for a blackholed node.
const (
	bhOpTimeout      = time.Second
	bhConnectTimeout = 500 * time.Millisecond
	// bhFailMargin is how far past the operation timeout an ETMPFAIL for
	// the dead node's vBuckets may come (scheduling on a loaded machine).
	bhFailMargin = 500 * time.Millisecond
	// bhP99Factor bounds the p99 of clients that never touch the dead node,
	// during the fault, against their p99 in the healthy run; bhP99Floor is
	// added so that a sub-millisecond healthy p99 does not make noise fail.
	bhP99Factor = 3
	bhP99Floor  = 5 * time.Millisecond
	// bhRecovery bounds the time from healing to the first success of
	// every client of the dead node: upstream reconnect backoff at most
	// 5 s, a connect and a request.
	bhRecovery = 7 * time.Second
)

// TestBlackholedNode: node 0 stops answering without a reset (every packet
// to and from it dropped). Requests for its vBuckets fail with ETMPFAIL
// within the operation timeout, clients of the other nodes keep their
// latency, the node is marked down and probed with growing gaps, and
// traffic comes back soon after healing.
func TestBlackholedNode(t *testing.T) {
	e := NewEnv(t, EnvOptions{Nodes: 3})
	p := startProxy(t, e, func(o *ProxyOptions) {
		o.OperationTimeout, o.ConnectTimeout = bhOpTimeout, bhConnectTimeout
		// One upstream connection per node, so that the node's side sees
		// one reconnect sequence and its gaps can be compared.
		o.PoolSize = 1
	})
	const healthyClients, victimClients = 8, 4
	var healthyKeys [][]string
	for i := range healthyClients {
		healthyKeys = append(healthyKeys, keysOn(t, e, 1+i%2, 8, "h"+string(rune('a'+i))))
	}
	victimKeys := keysOn(t, e, 0, victimClients*4, "v")
	rec := newRecorder()

	var phaseFault, phaseHeal time.Duration // set before the phases start (read after the run)
	healthy := make([]*Client, healthyClients)
	for i := range healthy {
		healthy[i] = dial(t, e, p)
		for _, k := range healthyKeys[i] {
			if r, err := healthy[i].Set(k, []byte("value-"+k), 0); err != nil || r.Status != memcached.StatusSuccess {
				t.Fatalf("warm-up set %s: %v %v", k, r.Status, err)
			}
		}
	}
	victims := make([]*Client, victimClients)
	for i := range victims {
		victims[i] = dial(t, e, p)
		victims[i].Timeout = 10 * time.Second
		for _, k := range victimKeys[i*4 : i*4+4] {
			if r, err := victims[i].Set(k, []byte("value-"+k), 0); err != nil || r.Status != memcached.StatusSuccess {
				t.Fatalf("warm-up set %s: %v %v", k, r.Status, err)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waitHealthy := runClients(ctx, healthyClients, func(ctx context.Context, i int) {
		c, keys := healthy[i], healthyKeys[i]
		for n := 0; ctx.Err() == nil; n++ {
			k := keys[n%len(keys)]
			if n%4 == 0 {
				_, _ = rec.timed(i, func() (Response, error) { return c.Set(k, []byte("value-"+k), 0) })
			} else {
				_, _ = rec.timed(i, func() (Response, error) { return c.Get(k) })
			}
			time.Sleep(time.Millisecond)
		}
	})
	var victimsStarted = make(chan struct{})
	waitVictims := runClients(ctx, victimClients, func(ctx context.Context, i int) {
		<-victimsStarted
		c := victims[i]
		for n := 0; ctx.Err() == nil; n++ {
			k := victimKeys[i*4+n%4]
			_, _ = rec.timed(100+i, func() (Response, error) { return c.Get(k) })
			time.Sleep(20 * time.Millisecond)
		}
	})

	time.Sleep(4 * time.Second) // the healthy run
	close(victimsStarted)
	time.Sleep(500 * time.Millisecond)
	victimNode := e.Nodes[0]
	victimAddr := victimNode.Addr(11210)
	if err := victimNode.Apply(netns.Blackhole()); err != nil {
		t.Fatal(err)
	}
	phaseFault = rec.now()
	// Watch the node's state and the connection attempts while it is dark.
	var downAt time.Duration = -1
	var probes []time.Duration
	lastSYNs := 0
	for rec.now() < phaseFault+8*time.Second {
		time.Sleep(100 * time.Millisecond)
		m, err := p.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		if downAt < 0 && Sum(m, "vbproxy_upstream_node_state", `node="`+victimAddr+`"`, `state="down"`) > 0 {
			downAt = rec.now() - phaseFault
		}
		// The node's side sees each reconnect attempt as a SYN.
		n, err := victimNode.SYNs()
		if err != nil {
			t.Fatal(err)
		}
		if n > lastSYNs {
			probes = append(probes, rec.now()-phaseFault)
			lastSYNs = n
		}
	}
	phaseHeal = rec.now()
	if err := victimNode.Heal(); err != nil {
		t.Fatal(err)
	}
	recovered := waitUntil(15*time.Second, func() bool {
		for i := range victimClients {
			if len(rec.between(phaseHeal, rec.now(), func(o op) bool { return o.client == 100+i && o.err == nil && o.status == memcached.StatusSuccess })) == 0 {
				return false
			}
		}
		return true
	})
	end := rec.now()
	cancel()
	waitHealthy()
	waitVictims()

	// Clients of the dead node: ETMPFAIL within the operation timeout.
	var worst time.Duration
	var fails, other int
	for _, o := range rec.between(phaseFault-10*time.Second, phaseHeal, func(o op) bool { return o.client >= 100 && o.at+o.d > phaseFault }) {
		worst = max(worst, o.d)
	}
	victimOps := rec.between(phaseFault, phaseHeal, func(o op) bool { return o.client >= 100 })
	for _, o := range victimOps {
		switch {
		case o.err != nil:
			other++
			t.Errorf("client %d of the dead node at %s: connection error %v, want ETMPFAIL", o.client, o.at-phaseFault, o.err)
		case o.status == memcached.StatusETMPFAIL:
			fails++
		default:
			other++
			t.Errorf("client %d of the dead node at %s: status %s, want ETMPFAIL", o.client, o.at-phaseFault, o.status)
		}
	}
	if fails == 0 {
		t.Errorf("no ETMPFAIL for the dead node's vBuckets in %d requests", len(victimOps))
	}
	if worst > bhOpTimeout+bhFailMargin {
		t.Errorf("slowest request to the dead node took %s, want at most the operation timeout %s + %s", worst, bhOpTimeout, bhFailMargin)
	}
	fast := latencies(rec.between(phaseFault+3*time.Second, phaseHeal, func(o op) bool { return o.client >= 100 }))
	report.Record(t, "dead node's vBuckets", "%d requests, all ETMPFAIL: %v; slowest %s (bound %s = operation timeout + %s); median after the first 3 s %s",
		len(victimOps), other == 0, MS(worst), MS(bhOpTimeout+bhFailMargin), MS(bhFailMargin), MS(fast.Quantile(0.5)))

	// Clients of the healthy nodes: no error, p99 within the factor.
	base := rec.between(time.Second, phaseFault, func(o op) bool { return o.client < 100 })
	during := rec.between(phaseFault, phaseHeal, func(o op) bool { return o.client < 100 })
	for _, o := range append(append([]op(nil), base...), during...) {
		if o.err != nil || o.status != memcached.StatusSuccess {
			t.Errorf("client %d of a healthy node at %s: %v %v, want SUCCESS", o.client, o.at, o.status, o.err)
			break
		}
	}
	p99Base, p99During := latencies(base).Quantile(0.99), latencies(during).Quantile(0.99)
	bound := bhP99Factor*p99Base + bhP99Floor
	if p99During > bound {
		t.Errorf("p99 of clients of healthy nodes: %s during the fault, %s healthy; want at most %d x healthy + %s = %s",
			p99During, p99Base, bhP99Factor, bhP99Floor, bound)
	}
	report.Record(t, "other nodes' clients", "p99 %s healthy (%d requests), %s with node 0 blackholed (%d requests); bound %d x healthy + %s",
		MS(p99Base), len(base), MS(p99During), len(during), bhP99Factor, MS(bhP99Floor))

	// Marked down, probed with backoff.
	if downAt < 0 {
		t.Errorf("node %s never reported down in /metrics during 8 s of blackhole", victimAddr)
	}
	if len(probes) < 2 {
		t.Errorf("node %s: %d connection attempts seen during 8 s of blackhole, want it probed (2 or more)", victimAddr, len(probes))
	} else if g1, g2 := probes[1]-probes[0], probes[len(probes)-1]-probes[len(probes)-2]; len(probes) > 2 && g2 < g1 {
		t.Errorf("node %s: probe gaps shrink (%s then %s), want backoff", victimAddr, g1, g2)
	}
	report.Record(t, "marked down", "after %s; connection attempts at %s after the blackhole began", MS(downAt), durations(probes))

	// Back after healing.
	var recovery time.Duration
	for i := range victimClients {
		ok := rec.between(phaseHeal, end, func(o op) bool { return o.client == 100+i && o.err == nil && o.status == memcached.StatusSuccess })
		if len(ok) == 0 {
			t.Errorf("client %d of the healed node: no success within 15 s of healing", 100+i)
			continue
		}
		recovery = max(recovery, ok[0].at+ok[0].d-phaseHeal)
	}
	if !recovered || recovery > bhRecovery {
		t.Errorf("traffic to the healed node came back after %s, want at most %s", recovery, bhRecovery)
	}
	report.Record(t, "recovery after heal", "%s (bound %s)", MS(recovery), MS(bhRecovery))
}

// durations formats a list of durations compactly.
func durations(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Round(10*time.Millisecond).String())
	}
	return "[" + strings.Join(parts, " ") + "]"
}
