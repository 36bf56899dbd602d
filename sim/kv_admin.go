package sim

import (
	"encoding/binary"
	"os"
	"strconv"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// stat answers STAT: the general group (no key) and "vbucket" (the state of
// each vBucket this node holds). Other groups get KEY_ENOENT.
func (kc *kvConn) stat(p *memcached.Packet) {
	h := &p.Header
	if len(p.Extras) != 0 || len(p.Value) != 0 {
		kc.reply(h, memcached.StatusEINVAL, "STAT takes only a group key")
		return
	}
	t := kc.c.topo.Load()
	b := kc.bucket
	switch string(p.Key) {
	case "":
		var active, replica int
		var items int
		for vb, chain := range t.maps[b].chains {
			switch {
			case chain[0] == kc.n:
				active++
				v := &kc.c.buckets[b].vbs[vb]
				v.mu.Lock()
				if s := kc.n.data[b][vb]; s != nil {
					items += s.len()
				}
				v.mu.Unlock()
			case containsNode(chain[1:], kc.n):
				replica++
			}
		}
		st := &kc.n.stats
		now := time.Now()
		stats := []struct {
			k string
			v int64
		}{
			{"pid", int64(os.Getpid())},
			{"uptime", int64(now.Sub(kc.n.started) / time.Second)},
			{"time", now.Unix()},
			{"curr_connections", st.currConns.Load()},
			{"total_connections", st.totalConns.Load()},
			{"curr_items", int64(items)},
			{"vb_active_num", int64(active)},
			{"vb_replica_num", int64(replica)},
			{"ep_num_vbuckets", int64(kc.c.opts.VBuckets)},
			{"cmd_get", st.cmdGet.Load()},
			{"cmd_set", st.cmdSet.Load()},
			{"get_hits", st.getHits.Load()},
			{"get_misses", st.getMisses.Load()},
			{"delete_hits", st.deleteHits.Load()},
			{"delete_misses", st.deleteMisses.Load()},
		}
		kc.out = memcached.AppendStat(kc.out, h, "version", kc.c.opts.Version)
		for _, s := range stats {
			kc.out = memcached.AppendStat(kc.out, h, s.k, strconv.FormatInt(s.v, 10))
		}
	case "vbucket":
		for vb, chain := range t.maps[b].chains {
			state := ""
			switch {
			case chain[0] == kc.n:
				state = "active"
			case containsNode(chain[1:], kc.n):
				state = "replica"
			default:
				continue
			}
			kc.out = memcached.AppendStat(kc.out, h, "vb_"+strconv.Itoa(vb), state)
		}
	default:
		kc.reply(h, memcached.StatusKeyENOENT, "Unknown stat group")
		return
	}
	kc.out = memcached.AppendResponse(kc.out, h, memcached.StatusSuccess, 0, nil, nil, nil)
}

func containsNode(list []*Node, n *Node) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// flush answers FLUSH: with AllowFlush it clears every vBucket this node
// holds as active (and their replicas); otherwise NOT_SUPPORTED, as on a
// Couchbase bucket with flush disabled. A delayed flush (non-zero expiry)
// is not supported by Couchbase either: EINVAL.
func (kc *kvConn) flush(p *memcached.Packet) {
	h := &p.Header
	if (len(p.Extras) != 0 && len(p.Extras) != 4) || len(p.Key) != 0 || len(p.Value) != 0 {
		kc.reply(h, memcached.StatusEINVAL, "Invalid arguments")
		return
	}
	if !kc.c.opts.AllowFlush {
		kc.reply(h, memcached.StatusNotSupported, "Flush is disabled for the bucket")
		return
	}
	if len(p.Extras) == 4 && binary.BigEndian.Uint32(p.Extras) != 0 {
		kc.reply(h, memcached.StatusEINVAL, "Delayed flush is not supported")
		return
	}
	b := kc.bucket
	for vb := range kc.c.opts.VBuckets {
		v := &kc.c.buckets[b].vbs[vb]
		v.mu.Lock()
		chain := kc.c.topo.Load().maps[b].chains[vb]
		if chain[0] == kc.n {
			for _, n := range chain {
				if n != nil && n.data[b][vb] != nil {
					n.data[b][vb] = newVBStore()
				}
			}
		}
		v.mu.Unlock()
	}
	kc.respond(h, memcached.StatusSuccess, 0, nil, nil, nil)
}
