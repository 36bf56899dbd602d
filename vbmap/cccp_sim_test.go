package vbmap

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
)

// originsAfterFirst returns the origins of the maps applied after the first.
func originsAfterFirst(rec *recorder) []string {
	_, origins, _ := rec.snapshot()
	if len(origins) == 0 {
		return nil
	}
	return origins[1:]
}

// A proxy that reaches only the data ports: KV seeds, every cluster
// manager unreachable. The source starts over CCCP and follows a rebalance
// through pushed notifications alone (no revision check), while the HTTP
// stream it keeps beside fails to connect.
func TestCCCPKVSeedsOnlyClusterManagerUnreachable(t *testing.T) {
	c, faults := faultSim(t, sim.Options{RebalanceBatch: 8, RebalanceDelay: 20 * time.Millisecond})
	faults.setUnreachable(true)
	src, rec, _ := startSource(t, cccpOptions(ConfigSourceAuto, kvSeed(c.Nodes()[0])))
	waitReady(t, src)
	first := src.Current()
	if first.Origin() != OriginCCCP || first.Revision().Rev != c.Revision() {
		t.Fatalf("first map: origin %q rev %v, want cccp at the cluster's %d", first.Origin(), first.Revision(), c.Revision())
	}
	if len(first.Nodes()) != 3 {
		t.Fatalf("first map has %d nodes, want 3", len(first.Nodes()))
	}
	// $HOST was the node dialled: every address is a node's KV address.
	for i, n := range first.Nodes() {
		found := false
		for _, sn := range c.Nodes() {
			found = found || sn.KVAddr() == n.Addr
		}
		if !found {
			t.Errorf("node %d address %q is not a KV address of the cluster", i, n.Addr)
		}
	}
	added := rebalanceIn(t, c)
	waitRev(t, src, c, 5*time.Second)
	m := src.Current()
	if m.Origin() != OriginPush {
		t.Errorf("map after the rebalance: origin %q, want push", m.Origin())
	}
	if len(m.Nodes()) != 4 || m.HasForward() {
		t.Errorf("map after the rebalance: %d nodes, forward %v; want 4 nodes and no forward map", len(m.Nodes()), m.HasForward())
	}
	if !containsAddr(m, added.KVAddr()) {
		t.Errorf("added node %s missing from the map", added.KVAddr())
	}
	revs, _, errs := rec.snapshot()
	for i, o := range originsAfterFirst(rec) {
		if o != OriginPush {
			t.Errorf("change %d (rev %d): origin %q, want push (no revision check, no cluster manager)", i+1, revs[i+1], o)
		}
	}
	// vBuckets moved 8 at a time, 20ms apart: the first map, then at least
	// an intermediate step and the end (pushes of revisions published
	// while one is being written coalesce to the newest).
	if len(revs) < 3 {
		t.Errorf("applied revisions %v: want the rebalance's steps, not only its end", revs)
	}
	httpTried := false
	for _, e := range errs {
		if strings.HasPrefix(e, "http://") {
			httpTried = true
		}
		if strings.HasPrefix(e, "couchbase://") {
			t.Errorf("config connection error: %s", e)
		}
	}
	if !httpTried {
		t.Errorf("no HTTP attempt failed; want the stream beside CCCP tried (and refused): %q", errs)
	}
	if got := faults.accepts.Load(); got != 0 {
		t.Errorf("cluster manager accepted %d connections while unreachable", got)
	}
}

func containsAddr(m *Map, addr string) bool {
	for _, n := range m.Nodes() {
		if n.Addr == addr {
			return true
		}
	}
	return false
}

// Both notification modes: brief (the revision only, then a fetch with the
// known version) and full (the config in the push).
func TestCCCPPushModes(t *testing.T) {
	for _, full := range []bool{false, true} {
		name := "brief"
		if full {
			name = "full"
		}
		t.Run(name, func(t *testing.T) {
			c, faults := faultSim(t, sim.Options{RebalanceBatch: 16})
			faults.setUnreachable(true)
			o := cccpOptions(ConfigSourceCCCP, kvSeed(c.Nodes()[1]))
			o.notifyFull = full
			logs := &logCapture{}
			o.Logger = slog.New(logs)
			src, rec, _ := startSource(t, o)
			waitReady(t, src)
			if got := logs.attr("config connection up", "notifications"); got != name {
				t.Errorf("notifications negotiated: %q, want %q", got, name)
			}
			rebalanceIn(t, c)
			waitRev(t, src, c, 5*time.Second)
			for i, o := range originsAfterFirst(rec) {
				if o != OriginPush {
					t.Errorf("change %d: origin %q, want push", i+1, o)
				}
			}
			// Then a failover, one more revision.
			before := c.Revision()
			if err := c.Failover(c.Nodes()[2]); err != nil {
				t.Fatal(err)
			}
			waitRev(t, src, c, 5*time.Second)
			if got := src.Current(); got.Origin() != OriginPush || got.Revision().Rev <= before || len(got.Nodes()) != 3 {
				t.Errorf("after failover: origin %q rev %v, %d nodes; want push, after %d, 3 nodes", got.Origin(), got.Revision(), len(got.Nodes()), before)
			}
			_, _, errs := rec.snapshot()
			if len(errs) != 0 {
				t.Errorf("fetch errors: %q", errs)
			}
		})
	}
}

