package sim

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// AddNode starts a node and adds it to the cluster. Like a node added on a
// real cluster, it serves but owns no vBucket (and is not in the bucket
// configs) until the next Rebalance.
func (c *Cluster) AddNode() (*Node, error) { return c.addNode("", -1) }

// addNode starts a node on host:mgmtPort (host "": the next address from the
// options) and publishes it as added.
func (c *Cluster) addNode(host string, mgmtPort int) (*Node, error) {
	c.topoMu.Lock()
	defer c.topoMu.Unlock()
	n, err := c.startNode(host, mgmtPort)
	if err != nil {
		return nil, err
	}
	t := c.topo.Load().clone()
	for _, x := range t.all() {
		if x.otp == n.otp {
			_ = n.stop()
			return nil, fmt.Errorf("sim: add node: %s is already part of the cluster", n.otp)
		}
	}
	t.added = append(t.added, n)
	c.publish(t)
	n.log.Info("node added")
	return n, nil
}

// Rebalance makes the added nodes members and removes the ejected ones,
// moving vBuckets to a balanced map. It publishes the target as
// vBucketMapForward, then moves Options.RebalanceBatch vBuckets per
// revision: for each batch it locks the vBuckets, copies them to their new
// owners, switches ownership and publishes before unlocking, so no
// acknowledged write is lost. Ejected nodes stop when it completes.
//
// When ctx ends first, the rebalance stops after the current batch: moved
// vBuckets stay moved, vBucketMapForward is withdrawn and ctx's error is
// returned (a stopped rebalance on Couchbase behaves the same).
func (c *Cluster) Rebalance(ctx context.Context, eject ...*Node) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()

	c.topoMu.Lock()
	defer c.topoMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.mu.Unlock()

	t0 := c.topo.Load()
	for _, e := range eject {
		if !t0.isMember(e) {
			return fmt.Errorf("sim: rebalance: eject %v: %w", e, ErrUnknownNode)
		}
	}
	var target []*Node
	for _, n := range t0.all() {
		if !slices.Contains(eject, n) {
			target = append(target, n)
		}
	}
	if len(target) == 0 {
		return fmt.Errorf("sim: rebalance: %w", ErrLastNode)
	}

	goal := make([][][]*Node, len(c.buckets))
	moves := make([][]int, len(c.buckets))
	total := 0
	for b := range c.buckets {
		goal[b] = balance(t0.maps[b].chains, target, c.opts.VBuckets, c.opts.Replicas)
		for vb, chain := range goal[b] {
			if !sameChain(chain, t0.maps[b].chains[vb]) {
				moves[b] = append(moves[b], vb)
			}
		}
		total += len(moves[b])
	}
	c.log.Info("rebalance starting", "target", len(target), "eject", len(eject), "moves", total)

	t := t0.clone()
	t.servers = slices.Clone(t0.members)
	for _, n := range t0.added {
		if slices.Contains(target, n) {
			t.servers = append(t.servers, n)
		}
	}
	t.rebalancing = true
	for b := range c.buckets {
		if len(moves[b]) > 0 {
			t.maps[b].forward = goal[b]
		}
	}
	c.publish(t)

	err := c.moveAll(ctx, goal, moves)

	t = c.topo.Load().clone()
	t.rebalancing = false
	for _, m := range t.maps {
		m.forward = nil
	}
	var ejected []*Node
	if err == nil {
		t.members, t.added, t.servers = target, nil, slices.Clone(target)
		ejected = eject
	} else {
		// Stopped: added nodes that received vBuckets are members now.
		owns := func(n *Node) bool {
			for _, m := range t.maps {
				for _, chain := range m.chains {
					if slices.Contains(chain, n) {
						return true
					}
				}
			}
			return false
		}
		var added []*Node
		for _, n := range t0.added {
			if owns(n) {
				t.members = append(t.members, n)
			} else {
				added = append(added, n)
			}
		}
		t.added = added
		t.servers = slices.Clone(t.members)
	}
	c.publish(t)
	for _, n := range ejected {
		if serr := n.stop(); serr != nil {
			c.log.Warn("stop ejected node", "node", n.otp, "err", serr)
		}
	}
	if err != nil {
		c.log.Info("rebalance stopped", "err", err)
		return fmt.Errorf("sim: rebalance: %w", err)
	}
	c.log.Info("rebalance done", "members", len(target), "rev", c.Revision())
	return nil
}

