package sim

import "slices"

// topology is one immutable snapshot of the cluster's membership and vBucket
// maps. Changes build a new snapshot and publish it (Cluster.publish); nothing
// edits a published one.
type topology struct {
	rev int64
	// members are the rebalanced-in nodes, in join order.
	members []*Node
	// added are nodes added but not yet rebalanced in: they serve, own no
	// vBucket and are not in the bucket configs.
	added []*Node
	// servers is the serverList of every bucket map: the members, plus the
	// nodes receiving vBuckets while a rebalance runs.
	servers []*Node
	// maps is indexed by bucket.
	maps []*vbMap
	// rebalancing is true while a rebalance runs.
	rebalancing bool
	// manifests are the buckets' collections manifests when t was
	// published (nil entries with Options.NoCollections); publish sets them.
	manifests []*manifest
	// terse holds the terse config (with $HOST) of bucket b as seen by
	// all()[i], at terse[b*len(all)+i]: the NOT_MY_VBUCKET and
	// GET_CLUSTER_CONFIG body.
	terse [][]byte
}

// vbMap is one bucket's vBucket map.
type vbMap struct {
	// chains[vb] is [active, replica1, ...], nil entries meaning none; every
	// chain has 1+Options.Replicas entries.
	chains [][]*Node
	// forward is the map after the running move, nil when none.
	forward [][]*Node
}

// all returns members followed by added nodes.
func (t *topology) all() []*Node {
	return append(slices.Clip(t.members), t.added...)
}

// isMember reports whether n is a member or an added node.
func (t *topology) isMember(n *Node) bool {
	return slices.Contains(t.members, n) || slices.Contains(t.added, n)
}

// active returns the active node of vb in bucket b, nil when none.
func (t *topology) active(b int, vb int) *Node {
	return t.maps[b].chains[vb][0]
}

// terseFor returns the terse config of bucket b for node n.
func (t *topology) terseFor(b int, n *Node) []byte {
	all := t.all()
	i := slices.Index(all, n)
	if i < 0 {
		return nil
	}
	return t.terse[b*len(all)+i]
}

// clone returns a copy whose slices can be replaced without touching t.
// Chains are shared: replace a chain, never edit one.
func (t *topology) clone() *topology {
	c := &topology{
		rev:         t.rev,
		members:     slices.Clone(t.members),
		added:       slices.Clone(t.added),
		servers:     slices.Clone(t.servers),
		maps:        make([]*vbMap, len(t.maps)),
		rebalancing: t.rebalancing,
	}
	for i, m := range t.maps {
		c.maps[i] = &vbMap{chains: slices.Clone(m.chains), forward: m.forward}
	}
	return c
}

// balance computes a balanced map of nvb vBuckets over nodes, each chain
// [active, replicas...] of length 1+replicas (at most len(nodes)-1 replicas
// are filled). It keeps current owners where the balance allows, and prefers
// promoting a current replica to moving data, so that a rebalance moves few
// vBuckets. cur may be nil (a new cluster).
func balance(cur [][]*Node, nodes []*Node, nvb, replicas int) [][]*Node {
	n := len(nodes)
	out := make([][]*Node, nvb)
	if n == 0 {
		for vb := range out {
			out[vb] = make([]*Node, 1+replicas)
		}
		return out
	}
	filled := min(replicas, n-1)
	in := make(map[*Node]bool, n)
	for _, nd := range nodes {
		in[nd] = true
	}
	curChain := func(vb int) []*Node {
		if cur == nil || vb >= len(cur) {
			return nil
		}
		return cur[vb]
	}

	activeCap := (nvb + n - 1) / n
	count := make(map[*Node]int, n)
	var pending []int
	for vb := range out {
		out[vb] = make([]*Node, 1+replicas)
		if c := curChain(vb); len(c) > 0 && c[0] != nil && in[c[0]] && count[c[0]] < activeCap {
			out[vb][0] = c[0]
			count[c[0]]++
			continue
		}
		pending = append(pending, vb)
	}
	for _, vb := range pending {
		var pick *Node
		for _, r := range tail(curChain(vb)) {
			if r != nil && in[r] && count[r] < activeCap {
				pick = r
				break
			}
		}
		if pick == nil {
			pick = leastLoaded(nodes, count, nil)
		}
		out[vb][0] = pick
		count[pick]++
	}

	if filled == 0 {
		return out
	}
	replicaCap := (nvb*filled + n - 1) / n
	rcount := make(map[*Node]int, n)
	for i := 1; i <= filled; i++ {
		for vb := range out {
			chain := out[vb]
			var pick *Node
			for _, c := range curChain(vb) {
				if c != nil && in[c] && !slices.Contains(chain[:i], c) && rcount[c] < replicaCap {
					pick = c
					break
				}
			}
			if pick == nil {
				pick = leastLoaded(nodes, rcount, chain[:i])
			}
			chain[i] = pick
			rcount[pick]++
		}
	}
	return out
}

func tail(c []*Node) []*Node {
	if len(c) == 0 {
		return nil
	}
	return c[1:]
}

// leastLoaded returns the first node with the lowest count that is not in
// exclude.
func leastLoaded(nodes []*Node, count map[*Node]int, exclude []*Node) *Node {
	var best *Node
	for _, nd := range nodes {
		if slices.Contains(exclude, nd) {
			continue
		}
		if best == nil || count[nd] < count[best] {
			best = nd
		}
	}
	return best
}

// failoverChain returns chain without node f: when f was active, the first
// remaining replica is promoted. The result has the same length, nil-padded;
// it is chain itself when f is not in it.
func failoverChain(chain []*Node, f *Node) []*Node {
	if !slices.Contains(chain, f) {
		return chain
	}
	out := make([]*Node, 0, len(chain))
	for _, nd := range chain {
		if nd != nil && nd != f {
			out = append(out, nd)
		}
	}
	if chain[0] != f && chain[0] == nil {
		// No active before: keep the slot empty rather than promote.
		out = append([]*Node{nil}, out...)
	}
	for len(out) < len(chain) {
		out = append(out, nil)
	}
	return out[:len(chain)]
}

// sameChain reports whether two chains name the same nodes in the same
// order.
func sameChain(a, b []*Node) bool { return slices.Equal(a, b) }