// The periodic revision check alone (pushes off on the cluster) keeps the
// map fresh, with origin cccp, within the check interval.
func TestCCCPRevisionCheckWithoutPush(t *testing.T) {
	c, faults := faultSim(t, sim.Options{NoClustermapPush: true, RebalanceBatch: 16})
	faults.setUnreachable(true)
	o := cccpOptions(ConfigSourceCCCP, kvSeed(c.Nodes()[0]))
	o.ConfigCheckInterval = 50 * time.Millisecond
	src, rec, _ := startSource(t, o)
	waitReady(t, src)
	// Unchanged cluster: the checks get empty replies (known version),
	// nothing is applied again and the connection stays.
	time.Sleep(300 * time.Millisecond)
	if revs, _, errs := rec.snapshot(); len(revs) != 1 || len(errs) != 0 {
		t.Fatalf("idle cluster: applied %v, errors %q; want one map and no error", revs, errs)
	}
	rebalanceIn(t, c)
	waitRev(t, src, c, 2*time.Second)
	for i, o := range originsAfterFirst(rec) {
		if o != OriginCCCP {
			t.Errorf("change %d: origin %q, want cccp (pushes are off)", i+1, o)
		}
	}
}

// Replies and pushes interleave on a busy connection (a revision check
// every millisecond during a rebalance of many small batches): every
// reply still matches its request, nothing is refused, and the map ends at
// the cluster's revision.
func TestCCCPPushesInterleavedWithReplies(t *testing.T) {
	c, faults := faultSim(t, sim.Options{RebalanceBatch: 2, RebalanceDelay: 3 * time.Millisecond})
	faults.setUnreachable(true)
	o := cccpOptions(ConfigSourceCCCP, kvSeed(c.Nodes()[0]))
	o.ConfigCheckInterval = time.Millisecond
	src, rec, _ := startSource(t, o)
	waitReady(t, src)
	rebalanceIn(t, c)
	waitRev(t, src, c, 5*time.Second)
	time.Sleep(50 * time.Millisecond)
	revs, origins, errs := rec.snapshot()
	if len(errs) != 0 {
		t.Errorf("errors on the config connection: %q", errs)
	}
	var push, check int
	for _, o := range origins[1:] {
		switch o {
		case OriginPush:
			push++
		case OriginCCCP:
			check++
		}
	}
	if push+check != len(revs)-1 || push == 0 || len(revs) < 10 {
		t.Errorf("applied %d revisions (%d push, %d check): want the rebalance's 30+ steps, all from the config connection", len(revs), push, check)
	}
}

// The HTTP stream stalls (open, silent) during a rebalance while the config
// connection works: the map follows the rebalance through pushes at once,
// and the silent stream is restarted within 1.25 x SilentInterval.
func TestSourceSilentHTTPStreamBesideCCCP(t *testing.T) {
	c, faults := faultSim(t, sim.Options{RebalanceBatch: 8})
	o := cccpOptions(ConfigSourceAuto, c.SeedURL())
	o.SilentInterval = 400 * time.Millisecond
	src, rec, _ := startSource(t, o)
	waitReady(t, src)
	waitFor(t, "the config connection", func() bool { return src.kvActive.Load() })
	if n := faults.silence(); n != 1 {
		t.Fatalf("silenced %d cluster manager connections, want the stream's 1", n)
	}
	accepted := faults.accepts.Load()
	stalled := time.Now()
	rebalanceIn(t, c)
	waitRev(t, src, c, time.Second)
	if m := src.Current(); m.Origin() != OriginPush {
		t.Errorf("map after the rebalance: origin %q, want push", m.Origin())
	}
	bound := o.SilentInterval*5/4 + 500*time.Millisecond // the stated bound, plus a reconnect
	waitForWithin(t, "the silent stream restarted", bound, func() bool { return faults.accepts.Load() > accepted })
	restarted := time.Since(stalled)
	_, _, errs := rec.snapshot()
	silentErr := false
	for _, e := range errs {
		silentErr = silentErr || strings.Contains(e, ErrSilent.Error())
	}
	if !silentErr {
		t.Errorf("no ErrSilent reported (errors %q)", errs)
	}
	t.Logf("stream silenced, restarted after %v (bound %v)", restarted, bound)
}

