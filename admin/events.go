package admin

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vbproxy/vbproxy/vbmap"
)

// Event kinds in the console's recent-events list.
const (
	EventMap    = "map"    // a map with different routing was applied
	EventNode   = "node"   // a node went down, came back, or started reconnecting
	EventReload = "reload" // POST /reload refetched a map
	EventConfig = "config" // the config file was reloaded (SIGHUP, POST /reload?config=1)
)

// eventsKept bounds the ring of recent events.
const eventsKept = 200

// Event is one entry of the recent-events list (GET /api/state "events").
type Event struct {
	Time    time.Time `json:"time"`
	Bucket  string    `json:"bucket,omitempty"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
}

// eventRing keeps the last eventsKept events. Events are rare (map changes,
// node transitions, reloads): a mutex is enough.
type eventRing struct {
	mu    sync.Mutex
	buf   [eventsKept]Event
	added int
}

func (r *eventRing) add(e Event) {
	r.mu.Lock()
	r.buf[r.added%eventsKept] = e
	r.added++
	r.mu.Unlock()
}

// recent returns up to n events, newest first.
func (r *eventRing) recent(n int) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(n, r.added, eventsKept)
	out := make([]Event, n)
	for i := range n {
		out[i] = r.buf[(r.added-1-i)%eventsKept]
	}
	return out
}

// RecordEvent adds an event to the console's recent-events list (cmd/vbproxy
// records config reloads with it). bucket may be "".
func (s *Server) RecordEvent(bucket, kind, message string) {
	s.events.add(Event{Time: s.now(), Bucket: bucket, Kind: kind, Message: message})
}

// MapChanged tells the console that bucket's source applied m after old
// (nil for the first map): it records the time and, when the routing
// changed, an event saying what moved. Use it from vbmap.Source.Subscribe.
func (s *Server) MapChanged(bucket string, old, m *vbmap.Map) {
	st := s.state(bucket)
	if st == nil || m == nil {
		return
	}
	now := s.now()
	st.mu.Lock()
	st.changed = now
	st.mu.Unlock()
	if old != nil && old.SameRouting(m) {
		return
	}
	s.events.add(Event{Time: now, Bucket: bucket, Kind: EventMap, Message: describeChange(old, m)})
}

// describeChange says in one line what a new map changed.
func describeChange(old, m *vbmap.Map) string {
	moving := movingCount(m)
	if old == nil {
		msg := fmt.Sprintf("map %s (%s): %d nodes, %d vBuckets", m.Revision(), m.Origin(), len(m.Nodes()), m.NumVBuckets())
		if moving > 0 {
			msg += fmt.Sprintf(", %d moving", moving)
		}
		return msg
	}
	var parts []string
	if changed := ownerChanges(old, m); changed > 0 {
		parts = append(parts, fmt.Sprintf("%d vBuckets changed owner", changed))
	}
	switch {
	case !old.HasForward() && m.HasForward():
		parts = append(parts, fmt.Sprintf("rebalance started, %d vBuckets to move", moving))
	case old.HasForward() && !m.HasForward():
		parts = append(parts, "rebalance finished")
	case moving > 0:
		parts = append(parts, fmt.Sprintf("%d still moving", moving))
	}
	added, removed := nodeDiff(old, m)
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "routing changed")
	}
	return fmt.Sprintf("map %s → %s (%s): %s", old.Revision(), m.Revision(), m.Origin(), strings.Join(parts, "; "))
}

// ownerChanges counts the vBuckets whose active node (by address) differs.
func ownerChanges(old, m *vbmap.Map) int {
	if old.NumVBuckets() != m.NumVBuckets() {
		return m.NumVBuckets()
	}
	on, mn := old.Nodes(), m.Nodes()
	addr := func(nodes []vbmap.Node, i int) string {
		if i < 0 {
			return ""
		}
		return nodes[i].Addr
	}
	n := 0
	for vb := range m.NumVBuckets() {
		v := uint16(vb)
		if addr(on, old.Active(v)) != addr(mn, m.Active(v)) {
			n++
		}
	}
	return n
}

// movingCount counts the vBuckets whose forward owner differs from the
// active one.
func movingCount(m *vbmap.Map) int {
	if !m.HasForward() {
		return 0
	}
	n := 0
	for vb := range m.NumVBuckets() {
		v := uint16(vb)
		if f := m.Forward(v); f >= 0 && f != m.Active(v) {
			n++
		}
	}
	return n
}

func nodeDiff(old, m *vbmap.Map) (added, removed []string) {
	in := func(nodes []vbmap.Node, addr string) bool {
		for _, n := range nodes {
			if n.Addr == addr {
				return true
			}
		}
		return false
	}
	for _, n := range m.Nodes() {
		if !in(old.Nodes(), n.Addr) {
			added = append(added, n.Addr)
		}
	}
	for _, n := range old.Nodes() {
		if !in(m.Nodes(), n.Addr) {
			removed = append(removed, n.Addr)
		}
	}
	return added, removed
}
