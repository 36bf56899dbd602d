package sim

import (
	"encoding/binary"

	"github.com/vbproxy/vbproxy/memcached"
)

// startPusher starts the connection's pusher, once: the goroutine that
// writes a clustermap change notification after every config change. Called
// by the loop, with wmu held, when a HELLO enables notifications; only the
// changes published from then on are pushed.
func (kc *kvConn) startPusher() {
	if kc.pushing {
		return
	}
	kc.pushing = true
	_, changed := kc.c.watch()
	kc.n.wg.Add(1)
	go func() {
		defer kc.n.wg.Done()
		kc.pushLoop(changed)
	}()
}

// pushLoop waits for config changes and pushes each, until the connection
// or the node ends. A paused node pushes nothing until it resumes, then the
// newest config.
func (kc *kvConn) pushLoop(changed <-chan struct{}) {
	for {
		select {
		case <-changed:
		case <-kc.done:
			return
		case <-kc.n.done:
			return
		}
		if !kc.n.waitRunning(kc.done) {
			return
		}
		t, next := kc.c.watch()
		changed = next
		if !kc.push(t) {
			if kc.conn != nil {
				_ = kc.conn.Close()
			}
			return
		}
	}
}

// push writes the notification for t, as kv_engine's push_cluster_config
// does: to a connection that asked for notifications, while the cluster's
// push setting is on, unless the connection already has that version (a
// connection behind by several revisions gets the newest only). The packet
// is a server request (magic 0x82, opcode 0x01) with key = the selected
// bucket's name (empty for the global config of a connection without a
// bucket), extras = int64 epoch + int64 revision, and value = the config
// ($HOST for this node) in full mode, nothing in brief mode. It returns false
// when the write failed.
func (kc *kvConn) push(t *topology) bool {
	kc.wmu.Lock()
	defer kc.wmu.Unlock()
	mode := kc.features.notify
	if mode == notifyNone || !kc.c.pushEnabled.Load() {
		return true
	}
	cur := t.version()
	var key, value []byte
	if kc.bucket >= 0 {
		cfg := t.terseFor(kc.bucket, kc.n)
		if cfg == nil || !kc.known.less(cur) {
			return true
		}
		kc.known = cur
		key = []byte(kc.c.opts.Buckets[kc.bucket])
		if mode == notifyFull {
			value = cfg
		}
	} else if mode == notifyFull {
		value = kc.c.globalConfig(t, kc.n)
	}
	var extras [16]byte
	binary.BigEndian.PutUint64(extras[:], uint64(cur.epoch))
	binary.BigEndian.PutUint64(extras[8:], uint64(cur.rev))
	pkt := memcached.AppendServerRequest(kc.w.AvailableBuffer(), memcached.OpClustermapChangeNotification, 0, extras[:], key, value)
	if _, err := kc.w.Write(pkt); err != nil {
		return false
	}
	return kc.w.Flush() == nil
}
