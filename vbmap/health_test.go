package vbmap

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
)

// TestDegraded: a Source following the simulated cluster is not degraded;
// with the cluster manager unreachable it keeps the map and says it is
// following it over KV only; healthy again once the manager is back.
func TestDegraded(t *testing.T) {
	c, err := sim.Start(sim.Options{Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src, err := NewSource(SourceOptions{
		Seeds: []string{c.SeedURL()}, Bucket: "default", User: "Administrator", Password: "password",
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = src.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Degraded() = %q", what, src.Degraded())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("both sources up", func() bool { return src.Current() != nil && src.Degraded() == "" && src.kvActive.Load() })
	c.SetMgmtReachable(false)
	wait("cluster manager unreachable", func() bool {
		return strings.Contains(src.Degraded(), "over KV only") && strings.Contains(src.Degraded(), "last error")
	})
	if src.Current() == nil {
		t.Fatal("the map was dropped")
	}
	c.SetMgmtReachable(true)
	wait("cluster manager back", func() bool { return src.Degraded() == "" })
}

func TestDegradedStaticMap(t *testing.T) {
	src := &Source{o: SourceOptions{MapFile: "cluster.json"}}
	if d := src.Degraded(); d != "" {
		t.Errorf("a static map is degraded: %q", d)
	}
}
