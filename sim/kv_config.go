package sim

import (
	"encoding/binary"
	"encoding/json"

	"github.com/vbproxy/vbproxy/memcached"
)

// clusterVersion orders configs as Couchbase does: by epoch, then revision.
// The zero value is older than every config the simulator publishes.
type clusterVersion struct {
	epoch, rev int64
}

func (v clusterVersion) less(o clusterVersion) bool {
	if v.epoch != o.epoch {
		return v.epoch < o.epoch
	}
	return v.rev < o.rev
}

// version returns the version of the configs published with t.
func (t *topology) version() clusterVersion { return clusterVersion{epoch: revEpoch, rev: t.rev} }

// getClusterConfig answers GET_CLUSTER_CONFIG (0xb5) as kv_engine does
// (cluster_config_executor.cc). Without extras it returns the selected
// bucket's terse config, $HOST standing for this node. With 16 bytes of
// extras (the client's int64 epoch and revision; revision >= 1, epoch >= 1
// or -1) the value is empty unless the node's config is newer. Without a
// selected bucket it returns the global config to an authenticated client
// and EACCESS to others (which closes the connection without XERROR). The
// connection remembers the newest version sent or claimed: pushes and, with
// DedupeNotMyVbucketClustermap, NOT_MY_VBUCKET bodies skip what it has.
func (kc *kvConn) getClusterConfig(p *memcached.Packet) {
	h := &p.Header
	if (len(p.Extras) != 0 && len(p.Extras) != 16) || len(p.Key) != 0 || len(p.Value) != 0 || h.CAS != 0 {
		kc.reply(h, memcached.StatusEINVAL, "GET_CLUSTER_CONFIG takes no key, no value and 0 or 16 bytes of extras")
		return
	}
	var claimed clusterVersion
	if len(p.Extras) == 16 {
		claimed = clusterVersion{epoch: int64(binary.BigEndian.Uint64(p.Extras)), rev: int64(binary.BigEndian.Uint64(p.Extras[8:]))}
		if claimed.rev < 1 || (claimed.epoch < 1 && claimed.epoch != -1) {
			kc.reply(h, memcached.StatusEINVAL, "Revision number must not be less than 1")
			return
		}
	}
	t := kc.c.topo.Load()
	if kc.bucket < 0 {
		if !kc.authed {
			kc.reply(h, memcached.StatusEAccess, "No access")
			return
		}
		kc.respond(h, memcached.StatusSuccess, 0, nil, nil, kc.c.globalConfig(t, kc.n))
		return
	}
	cur := t.version()
	if len(p.Extras) == 0 || claimed.less(cur) {
		kc.known = cur
		kc.respond(h, memcached.StatusSuccess, 0, nil, nil, t.terseFor(kc.bucket, kc.n))
		return
	}
	// The client has this version or a newer one.
	kc.known = claimed
	kc.respond(h, memcached.StatusSuccess, 0, nil, nil, nil)
}

// notMyVBucket answers NOT_MY_VBUCKET with the node's current terse config,
// or with no body when the client negotiated DedupeNotMyVbucketClustermap
// and already has that version (kv_engine Cookie::sendNotMyVBucket).
func (kc *kvConn) notMyVBucket(h *memcached.Header) {
	t := kc.c.topo.Load()
	var cfg []byte
	if cur := t.version(); !kc.features.dedupeNMVB || kc.known.less(cur) {
		cfg = t.terseFor(kc.bucket, kc.n)
		kc.known = cur
	}
	kc.out = memcached.AppendResponse(kc.out, h, memcached.StatusNotMyVBucket, 0, nil, nil, cfg)
}

// jsonGlobal is the cluster-wide config a node holds besides the bucket
// configs (ns_server bucket_info_cache:do_build_node_services): what
// GET_CLUSTER_CONFIG returns without a selected bucket.
type jsonGlobal struct {
	Rev                    int64               `json:"rev"`
	NodesExt               []jsonNodeExt       `json:"nodesExt"`
	RevEpoch               int64               `json:"revEpoch"`
	ClusterCapabilitiesVer []int               `json:"clusterCapabilitiesVer"`
	ClusterCapabilities    map[string][]string `json:"clusterCapabilities"`
	ClusterName            string              `json:"clusterName"`
}

// globalConfig renders the global config of t as node self holds it
// ($HOST-style: self's nodesExt entry has no hostname).
func (c *Cluster) globalConfig(t *topology, self *Node) []byte {
	g := jsonGlobal{
		Rev:                    t.rev,
		RevEpoch:               revEpoch,
		ClusterCapabilitiesVer: []int{1, 0},
		ClusterCapabilities:    map[string][]string{"n1ql": {"enhancedPreparedStatements"}},
		ClusterName:            "cbsim",
	}
	for _, n := range t.members {
		g.NodesExt = append(g.NodesExt, c.nodeExt(n, self, true))
	}
	out, err := json.Marshal(&g)
	if err != nil {
		panic("sim: marshal global config: " + err.Error())
	}
	return out
}
