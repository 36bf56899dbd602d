package admin

import (
	"sync"
	"time"

	"github.com/vbproxy/vbproxy/vbmap"
)

// bucketState is what the console keeps about one bucket between requests:
// when its map last changed, the colour of each node, the latest rates and
// the cached grid. The sampler goroutine writes the rates; handlers read
// them. Everything is guarded by mu except grid, an atomic cache.
type bucketState struct {
	b *Bucket

	mu      sync.Mutex
	changed time.Time // when the map in use was applied; zero until MapChanged

	// Colours: palette slots per node address, stable while a node stays in
	// the map, so a rebalance shows as cells changing colour and not as the
	// whole grid repainting when the node list is reordered.
	coloured *vbmap.Map     // the map colours was last computed for
	colours  map[string]int // address to slot

	samples   []sample          // oldest first, at most rateSamples
	rates     map[string]rate   // by node address, from the samples
	client    float64           // client requests per second
	nodes     map[string]string // node state at the last sample, for node events
	announced map[string]bool   // nodes whose down/reconnecting was recorded and not yet their return

	grid gridCache
}

func newBucketState(b *Bucket) *bucketState {
	return &bucketState{b: b, colours: map[string]int{}, announced: map[string]bool{}}
}

// state returns the console state of the named bucket, nil if unknown.
func (s *Server) state(bucket string) *bucketState {
	for _, st := range s.states {
		if st.b.Name == bucket {
			return st
		}
	}
	return nil
}

// coloursOf returns the palette slot of each node of m (in m's order).
// Nodes that were in the previously coloured map keep their slot; new nodes
// take the lowest slots free.
func (st *bucketState) coloursOf(m *vbmap.Map) []int {
	st.mu.Lock()
	defer st.mu.Unlock()
	nodes := m.Nodes()
	out := make([]int, len(nodes))
	if st.coloured != m {
		next := make(map[string]int, len(nodes))
		used := map[int]bool{}
		for _, n := range nodes {
			if slot, ok := st.colours[n.Addr]; ok {
				next[n.Addr] = slot
				used[slot] = true
			}
		}
		free := 0
		for _, n := range nodes {
			if _, ok := next[n.Addr]; ok {
				continue
			}
			for used[free] {
				free++
			}
			next[n.Addr] = free
			used[free] = true
		}
		st.colours, st.coloured = next, m
	}
	for i, n := range nodes {
		out[i] = st.colours[n.Addr]
	}
	return out
}
