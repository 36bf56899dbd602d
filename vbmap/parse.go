package vbmap

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Origins of a Map: where its config came from.
const (
	OriginStatic = "static" // a config file loaded at start (SourceOptions.MapFile)
	OriginFetch  = "fetch"  // a one-shot GET of the terse or full config
	OriginStream = "stream" // the streaming endpoint
	OriginPoll   = "poll"   // periodic GET when streaming is unavailable
	OriginNMVB   = "nmvb"   // the body of a NOT_MY_VBUCKET reply (Source.Offer)
	OriginReload = "reload" // an explicit Source.Refresh
	OriginCCCP   = "cccp"   // GET_CLUSTER_CONFIG on the KV config connection (first fetch, revision check)
	OriginPush   = "push"   // a clustermap change notification pushed by a KV node (full, or fetched after a brief one)
)

// Network names accepted by ParseOptions.Network and SourceOptions.Network.
const (
	NetworkDefault  = "default"
	NetworkExternal = "external"
	NetworkAuto     = "auto"
)

// MaxVBuckets is the largest vBucket count Parse accepts (vBucket ids are u16).
const MaxVBuckets = 1 << 16

// ParseOptions tells Parse how to read a config.
type ParseOptions struct {
	// Host is the host the config came from (the URL or node asked, with or
	// without port). It replaces $HOST and stands for nodes without a
	// hostname, and is the match target of Network "auto". Default "": a
	// config that needs it is rejected.
	Host string
	// Network selects the addresses to use: "default" (or ""), "external"
	// (alternate addresses, with default ports where the alternate omits
	// one) or "auto" (the network whose hostname equals Host; default when
	// none does).
	Network string
	// Origin is recorded in the Map (OriginStatic, OriginFetch, ...). Default "".
	Origin string
	// TLS selects the nodes' TLS ports: Node.Addr gets the node's nodesExt
	// kvSSL port and Node.MgmtURL is "https://host:mgmtSSL" (on Network
	// "external", the alternate address's ports, falling back to the
	// default network's where the alternate omits one). The
	// vBucketServerMap.serverList holds plain ports, so each entry is
	// matched to its nodesExt entry (the package doc, "TLS", gives the
	// rule); a KV node without a kvSSL port, a serverList entry without a
	// nodesExt entry, or a config without nodesExt is an error naming the
	// field. Default false: plain ports, "http://host:mgmt".
	TLS bool
}

// rawConfig is the subset of a bucket config that routing needs.
type rawConfig struct {
	Rev         *int64        `json:"rev"`
	RevEpoch    int64         `json:"revEpoch"`
	Name        string        `json:"name"`
	NodeLocator string        `json:"nodeLocator"`
	Caps        []string      `json:"bucketCapabilities"`
	ServerMap   *rawServerMap `json:"vBucketServerMap"`
	NodesExt    []rawNodeExt  `json:"nodesExt"`
	Nodes       []rawNode     `json:"nodes"`
}

type rawServerMap struct {
	HashAlgorithm     string   `json:"hashAlgorithm"`
	NumReplicas       int      `json:"numReplicas"`
	ServerList        []string `json:"serverList"`
	VBucketMap        [][]int  `json:"vBucketMap"`
	VBucketMapForward [][]int  `json:"vBucketMapForward"`
}

type rawNodeExt struct {
	Hostname           string                `json:"hostname"`
	Services           map[string]int        `json:"services"`
	ThisNode           bool                  `json:"thisNode"`
	AlternateAddresses map[string]rawAltAddr `json:"alternateAddresses"`
}

type rawAltAddr struct {
	Hostname string         `json:"hostname"`
	Ports    map[string]int `json:"ports"`
}

// rawNode is an entry of the full config's "nodes" list, used for management
// URLs when nodesExt is missing (old servers).
type rawNode struct {
	Hostname string `json:"hostname"` // "host:8091"
	Ports    struct {
		Direct int `json:"direct"` // KV port
	} `json:"ports"`
}

