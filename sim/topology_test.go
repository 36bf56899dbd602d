package sim

import (
	"fmt"
	"slices"
	"testing"
)

func fakeNodes(n int) []*Node {
	out := make([]*Node, n)
	for i := range out {
		out[i] = &Node{otp: fmt.Sprintf("ns_1@n%d", i)}
	}
	return out
}

// checkBalanced checks the invariants of a balanced map.
func checkBalanced(t *testing.T, chains [][]*Node, nodes []*Node, nvb, replicas int) {
	t.Helper()
	if len(chains) != nvb {
		t.Fatalf("%d chains, want %d", len(chains), nvb)
	}
	filled := min(replicas, len(nodes)-1)
	active := map[*Node]int{}
	for vb, chain := range chains {
		if len(chain) != 1+replicas {
			t.Fatalf("vb %d: chain length %d, want %d", vb, len(chain), 1+replicas)
		}
		for i, n := range chain {
			if (i <= filled) != (n != nil) {
				t.Fatalf("vb %d: chain[%d] = %v, want filled only up to %d", vb, i, n, filled)
			}
			if n != nil && !slices.Contains(nodes, n) {
				t.Fatalf("vb %d: chain[%d] = %v is not a target node", vb, i, n)
			}
			if n != nil && slices.Index(chain, n) != i {
				t.Fatalf("vb %d: node %v twice in chain", vb, n)
			}
		}
		active[chain[0]]++
	}
	ceil := (nvb + len(nodes) - 1) / len(nodes)
	for _, n := range nodes {
		if active[n] > ceil || active[n] < nvb/len(nodes)-1 {
			t.Errorf("node %v is active for %d vBuckets, want about %d", n, active[n], nvb/len(nodes))
		}
	}
}

func TestBalanceFresh(t *testing.T) {
	for _, tt := range []struct{ nodes, nvb, replicas int }{
		{1, 16, 1}, {2, 64, 1}, {3, 1024, 1}, {3, 1024, 2}, {4, 1024, 3}, {5, 7, 1}, {3, 64, 0},
	} {
		t.Run(fmt.Sprintf("%dnodes_%dvb_%dr", tt.nodes, tt.nvb, tt.replicas), func(t *testing.T) {
			nodes := fakeNodes(tt.nodes)
			checkBalanced(t, balance(nil, nodes, tt.nvb, tt.replicas), nodes, tt.nvb, tt.replicas)
		})
	}
}

func TestBalanceAddNodeMovesLittle(t *testing.T) {
	nodes := fakeNodes(4)
	cur := balance(nil, nodes[:3], 1024, 1)
	next := balance(cur, nodes, 1024, 1)
	checkBalanced(t, next, nodes, 1024, 1)
	moved := 0
	for vb := range next {
		if next[vb][0] != cur[vb][0] {
			moved++
		}
	}
	// The new node takes a quarter of the actives; nothing else moves.
	if moved != 256 {
		t.Errorf("%d actives moved, want 256", moved)
	}
}

func TestBalanceRemoveNode(t *testing.T) {
	nodes := fakeNodes(3)
	cur := balance(nil, nodes, 1024, 1)
	next := balance(cur, nodes[:2], 1024, 1)
	checkBalanced(t, next, nodes[:2], 1024, 1)
	promoted := 0
	for vb := range next {
		if cur[vb][0] == nodes[2] && next[vb][0] == cur[vb][1] {
			promoted++
		}
	}
	if promoted == 0 {
		t.Error("no replica was promoted for the removed node's vBuckets")
	}
}

func TestFailoverChain(t *testing.T) {
	n := fakeNodes(4)
	a, b, c, d := n[0], n[1], n[2], n[3]
	tests := []struct {
		name  string
		chain []*Node
		fail  *Node
		want  []*Node
	}{
		{"active promotes first replica", []*Node{a, b, c}, a, []*Node{b, c, nil}},
		{"replica removed", []*Node{a, b, c}, b, []*Node{a, c, nil}},
		{"not in chain", []*Node{a, b}, d, []*Node{a, b}},
		{"no replica left", []*Node{a, nil}, a, []*Node{nil, nil}},
		{"no active, replica fails", []*Node{nil, b}, b, []*Node{nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failoverChain(tt.chain, tt.fail); !slices.Equal(got, tt.want) {
				t.Errorf("failoverChain(%v, %v) = %v, want %v", tt.chain, tt.fail, got, tt.want)
			}
		})
	}
}
