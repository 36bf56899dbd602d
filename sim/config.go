package sim

import (
	"encoding/json"
	"net"
	"net/url"
	"strconv"
)

// The JSON shapes of a Couchbase bucket config. Field order follows what the
// cluster manager sends.
type jsonBucket struct {
	Rev                   int64             `json:"rev"`
	RevEpoch              int64             `json:"revEpoch"`
	Name                  string            `json:"name"`
	UUID                  string            `json:"uuid"`
	URI                   string            `json:"uri"`
	StreamingURI          string            `json:"streamingUri"`
	BucketType            string            `json:"bucketType,omitempty"`
	AuthType              string            `json:"authType,omitempty"`
	ReplicaNumber         *int              `json:"replicaNumber,omitempty"`
	Controllers           map[string]string `json:"controllers,omitempty"`
	NodeLocator           string            `json:"nodeLocator"`
	BucketCapabilitiesVer string            `json:"bucketCapabilitiesVer"`
	BucketCapabilities    []string          `json:"bucketCapabilities"`
	CollectionsManifestID string            `json:"collectionsManifestUid,omitempty"`
	DDocs                 map[string]string `json:"ddocs"`
	Nodes                 []jsonNode        `json:"nodes"`
	NodesExt              []jsonNodeExt     `json:"nodesExt"`
	VBucketServerMap      jsonVBSM          `json:"vBucketServerMap"`
}

type jsonNode struct {
	Hostname          string         `json:"hostname"`
	Ports             map[string]int `json:"ports"`
	OTPNode           string         `json:"otpNode,omitempty"`
	Status            string         `json:"status,omitempty"`
	ClusterMembership string         `json:"clusterMembership,omitempty"`
	Version           string         `json:"version,omitempty"`
	Services          []string       `json:"services,omitempty"`
	ThisNode          bool           `json:"thisNode,omitempty"`
}

type jsonNodeExt struct {
	Services           map[string]int `json:"services"`
	ThisNode           bool           `json:"thisNode,omitempty"`
	Hostname           string         `json:"hostname,omitempty"`
	AlternateAddresses *jsonAltAddrs  `json:"alternateAddresses,omitempty"`
}

type jsonAltAddrs struct {
	External jsonAltAddr `json:"external"`
}

type jsonAltAddr struct {
	Hostname string         `json:"hostname"`
	Ports    map[string]int `json:"ports"`
}

type jsonVBSM struct {
	HashAlgorithm     string   `json:"hashAlgorithm"`
	NumReplicas       int      `json:"numReplicas"`
	ServerList        []string `json:"serverList"`
	VBucketMap        [][]int  `json:"vBucketMap"`
	VBucketMapForward [][]int  `json:"vBucketMapForward,omitempty"`
}

const hostPlaceholder = "$HOST"

// bucketCapabilities are the capabilities the simulator implements; anything
// a client would switch on from this list must work. "collections" is
// prepended unless Options.NoCollections.
var bucketCapabilities = []string{"cbhello", "touch", "cccp", "nodesExt"}

var bucketCapabilitiesCollections = append([]string{"collections"}, bucketCapabilities...)

