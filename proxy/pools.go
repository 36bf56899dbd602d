package proxy

import (
	"sync"

	"github.com/vbproxy/vbproxy/proxy/upstream"
)

// poolGroup holds the upstream connections as Options.PoolSize independent
// sets of one connection per node. Each session sends everything through
// one set, so all of a client's requests to a node travel on one connection
// and execute in the order the client sent them (a pipelined "SET k; GET k"
// reads its own write), as they would on one memcached server. Sessions are
// spread over the sets round-robin.
type poolGroup struct {
	sets []*upstream.Pools

	mu    sync.Mutex
	state map[string][]upstream.State // per node, the state of each set's pool
	agg   map[string]UpstreamState    // per node, the state last reported
	obs   Observer
}

func newPoolGroup(o upstream.Options, n int, obs Observer) *poolGroup {
	g := &poolGroup{
		sets:  make([]*upstream.Pools, n),
		state: make(map[string][]upstream.State),
		agg:   make(map[string]UpstreamState),
		obs:   obs,
	}
	o.PoolSize = 1
	for i := range g.sets {
		i := i
		so := o
		so.OnState = func(node string, st upstream.State) { g.setState(node, i, st) }
		g.sets[i] = upstream.NewPools(so)
	}
	return g
}

// set returns the pool set of session number id.
func (g *poolGroup) set(id uint64) *upstream.Pools { return g.sets[id%uint64(len(g.sets))] }

// update makes every set hold exactly the pools for addrs.
func (g *poolGroup) update(addrs []string) {
	for _, s := range g.sets {
		s.Update(addrs)
	}
	g.mu.Lock()
	keep := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		keep[a] = true
	}
	for a := range g.state {
		if !keep[a] {
			delete(g.state, a)
			delete(g.agg, a)
		}
	}
	g.mu.Unlock()
}

// close closes every set, draining in-flight requests.
func (g *poolGroup) close() {
	var wg sync.WaitGroup
	for _, s := range g.sets {
		wg.Go(func() { _ = s.Close() })
	}
	wg.Wait()
}

// setState records the state of one set's pool for node and reports the
// node's aggregate state when it changes: up when any connection is up,
// connecting while none is up and one is connecting, else down.
func (g *poolGroup) setState(node string, set int, st upstream.State) {
	g.mu.Lock()
	states := g.state[node]
	if states == nil {
		states = make([]upstream.State, len(g.sets))
		for i := range states {
			states[i] = upstream.StateConnecting
		}
		g.state[node] = states
	}
	states[set] = st
	agg := aggregate(states)
	prev, known := g.agg[node]
	changed := !known || prev != agg
	g.agg[node] = agg
	g.mu.Unlock()
	if changed {
		g.obs.UpstreamConn(node, agg)
	}
}

func aggregate(states []upstream.State) UpstreamState {
	connecting := false
	for _, s := range states {
		switch s {
		case upstream.StateUp:
			return UpstreamUp
		case upstream.StateConnecting:
			connecting = true
		}
	}
	if connecting {
		return UpstreamConnecting
	}
	return UpstreamDown
}

// nodes returns the status of every node, in the order of the last update.
func (g *poolGroup) nodes() []NodeStatus {
	var out []NodeStatus
	index := map[string]int{}
	for _, s := range g.sets {
		for _, p := range s.All() {
			i, ok := index[p.Addr()]
			if !ok {
				i = len(out)
				index[p.Addr()] = i
				out = append(out, NodeStatus{Addr: p.Addr()})
			}
			out[i].Conns += p.Conns()
		}
	}
	for i := range out {
		var states []upstream.State
		for _, s := range g.sets {
			if p := s.Get(out[i].Addr); p != nil {
				states = append(states, p.State())
			}
		}
		out[i].State = aggregate(states).String()
	}
	return out
}
