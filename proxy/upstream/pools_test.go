package upstream

import (
	"testing"
)

func poolAddrs(ps []*Pool) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Addr()
	}
	return out
}

func TestPoolsUpdate(t *testing.T) {
	a, b, c := startFakeKV(t, fakeConfig{}), startFakeKV(t, fakeConfig{}), startFakeKV(t, fakeConfig{})
	check := checkGoroutines(t)
	log := newStateLog()
	ps := NewPools(log.options(Options{PoolSize: 1}))

	ps.Update([]string{a.addr, b.addr, a.addr, ""})
	pa, pb := ps.Get(a.addr), ps.Get(b.addr)
	if pa == nil || pb == nil {
		t.Fatalf("Get after Update = %v, %v; want both pools", pa, pb)
	}
	if got, want := poolAddrs(ps.All()), []string{a.addr, b.addr}; !equalStrings(got, want) {
		t.Errorf("All = %v, want %v", got, want)
	}
	waitState(t, pa, StateUp)
	waitState(t, pb, StateUp)
	mustSetGet(t, pa, "k", "on-a")

	ps.Update([]string{c.addr, b.addr})
	if ps.Get(a.addr) != nil {
		t.Errorf("Get(removed) = non-nil, want nil")
	}
	if ps.Get(b.addr) != pb {
		t.Errorf("surviving pool was replaced")
	}
	pc := ps.Get(c.addr)
	if pc == nil {
		t.Fatal("Get(added) = nil")
	}
	if got, want := poolAddrs(ps.All()), []string{c.addr, b.addr}; !equalStrings(got, want) {
		t.Errorf("All = %v, want %v", got, want)
	}
	waitFor(t, "removed pool closed", func() bool {
		return pa.Send(&Request{Packet: getPacket(1, "k"), Done: make(chanDone, 1)}) == ErrClosed
	})
	waitState(t, pc, StateUp)
	mustSetGet(t, pb, "k", "on-b") // untouched by the update
	if pb.State() != StateUp || pb.Conns() != 1 {
		t.Errorf("surviving pool: state %s conns %d, want up with 1", pb.State(), pb.Conns())
	}

	ps.Close()
	if ps.Get(b.addr) != nil || len(ps.All()) != 0 {
		t.Errorf("pools left after Close: %v", poolAddrs(ps.All()))
	}
	ps.Update([]string{a.addr}) // no-op after Close
	if ps.Get(a.addr) != nil {
		t.Errorf("Update after Close opened a pool")
	}
	for _, p := range []*Pool{pa, pb, pc} {
		if p.State() != StateDown {
			t.Errorf("pool %s state %s after Close, want down", p.Addr(), p.State())
		}
	}
	check()
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