// moveAll moves the vBuckets in moves to their goal chains, a batch per
// revision.
func (c *Cluster) moveAll(ctx context.Context, goal [][][]*Node, moves [][]int) error {
	batch := c.opts.RebalanceBatch
	for b, list := range moves {
		for len(list) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(batch, len(list))
			c.moveBatch(b, list[:n], goal[b])
			list = list[n:]
			if c.afterBatch != nil {
				c.afterBatch()
			}
			if c.opts.RebalanceDelay > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(c.opts.RebalanceDelay):
				}
			}
		}
	}
	return nil
}

// moveBatch switches the vBuckets vbs (ascending) of bucket b to their goal
// chains, atomically with respect to commands on them.
func (c *Cluster) moveBatch(b int, vbs []int, goal [][]*Node) {
	bk := c.buckets[b]
	for _, vb := range vbs {
		bk.vbs[vb].mu.Lock()
	}
	t := c.topo.Load().clone()
	m := t.maps[b]
	for _, vb := range vbs {
		moveVB(b, vb, m.chains[vb], goal[vb])
		m.chains[vb] = goal[vb]
	}
	c.publish(t)
	for _, vb := range vbs {
		bk.vbs[vb].mu.Unlock()
	}
}

// moveVB gives every node of the new chain a copy of the vBucket (from the
// old active copy) and drops the copies of nodes that leave the chain.
// Called with the vBucket locked.
func moveVB(b, vb int, old, new []*Node) {
	var src *vbStore
	if old[0] != nil {
		src = old[0].data[b][vb]
	}
	for _, n := range new {
		if n == nil || n.data[b][vb] != nil {
			continue
		}
		if src != nil {
			n.data[b][vb] = src.clone()
		} else {
			n.data[b][vb] = newVBStore()
		}
	}
	for _, n := range old {
		if n != nil && !slices.Contains(new, n) {
			n.data[b][vb] = nil
		}
	}
}

// Failover stops node n and removes it from the cluster at once, promoting
// a replica of each vBucket it was active for (a hard failover). vBuckets
// without a replica are left without an active node until a rebalance
// recreates them empty, as on Couchbase. A running rebalance is stopped
// first.
func (c *Cluster) Failover(n *Node) error {
	c.stopRebalance()
	c.topoMu.Lock()
	defer c.topoMu.Unlock()
	t0 := c.topo.Load()
	if !t0.isMember(n) {
		return fmt.Errorf("sim: failover %v: %w", n, ErrUnknownNode)
	}
	if len(t0.all()) == 1 {
		return fmt.Errorf("sim: failover %v: %w", n, ErrLastNode)
	}
	if err := n.stop(); err != nil {
		c.log.Warn("failover: stop node", "node", n.otp, "err", err)
	}
	t := t0.clone()
	drop := func(list []*Node) []*Node {
		return slices.DeleteFunc(list, func(x *Node) bool { return x == n })
	}
	t.members, t.added, t.servers = drop(t.members), drop(t.added), drop(t.servers)
	for b, m := range t.maps {
		for vb, chain := range m.chains {
			nc := failoverChain(chain, n)
			if &nc[0] == &chain[0] {
				continue
			}
			v := &c.buckets[b].vbs[vb]
			v.mu.Lock()
			m.chains[vb] = nc
			n.data[b][vb] = nil
			v.mu.Unlock()
		}
	}
	c.publish(t)
	c.log.Info("node failed over", "node", n.otp)
	return nil
}

// Pause makes n stop answering: it still accepts connections (KV and HTTP)
// and reads requests, but replies to none until Resume. Config streams from
// it stall too. For timeout tests.
func (c *Cluster) Pause(n *Node) {
	n.pause()
	n.log.Info("node paused")
}

// Resume makes a paused node answer again, in order, what it read meanwhile.
func (c *Cluster) Resume(n *Node) {
	n.resume()
	n.log.Info("node resumed")
}

// stopRebalance cancels a rebalance started over REST, and waits for it.
func (c *Cluster) stopRebalance() {
	c.mu.Lock()
	r := c.rebalance
	c.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
}
