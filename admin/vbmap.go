package admin

import (
	"fmt"
	"net/http"

	"github.com/vbproxy/vbproxy/vbmap"
)

// MapInfo is the JSON form of a bucket's map served by GET /vbmap.
type MapInfo struct {
	Bucket      string        `json:"bucket"`
	Revision    string        `json:"revision"` // "epoch/rev"
	Epoch       int64         `json:"epoch"`
	Rev         int64         `json:"rev"`
	Versioned   bool          `json:"versioned"` // false when the config had no rev
	Source      string        `json:"source"`    // origin: static, fetch, stream, poll, nmvb, reload, cccp, push
	Network     string        `json:"network"`
	NumVBuckets int           `json:"vbuckets"`
	NumReplicas int           `json:"replicas"`
	Nodes       []NodeInfo    `json:"nodes"`
	VBuckets    []VBucketInfo `json:"vbucket_map,omitempty"` // with ?full=1
	Error       string        `json:"error,omitempty"`       // with ?all=1: why there is no map
}

// NodeInfo is one KV node of a MapInfo.
type NodeInfo struct {
	Address         string `json:"address"`
	MgmtURL         string `json:"mgmt_url,omitempty"`
	State           string `json:"state"`            // upstream pool: connecting, up, down, unknown
	Reason          string `json:"reason,omitempty"` // why the node is down or connecting
	Conns           int    `json:"connections"`
	ActiveVBuckets  int    `json:"active_vbuckets"`
	ReplicaVBuckets int    `json:"replica_vbuckets"`
}

// VBucketInfo is one vBucket's row; node numbers index MapInfo.Nodes, -1
// means none.
type VBucketInfo struct {
	VBucket  int   `json:"vbucket"`
	Active   int   `json:"active"`
	Replicas []int `json:"replicas"`
	Forward  int   `json:"forward"` // owner after the current rebalance move
}

// Describe builds the MapInfo of m; nodes (may be nil) gives pool states.
func Describe(m *vbmap.Map, nodes []NodeStatus, full bool) MapInfo {
	rev := m.Revision()
	info := MapInfo{
		Bucket:      m.Bucket(),
		Revision:    rev.String(),
		Epoch:       rev.Epoch,
		Rev:         rev.Rev,
		Versioned:   m.Versioned(),
		Source:      m.Origin(),
		Network:     m.Network(),
		NumVBuckets: m.NumVBuckets(),
		NumReplicas: m.NumReplicas(),
		Nodes:       make([]NodeInfo, len(m.Nodes())),
	}
	for i, n := range m.Nodes() {
		info.Nodes[i] = NodeInfo{Address: n.Addr, MgmtURL: n.MgmtURL, State: "unknown"}
		for _, st := range nodes {
			if st.Addr == n.Addr {
				info.Nodes[i].State, info.Nodes[i].Reason, info.Nodes[i].Conns = st.State, st.Reason, st.Conns
				break
			}
		}
	}
	if full {
		info.VBuckets = make([]VBucketInfo, m.NumVBuckets())
	}
	for vb := range m.NumVBuckets() {
		v := uint16(vb)
		a := m.Active(v)
		if a >= 0 {
			info.Nodes[a].ActiveVBuckets++
		}
		reps := m.Replicas(v)
		for _, r := range reps {
			info.Nodes[r].ReplicaVBuckets++
		}
		if full {
			info.VBuckets[vb] = VBucketInfo{VBucket: vb, Active: a, Replicas: append([]int{}, reps...), Forward: m.Forward(v)}
		}
	}
	return info
}

// vbmap serves GET /vbmap: the first bucket's map, ?bucket=NAME for another,
// ?all=1 for every bucket ({"buckets": [...]}); ?full=1 adds the per-vBucket
// table.
func (s *Server) vbmap(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	full := truthy(q.Get("full"))
	if truthy(q.Get("all")) {
		out := struct {
			Buckets []MapInfo `json:"buckets"`
		}{Buckets: make([]MapInfo, 0, len(s.buckets))}
		for i := range s.buckets {
			b := &s.buckets[i]
			m := b.Map.Current()
			if m == nil {
				out.Buckets = append(out.Buckets, MapInfo{Bucket: b.Name, Nodes: []NodeInfo{}, Error: "no vBucket map loaded yet"})
				continue
			}
			out.Buckets = append(out.Buckets, s.describe(b, m, full))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	b, err := s.bucket(r)
	if err != nil {
		writeJSON(w, http.StatusNotFound, errorBody{Error: err.Error()})
		return
	}
	m := b.Map.Current()
	if m == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Bucket: b.Name, Error: "no vBucket map loaded yet"})
		return
	}
	writeJSON(w, http.StatusOK, s.describe(b, m, full))
}

func (s *Server) describe(b *Bucket, m *vbmap.Map, full bool) MapInfo {
	var nodes []NodeStatus
	if b.Nodes != nil {
		nodes = b.Nodes()
	}
	info := Describe(m, nodes, full)
	if info.Bucket == "" { // static maps may have no name
		info.Bucket = b.Name
	}
	return info
}

func truthy(v string) bool {
	switch v {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func (i NodeInfo) String() string { return fmt.Sprintf("%s(%s)", i.Address, i.State) }
