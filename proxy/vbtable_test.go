package proxy

import (
	"math/rand/v2"
	"testing"
)

// TestVBTable checks the table against a Go map over random operations,
// with keys chosen to collide (few distinct home slots) and to spread, and
// checks that it drops its storage when it empties after growing.
func TestVBTable(t *testing.T) {
	tests := []struct {
		name string
		keys func(r *rand.Rand) uint16
	}{
		{"spread", func(r *rand.Rand) uint16 { return uint16(r.IntN(1024)) }},
		{"few", func(r *rand.Rand) uint16 { return uint16(r.IntN(6)) }},
		{"full range", func(r *rand.Rand) uint16 { return uint16(r.Uint32()) }},
		{"multiples of 64", func(r *rand.Rand) uint16 { return uint16(64 * r.IntN(200)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var tab vbTable
			model := map[uint16]vbOrder{}
			for step := range 20000 {
				vb := tt.keys(r)
				var o vbOrder
				if r.IntN(3) > 0 { // two thirds inserts or updates, one third removals
					o = vbOrder{addr: "n", inflight: int32(r.IntN(4)), waiting: int32(r.IntN(2))}
				}
				tab.set(vb, o)
				if o.inflight == 0 && o.waiting == 0 {
					delete(model, vb)
				} else {
					model[vb] = o
				}
				if tab.n != len(model) {
					t.Fatalf("step %d: %d entries, want %d", step, tab.n, len(model))
				}
				if step%97 == 0 {
					for k, want := range model {
						if got := tab.get(k); got != want {
							t.Fatalf("step %d: get(%d) = %+v, want %+v", step, k, got, want)
						}
					}
					k := tt.keys(r) // present or absent
					if got := tab.get(k); got != model[k] {
						t.Fatalf("step %d: get(%d) = %+v, want %+v", step, k, got, model[k])
					}
				}
			}
			for k := range model {
				tab.set(k, vbOrder{})
			}
			if tab.n != 0 {
				t.Fatalf("%d entries after removing every key, want 0", tab.n)
			}
			if len(tab.ents) > vbTableKeep {
				t.Errorf("table keeps %d entries after emptying, want at most %d", len(tab.ents), vbTableKeep)
			}
			for i := range 2048 {
				if got := tab.get(uint16(i)); got != (vbOrder{}) {
					t.Fatalf("get(%d) on the empty table = %+v, want zero", i, got)
				}
			}
		})
	}
}

// TestVBTableGrowAndDrop fills a table past vbTableKeep and empties it: its
// storage goes away; a small table keeps its storage for reuse.
func TestVBTableGrowAndDrop(t *testing.T) {
	var tab vbTable
	tab.set(3, vbOrder{inflight: 1})
	tab.set(3, vbOrder{})
	if len(tab.ents) != vbTableMin {
		t.Errorf("small table: %d entries kept, want %d", len(tab.ents), vbTableMin)
	}
	for vb := range uint16(100) {
		tab.set(vb, vbOrder{addr: "a", inflight: 1})
	}
	if len(tab.ents) < 200 {
		t.Errorf("100 entries in a table of %d, want at least 200 (half full at most)", len(tab.ents))
	}
	for vb := range uint16(100) {
		if got := tab.get(vb); got.inflight != 1 || got.addr != "a" {
			t.Fatalf("get(%d) = %+v, want inflight 1 addr a", vb, got)
		}
		tab.set(vb, vbOrder{})
	}
	if tab.ents != nil || tab.n != 0 {
		t.Errorf("after emptying: %d entries, storage %d, want 0 and none", tab.n, len(tab.ents))
	}
}
