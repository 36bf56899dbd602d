package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// simCluster starts a simulated Couchbase cluster (three nodes on loopback
// ephemeral ports), a vbmap.Source following it, and a proxy in front.
func simCluster(t testing.TB, so sim.Options, o Options) (*sim.Cluster, *Server, string, *vbmap.Source) {
	t.Helper()
	c, src := simSource(t, so)
	srv, addr := startProxy(t, simOptions(o, src))
	return c, srv, addr, src
}

// simOptions fills o for a proxy in front of the simulated cluster.
func simOptions(o Options, src *vbmap.Source) Options {
	o.Map = src
	o.Bucket = "default"
	o.User, o.Password = "Administrator", "password"
	return o
}

// simSource starts a simulated cluster and a vbmap.Source following it
// (over KV and HTTP, as the default config source does).
func simSource(t testing.TB, so sim.Options) (*sim.Cluster, *vbmap.Source) {
	t.Helper()
	return simSourceWith(t, so, vbmap.ConfigSourceAuto)
}

// simSourceWith is simSource with the given config source: tests that count
// the proxy's goroutines use ConfigSourceHTTP, whose goroutines are all
// running before the count (the KV config connection starts later).
func simSourceWith(t testing.TB, so sim.Options, configSource string) (*sim.Cluster, *vbmap.Source) {
	t.Helper()
	so.Host = "127.0.0.1"
	c, err := sim.Start(so)
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	src, err := vbmap.NewSource(vbmap.SourceOptions{
		Seeds:        []string{c.SeedURL()},
		Bucket:       "default",
		User:         "Administrator",
		Password:     "password",
		PollInterval: 200 * time.Millisecond,
		ConfigSource: configSource,
	})
	if err != nil {
		t.Fatalf("vbmap.NewSource: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-src.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("no vBucket map from the simulated cluster")
	}
	return c, src
}
