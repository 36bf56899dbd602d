package vbmap

import (
	"slices"
)

// Node is a KV node of the map.
type Node struct {
	Addr    string // KV "host:port" on the selected network (IPv6 bracketed)
	MgmtURL string // "http://host:port" of its cluster manager on that network, "" if unknown
}

// Map is an immutable, validated snapshot of a bucket's vBucket map. All
// methods are safe for concurrent use; slices returned must not be modified.
type Map struct {
	bucket      string
	rev         Revision
	versioned   bool
	origin      string
	network     string
	numReplicas int
	caps        []string // bucketCapabilities

	nodes    []Node
	mgmtURLs []string

	numVB    uint32
	mask     uint32 // numVB-1 when numVB is a power of two, else 0
	active   []int32
	forward  []int32 // nil when the config has no vBucketMapForward
	replicas [][]int
}

func (m *Map) setNumVBuckets(n int) {
	m.numVB = uint32(n)
	if n&(n-1) == 0 {
		m.mask = uint32(n - 1)
	}
}

// Bucket returns the bucket name from the config ("" when it had none).
func (m *Map) Bucket() string { return m.bucket }

// Revision returns the config's (revEpoch, rev).
func (m *Map) Revision() Revision { return m.rev }

// Versioned reports whether the config had a rev.
func (m *Map) Versioned() bool { return m.versioned }

// Origin returns where the config came from (OriginStream, ...).
func (m *Map) Origin() string { return m.origin }

// Network returns the network the node addresses are on ("default",
// "external", ...), with "auto" resolved.
func (m *Map) Network() string { return m.network }

// Capabilities returns the config's bucketCapabilities ("cccp",
// "collections", ...), nil when it had none. Do not modify.
func (m *Map) Capabilities() []string { return m.caps }

// HasCapability reports whether the config's bucketCapabilities list c.
func (m *Map) HasCapability(c string) bool { return slices.Contains(m.caps, c) }

// NumVBuckets returns the number of vBuckets.
func (m *Map) NumVBuckets() int { return int(m.numVB) }

// NumReplicas returns the config's numReplicas.
func (m *Map) NumReplicas() int { return m.numReplicas }

// Nodes returns the KV nodes in serverList order; Active, Replicas and
// Forward index into it. Do not modify.
func (m *Map) Nodes() []Node { return m.nodes }

// MgmtURLs returns the cluster manager URLs of every node in the config on
// the selected network, including nodes that hold no vBuckets. Do not modify.
func (m *Map) MgmtURLs() []string { return m.mgmtURLs }

// VBucket returns the vBucket of key.
func (m *Map) VBucket(key []byte) uint16 {
	h := (checksumIEEE(key) >> 16) & 0x7fff
	if m.mask != 0 || m.numVB == 1 {
		return uint16(h & m.mask)
	}
	return uint16(h % m.numVB)
}

// Active returns the index in Nodes of vb's active node, -1 when it has none
// or vb is out of range.
func (m *Map) Active(vb uint16) int {
	if uint32(vb) >= m.numVB {
		return -1
	}
	return int(m.active[vb])
}

// Replicas returns the indexes in Nodes of vb's replicas, in order, without
// -1 entries. Do not modify.
func (m *Map) Replicas(vb uint16) []int {
	if uint32(vb) >= m.numVB {
		return nil
	}
	return m.replicas[vb]
}

// Forward returns the index in Nodes of vb's active node after the current
// rebalance move, -1 when there is no forward map or no owner.
func (m *Map) Forward(vb uint16) int {
	if m.forward == nil || uint32(vb) >= m.numVB {
		return -1
	}
	return int(m.forward[vb])
}

// HasForward reports whether the config carried a vBucketMapForward (a
// rebalance is in progress).
func (m *Map) HasForward() bool { return m.forward != nil }

// Route returns key's vBucket and the index in Nodes of its active node (-1
// when the vBucket has none). It does not allocate.
func (m *Map) Route(key []byte) (vb uint16, node int) {
	vb = m.VBucket(key)
	return vb, int(m.active[vb])
}

// SameRouting reports whether o routes exactly as m: the same node
// addresses in the same order and the same active and forward tables. A nil
// o is never the same.
func (m *Map) SameRouting(o *Map) bool {
	if o == nil {
		return false
	}
	if m == o {
		return true
	}
	if m.numVB != o.numVB || len(m.nodes) != len(o.nodes) {
		return false
	}
	for i := range m.nodes {
		if m.nodes[i].Addr != o.nodes[i].Addr {
			return false
		}
	}
	return slices.Equal(m.active, o.active) && slices.Equal(m.forward, o.forward) &&
		(m.forward == nil) == (o.forward == nil)
}

// sameContent reports whether o is m apart from revision and origin: same
// routing, replicas, node management URLs and bucket.
func (m *Map) sameContent(o *Map) bool {
	if !m.SameRouting(o) || m.bucket != o.bucket || m.numReplicas != o.numReplicas {
		return false
	}
	if !slices.Equal(m.nodes, o.nodes) || !slices.Equal(m.mgmtURLs, o.mgmtURLs) {
		return false
	}
	for vb := range m.replicas {
		if !slices.Equal(m.replicas[vb], o.replicas[vb]) {
			return false
		}
	}
	return true
}