// bucketConfig renders bucket b of t as seen from node self (nil: no node is
// "this node"). terse gives the /pools/default/b form: $HOST stands for
// self's host and self's nodesExt entry has no hostname.
func (c *Cluster) bucketConfig(t *topology, b int, self *Node, terse bool) []byte {
	name := c.opts.Buckets[b]
	bk := c.buckets[b]
	cfg := jsonBucket{
		Rev:                   t.rev,
		RevEpoch:              revEpoch,
		Name:                  name,
		UUID:                  bk.uuid,
		URI:                   "/pools/default/buckets/" + url.PathEscape(name) + "?bucket_uuid=" + bk.uuid,
		StreamingURI:          "/pools/default/bucketsStreaming/" + url.PathEscape(name) + "?bucket_uuid=" + bk.uuid,
		NodeLocator:           "vbucket",
		BucketCapabilitiesVer: "",
		BucketCapabilities:    bucketCapabilities,
		DDocs:                 map[string]string{"uri": "/pools/default/buckets/" + url.PathEscape(name) + "/ddocs"},
	}
	if m := t.manifests[b]; m != nil {
		cfg.BucketCapabilities = bucketCapabilitiesCollections
		cfg.CollectionsManifestID = uidHex(m.uid)
	}
	if !terse {
		cfg.BucketType = "membase"
		cfg.AuthType = "sasl"
		r := c.opts.Replicas
		cfg.ReplicaNumber = &r
		if c.opts.AllowFlush {
			cfg.Controllers = map[string]string{"flush": "/pools/default/buckets/" + url.PathEscape(name) + "/controller/doFlush"}
		}
	}
	index := make(map[*Node]int, len(t.servers))
	for i, n := range t.servers {
		index[n] = i
		host := n.host
		if terse && n == self {
			host = hostPlaceholder
		}
		jn := jsonNode{
			Hostname: hostPort(host, n.mgmtPort),
			Ports:    map[string]int{"direct": n.kvPort},
		}
		if !terse {
			jn.OTPNode = n.otp
			jn.Status = "healthy"
			jn.ClusterMembership = "active"
			jn.Version = c.opts.Version
			jn.Services = []string{"kv"}
			jn.ThisNode = n == self
		}
		cfg.Nodes = append(cfg.Nodes, jn)
		cfg.NodesExt = append(cfg.NodesExt, c.nodeExt(n, self, terse))
		if terse && n == self {
			cfg.VBucketServerMap.ServerList = append(cfg.VBucketServerMap.ServerList, hostPlaceholder+":"+strconv.Itoa(n.kvPort))
		} else {
			cfg.VBucketServerMap.ServerList = append(cfg.VBucketServerMap.ServerList, hostPort(n.host, n.kvPort))
		}
	}
	m := t.maps[b]
	cfg.VBucketServerMap.HashAlgorithm = "CRC"
	cfg.VBucketServerMap.NumReplicas = c.opts.Replicas
	cfg.VBucketServerMap.VBucketMap = chainIndexes(m.chains, index)
	if m.forward != nil {
		cfg.VBucketServerMap.VBucketMapForward = chainIndexes(m.forward, index)
	}
	out, err := json.Marshal(&cfg)
	if err != nil {
		// Only maps, strings and ints: Marshal cannot fail.
		panic("sim: marshal bucket config: " + err.Error())
	}
	return out
}

// nodeExt renders one nodesExt entry.
func (c *Cluster) nodeExt(n, self *Node, terse bool) jsonNodeExt {
	e := jsonNodeExt{Services: c.servicePorts(n), ThisNode: n == self}
	if !terse || n != self {
		e.Hostname = n.host
	}
	if c.opts.ExternalHost != "" {
		e.AlternateAddresses = &jsonAltAddrs{External: jsonAltAddr{
			Hostname: c.opts.ExternalHost,
			Ports:    c.servicePorts(n),
		}}
	}
	return e
}

// servicePorts are a node's nodesExt services. With TLS (Options.TLSDir)
// kvSSL and mgmtSSL are the ports the node serves TLS on. Without it, the
// TLS ports of Couchbase's defaults (kvSSL 11207, mgmtSSL 18091) are
// advertised with the default plain ports, as a real cluster does, but
// nothing serves them.
func (c *Cluster) servicePorts(n *Node) map[string]int {
	p := map[string]int{"mgmt": n.mgmtPort, "kv": n.kvPort}
	switch {
	case n.kvTLSLn != nil:
		p["kvSSL"] = n.kvTLSPort
		p["mgmtSSL"] = n.mgmtTLSPort
	case n.kvPort == defaultKVPort && n.mgmtPort == defaultMgmtPort:
		p["kvSSL"] = defaultKVTLSPort
		p["mgmtSSL"] = defaultMgmtPort + mgmtTLSOffset
	}
	return p
}

// chainIndexes turns chains of nodes into serverList indexes (-1 = none).
func chainIndexes(chains [][]*Node, index map[*Node]int) [][]int {
	out := make([][]int, len(chains))
	flat := make([]int, 0, len(chains)*len(chains[0]))
	for vb, chain := range chains {
		start := len(flat)
		for _, n := range chain {
			i, ok := index[n]
			if n == nil || !ok {
				i = -1
			}
			flat = append(flat, i)
		}
		out[vb] = flat[start:len(flat):len(flat)]
	}
	return out
}

func hostPort(host string, port int) string {
	if host == hostPlaceholder {
		return host + ":" + strconv.Itoa(port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
