package admin

import (
	"encoding/json"
	"html/template"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/vbproxy/vbproxy/vbmap"
)

// Grid is the JSON of GET /api/grid: one bucket's map as the console draws
// it. Node numbers in Active, Replicas and Forward index Nodes; -1 = none.
type Grid struct {
	Bucket   string     `json:"bucket"`
	Revision string     `json:"revision"`
	VBuckets int        `json:"vbuckets"`
	Columns  int        `json:"columns"` // cells per grid row
	Nodes    []GridNode `json:"nodes"`
	Active   []int      `json:"active"`
	Replicas [][]int    `json:"replicas"`
	Forward  []int      `json:"forward,omitempty"` // only while a rebalance is in progress
}

// GridNode is a node of a Grid: its address and its palette slot.
type GridNode struct {
	Address string `json:"address"`
	Colour  int    `json:"colour"`
}

// gridEntry is everything derived from one immutable map, built once: the
// console draws the same map many times between changes.
type gridEntry struct {
	m        *vbmap.Map
	colours  []int         // palette slot per node
	json     []byte        // the /api/grid body
	cells    template.HTML // the grid's cells for the server-rendered page
	active   []int         // vBuckets per node (index) as active
	replica  []int         // ... as replica
	incoming []int         // ... moving to the node
	moving   int           // vBuckets whose forward owner differs from the active one
}

// gridCache holds the entry of the last map drawn.
type gridCache struct{ p atomic.Pointer[gridEntry] }

// entry returns the cached entry for m, building it when m is new.
func (st *bucketState) entry(m *vbmap.Map) *gridEntry {
	if e := st.grid.p.Load(); e != nil && e.m == m {
		return e
	}
	e := buildGrid(st.b.Name, m, st.coloursOf(m))
	st.grid.p.Store(e)
	return e
}

func buildGrid(bucket string, m *vbmap.Map, colours []int) *gridEntry {
	nvb, nodes := m.NumVBuckets(), m.Nodes()
	name := m.Bucket()
	if name == "" {
		name = bucket
	}
	g := Grid{
		Bucket: name, Revision: m.Revision().String(), VBuckets: nvb, Columns: gridColumns(nvb),
		Nodes: make([]GridNode, len(nodes)), Active: make([]int, nvb), Replicas: make([][]int, nvb),
	}
	e := &gridEntry{
		m: m, colours: colours,
		active: make([]int, len(nodes)), replica: make([]int, len(nodes)), incoming: make([]int, len(nodes)),
	}
	for i, n := range nodes {
		g.Nodes[i] = GridNode{Address: n.Addr, Colour: colours[i]}
	}
	if m.HasForward() {
		g.Forward = make([]int, nvb)
	}
	// One backing array for every vBucket's replica list.
	flat := make([]int, 0, nvb*m.NumReplicas())
	// The cells: "<i class=...></i>" per vBucket, about 20 bytes each.
	cells := make([]byte, 0, nvb*24)
	for vb := range nvb {
		v := uint16(vb)
		a := m.Active(v)
		g.Active[vb] = a
		reps := m.Replicas(v)
		start := len(flat)
		flat = append(flat, reps...)
		g.Replicas[vb] = flat[start:len(flat):len(flat)]
		for _, r := range reps {
			e.replica[r]++
		}
		f := -1
		if g.Forward != nil {
			f = m.Forward(v)
			g.Forward[vb] = f
		}
		if a >= 0 {
			e.active[a]++
		}
		moving := f >= 0 && f != a
		if moving {
			e.moving++
			e.incoming[f]++
		}
		cells = appendCell(cells, colours, a, reps, f, moving)
	}
	e.json, _ = json.Marshal(g) // plain types: cannot fail
	e.cells = template.HTML(cells)
	return e
}

// appendCell writes one grid cell: a{slot} colours it by its active node,
// r{slot} marks its first replica's node, f{slot} and mv its move.
func appendCell(b []byte, colours []int, active int, replicas []int, forward int, moving bool) []byte {
	b = append(b, `<i class="`...)
	b = appendSlot(b, 'a', colours, active)
	if len(replicas) > 0 {
		b = append(b, ' ')
		b = appendSlot(b, 'r', colours, replicas[0])
	}
	if moving {
		b = append(b, ' ')
		b = appendSlot(b, 'f', colours, forward)
		b = append(b, " mv"...)
	}
	return append(b, `"></i>`...)
}

// appendSlot writes prefix and the node's palette class ("a3"), or
// prefix+"x" for no node.
func appendSlot(b []byte, prefix byte, colours []int, node int) []byte {
	b = append(b, prefix)
	if node < 0 || node >= len(colours) {
		return append(b, 'x')
	}
	return strconv.AppendInt(b, int64(colours[node]%paletteSize), 10)
}

// paletteSize is the number of node colours (Paul Tol's "muted" scheme,
// distinguishable with the common colour-vision deficiencies); more nodes
// reuse them, and the legend and hover text name every node.
const paletteSize = 9

// gridColumns makes the grid about square: 32 columns for 1024 vBuckets.
func gridColumns(n int) int {
	c := int(math.Ceil(math.Sqrt(float64(n))))
	return max(1, min(c, 64))
}
