package main

import (
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// TestDrainTurnsReadinessOff: on shutdown /readyz answers 503 "shutting
// down" while a request is still in flight, and that request still gets an
// answer before the listener closes.
func TestDrainTurnsReadinessOff(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 1})
	cfg, sec := testConfig(t, c)
	cfg.Upstream.OperationTimeout = Duration(2 * time.Second)
	cfg.Shutdown.DrainTimeout = Duration(20 * time.Second)
	r := startApp(t, cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", r.admin+"/readyz"); return code == 200 })
	// Every connection set up: a session on one still authenticating would
	// wait for it instead of sending, and Shutdown fails such a wait at once.
	node0 := c.Nodes()[0].KVAddr()
	waitFor(t, "every upstream connection up", func() bool {
		return scrape(t, r.admin, "vbproxy_upstream_connections", `bucket="default",node="`+node0+`"`) == float64(cfg.Upstream.PoolSize)
	})
	setGet(t, r.proxy, 1)

	// A request the paused node never answers stays in flight until the
	// operation timeout.
	c.Pause(c.Nodes()[0])
	t.Cleanup(func() { c.Resume(c.Nodes()[0]) })
	cl := dialMC(t, r.proxy)
	read := scrape(t, r.admin, "vbproxy_client_received_bytes_total", `bucket="default"`)
	reply := make(chan memcached.Status, 1)
	go func() { st, _ := cl.get(keyN(0)); reply <- st }()
	waitFor(t, "the proxy to read the GET", func() bool {
		return scrape(t, r.admin, "vbproxy_client_received_bytes_total", `bucket="default"`) > read
	})

	r.cancel()
	waitFor(t, "readyz 503 shutting down", func() bool {
		code, _, body := httpDo(t, "GET", r.admin+"/readyz")
		return code == 503 && body == "shutting down\n"
	})
	select {
	case st := <-reply:
		if st != memcached.StatusETMPFAIL {
			t.Errorf("in-flight GET during the drain: got %s, want ETMPFAIL after the operation timeout", st)
		}
	case <-time.After(30 * time.Second): // hang guard
		t.Fatal("in-flight GET never answered during the drain")
	}
}
