package sim

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
