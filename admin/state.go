package admin

import (
	"time"

	"github.com/vbproxy/vbproxy/vbmap"
)

// State is the JSON of GET /api/state: what the console shows, refreshed
// every second. The grid itself is in GET /api/grid, fetched only when a
// bucket's revision changes.
type State struct {
	Time          time.Time     `json:"time"`
	Version       string        `json:"version,omitempty"`
	Ready         bool          `json:"ready"`
	NotReady      string        `json:"not_ready,omitempty"` // why /readyz answers 503
	TokenRequired bool          `json:"token_required"`      // probe=1 and reload need the admin token
	Buckets       []BucketState `json:"buckets"`
	Events        []Event       `json:"events"` // newest first
}

// BucketState is one bucket in a State.
type BucketState struct {
	Name     string       `json:"name"`
	Revision string       `json:"revision,omitempty"`
	Origin   string       `json:"origin,omitempty"`
	Changed  *time.Time   `json:"changed,omitempty"` // when the map in use was applied
	VBuckets int          `json:"vbuckets"`
	Replicas int          `json:"replicas"`
	Moving   int          `json:"moving"`          // vBuckets whose forward owner differs from the active one
	Error    string       `json:"error,omitempty"` // why there is no map
	Nodes    []NodeState  `json:"nodes"`
	Clients  *ClientState `json:"clients,omitempty"`
}

// NodeState is one row of a bucket's node table.
type NodeState struct {
	Index           int      `json:"index"`  // position in the map's node list (Grid.Nodes), -1 = not in the map
	Colour          int      `json:"colour"` // palette slot, -1 = none
	Address         string   `json:"address"`
	State           string   `json:"state"` // connecting, up, down, mixed (listeners disagree), unknown
	Reason          string   `json:"reason,omitempty"`
	Conns           int      `json:"connections"`
	ActiveVBuckets  int      `json:"active_vbuckets"`
	ReplicaVBuckets int      `json:"replica_vbuckets"`
	Incoming        int      `json:"incoming_vbuckets"`   // vBuckets moving to the node
	Requests        float64  `json:"requests_per_second"` // forwarded requests answered, over the last 5s
	Errors          float64  `json:"errors_per_second"`   // forwarded requests failed without a reply
	P50             *float64 `json:"p50_seconds"`         // upstream latency; null without requests
	P99             *float64 `json:"p99_seconds"`
	NMVB            uint64   `json:"nmvb_replies"` // NOT_MY_VBUCKET replies since start
}

// ClientStats are a bucket's client counters as its listeners report them
// (cmd/vbproxy adds up proxy.Server.Stats).
type ClientStats struct {
	Connections  int64  // open now
	Accepted     uint64 // since start
	Refused      uint64 // since start (max_connections, shutting down)
	AuthFailures uint64 // failed SASL attempts
	Requests     uint64 // requests answered
	// ByProtocol counts open connections per front-end protocol ("binary",
	// "text"); nil when the proxy does not report it.
	ByProtocol map[string]int64
}

// ClientState is a bucket's clients in a State.
type ClientState struct {
	Connections  int64            `json:"connections"`
	Accepted     uint64           `json:"accepted"`
	Refused      uint64           `json:"refused"`
	AuthFailures uint64           `json:"auth_failures"`
	Requests     float64          `json:"requests_per_second"`
	ByProtocol   map[string]int64 `json:"by_protocol,omitempty"`
}

// eventsShown is how many recent events a State carries.
const eventsShown = 50

// buildState assembles the State; it reads the maps, the pools and the
// latest sample, and allocates only the result.
func (s *Server) buildState() State {
	out := State{
		Time:          s.now().UTC(),
		Version:       s.version,
		TokenRequired: s.TokenRequired(),
		Buckets:       make([]BucketState, len(s.states)),
		Events:        s.events.recent(eventsShown),
	}
	out.NotReady = s.notReady()
	out.Ready = out.NotReady == ""
	for i, st := range s.states {
		out.Buckets[i] = st.build()
	}
	return out
}

func (st *bucketState) build() BucketState {
	b := st.b
	bs := BucketState{Name: b.Name}
	var pools []NodeStatus
	if b.Nodes != nil {
		pools = b.Nodes()
	}
	var clients *ClientStats
	if b.Clients != nil {
		c := b.Clients()
		clients = &c
	}

	m := b.Map.Current()
	var e *gridEntry
	if m == nil {
		bs.Error = "no vBucket map loaded yet"
	} else {
		e = st.entry(m)
		bs.Revision, bs.Origin = m.Revision().String(), m.Origin()
		bs.VBuckets, bs.Replicas, bs.Moving = m.NumVBuckets(), m.NumReplicas(), e.moving
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.changed.IsZero() {
		t := st.changed.UTC()
		bs.Changed = &t
	}
	row := func(addr string) NodeState {
		n := NodeState{Index: -1, Colour: -1, Address: addr, State: "unknown"}
		for _, p := range pools {
			if p.Addr == addr {
				n.State, n.Reason, n.Conns = p.State, p.Reason, p.Conns
				break
			}
		}
		if r, ok := st.rates[addr]; ok {
			n.Requests, n.Errors, n.NMVB = round(r.requests, 2), round(r.errors, 2), r.nmvb
			if r.hasLatency {
				p50, p99 := round(r.p50, 6), round(r.p99, 6)
				n.P50, n.P99 = &p50, &p99
			}
		}
		return n
	}
	if e != nil {
		nodes := m.Nodes()
		bs.Nodes = make([]NodeState, 0, len(nodes)+1)
		for i, node := range nodes {
			n := row(node.Addr)
			n.Index, n.Colour = i, e.colours[i]
			n.ActiveVBuckets, n.ReplicaVBuckets, n.Incoming = e.active[i], e.replica[i], e.incoming[i]
			bs.Nodes = append(bs.Nodes, n)
		}
	}
	for _, p := range pools { // pools to nodes no longer in the map (still draining)
		if e == nil || !inMap(m.Nodes(), p.Addr) {
			bs.Nodes = append(bs.Nodes, row(p.Addr))
		}
	}
	if bs.Nodes == nil {
		bs.Nodes = []NodeState{}
	}
	if clients != nil {
		bs.Clients = &ClientState{
			Connections: clients.Connections, Accepted: clients.Accepted, Refused: clients.Refused,
			AuthFailures: clients.AuthFailures, Requests: round(st.client, 2), ByProtocol: clients.ByProtocol,
		}
	}
	return bs
}

func inMap(nodes []vbmap.Node, addr string) bool {
	for _, n := range nodes {
		if n.Addr == addr {
			return true
		}
	}
	return false
}
