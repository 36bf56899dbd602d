package sim

import "slices"

// Run-time switches that make the cluster misbehave the way tests need.

// SetClustermapPush turns clustermap push notifications on or off, as
// Couchbase's memcached setting clustermap_push_notifications_enabled does:
// while off, HELLO declines ClustermapChangeNotification and its brief form.
// Unlike a real node, the simulator also stops pushing to connections that
// negotiated notifications earlier, so that tests can cover a push source
// that goes silent; turned back on, those connections get the newest config
// at once if they have not seen it.
func (c *Cluster) SetClustermapPush(on bool) {
	if c.pushEnabled.Swap(on) != on {
		c.log.Info("clustermap push notifications", "enabled", on)
		c.wake()
	}
}

// ClustermapPush reports whether clustermap push notifications are on.
func (c *Cluster) ClustermapPush() bool { return c.pushEnabled.Load() }

// wake wakes every watcher (config streams, pushers) without publishing a
// new revision, so that they re-check a switch.
func (c *Cluster) wake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.changed)
	c.changed = make(chan struct{})
}

// SetMgmtReachable makes every node's cluster manager (http and https)
// reachable or not while KV stays up. Unreachable, the listeners stay bound
// but reset (TCP RST) each connection at once, and the connections open
// when the switch flips, config streams included, are reset. Nodes added
// meanwhile are unreachable too. Scripts flip it with POST /sim/mgmt on
// ControlHandler (cbsim -control).
func (c *Cluster) SetMgmtReachable(reachable bool) {
	if c.mgmtDown.Swap(!reachable) == !reachable {
		return
	}
	c.log.Info("cluster managers", "reachable", reachable)
	if reachable {
		return
	}
	c.gatesMu.Lock()
	gates := slices.Clone(c.gates)
	c.gatesMu.Unlock()
	for _, g := range gates {
		g.resetAll()
	}
}

// MgmtReachable reports whether the cluster managers are reachable.
func (c *Cluster) MgmtReachable() bool { return !c.mgmtDown.Load() }

// SetStreamsStalled stalls or releases every config stream
// (/pools/default/bs/<b>, /pools/default/bucketsStreaming/<b>): while
// stalled, streams stay open but deliver no further config, and streams
// opened meanwhile deliver their first config and then nothing, as a
// cluster manager whose stream went silent. Released, each stream delivers
// the current config at once if it changed.
func (c *Cluster) SetStreamsStalled(stalled bool) {
	if c.streamsStalled.Swap(stalled) != stalled {
		c.log.Info("config streams", "stalled", stalled)
		c.wake()
	}
}

// StreamsStalled reports whether config streams are stalled.
func (c *Cluster) StreamsStalled() bool { return c.streamsStalled.Load() }
