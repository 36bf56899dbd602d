package upstream

import "testing"

func TestInflightAddTake(t *testing.T) {
	tab := newInflight(3) // rounded up to 4 slots
	if got := len(tab.slots); got != 4 {
		t.Fatalf("slots = %d, want 4", got)
	}
	reqs := make([]*Request, 4)
	ops := make([]uint32, 4)
	for i := range reqs {
		reqs[i] = &Request{}
		var ok bool
		if ops[i], ok = tab.add(reqs[i], int64(i)); !ok {
			t.Fatalf("add %d: table full", i)
		}
	}
	if _, ok := tab.add(&Request{}, 0); ok {
		t.Fatal("add to a full table succeeded")
	}
	seen := map[uint32]bool{}
	for _, op := range ops {
		if seen[op] {
			t.Fatalf("opaque %#x issued twice", op)
		}
		seen[op] = true
	}
	// Out of order.
	for _, i := range []int{2, 0, 3, 1} {
		if got := tab.take(ops[i]); got != reqs[i] {
			t.Fatalf("take(%#x) = %p, want %p", ops[i], got, reqs[i])
		}
		if got := tab.take(ops[i]); got != nil {
			t.Fatalf("second take(%#x) = %p, want nil", ops[i], got)
		}
	}
	if tab.Len() != 0 || tab.head != -1 || tab.tail != -1 {
		t.Fatalf("after taking all: len %d head %d tail %d", tab.Len(), tab.head, tab.tail)
	}
}

// A late response carries the opaque of a slot that was freed and reused: it
// must not match the new occupant.
func TestInflightStaleOpaque(t *testing.T) {
	tab := newInflight(1)
	r1, r2 := &Request{}, &Request{}
	op1, _ := tab.add(r1, 0)
	tab.take(op1)
	op2, _ := tab.add(r2, 0)
	if op1 == op2 {
		t.Fatalf("reused slot got the same opaque %#x", op1)
	}
	if got := tab.take(op1); got != nil {
		t.Fatalf("take(stale %#x) = %p, want nil", op1, got)
	}
	if got := tab.take(op2); got != r2 {
		t.Fatalf("take(%#x) = %p, want r2", op2, got)
	}
}

func TestInflightExpire(t *testing.T) {
	tab := newInflight(8)
	var reqs []*Request
	deadlines := []int64{10, 50, 5, 30, 70}
	for _, d := range deadlines {
		r := &Request{}
		reqs = append(reqs, r)
		tab.add(r, d)
	}
	got := tab.expire(30, nil)
	want := []*Request{reqs[0], reqs[2], reqs[3]} // deadline <= 30, in send order
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("expire(30) = %v, want %v", got, want)
	}
	if got = tab.expire(30, nil); len(got) != 0 {
		t.Fatalf("expire(30) again = %v, want none", got)
	}
	got = tab.drain(nil)
	if len(got) != 2 || got[0] != reqs[1] || got[1] != reqs[4] {
		t.Fatalf("drain = %v, want [reqs[1] reqs[4]]", got)
	}
	if tab.Len() != 0 {
		t.Fatalf("Len after drain = %d", tab.Len())
	}
}

// Many allocations cycle through every slot and every generation without
// ever matching a stale opaque.
func TestInflightGenerations(t *testing.T) {
	tab := newInflight(4)
	prev := map[uint32]bool{}
	r := &Request{}
	for i := range 10000 {
		op, ok := tab.add(r, 0)
		if !ok {
			t.Fatalf("add %d failed", i)
		}
		if prev[op] {
			t.Fatalf("opaque %#x reissued after %d allocations", op, i)
		}
		prev[op] = true
		if tab.take(op) != r {
			t.Fatalf("take %d failed", i)
		}
	}
}

func FuzzInflight(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7}, uint8(4))
	f.Fuzz(func(t *testing.T, ops []byte, size uint8) {
		tab := newInflight(int(size%16) + 1)
		live := map[uint32]*Request{}
		var order []uint32
		for _, b := range ops {
			switch b % 4 {
			case 0, 1:
				r := &Request{}
				op, ok := tab.add(r, int64(b))
				if ok != (len(live) < len(tab.slots)) {
					t.Fatalf("add ok=%v with %d live of %d", ok, len(live), len(tab.slots))
				}
				if ok {
					live[op] = r
					order = append(order, op)
				}
			case 2:
				if len(order) == 0 {
					continue
				}
				op := order[int(b)%len(order)]
				got := tab.take(op)
				if got != live[op] {
					t.Fatalf("take(%#x) = %p, want %p", op, got, live[op])
				}
				delete(live, op)
			case 3:
				for _, r := range tab.expire(int64(b), nil) {
					found := false
					for op, lr := range live {
						if lr == r {
							delete(live, op)
							found = true
						}
					}
					if !found {
						t.Fatal("expire returned a request not in flight")
					}
				}
			}
			if tab.Len() != len(live) {
				t.Fatalf("Len = %d, want %d", tab.Len(), len(live))
			}
		}
		if got := tab.drain(nil); len(got) != len(live) {
			t.Fatalf("drain returned %d, want %d", len(got), len(live))
		}
	})
}
