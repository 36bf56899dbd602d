package upstream

import (
	"sync"
	"sync/atomic"
)

// Pools holds one Pool per node address. Get is one atomic load and a map
// lookup; Update and Close are serialized.
type Pools struct {
	o       Options
	mu      sync.Mutex // serializes Update and Close
	cur     atomic.Pointer[poolSet]
	closed  bool
	closing sync.WaitGroup // pools removed by Update, still draining
}

// poolSet is an immutable snapshot of the pools.
type poolSet struct {
	byAddr map[string]*Pool
	list   []*Pool // in the order of the last Update's addresses
}

// NewPools returns an empty set; every Pool it opens uses o.
func NewPools(o Options) *Pools {
	ps := &Pools{o: o}
	ps.cur.Store(&poolSet{byAddr: map[string]*Pool{}})
	return ps
}

// Update makes the set hold exactly the pools for addrs. Pools for new
// addresses are created and start connecting before Update returns (Send
// answers ErrNodeDown until they are up); surviving pools are kept
// untouched; removed pools leave the set at once and are closed in the
// background, draining their in-flight requests (see Pool.Close), so that a
// caller that switched its routing before calling Update loses nothing.
// Duplicate and empty addresses are ignored. After Close, Update does
// nothing.
func (ps *Pools) Update(addrs []string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return
	}
	old := ps.cur.Load()
	next := &poolSet{byAddr: make(map[string]*Pool, len(addrs)), list: make([]*Pool, 0, len(addrs))}
	for _, a := range addrs {
		if a == "" || next.byAddr[a] != nil {
			continue
		}
		p := old.byAddr[a]
		if p == nil {
			p = NewPool(a, ps.o)
		}
		next.byAddr[a] = p
		next.list = append(next.list, p)
	}
	ps.cur.Store(next)
	for a, p := range old.byAddr {
		if next.byAddr[a] == nil {
			ps.closing.Go(func() { _ = p.Close() })
		}
	}
}

// Get returns the pool for addr, or nil if the set has none.
func (ps *Pools) Get(addr string) *Pool { return ps.cur.Load().byAddr[addr] }

// All returns the pools, in the order of the last Update's addresses. The
// slice is the caller's.
func (ps *Pools) All() []*Pool {
	l := ps.cur.Load().list
	return append([]*Pool(nil), l...)
}

// Close closes every pool (concurrently, each draining for up to
// Options.OperationTimeout) and waits for the pools removed earlier by Update
// to finish closing. The set is empty afterwards.
func (ps *Pools) Close() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.closed {
		ps.closed = true
		old := ps.cur.Load()
		ps.cur.Store(&poolSet{byAddr: map[string]*Pool{}})
		for _, p := range old.list {
			ps.closing.Go(func() { _ = p.Close() })
		}
	}
	ps.closing.Wait()
	return nil
}