// Parse reads a bucket config (full, terse, or a NOT_MY_VBUCKET body) and
// returns a validated, immutable Map. Errors wrap ErrInvalidConfig (and
// ErrMemcachedBucket for ketama configs) and name the field at fault.
func Parse(data []byte, o ParseOptions) (*Map, error) {
	network := o.Network
	switch network {
	case "", NetworkDefault:
		network = NetworkDefault
	case NetworkExternal, NetworkAuto:
	default:
		return nil, fmt.Errorf("%w: unknown network %q (want default, external or auto)", ErrInvalidConfig, o.Network)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, configErr("", "empty config")
	}
	var raw rawConfig
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &ConfigError{Problem: "malformed config JSON", Err: err}
	}
	host := splitSourceHost(o.Host)

	switch raw.NodeLocator {
	case "", "vbucket":
	case "ketama":
		return nil, &ConfigError{Field: "nodeLocator", Problem: "memcached buckets are not supported (nodeLocator \"ketama\"); use a Couchbase bucket", Err: ErrMemcachedBucket}
	default:
		return nil, configErr("nodeLocator", "unknown locator %q (want \"vbucket\")", raw.NodeLocator)
	}
	sm := raw.ServerMap
	if sm == nil {
		return nil, configErr("vBucketServerMap", "missing")
	}
	switch strings.ToUpper(sm.HashAlgorithm) {
	case "", "CRC":
	default:
		return nil, configErr("vBucketServerMap.hashAlgorithm", "unknown hash algorithm %q (want \"CRC\")", sm.HashAlgorithm)
	}
	if sm.NumReplicas < 0 {
		return nil, configErr("vBucketServerMap.numReplicas", "negative (%d)", sm.NumReplicas)
	}
	if raw.RevEpoch < 0 {
		return nil, configErr("revEpoch", "negative (%d)", raw.RevEpoch)
	}
	if raw.Rev != nil && *raw.Rev < 0 {
		return nil, configErr("rev", "negative (%d)", *raw.Rev)
	}

	// The server list, in order: vBucketMap indexes into it.
	if len(sm.ServerList) == 0 {
		return nil, configErr("vBucketServerMap.serverList", "empty")
	}
	servers := make([]hostPortEntry, len(sm.ServerList))
	for i, s := range sm.ServerList {
		field := "vBucketServerMap.serverList[" + strconv.Itoa(i) + "]"
		hp, err := parseHostPort(s, host)
		if err != nil {
			return nil, configErr(field, "%v", err)
		}
		servers[i] = hp
	}

	m := &Map{
		bucket:      raw.Name,
		rev:         Revision{Epoch: raw.RevEpoch},
		versioned:   raw.Rev != nil,
		origin:      o.Origin,
		numReplicas: sm.NumReplicas,
		caps:        raw.Caps,
	}
	if raw.Rev != nil {
		m.rev.Rev = *raw.Rev
	}
	if err := m.buildTables(sm); err != nil {
		return nil, err
	}
	if err := m.buildNodes(&raw, servers, host, network, o.TLS); err != nil {
		return nil, err
	}
	return m, nil
}

// hostPortEntry is a parsed "host:port" with the host bare.
type hostPortEntry struct {
	host string
	port int
}

func (h hostPortEntry) String() string { return joinHostPort(h.host, h.port) }

// parseHostPort parses a serverList entry, replacing $HOST with host.
func parseHostPort(s, host string) (hostPortEntry, error) {
	if strings.Contains(s, hostPlaceholder) {
		if host == "" {
			return hostPortEntry{}, fmt.Errorf("%q uses $HOST but the source host is unknown", s)
		}
		s = replaceHost(s, host, true)
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return hostPortEntry{}, fmt.Errorf("%q is not host:port", s)
	}
	if h == "" {
		return hostPortEntry{}, fmt.Errorf("%q has an empty host", s)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return hostPortEntry{}, fmt.Errorf("%q has an invalid port", s)
	}
	return hostPortEntry{host: h, port: port}, nil
}

// buildTables validates vBucketMap and vBucketMapForward and fills the
// active, forward and replica tables.
func (m *Map) buildTables(sm *rawServerMap) error {
	n := len(sm.VBucketMap)
	if n == 0 {
		return configErr("vBucketServerMap.vBucketMap", "empty (no vBuckets)")
	}
	if n > MaxVBuckets {
		return configErr("vBucketServerMap.vBucketMap", "%d vBuckets, more than the maximum %d", n, MaxVBuckets)
	}
	servers := len(sm.ServerList)
	check := func(name string, vb, j, idx int) error {
		if idx < -1 || idx >= servers {
			return configErr(fmt.Sprintf("vBucketServerMap.%s[%d][%d]", name, vb, j),
				"index %d outside serverList (%d entries)", idx, servers)
		}
		return nil
	}
	m.active = make([]int32, n)
	var total int
	for vb, row := range sm.VBucketMap {
		if len(row) == 0 {
			return configErr(fmt.Sprintf("vBucketServerMap.vBucketMap[%d]", vb), "empty (want [active, replica...])")
		}
		for j, idx := range row {
			if err := check("vBucketMap", vb, j, idx); err != nil {
				return err
			}
			if j > 0 && idx >= 0 {
				total++
			}
		}
		m.active[vb] = int32(row[0])
	}
	// Replicas share one backing array; -1 entries are dropped.
	flat := make([]int, 0, total)
	m.replicas = make([][]int, n)
	for vb, row := range sm.VBucketMap {
		start := len(flat)
		for _, idx := range row[1:] {
			if idx >= 0 {
				flat = append(flat, idx)
			}
		}
		m.replicas[vb] = flat[start:len(flat):len(flat)]
	}
	if sm.VBucketMapForward != nil {
		if len(sm.VBucketMapForward) != n {
			return configErr("vBucketServerMap.vBucketMapForward", "%d entries, want %d (one per vBucket)", len(sm.VBucketMapForward), n)
		}
		m.forward = make([]int32, n)
		for vb, row := range sm.VBucketMapForward {
			if len(row) == 0 {
				return configErr(fmt.Sprintf("vBucketServerMap.vBucketMapForward[%d]", vb), "empty (want [active, replica...])")
			}
			for j, idx := range row {
				if err := check("vBucketMapForward", vb, j, idx); err != nil {
					return err
				}
			}
			m.forward[vb] = int32(row[0])
		}
	}
	m.setNumVBuckets(n)
	return nil
}