// The HTTP stream alone (config source http) stalls during a rebalance; a
// NOT_MY_VBUCKET reply (offered as the proxy does) tells the source the
// cluster moved, and the stream is restarted within 1.25 x SilentInterval
// and follows the rest of the rebalance.
func TestSourceSilentHTTPStreamAfterNMVB(t *testing.T) {
	c, faults := faultSim(t, sim.Options{RebalanceBatch: 8, RebalanceDelay: 100 * time.Millisecond})
	o := cccpOptions(ConfigSourceHTTP, c.SeedURL())
	o.SilentInterval = 400 * time.Millisecond
	src, rec, _ := startSource(t, o)
	waitReady(t, src)
	if n := faults.silence(); n != 1 {
		t.Fatalf("silenced %d cluster manager connections, want 1", n)
	}
	accepted := faults.accepts.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	added, err := c.AddNode()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Rebalance(ctx) }()
	waitFor(t, "the rebalance to move a vBucket", func() bool { return c.Revision() >= src.Current().Revision().Rev+2 })
	body := nmvbBody(t, c, added)
	offered := time.Now()
	if applied, err := src.Offer(body, added.KVAddr()); !applied || err != nil {
		t.Fatalf("Offer(NMVB body) = %v, %v; want applied", applied, err)
	}
	bound := o.SilentInterval*5/4 + 500*time.Millisecond
	waitForWithin(t, "the silent stream restarted", bound, func() bool { return faults.accepts.Load() > accepted })
	t.Logf("stream restarted %v after the NMVB offer (bound %v)", time.Since(offered), bound)
	if err := <-done; err != nil {
		t.Fatalf("Rebalance: %v", err)
	}
	waitRev(t, src, c, 2*time.Second)
	if m := src.Current(); m.Origin() != OriginStream || len(m.Nodes()) != 4 {
		t.Errorf("final map: origin %q, %d nodes; want stream, 4", m.Origin(), len(m.Nodes()))
	}
	_, origins, _ := rec.snapshot()
	if !containsString(origins, OriginNMVB) {
		t.Errorf("origins %v: want the offered NMVB config among them", origins)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func waitForWithin(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// The node of the config connection stops (failover) or stops answering
// (paused): the source moves to another node of the map and keeps
// following over KV, the cluster manager unreachable throughout.
func TestCCCPFailsOverToAnotherNode(t *testing.T) {
	t.Run("stopped", func(t *testing.T) {
		c, faults := faultSim(t, sim.Options{})
		faults.setUnreachable(true)
		seed := c.Nodes()[0]
		src, _, _ := startSource(t, cccpOptions(ConfigSourceCCCP, kvSeed(seed)))
		waitReady(t, src)
		if err := c.Failover(seed); err != nil {
			t.Fatal(err)
		}
		waitRev(t, src, c, 3*time.Second)
		m := src.Current()
		if containsAddr(m, seed.KVAddr()) || len(m.Nodes()) != 2 {
			t.Errorf("map after the failover of the config node: %d nodes (seed present %v)", len(m.Nodes()), containsAddr(m, seed.KVAddr()))
		}
		if o := m.Origin(); o != OriginCCCP && o != OriginPush {
			t.Errorf("origin %q, want cccp or push", o)
		}
		// Still followed over KV from the other node.
		rebalanceIn(t, c)
		waitRev(t, src, c, 3*time.Second)
	})
	t.Run("paused", func(t *testing.T) {
		c, faults := faultSim(t, sim.Options{})
		faults.setUnreachable(true)
		seed := c.Nodes()[0]
		o := cccpOptions(ConfigSourceCCCP, kvSeed(seed))
		o.KVTimeout = 300 * time.Millisecond
		o.ConfigCheckInterval = 100 * time.Millisecond
		src, rec, _ := startSource(t, o)
		waitReady(t, src)
		c.Pause(seed)
		defer c.Resume(seed)
		// The check goes unanswered: the connection is given up within
		// ConfigCheckInterval + KVTimeout, and the next node serves.
		waitFor(t, "the unanswered check reported", func() bool {
			_, _, errs := rec.snapshot()
			for _, e := range errs {
				if strings.Contains(e, "not answered within 300ms") {
					return true
				}
			}
			return false
		})
		if err := c.Failover(c.Nodes()[2]); err != nil {
			t.Fatal(err)
		}
		waitRev(t, src, c, 3*time.Second)
	})
}

// Choices of the auto mode.
func TestSourceAutoModeWithSim(t *testing.T) {
	t.Run("http seed with cccp capability starts CCCP", func(t *testing.T) {
		c, _ := faultSim(t, sim.Options{})
		src, _, _ := startSource(t, cccpOptions(ConfigSourceAuto, c.SeedURL()))
		waitReady(t, src)
		if got := src.Current().Origin(); got != OriginStream {
			t.Errorf("first map origin %q, want stream (the first fetch is HTTP)", got)
		}
		if !src.Current().HasCapability("cccp") {
			t.Fatalf("sim config lacks the cccp capability: %v", src.Current().Capabilities())
		}
		waitFor(t, "the config connection", func() bool { return src.kvActive.Load() })
	})
	t.Run("kv seeds start with CCCP, then stream beside", func(t *testing.T) {
		c, faults := faultSim(t, sim.Options{})
		src, _, _ := startSource(t, cccpOptions(ConfigSourceAuto, kvSeed(c.Nodes()[0]), c.Nodes()[1].KVAddr()))
		waitReady(t, src)
		if got := src.Current().Origin(); got != OriginCCCP {
			t.Errorf("first map origin %q, want cccp", got)
		}
		waitFor(t, "the HTTP stream beside", func() bool { return faults.accepts.Load() > 0 })
	})
	t.Run("http mode never dials KV", func(t *testing.T) {
		c, _ := faultSim(t, sim.Options{})
		src, rec, _ := startSource(t, cccpOptions(ConfigSourceHTTP, c.SeedURL()))
		waitReady(t, src)
		rebalanceIn(t, c)
		waitRev(t, src, c, 5*time.Second)
		if src.kvActive.Load() {
			t.Error("a config connection is up in http mode")
		}
		for i, o := range originsAfterFirst(rec) {
			if o != OriginStream {
				t.Errorf("change %d: origin %q, want stream", i+1, o)
			}
		}
	})
	t.Run("cccp mode with http seeds only bootstraps over HTTP", func(t *testing.T) {
		c, faults := faultSim(t, sim.Options{})
		src, rec, _ := startSource(t, cccpOptions(ConfigSourceCCCP, c.SeedURL()))
		waitReady(t, src)
		waitFor(t, "the config connection", func() bool { return src.kvActive.Load() })
		faults.setUnreachable(true)
		accepted := faults.accepts.Load()
		rebalanceIn(t, c)
		waitRev(t, src, c, 5*time.Second)
		if got := src.Current().Origin(); got != OriginPush {
			t.Errorf("origin %q, want push", got)
		}
		revs, origins, _ := rec.snapshot()
		if origins[0] != OriginFetch {
			t.Errorf("first origin %q, want fetch (one HTTP GET to find the KV nodes)", origins[0])
		}
		if faults.accepts.Load() != accepted {
			t.Error("the cluster manager was contacted again after the bootstrap")
		}
		_ = revs
	})
	t.Run("wrong credentials over KV give up", func(t *testing.T) {
		c, _ := faultSim(t, sim.Options{})
		o := cccpOptions(ConfigSourceCCCP, kvSeed(c.Nodes()[0]), kvSeed(c.Nodes()[1]))
		o.Password = "wrong"
		_, _, done := startSource(t, o)
		select {
		case err := <-done:
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "every KV seed refused it") {
				t.Errorf("Run = %v, want ErrUnauthorized from every KV seed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not give up")
		}
	})
	t.Run("unknown bucket over KV", func(t *testing.T) {
		c, _ := faultSim(t, sim.Options{})
		o := cccpOptions(ConfigSourceCCCP, kvSeed(c.Nodes()[0]))
		o.Bucket = "nope"
		_, _, done := startSource(t, o)
		select {
		case err := <-done:
			if !errors.Is(err, ErrNoBucket) || !strings.Contains(err.Error(), `unknown bucket "nope"`) {
				t.Errorf("Run = %v, want ErrNoBucket", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not give up")
		}
	})
}

// logCapture records log lines (all levels) for assertions.
type logCapture struct {
	mu    sync.Mutex
	lines []slog.Record
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r.Clone())
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

// attr returns attribute key of the first line with message msg.
func (l *logCapture) attr(msg, key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.lines {
		if r.Message != msg {
			continue
		}
		var v string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v = a.Value.String()
				return false
			}
			return true
		})
		return v
	}
	return ""
}

// Refresh asks the KV nodes first (a connection of its own), so it works
// with the cluster manager unreachable.
func TestCCCPRefreshOverKV(t *testing.T) {
	c, faults := faultSim(t, sim.Options{})
	faults.setUnreachable(true)
	src := newTestSource(t, cccpOptions(ConfigSourceAuto, kvSeed(c.Nodes()[0])))
	old, cur, err := src.Refresh(context.Background())
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if old != (Revision{}) || cur.Rev != c.Revision() || src.Current().Origin() != OriginReload {
		t.Errorf("Refresh = %v -> %v, origin %q; want none -> %d, reload", old, cur, src.Current().Origin(), c.Revision())
	}
	if got := faults.accepts.Load(); got != 0 {
		t.Errorf("cluster manager contacted %d times", got)
	}
}
